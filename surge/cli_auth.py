"""The ``surge users``, ``surge screens`` and ``surge audit`` commands.

Each change is made as the local operator, the admin ``cli:{os user}`` from address
``local`` (surge/cli_base.py), and audited. ``surge users sessions NAME`` and ``surge
screens sessions NAME`` list who is signed in, and end it with ``--end``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from surge.auth import Screens, Sessions, Users, audit_events, screen_url
from surge.auth.users import check_password
from surge.cli_base import (
    base_url,
    friendly_errors,
    local_operator,
    main,
    open_checked_store,
    store_options,
)
from surge.cli_base import settings_from_options as _settings
from surge.cli_rules import parse_time
from surge.errors import SurgeError
from surge.store import Store, utc_iso
from surge.timefmt import uk_time

__all__ = ["audit", "screens", "users"]

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
stdin_option = click.option("--password-stdin", is_flag=True,
                            help="Read the password from the first line of standard input "
                                 "instead of prompting.")


@main.group()
def users() -> None:
    """Add, list and change the users who sign in to the dashboard."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, help="viewer, duty_manager, commander or admin.")
@stdin_option
@store_options
@friendly_errors
def users_add(name: str, role: str, password_stdin: bool, **options: Any) -> None:
    """Add a user; the password is prompted for (twice, hidden) unless --password-stdin."""
    people = Users(_open(options))
    people.check_new(name, role)  # say what is wrong before asking for a password
    user = people.add(name, role, _password(name, password_stdin), by=local_operator())
    click.echo(f"Added user {user.name} ({user.role}).")


@users.command("list")
@json_option
@store_options
@friendly_errors
def users_list(as_json: bool, **options: Any) -> None:
    """Every user with role, status, and when created and when the password last changed."""
    rows = Users(_open(options)).list()
    if as_json:
        click.echo(json.dumps([{"name": u.name, "role": u.role, "disabled": u.disabled,
                                "created": utc_iso(u.created),
                                "password_changed": utc_iso(u.password_changed)}
                               for u in rows], indent=2))
        return
    if not rows:
        click.echo("No users yet: add one with `surge users add NAME --role ROLE`.")
        return
    click.echo(f"{'user':<24} {'role':<13} {'status':<9} {'created (UK)':<20} password changed (UK)")
    for u in rows:
        click.echo(f"{u.name:<24} {u.role:<13} {'disabled' if u.disabled else 'active':<9} "
                   f"{_uk(u.created):<20} {_uk(u.password_changed)}")


@users.command("set-role")
@click.argument("name")
@click.argument("role")
@store_options
@friendly_errors
def users_set_role(name: str, role: str, **options: Any) -> None:
    """Change a user's role; their signed-in sessions end."""
    people = Users(_open(options))
    before = people.require(name)
    user = people.set_role(name, role, by=local_operator())
    if before.role == user.role:
        click.echo(f"{name} is already {role}; nothing changed.")
    else:
        click.echo(f"{name} is now {user.role} (was {before.role}); their sessions have ended.")


@users.command("disable")
@click.argument("name")
@store_options
@friendly_errors
def users_disable(name: str, **options: Any) -> None:
    """Stop a user signing in; their signed-in sessions end. The user is kept for the audit."""
    people = Users(_open(options))
    was = people.require(name).disabled
    people.disable(name, by=local_operator())
    click.echo(f"{name} was already disabled; nothing changed." if was else
               f"{name} is disabled; their sessions have ended.")


@users.command("enable")
@click.argument("name")
@store_options
@friendly_errors
def users_enable(name: str, **options: Any) -> None:
    """Let a disabled user sign in again."""
    people = Users(_open(options))
    was = people.require(name).disabled
    people.enable(name, by=local_operator())
    click.echo(f"{name} is enabled." if was else f"{name} was not disabled; nothing changed.")


@users.command("reset-password")
@click.argument("name")
@stdin_option
@store_options
@friendly_errors
def users_reset_password(name: str, password_stdin: bool, **options: Any) -> None:
    """Set a new password; the user's signed-in sessions end."""
    people = Users(_open(options))
    people.require(name)  # say so before asking for a password
    people.reset_password(name, _password(name, password_stdin), by=local_operator())
    click.echo(f"Password of {name} changed; their sessions have ended.")


@users.command("sessions")
@click.argument("name")
@click.option("--end", is_flag=True, help="End them all now (recorded on the audit trail).")
@json_option
@store_options
@friendly_errors
def users_sessions(name: str, end: bool, as_json: bool, **options: Any) -> None:
    """A user's signed-in sessions: when each began, when and from where it was last seen."""
    store = _open(options)
    Users(store).require(name)
    _sessions(store, "user", name, end, as_json)


@main.group()
def screens() -> None:
    """Wall screens: read-only dashboards signed in by a secret URL."""


@screens.command("add")
@click.argument("name")
@click.option("--base-url", "url", help="Address of the dashboard as the screen will reach it "
              "[default http://SURGE_HOST:SURGE_PORT].")
@store_options
@friendly_errors
def screens_add(name: str, url: str | None, **options: Any) -> None:
    """Add a wall screen and print the URL to open on it (shown only this once)."""
    base = url or base_url(_settings(**options))
    token = Screens(_open(options)).add(name, by=local_operator())
    click.echo(f"Added screen {name.strip()!r}. Open this URL on the screen (it is shown only "
               f"once; anyone who has it can view Surge until you run `surge screens revoke`):")
    click.echo(screen_url(base, token))


@screens.command("list")
@json_option
@store_options
@friendly_errors
def screens_list(as_json: bool, **options: Any) -> None:
    """Every screen: when it was last seen and from which address, and whether revoked."""
    rows = Screens(_open(options)).list()
    if as_json:
        click.echo(json.dumps([{"name": s.name, "created": utc_iso(s.created),
                                "last_seen": utc_iso(s.last_seen) if s.last_seen else None,
                                "last_address": s.last_address, "revoked": s.revoked,
                                "revoked_at": utc_iso(s.revoked_at) if s.revoked_at else None}
                               for s in rows], indent=2))
        return
    if not rows:
        click.echo("No screens yet: add one with `surge screens add NAME`.")
        return
    click.echo(f"{'screen':<30} {'last seen (UK)':<20} {'address':<20} status")
    for s in rows:
        status = f"revoked {_uk(s.revoked_at)}" if s.revoked else "live"
        click.echo(f"{s.name:<30} {_uk(s.last_seen) if s.last_seen else 'never':<20} "
                   f"{s.last_address or '-':<20} {status}")


@screens.command("revoke")
@click.argument("name")
@store_options
@friendly_errors
def screens_revoke(name: str, **options: Any) -> None:
    """End a screen's access now: it shows a "revoked" page on its next refresh."""
    boards = Screens(_open(options))
    before = boards.get(name)
    boards.revoke(name, by=local_operator())
    click.echo(f"{name} was already revoked; nothing changed." if before and before.revoked
               else f"Revoked screen {name!r}.")


@screens.command("sessions")
@click.argument("name")
@click.option("--end", is_flag=True, help="End them all now (recorded on the audit trail); "
              "the screen link still works: `surge screens revoke` stops it.")
@json_option
@store_options
@friendly_errors
def screens_sessions(name: str, end: bool, as_json: bool, **options: Any) -> None:
    """A wall screen's signed-in sessions (a browser each): when each began, when and from
    where it was last seen."""
    store = _open(options)
    if Screens(store).get(name) is None:
        raise SurgeError(f"unknown screen {name!r}; `surge screens list` shows them")
    _sessions(store, "screen", name, end, as_json)


@main.command()
@click.option("--from", "start", help="From: ISO time (UTC unless it has an offset), a date, "
              "or a duration ago such as 7d.")
@click.option("--to", "end", help="To: as --from; default now.")
@click.option("--user", help="Only what this user did, or what was done to them.")
@json_option
@store_options
@friendly_errors
def audit(start: str | None, end: str | None, user: str | None, as_json: bool,
          **options: Any) -> None:
    """The audit trail: sign-ins and every change, with who, role, address and when."""
    now = time.time()
    t1 = parse_time(start, now, "--from") if start else None
    t2 = parse_time(end, now, "--to") if end else None
    if t1 is not None and t2 is not None and t2 < t1:
        raise SurgeError("--to must be later than --from")
    events = audit_events(_open(options), t1, t2, user)
    if as_json:
        click.echo(json.dumps([{"id": e.id, "at": utc_iso(e.at), **e.data} for e in events],
                              indent=2, default=str))
        return
    if not events:
        click.echo("No audit entries match.")
        return
    click.echo(f"{'time (UK)':<24} {'user':<20} {'role':<13} {'address':<16} {'action':<18} details")
    for e in events:
        d = dict(e.data)
        who, role, address, action = (str(d.pop(k, "")) for k in ("user", "role", "address",
                                                                    "action"))
        details = " ".join(f"{k}={v}" for k, v in d.items())
        click.echo(f"{_uk(e.at, zone=True):<24} {who:<20} {role or '-':<13} {address:<16} "
                   f"{action:<18} {details}".rstrip())


# --- helpers -------------------------------------------------------------------------


def _open(options: dict[str, Any]) -> Store:
    return open_checked_store(_settings(**options))


def _sessions(store: Store, kind: str, name: str, end: bool, as_json: bool) -> None:
    """List the sessions of a user or screen, or (``end``) end them, audited."""
    sessions = Sessions(store)
    live = sessions.list(kind, name)
    if end:
        ended = sessions.end_all(kind, name, by=local_operator())
        if as_json:
            click.echo(json.dumps({"ended": ended}))
        else:
            click.echo(f"Ended {ended} session{'s' if ended != 1 else ''} of {name}."
                       if ended else f"{name} has no sessions; nothing changed.")
        return
    if as_json:
        click.echo(json.dumps([{"session": s.ref, "who": s.who, "kind": s.kind,
                                "created": utc_iso(s.created), "last_seen": utc_iso(s.last_seen),
                                "address": s.address} for s in live], indent=2))
        return
    if not live:
        click.echo(f"{name} has no sessions.")
        return
    click.echo(f"{'session':<14} {'who':<28} {'began (UK)':<20} {'last seen (UK)':<20} address")
    for s in live:
        click.echo(f"{s.ref:<14} {s.who:<28} {_uk(s.created):<20} {_uk(s.last_seen):<20} "
                   f"{s.address}")


def _password(name: str, from_stdin: bool) -> str:
    """A new password from stdin's first line or a hidden prompt (twice), checked."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(f"New password for {name}", hide_input=True,
                                confirmation_prompt="Repeat the password")
    check_password(name, password)
    return password


def _uk(ts: float | None, zone: bool = False) -> str:
    return "-" if ts is None else uk_time(ts, dated=True, zone=zone)
