"""Opening the store a process should use: the configured URL, or the running embedded one."""

from __future__ import annotations

import time
from collections.abc import Callable

from surge.archive import Archive
from surge.embedded import discover_url
from surge.history import History
from surge.settings import Settings
from surge.store import Store

__all__ = ["open_archive", "open_history", "open_store", "store_url"]


def store_url(settings: Settings) -> str:
    """SURGE_REDIS_URL when set, else the URL of the embedded store `surge run` started."""
    return settings.redis_url or discover_url(settings.data_dir)


def open_store(settings: Settings, clock: Callable[[], float] = time.time) -> Store:
    """A Store on the configured server (not yet contacted: call ping() to check)."""
    return Store.connect(store_url(settings), retention=settings.retention, clock=clock)


def open_archive(settings: Settings) -> Archive:
    """The archive of days older than the hot window (nothing is touched until it is used)."""
    return Archive(settings.archive_location)


def open_history(settings: Settings, store: Store) -> History:
    """The whole record: ``store``'s hot window and the archive behind it."""
    return History(store, open_archive(settings))
