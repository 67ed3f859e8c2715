"""Rule tests: input series in promtool notation, expected levels at given times, checked
against the real engine (``surge rules test FILE...``).

A test file names a rules file, lays out samples (``values: "5x10 30x20 _x3 5+1x4"``, the
first value at ``start``, each next one an ``interval`` later) and lists expectations::

    rules: ../surge_rules.yaml        # relative to the test file
    start: 2026-01-05T08:00:00Z       # optional; default 2026-01-01T00:00:00Z
    interval: 1m                      # optional; default 1m
    input:
      - {metric: calls.waiting, values: "5x10 30x20"}
      - {metric: ae.handover_queue, scope: RVJ, interval: 30s, values: "1 2 3 12x30"}
    expect:
      - at: 16m                       # offset from start, or an absolute ISO time
        levels: {call_handling: 4, overall: 4, "ae@RVJ": 3}
        stale: {call_handling/calls.waiting: false}

An expectation at T holds when, after every sample with timestamp <= T has been evaluated,
each named level (and stale flag) is as written. One Evaluator runs the whole file, so a
test is the engine's own behaviour over time, not a replay from scratch at each instant.

A failure names the line of the name that failed, the time, expected and actual, and why,
in the sentence every screen shows (``surge.levels.describe``); for a combined level (a
protocol, PROTOCOL@SITE, overall), then each trigger under it that is raised, pending or
(for a stale check) stale::

    tests/rules/x.yaml:29: at 30m (2026-01-01T00:30:00Z): call_handling expected 3, got 4 —
        999 calls waiting ≥ 60 calls for 5m (now 70 calls)
        call_handling/calls.waiting at level 4 Extreme pressure: 999 calls waiting ≥ 60 ...
    tests/rules/x.yaml:21: at 10m (...): stale flag of call_handling/calls.answer_mean expected
        false, got true — Mean call answer time (last hour): data stale, held at level 1 ...

Exit codes of ``run_files``: 0 every expectation holds, 1 some fail, 2 a file is malformed
(each problem printed as ``FILE:LINE:COL: message``; 2 wins over 1).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from surge.catalogue import TRUST
from surge.configfile import Node, Reader, describe, did_you_mean, load_yaml
from surge.durations import format_duration, parse_duration
from surge.errors import ConfigError, Problem
from surge.levels import PublishedLevel, describe_pending, parse_levels
from surge.levels import describe as describe_level
from surge.rules.engine import Evaluator
from surge.rules.loader import load_rules
from surge.rules.model import Rules
from surge.samples import Sample
from surge.timefmt import utc_iso

__all__ = [
    "DEFAULT_START",
    "Expectation",
    "Failure",
    "NotationError",
    "RuleTest",
    "Series",
    "check",
    "parse_values",
    "read_test",
    "run_files",
]

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
DEFAULT_INTERVAL = 60
TOP_KEYS = ("rules", "start", "interval", "input", "expect")
INPUT_KEYS = ("metric", "scope", "interval", "values")
EXPECT_KEYS = ("at", "levels", "stale")
MAX_SHOWN = 8  # driver reasons shown under one failure

# A number as promtool reads one in a series: optional sign, decimals, an exponent.
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_ITEM = re.compile(rf"(?P<a>{_NUMBER})(?:(?P<b>[+-]{_NUMBER})?x(?P<n>\d+))?")
_BLANK = re.compile(r"_(?:x(?P<n>\d+))?")
_TOKEN = re.compile(r"\S+")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}")
_UNQUOTED_TIME = re.compile(r"(?:^|[\s:,\[{])(?P<time>\d{4}-\d\d?-\d\d?(?:[Tt ][0-9:.]+[^\s,}\]]*)?)")


class NotationError(ValueError):
    """A values string that is not promtool series notation; ``offset`` is where, in it."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def parse_values(text: str) -> list[float | None]:
    """The values of a series in promtool notation; None for a missing sample (``_``).

    ``a+bxn`` is the n+1 values a, a+b, ..., a+n*b (b may be negative), ``axn`` is a
    repeated n+1 times, ``_xn`` is n missing samples, a plain number is one value. As in
    promtool, a+bxn adds b step by step, so decimals round exactly as Prometheus's do.
    """
    out: list[float | None] = []
    for token in _TOKEN.finditer(text):
        item, at = token.group(), token.start()
        if blank := _BLANK.fullmatch(item):
            out.extend([None] * int(blank["n"] or 1))
            continue
        match = _ITEM.fullmatch(item)
        if match is None:
            raise NotationError(_bad_item(item), at)
        a = float(match["a"])
        if not math.isfinite(a):
            raise NotationError(f"{item!r}: values must be finite numbers", at)
        if match["n"] is None:
            out.append(a)
            continue
        step = float(match["b"]) if match["b"] else 0.0
        for _ in range(int(match["n"]) + 1):
            out.append(a)
            a += step
    return out


def _bad_item(item: str) -> str:
    if item.lower().lstrip("+-") in ("inf", "nan", "stale"):
        return (f"{item!r}: a rule test takes finite numbers only; write _ for a missing "
                f"sample (promtool's Inf, NaN and stale are not supported)")
    expected = "expected a number (5, 2.5, 1e3), axn (5x3), a+bxn (5+1x4), a-bxn (10-2x3), _ or _xn"
    if re.fullmatch(rf"{_NUMBER}(?:[+-]{_NUMBER})?x", item):
        return f"{item!r}: x needs a whole count after it, such as 5x3; {expected}"
    if re.fullmatch(rf"{_NUMBER}[+-]x\d+", item):
        return f"{item!r}: a step is missing between the sign and x, such as 5+1x3; {expected}"
    return f"{item!r} is not a value: {expected}"


# --- what a test file says ---------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    metric: str
    scope: str
    interval: int  # seconds
    values: tuple[float | None, ...]
    line: int

    def samples(self, start: float) -> list[Sample]:
        return [Sample(self.metric, self.scope, start + i * self.interval, v)
                for i, v in enumerate(self.values) if v is not None]


@dataclass(frozen=True)
class Expectation:
    at: float  # epoch seconds
    when: str  # as written, with the other form: "16m (2026-01-01T00:16:00Z)"
    line: int
    levels: tuple[tuple[str, int, int], ...]  # (name, level, line)
    stale: tuple[tuple[str, bool, int], ...] = ()  # (name, stale, line)

    def count(self) -> int:
        return len(self.levels) + len(self.stale)


@dataclass(frozen=True)
class RuleTest:
    path: str
    rules: Rules
    start: float
    series: tuple[Series, ...]
    expectations: tuple[Expectation, ...]

    def count(self) -> int:
        return sum(e.count() for e in self.expectations)


@dataclass(frozen=True)
class Failure:
    line: int
    text: str  # the whole message, possibly several lines


Loaded = dict[Path, Rules | ConfigError]  # rules files read so far, by resolved path


def read_test(path: str | Path, loaded: Loaded | None = None) -> RuleTest:
    """A rule test file, checked; ConfigError with every problem (the rules file's too).

    ``loaded`` lets several test files share one reading of the same rules file.
    """
    loaded = {} if loaded is None else loaded
    source = str(path)
    try:
        root = load_yaml(path)
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        # ruamel builds timestamps after parsing, so an impossible date has no position.
        line, col = _bad_time_position(_lines(path))
        raise ConfigError([Problem(source, f"YAML syntax: cannot read a value: {exc}", line,
                                   col)]) from None
    reader = Reader(source)
    extra: list[Problem] = []
    top = reader.mapping(root, required=("rules", "input", "expect"), optional=TOP_KEYS,
                         what="a rule test with rules:, input: and expect:")
    if top is None:
        raise ConfigError(reader.problems)
    rules = _rules(reader, top.get("rules"), Path(path), loaded, extra)
    start = _time(reader, top["start"]) if "start" in top else DEFAULT_START
    interval = _interval(reader, top["interval"]) if "interval" in top else DEFAULT_INTERVAL
    series = _inputs(reader, top.get("input"), rules, interval, _lines(path))
    names = set(Evaluator(rules, start or DEFAULT_START).levels()) if rules else None
    expectations = _expectations(reader, top.get("expect"), rules, names, start)
    if reader.problems or extra:
        ordered = sorted(reader.problems, key=lambda p: (p.line or 0, p.col or 0))
        raise ConfigError(extra + ordered)
    assert rules is not None and start is not None and interval is not None
    return RuleTest(source, rules, start, tuple(series), tuple(expectations))


def _rules(reader: Reader, node: Node | None, path: Path, loaded: Loaded,
           extra: list[Problem]) -> Rules | None:
    if node is None:
        return None
    text = reader.string(node, "the path of a rules file, relative to this test file")
    if text is None:
        return None
    target = (path.parent / text).resolve()
    if not target.is_file():
        reader.error(node, f"no rules file at {target}")
        return None
    if target not in loaded:
        try:
            loaded[target] = load_rules(target)
        except ConfigError as err:
            loaded[target] = err
    rules = loaded[target]
    if isinstance(rules, ConfigError):
        extra.extend(rules.problems)
        reader.error(node, f"the rules file {text} has problems (listed above)")
        return None
    return rules


def _time(reader: Reader, node: Node) -> float | None:
    """An absolute time with a zone (2026-01-05T08:00:00Z), as epoch seconds."""
    value = node.value
    if isinstance(value, str) and _ISO.match(value):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            reader.error(node, f"{value!r} is not an ISO 8601 time such as 2026-01-05T08:00:00Z")
            return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            reader.error(node, f"{value.isoformat()} has no time zone: add Z for UTC "
                               f"(2026-01-05T08:00:00Z) or an offset (+01:00)")
            return None
        return value.timestamp()
    if isinstance(value, date):
        reader.error(node, f"{value.isoformat()} is a date: give a time too, such as "
                           f"{value.isoformat()}T00:00:00Z")
        return None
    reader.error(node, f"expected a time such as 2026-01-05T08:00:00Z, got {describe(value)}")
    return None


def _bad_time_position(lines: list[str]) -> tuple[int | None, int | None]:
    """Where the first unquoted date or time that is not a real one was written."""
    for number, text in enumerate(lines, 1):
        for match in _UNQUOTED_TIME.finditer(text.split(" #")[0]):
            try:
                datetime.fromisoformat(match["time"].replace("Z", "+00:00"))
            except ValueError:
                return number, match.start("time") + 1
    return None, None


def _interval(reader: Reader, node: Node) -> int | None:
    seconds = reader.duration(node)
    if seconds == 0:
        reader.error(node, "interval must be longer than 0s")
        return None
    return seconds


def _lines(path: str | Path) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def _inputs(reader: Reader, node: Node | None, rules: Rules | None, interval: int | None,
            lines: list[str]) -> list[Series]:
    if node is None:
        return []
    items = reader.sequence(node, "a list of series, each starting with - metric:")
    if items is None:
        return []
    if not items:
        reader.error(node, "input is empty: give at least one series")
    out: list[Series] = []
    seen: dict[tuple[str, str], int] = {}
    for item in items:
        series = _series(reader, item, rules, interval, lines)
        if series is None:
            continue
        key = (series.metric, series.scope)
        if key in seen:
            reader.error(item, f"a second series for {series.metric} at {series.scope} "
                               f"(the first is on line {seen[key]}): give each one series")
            continue
        seen[key] = item.line
        out.append(series)
    return out


def _series(reader: Reader, node: Node, rules: Rules | None, default_interval: int | None,
            lines: list[str]) -> Series | None:
    f = reader.mapping(node, required=("metric", "values"), optional=INPUT_KEYS,
                       what='a series such as {metric: calls.waiting, values: "5x10 30x20"}')
    if f is None:
        return None
    metric = _metric(reader, f["metric"], rules) if "metric" in f else None
    scope = _scope(reader, f.get("scope"), node, metric, rules)
    interval = _interval(reader, f["interval"]) if "interval" in f else default_interval
    values = _values(reader, f["values"], lines) if "values" in f else None
    if metric is None or scope is None or values is None or rules is None:
        return None
    info = rules.catalogue.metrics[metric]
    for v in values:
        if v is not None and not info.low <= v <= info.high:
            reader.error(f["values"], f"value {v:g} of {metric} is outside its plausible range "
                                      f"[{info.low:g}, {info.high:g}]: the engine never sees it")
            return None
    # A bad interval is reported already, and the test will not run: check the rest anyway.
    return Series(metric, scope, interval or DEFAULT_INTERVAL, tuple(values), node.line)


def _metric(reader: Reader, node: Node, rules: Rules | None) -> str | None:
    name = reader.string(node, "a metric id such as calls.waiting")
    if name is None or rules is None:
        return None
    metrics = rules.catalogue.metrics
    if name not in metrics:
        reader.error(node, f"unknown metric {name!r}{did_you_mean(name, metrics)}")
        return None
    return name


def _scope(reader: Reader, node: Node | None, item: Node, metric: str | None,
           rules: Rules | None) -> str | None:
    """The scope of a series: trust unless written; the metric must be reported there."""
    scope = TRUST if node is None else reader.string(node, "trust or a site code such as RVJ")
    if scope is None or rules is None:
        return None
    sites = rules.catalogue.sites
    if scope != TRUST and scope not in sites:
        assert node is not None
        hint = did_you_mean(scope, [TRUST, *sites])
        reader.error(node, f"unknown scope {scope!r}{hint}: expected trust or a site code")
        return None
    if metric is None:
        return None
    info = rules.catalogue.metrics[metric]
    site = sites.get(scope)
    if not info.reported_at(site):
        where = ", ".join(rules.catalogue.scopes_of(info))
        what = "for the trust" if site is None else f"at {scope} (site kind {site.kind})"
        reader.error(node or item, f"{metric} is not reported {what}; it is reported at: "
                                   f"{where}")
        return None
    return scope


def _values(reader: Reader, node: Node, lines: list[str]) -> list[float | None] | None:
    value = node.value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        reader.error(node, f'expected values such as "5x10 30x20 _x3", got {describe(value)}')
        return None
    try:
        values = parse_values(value)
    except NotationError as exc:
        line, col = _position_in(node, value, exc.offset, lines)
        reader.problems.append(Problem(reader.source, f"{node.name}: {exc}", line, col))
        return None
    if not any(v is not None for v in values):
        reader.error(node, "no values: give at least one number")
        return None
    return values


def _position_in(node: Node, text: str, offset: int, lines: list[str]) -> tuple[int, int]:
    """Where character ``offset`` of a one-line scalar was written, when that is certain."""
    if "\n" in text or not 0 < node.line <= len(lines):
        return node.line, node.col
    written = lines[node.line - 1][node.col - 1:]
    quoted = written[:1] in ("'", '"')
    if written[int(quoted):].startswith(text):
        return node.line, node.col + int(quoted) + offset
    return node.line, node.col


def _expectations(reader: Reader, node: Node | None, rules: Rules | None,
                  names: set[str] | None, start: float | None) -> list[Expectation]:
    if node is None:
        return []
    items = reader.sequence(node, "a list of expectations, each starting with - at:")
    if items is None:
        return []
    if not items:
        reader.error(node, "expect is empty: give at least one expectation")
    out = []
    for item in items:
        expectation = _expectation(reader, item, rules, names, start)
        if expectation is not None:
            out.append(expectation)
    return out


def _expectation(reader: Reader, node: Node, rules: Rules | None, names: set[str] | None,
                 start: float | None) -> Expectation | None:
    f = reader.mapping(node, required=("at",), optional=EXPECT_KEYS,
                       what="an expectation such as {at: 16m, levels: {overall: 3}}")
    if f is None:
        return None
    if "levels" not in f and "stale" not in f:
        reader.error(node, "nothing to check: add levels: (and/or stale:)")
    at = _at(reader, f["at"], start) if "at" in f else None
    levels = [(name, level, where.line) for name, level, where in
              _named(reader, f.get("levels"), names, rules, _level)]
    stale = [(name, flag, where.line) for name, flag, where in
             _named(reader, f.get("stale"), names, rules, _flag)]
    if at is None or start is None:
        return None
    if _is_time(f["at"].value):
        when = f"{utc_iso(at, exact=True)} ({format_duration(at - start)} after start)"
    else:
        when = f"{f['at'].value} ({utc_iso(at, exact=True)})"
    return Expectation(at, when, node.line, tuple(levels), tuple(stale))


def _at(reader: Reader, node: Node, start: float | None) -> float | None:
    """An offset from start (16m, 1h30m, 0) or an absolute time, as epoch seconds."""
    if _is_time(node.value):
        at = _time(reader, node)
        if at is not None and start is not None and at < start:
            reader.error(node, f"{utc_iso(at, exact=True)} is before the test's start "
                               f"{utc_iso(start, exact=True)}")
            return None
        return at
    try:
        offset = parse_duration(node.value)
    except ValueError as exc:
        reader.error(node, f"{exc}, or an absolute time such as 2026-01-01T00:16:00Z")
        return None
    return None if start is None else start + offset


def _is_time(value: object) -> bool:
    return isinstance(value, (datetime, date)) or (isinstance(value, str) and bool(_ISO.match(value)))


def _named(reader: Reader, node: Node | None, names: set[str] | None, rules: Rules | None,
           read: Callable[[Reader, Node, Rules], Any]) -> list[tuple[str, Any, Node]]:
    """(name, value, node) of a mapping of level names, each name checked against the rules."""
    if node is None:
        return []
    out = []
    for key, child in reader.items(node, "a mapping of names to values, such as {overall: 3}"):
        name = str(key)
        known = names is None or name in names
        if not known:
            assert names is not None and rules is not None
            reader.error(node, f"unknown level name {name!r}{_name_hint(name, names, rules)}",
                         at_key=key)
        value = read(reader, child, rules) if rules is not None else None
        if known and value is not None:
            out.append((name, value, child))
    return out


def _name_hint(name: str, names: set[str], rules: Rules) -> str:
    protocol, _, site = name.partition("@")
    if site and protocol in rules.protocols:
        sites = rules.protocols[protocol].sites()
        return (f": {protocol} has per-site levels at {', '.join(sites)}" if sites else
                f": {protocol} has no per-site levels (only triggers with aggregate: each have)")
    hint = did_you_mean(name, sorted(names))
    if hint:
        return hint
    return (": expected overall, a protocol (" + ", ".join(rules.protocols) +
            "), PROTOCOL@SITE or PROTOCOL/TRIGGER")


def _level(reader: Reader, node: Node, rules: Rules) -> int | None:
    numbers = [lv.number for lv in rules.catalogue.levels]
    value = node.value
    if isinstance(value, int) and not isinstance(value, bool) and value in numbers:
        return int(value)
    listed = ", ".join(str(n) for n in numbers)
    reader.error(node, f"expected a level ({listed}), got {describe(value)}")
    return None


def _flag(reader: Reader, node: Node, rules: Rules) -> bool | None:
    return reader.boolean(node)


# --- running it ------------------------------------------------------------------------------


def check(test: RuleTest) -> list[Failure]:
    """Every expectation that does not hold, evaluated with one Evaluator over the file."""
    evaluator = Evaluator(test.rules, test.start)
    samples = sorted((s for series in test.series for s in series.samples(test.start)),
                     key=lambda s: s.ts)
    fed = 0
    failures = []
    for expectation in sorted(test.expectations, key=lambda e: e.at):
        upto = fed
        while upto < len(samples) and samples[upto].ts <= expectation.at:
            upto += 1
        evaluator.ingest(samples[fed:upto])
        fed = upto
        evaluator.advance(expectation.at)
        levels = evaluator.levels()
        views = evaluator.explain()
        published: dict[str, PublishedLevel] | None = None  # read only when something fails
        when = f"at {expectation.when}"
        for name, expected, line in expectation.levels:
            if levels[name] != expected:
                published = published or parse_levels(views, test.rules.catalogue)
                text = (f"{test.path}:{line}: {when}: {name} expected {expected}, "
                        f"got {levels[name]} — {_why(test.rules, published, name)}")
                failures.append(Failure(line, text))
        for name, flag, line in expectation.stale:
            if views[name].stale != flag:
                published = published or parse_levels(views, test.rules.catalogue)
                text = (f"{test.path}:{line}: {when}: stale flag of {name} expected "
                        f"{str(flag).lower()}, got {str(views[name].stale).lower()} — "
                        f"{_why(test.rules, published, name, stale=True)}")
                failures.append(Failure(line, text))
    return failures


def _why(rules: Rules, levels: dict[str, PublishedLevel], name: str, stale: bool = False) -> str:
    """Why a level is what it is, in the sentence every screen shows; for a combined level,
    then each trigger under it that is raised or has a change pending (and, when a stale
    flag is in question, each stale one), one per line."""
    level = levels[name]
    head = _sentence(level)
    if level.reason.condition is not None:  # a trigger instance: its own test says it all
        return head
    points = {d.name: d.points for d in level.reason.drivers if d.points}
    leaves = [levels[leaf] for leaf in _leaves(rules, levels, name)
              if levels[leaf].level > rules.base or levels[leaf].pending is not None
              or (stale and levels[leaf].stale)]
    leaves.sort(key=lambda leaf: -leaf.level)
    if not leaves:
        base = rules.level(rules.base)
        return head + (f"; every trigger under it is at level {base.number} {base.name}, "
                       f"none pending")
    lines = [head]
    for leaf in leaves[:MAX_SHOWN]:
        scored = f" ({_plural(points[leaf.name], 'point')})" if leaf.name in points else ""
        lines.append(f"    {leaf.name} at level {leaf.level} {leaf.level_name}{scored}: "
                     f"{_sentence(leaf)}")
    if len(leaves) > MAX_SHOWN:
        lines.append(f"    ... and {len(leaves) - MAX_SHOWN} more")
    return "\n".join(lines)


def _sentence(level: PublishedLevel) -> str:
    text = describe_level(level) or "no reason published"
    if level.pending is not None:
        text += "; " + describe_pending(level.pending, with_level=True)
    return text


def _leaves(rules: Rules, levels: dict[str, PublishedLevel], name: str) -> list[str]:
    """The trigger instances a combined level is made from."""
    if name == "overall":
        return [leaf for p in rules.overall.members for leaf in _leaves(rules, levels, p)]
    protocol_id, _, site = name.partition("@")
    if "/" in protocol_id:  # a per-site trigger's worst-site view: P/T -> P/T@SITE
        return [f"{name}@{s}" for s, _ in levels[name].reason.sites]
    protocol = rules.protocols[protocol_id]
    out = []
    for trigger in protocol.triggers:
        base = f"{protocol.id}/{trigger.id}"
        if site:
            if trigger.per_site and site in (trigger.sites or ()):
                out.append(f"{base}@{site}")
        elif trigger.per_site:
            out += [f"{base}@{s}" for s in trigger.sites or ()]
        else:
            out.append(base)
    return out


def run_files(paths: Iterable[str | Path], out: Callable[[str], None] = print) -> int:
    """Run rule test files; print failures and a summary. 0 all hold, 1 some fail, 2 malformed."""
    loaded: Loaded = {}
    printed: set[str] = set()
    files = malformed = total = failed = 0
    for path in paths:
        files += 1
        try:
            test = read_test(path, loaded)
        except ConfigError as err:
            malformed += 1
            for problem in err.problems:
                line = str(problem)
                if line not in printed:  # a broken rules file shared by several tests
                    printed.add(line)
                    out(line)
            continue
        total += test.count()
        failures = check(test)
        failed += len(failures)
        for failure in failures:
            out(failure.text)
    out(_summary(files, malformed, total, failed))
    if malformed:
        return 2
    return 1 if failed else 0


def _summary(files: int, malformed: int, total: int, failed: int) -> str:
    head = _plural(files, "file")
    if malformed == files:
        return f"{head}: {malformed} malformed"
    if malformed:
        rest = f"{failed} of {_plural(total, 'expectation')} in the others failed" if failed \
            else f"{_plural(total, 'expectation')} in the others: all hold"
        return f"{head}: {malformed} malformed, {rest}"
    if failed:
        return f"{head}: {failed} of {_plural(total, 'expectation')} failed"
    return f"{head}, {_plural(total, 'expectation')}: all hold"


def _plural(n: float, noun: str) -> str:
    return f"{n:g} {noun}" + ("" if n == 1 else "s")

