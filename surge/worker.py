"""The worker: one active process polls the feeds and runs the rules engine; others stand by.

Any number of ``surge worker`` processes may run against one store. Exactly one is active:
it holds a lease in the store that it renews every second; the others are hot standbys
that try to take the lease every second. When the active one dies, its lease expires and a
standby takes over within LEASE_SECONDS + BEAT_SECONDS, continuing the engine from the state
it saved (which is saved with its events in one transaction, so no change of level is lost
or recorded twice).

While active, APScheduler runs one polling job per feed (``max_instances=1``: a slow poll is
never run twice at once; ``coalesce``: missed runs collapse into one; a little jitter), and
one engine thread evaluates every stored batch as soon as its notice arrives (whoever wrote
it: a poller here or in another process, ``surge ink`` from the CLI) and ticks for what time
alone changes. Feeds are polled every ``interval`` of Surge time, so an exercise at x60 polls
sixty times as often, but never more than once a real second (MIN_POLL_SECONDS).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from feeds.base import Feed
from feeds.poller import FeedPoller
from feeds.spool import Spool
from surge.bus import Bus
from surge.catalogue import Catalogue
from surge.clock import LIVE, Clock
from surge.errors import ConfigError, LeaseLost, StoreUnavailable
from surge.events import (
    Recorder,
    StoreDown,
    StoreUp,
    WorkerStarted,
    WorkerStopped,
    WorkerTookOver,
)
from surge.ingest import polled
from surge.store import Store

if TYPE_CHECKING:
    from surge.alerting.service import AlertService
    from surge.alerting.watch import WorkerWatch
    from surge.rules.live import LiveEngine
    from surge.settings import Settings

__all__ = ["BEAT_SECONDS", "ENGINE_STALLED_SECONDS", "LEASE_SECONDS", "MIN_POLL_SECONDS",
           "TICK_SECONDS", "Worker", "engine_stalled"]

log = logging.getLogger(__name__)
LEASE_SECONDS = 5.0  # real seconds: an active worker silent this long is replaced
BEAT_SECONDS = 1.0  # real seconds between lease renewals (active) and attempts (standby)
MIN_POLL_SECONDS = 1.0  # real seconds: a feed is never polled more often than this
TICK_SECONDS = 5.0  # Surge seconds: time-based changes are recorded at most this late
FEEDS_FILE_CHECK = 5.0  # real seconds between looks at the feeds file's time stamp
ARCHIVE_EVERY = 600.0  # real seconds between looks for days that have left the hot window
ARCHIVE_CONDITION = "archive:archive"  # the alert raised while archiving fails
MIN_TICK_SECONDS = 0.25  # real seconds between ticks, however fast the clock runs
ENGINE_STALLED_SECONDS = 30.0  # real seconds without an engine step: it is stuck; say so


class Worker:
    """Polls every feed and runs the rules engine while it holds the lease; stands by otherwise."""

    def __init__(self, store: Store, catalogue: Catalogue, feeds: Sequence[Feed],
                 clock: Clock = LIVE, rules_path: Path | None = None,
                 tick_seconds: float = TICK_SECONDS, worker_id: str | None = None,
                 lease_seconds: float = LEASE_SECONDS, beat_seconds: float = BEAT_SECONDS,
                 settings: Settings | None = None) -> None:
        self.store = store
        self.catalogue = catalogue
        self.clock = clock
        self.rules_path = rules_path
        self.tick_seconds = tick_seconds
        self.lease_seconds = lease_seconds
        self.beat_seconds = beat_seconds
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.bus = Bus()  # what happens here; the recorder puts it on the record
        self.recorder = Recorder(store, clock)
        self.recorder.attach(self.bus)
        self.feeds = list(feeds)
        self.engine: LiveEngine | None = None
        self.pollers: list[FeedPoller] = []
        self.started = time.time()
        self.active = False
        self._stopping = threading.Event()
        self._halt_engine = threading.Event()
        self._threads: list[threading.Thread] = []
        self._scheduler: BackgroundScheduler | None = None
        self._lock = threading.RLock()
        self._store_down: tuple[float, float, str] | None = None  # (monotonic, Surge time, error)
        self._feeds_file: tuple[Path, float, int] | None = None  # the feeds file as last read
        self.engine_step: float | None = None  # real time the engine last finished a step
        self.settings = settings  # alerting runs while active when given (its config path)
        self._feed_digests = self._digests_now()  # each entry of the feeds file: what changed
        self.alerting: AlertService | None = None
        self.watch: WorkerWatch | None = None

    # --- lifetime ------------------------------------------------------------------------

    def start(self) -> None:
        """Take the lease if free (become active at once), then keep it or wait for it."""
        self._beat()
        if self.settings is not None:  # while standing by: alert if no worker is active
            from surge.alerting.watch import WorkerWatch

            self.watch = WorkerWatch(self.store, self.settings, self.clock,
                                     exercise=lambda: self.clock.exercise_mode, who=self.id)
            self.watch.start()
        thread = threading.Thread(target=self._lease_loop, name="worker-lease", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        if self.watch is not None:
            self.watch.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        with self._lock:
            was_active = self.active
            self._deactivate()
        with contextlib.suppress(StoreUnavailable):
            if was_active:
                self.store.release_lease(self.id)
                self.bus.publish(WorkerStopped(ts=self.clock(), worker=self.id, pid=os.getpid(),
                                               host=socket.gethostname()))
            self.store.worker_gone(self.id)

    def wait_until_active(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.active and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.active

    # --- the lease ---------------------------------------------------------------------

    def _lease_loop(self) -> None:
        while not self._stopping.wait(self.beat_seconds):
            self._beat()

    def _beat(self) -> None:
        try:
            with self._lock:
                if self._stopping.is_set():
                    return
                if self.active:
                    # a lease that lapsed while the store was unreachable, and that nobody
                    # else took meanwhile, is simply taken again
                    if not (self.store.renew_lease(self.id, self.lease_seconds)
                            or self.store.acquire_lease(self.id, self.lease_seconds)):
                        log.error("worker %s lost its lease to another worker; standing by",
                                  self.id)
                        self._deactivate()
                elif self.store.acquire_lease(self.id, self.lease_seconds):
                    self._activate()
                self.store.worker_beat(self.id, self._info(), self.lease_seconds)
            if self._store_down is not None:
                self._store_back()
        except StoreUnavailable as exc:
            if self._store_down is None:
                self._store_down = (time.monotonic(), self.clock(), str(exc))
                log.error("worker cannot reach the store: %s", exc)

    def _store_back(self) -> None:
        """The store answers again: put the outage on the record (it could not be, during it)."""
        assert self._store_down is not None
        started, since, error = self._store_down
        log.warning("store reachable again after %.0f s", time.monotonic() - started)
        if self.store.events(start=since - 60, kinds={"store_up"}):
            self._store_down = None  # whoever restarted it (surge run) has recorded it
            return
        self.recorder.record_many([
            StoreDown(ts=since, where=self.store.where, error=error),
            StoreUp(ts=self.clock(), where=self.store.where, down_since=since)])
        self._store_down = None

    def _info(self) -> dict[str, object]:
        version = self.engine.rules.version if self.engine else self.catalogue.version
        return {"pid": os.getpid(), "host": socket.gethostname(),
                "role": "active" if self.active else "standby",
                "started": f"{self.started:.3f}", "rules_version": version,
                "feeds": [f.name for f in self.feeds],
                # liveness of the engine itself, judged in real time by readers
                "engine_step": round(self.engine_step, 3) if self.engine_step else None}

    # --- becoming active, and standing down --------------------------------------------

    def _activate(self) -> None:
        previous = self.store.took_lease(self.id)
        self.active = True
        self._halt_engine.clear()
        now = self.clock()
        self.pollers = [self._poller(feed) for feed in self.feeds
                        if getattr(feed, "polled", True)]
        # (a push feed is never polled: its system sends to POST /api/v1/samples)
        self._expect(self.feeds, now)
        kind = WorkerTookOver if previous else WorkerStarted
        extra = {} if previous else {"feeds": tuple(f.name for f in self.feeds),
                                     "rules_version": self.catalogue.version}
        self.bus.publish(kind(ts=now, worker=self.id, pid=os.getpid(), host=socket.gethostname(),
                              previous=previous, **extra))  # type: ignore[arg-type]
        if self.rules_path is not None:
            self._start_engine(self.rules_path)
        scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
            "max_instances": 1, "coalesce": True, "misfire_grace_time": 30})
        for poller in self.pollers:
            self._schedule(scheduler, poller)
        self._feeds_file = self._feeds_stamp()
        if self._feeds_file is not None:
            scheduler.add_job(self._reload_feeds, IntervalTrigger(seconds=FEEDS_FILE_CHECK),
                              id=" feeds file", name="check the feeds file")
        if self.settings is not None:
            scheduler.add_job(self._archive, IntervalTrigger(seconds=ARCHIVE_EVERY),
                              id=" archive", name="archive days older than the hot window",
                              next_run_time=_now())
        scheduler.start()
        self._scheduler = scheduler
        if self.settings is not None:
            from surge.alerting.service import AlertService

            self.alerting = AlertService(self.store, self.settings, self.current_catalogue,
                                         self.clock, self.bus)
            self.alerting.start()
        log.info("worker %s is active, polling %d feed(s): %s", self.id, len(self.pollers),
                 ", ".join(p.feed.name for p in self.pollers))

    def _archive(self) -> None:
        """Archive, then trim from the store, the days that have left the hot window. A
        failure is on the record (archive_failed) and tried again next time."""
        from surge.alerting.book import AlertBook
        from surge.archive import ArchiveError, archive_due
        from surge.context import open_archive
        from surge.events import Recorder

        assert self.settings is not None
        try:
            done = archive_due(self.store, open_archive(self.settings), self.clock(),
                               Recorder(self.store, self.clock))
        except ArchiveError as exc:
            log.error("archiving failed (the days stay in the store): %s", exc)
            with contextlib.suppress(StoreUnavailable):
                AlertBook(self.store).raise_condition(ARCHIVE_CONDITION, {
                    "kind": "archive", "name": "archive",
                    "title": "Archiving failed: days older than the hot window stay in the "
                             "store, for 7 days at most",
                    "reason": str(exc)[:300], "since": self.clock()})
        except StoreUnavailable as exc:
            log.warning("archiving waits for the store: %s", exc)
        else:
            if done:
                log.info("archived %s", ", ".join(d.name for d in done))
            with contextlib.suppress(StoreUnavailable):
                AlertBook(self.store).clear_condition(ARCHIVE_CONDITION)

    def _poller(self, feed: Feed) -> FeedPoller:
        return FeedPoller(feed, self.store, self.current_catalogue, self.clock,
                          interval=self.poll_interval(feed), publish=self.bus.publish,
                          spool=self._spool(feed))

    def _schedule(self, scheduler: BackgroundScheduler, poller: FeedPoller) -> None:
        real = self.clock.real_seconds(poller.interval)
        scheduler.add_job(poller.poll_safely,
                          IntervalTrigger(seconds=real, jitter=min(2.0, real / 10)),
                          id=poller.feed.name, name=f"poll {poller.feed.name}",
                          next_run_time=_now())

    # --- the feeds file, read again when it changes ------------------------------------

    def _feeds_stamp(self) -> tuple[Path, float, int] | None:
        """(path, mtime, size) of the feeds file in force; None without one."""
        path = self.settings.feeds_path if self.settings is not None else None
        if path is None:
            return None
        try:
            stat = path.stat()
        except OSError:
            return (path, 0.0, -1)
        return (path, stat.st_mtime, stat.st_size)

    def _reload_feeds(self) -> None:
        """When the feeds file has changed: build its feeds; poll the new and changed ones
        from now on and stop polling those gone. A file with problems changes nothing: every
        problem is logged, and the feeds polled go on."""
        stamp = self._feeds_stamp()
        if stamp is None or stamp == self._feeds_file or not self.active:
            return
        self._feeds_file = stamp
        from feeds.config import entry_digests
        from feeds.registry import build_feeds

        assert self.settings is not None
        try:
            feeds = build_feeds(self.settings, self.current_catalogue(), self.clock)
            digests = entry_digests(stamp[0])
        except ConfigError as exc:
            log.error("feeds file %s NOT taken up: %d problem(s); the feeds polled go on:\n%s",
                      stamp[0], len(exc.problems), "\n".join(str(p) for p in exc.problems))
            return
        before = self._feed_digests
        keep = {name for name, digest in digests.items() if before.get(name) == digest}
        scheduler = self._scheduler
        with self._lock:
            gone = [p for p in self.pollers if p.feed.name not in keep]
            for poller in gone:
                if scheduler is not None:
                    with contextlib.suppress(Exception):
                        scheduler.remove_job(poller.feed.name)
                _close(poller.feed)
            kept = [p for p in self.pollers if p.feed.name in keep]
            added = [self._poller(f) for f in feeds
                     if f.name not in keep and getattr(f, "polled", True)]
            for feed in feeds:  # built again for an unchanged entry: not needed
                if feed.name in keep:
                    _close(feed)
            self.feeds = [f for f in self.feeds if f.name in keep] + \
                [f for f in feeds if f.name not in keep]
            self.pollers = kept + added
            self._feed_digests = digests
            if scheduler is not None:
                for poller in added:
                    self._schedule(scheduler, poller)
        self._expect(self.feeds, self.clock())
        log.warning("feeds file %s taken up: %d feed(s) polled; new or changed: %s; stopped: %s",
                    stamp[0], len(self.pollers), ", ".join(p.feed.name for p in added) or "none",
                    ", ".join(sorted({p.feed.name for p in gone}
                                     - {p.feed.name for p in added})) or "none")

    def _expect(self, feeds: list[Feed], now: float) -> None:
        """Put every feed on the record, so one never heard from shows (WAITING, then
        unhealthy with its alert) rather than being missing from /status."""
        try:
            self.store.expect_feeds([(f.name, f.function, f.interval) for f in feeds], now)
        except StoreUnavailable as exc:  # its first poll records it anyway
            log.warning("feeds not put on the record: %s", exc)

    def _spool(self, feed: Feed) -> Spool | None:
        """Where the feed's samples wait while the store is down: under the data dir."""
        return Spool(self.settings.data_dir, feed.name) if self.settings is not None else None

    def _deactivate(self) -> None:
        if not self.active:
            return
        self.active = False
        self._halt_engine.set()
        if self.alerting is not None:
            self.alerting.stop()
            self.alerting = None
        if self._scheduler is not None:
            with contextlib.suppress(Exception):
                self._scheduler.shutdown(wait=True)
            self._scheduler = None
        for thread in [t for t in self._threads if t.name == "rules-engine"]:
            thread.join(timeout=10)
            self._threads.remove(thread)
        self.engine = None

    def _digests_now(self) -> dict[str, str]:
        path = self.settings.feeds_path if self.settings is not None else None
        if path is None:
            return {}
        from feeds.config import entry_digests

        try:
            return entry_digests(path)
        except ConfigError:
            return {}

    def watermark(self) -> float:
        """The Surge time by which every healthy feed has delivered: the oldest of their last
        completed polls, but never more than two poll intervals behind now (a feed that has
        stopped must not hold time back: its data have to be seen going stale)."""
        now = self.clock()
        pollers = list(self.pollers)
        if not pollers:
            return now
        done = [p.completed for p in pollers if not p.down and p.completed is not None]
        floor = now - 2 * max(p.interval for p in pollers)
        return min(now, max(min(done, default=floor), floor))

    def poll_interval(self, feed: Feed) -> float:
        """Surge seconds between polls of ``feed``: its interval, or more at high speed."""
        return max(feed.interval, MIN_POLL_SECONDS * self.clock.speed)

    def current_catalogue(self) -> Catalogue:
        """The catalogue of the rules in force (after a reload, the new one)."""
        return self.engine.rules.catalogue if self.engine is not None else self.catalogue

    # --- the rules engine ---------------------------------------------------------------

    def _start_engine(self, rules_path: Path) -> None:
        from surge.rules.live import LiveEngine

        # Poll once first: on a first start the warm start then sees the feeds' backfill; on
        # a takeover the feeds fill the gap since the last stored sample, so the engine's
        # catch-up reads it in time order, as a backtest would, not as late samples. The
        # engine thread then reads every notice from before that poll, skipping the samples
        # the catch-up has already read.
        before = self.store.last_notice()
        for poller in self.pollers:  # once each, no retries: the engine waits on these
            poller.poll_safely(retry=False)
        self.engine = LiveEngine(self.store, rules_path, self.clock, who=f"worker {self.id}",
                                 horizon=self.watermark, bus=self.bus, fence=self.id)
        caught_up_to = self.engine.evaluator.t / 1000
        thread = threading.Thread(target=self._engine_loop, args=(before, caught_up_to),
                                  name="rules-engine", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _engine_loop(self, cursor: str, caught_up_to: float) -> None:
        """Evaluate each stored batch as its notice arrives; tick between them."""
        engine = self.engine
        assert engine is not None
        # notices written before the engine caught up may hold samples it has already read
        overlap_until = self._safe_last_notice(cursor)
        tick_real = max(self.clock.real_seconds(self.tick_seconds), MIN_TICK_SECONDS)
        next_tick = time.monotonic()
        paused = False  # log a pause once, and the resumption once, not every second
        while not self._halt_engine.is_set() and not self._stopping.is_set():
            try:
                wait = max(0.0, min(next_tick - time.monotonic(), 1.0))
                for notice in self.store.notices(cursor, block_ms=max(1, int(wait * 1000))):
                    samples = notice.samples
                    if _id_le(notice.id, overlap_until):
                        samples = [s for s in samples if s.ts > caught_up_to]
                    if not self._halt_engine.is_set():
                        engine.ingest(samples, pushed=not polled(notice.source))
                    cursor = notice.id
                if time.monotonic() >= next_tick and not self._halt_engine.is_set():
                    engine.tick()
                    next_tick = time.monotonic() + tick_real
                self.engine_step = time.time()
                if paused:
                    log.warning("rules engine resumed")
                    paused = False
            except StoreUnavailable as exc:
                if not paused:
                    log.error("rules engine paused: %s", exc)
                    paused = True
                self._halt_engine.wait(1.0)
            except LeaseLost as exc:  # another worker is active: it carries on from here
                log.error("rules engine stopped: %s", exc)
                self._halt_engine.wait(1.0)
            except Exception:  # a bug must not silently stop evaluation: loud, then go on
                log.exception("rules engine step failed")
                self._halt_engine.wait(1.0)

    def _safe_last_notice(self, fallback: str) -> str:
        try:
            return self.store.last_notice()
        except StoreUnavailable:
            return fallback


def engine_stalled(info: dict[str, object], now: float | None = None) -> float | None:
    """Seconds since the active worker's engine last finished a step, when that is too long
    (it is stuck: a bug, or a rules file it cannot get through); None when it is fine."""
    step = info.get("engine_step")
    if not isinstance(step, int | float):
        return None
    idle = (time.time() if now is None else now) - step
    return idle if idle > ENGINE_STALLED_SECONDS else None


def _id_le(a: str, b: str) -> bool:
    """Stream id a <= stream id b."""
    ams, _, aseq = a.partition("-")
    bms, _, bseq = b.partition("-")
    return (int(ams), int(aseq or 0)) <= (int(bms), int(bseq or 0))


def _now() -> datetime:
    return datetime.now(UTC)


def _close(feed: Feed) -> None:
    """Let a feed no longer polled go of what it holds (connections, files), if it holds any."""
    close = getattr(feed, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()
