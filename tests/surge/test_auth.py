"""Roles, users, wall screens and the audit trail, against the real store."""

from __future__ import annotations

import hashlib
import re

import argon2
import pytest
import redis

from surge import keys
from surge.auth import (
    ROLES,
    Actor,
    PasswordRejected,
    Screens,
    Users,
    allows,
    audit_events,
    check_role,
    ensure_demo_login,
    record,
    screen_url,
)
from surge.errors import SurgeError

ADMIN = Actor("cli:test", "admin", "local")
GOOD = "correct horse battery"


def cheap_hasher() -> argon2.PasswordHasher:
    """Real argon2id with small parameters, so tests that hash often stay quick."""
    return argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class Clock:
    def __init__(self, now: float = 1_760_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def everything(client: redis.Redis) -> bytes:
    """Every key, field, member and value in the database, read by type (never DUMP, which
    may compress), joined so a test can look for bytes that must not be anywhere."""
    parts: list[bytes] = []
    for key in client.scan_iter(count=1000):
        parts.append(key)
        kind = client.type(key)
        if kind == b"string":
            parts.append(client.get(key) or b"")
        elif kind == b"hash":
            for f, v in client.hgetall(key).items():
                parts += (f, v)
        elif kind == b"set":
            parts += client.smembers(key)
        elif kind == b"stream":
            for _, fields in client.xrange(key):
                for f, v in fields.items():
                    parts += (f, v)
        else:
            raise AssertionError(f"unexpected key type {kind!r} for {key!r}")
    return b"\n".join(parts)


def audit_data(store) -> list[dict]:
    return [e.data for e in audit_events(store)]


# --- roles ---------------------------------------------------------------------------


def test_each_role_includes_the_ones_before_it() -> None:
    assert ROLES == ("viewer", "duty_manager", "commander", "admin")
    for i, role in enumerate(ROLES):
        for j, needed in enumerate(ROLES):
            assert allows(role, needed) is (i >= j)
    assert not allows("superuser", "viewer")  # a stale or damaged session allows nothing
    with pytest.raises(ValueError):
        allows("admin", "owner")


def test_an_unknown_role_is_named_with_a_suggestion_and_the_list() -> None:
    assert check_role("commander") == "commander"
    with pytest.raises(ValueError) as bad:
        check_role("comander")
    assert str(bad.value) == ("unknown role 'comander' (did you mean 'commander'?); roles: "
                              "viewer, duty_manager, commander, admin")
    with pytest.raises(ValueError, match="did you mean 'duty_manager'"):
        check_role("duty-manager")


# --- users and passwords ---------------------------------------------------------------


def test_passwords_are_kept_only_as_argon2id_hashes(store, redis_client) -> None:
    users = Users(store)  # the production parameters
    users.add("alice", "duty_manager", GOOD, by=ADMIN)
    assert users.authenticate("alice", GOOD, address="10.0.0.5") is not None
    assert users.authenticate("alice", "wrong password here", address="10.0.0.5") is None
    users.reset_password("alice", "a different long secret", by=ADMIN)
    users.authenticate("alice", "a different long secret", address="10.0.0.5")

    stored = redis_client.hget(keys.user("alice"), "hash")
    assert stored.startswith(b"$argon2id$") and b"m=65536" in stored
    dump = everything(redis_client)
    for secret in (GOOD, "wrong password here", "a different long secret"):
        assert secret.encode() not in dump
        assert secret.encode("utf-16-le") not in dump


@pytest.mark.parametrize(("password", "rule"), [
    ("short", "at least 12 characters long (it has 5)"),
    ("", "at least 12 characters long (it has 0)"),
    ("Bob.Smith-99", "must not be the user name"),
    ("x" * 1025, "at most 1024 characters"),
])
def test_weak_passwords_are_refused_saying_which_rule(store, redis_client, password, rule) -> None:
    users = Users(store, hasher=cheap_hasher())
    with pytest.raises(PasswordRejected, match=re.escape(rule)):
        users.add("bob.smith-99", "viewer", password, by=ADMIN)
    assert redis_client.dbsize() == 0  # nothing stored, nothing audited
    users.add("bob.smith-99", "viewer", GOOD, by=ADMIN)
    with pytest.raises(PasswordRejected, match=re.escape(rule)):
        users.reset_password("bob.smith-99", password, by=ADMIN)
    assert users.authenticate("bob.smith-99", GOOD, address="a") is not None


def test_bad_names_unknown_roles_and_duplicates_are_refused(store) -> None:
    users = Users(store, hasher=cheap_hasher())
    for name in ("", "has space", "x" * 65, "semi;colon", "café"):
        with pytest.raises(SurgeError, match="invalid user name"):
            users.add(name, "viewer", GOOD, by=ADMIN)
    with pytest.raises(SurgeError, match=r"unknown role 'admn' \(did you mean 'admin'\?\)"):
        users.add("carol", "admn", GOOD, by=ADMIN)
    users.add("carol", "viewer", GOOD, by=ADMIN)
    with pytest.raises(SurgeError, match="user 'carol' already exists"):
        users.add("carol", "admin", GOOD + "!", by=ADMIN)
    with pytest.raises(SurgeError, match=r"unknown user 'carl' \(did you mean 'carol'\?\)"):
        users.disable("carl", by=ADMIN)
    assert [u.name for u in users.list()] == ["carol"] and users.get("carl") is None


def test_failed_sign_ins_look_the_same_but_the_audit_says_why(store) -> None:
    users = Users(store, hasher=cheap_hasher())
    users.add("dan", "commander", GOOD, by=ADMIN)
    users.add("erin", "viewer", GOOD, by=ADMIN)
    users.disable("erin", by=ADMIN)
    before = len(audit_data(store))

    assert users.authenticate("nobody", GOOD, address="192.0.2.1") is None
    assert users.authenticate("dan", "not the password", address="192.0.2.2") is None
    assert users.authenticate("erin", GOOD, address="192.0.2.3") is None
    assert users.authenticate("my secret pass", GOOD, address="192.0.2.4") is None
    dan = users.authenticate("dan", GOOD, address="192.0.2.5")
    assert dan is not None and dan.role == "commander"

    entries = audit_data(store)[before:]
    assert [(e["action"], e["user"], e.get("reason"), e["address"]) for e in entries] == [
        ("login_failed", "nobody", "unknown user", "192.0.2.1"),
        ("login_failed", "dan", "wrong password", "192.0.2.2"),
        ("login_failed", "erin", "disabled", "192.0.2.3"),
        ("login_failed", "(invalid user name)", "unknown user", "192.0.2.4"),
        ("login", "dan", None, "192.0.2.5"),
    ]
    assert entries[-1]["role"] == "commander"
    assert b"my secret pass" not in everything(store.client)


class RecordingHasher(argon2.PasswordHasher):
    """The real hasher, noting which hashes it was asked to verify against."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash, password) -> bool:  # type: ignore[override]
        self.verified.append(hash)
        return super().verify(hash, password)


def test_an_unknown_user_costs_one_argon2_verification_like_a_known_one(store) -> None:
    hasher = RecordingHasher()
    users = Users(store, hasher=hasher)
    users.add("fay", "viewer", GOOD, by=ADMIN)
    users.authenticate("nobody-here", GOOD, address="a")
    users.authenticate("fay", "wrong password!", address="a")
    dummy, real = hasher.verified
    stored = store.client.hget(keys.user("fay"), "hash").decode()
    assert real == stored and dummy != stored
    # the dummy has exactly the parameters of a real hash, so it takes as long to check
    assert dummy.rsplit("$", 2)[0] == stored.rsplit("$", 2)[0]


def test_a_hash_with_old_parameters_is_upgraded_at_the_next_sign_in(store, redis_client) -> None:
    Users(store, hasher=cheap_hasher()).add("gus", "viewer", GOOD, by=ADMIN)
    old = redis_client.hget(keys.user("gus"), "hash")
    stronger = Users(store, hasher=argon2.PasswordHasher(time_cost=2, memory_cost=2048,
                                                         parallelism=1))
    assert stronger.authenticate("gus", GOOD, address="a") is not None
    new = redis_client.hget(keys.user("gus"), "hash")
    assert new != old and b"m=2048,t=2" in new
    assert stronger.get("gus").epoch == 1  # not a password change: sessions carry on
    assert stronger.authenticate("gus", GOOD, address="a") is not None


def test_epoch_moves_on_when_sessions_must_end(store) -> None:
    clock = Clock()
    users = Users(store, clock=clock, hasher=cheap_hasher())
    hal = users.add("hal", "viewer", GOOD, by=ADMIN)
    assert (hal.epoch, hal.created, hal.password_changed) == (1, clock.now, clock.now)
    clock.now += 60
    assert users.set_role("hal", "commander", by=ADMIN).epoch == 2
    assert users.set_role("hal", "commander", by=ADMIN).epoch == 2  # no change, no new epoch
    assert users.disable("hal", by=ADMIN).epoch == 3
    enabled = users.enable("hal", by=ADMIN)
    assert enabled.epoch == 3 and not enabled.disabled
    reset = users.reset_password("hal", "another good password", by=ADMIN)
    assert reset.epoch == 4 and reset.password_changed == clock.now and reset.created == hal.created
    assert users.authenticate("hal", GOOD, address="a") is None
    assert users.authenticate("hal", "another good password", address="a") is not None
    actions = [(e["action"], e.get("target", e["user"])) for e in audit_data(store)]
    assert actions == [("user_added", "hal"), ("user_role_changed", "hal"),
                       ("user_disabled", "hal"), ("user_enabled", "hal"),
                       ("password_reset", "hal"), ("login_failed", "hal"), ("login", "hal")]


# --- wall screens --------------------------------------------------------------------


def test_a_screen_token_is_stored_only_as_its_sha256(store, redis_client) -> None:
    screens = Screens(store)
    token = screens.add("Strategic cell wall", by=ADMIN)
    assert len(token) >= 43
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert redis_client.get(keys.screen_token(digest)) == b"Strategic cell wall"
    assert token.encode() not in everything(redis_client)
    assert screen_url("http://surge.example/", token) == f"http://surge.example/screen/{token}"


def test_resolve_signs_in_a_live_screen_and_revoke_ends_it_at_once(store) -> None:
    clock = Clock()
    screens = Screens(store, clock=clock)
    token = screens.add("Wall", by=ADMIN)
    wall = screens.resolve(token, address="10.1.1.1")
    assert wall is not None and wall.name == "Wall" and not wall.revoked
    assert wall.last_seen == clock.now and wall.last_address == "10.1.1.1"
    assert screens.resolve("not-a-token", address="x") is None
    assert screens.resolve("", address="x") is None
    assert screens.resolve("x" * 10_000, address="x") is None
    with pytest.raises(SurgeError, match="a screen named 'Wall' already exists"):
        screens.add("Wall", by=ADMIN)

    clock.now += 5
    revoked = screens.revoke("Wall", by=ADMIN)
    assert revoked.revoked and revoked.revoked_at == clock.now and not screens.is_live("Wall")
    assert screens.resolve(token, address="10.1.1.1") is None
    assert screens.revoke("Wall", by=ADMIN) == revoked  # again: nothing changes
    with pytest.raises(SurgeError, match=r"unknown screen 'Wal' \(did you mean 'Wall'\?\)"):
        screens.revoke("Wal", by=ADMIN)

    again = screens.add("Wall", by=ADMIN)  # a revoked name may be issued anew
    assert screens.resolve(again, address="a") is not None and screens.is_live("Wall")
    assert screens.resolve(token, address="a") is None  # the old token stays dead
    actions = [(e["action"], e.get("screen")) for e in audit_data(store)]
    assert actions == [("screen_added", "Wall"), ("screen_revoked", "Wall"),
                       ("screen_added", "Wall")]


def test_last_seen_is_written_at_most_every_30_seconds(store, redis_client) -> None:
    clock = Clock()
    screens = Screens(store, clock=clock)
    token = screens.add("Wall", by=ADMIN)
    first = clock.now
    screens.resolve(token, address="10.0.0.1")
    for step, address in ((10, "10.0.0.2"), (29.9, "10.0.0.3")):
        clock.now = first + step
        seen = screens.resolve(token, address=address)
        assert seen is not None and (seen.last_seen, seen.last_address) == (first, "10.0.0.1")
    clock.now = first + 30
    seen = screens.resolve(token, address="10.0.0.4")
    assert (seen.last_seen, seen.last_address) == (first + 30, "10.0.0.4")
    [listed] = screens.list()
    assert (listed.last_seen, listed.last_address) == (first + 30, "10.0.0.4")


def test_bad_screen_names_are_refused(store, redis_client) -> None:
    for name in ("", "   ", "x" * 81, "tab\there"):
        with pytest.raises(SurgeError, match="invalid screen name"):
            Screens(store).add(name, by=ADMIN)
    assert redis_client.dbsize() == 0


# --- the first-start demo login ----------------------------------------------------------


def test_the_demo_login_is_created_once_with_a_random_password(store) -> None:
    created = ensure_demo_login(store, "http://127.0.0.1:8050")
    assert created is not None
    user, password, url = created
    assert user == "admin" and len(password) >= 16
    assert url.startswith("http://127.0.0.1:8050/screen/")
    users = Users(store)
    assert users.authenticate("admin", password, address="local").role == "admin"
    assert Screens(store).resolve(url.rsplit("/", 1)[1], address="local").name == \
        "Demo wall screen"
    assert ensure_demo_login(store, "http://127.0.0.1:8050") is None  # never again
    assert [u.name for u in users.list()] == ["admin"]
    assert users.authenticate("admin", password, address="local") is not None


def test_no_demo_login_when_any_user_exists(store) -> None:
    Users(store, hasher=cheap_hasher()).add("ops", "admin", GOOD, by=ADMIN)
    assert ensure_demo_login(store, "http://x") is None
    assert Users(store).get("admin") is None and Screens(store).list() == []


def test_two_demo_passwords_differ(redis_client, store) -> None:
    first = ensure_demo_login(store, "http://x")
    redis_client.flushdb()
    second = ensure_demo_login(store, "http://x")
    assert first and second and first[1] != second[1] and first[2] != second[2]


# --- the audit trail -----------------------------------------------------------------------


def test_audit_entries_carry_who_role_address_time_and_what_changed(store) -> None:
    clock = Clock()
    users = Users(store, clock=clock, hasher=cheap_hasher())
    ops = Actor("ops", "admin", "10.9.9.9")
    users.add("ivy", "viewer", GOOD, by=ops)
    clock.now += 3600
    users.set_role("ivy", "duty_manager", by=ops)
    clock.now += 3600
    users.authenticate("ivy", GOOD, address="10.2.2.2")
    record(store, "logout", Actor("ivy", "duty_manager", "10.2.2.2"), at=clock.now + 1)

    [added, changed, login, logout] = audit_events(store)
    assert added.kind == "audit" and added.at == clock.now - 7200
    assert added.data == {"action": "user_added", "user": "ops", "role": "admin",
                          "address": "10.9.9.9", "target": "ivy", "new_role": "viewer"}
    assert changed.data["old_role"] == "viewer" and changed.data["new_role"] == "duty_manager"
    assert (login.data["user"], login.data["role"], login.at) == ("ivy", "duty_manager",
                                                                  clock.now)
    assert logout.data["action"] == "logout" and logout.at == clock.now + 1

    t0 = clock.now - 7200
    assert [e.data["action"] for e in audit_events(store, user="ops")] == \
        ["user_added", "user_role_changed"]
    assert [e.data["action"] for e in audit_events(store, user="ivy")] == \
        ["user_added", "user_role_changed", "login", "logout"]  # by ivy, or done to ivy
    assert [e.data["action"] for e in audit_events(store, start=t0 + 1, end=clock.now)] == \
        ["user_role_changed", "login"]
    assert audit_events(store, end=t0 - 1) == []
    assert [e.id for e in store.events()] == [e.id for e in audit_events(store)]


def test_secrets_are_refused_by_the_audit_itself(store) -> None:
    for field in ("password", "token", "hash"):
        with pytest.raises(ValueError, match="must not carry secrets"):
            record(store, "oops", ADMIN, **{field: "x"})
    assert store.events() == []
