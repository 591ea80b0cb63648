"""The shared (memory-mapped) catalog serves exactly what a worker's own copy serves."""

from __future__ import annotations

from pathlib import Path

import httpx

from recsys.ranking import catalog_files
from tests.serving.conftest import start_server, world_settings
from tests.serving.workers import worker_server
from tests.world import World


def _answers(url: str, users: list[str]) -> list[tuple[list[str], list[float], bool]]:
    out = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for user in users:
            queries: list[dict[str, str | int]] = [
                {"k": 20},
                {"k": 10, "session_id": f"shared-{user}"},
            ]
            for query in queries:
                body = client.get(f"/recommendations/{user}", params=query).json()
                items = [i["item_id"] for i in body["items"]]
                out.append((items, [i["score"] for i in body["items"]], body["degraded"]))
    return out


def test_shared_catalog_answers_like_a_private_copy(world: World, tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    servers = []
    try:
        for shared in (False, True):
            settings = world_settings(
                world, shared_catalog=shared, catalog_dir=root, log_impressions=False
            )
            servers.append(start_server(settings))
        (off, _, _), (on, _, _) = servers
        with httpx.Client(base_url=off.url, timeout=30) as client:
            users = [u["user_id"] for u in client.get("/users/sample", params={"n": 6}).json()]
        users.append("nobody-knows-me")
        private, mapped = _answers(off.url, users), _answers(on.url, users)
        assert mapped == private
        assert any(items for items, _, degraded in mapped if not degraded)
        versions = list(root.glob("v-*"))
        assert len(versions) == 1  # only the shared server wrote one
        catalog_files.read_catalog(versions[0])
    finally:
        for _, server, thread in servers:
            server.should_exit = True
            thread.join(timeout=30)


def _workers(pid: int) -> list[int]:
    """uvicorn's worker processes (its children started by multiprocessing's spawn)."""
    children = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def test_every_worker_maps_the_same_files(world: World, tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    env = {"RECSYS_CATALOG_DIR": str(root), "RECSYS_LOG_IMPRESSIONS": "false"}
    with worker_server(Path(world.data_dir), world.redis_url, workers=2, env=env) as server:
        with server.client() as client:
            assert client.get("/recommendations/u1", params={"k": 5}).status_code == 200
        versions = list(root.glob("v-*"))
        assert len(versions) == 1, versions  # built once, by whichever worker came first
        workers = _workers(server.pid)
        assert len(workers) == 2
        for pid in workers:
            maps = Path(f"/proc/{pid}/maps").read_text()
            assert f"{versions[0]}/item_features.npy" in maps, pid
            assert f"{versions[0]}/covis.indices.npy" in maps, pid
