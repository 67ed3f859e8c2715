"""The simulated trust: determinism, windowing, plausibility, daily pattern and scenarios.

Times are Surge time throughout: the simulator has no clock of its own, so a test just asks
for the times it wants.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from feeds.base import Feed
from feeds.scenario import Scenario, ScenarioEvent, load_scenario
from feeds.simulator import HISTORY, SimulatedFeed, SimulatorConfig, simulated_feeds
from surge.catalogue import TRUST, Catalogue, load_catalogue
from surge.errors import ConfigError, FetchFailed
from surge.samples import Sample, check_samples

RULES = Path(__file__).resolve().parents[2] / "surge_rules.yaml"
UTC = dt.UTC
# Monday 6 January 2025, 00:00 UTC (midnight in London too: GMT in winter).
ANCHOR = dt.datetime(2025, 1, 6, tzinfo=UTC).timestamp()
HOUR = 3600.0
HOSPITALS = ("RVJ", "RA7", "RD1", "RH8", "RK9", "RA9")
EOCS = ("EOC-N", "EOC-S")
ZONES = ("PTS-N", "PTS-C", "PTS-S")


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(RULES)


def make(catalogue: Catalogue, **config: object) -> dict[str, SimulatedFeed]:
    return {f.name: f for f in simulated_feeds(catalogue, SimulatorConfig(**config))}


def fetch_all(feeds: dict[str, SimulatedFeed], since: float | None, now: float) -> list[Sample]:
    return [s for feed in feeds.values() for s in feed.fetch(since, now)]


def by_series(samples: list[Sample]) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """(metric, scope) -> (timestamps, values), in time order."""
    rows: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for s in samples:
        rows[(s.metric, s.scope)].append((s.ts, s.value))
    out = {}
    for key, pairs in rows.items():
        pairs.sort()
        out[key] = (np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
    return out


def at(ts: np.ndarray, values: np.ndarray, when: float) -> float:
    """The value at the last timestamp at or before `when`."""
    return float(values[np.searchsorted(ts, when, side="right") - 1])


def first_above(ts: np.ndarray, ratio: np.ndarray, threshold: float) -> float:
    above = np.nonzero(ratio > threshold)[0]
    assert above.size, f"never rose above {threshold}x"
    return float(ts[above[0]])


# --- the feeds --------------------------------------------------------------------------


def test_one_feed_per_function_named_and_timed(catalogue: Catalogue) -> None:
    feeds = simulated_feeds(catalogue, SimulatorConfig())
    assert [f.function for f in feeds] == [f.id for f in catalogue.functions]
    assert {f.name: f.interval for f in feeds} == {
        "sim-call_handling": 15, "sim-clinical_triage": 30, "sim-ae": 30, "sim-pts": 60}
    assert all(isinstance(f, Feed) for f in feeds)


def test_each_reading_covers_every_metric_and_scope_of_its_function(
        catalogue: Catalogue) -> None:
    for feed in simulated_feeds(catalogue, SimulatorConfig(start=ANCHOR)):
        samples = feed.fetch(ANCHOR - feed.interval, ANCHOR)
        expected = {(m.id, scope) for m in catalogue.metrics_of(feed.function)
                    for scope in catalogue.scopes_of(m)}
        assert {(s.metric, s.scope) for s in samples} == expected
        assert {s.ts for s in samples} == {ANCHOR}


# --- determinism ------------------------------------------------------------------------


def test_same_seed_gives_the_same_values(catalogue: Catalogue) -> None:
    scenario = load_scenario("winter-evening-surge", catalogue)
    first = fetch_all(make(catalogue, seed=7, scenario=scenario, start=ANCHOR), None,
                      ANCHOR + 3 * 3600)
    again = fetch_all(make(catalogue, seed=7, scenario=scenario, start=ANCHOR), None,
                      ANCHOR + 3 * 3600)
    assert first == again


def test_another_seed_gives_other_values(catalogue: Catalogue) -> None:
    one = {(s.metric, s.scope, s.ts): s.value
           for s in fetch_all(make(catalogue, seed=1, start=ANCHOR), None, ANCHOR)}
    two = {(s.metric, s.scope, s.ts): s.value
           for s in fetch_all(make(catalogue, seed=2, start=ANCHOR), None, ANCHOR)}
    assert one.keys() == two.keys()
    differing = sum(one[k] != two[k] for k in one)
    assert differing > len(one) / 2


def test_a_reading_is_the_same_whichever_window_fetched_it(catalogue: Catalogue) -> None:
    # The "today" counts are integrals from midnight: they must not depend on the window.
    feeds = make(catalogue, seed=3, scenario=load_scenario("handover-crisis", catalogue),
                 start=ANCHOR)
    now = ANCHOR + 3 * HOUR
    whole = {(s.metric, s.scope, s.ts): s.value for s in fetch_all(feeds, None, now)}
    piece = {(s.metric, s.scope, s.ts): s.value for s in fetch_all(feeds, now - 600, now)}
    assert piece
    assert all(whole[k] == v for k, v in piece.items())


# --- windowing --------------------------------------------------------------------------


def test_fetch_returns_grid_points_after_since_up_to_now(catalogue: Catalogue) -> None:
    feed = make(catalogue, start=ANCHOR)["sim-call_handling"]
    times = sorted({s.ts for s in feed.fetch(ANCHOR - 60, ANCHOR)})
    assert times == [ANCHOR - 45, ANCHOR - 30, ANCHOR - 15, ANCHOR]  # since excluded, now in
    times = sorted({s.ts for s in feed.fetch(ANCHOR - 61, ANCHOR + 14.9)})
    assert times == [ANCHOR - 60, ANCHOR - 45, ANCHOR - 30, ANCHOR - 15, ANCHOR]
    assert feed.fetch(ANCHOR, ANCHOR) == []
    assert feed.fetch(ANCHOR, ANCHOR + 14.9) == []


def test_backfill_and_any_window_are_capped_at_six_hours(catalogue: Catalogue) -> None:
    for feed in make(catalogue, start=ANCHOR).values():
        now = ANCHOR + 7
        for since in (None, now - 30 * 86400):
            times = sorted({s.ts for s in feed.fetch(since, now)})
            assert len(times) == HISTORY / feed.interval
            assert times[0] > now - HISTORY and times[-1] <= now
            assert all(t % feed.interval == 0 for t in times)


def test_samples_cover_any_span_and_agree_with_fetch(catalogue: Catalogue) -> None:
    # For backtests and warm-up history: no six-hour cap, the same readings as polling.
    feeds = make(catalogue, scenario=load_scenario("winter-evening-surge", catalogue),
                 start=ANCHOR + 17 * HOUR)
    for feed in feeds.values():
        long = feed.samples(ANCHOR, ANCHOR + 12 * HOUR)
        assert len({s.ts for s in long}) == 12 * HOUR / feed.interval
        polled = feed.fetch(ANCHOR + 11 * HOUR, ANCHOR + 12 * HOUR)
        assert set(polled) <= set(long)


# --- plausibility -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["quiet-day", "winter-evening-surge", "handover-crisis",
                                  "major-incident", "feed-outage"])
def test_every_sample_passes_the_store_checks(catalogue: Catalogue, name: str) -> None:
    feeds = make(catalogue, seed=5, scenario=load_scenario(name, catalogue), start=ANCHOR,
                 poll_spacing=60.0)
    for now in (ANCHOR, ANCHOR + 6 * HOUR, ANCHOR + 12 * HOUR):
        samples = []
        for feed in feeds.values():
            try:
                samples += feed.fetch(None, now)
            except FetchFailed:
                assert name == "feed-outage"
        good, bad = check_samples(samples, catalogue, now, retention=7 * 86400)
        assert bad == []
        assert len(good) == len(samples) > 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_ordinary_day_looks_ordinary(catalogue: Catalogue, seed: int) -> None:
    feeds = make(catalogue, seed=seed, start=ANCHOR)
    samples = [s for hours in range(6, 30, 6) for s in fetch_all(feeds, None,
                                                                  ANCHOR + hours * 3600)]
    series = by_series(samples)

    def within(metric: str, scope: str, low: float, high: float) -> None:
        values = series[(metric, scope)][1]
        assert low <= np.percentile(values, 5) and np.percentile(values, 95) <= high, metric

    within("calls.waiting", TRUST, 0, 18)
    within("calls.answer_mean", TRUST, 2, 22)
    within("ae.c2_mean", TRUST, 22, 40)
    within("pts.on_time_pct", TRUST, 84, 93)
    for hospital in HOSPITALS:
        within("ae.handover_queue", hospital, 0, 5)
        queue = series[("ae.handover_queue", hospital)][1]
        longest = series[("ae.handover_longest", hospital)][1]
        assert np.all(longest[queue == 0] == 0)  # nobody waiting, no wait
        assert 10 <= np.median(longest[queue > 0]) <= 40


def test_evening_is_busier_than_the_small_hours(catalogue: Catalogue) -> None:
    feeds = make(catalogue)
    for day in range(8, 12):  # Wednesday 8 to Saturday 11 January 2025
        midnight = dt.datetime(2025, 1, day, tzinfo=UTC).timestamp()
        evening = by_series(fetch_all(feeds, None, midnight + 23 * 3600))
        night = by_series(fetch_all(feeds, None, midnight + 6 * 3600))
        for metric in ("calls.waiting", "ae.stack", "ae.handover_queue"):
            ts, values = evening[(metric, TRUST)]
            busy = values[(ts >= midnight + 19 * 3600)].mean()
            ts, values = night[(metric, TRUST)]
            quiet = values[(ts >= midnight + 3 * 3600) & (ts < midnight + 5 * 3600)].mean()
            assert busy > 2 * quiet, (day, metric)


def test_trust_figures_agree_with_the_sites(catalogue: Catalogue) -> None:
    feeds = make(catalogue, scenario=load_scenario("handover-crisis", catalogue),
                 start=ANCHOR)
    series = by_series(fetch_all(feeds, None, ANCHOR + 3 * HOUR))

    def sites(metric: str, codes: tuple[str, ...]) -> np.ndarray:
        return np.array([series[(metric, code)][1] for code in codes])

    for metric, codes in (("ae.handover_queue", HOSPITALS), ("ae.handovers_over_60", HOSPITALS),
                          ("ae.hours_lost", HOSPITALS), ("calls.waiting", EOCS),
                          ("pts.journeys_planned", ZONES), ("pts.journeys_completed", ZONES),
                          ("pts.discharges_over_2h", ZONES)):
        assert series[(metric, TRUST)][1] == pytest.approx(sites(metric, codes).sum(axis=0))
    longest = sites("ae.handover_longest", HOSPITALS).max(axis=0)
    assert np.array_equal(series[("ae.handover_longest", TRUST)][1], longest)
    for metric, codes in (("calls.answer_mean", EOCS), ("pts.on_time_pct", ZONES)):
        values = sites(metric, codes)
        trust = series[(metric, TRUST)][1]
        assert np.all(values.min(axis=0) - 0.5 <= trust)
        assert np.all(trust <= values.max(axis=0) + 0.5)
    planned = series[("pts.journeys_planned", TRUST)][1]
    assert np.all(series[("pts.journeys_completed", TRUST)][1] <= planned)


def test_sites_differ_in_size(catalogue: Catalogue) -> None:
    series = by_series(fetch_all(make(catalogue, start=ANCHOR), None, ANCHOR + 20 * 3600))
    lost = [series[("ae.hours_lost", code)][1][-1] for code in HOSPITALS]
    assert max(lost) > 1.5 * min(lost)


@pytest.mark.parametrize(("midnight", "description"), [
    (dt.datetime(2025, 3, 30, 0, tzinfo=UTC), "clocks go forward at 01:00 GMT"),
    (dt.datetime(2025, 10, 25, 23, tzinfo=UTC), "clocks went back, midnight is 23:00 UTC"),
    (dt.datetime(2025, 1, 8, 0, tzinfo=UTC), "an ordinary winter midnight"),
])
def test_today_counts_grow_all_day_and_restart_at_local_midnight(
        catalogue: Catalogue, midnight: dt.datetime, description: str) -> None:
    feeds = make(catalogue)
    reset = midnight.timestamp()
    series = by_series(fetch_all(feeds, None, reset + 3 * 3600)
                       + fetch_all(feeds, None, reset - 3 * 3600))
    for metric in ("ae.hours_lost", "ae.handovers_over_60", "pts.late_renal_oncology",
                   "pts.journeys_completed"):
        for scope in catalogue.scopes_of(catalogue.metrics[metric]):
            ts, values = series[(metric, scope)]
            before, after = values[ts < reset], values[ts >= reset]
            assert np.all(np.diff(before) >= 0) and np.all(np.diff(after) >= 0), description
            assert after[0] < before[-1] or before[-1] == 0, (metric, scope, description)
            assert after[0] <= 1, (metric, scope, description)


# --- scenarios ----------------------------------------------------------------------------


def surge_against_normal(catalogue: Catalogue, name: str, **config: object) -> tuple[
        float, dict[tuple[str, str], tuple[np.ndarray, np.ndarray]],
        dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]]:
    """(start, six hours from the start with the scenario, the same hours without its events).

    The scenario starts at its start_time on Monday 6 January 2025 (at midnight without one).
    """
    scenario = load_scenario(name, catalogue)
    normal = Scenario("normal", "no events", (), scenario.start_time)
    start = ANCHOR
    if scenario.start_time is not None:
        start += scenario.start_time.hour * HOUR + scenario.start_time.minute * 60
    end = start + 6 * HOUR
    with_events = fetch_all(make(catalogue, scenario=scenario, start=start, **config), start, end)
    without = fetch_all(make(catalogue, scenario=normal, start=start, **config), start, end)
    return start, by_series(with_events), by_series(without)


def test_a_surge_reaches_calls_first_then_triage_stack_and_handover(
        catalogue: Catalogue) -> None:
    _, surge, normal = surge_against_normal(catalogue, "winter-evening-surge")
    rise = {}
    for metric in ("calls.waiting", "triage.waiting", "ae.stack", "ae.handover_queue"):
        ts, values = surge[(metric, TRUST)]
        rise[metric] = first_above(ts, (values + 1) / (normal[(metric, TRUST)][1] + 1), 1.5)
    assert rise["calls.waiting"] < rise["triage.waiting"] < rise["ae.stack"] \
        < rise["ae.handover_queue"]
    assert rise["ae.handover_queue"] - rise["calls.waiting"] >= 3600
    # What a control room would see at the height of a winter surge.
    assert surge[("calls.waiting", TRUST)][1].max() >= 40
    assert surge[("calls.answer_mean", TRUST)][1].max() >= 100
    # C2 mean is over a rolling 24 h, so two hours of surge lift it from ~30 to ~50 min.
    assert surge[("ae.c2_mean", TRUST)][1].max() >= 1.4 * normal[("ae.c2_mean", TRUST)][1].max()
    assert surge[("ae.resources_vs_plan", TRUST)][1].min() \
        < normal[("ae.resources_vs_plan", TRUST)][1].min()


def test_events_are_timed_from_the_start(catalogue: Catalogue) -> None:
    # A surge 30 minutes after the start: before then the trust is exactly as without it.
    events = (ScenarioEvent("surge", at=1800, duration=2 * 3600, magnitude=1.0, ramp=600),)
    scenario = Scenario("evening", "a surge at 30m", events)
    for start in (ANCHOR + 17 * HOUR, ANCHOR + 41 * HOUR + 1234):
        ts, calls = by_series(make(catalogue, scenario=scenario, start=start)[
            "sim-call_handling"].samples(start - HOUR, start + 2 * HOUR))[("calls.waiting", TRUST)]
        base = by_series(make(catalogue, start=start)["sim-call_handling"].samples(
            start - HOUR, start + 2 * HOUR))[("calls.waiting", TRUST)][1]
        before = ts <= start + 1800
        assert np.array_equal(calls[before], base[before])
        assert np.all(calls[ts >= start + 2400] > base[ts >= start + 2400])


def test_without_events_the_start_changes_nothing(catalogue: Catalogue) -> None:
    # Values follow the local time they are for, not the time since the start.
    one = fetch_all(make(catalogue, seed=4, start=ANCHOR), None, ANCHOR + 20 * HOUR)
    two = fetch_all(make(catalogue, seed=4, start=ANCHOR + 5 * HOUR + 17), None,
                    ANCHOR + 20 * HOUR)
    assert one == two


def test_handover_crisis_backs_up_one_hospital_only(catalogue: Catalogue) -> None:
    start, crisis, normal = surge_against_normal(catalogue, "handover-crisis")
    ts, queue = crisis[("ae.handover_queue", "RVJ")]
    assert at(ts, queue, start + 5 * 60) <= 4  # before it starts
    assert 10 <= queue.max() <= 16
    longest = crisis[("ae.handover_longest", "RVJ")][1]
    assert 120 <= longest.max() <= 240
    for code in HOSPITALS[1:]:
        assert crisis[("ae.handover_queue", code)][1].max() <= 6
        assert np.array_equal(crisis[("ae.handover_queue", code)][1],
                              normal[("ae.handover_queue", code)][1])
    assert crisis[("ae.hours_lost", "RVJ")][1][-1] > 3 * normal[("ae.hours_lost", "RVJ")][1][-1]


def test_major_incident_floods_calls_then_triage_and_stack(catalogue: Catalogue) -> None:
    start, incident, normal = surge_against_normal(catalogue, "major-incident")
    ts, calls = incident[("calls.waiting", TRUST)]
    assert calls.max() >= 100
    peak = ts[calls.argmax()]
    assert peak - start <= 30 * 60  # within minutes of the declaration at 15m
    for metric in ("triage.waiting", "ae.stack"):
        ts, values = incident[(metric, TRUST)]
        assert ts[values.argmax()] > peak
        assert values.max() > 2 * normal[(metric, TRUST)][1].max()


def test_feed_outage_fails_the_named_feed_inside_its_window_only(
        catalogue: Catalogue) -> None:
    feeds = make(catalogue, scenario=load_scenario("feed-outage", catalogue), start=ANCHOR)
    triage = feeds["sim-clinical_triage"]
    assert triage.fetch(None, ANCHOR + 119)
    for now in (ANCHOR + 120, ANCHOR + 400, ANCHOR + 719):
        with pytest.raises(FetchFailed, match=r"sim-clinical_triage: .*outage"):
            triage.fetch(ANCHOR, now)
        for other in ("sim-call_handling", "sim-ae", "sim-pts"):
            assert feeds[other].fetch(ANCHOR, now)
    after = {s.ts for s in triage.fetch(ANCHOR, ANCHOR + 900)}
    # The readings for the outage never arrive: the gap stays visible.
    assert after == {ANCHOR + k * 30 for k in range(1, 31) if not 120 <= k * 30 < 720}


@pytest.mark.parametrize(("poll_spacing", "lasts"), [(0.0, 60), (15.0, 60), (60.0, 180),
                                                     (600.0, 1800)])
def test_an_outage_lasts_at_least_three_polls_whatever_the_speed(
        catalogue: Catalogue, poll_spacing: float, lasts: float) -> None:
    # A one-minute outage; at --speed N the worker polls a feed every max(interval, N)
    # Surge seconds, so a fast exercise stretches it to three polls rather than miss it.
    events = (ScenarioEvent("feed_outage", at=600, duration=60, feed="sim-call_handling"),)
    scenario = Scenario("blip", "a one-minute outage at 10m", events)
    feed = make(catalogue, scenario=scenario, start=ANCHOR,
                poll_spacing=poll_spacing)["sim-call_handling"]
    assert feed.fetch(None, ANCHOR + 599)
    for now in (ANCHOR + 600, ANCHOR + 600 + lasts - 1):
        with pytest.raises(FetchFailed, match="simulated outage"):
            feed.fetch(None, now)
    times = {s.ts for s in feed.fetch(ANCHOR, ANCHOR + 600 + lasts)}
    assert times == {ANCHOR + k * 15 for k in range(1, 40)} | {ANCHOR + 600 + lasts}


def test_bad_settings_are_config_errors(catalogue: Catalogue) -> None:
    with pytest.raises(ConfigError, match="poll spacing"):
        simulated_feeds(catalogue, SimulatorConfig(poll_spacing=-1))
    wrong = Scenario("wrong", "names a site the trust lacks",
                     (ScenarioEvent("handover_crisis", 60, 600, site="RVX"),))
    with pytest.raises(ConfigError, match=r"unknown site 'RVX' \(did you mean 'RVJ'\?\)"):
        simulated_feeds(catalogue, SimulatorConfig(scenario=wrong))
