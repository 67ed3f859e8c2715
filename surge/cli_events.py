"""The ``surge events`` command: the timeline of record, as lines for people or JSON lines."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

import click

from surge.cli_base import (
    friendly_errors,
    main,
    open_checked_store,
    settings_from_options,
    store_options,
)
from surge.cli_rules import parse_time
from surge.clock import Clock
from surge.configfile import did_you_mean
from surge.context import open_history
from surge.errors import SurgeError
from surge.events import KINDS, AnyEvent, read_events, to_json
from surge.store import Store
from surge.timefmt import uk_iso

__all__ = ["events", "run_clock", "uk_with_offset"]

FAMILIES = {  # --kind NAME for every kind of a family
    "alert": ("alert_firing", "alert_escalated", "alert_acknowledged", "alert_resolved",
              "notification_sent", "notification_failed", "silence_created", "silence_ended"),
}

UK = ZoneInfo("Europe/London")


@main.command()
@click.option("--from", "start", help="From: ISO time (UTC unless it has an offset), a date, "
              "or a duration ago such as 15m or 7d [default: the beginning].")
@click.option("--to", "end", help="To: as --from [default: now, and anything recorded since].")
@click.option("--kind", "kinds", multiple=True, metavar="KIND",
              help="Only events of this kind; repeat for several (e.g. --kind level_changed "
                   "--kind feed_down). --kind alert: every step of every alert (firing, "
                   "escalated, acknowledged, resolved, notifications, silences).")
@click.option("--limit", type=click.IntRange(min=1), metavar="N",
              help="Only the newest N of the events that match.")
@click.option("--json", "as_json", is_flag=True,
              help="JSON lines: one object per event with ts (ISO UTC), kind, exercise, "
                   "schema and the kind's fields.")
@store_options
@friendly_errors
def events(start: str | None, end: str | None, kinds: tuple[str, ...], limit: int | None,
           as_json: bool, **options: Any) -> None:
    """The timeline of record, oldest first: level changes, feeds going down and up, rules
    loaded, the audit trail, ... Times are UK local time with their UTC offset."""
    wanted: list[str] = []
    for kind in kinds:
        if kind in FAMILIES:
            wanted += FAMILIES[kind]
        elif kind in KINDS:
            wanted.append(kind)
        else:
            known = [*KINDS, *FAMILIES]
            raise SurgeError(f"--kind: unknown kind {kind!r}{did_you_mean(kind, known)}; the "
                             f"kinds are {', '.join(sorted(KINDS))}, and "
                             f"{', '.join(FAMILIES)} for all of a family's")
    kinds = tuple(dict.fromkeys(wanted))
    settings = settings_from_options(**options)
    store = open_checked_store(settings)
    now = run_clock(store)()
    t1 = parse_time(start, now, "--from") if start else None
    t2 = parse_time(end, now, "--to") if end else None
    if t1 is not None and t2 is not None and t2 < t1:
        raise SurgeError("--to must be later than --from")
    found = read_events(open_history(settings, store), start=t1, end=t2,
                        kinds=kinds or None, limit=limit)
    if as_json:
        for event in found:
            click.echo(json.dumps(to_json(event), default=str))
        return
    if not found:
        click.echo("No events match.")
        return
    click.echo(f"{'time (UK)':<25}  {'kind':<22} what")
    for event in found:
        click.echo(line(event))


def line(event: AnyEvent) -> str:
    """One event for a person: UK time with offset, kind, what happened."""
    exercise = "  [EXERCISE]" if event.exercise else ""
    return f"{uk_with_offset(event.ts)}  {event.kind:<22} {event.describe()}{exercise}"


def uk_with_offset(ts: float) -> str:
    """2026-03-29 02:30:00+01:00: UK local time and its offset from UTC."""
    return uk_iso(ts, sep=" ")


def run_clock(store: Store) -> Clock:
    """The clock of the run on this store (an exercise's, when one is running)."""
    return Clock.from_record(store.clock_record())
