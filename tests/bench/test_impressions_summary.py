"""The impression-cost verdict is judged on changes paired within a round, not pooled rounds."""

from __future__ import annotations

from bench.impressions import VARIANTS, summary, verdicts
from bench.load import LoadResult


def run(rps: float, p99: float, connections: int = 16) -> LoadResult:
    return LoadResult(
        connections=connections,
        threads=1,
        seconds=10.0,
        requests=int(rps * 10),
        requests_per_s=rps,
        p50_ms=p99 / 4,
        p95_ms=p99 / 2,
        p99_ms=p99,
        max_ms=p99 * 2,
        non2xx=0,
        socket_errors=0,
        marked=0,
        other_cores=0.0,
        cpu_ms_per_request=2.5,
    )


def test_a_round_slowed_by_a_neighbour_moves_both_servers_and_not_the_verdict() -> None:
    # Round 2 ran while another job took a core: both servers lost a third of their
    # throughput, and paired within each round "on" stays 2% slower.
    off = [run(700, 40), run(460, 60), run(700, 40)]
    on = [run(686, 41), run(451, 61.2), run(686, 41)]
    runs = {
        v: {"single": [run(400, 4.0, 1)] * 3, "saturation": on if v != "off" else off}
        for v in VARIANTS
    }
    figures = summary(runs)
    saturation = figures["on/saturation"]
    assert saturation["rps_vs_off"] == -0.02
    assert saturation["p99_vs_off"] == 0.025
    assert saturation["p99_vs_off_each"] == [0.025, 0.02, 0.025]
    assert figures["off/saturation"]["rps_vs_off"] == 0.0
    text = " ".join(verdicts(figures))
    assert "saturation: p99 +2.5%" in text and "requests/s -2.0%" in text
    assert "MISSED" not in text


def test_a_change_beyond_five_percent_is_missed() -> None:
    off = [run(700, 40)] * 3
    on = [run(630, 44)] * 3  # -10% requests/s, +10% p99 in every round
    runs = {
        v: {"single": on if v != "off" else off, "saturation": on if v != "off" else off}
        for v in VARIANTS
    }
    lines = verdicts(summary(runs))
    assert all(line.count("MISSED") == 2 for line in lines), lines
