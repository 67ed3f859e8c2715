"""A store that stops answering (the process frozen: SIGSTOP) makes the page say so within a
few seconds, STORE UNREACHABLE with its banner, instead of hanging on with STORE OK; when the
store answers again (SIGCONT), the next refresh is live again."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

import pytest
import redis

from surge.auth import Users
from surge.samples import Sample
from surge.store import Store
from tests.conftest import server_pid
from tests.dashboard.conftest import ADMIN_CLI, FAST_HASHER, PASSWORD
from tests.faults.test_web_support import (
    WebServer,
    components,
    refresh,
    sign_in,
    text,
    wait_for,
    web,  # noqa: F401  (the fixture)
)

pytestmark = pytest.mark.slow

# A deadline for an answer, not a measurement: a viewer's refresh used to take 20 s or more
# to fail against a frozen store; the page refreshes every 5 s.
ANSWER_WITHIN = 10.0


def status_chips(answer: Any) -> tuple[str, bool]:
    """The status bar's text and whether it carries the store banner."""
    bar = answer.json()["response"]["status-bar"]["children"]
    banner = any(c["props"].get("id") == "banner-store" for c in components(bar))
    return text(bar), banner


def test_a_frozen_store_is_reported_within_seconds_and_the_page_recovers(
        web: Callable[..., WebServer], own_valkey: Any) -> None:  # noqa: F811
    url = own_valkey.connection_url
    store = Store(redis.Redis.from_url(url), where=url)
    Users(store, hasher=FAST_HASHER).add("viewer-1", "viewer", PASSWORD, by=ADMIN_CLI)
    store.write([Sample("calls.waiting", "trust", store.clock() - 30, 417.0)])
    server = web(url=url)
    browser = sign_in(server, "viewer-1", PASSWORD)
    live, banner = status_chips(refresh(browser, server))
    assert "STORE OK" in live and not banner

    pid = server_pid(own_valkey)
    os.kill(pid, signal.SIGSTOP)
    try:
        for _ in range(2):  # the first refresh after the freeze, and the next
            answer = refresh(browser, server, timeout=ANSWER_WITHIN)
            assert answer.status_code == 200
            shown, banner = status_chips(answer)
            assert "STORE UNREACHABLE" in shown and "STORE OK" not in shown and banner
    finally:
        os.kill(pid, signal.SIGCONT)

    def live_again() -> bool:
        shown, banner = status_chips(refresh(browser, server, timeout=ANSWER_WITHIN))
        return "STORE OK" in shown and not banner

    wait_for(live_again, timeout=30, what="STORE OK again")  # at the next refresh or so
    store.close()
