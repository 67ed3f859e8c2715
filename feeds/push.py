"""push feeds: a system that cannot be polled sends its samples to Surge (POST /api/v1/samples).

    - name: cad-push
      type: push
      function: call_handling
      interval: 1m        # how often the system is expected to push: the feed is unhealthy
                          # after three intervals (at least a minute) without a push

A push feed is never polled: it has ``polled = False``, which the worker reads to leave it
out of its polls, and a ``fetch`` that returns nothing. Its system calls the HTTP API with a
feed token made for it (``surge tokens add NAME --feed cad-push``). Each request is one batch:

    read_samples(kind, body)    what a JSON or CSV body holds, each sample with where it was;
                                BodyUnreadable (400) or TooManySamples (413) for the whole body
    receive(feed, store, ...)   the batch through the one ingest path (surge.ingest.ingest)
                                with source ``push:NAME``, checked like any feed's samples;
                                the push recorded against the feed's health as a poll is, and
                                announced (SamplesStored) as the poller announces a poll
    push_feeds(path, ...)       the push feeds of a feeds file, by name, for the web process

The source is not ``feed:NAME``: the rules engine waits for polled feeds before it evaluates
a moment, and pushed samples are evaluated at once (surge.ingest.polled). A push of no
samples is a heartbeat: the feed stays healthy. Bad samples are rejected one by one, with
their reasons, and the good ones in the same body are kept; a sample the store already has is
counted as a duplicate, so a body sent again after an error is never stored twice.

Bodies. JSON: a list of samples, or ``{"samples": [...]}``, each an object with ``metric``,
``scope`` (absent or empty: the trust), ``ts`` (ISO 8601 with an offset, or seconds since
1970) and ``value``; a sample with another key is rejected (a misspelt ``scope`` must not
quietly become the trust). CSV: a header row with the columns ts,metric,scope,value, read as
``surge ingest`` reads a file (surge.cli_data.read_rows).
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Literal

from feeds.base import Feed
from feeds.config import FeedContext, FeedSpec, load_feeds
from surge.catalogue import Catalogue
from surge.cli_data import read_rows
from surge.configfile import Reader, did_you_mean
from surge.errors import SurgeError
from surge.events import Recorder, SamplesStored
from surge.ingest import RawSample, ingest
from surge.samples import Rejection, Sample
from surge.store import Store

__all__ = ["MAX_SAMPLES", "OPTIONAL", "REQUIRED", "SOURCE", "TYPE", "BodyUnreadable", "Kind",
           "PushFeed", "PushReport", "Received", "TooManySamples", "build", "push_feeds",
           "push_source", "read_samples", "receive"]

TYPE = "push"
REQUIRED: tuple[str, ...] = ()
OPTIONAL: tuple[str, ...] = ()
SOURCE = "push:"  # a pushed batch's source: never "feed:", which the rules engine waits for
MAX_SAMPLES = 10_000  # samples in one push; more is refused whole (413)
FIELDS = ("metric", "scope", "ts", "value")
NOT_POLLED = {  # common keys that only a polled feed has a use for, and why
    "timeout": "nothing is fetched, so nothing can time out",
    "max_bytes": "SURGE_MAX_BODY limits what one push may send",
}

Kind = Literal["json", "csv"]


def push_source(feed: str) -> str:
    return SOURCE + feed


class PushFeed:
    """A feed whose system pushes its samples; ``interval``: how often it is expected to."""

    type: ClassVar[str] = TYPE
    polled: ClassVar[bool] = False  # the worker leaves it out of its polls

    def __init__(self, name: str, function: str, interval: float) -> None:
        self.name = name
        self.function = function
        self.interval = interval

    def fetch(self, since: float | None, now: float) -> list[RawSample]:
        """Nothing: a push feed's samples arrive by the HTTP API, never by a poll."""
        return []

    def __repr__(self) -> str:
        return f"PushFeed({self.name!r}, {self.function!r}, {self.interval:g})"


# --- feeds.yaml --------------------------------------------------------------------------


def build(spec: FeedSpec, reader: Reader, context: FeedContext) -> PushFeed | None:
    """The feed of one ``type: push`` entry; None after reporting a key it has no use for."""
    found = False
    for key, why in NOT_POLLED.items():
        if key in spec.node.value:
            found = True
            reader.error(spec.node.child(key), f"a push feed is not polled, so {key} does not "
                                               f"apply ({why}): remove it")
    return None if found else PushFeed(spec.name, spec.function, spec.interval)


def push_feeds(path: str | Path, context: FeedContext,
               adapters: Mapping[str, ModuleType]) -> dict[str, PushFeed]:
    """The push feeds of the feeds file ``path``, by name, for a process that receives pushes.

    Every entry is checked as the worker checks it, but only the push feeds are built: the
    entries of other types are checked by their common keys and the names of their own keys
    only, so their secrets, folders and databases need not be reachable from here.
    ``adapters``: feeds.registry.ADAPTERS (``push`` is added if it is missing). ConfigError
    with every problem found otherwise."""
    this = sys.modules[__name__]
    checked = {kind: _unbuilt(module) for kind, module in adapters.items() if module is not this}
    feeds = load_feeds(path, context, {**checked, TYPE: this})
    return {feed.name: feed for feed in feeds if isinstance(feed, PushFeed)}


def _unbuilt(module: ModuleType) -> ModuleType:
    """An adapter module's stand-in that checks the names of its type's keys and builds
    nothing."""
    stand_in = ModuleType(module.__name__)
    vars(stand_in).update(REQUIRED=module.REQUIRED, OPTIONAL=module.OPTIONAL, build=_no_feed)
    return stand_in


def _no_feed(spec: FeedSpec, reader: Reader, context: FeedContext) -> Feed | None:
    return None


# --- a body --------------------------------------------------------------------------------


class BodyUnreadable(SurgeError):
    """A body that holds no samples to check: not JSON or CSV, or not shaped as samples.
    ``line`` and ``column`` say where, when that is known (1-based)."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.line, self.column = line, column


class TooManySamples(SurgeError):
    """More samples in one body than MAX_SAMPLES: none of them is taken."""


@dataclass(frozen=True)
class Received:
    """The samples of one body, in order: each a raw mapping for the ingest path's checks or
    a Rejection already, with where it was in the body (``kind`` json: its index in the list,
    from 0; csv: its line, from 1)."""

    kind: Kind
    items: Sequence[Mapping[str, Any] | Rejection]
    where: Sequence[int]

    @property
    def position(self) -> str:
        """How a sample's place is named in an answer: ``index`` or ``line``."""
        return "index" if self.kind == "json" else "line"


def read_samples(kind: Kind, body: bytes) -> Received:
    """The samples of a JSON or CSV body; BodyUnreadable saying what is wrong and where, or
    TooManySamples."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BodyUnreadable(f"the body is not UTF-8 text (byte {exc.start} cannot be read)") \
            from None
    received = _json_samples(text) if kind == "json" else _csv_samples(text)
    if len(received.items) > MAX_SAMPLES:
        raise TooManySamples(f"{len(received.items):,} samples in one push; at most "
                             f"{MAX_SAMPLES:,}: send them in several")
    return received


def _json_samples(text: str) -> Received:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BodyUnreadable(f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, "
                             f"column {exc.colno}", exc.lineno, exc.colno) from None
    except (ValueError, RecursionError):  # a number of thousands of digits; nested too deep
        raise BodyUnreadable("the body is not valid JSON that can be read: nested too deep, "
                             "or a number too long") from None
    if isinstance(data, dict):
        for key in data:
            if key != "samples":
                shown = key if len(key) <= 64 else key[:64] + "…"
                raise BodyUnreadable(f"unknown field {shown!r}{did_you_mean(key, ['samples'])}: "
                                     f"the body is a list of samples, or {{\"samples\": [...]}}")
        if "samples" not in data:
            raise BodyUnreadable("the body is a list of samples, or {\"samples\": [...]}: "
                                 "samples is missing")
        data = data["samples"]
        if not isinstance(data, list):
            raise BodyUnreadable(f"samples must be a list of samples, not {_json_type(data)}")
    elif not isinstance(data, list):
        raise BodyUnreadable(f"the body must be a list of samples, or {{\"samples\": [...]}}, "
                             f"not {_json_type(data)}")
    return Received("json", [_json_sample(item) for item in data], list(range(len(data))))


def _json_sample(item: Any) -> Mapping[str, Any] | Rejection:
    """A sample for the ingest path to check, or why it cannot be one."""
    if not isinstance(item, dict):
        return Rejection(f"a sample must be an object with metric, scope, ts and value, not "
                         f"{_json_type(item)}", item)
    for key in item:
        if key not in FIELDS:
            shown = key if len(key) <= 64 else key[:64] + "…"
            return Rejection(f"unknown field {shown!r}{did_you_mean(key, FIELDS)}: a sample "
                             f"has metric, scope, ts and value", item)
    return item


def _csv_samples(text: str) -> Received:
    try:
        rows, problems = read_rows(text, "body")
    except SurgeError as exc:  # the header is missing or lacks a column
        raise BodyUnreadable(str(exc), 1) from None
    except csv.Error as exc:
        line = _csv_error_line(text)
        raise BodyUnreadable(f"the body is not CSV that can be read: {exc} (line {line})",
                             line) from None
    found: list[tuple[int, Mapping[str, Any] | Rejection]] = [*rows]
    found += [(line, Rejection(reason, {"line": line})) for line, reason in problems]
    found.sort(key=lambda pair: pair[0])
    return Received("csv", [item for _, item in found], [line for line, _ in found])


def _csv_error_line(text: str) -> int:
    """The line at which the csv module gives up on ``text``."""
    reader = csv.reader(io.StringIO(text))
    try:
        for _ in reader:
            pass
    except csv.Error:
        pass
    return max(reader.line_num, 1)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


# --- storing a push --------------------------------------------------------------------------


@dataclass(frozen=True)
class PushReport:
    """What became of one push: counts, the late samples (older than their series' newest),
    and each rejected sample's place in the body (``position``: index or line) and reason."""

    feed: str
    function: str
    source: str
    at: float
    received: int
    accepted: int
    duplicates: int
    late: list[Sample]
    rejected: list[tuple[int, str]]
    position: str

    @property
    def stored_nothing(self) -> bool:
        """Every sample was rejected (a body of none stores nothing, and is not this)."""
        return self.received > 0 and len(self.rejected) == self.received


def receive(feed: PushFeed, store: Store, catalogue: Catalogue, received: Received,
            clock: Callable[[], float]) -> PushReport:
    """Check and store one push, record it against the feed's health, and announce it.
    StoreUnavailable when the store cannot be reached: what was stored before stays stored
    (each part of a write is whole), and the same body sent again stores nothing twice."""
    started = time.monotonic()
    now = clock()
    source = push_source(feed.name)
    report = ingest(store, catalogue, received.items, source=source, now=now)
    before = next((s.last_sample for s in store.feed_status() if s.name == feed.name), None)
    newest = max((t for t in (before, report.newest) if t is not None), default=None)
    store.record_poll(feed.name, function=feed.function, interval=feed.interval, at=now,
                      accepted=report.accepted, rejected=report.rejected,
                      late=len(report.late), duplicates=report.duplicates,
                      newest_sample=newest, duration=time.monotonic() - started, state="up")
    if report.total:
        Recorder(store, clock).record(SamplesStored(
            ts=now, source=source, accepted=report.accepted, rejected=len(report.rejected),
            late=len(report.late), duplicates=report.duplicates, notices=report.notices))
    where = {id(item): at for item, at in zip(received.items, received.where, strict=True)}
    rejected = sorted((where.get(id(r), where.get(id(r.raw), -1)), r.reason)
                      for r in report.rejected)
    return PushReport(feed.name, feed.function, source, now, len(received.items),
                      report.accepted, report.duplicates, report.late, rejected,
                      received.position)
