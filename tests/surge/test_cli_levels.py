"""`surge declare`, `surge levels`, `surge actions` and `surge tokens`: as the operator on the
server or --as a user with their role; refusals and bad arguments exit 2, audited or not,
and change nothing."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import argon2
import pytest
import redis
from click.testing import CliRunner, Result

from surge import keys
from surge.actions import Actor
from surge.auth import ROLES, Tokens, Users, audit_events
from surge.declarations import action_id
from surge.events import read_events
from surge.store import Store
from tests.surge.test_declarations import Engine

REPO = Path(__file__).resolve().parents[2]
T0 = 1_767_225_600.0
ADMIN = Actor("cli:test", "admin", "local", "cli")
PASSWORD = "correct horse battery staple"
OFFER = action_id("ae", 3, "Offer overtime and use third-party ambulances")
SOLO = action_id("ae", 4, "Managers respond as solo responders")


def invoke(redis_url: str, *args: str) -> Result:
    env = {"SURGE_RULES": str(REPO / "surge_rules.yaml"), "SURGE_REDIS_URL": redis_url}
    from surge.cli import main

    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def snapshot(client: redis.Redis, *, events: bool = True) -> dict[bytes, bytes]:
    return {k: client.dump(k) for k in sorted(client.scan_iter(count=1000))
            if events or k != keys.EVENTS.encode()}


@pytest.fixture
def engine(store: Store) -> Engine:
    engine = Engine(store)
    for name, level in (("overall", 2), ("ae", 3), ("call_handling", 2), ("clinical_triage", 1),
                        ("pts", 1)):
        engine.set(name, level, T0)
    return engine


def add_users(store: Store) -> None:
    people = Users(store, hasher=argon2.PasswordHasher(time_cost=1, memory_cost=8,
                                                       parallelism=1))
    for role in ROLES:
        people.add(role.replace("_", "-"), role, PASSWORD, by=ADMIN)


def test_a_level_is_declared_shown_and_withdrawn(store: Store, engine: Engine,
                                                 redis_url: str) -> None:
    made = invoke(redis_url, "declare", "3", "--reason", "three hospitals holding crews")
    assert made.exit_code == 0, made.output
    assert f"Declared level 3 Severe pressure by cli:{getpass.getuser()} (admin)" in made.output
    assert "DIVERGES since" in made.output and "calculated 2 Moderate pressure" in made.output

    shown = json.loads(invoke(redis_url, "levels", "--json").output)
    assert shown["calculated"]["level"] == 2 and shown["calculated"]["level_name"] == (
        "Moderate pressure")
    assert shown["declared"]["level"] == 3 and shown["declared"]["reason"] == (
        "three hospitals holding crews")
    assert (shown["agreement"], shown["diverges"]) == ("diverges", True)
    assert shown["diverging_since"] == shown["declared"]["at"]
    assert {p: v["level"] for p, v in shown["protocols"].items()} == {
        "call_handling": 2, "clinical_triage": 1, "ae": 3, "pts": 1}

    text = invoke(redis_url, "levels").output
    assert "calculated  2 Moderate pressure" in text and "declared    3 Severe pressure" in text
    assert "DIVERGES since" in text and "A&E operations" in text

    gone = invoke(redis_url, "declare", "--withdraw", "--reason", "demand back to forecast")
    assert gone.exit_code == 0, gone.output
    assert "Declaration of level 3 withdrawn" in gone.output
    shown = json.loads(invoke(redis_url, "levels", "--json").output)
    assert (shown["declared"], shown["agreement"]) == (None, "no declaration")
    assert [e.kind for e in read_events(store)][-4:] == ["declared", "audit",
                                                         "declaration_withdrawn", "audit"]


def test_levels_say_loudly_when_nothing_is_published(store: Store, redis_url: str) -> None:
    text = invoke(redis_url, "levels")
    assert text.exit_code == 0
    assert "calculated  NOT AVAILABLE: no level published yet" in text.output


@pytest.mark.parametrize(("args", "message"), [
    (["declare", "7", "--reason", "x"], "error: there is no level 7; the levels are 1 Steady "
                                        "state, 2 Moderate pressure"),
    (["declare", "3", "--reason", "   "], "error: a reason is required"),
    (["declare", "3"], "error: a reason is required"),
    (["declare", "3", "--reason", "r" * 501], "error: the reason is 501 characters long"),
    (["declare", "3", "--withdraw"], "error: give the LEVEL to declare with --reason, or "
                                     "--withdraw, not both"),
    (["declare"], "error: give the LEVEL to declare"),
    (["declare", "three", "--reason", "x"], "'three' is not a valid integer"),
    (["declare", "--withdraw"], "error: nothing to withdraw: no level is declared"),
    (["actions", "confirm", "ae.3.zzzzzz"], "error: unknown action 'ae.3.zzzzzz'"),
    (["actions", "confirm", SOLO], f"error: action {SOLO} is for A&E operations at level 4"),
    (["actions", "confirm", OFFER, "--note", "n" * 501], "error: the note is 501 characters"),
    (["declare", "3", "--reason", "x", "--as", "nobody"], "error: unknown user 'nobody'"),
    (["tokens", "add", "cad", "--role", "boss"], "error: unknown role 'boss'"),
    (["tokens", "revoke", "cad"], "error: unknown API token 'cad'"),
])
def test_bad_arguments_exit_2_and_change_nothing(store: Store, engine: Engine, redis_url: str,
                                                 args: list[str], message: str) -> None:
    before = snapshot(store.client)
    result = invoke(redis_url, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert snapshot(store.client) == before


# --- who may act ----------------------------------------------------------------------------

COMMANDS = {
    "declare": (["declare", "3", "--reason", "surge"], "declare", "commander"),
    "withdraw": (["declare", "--withdraw"], "declare", "commander"),
    "confirm": (["actions", "confirm", OFFER, "--note", "done"], "confirm", "duty_manager"),
    "add token": (["tokens", "add", "new", "--role", "viewer"], "manage_tokens", "admin"),
    "revoke token": (["tokens", "revoke", "old"], "manage_tokens", "admin"),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("role", ROLES)
def test_each_command_needs_its_role(store: Store, engine: Engine, redis_url: str,
                                     command: str, role: str) -> None:
    args, action, least = COMMANDS[command]
    add_users(store)
    Tokens(store).add("old", "viewer", by=ADMIN)
    assert invoke(redis_url, "declare", "2", "--reason", "steady").exit_code == 0
    store.client.delete(keys.EVENTS)
    user = role.replace("_", "-")
    before = snapshot(store.client, events=False)
    result = invoke(redis_url, *args, "--as", user)
    if ROLES.index(role) < ROLES.index(least):
        assert result.exit_code == 2, result.output
        assert (f"error: not allowed: {action} needs the {least} role; {role} is not enough"
                in result.output)
        assert snapshot(store.client, events=False) == before
        (entry,) = audit_events(store)
        assert (entry.action, entry.user, entry.via, entry.details) == (
            "access_refused", user, "cli", {"needed": least, "target": f"action {action}"})
    else:
        assert result.exit_code == 0, result.output
        entries = audit_events(store)
        assert entries and all(e.ok and e.user == user for e in entries)


# --- the checklist ------------------------------------------------------------------------------


def test_the_checklist_is_listed_and_confirmed(store: Store, engine: Engine,
                                               redis_url: str) -> None:
    listed = json.loads(invoke(redis_url, "actions", "--json").output)
    ae = next(p for p in listed["protocols"] if p["protocol"] == "ae")
    assert (ae["level"], ae["level_name"]) == (3, "Severe pressure")
    assert [a["level"] for a in ae["actions"]] == [3, 3, 2]
    assert OFFER in [a["id"] for a in ae["actions"]]
    assert all(a["confirmed"] is None for a in ae["actions"])
    assert listed["previous"] == []

    done = invoke(redis_url, "actions", "confirm", OFFER, "--note", "12 crews")
    assert done.exit_code == 0, done.output
    assert f"Confirmed {OFFER} (A&E operations at level 3)" in done.output
    again = invoke(redis_url, "actions", "confirm", OFFER)
    assert again.exit_code == 0 and "was already confirmed" in again.output

    listed = json.loads(invoke(redis_url, "actions", "--json").output)
    ae = next(p for p in listed["protocols"] if p["protocol"] == "ae")
    confirmed = {a["id"]: a["confirmed"] for a in ae["actions"]}
    assert confirmed[OFFER]["note"] == "12 crews"
    assert confirmed[OFFER]["by"] == f"cli:{getpass.getuser()}"
    text = invoke(redis_url, "actions").output
    assert f"[x] {OFFER}" in text and "confirmed by cli:" in text
    assert "999 call handling: 2 Moderate pressure" in text

    engine.set("ae", 4, T0 + 600)  # a new level: the checklist starts afresh
    listed = json.loads(invoke(redis_url, "actions", "--json").output)
    ae = next(p for p in listed["protocols"] if p["protocol"] == "ae")
    assert all(a["confirmed"] is None for a in ae["actions"])
    assert [c["action_id"] for c in listed["previous"]] == [OFFER]
    assert "Confirmed at the previous level:" in invoke(redis_url, "actions").output


# --- API tokens ---------------------------------------------------------------------------------


def test_tokens_are_added_listed_and_revoked(store: Store, redis_url: str) -> None:
    added = invoke(redis_url, "tokens", "add", "cad-bridge", "--role", "duty_manager")
    assert added.exit_code == 0, added.output
    token = added.output.strip().splitlines()[-1]
    assert token.startswith("surge_") and "shown only this once" in added.output
    assert Tokens(store).resolve(token, "127.0.0.1") is not None
    assert all(token.encode() not in (store.client.dump(k) or b"")
               for k in store.client.scan_iter())

    rows = json.loads(invoke(redis_url, "tokens", "list", "--json").output)
    assert [(r["name"], r["role"], r["revoked"]) for r in rows] == [
        ("cad-bridge", "duty_manager", False)]
    assert rows[0]["last_used"] is not None and token not in json.dumps(rows)
    assert "cad-bridge" in invoke(redis_url, "tokens", "list").output

    revoked = invoke(redis_url, "tokens", "revoke", "cad-bridge")
    assert revoked.exit_code == 0 and "Revoked API token 'cad-bridge'" in revoked.output
    assert Tokens(store).resolve(token, "127.0.0.1") is None
    assert "already revoked" in invoke(redis_url, "tokens", "revoke", "cad-bridge").output
    assert [e.action for e in audit_events(store)] == ["token_added", "token_revoked"]
