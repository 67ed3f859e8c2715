"""A fresh web process is ready before its first request: 64 requests at once to a server
that has served nothing yet all succeed, and the page-title callback is there, every time."""

from __future__ import annotations

import http.client
import json
import socket
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.faults.test_web_support import (
    WebServer,
    refresh_body,
    web,  # noqa: F401  (the fixture)
)

pytestmark = pytest.mark.slow

# Under werkzeug, threads switch every microsecond (Python's default is every 5 ms), as on a
# busy machine, so the interleavings a loaded server meets now and then are met here in a few
# trials. (gunicorn's main loop crawls at such a rate, so it runs at the default.)
RUNS = [("werkzeug", 8, "0.000001"), ("gunicorn", 4, "0.005")]
AT_ONCE = 64
TITLE_OUTPUT = "_pages_dummy.children"  # Dash's clientside callback that sets the page title


def routing_body() -> dict:
    """The page router's callback, as the browser sends it on opening /."""
    return {"output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"},
                        {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/"},
                       {"id": "_pages_location", "property": "search", "value": ""}],
            "changedPropIds": ["_pages_location.pathname"], "state": []}


def request_bytes(method: str, path: str, body: dict | None, port: int) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Length: {len(data)}\r\n")
    if body is not None:
        head += "Content-Type: application/json\r\n"
    return head.encode() + b"\r\n" + data


def read_answer(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of the HTTP answer on ``sock``."""
    sock.settimeout(120)
    answer = http.client.HTTPResponse(sock)
    answer.begin()
    return answer.status, answer.read()


def first_requests(server: WebServer) -> tuple[Counter, list[bool]]:
    """64 requests at once, as browsers opening the page do; their statuses, and whether
    each answer was whole: the page with its scripts, /_dash-dependencies with the
    page-title callback."""
    kinds = [("GET", "/", None), ("GET", "/_dash-layout", None),
             ("GET", "/_dash-dependencies", None),
             ("POST", "/_dash-update-component", routing_body()),
             ("POST", "/_dash-update-component", refresh_body())]
    sent = [kinds[i % len(kinds)] for i in range(AT_ONCE)]
    payloads = [request_bytes(m, p, b, server.port) for m, p, b in sent]
    socks = []
    for payload in payloads:  # in a tight loop: within a few milliseconds
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        sock.sendall(payload)
        socks.append(sock)
    with ThreadPoolExecutor(AT_ONCE) as readers:  # read as browsers do, all at once
        answers = list(readers.map(read_answer, socks))
    for sock in socks:
        sock.close()
    statuses: Counter = Counter()
    whole: list[bool] = []
    for (status, body), (_method, path, _body) in zip(answers, sent, strict=True):
        statuses[status] += 1
        if path == "/_dash-dependencies" and status == 200:
            whole.append(any(cb["output"] == TITLE_OUTPUT for cb in json.loads(body)))
        if path == "/" and status == 200:
            whole.append(all(a in body for a in (b"watchdog.js", b"session.js", b"surge.css")))
    return statuses, whole


@pytest.mark.parametrize(("kind", "trials", "switch"), RUNS)
def test_64_first_requests_at_once_to_a_fresh_server_all_succeed(
        web: Callable[..., WebServer], kind: str, trials: int, switch: str) -> None:  # noqa: F811
    failures = []
    for trial in range(trials):
        server = web(kind, threads=AT_ONCE, SURGE_ANONYMOUS_VIEW="1",
                     TEST_SWITCH_INTERVAL=switch)
        statuses, whole = first_requests(server)
        # and afterwards, for the life of the process
        later = requests.get(server.url("/_dash-dependencies"), timeout=60).json()
        title_later = any(cb["output"] == TITLE_OUTPUT for cb in later)
        print(f"\n{kind} trial {trial + 1}: statuses {dict(statuses)}, whole answers "
              f"{Counter(whole)}, title callback afterwards {title_later}")
        if set(statuses) != {200} or not all(whole) or not title_later:
            failures.append((trial, dict(statuses), Counter(whole), title_later))
        server.stop()
    assert failures == []
