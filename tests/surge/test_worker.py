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
