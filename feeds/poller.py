"""The one generic poller: fetch from a feed, ingest the samples, record health.

A feed only fetches; everything else (checking and storing through the one ingest path,
counting, quarantine, logging when a feed goes down and when it recovers) happens here, the
same way for every feed. Samples are checked against the catalogue of the rules in force at
that poll, so a reload that adds a metric is accepted at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from feeds.base import Feed
from surge.catalogue import Catalogue
from surge.errors import FetchFailed, StoreUnavailable
from surge.events import Event, FeedDown, FeedRecovered, Recorder, SamplesStored
from surge.ingest import feed_source, ingest
from surge.samples import Rejection
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

    def __init__(self, feed: Feed, store: Store, catalogue: Catalogue | Callable[[], Catalogue],
                 clock: Callable[[], float] = time.time, interval: float | None = None,
                 publish: Callable[[Event], object] | None = None) -> None:
        self.feed = feed
        self.store = store
        self._catalogue = catalogue
        self.clock = clock
        # where feed state goes: the worker's bus (its recorder puts it on the record)
        self.publish = publish or Recorder(store, clock).record
        self.interval = feed.interval if interval is None else interval  # Surge seconds
        self.completed: float | None = None  # the `now` of the last poll stored in full
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
        result = ingest(self.store, self.catalogue, raw, source=feed_source(self.feed.name), now=now)
        bad = result.rejected
        if result.newest is not None and (self.since is None or result.newest > self.since):
            self.since = result.newest
        if bad:
            log.warning("feed %s: %d sample(s) rejected, first: %s", self.feed.name, len(bad),
                        bad[0].reason)
        self.store.record_poll(
            self.feed.name, function=self.feed.function, interval=self.interval, at=now,
            accepted=result.accepted, rejected=bad, late=len(result.late),
            duplicates=result.duplicates, newest_sample=self.since)
        if result.total:
            self.publish(SamplesStored(ts=now, source=feed_source(self.feed.name),
                                       accepted=result.accepted, rejected=len(bad),
                                       late=len(result.late), duplicates=result.duplicates,
                                       notices=result.notices))
        self.completed = now
        if self.down:
            self.down = False
            log.info("feed %s recovered", self.feed.name)
            self.publish(FeedRecovered(ts=now, feed=self.feed.name, function=self.feed.function))
        return PollReport(self.feed.name, now, None, result.accepted, result.duplicates,
                          len(result.late), bad)

    @property
    def catalogue(self) -> Catalogue:
        """The catalogue in force now (a provider is asked at every poll)."""
        return self._catalogue() if callable(self._catalogue) else self._catalogue

    def _failed(self, now: float, error: str) -> PollReport:
        self.store.record_poll(self.feed.name, function=self.feed.function,
                               interval=self.interval, at=now, error=error)
        if not self.down:
            self.down = True
            log.error("feed %s is down: %s", self.feed.name, error)
            self.publish(FeedDown(ts=now, feed=self.feed.name, function=self.feed.function,
                                  error=error))
        return PollReport(self.feed.name, now, error)

    def poll_safely(self) -> None:
        """For the scheduler: a store outage is logged, not raised into APScheduler."""
        try:
            self.poll()
        except StoreUnavailable as exc:
            log.error("feed %s: poll not recorded: %s", self.feed.name, exc)
