"""`recsys serve | batch-score`: the inference commands (registered by the CLI in ops/)."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import typer

from recsys.config import paths
from serving.metrics_folder import new_metrics_folder

if TYPE_CHECKING:
    from recsys.pipeline.materialize import MaterializeSummary
    from serving.batch import BatchResult


def batch_score(
    k: int = typer.Option(20, help="Recommendations per user."),
    candidates: int = typer.Option(300, help="Candidates scored per user."),
    active_days: int = typer.Option(30, help="Users with an event in this many days are active."),
    workers: int = typer.Option(min(2, os.cpu_count() or 1), help="Scoring processes."),
    materialize: bool = typer.Option(True, help="Also load the results into Redis via Feast."),
) -> None:
    """Score every active user (no session); write to DuckDB and Redis."""
    from tqdm import tqdm

    from recsys.pipeline import materialize as mat

    layout_paths = paths()
    try:
        result, summary = score_and_load(
            k=k,
            candidates=candidates,
            active_days=active_days,
            workers=workers,
            materialize=materialize,
            progress_factory=lambda total: tqdm(total=total, unit="user", desc="batch scoring"),
        )
    except BatchScoreError as exc:
        print(exc, file=sys.stderr)
        raise typer.Exit(1) from exc
    except mat.MaterializeError as exc:
        print(mat.format_summary(exc.summary))
        print(exc, file=sys.stderr)
        raise typer.Exit(1) from exc
    except ValueError as exc:
        print(f"batch-score: loading into Redis failed: {exc}", file=sys.stderr)
        raise typer.Exit(1) from exc
    print(
        f"Scored {result.users:,} active users ({result.rows:,} recommendations) with model "
        f"{result.model_version} in {result.seconds:.1f} s: {result.users_per_second:,.0f} users/s."
    )
    print(f"  warehouse table batch_recommendations in {layout_paths.warehouse}")
    if summary is not None:
        print(mat.format_summary(summary))


class BatchScoreError(RuntimeError):
    """No promoted model, or the current one failed its check: nothing was scored."""


def score_and_load(
    *,
    k: int = 20,
    candidates: int = 300,
    active_days: int = 30,
    workers: int = 1,
    materialize: bool = True,
    progress_factory: Any = None,
) -> tuple[BatchResult, MaterializeSummary | None]:
    """Batch-score with the current model and load the results into Redis (if asked).

    Shared by `recsys batch-score` and `recsys nightly`. Raises BatchScoreError when there is
    no usable model, MaterializeError/ValueError when loading into Redis fails.
    """
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
        raise BatchScoreError("No promoted model: run `make train` first.")
    check = model_check.validate(model_dir)  # a corrupt model must not abort this process
    if not check.ok:
        raise BatchScoreError(f"Current model refused: {check.reason}")
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
        progress_factory=progress_factory,
    )
    if not materialize:
        return result, None
    from recsys.pipeline import materialize as mat

    summary = mat.materialize(
        start=None,
        end=None,
        incremental=False,
        views=["user_batch_recommendations"],
        engine="fast",
    )
    return result, summary


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
    # All workers (and their impression writers) share one folder of this server's own.
    metrics_dir = new_metrics_folder()
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
        shutil.rmtree(metrics_dir, ignore_errors=True)


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
