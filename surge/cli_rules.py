"""The ``surge rules`` commands (check, test, backtest, reload) and ``surge explain``."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

import click

from surge.actions import reload_rules
from surge.cli_base import (
    as_option,
    cli_actor,
    friendly_errors,
    main,
    open_checked_store,
    store_options,
)
from surge.cli_base import settings_from_options as _settings
from surge.durations import parse_duration
from surge.errors import SurgeError
from surge.levels import PublishedLevel, describe, describe_pending, parse_levels
from surge.timefmt import uk_time, utc_iso

__all__ = ["rules"]


@main.group()
def rules() -> None:
    """Check, test, backtest and reload the surge protocols (surge_rules.yaml)."""


@rules.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def check(file: str | None) -> None:
    """Check a rules file: exit 0 with a summary, or 1 with every problem as FILE:LINE:COL."""
    from surge.rules.loader import check_rules, summary

    path = file or str(_settings().rules)
    loaded, problems = check_rules(path)
    if problems or loaded is None:
        for problem in problems:
            click.echo(str(problem))
        click.echo(f"{path}: {len(problems)} problem(s)", err=True)
        sys.exit(1)
    click.echo(summary(loaded))


@rules.command("test")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def test(files: tuple[str, ...]) -> None:
    """Run rule test files: exit 0 when every expectation holds, 1 when any fails, 2 when a
    test file is malformed."""
    from surge.rules.ruletest import run_files

    sys.exit(run_files(list(files), out=click.echo))


@rules.command("backtest")
@click.option("--from", "start", required=True, help="Start: ISO time (UTC unless it has an "
              "offset), a date, or a duration ago such as 7d.")
@click.option("--to", "end", help="End: as --from; default now.")
@click.option("--rules", "rules_file", type=click.Path(dir_okay=False),
              help="Rules file to evaluate [default: SURGE_RULES].")
@click.option("--input", "input_file", type=click.Path(dir_okay=False),
              help="CSV with columns ts, metric, scope, value instead of the stored history.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--redis-url", help="Store URL [SURGE_REDIS_URL; default: embedded store].")
@click.option("--data-dir", type=click.Path(file_okay=False), help="[SURGE_DATA_DIR]")
@friendly_errors
def backtest(start: str, end: str | None, rules_file: str | None, input_file: str | None,
             fmt: str, **options: Any) -> None:
    """Evaluate rules over history: every level transition with its reason, and the time
    spent at each level."""
    from surge.context import open_history, open_store
    from surge.rules.backtest import (
        format_csv,
        format_json,
        format_table,
        read_csv,
        run_backtest,
        stored_samples,
    )
    from surge.rules.loader import load_rules

    settings = _settings(rules=rules_file, **options)
    loaded = load_rules(settings.rules)
    now = time.time()
    t1, t2 = parse_time(start, now, "--from"), parse_time(end, now, "--to") if end else now
    if t2 <= t1:
        raise SurgeError("--to must be later than --from")
    if input_file:
        samples = read_csv(input_file, loaded)
    else:
        store = open_store(settings)
        store.ping()
        samples = stored_samples(open_history(settings, store), loaded, t1, t2)
    result = run_backtest(loaded, samples, t1, t2)
    click.echo({"table": format_table, "csv": format_csv, "json": format_json}[fmt](result))


@rules.command("reload")
@as_option
@store_options
@friendly_errors
def reload(as_user: str | None, **options: Any) -> None:
    """Ask the running worker to reload the rules file (it is checked first). Needs the admin
    role: --as USER acts as that user; without it, the operator on the server acts as admin."""
    settings = _settings(**options)
    store = open_checked_store(settings)
    done = reload_rules(store, cli_actor(store, as_user), rules=settings.rules)
    if done.problems:
        for problem in done.problems:
            click.echo(problem)
        click.echo("The worker will reject this file and keep the running rules.", err=True)
        sys.exit(1)
    click.echo(f"Reload requested by {done.by}: the worker applies it within one tick (5 s); "
               f"see the rules_loaded event with `surge explain`.")


@main.command()
@click.option("--at", "at", help="Evaluate stored history up to this time instead of "
              "showing the live levels (ISO time, date, or a duration ago such as 2h).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--all", "show_all", is_flag=True, help="Include every trigger, not only those "
              "above the base level, pending or stale.")
@store_options
@friendly_errors
def explain(at: str | None, as_json: bool, show_all: bool, **options: Any) -> None:
    """Current levels with their reasons."""
    from surge.context import open_history, open_store
    from surge.rules.loader import load_rules

    settings = _settings(**options)
    store = open_store(settings)
    store.ping()
    loaded = load_rules(settings.rules)
    now = time.time()
    if at is None:
        raw = store.levels()
        if not raw:
            raise SurgeError("no levels published yet: is the worker running? "
                             "(`surge status`)")
        when = None
    else:
        when = parse_time(at, now, "--at")
        raw = _levels_at(open_history(settings, store), loaded, when)
    levels = parse_levels(raw, loaded.catalogue)
    if as_json:
        click.echo(json.dumps({
            "at": None if when is None else utc_iso(when), "rules_version": loaded.version,
            "levels": {name: {**entry, "level_name": levels[name].level_name,
                              "why": describe(levels[name])}
                       for name, entry in raw.items() if name in levels}},
            indent=2, default=str, ensure_ascii=False))
        return
    _print_levels(loaded, levels, when, now, show_all)


def _levels_at(store: Any, loaded: Any, t: float) -> dict[str, Any]:
    """Every level as the engine would have published it at t, from stored history."""
    from surge.rules.backtest import lead_in, stored_samples
    from surge.rules.engine import Evaluator

    evaluator = Evaluator(loaded, t - lead_in(loaded))
    evaluator.run(stored_samples(store, loaded, t, t), t)
    return {name: {"level": v.level, "since": v.since, "stale": v.stale, "kind": v.kind,
                   "reason": v.reason} for name, v in evaluator.explain().items()}


def _print_levels(loaded: Any, levels: dict[str, PublishedLevel], when: float | None,
                  now: float, show_all: bool) -> None:
    tz = loaded.catalogue.timezone
    moment = "live" if when is None else f"at {uk_time(when, tz, dated=True, zone=True)}"
    click.echo(f"Calculated levels ({moment}), rules version {loaded.version}:")
    for name in ["overall", *loaded.protocols]:
        level = levels.get(name)
        if level is None:
            click.echo(f"  {name:<22} not available")
            continue
        _print_level(level, tz, now, indent="  ")
        for sub in sorted(k for k in levels if k.startswith((f"{name}/", f"{name}@"))):
            entry = levels[sub]
            interesting = entry.level > loaded.base or entry.stale or entry.pending is not None
            if show_all or interesting:
                _print_level(entry, tz, now, indent="      ")


def _print_level(level: PublishedLevel, tz: Any, now: float, indent: str) -> None:
    since = uk_time(level.since, tz, seconds=False, now=now) if level.since else "start"
    stale = "  STALE DATA, level held" if level.stale else ""
    click.echo(f"{indent}{level.name:<26} {level.level} {level.level_name:<18} "
               f"since {since}{stale}")
    why = describe(level)
    if why:
        click.echo(f"{indent}    {why}")
    if level.pending is not None:
        line = describe_pending(level.pending, brief=level.kind == "overall", with_level=True)
        click.echo(f"{indent}    ▲ {line}")


def parse_time(text: str, now: float, option: str) -> float:
    """An ISO time or date (UTC unless an offset is given), or a duration ago (7d, 2h)."""
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SurgeError(f"{option}: expected an ISO time such as 2026-01-05T08:00:00Z, a "
                         f"date such as 2026-01-05, or a duration ago such as 7d; got "
                         f"{text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
