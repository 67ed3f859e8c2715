"""Every shipped scenario does what its ``expect:`` says, through the shipped rules.

A scenario is played by the simulator from six hours before its start (the history the first
poll of a run backfills) to the end of its ``within``, at each feed's interval, and the
samples go through the real rules engine with surge_rules.yaml exactly as shipped, as a
backtest does. If a scenario stops meeting its expectations, change the scenario: the rules
are the product's and are never adjusted here.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import pytest

from feeds.scenario import LevelHistory, Scenario, available_scenarios, load_scenario
from feeds.simulator import HISTORY, SimulatorConfig, simulated_feeds
from surge.clock import scenario_origin
from surge.errors import Problem
from surge.rules.engine import Evaluator
from surge.rules.loader import load_rules
from surge.rules.model import Rules

RULES = Path(__file__).resolve().parents[2] / "surge_rules.yaml"
SPEED = 60.0  # the exercise speed the acceptance is stated for: 6 h of scenario in 6 minutes
# Days an exercise might be run on: a winter Monday, the day the clocks go forward, a summer
# Saturday, the day the clocks go back, a December Saturday. A scenario with a start_time
# starts at it that day; one without starts when the run does, at the hour given.
DAYS = [(dt.date(2025, 1, 6), 9), (dt.date(2025, 3, 30), 0), (dt.date(2025, 7, 12), 18),
        (dt.date(2025, 10, 26), 12), (dt.date(2025, 12, 20), 21)]
SEEDS = (1, 2, 3)  # every seed on the first day; seed 1 on the others


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules(RULES)


def start_of(scenario: Scenario, day: dt.date, hour: int, rules: Rules) -> float:
    """Surge time the exercise clock starts at, for a run started on that day."""
    tz = rules.catalogue.timezone
    real_now = dt.datetime.combine(day, dt.time(hour), tz).timestamp()
    if scenario.start_time is not None:  # started late that evening: the start time passed
        real_now = dt.datetime.combine(day, dt.time(23, 59), tz).timestamp()
    return scenario_origin(scenario.start_time, real_now, tz)


def play(rules: Rules, scenario: Scenario, seed: int, start: float) -> dict[str, LevelHistory]:
    """Each level's history over the scenario's window, from the simulator's samples."""
    assert scenario.expect is not None
    end = start + scenario.expect.within
    config = SimulatorConfig(seed=seed, scenario=scenario, start=start, poll_spacing=SPEED)
    samples = [s for feed in simulated_feeds(rules.catalogue, config)
               for s in feed.samples(start - HISTORY, end)]
    evaluator = Evaluator(rules, start - HISTORY)
    evaluator.run([s for s in samples if s.ts < start], start - 0.001)
    initial = {name: (view.level, view.stale) for name, view in evaluator.derived.items()}
    changes: dict[str, list[tuple[float, int, bool]]] = defaultdict(list)
    for t in evaluator.run([s for s in samples if s.ts >= start], end):
        if t.name in initial:
            changes[t.name].append((t.at - start, t.new, t.stale))
    return {name: LevelHistory(level, stale, tuple(changes[name]))
            for name, (level, stale) in initial.items()}


def cases() -> list[tuple[str, dt.date, int, int]]:
    return [(name, day, hour, seed) for name in available_scenarios()
            for i, (day, hour) in enumerate(DAYS) for seed in (SEEDS if i == 0 else SEEDS[:1])]


def test_every_shipped_scenario_says_what_it_should_do(rules: Rules) -> None:
    for name in available_scenarios():
        scenario = load_scenario(name, rules=rules)  # level names checked against the rules
        assert scenario.expect is not None and scenario.expect.levels, name
        assert scenario.expect.within <= 6 * 3600, name  # 6 real minutes at x60


@pytest.mark.parametrize(("name", "day", "hour", "seed"), cases(),
                         ids=lambda v: v.isoformat() if isinstance(v, dt.date) else str(v))
def test_the_scenario_meets_its_expectations(rules: Rules, name: str, day: dt.date, hour: int,
                                             seed: int) -> None:
    scenario = load_scenario(name, rules=rules)
    assert scenario.expect is not None
    histories = play(rules, scenario, seed, start_of(scenario, day, hour, rules))
    unmet = scenario.expect.unmet(histories)
    assert unmet == [], "\n".join(map(str, unmet))


# --- the acceptance the shipped scenarios stand for ----------------------------------------
# The expectations in the files can be edited; these are the product's promises at --speed 60,
# checked here so that weakening a file's `expect:` cannot quietly drop one.


def expected(name: str, rules: Rules) -> dict[str, tuple[int | None, int | None, int | None,
                                                         bool | None]]:
    scenario = load_scenario(name, rules=rules)
    assert scenario.expect is not None and scenario.expect.within <= 6 * 3600
    return {e.name: (e.peak, e.peak_at_most, e.back_to, e.stale) for e in scenario.expect.levels}


def test_the_expectations_hold_the_products_promises(rules: Rules) -> None:
    surge = expected("winter-evening-surge", rules)
    for name in ("call_handling", "overall"):  # to 3 or higher, and back down again
        peak, _, back_to, _ = surge[name]
        assert peak is not None and peak >= 3 and back_to is not None and back_to < 3
    crisis = expected("handover-crisis", rules)
    assert (crisis["ae"][0] or 0) >= 3 and (crisis["ae@RVJ"][0] or 0) >= 3
    assert (expected("major-incident", rules)["call_handling"][0] or 0) >= 3
    quiet = expected("quiet-day", rules)["overall"]
    assert quiet[1] is not None and quiet[1] <= 2 and quiet[3] is False
    outage = expected("feed-outage", rules)
    assert outage["clinical_triage"][3] is True


def test_an_unmet_expectation_says_which_and_where(rules: Rules, tmp_path: Path) -> None:
    path = tmp_path / "too-quiet.yaml"
    path.write_text("""\
description: Nothing happens, but the file says the trust reaches level 4.
start_time: "03:00"
events: []
expect:
  within: 1h
  levels:
    overall: {peak: 4}
    ae@RVJ: {stale: true}
""", encoding="utf-8")
    scenario = load_scenario(path, rules=rules)
    assert scenario.expect is not None
    unmet = scenario.expect.unmet(play(rules, scenario, 1, start_of(
        scenario, dt.date(2025, 1, 8), 0, rules)))
    assert [(p.line, p.col) for p in unmet] == [(7, 5), (8, 5)]
    assert all(isinstance(p, Problem) and p.source == str(path) for p in unmet)
    assert "overall reached level 1, expected 4 or higher within 1h" in str(unmet[0])
    assert "ae@RVJ was never flagged stale within 1h" in str(unmet[1])
