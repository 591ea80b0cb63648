"""Serving benchmark: our API next to Feast's own feature server, measured in the same run.

    .venv/bin/python -m bench.serve [--world DIR] [--no-record] [--no-cluster]

1. A Redis of our own on a free port and a world built by the CLI into a temp dir (ingest
   generate -> features -> train -> batch-score). `--world DIR` builds it there once and
   reuses it on later runs, only re-materializing into the new Redis.
2. Our server (`recsys serve --workers 2`), then a few thousand live sessions (POST /events,
   1-5 views of popular items each) so recommendations rank up to 300 candidates with real
   session state.
3. wrk (bench/scripts/replay.lua) on GET /recommendations/{user}?k=20&session_id=...:
   1 connection, then a sweep of connection counts; then POST /events at 1 connection.
   Then (unless --no-cluster) the same world materialized into a local 3-master Redis
   Cluster, the same server with REDIS_URL=redis+cluster://..., the same sessions and the
   same GET load: rows "ours, cluster" and its ratio to single-node in the verdicts.
4. With our server stopped, the same route code in this process, timed stage by stage.
5. The peer: `feast serve` (2 workers) answering POST /get-online-features for the same users
   and the very candidates our ranker scored (ranker_v1's user_features + item_features refs,
   user_id x 300 and item_id x 300), measured the same way.
6. The impression log's cost (bench/impressions.py): our servers with logging on, off (and
   an identical twin of off), side by side in a crossover, wrk alternating between them;
   section "serve-impressions".
   `--only-impressions` runs steps 1-2 and this one only.
7. Results into benchmarks.json / BENCHMARKS.md, section "serve". Everything started here is
   stopped in `finally`, on errors, Ctrl-C and SIGTERM too.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench import impressions
from bench.load import (
    DEGRADED_MARKER,
    BenchError,
    LoadResult,
    ServerProcess,
    Traffic,
    best_under,
    create_sessions,
    peer_requests,
    plan_traffic,
    run_wrk,
    start_server,
    write_requests,
    wrk_binary,
)
from bench.world import WorldError, cli_env, prepare_world
from recsys.config import REPO_ROOT, feature_repo_dir
from recsys.redis_runtime import RedisServer, free_port, start_redis

WORLD = {"events": 300_000, "seed": 5, "max_train_queries": 20_000, "max_test_queries": 5_000}
P99_BUDGET_MS = 50.0  # the saturation point is the best requests/s within this p99
PEER_BODIES = 500  # distinct peer requests (users x their candidates) replayed by wrk


@dataclass(frozen=True)
class Options:
    world: Path | None
    sessions: int
    single_seconds: int
    sweep_seconds: int
    connections: tuple[int, ...]
    events_seconds: int
    profile_requests: int
    record: bool
    cost: impressions.CostOptions = field(default_factory=impressions.CostOptions)
    only_impressions: bool = False
    cluster: bool = True


def main() -> None:
    """Parse options, run the benchmark, print and record the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, help="build the world here once, reuse it after")
    parser.add_argument("--sessions", type=int, default=3_000, help="live sessions to create")
    parser.add_argument("--single-seconds", type=int, default=20, help="1-connection runs")
    parser.add_argument("--sweep-seconds", type=int, default=15, help="each saturation run")
    parser.add_argument("--connections", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--events-seconds", type=int, default=10, help="POST /events run")
    parser.add_argument("--profile-requests", type=int, default=2_000, help="in-process")
    parser.add_argument("--no-record", action="store_true", help="print only")
    parser.add_argument(
        "--impressions-rounds", type=int, default=8, help="rounds per block (a multiple of 8)"
    )
    parser.add_argument("--impressions-seconds", type=int, default=2, help="each run")
    parser.add_argument(
        "--impressions-connections", type=int, default=16, help="on/off saturation run"
    )
    parser.add_argument(
        "--only-impressions", action="store_true", help="only the logging on/off comparison"
    )
    parser.add_argument(
        "--no-cluster", action="store_true", help="skip the same load on a local Redis Cluster"
    )
    args = parser.parse_args()
    options = Options(
        world=args.world.resolve() if args.world else None,
        sessions=args.sessions,
        single_seconds=args.single_seconds,
        sweep_seconds=args.sweep_seconds,
        connections=tuple(args.connections),
        events_seconds=args.events_seconds,
        profile_requests=args.profile_requests,
        record=not args.no_record,
        cost=impressions.CostOptions(
            rounds=args.impressions_rounds,
            seconds=args.impressions_seconds,
            connections=args.impressions_connections,
        ),
        only_impressions=args.only_impressions,
        cluster=not args.no_cluster,
    )
    # make and CI stop jobs with SIGTERM: raise instead of dying so `finally` stops the servers
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        results = run(options)
    except BenchError as exc:
        print(f"bench-serve failed: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    for line in impressions.verdicts(results["impressions"]):
        print(line)
    if options.record:
        impressions.record_section(results["impressions"], options.cost)
        print("recorded section 'serve-impressions' in BENCHMARKS.md and benchmarks.json")
    if options.only_impressions:
        return
    rows = table_rows(results)
    widths = {c: max(len(c), *(len(_text(r.get(c))) for r in rows)) for c in COLUMNS}
    header: dict[str, Any] = {c: c for c in COLUMNS}
    for row in [header, *rows]:
        print("  ".join(_text(row.get(c)).ljust(widths[c]) for c in COLUMNS).rstrip())
    for line in verdicts(results):
        print(line)
    if options.record:
        from bench.results import record

        record(
            "serve",
            title="Serving: GET /recommendations next to `feast serve` (same run)",
            command="make bench-serve  (python -m bench.serve)",
            columns=list(COLUMNS),
            rows=rows,
            notes=notes(results, options),
        )
        print("recorded section 'serve' in BENCHMARKS.md and benchmarks.json")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def run(options: Options) -> dict[str, Any]:
    """Run steps 1-5 of the module docstring; stop what was started whatever happens."""
    wrk_binary()  # fail before the slow world build if the load generator is missing
    with tempfile.TemporaryDirectory(prefix="recsys-bench-serve-") as tmp:
        root = Path(tmp)
        redis = start_redis(root / "run")
        servers: list[ServerProcess] = []
        try:
            env = _env(redis, options.world or root / "world")
            reused = _prepare_world(options.world is not None, env, root / "cli.log")
            data_dir = Path(env["RECSYS_DATA_DIR"])
            traffic = plan_traffic(
                data_dir / "exports", sessions=options.sessions, seed=WORLD["seed"]
            )
            if options.only_impressions:
                return {"impressions": _impression_cost(options, env, root, traffic, redis)}
            results = _run_ours(options, env, root, traffic, servers, redis)
            if options.cluster:
                results["cluster"] = _run_on_cluster(options, env, root, traffic, servers)
            results["impressions"] = _impression_cost(
                options, env, root, traffic, redis, sessions_exist=True
            )
            results["world_reused"] = reused
            print(f"timing {options.profile_requests:,} requests stage by stage in this process")
            measured = profile(
                data_dir=data_dir,
                redis_url=redis.url,
                traffic=traffic,
                requests=options.profile_requests,
            )
            results["stages"] = measured.stages
            peer = peer_requests(measured.candidates, refs=measured.refs, fill=measured.fill)
            results["peer_request"] = peer.describe
            write_requests(root / "peer.tsv", peer.requests)
            port = free_port()
            # our uvicorn workers never restart; Feast's default recycles each one every ~1000
            # requests (a 5-7 s re-import of Feast mid-run): switch that off, like for like
            flags = ["--workers", "2", "--no-access-log", "--max-requests", "0"]
            feast_cli = str(Path(sys.executable).with_name("feast"))
            command = [feast_cli, "serve", "-h", "127.0.0.1", "-p", str(port), *flags]
            feast = start_server(
                "feast serve",
                command,
                port=port,
                env=env,
                cwd=feature_repo_dir(),
                log=root / "feast.log",
            )
            servers.append(feast)
            feast.wait_ready("/health")
            results["peer_check"] = peer.check(feast.url)
            print(f"feast serve is ready at {feast.url}; {results['peer_check']}")
            results["peer"] = _load_runs("peer", feast, root / "peer.tsv", options, [redis.pid])
            return results
        finally:
            for server in servers:
                server.stop()
            redis.stop()


def _run_ours(
    options: Options,
    env: dict[str, str],
    root: Path,
    traffic: Traffic,
    servers: list[ServerProcess],
    redis: RedisServer,
) -> dict[str, Any]:
    """Start our server, create the live sessions, measure it, stop it."""
    write_requests(root / "ours.tsv", traffic.recommendation_requests())
    write_requests(root / "events.tsv", traffic.event_requests())
    port = free_port()
    command = [sys.executable, "-m", "ops", "serve", "--workers", "2", "--port", str(port)]
    ours = start_server(
        "our server", command, port=port, env=env, cwd=REPO_ROOT, log=root / "ours.log"
    )
    servers.append(ours)
    ours.wait_ready("/ready")
    print(f"our server is ready at {ours.url}; creating {options.sessions:,} live sessions")
    results: dict[str, Any] = {"sample": create_sessions(ours.url, traffic)}
    print(f"  sampled answers: {results['sample']}")
    results["ours"] = _load_runs("ours", ours, root / "ours.tsv", options, [redis.pid])
    results["events"] = run_wrk(
        ours.url,
        root / "events.tsv",
        connections=1,
        seconds=options.events_seconds,
        pids=[*ours.pids(), redis.pid],
    )
    print(f"ours POST /events, 1 connection: {_short(results['events'])}")
    ours.stop()  # the in-process profile and the peer must not share the cores with it
    return results


def _run_on_cluster(
    options: Options,
    env: dict[str, str],
    root: Path,
    traffic: Traffic,
    servers: list[ServerProcess],
) -> dict[str, Any]:
    """The same server, sessions and load with REDIS_URL on a local 3-master Redis Cluster."""
    from recsys.config import environment, feast_env
    from recsys.local_cluster import start_cluster
    from recsys.pipeline.materialize import materialize

    cluster = start_cluster(root / "cluster")
    try:
        cluster_env = {**env, "REDIS_URL": cluster.url, **feast_env(cluster.url)}
        with environment(cluster_env):
            materialize(start=None, end=None, incremental=False, views=None, engine="fast")
        port = free_port()
        command = [sys.executable, "-m", "ops", "serve", "--workers", "2", "--port", str(port)]
        server = start_server(
            "our server on a cluster",
            command,
            port=port,
            env=cluster_env,
            cwd=REPO_ROOT,
            log=root / "cluster.log",
        )
        servers.append(server)
        server.wait_ready("/ready")
        print(f"our server on a Redis Cluster is ready at {server.url}; creating sessions")
        create_sessions(server.url, traffic)
        pids = [n.process.pid for n in cluster.nodes if n.process is not None]
        runs = _load_runs("ours", server, root / "ours.tsv", options, pids, label="cluster")
        runs["keys_per_node"] = [n.client.dbsize() for n in cluster.nodes]
        server.stop()
        return runs
    finally:
        cluster.stop()


def _impression_cost(
    options: Options,
    env: dict[str, str],
    root: Path,
    traffic: Traffic,
    redis: RedisServer,
    *,
    sessions_exist: bool = False,
) -> dict[str, Any]:
    """Logging on vs off, side by side (bench/impressions.py); both servers stopped after."""
    requests_file = root / "ours.tsv"
    if not requests_file.exists():
        write_requests(requests_file, traffic.recommendation_requests())
    started: list[ServerProcess] = []
    made_sessions = sessions_exist

    def start(order: tuple[str, ...]) -> dict[str, ServerProcess]:
        nonlocal made_sessions
        servers = impressions.start_servers(env, root, started, order)
        if not made_sessions:  # in Redis: every later server sees them
            print(f"creating {options.sessions:,} live sessions")
            create_sessions(servers["off"].url, traffic)
            made_sessions = True
        return servers

    try:
        runs = impressions.measure(start, requests_file, redis, options.cost)
    finally:
        for server in started:
            server.stop()
    return impressions.summary(runs)


def _load_runs(
    name: str,
    server: ServerProcess,
    requests_file: Path,
    options: Options,
    redis_pids: list[int],
    *,
    label: str = "",
) -> dict[str, Any]:
    """Warm up (discarded), then 1 connection, then the saturation sweep."""
    marker = DEGRADED_MARKER if name == "ours" else None
    pids = [*server.pids(), *redis_pids]
    name = f"{name} ({label})" if label else name

    def once(connections: int, seconds: int) -> LoadResult:
        result = run_wrk(
            server.url,
            requests_file,
            connections=connections,
            seconds=seconds,
            marker=marker,
            pids=pids,
        )
        print(f"{name} {connections} connection(s): {_short(result)}", flush=True)
        return result

    once(2, 5)  # warm-up
    single = once(1, options.single_seconds)
    sweep = [once(c, options.sweep_seconds) for c in options.connections]
    return {"single": single, "sweep": sweep, "best": best_under(sweep, p99_ms=P99_BUDGET_MS)}


def _short(r: LoadResult) -> str:
    return (
        f"{r.requests_per_s:,.0f} req/s, p50 {r.p50_ms:.2f} ms, p95 {r.p95_ms:.2f} ms, "
        f"p99 {r.p99_ms:.2f} ms, errors {r.errors}, marked {r.marked}, server CPU "
        f"{r.cpu_ms_per_request:.2f} ms/request, other jobs {r.other_cores:.2f} cores"
    )


# -- the world ------------------------------------------------------------------------------


def _env(redis: RedisServer, data_dir: Path) -> dict[str, str]:
    return cli_env(redis.url, data_dir)


def _prepare_world(reuse: bool, env: dict[str, str], log: Path) -> bool:
    try:
        return prepare_world(WORLD, reuse, env, log)
    except WorldError as exc:
        raise BenchError(str(exc)) from exc


# -- where the time goes: the route's stages in this process --------------------------------

STAGE_ORDER = (
    "feast online read",
    "user context",
    "candidates",
    "features",
    "scoring",
    "top-k items",
    "rest of the route",
    "route total",
    "response model + JSON",
    "in-process total",
)


@dataclass(frozen=True)
class Profile:
    stages: dict[str, dict[str, float]]  # stage -> p50/p95/p99/mean ms
    candidates: list[tuple[str, list[str]]]  # (user, scored candidate items) per request
    refs: list[str]  # ranker_v1's user_features and item_features refs
    fill: list[str]  # items by popularity, to pad a short candidate list


def profile(*, data_dir: Path, redis_url: str, traffic: Traffic, requests: int) -> Profile:
    """Time each stage of GET /recommendations in this process, with the server's own objects.

    The route function runs as the server runs it (same ServingState, same heap freeze);
    module-level functions it calls are wrapped with timers for the run, then restored.

    Raises:
        BenchError: The state has no model or no catalog.
    """
    import asyncio
    import gc

    from fastapi import Response
    from pydantic import TypeAdapter

    from recsys.config import Settings
    from recsys.monitoring.impressions import feature_groups
    from serving.impressions import ImpressionLog
    from serving.routes.recommendations import recommendations
    from serving.schemas import RecommendationsOut
    from serving.state import build_state

    state = build_state(Settings(data_dir=data_dir, redis_url=redis_url))
    catalog = state.catalog
    if state.scorer is None or catalog is None:
        raise BenchError(
            f"in-process state: model {state.model_error}, catalog {state.catalog_error}"
        )
    log = ImpressionLog.from_settings(
        state.settings, feature_groups=feature_groups(state.inputs.layout)
    )
    log.start()  # the route hands each answer to the log, as in the server
    gc.collect()
    gc.freeze()  # as the server's lifespan does
    response = TypeAdapter(RecommendationsOut)
    loop = asyncio.new_event_loop()
    sink: dict[str, Any] = {}
    samples: dict[str, list[float]] = defaultdict(list)
    candidates: list[tuple[str, list[str]]] = []
    warmup = 200
    try:
        with _timers(sink):
            for n in range(warmup + requests):
                session = traffic.sessions[n % len(traffic.sessions)]
                sink.clear()
                t0 = time.perf_counter()
                out = loop.run_until_complete(
                    recommendations(
                        state=state,
                        impressions=log,
                        response=Response(),
                        user_id=session.user_id,
                        k=20,
                        session_id=session.session_id,
                        exclude_seen=False,
                        exclude=None,
                        categories=None,
                        explain=False,
                    )
                )
                t1 = time.perf_counter()
                response.dump_json(response.validate_python(out))
                t2 = time.perf_counter()
                if n < warmup:
                    continue
                inner = {k: v for k, v in sink.items() if k != "candidate_items"}
                for stage, seconds in inner.items():
                    samples[stage].append(seconds * 1000)
                samples["rest of the route"].append((t1 - t0 - sum(inner.values())) * 1000)
                samples["route total"].append((t1 - t0) * 1000)
                samples["response model + JSON"].append((t2 - t1) * 1000)
                samples["in-process total"].append((t2 - t0) * 1000)
                if len(candidates) < PEER_BODIES and "candidate_items" in sink:
                    items = catalog.item_ids[sink["candidate_items"]].tolist()
                    candidates.append((session.user_id, [str(i) for i in items]))
    finally:
        loop.close()
        log.stop()
    stats = {
        stage: {
            "p50_ms": float(np.percentile(samples[stage], 50)),
            "p95_ms": float(np.percentile(samples[stage], 95)),
            "p99_ms": float(np.percentile(samples[stage], 99)),
            "mean_ms": float(np.mean(samples[stage])),
        }
        for stage in STAGE_ORDER
        if samples.get(stage)
    }
    order = np.argsort(-catalog.popularity, kind="stable")[:2_000]
    fill = [str(i) for i in catalog.item_ids[order]]
    return Profile(stats, candidates, [*state.inputs.user_refs, *state.inputs.item_refs], fill)


@contextlib.contextmanager
def _timers(sink: dict[str, Any]) -> Iterator[None]:
    """Wrap the functions the route calls so each call adds its seconds to sink[stage]."""
    from recsys.ranking import ranker
    from recsys.ranking import recommend as core
    from serving import online, recommender

    def timed(fn: Callable[..., Any], stage: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result = fn(*args, **kwargs)
            sink[stage] = sink.get(stage, 0.0) + time.perf_counter() - started
            if stage == "candidates":
                sink["candidate_items"] = result.items  # the peer asks for these items
            return result

        return wrapper

    targets: list[tuple[Any, str, str]] = [
        (online.OnlineFeatures, "read", "feast online read"),
        (recommender, "user_context", "user context"),
        (core, "generate", "candidates"),
        (core, "session_features", "features"),
        (core, "assemble", "features"),
        (ranker.Ranker, "score", "scoring"),
        (recommender, "_items", "top-k items"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]
    try:
        for owner, name, stage in targets:
            setattr(owner, name, timed(getattr(owner, name), stage))
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


# -- results --------------------------------------------------------------------------------

COLUMNS = (
    "server",
    "case",
    "connections",
    "requests_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "errors",
    "degraded",
    "peer_p99_over_ours",
    "cpu_ms_per_req",
    "other_jobs_cores",
    "note",
)


def table_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per measured case, then one per in-process stage."""
    ours, peer = results["ours"], results["peer"]
    peer_p99 = {r.connections: r.p99_ms for r in [peer["single"], *peer["sweep"]]}
    rows = []

    def load_row(server: str, case: str, r: LoadResult, best: LoadResult | None) -> None:
        is_get = case.startswith("GET")
        peer = peer_p99.get(r.connections) if is_get else None
        rows.append(
            {
                "server": server,
                "case": case,
                "connections": r.connections,
                "requests_per_s": r.requests_per_s,
                "p50_ms": round(r.p50_ms, 3),
                "p95_ms": round(r.p95_ms, 3),
                "p99_ms": round(r.p99_ms, 3),
                "errors": r.errors,
                "degraded": r.marked if is_get else None,
                "peer_p99_over_ours": round(peer / r.p99_ms, 1) if peer and r.p99_ms else None,
                "cpu_ms_per_req": r.cpu_ms_per_request,
                "other_jobs_cores": r.other_cores,
                "note": "best within the p99 budget" if r is best else "",
            }
        )

    cases = (
        ("ours", ours, "GET /recommendations k=20"),
        ("feast serve", peer, "POST /get-online-features 1+300"),
    )
    for server, runs, case in cases:
        load_row(server, f"{case}, 1 client", runs["single"], None)
        for r in runs["sweep"]:
            load_row(server, f"{case}, saturation", r, runs["best"])
        if server == "ours":
            load_row("ours", "POST /events (1 view), 1 client", results["events"], None)
    if "cluster" in results:
        on_cluster = results["cluster"]
        case = "GET /recommendations k=20 on a 3-master Redis Cluster"
        load_row("ours, cluster", f"{case}, 1 client", on_cluster["single"], None)
        for r in on_cluster["sweep"]:
            load_row("ours, cluster", f"{case}, saturation", r, on_cluster["best"])
    for stage, s in results["stages"].items():
        rows.append(
            {
                "server": "ours, in-process",
                "case": f"stage: {stage}",
                "p50_ms": round(s["p50_ms"], 3),
                "p95_ms": round(s["p95_ms"], 3),
                "p99_ms": round(s["p99_ms"], 3),
                "note": f"mean {s['mean_ms']:.3f} ms",
            }
        )
    return rows


def verdicts(results: dict[str, Any]) -> list[str]:
    """The targets, each with the measured figure and met / missed (never asserted)."""
    ours, peer = results["ours"], results["peer"]
    single, best = ours["single"], ours["best"]
    ratio = peer["single"].p99_ms / single.p99_ms if single.p99_ms else float("nan")
    best_rps = best.requests_per_s if best else 0.0
    cpu_ms = float(np.median([r.cpu_ms_per_request for r in ours["sweep"]])) or float("nan")

    def mark(ok: bool) -> str:
        return "met" if ok else "MISSED"

    cluster = []
    if "cluster" in results:
        on, best_on = results["cluster"]["single"], results["cluster"]["best"]
        cpu_on = float(np.median([r.cpu_ms_per_request for r in results["cluster"]["sweep"]]))
        throughput = (
            f"{best_on.requests_per_s / best_rps:.2f}x"
            if best_on and best_rps
            else "n/a (a sweep point within the p99 budget is missing)"
        )
        cluster = [
            f"cluster / single-node at 1 client: p50 {on.p50_ms / single.p50_ms:.2f}x, p99 "
            f"{on.p99_ms / single.p99_ms:.2f}x; server + Redis CPU per request at saturation "
            f"{cpu_on:.2f} vs {cpu_ms:.2f} ms ({cpu_on / cpu_ms:.2f}x); best req/s within the "
            f"budget {throughput}; keys per node {results['cluster']['keys_per_node']}"
        ]
    return [
        *cluster,
        f"target ours p99 <= 10 ms at 1 client: {single.p99_ms:.2f} ms -> "
        f"{mark(single.p99_ms <= 10)}",
        f"target >= 500 req/s with p99 <= 50 ms, no errors: {best_rps:,.0f} req/s "
        f"({f'at {best.connections} connections' if best else 'no sweep point qualified'})"
        f" -> {mark(best_rps >= 500)}",
        f"target peer p99 / ours p99 >= 5 at 1 client: {ratio:.1f}x -> {mark(ratio >= 5)}",
        f"ours POST /events 1 client: p50 {results['events'].p50_ms:.2f} ms, p99 "
        f"{results['events'].p99_ms:.2f} ms",
        f"ours server + Redis CPU per request at saturation: {cpu_ms:.2f} ms, so 2 cores of "
        f"its own would cap it near {2000 / cpu_ms:,.0f} req/s (load generator elsewhere)",
    ]


def notes(results: dict[str, Any], options: Options) -> str:
    """The notes under the table: targets and verdicts, the peer's request, caveats."""
    sample = results["sample"]
    lines = [
        "Targets (measured, not asserted): " + "; ".join(verdicts(results)) + ".",
        f"Ours: `recsys serve --workers 2` (uvicorn), GET /recommendations/{{user}}?k=20&"
        f"session_id=... over {options.sessions:,} live sessions created first with POST "
        f"/events (1-5 views of the 200 most popular items, 10% of them cold users); sampled "
        f"answers ranked {sample['candidates_min']}-{sample['candidates_median']} (min-median) "
        "candidates. `degraded` counts answers served by a fallback instead of the model.",
        f"Peer: `feast serve --workers 2 --no-access-log --max-requests 0` (gunicorn + uvicorn "
        f"workers, registry TTL 60 s, same Redis), {results['peer_request']}. The peer only "
        "fetches features: no candidates, no scoring.",
        f"Load: wrk 4.1 replaying prepared requests (bench/scripts/replay.lua), "
        f"1 connection x {options.single_seconds} s and {list(options.connections)} "
        f"connections x {options.sweep_seconds} s with 2 threads, 2 s timeout, after a 5 s "
        "warm-up; percentiles are wrk's exact ones from done(). errors = non-2xx + socket "
        "errors + timeouts. peer_p99_over_ours compares runs at the same connection count.",
        "Machine caveat: wrk, Redis and both server workers share the same 2 cores, so "
        "saturation figures are lower bounds for a server with cores of its own. The machine "
        "is shared: other_jobs_cores is the average CPU other people's jobs used during the "
        "run (machine busy time minus ours, from /proc); cpu_ms_per_req is the CPU the "
        "server's processes and Redis spent per answered request, which moves less with such "
        "noise than latency does (it still rises under contention: the cores share caches).",
        "In-process stages: the route function timed in the benchmark process (server "
        "stopped, one request at a time); `rest of the route` is the route minus the named "
        "stages; the gap between in-process total and the HTTP p50 at 1 client is uvicorn, "
        "FastAPI and the loopback.",
        *(
            [
                "Cluster rows: the same server (`--workers 2`) with REDIS_URL=redis+cluster://... "
                "on a local 3-master Redis Cluster (recsys/local_cluster.py, same 2 cores), the "
                "world materialized into it with the fast engine, the same live sessions "
                "created again and the same request file; its CPU per request counts the "
                "three Redis nodes. `--no-cluster` skips it."
            ]
            if "cluster" in results
            else []
        ),
        "Published anchors: Metarank p99 ~24 ms re-ranking 300 items; Feast's Python feature "
        "server p99 ~208 ms for 100 rows.",
        f"World: `recsys ingest generate --events {WORLD['events']} --seed {WORLD['seed']}`, "
        f"features, train --max-train-queries {WORLD['max_train_queries']} --max-test-queries "
        f"{WORLD['max_test_queries']}, batch-score"
        + (
            f"; built by an earlier run in --world {options.world} and reused."
            if results.get("world_reused")
            else "; built fresh by this run."
        ),
    ]
    return "\n".join(f"- {line}" for line in lines)


if __name__ == "__main__":
    main()
