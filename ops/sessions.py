"""`recsys sessions reset`: forget online session state, e.g. before replaying an evaluation.

Replayed sessions otherwise stay in Redis: a second replay of the same log finds every event
id already applied (answered `duplicate`) and every session already holding its events, and
scores look better than they are.
"""

from __future__ import annotations

import sys

import typer

from ops.cli_help import HELP_SETTINGS

app = typer.Typer(
    context_settings=HELP_SETTINGS,
    help="Inspect or reset the online session state in Redis.",
    no_args_is_help=True,
)


@app.command("reset")
def reset(
    session: list[str] | None = typer.Option(
        None, "--session", help="Only this session id (repeatable)."
    ),
    all_sessions: bool = typer.Option(
        False, "--all", help="Every session row and every remembered event id."
    ),
) -> None:
    """Delete online session rows and the event ids applied to them."""

    from recsys.pipeline.feast_ops import feature_store
    from recsys.redis_runtime import RedisConfigError, client_from_url, ensure_redis
    from recsys.secrets import mask_url
    from recsys.session_store import SessionStore, reset_sessions

    if not session and not all_sessions:
        print("Say what to reset: --session ID (repeatable) or --all.", file=sys.stderr)
        raise typer.Exit(2)
    try:
        url = ensure_redis(quiet=True)
    except RedisConfigError as exc:
        print(str(exc), file=sys.stderr)
        raise typer.Exit(1) from exc
    store = feature_store()
    client = client_from_url(url)
    sessions = SessionStore(
        client,
        project=store.project,
        serialization_version=store.config.entity_key_serialization_version,
    )
    rows, ids = reset_sessions(client, sessions, None if all_sessions else session)
    print(f"deleted {rows:,} session rows and {ids:,} remembered event ids in {mask_url(url)}")
    if all_sessions:
        print("batch session state went too; `recsys materialize --view session_state` reloads it")
