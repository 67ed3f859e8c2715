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
    from surge.context import open_store
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
        samples = stored_samples(store, loaded, t1, t2)
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
    from surge.context import open_store
    from surge.rules.loader import load_rules

    settings = _settings(**options)
    store = open_store(settings)
    store.ping()
    loaded = load_rules(settings.rules)
    if at is None:
        levels = store.levels()
        if not levels:
            raise SurgeError("no levels published yet: is the worker running? "
                             "(`surge status`)")
        when = None
    else:
        levels, when = _levels_at(store, loaded, parse_time(at, time.time(), "--at"))
    if as_json:
        click.echo(json.dumps({"at": when, "rules_version": loaded.version, "levels": levels},
                              indent=2, default=str))
        return
    _print_levels(loaded, levels, when, show_all)


def _levels_at(store: Any, loaded: Any, t: float) -> tuple[dict[str, Any], str]:
    from surge.rules.backtest import lead_in, stored_samples
    from surge.rules.engine import Evaluator

    evaluator = Evaluator(loaded, t - lead_in(loaded))
    evaluator.run(stored_samples(store, loaded, t, t), t)
    views = evaluator.explain()
    levels = {name: {"level": v.level, "since": v.since, "stale": v.stale, "kind": v.kind,
                     "reason": v.reason} for name, v in views.items()}
    return levels, datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def _print_levels(loaded: Any, levels: dict[str, Any], when: str | None, show_all: bool) -> None:
    tz = loaded.catalogue.timezone
    click.echo(f"Calculated levels ({'live' if when is None else 'at ' + when}), rules "
               f"version {loaded.version}:")
    order = ["overall", *loaded.protocols]
    for name in order:
        entry = levels.get(name)
        if entry is None:
            click.echo(f"  {name:<22} not available")
            continue
        _print_entry(loaded, name, entry, tz, indent="  ")
        prefix = f"{name}/"
        for trigger_name in sorted(k for k in levels if k.startswith(prefix) or
                                   k.startswith(f"{name}@")):
            sub = levels[trigger_name]
            reason = sub.get("reason", {})
            interesting = (sub["level"] > loaded.base or sub["stale"] or "pending" in reason)
            if show_all or interesting:
                _print_entry(loaded, trigger_name, sub, tz, indent="      ")


def _print_entry(loaded: Any, name: str, entry: dict[str, Any], tz: Any, indent: str) -> None:
    level = loaded.level(entry["level"])
    since = (datetime.fromtimestamp(entry["since"], tz).strftime("%d %b %H:%M")
             if entry.get("since") else "start")
    stale = "  STALE DATA, level held" if entry.get("stale") else ""
    reason = entry.get("reason") or {}
    why = reason.get("text")
    if why is None and reason.get("drivers"):
        prefix = f"score {reason.get('total', 0):g}; " if reason.get("combine") == "score" else ""
        why = prefix + "driven by " + ", ".join(reason["drivers"])
    click.echo(f"{indent}{name:<26} {level.number} {level.name:<18} since {since}{stale}")
    if why:
        click.echo(f"{indent}    {why}")


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
