"""The overview's view model: staleness, NO DATA, formatting, UK time, worst site, downsampling."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from dashboard.data import (
    build_overview,
    dom_id,
    feed_problems,
    handover_table,
    last_per_bucket,
    read_value,
    sparkline_series,
    worker_stopped,
    worst_site,
)
from dashboard.formatting import format_age, format_value, local_time
from surge.catalogue import Catalogue, Metric
from surge.store import FeedStatus, Series

UK = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 26, 14, 3, 22, tzinfo=UTC).timestamp()  # GMT: UK time = UTC


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def metric(**changes: object) -> Metric:
    base = Metric(id="x.y", function="ae", label="X", unit="min", worse="higher", low=0,
                  high=1000, stale_after=120, scopes=("trust",))
    return dataclasses.replace(base, **changes)


def feed(**changes: object) -> FeedStatus:
    base = FeedStatus(name="cad", function="ae", interval=30, last_success=NOW - 10,
                      last_attempt=NOW - 10, last_error=None, last_error_at=None,
                      last_sample=NOW - 10, accepted=5, rejected=0, late=0, duplicates=0,
                      down_since=None)
    return dataclasses.replace(base, **changes)


# --- formatting -------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "unit", "text"), [
    (12, "calls", "12 calls"),
    (1, "calls", "1 call"),
    (0, "ambulances", "0 ambulances"),
    (1, "pick-ups", "1 pick-up"),
    (4912, "journeys", "4,912 journeys"),
    (87.4, "%", "87 %"),
    (2.5, "%", "2.5 %"),
    (100, "%", "100 %"),
    (45, "s", "45 s"),
    (59.6, "s", "1 min 00 s"),
    (220, "s", "3 min 40 s"),
    (3700, "s", "1 h 02 min"),
    (4, "min", "4 min"),
    (7.4, "min", "7.4 min"),
    (54, "min", "54 min"),
    (60, "min", "1 h"),
    (93, "min", "1 h 33 min"),
    (1, "h", "1 h"),
    (2.5, "h", "2.5 h"),
    (125.4, "h", "125 h"),
])
def test_format_value(value: float, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


def test_compact_format_leaves_units_to_the_column_heading() -> None:
    assert format_value(7, "ambulances", compact=True) == "7"
    assert format_value(29.2, "h", compact=True) == "29"
    assert format_value(186, "min", compact=True) == "3 h 06 min"


@pytest.mark.parametrize(("seconds", "text"), [
    (-30, "updated just now"),  # a source clock slightly ahead of ours
    (0, "updated just now"),
    (12, "updated 12 s ago"),
    (59.9, "updated 59 s ago"),
    (125, "updated 2 min ago"),
    (3900, "updated 1 h 05 min ago"),
    (2 * 86400 + 3 * 3600, "updated 2 d 3 h ago"),
])
def test_format_age(seconds: float, text: str) -> None:
    assert format_age(seconds) == text


def test_dom_id_replaces_dots() -> None:
    assert dom_id("calls.answer_p90") == "value-calls-answer_p90"


# --- UK time ----------------------------------------------------------------------------


def test_local_time_across_the_spring_clock_change() -> None:
    # 29 March 2026: clocks go forward at 01:00 UTC.
    assert local_time(utc(2026, 3, 29, 0, 30), UK) == "00:30:00"
    assert local_time(utc(2026, 3, 29, 1, 30), UK) == "02:30:00"


def test_local_time_across_the_autumn_clock_change() -> None:
    # 25 October 2026: clocks go back at 01:00 UTC, so 01:30 UK time happens twice.
    assert local_time(utc(2026, 10, 25, 0, 30), UK) == "01:30:00"
    assert local_time(utc(2026, 10, 25, 1, 30), UK) == "01:30:00"
    assert local_time(utc(2026, 10, 25, 2, 0), UK) == "02:00:00"


def test_local_time_names_the_day_when_it_is_not_today() -> None:
    now = utc(2026, 3, 29, 9, 0)
    assert local_time(utc(2026, 3, 28, 23, 10), UK, seconds=False, now=now) == "28 Mar 23:10"
    assert local_time(utc(2026, 3, 29, 8, 10), UK, seconds=False, now=now) == "09:10"


def test_stale_badge_and_status_time_are_uk_time_after_the_clocks_go_forward(
        catalogue: Catalogue) -> None:
    now = utc(2026, 3, 29, 1, 30)
    m = catalogue.metrics["calls.waiting"]
    reading = read_value(m, (utc(2026, 3, 29, 0, 50), 12), now, UK)
    assert reading.badge == "STALE — last value 00:50"  # 00:50 GMT, before the change
    view = build_overview(catalogue, {}, {}, [], None, now)
    assert view.status.updated == "Updated 02:30:00 UK time"
    assert view.status.date == "Sunday 29 March 2026"


# --- staleness and missing data ---------------------------------------------------------


def test_a_value_exactly_stale_after_old_is_still_live() -> None:
    reading = read_value(metric(stale_after=120), (NOW - 120, 4), NOW, UK)
    assert reading.state == "live"
    assert reading.badge is None
    assert reading.text == "4 min"
    assert reading.age == "updated 2 min ago"


def test_a_value_just_beyond_stale_after_is_stale_and_says_when_it_was_seen() -> None:
    at = NOW - 120.5
    reading = read_value(metric(stale_after=120), (at, 4), NOW, UK)
    assert reading.state == "stale"
    assert reading.badge == f"STALE — last value {local_time(at, UK, seconds=False)}"
    assert reading.text == "4 min"  # the value is still shown, greyed, with the badge


def test_no_value_is_no_data() -> None:
    reading = read_value(metric(), None, NOW, UK)
    assert reading.state == "missing"
    assert reading.text == "NO DATA"
    assert reading.value is None


# --- worst site -------------------------------------------------------------------------


def readings(m: Metric, values: dict[str, tuple[float, float]]) -> dict:
    return {code: read_value(m, sample, NOW, UK) for code, sample in values.items()}


def test_worst_site_is_the_highest_when_higher_is_worse() -> None:
    m = metric(worse="higher")
    assert worst_site(m, readings(m, {"A": (NOW, 5), "B": (NOW, 9), "C": (NOW, 2)})) == "B"


def test_worst_site_is_the_lowest_when_lower_is_worse() -> None:
    m = metric(worse="lower", unit="%")
    assert worst_site(m, readings(m, {"A": (NOW, 95), "B": (NOW, 71), "C": (NOW, 88)})) == "B"


def test_worst_site_prefers_live_values_to_stale_ones() -> None:
    m = metric(worse="higher", stale_after=120)
    got = readings(m, {"OLD": (NOW - 3600, 500), "A": (NOW, 5), "B": (NOW, 7)})
    assert worst_site(m, got) == "B"
    only_stale = readings(m, {"OLD": (NOW - 3600, 500), "OLDER": (NOW - 7200, 900)})
    assert worst_site(m, only_stale) == "OLDER"


def test_worst_site_ties_go_to_the_first_and_no_values_give_none() -> None:
    m = metric()
    assert worst_site(m, readings(m, {"A": (NOW, 5), "B": (NOW, 5)})) == "A"
    assert worst_site(m, readings(m, {"A": None})) is None


def test_handover_table_marks_the_hospital_with_the_longest_live_wait(
        catalogue: Catalogue) -> None:
    latest = {("ae.handover_longest", "RVJ"): (NOW - 10, 40),
              ("ae.handover_longest", "RK9"): (NOW - 10, 186),
              ("ae.handover_longest", "RA9"): (NOW - 3600, 400),  # stale: not the worst
              ("ae.handover_queue", "RK9"): (NOW - 10, 6)}
    table = handover_table(catalogue, latest, NOW)
    assert table is not None
    assert [r.site.name for r in table.rows] == [s.name for s in catalogue.sites_of("hospital")]
    assert [r.site.code for r in table.rows if r.worst] == ["RK9"]
    rk9 = next(r for r in table.rows if r.site.code == "RK9")
    assert [c.text for c in rk9.cells] == ["6", "3 h 06 min", "NO DATA", "NO DATA"]
    ra9 = next(r for r in table.rows if r.site.code == "RA9")
    assert ra9.cells[1].state == "stale"


def test_handover_table_marks_no_hospital_when_none_is_waiting(catalogue: Catalogue) -> None:
    latest = {("ae.handover_longest", s.code): (NOW, 0) for s in catalogue.sites_of("hospital")}
    table = handover_table(catalogue, latest, NOW)
    assert table is not None
    assert not any(r.worst for r in table.rows)


# --- downsampling -----------------------------------------------------------------------


def test_last_per_bucket_keeps_the_last_sample_of_each_minute() -> None:
    ts = np.array([0.0, 10, 59.9, 60, 61, 179])
    values = np.array([1.0, 2, 3, 4, 5, 6])
    got_ts, got_values = last_per_bucket(ts, values)
    assert got_ts.tolist() == [59.9, 61, 179]
    assert got_values.tolist() == [3, 5, 6]


def test_last_per_bucket_leaves_at_most_one_point_a_minute() -> None:
    ts = np.arange(NOW - 6 * 3600, NOW, 5.0)
    got_ts, got_values = last_per_bucket(ts, np.arange(len(ts), dtype=float))
    assert len(got_ts) <= 6 * 60 + 1
    assert np.all(np.diff(np.floor(got_ts / 60)) >= 1)
    assert got_values[-1] == len(ts) - 1  # the newest value is always kept


def test_last_per_bucket_of_nothing_is_nothing() -> None:
    got_ts, got_values = last_per_bucket(np.empty(0), np.empty(0))
    assert len(got_ts) == len(got_values) == 0


# --- feeds and worker -------------------------------------------------------------------


def test_a_failing_feed_is_named_with_its_function_and_since_when(catalogue: Catalogue) -> None:
    down = feed(down_since=NOW - 300, last_error="HTTP 503 from CAD")
    problems = feed_problems([feed(name="ok"), down], catalogue, NOW)
    assert len(problems) == 1
    assert problems[0].text == (f"FEED DOWN — cad (A&E operations) failing since "
                                f"{local_time(NOW - 300, UK)}: HTTP 503 from CAD")


def test_a_feed_that_stopped_polling_or_never_succeeded_is_a_problem(
        catalogue: Catalogue) -> None:
    silent = feed(name="pts", function="pts", interval=30, last_success=NOW - 600)
    never = feed(name="new", last_success=None)
    texts = [p.text for p in feed_problems([silent, never], catalogue, NOW)]
    assert texts == [
        f"FEED DOWN — pts (Patient transport (PTS)) no successful poll since "
        f"{local_time(NOW - 600, UK)}",
        "FEED DOWN — new (A&E operations) has never polled successfully",
    ]


def test_worker_stopped() -> None:
    assert worker_stopped(None, NOW)
    assert not worker_stopped({"at": f"{NOW - 10:.3f}"}, NOW)
    assert worker_stopped({"at": f"{NOW - 61:.3f}"}, NOW)


# --- the whole page ---------------------------------------------------------------------


def test_build_overview_has_every_function_in_order_with_key_metrics_first(
        catalogue: Catalogue) -> None:
    latest = {("calls.waiting", "trust"): (NOW - 5, 12.0)}
    series = {("calls.waiting", "trust"): Series(np.array([NOW - 65, NOW - 5]),
                                                 np.array([10.0, 12.0]))}
    view = build_overview(catalogue, latest, series, [feed()], {"at": str(NOW)}, NOW)
    assert [p.function.id for p in view.panels] == [f.id for f in catalogue.functions]
    for panel in view.panels:
        flags = [m.metric.key for m in panel.metrics]
        assert flags == sorted(flags, reverse=True)
        assert {m.metric.id for m in panel.metrics} == {
            m.id for m in catalogue.metrics_of(panel.function.id)}
    calls = view.panels[0].metrics[0]
    assert (calls.metric.id, calls.dom_id, calls.reading.text) == (
        "calls.waiting", "value-calls-waiting", "12 calls")
    assert calls.spark is not None and calls.spark[1].tolist() == [10.0, 12.0]
    assert view.status.updated == "Updated 14:03:22 UK time"
    assert view.status.worker == "running"
    assert view.status.feed_problems == ()
    ae = next(p for p in view.panels if p.function.id == "ae")
    assert ae.handover is not None and view.panels[0].handover is None


def test_build_overview_without_the_store_claims_nothing_about_feeds_or_worker(
        catalogue: Catalogue) -> None:
    view = build_overview(catalogue, {}, {}, [], None, NOW, store_error="cannot reach it")
    assert view.status.store_error == "cannot reach it"
    assert view.status.worker == "unknown"
    assert all(m.reading.text == "NO DATA" for p in view.panels for m in p.metrics)


def test_a_metric_reported_only_per_site_shows_its_worst_site(catalogue: Catalogue) -> None:
    per_site = dataclasses.replace(catalogue.metrics["calls.waiting"], scopes=("eoc",))
    cat = dataclasses.replace(catalogue, metrics={**catalogue.metrics, per_site.id: per_site})
    assert (per_site.id, "trust") not in sparkline_series(cat)
    latest = {(per_site.id, "EOC-N"): (NOW - 5, 8.0), (per_site.id, "EOC-S"): (NOW - 5, 21.0)}
    view = build_overview(cat, latest, {}, [], None, NOW)
    mv = next(m for m in view.panels[0].metrics if m.metric.id == per_site.id)
    assert mv.reading.text == "21 calls"
    assert mv.scope_note == "worst of 2: Exeter emergency operations centre"
    assert [(s.site.code, s.reading.text) for s in mv.sites] == [
        ("EOC-N", "8 calls"), ("EOC-S", "21 calls")]
    assert mv.spark is None
    empty = build_overview(cat, {}, {}, [], None, NOW)
    mv = next(m for m in empty.panels[0].metrics if m.metric.id == per_site.id)
    assert mv.reading.text == "NO DATA"
