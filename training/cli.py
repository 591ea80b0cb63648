"""The project's one command line: `recsys <step>` (also `python -m training <step>`).

Each step lives in its own module and registers itself here; heavy imports (Feast, dbt,
LightGBM) happen inside the commands so `recsys --help` stays instant.
"""

from __future__ import annotations

import typer

from training import redis_runtime
from training.ingest.cli import app as ingest_app
from training.jobs import register as register_jobs
from training.pipeline.cli import register as register_pipeline

app = typer.Typer(
    name="recsys",
    help="Feature-store-centric in-session recommender: ingest, build, train, score, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
redis_app = typer.Typer(
    help="Find, start or stop the Redis this project uses.", no_args_is_help=True
)
app.add_typer(redis_app, name="redis")
app.add_typer(ingest_app, name="ingest")
register_pipeline(app)
register_jobs(app)


@redis_app.command("up")
def redis_up() -> None:
    """Use the Redis at REDIS_URL if it answers, else start our own; print its URL."""
    print(redis_runtime.ensure_redis())


@redis_app.command("down")
def redis_down() -> None:
    """Stop the Redis this project started (never one it did not start)."""
    print(redis_runtime.stop_own_redis())


@app.command("env")
def env() -> None:
    """Print shell exports so plain `feast` and `dbt` commands see what recsys sees.

    Usage: eval "$(.venv/bin/recsys env)"; cd feature_repo && feast apply
    """
    import os

    from training.config import dbt_project_dir, export_data_dir_env

    export_data_dir_env()
    redis_runtime.ensure_redis(quiet=True)
    os.environ.setdefault("DBT_PROFILES_DIR", str(dbt_project_dir()))
    for name in ("RECSYS_DATA_DIR", "REDIS_URL", "FEAST_REDIS_CONNECTION", "DBT_PROFILES_DIR"):
        print(f"export {name}='{os.environ[name]}'")


def main() -> None:
    app()
