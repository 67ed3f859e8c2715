"""Scenario files: the shipped ones load, and bad ones say where and what is wrong."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest

from feeds.scenario import (
    EVENT_KINDS,
    Expectations,
    LevelExpectation,
    LevelHistory,
    Scenario,
    ScenarioEvent,
    available_scenarios,
    load_scenario,
)
from surge.catalogue import Catalogue, load_catalogue
from surge.errors import ConfigError
from surge.rules.loader import load_rules
from surge.rules.model import Rules

RULES = Path(__file__).resolve().parents[2] / "surge_rules.yaml"
SHIPPED = ("feed-outage", "handover-crisis", "major-incident", "quiet-day",
           "winter-evening-surge")


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(RULES)


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules(RULES)


def problems_of(path: Path, catalogue: Catalogue | None = None,
                rules: Rules | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_scenario(path, catalogue, rules=rules)
    return str(caught.value).splitlines()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_scenarios_are_listed() -> None:
    assert set(SHIPPED) <= set(available_scenarios())


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_scenario_loads_against_the_catalogue(catalogue: Catalogue,
                                                           name: str) -> None:
    scenario = load_scenario(name, catalogue)
    assert scenario.name == name
    assert len(scenario.description) > 40
    assert all(e.kind in EVENT_KINDS for e in scenario.events)
    assert list(scenario.events) == sorted(scenario.events, key=lambda e: e.at)


def test_shipped_scenarios_say_what_they_do(catalogue: Catalogue) -> None:
    surge = load_scenario("winter-evening-surge", catalogue)
    assert surge.start_time is not None and 16 <= surge.start_time.hour <= 18
    (event,) = surge.events
    assert event.kind == "surge" and 0.6 <= event.magnitude <= 0.8
    assert not event.functions  # every function
    # Long enough to escalate, over early enough for the levels to fall within the window.
    assert event.duration >= 90 * 60 and surge.expect is not None
    assert event.end <= surge.expect.within / 2
    (crisis,) = load_scenario("handover-crisis", catalogue).events
    assert (crisis.kind, crisis.site) == ("handover_crisis", "RVJ")
    (outage,) = load_scenario("feed-outage", catalogue).events
    assert (outage.feed, outage.at, outage.end) == ("sim-clinical_triage", 120, 720)
    assert load_scenario("major-incident", catalogue).events[0].kind == "major_incident"
    assert load_scenario("quiet-day", catalogue).events == ()


def test_a_scenario_loads_from_a_path(tmp_path: Path) -> None:
    path = write(tmp_path, """\
description: A short test of a surge.
start_time: "07:45"
events:
  - {kind: surge, at: 1h30m, for: 2h, magnitude: 0.5, functions: [call_handling]}
  - {kind: major_incident, at: 10m, for: 1h, label: Fire at a care home}
""")
    scenario = load_scenario(path)
    assert scenario.name == "scenario" and scenario.source == str(path)
    assert scenario.start_time == dt.time(7, 45)
    incident, surge = scenario.events
    assert (incident.at, incident.duration, incident.magnitude) == (600, 3600, 1.0)
    assert incident.label == "Fire at a care home"
    assert (surge.at, surge.functions) == (5400, ("call_handling",))
    assert surge.affects("call_handling") and not surge.affects("ae")


def test_an_unknown_name_lists_what_there_is() -> None:
    with pytest.raises(ConfigError) as caught:
        load_scenario("winter-evening-surg")
    message = str(caught.value)
    assert "did you mean 'winter-evening-surge'?" in message
    assert all(name in message for name in SHIPPED)


def test_every_problem_is_reported_at_once_with_its_position(tmp_path: Path,
                                                            catalogue: Catalogue) -> None:
    path = write(tmp_path, """\
descripton: Typo in a key.
start_time: "25:00"
events:
  - kind: surge
    at: 10x
    for: 1h
    magnitude: -1
    site: RVJ
  - kind: handover_crysis
    at: 5m
    for: 1h
  - kind: handover_crisis
    site: RVX
    at: 5m
    for: 1h
    magnitud: 2
  - kind: feed_outage
    feed: sim-clinical_triag
    at: 1m
    for: 0
  - kind: surge
    at: 1m
    for: 1h
    ramp: 40m
    magnitude: 70
""")
    problems = problems_of(path, catalogue)
    expected = [
        (1, 1, "unknown key 'descripton' (did you mean 'description'?)"),
        (1, 1, "missing required key 'description'"),
        (2, 13, "start_time: expected a local time of day such as \"17:30\""),
        (5, 9, "events[0].at: expected a duration such as 30s"),
        (7, 16, "events[0].magnitude: magnitude must be a positive number, got -1"),
        (8, 5, "'site' does not apply to a surge event (it is for handover_crisis)"),
        (9, 11, "events[1].kind: expected one of surge | handover_crisis | major_incident | "
                "feed_outage, got 'handover_crysis' (did you mean 'handover_crisis'?)"),
        (13, 11, "events[2].site: unknown site 'RVX' (did you mean 'RVJ'?)"),
        (16, 5, "events[2]: unknown key 'magnitud' (did you mean 'magnitude'?)"),
        (18, 11, "events[3].feed: unknown feed 'sim-clinical_triag' "
                 "(did you mean 'sim-clinical_triage'?)"),
        (20, 10, "events[3].for: an event must last longer than 0s"),
        (24, 11, "events[4].ramp: ramp 40m is more than half of for (1h)"),
        (25, 16, "did you mean 0.7?"),
    ]
    assert len(problems) == len(expected), "\n".join(problems)
    for (line, col, text), problem in zip(expected, problems, strict=True):
        assert problem.startswith(f"{path}:{line}:{col}: "), problem
        assert text in problem


def test_catalogue_names_are_checked_only_with_a_catalogue(tmp_path: Path,
                                                          catalogue: Catalogue) -> None:
    path = write(tmp_path, """\
description: Names the catalogue does not have.
events:
  - {kind: handover_crisis, site: EOC-N, at: 0, for: 1h}
  - {kind: surge, at: 0, for: 1h, magnitude: 0.2, functions: [call_handling, triage]}
""")
    assert len(load_scenario(path).events) == 2
    problems = problems_of(path, catalogue)
    assert len(problems) == 2
    assert re.match(rf"{re.escape(str(path))}:3:\d+: events\[0\]\.site: EOC-N is a eoc, "
                    r"not a hospital", problems[0])
    assert problems[1].startswith(f"{path}:4:")
    assert "unknown function 'triage'" in problems[1]


@pytest.mark.parametrize(("text", "message"), [
    ("", "the file is empty"),
    ("- just a list\n", "expected a scenario"),
    ("description: x\nevents: {kind: surge}\n", "expected a list of events"),
    ("description: x\nevents: [surge]\n", "expected an event"),
    ("description: x\nevents:\n  - {kind: surge, at: 0, for: 1h}\n",
     "missing required key 'magnitude'"),
    ("description: x\nevents:\n  - {kind: feed_outage, at: 0, for: 1h, feed: clinical}\n",
     "expected a simulated feed such as sim-clinical_triage"),
    ("description: x\nevents:\n  - {kind: major_incident, at: 0, for: 1h, magnitude: big}\n",
     "expected a positive number, got 'big'"),
    ("description: x\nstart_time: 17:30:00\nevents: []\n", "start_time"),
    ("description: x\nevents: [\n", "YAML syntax"),
])
def test_bad_files_are_config_errors(tmp_path: Path, text: str, message: str) -> None:
    problems = problems_of(write(tmp_path, text))
    assert any(message in p for p in problems), problems
    assert all(re.match(rf"{re.escape(str(tmp_path))}\S*:\d+:\d+: ", p) for p in problems)


def test_events_ramp_smoothly_and_outages_switch() -> None:
    surge = ScenarioEvent("surge", at=600, duration=3600, magnitude=0.7, ramp=600)
    minutes = np.arange(0, 90 * 60 + 1, 60.0)
    strength = surge.envelope(minutes)
    assert strength[minutes < 600].max() == 0 and strength[minutes >= 4200].max() == 0
    assert strength[(minutes >= 1200) & (minutes <= 3600)].min() == 1
    assert np.abs(np.diff(strength)).max() < 0.2  # no step from one minute to the next
    incident = ScenarioEvent("major_incident", at=0, duration=3 * 3600, ramp=180)
    peak = incident.envelope(np.array([180.0, 3600.0, 2 * 3600.0, 3 * 3600.0]))
    assert peak[0] == pytest.approx(1) and 1 > peak[1] > peak[2] > peak[3] == 0
    outage = ScenarioEvent("feed_outage", at=120, duration=600, feed="sim-ae")
    scenario = Scenario("x", "y", (outage,))
    assert scenario.outage("sim-ae", 119.9) is None
    assert scenario.outage("sim-ae", 120) is outage and scenario.outage("sim-ae", 719) is outage
    assert scenario.outage("sim-ae", 720) is None and scenario.outage("sim-pts", 300) is None


# --- expect: what a scenario should do to the levels ----------------------------------------


def test_expectations_load_with_their_positions(tmp_path: Path, rules: Rules) -> None:
    path = write(tmp_path, """\
description: A surge that should escalate and settle.
events: []
expect:
  within: 4h30m
  levels:
    call_handling: {peak: 3, back_to: 2}
    ae@RVJ: {peak_at_most: 2}
    overall:
      peak: 2
      peak_at_most: 4
      stale: false
""")
    expect = load_scenario(path, rules=rules).expect
    assert expect is not None and expect.within == 4 * 3600 + 1800
    assert expect.levels == (
        LevelExpectation("call_handling", peak=3, back_to=2),
        LevelExpectation("ae@RVJ", peak_at_most=2),
        LevelExpectation("overall", peak=2, peak_at_most=4, stale=False))
    assert [e.where for e in expect.levels] == [(str(path), 6, 5), (str(path), 7, 5),
                                                (str(path), 8, 5)]
    assert load_scenario("quiet-day").expect is not None  # no rules needed to load


def test_bad_expectations_say_where_and_what(tmp_path: Path, rules: Rules) -> None:
    path = write(tmp_path, """\
description: Expectations with every kind of mistake.
events: []
expect:
  within: 0
  levles: {}
  levels:
    call_handlng: {peak: 3}
    ae@RVX: {peak: 3}
    pts@PTS-N: {peak: 2}
    overall: {peak: 3, back_to: 3, peek_at_most: 4}
    ae: {peak: 5, peak_at_most: 2}
    clinical_triage: {stale: sometimes}
    call_handling: {}
""")
    problems = problems_of(path, rules=rules)
    expected = [
        (4, 11, "expect.within: within must be longer than 0s"),
        (5, 3, "expect: unknown key 'levles' (did you mean 'levels'?)"),
        (7, 5, "expect.levels.call_handlng: unknown level 'call_handlng' "
               "(did you mean 'call_handling'?)"),
        (8, 5, "expect.levels.ae@RVX: ae has no level at 'RVX' (did you mean 'ae@RVJ'?)"),
        (9, 5, "expect.levels.pts@PTS-N: pts has no per-site levels (those that do: ae)"),
        (10, 33, "expect.levels.overall.back_to: back_to 3 is not below peak 3"),
        (10, 36, "expect.levels.overall: unknown key 'peek_at_most' "
                 "(did you mean 'peak_at_most'?)"),
        (11, 16, f"expect.levels.ae.peak: no level 5 in {RULES}; its levels are 1, 2, 3, 4"),
        (11, 33, "expect.levels.ae.peak_at_most: peak_at_most 2 is below peak 5"),
        (12, 30, "expect.levels.clinical_triage.stale: expected true or false, "
                 "got 'sometimes'"),
        (13, 20, "expect.levels.call_handling: expected at least one of peak, peak_at_most, "
                 "back_to, stale"),
    ]
    assert len(problems) == len(expected), "\n".join(problems)
    for line, col, text in expected:
        assert any(p.startswith(f"{path}:{line}:{col}: ") and text in p for p in problems), \
            (line, col, text, problems)


@pytest.mark.parametrize(("text", "message"), [
    ("expect: [overall]\n", "expected expectations (a mapping with within and levels)"),
    ("expect: {levels: {overall: {peak: 3}}}\n", "missing required key 'within'"),
    ("expect: {within: 1h, levels: {}}\n", "expected at least one level"),
    ("expect: {within: 1h, levels: {overall: 3}}\n", "expected what the level should do"),
    ("expect: {within: 1h, levels: {overall: {peak: three}}}\n",
     "expected a level number such as 3, got 'three'"),
    ("expect: {within: 1h, levels: {overall: {peak: 2.5}}}\n",
     "expected a level number such as 3, got 2.5"),
    ("expect: {within: 6 hours, levels: {overall: {peak: 2}}}\n", "expect.within: expected a"),
])
def test_bad_expectation_shapes(tmp_path: Path, text: str, message: str) -> None:
    problems = problems_of(write(tmp_path, "description: x\nevents: []\n" + text))
    assert any(message in p for p in problems), problems
    assert all(re.match(rf"{re.escape(str(tmp_path))}\S*:\d+:\d+: ", p) for p in problems)


def test_a_history_knows_its_peak_its_fall_and_when_it_went_stale() -> None:
    history = LevelHistory(2, False, ((600, 3, False), (1200, 4, False), (3000, 3, True),
                                      (5400, 2, False), (6000, 4, False)))
    assert history.peak() == (4, 1200)
    assert history.fell_to(2) == 5400 and history.fell_to(1) is None
    assert history.fell_to(4) == 1200  # never above it
    assert history.first_stale() == 3000
    assert LevelHistory(1, True).first_stale() == 0 and LevelHistory(1).peak() == (1, 0)


def test_unmet_expectations_read_as_problems_in_the_file() -> None:
    history = {"overall": LevelHistory(1, False, ((1800, 3, False),)),
               "ae": LevelHistory(1, False, ((60, 1, True),))}
    expect = Expectations(3600, (
        LevelExpectation("overall", peak=3, back_to=2, where=("s.yaml", 9, 5)),
        LevelExpectation("ae", peak=2, peak_at_most=1, stale=False, where=("s.yaml", 10, 5)),
        LevelExpectation("pts@X", peak=2, where=("s.yaml", 11, 5))))
    assert [str(p) for p in expect.unmet(history)] == [
        "s.yaml:9:5: expect.levels.overall: overall reached level 3 (at +30m) and did not "
        "fall back to 2 or lower within 1h",
        "s.yaml:10:5: expect.levels.ae: ae reached level 1, expected 2 or higher within 1h",
        "s.yaml:10:5: expect.levels.ae: ae was flagged stale at +1m within 1h",
        "s.yaml:11:5: expect.levels.pts@X: no level named 'pts@X' within 1h",
    ]
    assert Expectations(3600, (LevelExpectation("overall", peak=3, peak_at_most=3),)).unmet(
        history) == []
