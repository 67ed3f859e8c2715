"""The domain model: levels, functions, sites and the metric catalogue, read from surge_rules.yaml.

Config is parsed once into frozen objects; raw YAML stops here. Every problem in the file is
reported together as ``FILE:LINE:COL: message``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarbool import ScalarBoolean

from surge.configfile import (
    MAX_EXPANDED,
    Node,
    Reader,
    describe,
    did_you_mean,
    expanded_size,
    load_yaml,
)
from surge.errors import ConfigError, Problem

__all__ = [
    "SITE_KINDS",
    "TRUST",
    "Catalogue",
    "Function",
    "Level",
    "Metric",
    "Site",
    "content_digest",
    "load_catalogue",
    "read_catalogue",
    "read_document",
]

TRUST = "trust"
SITE_KINDS = ("hospital", "eoc", "pts_zone")
TOP_LEVEL_KEYS = ("version", "timezone", "levels", "functions", "sites", "metrics",
                  "protocols", "overall")

_METRIC_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_SITE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_DUPLICATE_VALUE = re.compile(r'(found duplicate key "[^"\n]*") with value ".*$', re.S)


@dataclass(frozen=True)
class Level:
    """A surge level: always shown as number, name and colour together."""

    number: int
    name: str
    colour: str


@dataclass(frozen=True)
class Function:
    """One of the service's functions (call handling, clinical triage, A&E, PTS)."""

    id: str
    label: str


@dataclass(frozen=True)
class Site:
    """A place that reports data: a hospital, an emergency operations centre or a PTS zone."""

    code: str
    name: str
    kind: str


@dataclass(frozen=True)
class Metric:
    """A measured quantity, with what counts as plausible and how fast it goes stale."""

    id: str
    function: str
    label: str
    unit: str
    worse: Literal["higher", "lower"]
    low: float
    high: float
    stale_after: int  # seconds
    scopes: tuple[str, ...]  # "trust" and/or site kinds
    key: bool = False

    def reported_at(self, site: Site | None) -> bool:
        """Whether this metric is reported at a site (None meaning the trust as a whole)."""
        return (TRUST if site is None else site.kind) in self.scopes


@dataclass(frozen=True)
class Numbering:
    """A catalogue's metrics and scopes (the trust and each site) numbered in order of name:
    whether each metric is reported at each scope, and each metric's plausible range, by
    number."""

    metric_names: list[str]
    scope_names: list[str]
    reported: np.ndarray  # [metric, scope]
    low: np.ndarray  # per metric
    high: np.ndarray

    @cached_property
    def _metric_code(self) -> dict[str, bytes]:
        return {name: i.to_bytes(2, "little") for i, name in enumerate(self.metric_names)}

    @cached_property
    def _scope_code(self) -> dict[str, bytes]:
        return {name: i.to_bytes(2, "little") for i, name in enumerate(self.scope_names)}

    def metric_codes(self, metric_ids: Sequence[str]) -> np.ndarray:
        """Each metric's number (KeyError for one not in the catalogue, TypeError for one
        that is not text)."""
        return _codes(self._metric_code, metric_ids)

    def scope_codes(self, scopes: Sequence[str]) -> np.ndarray:
        """Each scope's number (KeyError for an unknown site, TypeError for one not text)."""
        return _codes(self._scope_code, scopes)


def _codes(code_of: dict[str, bytes], names: Sequence[str]) -> np.ndarray:
    """Each name's code (KeyError for a name not in ``code_of``)."""
    if len(names) <= 1:
        return np.frombuffer(b"".join(code_of[name] for name in names), "<u2")
    return np.frombuffer(b"".join(operator.itemgetter(*names)(code_of)), "<u2")


@dataclass(frozen=True)
class Catalogue:
    """Everything the store, feeds and pages need to know about what is measured where."""

    source: str = field(compare=False)  # where it was read from, not what it says
    digest: str = field(compare=False)  # content_digest of the file: the rules version
    timezone: ZoneInfo
    levels: tuple[Level, ...]
    functions: tuple[Function, ...]
    sites: dict[str, Site]
    metrics: dict[str, Metric]

    @property
    def version(self) -> str:
        return self.digest[:12]

    def metrics_of(self, function: str) -> tuple[Metric, ...]:
        return tuple(m for m in self.metrics.values() if m.function == function)

    @cached_property
    def numbering(self) -> Numbering:
        """Every metric and scope numbered, for checking samples a column at a time."""
        # in order of name, as the store groups a batch (by metric, then scope)
        scopes = sorted([TRUST, *self.sites])
        kinds = [TRUST if code == TRUST else self.sites[code].kind for code in scopes]
        metrics = sorted(self.metrics.values(), key=lambda m: m.id)
        return Numbering(
            metric_names=[m.id for m in metrics],
            scope_names=scopes,
            reported=np.array([[kind in m.scopes for kind in kinds] for m in metrics],
                              dtype=bool).reshape(len(metrics), len(scopes)),
            low=np.array([m.low for m in metrics], dtype=np.float64),
            high=np.array([m.high for m in metrics], dtype=np.float64))

    def sites_of(self, kind: str) -> tuple[Site, ...]:
        return tuple(s for s in self.sites.values() if s.kind == kind)

    def scopes_of(self, metric: Metric) -> tuple[str, ...]:
        """Every scope a metric may be reported for: 'trust' and matching site codes."""
        scopes = [TRUST] if TRUST in metric.scopes else []
        scopes += [s.code for s in self.sites.values() if s.kind in metric.scopes]
        return tuple(scopes)

    def level(self, number: int) -> Level:
        for level in self.levels:
            if level.number == number:
                return level
        raise KeyError(number)


def load_catalogue(path: str | Path) -> Catalogue:
    """Parse the catalogue parts of a rules file; ConfigError listing every problem."""
    root = read_document(path)
    reader = Reader(path)
    catalogue, _ = read_catalogue(reader, root, content_digest(root))
    reader.raise_if_any()
    assert catalogue is not None
    return catalogue


def read_document(path: str | Path) -> Node:
    """The root node of a rules file; ConfigError for anything YAML cannot give us sensibly."""
    try:
        root = load_yaml(path)
    except ConfigError as err:
        raise ConfigError([_tidy(p) for p in err.problems]) from None
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError) as exc:
        # A few malformed values (!!float abc, !!bool maybe, a bare !!int, deep nesting)
        # escape ruamel as these rather than as YAML errors.
        detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ConfigError.single(path, f"YAML syntax: cannot read a value: {detail}") from None
    if expanded_size(root.value) > MAX_EXPANDED:  # ten lines can stand for a billion values
        raise ConfigError([Problem(str(path), f"aliases (*name) make this file hold more "
                                              f"than {MAX_EXPANDED:,} values: write it out "
                                              f"without them (see Limits in docs/rules.md)",
                                   1, 1)])
    merges = _merge_keys(root.value)
    if merges:
        raise ConfigError([Problem(str(path), "merge keys (<<) are not supported in a rules "
                                              "file: write the keys out in full", line, col)
                           for line, col in merges])
    return root


def _tidy(problem: Problem) -> Problem:
    """A duplicate key without ruamel's dump of both values (a whole protocol, say)."""
    message = _DUPLICATE_VALUE.sub(r"\1", problem.message)
    if message == problem.message:
        return problem
    return replace(problem, message=message + ": a name may be used only once here")


def _merge_keys(root: object) -> list[tuple[int, int]]:
    """Positions of mappings using YAML merge keys, whose merged values carry no position."""
    found, seen, pending = [], set(), [root]
    while pending:
        value = pending.pop()
        if id(value) in seen or not isinstance(value, (CommentedMap, CommentedSeq)):
            continue
        seen.add(id(value))
        if isinstance(value, CommentedMap):
            if value.merge:
                found.append((value.lc.line + 1, value.lc.col + 1))
            pending += value.values()
        else:
            pending += value
    return sorted(found)


def content_digest(root: Node) -> str:
    """The sha256 of what a rules file says, not of how it is laid out: the rules version
    recorded with every event.

    It hashes the parsed document with every mapping's keys in one order and without
    comments, line breaks, indentation, quoting or positions, so moving lines, reordering
    keys or editing comments keep the version, and any change of a value, a key or a list's
    order makes another.
    """
    text = json.dumps(_canonical(root.value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: object) -> object:
    """Plain JSON data for a YAML value; a mapping's keys become the JSON text of each key,
    so 1, "1" and true stay three keys, and a mapping never looks like a list."""
    if isinstance(value, dict):
        return {json.dumps(_canonical(k), sort_keys=True): _canonical(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, (bool, ScalarBoolean)):
        return value if value is None else bool(value)
    if isinstance(value, int):
        return int(value)  # ruamel keeps how it was written (0x10, 1_000): the number counts
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return {"!timestamp": value.isoformat()}
    return {"!" + type(value).__name__: str(value)}  # a set, a tagged scalar: rare and invalid


def read_catalogue(reader: Reader, root: Node, digest: str) -> tuple[Catalogue | None, dict[str, Node]]:
    """The catalogue parts of a parsed rules file, and the file's top-level sections.

    Problems go to ``reader``, so a caller parsing the rest of the file (the protocols)
    reports everything together. The Catalogue holds the parts that are sound; it is
    None only when the file is not a mapping at all.
    """
    if not isinstance(root.value, CommentedMap):
        reader.error(root, f"expected a mapping, got {_brief(root.value)}: a rules file "
                           f"starts with version: 1, then levels, functions, sites and metrics")
        return None, {}
    top = reader.mapping(root, required=("version", "levels", "functions", "sites", "metrics"),
                         optional=TOP_LEVEL_KEYS)
    assert top is not None
    if "version" in top and top["version"].value != 1:
        reader.error(top["version"], f"expected version: 1, got {_brief(top['version'].value)}")
    timezone = _timezone(reader, top.get("timezone"))
    levels = _levels(reader, top["levels"]) if "levels" in top else ()
    functions = _functions(reader, top["functions"]) if "functions" in top else ()
    sites = _sites(reader, top["sites"]) if "sites" in top else {}
    # A function written but broken is not reported again by each metric naming it.
    written = top["functions"].value if "functions" in top else None
    function_ids = ({str(k) for k in written} if isinstance(written, CommentedMap)
                    else {f.id for f in functions})
    metrics = _metrics(reader, top["metrics"], function_ids) if "metrics" in top else {}
    catalogue = Catalogue(reader.source, digest, timezone, levels, functions, sites, metrics)
    return catalogue, top


def _brief(value: object) -> str:
    """describe(), cut short: a whole file of nonsense should not be echoed back."""
    text = describe(value)
    return text if len(text) <= 60 else text[:50] + "..." + text[-1]


def _timezone(reader: Reader, node: Node | None) -> ZoneInfo:
    if node is None:
        return ZoneInfo("Europe/London")
    name = reader.string(node, "a time zone name such as Europe/London")
    try:
        return ZoneInfo(name or "Europe/London")
    except (ZoneInfoNotFoundError, ValueError):
        reader.error(node, f"unknown time zone {name!r} (expected a name such as Europe/London)")
        return ZoneInfo("Europe/London")


def _levels(reader: Reader, node: Node) -> tuple[Level, ...]:
    levels: list[Level] = []
    problems_before = len(reader.problems)
    for key, child in reader.items(node, "a mapping of level number to {name, colour}"):
        if isinstance(key, bool) or not isinstance(key, int) or key < 0:
            reader.error(node, f"level {key!r} must be a whole number such as 1", at_key=key)
            continue
        fields = reader.mapping(child, required=("name", "colour"))
        if fields is None:
            continue
        name = reader.string(fields["name"], "a level name") if "name" in fields else None
        colour = fields.get("colour")
        if colour is not None and not (isinstance(colour.value, str)
                                       and _COLOUR.match(colour.value)):
            reader.error(colour, f"expected a colour such as \"#c0182a\", got {colour.value!r}")
            colour = None
        if name and colour is not None:
            levels.append(Level(key, name, colour.value))
    numbers = [lv.number for lv in levels]
    if numbers != sorted(numbers):
        reader.error(node, "levels must be listed lowest first")
    if not levels and len(reader.problems) == problems_before:
        reader.error(node, "at least one level is needed")
    return tuple(sorted(levels, key=lambda lv: lv.number))


def _functions(reader: Reader, node: Node) -> tuple[Function, ...]:
    functions = []
    for key, child in reader.items(node, "a mapping of function id to {label}"):
        fields = reader.mapping(child, required=("label",))
        if fields and "label" in fields:
            label = reader.string(fields["label"], "a label")
            if label:
                functions.append(Function(str(key), label))
    return tuple(functions)


MAX_SITES = 1_000  # hospitals, EOCs and PTS zones of one trust: a few dozen in practice
MAX_METRICS = 500


def _sites(reader: Reader, node: Node) -> dict[str, Site]:
    sites: dict[str, Site] = {}
    if isinstance(node.value, dict) and len(node.value) > MAX_SITES:
        reader.error(node, f"{len(node.value):,} listed; the limit is {MAX_SITES:,} "
                           f"(see Limits in docs/rules.md)")
        return sites
    for key, child in reader.items(node, "a mapping of site code to {name, kind}"):
        code = str(key)
        if not _SITE_CODE.match(code) or code == TRUST:
            reader.error(node, f"site code {code!r} must be letters, digits, - or _ "
                               f"(up to 32), and not 'trust'", at_key=key)
            continue
        fields = reader.mapping(child, required=("name", "kind"))
        if fields is None or "name" not in fields or "kind" not in fields:
            continue
        name = reader.string(fields["name"], "a site name")
        kind = reader.choice(fields["kind"], SITE_KINDS)
        if name and kind:
            sites[code] = Site(code, name, kind)
    return sites


def _metrics(reader: Reader, node: Node, function_ids: set[str]) -> dict[str, Metric]:
    metrics: dict[str, Metric] = {}
    if isinstance(node.value, dict) and len(node.value) > MAX_METRICS:
        reader.error(node, f"{len(node.value):,} listed; the limit is {MAX_METRICS:,} "
                           f"(see Limits in docs/rules.md)")
        return metrics
    required = ("function", "label", "unit", "worse", "range", "stale_after")
    for key, child in reader.items(node, "a mapping of metric id to its definition"):
        metric_id = str(key)
        if not _METRIC_ID.match(metric_id):
            reader.error(node, f"metric id {metric_id!r} must be lower-case words joined by "
                               f"dots, such as calls.waiting", at_key=key)
            continue
        f = reader.mapping(child, required=required, optional=("scopes", "key"))
        if f is None or any(k not in f for k in required):
            continue
        function = f["function"].value
        if not isinstance(function, str) or function not in function_ids:
            hint = did_you_mean(function, sorted(function_ids)) if isinstance(function, str) else ""
            reader.error(f["function"], f"unknown function {_brief(function)}{hint}")
        label = reader.string(f["label"], "a label")
        unit = f["unit"].value if isinstance(f["unit"].value, str) else None
        if unit is None:
            reader.error(f["unit"], f"expected a unit such as calls, min or \"%\", "
                                    f"got {f['unit'].value!r}")
        worse = reader.choice(f["worse"], ("higher", "lower"))
        low_high = _range(reader, f["range"])
        stale_after = reader.duration(f["stale_after"])
        if stale_after == 0:
            reader.error(f["stale_after"], "stale_after must be longer than 0s")
        scopes = _scopes(reader, f.get("scopes"))
        key_metric = reader.boolean(f["key"]) if "key" in f else False
        if None in (label, unit, worse, low_high, stale_after, scopes, key_metric) or not stale_after:
            continue
        assert low_high is not None and scopes is not None
        metrics[metric_id] = Metric(metric_id, function, label, unit, worse,  # type: ignore[arg-type]
                                    low_high[0], low_high[1], stale_after, scopes,
                                    bool(key_metric))
    return metrics


def _range(reader: Reader, node: Node) -> tuple[float, float] | None:
    items = reader.sequence(node, "a range [min, max]")
    if items is None:
        return None
    if len(items) != 2:
        reader.error(node, f"expected a range [min, max] with two numbers, got {len(items)}")
        return None
    low, high = reader.number(items[0]), reader.number(items[1])
    if low is None or high is None:
        return None
    if low >= high:
        reader.error(node, f"range minimum {low:g} must be below its maximum {high:g}")
        return None
    return low, high


def _scopes(reader: Reader, node: Node | None) -> tuple[str, ...] | None:
    if node is None:
        return (TRUST,)
    items = reader.sequence(node, "a list such as [trust, hospital]")
    if items is None:
        return None
    scopes = []
    for item in items:
        scope = reader.choice(item, (TRUST, *SITE_KINDS))
        if scope is None:
            return None
        scopes.append(scope)
    if not scopes:
        reader.error(node, "a metric must be reported somewhere: add trust or a site kind")
        return None
    return tuple(scopes)
