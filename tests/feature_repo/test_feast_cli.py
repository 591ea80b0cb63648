"""The stock Feast CLI works on feature_repo/ with the env `recsys env` prints (slow: one test)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import redis

from recsys.config import FEAST_ENV_NAMES, Paths, feast_env, feature_repo_dir
from recsys.pipeline import feast_ops
from recsys.pipeline.materialize import materialize
from recsys.redis_runtime import RedisServer, free_port
from tests.feature_repo.conftest import own_database
from tests.feature_repo.exports import (
    WINDOW_END,
    WINDOW_START,
    write_batch_recommendations,
    write_exports,
)

BIN = Path(sys.executable).parent


def _shell(command: str, *, env: dict[str, str]) -> str:
    """Run `command` in feature_repo/ after `eval "$(recsys env)"`, as the docs show."""
    script = f'eval "$({BIN}/recsys env)" && cd {feature_repo_dir()} && {command}'
    done = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _feast_ui_answers(env: dict[str, str]) -> bool:
    """`feast ui` starts on the repo and serves its project list (it needs grpcio)."""
    port = free_port()
    script = f'eval "$({BIN}/recsys env)" && cd {feature_repo_dir()} && exec feast ui --port {port}'
    ui = subprocess.Popen(
        ["bash", "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert ui.poll() is None, f"feast ui exited: {ui.stdout.read() if ui.stdout else ''}"
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/projects-list.json", timeout=2)
                if answer.status_code == 200:
                    return "recsys" in answer.text
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        return False
    finally:
        ui.terminate()
        ui.wait(timeout=30)


def test_feast_apply_and_materialize_incremental_continue_from_our_run(
    redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    write_exports(Paths(data_dir).exports)
    # Stock materialize reads every view's source; before the first batch scoring run that
    # export is absent and only `recsys materialize` (which skips it) or `-v <views>` work.
    write_batch_recommendations(Paths(data_dir).exports)
    url = own_database(redis_server)
    env = {k: v for k, v in os.environ.items() if k not in FEAST_ENV_NAMES}
    # No venv on PATH: `recsys env` must put it there, as README's Feast section relies on.
    path = [p for p in env["PATH"].split(":") if Path(p).resolve() != BIN.resolve()]
    env.update(RECSYS_DATA_DIR=str(data_dir), REDIS_URL=url, PATH=":".join(path))

    assert "Applying changes for project recsys" in _shell("feast apply", env=env)
    assert _feast_ui_answers(env)

    monkeypatch.setenv("RECSYS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("REDIS_URL", url)
    for name, value in feast_env(url).items():
        monkeypatch.setenv(name, value)
    materialize(start=WINDOW_START, end=WINDOW_END, incremental=False, views=None, engine="fast")

    later = WINDOW_END + timedelta(days=5)
    _shell(f"feast materialize-incremental {later:%Y-%m-%dT%H:%M:%S}", env=env)

    store = feast_ops.feature_store()
    view = store.get_feature_view("user_features")
    assert view.materialization_intervals[-2:] == [(WINDOW_START, WINDOW_END), (WINDOW_END, later)]
    online = store.get_online_features(
        features=["user_features:events_total"], entity_rows=[{"user_id": "u2"}]
    ).to_dict()
    assert online["events_total"] == [2012]  # the day-12 row only the CLI run could load
    feast_keys = [k for k in redis.Redis.from_url(url).scan_iter() if not k.startswith(b"recsys:")]
    assert len(feast_keys) == 9  # 4 users, 3 items (+ neighbours), 2 sessions
