"""The worker's in-process bus: parts publish what happened, any number of parts listen.

The engine publishes level changes, the poller feed state, the rules loader rules events;
the recorder (and alerting, next) subscribe. ``subscribe`` returns a function that ends the
subscription. A subscriber that raises is logged and never stops the others, nor the
publisher: the event is already on the record by then.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Bus", "Unsubscribe"]

log = logging.getLogger(__name__)

Listener = Callable[[Any], None]
Unsubscribe = Callable[[], None]


class Bus:
    """Publish typed events to subscribers, in the order they subscribed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[tuple[Listener, tuple[type, ...] | None]] = []

    def subscribe(self, listener: Listener, *kinds: type) -> Unsubscribe:
        """Call ``listener(event)`` for every event (or only events of these types)."""
        entry = (listener, kinds or None)
        with self._lock:
            self._listeners.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._listeners:
                    self._listeners.remove(entry)

        return unsubscribe

    def publish(self, event: Any) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener, kinds in listeners:
            if kinds is not None and not isinstance(event, kinds):
                continue
            try:
                listener(event)
            except Exception:
                log.exception("a subscriber to %s failed; the others still run",
                              type(event).__name__)

    def __len__(self) -> int:
        return len(self._listeners)
