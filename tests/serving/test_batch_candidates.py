"""The server ranks a user's batch recommendations among the candidates, not only as a fallback."""

from tests.serving.conftest import start_server, world_settings
from tests.world import World


def test_batch_recommendations_join_the_candidates(world: World) -> None:
    # 10 candidates from the generators; the user's 20 batch items cannot all fit in them
    live, server, thread = start_server(world_settings(world, candidates=10))
    try:
        with live.client() as client:
            user = client.get("/users/sample", params={"n": 1}).json()[0]["user_id"]
            body = client.get(f"/recommendations/{user}", params={"k": 20}).json()
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert body["degraded"] is False
    assert 10 < body["candidates"] <= 30
