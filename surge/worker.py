"""The worker: APScheduler runs one polling job per feed, plus a heartbeat.

Each job runs at its feed's interval with ``max_instances=1`` (a slow poll is never run
twice at once), ``coalesce=True`` (missed runs collapse into one) and a little jitter (feeds
polled together do not all hit their sources in the same second).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from feeds.base import Feed
from feeds.poller import FeedPoller
from surge.catalogue import Catalogue
from surge.errors import StoreUnavailable
from surge.store import Store

if TYPE_CHECKING:
    from surge.rules.live import LiveEngine

__all__ = ["HEARTBEAT_SECONDS", "TICK_SECONDS", "Worker"]

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 10
TICK_SECONDS = 5.0  # the rules engine's tick: time-based changes are at most this late


class Worker:
    """Polls every feed on its own schedule, and runs the rules engine, until stopped."""

    def __init__(self, store: Store, catalogue: Catalogue, feeds: Sequence[Feed],
                 clock: Callable[[], float] = time.time, rules_path: Path | None = None,
                 tick_seconds: float = TICK_SECONDS) -> None:
        self.store = store
        self.catalogue = catalogue
        self.clock = clock
        self.rules_path = rules_path
        self.tick_seconds = tick_seconds
        self.engine: LiveEngine | None = None
        self.pollers = [FeedPoller(feed, store, catalogue, clock) for feed in feeds]
        self.scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
            "max_instances": 1, "coalesce": True, "misfire_grace_time": 30})
        self.started = clock()

    def start(self) -> None:
        if self.rules_path is not None:
            self._start_engine(self.rules_path)
        for poller in self.pollers:
            interval = poller.feed.interval
            self.scheduler.add_job(
                poller.poll_safely, IntervalTrigger(seconds=interval, jitter=min(2.0, interval / 10)),
                id=poller.feed.name, name=f"poll {poller.feed.name}", next_run_time=_now())
        self.scheduler.add_job(self.beat, IntervalTrigger(seconds=HEARTBEAT_SECONDS),
                               id="heartbeat", next_run_time=_now())
        self.scheduler.start()
        self.store.append_event("worker_started", {"pid": os.getpid(),
                                                   "feeds": [p.feed.name for p in self.pollers],
                                                   "rules_version": self.catalogue.version})
        log.info("worker polling %d feed(s): %s", len(self.pollers),
                 ", ".join(p.feed.name for p in self.pollers))

    def _start_engine(self, rules_path: Path) -> None:
        from surge.rules.live import LiveEngine

        if not self.store.has_engine_state():
            # first start: poll once so the engine's warm start sees the feeds' backfill
            for poller in self.pollers:
                poller.poll_safely()
        self.engine = LiveEngine(self.store, rules_path, self.clock)
        for poller in self.pollers:
            poller.on_stored = self.engine.ingest
        self.scheduler.add_job(self.engine.safe_tick, IntervalTrigger(seconds=self.tick_seconds),
                               id="rules", name="rules engine tick", next_run_time=_now())

    def beat(self) -> None:
        version = self.engine.rules.version if self.engine else self.catalogue.version
        try:
            self.store.heartbeat({"pid": os.getpid(), "started": f"{self.started:.3f}",
                                  "rules_version": version})
        except StoreUnavailable as exc:
            log.error("heartbeat not recorded: %s", exc)

    def stop(self) -> None:
        self.scheduler.shutdown(wait=True)
        with contextlib.suppress(StoreUnavailable):
            self.store.append_event("worker_stopped", {"pid": os.getpid()})


def _now() -> datetime:
    return datetime.now(UTC)
