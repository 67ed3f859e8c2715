"""What one dashboard app needs at run time: settings, clock, the catalogue and the store.

The clock is the run's (surge/clock.py): given by `surge run`, otherwise the one the worker
published in the store, so that a web process under gunicorn shows exercise time during an
exercise. The catalogue is the rules version in force (published by the worker): a reload
reaches every web process within one refresh, without a restart.

It also holds the views pages have built (dashboard/viewcache.py), shared by every screen,
and which role each state-changing callback needs (``callback_roles``, filled
by pages when they register callbacks; see dashboard/auth.py). One DashboardContext per
app, kept on the Flask server (``server.extensions["surge"]``), never in module globals,
so each gunicorn worker has its own. Nothing here contacts Redis until a page asks for the
store, and the store is created once, on first use.

The web process's store gives up quickly (Store.for_web: 1 s to connect, 2 s for an answer,
then no more asking for a moment), even when it shares a server with a worker that waits
longer: a page must say within seconds that the store is not answering, not hang on.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

import flask

from dashboard.viewcache import ViewCache
from surge.catalogue import Catalogue, load_catalogue
from surge.clock import Clock
from surge.context import open_history, open_store
from surge.errors import ConfigError, StoreUnavailable
from surge.history import History
from surge.inforce import rules_from_text
from surge.settings import Settings
from surge.store import Store

__all__ = ["EXTENSION", "DashboardContext", "current"]

log = logging.getLogger(__name__)
EXTENSION = "surge"
FOLLOW_SECONDS = 2.0  # real seconds between looks at the published clock and rules version


class DashboardContext:
    """Settings, clock, catalogue and a lazily opened store for one app."""

    def __init__(self, settings: Settings, store: Store | None = None,
                 clock: Clock | Callable[[], float] | None = None,
                 settings_error: ConfigError | None = None) -> None:
        self.settings = settings
        if clock is not None and not isinstance(clock, Clock):
            clock = Clock(real=clock)  # a bare time function (tests): live mode at that time
        self._fixed_clock = clock  # None: follow the clock published in the store
        self._run_clock = clock or Clock()
        self._clock_checked = 0.0
        self.settings_error = settings_error
        self._store = store.for_web() if store is not None else None
        self._catalogue: Catalogue | None = None
        self._catalogue_error: ConfigError | None = None
        self._published_version: str | None = None
        self._version_checked = 0.0
        self._lock = threading.Lock()
        # output component id prefix -> least role; callbacks not listed are read-only (viewer)
        self.callback_roles: dict[str, str] = {}
        self.views = ViewCache()  # pages' views, built once per data change (viewcache.py)
        self._load_catalogue()

    @classmethod
    def from_env(cls, store: Store | None = None,
                 clock: Clock | Callable[[], float] | None = None) -> DashboardContext:
        """Settings from SURGE_* variables; a bad variable is kept to be shown on the page."""
        try:
            return cls(Settings.from_env(), store, clock)
        except ConfigError as exc:
            return cls(Settings(), store, clock, settings_error=exc)

    def clock(self) -> float:
        """Surge's now: the run's clock (exercise time during an exercise)."""
        return self.run_clock()()

    def security_clock(self) -> float:
        """Real time, for sessions and throttles: an exercise's fast clock never ends a
        session early. (A clock given to the app, as tests do, sets this time too.)"""
        return self._fixed_clock.real() if self._fixed_clock is not None else time.time()

    def run_clock(self) -> Clock:
        """The run's Clock: its mode (live, simulated, exercise), speed and banner."""
        if self._fixed_clock is not None:
            return self._fixed_clock
        if time.monotonic() - self._clock_checked > FOLLOW_SECONDS:
            self._clock_checked = time.monotonic()
            with contextlib.suppress(StoreUnavailable):  # keep the last one known meanwhile
                self._run_clock = Clock.from_record(self.store().clock_record())
        return self._run_clock

    @property
    def refresh_ms(self) -> int:
        return int(self.settings.refresh * 1000)

    def catalogue(self) -> Catalogue:
        """The catalogue from the rules file; ConfigError (every problem) if it is broken.

        Loaded once; after a failure it is retried on each call, so fixing the file brings
        the screens back without a restart.
        """
        if self.settings_error is not None:
            raise self.settings_error
        self._follow_rules()
        if self._catalogue is None:
            self._load_catalogue()
        if self._catalogue is None:
            assert self._catalogue_error is not None
            raise self._catalogue_error
        return self._catalogue

    def _load_catalogue(self) -> None:
        if self.settings_error is not None:
            return
        try:
            self._catalogue = load_catalogue(self.settings.rules)
            self._catalogue_error = None
        except ConfigError as exc:
            self._catalogue_error = exc

    def _follow_rules(self) -> None:
        """Take up the rules version the worker put in force, if it changed."""
        if time.monotonic() - self._version_checked < FOLLOW_SECONDS:
            return
        self._version_checked = time.monotonic()
        try:
            version = self.store().rules_version()
        except StoreUnavailable:
            return
        if version is None or version == self._published_version:
            return
        if self._catalogue is not None and self._catalogue.version == version:
            self._published_version = version
            return
        try:
            published = self.store().rules_in_force()
            self._catalogue = rules_from_text(published["text"], published.get("source")).catalogue
            self._catalogue_error = None
            self._published_version = version
        except (StoreUnavailable, KeyError):
            return
        except ConfigError as exc:  # cannot happen for rules the worker accepted; say so
            log.error("the rules in force (%s) do not load here: %s", version, exc)

    def store_if_open(self) -> Store | None:
        """The store if it was given or has been opened, without opening it."""
        return self._store

    def store(self) -> Store:
        """The store, opened on first use; StoreUnavailable if it cannot even be located."""
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = open_store(self.settings,
                                             clock=_FollowedClock(self)).for_web()
        return self._store

    def history(self) -> History:
        """The whole record, for review: the store's hot window and the archive behind it."""
        return open_history(self.settings, self.store())


class _FollowedClock:
    """The context's run clock as the store's clock: what this process records (audit
    entries) carries exercise time and the exercise mark during an exercise."""

    def __init__(self, context: DashboardContext) -> None:
        self._context = context

    def __call__(self) -> float:
        return self._context.clock()

    @property
    def exercise_mode(self) -> bool:
        return self._context.run_clock().exercise_mode


def current() -> DashboardContext:
    """The context of the app serving the current request."""
    context: DashboardContext = flask.current_app.extensions[EXTENSION]
    return context
