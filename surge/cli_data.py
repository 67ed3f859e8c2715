"""The ``surge ingest`` and ``surge samples`` commands: samples in from a CSV, and back out."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from surge.catalogue import TRUST, Catalogue, load_catalogue
from surge.cli_base import (
    friendly_errors,
    main,
    open_checked_store,
    settings_from_options,
    store_options,
)
from surge.cli_events import run_clock, uk_with_offset
from surge.cli_rules import parse_time
from surge.configfile import did_you_mean
from surge.context import open_history
from surge.errors import SurgeError
from surge.events import Recorder, SamplesStored, iso_utc
from surge.inforce import catalogue_in_force
from surge.ingest import ingest

__all__ = ["COLUMNS", "ingest_csv", "read_rows", "samples"]

COLUMNS = ("ts", "metric", "scope", "value")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@main.command("ingest")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@store_options
@friendly_errors
def ingest_csv(file: str, **options: Any) -> None:
    """Store the samples of a CSV file (or - for standard input) with the columns
    ts,metric,scope,value and a header row. ts is ISO 8601 with an offset or Z, or epoch
    seconds; an empty scope is the trust.

    Each bad row is reported with its line and reason and the good rows are kept. Exit 0
    when any row could be processed, 1 when every row was rejected, 2 for a bad file."""
    settings = settings_from_options(**options)
    name = "stdin" if file == "-" else Path(file).name
    rows, problems = read_rows(_read_text(file), _label(file))
    store = open_checked_store(settings)
    catalogue = catalogue_in_force(store, settings.rules)  # the worker's version, if running
    clock = run_clock(store)
    source = f"cli:{name}"
    report = ingest(store, catalogue, [row for _, row in rows], source=source, now=clock())
    notices = report.notices
    lines = {id(row): number for number, row in rows}
    problems += [(lines[id(r.raw)], r.reason) for r in report.rejected]
    Recorder(store, clock).record(SamplesStored(
        ts=report.at, source=source, accepted=report.accepted, rejected=len(problems),
        late=len(report.late), duplicates=report.duplicates, notices=notices))
    processed = report.accepted + report.duplicates + len(report.late)
    label = _label(file)
    click.echo(f"{label}: {processed + len(problems)} row(s): {report.accepted} stored, "
               f"{report.duplicates} duplicate, {len(report.late)} late, "
               f"{len(problems)} rejected")
    for number, reason in sorted(problems):
        click.echo(f"{label}:{number}: {reason}", err=True)
    if report.late:
        click.echo("late: older than what is already stored for their series, so not stored",
                   err=True)
    if processed == 0:
        if not problems:
            click.echo(f"{label}: no rows after the header", err=True)
        sys.exit(1)


def read_rows(text: str, name: str) -> tuple[list[tuple[int, dict[str, Any]]],
                                             list[tuple[int, str]]]:
    """(line, raw sample) for each data row, and (line, reason) for rows that are not even
    four values; SurgeError when the header is missing or lacks a column."""
    reader = csv.reader(io.StringIO(text))
    header = [cell.strip().lower() for cell in next(reader, [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        got = ",".join(header) if header else "an empty file"
        raise SurgeError(f"{name}:1: the first line must be the header "
                         f"{','.join(COLUMNS)} (missing {', '.join(missing)}; got {got!r})")
    where = {c: header.index(c) for c in COLUMNS}
    rows: list[tuple[int, dict[str, Any]]] = []
    problems: list[tuple[int, str]] = []
    for cells in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        if len(cells) != len(header):
            problems.append((number, f"expected {len(header)} values "
                                     f"({','.join(header)}), got {len(cells)}"))
            continue
        ts = cells[where["ts"]].strip()
        rows.append((number, {
            "ts": float(ts) if _NUMBER.fullmatch(ts) else ts,
            "metric": cells[where["metric"]].strip(),
            "scope": cells[where["scope"]].strip() or TRUST,
            "value": cells[where["value"]].strip()}))
    return rows, problems


def _read_text(file: str) -> str:
    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise SurgeError(f"{file}: cannot be read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SurgeError(f"{_label(file)}: not UTF-8 text (byte {exc.start})") from None


def _label(file: str) -> str:
    """How messages name the input: the path as given, or stdin."""
    return "stdin" if file == "-" else file


@main.command()
@click.argument("metric")
@click.option("--scope", default=TRUST, show_default=True,
              help="trust, or a site code (a hospital, an EOC, a PTS zone).")
@click.option("--from", "start", help="From: ISO time (UTC unless it has an offset), a date, "
              "or a duration ago such as 15m [default: 24h].")
@click.option("--to", "end", help="To: as --from [default: now].")
@click.option("--json", "as_json", is_flag=True,
              help="JSON lines: ts (ISO UTC), metric, scope, value.")
@store_options
@friendly_errors
def samples(metric: str, scope: str, start: str | None, end: str | None, as_json: bool,
            **options: Any) -> None:
    """The stored samples of one metric at one scope, oldest first."""
    settings = settings_from_options(**options)
    catalogue = load_catalogue(settings.rules)
    unit = _check_series(catalogue, metric, scope)
    store = open_checked_store(settings)
    now = run_clock(store)()
    t1 = parse_time(start or "24h", now, "--from")
    t2 = parse_time(end, now, "--to") if end else now
    if t2 < t1:
        raise SurgeError("--to must be later than --from")
    series = open_history(settings, store).series([(metric, scope)], t1, t2)[(metric, scope)]
    if as_json:
        for ts, value in zip(series.ts.tolist(), series.values.tolist(), strict=True):
            click.echo(json.dumps({"ts": iso_utc(ts), "metric": metric, "scope": scope,
                                   "value": value}))
        return
    span = f"from {uk_with_offset(t1)} to {uk_with_offset(t2)}"
    if not len(series):
        click.echo(f"No samples of {metric} for {scope} {span}.")
        return
    click.echo(f"{metric} for {scope} ({unit}), {len(series)} sample(s) {span}")
    click.echo(f"{'time (UK)':<25}  {'time (UTC)':<24}  value")
    for ts, value in zip(series.ts.tolist(), series.values.tolist(), strict=True):
        utc = iso_utc(ts).replace(".000Z", "Z")  # whole seconds, as feeds mostly send
        click.echo(f"{uk_with_offset(ts)}  {utc:<24}  {value:g}")


def _check_series(catalogue: Catalogue, metric: str, scope: str) -> str:
    """The metric's unit; SurgeError naming what is wrong with the metric or the scope."""
    known = catalogue.metrics.get(metric)
    if known is None:
        raise SurgeError(f"unknown metric {metric!r}{did_you_mean(metric, catalogue.metrics)}")
    scopes = catalogue.scopes_of(known)
    if scope not in scopes:
        raise SurgeError(f"{metric} is not reported for {scope!r}"
                         f"{did_you_mean(scope, scopes)}; it is reported for "
                         f"{', '.join(scopes)}")
    return known.unit
