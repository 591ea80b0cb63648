"""The project's one command line: `recsys <step>` (also `python -m ops <step>`).

Each layer keeps its own commands beside its code (recsys/ingest, recsys/pipeline, training,
serving); this module only assembles them, plus the operator's own (redis, env, promote,
demo). Heavy imports (Feast, dbt, LightGBM) happen inside the commands so `recsys --help`
stays instant.
"""

from __future__ import annotations

import typer

from ops.demo import demo
from ops.models import app as models_app
from ops.models import promote
from recsys import redis_runtime
from recsys.ingest.cli import app as ingest_app
from recsys.pipeline.cli import apply, build, features, materialize
from serving.cli import batch_score, serve
from training.cli import train

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
app.add_typer(models_app, name="models")
for _name, _command in (
    ("build", build),
    ("apply", apply),
    ("materialize", materialize),
    ("features", features),
    ("train", train),
    ("batch-score", batch_score),
    ("serve", serve),
    ("demo", demo),
    ("promote", promote),
):
    app.command(_name)(_command)


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

    from recsys.config import dbt_project_dir, export_data_dir_env

    export_data_dir_env()
    redis_runtime.ensure_redis(quiet=True)
    os.environ.setdefault("DBT_PROFILES_DIR", str(dbt_project_dir()))
    for name in ("RECSYS_DATA_DIR", "REDIS_URL", "FEAST_REDIS_CONNECTION", "DBT_PROFILES_DIR"):
        print(f"export {name}='{os.environ[name]}'")


def main() -> None:
    app()
