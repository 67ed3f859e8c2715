"""The protocols page's view model (dashboard/views/protocols.py): the rules in force in
words, with the version and who loaded it when (UK time)."""

from __future__ import annotations

from pathlib import Path

from dashboard.views.protocols import build_protocols
from surge.rules.loader import load_rules
from tests.dashboard.test_views_header import NOW

RULES = Path(__file__).resolve().parents[2] / "surge_rules.yaml"


def test_the_rules_read_as_words() -> None:
    rules = load_rules(RULES)
    view = build_protocols(rules, {"version": rules.version, "loaded_by": "worker w1",
                                   "loaded_at": f"{NOW - 3600:.3f}", "source": "rules.yaml"},
                           NOW)
    assert view.loaded == (f"Version {rules.version} in force: loaded 13:00 by worker w1, "
                           f"from rules.yaml")
    assert view.levels[0] == (1, "Steady state", "#1b7f3b")
    calls = next(p for p in view.protocols if p.id == "call_handling")
    assert calls.combine == "The worst trigger sets the level"
    waiting = calls.triggers[0]
    assert waiting.subject == "999 calls waiting"
    assert [w for *_, w in waiting.thresholds] == ["≥ 15 calls", "≥ 30 calls", "≥ 60 calls"]
    assert waiting.timing == "rises once met for 5 min; falls once clear for 15 min"
    handlers = calls.triggers[4]
    assert [w for *_, w in handlers.thresholds] == ["≤ 90 %", "≤ 80 %", "≤ 70 %"]
    triage = next(p for p in view.protocols if p.id == "clinical_triage")
    assert triage.combine.startswith("Points per trigger") and triage.triggers[0].weight
    ae = next(p for p in view.protocols if p.id == "ae")
    assert ae.triggers[4].subject == "Ambulances waiting to hand over, at each hospital"
    assert [c.level for c in ae.cards] == [2, 3, 4]
    ident, do, owner = ae.cards[0].actions[0]
    assert ident.startswith("ae.2.") and owner == "tactical" and "extend shifts" in do
    assert view.overall.startswith("Trust surge level (REAP): the worst of")


def test_rules_not_published_say_it_is_the_file() -> None:
    rules = load_rules(RULES)
    view = build_protocols(rules, {}, NOW)
    assert "no rules published by a worker" in view.loaded
