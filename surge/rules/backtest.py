"""Backtests: what would these rules have done over stored history, or over a CSV file?

The same Evaluator as the live engine, run over samples in time order. Evaluation starts
a lead-in before ``--from`` (the longest window plus the longest stale_after), so the levels
at ``--from`` already reflect the data before it; transitions are reported from ``--from``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from surge.errors import ConfigError, Problem
from surge.levels import PublishedLevel, describe
from surge.rules.engine import Evaluator, Transition
from surge.rules.model import Rules
from surge.samples import Sample, check_samples
from surge.timefmt import uk_time, utc_iso

if TYPE_CHECKING:
    from surge.history import Record

__all__ = ["Backtest", "lead_in", "read_csv", "run_backtest", "stored_samples"]

CSV_COLUMNS = ("ts", "metric", "scope", "value")


@dataclass(frozen=True)
class Backtest:
    rules: Rules
    start: float
    end: float
    transitions: list[Transition]
    initial: dict[str, int]  # level of each protocol and overall at start
    time_at_level: dict[str, dict[int, float]]  # name -> level -> seconds, start..end
    samples: int
    # every level as published at start: what the first changes' drivers are resolved against
    at_start: dict[str, Any] = field(default_factory=dict)

    def changes(self) -> list[tuple[Transition, PublishedLevel]]:
        """Each transition with its level typed, its drivers resolved against the latest
        change of each (or, before their first change, their state at start)."""
        latest = dict(self.at_start)
        out = []
        for t in self.transitions:
            latest[t.name] = {"at": t.at, "kind": t.kind, "from": t.old, "to": t.new,
                              "stale": t.stale, "reason": t.reason}
            out.append((t, PublishedLevel.from_dict(t.name, latest[t.name],
                                                    self.rules.catalogue, latest)))
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "rules_version": self.rules.version, "from": utc_iso(self.start),
            "to": utc_iso(self.end), "samples": self.samples, "initial": self.initial,
            "transitions": [{"at": utc_iso(t.at), "name": t.name, "kind": t.kind, "from": t.old,
                             "to": t.new, "stale": t.stale, "reason": t.reason,
                             "why": describe(level)} for t, level in self.changes()],
            "time_at_level": {name: {str(level): seconds for level, seconds in levels.items()}
                              for name, levels in self.time_at_level.items()},
        }


def lead_in(rules: Rules) -> float:
    windows = [max(t.for_seconds, t.clear_for_seconds) for p in rules.protocols.values()
               for t in p.triggers]
    stale = [m.stale_after for m in rules.catalogue.metrics.values()]
    return float(max(windows, default=0) + max(stale, default=0))


def run_backtest(rules: Rules, samples: Iterable[Sample], start: float, end: float) -> Backtest:
    """Evaluate from a lead-in before start to end; report from start."""
    samples = sorted((s for s in samples if s.ts <= end), key=lambda s: s.ts)
    evaluator = Evaluator(rules, start - lead_in(rules))
    evaluator.run([s for s in samples if s.ts < start], start - 0.001)
    evaluator.transitions.clear()
    headline = {name for name, v in evaluator.derived.items() if v.kind in ("protocol", "overall")}
    initial = {name: evaluator.derived[name].level for name in sorted(headline)}
    at_start = {name: {"level": v.level, "since": v.since, "stale": v.stale, "kind": v.kind,
                       "reason": v.reason} for name, v in evaluator.explain().items()}
    transitions = evaluator.run([s for s in samples if s.ts >= start], end)
    spent: dict[str, dict[int, float]] = {}
    for name, level in initial.items():
        changes = [(t.at, t.new) for t in transitions if t.name == name and t.level_changed]
        totals: dict[int, float] = {}
        at, current = start, level
        for when, new in changes:
            totals[current] = totals.get(current, 0.0) + (when - at)
            at, current = when, new
        totals[current] = totals.get(current, 0.0) + (end - at)
        spent[name] = dict(sorted(totals.items()))
    return Backtest(rules, start, end, transitions, initial, spent, len(samples), at_start)


def stored_samples(store: Record, rules: Rules, start: float, end: float) -> list[Sample]:
    """Every stored sample the rules read, from the lead-in before start to end."""
    evaluator = Evaluator(rules, start)
    series = store.series(list(evaluator.routes), start - lead_in(rules), end)
    return [Sample(metric, scope, float(ts), float(v)) for (metric, scope), s in series.items()
            for ts, v in zip(s.ts, s.values, strict=True)]


def read_csv(path: str | Path, rules: Rules) -> list[Sample]:
    """Samples from a CSV with columns ts, metric, scope, value; every bad row is reported
    as FILE:LINE: message (ConfigError) and nothing is evaluated until the file is clean."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError.single(source, f"cannot be read: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError([Problem(source, f"missing column(s) {', '.join(missing)}; expected "
                                           f"a header row: {','.join(CSV_COLUMNS)}", 1, 1)])
    problems: list[Problem] = []
    samples: list[Sample] = []
    for row in reader:
        line = reader.line_num
        raw = {"metric": row["metric"], "scope": row["scope"] or "trust", "ts": row["ts"],
               "value": row["value"]}
        good, bad = check_samples([raw], rules.catalogue, now=None, retention=math.inf)
        if bad:
            problems.append(Problem(source, bad[0].reason, line, 1))
        samples += good
    if problems:
        raise ConfigError(problems)
    return samples


def _when(ts: float, tz: Any) -> str:
    return uk_time(ts, tz, seconds=False, dated=True)


def format_table(result: Backtest) -> str:
    tz = result.rules.catalogue.timezone
    lines = [f"Backtest of {result.rules.source} (version {result.rules.version}) from "
             f"{_when(result.start, tz)} to {_when(result.end, tz)} ({tz.key}), "
             f"{result.samples} samples", ""]
    shown = [(t, level) for t, level in result.changes()
             if t.level_changed and t.kind in ("protocol", "overall", "site")]
    width = max([len(_level(result, n)) for n in result.rules.catalogue.levels], default=10)
    lines.append(f"{'time':<17} {'level of':<16} {'from':<{width}}    {'to':<{width}}  why")
    for t, level in shown:
        why = describe(level)
        stale = " (some data stale)" if t.stale else ""
        lines.append(f"{_when(t.at, tz):<17} {t.name:<16} "
                     f"{_level(result, result.rules.level(t.old)):<{width}} -> "
                     f"{_level(result, result.rules.level(t.new)):<{width}}  {why}{stale}")
    if not shown:
        lines.append("(no change of level)")
    lines += ["", "Time at each level:"]
    levels = [lv.number for lv in result.rules.catalogue.levels]
    lines.append(f"{'':<20}" + "".join(f"{'L' + str(n):>12}" for n in levels))
    for name, spent in result.time_at_level.items():
        lines.append(f"{name:<20}" + "".join(f"{_span(spent.get(n, 0.0)):>12}" for n in levels))
    return "\n".join(lines)


def format_csv(result: Backtest) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["at", "name", "kind", "from", "to", "stale", "why"])
    for t, level in result.changes():
        writer.writerow([utc_iso(t.at), t.name, t.kind, t.old, t.new, t.stale, describe(level)])
    return out.getvalue()


def format_json(result: Backtest) -> str:
    return json.dumps(result.as_json(), indent=2, default=str)


def _level(result: Backtest, level: Any) -> str:
    return f"{level.number} {level.name}"


def _span(seconds: float) -> str:
    if seconds <= 0:
        return "-"
    days, rest = divmod(round(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d {hours:02d}h" if days else f"{hours}h {rest // 60:02d}m"
