"""What one dashboard app needs at run time: settings, clock, the catalogue and the store.

It also holds which role each state-changing callback needs (``callback_roles``, filled
by pages when they register callbacks; see dashboard/auth.py). One DashboardContext per
app, kept on the Flask server (``server.extensions["surge"]``), never in module globals,
so each gunicorn worker has its own. Nothing here contacts Redis until a page asks for the
store, and the store is created once, on first use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import flask

from surge.catalogue import Catalogue, load_catalogue
from surge.context import open_store
from surge.errors import ConfigError
from surge.settings import Settings
from surge.store import Store

__all__ = ["EXTENSION", "DashboardContext", "current"]

EXTENSION = "surge"


class DashboardContext:
    """Settings, clock, catalogue and a lazily opened store for one app."""

    def __init__(self, settings: Settings, store: Store | None = None,
                 clock: Callable[[], float] = time.time,
                 settings_error: ConfigError | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.settings_error = settings_error
        self._store = store
        self._catalogue: Catalogue | None = None
        self._catalogue_error: ConfigError | None = None
        self._lock = threading.Lock()
        # output component id prefix -> least role; callbacks not listed are read-only (viewer)
        self.callback_roles: dict[str, str] = {}
        self._load_catalogue()

    @classmethod
    def from_env(cls, store: Store | None = None,
                 clock: Callable[[], float] = time.time) -> DashboardContext:
        """Settings from SURGE_* variables; a bad variable is kept to be shown on the page."""
        try:
            return cls(Settings.from_env(), store, clock)
        except ConfigError as exc:
            return cls(Settings(), store, clock, settings_error=exc)

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

    def store_if_open(self) -> Store | None:
        """The store if it was given or has been opened, without opening it."""
        return self._store

    def store(self) -> Store:
        """The store, opened on first use; StoreUnavailable if it cannot even be located."""
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = open_store(self.settings, clock=self.clock)
        return self._store


def current() -> DashboardContext:
    """The context of the app serving the current request."""
    context: DashboardContext = flask.current_app.extensions[EXTENSION]
    return context
