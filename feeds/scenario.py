"""Scenarios for the simulated trust: timed surges, handover crises, major incidents, outages,
and what each should do to the levels (``expect:``), checked by backtesting it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ruamel.yaml.comments import CommentedMap

from surge.catalogue import Catalogue
from surge.configfile import Node, Reader, describe, did_you_mean, load_yaml
from surge.durations import format_duration
from surge.errors import ConfigError, Problem

if TYPE_CHECKING:
    from surge.rules.model import Rules

__all__ = [
    "EVENT_KINDS",
    "SCENARIO_DIR",
    "Expectations",
    "LevelExpectation",
    "LevelHistory",
    "Scenario",
    "ScenarioEvent",
    "available_scenarios",
    "check_scenario",
    "load_scenario",
]

SCENARIO_DIR = Path(__file__).with_name("scenarios")
EVENT_KINDS = ("surge", "handover_crisis", "major_incident", "feed_outage")
MAX_MAGNITUDE = 5.0  # beyond this the simulated values only pin at the plausible-range limits

_TOP_KEYS = ("name", "description", "start_time", "events", "expect")
_EXPECT_KEYS = ("within", "levels")
_LEVEL_KEYS = ("peak", "peak_at_most", "back_to", "stale")
_COMMON_REQUIRED = ("kind", "at", "for")
_COMMON_OPTIONAL = ("label",)
# Per kind: (required keys, optional keys) on top of the common ones.
_KIND_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "surge": (("magnitude",), ("functions", "ramp")),
    "handover_crisis": (("site",), ("magnitude", "ramp")),
    "major_incident": ((), ("magnitude",)),
    "feed_outage": (("feed",), ()),
}
_ALL_KIND_KEYS = sorted({k for req, opt in _KIND_KEYS.values() for k in (*req, *opt)})
# Default ramp in and out, in seconds; an outage is the one deliberate step.
_DEFAULT_RAMP = {"surge": 20 * 60, "handover_crisis": 60 * 60, "major_incident": 3 * 60,
                 "feed_outage": 0}
_TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass(frozen=True)
class ScenarioEvent:
    """One timed event; ``at`` and ``duration`` (the ``for`` key) are seconds of Surge time."""

    kind: str
    at: int  # from the scenario start
    duration: int
    magnitude: float = 1.0
    ramp: int = 0  # seconds to build up and to die away
    functions: tuple[str, ...] = ()  # surge: the functions that feel it; empty means all
    site: str | None = None  # handover_crisis: a hospital code
    feed: str | None = None  # feed_outage: a feed name such as sim-clinical_triage
    label: str = ""
    # (key, path such as events[2].site, line, col) of each field, so that checks against a
    # catalogue made after loading can still point into the file.
    positions: tuple[tuple[str, str, int, int], ...] = field(default=(), compare=False,
                                                             repr=False)

    @property
    def end(self) -> int:
        return self.at + self.duration

    def affects(self, function: str) -> bool:
        return not self.functions or function in self.functions

    def active(self, elapsed: float) -> bool:
        """Whether the event is under way ``elapsed`` seconds after the scenario start."""
        return self.at <= elapsed < self.end

    def envelope(self, elapsed: np.ndarray) -> np.ndarray:
        """Strength 0..1 at seconds since the scenario start, ramped in and out smoothly."""
        e = elapsed - self.at
        if self.kind == "major_incident":
            # Calls flood in within minutes, then ease off as the scene is managed.
            rise = _smoothstep(e / max(self.ramp, 1))
            decay = np.exp(-np.maximum(e - self.ramp, 0.0) / max(self.duration / 3.0, 60.0))
            fade = _smoothstep((self.duration - e) / max(self.duration * 0.15, 1.0))
            return rise * (0.2 + 0.8 * decay) * fade
        ramp = max(self.ramp, 1)
        return np.minimum(_smoothstep(e / ramp), _smoothstep((self.duration - e) / ramp))

    def fading(self, elapsed: np.ndarray) -> np.ndarray:
        """1 from the start until the last ramp, then dying away to 0 at the end; 0 before."""
        e = elapsed - self.at
        return np.where(e < 0, 0.0, _smoothstep((self.duration - e) / max(self.ramp, 1)))


@dataclass(frozen=True)
class LevelHistory:
    """One level's course over a window: its level and stale flag at the start, then each
    change as (seconds after the start, level, stale)."""

    level: int
    stale: bool = False
    changes: tuple[tuple[float, int, bool], ...] = ()

    def peak(self) -> tuple[int, float]:
        """(the highest level, seconds after the start it was first reached)."""
        best, when = self.level, 0.0
        for at, level, _ in self.changes:
            if level > best:
                best, when = level, at
        return best, when

    def fell_to(self, level: int) -> float | None:
        """When, after its peak, the level was first at ``level`` or lower; None if never."""
        best, when = self.peak()
        if best <= level:
            return when
        return next((at for at, lv, _ in self.changes if at > when and lv <= level), None)

    def first_stale(self) -> float | None:
        if self.stale:
            return 0.0
        return next((at for at, _, stale in self.changes if stale), None)


@dataclass(frozen=True)
class LevelExpectation:
    """What one level (overall, a protocol id, or PROTOCOL@SITE) should do within the window."""

    name: str
    peak: int | None = None  # the highest level reached is at least this
    peak_at_most: int | None = None  # ... and at most this
    back_to: int | None = None  # after its highest level it falls to this level or lower
    stale: bool | None = None  # flagged stale at some point (true) or never (false)
    # (source, line, col) of the entry, so that an unmet expectation points into the file,
    # and (key, path, line, col) of each field, for checks against the catalogue.
    where: tuple[str, int, int] = field(default=("", 0, 0), compare=False, repr=False)
    positions: tuple[tuple[str, str, int, int], ...] = field(default=(), compare=False,
                                                             repr=False)

    def unmet(self, history: LevelHistory) -> list[str]:
        """Why the history does not meet this expectation; empty when it does."""
        out = []
        best, when = history.peak()
        reached = f"level {best}" + (f" (at +{format_duration(when)})" if when else "")
        if self.peak is not None and best < self.peak:
            out.append(f"{self.name} reached {reached}, expected {self.peak} or higher")
        if self.peak_at_most is not None and best > self.peak_at_most:
            out.append(f"{self.name} reached {reached}, expected at most {self.peak_at_most}")
        if self.back_to is not None and history.fell_to(self.back_to) is None:
            out.append(f"{self.name} reached {reached} and did not fall back to "
                       f"{self.back_to} or lower")
        stale_at = history.first_stale()
        if self.stale is True and stale_at is None:
            out.append(f"{self.name} was never flagged stale")
        if self.stale is False and stale_at is not None:
            out.append(f"{self.name} was flagged stale at +{format_duration(stale_at)}")
        return out


@dataclass(frozen=True)
class Expectations:
    """What a scenario should do to the levels ``within`` seconds of its start."""

    within: int
    levels: tuple[LevelExpectation, ...] = ()

    def unmet(self, histories: Mapping[str, LevelHistory]) -> list[Problem]:
        """Every expectation the levels' histories over the window do not meet, located."""
        problems = []
        for expected in self.levels:
            source, line, col = expected.where
            history = histories.get(expected.name)
            reasons = [f"no level named {expected.name!r}"] if history is None \
                else expected.unmet(history)
            problems += [Problem(source, f"expect.levels.{expected.name}: {reason} within "
                                         f"{format_duration(self.within)}", line or None, col)
                         for reason in reasons]
        return problems


@dataclass(frozen=True)
class Scenario:
    """A named script of events played against the simulated trust's normal pattern."""

    name: str
    description: str
    events: tuple[ScenarioEvent, ...] = ()
    start_time: dt.time | None = None  # local time of day an exercise clock starts at
    source: str = ""
    expect: Expectations | None = None

    def of_kind(self, kind: str) -> tuple[ScenarioEvent, ...]:
        return tuple(e for e in self.events if e.kind == kind)

    def outage(self, feed: str, elapsed: float) -> ScenarioEvent | None:
        """The feed outage under way for ``feed`` at that point, if any."""
        for event in self.of_kind("feed_outage"):
            if event.feed == feed and event.active(elapsed):
                return event
        return None


def available_scenarios() -> list[str]:
    """Names of the scenarios shipped in feeds/scenarios."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str | Path, catalogue: Catalogue | None = None, *,
                  rules: Rules | None = None) -> Scenario:
    """A shipped scenario by name, or a scenario file; ConfigError listing every problem.

    With a catalogue, sites, functions and feeds named by events, and levels named by
    ``expect``, are checked against it too; with rules, the level names in ``expect`` also.
    """
    if catalogue is None and rules is not None:
        catalogue = rules.catalogue
    path = _resolve(name_or_path)
    reader = Reader(path)
    root = load_yaml(path)
    top = reader.mapping(root, required=("description", "events"), optional=_TOP_KEYS,
                         what="a scenario (a mapping with description and events)")
    if top is None:
        reader.raise_if_any()
    assert top is not None
    name = reader.string(top["name"], "a scenario name") if "name" in top else path.stem
    description = ""
    if "description" in top:
        description = (reader.string(top["description"], "a description") or "").strip()
    start_time = _start_time(reader, top["start_time"]) if "start_time" in top else None
    events: list[ScenarioEvent] = []
    if "events" in top and top["events"].value is not None:
        for item in reader.sequence(top["events"], "a list of events") or []:
            event = _event(reader, item)
            if event is not None:
                events.append(event)
    expect = _expectations(reader, top["expect"]) if "expect" in top else None
    scenario = Scenario(name or path.stem, " ".join(description.split()),
                        tuple(sorted(events, key=lambda e: e.at)), start_time, str(path), expect)
    problems = list(reader.problems)
    if catalogue is not None:
        problems += _reference_problems(scenario, catalogue)
    if rules is not None:
        problems += _level_name_problems(scenario, rules)
    if problems:
        raise ConfigError(sorted(problems, key=lambda p: (p.line or 0, p.col or 0)))
    return scenario


def check_scenario(scenario: Scenario, catalogue: Catalogue, rules: Rules | None = None) -> None:
    """ConfigError if the scenario names sites, functions, feeds, level numbers (or, with
    rules, level names) that the catalogue lacks."""
    problems = _reference_problems(scenario, catalogue)
    if rules is not None:
        problems += _level_name_problems(scenario, rules)
    if problems:
        raise ConfigError(problems)


def _resolve(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or len(path.parts) > 1 or path.is_file():
        return path
    candidate = SCENARIO_DIR / f"{path.name}.yaml"
    if candidate.is_file():
        return candidate
    known = available_scenarios()
    raise ConfigError.single(str(name_or_path), f"unknown scenario {str(name_or_path)!r}"
                             f"{did_you_mean(name_or_path, known)}; available: "
                             f"{', '.join(known)} (or give the path of a .yaml file)")


def _start_time(reader: Reader, node: Node) -> dt.time | None:
    value = node.value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 readers turn an unquoted 17:30 into a number of minutes.
        reader.error(node, "write the time in quotes, such as \"17:30\"")
        return None
    match = _TIME_OF_DAY.match(value) if isinstance(value, str) else None
    if match is None:
        reader.error(node, f"expected a local time of day such as \"17:30\", got {describe(value)}")
        return None
    return dt.time(int(match.group(1)), int(match.group(2)))


def _event(reader: Reader, node: Node) -> ScenarioEvent | None:
    if not isinstance(node.value, CommentedMap):
        reader.error(node, f"expected an event (a mapping with kind, at, for), "
                           f"got {describe(node.value)}")
        return None
    kind = reader.choice(node.child("kind"), EVENT_KINDS) if "kind" in node.value else None
    required, optional = _KIND_KEYS.get(kind or "", ((), tuple(_ALL_KIND_KEYS)))
    allowed = {*_COMMON_REQUIRED, *_COMMON_OPTIONAL, *required, *optional}
    for key in node.value:
        if kind and str(key) in _ALL_KIND_KEYS and str(key) not in allowed:
            owners = [k for k, (req, opt) in _KIND_KEYS.items() if key in (*req, *opt)]
            reader.error(node, f"{key!r} does not apply to a {kind} event "
                               f"(it is for {' and '.join(owners)})", at_key=key)
    fields = reader.mapping(node, required=(*_COMMON_REQUIRED, *required),
                            optional=(*_COMMON_OPTIONAL, *_ALL_KIND_KEYS))
    if fields is None or kind is None:
        return None
    fields = {k: v for k, v in fields.items() if k in allowed}
    at = reader.duration(fields["at"]) if "at" in fields else None
    duration = reader.duration(fields["for"]) if "for" in fields else None
    if duration == 0:
        reader.error(fields["for"], "an event must last longer than 0s")
        duration = None
    ramp = _DEFAULT_RAMP[kind]
    if "ramp" in fields:
        ramp = reader.duration(fields["ramp"]) or 0
        if duration and 2 * ramp > duration:
            reader.error(fields["ramp"], f"ramp {format_duration(ramp)} is more than half of "
                                         f"for ({format_duration(duration)}): it has to build up "
                                         f"and die away within the event")
    elif duration:
        ramp = min(ramp, duration // 2)
    magnitude = _magnitude(reader, fields["magnitude"], kind) if "magnitude" in fields else 1.0
    functions = _names(reader, fields["functions"]) if "functions" in fields else ()
    site = reader.string(fields["site"], "a hospital code such as RVJ") if "site" in fields \
        else None
    feed = reader.string(fields["feed"], "a feed name such as sim-clinical_triage") \
        if "feed" in fields else None
    if feed is not None and not feed.startswith("sim-"):
        reader.error(fields["feed"], f"expected a simulated feed such as sim-clinical_triage, "
                                     f"got {feed!r}")
        feed = None
    label = (reader.string(fields["label"], "a short description") or "") \
        if "label" in fields else ""
    # An event with a bad value is still built (the reader's problem will be raised), so
    # that the catalogue checks can report its other fields in the same run.
    positions = tuple((k, n.name, n.line, n.col) for k, n in fields.items())
    return ScenarioEvent(kind, at or 0, duration or 1, magnitude or 1.0, ramp, functions or (),
                         site, feed, label, positions)


def _magnitude(reader: Reader, node: Node, kind: str) -> float | None:
    value = reader.number(node, "a positive number")
    if value is None:
        return None
    if value <= 0:
        reader.error(node, f"magnitude must be a positive number, got {value:g}")
        return None
    if value > MAX_MAGNITUDE:
        hint = (f" (it is extra demand as a fraction: 0.7 means 70% above normal; "
                f"did you mean {value / 100:g}?)" if kind == "surge" else "")
        reader.error(node, f"magnitude {value:g} is above the most the simulator models "
                           f"({MAX_MAGNITUDE:g}){hint}")
        return None
    return value


def _names(reader: Reader, node: Node) -> tuple[str, ...] | None:
    items = reader.sequence(node, "a list of function ids such as [call_handling, ae]")
    if items is None:
        return None
    names = [reader.string(item, "a function id") for item in items]
    if None in names:
        return None
    return tuple(n for n in names if n)


def _expectations(reader: Reader, node: Node) -> Expectations | None:
    fields = reader.mapping(node, required=_EXPECT_KEYS, optional=_EXPECT_KEYS,
                            what="expectations (a mapping with within and levels)")
    if fields is None:
        return None
    within = reader.duration(fields["within"]) if "within" in fields else None
    if within == 0:
        reader.error(fields["within"], "within must be longer than 0s")
    levels = []
    if "levels" in fields:
        entries = list(reader.items(fields["levels"], "a mapping of level names (overall, a "
                                                      "protocol id or PROTOCOL@SITE) to what "
                                                      "each should do"))
        if not entries and isinstance(fields["levels"].value, CommentedMap):
            reader.error(fields["levels"], "expected at least one level")
        for key, child in entries:
            expected = _level_expectation(reader, fields["levels"], str(key), child)
            if expected is not None:
                levels.append(expected)
    return Expectations(within or 1, tuple(levels))


def _level_expectation(reader: Reader, parent: Node, name: str,
                       node: Node) -> LevelExpectation | None:
    fields = reader.mapping(node, optional=_LEVEL_KEYS,
                            what=f"what the level should do (some of {', '.join(_LEVEL_KEYS)})")
    if fields is None:
        return None
    if not fields:
        reader.error(node, f"expected at least one of {', '.join(_LEVEL_KEYS)}")
    numbers = {key: _level_number(reader, fields[key]) for key in ("peak", "peak_at_most",
                                                                   "back_to") if key in fields}
    stale = reader.boolean(fields["stale"]) if "stale" in fields else None
    peak, most, back = (numbers.get(k) for k in ("peak", "peak_at_most", "back_to"))
    if peak is not None and most is not None and most < peak:
        reader.error(fields["peak_at_most"], f"peak_at_most {most} is below peak {peak}: "
                                             f"no level can meet both")
    if peak is not None and back is not None and back >= peak:
        reader.error(fields["back_to"], f"back_to {back} is not below peak {peak}: it says "
                                        f"how far the level falls after its peak")
    line, col = parent.key_position(name)
    positions = tuple((k, n.name, n.line, n.col) for k, n in fields.items())
    return LevelExpectation(name, peak, most, back, stale, (reader.source, line, col), positions)


def _level_number(reader: Reader, node: Node) -> int | None:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int):
        reader.error(node, f"expected a level number such as 3, got {describe(value)}")
        return None
    return int(value)


def _level_name_problems(scenario: Scenario, rules: Rules) -> list[Problem]:
    """Problems with the level names ``expect`` uses, against the rules' protocols and sites."""
    if scenario.expect is None:
        return []
    names = ["overall"]
    for protocol in rules.protocols.values():
        names.append(protocol.id)
        names += [f"{protocol.id}@{site}" for site in protocol.sites()]
    per_site = [p.id for p in rules.protocols.values() if p.sites()]
    problems = []
    for expected in scenario.expect.levels:
        if expected.name in names:
            continue
        source, line, col = expected.where
        pid, _, site = expected.name.partition("@")
        if site and pid in rules.protocols and pid not in per_site:
            why = f"{pid} has no per-site levels (those that do: {', '.join(per_site)})"
        elif site and pid in per_site:
            sites = rules.protocols[pid].sites()
            why = (f"{pid} has no level at {site!r}"
                   f"{did_you_mean(expected.name, names)}; its sites are {', '.join(sites)}")
        else:
            why = (f"unknown level {expected.name!r}{did_you_mean(expected.name, names)}; "
                   f"expected overall, a protocol ({', '.join(rules.protocols)}) or "
                   f"PROTOCOL@SITE")
        problems.append(Problem(source or scenario.source, f"expect.levels.{expected.name}: "
                                                           f"{why}", line or None, col or None))
    return problems


def _reference_problems(scenario: Scenario, catalogue: Catalogue) -> list[Problem]:
    """Problems with the sites, functions and feeds events name, located in the file."""
    source = scenario.source or f"scenario {scenario.name}"
    functions = [f.id for f in catalogue.functions]
    feeds = [f"sim-{f}" for f in functions]
    hospitals = [s.code for s in catalogue.sites_of("hospital")]
    problems: list[Problem] = []
    for event in scenario.events:
        where = {key: (name, line, col) for key, name, line, col in event.positions}

        def report(key: str, message: str,
                   where: dict[str, tuple[str, int, int]] = where) -> None:
            name, line, col = where.get(key, (f"events.{key}", None, None))
            problems.append(Problem(source, f"{name}: {message}", line, col))

        if event.site is not None and event.site not in hospitals:
            site = catalogue.sites.get(event.site)
            if site is not None:
                report("site", f"{event.site} is a {site.kind}, not a hospital; a handover "
                               f"crisis needs one of {', '.join(hospitals)}")
            else:
                report("site", f"unknown site {event.site!r}"
                               f"{did_you_mean(event.site, hospitals)}; hospitals in "
                               f"{catalogue.source} are {', '.join(hospitals)}")
        for function in event.functions:
            if function not in functions:
                report("functions", f"unknown function {function!r}"
                                    f"{did_you_mean(function, functions)}; expected some of "
                                    f"{', '.join(functions)}")
        if event.feed is not None and event.feed not in feeds:
            report("feed", f"unknown feed {event.feed!r}{did_you_mean(event.feed, feeds)}; "
                           f"the simulated feeds are {', '.join(feeds)}")
    numbers = [level.number for level in catalogue.levels]
    for expected in scenario.expect.levels if scenario.expect else ():
        for key, name, line, col in expected.positions:
            value = getattr(expected, key)
            if key != "stale" and value is not None and value not in numbers:
                problems.append(Problem(source, f"{name}: no level {value} in "
                                                f"{catalogue.source}; its levels are "
                                                f"{', '.join(map(str, numbers))}", line, col))
    return problems
