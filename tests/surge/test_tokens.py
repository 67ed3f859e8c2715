"""API tokens: only a sha256 is stored, a revoked token opens nothing, last use is noted,
every change is audited, and only an admin manages them."""

from __future__ import annotations

import hashlib

import pytest
import redis

from surge import keys
from surge.actions import (
    Actor,
    Conflict,
    Forbidden,
    InvalidArgument,
    TokenAdded,
    TokenRevoked,
    add_token,
    revoke_token,
)
from surge.auth import ROLES, ApiToken, TokenPrincipal, Tokens, audit_events
from surge.auth.tokens import USED_EVERY
from surge.errors import SurgeError
from surge.events import read_events
from surge.store import Store

T0 = 1_767_225_600.0
ADMIN = Actor("cli:ops", "admin", "local", "cli")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(store: Store, clock: Clock) -> Tokens:
    return Tokens(store, clock)


def everything_stored(client: redis.Redis) -> bytes:
    """Every key and every value in the store, as one blob to search."""
    out = []
    for key in client.scan_iter(count=1000):
        out.append(key)
        kind = client.type(key)
        if kind == b"string":
            out.append(client.get(key) or b"")
        elif kind == b"hash":
            out += [b for kv in client.hgetall(key).items() for b in kv]
        elif kind == b"set":
            out += list(client.smembers(key))
        elif kind == b"zset":
            out += [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == b"list":
            out += client.lrange(key, 0, -1)
        elif kind == b"stream":
            out += [b for _, fields in client.xrange(key) for kv in fields.items() for b in kv]
        else:
            raise AssertionError(f"a key of type {kind!r} this test does not read: {key!r}")
    return b"\n".join(out)


def test_a_token_is_shown_once_and_only_its_sha256_is_stored(store: Store,
                                                             tokens: Tokens) -> None:
    token = tokens.add("cad-bridge", "duty_manager", by=ADMIN)
    assert token.startswith("surge_") and len(token) > 40
    blob = everything_stored(store.client)
    assert token.encode() not in blob
    assert token.removeprefix("surge_").encode() not in blob
    assert hashlib.sha256(token.encode()).hexdigest().encode() in blob
    assert tokens.list() == [ApiToken("cad-bridge", "duty_manager", T0, "cli:ops", None, None,
                                      False, None)]


def test_a_token_resolves_to_its_name_and_role_and_notes_its_last_use(
        store: Store, tokens: Tokens, clock: Clock) -> None:
    token = tokens.add("cad-bridge", "commander", by=ADMIN)
    clock.now = T0 + 100
    who = tokens.resolve(token, "10.1.2.3")
    assert who == TokenPrincipal("cad-bridge", "commander", "10.1.2.3")
    assert who.actor == Actor("token:cad-bridge", "commander", "10.1.2.3", "api")
    got = tokens.get("cad-bridge")
    assert got is not None and (got.last_used, got.last_address) == (T0 + 100, "10.1.2.3")

    clock.now = T0 + 100 + USED_EVERY / 2  # soon after, from the same place: not rewritten
    assert tokens.resolve(token, "10.1.2.3") == who
    assert tokens.get("cad-bridge").last_used == T0 + 100  # type: ignore[union-attr]
    clock.now = T0 + 100 + USED_EVERY
    tokens.resolve(token, "10.1.2.3")
    assert tokens.get("cad-bridge").last_used == T0 + 100 + USED_EVERY  # type: ignore[union-attr]
    clock.now += 1  # from another address: noted at once
    tokens.resolve(token, "10.9.9.9")
    got = tokens.get("cad-bridge")
    assert got is not None and (got.last_used, got.last_address) == (clock.now, "10.9.9.9")


def test_a_revoked_token_opens_nothing(store: Store, tokens: Tokens, clock: Clock) -> None:
    token = tokens.add("cad-bridge", "viewer", by=ADMIN)
    other = tokens.add("pts-bridge", "viewer", by=ADMIN)
    clock.now = T0 + 60
    revoked = tokens.revoke("cad-bridge", by=ADMIN)
    assert revoked.revoked and revoked.revoked_at == T0 + 60
    assert tokens.resolve(token, "10.1.2.3") is None
    assert tokens.resolve(other, "10.1.2.3") is not None
    assert tokens.revoke("cad-bridge", by=ADMIN) == revoked  # again: nothing changes
    fresh = tokens.add("cad-bridge", "viewer", by=ADMIN)  # the name is free again
    assert tokens.resolve(token, "x") is None and tokens.resolve(fresh, "x") is not None


def test_nonsense_opens_nothing(tokens: Tokens) -> None:
    token = tokens.add("cad-bridge", "viewer", by=ADMIN)
    for wrong in ("", "surge_", token[:-1], token + "x", "x" * 10_000):
        assert tokens.resolve(wrong, "10.1.2.3") is None


def test_bad_names_roles_and_clashes_are_refused(store: Store, tokens: Tokens) -> None:
    with pytest.raises(SurgeError, match="invalid API token name 'has space'"):
        tokens.add("has space", "viewer", by=ADMIN)
    with pytest.raises(SurgeError, match=r"unknown role 'comander' \(did you mean 'commander'"):
        tokens.add("cad", "comander", by=ADMIN)
    tokens.add("cad", "viewer", by=ADMIN)
    with pytest.raises(SurgeError, match="an API token named 'cad' already exists"):
        tokens.add("cad", "admin", by=ADMIN)
    with pytest.raises(SurgeError, match=r"unknown API token 'cda' \(did you mean 'cad'"):
        tokens.revoke("cda", by=ADMIN)
    assert [t.role for t in tokens.list()] == ["viewer"]


def test_every_change_is_audited_without_the_token(store: Store, tokens: Tokens) -> None:
    token = tokens.add("cad-bridge", "duty_manager", by=ADMIN)
    tokens.revoke("cad-bridge", by=ADMIN)
    assert [(e.action, e.details) for e in audit_events(store)] == [
        ("token_added", {"api_token": "cad-bridge", "granted_role": "duty_manager"}),
        ("token_revoked", {"api_token": "cad-bridge"})]
    assert all(token not in str(e.fields()) for e in read_events(store))


def test_tokens_are_kept_when_an_exercise_clears_the_store(store: Store,
                                                          tokens: Tokens) -> None:
    token = tokens.add("cad-bridge", "viewer", by=ADMIN)
    store.clear_run_data()
    assert tokens.resolve(token, "x") is not None
    assert all(keys.is_account_key(k.decode()) for k in store.client.scan_iter())


@pytest.mark.parametrize("role", ROLES)
def test_only_an_admin_manages_tokens(store: Store, role: str) -> None:
    actor = Actor("someone", role, "10.0.0.9", "page")
    Tokens(store).add("existing", "viewer", by=ADMIN)
    store.client.delete(keys.EVENTS)
    if role != "admin":
        before = {k: store.client.dump(k) for k in store.client.scan_iter()}
        for attempt in (lambda: add_token(store, actor, name="new", role="viewer"),
                        lambda: revoke_token(store, actor, name="existing")):
            with pytest.raises(Forbidden, match="manage_tokens needs the admin role"):
                attempt()
        after = {k: store.client.dump(k) for k in store.client.scan_iter()
                 if k != keys.EVENTS.encode()}
        assert after == before
        assert [(e.action, e.details["needed"]) for e in audit_events(store)] == [
            ("access_refused", "admin")] * 2
        return
    added = add_token(store, actor, name="new", role="commander")
    assert isinstance(added, TokenAdded) and added.token not in repr(added)
    assert Tokens(store).resolve(added.token, "x") == TokenPrincipal("new", "commander", "x")
    done = revoke_token(store, actor, name="new")
    assert isinstance(done, TokenRevoked) and done.token.revoked and not done.already
    assert revoke_token(store, actor, name="new").already


def test_the_actions_say_what_kind_of_problem_it_is(store: Store) -> None:
    add_token(store, ADMIN, name="cad", role="viewer")
    before = {k: store.client.dump(k) for k in store.client.scan_iter()}
    with pytest.raises(InvalidArgument, match="invalid API token name"):
        add_token(store, ADMIN, name="", role="viewer")
    with pytest.raises(InvalidArgument, match="unknown role 'root'"):
        add_token(store, ADMIN, name="pts", role="root")
    with pytest.raises(Conflict, match="an API token named 'cad' already exists"):
        add_token(store, ADMIN, name="cad", role="admin")
    with pytest.raises(InvalidArgument, match=r"unknown API token 'cda' \(did you mean 'cad'"):
        revoke_token(store, ADMIN, name="cda")
    assert {k: store.client.dump(k) for k in store.client.scan_iter()} == before
