"""The status page's view model (dashboard/views/status.py): failures first, in words; the
engine's liveness judged by real time, which an exercise's fast clock does not change."""

from __future__ import annotations

from dashboard.views.status import build_status_page
from surge.catalogue import Catalogue
from surge.store import WAITING, FeedStatus, WorkerInfo
from tests.dashboard.test_views_header import NOW

REAL = 1_800_000_000.0  # the machine's clock: heartbeats and engine steps


def feed(name: str, *, ok: bool = True) -> FeedStatus:
    return FeedStatus(name, "ae", 30.0, NOW - 20 if ok else NOW - 900, NOW - 20,
                      None if ok else "connection refused", None if ok else NOW - 600,
                      NOW - 25, 1200, 3, 0, 1, None if ok else NOW - 600)


def page(catalogue: Catalogue, **changes):  # type: ignore[no-untyped-def]
    args = {"store_error": None, "where": "redis://store", "server": {"valkey_version": "9.0"},
            "eviction": None, "feeds": [feed("sim-ae")], "quarantined": [],
            "workers": [WorkerInfo("w1", True, {"host": "vm", "pid": 7,
                                                "started": f"{NOW - 3600}",
                                                "engine_step": REAL - 2, "feeds": ["sim-ae"],
                                                "rules_version": "abc"})],
            "rules": {"version": "abc", "loaded_at": f"{NOW - 3600}", "loaded_by": "worker w1",
                      "source": "surge_rules.yaml"}}
    return build_status_page(catalogue, NOW, REAL, **{**args, **changes})


def test_all_well_has_no_problems(catalogue: Catalogue) -> None:
    view = page(catalogue)
    assert view.problems == ()
    assert view.workers[0].engine == "engine running: last evaluation updated 2 s ago"
    assert view.feeds[0].state == "OK"
    assert view.feeds[0].counts == ("1,200 accepted · 3 rejected · 0 late · 1 duplicate · "
                                    "0 polls, 0 failed, 0 retried")
    assert ("version", "abc") in view.rules


def test_a_failing_feed_is_degraded_before_it_is_down_and_rejections_say_why(
        catalogue: Catalogue) -> None:
    from dataclasses import replace

    failing = replace(feed("sim-ae"), state="degraded", failures=2, failing_since=NOW - 60,
                      last_error="CAD API returned 503", polls=40, failed_polls=2, retries=4,
                      rejected_by_reason={"out_of_range": 2, "unknown_site": 1})
    row = page(catalogue, feeds=[failing]).feeds[0]
    assert row.healthy  # its data are still fresh: not a loud banner, but said on /status
    assert row.state.startswith("DEGRADED — 2 failed poll(s) in a row since ")
    assert row.state.endswith(": CAD API returned 503")
    assert row.counts.endswith("40 polls, 2 failed, 4 retried · rejected: 2 out of range, "
                               "1 unknown site")


def test_a_feed_down_a_stuck_engine_and_no_rules_are_problems(catalogue: Catalogue) -> None:
    stuck = WorkerInfo("w1", True, {"engine_step": REAL - 120})
    view = page(catalogue, feeds=[feed("sim-ae", ok=False)], workers=[stuck], rules={})
    assert view.problems[0] == ("FEED sim-ae (A&E operations) DOWN since 13:50:00: "
                                "connection refused")
    assert any("ENGINE STUCK — no evaluation for 120 s" in p for p in view.problems)
    assert any(p.startswith("NO RULES PUBLISHED") for p in view.problems)
    assert view.workers[0].stuck


def test_no_worker_and_no_feeds_are_problems(catalogue: Catalogue) -> None:
    view = page(catalogue, feeds=[], workers=[])
    assert "NO FEEDS HAVE REPORTED — no data is being collected" in view.problems
    assert any(p.startswith("NO ACTIVE WORKER") for p in view.problems)


def test_rejections_are_counted_by_reason(catalogue: Catalogue) -> None:
    rows = [{"feed": "sim-ae", "at": f"{NOW - 60}", "reason": "out of range", "sample": "{}"},
            {"feed": "sim-ae", "at": f"{NOW - 30}", "reason": "out of range", "sample": "{}"},
            {"feed": "sim-pts", "at": f"{NOW - 10}", "reason": "unknown metric", "sample": "{}"}]
    view = page(catalogue, quarantined=rows)
    assert view.rejections == (("sim-ae", "out of range", 2), ("sim-pts", "unknown metric", 1))
    assert view.quarantine[0][:3] == ("13:59:00", "sim-ae", "out of range")


def test_an_unreachable_store_is_the_first_problem(catalogue: Catalogue) -> None:
    view = page(catalogue, store_error="cannot reach redis://store")
    assert view.problems == ("DATA STORE UNREACHABLE — cannot reach redis://store",)
    assert ("state", "UNREACHABLE") in view.store


def test_a_feed_never_heard_from_waits_three_intervals_then_is_a_problem(
        catalogue: Catalogue) -> None:
    from dataclasses import replace

    waiting = FeedStatus("cad-push", "call_handling", 60.0, None, None, None, None, None, 0, 0,
                         0, 0, None, state=WAITING, expected_since=NOW - 60)
    view = page(catalogue, feeds=[waiting])
    assert view.problems == ()
    assert view.feeds[0].healthy and view.feeds[0].state == "WAITING for its first poll or push"
    assert view.feeds[0].last_poll == "never"
    view = page(catalogue, feeds=[replace(waiting, expected_since=NOW - 181)])
    assert not view.feeds[0].healthy
    assert view.feeds[0].state.startswith("DOWN: nothing received since it was set up (")
    assert any(p.startswith("FEED cad-push") and "nothing received" in p for p in view.problems)

