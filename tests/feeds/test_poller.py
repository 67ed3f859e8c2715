"""The generic poller against a real store: checking, counting, quarantine, down and up."""

from __future__ import annotations

import time

from feeds.poller import FeedPoller
from surge.errors import FetchFailed
from surge.samples import Sample

NOW = float(int(time.time()))


class ScriptedFeed:
    """A feed that returns (or raises) whatever the test gives it, poll by poll."""

    name = "scripted"
    function = "call_handling"
    interval = 10.0

    def __init__(self, *responses) -> None:
        self.responses = list(responses)
        self.asked: list[float | None] = []

    def fetch(self, since, now):
        self.asked.append(since)
        response = self.responses.pop(0)
        if isinstance(response, Exception):
            raise response
        return response


def clock_at(*times):
    queue = list(times)
    return lambda: queue.pop(0)


def test_good_samples_are_stored_and_bad_ones_quarantined(store, catalogue) -> None:
    batch = [
        Sample("calls.waiting", "trust", NOW - 20, 4.0),
        {"metric": "calls.waiting", "scope": "trust", "ts": NOW - 10, "value": "NaN"},
        {"metric": "calls.waiting", "scope": "EOC-N", "ts": NOW - 10, "value": 3},
        {"metric": "calls.wait", "scope": "trust", "ts": NOW - 10, "value": 3},
        {"metric": "calls.waiting", "scope": "trust", "ts": NOW - 10, "value": 99999},
    ]
    report = FeedPoller(ScriptedFeed(batch), store, catalogue, clock_at(NOW)).poll()
    assert report.ok and report.accepted == 2 and len(report.rejected) == 3
    assert set(store.latest()) == {("calls.waiting", "trust"), ("calls.waiting", "EOC-N")}
    reasons = [q["reason"] for q in store.quarantined()]
    assert any("not a finite number" in r for r in reasons)
    assert any("unknown metric 'calls.wait'" in r for r in reasons)
    assert any("outside its plausible range" in r for r in reasons)
    (status,) = store.feed_status()
    assert (status.accepted, status.rejected, status.last_sample) == (2, 3, NOW - 10)


def test_each_poll_asks_only_for_what_is_new_even_after_a_restart(store, catalogue) -> None:
    feed = ScriptedFeed([Sample("calls.waiting", "trust", NOW - 30, 1.0)],
                        [Sample("calls.waiting", "trust", NOW - 30, 1.0),
                         Sample("calls.waiting", "trust", NOW - 25, 9.0)])
    poller = FeedPoller(feed, store, catalogue, clock_at(NOW, NOW + 10))
    poller.poll()
    report = poller.poll()
    assert feed.asked == [None, NOW - 30]
    assert (report.accepted, report.duplicates) == (1, 1)
    restarted = FeedPoller(ScriptedFeed([]), store, catalogue)
    assert restarted.since == NOW - 25


def test_a_late_sample_is_counted_not_stored(store, catalogue) -> None:
    feed = ScriptedFeed([Sample("calls.waiting", "trust", NOW - 10, 1.0)],
                        [Sample("calls.waiting", "trust", NOW - 20, 5.0)])
    poller = FeedPoller(feed, store, catalogue, clock_at(NOW, NOW + 10))
    poller.poll()
    assert poller.poll().late == 1
    assert store.feed_status()[0].late == 1
    assert store.latest()[("calls.waiting", "trust")] == (NOW - 10, 1.0)


def test_going_down_and_recovering_are_on_the_record_once_each(store, catalogue) -> None:
    feed = ScriptedFeed(FetchFailed("CAD API returned 503"), FetchFailed("CAD API returned 503"),
                        RuntimeError("bug in adapter"),
                        [Sample("calls.waiting", "trust", NOW, 2.0)])
    poller = FeedPoller(feed, store, catalogue, clock_at(NOW, NOW + 10, NOW + 20, NOW + 30))
    reports = [poller.poll() for _ in range(4)]
    assert [r.ok for r in reports] == [False, False, False, True]
    assert "unexpected error in the feed: RuntimeError: bug in adapter" in reports[2].error
    events = store.events(kinds={"feed_down", "feed_recovered"})
    assert [e.kind for e in events] == ["feed_down", "feed_recovered"]
    (stored,) = store.events(kinds={"samples_stored"})  # the good poll, on the record
    assert stored.data["source"] == "feed:scripted" and stored.data["accepted"] == 1
    assert events[0].data["error"] == "CAD API returned 503" and events[0].at == NOW
    (status,) = store.feed_status()
    assert status.healthy(NOW + 30) and status.down_since is None


def test_a_feed_down_before_a_restart_is_still_down_after_it(store, catalogue) -> None:
    FeedPoller(ScriptedFeed(FetchFailed("no route")), store, catalogue, clock_at(NOW)).poll()
    again = FeedPoller(ScriptedFeed(FetchFailed("no route")), store, catalogue,
                       clock_at(NOW + 10))
    again.poll()
    assert [e.kind for e in store.events()] == ["feed_down"]
