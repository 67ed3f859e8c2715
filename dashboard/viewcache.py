"""One view per data change, served to every screen that shows it.

A control room has many screens on the same few pages. Without this, each of their
refreshes would read the store, build the page's view and digest its figures on its own:
the same work for every screen. Instead a refresh first asks the store one cheap question
(``Store.change_mark``: has a batch been stored or an event recorded since?) and, while
the answer and the rules version are unchanged and the view is under ``FRESH`` seconds
old, it is served the view already built. ``FRESH`` is there because ages and staleness
move with time even when no data arrive ("updated 12 s ago", a feed going stale).

Only one request builds a given view at a time: the others asking for it meanwhile wait
for it and share it, so 200 screens refreshing together cause one build, not 200.

Each web process (each gunicorn worker) has its own cache, in its DashboardContext: a view
is built at most once per data change (and per ``FRESH`` seconds) in each process. What
happened to a refresh is told in a standard ``Server-Timing`` header ("store;desc=shared,
view;desc=built;dur=4.2"), which a browser's developer tools show and the benchmark counts.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import flask
from flask import g

__all__ = ["FRESH", "Entry", "ViewCache", "install_timing"]

FRESH = 1.0  # real seconds a view is served without asking whether time moved it
SIZE = 64  # views kept: pages x (desk, wall) x their variants
T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A built view: ``serial`` is unique to this build, so views made from it can tell."""

    mark: Hashable
    made: float  # time.monotonic() when built
    serial: int
    value: T


class ViewCache:
    """Views by key, each valid while its mark is unchanged and it is under ``fresh`` s old."""

    def __init__(self, fresh: float = FRESH, size: int = SIZE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fresh = fresh
        self.size = size
        self._clock = clock
        self._entries: OrderedDict[Hashable, Entry[Any]] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()
        self._serial = 0
        self.built = 0
        self.shared = 0

    def _valid(self, key: Hashable, mark: Hashable) -> Entry[Any] | None:
        entry = self._entries.get(key)
        if entry is None or entry.mark != mark or self._clock() - entry.made >= self.fresh:
            return None
        self._entries.move_to_end(key)
        return entry

    def get(self, key: Hashable, mark: Hashable, make: Callable[[], T]) -> Entry[T]:
        """The view at ``key`` for ``mark``: the one built already, or ``make()``'s (once,
        however many ask at the same time). An exception from ``make`` is not kept."""
        with self._lock:
            entry = self._valid(key, mark)
            if entry is not None:
                self.shared += 1
                _note(key, "shared")
                return entry
            building = self._building.setdefault(key, threading.Lock())
        with building:
            with self._lock:  # built by another request while this one waited
                entry = self._valid(key, mark)
                if entry is not None:
                    self.shared += 1
                    _note(key, "shared")
                    return entry
            started = time.perf_counter()
            value = make()
            with self._lock:
                self._serial += 1
                entry = Entry(mark, self._clock(), self._serial, value)
                self._entries[key] = entry
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
                self.built += 1
            _note(key, "built", (time.perf_counter() - started) * 1000)
            return entry


def _note(key: Hashable, how: str, ms: float | None = None) -> None:
    """Keep for the response's Server-Timing header whether each view it used was shared
    or built: "store;desc=shared, view;desc=built;dur=4.2" (the metric: the key's first part)."""
    if flask.has_request_context():
        name = str(key[0] if isinstance(key, tuple) and key else key)
        metric = f"{name};desc={how}" + (f";dur={ms:.1f}" if ms is not None else "")
        g.setdefault("surge_views", []).append(metric)


def install_timing(server: flask.Flask) -> None:
    """Say in each response whose refresh used a view whether it was shared or built."""

    @server.after_request
    def timing(response: flask.Response) -> flask.Response:
        views = g.pop("surge_views", None)
        if views:
            response.headers["Server-Timing"] = ", ".join(views)
        return response
