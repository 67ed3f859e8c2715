"""The declared trust level beside the calculated one, and the action checklist: each action
checks its role, records its typed event and audit entry with its state, and refuses bad
arguments without changing anything; divergence and checklist episodes follow the calculated
levels the engine publishes (written here as the engine writes them, to the real store)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import redis

from surge import keys
from surge.actions import (
    Actor,
    ConfirmationMade,
    Conflict,
    DeclarationMade,
    Forbidden,
    InvalidArgument,
    UnknownAction,
    WithdrawalMade,
    confirm_action,
    declare_level,
    withdraw_declaration,
)
from surge.auth import ROLES, audit_events
from surge.declarations import (
    Declaration,
    action_id,
    checklist,
    current_declaration,
    planned_actions,
    previous_confirmations,
    rules_in_force,
    trust_status,
)
from surge.events import (
    ActionConfirmed,
    AuditEntry,
    DeclarationWithdrawn,
    Declared,
    LevelChanged,
    encode,
    read_events,
)
from surge.rules.loader import load_rules
from surge.store import Store

RULES_FILE = Path(__file__).resolve().parents[2] / "surge_rules.yaml"
RULES = load_rules(RULES_FILE)
CATALOGUE = RULES.catalogue
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
GOLD = Actor("gold", "commander", "10.0.0.7", "page")
SILVER = Actor("silver", "duty_manager", "10.0.0.8", "api")


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Engine:
    """Publishes levels as the rules engine does: each with the time it became that level,
    and a level_changed event for every change, in one transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.levels: dict[str, tuple[int, float]] = {}

    def set(self, name: str, level: int, at: float, *, record: bool = True) -> None:
        kind = "overall" if name == "overall" else "protocol"
        old = self.levels.get(name)
        changed = old is None or old[0] != level
        since = at if old is None or changed else old[1]
        events = []
        if record and old is not None and changed:
            events.append(encode(LevelChanged(ts=at, name=name, scope=kind, from_=old[0],
                                              to=level, rules_version=RULES.version)))
        self.levels[name] = (level, since)
        published: dict[str, object] = {"level": level, "since": since, "stale": False,
                                        "kind": kind, "reason": {}}
        self.store.save_engine({}, levels={name: json.dumps(published)}, events=events)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timed(redis_client: redis.Redis, clock: Clock) -> Store:
    return Store(redis_client, clock=clock)


@pytest.fixture
def engine(timed: Store) -> Engine:
    return Engine(timed)


def snapshot(client: redis.Redis, *, events: bool = True) -> dict[bytes, bytes]:
    return {k: client.dump(k) for k in sorted(client.scan_iter())
            if events or k != keys.EVENTS.encode()}


def only_refusal_recorded(store: Store, before: dict[bytes, bytes], actor: Actor,
                          action: str, needed: str) -> None:
    assert snapshot(store.client, events=False) == before
    (entry,) = audit_events(store)
    assert entry.data == {"action": "access_refused", "user": actor.name, "role": actor.role,
                          "address": actor.address, "via": actor.via, "needed": needed,
                          "target": f"action {action}"}
    assert [e.kind for e in read_events(store)] == ["audit"]


# --- declaring and withdrawing ---------------------------------------------------------------


def test_a_commander_declares_a_level_on_the_record(timed: Store, engine: Engine,
                                                    clock: Clock) -> None:
    engine.set("overall", 2, T0 - 600)
    clock.now = T0
    made = declare_level(timed, GOLD, level=3, reason="  three hospitals holding crews  ",
                         catalogue=CATALOGUE)
    declared = Declaration(level=3, level_name="Severe pressure", by="gold", role="commander",
                           via="page", at=T0, reason="three hospitals holding crews",
                           calculated=2, rules_version=CATALOGUE.version)
    assert made == DeclarationMade(declared, previous=None, diverges=True, diverging_since=T0,
                                   event_id=made.event_id, audit_id=made.audit_id)
    assert current_declaration(timed, CATALOGUE) == declared
    event, audit = read_events(timed)
    assert event == Declared(ts=T0, by="gold", role="commander", via="page", level=3,
                             level_name="Severe pressure", previous=None, calculated=2,
                             reason="three hospitals holding crews",
                             rules_version=CATALOGUE.version)
    assert type(event) is Declared and event.id == made.event_id
    assert isinstance(audit, AuditEntry) and audit.id == made.audit_id
    assert audit.data == {"action": "level_declared", "user": "gold", "role": "commander",
                          "address": "10.0.0.7", "via": "page", "level": 3,
                          "reason": "three hospitals holding crews", "previous": None,
                          "calculated": 2}

    clock.now = T0 + 60
    again = declare_level(timed, GOLD, level=4, reason="CAD down", catalogue=CATALOGUE)
    assert again.previous == 3 and again.diverging_since == T0  # never met the calculated
    assert read_events(timed, kinds=[Declared])[-1].describe() == (
        "overall declared 3 -> 4 Extreme pressure by gold, calculated 2: CAD down")


def test_a_declaration_is_withdrawn_on_the_record(timed: Store, engine: Engine,
                                                  clock: Clock) -> None:
    engine.set("overall", 2, T0 - 600)
    declare_level(timed, GOLD, level=3, reason="surge", catalogue=CATALOGUE)
    clock.now = T0 + 3600
    gone = withdraw_declaration(timed, GOLD, reason=" demand back to forecast ",
                                catalogue=CATALOGUE)
    assert gone == WithdrawalMade(T0 + 3600, "gold", 3, "demand back to forecast",
                                  gone.event_id, gone.audit_id)
    assert current_declaration(timed) is None
    status = trust_status(timed, CATALOGUE, T0 + 3600)
    assert (status.declared, status.diverges, status.agreement) == (None, False,
                                                                    "no declaration")
    event, audit = read_events(timed)[-2:]
    assert event == DeclarationWithdrawn(ts=T0 + 3600, by="gold", role="commander",
                                         via="page", level=3, calculated=2,
                                         reason="demand back to forecast",
                                         rules_version=CATALOGUE.version)
    assert isinstance(audit, AuditEntry) and audit.action == "declaration_withdrawn"


def test_withdrawing_with_nothing_declared_is_a_conflict_that_changes_nothing(
        timed: Store) -> None:
    before = snapshot(timed.client)
    with pytest.raises(Conflict, match="nothing to withdraw: no level is declared"):
        withdraw_declaration(timed, GOLD, catalogue=CATALOGUE)
    assert snapshot(timed.client) == before


@pytest.mark.parametrize(("level", "reason", "message"), [
    (7, "why", "there is no level 7; the levels are 1 Steady state, 2 Moderate pressure, "
               "3 Severe pressure, 4 Extreme pressure"),
    (0, "why", "there is no level 0"),
    ("3", "why", "the level must be a number"),
    (True, "why", "the level must be a number"),
    (3, "", "a reason is required"),
    (3, "   \n ", "a reason is required"),
    (3, None, "the reason must be text"),
    (3, "x" * 501, "the reason is 501 characters long; at most 500"),
    (3, "bad\x07bell", "must not hold control characters"),
])
def test_bad_arguments_change_nothing(timed: Store, level: object, reason: object,
                                      message: str) -> None:
    before = snapshot(timed.client)
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(")):
        declare_level(timed, GOLD, level=level, reason=reason,  # type: ignore[arg-type]
                      catalogue=CATALOGUE)
    assert snapshot(timed.client) == before


def test_a_reason_of_500_characters_over_lines_is_kept_whole(timed: Store) -> None:
    reason = ("a" * 200 + "\n" + "b" * 299)
    assert len(reason) == 500
    made = declare_level(timed, GOLD, level=2, reason=reason, catalogue=CATALOGUE)
    assert made.declaration.reason == reason


# --- divergence -------------------------------------------------------------------------------


def status_of(store: Store, at: float) -> tuple[bool, float | None, str]:
    s = trust_status(store, CATALOGUE, at)
    return s.diverges, s.diverging_since, s.agreement


def test_divergence_follows_declarations_and_calculated_changes(timed: Store, engine: Engine,
                                                                clock: Clock) -> None:
    engine.set("overall", 2, T0 - 3600)
    assert status_of(timed, T0) == (False, None, "no declaration")
    clock.now = T0
    declare_level(timed, GOLD, level=3, reason="surge", catalogue=CATALOGUE)
    assert status_of(timed, T0 + 1) == (True, T0, "diverges")

    engine.set("overall", 3, T0 + 600)  # the calculated level rises to meet it
    assert status_of(timed, T0 + 601) == (False, None, "agrees")
    engine.set("overall", 2, T0 + 1200)  # and falls again
    assert status_of(timed, T0 + 1201) == (True, T0 + 1200, "diverges")
    engine.set("overall", 1, T0 + 1800)  # still apart: since the fall
    assert status_of(timed, T0 + 1801) == (True, T0 + 1200, "diverges")

    clock.now = T0 + 2400  # a new declared level that still differs keeps the start
    made = declare_level(timed, GOLD, level=4, reason="worse", catalogue=CATALOGUE)
    assert (made.diverges, made.diverging_since) == (True, T0 + 1200)
    assert status_of(timed, T0 + 2401) == (True, T0 + 1200, "diverges")

    clock.now = T0 + 3000  # declared to match: they agree
    made = declare_level(timed, GOLD, level=1, reason="easing", catalogue=CATALOGUE)
    assert (made.diverges, made.diverging_since) == (False, None)
    assert status_of(timed, T0 + 3001) == (False, None, "agrees")

    engine.set("overall", 2, T0 + 3600)
    clock.now = T0 + 4200  # withdrawn, then declared afresh while they differ: from now
    withdraw_declaration(timed, GOLD, catalogue=CATALOGUE)
    declare_level(timed, GOLD, level=3, reason="again", catalogue=CATALOGUE)
    assert status_of(timed, T0 + 4201) == (True, T0 + 4200, "diverges")


@pytest.mark.parametrize(("path", "expected"), [
    ([3, 4], T0 + 200),  # met, then passed: apart since it passed
    ([3, 2], T0 + 200),  # met, then fell away
    ([4, 1], T0),  # never met: apart since the declaration
    ([4, 3], None),  # met at last
])
def test_changes_between_two_reads_are_all_taken_into_account(
        timed: Store, engine: Engine, clock: Clock, path: list[int],
        expected: float | None) -> None:
    engine.set("overall", 2, T0 - 3600)
    declare_level(timed, GOLD, level=3, reason="surge", catalogue=CATALOGUE)
    for n, level in enumerate(path, start=1):
        engine.set("overall", level, T0 + 100 * n)
    assert status_of(timed, T0 + 1000)[1] == expected
    assert status_of(timed, T0 + 1001)[1] == expected  # kept, then read back the same
    assert timed.declaration()["diverging_since"] == expected


def test_an_unknown_calculated_level_is_never_shown_as_agreeing(timed: Store, engine: Engine,
                                                                clock: Clock) -> None:
    made = declare_level(timed, GOLD, level=1, reason="normal", catalogue=CATALOGUE)
    assert (made.diverges, made.declaration.calculated) == (False, None)
    assert status_of(timed, T0) == (False, None, "unknown")
    engine.set("overall", 2, T0 + 300)  # the worker publishes at last
    assert status_of(timed, T0 + 301) == (True, T0 + 300, "diverges")


def test_a_change_with_no_event_still_counts(timed: Store, engine: Engine) -> None:
    """An engine that started afresh publishes its level without a level_changed event."""
    engine.set("overall", 3, T0 - 60)
    declare_level(timed, GOLD, level=3, reason="surge", catalogue=CATALOGUE)
    engine.set("overall", 2, T0 + 500, record=False)
    assert status_of(timed, T0 + 501) == (True, T0 + 500, "diverges")


# --- the checklist ----------------------------------------------------------------------------


def ids(items: list) -> list[str]:
    return [i.id for i in items]


def test_every_action_has_a_stable_id(tmp_path: Path) -> None:
    planned = planned_actions(RULES)
    offer = action_id("ae", 3, "Offer overtime and use third-party ambulances")
    assert planned[offer].do == "Offer overtime and use third-party ambulances"
    assert all(a.id.startswith(f"{a.protocol}.{a.level}.") for a in planned.values())
    assert planned_actions(load_rules(RULES_FILE)).keys() == planned.keys()
    edited = tmp_path / "surge_rules.yaml"
    edited.write_text(RULES_FILE.read_text().replace(
        "Offer overtime and use third-party ambulances", "Offer overtime to all crews"))
    after = planned_actions(load_rules(edited))
    assert set(planned) - set(after) == {offer}  # only the action that changed
    assert set(after) - set(planned) == {action_id("ae", 3, "Offer overtime to all crews")}


def test_the_checklist_holds_the_actions_of_the_level_and_those_below(
        timed: Store, engine: Engine) -> None:
    engine.set("ae", 3, T0 - 600)
    engine.set("pts", 1, T0 - 600)
    items = checklist(timed, RULES)
    ae = RULES.protocols["ae"].actions
    assert [i.action.do for i in items] == [a.do for a in ae[3] + ae[2]]
    assert {i.action.protocol for i in items} == {"ae"}  # pts at 1; others not published
    assert all(i.protocol_level == 3 and i.since == T0 - 600 and not i.done for i in items)


def test_an_action_is_confirmed_once_in_its_episode(timed: Store, engine: Engine,
                                                    clock: Clock) -> None:
    engine.set("ae", 3, T0 - 600)
    offer = action_id("ae", 3, "Offer overtime and use third-party ambulances")
    made = confirm_action(timed, SILVER, action_id=offer, note=" 12 crews took overtime ",
                          rules=RULES)
    assert isinstance(made, ConfirmationMade) and not made.already
    c = made.confirmation
    assert (c.action_id, c.protocol, c.level, c.since, c.by, c.role, c.via, c.at, c.note) == (
        offer, "ae", 3, T0 - 600, "silver", "duty_manager", "api", T0, "12 crews took overtime")
    event, audit = read_events(timed)
    assert event == ActionConfirmed(
        ts=T0, by="silver", role="duty_manager", via="api", name="ae", level=3,
        since=T0 - 600, action="Offer overtime and use third-party ambulances",
        action_id=offer, action_level=3, owner="tactical", note="12 crews took overtime",
        rules_version=RULES.version)
    assert type(event) is ActionConfirmed and event.id == made.event_id
    assert isinstance(audit, AuditEntry) and audit.data == {
        "action": "action_confirmed", "user": "silver", "role": "duty_manager",
        "address": "10.0.0.8", "via": "api", "action_id": offer, "protocol": "ae",
        "level": 3, "note": "12 crews took overtime"}
    done = {i.id: i.confirmation for i in checklist(timed, RULES)}
    assert done[offer] == c and sum(v is not None for v in done.values()) == 1

    before = snapshot(timed.client)
    clock.now = T0 + 60
    again = confirm_action(timed, GOLD, action_id=offer, rules=RULES)
    assert again.already and again.confirmation == c and again.event_id == ""
    assert snapshot(timed.client) == before  # idempotent: nothing recorded


def test_unknown_and_out_of_force_actions_are_refused_and_change_nothing(
        timed: Store, engine: Engine) -> None:
    engine.set("ae", 3, T0 - 600)
    offer = action_id("ae", 3, "Offer overtime and use third-party ambulances")
    solo = action_id("ae", 4, "Managers respond as solo responders")
    triage = planned_actions(RULES)
    clinical = next(a.id for a in triage.values() if a.protocol == "clinical_triage")
    before = snapshot(timed.client)
    typo = offer[:-1] + ("0" if offer[-1] != "0" else "1")
    with pytest.raises(UnknownAction, match=rf"unknown action '{typo}' \(did you mean "
                                            rf"'{offer}'\?\); `surge actions` lists"):
        confirm_action(timed, SILVER, action_id=typo, rules=RULES)
    with pytest.raises(UnknownAction, match="unknown action 'overtime'"):
        confirm_action(timed, SILVER, action_id="overtime", rules=RULES)
    with pytest.raises(Conflict, match=f"action {solo} is for A&E operations at level 4 and "
                                       f"above; it is at level 3 Severe pressure now"):
        confirm_action(timed, SILVER, action_id=solo, rules=RULES)
    with pytest.raises(Conflict, match="Clinical triage has no calculated level yet"):
        confirm_action(timed, SILVER, action_id=clinical, rules=RULES)
    with pytest.raises(InvalidArgument, match="the note is 501 characters long"):
        confirm_action(timed, SILVER, action_id=offer, note="n" * 501, rules=RULES)
    assert snapshot(timed.client) == before


def test_the_checklist_starts_afresh_when_the_level_changes(timed: Store, engine: Engine,
                                                            clock: Clock) -> None:
    engine.set("ae", 3, T0 - 600)
    offer = action_id("ae", 3, "Offer overtime and use third-party ambulances")
    review = action_id("ae", 2, "Duty managers review staffing for the next hours and "
                                "extend shifts")
    first = confirm_action(timed, SILVER, action_id=offer, rules=RULES).confirmation
    assert previous_confirmations(timed, RULES) == []

    engine.set("ae", 4, T0 + 600)  # a new episode: nothing confirmed in it yet
    clock.now = T0 + 700
    items = {i.id: i for i in checklist(timed, RULES)}
    assert not any(i.done for i in items.values()) and items[offer].since == T0 + 600
    assert items[offer].previously == first and items[review].previously is None
    assert previous_confirmations(timed, RULES) == [first]
    second = confirm_action(timed, SILVER, action_id=offer, rules=RULES)
    assert not second.already and second.confirmation.level == 4

    engine.set("ae", 3, T0 + 1200)  # back to 3: afresh again; the level-4 episode before it
    items = {i.id: i for i in checklist(timed, RULES)}
    assert not items[offer].done and items[offer].previously == second.confirmation
    assert previous_confirmations(timed, RULES) == [second.confirmation]


# --- who may act ---------------------------------------------------------------------------


def declare(store: Store, actor: Actor) -> object:
    return declare_level(store, actor, level=3, reason="surge", catalogue=CATALOGUE)


def withdraw(store: Store, actor: Actor) -> object:
    return withdraw_declaration(store, actor, catalogue=CATALOGUE)


def confirm(store: Store, actor: Actor) -> object:
    offer = action_id("ae", 3, "Offer overtime and use third-party ambulances")
    return confirm_action(store, actor, action_id=offer, rules=RULES)


ACTIONS = {"declare": (declare, "declare", "commander"),
           "withdraw": (withdraw, "declare", "commander"),
           "confirm": (confirm, "confirm", "duty_manager")}


def prepare(store: Store, engine: Engine, name: str) -> None:
    engine.set("overall", 2, T0 - 600)
    engine.set("ae", 3, T0 - 600)
    if name == "withdraw":
        declare_level(store, Actor("cli:ops", "admin", "local", "cli"), level=3, reason="x",
                      catalogue=CATALOGUE)
    store.client.delete(keys.EVENTS)  # so only what the action records is left


@pytest.mark.parametrize("name", ACTIONS)
@pytest.mark.parametrize("role", ROLES)
def test_each_action_needs_its_role_from_the_one_table(timed: Store, engine: Engine,
                                                       name: str, role: str) -> None:
    act, action, least = ACTIONS[name]
    prepare(timed, engine, name)
    actor = Actor("someone", role, "10.0.0.9", "page")
    if ROLES.index(role) < ROLES.index(least):
        before = snapshot(timed.client, events=False)
        with pytest.raises(Forbidden, match=f"not allowed: {action} needs the {least} role"):
            act(timed, actor)
        only_refusal_recorded(timed, before, actor, action, least)
    else:
        act(timed, actor)
        kinds = [e.kind for e in read_events(timed)]
        assert kinds[-1] == "audit" and len(kinds) == 2 and kinds[0] != "audit"


def test_the_results_are_frozen() -> None:
    for cls in (DeclarationMade, WithdrawalMade, ConfirmationMade, Declaration):
        assert dataclasses.is_dataclass(cls)
        assert cls.__dataclass_params__.frozen  # type: ignore[union-attr]
    made = Declaration(1, "Steady state", "a", "commander", None, T0, "r", None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.level = 2  # type: ignore[misc]


def test_the_rules_in_force_are_the_published_ones(timed: Store, tmp_path: Path) -> None:
    assert rules_in_force(timed, RULES_FILE).version == RULES.version  # none published
    text = RULES_FILE.read_text().replace("Offer overtime and use third-party ambulances",
                                          "Offer overtime to all crews")
    timed.publish_rules("published", text, source="surge_rules.yaml", loaded_by="test", at=T0)
    actions = planned_actions(rules_in_force(timed, RULES_FILE))
    assert action_id("ae", 3, "Offer overtime to all crews") in actions
