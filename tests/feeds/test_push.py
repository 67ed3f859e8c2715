"""push feeds: their entries in feeds.yaml, the bodies a pushing system sends (JSON and CSV,
read or refused saying where), and a push through the one ingest path into a real store,
recorded against the feed's health and announced as a poll is."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from feeds import csv_drop, push
from feeds.base import Feed
from feeds.config import FeedContext, load_feeds
from feeds.push import (
    MAX_SAMPLES,
    BodyUnreadable,
    PushFeed,
    Received,
    TooManySamples,
    push_feeds,
    read_samples,
    receive,
)
from surge.catalogue import Catalogue
from surge.clock import Clock
from surge.errors import ConfigError
from surge.events import SamplesStored, read_events
from surge.ingest import polled
from surge.samples import Rejection
from surge.store import Store

NOW = float(int(time.time()))
ADAPTERS = {"push": push}
PUSH_ENTRY = """\
  - name: cad-push
    type: push
    function: call_handling
    interval: 1m
"""


def context(base: Path, catalogue: Catalogue) -> FeedContext:
    return FeedContext(catalogue, Clock(real=lambda: NOW), base, base / "var", {})


def feeds_file(tmp_path: Path, *entries: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n" + "".join(entries))
    return path


def problems(tmp_path: Path, catalogue: Catalogue, *entries: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_feeds(feeds_file(tmp_path, *entries), context(tmp_path, catalogue), ADAPTERS)
    return [str(p) for p in caught.value.problems]


def sample(metric: str = "calls.waiting", scope: str = "trust", ts: float = NOW - 60,
           value: float = 12) -> dict:
    return {"metric": metric, "scope": scope, "ts": ts, "value": value}


def body(*items: object) -> bytes:
    return json.dumps(list(items)).encode()


# --- feeds.yaml ----------------------------------------------------------------------------


def test_a_push_entry_is_a_feed_that_is_never_polled(tmp_path: Path, catalogue: Catalogue) -> None:
    [feed] = load_feeds(feeds_file(tmp_path, PUSH_ENTRY), context(tmp_path, catalogue), ADAPTERS)
    assert isinstance(feed, PushFeed) and isinstance(feed, Feed)
    assert (feed.name, feed.function, feed.interval) == ("cad-push", "call_handling", 60.0)
    assert feed.polled is False and getattr(feed, "polled", True) is False  # as the worker asks
    assert feed.fetch(None, NOW) == [] and feed.fetch(NOW - 60, NOW) == []


def test_a_push_entry_is_checked_like_any_other(tmp_path: Path, catalogue: Catalogue) -> None:
    found = problems(tmp_path, catalogue, """\
  - name: cad-push
    type: push
    function: call_handlin
    interval: 1m
    timeout: 5s
    url: http://cad.example/
  - name: pts-push
    type: push
    function: pts
    interval: 1m
    max_bytes: 1000
""")
    file = tmp_path / "feeds.yaml"
    assert found == [
        f"{file}:4:15: feeds[0].function: unknown function 'call_handlin' (did you mean "
        f"'call_handling'?) (known: call_handling, clinical_triage, ae, pts)",
        f"{file}:7:5: feeds[0]: unknown key 'url'",
        f"{file}:12:16: feeds[1].max_bytes: a push feed is not polled, so max_bytes does not "
        f"apply (SURGE_MAX_BODY limits what one push may send): remove it",
    ]


def test_timeout_has_no_use_for_a_push_feed(tmp_path: Path, catalogue: Catalogue) -> None:
    [problem] = problems(tmp_path, catalogue, PUSH_ENTRY + "    timeout: 5s\n")
    assert problem == (f"{tmp_path / 'feeds.yaml'}:6:14: feeds[0].timeout: a push feed is not "
                       f"polled, so timeout does not apply (nothing is fetched, so nothing can "
                       f"time out): remove it")


def test_the_push_feeds_of_a_file_are_built_and_no_other(tmp_path: Path,
                                                         catalogue: Catalogue) -> None:
    """The web process reads the file for its push feeds: a csv_drop entry whose folder is
    not there (the worker's host has it) is checked by its keys' names only, not built."""
    path = feeds_file(tmp_path, PUSH_ENTRY, """\
  - name: pts-drop
    type: csv_drop
    function: pts
    interval: 5m
    folder: /nowhere/on/this/host
""")
    with pytest.raises(ConfigError, match="does not exist"):  # as the worker reads it
        load_feeds(path, context(tmp_path, catalogue), {"push": push, "csv_drop": csv_drop})
    found = push_feeds(path, context(tmp_path, catalogue), {"csv_drop": csv_drop})
    assert list(found) == ["cad-push"] and found["cad-push"].function == "call_handling"
    assert push_feeds(path, context(tmp_path, catalogue),
                      {"csv_drop": csv_drop, "push": push}).keys() == {"cad-push"}


def test_the_push_feeds_file_still_names_misspelt_keys_and_unknown_types(
        tmp_path: Path, catalogue: Catalogue) -> None:
    path = feeds_file(tmp_path, PUSH_ENTRY, """\
  - name: pts-drop
    type: csv_drop
    function: pts
    interval: 5m
    foldr: /nowhere
  - name: other
    type: carrier_pigeon
    function: pts
    interval: 5m
""")
    with pytest.raises(ConfigError) as caught:
        push_feeds(path, context(tmp_path, catalogue), {"csv_drop": csv_drop})
    said = "\n".join(str(p) for p in caught.value.problems)
    assert "unknown key 'foldr' (did you mean 'folder'?)" in said
    assert "missing required key 'folder'" in said
    assert "carrier_pigeon" in said


# --- bodies ----------------------------------------------------------------------------------


def test_a_json_list_or_object_of_samples_is_read_in_order() -> None:
    items: list[Mapping[str, Any] | Rejection] = [
        sample(), sample("calls.answer_mean", "EOC-N", NOW - 30, 41.5)]
    for raw in (json.dumps(items).encode(), json.dumps({"samples": items}).encode(),
                b"\xef\xbb\xbf" + json.dumps(items).encode()):
        got = read_samples("json", raw)
        assert got == Received("json", items, [0, 1]) and got.position == "index"


def test_a_json_sample_that_cannot_be_one_is_rejected_by_itself() -> None:
    got = read_samples("json", body(sample(), 7, [1], None, {**sample(), "scop": "EOC-N"},
                                    {"metric": "x", "unit": "s"}))
    assert got.where == [0, 1, 2, 3, 4, 5]
    assert got.items[0] == sample()
    reasons = [item.reason for item in got.items[1:] if isinstance(item, Rejection)]
    assert reasons == [
        "a sample must be an object with metric, scope, ts and value, not a number",
        "a sample must be an object with metric, scope, ts and value, not a list",
        "a sample must be an object with metric, scope, ts and value, not null",
        "unknown field 'scop' (did you mean 'scope'?): a sample has metric, scope, ts and value",
        "unknown field 'unit': a sample has metric, scope, ts and value",
    ]


@pytest.mark.parametrize(("raw", "said", "line", "column"), [
    (b'[{"metric": "calls.waiting",\n  "value": 3,,}]', "the body is not valid JSON: "
     "Expecting property name enclosed in double quotes at line 2, column 14", 2, 14),
    (b"", "the body is not valid JSON: Expecting value at line 1, column 1", 1, 1),
    (b"metric=calls.waiting", "the body is not valid JSON: Expecting value at line 1, "
     "column 1", 1, 1),
    (b'{"samples": [1]', "the body is not valid JSON: Expecting ',' delimiter at line 1, "
     "column 16", 1, 16),
    (b"[" * 100_000 + b"]" * 100_000, "the body is not valid JSON that can be read: nested "
     "too deep, or a number too long", None, None),
    (b"[" + b"9" * 5000 + b"]", "the body is not valid JSON that can be read", None, None),
    (b'[{"metric": "\xff"}]', "the body is not UTF-8 text (byte 13 cannot be read)", None, None),
    (b'"calls.waiting"', 'the body must be a list of samples, or {"samples": [...]}, not a '
     "string", None, None),
    (b'{"sample": []}', "unknown field 'sample' (did you mean 'samples'?): the body is a list "
     'of samples, or {"samples": [...]}', None, None),
    (b"{}", 'the body is a list of samples, or {"samples": [...]}: samples is missing', None,
     None),
    (b'{"samples": {"metric": "calls.waiting"}}', "samples must be a list of samples, not an "
     "object", None, None),
])
def test_a_json_body_that_cannot_be_read_says_what_and_where(
        raw: bytes, said: str, line: int | None, column: int | None) -> None:
    with pytest.raises(BodyUnreadable) as caught:
        read_samples("json", raw)
    assert str(caught.value).startswith(said), str(caught.value)
    assert (caught.value.line, caught.value.column) == (line, column)


def test_a_csv_body_is_read_as_surge_ingest_reads_a_file() -> None:
    got = read_samples("csv", (
        "ts,metric,scope,value\r\n"
        "2026-01-05T10:00:00Z,calls.waiting,,12\r\n"
        "\r\n"
        f"{NOW - 60:.0f},calls.answer_mean,EOC-N,41.5\r\n"
        "2026-01-05T10:00:00Z,calls.waiting,trust\r\n").encode())
    assert got.kind == "csv" and got.position == "line" and got.where == [2, 4, 5]
    assert got.items[:2] == [
        {"ts": "2026-01-05T10:00:00Z", "metric": "calls.waiting", "scope": "trust",
         "value": "12"},
        {"ts": NOW - 60, "metric": "calls.answer_mean", "scope": "EOC-N", "value": "41.5"}]
    assert got.items[2] == Rejection("expected 4 values (ts,metric,scope,value), got 3",
                                     {"line": 5})


@pytest.mark.parametrize(("raw", "said", "line"), [
    (b"", "body:1: the first line must be the header ts,metric,scope,value (missing ts, "
     "metric, scope, value; got 'an empty file')", 1),
    (b"time,metric,scope,value\n1,calls.waiting,,3\n", "body:1: the first line must be the "
     "header ts,metric,scope,value (missing ts;", 1),
    (b"ts,metric,scope,value\n1,calls.waiting,,3\n2," + b"x" * 200_000 + b",,1\n",
     "the body is not CSV that can be read: field larger than field limit (131072) (line 3)",
     3),
    (b"ts,metric,scope,value\n\xff", "the body is not UTF-8 text (byte 22 cannot be read)",
     None),
])
def test_a_csv_body_that_cannot_be_read_says_what_and_where(raw: bytes, said: str,
                                                            line: int | None) -> None:
    with pytest.raises(BodyUnreadable) as caught:
        read_samples("csv", raw)
    assert str(caught.value).startswith(said), str(caught.value)
    assert caught.value.line == line


def test_more_than_the_most_samples_in_one_push_is_refused_whole() -> None:
    assert len(read_samples("json", body(*[sample()] * MAX_SAMPLES)).items) == MAX_SAMPLES
    with pytest.raises(TooManySamples, match="10,001 samples in one push; at most 10,000"):
        read_samples("json", body(*[sample()] * (MAX_SAMPLES + 1)))
    rows = "".join(f"{NOW:.0f},calls.waiting,,{i % 100}\n" for i in range(MAX_SAMPLES + 1))
    with pytest.raises(TooManySamples):
        read_samples("csv", ("ts,metric,scope,value\n" + rows).encode())


# --- a push into the store ------------------------------------------------------------------

FEED = PushFeed("cad-push", "call_handling", 60.0)


def test_a_push_is_stored_recorded_as_the_feeds_health_and_announced(
        store: Store, catalogue: Catalogue) -> None:
    received = read_samples("json", body(
        sample(ts=NOW - 60, value=12), sample(ts=NOW - 30, value=14),
        sample("calls.wating"), sample(value=-1), "x",
        sample("calls.answer_mean", "EOC-N", NOW - 30, 41.5)))
    report = receive(FEED, store, catalogue, received, lambda: NOW)
    assert (report.feed, report.function, report.source, report.at) == \
        ("cad-push", "call_handling", "push:cad-push", NOW)
    assert (report.received, report.accepted, report.duplicates, report.late) == (6, 3, 0, [])
    assert report.rejected == [
        (2, "unknown metric 'calls.wating'"),
        (3, "value -1 of calls.waiting is outside its plausible range [0, 2000]"),
        (4, "a sample must be an object with metric, scope, ts and value, not a string")]
    assert report.position == "index" and not report.stored_nothing
    series = store.series([("calls.waiting", "trust")], NOW - 120, NOW)[("calls.waiting", "trust")]
    assert series.ts.tolist() == [NOW - 60, NOW - 30] and series.values.tolist() == [12, 14]
    assert store.latest()[("calls.answer_mean", "EOC-N")] == (NOW - 30, 41.5)

    [status] = store.feed_status()
    assert (status.name, status.function, status.interval, status.state) == \
        ("cad-push", "call_handling", 60.0, "up")
    assert (status.last_success, status.last_sample, status.accepted, status.rejected) == \
        (NOW, NOW - 30, 3, 3)
    assert [q["reason"] for q in store.quarantined()][-1] == "unknown metric 'calls.wating'"

    [event] = read_events(store, kinds=[SamplesStored])
    assert isinstance(event, SamplesStored)
    assert (event.source, event.accepted, event.rejected, event.ts) == \
        ("push:cad-push", 3, 3, NOW)
    assert event.notices and not polled(event.source)  # the engine does not wait for it


def test_a_body_sent_again_stores_nothing_twice_and_late_samples_are_named(
        store: Store, catalogue: Catalogue) -> None:
    first = read_samples("json", body(sample(ts=NOW - 30)))
    receive(FEED, store, catalogue, first, lambda: NOW)
    again = receive(FEED, store, catalogue, read_samples("json", body(sample(ts=NOW - 30))),
                    lambda: NOW + 1)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 1, [])
    older = receive(FEED, store, catalogue, read_samples("json", body(sample(ts=NOW - 90))),
                    lambda: NOW + 2)
    assert [(s.metric, s.scope, s.ts) for s in older.late] == [("calls.waiting", "trust",
                                                                NOW - 90)]
    [status] = store.feed_status()
    assert (status.duplicates, status.late) == (1, 1)
    assert status.last_sample == NOW - 30  # an older push never moves it back


def test_every_sample_rejected_stores_nothing(store: Store, catalogue: Catalogue) -> None:
    report = receive(FEED, store, catalogue, read_samples("json", body(sample("nope"))),
                     lambda: NOW)
    assert report.stored_nothing and store.latest() == {}


def test_an_empty_push_keeps_the_feed_healthy_and_silence_makes_it_unhealthy(
        store: Store, catalogue: Catalogue) -> None:
    report = receive(FEED, store, catalogue, read_samples("json", b"[]"), lambda: NOW)
    assert (report.received, report.stored_nothing) == (0, False)
    assert read_events(store, kinds=[SamplesStored]) == []  # nothing to announce
    [status] = store.feed_status()
    assert status.last_success == NOW and status.last_sample is None
    assert status.healthy(NOW + 3 * 60) and not status.healthy(NOW + 3 * 60 + 1)


def test_csv_rejections_are_named_by_their_line(store: Store, catalogue: Catalogue) -> None:
    received = read_samples("csv", (
        "ts,metric,scope,value\n"
        f"{NOW - 60:.0f},calls.waiting,,12\n"
        f"{NOW - 60:.0f},calls.waiting,RVJ,3\n"
        f"{NOW - 60:.0f},calls.waiting\n").encode())
    report = receive(FEED, store, catalogue, received, lambda: NOW)
    assert report.accepted == 1 and report.position == "line"
    assert report.rejected == [(3, "calls.waiting is not reported by a hospital (RVJ)"),
                               (4, "expected 4 values (ts,metric,scope,value), got 2")]
