"""surge_rules.yaml into Rules: the shipped file loads, and every mistake is reported at once,
each at FILE:LINE:COL in the author's terms, without a traceback."""

from __future__ import annotations

import random
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import surge.rules
from surge.errors import ConfigError
from surge.rules import check_rules, load_rules
from surge.rules.loader import summary

REPO = Path(__file__).resolve().parents[2]

# Lines 1-19: a small catalogue. Line 20 on: one protocol with one trigger, ending at line 27,
# so a trigger appended to BASE starts at line 28.
CATALOGUE = """\
version: 1
levels:
  1: {name: Steady, colour: "#1b7f3b"}
  2: {name: Moderate, colour: "#f2c200"}
  3: {name: Severe, colour: "#e0700b"}
  4: {name: Extreme, colour: "#c0182a"}
functions:
  call_handling: {label: Calls}
  ae: {label: A&E}
sites:
  RVJ: {name: Southmead, kind: hospital}
  RA7: {name: Bristol Royal Infirmary, kind: hospital}
  EOC-N: {name: Bristol EOC, kind: eoc}
metrics:
  calls.waiting: {function: call_handling, label: Calls waiting, unit: calls, worse: higher, range: [0, 2000], stale_after: 2m, scopes: [trust, eoc]}
  calls.handlers_vs_plan: {function: call_handling, label: Handlers on duty, unit: "%", worse: lower, range: [0, 200], stale_after: 5m}
  ae.stack: {function: ae, label: Incidents waiting, unit: incidents, worse: higher, range: [0, 3000], stale_after: 3m}
  ae.handover_longest: {function: ae, label: Longest handover, unit: min, worse: higher, range: [0, 1440], stale_after: 3m, scopes: [trust, hospital]}
  ae.handover_queue: {function: ae, label: Handover queue, unit: ambulances, worse: higher, range: [0, 100], stale_after: 3m, scopes: [hospital]}
"""  # noqa: E501
BASE = CATALOGUE + """\
protocols:
  call_handling:
    label: 999 call handling
    triggers:
      - metric: calls.waiting
        levels: {2: 10, 3: 25, 4: 50}
        for: 5m
        clear_for: 15m
"""


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "rules.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def problems(tmp_path: Path, text: str | bytes) -> list[str]:
    """Every problem as LINE:COL: message (the file name checked and taken off)."""
    path = write(tmp_path, text)
    rules, found = check_rules(path)
    assert rules is None and found
    assert all(str(p).startswith(f"{path}:") for p in found)
    return [str(p).removeprefix(f"{path}:") for p in found]


def problem(tmp_path: Path, text: str) -> str:
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    return found[0]


# --- the shipped file ---------------------------------------------------------------------


def test_the_shipped_rules_load_with_four_protocols() -> None:
    rules = load_rules(REPO / "surge_rules.yaml")
    assert list(rules.protocols) == ["call_handling", "clinical_triage", "ae", "pts"]
    assert rules.overall.members == ("call_handling", "clinical_triage", "ae", "pts")
    assert rules.overall.combine == "max"
    assert rules.overall.label == "Trust surge level (REAP)"
    assert rules.base == 1
    for protocol in rules.protocols.values():
        assert protocol.function == protocol.id
        assert protocol.on_stale is None
        assert set(protocol.actions) == {2, 3, 4}
        assert all(t.line > 0 for t in protocol.triggers)

    calls = rules.protocols["call_handling"]
    waiting = calls.triggers[0]
    assert (waiting.id, waiting.metric, waiting.sites) == ("calls.waiting", "calls.waiting", None)
    assert waiting.thresholds == ((2, 15), (3, 30), (4, 60))
    assert (waiting.for_seconds, waiting.clear_for_seconds) == (300, 900)
    assert waiting.higher_is_worse and waiting.compares == ">="
    handlers = calls.triggers[-1]
    assert not handlers.higher_is_worse and handlers.thresholds == ((2, 90), (3, 80), (4, 70))
    assert calls.actions[4][0].owner == "strategic"


def test_the_shipped_clinical_triage_is_scored_with_weights() -> None:
    triage = load_rules(REPO / "surge_rules.yaml").protocols["clinical_triage"]
    assert triage.combine == "score"
    assert triage.score is not None
    assert triage.score.points == {1: 0, 2: 1, 3: 3, 4: 5}
    assert triage.score.bands == ((2, 2), (3, 6), (4, 14))
    assert [t.weight for t in triage.triggers] == [2, 2, 1, 1]


def test_the_shipped_ae_protocol_has_per_site_and_count_over_triggers() -> None:
    rules = load_rules(REPO / "surge_rules.yaml")
    ae = rules.protocols["ae"]
    hospitals = tuple(s.code for s in rules.catalogue.sites_of("hospital"))
    assert hospitals == ("RVJ", "RA7", "RD1", "RH8", "RK9", "RA9")
    by_id = {t.id: t for t in ae.triggers}
    queue = by_id["ae.handover_queue"]
    assert queue.sites == hospitals and queue.aggregate == "each" and queue.per_site
    count = by_id["hospitals_over_60"]
    assert (count.metric, count.sites, count.aggregate) == ("ae.handover_longest", hospitals,
                                                            "count_over")
    assert count.count_over == 60 and count.higher_is_worse and not count.per_site
    assert count.thresholds == ((3, 2), (4, 4))
    assert by_id["ae.stack"].sites is None
    assert ae.sites() == hospitals


def test_the_summary_counts_what_was_checked() -> None:
    rules = load_rules(REPO / "surge_rules.yaml")
    text = summary(rules)
    assert text.startswith(f"{REPO / 'surge_rules.yaml'}: OK — 4 levels, ")
    assert ", 11 sites, 4 protocols (20 triggers), overall from 4 protocols; version " in text
    assert text.endswith(rules.version)


def test_the_package_exports_load_and_check_only() -> None:
    assert sorted(surge.rules.__all__) == ["check_rules", "load_rules"]


# --- a small valid file, and what defaults fill in ------------------------------------------


def test_a_small_file_loads_with_defaults(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, BASE))
    protocol = rules.protocols["call_handling"]
    assert (protocol.combine, protocol.on_stale, protocol.score, protocol.actions) == (
        "max", None, None, {})
    assert protocol.function == "call_handling"
    trigger = protocol.triggers[0]
    assert (trigger.id, trigger.sites, trigger.weight, trigger.on_stale, trigger.line) == (
        "calls.waiting", None, 1.0, None, 24)
    assert rules.overall.label == "Trust surge level"
    assert rules.overall.members == ("call_handling",)
    assert summary(rules).endswith(
        "OK — 4 levels, 5 metrics, 3 sites, 1 protocol (1 trigger), overall from 1 protocol; "
        f"version {rules.version}")


def test_a_file_without_protocols_is_allowed_and_says_so(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, CATALOGUE))
    assert rules.protocols == {}
    assert rules.overall.members == ()
    assert "no protocols, overall has no protocols, so it stays at level 1;" in summary(rules)


def test_on_stale_is_the_effective_value_for_each_trigger(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, BASE.replace("    triggers:", "    on_stale: 3\n    triggers:")
                             + "      - metric: ae.stack\n        on_stale: hold\n"
                               "        levels: {2: 100}\n"
                               "      - metric: calls.handlers_vs_plan\n        on_stale: 2\n"
                               "        levels: {3: 80}\n"))
    protocol = rules.protocols["call_handling"]
    assert protocol.on_stale == 3
    assert [t.on_stale for t in protocol.triggers] == [3, None, 2]


def test_a_protocol_that_is_not_a_function_has_no_function(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, BASE + """\
  handover:
    label: Handover
    triggers:
      - metric: ae.handover_longest
        over: [RA7]
        aggregate: max
        levels: {2: 45}
overall:
  from: [handover]
"""))
    handover = rules.protocols["handover"]
    assert handover.function is None
    assert handover.triggers[0].sites == ("RA7",)
    assert handover.triggers[0].aggregate == "max" and not handover.triggers[0].per_site
    assert rules.overall.members == ("handover",)


def test_overall_can_be_scored_over_protocol_levels(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, BASE + """\
overall:
  label: REAP
  combine: score
  score: {points: {1: 0, 2: 1, 3: 2, 4: 4}, bands: {2: 1, 3: 3, 4: 6}}
"""))
    assert rules.overall.combine == "score"
    assert rules.overall.score is not None
    assert rules.overall.score.bands == ((2, 1), (3, 3), (4, 6))


# --- one test per mistake, each at the offending key or value --------------------------------


def test_yaml_syntax_is_reported_at_its_position(tmp_path: Path) -> None:
    assert problem(tmp_path, BASE + "      - metric: [calls.waiting\n").startswith(
        "29:1: YAML syntax: while parsing a flow sequence")


def test_unknown_keys_get_did_you_mean(tmp_path: Path) -> None:
    found = problems(tmp_path, BASE.replace("clear_for:", "clear_fr:").replace(
        "    label: 999", "    lable: 999"))
    assert found == [
        "22:5: protocols.call_handling: unknown key 'lable' (did you mean 'label'?)",
        "22:5: protocols.call_handling: missing required key 'label'",
        "27:9: protocols.call_handling.triggers[0]: unknown key 'clear_fr' "
        "(did you mean 'clear_for'?)",
    ]


def test_a_misspelt_top_level_section_is_named(tmp_path: Path) -> None:
    assert problem(tmp_path, BASE.replace("protocols:", "protocol:")) == (
        "20:1: unknown key 'protocol' (did you mean 'protocols'?)")


def test_a_trigger_needs_a_metric_and_levels(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE + "      - for: 5m\n") == [
        "28:9: protocols.call_handling.triggers[1]: missing required key 'metric'",
        "28:9: protocols.call_handling.triggers[1]: missing required key 'levels'",
    ]


def test_an_unknown_metric_gets_did_you_mean(tmp_path: Path) -> None:
    assert problem(tmp_path, BASE.replace("metric: calls.waiting", "metric: calls.waitng")) == (
        "24:17: protocols.call_handling.triggers[0].metric: unknown metric 'calls.waitng' "
        "(did you mean 'calls.waiting'?)")


def test_an_unknown_level_or_the_base_level_in_thresholds(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE.replace("{2: 10, 3: 25, 4: 50}", "{1: 5, 2: 10, 5: 99}")) == [
        "25:18: protocols.call_handling.triggers[0].levels: level 1 is the base level: "
        "it needs no threshold",
        "25:31: protocols.call_handling.triggers[0].levels: there is no level 5 "
        "(the levels are 1, 2, 3, 4)",
    ]


def test_a_level_must_be_a_number(tmp_path: Path) -> None:
    assert problem(tmp_path, BASE.replace("{2: 10,", "{two: 10,")) == (
        "25:18: protocols.call_handling.triggers[0].levels: expected a level number "
        "(1, 2, 3, 4), got 'two'")


def test_thresholds_must_rise_with_the_level_when_higher_is_worse(tmp_path: Path) -> None:
    assert problem(tmp_path, BASE.replace("{2: 10, 3: 25, 4: 50}", "{2: 25, 3: 20, 4: 50}")) == (
        "25:28: protocols.call_handling.triggers[0].levels.3: thresholds of calls.waiting must "
        "rise with the level (worse: higher): level 3 has 20, not more than level 2's 25")


def test_thresholds_must_fall_as_the_level_rises_when_lower_is_worse(tmp_path: Path) -> None:
    assert problem(tmp_path, BASE + """\
      - metric: calls.handlers_vs_plan
        levels: {2: 90, 3: 95}
""") == (
        "29:28: protocols.call_handling.triggers[1].levels.3: thresholds of "
        "calls.handlers_vs_plan must fall as the level rises (worse: lower): level 3 has 95, "
        "not less than level 2's 90")


def test_a_threshold_outside_the_plausible_range(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE.replace("4: 50}", "4: 5000}") + """\
      - metric: calls.handlers_vs_plan
        levels: {2: 250}
""") == [
        "25:35: protocols.call_handling.triggers[0].levels.4: level 4's threshold 5000 can never "
        "be met: calls.waiting ranges from 0 to 2000 calls",
        "29:21: protocols.call_handling.triggers[1].levels.2: level 2's threshold 250 is always "
        "met: calls.handlers_vs_plan ranges from 0 to 200 %",
    ]


def test_bad_durations(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE.replace("for: 5m", "for: 5 minutes").replace(
        "clear_for: 15m", "clear_for: 15")) == [
        "26:14: protocols.call_handling.triggers[0].for: expected a duration such as 30s, 5m, "
        "2h or 1h30m, got '5 minutes'",
        "27:20: protocols.call_handling.triggers[0].clear_for: a duration needs a unit: 15s, 15m "
        "or 15h? (e.g. 1h30m)",
    ]


def test_bad_colours_are_reported_with_the_protocols(tmp_path: Path) -> None:
    assert problem(tmp_path, BASE.replace('"#c0182a"', "red")) == (
        "6:30: levels.4.colour: expected a colour such as \"#c0182a\", got 'red'")


def test_a_second_trigger_on_the_same_metric_needs_its_own_id(tmp_path: Path) -> None:
    assert problem(tmp_path, BASE + """\
      - metric: calls.waiting
        levels: {4: 100}
""") == (
        "28:9: protocols.call_handling.triggers[1]: duplicate trigger id 'calls.waiting': give "
        "each trigger on this metric its own id")


def test_explicit_trigger_ids_must_be_unique(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE + """\
      - id: queue
        metric: ae.stack
        levels: {2: 100}
      - id: queue
        metric: calls.waiting
        levels: {4: 100}
      - id: Big Queue
        metric: ae.stack
        levels: {4: 300}
""") == [
        "31:13: protocols.call_handling.triggers[2].id: duplicate trigger id 'queue': the "
        "trigger on line 28 already has it",
        "34:13: protocols.call_handling.triggers[3].id: a trigger id must be lower-case letters, "
        "digits, _, . or -, such as hospitals_over_60, got 'Big Queue'",
    ]


def test_duplicate_protocol_ids_are_a_yaml_error(tmp_path: Path) -> None:
    assert problem(tmp_path, BASE + "  call_handling:\n    label: again\n") == (
        '28:3: YAML syntax: while constructing a mapping found duplicate key "call_handling": '
        'a name may be used only once here')


def test_a_protocol_without_triggers(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE + """\
  ae:
    label: A&E
    triggers: []
  pts:
    label: PTS
    triggers:
""") == [
        "30:5: protocols.ae: protocol 'ae' has no triggers: add at least one",
        "33:5: protocols.pts: protocol 'pts' has no triggers: add at least one",
    ]


def test_protocol_ids_are_lower_case_and_not_overall(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE + "  overall: {label: x, triggers: []}\n"
                                     "  Call Handling: {label: x, triggers: []}\n") == [
        "28:3: protocols: protocol id 'overall' must be lower-case letters, digits and _, such "
        "as call_handling (and not 'overall')",
        "29:3: protocols: protocol id 'Call Handling' must be lower-case letters, digits and _, "
        "such as call_handling (and not 'overall')",
    ]


def test_over_sites_on_a_metric_no_site_reports(tmp_path: Path) -> None:
    assert problem(tmp_path, BASE + """\
      - metric: ae.stack
        over: sites
        levels: {2: 100}
""") == (
        "29:15: protocols.call_handling.triggers[1].over: over: sites, but no site reports "
        "ae.stack (it is reported for: trust)")


def test_a_metric_no_one_reports_for_the_trust_needs_over_sites(tmp_path: Path) -> None:
    assert problem(tmp_path, BASE + """\
      - metric: ae.handover_queue
        levels: {2: 5}
""") == (
        "28:17: protocols.call_handling.triggers[1].metric: ae.handover_queue is not reported "
        "for the trust as a whole (only for: hospital): use over: sites")


def test_over_a_list_names_known_sites_that_report_the_metric(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE + """\
      - metric: ae.handover_longest
        over: [RVX, EOC-N, RA7, RA7]
        levels: {2: 45}
      - metric: ae.stack
        over: hospitals
        levels: {2: 100}
""") == [
        "29:16: protocols.call_handling.triggers[1].over[0]: unknown site 'RVX' "
        "(did you mean 'RVJ'?)",
        "29:21: protocols.call_handling.triggers[1].over[1]: site EOC-N (Bristol EOC) does not "
        "report ae.handover_longest: it is a eoc, and ae.handover_longest is reported for: "
        "trust, hospital",
        "29:33: protocols.call_handling.triggers[1].over[3]: site RA7 is listed twice",
        "32:15: protocols.call_handling.triggers[2].over: expected trust, sites or a list of "
        "site codes such as [RVJ, RA7], got 'hospitals'",
    ]


@pytest.mark.parametrize(("aggregate", "message"), [
    ("count_over(abc)", "expected count_over(X) with a number X, such as count_over(60), "
                        "got 'count_over(abc)'"),
    ("count_over 60", "expected count_over(X) with a number X, such as count_over(60), "
                      "got 'count_over 60'"),
    ("count_over(5000)", "count_over(5000) can never be met: ae.handover_longest ranges from 0 "
                         "to 1440 min"),
    ("maxx", "expected one of each | max | min | sum | mean | count_over(X), got 'maxx' "
             "(did you mean 'max'?)"),
])
def test_bad_aggregates(tmp_path: Path, aggregate: str, message: str) -> None:
    assert problem(tmp_path, BASE + f"""\
      - metric: ae.handover_longest
        over: sites
        aggregate: {aggregate}
        levels: {{2: 1}}
""") == f"30:20: protocols.call_handling.triggers[1].aggregate: {message}"


def test_count_over_thresholds_are_whole_numbers_of_sites_that_rise(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE + """\
      - id: over_60
        metric: ae.handover_longest
        over: sites
        aggregate: count_over(60)
        levels: {2: 1.5, 3: 3}
      - id: over_45
        metric: ae.handover_longest
        over: sites
        aggregate: count_over(45)
        levels: {2: 2, 3: 1}
""") == [
        "32:21: protocols.call_handling.triggers[1].levels.2: level 2 counts sites: expected a "
        "whole number from 1 to 2 (the sites it counts), got 1.5",
        "32:29: protocols.call_handling.triggers[1].levels.3: level 3 counts sites: expected a "
        "whole number from 1 to 2 (the sites it counts), got 3",
        "37:27: protocols.call_handling.triggers[2].levels.3: counts of sites for count_over(45) "
        "must rise with the level: level 3 has 1, not more than level 2's 2",
    ]


def test_aggregate_needs_over_sites(tmp_path: Path) -> None:
    assert problem(tmp_path, BASE.replace("        for: 5m\n", "        aggregate: max\n"
                                                            "        for: 5m\n")) == (
        "26:9: protocols.call_handling.triggers[0]: aggregate only applies with over: sites or "
        "a list of sites")


def test_weight_only_applies_with_combine_score(tmp_path: Path) -> None:
    assert problem(tmp_path, BASE + "        weight: 2\n") == (
        "28:9: protocols.call_handling.triggers[0]: weight only applies with combine: score "
        "(this protocol uses combine: max, where the worst trigger wins)")


SCORED = BASE.replace("    triggers:", """\
    combine: score
    score:
      points: {1: 0, 2: 1, 3: 3, 4: 5}
      bands: {2: 2, 3: 6, 4: 14}
    triggers:""")


def test_a_scored_protocol_loads_with_weights(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, SCORED + "        weight: 2.5\n"))
    protocol = rules.protocols["call_handling"]
    assert protocol.combine == "score" and protocol.triggers[0].weight == 2.5
    assert protocol.score is not None and protocol.score.level(6, rules.base) == 3


def test_weights_are_positive(tmp_path: Path) -> None:
    assert problem(tmp_path, SCORED + "        weight: -1\n") == (
        "32:17: protocols.call_handling.triggers[0].weight: a weight must be more than 0, got -1")


def test_combine_score_needs_a_score_section(tmp_path: Path) -> None:
    assert problem(tmp_path, BASE.replace("    triggers:", "    combine: score\n    triggers:")) == (
        "23:5: protocols.call_handling: combine: score needs a score section: score: {points: "
        "{1: 0, 2: 1, 3: 3, 4: 5}, bands: {2: 3, 3: 8, 4: 14}}")


def test_score_only_applies_with_combine_score(tmp_path: Path) -> None:
    assert problem(tmp_path, SCORED.replace("combine: score", "combine: max")) == (
        "24:5: protocols.call_handling: score only applies with combine: score")


def test_score_points_cover_every_level_and_bands_rise(tmp_path: Path) -> None:
    assert problems(tmp_path, SCORED.replace("{1: 0, 2: 1, 3: 3, 4: 5}", "{1: 0, 2: 1}").replace(
        "{2: 2, 3: 6, 4: 14}", "{1: 0, 2: 6, 3: 6}")) == [
        "25:15: protocols.call_handling.score.points: points must give a number for every level "
        "(1, 2, 3, 4): levels 3, 4 have none",
        "26:15: protocols.call_handling.score.bands: level 1 is the base level: it needs no band",
        "26:30: protocols.call_handling.score.bands.3: bands must rise with the level: level 3 "
        "starts at 6, not more than level 2's 6",
    ]


def test_a_bad_on_stale(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE.replace("    triggers:", "    on_stale: hol\n    triggers:")
                    + "        on_stale: 7\n") == [
        "23:15: protocols.call_handling.on_stale: expected hold or a level number (1, 2, 3, 4), "
        "got 'hol' (did you mean 'hold'?)",
        "29:19: protocols.call_handling.triggers[0].on_stale: there is no level 7 "
        "(the levels are 1, 2, 3, 4)",
    ]


def test_actions_name_a_level_and_an_owner(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE + """\
    actions:
      3: [{do: Open the surge desk, owner: tactcal}]
      5: [{do: Call everyone, owner: strategic}]
      4: [{do: Stand up the command cell}]
""") == [
        "29:44: protocols.call_handling.actions.3[0].owner: expected one of strategic | tactical "
        "| operational, got 'tactcal' (did you mean 'tactical'?)",
        "30:7: protocols.call_handling.actions: there is no level 5 (the levels are 1, 2, 3, 4)",
        "31:11: protocols.call_handling.actions.4[0]: missing required key 'owner'",
    ]


def test_a_comma_in_unquoted_action_text_is_explained(tmp_path: Path) -> None:
    assert problem(tmp_path, BASE + """\
    actions:
      2: [{do: Prioritise renal, oncology journeys, owner: operational}]
""") == (
        "29:34: protocols.call_handling.actions.2[0]: 'oncology journeys' is not a key: inside "
        "{...} a comma ends the text before it, so put text with a comma in quotes, such as "
        "do: \"Prioritise renal, oncology journeys\"")


def test_overall_names_known_protocols_once(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE + """\
overall:
  label: REAP
  combine: maximum
  from: [call_handlng, call_handling, call_handling]
""") == [
        "30:12: overall.combine: expected one of max | score, got 'maximum' "
        "(did you mean 'max'?)",
        "31:10: overall.from[0]: unknown protocol 'call_handlng' (did you mean 'call_handling'?)",
        "31:39: overall.from[2]: protocol 'call_handling' is listed twice",
    ]


def test_overall_from_an_empty_list(tmp_path: Path) -> None:
    assert problem(tmp_path, BASE + "overall: {from: []}\n") == (
        "28:17: overall.from: list at least one protocol, or leave out from to use them all")


def test_overall_unknown_keys(tmp_path: Path) -> None:
    assert problem(tmp_path, BASE + "overall: {labl: REAP}\n") == (
        "28:11: overall: unknown key 'labl' (did you mean 'label'?)")


def test_a_broken_metric_is_not_reported_again_where_it_is_used(tmp_path: Path) -> None:
    text = BASE.replace("range: [0, 2000]", "range: [2000, 0]")
    assert problems(tmp_path, text) == [
        "15:101: metrics.calls.waiting.range: range minimum 2000 must be below its maximum 0"]


# --- all at once, and never a traceback ------------------------------------------------------


def test_every_problem_is_reported_at_once_sorted_by_line(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace('"#f2c200"', "yellow").replace("for: 5m", "for: soon")
                 + """\
      - metric: ae.stak
        levels: {2: 100}
overall:
  from: [ae]
""")
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    found = [str(p) for p in err.value.problems]
    assert [p.split(": ", 2)[1] for p in found] == [
        "levels.2.colour", "protocols.call_handling.triggers[0].for",
        "protocols.call_handling.triggers[1].metric", "overall.from[0]"]
    assert found[0] == f"{path}:4:31: levels.2.colour: expected a colour such as \"#c0182a\", " \
                       f"got 'yellow'"
    assert [p.line for p in err.value.problems] == [4, 26, 28, 31]
    assert str(err.value) == "\n".join(found)


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "1:1: the file is empty"),
    (b"\x00\xff\xfe binary \x89PNG", "cannot be read"),
    (b"- just\n- a list\n", "1:1: expected a mapping, got a list"),
    (b"version: !!float abc\n", "YAML syntax: cannot read a value"),
    (b"version: !!bool maybe\n", "YAML syntax: cannot read a value"),
    (b"[" * 600 + b"]" * 600, "YAML syntax: cannot read a value: nested too deeply"),
    (b"base: &b {label: x}\nprotocols:\n  p:\n    <<: *b\n",
     "4:5: merge keys (<<) are not supported"),
    # ten lines of aliases standing for a billion values: refused, never walked
    (("a0: &a0 [x, y, z, w, v, u, t, s, r, q]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10))).encode(),
     "1:1: aliases (*name) make this file hold more than 1,000,000 values"),
    (b"version: 1\nlevels: {1: {name: x, colour: '#000000'}}\nfunctions: {}\nsites: {}\n"
     b"metrics: {}\nprotocols: [a]\noverall: 7\n",
     "6:12: protocols: expected a mapping of protocol id to its definition, got a list"),
])
def test_garbage_is_reported_never_raised(tmp_path: Path, content: bytes, expected: str) -> None:
    found = problems(tmp_path, content)
    assert any(expected in p for p in found), found


def test_a_missing_file(tmp_path: Path) -> None:
    rules, found = check_rules(tmp_path / "nope.yaml")
    assert rules is None and [str(p) for p in found] == [f"{tmp_path / 'nope.yaml'}: file not found"]


def test_a_megabyte_of_nonsense(tmp_path: Path) -> None:
    noise = "".join(random.Random(0).choices(string.printable, k=1_000_000))
    found = problems(tmp_path, noise)
    assert len(found) == 1 and "YAML syntax" in found[0]
    prose = "surge level calls waiting hospital ambulance handover queue stack\n"
    found = problems(tmp_path, prose * (1_000_000 // len(prose)))
    assert found == ["1:1: expected a mapping, got 'surge level calls waiting hospital ambulance "
                     "hand...': a rules file starts with version: 1, then levels, functions, "
                     "sites and metrics"]


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    found = problems(tmp_path, "#" * 2_000_000)
    assert found == ["1:1: the file is 2,000,000 bytes; the limit is 1,048,576 (see Limits in "
                     "docs/rules.md)"]


YAMLISH = st.lists(st.sampled_from([
    "version: 1\n", "levels:\n", "  1: {name: x, colour: '#000000'}\n", "protocols:\n",
    "  p:\n", "    label: x\n", "    triggers:\n", "      - metric: calls.waiting\n",
    "        levels: {2: 10}\n", "        over: sites\n", "        aggregate: count_over(5)\n",
    "overall: {from: [p]}\n", "metrics:\n", "sites:\n", "functions:\n", "  ", "- ", ": ", "{",
    "}", "[", "]", ",", "&a ", "*a ", "!!int ", "<<: ", "\n", "#", "'", '"', "~", "2", "-1",
]), max_size=40).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=200), YAMLISH,
                      st.text(alphabet=string.printable, max_size=200)))
def test_check_rules_never_raises(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    rules, found = check_rules(path)
    assert (rules is None) == bool(found)
    assert all(p.source == str(path) and p.message for p in found)
    assert [(p.line or 0, p.col or 0) for p in found] == sorted((p.line or 0, p.col or 0)
                                                                for p in found)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=len(BASE)), junk=YAMLISH)
def test_check_rules_never_raises_on_a_damaged_rules_file(tmp_path: Path, cut: int,
                                                          junk: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(BASE[:cut] + junk + BASE[cut:])
    rules, found = check_rules(path)
    assert (rules is None) == bool(found)
