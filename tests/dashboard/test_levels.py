"""The calculated-level view model: number, name and colour together, stale, missing, why,
pending escalations and UK time, from what the rules engine publishes (read typed, as
store.published_levels() does). The sentences themselves: tests/surge/test_levels.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dashboard import levels as view_model
from dashboard.data import build_overview
from dashboard.levels import (
    NEUTRAL,
    NOT_AVAILABLE,
    NOT_UPDATING_FLAG,
    STALE_FLAG,
    LevelView,
    level_dom_id,
    missing_level,
    text_colour,
)
from surge.catalogue import Catalogue
from surge.levels import parse_levels

NOW = datetime(2026, 11, 26, 14, 3, 22, tzinfo=UTC).timestamp()  # GMT: UK time = UTC
HEARTBEAT = {"at": str(NOW)}


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


# --- what the engine publishes (see surge/rules/engine.py), built by hand -----------------


def combined(level: int, drivers: list[str], *, kind: str = "protocol", stale: bool = False,
             since: float = NOW - 600, **reason: Any) -> dict[str, Any]:
    return {"level": level, "since": since, "stale": stale, "kind": kind,
            "reason": {"combine": "max", "drivers": drivers, **reason}}


def trigger(level: int, metric: str, value: float | None, threshold: float | None, *,
            compares: str = ">=", for_: int = 300, stale: bool = False,
            **reason: Any) -> dict[str, Any]:
    return {"level": level, "since": NOW - 600, "stale": stale, "kind": "trigger",
            "reason": {"metric": metric, "value": value, "compares": compares,
                       "threshold": threshold, "candidate": None if stale else level,
                       "stale": stale, "for": for_, "clear_for": 900,
                       "text": f"{metric} (engine sentence)", **reason}}


def up(level: int, held: float, needed: float, threshold: float) -> dict[str, Any]:
    return {"level": level, "direction": "up", "held": held, "needed": needed,
            "threshold": threshold}


def level_view(key: str, published: dict[str, Any] | None, catalogue: Catalogue, now: float,
               **options: Any) -> LevelView:
    """The view of ``key`` from published dicts, read as the overview reads the store."""
    typed = None if published is None else parse_levels(published, catalogue)
    return view_model.level_view(key, typed, catalogue, now, **options)


# --- colours and ids --------------------------------------------------------------------


@pytest.mark.parametrize(("number", "text"), [
    (1, "#ffffff"),  # white on green
    (2, "#111111"),  # dark on yellow
    (3, "#111111"),  # dark on orange
    (4, "#ffffff"),  # white on red
])
def test_text_colour_contrasts_with_each_level_colour(catalogue: Catalogue, number: int,
                                                      text: str) -> None:
    assert text_colour(catalogue.level(number).colour) == text


def test_text_colour_of_extremes() -> None:
    assert text_colour("#000000") == "#ffffff"
    assert text_colour("#ffffff") == "#111111"


def test_level_dom_ids_are_selector_friendly() -> None:
    assert level_dom_id("overall") == "level-overall"
    assert level_dom_id("call_handling") == "level-call_handling"
    assert level_dom_id("ae@RVJ") == "level-ae-RVJ"


# --- number, name, colour, since --------------------------------------------------------


def test_a_level_takes_its_name_and_colour_from_the_catalogue(catalogue: Catalogue) -> None:
    levels = {"ae": combined(3, ["ae/ae.stack"], since=utc(2026, 11, 26, 13, 47, 10)),
              "ae/ae.stack": trigger(3, "ae.stack", 268, 200, for_=600)}
    view = level_view("ae", levels, catalogue, NOW)
    assert (view.number, view.name, view.colour, view.text_colour) == (
        3, "Severe pressure", "#e0700b", "#111111")
    assert view.state == "live" and view.live and view.flag is None
    assert view.since == "since 13:47"
    assert view.dom_id == "level-ae"


def test_since_is_uk_time_in_summer_and_names_the_day_when_not_today(
        catalogue: Catalogue) -> None:
    now = utc(2026, 7, 1, 9, 0)  # BST: UK time is UTC + 1
    levels = {"overall": combined(2, ["ae"], kind="overall", since=utc(2026, 7, 1, 7, 15)),
              "pts": combined(2, [], since=utc(2026, 6, 30, 22, 40))}
    assert level_view("overall", levels, catalogue, now).since == "since 08:15"
    assert level_view("pts", levels, catalogue, now).since == "since 30 Jun 23:40"


def test_a_level_the_rules_file_does_not_define_is_grey_and_says_so(
        catalogue: Catalogue) -> None:
    view = level_view("ae", {"ae": combined(7, [])}, catalogue, NOW)
    assert view.number == 7
    assert view.name == "level 7 (not in the rules file)"
    assert view.colour == NEUTRAL


# --- never falsely reassuring -----------------------------------------------------------


def test_a_stale_level_keeps_number_name_and_colour_and_says_stale_data(
        catalogue: Catalogue) -> None:
    view = level_view("pts", {"pts": combined(2, [], stale=True)}, catalogue, NOW)
    assert (view.number, view.name, view.colour) == (2, "Moderate pressure", "#f2c200")
    assert view.state == "stale" and not view.live and view.engine_stale
    assert view.flag == STALE_FLAG == "STALE DATA — level held"


def test_levels_are_not_live_when_the_worker_has_stopped(catalogue: Catalogue) -> None:
    levels = {"call_handling": combined(1, []),
              "call_handling/calls.waiting": trigger(1, "calls.waiting", 33, None,
                                                     pending=up(3, 180, 300, 30))}
    view = level_view("call_handling", levels, catalogue, NOW, worker_running=False)
    assert view.state == "not-live" and view.flag == NOT_UPDATING_FLAG
    assert (view.number, view.name) == (1, "Steady state")
    assert view.pending is None  # nothing is counting while the engine is stopped


def test_no_levels_published_is_level_not_available_on_grey(catalogue: Catalogue) -> None:
    view = level_view("overall", {}, catalogue, NOW)
    assert (view.state, view.number, view.name, view.colour) == (
        "missing", None, NOT_AVAILABLE, NEUTRAL)
    assert view.name == "LEVEL NOT AVAILABLE"
    assert view.flag == "the rules engine has not published any levels yet"
    assert view.colour not in {lv.colour for lv in catalogue.levels}


def test_a_protocol_without_an_entry_is_not_available(catalogue: Catalogue) -> None:
    view = level_view("pts", {"overall": combined(2, ["ae"], kind="overall")}, catalogue, NOW)
    assert view.state == "missing"
    assert view.flag == "no calculated level published for this"


def test_an_unreachable_store_gives_not_available(catalogue: Catalogue) -> None:
    view = level_view("ae@RVJ", None, catalogue, NOW)
    assert view.state == "missing" and view.flag == "data store unreachable"
    assert view.dom_id == "level-ae-RVJ"
    assert missing_level("overall", "why").name == NOT_AVAILABLE


def test_an_unreadable_entry_is_not_available(catalogue: Catalogue) -> None:
    view = level_view("ae", {"ae": {"level": "three"}}, catalogue, NOW)
    assert view.state == "missing"


# --- why --------------------------------------------------------------------------------


def test_reason_of_a_max_protocol_is_its_trigger_at_that_level(catalogue: Catalogue) -> None:
    levels = {"call_handling": combined(3, ["call_handling/calls.waiting"]),
              "call_handling/calls.waiting": trigger(3, "calls.waiting", 41, 30)}
    view = level_view("call_handling", levels, catalogue, NOW)
    assert view.reason == "999 calls waiting ≥ 30 calls for 5m (now 41 calls)"


def test_reason_of_a_per_site_trigger_names_each_site_at_the_level(
        catalogue: Catalogue) -> None:
    levels = {
        "ae": combined(3, ["ae/ae.handover_queue"]),
        "ae/ae.handover_queue": {"level": 3, "since": NOW, "stale": False, "kind": "trigger",
                                 "reason": {"sites": {"RVJ": 1, "RK9": 3}}},
        "ae/ae.handover_queue@RK9": trigger(3, "ae.handover_queue", 9, 8, for_=600,
                                            site="RK9"),
    }
    view = level_view("ae", levels, catalogue, NOW)
    assert view.reason == ("Ambulances waiting to hand over at Derriford Hospital ≥ 8 "
                           "ambulances for 10m (now 9 ambulances)")


def test_reason_lists_two_drivers_then_counts_the_rest(catalogue: Catalogue) -> None:
    names = ["calls.waiting", "calls.abandoned_pct", "calls.demand_vs_forecast"]
    levels: dict[str, Any] = {"call_handling": combined(3, [f"call_handling/{n}" for n in names])}
    for n, value in zip(names, (41, 7, 140), strict=True):
        levels[f"call_handling/{n}"] = trigger(3, n, value, 1)
    view = level_view("call_handling", levels, catalogue, NOW)
    assert view.reason is not None and view.reason.endswith("; and 1 more")
    assert view.reason_detail is not None and "Demand against forecast" in view.reason_detail


def test_reason_of_a_score_protocol_is_its_points(catalogue: Catalogue) -> None:
    levels = {
        "clinical_triage": {"level": 3, "since": NOW, "stale": False, "kind": "protocol",
                            "reason": {"combine": "score", "total": 7.0, "drivers": [],
                                       "points": {"clinical_triage/triage.waiting": 6.0,
                                                  "clinical_triage/triage.overdue_callbacks": 1.0,
                                                  "clinical_triage/triage.longest_wait": 0.0}}},
        "clinical_triage/triage.waiting": trigger(3, "triage.waiting", 120, 100),
        "clinical_triage/triage.overdue_callbacks": trigger(2, "triage.overdue_callbacks", 9, 8),
    }
    view = level_view("clinical_triage", levels, catalogue, NOW)
    assert view.reason == ("Score 7 points: Incidents awaiting clinical assessment 6, "
                           "Overdue welfare call-backs 1")


def test_reason_of_the_overall_level_names_the_functions(catalogue: Catalogue) -> None:
    levels = {"overall": combined(3, ["ae", "call_handling"], kind="overall")}
    assert level_view("overall", levels, catalogue, NOW).reason == (
        "Set by A&E operations and 999 call handling")
    calm = {"overall": combined(1, ["ae", "pts"], kind="overall")}
    assert level_view("overall", calm, catalogue, NOW).reason == (
        "No function above level 1 Steady state")


def test_a_protocol_at_the_base_level_says_no_trigger_is_above_it(
        catalogue: Catalogue) -> None:
    levels = {"pts": combined(1, ["pts/pts.on_time_pct"]),
              "pts/pts.on_time_pct": trigger(1, "pts.on_time_pct", 90, None, compares="<=")}
    assert level_view("pts", levels, catalogue, NOW).reason == (
        "No trigger above level 1 Steady state")


def test_a_reason_of_unknown_shape_falls_back_to_the_engine_sentence(
        catalogue: Catalogue) -> None:
    levels = {"ae/x": {"level": 2, "since": NOW, "stale": False, "kind": "trigger",
                       "reason": {"metric": "ae.stack", "value": "lots", "compares": ">=",
                                  "threshold": "many", "stale": False, "text": "as the engine"}}}
    assert level_view("ae/x", levels, catalogue, NOW).reason == "as the engine"


# --- pending escalations ----------------------------------------------------------------


def test_a_pending_escalation_is_read_from_a_trigger_reason(catalogue: Catalogue) -> None:
    levels = {"call_handling": combined(2, []),
              "call_handling/calls.waiting": trigger(2, "calls.waiting", 33, 15,
                                                     pending=up(3, 185, 300, 30))}
    view = level_view("call_handling", levels, catalogue, NOW)
    assert view.pending is not None
    assert view.pending.condition == "999 calls waiting ≥ 30 calls for 3m of 5m"
    assert view.pending.line == ("▲ level 3 Severe pressure pending: 999 calls waiting ≥ 30 "
                                 "calls for 3m of 5m")
    assert (view.pending.number, view.pending.name, view.pending.colour) == (
        3, "Severe pressure", "#e0700b")


def test_only_escalations_above_the_current_level_are_pending(catalogue: Catalogue) -> None:
    levels = {
        "ae/ae.stack": trigger(1, "ae.stack", 120, None, pending=up(2, 60, 600, 100)),
        "ae/ae.c2_mean": trigger(3, "ae.c2_mean", 70, 60, pending={
            "level": 2, "direction": "down", "held": 60, "needed": 3600, "threshold": 60}),
    }
    assert level_view("ae", {**levels, "ae": combined(2, [])}, catalogue, NOW).pending is None
    assert level_view("ae", {**levels, "ae": combined(1, [])}, catalogue, NOW).pending is not None
    # a trigger still clearing is said in its reason, not as a pending escalation
    assert level_view("ae/ae.c2_mean", levels, catalogue, NOW).pending is None


def test_the_highest_pending_escalation_wins_and_the_rest_are_counted(
        catalogue: Catalogue) -> None:
    levels = {
        "ae/ae.stack": trigger(1, "ae.stack", 210, None, pending=up(3, 60, 600, 200)),
        "ae/ae.c2_mean": trigger(1, "ae.c2_mean", 45, None, pending=up(2, 840, 900, 40)),
        "pts/pts.on_time_pct": trigger(1, "pts.on_time_pct", 60, None, compares="<=",
                                       pending=up(4, 10, 1800, 70)),
    }
    levels |= {"ae": combined(1, []), "overall": combined(1, [], kind="overall")}
    pending = level_view("ae", levels, catalogue, NOW).pending
    assert pending is not None and (pending.number, pending.more) == (3, 1)
    assert pending.line == ("▲ level 3 Severe pressure pending: Incidents waiting for an "
                            "ambulance ≥ 200 incidents for 1m of 10m (+1 more)")
    overall = level_view("overall", levels, catalogue, NOW).pending
    assert overall is not None  # the trust's level names the function only
    assert overall.line == ("▲ level 4 Extreme pressure pending: Patient transport (PTS), "
                            "10s of 30m (+2 more)")


def test_a_site_level_has_only_its_own_pending_escalations(catalogue: Catalogue) -> None:
    levels = {"ae/ae.handover_queue@RD1": trigger(1, "ae.handover_queue", 6, None, site="RD1",
                                                  pending=up(2, 14, 600, 5))}
    levels |= {"ae@RVJ": combined(1, [], kind="site"), "ae@RD1": combined(1, [], kind="site")}
    assert level_view("ae@RVJ", levels, catalogue, NOW).pending is None
    pending = level_view("ae@RD1", levels, catalogue, NOW).pending
    assert pending is not None and pending.condition == (
        "Ambulances waiting to hand over at Royal United Hospital Bath ≥ 5 ambulances "
        "for 14s of 10m")


# --- on the overview --------------------------------------------------------------------


def test_build_overview_gives_the_trust_each_function_and_each_hospital_a_level(
        catalogue: Catalogue) -> None:
    levels = {"overall": combined(3, ["ae"], kind="overall"), "ae": combined(3, []),
              "ae@RVJ": combined(2, [], kind="site", stale=True)}
    view = build_overview(catalogue, {}, {}, [], HEARTBEAT, NOW,
                          levels=parse_levels(levels, catalogue))
    assert (view.status.level.dom_id, view.status.level.number) == ("level-overall", 3)
    by_function = {p.function.id: p.level for p in view.panels}
    assert by_function["ae"].number == 3 and by_function["ae"].state == "live"
    assert by_function["pts"].state == "missing"
    ae = next(p for p in view.panels if p.function.id == "ae")
    assert ae.handover is not None
    rows = {r.site.code: r.level for r in ae.handover.rows}
    assert rows["RVJ"] is not None and rows["RVJ"].state == "stale"
    assert rows["RK9"] is not None and rows["RK9"].state == "missing"


def test_build_overview_levels_without_a_worker_or_a_store(catalogue: Catalogue) -> None:
    levels = {"overall": combined(3, ["ae"], kind="overall")}
    typed = parse_levels(levels, catalogue)
    stopped = build_overview(catalogue, {}, {}, [], None, NOW, levels=typed)
    assert stopped.status.level.state == "not-live"
    down = build_overview(catalogue, {}, {}, [], None, NOW, levels=typed,
                          store_error="cannot reach it")
    assert down.status.level.state == "missing"
    assert all(p.level.flag == "data store unreachable" for p in down.panels)
    unpublished = build_overview(catalogue, {}, {}, [], HEARTBEAT, NOW)
    assert unpublished.status.level.flag == "the rules engine has not published any levels yet"
