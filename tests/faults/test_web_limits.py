"""What one client can make a web process spend: request bodies are refused before they are
read (413 past SURGE_MAX_BODY, 401 for a callback from nobody), and a burst of sign-ins gets
no more password checks than the limit, a few at a time. Against a real server process
(werkzeug, a thread per request as `make run` serves), measured from /proc."""

from __future__ import annotations

import threading
from collections.abc import Callable

import argon2
import pytest
import requests

from surge.auth import Users
from surge.store import Store
from tests.dashboard.conftest import ADMIN_CLI, PASSWORD
from tests.faults.test_web_support import (
    MB,
    WebServer,
    audit_actions,
    cookie_header,
    form_token,
    json_stream,
    peak_rss,
    post_stream,
    refresh,
    reset_peak,
    rss,
    sign_in,
    web,  # noqa: F401  (the fixture)
)

pytestmark = pytest.mark.slow

HUGE = 300 * MB
CALLBACK = "/_dash-update-component"


def warmed(server: WebServer) -> int:
    """The server's pid, after it has served a page and its peak is reset."""
    assert requests.get(server.url("/login"), timeout=30).status_code == 200
    pid = server.pid
    reset_peak(pid)
    return pid


def four_at_once(send: Callable[[], int | None]) -> list[int | None]:
    answers: list[int | None] = []
    threads = [threading.Thread(target=lambda: answers.append(send())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_a_huge_callback_body_from_nobody_is_refused_before_it_is_read(
        web: Callable[..., WebServer]) -> None:  # noqa: F811
    server = web()
    pid = warmed(server)
    before = rss(pid)
    answers = four_at_once(lambda: post_stream(server, CALLBACK, json_stream(HUGE),
                                               length=HUGE))
    grew = peak_rss(pid) - before
    print(f"\npeak RSS growth, four 300 MB bodies with Content-Length: {grew / MB:.0f} MB; "
          f"answers {answers}")
    assert grew < 100 * MB
    assert set(answers) <= {413, None}  # answered at once; the rest of the body is not read
    assert 413 in answers
    # and a small one from nobody is 401, without the body being read either
    small = requests.post(server.url(CALLBACK), json={"output": "x"}, timeout=30)
    assert small.status_code == 401


def test_a_huge_chunked_body_is_cut_off_at_the_limit_while_it_is_read(
        web: Callable[..., WebServer], store: Store) -> None:  # noqa: F811
    Users(store, hasher=argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)).add(
        "alice", "viewer", PASSWORD, by=ADMIN_CLI)
    server = web()
    browser = sign_in(server, "alice", PASSWORD)
    assert refresh(browser, server).status_code == 200
    pid = warmed(server)
    before = rss(pid)
    cookie = {"Cookie": cookie_header(browser)}
    answers = four_at_once(lambda: post_stream(server, CALLBACK, json_stream(HUGE),
                                               length=None, headers=cookie))
    grew = peak_rss(pid) - before
    print(f"\npeak RSS growth, four chunked 300 MB bodies, signed in: {grew / MB:.0f} MB; "
          f"answers {answers}")
    assert grew < 100 * MB
    assert set(answers) <= {413, None} and 413 in answers
    assert refresh(browser, server).status_code == 200  # the server is fine


def test_a_burst_of_sign_ins_gets_no_more_password_checks_than_the_limit(
        web: Callable[..., WebServer], store: Store) -> None:  # noqa: F811
    Users(store).add("alice", "commander", PASSWORD, by=ADMIN_CLI)  # real argon2 cost
    server = web()
    pid = warmed(server)
    before = rss(pid)
    browser = requests.Session()
    csrf = form_token(browser, server)
    cookie = cookie_header(browser)
    start = threading.Barrier(200)
    statuses: list[int] = []

    def attempt() -> None:
        start.wait()
        answer = requests.post(server.url("/login"), timeout=300, allow_redirects=False,
                               headers={"Cookie": cookie},
                               data={"csrf": csrf, "username": "alice", "password": "wrong " * 3})
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=attempt) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    checks = len(audit_actions(store, "login_failed"))
    grew = peak_rss(pid) - before
    print(f"\n200 sign-ins at once: {checks} password checks, peak RSS growth "
          f"{grew / MB:.0f} MB, statuses {sorted(set(statuses))}")
    assert len(statuses) == 200
    assert checks <= 5  # SURGE_LOGIN_LIMIT, 5 a minute: never more, however many at once
    assert statuses.count(401) == checks
    assert set(statuses) <= {401, 429, 503}
    assert grew < 400 * MB  # a few 64 MB argon2 checks at a time, not dozens
    # and the page is served as usual meanwhile
    assert requests.get(server.url("/login"), timeout=30).status_code == 200
