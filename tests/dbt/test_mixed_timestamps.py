"""A file mixing unix seconds and milliseconds lands every row in its right year.

Real path: a CSV through the file loader into the landing, then dbt build; rows whose
value reads as 1970 (a zero, a day count) are quarantined as implausible, not kept.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from recsys.config import paths
from recsys.ingest.files import FileOptions, load_files
from recsys.pipeline import dbt_runner

START = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp())


def test_seconds_and_milliseconds_in_one_column(data_dir: Path, tmp_path: Path) -> None:
    lines = ["session_id,item_id,timestamp"]
    for row in range(4_001):
        value = START + row * 60
        # slightly more milliseconds than seconds: a per-column guess reads it all as ms
        text = str(value * 1000) if row % 2 == 0 else str(value)
        lines.append(f"s{row // 10},i{row % 37},{text}")
    lines += ["z1,i1,0", "z1,i2,86400", "z2,i3,3600000"]  # 1970 in any unit
    source = tmp_path / "mixed.csv"
    source.write_text("\n".join(lines) + "\n")
    layout = paths()
    load_files([source], layout=layout, options=FileOptions())
    dbt_runner.build(quiet=True)

    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        years = con.execute(
            "select year(event_timestamp at time zone 'UTC') y, count(*) from fct_events group by y"
        ).fetchall()
        quarantined = con.execute(
            "select quarantine_reason, event_timestamp_raw from events_quarantine order by 2"
        ).fetchall()
    assert years == [(2026, 4_001)]
    assert quarantined == [
        ("implausible event_timestamp", "0"),
        ("implausible event_timestamp", "3600000"),
        ("implausible event_timestamp", "86400"),
    ]
