"""A local Redis Cluster (3 masters on free ports) for the whole test session.

Imported by tests/conftest.py. Tests that stop a node start it again before they end; tests
that need an empty cluster call `flushall()` first.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recsys.local_cluster import LocalCluster, start_cluster


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Three cluster-enabled redis-servers with the slots split between them."""
    cluster = start_cluster(tmp_path_factory.mktemp("cluster"))
    yield cluster
    cluster.stop()
