"""The tactical page's view model (dashboard/views/tactical.py), without a server: each
trigger's value on its band scale (worse to the right, whichever way the metric runs), stale
and missing values said in words, pending escalations, the 6 h chart rows and the checklist."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dashboard.views.tactical import WINDOW, band_scale, build_tactical, chart_series
from surge.catalogue import Catalogue
from surge.rules.loader import load_rules
from surge.rules.model import Rules
from surge.store import Series
from tests.dashboard.test_views_header import NOW, level, published, trigger
from tests.dashboard.test_views_strategic import action

RULES = Path(__file__).resolve().parents[2] / "surge_rules.yaml"


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules(RULES)


def find(rules: Rules, protocol: str, trigger_id: str):  # type: ignore[no-untyped-def]
    return next(t for t in rules.protocols[protocol].triggers if t.id == trigger_id)


def test_a_higher_is_worse_value_sits_in_its_band(rules: Rules) -> None:
    t = find(rules, "call_handling", "calls.waiting")  # 15 / 30 / 60
    scale = band_scale(t, rules.catalogue, "calls", [("41 calls", 41.0, "live")], (0, 2000))
    bands = {b.level: b for b in scale.bands}
    assert list(bands) == [1, 2, 3, 4]
    assert bands[1].start == 0.0 and bands[4].end == 1.0
    marker = scale.markers[0]
    assert bands[3].start < marker.position < bands[4].start
    assert [text for _, text in scale.ticks] == ["15", "30", "60"]
    assert scale.worse == "higher is worse" and scale.low == "0 calls"


def test_a_lower_is_worse_value_runs_the_other_way(rules: Rules) -> None:
    t = find(rules, "call_handling", "calls.handlers_vs_plan")  # 90 / 80 / 70 %, lower worse
    scale = band_scale(t, rules.catalogue, "%", [("75 %", 75.0, "live")], (0, 200))
    bands = {b.level: b for b in scale.bands}
    assert bands[1].start == 0.0 and bands[1].end < bands[2].end < bands[3].end
    assert bands[3].start < scale.markers[0].position < bands[4].start
    better = band_scale(t, rules.catalogue, "%", [("95 %", 95.0, "live")], (0, 200))
    assert better.markers[0].position < scale.markers[0].position  # better: further left
    assert scale.worse == "lower is worse"


def test_a_value_beyond_the_thresholds_stretches_the_scale(rules: Rules) -> None:
    t = find(rules, "call_handling", "calls.waiting")
    scale = band_scale(t, rules.catalogue, "calls", [("400 calls", 400.0, "live")], (0, 2000))
    assert 0.9 < scale.markers[0].position <= 1.0
    assert scale.high.endswith("calls") and float(scale.high.split()[0]) > 400


def test_per_site_values_label_only_the_worst(rules: Rules) -> None:
    t = find(rules, "ae", "ae.handover_queue")
    scale = band_scale(t, rules.catalogue, "ambulances",
                       [("RVJ 2", 2.0, "live"), ("RK9 9", 9.0, "live"), ("RA7 3", 3.0, "stale")],
                       (0, 100))
    assert [m.text for m in scale.markers] == ["", "RK9 9", ""]
    assert scale.markers[2].state == "stale"


def panel(panels, protocol):  # type: ignore[no-untyped-def]
    return next(p for p in panels if p.protocol == protocol)


def test_triggers_show_value_age_and_stale_or_missing(rules: Rules,
                                                      catalogue: Catalogue) -> None:
    latest = {("calls.waiting", "trust"): (NOW - 10, 41.0),
              ("calls.answer_mean", "trust"): (NOW - 600, 30.0)}  # stale after 2 min
    levels = published(catalogue, {
        "call_handling": level(3, ["call_handling/calls.waiting"]),
        "call_handling/calls.waiting": trigger(
            "calls.waiting", 3, 41, 30, pending={"level": 4, "direction": "up", "held": 180,
                                                 "needed": 300, "threshold": 60})})
    panels = build_tactical(rules, NOW, latest=latest, levels=levels, series={},
                            checklist=[], worker_running=True)
    calls = panel(panels, "call_handling")
    waiting, answer, abandoned = calls.triggers[:3]
    assert (waiting.value, waiting.state, waiting.age) == ("41 calls", "live", "updated 10 s ago")
    assert waiting.level.number == 3
    assert waiting.thresholds == "2 ≥ 15 calls · 3 ≥ 30 calls · 4 ≥ 60 calls"
    assert waiting.pending is not None and "level 4 Extreme pressure pending" in waiting.pending
    assert "3m of 5m" in waiting.pending
    assert answer.state == "stale" and answer.age.startswith("STALE — last value")
    assert (abandoned.value, abandoned.state) == ("NO DATA", "missing")
    assert abandoned.scale.markers == ()  # no marker where there is no value
    assert abandoned.level.number is None  # the engine published none: not available


def test_a_count_over_sites_is_the_engines_value(rules: Rules, catalogue: Catalogue) -> None:
    levels = published(catalogue, {"ae/hospitals_over_60": trigger(
        "ae.handover_longest", 3, 2, 2, aggregate="count_over(60)")})
    panels = build_tactical(rules, NOW, latest={}, levels=levels, series={}, checklist=[],
                            worker_running=True)
    count = next(t for t in panel(panels, "ae").triggers if t.key == "ae/hospitals_over_60")
    assert count.value == "2" and count.state == "live"
    assert count.subject == "hospitals with Longest current handover wait ≥ 1 h"
    assert count.thresholds == "3 2 or more · 4 4 or more"


def test_per_site_trigger_names_the_worst_and_counts_stale_sites(rules: Rules) -> None:
    latest = {("ae.handover_queue", "RVJ"): (NOW - 30, 2.0),
              ("ae.handover_queue", "RK9"): (NOW - 30, 9.0),
              ("ae.handover_queue", "RA7"): (NOW - 3600, 12.0)}  # stale: not the worst
    panels = build_tactical(rules, NOW, latest=latest, levels={}, series={}, checklist=[],
                            worker_running=True)
    queue = next(t for t in panel(panels, "ae").triggers if t.key == "ae/ae.handover_queue")
    assert queue.value == "worst RK9: 9 ambulances"
    assert queue.state == "stale" and "1 STALE, 3 NO DATA of 6" in queue.age


def test_chart_rows_shade_each_level_band(rules: Rules) -> None:
    ts = np.arange(NOW - WINDOW, NOW, 30.0)
    series = {("calls.waiting", "trust"): Series(ts, np.full(len(ts), 20.0))}
    panels = build_tactical(rules, NOW, latest={}, levels={}, series=series, checklist=[],
                            worker_running=True)
    row = panel(panels, "call_handling").chart[0]
    assert row.label == "999 calls waiting"
    assert [b[:2] for b in row.bands] == [(15, 30), (30, 60), (60, row.y_range[1])]
    assert len(row.lines) == 1 and len(row.lines[0][1]) == WINDOW // 120  # 2-minute buckets
    assert ("ae.handover_queue", "RVJ") in chart_series(rules)
    assert all(r.label != "Longest current handover wait" or "each" in r.label
               for r in panel(panels, "ae").chart)  # the count over sites has no chart row


def test_the_checklist_of_a_function(rules: Rules, catalogue: Catalogue) -> None:
    levels = published(catalogue, {"ae": level(3)})
    items = [action("ae", 3, "Send managers", done_by="dm"), action("ae", 2, "Review")]
    panels = build_tactical(rules, NOW, latest={}, levels=levels, series={}, checklist=items,
                            worker_running=True)
    ae = panel(panels, "ae")
    assert ae.confirmed == 1 and [e.done for e in ae.checklist] == [True, False]
    assert ae.checklist[0].by == "confirmed by dm 13:50"
    assert ae.checklist[0].dom_id == "action-ae-3-abc"
    pts = panel(panels, "pts")
    assert pts.checklist_note is not None and pts.checklist_note.startswith("No checklist")
    down = build_tactical(rules, NOW, latest={}, levels=None, series={}, checklist=None,
                          worker_running=False)
    assert panel(down, "ae").checklist_note == (
        "The checklist cannot be read: data store unreachable")
    assert panel(down, "ae").level.number is None
