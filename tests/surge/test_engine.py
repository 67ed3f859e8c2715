"""The normative semantics of the rules engine, at its boundaries (docs/rules.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from surge.rules.engine import Evaluator, Transition
from surge.rules.loader import load_rules
from surge.samples import Sample

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
MIN = 60.0

HEAD = """\
version: 1
levels:
  1: {name: Steady, colour: "#1b7f3b"}
  2: {name: Moderate, colour: "#f2c200"}
  3: {name: Severe, colour: "#e0700b"}
  4: {name: Extreme, colour: "#c0182a"}
functions:
  calls: {label: Calls}
sites:
  A: {name: Hospital A, kind: hospital}
  B: {name: Hospital B, kind: hospital}
  C: {name: Hospital C, kind: hospital}
metrics:
  m.x: {function: calls, label: X, unit: n, worse: higher, range: [0, 1000], stale_after: 5m}
  m.y: {function: calls, label: Y, unit: n, worse: higher, range: [0, 1000], stale_after: 5m}
  m.low: {function: calls, label: Low, unit: "%", worse: lower, range: [0, 100], stale_after: 5m}
  m.site: {function: calls, label: Site, unit: n, worse: higher, range: [0, 1000],
           stale_after: 5m, scopes: [hospital]}
"""


def rules_with(tmp_path: Path, protocols: str):
    path = tmp_path / "rules.yaml"
    path.write_text(HEAD + protocols)
    return load_rules(path)


def one_trigger(tmp_path: Path, trigger: str, protocol_extra: str = ""):
    return rules_with(tmp_path, f"""\
protocols:
  p:
    label: P
{protocol_extra}    triggers:
      - {trigger}
""")


def series(metric: str, values: list[float | None], scope: str = "trust", step: float = MIN,
           start: float = T0) -> list[Sample]:
    return [Sample(metric, scope, start + i * step, v) for i, v in enumerate(values)
            if v is not None]


def level_changes(transitions: list[Transition], name: str) -> list[tuple[float, int]]:
    """(seconds after T0, new level) of each change of a name's level."""
    return [(round(t.at - T0, 3), t.new) for t in transitions
            if t.name == name and t.level_changed]


def run(rules, samples, until: float) -> list[Transition]:
    return Evaluator(rules, T0).run(samples, T0 + until)


def test_exactly_at_the_threshold_counts(tmp_path) -> None:
    rules = one_trigger(tmp_path, "{metric: m.x, levels: {2: 10, 3: 20}}")
    out = run(rules, series("m.x", [9.999, 10, 19.999, 20]), 4 * MIN)
    assert level_changes(out, "p") == [(60, 2), (180, 3)]


def test_lower_is_worse_applies_at_or_below(tmp_path) -> None:
    rules = one_trigger(tmp_path, "{metric: m.low, levels: {2: 90, 3: 80}}")
    out = run(rules, series("m.low", [95, 90, 85, 80, 100]), 5 * MIN)
    assert level_changes(out, "p") == [(60, 2), (180, 3), (240, 1)]


def test_escalation_exactly_when_for_has_elapsed_even_without_a_sample(tmp_path) -> None:
    rules = one_trigger(tmp_path, "{metric: m.x, levels: {2: 10}, for: 5m}")
    samples = [*series("m.x", [0, 12]), Sample("m.x", "trust", T0 + 4 * MIN + 30, 13)]
    evaluator = Evaluator(rules, T0)
    evaluator.run(samples, T0 + 6 * MIN - 0.001)
    assert evaluator.levels()["p"] == 1
    out = evaluator.advance(T0 + 6 * MIN)
    assert level_changes(out, "p") == [(360, 2)]  # crossing at 1m, + 5m, no sample at 6m


def test_a_dip_below_restarts_the_for_window(tmp_path) -> None:
    rules = one_trigger(tmp_path, "{metric: m.x, levels: {2: 10}, for: 3m}")
    out = run(rules, series("m.x", [12, 12, 5, 12, 12, 12, 12]), 7 * MIN)
    assert level_changes(out, "p") == [(360, 2)]


def test_escalation_jumps_to_the_level_sustained_not_the_peak(tmp_path) -> None:
    rules = one_trigger(tmp_path, "{metric: m.x, levels: {2: 10, 3: 20, 4: 30}, for: 2m}")
    out = run(rules, series("m.x", [15, 35, 25, 25, 25]), 5 * MIN)
    # >= 2 held from 0m, >= 3 from 1m: level 2 at 2m, level 3 at 3m; never 4 (30+ only 1m)
    assert level_changes(out, "p") == [(120, 2), (180, 3)]


def test_de_escalation_waits_clear_for_and_steps_to_the_window_maximum(tmp_path) -> None:
    rules = one_trigger(tmp_path, "{metric: m.x, levels: {2: 10, 3: 20}, clear_for: 3m}")
    out = run(rules, series("m.x", [25, 15, 15, 15, 5, 5, 5, 5]), 8 * MIN)
    # 3 at 0m; below 20 from 1m: the highest candidate over [t-3m, t] is 2 from 4m
    # below 10 from 4m: level 1 at 7m
    assert level_changes(out, "p") == [(0, 3), (240, 2), (420, 1)]


def test_stale_data_holds_the_level_and_is_flagged(tmp_path) -> None:
    rules = one_trigger(tmp_path, "{metric: m.x, levels: {2: 10}, clear_for: 2m}")
    out = run(rules, series("m.x", [15]) + series("m.x", [0], start=T0 + 20 * MIN), 30 * MIN)
    flags = [(round(t.at - T0, 3), t.new, t.stale) for t in out if t.name == "p"]
    # fresh at 0; stale from just after 5m (t - ts > stale_after), level held; fresh again
    # at 20m, down 2m later; stale again just after 25m
    assert flags == [(0, 2, False), (300.001, 2, True), (1200, 2, False), (1320, 1, False),
                     (1500.001, 1, True)]


def test_stale_in_the_middle_of_a_window_restarts_it(tmp_path) -> None:
    rules = one_trigger(tmp_path, "{metric: m.x, levels: {2: 10}, for: 10m}")
    values = [12] * 3 + [None] * 6 + [12] * 15   # 6-minute gap: stale from 7m01s to 9m
    out = run(rules, series("m.x", values), 30 * MIN)
    assert level_changes(out, "p") == [(19 * 60, 2)]  # fresh again at 9m, + 10m


def test_on_stale_counts_a_stale_span_as_a_level(tmp_path) -> None:
    rules = one_trigger(tmp_path, "{metric: m.x, levels: {2: 10, 3: 20}, for: 2m}",
                        "    on_stale: 3\n")
    out = run(rules, series("m.x", [5]), 10 * MIN)
    # stale from 5m00.001s counts as level 3 (fresh), held for 2m: level 3 then
    assert level_changes(out, "p") == [(420.001, 3)]
    stale_flags = [t.stale for t in out if t.name == "p"]
    assert stale_flags[-1] is True


def test_no_sample_yet_is_stale_and_holds_the_base_level(tmp_path) -> None:
    rules = one_trigger(tmp_path, "{metric: m.x, levels: {2: 10}}")
    evaluator = Evaluator(rules, T0)
    evaluator.advance(T0 + 3600)
    view = evaluator.explain()["p"]
    assert view.level == 1 and view.stale


def test_each_site_has_its_own_windows_and_the_trust_takes_the_worst(tmp_path) -> None:
    rules = one_trigger(tmp_path, "{metric: m.site, over: sites, aggregate: each, "
                                  "levels: {2: 5, 3: 10}, for: 2m}")
    samples = (series("m.site", [6, 6, 6, 6, 6], "A") + series("m.site", [11, 11, 2, 11, 11], "B")
               + series("m.site", [0, 0, 0, 0, 0], "C"))
    out = run(rules, samples, 4 * MIN)
    assert level_changes(out, "p@A") == [(120, 2)]
    assert level_changes(out, "p@B") == []  # its windows restart at 2m and 3m
    assert level_changes(out, "p@C") == []
    assert level_changes(out, "p") == [(120, 2)]


@pytest.mark.parametrize(("aggregate", "levels", "expected"), [
    ("max", "{2: 10, 3: 20}", 3),
    ("min", "{2: 1, 3: 5}", 2),
    ("sum", "{2: 20, 3: 30}", 3),
    ("mean", "{2: 8, 3: 12}", 2),
    ("count_over(10)", "{2: 1, 3: 2}", 3),
])
def test_aggregates_over_the_fresh_sites(tmp_path, aggregate, levels, expected) -> None:
    rules = one_trigger(tmp_path, f"{{metric: m.site, over: sites, aggregate: {aggregate}, "
                                  f"levels: {levels}}}")
    samples = [Sample("m.site", "A", T0, 2), Sample("m.site", "B", T0, 10),
               Sample("m.site", "C", T0, 21), Sample("m.site", "C", T0 - 600, 999)]
    evaluator = Evaluator(rules, T0 - 600)
    evaluator.run(samples, T0)
    assert evaluator.levels()["p"] == expected


def test_an_aggregate_ignores_stale_sites_and_is_stale_when_all_are(tmp_path) -> None:
    rules = one_trigger(tmp_path, "{metric: m.site, over: sites, aggregate: max, "
                                  "levels: {2: 10}}")
    samples = [Sample("m.site", "A", T0, 50), Sample("m.site", "B", T0 + 4 * MIN, 1)]
    evaluator = Evaluator(rules, T0)
    out = evaluator.run(samples, T0 + 12 * MIN)
    # A's 50 goes stale just after 5m: max is then B's 1 -> level 1; all stale after 9m
    assert level_changes(out, "p") == [(0, 2), (300.001, 1)]
    assert [t.stale for t in out if t.name == "p"][-1] is True


def test_score_bands_with_weights(tmp_path) -> None:
    rules = rules_with(tmp_path, """\
protocols:
  p:
    label: P
    combine: score
    score: {points: {1: 0, 2: 1, 3: 3, 4: 5}, bands: {2: 2, 3: 4, 4: 6}}
    triggers:
      - {metric: m.x, levels: {2: 10, 3: 20}, weight: 2}
      - {metric: m.y, levels: {2: 10, 3: 20}}
""")
    samples = series("m.x", [0, 10, 10, 20]) + series("m.y", [0, 0, 10, 0])
    out = run(rules, samples, 4 * MIN)
    # totals: 0 | 2 (x at 2, weight 2) | 3 | 6 (x at 3: 3 x 2) -> levels 1 | 2 | 2 | 4
    assert level_changes(out, "p") == [(60, 2), (180, 4)]


def test_overall_combines_protocols_and_is_stale_with_them(tmp_path) -> None:
    rules = rules_with(tmp_path, """\
protocols:
  a: {label: A, triggers: [{metric: m.x, levels: {2: 10, 3: 20}}]}
  b: {label: B, triggers: [{metric: m.y, levels: {2: 10, 3: 20}}]}
""")
    out = run(rules, series("m.x", [25, 5]) + series("m.y", [12, 12, 12]), 2 * MIN)
    assert level_changes(out, "overall") == [(0, 3), (60, 2)]
    overall = [t for t in out if t.name == "overall"]
    assert overall[-1].reason["drivers"] == ["b"]


def test_reasons_say_what_set_the_level_and_what_is_pending(tmp_path) -> None:
    rules = one_trigger(tmp_path, "{metric: m.x, levels: {2: 10, 3: 25}, for: 5m}")
    evaluator = Evaluator(rules, T0)
    out = evaluator.run(series("m.x", [12] * 7 + [27] * 4), T0 + 10 * MIN)
    up = next(t for t in out if t.name == "p/m.x" and t.level_changed)
    assert up.reason["text"] == "m.x >= 10 for 5m (now 12)"
    assert up.reason["threshold"] == 10 and up.reason["direction"] == "up"
    now = evaluator.explain()["p/m.x"].reason
    assert now["pending"] == {"level": 3, "direction": "up", "held": 180.0, "needed": 300,
                              "threshold": 25}
    assert now["text"].endswith("level 3 pending: m.x >= 25 for 3m of 5m")


def test_ticks_and_batches_give_the_same_transitions_as_one_run(tmp_path) -> None:
    rules = one_trigger(tmp_path, "{metric: m.x, levels: {2: 10, 3: 20}, for: 3m, "
                                  "clear_for: 4m}")
    samples = series("m.x", [5, 12, 25, 25, None, None, None, None, None, None, 25, 25, 12, 5,
                             5, 5, 5, 5])
    whole = Evaluator(rules, T0).run(samples, T0 + 20 * MIN)
    live = Evaluator(rules, T0)
    got: list[Transition] = []
    t = T0
    for sample in samples:
        while t + 7 < sample.ts:  # a tick every 7 s between samples
            t += 7
            got += live.advance(t)
        got += live.run([sample], sample.ts)
        t = sample.ts
    got += live.advance(T0 + 20 * MIN)
    assert [(x.at, x.name, x.new, x.stale) for x in got] == \
        [(x.at, x.name, x.new, x.stale) for x in whole]


# --- what a save must write ---------------------------------------------------------------


def test_instances_share_their_trigger_identity_which_is_stable_across_versions(tmp_path) -> None:
    rules = one_trigger(tmp_path, "{metric: m.site, over: sites, aggregate: each, "
                                  "levels: {2: 5}, for: 2m}")
    evaluator = Evaluator(rules, T0)
    trigger = rules.protocols["p"].triggers[0]
    # saved state is kept under this identity: a new release must not change it
    assert trigger.identity("p") == "5fd851d48e90c7b7"
    assert {i.identity for i in evaluator.instances.values()} == {
        f"{trigger.identity('p')}@{site}" for site in ("A", "B", "C")}


def test_after_a_save_only_what_changed_is_unsaved(tmp_path) -> None:
    rules = rules_with(tmp_path, """\
protocols:
  p:
    label: P
    triggers:
      - {metric: m.x, levels: {2: 10}, for: 5m}
      - {metric: m.site, over: sites, aggregate: each, levels: {2: 5}}
""")
    evaluator = Evaluator(rules, T0)
    evaluator.run(series("m.x", [1, 1]) + series("m.site", [1, 1], "A"), T0 + MIN)
    assert len(evaluator.unsaved_instances()) == len(evaluator.instances)  # never saved
    evaluator.mark_saved()
    evaluator.advance(T0 + 2 * MIN)
    assert evaluator.unsaved_instances() == [] and evaluator.unsaved_views() == {}
    assert not evaluator.derived_unsaved()

    evaluator.ingest([Sample("m.site", "A", T0 + 2 * MIN, 7)])  # A up at once, p@A with it
    evaluator.advance(T0 + 2 * MIN)
    assert [i.name for i in evaluator.unsaved_instances()] == ["p/m.site@A"]
    assert set(evaluator.unsaved_views()) == {"p/m.site@A", "p/m.site", "p@A", "p", "overall"}
    evaluator.mark_saved()

    evaluator.ingest([Sample("m.x", "trust", T0 + 2 * MIN, 12)])  # above 10, pending 5m
    evaluator.advance(T0 + 2 * MIN)
    assert set(evaluator.unsaved_views()) == {"p/m.x"}  # no combined level moved
    evaluator.mark_saved()
    assert evaluator.unsaved_views() == {}  # nothing new at the same instant
    evaluator.advance(T0 + 3 * MIN)
    changed = {i.name for i in evaluator.unsaved_instances()}  # old input let go, say
    assert "p/m.x" not in changed
    assert set(evaluator.unsaved_views()) == changed | {"p/m.x"}  # its time held grew
    assert evaluator.unsaved_views(everything=True).keys() == evaluator.explain().keys()
