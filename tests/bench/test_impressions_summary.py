"""The impression-cost verdict: changes paired within a round, blocks weighed alike, the
twin's change shown as the run's resolution, and a design that balances every place."""

from __future__ import annotations

import collections

from bench.impressions import VARIANTS, _orders, summary, verdicts
from bench.load import LoadResult


def run(rps: float, p99: float, connections: int = 16) -> LoadResult:
    return LoadResult(
        connections=connections,
        threads=1,
        seconds=2.0,
        requests=int(rps * 2),
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


def runs_of(saturation: dict[str, list[list[LoadResult]]]) -> dict:
    blocks = len(saturation["off"])
    rounds = len(saturation["off"][0])
    single = [[run(400, 4.0, 1)] * rounds] * blocks
    return {v: {"single": single, "saturation": saturation[v]} for v in VARIANTS}


def test_a_round_slowed_by_a_neighbour_moves_both_servers_and_not_the_verdict() -> None:
    # Round 2 ran while another job took a core: every server lost a third of its
    # throughput, and paired within each round "on" stays 2% slower.
    off = [[run(700, 40), run(460, 60), run(700, 40)]]
    on = [[run(686, 41), run(451, 61.2), run(686, 41)]]
    figures = summary(runs_of({"on": on, "off": off, "off, twin": off, "every vector": on}))
    saturation = figures["on/saturation"]
    assert saturation["rps_vs_off"] == -0.02
    assert saturation["p99_vs_off"] == 0.025
    assert figures["off/saturation"]["rps_vs_off"] == 0.0
    text = " ".join(verdicts(figures))
    assert "saturation: p99 +2.5% (met), requests/s -2.0% (met)" in text
    assert "MISSED" not in text


def test_blocks_weigh_alike_so_a_start_place_effect_cancels() -> None:
    # The server started first runs 6% slower for its whole life: in block 1 that is "on",
    # in block 2 "off". Logging itself costs 1%; averaged over the blocks, about 1% remains.
    off = [[run(700, 40)] * 3, [run(700 * 0.94, 40)] * 3]
    on = [[run(693 * 0.94, 40)] * 3, [run(693, 40)] * 3]
    figures = summary(runs_of({"on": on, "off": off, "off, twin": off, "every vector": on}))
    saturation = figures["on/saturation"]
    assert saturation["rps_vs_off_blocks"] == [-0.069, 0.053]
    assert -0.011 < saturation["rps_vs_off"] < -0.007  # one block alone: -6.9% or +5.3%


def test_the_twin_is_reported_beside_the_verdict() -> None:
    off = [[run(700, 40)] * 3]
    twin = [[run(672, 42)] * 3]  # identical servers 4% apart: the run's resolution
    figures = summary(runs_of({"on": off, "off": off, "off, twin": twin, "every vector": off}))
    line = verdicts(figures)[1]
    assert "identical twin of off: p99 +5.0%, requests/s -4.0%" in line


def test_a_change_beyond_five_percent_is_missed() -> None:
    off = [[run(700, 40)] * 3] * 2
    on = [[run(630, 44)] * 3] * 2  # -10% requests/s, +10% p99 in every round
    runs = {
        v: {"single": on if v != "off" else off, "saturation": on if v != "off" else off}
        for v in VARIANTS
    }
    lines = verdicts(summary(runs))
    assert all(line.count("MISSED") == 2 for line in lines), lines


def test_orders_put_every_variant_in_every_place_equally_often() -> None:
    orders = _orders(VARIANTS)
    assert len(orders) == 2 * len(VARIANTS)
    for place in range(len(VARIANTS)):
        counts = collections.Counter(order[place] for order in orders)
        assert set(counts.values()) == {2}, (place, counts)
    follows = collections.Counter(
        (order[i], order[i + 1]) for order in orders for i in range(len(order) - 1)
    )
    # a variant runs right after another as often as right before it
    assert all(follows[(a, b)] == follows[(b, a)] for a, b in follows)
