"""The protocols page's view model: the rules in force, put into words for people.

Which levels there are; for each function, how its triggers combine, each trigger's
thresholds ("level 3 at ≥ 30 calls, held 5 min; falls after 15 min below"), and the action
cards per level; which version is in force, loaded when and by whom. The words for one
trigger (``trigger_subject``, ``threshold_words``) are the tactical page's too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dashboard.formatting import format_span, uk_time
from surge.catalogue import Catalogue
from surge.declarations import planned_actions
from surge.levels import format_value
from surge.rules.model import Protocol, Rules, Trigger

__all__ = [
    "ActionCard",
    "ProtocolRule",
    "ProtocolsView",
    "TriggerRule",
    "build_protocols",
    "threshold_words",
    "trigger_subject",
]

_KINDS = {"hospital": "hospital", "eoc": "EOC", "pts_zone": "PTS zone"}


@dataclass(frozen=True)
class TriggerRule:
    id: str
    subject: str  # "999 calls waiting", "Ambulances waiting to hand over, at each hospital"
    thresholds: tuple[tuple[int, str, str, str], ...]  # (level, name, colour, "≥ 30 calls")
    timing: str  # "rises after 5 min at or above; falls after 15 min below"
    weight: str | None  # "counts twice in the score"


@dataclass(frozen=True)
class ActionCard:
    level: int
    name: str
    colour: str
    actions: tuple[tuple[str, str, str], ...]  # (id, what to do, owner)


@dataclass(frozen=True)
class ProtocolRule:
    id: str
    label: str
    combine: str  # in words
    stale: str  # what stale data does
    triggers: tuple[TriggerRule, ...]
    cards: tuple[ActionCard, ...]


@dataclass(frozen=True)
class ProtocolsView:
    version: str
    loaded: str  # "loaded 26 Nov 09:12 by worker ... from surge_rules.yaml", or why not known
    levels: tuple[tuple[int, str, str], ...]
    protocols: tuple[ProtocolRule, ...]
    overall: str  # how the trust's level is worked out


def _sites_word(trigger: Trigger, catalogue: Catalogue) -> str:
    kinds = {catalogue.sites[s].kind for s in trigger.sites or () if s in catalogue.sites}
    word = _KINDS.get(next(iter(kinds)), "site") if len(kinds) == 1 else "site"
    return word


def trigger_subject(trigger: Trigger, catalogue: Catalogue) -> str:
    """What a trigger compares, in words."""
    metric = catalogue.metrics.get(trigger.metric)
    label = metric.label if metric else trigger.metric
    if trigger.sites is None:
        return label
    word = _sites_word(trigger, catalogue)
    if trigger.aggregate == "each":
        return f"{label}, at each {word}"
    if trigger.aggregate == "count_over" and trigger.count_over is not None:
        unit = metric.unit if metric else ""
        sign = "≥" if (metric is None or metric.worse == "higher") else "≤"
        return f"{word}s with {label} {sign} {format_value(trigger.count_over, unit)}"
    return f"{trigger.aggregate} of {label} across {word}s"


def threshold_words(trigger: Trigger, catalogue: Catalogue, level: int) -> str:
    """One threshold: "≥ 30 calls", "≤ 80 %", "2 or more"."""
    value = trigger.threshold_of(level)
    if value is None:
        return ""
    if trigger.aggregate == "count_over":
        return f"{format_value(value, '')} or more"
    metric = catalogue.metrics.get(trigger.metric)
    unit = metric.unit if metric else ""
    return f"{'≥' if trigger.higher_is_worse else '≤'} {format_value(value, unit)}"


def _timing(trigger: Trigger) -> str:
    rise = (f"rises once met for {format_span(trigger.for_seconds)}" if trigger.for_seconds
            else "rises as soon as met")
    fall = (f"falls once clear for {format_span(trigger.clear_for_seconds)}"
            if trigger.clear_for_seconds else "falls as soon as clear")
    return f"{rise}; {fall}"


def _level_style(catalogue: Catalogue, number: int) -> tuple[str, str]:
    try:
        level = catalogue.level(number)
    except KeyError:
        return f"level {number}", "#5a5f66"
    return level.name, level.colour


def _protocol(protocol: Protocol, rules: Rules, ids: Mapping[tuple[str, int, str], str]
              ) -> ProtocolRule:
    catalogue = rules.catalogue
    triggers = []
    for t in protocol.triggers:
        thresholds = tuple((n, *_level_style(catalogue, n), threshold_words(t, catalogue, n))
                           for n, _ in t.thresholds)
        weight = (f"counts ×{t.weight:g} in the score"
                  if protocol.combine == "score" and t.weight != 1 else None)
        triggers.append(TriggerRule(t.id, trigger_subject(t, catalogue), thresholds,
                                    _timing(t), weight))
    if protocol.combine == "score" and protocol.score is not None:
        points = ", ".join(f"{p:g} at level {n}" for n, p in sorted(protocol.score.points.items()))
        bands = ", ".join(f"level {n} from {m:g}" for n, m in protocol.score.bands)
        combine = f"Points per trigger ({points}), added up: {bands} points"
    else:
        combine = "The worst trigger sets the level"
    stale = ("Stale data holds a trigger at its level" if protocol.on_stale is None
             else f"Stale data counts as level {protocol.on_stale}")
    cards = []
    for number, actions in sorted(protocol.actions.items()):
        name, colour = _level_style(catalogue, number)
        cards.append(ActionCard(number, name, colour,
                                tuple((ids.get((protocol.id, number, a.do), ""), a.do, a.owner)
                                      for a in actions)))
    return ProtocolRule(protocol.id, protocol.label, combine, stale, tuple(triggers),
                        tuple(cards))


def build_protocols(rules: Rules, published: Mapping[str, str], now: float) -> ProtocolsView:
    """The rules in words; ``published`` is store.rules_in_force() without its text ({}:
    none published, the file is shown)."""
    catalogue = rules.catalogue
    tz = catalogue.timezone
    ids = {(a.protocol, a.level, a.do): a.id for a in planned_actions(rules).values()}
    if published.get("version"):
        try:
            at = uk_time(float(published.get("loaded_at", "")), tz, seconds=False, now=now)
        except ValueError:
            at = "at an unknown time"
        loaded = (f"Version {published['version']} in force: loaded {at} by "
                  f"{published.get('loaded_by') or 'an unknown process'}, from "
                  f"{published.get('source') or 'an unknown file'}")
    else:
        loaded = (f"Version {rules.version}: no rules published by a worker; this is the "
                  f"file {rules.source}, which a worker would load")
    members = ", ".join(rules.protocols[m].label for m in rules.overall.members
                        if m in rules.protocols)
    overall = (f"{rules.overall.label}: the worst of {members}" if rules.overall.combine == "max"
               else f"{rules.overall.label}: a score of {members}")
    return ProtocolsView(rules.version, loaded,
                         tuple((lv.number, lv.name, lv.colour) for lv in catalogue.levels),
                         tuple(_protocol(p, rules, ids) for p in rules.protocols.values()),
                         overall)
