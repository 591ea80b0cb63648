"""`recsys monitor --since`: durations and ISO times, and a message that says what it takes."""

from datetime import UTC, datetime

import pytest
import typer

from ops.monitor import parse_since

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", datetime(2026, 11, 29, 12, 0, tzinfo=UTC)),
        ("24h", datetime(2026, 12, 5, 12, 0, tzinfo=UTC)),
        ("90m", datetime(2026, 12, 6, 10, 30, tzinfo=UTC)),
        ("2026-12-01", datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12-01T08:00:00Z", datetime(2026, 12, 1, 8, tzinfo=UTC)),
    ],
)
def test_since_takes_durations_and_iso_times(text: str, expected: datetime) -> None:
    assert parse_since(text, now=NOW) == expected


def test_a_bad_since_says_what_it_takes() -> None:
    with pytest.raises(typer.BadParameter, match="7d, 24h, 90m or an ISO-8601"):
        parse_since("last week", now=NOW)
