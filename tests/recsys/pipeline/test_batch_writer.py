"""The fast materializer's writer against a real Redis that refuses writes (out of memory).

Found by running `recsys batch-score` against a Redis at its maxmemory: the command hung
after scoring, its writer thread waiting for a batch that would never come.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest
import redis

from recsys.pipeline.online_format import BatchWriter, RespPipe, resp_commands
from recsys.redis_runtime import RedisRefusedError, start_redis


def _hsets(batch: int, rows: int, value_bytes: int) -> pa.BinaryArray:
    keys = pa.array([f"k{batch}-{n}".encode() for n in range(rows)], pa.binary())
    values = pa.array([b"x" * value_bytes] * rows, pa.binary())
    return resp_commands([[b"HSET", keys, b"f", values]])


@pytest.mark.parametrize("batches", [1, 4])
def test_a_full_redis_fails_the_write_with_its_reason_and_never_hangs(
    tmp_path: Path, batches: int
) -> None:
    server = start_redis(tmp_path / "redis")
    try:
        client = redis.Redis.from_url(server.url)
        client.config_set("maxmemory-policy", "noeviction")
        used = int(client.info("memory")["used_memory"])  # type: ignore[index]
        client.config_set("maxmemory", str(used + 200_000))
        errors: list[BaseException] = []

        def write() -> None:
            writer = BatchWriter(RespPipe(client))
            try:
                for batch in range(batches):  # ~1 MB a batch: past the limit in the first
                    writer.put(_hsets(batch, 1_000, 1_000), replies=1_000)
            except RedisRefusedError as exc:
                errors.append(exc)
            finally:
                try:
                    writer.close()
                except RedisRefusedError as exc:
                    errors.append(exc)

        thread = threading.Thread(target=write, daemon=True)
        thread.start()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the writer hung on a Redis that refuses writes"
        assert errors and "OOM" in str(errors[-1]), errors
        assert "maxmemory: raise it" in str(errors[-1])  # says how to fix it
    finally:
        server.stop()
