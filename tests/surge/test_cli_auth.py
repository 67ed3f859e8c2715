"""`surge users`, `surge screens` and `surge audit` as an admin runs them, and the demo login."""

from __future__ import annotations

import getpass
import hashlib
import json
import re
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from surge import keys
from surge.auth import Screens, Users
from surge.cli import main

REPO = Path(__file__).resolve().parents[2]
GOOD = "correct horse battery"


def invoke(redis_url: str, *args: str, input: str | None = None):
    env = {"SURGE_RULES": str(REPO / "surge_rules.yaml"), "SURGE_REDIS_URL": redis_url,
           "SURGE_HOST": "127.0.0.1", "SURGE_PORT": "8050"}
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)


def snapshot(client: redis.Redis) -> dict[bytes, bytes]:
    """Every key's serialized value, to show a refused command changed nothing."""
    return {key: client.dump(key) for key in sorted(client.scan_iter(count=1000))}


def cli_actor() -> str:
    return f"cli:{getpass.getuser()}"


def test_users_are_added_listed_and_changed(store, redis_url) -> None:
    added = invoke(redis_url, "users", "add", "alice", "--role", "duty_manager",
                   "--password-stdin", input=GOOD + "\n")
    assert added.exit_code == 0, added.output
    assert "Added user alice (duty_manager)." in added.output
    prompted = invoke(redis_url, "users", "add", "bob", "--role", "viewer",
                      input=f"{GOOD}\n{GOOD}\n")
    assert prompted.exit_code == 0, prompted.output
    assert GOOD not in prompted.output  # the prompt hides what is typed

    listed = invoke(redis_url, "users", "list", "--json")
    assert listed.exit_code == 0
    rows = json.loads(listed.output)
    assert [(r["name"], r["role"], r["disabled"]) for r in rows] == [
        ("alice", "duty_manager", False), ("bob", "viewer", False)]
    assert set(rows[0]) == {"name", "role", "disabled", "created", "password_changed"}
    assert "argon2" not in listed.output

    changed = invoke(redis_url, "users", "set-role", "bob", "commander")
    assert changed.exit_code == 0 and "bob is now commander (was viewer)" in changed.output
    assert "already commander" in invoke(redis_url, "users", "set-role", "bob", "commander").output
    assert invoke(redis_url, "users", "disable", "bob").exit_code == 0
    table = invoke(redis_url, "users", "list").output
    assert re.search(r"bob\s+commander\s+disabled", table) and re.search(r"alice\s+duty_manager"
                                                                         r"\s+active", table)
    assert "already disabled" in invoke(redis_url, "users", "disable", "bob").output
    assert "bob is enabled" in invoke(redis_url, "users", "enable", "bob").output
    reset = invoke(redis_url, "users", "reset-password", "bob", "--password-stdin",
                   input="a brand new passphrase\n")
    assert reset.exit_code == 0 and "Password of bob changed" in reset.output

    users = Users(store)
    assert users.authenticate("bob", "a brand new passphrase", address="x").role == "commander"
    assert users.get("bob").epoch == 4  # role change, disable, reset


def test_screens_are_added_listed_and_revoked(store, redis_url) -> None:
    added = invoke(redis_url, "screens", "add", "Strategic cell wall")
    assert added.exit_code == 0, added.output
    url = added.output.strip().splitlines()[-1]
    assert re.fullmatch(r"http://127\.0\.0\.1:8050/screen/[A-Za-z0-9_-]{43}", url)
    token = url.rsplit("/", 1)[1]
    assert store.client.get(keys.screen_token(hashlib.sha256(token.encode()).hexdigest()))
    other = invoke(redis_url, "screens", "add", "Control room", "--base-url",
                   "https://surge.example.nhs.uk/")
    assert re.search(r"^https://surge\.example\.nhs\.uk/screen/\S{43}$", other.output, re.M)

    assert "never" in invoke(redis_url, "screens", "list").output
    assert Screens(store).resolve(token, address="10.20.30.40") is not None
    table = invoke(redis_url, "screens", "list").output
    assert re.search(r"Strategic cell wall\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+10\.20\.30\.40\s+live",
                     table)

    revoked = invoke(redis_url, "screens", "revoke", "Strategic cell wall")
    assert revoked.exit_code == 0 and "Revoked screen 'Strategic cell wall'" in revoked.output
    assert Screens(store).resolve(token, address="10.20.30.40") is None
    rows = {r["name"]: r for r in json.loads(invoke(redis_url, "screens", "list", "--json").output)}
    assert rows["Strategic cell wall"]["revoked"] is True
    assert rows["Strategic cell wall"]["last_address"] == "10.20.30.40"
    assert rows["Control room"]["revoked"] is False and rows["Control room"]["last_seen"] is None
    assert token not in json.dumps(rows)


def test_surge_audit_lists_the_logins_and_changes_of_the_scenario(store, redis_url) -> None:
    invoke(redis_url, "users", "add", "carol", "--role", "viewer", "--password-stdin",
           input=GOOD + "\n")
    invoke(redis_url, "users", "set-role", "carol", "commander")
    users = Users(store)
    users.authenticate("carol", GOOD, address="10.0.0.7")
    users.authenticate("carol", "not her password", address="10.0.0.8")
    users.authenticate("mallory", GOOD, address="10.0.0.9")
    invoke(redis_url, "users", "disable", "carol")
    invoke(redis_url, "screens", "add", "Wall")

    result = invoke(redis_url, "audit", "--json")
    assert result.exit_code == 0, result.output
    entries = json.loads(result.output)
    me = cli_actor()
    assert [(e["action"], e["user"], e["role"], e["address"], e.get("target"), e.get("reason"))
            for e in entries] == [
        ("user_added", me, "admin", "local", "carol", None),
        ("user_role_changed", me, "admin", "local", "carol", None),
        ("login", "carol", "commander", "10.0.0.7", None, None),
        ("login_failed", "carol", "commander", "10.0.0.8", None, "wrong password"),
        ("login_failed", "mallory", "", "10.0.0.9", None, "unknown user"),
        ("user_disabled", me, "admin", "local", "carol", None),
        ("screen_added", me, "admin", "local", None, None),
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e["at"]) for e in entries)
    assert GOOD not in result.output

    mine = json.loads(invoke(redis_url, "audit", "--user", "carol", "--json").output)
    assert [e["action"] for e in mine] == ["user_added", "user_role_changed", "login",
                                           "login_failed", "user_disabled"]
    assert json.loads(invoke(redis_url, "audit", "--from", "2000-01-01", "--to", "2000-01-02",
                             "--json").output) == []
    assert len(json.loads(invoke(redis_url, "audit", "--from", "1h", "--json").output)) == 7
    table = invoke(redis_url, "audit").output
    assert re.search(r"\d\d:\d\d:\d\d (GMT|BST)\s+carol\s+commander\s+10\.0\.0\.7\s+login", table)
    assert "reason=wrong password" in table and "target=carol" in table


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (("users", "add", "dave", "--role", "comander", "--password-stdin"), GOOD,
     "error: unknown role 'comander' (did you mean 'commander'?); roles: viewer, duty_manager, "
     "commander, admin"),
    (("users", "add", "dave", "--role", "viewer", "--password-stdin"), "short",
     "error: the password must be at least 12 characters long (it has 5)"),
    (("users", "add", "dave", "--role", "viewer", "--password-stdin"), "dave",
     "error: the password must be at least 12 characters long"),
    (("users", "add", "dave.example", "--role", "viewer", "--password-stdin"), "Dave.Example",
     "error: the password must not be the user name"),
    (("users", "add", "alice", "--role", "viewer", "--password-stdin"), GOOD,
     "error: user 'alice' already exists"),
    (("users", "add", "bad name", "--role", "viewer", "--password-stdin"), GOOD,
     "error: invalid user name 'bad name'"),
    (("users", "set-role", "alise", "admin"), None,
     "error: unknown user 'alise' (did you mean 'alice'?)"),
    (("users", "set-role", "alice", "root"), None, "error: unknown role 'root'; roles:"),
    (("users", "disable", "nobody"), None, "error: unknown user 'nobody'"),
    (("users", "enable", "nobody"), None, "error: unknown user 'nobody'"),
    (("users", "reset-password", "nobody", "--password-stdin"), GOOD,
     "error: unknown user 'nobody'"),
    (("users", "reset-password", "alice", "--password-stdin"), "tiny",
     "error: the password must be at least 12 characters long"),
    (("screens", "revoke", "Wal"), None, "error: unknown screen 'Wal' (did you mean 'Wall'?)"),
    (("screens", "add", "Wall"), None, "error: a screen named 'Wall' already exists"),
    (("audit", "--from", "last tuesday"), None, "error: --from: expected an ISO time"),
    (("audit", "--from", "1h", "--to", "2h"), None, "error: --to must be later than --from"),
])
def test_bad_input_is_refused_clearly_and_changes_nothing(store, redis_url, args, stdin,
                                                         message) -> None:
    Users(store).add("alice", "duty_manager", GOOD, by=_admin())
    Screens(store).add("Wall", by=_admin())
    before = snapshot(store.client)
    result = invoke(redis_url, *args, input=None if stdin is None else stdin + "\n")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert snapshot(store.client) == before


def test_an_unreachable_store_is_named_not_a_traceback() -> None:
    result = invoke("redis://127.0.0.1:1/0", "users", "list")
    assert result.exit_code == 2
    assert "error: cannot reach redis://127.0.0.1:1/0" in result.output
    assert "Traceback" not in result.output


def test_a_missing_role_option_is_a_usage_error(redis_url) -> None:
    result = invoke(redis_url, "users", "add", "erin", "--password-stdin", input=GOOD + "\n")
    assert result.exit_code == 2 and "Missing option '--role'" in result.output


def _admin():
    from surge.auth import Actor

    return Actor("test", "admin", "local")


@pytest.mark.slow
def test_the_first_surge_run_prints_an_admin_login_once(tmp_path) -> None:
    from tests.e2e.conftest import free_port, start_surge

    data_dir, port = tmp_path / "var", free_port()
    first = start_surge(data_dir, port)
    try:
        text = "".join(first.output)
        found = re.search(r"user: admin  password: (\S+)", text)
        assert found and len(found.group(1)) >= 16, text
        assert "surge users reset-password admin" in text
        screen = re.search(rf"Wall screen URL: (http://127\.0\.0\.1:{port}/screen/\S+)", text)
        assert screen, text
        url = json.loads((data_dir / "store.json").read_text())["url"]
        client = redis.Redis.from_url(url)
        from surge.store import Store

        users = Users(Store(client))
        assert users.authenticate("admin", found.group(1), address="test").role == "admin"
    finally:
        assert first.stop() == 0
    second = start_surge(data_dir, port)
    try:
        assert "password:" not in "".join(second.output)
    finally:
        assert second.stop() == 0


def test_the_local_operator_acts_as_admin_via_the_cli(store, redis_url) -> None:
    invoke(redis_url, "users", "add", "dora", "--role", "viewer", "--password-stdin",
           input=GOOD + "\n")
    invoke(redis_url, "screens", "add", "Wall")
    entries = [e.data for e in store.events(kinds=["audit"])]
    assert [(e["action"], e["user"], e["role"], e["address"], e["via"]) for e in entries] == [
        ("user_added", cli_actor(), "admin", "local", "cli"),
        ("screen_added", cli_actor(), "admin", "local", "cli")]


def test_a_users_and_a_screens_sessions_are_listed_and_ended(store, redis_url) -> None:
    from surge.auth import Sessions

    Users(store).add("alice", "commander", GOOD, by=_admin())
    token = Screens(store).add("EOC wall", by=_admin())
    sessions = Sessions(store)
    desk = sessions.start("user", "alice", address="10.0.0.7", lasts=3600)
    sessions.start("user", "alice", address="10.0.0.8", lasts=3600)
    wall = sessions.start("screen", "EOC wall", address="10.1.1.1", lasts=None)

    listed = invoke(redis_url, "users", "sessions", "alice", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert sorted((r["who"], r["kind"], r["address"]) for r in rows) == [
        ("alice", "user", "10.0.0.7"), ("alice", "user", "10.0.0.8")]
    assert set(rows[0]) == {"session", "who", "kind", "created", "last_seen", "address"}
    assert desk not in listed.output and token not in listed.output
    table = invoke(redis_url, "users", "sessions", "alice").output
    assert re.search(r"alice\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\S+ \S+\s+10\.0\.0\.7", table)
    assert "screen:EOC wall" in invoke(redis_url, "screens", "sessions", "EOC wall").output

    ended = invoke(redis_url, "users", "sessions", "alice", "--end")
    assert ended.exit_code == 0 and "Ended 2 sessions of alice." in ended.output
    assert not sessions.check(desk, "user", "alice", address="10.0.0.7")
    assert "alice has no sessions." in invoke(redis_url, "users", "sessions", "alice").output
    assert sessions.check(wall, "screen", "EOC wall", address="10.1.1.1")  # not a user's
    assert "Ended 1 session of EOC wall." in invoke(
        redis_url, "screens", "sessions", "EOC wall", "--end").output
    assert not sessions.check(wall, "screen", "EOC wall", address="10.1.1.1")

    audit = json.loads(invoke(redis_url, "audit", "--json").output)
    assert [(e["action"], e["user"], e.get("target"), e.get("screen"), e["count"])
            for e in audit if e["action"] == "sessions_ended"] == [
        ("sessions_ended", cli_actor(), "alice", None, 2),
        ("sessions_ended", cli_actor(), None, "EOC wall", 1)]
    for args in (("users", "sessions", "nobody"), ("screens", "sessions", "Nowhere")):
        refused = invoke(redis_url, *args)
        assert refused.exit_code == 2 and "error: unknown" in refused.output
