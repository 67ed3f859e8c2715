"""The strategic page as it stood at a past moment (dashboard/views/asof.py), rebuilt from
events and samples written into a real store: levels before and after a change, a
declaration and its withdrawal, a figure that had gone stale by then, "not known" before
anything was on record, and the checklist only where the rules then are the rules now."""

from __future__ import annotations

import time

import pytest

from dashboard.views.asof import NOT_KNOWN, read_asof
from surge.catalogue import Catalogue
from surge.events import (
    ActionConfirmed,
    DeclarationWithdrawn,
    Declared,
    LevelChanged,
    LevelStale,
    Recorder,
)
from surge.rules.loader import load_rules
from surge.rules.model import Rules
from surge.samples import Sample
from surge.store import Store
from tests.conftest import RULES

HOUR = 3600.0
T0 = float(int(time.time()) - 3 * 3600)  # real time: the store keeps samples by the wall clock


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules(RULES)


def change(name: str, ts: float, before: int, after: int, version: str,
           drivers: tuple[str, ...] = ()) -> LevelChanged:
    return LevelChanged(ts=ts, name=name, scope="overall" if name == "overall" else "protocol",
                        from_=before, to=after, rules_version=version,
                        reason={"combine": "max", "drivers": list(drivers)})


@pytest.fixture
def night(store: Store, rules: Rules) -> Store:
    """The trust rises to 2 then 3 on A&E; a commander declares 4, the data goes stale,
    the declaration is withdrawn; a duty manager confirms an action of A&E's level 2."""
    v = rules.version
    Recorder(store).record_many([
        change("ae", T0 - 2 * HOUR, 1, 2, v), change("overall", T0 - 2 * HOUR, 1, 2, v, ("ae",)),
        ActionConfirmed(ts=T0 - HOUR, by="dm", role="duty_manager", name="ae", level=2,
                        since=T0 - 2 * HOUR, action="Duty managers review staffing",
                        action_id="ae.2.4c1b0a", rules_version=v),
        change("ae", T0, 2, 3, v), change("overall", T0, 2, 3, v, ("ae",)),
        Declared(ts=T0 + 600, by="gold", role="commander", level=4, calculated=3,
                 reason="three hospitals closed to ambulances"),
        LevelStale(ts=T0 + 1200, name="overall", scope="overall", from_=3, to=3, stale=True,
                   rules_version=v, reason={"combine": "max", "drivers": ["ae"]}),
        DeclarationWithdrawn(ts=T0 + 1800, by="gold", role="commander", level=4,
                             reason="hospitals open again"),
    ])
    assert store.write([Sample("ae.c1_mean", "trust", T0 - 60, 540.0)]).accepted == 1
    return store


def test_before_anything_is_on_record_every_level_is_not_known(
        night: Store, catalogue: Catalogue) -> None:
    then = read_asof(night, catalogue, T0 - 3 * HOUR)
    assert not then.known
    assert then.view.calculated.number is None and then.view.calculated.flag == NOT_KNOWN
    assert {d.level.number for d in then.view.drivers} == {None}  # never a fake level 1
    assert then.view.declared.name == "DECLARED LEVEL NOT KNOWN"
    assert "not known" in then.view.at_level


def test_the_level_before_and_after_a_change(night: Store, catalogue: Catalogue) -> None:
    before = read_asof(night, catalogue, T0 - 60)
    assert (before.view.calculated.number, before.view.calculated.state) == (2, "live")
    assert "for 1 h 59 min" in before.view.at_level  # since T0 - 2 h, counted from the moment
    after = read_asof(night, catalogue, T0 + 300)
    assert after.view.calculated.number == 3 and "5 min" in after.view.at_level
    drivers = {d.protocol: d for d in after.view.drivers}
    assert drivers["ae"].drives and drivers["ae"].level.number == 3
    assert drivers["pts"].level.number is None and drivers["pts"].level.flag == NOT_KNOWN
    steps = after.view.timeline.rows[0]  # the trust over the 24 h before the moment
    assert [lv for lv in steps.levels if lv is not None][-2:] == [3, 3]
    assert 2 in steps.levels


def test_a_declaration_then_its_withdrawal(night: Store, catalogue: Catalogue) -> None:
    assert read_asof(night, catalogue, T0 + 300).view.declared.state == "none"
    declared = read_asof(night, catalogue, T0 + 900).view.declared
    assert (declared.number, declared.reason) == (4, "three hospitals closed to ambulances")
    assert declared.diverges and declared.diverging_for == 300  # declared 4, calculated 3
    assert declared.flag is not None and declared.flag.startswith(
        "DIVERGES — declared 4, calculated 3")
    withdrawn = read_asof(night, catalogue, T0 + 2000).view
    assert withdrawn.declared.state == "none" and withdrawn.declared.number is None
    assert [m.withdrawn for m in withdrawn.timeline.marks] == [False, True]


def test_stale_then_is_shown_stale(night: Store, catalogue: Catalogue) -> None:
    fresh = read_asof(night, catalogue, T0 + 300).view
    c1 = {h.metric: h.reading for h in fresh.headlines}["ae.c1_mean"]
    assert c1.state == "live" and c1.value == 540.0
    later = read_asof(night, catalogue, T0 + 1500).view
    c1 = {h.metric: h.reading for h in later.headlines}["ae.c1_mean"]
    assert c1.state == "stale" and c1.badge is not None and c1.badge.startswith("STALE")
    assert {h.metric: h.reading for h in later.headlines}["calls.waiting"].state == "missing"
    # the engine's own flag, from the level_stale event: the level is held, never normal
    assert later.calculated.number == 3 and later.calculated.state == "stale"
    assert "STALE" in (later.calculated.flag or "") and "since" in later.at_level


def test_the_checklist_only_where_the_rules_then_are_held_now(
        night: Store, catalogue: Catalogue, rules: Rules) -> None:
    without = read_asof(night, catalogue, T0 - 60)
    assert without.checklist_note is not None and "Not reconstructed" in without.checklist_note
    assert without.view.actions.items == ()
    rebuilt = read_asof(night, catalogue, T0 - 60, rules=rules)
    assert rebuilt.checklist_note is None and rebuilt.rules_version == rules.version
    done = {a.id: a for a in rebuilt.view.actions.items}
    assert done["ae.2.4c1b0a"].done and "dm" in (done["ae.2.4c1b0a"].by or "")
    assert rebuilt.view.actions.confirmed == 1
    # at level 3 it is a new episode: nothing confirmed in it yet
    assert read_asof(night, catalogue, T0 + 300, rules=rules).view.actions.confirmed == 0


def test_other_rules_then_leave_the_checklist_not_reconstructed(
        store: Store, catalogue: Catalogue, rules: Rules) -> None:
    Recorder(store).record(change("ae", T0, 1, 2, "an-older-version"))
    then = read_asof(store, catalogue, T0 + 60, rules=rules)
    assert then.checklist_note is not None and "an-older-version" in then.checklist_note
    assert then.view.actions.items == ()
