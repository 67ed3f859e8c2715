"""One event contract: every kind on the timeline of record as a typed, versioned record.

Each kind is a frozen dataclass with its ``kind`` string and a ``schema`` version. Every
event has ``ts`` (UTC epoch seconds of what happened) and ``exercise`` (recorded during an
exercise). A ``Recorder`` writes them, marking ``exercise`` from its clock; ``read_events``
reads them back typed. An entry of a kind this code does not know, of a newer schema, or
whose fields do not fit its kind, reads back as a ``GenericEvent`` holding what was recorded,
so a reader never crashes and nothing is dropped. docs/events.md lists the kinds.

    Event                          ts, exercise; id once recorded
     +-- SamplesStored             samples_stored
     +-- LevelChanged, LevelStale, LevelFresh
     +-- EngineStarted, RulesLoaded, RulesRejected
     +-- FeedDegraded, FeedDown, FeedRecovered, StoreDown, StoreUp
     +-- WorkerStarted, WorkerStopped, WorkerTookOver
     +-- AuditEntry                audit
     +-- Declared, DeclarationWithdrawn, Acknowledged, ActionConfirmed, Annotation
     +-- AlertFiring, AlertEscalated, AlertAcknowledged, AlertResolved
     +-- NotificationSent, NotificationFailed
     +-- SilenceCreated, SilenceEnded, ExerciseStarted
    GenericEvent                   anything else, as recorded
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import (
    Any,
    ClassVar,
    Protocol,
    Self,
    TypeAlias,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from surge.bus import Bus, Unsubscribe
from surge.store import Event as StoredEvent
from surge.store import Store

__all__ = [
    "ENVELOPE",
    "KINDS",
    "SCOPES",
    "Acknowledged",
    "ActionConfirmed",
    "AlertAcknowledged",
    "AlertEscalated",
    "AlertFiring",
    "AlertResolved",
    "Annotation",
    "AnyEvent",
    "ArchiveFailed",
    "AuditEntry",
    "DayArchived",
    "DeclarationWithdrawn",
    "Declared",
    "EngineStarted",
    "Event",
    "ExerciseStarted",
    "FeedDegraded",
    "FeedDown",
    "FeedRecovered",
    "GenericEvent",
    "LevelChanged",
    "LevelFresh",
    "LevelStale",
    "NotificationFailed",
    "NotificationSent",
    "Recorder",
    "RulesLoaded",
    "RulesRejected",
    "SamplesStored",
    "SilenceCreated",
    "SilenceEnded",
    "StoreDown",
    "StoreUp",
    "WorkerStarted",
    "WorkerStopped",
    "WorkerTookOver",
    "decode",
    "encode",
    "iso_utc",
    "ok_by_default",
    "read_events",
    "to_json",
]

SCOPES = ("trigger", "site", "protocol", "overall")  # what a level belongs to
ENVELOPE = ("ts", "kind", "exercise", "schema")  # every event has these: no field may use them
_KINDS: dict[str, type[Event]] = {}
KINDS: Mapping[str, type[Event]] = MappingProxyType(_KINDS)  # kind -> class, as each is defined


@dataclass(frozen=True, kw_only=True)
class Event:
    """What every event has. ``id`` is the stream id once recorded (not part of equality)."""

    kind: ClassVar[str] = ""
    schema: ClassVar[int] = 1

    ts: float
    exercise: bool = False
    id: str = field(default="", compare=False)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if not kind:
            return  # a shared base such as _LevelEvent
        clash = _KINDS.get(kind)
        if clash is not None:
            raise TypeError(f"event kind {kind!r} is defined twice: {clash.__name__} and "
                            f"{cls.__name__}")
        _KINDS[kind] = cls

    @property
    def at(self) -> float:
        """``ts``, by the name the untyped events used."""
        return self.ts

    @property
    def data(self) -> dict[str, Any]:
        """The kind's fields as recorded (JSON names)."""
        return self.fields()

    def fields(self) -> dict[str, Any]:
        """The kind's fields by their JSON names, without the envelope."""
        return {f.key: getattr(self, f.name) for f in _codec(type(self))}

    @classmethod
    def from_fields(cls, data: Mapping[str, Any], *, ts: float, exercise: bool = False,
                    id: str = "", schema: int | None = None) -> Self:
        """The event from its recorded fields; ValueError or TypeError when they do not fit.

        ``schema`` is the version it was written with: a kind whose fields changed overrides
        ``upgrade`` to read the older versions."""
        data = cls.upgrade(dict(data), cls.schema if schema is None else schema)
        codec = _codec(cls)
        unknown = set(data) - {f.key for f in codec}
        if unknown:
            raise ValueError(f"{cls.kind}: unknown field(s) {sorted(unknown)}")
        values: dict[str, Any] = {}
        for f in codec:
            if f.key in data:
                values[f.name] = _coerce(data[f.key], f.hint, f.key)
            elif f.required:
                raise ValueError(f"{cls.kind}: missing field {f.key!r}")
        return cls(ts=ts, exercise=exercise, id=id, **values)

    @classmethod
    def upgrade(cls, data: dict[str, Any], schema: int) -> dict[str, Any]:
        """Fields written with an older ``schema`` of this kind, as the current one has them."""
        return data

    def describe(self) -> str:
        """One line saying what happened."""
        return " ".join(f"{k}={v}" for k, v in self.fields().items() if v not in (None, "", (), {}))


@dataclass(frozen=True, kw_only=True)
class GenericEvent:
    """An entry read back as recorded: an unknown kind, a newer schema, or fields that do
    not fit its kind (for example written before its kind was typed)."""

    kind: str
    ts: float
    exercise: bool = False
    schema: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    id: str = field(default="", compare=False)

    @property
    def at(self) -> float:
        return self.ts

    def fields(self) -> dict[str, Any]:
        return dict(self.data)

    def describe(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.data.items())


AnyEvent: TypeAlias = Event | GenericEvent
E = TypeVar("E", bound=AnyEvent)


# --- samples -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SamplesStored(Event):
    """A batch of samples was checked and stored: by a feed's poll, ``surge ingest``, ..."""

    kind = "samples_stored"
    source: str
    accepted: int
    rejected: int = 0
    late: int = 0
    duplicates: int = 0
    notices: tuple[str, ...] = ()  # the batch notices the rules engine reads it by

    def describe(self) -> str:
        return (f"{self.source}: {self.accepted} stored, {self.duplicates} duplicate, "
                f"{self.late} late, {self.rejected} rejected")


# --- levels --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _LevelEvent(Event):
    name: str  # e.g. "overall", "call_handling", "call_handling/calls.waiting@EOC1"
    scope: str  # one of SCOPES
    from_: int = field(metadata={"key": "from"})
    to: int
    stale: bool = False
    reason: dict[str, Any] = field(default_factory=dict)  # the engine's reason: text, drivers, ...
    rules_version: str

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")

    def describe(self) -> str:
        reason = self.reason
        why = reason.get("text")
        if why is None and reason.get("drivers"):
            why = "driven by " + ", ".join(map(str, reason["drivers"]))
        stale = ", some data STALE" if self.stale else ""
        change = f"{self.from_} -> {self.to}" if self.from_ != self.to else f"at {self.to}"
        return f"{self.name} ({self.scope}) {change}{stale}" + (f": {why}" if why else "")


@dataclass(frozen=True, kw_only=True)
class LevelChanged(_LevelEvent):
    """A calculated level went up or down."""

    kind = "level_changed"


@dataclass(frozen=True, kw_only=True)
class LevelStale(_LevelEvent):
    """A level's data went stale: the level is held, never shown as normal."""

    kind = "level_stale"


@dataclass(frozen=True, kw_only=True)
class LevelFresh(_LevelEvent):
    """A level's data are fresh again."""

    kind = "level_fresh"


# --- the engine and its rules --------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class EngineStarted(Event):
    """The rules engine started afresh, warmed up from recent history."""

    kind = "engine_started"
    rules_version: str
    warm_start_from: float | None = None
    levels: dict[str, Any] = field(default_factory=dict)  # protocol and overall levels

    def describe(self) -> str:
        levels = ", ".join(f"{k} {v}" for k, v in self.levels.items())
        return f"rules {self.rules_version}" + (f"; levels {levels}" if levels else "")


@dataclass(frozen=True, kw_only=True)
class RulesLoaded(Event):
    """New rules took effect."""

    kind = "rules_loaded"
    rules_version: str
    previous_version: str | None = None
    source: str = ""
    cause: str = ""
    summary: str = ""  # what changed
    loaded_by: str | None = None

    def describe(self) -> str:
        by = f" by {self.loaded_by}" if self.loaded_by else ""
        return (f"{self.previous_version or '-'} -> {self.rules_version}{by}"
                + (f" ({self.cause})" if self.cause else "")
                + (f": {self.summary}" if self.summary else ""))


@dataclass(frozen=True, kw_only=True)
class RulesRejected(Event):
    """A rules file was refused; the rules in force stay."""

    kind = "rules_rejected"
    source: str
    rules_version: str | None  # the rules that stay in force
    problems: tuple[str, ...]  # every problem, as FILE:LINE:COL: message
    cause: str = ""
    loaded_by: str | None = None

    def describe(self) -> str:
        first = f"; first: {self.problems[0]}" if self.problems else ""
        return (f"{self.source}: {len(self.problems)} problem(s), {self.rules_version or '-'} "
                f"stays in force{first}")


# --- feeds, the store, workers: failures are loud ------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _FeedEvent(Event):
    feed: str
    function: str


@dataclass(frozen=True, kw_only=True)
class FeedDegraded(_FeedEvent):
    """A feed that was up failed a poll (recorded once; it is down after more in a row)."""

    kind = "feed_degraded"
    error: str

    def describe(self) -> str:
        return f"{self.feed} ({self.function}) is failing: {self.error}"


@dataclass(frozen=True, kw_only=True)
class FeedDown(_FeedEvent):
    """A feed failed to fetch (recorded once, when it goes down)."""

    kind = "feed_down"
    error: str

    def describe(self) -> str:
        return f"{self.feed} ({self.function}) is DOWN: {self.error}"


@dataclass(frozen=True, kw_only=True)
class FeedRecovered(_FeedEvent):
    """A feed fetches again."""

    kind = "feed_recovered"
    error: str | None = None  # the error it had while down
    down_since: float | None = None

    def describe(self) -> str:
        return f"{self.feed} ({self.function}) recovered"


@dataclass(frozen=True, kw_only=True)
class StoreDown(Event):
    """The store could not be reached (recorded once it can be again)."""

    kind = "store_down"
    where: str
    error: str = ""

    def describe(self) -> str:
        return f"{self.where} unreachable: {self.error}"


@dataclass(frozen=True, kw_only=True)
class StoreUp(Event):
    """The store is reachable again."""

    kind = "store_up"
    where: str
    down_since: float | None = None

    def describe(self) -> str:
        return f"{self.where} reachable again"


@dataclass(frozen=True, kw_only=True)
class DayArchived(Event):
    """A UTC day left the hot window: written to the archive, checked, then trimmed from
    the store (surge.archive)."""

    kind = "day_archived"
    day: str  # 2026-10-25 (UTC)
    samples: int
    events: int
    location: str

    def describe(self) -> str:
        return (f"{self.day} (UTC) archived to {self.location}: {self.samples} samples, "
                f"{self.events} events")


@dataclass(frozen=True, kw_only=True)
class ArchiveFailed(Event):
    """A day could not be archived: it and every later day stay in the store, which keeps
    them up to 7 days past the hot window."""

    kind = "archive_failed"
    day: str
    error: str
    location: str

    def describe(self) -> str:
        return f"archiving {self.day} (UTC) to {self.location} FAILED: {self.error}"


@dataclass(frozen=True, kw_only=True)
class _WorkerEvent(Event):
    worker: str  # the worker's id
    pid: int
    host: str = ""
    previous: str | None = None  # the active worker before this one

    def describe(self) -> str:
        where = f" on {self.host}" if self.host else ""
        before = f", after {self.previous}" if self.previous else ""
        return f"worker {self.worker} (pid {self.pid}{where}){before}"


@dataclass(frozen=True, kw_only=True)
class WorkerStarted(_WorkerEvent):
    """A worker process started."""

    kind = "worker_started"
    feeds: tuple[str, ...] = ()
    rules_version: str | None = None


@dataclass(frozen=True, kw_only=True)
class WorkerStopped(_WorkerEvent):
    """A worker process stopped cleanly."""

    kind = "worker_stopped"


@dataclass(frozen=True, kw_only=True)
class WorkerTookOver(_WorkerEvent):
    """A standby worker became the active one (the previous one stopped or lost its lease)."""

    kind = "worker_took_over"


# --- people: the audit trail, declarations, acknowledgements, actions ----------------------


_REFUSALS = ("_failed", "_refused", "_rejected", "_throttled")


@dataclass(frozen=True, kw_only=True)
class AuditEntry(Event):
    """Who did what, from where: a sign-in, a refusal, a change to users, screens or rules.

    Recorded flat: action, user, role, address, ok and the details side by side, as the
    audit trail always was. ``surge.auth.audit.record`` sets ``ok`` False for refusals (an
    action ending in _failed, _refused, _rejected or _throttled); so does reading an entry
    recorded without ``ok``."""

    kind = "audit"
    action: str
    user: str
    role: str = ""
    address: str = ""
    via: str | None = None  # page, api or cli; None for signing in and out
    ok: bool = True
    details: dict[str, Any] = field(default_factory=dict)  # what changed: target, reason, ...

    @property
    def data(self) -> dict[str, Any]:
        """The entry as audit readers know it: action, user, role, address, via (when
        there is one) and the details."""
        via = {"via": self.via} if self.via is not None else {}
        return {"action": self.action, "user": self.user, "role": self.role,
                "address": self.address, **via, **self.details}

    def fields(self) -> dict[str, Any]:
        return {**self.data, "ok": self.ok}

    @classmethod
    def from_fields(cls, data: Mapping[str, Any], *, ts: float, exercise: bool = False,
                    id: str = "", schema: int | None = None) -> Self:
        values = dict(data)
        action = values.pop("action")
        if not isinstance(action, str):
            raise TypeError("audit: action must be text")
        ok = values.pop("ok", ok_by_default(action))
        named = {k: _coerce(values.pop(k, ""), str, k) for k in ("user", "role", "address")}
        via = _coerce(values.pop("via", None), str | None, "via")
        return cls(ts=ts, exercise=exercise, id=id, action=action, ok=_coerce(ok, bool, "ok"),
                   via=via, details=values, **named)

    def describe(self) -> str:
        details = " ".join(f"{k}={v}" for k, v in self.details.items())
        refused = "" if self.ok else " (REFUSED)"
        via = f" via {self.via}" if self.via else ""
        return (f"{self.action}{refused} by {self.user} ({self.role or '-'}) from "
                f"{self.address or '-'}{via}" + (f": {details}" if details else ""))


def ok_by_default(action: str) -> bool:
    """Whether an audited action went through, judged from its name."""
    return not action.endswith(_REFUSALS)


@dataclass(frozen=True, kw_only=True)
class _PersonEvent(Event):
    by: str  # the user
    role: str = ""


@dataclass(frozen=True, kw_only=True)
class Declared(_PersonEvent):
    """The strategic commander declared a level (the decision; the calculated level advises)."""

    kind = "declared"
    name: str = "overall"  # the trust, or a function
    level: int
    level_name: str = ""
    previous: int | None = None  # the level declared before
    calculated: int | None = None  # the calculated level when it was declared
    reason: str
    via: str | None = None  # page, api or cli
    rules_version: str | None = None

    def describe(self) -> str:
        calc = f", calculated {self.calculated}" if self.calculated is not None else ""
        before = f"{self.previous} -> " if self.previous is not None else ""
        name = f" {self.level_name}" if self.level_name else ""
        return (f"{self.name} declared {before}{self.level}{name} by {self.by}{calc}: "
                f"{self.reason}")


@dataclass(frozen=True, kw_only=True)
class DeclarationWithdrawn(_PersonEvent):
    """A declared level was withdrawn: the calculated level is shown alone again."""

    kind = "declaration_withdrawn"
    name: str = "overall"
    level: int  # the level that had been declared
    reason: str = ""
    calculated: int | None = None  # the calculated level when it was withdrawn
    via: str | None = None
    rules_version: str | None = None

    def describe(self) -> str:
        return f"{self.name} declaration of {self.level} withdrawn by {self.by}" + (
            f": {self.reason}" if self.reason else "")


@dataclass(frozen=True, kw_only=True)
class Acknowledged(_PersonEvent):
    """Someone acknowledged a level (they have seen it and are acting on it)."""

    kind = "acknowledged"
    name: str
    level: int
    note: str = ""

    def describe(self) -> str:
        return f"{self.name} at {self.level} acknowledged by {self.by}" + (
            f": {self.note}" if self.note else "")


@dataclass(frozen=True, kw_only=True)
class ActionConfirmed(_PersonEvent):
    """An action of a level's checklist was confirmed as done."""

    kind = "action_confirmed"
    name: str  # whose checklist: a protocol ("overall" or a function)
    level: int  # the level it was at: the checklist's episode
    since: float | None = None  # when it reached that level: the episode's start
    action: str  # the action, as the checklist words it
    action_id: str = ""  # its id: PROTOCOL.LEVEL.HASH (surge.declarations)
    action_level: int | None = None  # the level whose actions list it
    owner: str = ""  # strategic, tactical or operational
    note: str = ""
    via: str | None = None
    rules_version: str | None = None

    def describe(self) -> str:
        return f"{self.name} level {self.level}: {self.action!r} confirmed by {self.by}" + (
            f" ({self.note})" if self.note else "")


@dataclass(frozen=True, kw_only=True)
class Annotation(_PersonEvent):
    """A note on the timeline ("HALO on scene at RVX", "CAD restarted")."""

    kind = "annotation"
    text: str
    name: str | None = None  # what it is about, if anything in particular
    note: str = ""  # the note's id: every version of a note has it
    time: float | None = None  # the time it is about (None: when it was written)
    until: float | None = None  # the end of the span it is about, if it is a span
    edit: int = 0  # 0 when written, then 1, 2, ... for each change by its author
    via: str | None = None

    def describe(self) -> str:
        about = f" on {self.name}" if self.name else ""
        changed = f" (change {self.edit})" if self.edit else ""
        return f"{self.by}{about}{changed}: {self.text}"


# --- alerts and silences -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AlertFiring(Event):
    """An alert started firing and its first notifications went out."""

    kind = "alert_firing"
    alert: str  # the alert's id, shared by its later events
    name: str  # what it is about: a level's name, a feed, the worker, ...
    severity: str
    summary: str
    level: int | None = None
    channels: tuple[str, ...] = ()  # where it was sent

    def describe(self) -> str:
        return f"[{self.severity}] {self.name}: {self.summary}"


@dataclass(frozen=True, kw_only=True)
class AlertEscalated(Event):
    """Nobody acknowledged an alert in time: it went to the next people."""

    kind = "alert_escalated"
    alert: str
    name: str
    step: int  # 1 for the first escalation
    notified: tuple[str, ...] = ()
    reason: str = ""

    def describe(self) -> str:
        return f"{self.name} escalated (step {self.step}) to {', '.join(self.notified) or '-'}"


@dataclass(frozen=True, kw_only=True)
class AlertAcknowledged(_PersonEvent):
    """Someone took an alert on."""

    kind = "alert_acknowledged"
    alert: str
    name: str
    note: str = ""
    via: str | None = None  # page, api or cli

    def describe(self) -> str:
        return f"{self.name} acknowledged by {self.by}" + (f": {self.note}" if self.note else "")


@dataclass(frozen=True, kw_only=True)
class AlertResolved(Event):
    """An alert stopped: its cause cleared, or someone resolved it."""

    kind = "alert_resolved"
    alert: str
    name: str
    reason: str = ""
    by: str | None = None  # None when it cleared by itself

    def describe(self) -> str:
        by = f" by {self.by}" if self.by else ""
        return f"{self.name} resolved{by}" + (f": {self.reason}" if self.reason else "")


@dataclass(frozen=True, kw_only=True)
class NotificationSent(Event):
    """A notification reached its receiver (after ``attempts`` attempts)."""

    kind = "notification_sent"
    notification: str  # its id, also the idempotency key receivers see
    receiver: str
    alerts: tuple[str, ...] = ()
    status: str = ""  # what it told: firing, escalated, acknowledged, resolved
    attempts: int = 1
    delay: float = 0.0  # real seconds from queued to delivered

    def describe(self) -> str:
        return (f"{self.status or 'notification'} to {self.receiver} delivered"
                f" ({self.attempts} attempt{'s' if self.attempts != 1 else ''}, "
                f"{self.delay:.1f} s)")


@dataclass(frozen=True, kw_only=True)
class NotificationFailed(Event):
    """A notification could not be delivered: given up (too old, or refused for good)."""

    kind = "notification_failed"
    notification: str
    receiver: str
    alerts: tuple[str, ...] = ()
    status: str = ""
    attempts: int = 0
    detail: str = ""

    def describe(self) -> str:
        return f"{self.status or 'notification'} to {self.receiver} FAILED after " \
               f"{self.attempts} attempt(s): {self.detail}"


@dataclass(frozen=True, kw_only=True)
class SilenceCreated(_PersonEvent):
    """Alerts matching ``matcher`` (e.g. {"feed": "sim-ae"}) are silenced until ``ends``."""

    kind = "silence_created"
    silence: str  # the silence's id
    matcher: dict[str, Any]
    ends: float
    reason: str
    via: str | None = None

    def describe(self) -> str:
        what = ", ".join(f"{k}={v}" for k, v in self.matcher.items())
        until = datetime.fromtimestamp(self.ends, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return f"{what} silenced by {self.by} until {until}: {self.reason}"


@dataclass(frozen=True, kw_only=True)
class SilenceEnded(Event):
    """A silence ended: it expired, or someone lifted it."""

    kind = "silence_ended"
    silence: str
    reason: str = ""  # "expired", "lifted", ...
    by: str | None = None
    via: str | None = None  # page, api or cli, when someone lifted it

    def describe(self) -> str:
        by = f" by {self.by}" if self.by else ""
        return f"silence {self.silence} ended{by}" + (f": {self.reason}" if self.reason else "")


@dataclass(frozen=True, kw_only=True)
class ExerciseStarted(Event):
    """An exercise began: simulated data on a clock ``speed`` times faster than real time."""

    kind = "exercise_started"
    speed: float
    origin: float  # Surge time at the start
    scenario: str | None = None
    by: str = ""

    def describe(self) -> str:
        return f"scenario {self.scenario or '-'} at x{self.speed:g}" + (
            f", started by {self.by}" if self.by else "")


# --- writing and reading -------------------------------------------------------------------


class Recorder:
    """Writes typed events to the timeline; ``exercise`` is set from the clock it is given
    (the store's clock by default): True when that clock is an exercise's."""

    def __init__(self, store: Store, clock: Callable[[], float] | None = None) -> None:
        self.store = store
        self.clock = clock if clock is not None else store.clock

    @property
    def exercise(self) -> bool:
        return bool(getattr(self.clock, "exercise_mode", False))

    def now(self) -> float:
        return self.clock()

    def stamp(self, event: E) -> E:
        """The event as this recorder writes it (``exercise`` set from its clock)."""
        return event if event.exercise == self.exercise else dataclasses.replace(
            event, exercise=self.exercise)

    def encode(self, event: AnyEvent) -> tuple[str, dict[str, Any], float]:
        """(kind, fields, ts) for a caller that writes events in its own transaction."""
        return encode(self.stamp(event))

    def record(self, event: E) -> E:
        """Append one event; returns it as recorded (with its id)."""
        return self.record_many([event])[0]

    def record_many(self, events: Sequence[E]) -> list[E]:
        """Append events in one transaction, in order; returns them as recorded."""
        stamped = [self.stamp(e) for e in events]
        ids = self.store.append_events([encode(e) for e in stamped])
        return [dataclasses.replace(e, id=i) for e, i in zip(stamped, ids, strict=True)]

    def attach(self, bus: Bus) -> Unsubscribe:
        """Record every typed event published on ``bus`` that is not on the record yet (one
        with an ``id`` was written by its publisher, e.g. the engine with its state)."""

        def record_new(event: Event) -> None:
            if not event.id:
                self.record(event)

        return bus.subscribe(record_new, Event)


def encode(event: AnyEvent) -> tuple[str, dict[str, Any], float]:
    """(kind, fields, ts): the triple ``Store.append_events`` takes. ``fields`` is the
    kind's fields with ``schema`` and ``exercise``, as the stream keeps them."""
    return event.kind, {"schema": event.schema, "exercise": event.exercise,
                        **event.fields()}, event.ts


def decode(stored: StoredEvent) -> AnyEvent:
    """The typed event of a stream entry, or a GenericEvent when it does not fit a kind."""
    data = dict(stored.data)
    schema = data.pop("schema", 0)
    exercise = data.pop("exercise", False)
    if not isinstance(schema, int) or isinstance(schema, bool):
        data["schema"], schema = schema, 0
    if not isinstance(exercise, bool):
        data["exercise"], exercise = exercise, False
    cls = KINDS.get(stored.kind)
    if cls is not None and schema <= cls.schema:
        try:
            return cls.from_fields(data, ts=stored.at, exercise=exercise, id=stored.id,
                                   schema=schema)
        except (TypeError, ValueError, KeyError):
            pass
    return GenericEvent(kind=stored.kind, ts=stored.at, exercise=exercise, schema=schema,
                        data=data, id=stored.id)


class EventSource(Protocol):
    """Where events are read from: the store (its hot window), or surge.history.History
    (the store and the archive behind it)."""

    def events(self, start: float | None = None, end: float | None = None,
               kinds: Iterable[str] | None = None, count: int | None = None
               ) -> list[StoredEvent]: ...


def read_events(store: EventSource, *, start: float | None = None, end: float | None = None,
                kinds: Iterable[str | type[Event]] | None = None,
                limit: int | None = None) -> list[AnyEvent]:
    """Events filed between ``start`` and ``end`` (inclusive; see docs/events.md for events
    recorded late), of some kinds, in the order recorded; the newest ``limit`` when given."""
    names = None if kinds is None else [k if isinstance(k, str) else k.kind for k in kinds]
    return [decode(e) for e in store.events(start, end, names, limit)]


def to_json(event: AnyEvent) -> dict[str, Any]:
    """The event as one JSON object: ts (ISO 8601 UTC), kind, exercise, schema, its fields."""
    head = {"ts": iso_utc(event.ts), "kind": event.kind, "exercise": event.exercise,
            "schema": event.schema}
    return {**head, **{k: v for k, v in event.fields().items() if k not in head}}


def iso_utc(ts: float) -> str:
    """2026-01-05T08:00:00.000Z"""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


# --- how fields are read back --------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    name: str  # the attribute
    key: str  # the JSON name
    hint: Any
    required: bool


_CODECS: dict[type[Event], tuple[_Field, ...]] = {}


def _codec(cls: type[Event]) -> tuple[_Field, ...]:
    """The fields of a kind, with their JSON names and types (worked out once per kind)."""
    known = _CODECS.get(cls)
    if known is not None:
        return known
    hints = get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.name in ("ts", "exercise", "id"):
            continue
        key = f.metadata.get("key", f.name)
        if key in ENVELOPE:
            raise TypeError(f"{cls.__name__}.{f.name}: {key!r} is part of every event")
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        out.append(_Field(f.name, key, hints[f.name], required))
    _CODECS[cls] = tuple(out)
    return _CODECS[cls]


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """``value`` as read from JSON, as type ``hint``; TypeError when it is not one."""
    origin = get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        for option in get_args(hint):
            try:
                return _coerce(value, option, key)
            except TypeError:
                continue
        raise TypeError(f"{key}: {value!r} is not a {hint}")
    if hint is type(None):
        if value is None:
            return None
    elif origin is tuple:
        if isinstance(value, (list, tuple)):
            (item, *_) = get_args(hint)
            return tuple(_coerce(v, item, key) for v in value)
    elif origin is dict or hint is dict:
        if isinstance(value, dict):
            return dict(value)
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint in (str, bool) and isinstance(value, hint):
        return value
    raise TypeError(f"{key}: {value!r} is not a {getattr(hint, '__name__', hint)}")


for _kind in KINDS.values():  # a clash with the envelope fails at import, not on first read
    _codec(_kind)
