"""Incremental builds (dbt/README.md): nights built incrementally equal one full build.

One generated world is split into a history file and one file per later day. Warehouse A is
built in full on the history, then night by night in `auto` mode (incremental); warehouse B
is built in full once on the same files. Every table and view both hold must agree row by row
(floats to 1e-9 relative: parallel sums add in any order). Then a late event makes `auto`
rebuild in full, `--incremental` quarantines one, and a changed var asks for a full refresh.

Every build here runs with RECSYS_LIST_REFRESH_DAYS=7, the nightly setting: the list models
(item_embeddings, item_rules) compute their lists on a weekly grid and nights reuse the list
sets no snapshot moved off (recsys/pipeline/snapshot_lists.py); the files of a reused set are
not written again. (Without a grid they compute every snapshot as a full build does.)
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from recsys.config import Paths
from recsys.ingest.generator import GeneratorConfig, generate
from recsys.pipeline import build_state, dbt_runner
from recsys.pipeline.snapshot_lists import DAY_US, FOLDER
from tests.dbt.landing_files import data_dir_env, replace_mart, write_events
from tests.dbt.nights import split_nights, table_frame

NIGHTS = 2
REFRESH_DAYS = 7


@pytest.fixture(scope="module", autouse=True)
def _weekly_lists() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECSYS_LIST_REFRESH_DAYS", str(REFRESH_DAYS))
        yield


def _stored(data_dir: Path) -> dict[str, int]:
    """Stored list set (model/rules/cutoff-fingerprint) -> modification time in ns."""
    root = data_dir / FOLDER
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*.parquet")}


def _tables(warehouse: Path) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rows = connection.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'main' and table_name not like 'stg_%' order by 1"
        ).fetchall()
    # Views over a relation of the build's own catalog name cannot be read from here, and
    # int_item_pairs_decayed's rows differ from each other in floats only (no key to align
    # them by): item_neighbors, which sums them, and int_item_pair_days, which they come
    # from, are compared. int_sessions_rebuilt_from is a night's day, null in a full build.
    skipped = {
        "int_events_sessionized",
        "item_covisitation",
        "int_item_pairs_decayed",
        "int_sessions_rebuilt_from",
    }
    return [r[0] for r in rows if r[0] not in skipped]


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("incremental")
    generated = root / "generated"
    # 40 days: longer than the 30-day windows, so incremental rows start from earlier totals.
    generate(GeneratorConfig(events=16_000, seed=5, days=40), layout=Paths(generated))
    incremental = root / "incremental"
    return incremental, split_nights(generated, incremental, NIGHTS)


def test_incremental_nights_equal_a_full_build(
    nights: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    incremental, files = nights
    with data_dir_env(incremental):
        first = dbt_runner.build(quiet=True, mode="auto")
        assert first.mode == "full"
        stored = _stored(incremental)
        log_start = dbt_runner.log_file().stat().st_size
        for path in files:
            shutil.copy(path, incremental / "landing" / "events" / path.name)
            night = dbt_runner.build(quiet=True, mode="auto")
            assert night.mode == "incremental", night.mode_reason
        restored = _stored(incremental)
        with dbt_runner.log_file().open(errors="replace") as log:
            log.seek(log_start)
            nights_log = log.read()
    # The build's mode and day travel in the environment: vars that moved would make dbt
    # parse the whole project again every night (dbt/macros/build_settings.sql).
    assert "Unable to do partial parsing" not in nights_log, "a night parsed the whole project"
    assert nights_log.count("Partial parsing enabled") >= len(files), nights_log[-2000:]
    for model in ("item_embeddings", "item_rules"):
        kept = [n for n in stored.keys() & restored.keys() if n.startswith(f"{model}/")]
        assert any(stored[n] == restored[n] for n in kept), f"{model}: nothing reused {restored}"
    cutoffs = {int(Path(n).name.split("-")[0]) for n in restored}
    assert cutoffs and all(c % (REFRESH_DAYS * DAY_US) == 0 for c in cutoffs), cutoffs
    full = tmp_path / "full"
    shutil.copytree(incremental / "landing", full / "landing")
    with data_dir_env(full):
        dbt_runner.build(quiet=True, mode="full")
    names = _tables(full / "warehouse.duckdb")
    assert "user_features" in names and "fct_events" in names
    for name in names:
        expected = table_frame(full / "warehouse.duckdb", name)
        found = table_frame(incremental / "warehouse.duckdb", name)
        assert len(found) == len(expected), f"{name}: {len(found)} rows, full build {len(expected)}"
        pd.testing.assert_frame_equal(found, expected, check_exact=False, rtol=1e-9, obj=name)
    _assert_lists_from_their_grid_line(full / "warehouse.duckdb")


def _assert_lists_from_their_grid_line(warehouse: Path) -> None:
    """No item first seen at or after a snapshot's grid line is in its embedding lists."""
    step = REFRESH_DAYS * DAY_US
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        late = connection.execute(
            f"""
            with firsts as (
                select item_id, min(event_timestamp) as first_at from fct_events group by 1
            ), lists as (
                select event_timestamp as snapshot_at, unnest(embed_item_ids) as item_id
                from item_embeddings
            )
            select count(*), count(*) filter (
                where epoch_us(first_at) >= epoch_us(snapshot_at) // {step} * {step})
            from lists join firsts using (item_id)
            """
        ).fetchone()
    assert late is not None and late[0] > 0 and late[1] == 0, late


def test_late_events_rebuild_in_full_or_are_quarantined(nights: tuple[Path, list[Path]]) -> None:
    incremental, _ = nights
    with data_dir_env(incremental):
        state = build_state.read(Paths(incremental))
        assert state is not None and state["watermark_day"] is not None
        # dated 5 days before the last day: older than the 2-day lookback
        late_day = pd.Timestamp(0, tz="UTC") + pd.Timedelta(days=state["watermark_day"] - 5)
        event = {"user_id": "u1", "session_id": "late-s", "item_id": "i1", "event_type": "view"}
        write_events(
            incremental,
            "late-1",
            [{**event, "event_id": "late-1", "event_timestamp": late_day.isoformat()}],
            source_file="late-1.csv",
        )
        rebuilt = dbt_runner.build(quiet=True, mode="auto")
        assert rebuilt.mode == "full" and "late" in rebuilt.mode_reason
        write_events(
            incremental,
            "late-2",
            [{**event, "event_id": "late-2", "event_timestamp": late_day.isoformat()}],
            source_file="late-2.csv",
        )
        forced = dbt_runner.build(quiet=True, mode="incremental")
        assert forced.mode == "incremental"
        with duckdb.connect(str(Paths(incremental).warehouse), read_only=True) as connection:
            placed = connection.execute(
                "select event_id from fct_events where event_id like 'late-%'"
            ).fetchall()
            quarantined = connection.execute(
                "select event_id, quarantine_reason from events_quarantine "
                "where event_id like 'late-%'"
            ).fetchall()
        assert placed == [("late-1",)]
        assert quarantined == [("late-2", "late event_timestamp")]
        # quarantined late events leave no record: the next auto build is a full refresh
        next_build = build_state.plan(Paths(incremental), "auto", dbt_runner.contract_vars())
        assert next_build.mode == "full", next_build.reason


def test_a_changed_definition_asks_for_a_full_refresh(tmp_path: Path) -> None:
    layout = Paths(tmp_path)
    with data_dir_env(tmp_path):
        same = dbt_runner.contract_vars()
        # plan() compares the recorded build's definitions with these and needs a warehouse:
        # record a build made with them (the day only sets where `since` starts).
        layout.warehouse.parent.mkdir(parents=True, exist_ok=True)
        layout.warehouse.touch()
        build_state.write(layout, same, mode="full", watermark_day=20_000)
        assert build_state.plan(layout, "auto", same).mode == "incremental"
        changed = build_state.plan(layout, "auto", {**same, "covis_top_k": 7})
        assert changed.mode == "full" and "definitions" in changed.reason
        with pytest.raises(ValueError, match="full-refresh"):
            build_state.plan(layout, "incremental", {**same, "covis_top_k": 7})


def test_a_night_s_list_guard_reads_only_the_lists_cut_off_since_the_recomputed_days(
    nights: tuple[Path, list[Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a night, the list marts' point-in-time guard reads only lists whose grid cut-off is
    on or after incremental_since_day: older sets are reused and were checked when computed.
    A leak put into one snapshot's lists fails the guard exactly when that holds."""
    incremental, _ = nights
    with data_dir_env(incremental):
        warehouse = Paths(incremental).warehouse  # before RECSYS_WAREHOUSE points elsewhere
        if not warehouse.exists():
            dbt_runner.build(quiet=True, mode="auto")
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            days = {
                name: (cut, day)
                for name, cut, day in connection.execute(
                    "select snapshot_name, any_value(epoch_us(event_timestamp) "
                    f"// {REFRESH_DAYS * DAY_US} * {REFRESH_DAYS}), "
                    f"any_value(epoch_us(event_timestamp) // {DAY_US}) "
                    "from item_embeddings group by 1"
                ).fetchall()
            }
        # a snapshot taken after its grid line, and one on an earlier grid line
        after = [name for name, (cut, day) in days.items() if day > cut]
        assert after, f"the world needs a snapshot after its grid line: {days}"
        cut = days[after[0]][0]
        earlier = [name for name, (other, _) in days.items() if other < cut]
        assert earlier, f"the world needs lists on an earlier grid line: {days}"
        # (leaky snapshot, incremental_since_day) -> whether the guard must fail
        cases = {
            (after[0], cut): True,  # its lists' cut-off is a recomputed day
            (after[0], cut + 1): False,  # cut off before: a reused set, not read again
            (earlier[0], cut): False,
        }
        failed = {}
        for snapshot, since in cases:
            leaky = tmp_path / f"leaky-{snapshot}-{since}.duckdb"
            shutil.copy(warehouse, leaky)
            # the snapshot's embedding lists name an item that has no event at all
            replace_mart(
                leaky,
                "item_embeddings",
                "select * replace (case when snapshot_name = ? "
                "then list_append(embed_item_ids, 'never-seen') else embed_item_ids end "
                "as embed_item_ids) from item_embeddings",
                snapshot,
            )
            monkeypatch.setenv("RECSYS_WAREHOUSE", str(leaky))
            night = {
                "build_mode": "incremental",
                "incremental_since_day": since,
                "list_refresh_days": REFRESH_DAYS,
            }
            try:
                # `dbt test` alone with a night's vars (build() would run the whole night)
                dbt_runner._invoke(
                    "test", select="assert_item_embeddings_point_in_time", vars=night, quiet=True
                )
                failed[snapshot, since] = False
            except dbt_runner.DbtBuildError as failure:
                assert "failing rows" in str(failure), failure
                failed[snapshot, since] = True
    assert failed == cases, (days, failed)


SESSION_MARTS = (
    "int_events_aggregated_to_session_items",
    "fct_sessions",
    "session_items",
    "session_state",
)


def test_a_night_that_joins_two_sessions_empties_the_day_the_later_one_started(
    tmp_path: Path,
) -> None:
    """A new event 20 minutes after one gap session of user m and 20 minutes before the next
    makes them one session: the later one's first day (only it started then) must end up with
    no rows, as in a full build, not keep the session that no longer exists."""

    def event(n: str, user: str, session: str | None, item: str, ts: str) -> dict[str, str | None]:
        return {
            "event_id": n,
            "user_id": user,
            "session_id": session,
            "item_id": item,
            "event_type": "view",
            "event_timestamp": ts,
        }

    history = [
        event(f"p{day}{n}", "p", f"p-{day}", item, f"2026-03-0{day}T10:0{n}:00")
        for day in range(5, 10)
        for n, item in enumerate("abc")
    ] + [
        event("k1", "k", "k-1", "a", "2026-03-10T12:00:00"),
        event("k2", "k", "k-1", "b", "2026-03-10T12:05:00"),
        event("m1", "m", None, "a", "2026-03-10T23:50:00"),
        event("m2", "m", None, "b", "2026-03-11T00:30:00"),
    ]
    joining = [event("m3", "m", None, "c", "2026-03-11T00:10:00")]
    incremental, full = tmp_path / "incremental", tmp_path / "full"
    write_events(incremental, "history", history, source_file="history.csv")
    with data_dir_env(incremental):
        assert dbt_runner.build(quiet=True, mode="auto").mode == "full"
        with duckdb.connect(str(Paths(incremental).warehouse), read_only=True) as connection:
            before = connection.execute(
                "select session_id from fct_sessions where user_id = 'm' order by 1"
            ).fetchall()
        assert before == [("m#1",), ("m#2",)]
        write_events(incremental, "night", joining, source_file="night.csv")
        night = dbt_runner.build(quiet=True, mode="auto")
        assert night.mode == "incremental", night.mode_reason
    shutil.copytree(incremental / "landing", full / "landing")
    with data_dir_env(full):
        dbt_runner.build(quiet=True, mode="full")
    for name in (*SESSION_MARTS, "fct_events"):
        expected = table_frame(full / "warehouse.duckdb", name)
        found = table_frame(incremental / "warehouse.duckdb", name)
        pd.testing.assert_frame_equal(found, expected, check_exact=False, rtol=1e-9, obj=name)
    with duckdb.connect(str(incremental / "warehouse.duckdb"), read_only=True) as connection:
        for name in SESSION_MARTS:
            sessions = connection.execute(
                f"select distinct session_id from {name} where session_id like 'm#%'"
            ).fetchall()
            assert sessions == [("m#1",)], (name, sessions)
