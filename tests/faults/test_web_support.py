"""Real web servers for the web fault tests (this module holds helpers, no tests).

The dashboard runs in its own process against a real store: werkzeug's threaded server, as
`make run` serves it (a thread per request, no limit), or gunicorn, as the Procfile runs it.
Helpers sign in as a browser does, call the overview's refresh as the page does, send bodies
as streams (so a test never holds what it sends), and read a process's memory from /proc.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import REPO, free_port

SECRET = "fault-secret-" + "0" * 40
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
SERVE = (  # the app as gunicorn loads it (dashboard.app:server), on werkzeug's threaded server
    "import os, sys\n"
    "sys.setswitchinterval(float(os.environ.get('TEST_SWITCH_INTERVAL', '0.005')))\n"
    "from werkzeug.serving import make_server\n"
    "from dashboard.app import server\n"
    "make_server('127.0.0.1', int(sys.argv[1]), server, threaded=True).serve_forever()\n")
MB = 1024 * 1024


@dataclass
class WebServer:
    """A dashboard process; ``url(path)`` for requests, ``pid`` for the process that serves."""

    process: subprocess.Popen
    port: int
    log: Path
    kind: str
    env: dict[str, str] = field(default_factory=dict)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def pid(self) -> int:
        """The process that answers requests (gunicorn's one worker, not its master)."""
        if self.kind == "werkzeug":
            return self.process.pid
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        found = wait_for(lambda: children.read_text().split(), what="gunicorn's worker")
        return int(found[0])

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)


def wait_for(check: Callable[[], Any], timeout: float = 60, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.05)


def web_env(redis_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURGE_")}
    return {**env, "SURGE_REDIS_URL": redis_url, "SURGE_RULES": str(REPO / "surge_rules.yaml"),
            "SURGE_SECRET_KEY": SECRET, "SURGE_DATA_DIR": str(data_dir), **extra}


def start_web(redis_url: str, data_dir: Path, *, kind: str = "werkzeug", threads: int = 8,
              port: int | None = None, **env: str) -> WebServer:
    """Start the dashboard and wait until it accepts connections (sending no request: the
    first request is the test's)."""
    port = port or free_port()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    log = data_dir.parent / f"web-{port}-{time.monotonic_ns()}.log"
    if kind == "werkzeug":
        argv = [sys.executable, "-c", SERVE, str(port)]
    else:
        config = data_dir.parent / "gunicorn_test.conf.py"  # the worker inherits it (fork)
        config.write_text("import os, sys\n"
                          "sys.setswitchinterval(float(os.environ.get('TEST_SWITCH_INTERVAL', "
                          "'0.005')))\n")
        argv = [GUNICORN, "--config", str(config), "--no-control-socket", "--workers", "1",
                "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--timeout", "120",
                "dashboard.app:server"]
    full_env = web_env(redis_url, data_dir, **env)
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=REPO, env=full_env, stdout=out,
                                   stderr=subprocess.STDOUT)
    server = WebServer(process, port, log, kind, full_env)

    def listening() -> bool:
        assert process.poll() is None, f"the web server exited:\n{server.output()}"
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    wait_for(listening, what="the web server listening")
    return server


@pytest.fixture
def web(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., WebServer]]:
    """``web(**SURGE_vars)`` starts a dashboard on the test store; all stop at the end."""
    started: list[WebServer] = []

    def start(kind: str = "werkzeug", url: str | None = None, threads: int = 8,
              **env: str) -> WebServer:
        server = start_web(url or redis_url, tmp_path / "var", kind=kind, threads=threads,
                           **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# --- as a browser does -------------------------------------------------------------------


def form_token(session: requests.Session, server: WebServer) -> str:
    page = session.get(server.url("/login"), timeout=30)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def sign_in(server: WebServer, name: str, password: str) -> requests.Session:
    """A browser session signed in as ``name``."""
    session = requests.Session()
    response = session.post(server.url("/login"), timeout=60, allow_redirects=False,
                            data={"csrf": form_token(session, server), "username": name,
                                  "password": password})
    assert response.status_code == 302, (response.status_code, response.text[:500])
    return session


@functools.cache
def refresh_body() -> dict[str, Any]:
    """The JSON the overview page POSTs on each refresh."""
    from dashboard.app import create_app
    from tests.dashboard.conftest import auth_settings, callback_body

    return callback_body(create_app(auth_settings()), "overview-interval")


def refresh(session: requests.Session, server: WebServer, timeout: float = 60,
            **options: Any) -> requests.Response:
    return session.post(server.url("/_dash-update-component"), json=refresh_body(),
                        timeout=timeout, **options)


def components(node: Any) -> Iterator[dict[str, Any]]:
    """Every component in a Dash JSON answer, depth first."""
    if isinstance(node, list):
        for child in node:
            yield from components(child)
    elif isinstance(node, dict):
        if "props" in node:
            yield node
            yield from components(node["props"].get("children"))
        else:
            for value in node.values():
                yield from components(value)


def text(node: Any) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return " ".join(text(c) for c in node)
    if isinstance(node, dict) and "props" in node:
        return text(node["props"].get("children"))
    if isinstance(node, dict):
        return " ".join(text(v) for v in node.values())
    return ""


def sign_out_token(session: requests.Session, server: WebServer) -> str:
    """The CSRF token in the status bar's sign-out button, as the page has it."""
    answer = refresh(session, server)
    assert answer.status_code == 200, answer.text[:300]
    found = [c for c in components(answer.json()["response"]) if c["props"].get("id") == "sign-out"]
    assert len(found) == 1
    return str(found[0]["props"]["value"])


# --- bodies sent as streams ----------------------------------------------------------------


def json_stream(size: int, piece: int = MB) -> Iterator[bytes]:
    """A callback-shaped JSON body of exactly ``size`` bytes, made as it is sent."""
    head, tail = b'{"output":"overview-panels.children","inputs":["', b'"]}'
    yield head
    left = size - len(head) - len(tail)
    chunk = b"x" * piece
    while left > 0:
        yield chunk[:min(piece, left)]
        left -= piece
    yield tail


def post_stream(server: WebServer, path: str, body: Iterable[bytes], *, length: int | None,
                headers: dict[str, str] | None = None, timeout: float = 120) -> int | None:
    """POST ``body`` as a stream (with Content-Length when ``length`` is given, else chunked);
    the status, or None when the server closed the connection without answering."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if length is None:
            conn.putheader("Transfer-Encoding", "chunked")
        else:
            conn.putheader("Content-Length", str(length))
        conn.endheaders()
        with contextlib.suppress(OSError):  # the server may answer and close before the end
            for piece in body:
                conn.send(piece if length is not None
                          else b"%x\r\n%s\r\n" % (len(piece), piece))
            if length is None:
                conn.send(b"0\r\n\r\n")
        try:
            return conn.getresponse().status
        except (OSError, http.client.HTTPException):
            return None
    finally:
        conn.close()


def cookie_header(session: requests.Session) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies)


# --- memory, from /proc ----------------------------------------------------------------------


def rss(pid: int) -> int:
    """Resident memory of ``pid`` now, in bytes."""
    return _status(pid, "VmRSS")


def peak_rss(pid: int) -> int:
    """The most resident memory ``pid`` has had (since start, or since reset_peak)."""
    return _status(pid, "VmHWM")


def reset_peak(pid: int) -> None:
    """Start measuring the peak afresh (Linux: write 5 to clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _status(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {name} for pid {pid}")


def audit_actions(store: Any, action: str) -> list[dict[str, Any]]:
    from surge.auth import audit_events

    return [e.data for e in audit_events(store) if e.data["action"] == action]

