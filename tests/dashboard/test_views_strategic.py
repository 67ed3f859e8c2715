"""The strategic page's view model (dashboard/views/strategic.py), without a server: the
trust's level and how long it has held (across the clock changes), the drivers, the 24 h
steps with declarations, the actions, and headline figures that are never falsely normal."""

from __future__ import annotations

from datetime import datetime

from dashboard.views.strategic import (
    DAY,
    actions_view,
    build_strategic,
    declared_steps,
    headlines,
    level_steps,
    time_at_level,
)
from surge.catalogue import Catalogue
from surge.declarations import ChecklistItem, Confirmation, PlannedAction
from surge.events import DeclarationWithdrawn, Declared, LevelChanged
from tests.dashboard.test_views_header import (
    NOW,
    UK,
    declaration,
    level,
    published,
    trigger,
    trust,
)


def change(name: str, ts: float, old: int, new: int) -> LevelChanged:
    return LevelChanged(ts=ts, name=name, scope="overall" if name == "overall" else "protocol",
                        from_=old, to=new, rules_version="v1")


def test_headlines_carry_their_age_and_are_stale_or_missing_loudly(catalogue: Catalogue) -> None:
    latest = {("calls.waiting", "trust"): (NOW - 20, 41.0),
              ("ae.c2_mean", "trust"): (NOW - 3 * 3600, 95.0)}  # stale after 10 min
    shown = {h.metric: h for h in headlines(catalogue, latest, NOW)}
    assert list(shown) == ["calls.waiting", "ae.c1_mean", "ae.c2_mean", "ae.handover_queue",
                           "ae.hours_lost"]
    calls = shown["calls.waiting"].reading
    assert (calls.state, calls.text, calls.age) == ("live", "41 calls", "updated 20 s ago")
    c2 = shown["ae.c2_mean"].reading
    assert c2.state == "stale" and c2.badge == "STALE — last value 11:00"
    c1 = shown["ae.c1_mean"].reading
    assert (c1.state, c1.text) == ("missing", "NO DATA")
    assert shown["calls.waiting"].dom_id == "value-calls-waiting"


def test_time_at_level_is_counted_in_real_hours_across_the_autumn_change(
        catalogue: Catalogue) -> None:
    since = datetime(2026, 10, 25, 0, 30, tzinfo=UK).timestamp()  # 00:30 BST
    now = datetime(2026, 10, 25, 2, 30, tzinfo=UK).timestamp()  # 02:30 GMT: 3 hours later
    levels = published(catalogue, {"overall": level(2, kind="overall", since=since)})
    view = build_strategic(catalogue, now, levels=levels, trust=None, latest={}, events=[],
                           checklist=[], worker_running=True)
    assert view.at_level == "At level 2 Moderate pressure for 3 h 00 min, since 00:30"
    spring = datetime(2026, 3, 29, 0, 30, tzinfo=UK).timestamp()  # 00:30 GMT
    later = datetime(2026, 3, 29, 2, 30, tzinfo=UK).timestamp()  # 02:30 BST: 1 hour later
    assert "for 1 h 00 min" in time_at_level(view.calculated, later, spring, UK)


def test_a_stale_or_missing_level_says_so_beside_its_time(catalogue: Catalogue) -> None:
    levels = published(catalogue, {"overall": level(3, kind="overall", stale=True)})
    view = build_strategic(catalogue, NOW, levels=levels, trust=None, latest={}, events=[],
                           checklist=[], worker_running=True)
    assert view.calculated.state == "stale"
    assert view.at_level.endswith("STALE DATA — level held")
    down = build_strategic(catalogue, NOW, levels=None, trust=None, latest={}, events=[],
                           checklist=None, worker_running=False)
    assert down.calculated.number is None and down.at_level.startswith("No calculated level")
    assert down.declared.name == "DECLARED LEVEL NOT AVAILABLE"
    assert down.actions.note and "cannot be read" in down.actions.note


def test_the_drivers_are_the_functions_that_set_the_trust_level(catalogue: Catalogue) -> None:
    levels = published(catalogue, {
        "overall": level(3, ["call_handling"], kind="overall"),
        "call_handling": level(3, ["call_handling/calls.waiting"]),
        "call_handling/calls.waiting": trigger("calls.waiting", 3, 41, 30),
        "ae": level(2), "pts": level(1), "clinical_triage": level(1)})
    view = build_strategic(catalogue, NOW, levels=levels, trust=None, latest={}, events=[],
                           checklist=[], worker_running=True)
    drives = {d.protocol: d.drives for d in view.drivers}
    assert drives == {"call_handling": True, "clinical_triage": False, "ae": False,
                      "pts": False}
    why = view.drivers[0].level.reason or ""
    assert "999 calls waiting ≥ 30 calls" in why and "now 41 calls" in why


def test_level_steps_start_from_the_level_before_the_first_change() -> None:
    start, end = NOW - DAY, NOW
    events = [change("overall", NOW - 7200, 1, 3), change("overall", NOW - 3600, 3, 2),
              change("ae", NOW - 5000, 1, 2)]
    steps = level_steps("overall", "Trust", events, 2, NOW - 3600, start, end)
    assert steps.ts == (start, NOW - 7200, NOW - 3600, end)
    assert steps.levels == (1, 3, 2, 2)
    quiet = level_steps("pts", "PTS", events, 1, NOW - 2 * DAY, start, end)
    assert quiet.levels == (1, 1) and quiet.ts == (start, end)
    # reached within the window, with no event on record: unknown before, never assumed
    new = level_steps("pts", "PTS", [], 2, NOW - 600, start, end)
    assert new.levels == (None, 2, 2) and new.ts == (start, NOW - 600, end)
    assert level_steps("pts", "PTS", [], None, None, start, end).ts == ()


def test_declarations_are_steps_and_marks_and_a_withdrawal_is_a_gap(
        catalogue: Catalogue) -> None:
    start, end = NOW - DAY, NOW
    events = [Declared(ts=NOW - 7200, by="gold", role="commander", level=3,
                       level_name="Severe pressure", previous=None, reason="two EDs closed"),
              DeclarationWithdrawn(ts=NOW - 3600, by="gold", role="commander", level=3)]
    steps, marks = declared_steps(events, None, start, end, UK, NOW)
    assert steps.levels == (None, 3, None, None)
    assert [m.text for m in marks] == [
        "12:00 declared 3 Severe pressure by gold: two EDs closed",
        "13:00 declaration of 3 withdrawn by gold"]
    # in force since before the window, with nothing in it: declared all along
    held, none = declared_steps([], declaration(2, NOW - 2 * DAY), start, end, UK, NOW)
    assert held.levels == (2, 2) and none == ()


def action(protocol: str, n: int, do: str, *, done_by: str | None = None) -> ChecklistItem:
    planned = PlannedAction(f"{protocol}.{n}.abc", protocol, protocol.upper(), n, "tactical", do)
    confirmation = (Confirmation(planned.id, protocol, n, NOW - 3600, do, done_by, "duty_manager",
                                 "page", NOW - 600, "") if done_by else None)
    return ChecklistItem(planned, n, "", NOW - 3600, False, confirmation)


def test_actions_count_the_confirmed_and_list_the_open_first(catalogue: Catalogue) -> None:
    view = actions_view([action("ae", 3, "Send managers", done_by="dm"),
                         action("ae", 2, "Review staffing")], catalogue, NOW)
    assert (view.confirmed, view.total) == (1, 2)
    assert [a.done for a in view.items] == [False, True]
    assert view.items[1].by == "confirmed by dm 13:50"
    assert actions_view([], catalogue, NOW).note == (
        "No actions in force: every function is at its base level")


def test_the_whole_page_from_one_read(catalogue: Catalogue) -> None:
    at = NOW - 1800
    levels = published(catalogue, {"overall": level(2, ["ae"], kind="overall"),
                                   "ae": level(2)})
    status = trust(catalogue, 2, declaration(3, at), since=at)
    view = build_strategic(catalogue, NOW, levels=levels, trust=status, latest={},
                           events=[change("overall", NOW - 3600, 1, 2)], checklist=[],
                           worker_running=True)
    assert view.declared.diverges and view.declared.number == 3
    assert [r.name for r in view.timeline.rows] == ["overall", "call_handling",
                                                    "clinical_triage", "ae", "pts"]
    assert view.timeline.rows[0].levels == (1, 2, 2)
    assert view.timeline.declared.levels[-1] == 3
    assert [lv.number for lv in view.levels] == [1, 2, 3, 4]
