"""The one generic poller: fetch from a feed, check the samples, store them, record health.

A feed only fetches; everything else (timing, checking, counting, quarantine, logging when
a feed goes down and when it recovers) happens here, the same way for every feed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from feeds.base import Feed
from surge.catalogue import Catalogue
from surge.errors import FetchFailed, StoreUnavailable
from surge.samples import Rejection, Sample, check_samples
from surge.store import Store

__all__ = ["FeedPoller", "PollReport"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollReport:
    feed: str
    at: float
    error: str | None = None
    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


class FeedPoller:
    """Polls one feed; remembers what it has delivered so each poll asks only for new data."""

    def __init__(self, feed: Feed, store: Store, catalogue: Catalogue,
                 clock: Callable[[], float] = time.time,
                 on_stored: Callable[[Sequence[Sample]], Any] | None = None) -> None:
        self.feed = feed
        self.store = store
        self.catalogue = catalogue
        self.clock = clock
        self.on_stored = on_stored  # told of every newly stored batch (the rules engine)
        status = {s.name: s for s in store.feed_status()}.get(feed.name)
        self.since = status.last_sample if status else None
        self.down = bool(status and status.down_since is not None)

    def poll(self) -> PollReport:
        """One poll. Never raises for a feed's failure: that is recorded and logged."""
        now = self.clock()
        try:
            raw = list(self.feed.fetch(self.since, now))
        except FetchFailed as exc:
            return self._failed(now, str(exc))
        except Exception as exc:  # an adapter bug must not stop the worker; it is made loud
            log.exception("feed %s raised an unexpected error", self.feed.name)
            return self._failed(now, f"unexpected error in the feed: {type(exc).__name__}: {exc}")
        good, bad = check_samples(raw, self.catalogue, now, self.store.retention)
        result = self.store.write(good)
        if self.on_stored is not None and result.accepted:
            late = set(result.late)
            self._tell([s for s in good if s not in late])
        newest = max((s.ts for s in good), default=None)
        if newest is not None and (self.since is None or newest > self.since):
            self.since = newest
        if bad:
            log.warning("feed %s: %d sample(s) rejected, first: %s", self.feed.name, len(bad),
                        bad[0].reason)
        self.store.record_poll(
            self.feed.name, function=self.feed.function, interval=self.feed.interval, at=now,
            accepted=result.accepted, rejected=bad, late=len(result.late),
            duplicates=result.duplicates, newest_sample=self.since)
        if self.down:
            self.down = False
            log.info("feed %s recovered", self.feed.name)
            self.store.append_event("feed_recovered", {"feed": self.feed.name,
                                                       "function": self.feed.function}, at=now)
        return PollReport(self.feed.name, now, None, result.accepted, result.duplicates,
                          len(result.late), bad)

    def _tell(self, stored: Sequence[Sample]) -> None:
        assert self.on_stored is not None
        try:
            self.on_stored(stored)
        except StoreUnavailable:
            raise
        except Exception:  # the samples are stored; a failure downstream must not lose them
            log.exception("feed %s: the stored batch could not be evaluated", self.feed.name)

    def _failed(self, now: float, error: str) -> PollReport:
        self.store.record_poll(self.feed.name, function=self.feed.function,
                               interval=self.feed.interval, at=now, error=error)
        if not self.down:
            self.down = True
            log.error("feed %s is down: %s", self.feed.name, error)
            self.store.append_event("feed_down", {"feed": self.feed.name,
                                                  "function": self.feed.function,
                                                  "error": error}, at=now)
        return PollReport(self.feed.name, now, error)

    def poll_safely(self) -> None:
        """For the scheduler: a store outage is logged, not raised into APScheduler."""
        try:
            self.poll()
        except StoreUnavailable as exc:
            log.error("feed %s: poll not recorded: %s", self.feed.name, exc)
