"""The generic poller against a real store: checking, counting by reason, quarantine, retries
with backoff, and the up / degraded / down states recorded once per change."""

from __future__ import annotations

import logging
import time

import pytest

from feeds.poller import FeedPoller, Retry
from surge.clock import Clock
from surge.errors import FetchFailed
from surge.samples import Rejection, Sample
from surge.store import REJECTION_REASONS, rejection_reason

NOW = float(int(time.time()))
FEED_EVENTS = {"feed_degraded", "feed_down", "feed_recovered"}


class ScriptedFeed:
    """A feed that returns (or raises) whatever the test gives it, fetch by fetch."""

    name = "scripted"
    function = "call_handling"
    interval = 10.0

    def __init__(self, *responses, timeout: float | None = None) -> None:
        self.responses = list(responses)
        self.asked: list[float | None] = []
        if timeout is not None:
            self.timeout = timeout

    def fetch(self, since, now):
        self.asked.append(since)
        response = self.responses.pop(0)
        if isinstance(response, Exception):
            raise response
        return response


def clock_at(*times):
    queue = list(times)
    return lambda: queue.pop(0)


def every(seconds: float, start: float = NOW):
    """A clock that moves on ``seconds`` at each reading (one reading per poll)."""
    ticks = iter(range(10_000))
    return lambda: start + next(ticks) * seconds


def poller(feed, store, catalogue, clock=None, slept=None, **options) -> FeedPoller:
    """A poller whose waits are noted in ``slept``, each the whole of its bound."""
    waits = slept if slept is not None else []
    return FeedPoller(feed, store, catalogue, clock or every(10), sleep=waits.append,
                      jitter=lambda: 1.0, **options)


def feed_events(store) -> list[tuple[str, dict]]:
    return [(e.kind, e.data) for e in store.events(kinds=FEED_EVENTS)]


def ok(value: float = 1.0, ts: float = NOW) -> list[Sample]:
    return [Sample("calls.waiting", "trust", ts, value)]


# --- checking and counting -----------------------------------------------------------------


def test_good_samples_are_stored_and_bad_ones_quarantined_and_counted_by_reason(
        store, catalogue) -> None:
    batch = [
        Sample("calls.waiting", "trust", NOW - 20, 4.0),
        {"metric": "calls.waiting", "scope": "trust", "ts": NOW - 10, "value": "NaN"},
        {"metric": "calls.waiting", "scope": "EOC-N", "ts": NOW - 10, "value": 3},
        {"metric": "calls.wait", "scope": "trust", "ts": NOW - 10, "value": 3},
        {"metric": "calls.waiting", "scope": "trust", "ts": NOW - 10, "value": 99999},
        {"metric": "calls.waiting", "scope": "trust", "ts": NOW - 10, "value": 12345},
    ]
    report = FeedPoller(ScriptedFeed(batch), store, catalogue, clock_at(NOW)).poll()
    assert report.ok and report.accepted == 2 and len(report.rejected) == 4
    assert (report.attempts, report.state) == (1, "up")
    assert set(store.latest()) == {("calls.waiting", "trust"), ("calls.waiting", "EOC-N")}
    reasons = [q["reason"] for q in store.quarantined()]
    assert any("not a finite number" in r for r in reasons)
    assert any("unknown metric 'calls.wait'" in r for r in reasons)
    assert any("outside its plausible range" in r for r in reasons)
    (status,) = store.feed_status()
    assert (status.accepted, status.rejected, status.last_sample) == (2, 4, NOW - 10)
    assert status.rejected_by_reason == {"not_a_number": 1, "unknown_metric": 1,
                                         "out_of_range": 2}
    assert (status.polls, status.failed_polls, status.last_attempts, status.state) == \
        (1, 0, 1, "up")
    assert status.last_duration is not None and status.last_duration >= 0


def test_every_reason_falls_in_one_of_a_few_categories(store, catalogue) -> None:
    batch = [
        {"metric": "calls.waiting", "scope": "XX", "ts": NOW - 10, "value": 3},
        {"metric": "calls.waiting", "scope": "trust", "ts": NOW + 3600, "value": 3},
        {"metric": "calls.waiting", "scope": "trust", "ts": NOW - 400 * 86400, "value": 3},
        {"metric": "calls.waiting", "scope": "trust", "ts": NOW - 10, "value": "lots"},
        {"metric": "calls.waiting", "ts": NOW - 10},
        Rejection("item 3: ts $.when found nothing", {"when": None}),
        Rejection("today.csv line 4: value of calls.waiting must be a number, got x", {}),
    ]
    FeedPoller(ScriptedFeed(batch), store, catalogue, clock_at(NOW)).poll()
    (status,) = store.feed_status()
    assert status.rejected_by_reason == {"unknown_site": 1, "in_the_future": 1, "too_old": 1,
                                         "not_a_number": 2, "unreadable": 2}
    assert set(status.rejected_by_reason) <= set(REJECTION_REASONS)
    assert rejection_reason("ae.stack is reported per site, not for the trust") == "wrong_scope"
    assert rejection_reason("anything else at all") == "unreadable"


def test_each_poll_asks_only_for_what_is_new_even_after_a_restart(store, catalogue) -> None:
    feed = ScriptedFeed([Sample("calls.waiting", "trust", NOW - 30, 1.0)],
                        [Sample("calls.waiting", "trust", NOW - 30, 1.0),
                         Sample("calls.waiting", "trust", NOW - 25, 9.0)])
    polls = FeedPoller(feed, store, catalogue, clock_at(NOW, NOW + 10))
    polls.poll()
    report = polls.poll()
    assert feed.asked == [None, NOW - 30]
    assert (report.accepted, report.duplicates) == (1, 1)
    restarted = FeedPoller(ScriptedFeed([]), store, catalogue)
    assert restarted.since == NOW - 25


def test_a_late_sample_is_counted_not_stored(store, catalogue) -> None:
    feed = ScriptedFeed([Sample("calls.waiting", "trust", NOW - 10, 1.0)],
                        [Sample("calls.waiting", "trust", NOW - 20, 5.0)])
    polls = FeedPoller(feed, store, catalogue, clock_at(NOW, NOW + 10))
    polls.poll()
    assert polls.poll().late == 1
    assert store.feed_status()[0].late == 1
    assert store.latest()[("calls.waiting", "trust")] == (NOW - 10, 1.0)


# --- retries within a poll -----------------------------------------------------------------


def test_a_failed_fetch_is_retried_after_growing_waits_and_the_poll_succeeds(
        store, catalogue) -> None:
    feed = ScriptedFeed(FetchFailed("HTTP 502"), FetchFailed("HTTP 502"), ok())
    slept: list[float] = []
    report = poller(feed, store, catalogue, slept=slept).poll()
    assert report.ok and (report.attempts, report.accepted, report.state) == (3, 1, "up")
    assert slept == [0.5, 1.0]
    assert feed.asked == [None, None, None]  # each attempt asks for the same
    (status,) = store.feed_status()
    assert (status.polls, status.failed_polls, status.retries, status.last_attempts) == \
        (1, 0, 2, 3)
    assert feed_events(store) == []  # retried and delivered: nothing to record


def test_each_wait_is_a_random_part_of_its_bound(store, catalogue) -> None:
    feed = ScriptedFeed(FetchFailed("503"), FetchFailed("503"), FetchFailed("503"))
    slept: list[float] = []
    report = FeedPoller(feed, store, catalogue, every(10), sleep=slept.append,
                        jitter=lambda: 0.25).poll()
    assert not report.ok and report.attempts == 3 and report.error == "503"
    assert slept == [0.125, 0.25]
    (status,) = store.feed_status()
    assert (status.polls, status.failed_polls, status.retries) == (1, 1, 2)


def test_no_wait_is_longer_than_the_feed_timeout(store, catalogue) -> None:
    feed = ScriptedFeed(*[FetchFailed("timed out")] * 4, ok(), timeout=0.75)
    slept: list[float] = []
    report = poller(feed, store, catalogue, slept=slept, retry=Retry(attempts=5)).poll()
    assert report.ok and report.attempts == 5
    assert slept == [0.5, 0.75, 0.75, 0.75]


def test_no_retry_runs_into_the_next_poll(store, catalogue) -> None:
    feed = ScriptedFeed(FetchFailed("refused"), FetchFailed("refused"), ok())
    feed.interval = 1.0  # the next poll is due a second after this one began
    slept: list[float] = []
    report = poller(feed, store, catalogue, slept=slept).poll()
    assert not report.ok and report.attempts == 2 and slept == [0.5]  # 1.0 s more: too late
    assert len(feed.responses) == 1


def test_at_exercise_speed_the_next_poll_comes_sooner_in_real_time(store, catalogue) -> None:
    feed = ScriptedFeed(FetchFailed("refused"), ok())
    feed.interval = 30.0  # Surge seconds: half a real second at x60
    slept: list[float] = []
    report = poller(feed, store, catalogue, clock=Clock.exercise(60, origin=NOW),
                    slept=slept).poll()
    assert not report.ok and report.attempts == 1 and slept == []


def test_a_poll_something_waits_on_can_be_made_without_retries(store, catalogue) -> None:
    slept: list[float] = []
    feed = ScriptedFeed(FetchFailed("refused"), ok())
    report = poller(feed, store, catalogue, slept=slept).poll(retry=False)
    assert not report.ok and report.attempts == 1 and slept == []


def test_a_bug_in_the_adapter_is_not_retried(store, catalogue, caplog) -> None:
    slept: list[float] = []
    report = poller(ScriptedFeed(RuntimeError("bug in adapter"), ok()), store, catalogue,
                    slept=slept).poll()
    assert report.error == "unexpected error in the feed: RuntimeError: bug in adapter"
    assert report.attempts == 1 and slept == []
    assert "Traceback" in caplog.text or any(r.exc_info for r in caplog.records)


# --- up, degraded, down --------------------------------------------------------------------


def test_each_change_of_state_is_on_the_record_and_in_the_log_once(
        store, catalogue, caplog) -> None:
    caplog.set_level(logging.INFO, logger="feeds.poller")
    down = FetchFailed("CAD API returned 503")
    feed = ScriptedFeed(ok(ts=NOW - 5), *[down] * 12, ok(2.0, NOW + 45), *[down] * 3,
                        ok(3.0, NOW + 65))
    polls = poller(feed, store, catalogue, clock=every(10), retry=Retry(attempts=3))
    states = []
    for _ in range(7):
        report = polls.poll()
        states.append(report.state)
        status = store.feed_status()[0]
        assert status.state == report.state
        if report.state == "degraded":  # failing, not down: still healthy while data are fresh
            assert status.down_since is None and status.healthy(report.at)
        if report.state == "down":
            assert status.down_since == NOW + 10 and not status.healthy(report.at)
    assert states == ["up", "degraded", "degraded", "down", "down", "up", "degraded"]
    assert polls.poll().state == "up"
    assert [kind for kind, _ in feed_events(store)] == [
        "feed_degraded", "feed_down", "feed_recovered", "feed_degraded", "feed_recovered"]
    events = store.events(kinds=FEED_EVENTS)
    assert [e.at for e in events] == [NOW + 10, NOW + 30, NOW + 50, NOW + 60, NOW + 70]
    assert events[1].data["error"] == "CAD API returned 503"
    assert events[2].data["down_since"] == NOW + 10  # when its failed polls began
    assert events[4].data["down_since"] is None  # it was degraded, never down
    (status,) = store.feed_status()
    assert (status.polls, status.failed_polls, status.failures, status.retries) == (8, 5, 0, 10)
    assert status.healthy(NOW + 70) and status.down_since is None
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "feeds.poller"]
    assert [level for level, _ in said] == ["WARNING", "ERROR", "INFO", "WARNING", "INFO"]
    assert "feed scripted is down (3 failed polls in a row): CAD API returned 503" in said[1][1]


def test_a_feed_down_before_a_restart_is_still_down_after_it(store, catalogue) -> None:
    failing = [FetchFailed("no route")] * 6
    first = poller(ScriptedFeed(*failing), store, catalogue, clock=every(10))
    first.poll()
    first.poll()  # degraded, two failed polls in a row
    again = poller(ScriptedFeed(*failing), store, catalogue, clock=every(10, NOW + 20))
    assert (again.state, again.failures, again.failing_since) == ("degraded", 2, NOW)
    assert again.poll().state == "down"
    restarted = poller(ScriptedFeed(*failing), store, catalogue, clock=every(10, NOW + 30))
    assert restarted.down
    restarted.poll()
    assert [kind for kind, _ in feed_events(store)] == ["feed_degraded", "feed_down"]
    assert store.feed_status()[0].down_since == NOW


def test_a_feed_recorded_down_before_there_were_states_recovers(store, catalogue) -> None:
    store.record_poll("scripted", function="call_handling", interval=10, at=NOW - 10,
                      error="HTTP 503")  # a single poll's view: down
    (status,) = store.feed_status()
    assert (status.state, status.down_since) == ("down", NOW - 10)
    polls = poller(ScriptedFeed(ok()), store, catalogue, clock=every(10))
    assert polls.down
    polls.poll()
    [(kind, data)] = feed_events(store)
    assert kind == "feed_recovered" and data["down_since"] == NOW - 10
    assert data["error"] == "HTTP 503"


def test_down_after_one_failed_poll_skips_degraded(store, catalogue) -> None:
    polls = poller(ScriptedFeed(FetchFailed("gone"), FetchFailed("gone"), FetchFailed("gone")),
                   store, catalogue, down_after=1, retry=Retry(attempts=1))
    assert polls.poll().state == "down" and polls.poll().state == "down"
    assert [kind for kind, _ in feed_events(store)] == ["feed_down"]


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 attempt"):
        Retry(attempts=0)
