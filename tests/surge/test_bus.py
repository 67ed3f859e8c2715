"""The worker's bus: any number of listeners, each can leave, and one failing never stops
the others."""

from __future__ import annotations

import logging

from surge.bus import Bus
from surge.events import FeedDown, FeedRecovered


def down(ts: float = 1.0) -> FeedDown:
    return FeedDown(ts=ts, feed="cad", function="ae", error="503")


def test_every_listener_hears_in_order_and_can_leave() -> None:
    bus, first, second = Bus(), [], []
    leave_first = bus.subscribe(first.append)
    bus.subscribe(second.append)
    bus.publish(down(1))
    leave_first()
    leave_first()  # leaving twice is harmless
    bus.publish(down(2))
    assert [e.ts for e in first] == [1] and [e.ts for e in second] == [1, 2]


def test_a_listener_can_ask_for_some_kinds_only() -> None:
    bus, heard = Bus(), []
    bus.subscribe(heard.append, FeedRecovered)
    bus.publish(down())
    bus.publish(FeedRecovered(ts=2, feed="cad", function="ae"))
    assert [e.kind for e in heard] == ["feed_recovered"]


def test_a_failing_listener_is_logged_and_the_others_still_hear(caplog) -> None:
    bus, heard = Bus(), []

    def broken(_event) -> None:
        raise RuntimeError("listener bug")

    bus.subscribe(broken)
    bus.subscribe(heard.append)
    with caplog.at_level(logging.ERROR, logger="surge.bus"):
        bus.publish(down())
    assert len(heard) == 1
    assert "FeedDown" in caplog.text and "listener bug" in caplog.text
