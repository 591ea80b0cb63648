"""Progress of LightGBM's boosting rounds: round n / max, validation metric, ETA.

LightGBM's own `log_evaluation` prints every k rounds with no time or ETA, and the demo
trained for minutes in silence. This callback prints a line at most every few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def round_progress(
    max_rounds: int, *, every_s: float = 5.0, log_line: Callable[[str], Any] = print
) -> Callable[[Any], None]:
    """A lightgbm callback: `lgb.train(..., callbacks=[round_progress(n)])`."""
    started = time.monotonic()
    last = {"printed": started}

    def callback(env: Any) -> None:
        done = env.iteration + 1
        now = time.monotonic()
        if now - last["printed"] < every_s and done not in (1, max_rounds):
            return
        last["printed"] = now
        elapsed = now - started
        eta = elapsed / done * (max_rounds - done)
        metric = ""
        if env.evaluation_result_list:
            data, name, value, _ = env.evaluation_result_list[0]
            metric = f", {data} {name} {value:.4f}"
        log_line(
            f"    round {done:>4}/{max_rounds}{metric}, {elapsed:.0f} s elapsed, "
            f"at most {eta:.0f} s left (early stopping may end sooner)"
        )

    callback.order = 30  # type: ignore[attr-defined]  # after early stopping's bookkeeping
    return callback


def count_progress(
    total: int, label: str, *, every_s: float = 5.0, log_line: Callable[[str], Any] = print
) -> Callable[[int], None]:
    """A `progress(n)` callback that prints "label: done/total (pct), elapsed" now and then."""
    started = time.monotonic()
    state = {"done": 0, "printed": started}

    def progress(step: int) -> None:
        if step <= 0:
            return  # a final call with the remainder 0 would print the total twice
        state["done"] += step
        now = time.monotonic()
        if now - state["printed"] < every_s and state["done"] < total:
            return
        state["printed"] = now
        done = state["done"]
        share = done / total if total else 1.0
        log_line(f"    {label}: {done:,}/{total:,} ({share:.0%}), {now - started:.0f} s")

    return progress


class PhaseClock:
    """Wall time of a job's named phases, announced when a phase may take a while.

    `with clock.phase("fit", "Fitting the ranker"):` prints the title first (so a slow step
    is never silent), then how long it took; `clock.seconds` holds every phase's seconds and
    `clock.breakdown()` is one line for the end of the job.
    """

    def __init__(self, *, log_line: Callable[[str], Any] = print) -> None:
        self.seconds: dict[str, float] = {}
        self._log_line = log_line

    @contextmanager
    def phase(self, name: str, title: str | None = None) -> Iterator[None]:
        """Time the block as `name`; with a title, announce it and report its duration."""
        if title:
            self._log_line(f"{title} ...")
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
            if title:
                self._log_line(f"  {title[0].lower() + title[1:]}: {elapsed:.1f} s")

    def breakdown(self) -> str:
        """`name 1.2 s, other 3.4 s (total 4.6 s)`, in the order the phases ran."""
        parts = [f"{name} {s:.1f} s" for name, s in self.seconds.items()]
        return ", ".join(parts) + f" (total {sum(self.seconds.values()):.1f} s)"
