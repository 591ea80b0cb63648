"""`make bench-candidates`: candidate generation per request with and without the SR-rule and
embedding generators, in one run, on the same queries; and what each adds to recall@300.

Builds a generated world (ingest + dbt build; no Redis, no training) in a data dir, loads the
test snapshot's catalog, and answers every test-window session prefix (k >= 1, capped) with
`recsys.ranking.candidates.generate`, the call the server makes: with the catalog as built,
with its sequential rules removed, and with both its rules and embedding neighbours removed
(the pool before either generator), interleaved query by query so a load change on the shared
host hits all alike. Reports wall p50/p99 per request and CPU
time (user+sys of this process) per request.

Usage: python -m bench.candidates [--events 150000] [--seed 7] [--queries 5000]
       [--world data/bench/candidates-world]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.results import record
from recsys.config import REPO_ROOT

COMMAND = "make bench-candidates"
MARKER = "bench-candidates-world.json"


def build_world(folder: Path, *, events: int, seed: int) -> None:
    """ingest generate + build into `folder`, unless it already holds this spec."""
    spec = {"events": events, "seed": seed}
    marker = folder / MARKER
    if marker.exists() and json.loads(marker.read_text()) == spec:
        return
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RECSYS_DATA_DIR": str(folder)}
    env.pop("RECSYS_WAREHOUSE", None)
    for args in (
        ["ingest", "generate", "--events", str(events), "--seed", str(seed)],
        ["build"],
    ):
        print(f"  recsys {' '.join(args)}", flush=True)
        subprocess.run(
            [sys.executable, "-m", "ops", *args],
            cwd=REPO_ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    marker.write_text(json.dumps(spec))


def measure(folder: Path, *, queries: int) -> list[dict[str, Any]]:
    """Time every variant on the same test-window prefixes; one row per variant."""
    from recsys.ranking.candidates import UserContext, generate
    from recsys.ranking.catalog import Csr
    from recsys.ranking.loading import load_catalog
    from training.dataset import load_session_log, load_windows

    exports = folder / "exports"
    window = load_windows(exports)["test"]
    catalog = load_catalog(exports, snapshot="test", item_feature_names=[])
    no_rules = dataclasses.replace(catalog, rules=Csr.empty(catalog.size))
    neither = dataclasses.replace(no_rules, embed=Csr.empty(catalog.size))
    log = load_session_log(exports, window, catalog)
    prefixes = [
        (s, k)
        for s in range(len(log.offsets) - 1)
        for k in range(1, int(log.offsets[s + 1] - log.offsets[s]))
        if log.times_s[log.offsets[s] + k] >= window.starts_at.timestamp()
    ]
    rng = np.random.default_rng(0)
    if len(prefixes) > queries:
        prefixes = [prefixes[i] for i in np.sort(rng.choice(len(prefixes), queries, False))]
    user = UserContext.unknown(0)
    variants = {
        "all generators": catalog,
        "without SR rules": no_rules,
        "without SR rules or embedding": neither,
    }
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu = dict.fromkeys(variants, 0.0)
    hits = dict.fromkeys(variants, 0)
    for cat in variants.values():  # compile and warm each before timing
        generate(cat, log.prefix(*prefixes[0]), user)
    for s, k in prefixes:
        session = log.prefix(s, k)
        target = int(log.items[log.offsets[s] + k])
        for name, cat in variants.items():
            cpu_start = time.process_time()
            started = time.perf_counter()
            cands = generate(cat, session, user)
            wall[name].append(time.perf_counter() - started)
            cpu[name] += time.process_time() - cpu_start
            hits[name] += int(target >= 0 and bool(np.any(cands.items == target)))
    rows = []
    for name in variants:
        ms = np.asarray(wall[name]) * 1000
        rows.append(
            {
                "generators": name,
                "queries": len(prefixes),
                "p50_ms": round(float(np.percentile(ms, 50)), 3),
                "p99_ms": round(float(np.percentile(ms, 99)), 3),
                "cpu_ms_per_request": round(cpu[name] * 1000 / len(prefixes), 3),
                "recall@300": round(hits[name] / len(prefixes), 4),
                "rule_links": len(variants[name].rules.indices),
                "embedding_links": len(variants[name].embed.indices),
                "items": catalog.size,
            }
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    """Build (or reuse) the world, measure every variant and record them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--queries", type=int, default=5_000)
    parser.add_argument(
        "--world", type=Path, default=REPO_ROOT / "data" / "bench" / "candidates-world"
    )
    args = parser.parse_args()
    build_world(args.world, events=args.events, seed=args.seed)
    rows = measure(args.world, queries=args.queries)
    record(
        "candidates",
        title="Candidate generation per request, with and without the SR-rule and embedding "
        "generators",
        command=COMMAND,
        columns=[
            "generators",
            "queries",
            "p50_ms",
            "p99_ms",
            "cpu_ms_per_request",
            "recall@300",
            "rule_links",
            "embedding_links",
            "items",
        ],
        rows=rows,
        notes=(
            f"{args.events:,} generated events (seed {args.seed}), test snapshot, k>=1 prefixes "
            "of test sessions, anonymous user; the variants interleaved query by query. "
            "recall@300: the next item is among the candidates."
        ),
    )


if __name__ == "__main__":
    main()
