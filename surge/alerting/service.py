"""Alerting in the active worker: the config (taken up again when its file changes), the
lifecycle loop, and the dispatcher.

The loop runs a lifecycle step as soon as something it cares about happens on the worker's
bus (a level changed, a feed went down or came back, a declaration, a rules file rejected or
loaded), when the next escalation, repeat or group falls due, and at least every second.
From a stored sample to a webhook that is one engine step, one lifecycle step and one send.

A standby that becomes active starts its own service and goes on from the store: alerts,
acknowledgements, groups waiting and the outbox are all there.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from surge.alerting.book import AlertBook
from surge.alerting.config import AlertingConfig, load_alerting
from surge.alerting.lifecycle import Alerter
from surge.alerting.outbox import Dispatcher
from surge.bus import Bus
from surge.catalogue import Catalogue
from surge.clock import Clock
from surge.errors import ConfigError, StoreUnavailable
from surge.events import (
    DeclarationWithdrawn,
    Declared,
    Event,
    FeedDown,
    FeedRecovered,
    LevelChanged,
    LevelFresh,
    LevelStale,
    RulesLoaded,
    RulesRejected,
)
from surge.settings import Settings
from surge.store import Store

__all__ = ["AlertService", "ConfigSource"]

log = logging.getLogger(__name__)
STEP_EVERY = 1.0  # real seconds between lifecycle steps when nothing happens
RULES_CONDITION = "rules:rules"


class ConfigSource:
    """The alerting config from its file, read again when the file changes. A file that no
    longer checks keeps the last good config in force and raises a ``rules`` alert."""

    def __init__(self, path: Path, book: AlertBook, clock: Callable[[], float]) -> None:
        self.path = path
        self.book = book
        self.clock = clock
        self._config: AlertingConfig | None = None
        self._stamp: tuple[float, int] | None = None
        self.error: str | None = None
        self._lock = threading.Lock()

    def __call__(self) -> AlertingConfig | None:
        with self._lock:
            try:
                stat = self.path.stat()
                stamp = (stat.st_mtime, stat.st_size)
            except OSError:
                if self._stamp is not None or self._config is None:
                    if self._config is None and self._stamp != (0.0, -1):
                        log.warning("no alerting config at %s: nobody is alerted", self.path)
                    self._stamp = (0.0, -1)
                return self._config
            if stamp == self._stamp:
                return self._config
            self._stamp = stamp
            try:
                config = load_alerting(self.path)
            except ConfigError as exc:
                self.error = str(exc)
                log.error("alerting config %s rejected; %s: %s", self.path,
                          "keeping the one in force" if self._config else "nobody is alerted",
                          exc)
                self._raise(str(exc))
                return self._config
            if self._config is None or config.version != self._config.version:
                log.info("alerting config %s (version %s) in force", self.path, config.version)
            self._config = config
            self.error = None
            self._clear()
            return config

    def _raise(self, text: str) -> None:
        with contextlib.suppress(StoreUnavailable):
            self.book.raise_condition(f"rules:{self.path.name}", {
                "kind": "rules", "name": self.path.name,
                "title": f"The alerting config {self.path.name} was rejected",
                "reason": text[:300], "since": self.clock()})

    def _clear(self) -> None:
        with contextlib.suppress(StoreUnavailable):
            self.book.clear_condition(f"rules:{self.path.name}")


class AlertService:
    """Started when the worker becomes active, stopped when it stands down."""

    def __init__(self, store: Store, settings: Settings, catalogue: Callable[[], Catalogue],
                 clock: Clock, bus: Bus, *, step_every: float = STEP_EVERY) -> None:
        self.store = store
        self.book = AlertBook(store)
        self.clock = clock
        self.bus = bus
        self.step_every = step_every
        self.config = ConfigSource(settings.alerting, self.book, clock)
        self.dispatcher = Dispatcher(store, self.config, smtp_url=lambda: settings.smtp_url,
                                     publish=bus.publish, clock=clock)
        self.alerter = Alerter(store, self.config, catalogue, clock, publish=bus.publish,
                               public_url=settings.link_base,
                               exercise=lambda: clock.exercise_mode,
                               wake_dispatcher=self.dispatcher.wake)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    def start(self) -> None:
        self._unsubscribe.append(self.bus.subscribe(
            self._noticed, LevelChanged, LevelStale, LevelFresh, FeedDown, FeedRecovered,
            Declared, DeclarationWithdrawn, RulesLoaded, RulesRejected))
        self.dispatcher.start()
        self._thread = threading.Thread(target=self._loop, name="alerting", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.dispatcher.stop()

    def _noticed(self, event: Event) -> None:
        try:
            if isinstance(event, RulesRejected):
                self.book.raise_condition(RULES_CONDITION, {
                    "kind": "rules", "name": "rules",
                    "title": "A rules file was rejected; the rules before it stay in force",
                    "reason": (f"{event.source}: {event.problems[0]}" if event.problems
                               else event.cause or event.source)[:300],
                    "since": event.ts})
            elif isinstance(event, RulesLoaded):
                self.book.clear_condition(RULES_CONDITION)
        except StoreUnavailable as exc:
            log.error("alerting: %s", exc)
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            wait = self.step_every
            try:
                due = self.alerter.step()
                if due is not None:
                    wait = min(wait, max(0.0, self.clock.real_seconds(due - self.clock())))
            except StoreUnavailable as exc:
                log.error("alerting paused: %s", exc)
            except Exception:  # loud, then go on: alerting must not stop for a bug
                log.exception("alerting step failed")
            self._wake.wait(max(wait, 0.01))
            self._wake.clear()

    def step_now(self) -> None:
        """Run one lifecycle step in the caller's thread (tests, and `surge alerts`)."""
        self.alerter.step()
        time.sleep(0)
