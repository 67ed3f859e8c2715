"""The review commands: ``surge export`` (a window of the record as CSV, or as a report in
HTML or PDF) and ``surge annotate`` (a note on the timeline)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from surge.actions import annotate as annotate_action
from surge.catalogue import load_catalogue
from surge.cli_base import (
    as_option,
    cli_actor,
    friendly_errors,
    main,
    open_checked_store,
    settings_from_options,
    store_options,
)
from surge.cli_events import run_clock
from surge.cli_rules import parse_time
from surge.configfile import did_you_mean
from surge.context import open_history
from surge.errors import SurgeError
from surge.review import events_csv, read_review, review_series, samples_csv
from surge.timefmt import uk_iso

__all__ = ["annotate", "export"]

FORMATS = {"samples": ("csv",), "events": ("csv",), "report": ("html", "pdf")}


@main.command()
@click.option("--from", "start", required=True,
              help="From: ISO time (UTC unless it has an offset, e.g. 2026-10-24T19:00+01:00), "
                   "a date, or a duration ago such as 24h or 7d.")
@click.option("--to", "end", help="To: as --from [default: now].")
@click.option("--what", type=click.Choice(list(FORMATS)), default="report", show_default=True,
              help="samples: every stored sample; events: the timeline of record; report: "
                   "the review of the window for governance.")
@click.option("--format", "fmt", type=click.Choice(["csv", "html", "pdf"]),
              help="csv for samples and events; html (opens offline) or pdf for a report "
                   "[default: csv, or html for a report].")
@click.option("--out", type=click.Path(dir_okay=False, allow_dash=True),
              help="The file to write; - for standard output (CSV only) [default: -].")
@click.option("--function", "functions", multiple=True, metavar="ID",
              help="samples: only this function's metrics; repeat for several.")
@click.option("--scope", "scopes", multiple=True, metavar="SCOPE",
              help="samples: only trust, or only this site; repeat for several.")
@store_options
@friendly_errors
def export(start: str, end: str | None, what: str, fmt: str | None, out: str | None,
           functions: tuple[str, ...], scopes: tuple[str, ...], **options: Any) -> None:
    """A window of the record, for review and governance. CSV times are in two columns:
    ts_utc, and ts_uk (UK local time with its offset, so the hour repeated in October is
    told apart)."""
    fmt = fmt or FORMATS[what][0]
    if fmt not in FORMATS[what]:
        raise SurgeError(f"--format {fmt} is not for --what {what}: use "
                         f"{' or '.join(FORMATS[what])}")
    if fmt != "csv" and out in (None, "-"):
        raise SurgeError(f"--out FILE is needed for a {fmt.upper()} report")
    settings = settings_from_options(**options)
    catalogue = load_catalogue(settings.rules)
    known_functions = [f.id for f in catalogue.functions]
    known_scopes = ["trust", *catalogue.sites]
    for value, known, option in [*((f, known_functions, "--function") for f in functions),
                                 *((s, known_scopes, "--scope") for s in scopes)]:
        if value not in known:
            raise SurgeError(f"{option}: unknown {value!r}{did_you_mean(value, known)} "
                             f"(known: {', '.join(known)})")
    store = open_checked_store(settings)
    record = open_history(settings, store)  # the hot window and the archive behind it
    now = run_clock(store)()
    t1 = parse_time(start, now, "--from")
    t2 = parse_time(end, now, "--to") if end else now
    if not t2 > t1:
        raise SurgeError("--to must be later than --from")
    if what == "samples":
        series = review_series(catalogue, functions=functions, scopes=scopes)
        with _output(out) as stream:
            rows = samples_csv(record, series, t1, t2, stream)
        _done(out, f"{rows:,} sample(s)")
        return
    review = read_review(record, catalogue, t1, t2)
    if what == "events":
        with _output(out) as stream:
            rows = events_csv(review.events, stream)
        _done(out, f"{rows:,} event(s)")
        return
    from dashboard.report import render_html, render_pdf  # drawn as the pages draw

    html = render_html(review, record, catalogue, generated=now)
    assert out is not None
    if fmt == "html":
        _write_atomically(Path(out), html.encode())
    else:
        _write_atomically(Path(out), render_pdf(html))
    _done(out, f"report of {review.hours:.1f} h, {Path(out).stat().st_size:,} bytes")


@main.command()
@click.argument("text")
@click.option("--at", "at", help="The time it is about: as --from of surge export "
              "[default: now].")
@click.option("--until", help="The end of the span it is about, if it is a span.")
@click.option("--about", help="What it is about: a site, a function, a feed (optional).")
@click.option("--change", "note", metavar="NOTE",
              help="Change the text of a note of your own (its id, an-...); every version "
                   "is kept.")
@as_option
@store_options
@friendly_errors
def annotate(text: str, at: str | None, until: str | None, about: str | None,
             note: str | None, as_user: str | None, **options: Any) -> None:
    """Put a note on the timeline for the review ("HALO on scene at RVX"), at a time or
    over a span. Duty managers and above; only its author changes a note."""
    store = open_checked_store(settings_from_options(**options))
    now = run_clock(store)()
    made = annotate_action(store, cli_actor(store, as_user), text=text,
                           at=parse_time(at, now, "--at") if at else None,
                           until=parse_time(until, now, "--until") if until else None,
                           about=about, note=note)
    record = made.record
    span = f" to {uk_iso(record['until'])}" if record.get("until") else ""
    what = "changed" if made.edit else "added"
    click.echo(f"Note {made.note} {what} by {record['by']}, about {uk_iso(record['at'])}"
               f"{span}: {record['versions'][-1]['text']}")


@contextlib.contextmanager
def _output(out: str | None) -> Iterator[IO[str]]:
    """Standard output, or the file written whole or not at all."""
    if out in (None, "-"):
        yield sys.stdout
        return
    path = Path(out)
    with tempfile.NamedTemporaryFile("w", dir=path.parent or ".", prefix=f".{path.name}.",
                                     delete=False, newline="", encoding="utf-8") as stream:
        try:
            yield stream
        except BaseException:
            stream.close()
            os.unlink(stream.name)
            raise
    _publish(stream.name, path)


def _write_atomically(path: Path, data: bytes) -> None:
    with tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.name}.",
                                     delete=False) as stream:
        stream.write(data)
    _publish(stream.name, path)


def _publish(written: str, path: Path) -> None:
    """Give the finished file the permissions a new file gets here, then its name."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(written, 0o666 & ~umask)
    os.replace(written, path)


def _done(out: str | None, what: str) -> None:
    if out not in (None, "-"):
        click.echo(f"{out}: {what}", err=True)
