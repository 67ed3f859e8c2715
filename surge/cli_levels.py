"""The ``surge declare``, ``surge levels``, ``surge actions`` and ``surge tokens`` commands.

Every change goes through surge.actions, acting as ``--as USER`` (with the role the store
holds for them) or, without it, as the operator on the server (admin, ``cli:{os user}``).
A refusal, a bad argument or a conflict is one line on stderr and exit status 2. Times are
the run's clock (an exercise's, when one is running), shown in UK local time.
"""

from __future__ import annotations

import json
from datetime import tzinfo
from typing import Any

import click

from surge.actions import (
    add_token,
    confirm_action,
    declare_level,
    revoke_token,
    withdraw_declaration,
)
from surge.auth.tokens import ApiToken, Tokens
from surge.cli_base import (
    as_option,
    cli_actor,
    friendly_errors,
    main,
    open_checked_store,
    store_options,
)
from surge.cli_base import settings_from_options as _settings
from surge.cli_events import run_clock
from surge.declarations import (
    ChecklistItem,
    Confirmation,
    Declaration,
    TrustStatus,
    checklist,
    previous_confirmations,
    rules_in_force,
    trust_status,
)
from surge.errors import SurgeError
from surge.levels import PublishedLevel, describe, describe_pending
from surge.rules.model import Rules
from surge.store import Store
from surge.timefmt import uk_time, utc_iso

__all__ = ["actions_group", "declare", "levels", "tokens"]

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
NOT_PUBLISHED = "no level published yet: is the worker running? (`surge status`)"


# --- the declared level ------------------------------------------------------------------


@main.command()
@click.argument("level", required=False, type=int)
@click.option("--reason", help="Why (required to declare, optional to withdraw; at most 500 "
                               "characters).")
@click.option("--withdraw", is_flag=True, help="Withdraw the declaration in force: the "
                                               "calculated level is shown alone again.")
@as_option
@store_options
@friendly_errors
def declare(level: int | None, reason: str | None, withdraw: bool, as_user: str | None,
            **options: Any) -> None:
    """Declare the trust's REAP level (1-4) with a reason, or withdraw the declaration.
    Needs the commander role. The calculated level advises; the declared level decides."""
    if withdraw == (level is not None):
        raise SurgeError("give the LEVEL to declare with --reason, or --withdraw, not both")
    store, rules = _open(options)
    actor = cli_actor(store, as_user)
    if withdraw:
        gone = withdraw_declaration(store, actor, reason=reason, catalogue=rules.catalogue)
        click.echo(f"Declaration of level {gone.level} withdrawn by {gone.by}: no level is "
                   f"declared; the calculated level stands alone.")
        return
    assert level is not None
    made = declare_level(store, actor, level=level, reason=reason or "",
                         catalogue=rules.catalogue)
    tz = rules.catalogue.timezone
    d = made.declaration
    click.echo(f"Declared level {d.level} {d.level_name} by {d.by} ({d.role}) at "
               f"{uk_time(d.at, tz, zone=True)}.")
    click.echo(_agreement(trust_status(store, rules.catalogue, store.clock()), tz))


@main.command()
@json_option
@store_options
@friendly_errors
def levels(as_json: bool, **options: Any) -> None:
    """The trust's calculated and declared levels, whether they diverge and since when, and
    each function's calculated level with why."""
    store, rules = _open(options)
    now = store.clock()
    status = trust_status(store, rules.catalogue, now)
    published = store.published_levels(rules.catalogue)
    if as_json:
        click.echo(json.dumps({
            "at": utc_iso(now), "rules_version": rules.version,
            "calculated": _level_json(status.calculated), "declared": _declared_json(
                status.declared), "agreement": status.agreement, "diverges": status.diverges,
            "diverging_since": _iso(status.diverging_since),
            "protocols": {p: _level_json(published.get(p)) for p in rules.protocols}},
            indent=2, ensure_ascii=False))
        return
    tz = rules.catalogue.timezone
    click.echo(f"Trust level (REAP) at {uk_time(now, tz, zone=True)}, rules version "
               f"{rules.version}:")
    calc = status.calculated
    if calc is None:
        click.echo(f"  calculated  NOT AVAILABLE: {NOT_PUBLISHED}")
    else:
        click.echo(f"  calculated  {_level_line(calc, tz, now)}")
        why = describe(calc)
        if why:
            click.echo(f"              {why}")
    d = status.declared
    if d is None:
        click.echo("  declared    none")
    else:
        click.echo(f"  declared    {d.level} {d.level_name}  by {d.by} ({d.role or '-'}) at "
                   f"{uk_time(d.at, tz, now=now)}: {d.reason}")
    click.echo("  " + _agreement(status, tz, now))
    click.echo("Functions (calculated):")
    for protocol in rules.protocols.values():
        level = published.get(protocol.id)
        if level is None:
            click.echo(f"  {protocol.label:<26} NOT AVAILABLE: {NOT_PUBLISHED}")
            continue
        click.echo(f"  {protocol.label:<26} {_level_line(level, tz, now)}")
        why = describe(level, limit=3)
        if why:
            click.echo(f"      {why}")
        if level.pending is not None:
            click.echo(f"      ▲ {describe_pending(level.pending, with_level=True)}")


# --- the action checklist ----------------------------------------------------------------


@main.group("actions", invoke_without_command=True)
@json_option
@store_options
@click.pass_context
@friendly_errors
def actions_group(ctx: click.Context, as_json: bool, **options: Any) -> None:
    """The action checklist of each function's level now, with the ids to confirm them by
    (`surge actions confirm ID`). At level L the actions of every level up to L apply; the
    checklist starts afresh when the level changes."""
    if ctx.invoked_subcommand is not None:
        return
    store, rules = _open(options)
    now = store.clock()
    items = checklist(store, rules)
    before = previous_confirmations(store, rules)
    published = store.published_levels(rules.catalogue)
    if as_json:
        click.echo(json.dumps({
            "at": utc_iso(now), "rules_version": rules.version,
            "protocols": [_protocol_json(rules, p, published.get(p), items)
                          for p in rules.protocols],
            "previous": [_confirmation_json(c) for c in before]}, indent=2, ensure_ascii=False))
        return
    _print_checklist(rules, published, items, before, now)


@actions_group.command("confirm")
@click.argument("action_id", metavar="ID")
@click.option("--note", help="What was done (optional; at most 500 characters).")
@as_option
@store_options
@friendly_errors
def actions_confirm(action_id: str, note: str | None, as_user: str | None,
                    **options: Any) -> None:
    """Confirm an action of the checklist in force as done. Needs the duty_manager role."""
    store, rules = _open(options)
    done = confirm_action(store, cli_actor(store, as_user), action_id=action_id, note=note,
                          rules=rules)
    c = done.confirmation
    tz = rules.catalogue.timezone
    if done.already:
        click.echo(f"{c.action_id} was already confirmed by {c.by} at "
                   f"{uk_time(c.at, tz, now=store.clock())}; nothing changed.")
        return
    click.echo(f"Confirmed {c.action_id} ({done.action.protocol_label} at level {c.level}) by "
               f"{c.by}: {c.do}")


# --- API tokens --------------------------------------------------------------------------


@main.group()
def tokens() -> None:
    """API tokens: programs that call the HTTP API, each with a role, and systems that push
    the samples of one feed."""


@tokens.command("add")
@click.argument("name")
@click.option("--role", help="viewer, duty_manager, commander or admin.")
@click.option("--feed", help="Instead of a role: a push feed of the feeds file, whose samples "
              "the token may push (POST /api/v1/samples), and nothing else.")
@as_option
@store_options
@friendly_errors
def tokens_add(name: str, role: str | None, feed: str | None, as_user: str | None,
               **options: Any) -> None:
    """Add an API token and print it (shown only this once). Needs the admin role."""
    if (role is None) == (feed is None):
        raise SurgeError("give the token one of --role ROLE (to call the API) and --feed FEED "
                         "(to push the samples of a push feed)")
    store = open_checked_store(_settings(**options))
    added = add_token(store, cli_actor(store, as_user), name=name, role=role, feed=feed)
    grants, can = (f"feed:{added.feed}", f"push the samples of {added.feed}") if added.feed \
        else (added.role, f"call the API as {added.role}")
    click.echo(f"Added API token {added.name} ({grants}). It is shown only this once; anyone "
               f"who has it can {can} until you run `surge tokens revoke {added.name}`:")
    click.echo(added.token)


@tokens.command("list")
@json_option
@store_options
@friendly_errors
def tokens_list(as_json: bool, **options: Any) -> None:
    """Every API token: role (or feed), when created, when and from where last used, whether
    revoked."""
    rows = Tokens(open_checked_store(_settings(**options))).list()
    if as_json:
        click.echo(json.dumps([_token_json(t) for t in rows], indent=2))
        return
    if not rows:
        click.echo("No API tokens yet: add one with `surge tokens add NAME --role ROLE` (or "
                   "--feed FEED for a system that pushes samples).")
        return
    click.echo(f"{'token':<24} {'role or feed':<13} {'created (UK)':<20} "
               f"{'last used (UK)':<20} {'address':<16} status")
    for t in rows:
        status = f"revoked {_uk(t.revoked_at)}" if t.revoked else "live"
        click.echo(f"{t.name:<24} {t.grants:<13} {_uk(t.created):<20} "
                   f"{_uk(t.last_used) if t.last_used else 'never':<20} "
                   f"{t.last_address or '-':<16} {status}")


@tokens.command("revoke")
@click.argument("name")
@as_option
@store_options
@friendly_errors
def tokens_revoke(name: str, as_user: str | None, **options: Any) -> None:
    """End an API token's access now. Needs the admin role."""
    store = open_checked_store(_settings(**options))
    done = revoke_token(store, cli_actor(store, as_user), name=name)
    click.echo(f"{name} was already revoked; nothing changed." if done.already
               else f"Revoked API token {name!r}.")


# --- helpers -----------------------------------------------------------------------------


def _open(options: dict[str, Any]) -> tuple[Store, Rules]:
    """The store, on the run's clock, and the rules in force."""
    settings = _settings(**options)
    store = open_checked_store(settings)
    store.clock = run_clock(store)
    return store, rules_in_force(store, settings.rules)


def _agreement(status: TrustStatus, tz: tzinfo, now: float | None = None) -> str:
    d, calc = status.declared, status.calculated
    if d is None:
        return ("No level is declared: the calculated level advises until a commander "
                "declares one (`surge declare LEVEL --reason TEXT`).")
    if calc is None:
        return f"CANNOT COMPARE: the calculated level is not available ({NOT_PUBLISHED})."
    if status.diverges and status.diverging_since is not None:
        return (f"DIVERGES since {uk_time(status.diverging_since, tz, now=now, zone=True)}: "
                f"declared {d.level} {d.level_name}, calculated {calc.level} "
                f"{calc.level_name}.")
    return f"Agrees: declared and calculated are both {d.level} {d.level_name}."


def _level_line(level: PublishedLevel, tz: tzinfo, now: float) -> str:
    since = f"since {uk_time(level.since, tz, seconds=False, now=now)}" if level.since else ""
    stale = "  STALE DATA, level held" if level.stale else ""
    return f"{level.level} {level.level_name:<18} {since}{stale}".rstrip()


def _print_checklist(rules: Rules, published: dict[str, PublishedLevel],
                     items: list[ChecklistItem], before: list[Confirmation],
                     now: float) -> None:
    tz = rules.catalogue.timezone
    click.echo(f"Action checklist at {uk_time(now, tz, zone=True)}, rules version "
               f"{rules.version}. Confirm one with `surge actions confirm ID`.")
    for protocol in rules.protocols.values():
        level = published.get(protocol.id)
        if level is None:
            click.echo(f"{protocol.label}: NOT AVAILABLE: {NOT_PUBLISHED}")
            continue
        mine = [i for i in items if i.action.protocol == protocol.id]
        click.echo(f"{protocol.label}: {_level_line(level, tz, now)}"
                   + ("" if mine else ": no actions at this level"))
        for item in mine:
            a = item.action
            click.echo(f"  [{'x' if item.done else ' '}] {a.id:<26} level {a.level}  "
                       f"{a.owner:<11} {a.do}")
            c = item.confirmation
            if c is not None:
                click.echo(f"        confirmed by {c.by} ({c.role or '-'}) at "
                           f"{uk_time(c.at, tz, now=now)}" + (f": {c.note}" if c.note else ""))
            elif item.previously is not None:
                p = item.previously
                click.echo(f"        was confirmed at level {p.level} by {p.by} at "
                           f"{uk_time(p.at, tz, now=now)}; confirm it again at this level")
    if before:
        click.echo("Confirmed at the previous level:")
        for c in before:
            click.echo(f"  {c.action_id:<26} level {c.level}  by {c.by} at "
                       f"{uk_time(c.at, tz, now=now)}: {c.do}" + (f" ({c.note})" if c.note else ""))


def _level_json(level: PublishedLevel | None) -> dict[str, Any] | None:
    if level is None:
        return None
    pending = describe_pending(level.pending, with_level=True) if level.pending else None
    return {"level": level.level, "level_name": level.level_name, "since": _iso(level.since),
            "stale": level.stale, "why": describe(level), "pending": pending}


def _declared_json(d: Declaration | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {"level": d.level, "level_name": d.level_name, "by": d.by, "role": d.role,
            "via": d.via, "at": utc_iso(d.at), "reason": d.reason, "calculated": d.calculated,
            "rules_version": d.rules_version}


def _protocol_json(rules: Rules, protocol: str, level: PublishedLevel | None,
                   items: list[ChecklistItem]) -> dict[str, Any]:
    return {"protocol": protocol, "label": rules.protocols[protocol].label,
            "level": None if level is None else level.level,
            "level_name": None if level is None else level.level_name,
            "since": None if level is None else _iso(level.since),
            "stale": None if level is None else level.stale,
            "actions": [{"id": i.id, "level": i.action.level, "owner": i.action.owner,
                         "do": i.action.do, "confirmed": _confirmation_json(i.confirmation),
                         "previously": _confirmation_json(i.previously)}
                        for i in items if i.action.protocol == protocol]}


def _confirmation_json(c: Confirmation | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"action_id": c.action_id, "protocol": c.protocol, "level": c.level,
            "since": _iso(c.since), "do": c.do, "by": c.by, "role": c.role, "via": c.via,
            "at": utc_iso(c.at), "note": c.note}


def _token_json(t: ApiToken) -> dict[str, Any]:
    return {"name": t.name, "role": t.role, "feed": t.feed, "created": utc_iso(t.created),
            "created_by": t.created_by, "last_used": _iso(t.last_used),
            "last_address": t.last_address, "revoked": t.revoked,
            "revoked_at": _iso(t.revoked_at)}


def _iso(ts: float | None) -> str | None:
    return utc_iso(ts) if ts is not None else None


def _uk(ts: float | None) -> str:
    return uk_time(ts, dated=True) if ts is not None else "-"
