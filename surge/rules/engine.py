"""The rules engine: a pure function of (rules, samples, time), used live, in backtests and
in rule tests alike.

An Evaluator holds one Machine per trigger instance (a trigger, or a trigger at one site for
``aggregate: each``) and combines their levels into per-site protocol levels, protocol
levels and the overall level. Feed it samples (``ingest``) and move it on in time
(``advance``); every change of any level is appended to ``transitions`` with the exact
instant it happened and a machine-readable reason.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from surge.catalogue import TRUST
from surge.durations import format_duration
from surge.rules.machine import AggregateInput, Machine, SeriesInput, Step
from surge.rules.model import Protocol, Rules, Score, Trigger
from surge.samples import Sample

__all__ = ["Evaluator", "LevelView", "Transition", "instance_name"]

Kind = Literal["trigger", "site", "protocol", "overall"]
OVERALL = "overall"
_FAR = 2**62


@dataclass(frozen=True)
class Transition:
    """A change of a level, or of its stale flag, at an exact instant (UTC epoch seconds)."""

    at: float
    name: str
    kind: Kind
    old: int
    new: int
    stale: bool
    reason: dict[str, Any]

    @property
    def level_changed(self) -> bool:
        return self.old != self.new


@dataclass
class LevelView:
    """The current level of one name, with why."""

    name: str
    kind: Kind
    level: int
    since: float | None
    stale: bool
    reason: dict[str, Any] = field(default_factory=dict)


def instance_name(protocol: str, trigger: str, site: str | None = None) -> str:
    return f"{protocol}/{trigger}" + (f"@{site}" if site else "")


class Instance:
    """One trigger at one scope: its input, its machine, and where its samples come from."""

    def __init__(self, rules: Rules, protocol: Protocol, trigger: Trigger, site: str | None,
                 start: int, identity: str | None = None) -> None:
        self.protocol = protocol
        self.trigger = trigger
        self.site = site
        self.name = instance_name(protocol.id, trigger.id, site)
        # what its saved state is kept under: computed once, as the trigger's identity hashes
        # the whole trigger (every site of it), which is shared by all its instances
        identity = identity or trigger.identity(protocol.id)
        self.identity = identity + (f"@{site}" if site else "")
        metric = rules.catalogue.metrics[trigger.metric]
        base = rules.base
        stale_ms = metric.stale_after * 1000
        self.input: SeriesInput | AggregateInput
        self.scopes: tuple[str, ...]
        if trigger.sites is None or trigger.per_site:
            self.input = SeriesInput(stale_ms, lambda v: trigger.candidate(v, base))
            self.scopes = (site or TRUST,)
        else:
            self.input = AggregateInput(trigger.sites, stale_ms, trigger.aggregate,
                                        trigger.count_over, metric.worse == "higher",
                                        lambda v: trigger.candidate(v, base))
            self.scopes = trigger.sites
        self.base = base
        self.machine = Machine(base, trigger.for_seconds * 1000,
                               trigger.clear_for_seconds * 1000, trigger.on_stale, start)
        # the parts of its reasons that only the rules decide, worked out once
        self.thresholds = dict(trigger.thresholds)
        self.scope_reason: dict[str, str] = {"site": site} if site else {}
        self.subject = trigger.metric + (f"@{site}" if site else "")
        if isinstance(self.input, AggregateInput):
            self.scope_reason["aggregate"] = _aggregate_name(trigger)
            self.subject = f"{self.scope_reason['aggregate']} of {trigger.metric} over sites"

    def add(self, scope: str, ts: int, value: float) -> None:
        self.advance(ts - 1)
        if isinstance(self.input, AggregateInput):
            change = self.input.add(scope, ts, value)
        else:
            change = self.input.add(ts, value)
        if change is not None:
            self.machine.set(*change)

    def add_series(self, ts: np.ndarray, values: np.ndarray, until: int) -> None:
        """Many samples of a single-series instance at once, evaluated up to ``until``.

        The same result as adding them one by one (the live path), computed with numpy:
        only the instants where the candidate changes or the data goes stale reach the
        machine, and each step's value is then read back from the samples.
        """
        inp, machine, trigger = self.input, self.machine, self.trigger
        assert isinstance(inp, SeriesInput)
        if inp.last_ts is not None:
            keep = ts > inp.last_ts
            ts, values = ts[keep], values[keep]
        if not len(ts):
            self.advance(until)
            return
        candidates = np.full(len(values), self.base, dtype=np.int64)
        for level, threshold in trigger.thresholds:
            meets = values >= threshold if trigger.higher_is_worse else values <= threshold
            candidates[meets] = level
        previous = np.concatenate(([inp.last_ts if inp.last_ts is not None else -_FAR], ts[:-1]))
        stale_at = previous + inp.stale_ms + 1
        goes_stale = stale_at < ts
        if inp.last_ts is None or inp.stale_sent:
            goes_stale[0] = False
        # a sample is sent when its candidate differs from the one before, or the data went
        # stale in between; each stale span is sent just before the sample that ends it
        sent = np.ones(len(ts), dtype=bool)
        sent[1:] = (candidates[1:] != candidates[:-1]) | goes_stale[1:]
        changes: list[tuple[int, int | None, float | None]] = []
        for i in np.flatnonzero(sent | goes_stale).tolist():
            if goes_stale[i]:
                changes.append((int(stale_at[i]), None, None))
            changes.append((int(ts[i]), int(candidates[i]), float(values[i])))
        final_stale = int(ts[-1]) + inp.stale_ms + 1
        if final_stale <= until:
            changes.append((final_stale, None, None))
        first_step = len(machine.steps)
        machine.feed(changes, until)
        for step in machine.steps[first_step:]:
            if not step.stale:
                step.value = float(values[int(np.searchsorted(ts, step.at, side="right")) - 1])
        if machine.segs[-1][1] is not None:
            machine.segs[-1][2] = float(values[-1])
        inp.last_ts, inp.last_value = int(ts[-1]), float(values[-1])
        inp.stale_sent = final_stale <= until

    def advance(self, until: int) -> None:
        while (stale_at := self.input.next_stale()) is not None and stale_at <= until:
            self.machine.advance(stale_at - 1)
            self.machine.set(*self.input.stale_change())
        self.machine.advance(until)

    def step_reason(self, step: Step) -> dict[str, Any]:
        """Why a step happened: the threshold met (or no longer met) for how long."""
        trigger = self.trigger
        reason: dict[str, Any] = {"trigger": self.name, "metric": trigger.metric,
                                  "value": step.value, "compares": trigger.compares,
                                  "stale": step.stale, **self.scope_reason}
        subject = self.subject
        if step.new > step.old:
            reason.update(direction="up", threshold=self.thresholds.get(step.new),
                          window=trigger.for_seconds)
            text = f"{subject} {trigger.compares} {reason['threshold']:g}"
            if trigger.for_seconds:
                text += f" for {format_duration(trigger.for_seconds)}"
        elif step.new < step.old:
            below = "<" if trigger.compares == ">=" else ">"
            reason.update(direction="down", threshold=self.thresholds.get(step.old),
                          window=trigger.clear_for_seconds)
            text = f"{subject} {below} {reason['threshold']:g}"
            if trigger.clear_for_seconds:
                text += f" for {format_duration(trigger.clear_for_seconds)}"
        else:
            text = f"{subject}: data " + ("stale" if step.stale else "fresh again")
        if step.new != step.old and step.value is not None:
            text += f" (now {step.value:g})"
        if step.new != step.old and step.stale:
            text += f"; data stale, counted as level {trigger.on_stale}"
        reason["text"] = text
        return reason

    def reason(self, t: int) -> dict[str, Any]:
        """Why this instance is at its level at t: value, threshold, window, worst sites."""
        trigger, machine = self.trigger, self.machine
        level = machine.level
        candidate, value = machine.value_at(t)
        reason: dict[str, Any] = {
            "trigger": self.name, "metric": trigger.metric, "value": value,
            "compares": trigger.compares, "threshold": self.thresholds.get(level),
            "candidate": candidate, "stale": candidate is None,
            "for": trigger.for_seconds, "clear_for": trigger.clear_for_seconds,
            **self.scope_reason,
        }
        if isinstance(self.input, AggregateInput):
            fresh = self.input.fresh(t)
            worst = sorted(fresh.items(), key=lambda kv: kv[1], reverse=trigger.higher_is_worse)
            reason["worst_sites"] = [{"site": s, "value": v} for s, v in worst[:3]]
        pending = self.pending(t, candidate)
        if pending:
            reason["pending"] = pending
        reason["text"] = describe(reason, level, self.subject)
        return reason

    def pending(self, t: int, candidate: int | None) -> dict[str, Any]:
        """An escalation or de-escalation under way at t, given the candidate then: which
        level, and how long of how long ({} when none)."""
        machine, trigger = self.machine, self.trigger
        effective = trigger.on_stale if candidate is None else candidate
        if effective is None:
            return {}
        if effective > machine.level and trigger.for_seconds:
            since = machine.held_since(effective, t)
            if since is not None:
                return {"level": effective, "direction": "up", "held": (t - since) / 1000,
                        "needed": trigger.for_seconds, "threshold": self.thresholds.get(effective)}
        if effective < machine.level and trigger.clear_for_seconds:
            since = machine.below_since(t)
            if since is not None:
                return {"level": effective, "direction": "down", "held": (t - since) / 1000,
                        "needed": trigger.clear_for_seconds,
                        "threshold": self.thresholds.get(machine.level)}
        return {}


def _aggregate_name(trigger: Trigger) -> str:
    if trigger.count_over is not None:
        return f"count_over({trigger.count_over:g})"
    return trigger.aggregate


def describe(reason: dict[str, Any], level: int, subject: str | None = None) -> str:
    """One line a person can read: "calls.waiting >= 25 (27) for 3m of 5m"."""
    if subject is None:
        subject = reason["metric"] + (f"@{reason['site']}" if "site" in reason else "")
        if "aggregate" in reason:
            subject = f"{reason['aggregate']} of {reason['metric']} over sites"
    if reason["stale"]:
        text = f"{subject}: data stale, level {level} held"
    elif reason["threshold"] is not None:
        text = f"{subject} {reason['compares']} {reason['threshold']:g} (now {reason['value']:g})"
    else:
        text = f"{subject} now {reason['value']:g}, no threshold met"
    pending = reason.get("pending")
    if pending:
        sign = reason["compares"] if pending["direction"] == "up" else \
            ("<" if reason["compares"] == ">=" else ">")
        text += (f"; level {pending['level']} pending: {reason['metric']} {sign} "
                 f"{pending['threshold']:g} for {format_duration(pending['held'])} of "
                 f"{format_duration(pending['needed'])}")
    return text


def _combine(how: str, score: Score | None, parts: list[tuple[int, float]], base: int) -> int:
    """Combine (level, weight) pairs by max or by score."""
    if not parts:
        return base
    if how == "score":
        assert score is not None
        total = sum(score.points.get(level, 0.0) * weight for level, weight in parts)
        return score.level(total, base)
    return max(level for level, _ in parts)


class Evaluator:
    """Levels of every trigger, site, protocol and the trust, for one rules file."""

    def __init__(self, rules: Rules, start: float) -> None:
        self.rules = rules
        self.start = _ms(start)
        self.t = self.start - 1
        self.instances: dict[str, Instance] = {}
        self.routes: dict[tuple[str, str], list[Instance]] = {}
        for protocol in rules.protocols.values():
            for trigger in protocol.triggers:
                identity = trigger.identity(protocol.id)
                sites = trigger.sites if trigger.per_site else (None,)
                for site in sites or (None,):
                    instance = Instance(rules, protocol, trigger, site, self.start, identity)
                    self.instances[instance.name] = instance
                    for scope in instance.scopes:
                        self.routes.setdefault((trigger.metric, scope), []).append(instance)
        # (level, stale) of each instance at the instant being combined: machines may already
        # have been advanced past it
        self.current: dict[str, tuple[int, bool]] = {
            name: (inst.machine.level, inst.machine.stale) for name, inst in self.instances.items()}
        self.derived: dict[str, LevelView] = {}
        self.transitions: list[Transition] = []
        # which instance names each protocol combines, worked out once for the rules
        self._layouts = {p.id: _Layout.of(p) for p in rules.protocols.values()}
        # what changed since the last save (``mark_saved``): the instant saved, combined levels
        self.saved_t: int | None = None
        self._unsaved_derived: set[str] = set()
        self._recompute(self.start, emit=False)

    # --- feeding it -------------------------------------------------------------------

    def ingest(self, samples: Iterable[Sample]) -> None:
        """Apply samples (any order; each at its own time, or now if already evaluated).

        Instances are independent until they are combined, so each takes its own samples in
        time order: the same result as one pass in global time order, without sorting it.
        """
        per_instance: dict[str, list[tuple[int, str, float]]] = {}
        routes = self.routes
        for metric, scope, ts, value in samples:
            for instance in routes.get((metric, scope), ()):
                per_instance.setdefault(instance.name, []).append((_ms(ts), scope, value))
        for name, rows in per_instance.items():
            rows.sort(key=lambda row: row[0])
            add = self.instances[name].add
            for ts_ms, scope, value in rows:
                add(scope, ts_ms, value)

    def advance(self, until: float) -> list[Transition]:
        """Evaluate up to ``until``; returns the transitions that happened, in order."""
        until_ms = _ms(until)
        for instance in self.instances.values():
            instance.advance(until_ms)
        new = self._combine_steps()
        self.t = max(self.t, until_ms)
        return new

    def run(self, samples: Iterable[Sample], until: float) -> list[Transition]:
        """Ingest samples up to ``until`` and advance to it, in bulk: for backtests, rule
        tests and warm starts. The same transitions as ``ingest`` then ``advance``."""
        until_ms = _ms(until)
        columns: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
        for metric, scope, ts, value in samples:
            if (metric, scope) in self.routes:
                times, values = columns.setdefault((metric, scope), ([], []))
                times.append(ts)
                values.append(value)
        series: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        for key, (times, vals) in columns.items():
            ts_ms = np.round(np.asarray(times, dtype=np.float64) * 1000).astype(np.int64)
            order = np.argsort(ts_ms, kind="stable")
            keep = ts_ms[order] <= until_ms
            series[key] = (ts_ms[order][keep], np.asarray(vals, dtype=np.float64)[order][keep])
        done: set[str] = set()
        for key, (ts_arr, val_arr) in series.items():
            for instance in self.routes[key]:
                if isinstance(instance.input, SeriesInput):
                    instance.add_series(ts_arr, val_arr, until_ms)
                elif instance.name not in done:  # an aggregate: every site's samples in order
                    done.add(instance.name)
                    rows = sorted((t, scope, v) for scope in instance.scopes
                                  for t, v in zip(*series.get((key[0], scope), ((), ())),
                                                  strict=True))
                    for t, scope, v in rows:
                        instance.add(scope, int(t), float(v))
        return self.advance(until)

    # --- combining ---------------------------------------------------------------------

    def _combine_steps(self) -> list[Transition]:
        """Turn machine steps into transitions, recomputing combined levels at each instant."""
        streams = []
        for instance in self.instances.values():
            if instance.machine.steps:
                streams.append([(step.at, instance.name, step) for step in instance.machine.steps])
                instance.machine.steps = []
        new: list[Transition] = []
        merged = heapq.merge(*streams, key=lambda item: (item[0], item[1]))
        current: int | None = None
        touched: set[str] = set()
        for at, name, step in merged:
            if current is not None and at != current:
                new += self._recompute(current, touched=touched)
                touched = set()
            current = at
            instance = self.instances[name]
            touched.add(instance.protocol.id)
            self.current[name] = (step.new, step.stale)
            new.append(Transition(at / 1000, name, "trigger", step.old, step.new, step.stale,
                                  instance.step_reason(step)))
        if current is not None:
            new += self._recompute(current, touched=touched)
        self.transitions += new
        return new

    def _recompute(self, at: int, emit: bool = True,
                   touched: set[str] | None = None) -> list[Transition]:
        """Recompute combined levels (of the touched protocols, or all) from the instances'
        levels at ``at``, then the overall level; transitions for what changed."""
        base = self.rules.base
        views: dict[str, tuple[Kind, int, bool, dict[str, Any]]] = {}
        for protocol in self.rules.protocols.values():
            if touched is None or protocol.id in touched or protocol.id not in self.derived:
                views.update(self._protocol_views(protocol))
        members = [(p, *self._level_of(p, views)) for p in self.rules.overall.members]
        parts = [(level, 1.0) for _, level, _ in members]
        overall = self.rules.overall
        level = _combine(overall.combine, overall.score, parts, base)
        views[OVERALL] = ("overall", level, any(stale for _, _, stale in members), _drivers(
            overall.combine, overall.score, [(p, lv) for p, lv, _ in members], parts, level,
            base))
        out: list[Transition] = []
        for name, (kind, level, stale, reason) in views.items():
            previous = self.derived.get(name)
            if previous is None:
                self.derived[name] = LevelView(name, kind, level, at / 1000, stale, reason)
                self._unsaved_derived.add(name)
                continue
            if previous.level != level or previous.stale != stale:
                if emit:
                    out.append(Transition(at / 1000, name, kind, previous.level, level, stale,
                                          reason))
                if previous.level != level:
                    previous.since = at / 1000
                previous.level, previous.stale = level, stale
                self._unsaved_derived.add(name)
            elif previous.reason != reason:
                self._unsaved_derived.add(name)
            previous.reason = reason
        return out

    def _level_of(self, name: str, views: dict[str, tuple[Kind, int, bool, dict[str, Any]]]
                  ) -> tuple[int, bool]:
        if name in views:
            return views[name][1], views[name][2]
        view = self.derived[name]
        return view.level, view.stale

    def _protocol_views(self, protocol: Protocol) -> dict[str, tuple[Kind, int, bool,
                                                                     dict[str, Any]]]:
        """The protocol's level, its per-site levels and its per-site triggers' levels."""
        base = self.rules.base
        current = self.current
        layout = self._layouts[protocol.id]
        views: dict[str, tuple[Kind, int, bool, dict[str, Any]]] = {}
        parts: list[tuple[int, float]] = []
        names: list[tuple[str, int]] = []
        stale = False
        for trigger, name, per_site in layout.triggers:
            if trigger.per_site:
                states = [current[instance] for _, instance in per_site]
                level = max((lv for lv, _ in states), default=base)
                t_stale = any(s for _, s in states)
                views[name] = ("trigger", level, t_stale, {"sites": {
                    site: lv for (site, _), (lv, _) in zip(per_site, states, strict=True)}})
            else:
                level, t_stale = current[name]
            parts.append((level, trigger.weight))
            names.append((name, level))
            stale = stale or t_stale
        level = _combine(protocol.combine, protocol.score, parts, base)
        views[protocol.id] = ("protocol", level, stale,
                              _drivers(protocol.combine, protocol.score, names, parts, level, base))
        for site, members in layout.sites:
            site_parts, site_names, site_stale = [], [], False
            for name, weight in members:
                inst_level, inst_stale = current[name]
                site_parts.append((inst_level, weight))
                site_names.append((name, inst_level))
                site_stale = site_stale or inst_stale
            site_level = _combine(protocol.combine, protocol.score, site_parts, base)
            views[f"{protocol.id}@{site}"] = (
                "site", site_level, site_stale,
                _drivers(protocol.combine, protocol.score, site_names, site_parts, site_level,
                         base))
        return views

    # --- saving and restoring ------------------------------------------------------------

    def instance_state(self, instance: Instance) -> dict[str, Any]:
        return {"input": instance.input.state(), "machine": instance.machine.state()}

    def unsaved_instances(self, everything: bool = False) -> list[Instance]:
        """Instances whose state changed since the last save (every one with everything)."""
        if everything or self.saved_t is None:
            return list(self.instances.values())
        return [i for i in self.instances.values() if i.machine.dirty]

    def unsaved_views(self, everything: bool = False) -> dict[str, LevelView]:
        """Every view that can differ from the one at the last save (all with everything):
        instances whose state changed or, as time moved on, that hold a sample from after
        the instant saved (taken before the engine got there) or have a change under way
        (its time held grows); combined levels recomputed with another level, stale flag or
        reason."""
        t, saved_t = self.t, self.saved_t
        if everything or saved_t is None:
            out = {name: self.explain_instance(i, t) for name, i in self.instances.items()}
            out.update(self.derived)
            return out
        moved = t != saved_t
        out = {}
        for name, instance in self.instances.items():
            machine = instance.machine
            if machine.dirty:
                out[name] = self.explain_instance(instance, t)
            elif moved:
                latest = instance.input.latest
                candidate = machine.segs[-1][1]
                effective = machine.on_stale if candidate is None else candidate
                if ((latest is not None and latest > saved_t)
                        or (effective is not None and effective != machine.level)):
                    out[name] = self.explain_instance(instance, t)
        out.update((name, self.derived[name]) for name in self._unsaved_derived)
        return out

    def derived_unsaved(self) -> bool:
        """Whether any combined level changed since the last save."""
        return self.saved_t is None or bool(self._unsaved_derived)

    def mark_saved(self) -> None:
        """Everything is saved as of now: what changes from here is unsaved."""
        for instance in self.instances.values():
            instance.machine.dirty = False
        self._unsaved_derived.clear()
        self.saved_t = self.t

    def restore(self, states: dict[str, dict[str, Any]], derived: dict[str, Any] | None = None,
                t: float | None = None) -> set[str]:
        """Take over saved instance states by trigger identity; returns the identities used.

        An instance whose trigger changed (another identity) keeps its own state. Combined
        levels are recomputed; a saved combined level keeps its "since" when unchanged.
        """
        used = set()
        for instance in self.instances.values():
            state = states.get(instance.identity)
            if state is None:
                continue
            instance.input.restore(state["input"])
            instance.machine.restore(state["machine"])
            self.current[instance.name] = (instance.machine.level, instance.machine.stale)
            used.add(instance.identity)
        if t is not None:
            self.t = _ms(t)
        for name, saved in (derived or {}).items():
            view = self.derived.get(name)
            if view is not None:
                view.level, view.since, view.stale = saved["level"], saved["since"], saved["stale"]
                self._unsaved_derived.add(name)
        return used

    def derived_state(self) -> dict[str, Any]:
        return {name: {"level": v.level, "since": v.since, "stale": v.stale}
                for name, v in self.derived.items()}

    def recompute(self, at: float, emit: bool = True) -> list[Transition]:
        """Recompute combined levels now (after a restore); transitions for what changed."""
        new = self._recompute(_ms(at), emit=emit)
        self.transitions += new
        return new

    # --- reading -----------------------------------------------------------------------

    def levels(self) -> dict[str, int]:
        """Every name's current level: instances and combined levels."""
        out = {name: inst.machine.level for name, inst in self.instances.items()}
        out.update({name: view.level for name, view in self.derived.items()})
        return out

    def explain(self, at: float | None = None) -> dict[str, LevelView]:
        """Every level with its reason, as of the last evaluated instant (or ``at``)."""
        t = self.t if at is None else _ms(at)
        out = {name: self.explain_instance(inst, t) for name, inst in self.instances.items()}
        out.update(self.derived)
        return out

    def explain_instance(self, instance: Instance, t: int) -> LevelView:
        m = instance.machine
        return LevelView(instance.name, "trigger", m.level, m.since / 1000, m.stale,
                         instance.reason(t))


@dataclass(frozen=True)
class _Layout:
    """The instance names a protocol combines: per trigger, and per site."""

    # (trigger, its trust-wide name, ((site, instance name), ...) for a per-site trigger)
    triggers: tuple[tuple[Trigger, str, tuple[tuple[str, str], ...]], ...]
    # (site, ((instance name, weight), ...)) for each site with a per-site level, in order
    sites: tuple[tuple[str, tuple[tuple[str, float], ...]], ...]

    @classmethod
    def of(cls, protocol: Protocol) -> _Layout:
        pid = protocol.id
        triggers = tuple(
            (t, instance_name(pid, t.id),
             tuple((s, instance_name(pid, t.id, s)) for s in t.sites or ()) if t.per_site else ())
            for t in protocol.triggers)
        per_site = [(t, frozenset(t.sites or ())) for t in protocol.triggers if t.per_site]
        sites = tuple(
            (site, tuple((instance_name(pid, t.id, site), t.weight) for t, at in per_site
                         if site in at))
            for site in protocol.sites())
        return cls(triggers, sites)


def _drivers(how: str, score: Score | None, names: list[tuple[str, int]],
             parts: list[tuple[int, float]], level: int, base: int) -> dict[str, Any]:
    """What set a combined level: the worst members (max) or each member's points (score)."""
    if how == "score" and score is not None:
        points = {name: score.points.get(lv, 0.0) * w for (name, lv), (_, w) in zip(
            names, parts, strict=True)}
        return {"combine": "score", "total": sum(points.values()),
                "drivers": [n for n, p in points.items() if p > 0], "points": points}
    return {"combine": "max", "drivers": [n for n, lv in names if lv == level > base]}


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
