"""http_json feeds against a real HTTP server on loopback: what a poll reads (items, scopes,
since, conditional requests), what fails it (status, timeout, size, a body that is not JSON,
TLS), the credentials it sends and never shows, the checks of the entry in feeds.yaml, and one
poll through the poller into the real store."""

from __future__ import annotations

import base64
import json
import logging
import math
import socket
import ssl
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds import http_json
from feeds.base import Feed
from feeds.config import FeedContext, load_feeds
from feeds.http_json import MAX_REJECTIONS, HttpJsonFeed
from feeds.poller import FeedPoller
from surge.catalogue import Catalogue
from surge.clock import Clock
from surge.errors import ConfigError, FetchFailed
from surge.samples import Rejection, Sample, check_samples
from surge.store import Store

DATA = Path(__file__).parent / "data" / "http_json"
NOW = float(int(time.time()))
MiB = 1024 * 1024

CALLS = """\
samples:
  each: "metrics[]"
  metric: "name"
  scope: "site || 'trust'"
  ts: "at"
  value: "value"
"""
QUEUES = """\
samples:
  each: "hospitals[].{site: code, waiting: handover_queue, at: updated}"
  metric: "'ae.handover_queue'"
  scope: "site"
  ts: "at"
  value: "waiting"
"""


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def recorded(name: str) -> Any:
    """A payload as a source sent it (tests/feeds/data/http_json)."""
    return json.loads((DATA / name).read_text())


def moved(value: Any, by: float) -> Any:
    """A payload with every ISO 8601 time in it moved by ``by`` seconds."""
    if isinstance(value, dict):
        return {k: moved(v, by) for k, v in value.items()}
    if isinstance(value, list):
        return [moved(v, by) for v in value]
    if isinstance(value, str) and value[:1].isdigit() and "T" in value:
        moment = datetime.fromtimestamp(at(value) + by, UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def samples(items: list[Any]) -> list[tuple[str, str, float, float]]:
    return [tuple(i) for i in items if isinstance(i, Sample)]


def reasons(items: list[Any]) -> list[str]:
    return [i.reason for i in items if isinstance(i, Rejection)]


# --- the source: a real HTTP server on loopback ------------------------------------------

Reply = Callable[["Handler"], None]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Source

    def setup(self) -> None:
        super().setup()  # headers and body go out in separate writes: not held back for an ACK
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self.server.asked.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        self.server.reply(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Source(ThreadingHTTPServer):
    """Answers each GET with ``reply`` and keeps (path, headers) of each in ``asked``."""

    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.reply: Reply = answer({"metrics": []})
        self.asked: list[tuple[str, dict[str, str]]] = []
        self.stop = threading.Event()  # set at the end of the test: slow replies give up
        self.sent = 0  # bytes a streamed reply wrote before the client went away
        self.done = threading.Event()  # a streamed reply has stopped writing

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

    @property
    def where(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


@contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[Source]:
    source = Source(tls)
    threading.Thread(target=source.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield source
    finally:
        source.stop.set()
        source.shutdown()
        source.server_close()


@pytest.fixture
def source() -> Iterator[Source]:
    with serving() as running:
        yield running


def send(handler: Handler, body: bytes = b"", status: int = 200,
         content_type: str | None = "application/json",
         headers: Mapping[str, str] | None = None) -> None:
    handler.send_response(status)
    if content_type:
        handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(body)


def answer(payload: Any = None, *, body: bytes | None = None, status: int = 200,
           content_type: str | None = "application/json",
           headers: Mapping[str, str] | None = None) -> Reply:
    data = json.dumps(payload).encode() if body is None else body
    return lambda handler: send(handler, data, status, content_type, headers)


def conditional(payload: Any, etag: str = '"v1"') -> Reply:
    """A source that answers 304 Not Modified to a request bearing its ETag."""
    def reply(handler: Handler) -> None:
        if handler.headers.get("If-None-Match") == etag:
            send(handler, status=304, content_type=None)
        else:
            send(handler, json.dumps(payload).encode(),
                 headers={"ETag": etag, "Last-Modified": "Fri, 04 Dec 2026 14:20:30 GMT"})
    return reply


def silent(handler: Handler) -> None:
    handler.server.stop.wait(10)  # no answer while the test runs


def dripping(handler: Handler) -> None:
    """A body announced as 1,000 bytes that comes one byte at a time, for ever."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    try:
        while not handler.server.stop.wait(0.05):
            handler.wfile.write(b" ")
    except OSError:
        pass


def huge(total: int = 50 * MiB, declared: bool = False) -> Reply:
    """A JSON array of ``total`` bytes, written as it is generated until the client leaves."""
    def reply(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if declared:
            handler.send_header("Content-Length", str(total))
        else:  # no length: the body ends when the connection does
            handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        chunk = b"1," * 32768
        try:
            while handler.server.sent < total:
                handler.wfile.write(chunk)
                handler.server.sent += len(chunk)
        except OSError:
            pass
        finally:
            handler.server.done.set()
    return reply


# --- feeds built from feeds.yaml -----------------------------------------------------------


def entry(options: str, *, name: str = "cad-calls", function: str = "call_handling",
          timeout: str = "1s", max_bytes: int | None = None) -> str:
    """One feed of the list in feeds.yaml: the common keys, then ``options`` (YAML at column 0)."""
    common = (f"- name: {name}\n  type: http_json\n  function: {function}\n  interval: 30s\n"
              f"  timeout: {timeout}\n")
    if max_bytes is not None:
        common += f"  max_bytes: {max_bytes}\n"
    return textwrap.indent(common + textwrap.indent(textwrap.dedent(options), "  "), "  ")


def context(tmp_path: Path, catalogue: Catalogue, env: Mapping[str, str]) -> FeedContext:
    return FeedContext(catalogue, Clock(), tmp_path, tmp_path / "var", dict(env))


def write(tmp_path: Path, entries: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n" + entries)
    return path


@pytest.fixture
def make(tmp_path: Path, catalogue: Catalogue) -> Iterator[Callable[..., HttpJsonFeed]]:
    """Builds one feed through load_feeds (closed at the end of the test)."""
    built: list[HttpJsonFeed] = []

    def make(url: str | None, options: str = CALLS, env: Mapping[str, str] | None = None,
             **common: Any) -> HttpJsonFeed:
        lines = textwrap.dedent(options)
        if url is not None:
            lines = f'url: "{url}"\n' + lines
        (feed,) = load_feeds(write(tmp_path, entry(lines, **common)),
                             context(tmp_path, catalogue, env or {}), {"http_json": http_json})
        assert isinstance(feed, HttpJsonFeed)
        built.append(feed)
        return feed

    yield make
    for feed in built:
        feed.close()


def problems(tmp_path: Path, catalogue: Catalogue, entries: str,
             env: Mapping[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_feeds(write(tmp_path, entries), context(tmp_path, catalogue, env or {}),
                   {"http_json": http_json})
    return [str(p) for p in caught.value.problems]


def position(path: Path, text: str, after: str = "feeds:") -> str:
    """``FILE:LINE:COL`` of the first place ``text`` is written in the file, from the line
    that holds ``after``."""
    lines = path.read_text().splitlines()
    first = next(n for n, line in enumerate(lines) if after in line)
    for number, line in enumerate(lines[first:], first + 1):
        if text in line:
            return f"{path}:{number}:{line.index(text) + 1}"
    raise AssertionError(f"{text!r} is not in {path}")


# --- what a poll reads ---------------------------------------------------------------------


def test_the_items_of_a_response_become_samples_for_the_trust_or_a_site(
        source: Source, make: Callable[..., HttpJsonFeed]) -> None:
    source.reply = answer(recorded("cad_metrics.json"))
    with make(source.url + "/api/metrics") as feed:
        assert isinstance(feed, Feed)
        assert (feed.name, feed.function, feed.interval, feed.timeout) == (
            "cad-calls", "call_handling", 30.0, 1.0)
        items = list(feed.fetch(None, NOW))
    minute = at("2026-12-04T14:20:00Z")
    assert samples(items) == [("calls.waiting", "trust", minute, 14.0),
                              ("calls.waiting", "EOC-N", minute, 9.0),
                              ("calls.waiting", "EOC-S", minute, 5.0),
                              ("calls.answer_mean", "trust", minute, 11.4),
                              ("calls.answer_p90", "EOC-N", minute, 38.0)]
    assert reasons(items) == [
        "item 5: value 'value' found nothing",
        "item 6: ts 'at' found '2026-12-04 14:19:00', a time without an offset (add Z for UTC)"]
    rejected = next(i for i in items if isinstance(i, Rejection))
    assert rejected.raw == recorded("cad_metrics.json")["metrics"][5]  # as received
    path, headers = source.asked[0]
    assert path == "/api/metrics" and headers["accept"] == "application/json"


def test_each_reshapes_a_list_of_hospitals_and_a_literal_gives_the_metric(
        source: Source, make: Callable[..., HttpJsonFeed]) -> None:
    source.reply = answer(recorded("hospitals.json"))
    items = make(source.url, QUEUES, function="ae").fetch(None, NOW)
    assert [(s[1], s[3]) for s in samples(items)] == [
        ("RVJ", 3.0), ("RA7", 7.0), ("RD1", 0.0), ("RH8", 5.0), ("RA9", 2.0), ("RXX", 1.0)]
    assert {s[0] for s in samples(items)} == {"ae.handover_queue"}
    assert reasons(items) == ["item 4: value 'waiting' found 'n/a', not a number"]


def test_several_metrics_of_each_hospital_are_one_flattened_list(
        source: Source, make: Callable[..., HttpJsonFeed]) -> None:
    source.reply = answer(recorded("hospitals.json"))
    items = make(source.url, """\
        samples:
          each: "hospitals[].[{m: 'ae.handover_queue', site: code, v: handover_queue, at: updated},
                              {m: 'ae.handover_longest', site: code, v: longest_wait_min, at: updated}][]"
          metric: "m"
          scope: "site"
          ts: "at"
          value: "v"
        """, function="ae").fetch(None, NOW)
    got = {(s[0], s[1]): s[3] for s in samples(items)}
    assert got[("ae.handover_queue", "RH8")] == 5.0 and got[("ae.handover_longest", "RH8")] == 61.0
    assert len(got) == 12 and reasons(items) == ["item 8: value 'v' found 'n/a', not a number",
                                                 "item 9: value 'v' found nothing"]


def test_an_item_that_is_not_a_sample_is_rejected_naming_each_wrong_field(
        source: Source, make: Callable[..., HttpJsonFeed]) -> None:
    good = '"name": "calls.waiting", "at": "2026-12-04T14:20:00Z"'
    source.reply = answer(body=f"""{{"metrics": [
        {{{good}, "value": 3}},
        {{"name": "calls.waiting", "at": 1796307600, "value": "4.5", "site": "EOC-S"}},
        {{"at": 1796307600, "value": 1}},
        {{"name": 7, "at": "yesterday", "value": true}},
        {{{good}, "value": 1e999}},
        {{{good}, "value": {"9" * 400}}},
        {{{good}, "site": ["EOC-N"], "value": -5}},
        "just text"
    ]}}""".encode())
    items = make(source.url).fetch(None, NOW)
    assert samples(items) == [("calls.waiting", "trust", at("2026-12-04T14:20:00Z"), 3.0),
                              ("calls.waiting", "EOC-S", 1796307600.0, 4.5)]
    assert reasons(items) == [
        "item 2: metric 'name' found nothing",
        "item 3: ts 'at' found 'yesterday', not a time (ISO 8601 with an offset, or seconds "
        "since 1970); metric 'name' found 7, not text; value 'value' found true, not a number",
        "item 4: value 'value' found inf, not a finite number",
        "item 5: value 'value' found 999999999999999999...9999999999999999999, not a number "
        "of a size that can be stored",
        "item 6: scope \"site || 'trust'\" found ['EOC-N'], not text",
        "item 7: ts 'at' found nothing; metric 'name' found nothing; value 'value' found nothing"]


def test_past_the_limit_the_rejected_items_of_a_response_are_counted_in_one(
        source: Source, make: Callable[..., HttpJsonFeed]) -> None:
    source.reply = answer({"metrics": [{"name": "calls.waiting"}] * (MAX_REJECTIONS + 50)})
    items = make(source.url).fetch(None, NOW)
    assert len(items) == MAX_REJECTIONS + 1
    assert items[-1].reason == (f"50 more item(s) of the same response could not be made samples "
                                f"(only the first {MAX_REJECTIONS} are kept one by one)")


def test_only_samples_newer_than_since_are_returned_and_since_is_sent_when_asked(
        source: Source, make: Callable[..., HttpJsonFeed]) -> None:
    source.reply = answer(recorded("cad_metrics.json"))
    feed = make(source.url + "/api/metrics?format=v2", CALLS + "since_param: from\n")
    assert len(feed.fetch(None, NOW)) == 7
    newer = feed.fetch(at("2026-12-04T14:19:30Z") + 0.75, NOW)
    assert {s[2] for s in samples(newer)} == {at("2026-12-04T14:20:00Z")}
    assert len(samples(newer)) == 5  # and the item at 14:19 is not rejected again:
    assert reasons(newer) == [  # only the one whose time cannot be read
        "item 6: ts 'at' found '2026-12-04 14:19:00', a time without an offset (add Z for UTC)"]
    assert [path for path, _ in source.asked] == [
        "/api/metrics?format=v2",  # nothing delivered yet: the source's own default
        "/api/metrics?format=v2&from=2026-12-04T14%3A19%3A30Z"]


def test_a_304_is_nothing_new_once_the_poller_has_taken_in_the_last_response(
        source: Source, make: Callable[..., HttpJsonFeed]) -> None:
    source.reply = conditional(recorded("cad_metrics.json"))
    feed = make(source.url)
    first = samples(feed.fetch(None, NOW))
    # the poller did not take them in (the store was down): asked again in full, not by ETag
    assert samples(feed.fetch(None, NOW)) == first
    newest = max(s[2] for s in first)
    assert feed.fetch(newest, NOW) == [] and feed.fetch(newest, NOW) == []
    sent = [(h.get("if-none-match"), h.get("if-modified-since")) for _, h in source.asked]
    assert sent == [(None, None), (None, None),
                    ('"v1"', "Fri, 04 Dec 2026 14:20:30 GMT"),
                    ('"v1"', "Fri, 04 Dec 2026 14:20:30 GMT")]


# --- what fails a poll ---------------------------------------------------------------------


@pytest.mark.parametrize(("reply", "message"), [
    (answer(body=b'{"error": "database unavailable"}', status=500),
     "HTTP 500 Internal Server Error from {where}: '{{\"error\": \"database unavailable\"}}'"),
    (answer(body=b"", status=503), "HTTP 503 Service Unavailable from {where}"),
    (answer(body=b"no such page", status=404, content_type="text/plain"),
     "HTTP 404 Not Found from {where}: 'no such page'"),
    (answer(body=b"", status=301, headers={"Location": "https://elsewhere.example/"}),
     "HTTP 301 Moved Permanently from {where} (redirects are not followed: set the feed's URL "
     "to the address the source moved to)"),
])
def test_a_status_that_is_not_success_fails_the_poll_with_status_and_reason(
        source: Source, make: Callable[..., HttpJsonFeed], reply: Reply, message: str) -> None:
    source.reply = reply
    with pytest.raises(FetchFailed) as caught:
        make(source.url).fetch(None, NOW)
    assert str(caught.value) == message.format(where=source.where)
    assert len(source.asked) == 1  # a redirect is not followed


@pytest.mark.parametrize(("reply", "message"), [
    (answer(body=b"<!DOCTYPE html>\n<html><head><title>Sign in - Trust single sign-on</title>"
                 b"</head><body><form>" + b" " * 200 + b"</form></body></html>",
            content_type="text/html; charset=utf-8"),
     "the response is not JSON (content type text/html; charset=utf-8): '<!DOCTYPE html> <html>"
     "<head><title>Sign in - Trust single sign-on</title></he...'"),
    (answer(body=b'{"metrics": [{"name": "calls.waiting", '),
     "the response is not JSON (content type application/json): "
     "'{\"metrics\": [{\"name\": \"calls.waiting\",'"),
    (answer(body=b"\xff\xfe\x00garbage", content_type=None),
     "the response is not JSON (content type not given): '\ufffd\ufffd\\x00garbage'"),
    (answer(body=b"  \n"), "the response is empty (content type application/json)"),
    (answer({"data": {"metrics": []}}),
     "samples.each 'metrics[]' found nothing in the response, not a list: its shape is not the "
     "one expected"),
    (answer({"metrics": {"calls.waiting": 4}}),
     "samples.each 'metrics[]' found nothing in the response, not a list: its shape is not the "
     "one expected"),
])
def test_a_body_that_is_not_the_json_expected_fails_the_poll_showing_what_it_is(
        source: Source, make: Callable[..., HttpJsonFeed], reply: Reply, message: str) -> None:
    source.reply = reply
    with pytest.raises(FetchFailed) as caught:
        make(source.url).fetch(None, NOW)
    assert str(caught.value) == message


def test_no_answer_within_the_timeout_fails_the_poll(
        source: Source, make: Callable[..., HttpJsonFeed]) -> None:
    source.reply = silent
    with pytest.raises(FetchFailed) as caught:
        make(source.url, timeout="1s").fetch(None, NOW)
    assert str(caught.value) == f"no answer from {source.where} within the timeout (1 s)"


def test_a_body_still_dripping_in_after_the_timeout_fails_the_poll(
        source: Source, make: Callable[..., HttpJsonFeed]) -> None:
    source.reply = dripping  # each byte comes well within the timeout: the whole body does not
    with pytest.raises(FetchFailed, match=rf"^the response from {source.where} was still "
                                          rf"arriving after the timeout \(1 s\), \d+ bytes in$"):
        make(source.url, timeout="1s").fetch(None, NOW)


def test_a_body_over_max_bytes_is_not_read_whole(
        source: Source, make: Callable[..., HttpJsonFeed]) -> None:
    source.reply = huge(50 * MiB)
    with pytest.raises(FetchFailed) as caught:
        make(source.url, max_bytes=1_000_000).fetch(None, NOW)
    assert str(caught.value).startswith(
        "the response is over 1,000,000 bytes, the limit (max_bytes): reading stopped at ")
    assert source.done.wait(10)  # the source could not write it all: the client went away
    assert source.sent < 20 * MiB


def test_a_body_declared_over_max_bytes_is_not_read_at_all(
        source: Source, make: Callable[..., HttpJsonFeed]) -> None:
    source.reply = huge(50 * MiB, declared=True)
    with pytest.raises(FetchFailed) as caught:
        make(source.url, max_bytes=1_000_000).fetch(None, NOW)
    assert str(caught.value) == ("the response is 52,428,800 bytes; the limit is 1,000,000 "
                                 "(max_bytes): nothing of it was read")
    assert source.done.wait(10) and source.sent < 20 * MiB


def test_a_source_that_is_not_listening_fails_the_poll(
        make: Callable[..., HttpJsonFeed]) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchFailed, match=rf"^cannot connect to 127\.0\.0\.1:{port}: .*refused"):
        make(f"http://127.0.0.1:{port}/").fetch(None, NOW)


# --- credentials and TLS -------------------------------------------------------------------


@pytest.mark.parametrize(("auth", "env", "header", "expected"), [
    ("{bearer_env: CAD_TOKEN}", {"CAD_TOKEN": "t0ken-abc"}, "authorization", "Bearer t0ken-abc"),
    ("{basic_env: [CAD_USER, CAD_PASS]}", {"CAD_USER": "surge", "CAD_PASS": "pä ss:word"},
     "authorization", "Basic " + base64.b64encode("surge:pä ss:word".encode()).decode()),
    ("{header_env: {X-Api-Key: CAD_KEY}}", {"CAD_KEY": "k3y-value"}, "x-api-key", "k3y-value"),
])
def test_credentials_from_the_environment_are_sent_as_configured(
        source: Source, make: Callable[..., HttpJsonFeed], auth: str, env: dict[str, str],
        header: str, expected: str) -> None:
    feed = make(source.url, CALLS + f"auth: {auth}\n", env)
    assert feed.fetch(None, NOW) == []
    assert source.asked[0][1][header] == expected


def test_a_secret_never_appears_in_a_message_or_a_log(
        source: Source, make: Callable[..., HttpJsonFeed],
        caplog: pytest.LogCaptureFixture) -> None:
    env = {"CAD_URL": source.url + "/v1/metrics?api_key=KEY-in-the-url-77&format=json",
           "CAD_TOKEN": "token-s3cret-1", "CAD_KEY": "header-s3cret-2"}
    secrets = ["KEY-in-the-url-77", "token-s3cret-1", "header-s3cret-2"]

    def echo(status: int, indent: int = 0) -> Reply:  # a source that repeats what it was sent
        def reply(handler: Handler) -> None:
            said = (f"{handler.headers['Authorization']} {handler.headers['X-Key']} "
                    f"{handler.path}")
            send(handler, b" " * indent + said.encode(), status, "text/plain")
        return reply

    with caplog.at_level(logging.DEBUG):
        feed = make(None, CALLS + "url_env: CAD_URL\n"
                                  "auth: {bearer_env: CAD_TOKEN, header_env: {X-Key: CAD_KEY}}\n",
                    env)
        failures = []
        # the last: the token cut in two where the part of the body read to show it ends
        for status, indent in ((401, 0), (500, 0), (200, 0), (502, 4096 - 12)):
            source.reply = echo(status, indent)
            with pytest.raises(FetchFailed) as caught:
                feed.fetch(None, NOW)
            failures.append(str(caught.value))
    assert source.asked[0][0] == "/v1/metrics?api_key=KEY-in-the-url-77&format=json"
    assert failures[0] == (f"HTTP 401 Unauthorized from {source.where}: 'Bearer *** *** "
                           f"/v1/metrics?***' (check the credentials in CAD_TOKEN, CAD_KEY)")
    assert failures[1].startswith(f"HTTP 500 Internal Server Error from {source.where}: "
                                  f"'Bearer *** *** /v1/metrics?***'")
    assert failures[2].startswith("the response is not JSON (content type text/plain): 'Bearer "
                                  "*** ***")
    assert failures[3] == f"HTTP 502 Bad Gateway from {source.where}"
    shown = "\n".join(failures) + caplog.text
    assert "over plain http" in caplog.text  # credentials to an http URL: warned
    assert [secret for secret in secrets if secret in shown] == []


def test_a_private_ca_is_trusted_through_ca_file_and_without_it_the_poll_fails_clearly(
        tmp_path: Path, make: Callable[..., HttpJsonFeed],
        caplog: pytest.LogCaptureFixture) -> None:
    ca = trustme.CA()
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(served)
    ca.cert_pem.write_to_path(str(tmp_path / "trust-ca.pem"))
    with serving(served) as source:
        source.reply = answer(recorded("cad_metrics.json"))
        trusting = make(source.url, CALLS + "tls: {ca_file: trust-ca.pem}\n")  # beside the file
        assert len(samples(trusting.fetch(None, NOW))) == 5
        with pytest.raises(FetchFailed) as caught:
            make(source.url).fetch(None, NOW)
        assert str(caught.value) == (
            f"the TLS certificate of {source.where} could not be verified (unable to get local "
            f"issuer certificate): if it is issued by the trust's own CA, name that CA's "
            f"certificate with tls: {{ca_file: ...}}")
        with caplog.at_level(logging.WARNING, "feeds.http_json"):
            blind = make(source.url, CALLS + "tls: {verify: false}\n")
        assert len(samples(blind.fetch(None, NOW))) == 5
    assert "feed cad-calls: TLS certificate verification is OFF (tls: {verify: false})" \
        in caplog.text


# --- the entry in feeds.yaml ---------------------------------------------------------------


def test_every_problem_in_the_entries_is_reported_at_once_where_it_was_written(
        tmp_path: Path, catalogue: Catalogue) -> None:
    token = "not\na-header-s3cret"
    found = problems(tmp_path, catalogue, "".join([
        entry("""\
            url: "ftp://cad.internal/metrics"
            samples:
              each: "metrics["
              metric: "name"
              ts: "to_number(at, `1`)"
              vlaue: "value"
              scope: "lenght(site)"
            """, name="one"),
        entry("""\
            url_env: CAD_URL
            auth: {bearer_env: CAD_TOKEN, basic_env: [CAD_USER, CAD_PASS]}
            samples: {each: "@", metric: "'calls.wating'", ts: at, value: v, scope: "'EOC-X'"}
            """, name="two"),
        entry("""\
            url: "http://cad.internal/metrics"
            tls: {ca_file: certs/trust-ca.pem}
            samples: {each: "@", metric: calls.waiting, ts: at, value: v, scope: trust}
            """, name="three"),
        entry("""\
            url: "https://surge:pa55@cad.internal/"
            url_env: CAD_URL
            since_parm: from
            samples: {each: "@", metric: m, ts: at, value: v}
            """, name="four"),
        entry("""\
            url: "https://surge:pa55@cad.internal/"
            auth: {basic_env: [CAD_USER], header_env: {"Bad Header": CAD_KEY}}
            samples: {each: "@", metric: m, ts: at, value: v}
            """, name="five"),
    ]), env={"CAD_TOKEN": token, "CAD_USER": "surge:ops", "CAD_PASS": "pa55-s3cret",
             "CAD_KEY": "key-s3cret"})
    path = tmp_path / "feeds.yaml"
    expected = [(position(path, *where), message) for where, message in [
        (('"ftp://',), "feeds[0].url: expected an http:// or https:// URL with a host, got "
                       "'ftp://cad.internal/metrics'"),
        (("each:",), "feeds[0].samples: missing required key 'value'"),
        (('"metrics[',), "feeds[0].samples.each: not a JMESPath expression: it ends too soon, "
                         "at character 9"),
        (('"to_number',), "feeds[0].samples.ts: to_number() takes 1 argument(s), given 2"),
        (("vlaue",), "feeds[0].samples: unknown key 'vlaue' (did you mean 'value'?)"),
        (('"lenght',), "feeds[0].samples.scope: unknown function lenght() (did you mean "
                       "'length'?)"),
        (("CAD_URL",), "feeds[1].url_env: environment variable CAD_URL is not set (it holds "
                       "the feed's URL)"),
        (("CAD_TOKEN",), "feeds[1].auth.bearer_env: the value of CAD_TOKEN holds a line break, "
                         "a control character or a non-ASCII character, which an HTTP header "
                         "cannot carry"),
        (("basic_env",), "feeds[1].auth: bearer_env and basic_env both set the Authorization "
                         "header: give one"),
        (("CAD_USER",), "feeds[1].auth.basic_env[0]: the value of CAD_USER holds a ':', which a "
                        "user name for basic authentication cannot"),
        (("\"'calls.wating",), "feeds[1].samples.metric: unknown metric 'calls.wating' (did "
                               "you mean 'calls.waiting'?)"),
        (("\"'EOC-X",), "feeds[1].samples.scope: unknown scope (trust or a site code) 'EOC-X' "
                        "(did you mean 'EOC-S'?)"),
        (("{ca_file",), "feeds[2].tls: tls applies to https URLs; this feed's URL is http"),
        (("certs/",), f"feeds[2].tls.ca_file: file not found: {tmp_path / 'certs/trust-ca.pem'}"),
        (("calls.waiting,",), "feeds[2].samples.metric: 'calls.waiting' would be looked up in "
                              "each item as a field; for the metric itself write a JMESPath "
                              "literal, in single quotes inside the YAML quotes: metric: "
                              "\"'calls.waiting'\""),
        (("trust}",), "feeds[2].samples.scope: 'trust' would be looked up in each item as a "
                      "field; for the scope itself write a JMESPath literal, in single quotes "
                      "inside the YAML quotes: scope: \"'trust'\""),
        (("CAD_URL", "four"), "feeds[3].url_env: give url or url_env, not both (url_env names "
                              "the variable holding a URL with a key in it)"),
        (("since_parm",), "feeds[3]: unknown key 'since_parm' (did you mean 'since_param'?)"),
        (('"https://surge', "five"), "feeds[4].url: the URL holds a password: keep it out of "
                                     "the file (auth: {basic_env: [USER_VAR, PASS_VAR]}, or "
                                     "url_env)"),
        (("[CAD_USER]",), "feeds[4].auth.basic_env: expected two variable names, [USER_VAR, "
                          "PASS_VAR], got 1"),
        (('"Bad Header',), "feeds[4].auth.header_env: 'Bad Header' is not an HTTP header name"),
    ]]
    assert found == [f"{where}: {message}" for where, message in expected]
    assert not any(s in "\n".join(found) for s in ("a-header-s3cret", "pa55-s3cret", "surge:ops"))


def test_url_and_url_env_are_one_or_the_other(tmp_path: Path, catalogue: Catalogue) -> None:
    samples_line = 'samples: {each: "@", metric: m, ts: at, value: v}\n'
    found = problems(tmp_path, catalogue, entry(samples_line, name="none") + entry(
        'url: "https://cad.internal/"\nurl_env: CAD_URL\n' + samples_line, name="both") + entry(
        "url_env: CAD_URL\n" + samples_line, name="bad"),
        env={"CAD_URL": "cad.internal/metrics?key=s3cret-key-1"})
    path = tmp_path / "feeds.yaml"
    assert found == [
        f"{position(path, 'name: none')}: feeds[0]: missing required key 'url' (or 'url_env', "
        f"naming the variable that holds the URL)",
        f"{position(path, 'CAD_URL', 'both')}: feeds[1].url_env: give url or url_env, not both "
        f"(url_env names the variable holding a URL with a key in it)",
        f"{position(path, 'CAD_URL', 'bad')}: feeds[2].url_env: the value of CAD_URL: expected "
        f"an http:// or https:// URL with a host"]
    assert "s3cret-key-1" not in "\n".join(found)


# --- any payload: only FetchFailed, never anything else ----------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10 ** 400), max_value=10 ** 400)
    | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12)
FIELD = {"name": st.sampled_from(["calls.waiting", "calls.wait", ""]) | JSON,
         "site": st.sampled_from(["EOC-N", "RVJ", "trust"]) | JSON,
         "at": st.sampled_from(["2026-12-04T14:20:00Z", "2026-12-04 14:20", "9999-12-31T23:59:59"
                                "-23:59", "0001-01-01T00:00:00+14:00"]) | JSON,
         "value": JSON}
ODD_ITEM = st.fixed_dictionaries({}, optional=FIELD) | JSON
GOOD_ITEM = st.builds(lambda site, seconds, value: {"name": "calls.waiting", "site": site,
                                                    "at": NOW - seconds, "value": value},
                      st.sampled_from([None, "EOC-N", "EOC-S", "trust"]),
                      st.integers(1, 86_400), st.integers(0, 2000) | st.floats(0, 2000))


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[tuple[Source, HttpJsonFeed]]:
    """One source and feed for every example: each sets what the source answers."""
    fields = http_json.SampleFields(*(http_json.Expression.of(text) for text in (
        "metrics[]", "name", "at", "value", "site || 'trust'")))
    with serving() as source, HttpJsonFeed("fuzzed", "call_handling", 30.0, source.url, fields,
                                           timeout=5.0) as feed:
        yield source, feed


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(good=st.lists(GOOD_ITEM, max_size=5), odd=st.lists(ODD_ITEM, max_size=8),
       order=st.randoms(use_true_random=False))
def test_good_items_are_kept_whatever_else_a_payload_holds(
        fuzzed: tuple[Source, HttpJsonFeed], catalogue: Catalogue,
        good: list[dict[str, Any]], odd: list[Any], order: Any) -> None:
    source, feed = fuzzed
    items = good + odd
    order.shuffle(items)
    source.reply = answer({"metrics": items})
    out = feed.fetch(None, NOW)
    assert all(isinstance(i, Sample | Rejection) for i in out)
    assert all(i.reason.startswith("item ") for i in out if isinstance(i, Rejection))
    expected = [Sample("calls.waiting", g["site"] or "trust", g["at"], float(g["value"]))
                for g in good]
    assert all(sample in out for sample in expected)
    stored, _ = check_samples(out, catalogue, None, math.inf)  # the poller's checks never raise
    assert all(sample in stored for sample in expected)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(JSON.map(lambda v: json.dumps(v).encode()),
                      st.builds(lambda v: json.dumps({"metrics": v}).encode(), JSON),
                      st.binary(max_size=40), st.just(b""), st.just(b"[" * 100_000)))
def test_any_body_gives_samples_and_rejections_or_fails_the_poll(
        fuzzed: tuple[Source, HttpJsonFeed], body: bytes) -> None:
    source, feed = fuzzed
    source.reply = answer(body=body)
    try:
        out = feed.fetch(None, NOW)
    except FetchFailed as exc:
        assert str(exc)
        return
    assert all(isinstance(i, Sample) or (isinstance(i, Rejection) and i.reason) for i in out)


# --- through the poller into the store -----------------------------------------------------


def test_a_poll_stores_the_samples_and_counts_the_rejections_then_a_304_adds_nothing(
        source: Source, make: Callable[..., HttpJsonFeed], store: Store,
        catalogue: Catalogue) -> None:
    payload = recorded("hospitals.json")
    payload = moved(payload, NOW - 60 - at(payload["updated"]))  # recorded a minute ago
    source.reply = conditional(payload)
    feed = make(source.url, QUEUES, function="ae", name="ed-handover")
    poller = FeedPoller(feed, store, catalogue, clock=lambda: NOW)
    report = poller.poll()
    assert report.ok and report.accepted == 5
    assert sorted(r.reason for r in report.rejected) == [
        "item 4: value 'waiting' found 'n/a', not a number", "unknown site 'RXX'"]
    latest = store.latest()
    assert latest[("ae.handover_queue", "RA7")] == (NOW - 60, 7.0)
    assert {scope for metric, scope in latest} == {"RVJ", "RA7", "RD1", "RH8", "RA9"}
    quarantined = sorted(q["reason"] for q in store.quarantined())
    assert quarantined == sorted(r.reason for r in report.rejected)
    again = poller.poll()
    assert again.ok and (again.accepted, again.rejected) == (0, [])
    assert source.asked[1][1]["if-none-match"] == '"v1"'
    (status,) = store.feed_status()
    assert (status.name, status.accepted, status.rejected, status.last_sample) == (
        "ed-handover", 5, 2, NOW - 60)
