"""The surge protocols as frozen objects: triggers, protocols, the overall level, the rules.

Parsed once from surge_rules.yaml by ``surge.rules.loader``; the engine only reads these.
Names used everywhere a level is shown or tested:

    overall                      the trust's calculated level
    PROTOCOL                     a protocol's trust-wide level, e.g. call_handling
    PROTOCOL@SITE                a protocol's level at one site, e.g. ae@RVJ
    PROTOCOL/TRIGGER             one trigger's trust-wide level, e.g. ae/handover_queue
    PROTOCOL/TRIGGER@SITE        one per-site trigger at one site
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, replace
from typing import Literal

from surge.catalogue import Catalogue, Level

__all__ = [
    "AGGREGATES",
    "OWNERS",
    "Action",
    "Overall",
    "Protocol",
    "Rules",
    "Score",
    "Trigger",
]

AGGREGATES = ("each", "max", "min", "sum", "mean", "count_over")
OWNERS = ("strategic", "tactical", "operational")
Combine = Literal["max", "score"]


@dataclass(frozen=True)
class Trigger:
    """One metric compared with thresholds, sustained for a while before it moves a level."""

    id: str  # unique within its protocol; defaults to the metric id
    metric: str
    sites: tuple[str, ...] | None  # None: the trust-wide series; else these sites' series
    aggregate: str  # each | max | min | sum | mean | count_over (only with sites)
    count_over: float | None  # X of count_over(X)
    thresholds: tuple[tuple[int, float], ...]  # (level, threshold), lowest level first
    higher_is_worse: bool  # from the metric; always True for count_over (a count of sites)
    for_seconds: int = 0
    clear_for_seconds: int = 0
    on_stale: int | None = None  # None: hold; else the level a stale span counts as
    weight: float = 1.0
    line: int = field(default=0, compare=False)  # where it was written, for messages only

    @property
    def per_site(self) -> bool:
        return self.sites is not None and self.aggregate == "each"

    @property
    def compares(self) -> str:
        return ">=" if self.higher_is_worse else "<="

    def candidate(self, value: float, base: int) -> int:
        """The highest level whose threshold the value meets; the base level if none."""
        level = base
        for number, threshold in self.thresholds:
            if (value >= threshold) if self.higher_is_worse else (value <= threshold):
                level = number
        return level

    def threshold_of(self, level: int) -> float | None:
        return dict(self.thresholds).get(level)

    def identity(self, protocol: str) -> str:
        """A hash of everything that decides this trigger's level: state carries over a
        rules reload only to a trigger whose identity is unchanged. It hashes all the sites
        of the trigger: work it out once per trigger, not once per instance."""
        decides = {f.name: getattr(self, f.name) for f in fields(self)
                   if f.name not in ("line", "weight")}
        text = json.dumps([protocol, decides], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Score:
    """OPEL-style scoring: points per level (times weight), summed, then banded."""

    points: dict[int, float]
    bands: tuple[tuple[int, float], ...]  # (level, minimum total), lowest level first

    def level(self, total: float, base: int) -> int:
        level = base
        for number, minimum in self.bands:
            if total >= minimum:
                level = number
        return level


@dataclass(frozen=True)
class Action:
    do: str
    owner: str  # strategic | tactical | operational


@dataclass(frozen=True)
class Protocol:
    id: str
    label: str
    combine: Combine
    triggers: tuple[Trigger, ...]
    on_stale: int | None = None  # None: hold
    score: Score | None = None
    actions: dict[int, tuple[Action, ...]] = field(default_factory=dict)
    function: str | None = None  # the function of the same id, when there is one

    def sites(self) -> tuple[str, ...]:
        """Sites with a per-site level (from triggers with aggregate: each), in order."""
        seen: dict[str, None] = {}
        for trigger in self.triggers:
            if trigger.per_site:
                assert trigger.sites is not None
                seen.update(dict.fromkeys(trigger.sites))
        return tuple(seen)


@dataclass(frozen=True)
class Overall:
    label: str
    combine: Combine
    members: tuple[str, ...]  # protocol ids
    score: Score | None = None

    def same_as(self, other: Overall) -> bool:
        """Whether both give the same level: protocols combine by max or by a sum of points,
        so the order of the members (by default, the protocols' order in the file) is not
        part of what the overall level means."""
        return (replace(self, members=tuple(sorted(self.members)))
                == replace(other, members=tuple(sorted(other.members))))


@dataclass(frozen=True)
class Rules:
    """Everything in surge_rules.yaml."""

    catalogue: Catalogue
    protocols: dict[str, Protocol]
    overall: Overall

    @property
    def version(self) -> str:
        return self.catalogue.version

    @property
    def source(self) -> str:
        return self.catalogue.source

    @property
    def base(self) -> int:
        return self.catalogue.levels[0].number

    def level(self, number: int) -> Level:
        return self.catalogue.level(number)
