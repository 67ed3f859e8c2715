"""The worker's scheduler against a real store: polls on time, never overlaps, beats."""

from __future__ import annotations

import threading
import time

from surge.samples import Sample
from surge.worker import Worker


class CountingFeed:
    """Returns one fresh sample per poll; remembers how many polls ran at once."""

    function = "call_handling"

    def __init__(self, name: str, interval: float, work_seconds: float = 0.0) -> None:
        self.name = name
        self.interval = interval
        self.work_seconds = work_seconds
        self.polls = 0
        self.running = 0
        self.most_at_once = 0
        self.lock = threading.Lock()

    def fetch(self, since, now):
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(self.work_seconds)
        with self.lock:
            self.running -= 1
            self.polls += 1
        return [Sample("calls.waiting", "trust", now, float(self.polls % 50))]


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_each_feed_is_polled_and_a_slow_poll_never_overlaps(store, catalogue) -> None:
    quick = CountingFeed("quick", interval=0.2)
    slow = CountingFeed("slow", interval=0.1, work_seconds=0.5)
    worker = Worker(store, catalogue, [quick, slow])
    worker.start()
    try:
        wait_for(lambda: quick.polls >= 3 and slow.polls >= 2)
        assert store.worker() is not None
    finally:
        worker.stop()
    assert slow.most_at_once == 1
    assert {s.name for s in store.feed_status()} == {"quick", "slow"}
    kinds = [e.kind for e in store.events()]
    assert kinds[0] == "worker_started" and kinds[-1] == "worker_stopped"
    polls_after_stop = quick.polls
    time.sleep(0.5)
    assert quick.polls == polls_after_stop


def test_a_second_worker_stands_by_and_takes_over_when_the_first_stops(store, catalogue) -> None:
    first_feed, second_feed = CountingFeed("feed", 0.2), CountingFeed("feed", 0.2)
    first = Worker(store, catalogue, [first_feed], worker_id="first",
                   lease_seconds=1.0, beat_seconds=0.1)
    second = Worker(store, catalogue, [second_feed], worker_id="second",
                    lease_seconds=1.0, beat_seconds=0.1)
    first.start()
    assert first.wait_until_active(5)
    second.start()
    try:
        wait_for(lambda: first_feed.polls >= 3)
        assert not second.active and second_feed.polls == 0, "a standby must not poll"
        assert [(w.id, w.active) for w in store.workers()] == [("first", True), ("second", False)]
        first.stop()  # releases the lease: the standby takes over at its next beat
        assert second.wait_until_active(3)
        wait_for(lambda: second_feed.polls >= 2)
    finally:
        second.stop()
        first.stop()
    started = [(e.kind, e.data["worker"], e.data.get("previous"))
               for e in store.events(kinds=["worker_started", "worker_took_over"])]
    assert started == [("worker_started", "first", None),
                       ("worker_took_over", "second", "first")]


def test_a_worker_that_loses_its_lease_stops_polling(store, catalogue) -> None:
    feed = CountingFeed("feed", 0.2)
    worker = Worker(store, catalogue, [feed], worker_id="w", lease_seconds=5,
                    beat_seconds=0.1)
    worker.start()
    try:
        assert worker.wait_until_active(5)
        store.release_lease("w")
        assert store.acquire_lease("usurper", 60)  # e.g. w was frozen and its lease lapsed
        wait_for(lambda: not worker.active)
        polls = feed.polls
        time.sleep(0.6)
        assert feed.polls <= polls + 1  # at most one poll already under way
    finally:
        worker.stop()
    assert store.lease_holder() == "usurper", "stopping must not release another's lease"
