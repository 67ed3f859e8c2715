"""The live rules engine in the worker: evaluates on every batch and on a tick, keeps its
state in Redis, records every change of level as an event, and reloads the rules file.

- Start with saved state: continue exactly where it stopped (same levels, same windows).
- Start without state: a warm start, replaying the stored last 6 hours silently, so the
  levels shown at start-up already reflect the recent past; one ``engine_started`` event
  records them.
- A sample that arrives after the engine has evaluated past its timestamp takes effect at
  the instant it arrives (the backtest uses its timestamp); with data in time order both
  give the same transitions.
- Hot reload (the file changed, or ``surge rules reload``): the new file is checked first;
  an invalid one is rejected with a ``rules_rejected`` event and the running rules stay.
  A valid one takes effect with a ``rules_loaded`` event; triggers that did not change
  keep their state, new or changed ones start warm from stored history.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from surge.bus import Bus
from surge.errors import ConfigError, StoreUnavailable
from surge.events import (
    EngineStarted,
    Event,
    LevelChanged,
    LevelFresh,
    LevelStale,
    Recorder,
    RulesLoaded,
    RulesRejected,
    encode,
)
from surge.rules.engine import Evaluator, Transition
from surge.rules.loader import load_rules
from surge.rules.model import Rules
from surge.samples import Sample
from surge.store import Store

__all__ = ["WARM_WINDOW", "LiveEngine", "describe_changes"]

log = logging.getLogger(__name__)
WARM_WINDOW = 6 * 3600
RELOAD_TIME_LIMIT = 60.0  # real seconds a new rules file may take to load before it is refused
QUICK_LOAD = 1.0  # real seconds a tick waits for a new file (an ordinary one takes ~50 ms)


class LiveEngine:
    """One Evaluator, kept current and saved; thread-safe (polls and ticks run in threads)."""

    def __init__(self, store: Store, rules_path: Path, clock: Callable[[], float] = time.time,
                 rules: Rules | None = None, who: str = "the worker",
                 horizon: Callable[[], float] | None = None, bus: Bus | None = None,
                 fence: str | None = None) -> None:
        self.store = store
        # Each step's events are written with its state, in one transaction (fenced by the
        # worker's lease), then published on the bus for whoever listens (alerting).
        self.recorder = Recorder(store, clock)
        self.bus = bus
        self.fence = fence
        self._unsaved: list[Event] = []
        self._loading: _Loading | None = None
        self.rules_path = Path(rules_path)
        self.clock = clock
        # How far evaluation may go: up to the time by which every feed has delivered its
        # data (the worker's watermark), so that a poll's samples, stamped a little before
        # they are written, are evaluated at their own time, as a backtest would.
        self.horizon = horizon
        self.lock = threading.RLock()
        self.rules = rules or load_rules(self.rules_path)
        self._file_stamp = _stamp(self.rules_path)
        self._saved_levels: dict[str, str] = {}
        self.evaluator = self._start()
        self._publish(self.rules, f"{who} at start-up", self.clock())

    # --- starting ----------------------------------------------------------------------

    def _start(self) -> Evaluator:
        now = self.until()
        saved = self.store.load_engine()
        meta = json.loads(saved["meta"]) if "meta" in saved else None
        states = {k[2:]: json.loads(v) for k, v in saved.items() if k.startswith("i:")}
        if meta is None:
            evaluator = self._warm(self.rules, now)
            evaluator.transitions.clear()
            self._unsaved.append(EngineStarted(
                ts=now, warm_start_from=now - WARM_WINDOW, rules_version=self.rules.version,
                levels=_headline(evaluator)))
            self._save(evaluator, force=True)
            log.info("rules engine started warm from the last %d h of history",
                     WARM_WINDOW // 3600)
            return evaluator
        # Continue from the saved instant: restore, then replay what was stored since, in
        # order, exactly as if the engine had never stopped.
        saved_t = meta["t"] / 1000
        evaluator = Evaluator(self.rules, meta["start"] / 1000)
        used = evaluator.restore(states, json.loads(saved.get("derived", "{}")), saved_t)
        evaluator.recompute(saved_t, emit=False)
        evaluator.ingest(self._stored(evaluator, saved_t, now))
        self._record(evaluator.advance(now), reason_extra={"cause": "caught up after restart"})
        evaluator.transitions.clear()
        if meta.get("version") != self.rules.version:
            self._unsaved.append(RulesLoaded(
                ts=now, rules_version=self.rules.version, previous_version=meta.get("version"),
                summary=f"rules changed while the worker was stopped; {len(used)} trigger "
                        f"instance(s) kept their state", source=str(self.rules_path),
                cause="the worker started"))
        self._save(evaluator, force=True)
        log.info("rules engine continues from saved state (%d instances)", len(used))
        return evaluator

    def _warm(self, rules: Rules, now: float, exclude: set[str] | None = None) -> Evaluator:
        """An evaluator run silently over the stored recent past up to now."""
        evaluator = Evaluator(rules, now - WARM_WINDOW)
        evaluator.run(self._stored(evaluator, now - WARM_WINDOW, now, exclude), now)
        return evaluator

    def _stored(self, evaluator: Evaluator, start: float, end: float,
                exclude: set[str] | None = None) -> list[Sample]:
        """Stored samples with start < ts <= end of the series the evaluator reads."""
        wanted = [key for key, instances in evaluator.routes.items()
                  if exclude is None or any(i.identity not in exclude for i in instances)]
        series = self.store.series(wanted, start, end) if wanted else {}
        return [Sample(metric, scope, float(ts), float(v))
                for (metric, scope), s in series.items()
                for ts, v in zip(s.ts, s.values, strict=True) if ts > start]

    # --- running -----------------------------------------------------------------------

    def ingest(self, samples: Sequence[Sample], pushed: bool = False) -> list[Transition]:
        """Evaluate a freshly stored batch.

        A polled feed's batch is evaluated up to the horizon, like a tick. A ``pushed`` batch
        (not from a feed the worker polls: `surge ingest`, an API) is evaluated at once up to
        its newest sample (never past now), even when that is beyond the horizon: a breach
        pushed now must raise its level now, not when the slowest feed next delivers. A polled
        sample that then arrives stamped before that instant counts from the instant it
        arrives, as any late sample does (so with pushed data live evaluation can differ from
        a backtest of the same samples by up to a poll interval of the slowest feed)."""
        if not samples:
            return []
        with self.lock:
            self.evaluator.ingest(samples)
            until = self.until()
            if pushed:
                until = max(until, min(self.clock(), max(s.ts for s in samples)))
            return self._settle(until)

    def tick(self) -> list[Transition]:
        """Time-based changes (windows completing, data going stale); reload if asked."""
        with self.lock:
            self._maybe_reload()
            return self._settle(self.until())

    def until(self) -> float:
        """Now, or the horizon if that is earlier: how far the engine evaluates."""
        now = self.clock()
        return now if self.horizon is None else min(now, self.horizon())

    def _settle(self, now: float) -> list[Transition]:
        changes = self.evaluator.advance(now)
        self.evaluator.transitions.clear()
        self._record(changes)
        self._save(self.evaluator)
        return changes

    def _record(self, changes: Sequence[Transition], reason_extra: dict | None = None) -> None:
        """Note the changes as events; the next save writes them with the state."""
        for change in changes:
            kind = (LevelChanged if change.level_changed
                    else LevelStale if change.stale else LevelFresh)
            reason = dict(change.reason, **(reason_extra or {}))
            self._unsaved.append(kind(
                ts=change.at, name=change.name, scope=change.kind, from_=change.old,
                to=change.new, stale=change.stale, reason=reason,
                rules_version=self.rules.version))
            if change.level_changed and change.kind in ("protocol", "overall"):
                log.warning("%s level %d -> %d: %s", change.name, change.old, change.new,
                            reason.get("text") or ", ".join(reason.get("drivers", [])))

    def _save(self, evaluator: Evaluator, force: bool = False) -> None:
        """Save changed instance state and republish the levels whose view changed since the
        last save; with force, or for an evaluator not saved before, all of them, dropping
        what the rules no longer have. Nothing counts as saved unless the write succeeds."""
        force = force or evaluator.saved_t is None
        fields = {"i:" + instance.identity: _encode(evaluator.instance_state(instance))
                  for instance in evaluator.unsaved_instances(everything=force)}
        fields["meta"] = _encode({"version": self.rules.version, "t": evaluator.t,
                                  "start": evaluator.start})
        if force or evaluator.derived_unsaved():
            fields["derived"] = _encode(evaluator.derived_state())
        levels = {name: _encode(_public(view))
                  for name, view in evaluator.unsaved_views(everything=force).items()}
        saved = self._saved_levels
        changed = {k: v for k, v in levels.items() if saved.get(k) != v}
        drop: list[str] = []
        gone: list[str] = []
        if force:
            keep = {"i:" + i.identity for i in evaluator.instances.values()}
            drop = [k for k in self.store.load_engine() if k.startswith("i:") and k not in keep]
            gone = [k for k in self.store.levels() if k not in levels]
        events = [self.recorder.stamp(e) for e in self._unsaved]
        ids = self.store.save_engine(fields, drop=drop, levels=changed, drop_levels=gone,
                                     events=[encode(e) for e in events], fence=self.fence)
        self._unsaved.clear()
        evaluator.mark_saved()
        if self.bus is not None:
            for event, event_id in zip(events, ids, strict=True):
                self.bus.publish(dataclasses.replace(event, id=event_id))
        if force:
            self._saved_levels = levels
        else:
            saved.update(changed)

    # --- reloading ---------------------------------------------------------------------

    def _maybe_reload(self) -> None:
        """Start loading a changed file (or one asked for) off this thread; take it up when
        it is loaded. The engine goes on evaluating with the rules in force meanwhile, and a
        file that takes longer than RELOAD_TIME_LIMIT to load is refused."""
        if self._loading is not None:
            self._take_up_loaded()
            return
        requested = self.store.take_reload_request()
        stamp = _stamp(self.rules_path)
        if requested is None and stamp == self._file_stamp:
            return
        self._file_stamp = stamp
        self._loading = _Loading(self.rules_path, requested)
        if self._loading.done.wait(QUICK_LOAD):  # a file of ordinary size: this very tick
            self._take_up_loaded()

    def _take_up_loaded(self) -> None:
        loading = self._loading
        assert loading is not None
        if not loading.done.is_set():
            if time.monotonic() - loading.started <= RELOAD_TIME_LIMIT:
                return
            self._loading = None
            self._reject([f"{self.rules_path}: took longer than {RELOAD_TIME_LIMIT:.0f} s to "
                          f"load; the running rules stay"], loading.requested_by)
            return
        self._loading = None
        self.reload(loading.requested_by, loaded=loading.result)

    def reload(self, requested_by: str | None = None,
               loaded: Rules | ConfigError | None = None) -> bool:
        """Load the rules file again (or take up rules ``loaded`` off this thread); True
        when the new rules took effect."""
        with self.lock:
            now = self.clock()
            cause = f"requested by {requested_by}" if requested_by else "the file changed"
            if loaded is None:
                try:
                    loaded = load_rules(self.rules_path)
                except ConfigError as exc:
                    loaded = exc
            if isinstance(loaded, ConfigError):
                self._reject([str(p) for p in loaded.problems], requested_by)
                return False
            rules = loaded
            if rules.version == self.rules.version:
                return False
            old = self.evaluator
            self.evaluator.advance(now)
            states = {i.identity: old.instance_state(i) for i in old.instances.values()}
            fresh = self._warm(rules, now, exclude=set(states))
            fresh.transitions.clear()
            kept = fresh.restore(states, old.derived_state(), now)
            summary = describe_changes(self.rules, rules, kept, len(fresh.instances))
            previous = self.rules.version
            self.rules, self.evaluator = rules, fresh
            self._publish(rules, requested_by or "a change to the file", now)
            self._unsaved.append(RulesLoaded(
                ts=now, source=str(self.rules_path), cause=cause, rules_version=rules.version,
                previous_version=previous, summary=summary, loaded_by=requested_by))
            self._record(fresh.recompute(now), reason_extra={"cause": "rules reloaded"})
            self._save(fresh, force=True)
            log.warning("rules reloaded (%s -> %s): %s", previous, rules.version, summary)
            return True

    def _reject(self, problems: list[str], requested_by: str | None) -> None:
        cause = f"requested by {requested_by}" if requested_by else "the file changed"
        rejected = self.recorder.record(RulesRejected(
            ts=self.clock(), source=str(self.rules_path), cause=cause, problems=tuple(problems),
            rules_version=self.rules.version, loaded_by=requested_by))
        if self.bus is not None:
            self.bus.publish(rejected)
        log.error("rules file rejected, the running rules stay (%s):\n%s",
                  self.rules.version, "\n".join(problems))

    def _publish(self, rules: Rules, loaded_by: str, at: float) -> None:
        """Put these rules in force for every process (pollers, pages, the CLI)."""
        try:
            text = self.rules_path.read_text(encoding="utf-8")
        except OSError as exc:  # the file vanished after it was read: keep the version
            log.error("rules file unreadable after loading (%s); pages keep their rules", exc)
            return
        self.store.publish_rules(rules.version, text, source=str(self.rules_path),
                                 loaded_by=loaded_by, at=at)

    def safe_tick(self) -> None:
        """For the scheduler: a store outage is logged, not raised into APScheduler."""
        try:
            self.tick()
        except StoreUnavailable as exc:
            log.error("rules tick not recorded: %s", exc)


class _Loading:
    """A rules file being loaded and checked in a thread of its own."""

    def __init__(self, path: Path, requested_by: str | None) -> None:
        self.requested_by = requested_by
        self.started = time.monotonic()
        self.done = threading.Event()
        self.result: Rules | ConfigError | None = None
        threading.Thread(target=self._load, args=(path,), name="rules-load", daemon=True).start()

    def _load(self, path: Path) -> None:
        try:
            self.result = load_rules(path)
        except ConfigError as exc:
            self.result = exc
        except Exception as exc:  # a loader bug must not pass silently, nor take effect
            log.exception("loading %s failed", path)
            self.result = ConfigError.single(str(path), f"could not be loaded: {exc}")
        finally:
            self.done.set()


def describe_changes(old: Rules, new: Rules, kept: set[str], instances: int) -> str:
    """What a reload changed, in a sentence. Where things are written does not count: a
    trigger that only moved to another line is the same trigger."""
    added = sorted(set(new.protocols) - set(old.protocols))
    removed = sorted(set(old.protocols) - set(new.protocols))
    changed = sorted(p for p in set(new.protocols) & set(old.protocols)
                     if new.protocols[p] != old.protocols[p])
    parts = []
    if added:
        parts.append("added " + ", ".join(added))
    if removed:
        parts.append("removed " + ", ".join(removed))
    if changed:
        parts.append("changed " + ", ".join(changed))
    if not new.overall.same_as(old.overall):
        parts.append("changed overall")
    before, after = old.catalogue, new.catalogue
    for what, differs in (("the metric catalogue", after.metrics != before.metrics),
                          ("the levels", after.levels != before.levels),
                          ("the sites", after.sites != before.sites),
                          ("the functions", set(after.functions) != set(before.functions)),
                          ("the time zone", after.timezone != before.timezone)):
        if differs:
            parts.append(f"changed {what}")
    text = "; ".join(parts) or "no change"
    return f"{text}; {len(kept)} of {instances} trigger instance(s) kept their state"


def _headline(evaluator: Evaluator) -> dict[str, int]:
    return {name: view.level for name, view in evaluator.derived.items()
            if view.kind in ("protocol", "overall")}


def _public(view: Any) -> dict[str, Any]:
    return {"level": view.level, "since": view.since, "stale": view.stale, "kind": view.kind,
            "reason": view.reason}


# one encoder for every save (json.dumps with default= builds one per call); what is saved
# is plain data, never circular
_encode = json.JSONEncoder(default=str, check_circular=False, separators=(",", ":")).encode


def _stamp(path: Path) -> tuple[float, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime, st.st_size
