"""Published levels, typed: every shape the engine publishes read into PublishedLevel, and the
sentences a control room reads from them (surge/levels.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from surge.catalogue import Catalogue
from surge.levels import (
    Aggregate,
    PublishedLevel,
    SiteValue,
    describe,
    describe_pending,
    parse_levels,
)
from surge.rules.engine import Evaluator
from surge.rules.live import LiveEngine
from surge.rules.loader import load_rules
from surge.rules.model import Rules
from surge.samples import Sample

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "surge_rules.yaml"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
MIN = 60.0


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules(RULES)


def minutes(metric: str, values: list[float], scope: str = "trust") -> list[Sample]:
    return [Sample(metric, scope, T0 + i * MIN, v) for i, v in enumerate(values)]


def run(rules: Rules, samples: list[Sample], until: float) -> dict[str, PublishedLevel]:
    """Every level as the engine would publish it at ``until``, typed."""
    evaluator = Evaluator(rules, T0)
    evaluator.run(samples, until)
    return parse_levels(evaluator.explain(), rules.catalogue)


@pytest.fixture(scope="module")
def pressure(rules: Rules) -> dict[str, PublishedLevel]:
    """12 minutes of pressure: 40 calls waiting from minute 3, two hospitals with handover
    waits over an hour, clinical triage scoring, and the stack climbing past 200."""
    samples = (minutes("calls.waiting", [2, 2, 2] + [40] * 10)
               + minutes("ae.handover_longest", [70] * 13, "RVJ")
               + minutes("ae.handover_longest", [65] * 13, "RK9")
               + minutes("triage.waiting", [120] * 13)
               + minutes("triage.longest_wait", [95] * 13)
               + minutes("ae.stack", [50] * 10 + [210] * 3))
    return run(rules, samples, T0 + 12 * MIN)


# --- what the engine publishes, read -------------------------------------------------------------


def test_a_trigger_is_read_into_its_test(pressure: dict[str, PublishedLevel]) -> None:
    level = pressure["call_handling/calls.waiting"]
    assert (level.kind, level.level, level.level_name, level.stale) == (
        "trigger", 3, "Severe pressure", False)
    assert level.since == T0 + 8 * MIN  # 40 from minute 3, for 5m
    c = level.reason.condition
    assert c is not None
    assert (c.metric, c.label, c.unit, c.scope, c.site, c.aggregate) == (
        "calls.waiting", "999 calls waiting", "calls", "trust", None, None)
    assert (c.value, c.compares, c.threshold, c.for_seconds, c.clear_for_seconds) == (
        40, ">=", 30, 300, 900)
    assert level.reason.text  # the engine's own sentence is kept
    assert describe(level) == "999 calls waiting ≥ 30 calls for 5m (now 40 calls)"


def test_a_trigger_at_one_site(pressure: dict[str, PublishedLevel]) -> None:
    level = pressure["ae/ae.handover_longest@RVJ"]
    c = level.reason.condition
    assert c is not None and (c.site, c.site_name, c.scope) == ("RVJ", "Southmead Hospital", "RVJ")
    assert describe(level) == (
        "Longest current handover wait at Southmead Hospital ≥ 1 h for 5m (now 1 h 10 min)")


def test_a_per_site_trigger_is_each_site_at_its_level(pressure: dict[str, PublishedLevel]) -> None:
    level = pressure["ae/ae.handover_longest"]
    assert level.kind == "trigger" and level.level == 3
    assert ("RVJ", 3) in level.reason.sites and ("RA7", 1) in level.reason.sites
    assert [d.name for d in level.reason.drivers] == [
        "ae/ae.handover_longest@RVJ", "ae/ae.handover_longest@RK9"]
    assert describe(level) == (
        "Longest current handover wait at Southmead Hospital ≥ 1 h for 5m (now 1 h 10 min); "
        "Longest current handover wait at Derriford Hospital ≥ 1 h for 5m (now 1 h 05 min)")


def test_count_over_is_structured_not_a_string(pressure: dict[str, PublishedLevel]) -> None:
    level = pressure["ae/hospitals_over_60"]
    c = level.reason.condition
    assert c is not None and c.scope == "sites"
    assert c.aggregate == Aggregate("count_over", 60.0, ">=", "hospitals")
    assert c.aggregate.counts
    assert c.worst_sites[:2] == (SiteValue("RVJ", "Southmead Hospital", 70.0),
                                 SiteValue("RK9", "Derriford Hospital", 65.0))
    assert (level.level, c.value, c.threshold) == (3, 2, 2)
    assert describe(level) == (
        "2 or more hospitals with Longest current handover wait ≥ 1 h for 10m "
        "(now 2; worst Southmead Hospital 1 h 10 min, Derriford Hospital 1 h 05 min)")


def test_a_protocol_combined_by_max_names_its_driving_triggers(
        pressure: dict[str, PublishedLevel]) -> None:
    level = pressure["ae"]
    assert (level.kind, level.level, level.reason.combine) == ("protocol", 3, "max")
    # the per-site trigger is resolved to its sites at the level; then the count
    assert [d.name for d in level.reason.drivers] == [
        "ae/ae.handover_longest@RVJ", "ae/ae.handover_longest@RK9", "ae/hospitals_over_60"]
    assert all(d.level == 3 and d.level_name == "Severe pressure" and d.condition
               for d in level.reason.drivers)
    assert describe(level, limit=2).startswith(
        "Longest current handover wait at Southmead Hospital ≥ 1 h for 5m")
    assert describe(level, limit=2).endswith("; and 1 more")


def test_a_site_level(pressure: dict[str, PublishedLevel]) -> None:
    level = pressure["ae@RK9"]
    assert (level.kind, level.level) == ("site", 3)
    assert describe(level) == (
        "Longest current handover wait at Derriford Hospital ≥ 1 h for 5m (now 1 h 05 min)")
    calm = pressure["ae@RA7"]
    assert calm.reason.drivers == ()
    assert describe(calm) == "No trigger above level 1 Steady state"


def test_a_protocol_combined_by_score_gives_its_points(
        pressure: dict[str, PublishedLevel]) -> None:
    level = pressure["clinical_triage"]
    assert (level.level, level.reason.combine, level.reason.total) == (3, "score", 8)
    assert [(d.label, d.points, d.level) for d in level.reason.drivers] == [
        ("Incidents awaiting clinical assessment", 6, 3),
        ("Longest wait for clinical assessment", 2, 2)]
    assert describe(level) == ("Score 8 points: Incidents awaiting clinical assessment 6, "
                               "Longest wait for clinical assessment 2")


def test_the_overall_level_names_the_functions(pressure: dict[str, PublishedLevel]) -> None:
    level = pressure["overall"]
    assert (level.kind, level.level, level.level_name) == ("overall", 3, "Severe pressure")
    assert [d.name for d in level.reason.drivers] == ["call_handling", "clinical_triage", "ae"]
    assert describe(level) == "Set by 999 call handling, Clinical triage and A&E operations"


def test_a_pending_escalation_held_against_needed(pressure: dict[str, PublishedLevel]) -> None:
    trigger = pressure["ae/ae.stack"]
    assert trigger.level == 1 and trigger.pending is not None
    p = trigger.pending
    assert (p.level, p.level_name, p.direction, p.held, p.needed, p.threshold) == (
        3, "Severe pressure", "up", 120, 600, 200)
    assert describe(trigger) == "Incidents waiting for an ambulance: no threshold met (now 210 " \
                                "incidents)"
    assert describe_pending(p) == "Incidents waiting for an ambulance ≥ 200 incidents for 2m of 10m"
    assert describe_pending(p, with_level=True) == (
        "level 3 Severe pressure pending: Incidents waiting for an ambulance ≥ 200 incidents "
        "for 2m of 10m")
    assert pressure["ae"].pending is None  # ae is at level 3 already: not news


def test_a_combined_level_carries_the_nearest_escalation_above_it(rules: Rules) -> None:
    samples = (minutes("ae.stack", [50] * 10 + [210] * 3)  # to level 3, 2m of 10m
               + minutes("ae.c2_mean", [10] * 4 + [45] * 9))  # to level 2, longer held
    levels = run(rules, samples, T0 + 12 * MIN)
    ae = levels["ae"]
    assert ae.level == 1 and ae.pending is not None
    assert (ae.pending.level, ae.pending.trigger, ae.pending.more) == (3, "ae/ae.stack", 1)
    assert describe_pending(ae.pending, with_level=True) == (
        "level 3 Severe pressure pending: Incidents waiting for an ambulance ≥ 200 incidents "
        "for 2m of 10m (+1 more)")
    overall = levels["overall"]
    assert overall.pending is not None  # the trust's level: which function, briefly
    assert describe_pending(overall.pending, brief=True) == "A&E operations, 2m of 10m"
    assert levels["pts"].pending is None


def test_a_trigger_still_clearing_says_so(rules: Rules) -> None:
    samples = minutes("calls.waiting", [40] * 10 + [12] * 8)
    level = run(rules, samples, T0 + 17 * MIN)["call_handling/calls.waiting"]
    assert level.level == 3 and level.pending is not None
    assert (level.pending.direction, level.pending.level) == ("down", 1)
    assert describe(level) == ("999 calls waiting ≥ 30 calls for 5m "
                               "(now 12 calls, < 30 calls for 7m of 15m to clear)")
    assert describe_pending(level.pending) == "999 calls waiting < 30 calls for 7m of 15m"


def test_stale_data_holds_the_level_and_says_so(rules: Rules) -> None:
    levels = run(rules, minutes("calls.waiting", [40] * 10), T0 + 20 * MIN)
    trigger = levels["call_handling/calls.waiting"]
    assert trigger.stale and trigger.level == 3
    assert trigger.reason.condition is not None and trigger.reason.condition.stale
    assert describe(trigger) == "999 calls waiting: data stale, held at level 3 Severe pressure"
    assert levels["call_handling"].stale
    assert describe(levels["call_handling"]) == describe(trigger)


# --- the reason for a change (events, backtests) ----------------------------------------------


def test_every_change_of_a_trigger_reads_as_a_sentence(rules: Rules) -> None:
    evaluator = Evaluator(rules, T0)
    transitions = evaluator.run(minutes("calls.waiting", [40] * 10 + [2] * 20), T0 + 40 * MIN)
    said = {}
    for t in transitions:
        if t.name == "call_handling/calls.waiting":
            event = {"name": t.name, "scope": t.kind, "from": t.old, "to": t.new,
                     "stale": t.stale, "reason": t.reason}  # as live.py records it
            level = PublishedLevel.from_dict(t.name, event, rules.catalogue)
            assert level.reason.change is not None
            said[level.reason.change] = describe(level)
    assert said == {
        "fresh": "999 calls waiting: data fresh again",  # the first sample
        "up": "999 calls waiting ≥ 30 calls for 5m (now 40 calls)",
        "down": "999 calls waiting < 30 calls for 15m (now 2 calls)",
        "stale": "999 calls waiting: data stale, held at level 1 Steady state",
    }


def test_a_combined_change_resolves_its_drivers_against_other_changes(rules: Rules) -> None:
    evaluator = Evaluator(rules, T0)
    transitions = evaluator.run(minutes("calls.waiting", [40] * 10), T0 + 9 * MIN)
    published: dict[str, Any] = {}
    for t in transitions:
        published[t.name] = {"from": t.old, "to": t.new, "kind": t.kind, "stale": t.stale,
                             "reason": t.reason, "at": t.at}
    level = PublishedLevel.from_dict("call_handling", published["call_handling"],
                                     rules.catalogue, published)
    assert (level.level, level.reason.change, level.since) == (3, "up", T0 + 5 * MIN)
    assert describe(level) == "999 calls waiting ≥ 30 calls for 5m (now 40 calls)"


# --- what the worker publishes, through the store --------------------------------------------------


def test_the_store_gives_the_published_levels_typed(store, catalogue: Catalogue) -> None:
    now = float(int(time.time()) // 60 * 60)
    store.write([Sample("calls.waiting", "trust", now - 600 + 60 * i, 45.0) for i in range(10)])
    LiveEngine(store, RULES, lambda: now)
    levels = store.published_levels(catalogue)
    assert set(levels) == set(store.levels())
    level = levels["call_handling"]
    assert (level.level, level.level_name, level.kind) == (3, "Severe pressure", "protocol")
    assert describe(level) == "999 calls waiting ≥ 30 calls for 5m (now 45 calls)"
    assert describe(levels["overall"]) == "Set by 999 call handling"


# --- never crashes on what another version of the worker published --------------------------------


def test_missing_fields_are_left_out_not_raised(catalogue: Catalogue) -> None:
    level = PublishedLevel.from_dict("ae", {"level": 2}, catalogue)
    assert (level.kind, level.level, level.level_name, level.since, level.stale) == (
        "protocol", 2, "Moderate pressure", None, False)
    assert describe(level) == "" and level.pending is None
    assert PublishedLevel.from_dict("ae@RVJ", {"level": 1}).kind == "site"
    assert PublishedLevel.from_dict("ae/ae.stack@RVJ", {"level": 1}).kind == "trigger"
    assert PublishedLevel.from_dict("overall", {"level": 1}).kind == "overall"


def test_an_older_trigger_reason_still_reads(catalogue: Catalogue) -> None:
    # no trigger, candidate, for or clear_for; an unknown kind and unknown fields
    data = {"level": 3, "since": T0, "kind": "gauge", "colour": "#fff",
            "reason": {"metric": "calls.waiting", "value": 41, "compares": ">=",
                       "threshold": 30, "stale": False, "novel": {"x": 1}}}
    level = PublishedLevel.from_dict("call_handling/calls.waiting", data, catalogue)
    assert level.kind == "trigger"
    assert level.reason.condition is not None
    assert level.reason.condition.trigger == "call_handling/calls.waiting"
    assert describe(level) == "999 calls waiting ≥ 30 calls (now 41 calls)"


def test_a_reason_of_unknown_shape_falls_back_to_the_engine_sentence(
        catalogue: Catalogue) -> None:
    data = {"level": 2, "reason": {"metric": "ae.stack", "value": "lots", "threshold": "many",
                                   "text": "as the engine said"}}
    assert describe(PublishedLevel.from_dict("ae/ae.stack", data, catalogue)) == \
        "as the engine said"
    odd = {"level": 2, "reason": ["not", "a", "mapping"], "pending": "soon"}
    assert describe(PublishedLevel.from_dict("ae", odd, catalogue)) == ""


def test_junk_inside_a_combined_reason_is_skipped(catalogue: Catalogue) -> None:
    data = {"level": 3, "kind": "protocol",
            "reason": {"combine": "score", "drivers": ["p/a", 7, None],
                       "points": {"p/a": 3, "p/b": "x"}}}
    not_a_list = {"level": 3, "reason": {"combine": "max", "drivers": "p/a"}}
    assert PublishedLevel.from_dict("p", not_a_list, catalogue).reason.drivers == ()
    odd_sites = {"level": 2, "reason": {"metric": "ae.stack", "aggregate": "count_over(x)",
                                        "worst_sites": 5, "value": 1, "threshold": 1}}
    condition = PublishedLevel.from_dict("ae/n", odd_sites, catalogue).reason.condition
    assert condition is not None and condition.worst_sites == ()
    assert condition.aggregate == Aggregate("count_over", None, ">=", "sites")
    level = PublishedLevel.from_dict("p", data, catalogue)
    assert level.reason.total == 3  # added up when the engine did not say
    assert [(d.name, d.points) for d in level.reason.drivers] == [("p/a", 3)]
    assert describe(level) == "Score 3 points: a 3"  # a trigger the catalogue does not know
    pending = {"level": 1, "kind": "trigger",
               "reason": {"metric": "calls.waiting", "value": 3, "threshold": None,
                          "pending": {"level": "two", "direction": "sideways"}}}
    assert PublishedLevel.from_dict("c/calls.waiting", pending, catalogue).pending is None


def test_a_level_without_a_number_is_refused_and_left_out(catalogue: Catalogue) -> None:
    with pytest.raises(ValueError, match="no level number"):
        PublishedLevel.from_dict("ae", {"level": "three"}, catalogue)
    levels = parse_levels({"ae": {"level": "three"}, "pts": {"level": 1}, "x": "junk"}, catalogue)
    assert set(levels) == {"pts"}


def test_without_the_catalogue_ids_stand_in_for_labels() -> None:
    data = {"level": 3, "reason": {"metric": "calls.waiting", "value": 41, "compares": ">=",
                                   "threshold": 30, "for": 300, "site": "EOC-N"}}
    level = PublishedLevel.from_dict("call_handling/calls.waiting@EOC-N", data)
    assert level.level_name == ""
    assert describe(level) == "calls.waiting at EOC-N ≥ 30 for 5m (now 41)"


def test_a_level_the_catalogue_does_not_define_has_no_name(catalogue: Catalogue) -> None:
    data = {"level": 7, "reason": {"metric": "calls.waiting", "value": None, "stale": True}}
    level = PublishedLevel.from_dict("call_handling/calls.waiting", data, catalogue)
    assert level.level_name == ""
    assert describe(level) == "999 calls waiting: data stale, held at level 7"


AGGREGATES = """\
version: 1
levels:
  1: {name: Steady, colour: "#1b7f3b"}
  2: {name: Raised, colour: "#f2c200"}
functions:
  f: {label: F}
sites:
  A: {name: Hospital A, kind: hospital}
  B: {name: Hospital B, kind: hospital}
metrics:
  m.queue: {function: f, label: Queue, unit: ambulances, worse: higher, range: [0, 100],
            stale_after: 5m, scopes: [hospital]}
  m.free: {function: f, label: Free beds, unit: "%", worse: lower, range: [0, 100],
           stale_after: 5m, scopes: [hospital]}
protocols:
  p:
    label: P
    triggers:
      - {id: total, metric: m.queue, over: sites, aggregate: sum, levels: {2: 10}}
      - {id: short, metric: m.free, over: sites, aggregate: count_over(5), levels: {2: 2}}
"""


def test_other_aggregates_and_a_lower_is_worse_count(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(AGGREGATES)
    rules = load_rules(path)
    samples = (minutes("m.queue", [6, 6], "A") + minutes("m.queue", [5, 5], "B")
               + minutes("m.free", [3, 3], "A") + minutes("m.free", [4, 4], "B"))
    levels = run(rules, samples, T0 + MIN)
    total, short = levels["p/total"], levels["p/short"]
    assert total.reason.condition is not None and short.reason.condition is not None
    assert total.reason.condition.aggregate == Aggregate("sum", None, ">=", "hospitals")
    assert describe(total).startswith("sum of Queue across hospitals ≥ 10 ambulances "
                                      "(now 11 ambulances; worst Hospital A 6 ambulances")
    assert short.reason.condition.aggregate == Aggregate("count_over", 5.0, "<=", "hospitals")
    assert describe(short).startswith("2 or more hospitals with Free beds ≤ 5 % (now 2;")
    assert describe(levels["p"]) == "; ".join([describe(total), describe(short)])
