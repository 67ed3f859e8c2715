"""The whole record, read as one: the hot window in the store and older days in the archive.

``History`` answers the store's read calls (``series``, ``events``, ``events_before``,
``annotations``) over any window. Days before the store's archive frontier are read from
the archive's Parquet files, the rest from the store, so a reader never knows where a day
lives. ``rollups`` gives 5-minute or hourly min/max/mean, for windows too long to draw
sample by sample. See docs/review.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from surge import keys
from surge.archive import STEPS, Archive, Rollup, rollup
from surge.store import Event, Series, SeriesKey, Store

__all__ = ["History", "Record", "step_for"]

RAW_UP_TO = 3 * 86400.0  # windows up to this long are drawn from samples, longer from rollups
FIVE_MINUTES_UP_TO = 17 * 86400.0  # then 5-minute rollups (under 5,000 buckets), then hourly


class Record(Protocol):
    """What the review reads: a Store (the hot window only) or a History (everything)."""

    def series(self, wanted: Iterable[SeriesKey], start: float, end: float) -> dict[SeriesKey, Series]: ...

    def events(self, start: float | None = None, end: float | None = None,
               kinds: Iterable[str] | None = None, count: int | None = None) -> list[Event]: ...

    def events_before(self, end: float, kinds: Iterable[str]) -> Iterator[Event]: ...

    def annotations(self) -> dict[str, dict[str, Any]]: ...


def step_for(seconds: float) -> int | None:
    """The rollup a window of this length is drawn from; None: its samples."""
    if seconds <= RAW_UP_TO:
        return None
    return 300 if seconds <= FIVE_MINUTES_UP_TO else 3600


@dataclass
class History:
    """The store's hot window and the archive behind it, read as one record."""

    store: Store
    archive: Archive | None

    @cached_property
    def _frontier(self) -> float:
        day = self.store.archive_frontier() if self.archive is not None else None
        return -math.inf if day is None else day * keys.DAY_MS / 1000

    def frontier(self) -> float:
        """Everything filed before this time (UTC epoch s) is in the archive, not the store.
        Read once: a History is made for one request or command, and all of its reads then
        split the record at the same place."""
        return self._frontier

    def series(self, wanted: Iterable[SeriesKey], start: float, end: float) -> dict[SeriesKey, Series]:
        wanted = list(dict.fromkeys(wanted))
        split = self.frontier()
        if start >= split or self.archive is None:  # (nothing archived: split is -inf)
            return self.store.series(wanted, start, end)
        old = self.archive.series(wanted, start, min(end, split - 0.001))
        if end < split:
            return old
        new = self.store.series(wanted, split, end)
        return {k: Series(np.concatenate([old[k].ts, new[k].ts]),
                          np.concatenate([old[k].values, new[k].values])) for k in wanted}

    def rollups(self, wanted: Iterable[SeriesKey], start: float, end: float,
                step: int) -> dict[SeriesKey, Rollup]:
        """Per series, min/max/mean/count of every ``step`` seconds (300 or 3600, aligned to
        UTC) that has samples, for buckets starting from start's bucket to end."""
        if step not in STEPS:
            raise ValueError(f"rollups are of {' or '.join(map(str, STEPS))} seconds, not {step}")
        wanted = list(dict.fromkeys(wanted))
        start = math.floor(start / step) * step
        split = self.frontier()
        parts: dict[SeriesKey, list[Rollup]] = {k: [] for k in wanted}
        if self.archive is not None and start < split:
            for k, rolled in self.archive.rollups(wanted, start, min(end, split - 0.001),
                                                  step).items():
                parts[k].append(rolled)
        if end >= split:
            for k, got in self.store.series(wanted, max(start, split), end).items():
                parts[k].append(rollup(got.ts, got.values, step))
        return {k: Rollup.joined(v) for k, v in parts.items()}

    def events(self, start: float | None = None, end: float | None = None,
               kinds: Iterable[str] | None = None, count: int | None = None) -> list[Event]:
        names = None if kinds is None else list(kinds)
        split = self.frontier()
        if self.archive is None or split == -math.inf or (start is not None and start >= split):
            return self.store.events(start, end, names, count)
        new = [] if end is not None and end < split else self.store.events(
            split if start is None or start < split else start, end, names, count)
        if count and len(new) >= count:
            return new
        old = self.archive.events(start, end, names)  # it holds only what is filed before split
        out = old + new
        return out[-count:] if count else out

    def events_before(self, end: float, kinds: Iterable[str]) -> Iterator[Event]:
        names = list(kinds)
        split = self.frontier()
        if end > split:  # (the store still holds events filed on the last archived day
            # but recorded after it: the archive has those)
            yield from (e for e in self.store.events_before(end, names)
                        if self.store.filed_at(e) >= split)
        if self.archive is not None and split > -math.inf:
            yield from self.archive.events_before(min(end, split), names)

    def annotations(self) -> dict[str, dict[str, Any]]:
        return self.store.annotations()

