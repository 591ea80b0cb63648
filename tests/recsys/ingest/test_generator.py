"""Shape checks a naive generator would fail, on one small generated dataset per module."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from recsys.config import Paths
from recsys.ingest.generator import DEFAULT_END, GeneratorConfig, generate, simulate
from recsys.ingest.landing import EVENTS_SCHEMA, ITEMS_SCHEMA, USERS_SCHEMA

CONFIG = GeneratorConfig(events=60_000, seed=11)


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    layout = Paths(tmp_path_factory.mktemp("generated"))
    generate(CONFIG, layout=layout)
    return layout


@pytest.fixture(scope="module")
def events(landing: Paths) -> pa.Table:
    return pq.read_table(landing.landing_events / "generator.parquet")


@pytest.fixture(scope="module")
def con(events: pa.Table) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("set TimeZone = 'UTC'")
    connection.register("events", events)
    return connection


def _digest(layout: Paths) -> dict[str, str]:
    files = [*layout.landing_events.glob("*.parquet"), layout.landing_items, layout.landing_users]
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def test_same_seed_writes_identical_files_and_another_seed_differs(
    tmp_path: Path, landing: Paths
) -> None:
    again, other = Paths(tmp_path / "again"), Paths(tmp_path / "other")
    generate(CONFIG, layout=again)
    generate(replace(CONFIG, seed=12), layout=other)
    assert _digest(again) == _digest(landing)
    different = _digest(other)
    assert all(different[name] != digest for name, digest in _digest(landing).items())


def test_writes_exactly_the_events_asked_for_in_the_contract_schema(
    landing: Paths, events: pa.Table
) -> None:
    assert events.num_rows == CONFIG.events
    assert events.schema.equals(EVENTS_SCHEMA)
    assert pq.read_schema(landing.landing_items).equals(ITEMS_SCHEMA)
    assert pq.read_schema(landing.landing_users).equals(USERS_SCHEMA)
    assert len(pc.unique(events.column("event_id"))) == CONFIG.events
    assert events.column("source_row").to_pylist() == list(range(1, CONFIG.events + 1))
    assert set(events.column("event_type").to_pylist()) == {"view", "add_to_cart", "purchase"}


def test_events_fall_in_the_window_before_the_end_date(events: pa.Table) -> None:
    bounds = pc.min_max(events.column("event_timestamp")).as_py()
    assert bounds["max"] < DEFAULT_END
    assert bounds["min"] >= DEFAULT_END - timedelta(days=CONFIG.days)
    raw = pc.cast(events.column("event_timestamp_raw"), pa.int64())
    micros = pc.cast(events.column("event_timestamp"), pa.int64())
    assert pc.all(pc.equal(pc.multiply(raw, 1000), micros)).as_py(), "raw is epoch ms"


def test_top_one_percent_of_items_carry_a_large_share_of_views(
    con: duckdb.DuckDBPyConnection,
) -> None:
    share = con.execute(
        """
        with views as (
            select item_id, count(*) as n from events where event_type = 'view' group by 1
        ),
        ranked as (
            select n, row_number() over (order by n desc) as rank, count(*) over () as items
            from views
        )
        select sum(n) filter (where rank <= greatest(1, items * 0.01)) / sum(n) from ranked
        """
    ).fetchone()
    assert share is not None
    assert share[0] > 0.15  # uniform popularity would give 0.01


def test_funnel_rates_are_in_the_realistic_range(con: duckdb.DuckDBPyConnection) -> None:
    row = con.execute(
        """
        select count(*) filter (where event_type = 'add_to_cart')
                 / count(*) filter (where event_type = 'view'),
               count(*) filter (where event_type = 'purchase')
                 / count(*) filter (where event_type = 'add_to_cart')
        from events
        """
    ).fetchone()
    assert row is not None
    cart_rate, purchase_rate = row
    assert 0.05 <= cart_rate <= 0.10
    assert 0.20 <= purchase_rate <= 0.40


def test_repeats_are_a_realistic_share_of_next_views(con: duckdb.DuckDBPyConnection) -> None:
    row = con.execute(
        """
        with ordered as (
            select session_id, item_id, event_type,
                   row_number() over (
                       partition by session_id order by event_timestamp, source_row
                   ) as position
            from events
        ),
        marked as (
            select *, min(position) over (partition by session_id, item_id) as first_position
            from ordered
        )
        select avg((first_position < position)::int)
        from marked where position > 1 and event_type = 'view'
        """
    ).fetchone()
    assert row is not None
    assert 0.15 <= row[0] <= 0.25


def test_companions_follow_their_item_far_more_often_than_chance(events: pa.Table) -> None:
    world = simulate(CONFIG)
    ordered = events.sort_by([("session_id", "ascending"), ("source_row", "ascending")])
    session = ordered.column("session_id").to_numpy(zero_copy_only=False)
    item = pc.cast(pc.utf8_slice_codeunits(ordered.column("item_id"), 1), pa.int64()).to_numpy()
    internal = np.empty(world.catalog.size + 1, dtype=np.int64)
    internal[world.catalog.public_id] = np.arange(world.catalog.size)
    same = (session[1:] == session[:-1]) & (item[1:] != item[:-1])
    current, following = internal[item[:-1][same]], internal[item[1:][same]]
    companions = world.catalog.companions[current]
    observed = (companions == following[:, None]).any(axis=1).mean()
    frequency = np.bincount(following, minlength=world.catalog.size) / len(following)
    chance = frequency[companions].sum(axis=1).mean()
    assert observed > 0.15
    assert observed > 20 * chance


def test_without_session_ids_the_30_minute_gap_recovers_every_session(tmp_path: Path) -> None:
    config = replace(CONFIG, events=20_000)
    with_ids, without = Paths(tmp_path / "ids"), Paths(tmp_path / "gaps")
    generate(config, layout=with_ids)
    generate(replace(config, session_ids=False), layout=without)
    con = duckdb.connect()
    con.execute(f"create view a as select * from '{with_ids.landing_events}/*.parquet'")
    con.execute(f"create view b as select * from '{without.landing_events}/*.parquet'")
    assert con.execute("select count(*) from b where session_id is not null").fetchone() == (0,)
    row = con.execute(
        """
        with gaps as (
            select event_id, user_id, event_timestamp, source_row,
                   event_timestamp - lag(event_timestamp) over (
                       partition by user_id order by event_timestamp, source_row
                   ) as gap
            from b
        ),
        numbered as (
            select event_id,
                   user_id || '#' || sum(case when gap is null or gap > interval 30 minute
                                              then 1 else 0 end)
                       over (
                           partition by user_id order by event_timestamp, source_row
                           rows unbounded preceding
                       )
                       as gap_session
            from gaps
        ),
        pairs as (
            select distinct a.session_id, n.gap_session from a join numbered n using (event_id)
        )
        select count(distinct session_id), count(distinct gap_session), count(*) from pairs
        """
    ).fetchone()
    assert row is not None
    sessions, gap_sessions, pairs = row
    assert sessions == gap_sessions == pairs, "gap sessions must match planted sessions 1:1"


def test_activity_follows_a_daily_rhythm(con: duckdb.DuckDBPyConnection) -> None:
    counts = [
        n
        for _, n in con.execute(
            "select hour(event_timestamp), count(*) from events group by 1 order by 1"
        ).fetchall()
    ]
    assert max(counts) > 2 * min(counts)


def test_categories_are_uneven_and_items_launch_over_time(
    landing: Paths, con: duckdb.DuckDBPyConnection
) -> None:
    items = pq.read_table(landing.landing_items)
    sizes = sorted(
        (r["counts"] for r in pc.value_counts(items.column("category")).to_pylist()), reverse=True
    )
    assert sizes[0] > 3 * sizes[-1]
    assert pc.min(items.column("price")).as_py() > 0
    assert items.column("attributes")[0].as_py().startswith('{"brand":"brand-')
    start = DEFAULT_END - timedelta(days=CONFIG.days)
    row = con.execute(
        "select avg((first_seen > ?)::int) from "
        "(select item_id, min(event_timestamp) as first_seen from events group by 1)",
        [start + timedelta(days=7)],
    ).fetchone()
    assert row is not None
    assert row[0] > 0.1, "some items are launched during the window"
    known = set(items.column("item_id").to_pylist())
    assert (
        set(
            pc.unique(
                con.execute("select item_id from events").to_arrow_table().column(0)
            ).to_pylist()
        )
        <= known
    )


def test_user_activity_is_heavy_tailed(landing: Paths, con: duckdb.DuckDBPyConnection) -> None:
    row = con.execute(
        "select quantile_cont(n, 0.5), max(n) from "
        "(select user_id, count(*) as n from events group by 1)"
    ).fetchone()
    assert row is not None
    median, busiest = row
    assert busiest > 10 * median
    users = pq.read_table(landing.landing_users)
    assert users.num_rows == CONFIG.sizes()[0]
    assert users.column("attributes")[0].as_py().startswith('{"region":')


def test_dirty_rows_are_injected_as_asked_and_reproducibly(tmp_path: Path) -> None:
    config = replace(CONFIG, events=20_000, dirty_fraction=0.02)
    layout = Paths(tmp_path / "dirty")
    _, counts = generate(config, layout=layout)
    assert counts["total"] == round(0.02 * 20_000)
    assert (
        sum(
            counts[k]
            for k in ("missing_user", "unknown_event_type", "bad_timestamp", "duplicate_event_id")
        )
        == counts["total"]
    )
    con = duckdb.connect()
    con.execute(f"create view e as select * from '{layout.landing_events}/*.parquet'")
    found = con.execute(
        """
        select
            count(*) filter (where user_id is null or trim(user_id) = ''),
            count(*) filter (where event_type not in ('view', 'add_to_cart', 'purchase')),
            count(*) filter (where event_timestamp is null),
            (select count(*) - count(distinct event_id) from e),
            count(*)
        from e
        """
    ).fetchone()
    assert found == (
        counts["missing_user"],
        counts["unknown_event_type"],
        counts["bad_timestamp"],
        counts["duplicate_event_id"],
        20_000,
    )
    raw = con.execute(
        "select distinct event_timestamp_raw from e where event_timestamp is null"
    ).fetchall()
    assert {r[0] for r in raw} <= {"not-a-timestamp", "2026-13-45T25:61:00Z", "", "yesterday"}
    again = Paths(tmp_path / "again")
    generate(config, layout=again)
    assert _digest(again) == _digest(layout)


def test_a_duplicate_is_a_later_copy_of_a_clean_event(tmp_path: Path) -> None:
    layout = Paths(tmp_path / "dup")
    generate(replace(CONFIG, events=5_000, dirty_fraction=0.04), layout=layout)
    con = duckdb.connect()
    con.execute(f"create view e as select * from '{layout.landing_events}/*.parquet'")
    rows = con.execute(
        """
        select count(distinct user_id), count(distinct item_id),
               count(distinct event_timestamp), min(source_row) < max(source_row)
        from e where event_id in (select event_id from e group by 1 having count(*) > 1)
        group by event_id
        """
    ).fetchall()
    assert rows and all(r == (1, 1, 1, True) for r in rows)


def test_sizes_are_validated_with_the_flag_to_change() -> None:
    with pytest.raises(ValueError, match="--items 10 / --categories 5"):
        GeneratorConfig(events=1000, items=10, categories=5).sizes()
    with pytest.raises(ValueError, match="--dirty-fraction"):
        GeneratorConfig(events=1000, dirty_fraction=0.9).sizes()
    with pytest.raises(ValueError, match="--events"):
        GeneratorConfig(events=0).sizes()


def test_end_date_and_days_move_the_window(tmp_path: Path) -> None:
    layout = Paths(tmp_path)
    end = datetime(2020, 3, 1, tzinfo=UTC)
    generate(GeneratorConfig(events=2_000, seed=1, end=end, days=7), layout=layout)
    table = pq.read_table(layout.landing_events / "generator.parquet")
    bounds = pc.min_max(table.column("event_timestamp")).as_py()
    assert end - timedelta(days=7) <= bounds["min"] and bounds["max"] < end
