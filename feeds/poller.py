"""The one generic poller: fetch from a feed, ingest the samples, record health.

A feed only fetches; everything else (retrying a fetch that failed, checking and storing
through the one ingest path, counting, quarantine, the feed's state, logging when that state
changes) happens here, the same way for every feed. Samples are checked against the
catalogue of the rules in force at that poll, so a reload that adds a metric is accepted at
once.

Retries. A fetch that raises ``FetchFailed`` is tried again within the same poll, up to
``Retry.attempts`` attempts in all. Before the n-th retry the poller waits a random time
between 0 and ``Retry.base * 2 ** (n - 1)`` seconds (exponential backoff with full jitter),
that bound capped at the feed's ``timeout`` (10 s for a feed without one). A wait that would
end at or after the next poll's due time (one poll interval, in real seconds, after this poll
began) is not taken: the poll fails there, and the next poll tries afresh. Any other
exception is a bug in the adapter: it is logged with its traceback and fails the poll at
once, without retries.

States. After each poll a feed is

    up         the poll succeeded, at the first attempt or after retries (retries are
               counted, and shown in /metrics, but do not change the state);
    degraded   the poll failed, and fewer than ``down_after`` (3) polls in a row have;
    down       ``down_after`` polls in a row have failed.

Only changes of state are recorded and logged, each once: up -> degraded is a
``feed_degraded`` event and a warning; up or degraded -> down a ``feed_down`` event and an
error; degraded or down -> up a ``feed_recovered`` event (with ``down_since`` when it had
been down) and an info line. Failed polls in between are counted, not logged again. A feed
that is down has ``down_since`` set in the store (from when its failed polls began), which
makes it unhealthy on every page and raises its ``feed`` alert; a degraded one is still
healthy unless its last success is more than three intervals old. The state, the failures
in a row and when they began are kept in the store, so a restarted worker goes on counting.

Every poll records, through ``Store.record_poll``: its time, duration and attempts, the
samples accepted, duplicated, late and rejected (by category, ``store.REJECTION_REASONS``),
the counts of polls and failed polls, and the state.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from feeds.base import Feed
from feeds.config import DEFAULT_TIMEOUT
from feeds.spool import Spool
from surge.catalogue import Catalogue
from surge.errors import FetchFailed, StoreUnavailable
from surge.events import (
    Event,
    FeedDegraded,
    FeedDown,
    FeedRecovered,
    Recorder,
    SamplesStored,
)
from surge.ingest import IngestReport, RawSample, feed_source, ingest
from surge.samples import Rejection, check_samples
from surge.store import Store

__all__ = ["DOWN_AFTER", "FeedPoller", "PollReport", "Retry"]

log = logging.getLogger(__name__)

DOWN_AFTER = 3  # failed polls in a row that take a feed down
DRAIN_AGAIN_AFTER = 15.0  # real seconds between tries to write a spool to a store still down


@dataclass(frozen=True)
class Retry:
    """How a poll retries a fetch that failed: ``attempts`` in all, waiting up to
    ``base * 2 ** (n - 1)`` seconds (a random part of it) before the n-th retry."""

    attempts: int = 3
    base: float = 0.5

    def __post_init__(self) -> None:
        if self.attempts < 1 or not self.base >= 0:
            raise ValueError(f"a retry needs at least 1 attempt and a base of 0 s or more, "
                             f"got {self.attempts} and {self.base!r}")

    def bound(self, retry: int, cap: float) -> float:
        """The longest wait before retry number ``retry`` (1 for the first), at most ``cap``."""
        return min(cap, self.base * 2 ** (retry - 1))


@dataclass(frozen=True)
class PollReport:
    feed: str
    at: float
    error: str | None = None
    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    attempts: int = 1
    duration: float = 0.0  # real seconds, retries and waits included
    state: str = "up"  # the feed's state after this poll

    @property
    def ok(self) -> bool:
        return self.error is None


class _Failed(Exception):
    """A poll's fetch failed for good: the message, and how many attempts it made."""

    def __init__(self, error: str, attempts: int) -> None:
        super().__init__(error)
        self.error = error
        self.attempts = attempts


class FeedPoller:
    """Polls one feed; remembers what it has delivered so each poll asks only for new data.

    ``sleep`` waits between attempts and ``jitter`` (0 <= x < 1) draws the part of each
    wait's bound taken: tests give their own, so that nothing waits. With a ``spool``
    (feeds/spool.py), samples taken while the store is down are kept and written first once
    it is back. The poll interval is
    Surge time; when ``clock`` is a ``surge.clock.Clock``, its ``real_seconds`` turns it into
    the real seconds a poll's retries must end within.
    """

    def __init__(self, feed: Feed, store: Store, catalogue: Catalogue | Callable[[], Catalogue],
                 clock: Callable[[], float] = time.time, interval: float | None = None,
                 publish: Callable[[Event], object] | None = None, *,
                 retry: Retry | None = None, down_after: int = DOWN_AFTER,
                 sleep: Callable[[float], object] = time.sleep,
                 jitter: Callable[[], float] = random.random,
                 spool: Spool | None = None,
                 drain_again_after: float = DRAIN_AGAIN_AFTER) -> None:
        if down_after < 1:
            raise ValueError(f"down_after must be 1 or more, got {down_after}")
        self.feed = feed
        self.store = store
        self._catalogue = catalogue
        self.clock = clock
        # where feed state goes: the worker's bus (its recorder puts it on the record)
        self.publish = publish or Recorder(store, clock).record
        self.interval = feed.interval if interval is None else interval  # Surge seconds
        self.retry = retry or Retry()
        self.down_after = down_after
        self.sleep = sleep
        self.jitter = jitter
        self.spool = spool  # where a poll's samples wait while the store is down
        self._next_drain = 0.0  # (monotonic) when to try writing the spool back again
        self.drain_again_after = drain_again_after
        timeout = getattr(feed, "timeout", None)
        self.timeout = float(timeout) if isinstance(timeout, int | float) and timeout > 0 \
            else DEFAULT_TIMEOUT  # real seconds: the longest wait between attempts
        self.completed: float | None = None  # the `now` of the last poll stored in full
        status = {s.name: s for s in store.feed_status()}.get(feed.name)
        self.since = status.last_sample if status else None
        self.state = status.state if status else "up"
        self.failures = status.failures if status else 0  # failed polls in a row
        # an older record knows it was down, not for how many polls
        if self.state == "down":
            self.failures = max(self.failures, down_after)
        self.failing_since = (status.failing_since or status.down_since) if status else None
        self.last_error = status.last_error if status and self.failures else None

    @property
    def down(self) -> bool:
        return self.state == "down"

    @property
    def real_interval(self) -> float:
        """The poll interval in real seconds: when the next poll is due after this one."""
        real_seconds = getattr(self.clock, "real_seconds", None)
        return float(real_seconds(self.interval)) if callable(real_seconds) else self.interval

    def poll(self, *, retry: bool = True) -> PollReport:
        """One poll. Never raises for a feed's failure: that is recorded and logged.
        ``retry`` False: one attempt only (for a poll something else is waiting on)."""
        started = time.monotonic()
        now = self.clock()
        try:
            raw, attempts = self._fetch(now, started, self.retry.attempts if retry else 1)
        except _Failed as failed:
            return self._failed(now, failed.error, failed.attempts, started)
        result = self._ingest(raw, now)
        bad = result.rejected
        if result.newest is not None and (self.since is None or result.newest > self.since):
            self.since = result.newest
        if bad:
            log.warning("feed %s: %d sample(s) rejected, first: %s", self.feed.name, len(bad),
                        bad[0].reason)
        took = time.monotonic() - started
        self.store.record_poll(
            self.feed.name, function=self.feed.function, interval=self.interval, at=now,
            accepted=result.accepted, rejected=bad, late=len(result.late),
            duplicates=result.duplicates, newest_sample=self.since, attempts=attempts,
            duration=took, state="up")
        if result.total:
            self.publish(SamplesStored(ts=now, source=feed_source(self.feed.name),
                                       accepted=result.accepted, rejected=len(bad),
                                       late=len(result.late), duplicates=result.duplicates,
                                       notices=result.notices))
        self.completed = now
        before, error, since = self.state, self.last_error, self.failing_since
        self.state, self.failures, self.failing_since, self.last_error = "up", 0, None, None
        if before != "up":
            log.info("feed %s recovered (it was %s)", self.feed.name, before)
            self.publish(FeedRecovered(ts=now, feed=self.feed.name, function=self.feed.function,
                                       error=error,
                                       down_since=since if before == "down" else None))
        return PollReport(self.feed.name, now, None, result.accepted, result.duplicates,
                          len(result.late), bad, attempts, took, "up")

    @property
    def catalogue(self) -> Catalogue:
        """The catalogue in force now (a provider is asked at every poll)."""
        return self._catalogue() if callable(self._catalogue) else self._catalogue

    def _fetch(self, now: float, started: float, most: int) -> tuple[list[RawSample], int]:
        """What the feed gives, and the attempts it took; _Failed when no attempt worked."""
        attempt = 1
        while True:
            try:
                return list(self.feed.fetch(self.since, now)), attempt
            except FetchFailed as exc:
                error = str(exc)
            except Exception as exc:  # an adapter bug must not stop the worker; it is made loud
                log.exception("feed %s raised an unexpected error", self.feed.name)
                raise _Failed(f"unexpected error in the feed: {type(exc).__name__}: {exc}",
                              attempt) from None
            if attempt >= most:
                raise _Failed(error, attempt)
            wait = self.jitter() * self.retry.bound(attempt, self.timeout)
            if time.monotonic() - started + wait >= self.real_interval:
                log.debug("feed %s: attempt %d failed (%s); no time to retry before the next "
                          "poll", self.feed.name, attempt, error)
                raise _Failed(error, attempt)
            log.debug("feed %s: attempt %d failed (%s); retrying in %.2f s", self.feed.name,
                      attempt, error, wait)
            self.sleep(wait)
            attempt += 1

    def _failed(self, now: float, error: str, attempts: int, started: float) -> PollReport:
        failures = self.failures + 1
        state = "down" if failures >= self.down_after else "degraded"
        since = self.failing_since if self.failing_since is not None else now
        took = time.monotonic() - started
        self.store.record_poll(self.feed.name, function=self.feed.function,
                               interval=self.interval, at=now, error=error, attempts=attempts,
                               duration=took, state=state, failing_since=since)
        before = self.state
        self.state, self.failures, self.failing_since, self.last_error = \
            state, failures, since, error
        name, function = self.feed.name, self.feed.function
        if state == "down" and before != "down":
            log.error("feed %s is down (%d failed polls in a row): %s", name, failures, error)
            self.publish(FeedDown(ts=now, feed=name, function=function, error=error))
        elif state == "degraded" and before == "up":
            log.warning("feed %s is failing (down after %d failed polls in a row): %s", name,
                        self.down_after, error)
            self.publish(FeedDegraded(ts=now, feed=name, function=function, error=error))
        else:
            log.debug("feed %s: poll failed again (%d in a row): %s", name, failures, error)
        return PollReport(name, now, error, attempts=attempts, duration=took, state=state)

    def _ingest(self, raw: list[RawSample], now: float) -> IngestReport:
        """Store a poll's samples; while the store is down, keep them in the feed's spool
        (written first, in order, once the store is back) and raise StoreUnavailable."""
        source = feed_source(self.feed.name)
        spool = self.spool
        if spool is None:
            return ingest(self.store, self.catalogue, raw, source=source, now=now)
        # What it cannot write stays, in order; while the store stays down, polls spool
        # without waiting on it again (a write to a frozen store takes its timeout).
        if spool.pending() and time.monotonic() >= self._next_drain \
                and spool.drain(self.store).left:
            self._next_drain = time.monotonic() + self.drain_again_after
        if spool.pending():  # the store is still down: these go behind the others
            self._keep(spool, source, raw, now)
            raise StoreUnavailable(f"{self.store.where}: the spool could not be written yet")
        try:
            return ingest(self.store, self.catalogue, raw, source=source, now=now)
        except StoreUnavailable:
            self._next_drain = time.monotonic() + self.drain_again_after
            self._keep(spool, source, raw, now)
            raise

    def _keep(self, spool: Spool, source: str, raw: list[RawSample], now: float) -> None:
        good, bad = check_samples(raw, self.catalogue, now, self.store.retention)
        kept = spool.add(source, good)
        if good and kept:
            self.since = max([s.ts for s in good] + ([self.since] if self.since else []))
        log.error("feed %s: the store is unavailable: %d sample(s) %s %s, %d rejected "
                  "sample(s) not quarantined", self.feed.name, len(good),
                  "kept in" if kept else "DROPPED: the spool is full,", spool.path, len(bad))

    def poll_safely(self, *, retry: bool = True) -> None:
        """For the scheduler: a store outage is logged, not raised into APScheduler."""
        try:
            self.poll(retry=retry)
        except StoreUnavailable as exc:
            log.error("feed %s: poll not recorded: %s", self.feed.name, exc)
