"""Benchmark: materialize into one Redis next to a local 3-master Redis Cluster, and bytes/key.

    .venv/bin/python -m bench.cluster --entities 20000 [--features 20]
    .venv/bin/python -m bench.cluster --world DATA_DIR   # a built world's views instead

Same synthetic Parquet and throwaway Feast repo as bench/materialize.py. For each target
(single server, cluster) and engine (fast, stock Feast): empty the target, materialize, time
it; then compare the contents across targets byte for byte, report keys per cluster node,
`used_memory` per key and MEMORY USAGE of a sample of keys. CPU time (user+sys) of this
process is reported next to wall time: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from bench.materialize import END, START, VIEW, _write_source, throwaway_store
from recsys.config import feast_env
from recsys.local_cluster import start_cluster
from recsys.pipeline.materialize import materialize
from recsys.redis_runtime import start_redis


def _dump(clients: list[Any]) -> dict[bytes, dict[bytes, bytes]]:
    out: dict[bytes, dict[bytes, bytes]] = {}
    for client in clients:
        for key in client.scan_iter(count=10_000):
            if not key.startswith(b"recsys:"):
                out[key] = client.hgetall(key)
    return out


def measure(*, entities: int, features: int, seed: int = 7) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="recsys-bench-cluster-") as tmp:
        root = Path(tmp)
        server = start_redis(root / "run")
        cluster = start_cluster(root / "cluster-nodes")
        try:
            source = _write_source(root / f"{VIEW}.parquet", entities, features, seed)
            single = redis.Redis.from_url(server.url)
            targets: dict[str, tuple[str, list[Any]]] = {
                "single": (server.url, [single]),
                "cluster": (cluster.url, [n.client for n in cluster.nodes]),
            }
            result: dict[str, Any] = {"entities": entities, "features": features}
            dumps = {}
            for name, (url, clients) in targets.items():
                (root / name).mkdir(exist_ok=True)
                store = throwaway_store(root / name, url, source, features)
                for engine in ("fast", "feast"):
                    for client in clients:
                        client.flushall()
                    wall, cpu = time.perf_counter(), _cpu()
                    materialize(
                        start=START, end=END, incremental=False, views=[VIEW],
                        engine=engine, store=store,
                    )  # fmt: skip
                    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
                    result[f"{name}_{engine}_us_per_row"] = round(wall / entities * 1e6, 1)
                    result[f"{name}_{engine}_cpu_us_per_row"] = round(cpu / entities * 1e6, 1)
                    dumps[(name, engine)] = _dump(clients)
                result[f"{name}_bytes_per_key"] = round(
                    sum(c.info("memory")["used_memory"] for c in clients) / entities
                )
                sample = list(dumps[(name, "feast")])[:200]
                usage: list[int] = []
                for key in sample:
                    for client in clients:
                        try:
                            if (bytes_used := client.memory_usage(key)) is not None:
                                usage.append(bytes_used)
                                break
                        except redis.ResponseError:  # MOVED: another node owns it
                            continue
                result[f"{name}_memory_usage_per_key"] = round(sum(usage) / max(1, len(usage)))
            result["keys_per_node"] = [n.client.dbsize() for n in cluster.nodes]
            first = dumps[("single", "fast")]
            result["identical"] = len(first) == entities and all(d == first for d in dumps.values())
            return result
        finally:
            cluster.stop()
            server.stop()


def measure_world(data_dir: Path) -> dict[str, Any]:
    """Materialize a built world (every view) into one Redis and a cluster, both engines;
    MEMORY USAGE per key of each view (user, item, session rows...) on both."""
    from recsys.config import environment

    with tempfile.TemporaryDirectory(prefix="recsys-bench-cluster-") as tmp:
        root = Path(tmp)
        server = start_redis(root / "run")
        cluster = start_cluster(root / "cluster-nodes")
        try:
            targets: dict[str, tuple[str, list[Any]]] = {
                "single": (server.url, [redis.Redis.from_url(server.url)]),
                "cluster": (cluster.url, [n.client for n in cluster.nodes]),
            }
            result: dict[str, Any] = {}
            for name, (url, clients) in [("warm-up", targets["single"]), *targets.items()]:
                env = {"RECSYS_DATA_DIR": str(data_dir), "REDIS_URL": url, **feast_env(url)}
                for engine in ("feast", "fast"):  # fast last: its keys are sampled below
                    for client in clients:
                        client.flushall()
                    wall, cpu = time.perf_counter(), _cpu()
                    with environment(env):
                        summary = materialize(
                            start=None, end=None, incremental=False, views=None, engine=engine
                        )
                    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
                    rows = summary.rows
                    result[f"{name}_{engine}_rows"] = rows
                    result[f"{name}_{engine}_us_per_row"] = round(wall / rows * 1e6, 1)
                    result[f"{name}_{engine}_cpu_us_per_row"] = round(cpu / rows * 1e6, 1)
                result[f"{name}_memory_usage"] = _usage_per_view(clients)
            del result["warm-up_memory_usage"]  # the first run pays imports and caches
            result["keys_per_node"] = [n.client.dbsize() for n in cluster.nodes]
            return result
        finally:
            cluster.stop()
            server.stop()


def _usage_per_view(clients: list[Any]) -> dict[str, int]:
    """Mean MEMORY USAGE of every key per view (a key's views: its `_ts:` fields)."""
    usage: dict[str, list[int]] = {}
    for client in clients:
        for key in client.scan_iter(count=10_000):
            if key.startswith(b"recsys:"):
                continue
            views = sorted(f.decode()[4:] for f in client.hkeys(key) if f.startswith(b"_ts:"))
            usage.setdefault("+".join(views), []).append(int(client.memory_usage(key) or 0))
    return {view: round(sum(v) / len(v)) for view, v in usage.items() if v}


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, nargs="+", default=[20_000])
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--world", type=Path, help="a built data dir: its views instead")
    args = parser.parse_args()
    if args.world:
        print(measure_world(args.world.resolve()), flush=True)
        return
    for entities in args.entities:
        print(measure(entities=entities, features=args.features), flush=True)


if __name__ == "__main__":
    main()
