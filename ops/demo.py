"""`recsys demo`: every step on built-in data, ending with a served recommendation.

Generates events, builds and materializes features, trains and promotes a ranker, scores
every user in batch, starts the API, and shows how one user's recommendations change as
they click through a session. The server is stopped at the end; `make serve` starts it again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import typer

from recsys.config import export_data_dir_env, paths

# Junk rows the demo asks the generator for, so the quarantine has something to show.
DIRTY_FRACTION = 0.001


def _step(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def _run(*args: str) -> None:
    """Run one recsys step as its own process, so each prints like a user would see it."""
    command = [sys.executable, "-m", "ops", *args]
    print("$ recsys " + " ".join(args), flush=True)
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0:
        print(
            f"step `recsys {' '.join(args)}` failed (exit {completed.returncode})", file=sys.stderr
        )
        raise typer.Exit(completed.returncode)


def demo(
    events: int = typer.Option(300_000, help="Generated events."),
    seed: int = typer.Option(7, help="Generator seed."),
    port: int = typer.Option(8765, help="Port for the demo server (stopped at the end)."),
    train_queries: int = typer.Option(
        15_000, help="Training queries (the demo trades a little quality for minutes)."
    ),
) -> None:
    """Generate data, build features, train, batch-score, serve, show a recommendation."""
    from recsys.redis_runtime import ensure_redis
    from recsys.secrets import mask_url

    export_data_dir_env()
    _step("Redis")
    print(f"online store: {mask_url(ensure_redis())}")
    _step("1/5 Generate events")
    _run(
        "ingest",
        "generate",
        "--events",
        str(events),
        "--seed",
        str(seed),
        "--dirty-fraction",
        str(DIRTY_FRACTION),
    )
    _step("2/5 Features: dbt build + feast apply + materialize")
    _run("features")
    _say_quarantine_is_intended(dirty_fraction=DIRTY_FRACTION)
    _step("3/5 Train, evaluate and register the ranker")
    _run("train", "--max-train-queries", str(train_queries), "--max-test-queries", "5000")
    _step("4/5 Batch-score every active user")
    _run("batch-score")
    _step("5/5 Serve and ask for recommendations")
    server = subprocess.Popen(
        [sys.executable, "-m", "ops", "serve", "--port", str(port)],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        print(
            "starting the API (loading the model, the catalog and online features)...", flush=True
        )
        _wait_ready(base, server)
        _show_session(base)
        print(
            f"\nTry it yourself: `make serve`, then open http://127.0.0.1:8000 "
            f"(API docs at /docs). Data and models are in {paths().data_dir}."
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_ready(base: str, server: subprocess.Popen[Any], timeout_s: float = 180) -> None:
    import httpx  # here, not at the top: the CLI imports this module on every start

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            print("the server exited during start-up", file=sys.stderr)
            raise typer.Exit(1)
        try:
            response = httpx.get(f"{base}/ready", timeout=2)
            if response.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    print(f"the server did not become ready within {timeout_s:.0f} s", file=sys.stderr)
    raise typer.Exit(1)


def _show_session(base: str) -> None:
    import httpx

    with httpx.Client(base_url=base, timeout=10) as client:
        user = client.get("/users/sample", params={"n": 1}).json()[0]["user_id"]
        session = f"demo-{int(time.time())}"
        before = client.get(f"/recommendations/{user}", params={"k": 5, "session_id": session})
        _print_list(f"User {user}, new session {session}: no clicks yet", before.json())
        shown = before.json()["items"]
        if not shown:
            return
        # Follow the user through two more clicks, each on the current top item.
        clicked = shown[0]
        for _ in range(2):
            client.post(
                "/events",
                json={
                    "user_id": user,
                    "session_id": session,
                    "item_id": clicked["item_id"],
                    "event_type": "view",
                },
            )
            after = client.get(
                f"/recommendations/{user}",
                params={"k": 5, "session_id": session, "exclude_seen": True},
            )
            label = clicked.get("title") or clicked["item_id"]
            _print_list(f"after viewing {label} ({clicked['item_id']})", after.json())
            if not after.json()["items"]:
                return
            clicked = after.json()["items"][0]


def _say_quarantine_is_intended(*, dirty_fraction: float) -> None:
    """The generator dirties rows on purpose; say so next to the count, not as an alarm."""
    import duckdb

    with duckdb.connect(str(paths().warehouse), read_only=True) as con:
        row = con.execute("select count(*) from events_quarantine").fetchone()
    quarantined = int(row[0]) if row else 0
    print(
        f"\n{quarantined:,} rows quarantined: intended. The demo generator writes "
        f"{dirty_fraction:.1%} junk rows (null user, unknown type, bad timestamp, duplicate id) "
        "to show the quarantine; query events_quarantine in the warehouse for the reasons."
    )


def _timings(timings: dict[str, float]) -> str:
    return ", ".join(f"{stage} {ms:.1f} ms" for stage, ms in timings.items()) or "no timings"


def _print_list(title: str, body: dict[str, Any]) -> None:
    flag = f"  [degraded: {body['reason']}]" if body.get("degraded") else ""
    timings = _timings(body.get("timings_ms", {}))
    print(f"\n{title}  (model {body.get('model_version')}; {timings}){flag}")
    for item in body["items"]:
        label = item.get("title") or item["item_id"]
        category = item.get("category") or ""
        # Generated titles already name the category; print it only when they do not.
        shown = "" if category in label else category
        price = f"{item['price']:.2f}" if item.get("price") is not None else ""
        print(
            f"  {item['rank']:>2}. {label:<32} {shown:<10} {price:>8}   score {item['score']:.3f}"
        )
