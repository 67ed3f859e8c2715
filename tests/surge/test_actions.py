"""surge.actions: each action checks the role in the one table, records itself, and returns
what it did; a refusal is a typed error on the audit trail that changes nothing else."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import redis

from surge import actions, keys
from surge.actions import Actor, Forbidden, RulesReloadRequested, UnknownActor, act_as, reload_rules
from surge.auth import NEEDED, ROLES, Users, audit_events, needed
from surge.errors import SurgeError
from surge.store import Store

RULES = Path(__file__).resolve().parents[2] / "surge_rules.yaml"
ADMIN = Actor("cli:test", "admin", "local", "cli")
PASSWORD = "correct horse battery staple"


class Clock:
    now = 1_764_000_000.0

    def __call__(self) -> float:
        return self.now


def snapshot(client: redis.Redis) -> dict[bytes, bytes]:
    return {k: client.dump(k) for k in sorted(client.scan_iter()) if k != keys.EVENTS.encode()}


@pytest.fixture
def timed(redis_client: redis.Redis) -> Store:
    return Store(redis_client, clock=Clock())


def test_an_admin_reloads_the_rules_on_the_record(timed: Store) -> None:
    alice = Actor("alice", "admin", "10.0.0.5", "page")
    done = reload_rules(timed, alice, rules=RULES)
    assert done == RulesReloadRequested(at=Clock.now, by="alice via page", rules=str(RULES),
                                        problems=(), audit_id=done.audit_id)
    assert done.accepted
    assert timed.take_reload_request() == "alice via page"
    (entry,) = audit_events(timed)
    assert entry.id == done.audit_id and entry.kind == "audit" and entry.at == Clock.now
    assert entry.data == {"action": "rules_reload_requested", "user": "alice", "role": "admin",
                          "address": "10.0.0.5", "via": "page", "rules": str(RULES),
                          "problems": 0}


def test_a_broken_rules_file_is_still_requested_and_its_problems_are_returned(
        timed: Store, tmp_path: Path) -> None:
    broken = tmp_path / "rules.yaml"
    broken.write_text("version: 1\n")
    done = reload_rules(timed, ADMIN, rules=broken)
    assert not done.accepted and done.problems
    assert all(p.startswith(str(broken)) for p in done.problems)
    assert timed.events()[-1].data["problems"] == len(done.problems)


@pytest.mark.parametrize("role", ["viewer", "duty_manager", "commander", "", "root"])
def test_every_role_below_admin_is_refused_and_nothing_but_the_refusal_is_recorded(
        timed: Store, role: str) -> None:
    before = snapshot(timed.client)
    bob = Actor("bob", role, "10.0.0.6", "api")
    with pytest.raises(Forbidden) as refused:
        reload_rules(timed, bob, rules=RULES)
    error = refused.value
    assert isinstance(error, SurgeError)
    assert (error.action, error.role, error.needed) == ("reload_rules", role, "admin")
    assert str(error) == (f"not allowed: reload_rules needs the admin role; "
                          f"{role or 'no role'} is not enough")
    assert snapshot(timed.client) == before
    (entry,) = audit_events(timed)
    assert entry.data == {"action": "access_refused", "user": "bob", "role": role,
                          "address": "10.0.0.6", "via": "api", "needed": "admin",
                          "target": "action reload_rules"}


def test_acting_as_a_user_takes_their_role_from_the_store(timed: Store) -> None:
    users = Users(timed, clock=Clock())
    users.add("carol", "commander", PASSWORD, by=ADMIN)
    assert act_as(timed, "carol", via="cli") == Actor("carol", "commander", "local", "cli")
    users.set_role("carol", "admin", by=ADMIN)
    assert act_as(timed, "carol", via="cli").role == "admin"


def test_acting_as_an_unknown_or_disabled_user_is_refused(timed: Store) -> None:
    users = Users(timed, clock=Clock())
    users.add("carol", "admin", PASSWORD, by=ADMIN)
    with pytest.raises(UnknownActor, match=r"unknown user 'carl' \(did you mean 'carol'\?\)"):
        act_as(timed, "carl", via="cli")
    users.disable("carol", by=ADMIN)
    events = len(timed.events())
    with pytest.raises(UnknownActor, match="user 'carol' is disabled"):
        act_as(timed, "carol", via="cli")
    assert [e.data["action"] for e in timed.events()[events:]] == ["access_refused"]


def test_an_actor_is_frozen_and_says_which_door_it_came_through() -> None:
    assert Actor("alice", "admin", "10.0.0.5", "page").label == "alice via page"
    assert Actor("alice", "admin").label == "alice"
    with pytest.raises(dataclasses.FrozenInstanceError):
        ADMIN.role = "viewer"  # type: ignore[misc]


def test_every_action_needs_a_role_from_the_one_table() -> None:
    assert needed("reload_rules") == "admin"
    assert set(NEEDED.values()) <= set(ROLES)
    with pytest.raises(ValueError, match="unknown action 'reload'"):
        needed("reload")


def test_the_results_are_frozen_dataclasses() -> None:
    results = [getattr(actions, name) for name in actions.__all__
               if isinstance(getattr(actions, name), type)
               and dataclasses.is_dataclass(getattr(actions, name))]
    assert RulesReloadRequested in results
    for result in results:
        assert result.__dataclass_params__.frozen, result  # type: ignore[attr-defined]
