"""The project's one command line: `recsys <step>` (also `python -m ops <step>`).

Each layer keeps its own commands beside its code (recsys/ingest, recsys/pipeline, training,
serving); this module only assembles them, plus the operator's own (redis, env, promote,
demo). Heavy imports (Feast, dbt, LightGBM) happen inside the commands so `recsys --help`
stays instant.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import typer

from ops.cli_help import HELP_SETTINGS, use_click_style
from ops.demo import demo
from ops.experiment import app as experiment_app
from ops.models import app as models_app
from ops.models import promote
from ops.monitor import monitor
from ops.nightly import nightly_command
from ops.sessions import app as sessions_app
from ops.stop import stop
from ops.tradeoffs.cli import tradeoffs
from recsys import redis_runtime
from recsys.ingest.cli import app as ingest_app
from recsys.pipeline.cli import apply, build, docs, features, materialize
from recsys.secrets import install_log_filter, mask_url
from serving.cli import batch_score, serve
from training.cli import train

use_click_style()
app = typer.Typer(
    name="recsys",
    context_settings=HELP_SETTINGS,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
redis_app = typer.Typer(
    context_settings=HELP_SETTINGS,
    help="Find, start or stop the Redis this project uses.",
    no_args_is_help=True,
)
app.add_typer(redis_app, name="redis")
app.add_typer(ingest_app, name="ingest")
app.add_typer(sessions_app, name="sessions")
app.add_typer(models_app, name="models")
app.add_typer(experiment_app, name="experiment")
for _name, _command in (
    ("build", build),
    ("docs", docs),
    ("apply", apply),
    ("materialize", materialize),
    ("features", features),
    ("train", train),
    ("batch-score", batch_score),
    ("serve", serve),
    ("demo", demo),
    ("stop", stop),
    ("promote", promote),
    ("monitor", monitor),
    ("tradeoffs", tradeoffs),
    ("nightly", nightly_command),
):
    app.command(_name)(_command)


@app.callback()
def options(
    start_redis: bool = typer.Option(
        False,
        "--start-redis",
        help="Use the project's own Redis (started on a free loopback port if not running) "
        "instead of REDIS_URL. Without it a set REDIS_URL must answer, or the command fails.",
    ),
) -> None:
    """Feature-store-centric in-session recommender: ingest, build, train, score, serve."""
    install_log_filter()
    if start_redis:
        os.environ[redis_runtime.START_REDIS_ENV] = "1"  # child steps (demo) inherit it


@redis_app.command("up")
def redis_up() -> None:
    """Start the project's own Redis (or find it running); print its URL."""
    configured = os.environ.get("REDIS_URL")
    url = redis_runtime.ensure_redis(start=True, quiet=True)
    print(url)
    if configured and configured != url:
        print(
            f"note: REDIS_URL is set ({mask_url(configured)}); commands use it, not this one, "
            "unless run as `recsys --start-redis ...` or with REDIS_URL unset",
            file=sys.stderr,
        )


@redis_app.command("down")
def redis_down() -> None:
    """Stop the Redis this project started (never one it did not start)."""
    print(redis_runtime.stop_own_redis())


@app.command("env")
def env() -> None:
    """Print shell exports so plain `feast` and `dbt` commands see what recsys sees.

    Usage: eval "$(.venv/bin/recsys env)"; cd feature_repo && feast apply
    A REDIS_URL with a password is not printed: the exports read it (and derive Feast's
    connection string from it) in the shell that evaluates them.
    """
    from recsys.config import dbt_project_dir, export_data_dir_env

    export_data_dir_env()
    url = redis_runtime.ensure_redis(quiet=True)
    os.environ.setdefault("DBT_PROFILES_DIR", str(dbt_project_dir()))
    # The venv's bin first, so `feast` and `dbt` are the locked versions recsys itself runs.
    print(f'export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"')
    for name in ("RECSYS_DATA_DIR", "DBT_PROFILES_DIR"):
        print(f"export {name}={shlex.quote(os.environ[name])}")
    if url != mask_url(url):  # a password: computed where the shell evaluates this
        python = shlex.quote(sys.executable)
        print('export REDIS_URL="${REDIS_URL:?set REDIS_URL first}"')
        print(
            f'export FEAST_REDIS_CONNECTION="$({python} -c '
            "'import os; from recsys.config import feast_env as f; "
            'print(f(os.environ["REDIS_URL"])["FEAST_REDIS_CONNECTION"])\')"'
        )
        print(f"export FEAST_REDIS_TYPE={shlex.quote(os.environ['FEAST_REDIS_TYPE'])}")
        return
    for name in ("REDIS_URL", "FEAST_REDIS_CONNECTION", "FEAST_REDIS_TYPE"):
        print(f"export {name}={shlex.quote(os.environ[name])}")


def main() -> None:
    install_log_filter()
    try:
        app()
    except redis_runtime.RedisConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except redis_runtime.RedisRefusedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
