"""Reading surge_rules.yaml into Rules: the catalogue, the protocols and the overall level.

The catalogue and the protocols are checked with one Reader, so every problem in the file
is reported together, sorted by line, as ``FILE:LINE:COL: message``. A name that is written
in the catalogue but broken there (a metric with a bad range, say) is not reported again
where a protocol uses it: its own problem is enough.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from surge.catalogue import TRUST, Catalogue, Metric, content_digest, read_catalogue, read_document
from surge.configfile import Node, Reader, describe, did_you_mean
from surge.errors import ConfigError, Problem
from surge.rules.model import OWNERS, Action, Combine, Overall, Protocol, Rules, Score, Trigger

__all__ = ["check_rules", "load_rules", "summary"]

PROTOCOL_KEYS = ("label", "combine", "score", "on_stale", "triggers", "actions")
TRIGGER_KEYS = ("id", "metric", "over", "aggregate", "levels", "for", "clear_for", "on_stale",
                "weight")
OVERALL_KEYS = ("label", "combine", "score", "from")
COMBINES: tuple[Combine, ...] = ("max", "score")
SIMPLE_AGGREGATES = ("each", "max", "min", "sum", "mean")
OVERALL_LABEL = "Trust surge level"

_PROTOCOL_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_TRIGGER_ID = re.compile(r"^[a-z][a-z0-9_.-]*$")
_COUNT_OVER = re.compile(r"^count_over\s*\(\s*([^()]*?)\s*\)$")


def load_rules(path: str | Path) -> Rules:
    """The rules in a file; ConfigError listing every problem, sorted by line."""
    rules, problems = check_rules(path)
    if problems or rules is None:
        raise ConfigError(problems)
    return rules


def check_rules(path: str | Path) -> tuple[Rules | None, list[Problem]]:
    """The rules and no problems, or None and every problem; never raises for a bad file."""
    try:
        root = read_document(path)
    except ConfigError as err:
        return None, err.problems
    reader = Reader(path)
    rules = _read_rules(reader, root, content_digest(root))
    problems = sorted(reader.problems, key=lambda p: (p.line or 0, p.col or 0))
    return (None if problems else rules), problems


def summary(rules: Rules) -> str:
    """One line for a file that checked clean."""
    c = rules.catalogue
    triggers = sum(len(p.triggers) for p in rules.protocols.values())
    protocols = (f"{_count(len(rules.protocols), 'protocol')} ({_count(triggers, 'trigger')})"
                 if rules.protocols else "no protocols")
    members = rules.overall.members
    overall = (f"overall from {_count(len(members), 'protocol')}" if members
               else f"overall has no protocols, so it stays at level {rules.base}")
    return (f"{c.source}: OK — {_count(len(c.levels), 'level')}, "
            f"{_count(len(c.metrics), 'metric')}, {_count(len(c.sites), 'site')}, {protocols}, "
            f"{overall}; version {rules.version}")


# --- what the catalogue defines -------------------------------------------------------------


@dataclass(frozen=True)
class _Known:
    """The catalogue, and every name written in it, sound or not (None: section unreadable)."""

    catalogue: Catalogue
    level_keys: frozenset[Any] | None
    metric_keys: frozenset[str] | None
    site_keys: frozenset[str] | None

    @property
    def numbers(self) -> tuple[int, ...]:
        return tuple(lv.number for lv in self.catalogue.levels)

    @property
    def base(self) -> int | None:
        written = [k for k in self.level_keys or () if _is_int(k)]
        return min(written) if written else None

    def listed(self) -> str:
        return ", ".join(str(n) for n in self.numbers)

    def level(self, reader: Reader, node: Node, value: Any, at_key: Any = None,
              *, above_base: str = "") -> int | None:
        """A level number written as ``value`` (a key of ``node`` when at_key is given).

        With above_base, the base level is refused and that text says what it needs no of.
        """
        if _is_int(value) and value in self.numbers:
            if above_base and value == self.base:
                reader.error(node, f"level {value} is the base level: it needs no {above_base}",
                             at_key=at_key)
                return None
            return int(value)
        if (self.level_keys is None or not self.numbers
                or (_is_int(value) and value in self.level_keys)):
            return None  # the levels section, or this level, has a problem of its own
        if _is_int(value):
            reader.error(node, f"there is no level {value} (the levels are {self.listed()})",
                         at_key=at_key)
        else:
            reader.error(node, f"expected a level number ({self.listed()}), got {_brief(value)}",
                         at_key=at_key)
        return None

    def metric(self, reader: Reader, node: Node) -> Metric | None:
        if not isinstance(node.value, str):
            reader.error(node, f"expected a metric id such as calls.waiting, got {_brief(node.value)}")
            return None
        metric = self.catalogue.metrics.get(node.value)
        if metric is None and self.metric_keys is not None and node.value not in self.metric_keys:
            hint = did_you_mean(node.value, sorted(self.metric_keys))
            reader.error(node, f"unknown metric {node.value!r}{hint}")
        return metric


def _declared(node: Node | None, as_text: bool = True) -> frozenset[Any] | None:
    if node is None or not isinstance(node.value, CommentedMap):
        return None
    return frozenset(str(k) if as_text else k for k in node.value)


def _read_rules(reader: Reader, root: Node, digest: str) -> Rules | None:
    catalogue, top = read_catalogue(reader, root, digest)
    if catalogue is None:
        return None
    known = _Known(catalogue, _declared(top.get("levels"), as_text=False),
                   _declared(top.get("metrics")), _declared(top.get("sites")))
    protocols = _protocols(reader, known, top.get("protocols"))
    _check_size(reader, top.get("protocols"), protocols)
    # Protocol ids as written, sound or not; None when the section itself is unreadable.
    written = _declared(top["protocols"]) if "protocols" in top else frozenset()
    overall = _overall(reader, known, top.get("overall"), protocols, written)
    if overall is None:
        return None
    return Rules(catalogue, protocols, overall)


MAX_TRIGGERS = 1_000  # triggers written in the file, over all protocols
MAX_INSTANCES = 50_000  # triggers as evaluated: a per-site trigger counts once per site


def _check_size(reader: Reader, node: Node | None, protocols: dict[str, Protocol]) -> None:
    """Limits that keep evaluation fast (a tick well under a second; docs/rules.md)."""
    if node is None:
        return
    triggers = [t for p in protocols.values() for t in p.triggers]
    instances = sum(len(t.sites) if t.per_site and t.sites else 1 for t in triggers)
    if len(triggers) > MAX_TRIGGERS:
        reader.error(node, f"{len(triggers):,} triggers; the limit is {MAX_TRIGGERS:,} "
                           f"(see Limits in docs/rules.md)")
    elif instances > MAX_INSTANCES:
        reader.error(node, f"the triggers evaluate {instances:,} times over their sites; the "
                           f"limit is {MAX_INSTANCES:,} (see Limits in docs/rules.md)")


# --- protocols -----------------------------------------------------------------------------


def _protocols(reader: Reader, known: _Known, node: Node | None) -> dict[str, Protocol]:
    protocols: dict[str, Protocol] = {}
    if node is None:
        return protocols
    for key, child in reader.items(node, "a mapping of protocol id to its definition"):
        if not (isinstance(key, str) and _PROTOCOL_ID.match(key)) or key == "overall":
            reader.error(node, f"protocol id {_brief(key)} must be lower-case letters, digits "
                               f"and _, such as call_handling (and not 'overall')", at_key=key)
            continue
        protocol = _protocol(reader, known, key, child)
        if protocol is not None:
            protocols[key] = protocol
    return protocols


def _protocol(reader: Reader, known: _Known, pid: str, node: Node) -> Protocol | None:
    f = reader.mapping(node, required=("label", "triggers"), optional=PROTOCOL_KEYS,
                       what="a protocol with label, triggers and optionally combine, score, "
                            "on_stale, actions")
    if f is None:
        return None
    label = reader.string(f["label"], "a label") if "label" in f else None
    combine = _combine(reader, f.get("combine"))
    score = _score_if(reader, known, node, f, combine)
    on_stale = _on_stale(reader, known, f["on_stale"]) if "on_stale" in f else None
    triggers = _triggers(reader, known, pid, node, f.get("triggers"), combine, on_stale)
    actions = _actions(reader, known, f["actions"]) if "actions" in f else {}
    if label is None or combine is None or triggers is None:
        return None
    function = pid if any(fn.id == pid for fn in known.catalogue.functions) else None
    return Protocol(pid, label, combine, triggers, on_stale, score, actions, function)


def _combine(reader: Reader, node: Node | None) -> Combine | None:
    if node is None:
        return "max"
    choice = reader.choice(node, COMBINES)
    return "score" if choice == "score" else "max" if choice == "max" else None


def _score_if(reader: Reader, known: _Known, parent: Node, f: dict[str, Node],
              combine: Combine | None) -> Score | None:
    """The score section, required exactly when combine is score."""
    if combine == "score" and "score" not in f:
        reader.error(parent, "combine: score needs a score section: "
                             "score: {points: {1: 0, 2: 1, 3: 3, 4: 5}, bands: {2: 3, 3: 8, 4: 14}}",
                     at_key="combine")
        return None
    if "score" not in f:
        return None
    if combine == "max":
        reader.error(parent, "score only applies with combine: score", at_key="score")
        return None
    return _score(reader, known, f["score"])


def _score(reader: Reader, known: _Known, node: Node) -> Score | None:
    f = reader.mapping(node, required=("points", "bands"), optional=(),
                       what="points and bands, such as {points: {1: 0, 2: 1, 3: 3, 4: 5}, "
                            "bands: {2: 3, 3: 8, 4: 14}}")
    if f is None or "points" not in f or "bands" not in f:
        return None
    before = len(reader.problems)
    points: dict[int, float] = {}
    for key, child in reader.items(f["points"], "a mapping of level to points, "
                                                "such as {1: 0, 2: 1, 3: 3, 4: 5}"):
        level = known.level(reader, f["points"], key, at_key=key)
        value = reader.number(child, "a number of points")
        if level is not None and value is not None:
            points[level] = value
    if len(reader.problems) == before and known.level_keys is not None:
        missing = [str(n) for n in known.numbers if n not in points]
        if missing:
            which = (f"level {missing[0]} has" if len(missing) == 1
                     else f"levels {', '.join(missing)} have")
            reader.error(f["points"], f"points must give a number for every level "
                                      f"({known.listed()}): {which} none")
    entries = []
    for key, child in reader.items(f["bands"], "a mapping of level to the lowest total for it, "
                                               "such as {2: 3, 3: 8, 4: 14}"):
        level = known.level(reader, f["bands"], key, at_key=key, above_base="band")
        value = reader.number(child, "a total")
        if level is not None and value is not None:
            entries.append((level, value, child))
    if isinstance(f["bands"].value, CommentedMap) and not f["bands"].value:
        reader.error(f["bands"], "give a band for at least one level above the base level, "
                                 "such as {2: 3, 3: 8, 4: 14}")
    _check_order(reader, entries, "bands must rise with the level", "starts at", rising=True)
    return Score(points, tuple((lv, v) for lv, v, _ in sorted(entries, key=lambda e: e[0])))


def _on_stale(reader: Reader, known: _Known, node: Node) -> int | None:
    if node.value == "hold":
        return None
    if _is_int(node.value):
        return known.level(reader, node, node.value)
    hint = did_you_mean(node.value, ("hold",)) if isinstance(node.value, str) else ""
    reader.error(node, f"expected hold or a level number ({known.listed()}), "
                       f"got {_brief(node.value)}{hint}")
    return None


def _actions(reader: Reader, known: _Known, node: Node) -> dict[int, tuple[Action, ...]]:
    actions: dict[int, tuple[Action, ...]] = {}
    for key, child in reader.items(node, "a mapping of level to a list of actions"):
        level = known.level(reader, node, key, at_key=key)
        items = reader.sequence(child, "a list of actions such as "
                                       "[{do: Open the surge desk, owner: tactical}]")
        listed = []
        for item in items or ():
            split = _split_text(reader, item, ("do", "owner"))
            f = reader.mapping(item, required=("do", "owner"), optional=split,
                               what="an action such as {do: Open the surge desk, owner: tactical}")
            if f is None or "do" not in f or "owner" not in f:
                continue
            do = reader.string(f["do"], "what is to be done")
            owner = reader.choice(f["owner"], OWNERS)
            if do and owner:
                listed.append(Action(do, owner))
        if level is not None:
            actions[level] = tuple(listed)
    return dict(sorted(actions.items()))


def _split_text(reader: Reader, node: Node, keys: tuple[str, ...]) -> tuple[str, ...]:
    """Keys made by a comma in unquoted text inside {...}, each reported with the cure.

    In {do: Prioritise renal, oncology journeys, owner: operational} the comma ends the
    text, and "oncology journeys" becomes a key of its own with no value.
    """
    value = node.value
    if not isinstance(value, CommentedMap) or not value.fa.flow_style():
        return ()
    split: list[str] = []
    before: tuple[Any, Any] = (None, None)
    for key, child in value.items():
        if child is None and str(key) not in keys:
            split.append(str(key))
            example = (f"{before[0]}: \"{before[1]}, {key}\"" if isinstance(before[1], str)
                       else f"do: \"..., {key}\"")
            reader.error(node, f"{str(key)!r} is not a key: inside {{...}} a comma ends the "
                               f"text before it, so put text with a comma in quotes, such as "
                               f"{example}", at_key=key)
        before = (key, child)
    return tuple(split)


# --- triggers ------------------------------------------------------------------------------


def _triggers(reader: Reader, known: _Known, pid: str, parent: Node, node: Node | None,
              combine: Combine | None, on_stale: int | None) -> tuple[Trigger, ...] | None:
    if node is None:
        return None  # reported as a missing key
    if node.value is None or (isinstance(node.value, CommentedSeq) and not node.value):
        reader.error(parent, f"protocol {pid!r} has no triggers: add at least one",
                     at_key="triggers")
        return None
    items = reader.sequence(node, "a list of triggers, each starting with - metric:")
    if items is None:
        return None
    seen: dict[str, int] = {}
    triggers = [_trigger(reader, known, item, combine, on_stale, seen) for item in items]
    return tuple(t for t in triggers if t is not None)


def _trigger(reader: Reader, known: _Known, node: Node, combine: Combine | None,
             protocol_on_stale: int | None, seen: dict[str, int]) -> Trigger | None:
    f = reader.mapping(node, required=("metric", "levels"), optional=TRIGGER_KEYS,
                       what="a trigger such as {metric: calls.waiting, levels: {2: 10, 3: 25}}")
    if f is None:
        return None
    metric = known.metric(reader, f["metric"]) if "metric" in f else None
    trigger_id = _trigger_id(reader, node, f, seen)
    over = _over(reader, known, f.get("over"), f.get("metric"), metric)
    aggregate, count_over = _aggregate(reader, node, f.get("aggregate"), over, metric)
    thresholds = (_thresholds(reader, known, f["levels"], metric, over, aggregate, count_over)
                  if "levels" in f else None)
    for_seconds = reader.duration(f["for"]) if "for" in f else 0
    clear_for_seconds = reader.duration(f["clear_for"]) if "clear_for" in f else 0
    on_stale = _on_stale(reader, known, f["on_stale"]) if "on_stale" in f else protocol_on_stale
    weight = _weight(reader, node, f["weight"], combine) if "weight" in f else 1.0
    if (metric is None or trigger_id is None or over is _BAD or aggregate is None
            or not thresholds or for_seconds is None or clear_for_seconds is None
            or weight is None):
        return None
    sites = over if isinstance(over, tuple) else None
    higher_is_worse = count_over is not None or metric.worse == "higher"
    return Trigger(trigger_id, metric.id, sites, aggregate, count_over, thresholds,
                   higher_is_worse, for_seconds, clear_for_seconds, on_stale, weight, node.line)


def _trigger_id(reader: Reader, node: Node, f: dict[str, Node], seen: dict[str, int]) -> str | None:
    if "id" in f:
        where = f["id"]
        value = where.value
        if not (isinstance(value, str) and _TRIGGER_ID.match(value)):
            reader.error(where, f"a trigger id must be lower-case letters, digits, _, . or -, "
                                f"such as hospitals_over_60, got {_brief(value)}")
            return None
        if value in seen:
            reader.error(where, f"duplicate trigger id {value!r}: the trigger on line "
                                f"{seen[value]} already has it")
            return None
    else:
        where = node
        value = f["metric"].value if "metric" in f else None
        if not isinstance(value, str):
            return None
        if value in seen:
            reader.error(where, f"duplicate trigger id {value!r}: give each trigger on this "
                                f"metric its own id")
            return None
    seen[value] = node.line
    return str(value)


class _Bad:
    """An `over` that could not be read."""


_BAD = _Bad()
Over = tuple[str, ...] | None | _Bad  # None: the trust as a whole


def _over(reader: Reader, known: _Known, node: Node | None, metric_node: Node | None,
          metric: Metric | None) -> Over:
    if node is None or node.value == TRUST:
        if metric is not None and TRUST not in metric.scopes:
            where = node or metric_node
            assert where is not None
            reader.error(where, f"{metric.id} is not reported for the trust as a whole (only "
                                f"for: {', '.join(metric.scopes)}): use over: sites")
            return _BAD
        return None
    if node.value == "sites":
        if metric is None:
            return _BAD
        sites = tuple(s.code for s in known.catalogue.sites.values() if s.kind in metric.scopes)
        if not sites and known.site_keys is not None:
            reader.error(node, f"over: sites, but no site reports {metric.id} (it is reported "
                               f"for: {', '.join(metric.scopes)})")
            return _BAD
        return sites
    if isinstance(node.value, CommentedSeq):
        return _site_list(reader, known, node, metric)
    hint = did_you_mean(node.value, (TRUST, "sites")) if isinstance(node.value, str) else ""
    reader.error(node, f"expected trust, sites or a list of site codes such as [RVJ, RA7], "
                       f"got {_brief(node.value)}{hint}")
    return _BAD


def _site_list(reader: Reader, known: _Known, node: Node, metric: Metric | None) -> Over:
    codes: list[str] = []
    before = len(reader.problems)
    for item in reader.sequence(node) or ():
        code = item.value
        site = known.catalogue.sites.get(code) if isinstance(code, str) else None
        if site is None:
            if known.site_keys is not None and str(code) not in known.site_keys:
                hint = did_you_mean(code, sorted(known.site_keys))
                reader.error(item, f"unknown site {_brief(code)}{hint}")
            continue
        if site.code in codes:
            reader.error(item, f"site {site.code} is listed twice")
        elif metric is not None and site.kind not in metric.scopes:
            reader.error(item, f"site {site.code} ({site.name}) does not report {metric.id}: "
                               f"it is a {site.kind}, and {metric.id} is reported for: "
                               f"{', '.join(metric.scopes)}")
        codes.append(site.code)
    if not node.value:
        reader.error(node, "list at least one site, or use over: sites for every site")
    if len(reader.problems) > before or not codes:
        return _BAD
    return tuple(codes)


def _aggregate(reader: Reader, trigger: Node, node: Node | None, over: Over,
               metric: Metric | None) -> tuple[str | None, float | None]:
    """(aggregate, X of count_over(X)); aggregate None when it could not be read."""
    if node is None:
        return "each", None
    if over is None:
        reader.error(trigger, "aggregate only applies with over: sites or a list of sites",
                     at_key="aggregate")
        return None, None
    value = node.value
    if isinstance(value, str) and value in SIMPLE_AGGREGATES:
        return value, None
    if isinstance(value, str) and value.startswith("count_over"):
        match = _COUNT_OVER.match(value)
        x = _float(match.group(1)) if match else None
        if x is None:
            reader.error(node, f"expected count_over(X) with a number X, such as count_over(60), "
                               f"got {_brief(value)}")
            return None, None
        if metric is not None and not metric.low <= x <= metric.high:
            reader.error(node, f"count_over({_num(x)}) can never be met: {metric.id} ranges from "
                               f"{_num(metric.low)} to {_num(metric.high)} {metric.unit}")
            return None, None
        return "count_over", x
    options = (*SIMPLE_AGGREGATES, "count_over(X)")
    hint = did_you_mean(value, options) if isinstance(value, str) else ""
    reader.error(node, f"expected one of {' | '.join(options)}, got {_brief(value)}{hint}")
    return None, None


def _thresholds(reader: Reader, known: _Known, node: Node, metric: Metric | None, over: Over,
                aggregate: str | None, count_over: float | None
                ) -> tuple[tuple[int, float], ...] | None:
    entries = []
    sites = over if isinstance(over, tuple) else ()
    for key, child in reader.items(node, "a mapping of level to threshold, "
                                         "such as {2: 10, 3: 25, 4: 50}"):
        level = known.level(reader, node, key, at_key=key, above_base="threshold")
        value = reader.number(child, "a threshold number")
        if level is None or value is None:
            continue
        if (metric is not None and aggregate is not None and not isinstance(over, _Bad)
                and not _threshold_possible(reader, child, level, value, metric, aggregate,
                                            count_over, len(sites))):
            continue
        entries.append((level, value, child))
    if isinstance(node.value, CommentedMap) and not node.value:
        reader.error(node, "give a threshold for at least one level above the base level, "
                           "such as {2: 10, 3: 25, 4: 50}")
        return None
    if count_over is not None:
        _check_order(reader, entries, f"counts of sites for count_over({_num(count_over)}) must "
                                      f"rise with the level", "has", rising=True)
    elif metric is not None and metric.worse == "higher":
        _check_order(reader, entries, f"thresholds of {metric.id} must rise with the level "
                                      f"(worse: higher)", "has", rising=True)
    elif metric is not None:
        _check_order(reader, entries, f"thresholds of {metric.id} must fall as the level rises "
                                      f"(worse: lower)", "has", rising=False)
    return tuple((lv, v) for lv, v, _ in sorted(entries, key=lambda e: e[0]))


def _threshold_possible(reader: Reader, node: Node, level: int, value: float, metric: Metric,
                        aggregate: str, count_over: float | None, site_count: int) -> bool:
    if count_over is not None:
        if value != int(value) or not 1 <= value <= site_count:
            reader.error(node, f"level {level} counts sites: expected a whole number from 1 to "
                               f"{site_count} (the sites it counts), got {_num(value)}")
            return False
        return True
    low, high = metric.low, metric.high
    if aggregate == "sum":
        low, high = low * site_count, high * site_count
    if low <= value <= high:
        return True
    higher = metric.worse == "higher"
    fate = "can never be met" if (value > high) == higher else "is always met"
    reader.error(node, f"level {level}'s threshold {_num(value)} {fate}: "
                       f"{'the sum of ' if aggregate == 'sum' else ''}{metric.id} ranges from "
                       f"{_num(low)} to {_num(high)} {metric.unit}")
    return False


def _weight(reader: Reader, trigger: Node, node: Node, combine: Combine | None) -> float | None:
    if combine == "max":
        reader.error(trigger, "weight only applies with combine: score (this protocol uses "
                              "combine: max, where the worst trigger wins)", at_key="weight")
        return None
    weight = reader.number(node, "a weight such as 2")
    if weight is not None and weight <= 0:
        reader.error(node, f"a weight must be more than 0, got {_num(weight)}")
        return None
    return weight


# --- overall -------------------------------------------------------------------------------


def _overall(reader: Reader, known: _Known, node: Node | None, protocols: dict[str, Protocol],
             written: frozenset[str] | None) -> Overall | None:
    if node is None:
        return Overall(OVERALL_LABEL, "max", tuple(protocols))
    f = reader.mapping(node, optional=OVERALL_KEYS,
                       what="a mapping with label, combine, score and from")
    if f is None:
        return None
    label = reader.string(f["label"], "a label") if "label" in f else OVERALL_LABEL
    combine = _combine(reader, f.get("combine"))
    score = _score_if(reader, known, node, f, combine)
    members = _members(reader, f["from"], written) if "from" in f else tuple(protocols)
    if label is None or combine is None or members is None:
        return None
    return Overall(label, combine, members, score)


def _members(reader: Reader, node: Node, written: frozenset[str] | None) -> tuple[str, ...] | None:
    items = reader.sequence(node, "a list of protocol ids such as [call_handling, ae]")
    if items is None:
        return None
    if not items:
        reader.error(node, "list at least one protocol, or leave out from to use them all")
        return None
    members: list[str] = []
    for item in items:
        name = item.value
        if not isinstance(name, str) or (written is not None and name not in written):
            hint = did_you_mean(name, sorted(written or ())) if isinstance(name, str) else ""
            reader.error(item, f"unknown protocol {_brief(name)}{hint}")
        elif name in members:
            reader.error(item, f"protocol {name!r} is listed twice")
        else:
            members.append(name)
    return tuple(members)


# --- small helpers -------------------------------------------------------------------------


def _check_order(reader: Reader, entries: Iterable[tuple[int, float, Node]], rule: str,
                 verb: str, *, rising: bool) -> None:
    """Report each value that does not strictly rise (or fall) from the level below it."""
    ordered = sorted(entries, key=lambda e: e[0])
    for (prev_level, prev, _), (level, value, where) in pairwise(ordered):
        if (value <= prev) if rising else (value >= prev):
            than = "more" if rising else "less"
            reader.error(where, f"{rule}: level {level} {verb} {_num(value)}, not {than} than "
                                f"level {prev_level}'s {_num(prev)}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _num(value: float) -> str:
    """A number as a person writes it: 25, not 25.0."""
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else f"{value:g}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _brief(value: object) -> str:
    text = describe(value)
    return text if len(text) <= 60 else text[:50] + "..." + text[-1]
