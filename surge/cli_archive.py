"""The ``surge archive`` commands: archive what has left the hot window now, and say what
the archive holds (docs/review.md)."""

from __future__ import annotations

import json
from typing import Any

import click

from surge.cli_base import (
    friendly_errors,
    main,
    open_checked_store,
    settings_from_options,
    store_options,
)
from surge.cli_events import run_clock
from surge.cli_rules import parse_time

__all__ = ["archive"]


@main.group()
def archive() -> None:
    """Days older than the hot window (SURGE_RETENTION), kept as Parquet in SURGE_ARCHIVE.
    The active worker archives them every 10 minutes; these commands are for operators."""


@archive.command("run")
@click.option("--now", "now_text", help="Archive as if it were this time (ISO, UTC unless "
              "it has an offset) [default: the run's clock].")
@click.option("--most", type=click.IntRange(min=1), help="Archive at most this many days.")
@store_options
@friendly_errors
def run(now_text: str | None, most: int | None, **options: Any) -> None:
    """Archive every whole UTC day older than the hot window, then trim it from the store."""
    from surge.archive import Archive, archive_due
    from surge.events import Recorder

    settings = settings_from_options(**options)
    store = open_checked_store(settings)
    clock = run_clock(store)
    now = parse_time(now_text, clock(), "--now") if now_text else clock()
    done = archive_due(store, Archive(settings.archive_location), now,
                       Recorder(store, clock), most=most)
    for day in done:
        click.echo(f"{day.name}: {day.samples} samples, {day.events} events")
    click.echo(f"{len(done)} day(s) archived to {settings.archive_location}")


@archive.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@store_options
@friendly_errors
def status(as_json: bool, **options: Any) -> None:
    """Where the archive is, which days it holds and where the store's hot window begins."""
    from surge.archive import Archive, describe

    settings = settings_from_options(**options)
    store = open_checked_store(settings)
    shown = describe(Archive(settings.archive_location), store)
    if as_json:
        click.echo(json.dumps(shown))
        return
    click.echo(f"archive:    {shown['location']}")
    if shown["days"]:
        click.echo(f"holds:      {shown['days']} day(s), {shown['oldest']} to {shown['newest']}"
                   " (UTC)")
    else:
        click.echo("holds:      nothing yet")
    click.echo(f"store from: {shown['store_from'] or 'the beginning (nothing archived yet)'}")
    if shown.get("last_error"):
        click.echo(f"LAST RUN FAILED: {shown['last_error']}")
