"""`recsys serve | batch-score`: the inference commands (registered by the CLI in ops/)."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time

import typer

from recsys.config import paths


def batch_score(
    k: int = typer.Option(20, help="Recommendations per user."),
    candidates: int = typer.Option(300, help="Candidates scored per user."),
    active_days: int = typer.Option(30, help="Users with an event in this many days are active."),
    workers: int = typer.Option(min(2, os.cpu_count() or 1), help="Scoring processes."),
    materialize: bool = typer.Option(True, help="Also load the results into Redis via Feast."),
) -> None:
    """Score every active user (no session); write to DuckDB and Redis."""
    from tqdm import tqdm

    from recsys import model_check, registry
    from recsys.contract import FEATURE_SERVICE
    from recsys.pipeline.feast_ops import feature_store
    from recsys.ranking.inputs import ranker_inputs
    from recsys.ranking.loading import load_catalog
    from recsys.ranking.ranker import load_ranker
    from recsys.ranking.recommend import Scorer
    from serving.batch import run_batch

    layout_paths = paths()
    model_dir = registry.current_dir(layout_paths.models)
    if model_dir is None:
        print("No promoted model: run `make train` first.", file=sys.stderr)
        raise typer.Exit(1)
    check = model_check.validate(model_dir)  # a corrupt model must not abort this process
    if not check.ok:
        print(f"Current model refused: {check.reason}", file=sys.stderr)
        raise typer.Exit(1)
    store = feature_store(connect_redis=materialize)
    inputs = ranker_inputs(store, FEATURE_SERVICE)
    catalog = load_catalog(
        layout_paths.exports,
        snapshot="serving",
        item_feature_names=list(inputs.layout.item_features),
    )
    scorer = Scorer.bind(load_ranker(model_dir), inputs.layout)
    result = run_batch(
        exports=layout_paths.exports,
        warehouse=layout_paths.warehouse,
        catalog=catalog,
        scorer=scorer,
        k=k,
        candidates=candidates,
        active_days=active_days,
        workers=workers,
        progress_factory=lambda total: tqdm(total=total, unit="user", desc="batch scoring"),
    )
    print(
        f"Scored {result.users:,} active users ({result.rows:,} recommendations) with model "
        f"{result.model_version} in {result.seconds:.1f} s: {result.users_per_second:,.0f} users/s."
    )
    print(f"  warehouse table batch_recommendations in {layout_paths.warehouse}")
    if materialize:
        from recsys.pipeline import materialize as mat

        try:
            summary = mat.materialize(
                start=None,
                end=None,
                incremental=False,
                views=["user_batch_recommendations"],
                engine="fast",
            )
        except mat.MaterializeError as exc:
            print(mat.format_summary(exc.summary))
            print(exc, file=sys.stderr)
            raise typer.Exit(1) from exc
        except ValueError as exc:
            print(f"batch-score: loading into Redis failed: {exc}", file=sys.stderr)
            raise typer.Exit(1) from exc
        print(mat.format_summary(summary))


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port."),
    workers: int = typer.Option(1, help="Worker processes (use 2 on 2 cores for throughput)."),
) -> None:
    """Start the API and the try-it page on the Redis at REDIS_URL (it must answer).

    With REDIS_URL unset (or `recsys --start-redis serve`) the project's own Redis is used.
    """
    import uvicorn

    from recsys.config import export_data_dir_env
    from recsys.redis_runtime import ensure_redis

    export_data_dir_env()
    ensure_redis()
    if workers > 1:
        metrics_dir = paths().run / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        os.environ["PROMETHEUS_MULTIPROCESS_DIR"] = str(metrics_dir)
    pid_file = paths().server_pid
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{os.getpid()}\n")
    url = f"http://{host}:{port}"
    print(f"Starting the API on {url} (loading the model, the catalog and online features)...")
    threading.Thread(target=_announce_when_up, args=(url,), daemon=True).start()
    try:
        uvicorn.run(
            "serving.main:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
        )
    finally:
        # Only our own record: a second `serve` on another port may have replaced it.
        if pid_file.exists() and pid_file.read_text().strip() == str(os.getpid()):
            pid_file.unlink()


def _announce_when_up(url: str, timeout_s: float = 600.0) -> None:
    """Print "Serving on" once /health answers, not before (start-up loads take a while)."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                print(
                    f"Serving on {url}  (API docs at {url}/docs; `make stop` stops it)", flush=True
                )
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
