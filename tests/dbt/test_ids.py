"""Batch rows with the ids the API refuses are quarantined with the id rule's reason."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recsys.pipeline import dbt_runner
from tests.dbt.landing_files import Built, data_dir_env, write_events
from tests.id_cases import BAD_IDS, GOOD_IDS

FIELDS = ("user_id", "item_id", "session_id", "event_id")
BUILD_TIME = "2024-06-01T00:00:00Z"


def _row(number: int, **ids: str) -> dict[str, str]:
    row = {
        "event_id": f"e{number}",
        "user_id": "u1",
        "session_id": "s1",
        "item_id": "i1",
        "event_type": "view",
        "event_timestamp": f"2024-03-01T10:{number % 60:02d}:00",
    }
    row.update(ids)
    return row


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    rows = []
    for field in FIELDS:
        for value, _ in BAD_IDS.values():
            rows.append(_row(len(rows) + 1, **{field: value}))
    for value in GOOD_IDS.values():
        rows.append(_row(len(rows) + 1, user_id=value, item_id=value, session_id=value))
    data_dir = tmp_path_factory.mktemp("ids") / "data"
    write_events(data_dir, "ids", rows, source_file="ids.csv")
    with data_dir_env(data_dir):
        yield Built(data_dir, dbt_runner.build(vars={"build_time": BUILD_TIME}, quiet=True))


def test_each_bad_id_is_quarantined_with_the_rules_reason(built: Built) -> None:
    found = dict(
        built.rows("select source_row, quarantine_reason from events_quarantine order by 1")
    )
    expected = {}
    number = 0
    for field in FIELDS:
        for _, reason in BAD_IDS.values():
            number += 1
            expected[number] = f"invalid {field}: {reason}"
    assert found == expected


def test_ids_the_api_accepts_pass_batch_validation(built: Built) -> None:
    users = {row[0] for row in built.rows("select user_id from fct_events")}
    assert set(GOOD_IDS.values()) <= users
