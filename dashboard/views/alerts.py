"""The alerts page's view model: each active alert (severity, level, since when, who was told,
its acknowledgement or UNACKNOWLEDGED, its escalation and when it next escalates, silenced,
exercise), the silences in force, and the alerts resolved most recently.

Pure functions from what was read (surge.alerting.book's records) and ``now``, Surge's clock:
alert times are the run's (an exercise's, during an exercise), shown in UK time. An
acknowledgement recorded by a person but not yet taken up by the worker shows as
acknowledged, saying so; when the worker is stopped nothing here is being updated, and the
page says that first: an alert's escalation time is then a time nobody will act on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from dashboard.formatting import format_span, uk_time
from dashboard.levels import NEUTRAL, NOT_UPDATING_FLAG, LevelState, LevelView, text_colour
from surge.alerting.book import Ack, Alert, Silence
from surge.catalogue import Catalogue

__all__ = [
    "HISTORY",
    "SEVERITIES",
    "AckView",
    "AlertCard",
    "AlertsView",
    "HistoryRow",
    "SilenceRow",
    "ack_state",
    "alert_card",
    "alert_level",
    "build_alerts",
    "history_row",
    "matcher_words",
    "silence_row",
    "urgency",
]

HISTORY = 50  # resolved alerts listed (AlertBook.resolved)
SEVERITIES = ("critical", "warning", "info")  # most urgent first
WORKER_STOPPED = ("WORKER STOPPED — alerts are not being raised, escalated, resolved or sent; "
                  "what is below is as the worker last left it")
AckState = Literal["acknowledged", "pending", "unacknowledged"]


@dataclass(frozen=True)
class AckView:
    """Who acknowledged an alert, or that nobody has (loudly)."""

    state: AckState
    text: str  # "ACKNOWLEDGED by dm-1 at 14:10 after 7 min" / "UNACKNOWLEDGED for 12 min"
    note: str | None  # what they said they are doing
    detail: str | None  # "holds until 14:40" / "the worker takes it up at its next step"


@dataclass(frozen=True)
class AlertCard:
    id: str  # also the card's element id: links in notifications are /alerts#<id>
    kind: str
    name: str
    title: str
    reason: str
    severity: str  # critical, warning, info
    level: LevelView | None  # level alerts: number, name and colour
    since: str  # "since 14:03 (1 h 05 min)"
    fired: str  # "fired 14:04"
    told: str  # "duty-managers, tactical-commanders" / "nobody yet"
    withheld: str | None  # receivers not told because of a silence
    ack: AckView
    escalation: str  # "step 1 of 2 · escalates to strategic-commanders at 14:24"
    next_escalation: tuple[str, str] | None  # (receiver, "14:24")
    silenced: str | None  # "SILENCED until 15:30 by dm-1: planned maintenance"
    exercise: bool
    what: str  # "kind level · name ae@RVJ · site RVJ · function ae": what a silence matches

    @property
    def unacknowledged(self) -> bool:
        return self.ack.state == "unacknowledged"


@dataclass(frozen=True)
class SilenceRow:
    id: str
    what: str  # "kind=feed, name=cad-calls"
    until: str  # "until 15:30"
    by: str  # "set by dm-1 at 13:30"
    reason: str
    covers: int  # active alerts it silences now


@dataclass(frozen=True)
class HistoryRow:
    id: str
    title: str
    severity: str
    level: LevelView | None
    fired: str  # "26 Nov 14:03"
    resolved: str  # "15:20"
    lasted: str  # "1 h 17 min"
    ack: str  # "acknowledged by dm-1 after 7 min" / "NEVER ACKNOWLEDGED"
    acknowledged: bool
    told: str
    exercise: bool


@dataclass(frozen=True)
class AlertsView:
    problems: tuple[str, ...]  # said first, loudly: the worker stopped
    summary: str  # "3 active alerts · 1 UNACKNOWLEDGED" / "No alert is firing."
    total: int
    unacknowledged: int
    alerts: tuple[AlertCard, ...]  # unacknowledged first, then the most severe
    silences: tuple[SilenceRow, ...]
    history: tuple[HistoryRow, ...]


# --- pieces ------------------------------------------------------------------------------------


def alert_level(alert: Alert, catalogue: Catalogue, *, live: bool = True,
                dom_id: str | None = None) -> LevelView | None:
    """A level alert's level as number, name and colour (None for other kinds). ``live``
    False (the worker stopped): the colour stays on the number only, saying why."""
    if alert.level is None:
        return None
    try:
        found = catalogue.level(alert.level)
        name, colour = alert.level_name or found.name, found.colour
    except KeyError:
        name, colour = alert.level_name or f"level {alert.level} (not in the rules file)", \
            NEUTRAL
    state: LevelState = "live" if live else "not-live"
    return LevelView(alert.name, dom_id or f"alert-level-{alert.id}", state, alert.level, name,
                     colour, text_colour(colour), None, None if live else NOT_UPDATING_FLAG,
                     None, None, None, False)


def matcher_words(matcher: Mapping[str, object]) -> str:
    """What a silence matches, as its fields: "kind=feed, name=cad-calls"."""
    return ", ".join(f"{k}={v}" for k, v in matcher.items()) or "everything"


def _when(ts: float, catalogue: Catalogue, now: float) -> str:
    return uk_time(ts, catalogue.timezone, seconds=False, now=now)


def ack_state(alert: Alert, ack: Ack | None = None) -> AckState:
    """acknowledged (the worker has taken it up), pending (a person acknowledged it; the
    worker takes it up at its next step) or unacknowledged. ``ack``: the store's record."""
    if alert.unacked_since is None and alert.acked_by:
        return "acknowledged"
    if ack is not None and ack.at != alert.acked_at:
        return "pending"
    return "unacknowledged"


def urgency(alert: Alert, state: AckState) -> tuple:
    """Sort key, most urgent first: unacknowledged, then the most severe, the highest
    level, the oldest."""
    severity = alert.severity if alert.severity in SEVERITIES else "warning"
    return (state != "unacknowledged", SEVERITIES.index(severity), -(alert.level or 0),
            alert.fired_at, alert.id)


def _ack(alert: Alert, pending: Ack | None, catalogue: Catalogue, now: float) -> AckView:
    state = ack_state(alert, pending)
    if state == "acknowledged":
        after = format_span((alert.acked_at or alert.fired_at) - alert.fired_at)
        holds = f"holds until {_when(alert.ack_expires, catalogue, now)} while it fires" \
            if alert.ack_expires is not None else None
        return AckView("acknowledged",
                       f"ACKNOWLEDGED by {alert.acked_by} at "
                       f"{_when(alert.acked_at or now, catalogue, now)} after {after}",
                       alert.ack_note or None, holds)
    if state == "pending" and pending is not None:  # recorded, not yet taken up
        return AckView("pending",
                       f"ACKNOWLEDGED by {pending.by} at {_when(pending.at, catalogue, now)}",
                       pending.note or None,
                       "recorded; the worker stops its escalation at its next step")
    text = f"UNACKNOWLEDGED for {format_span(alert.unacked_for(now))}"
    detail = None
    if alert.acked_at is not None:  # an acknowledgement expired while it still fires
        detail = f"an acknowledgement at {_when(alert.acked_at, catalogue, now)} has expired"
    return AckView("unacknowledged", text, None, detail)


def _escalation(alert: Alert, acked: bool, catalogue: Catalogue,
                now: float) -> tuple[str, tuple[str, str] | None]:
    steps = len(alert.chain)
    if not steps:
        return "no escalation: its route has none", None
    where = f"step {alert.step} of {steps}"
    step = alert.next_step
    if step is None:
        return f"{where} · escalation complete: everyone in the chain has been told", None
    if acked:
        return f"{where} · escalation paused while acknowledged (next: {step[1]})", None
    at = alert.next_escalation(now)
    if at is None:
        return f"{where} · next: {step[1]}", None
    when = _when(at, catalogue, now)
    return f"{where} · escalates to {step[1]} at {when}", (step[1], when)


def _what(alert: Alert) -> str:
    fields = (("kind", alert.kind), ("name", alert.name), ("site", alert.site),
              ("function", alert.function))
    return " · ".join(f"{k} {v}" for k, v in fields if v)


def _covering(alert: Alert, silences: Mapping[str, Silence], now: float) -> Silence | None:
    return next((s for s in silences.values() if s.covers(alert, now)), None)


def alert_card(alert: Alert, catalogue: Catalogue, now: float, *,
               ack: Ack | None = None, silences: Mapping[str, Silence] | None = None,
               live: bool = True) -> AlertCard:
    """One active alert as its card shows it. ``ack``: the acknowledgement the store holds
    for it (it may not be taken up by the worker yet); ``silences``: those in force."""
    acknowledgement = _ack(alert, ack, catalogue, now)
    escalation, upcoming = _escalation(alert, acknowledgement.state != "unacknowledged",
                                       catalogue, now)
    silence = _covering(alert, silences or {}, now)
    silenced = None
    if silence is not None:
        silenced = (f"SILENCED until {_when(silence.ends, catalogue, now)} by {silence.by}: "
                    f"{silence.reason}")
    elif alert.silenced:
        silenced = "SILENCED when last notified (that silence has ended)"
    withheld = ", ".join(alert.withheld) if alert.withheld else None
    return AlertCard(
        id=alert.id, kind=alert.kind, name=alert.name, title=alert.title, reason=alert.reason,
        severity=alert.severity if alert.severity in SEVERITIES else "warning",
        level=alert_level(alert, catalogue, live=live),
        since=f"since {_when(alert.since, catalogue, now)} "
              f"({format_span(now - alert.since)})",
        fired=f"fired {_when(alert.fired_at, catalogue, now)}",
        told=", ".join(alert.notified) or "nobody yet",
        withheld=withheld, ack=acknowledgement, escalation=escalation,
        next_escalation=upcoming, silenced=silenced, exercise=alert.exercise,
        what=_what(alert))


def silence_row(silence: Silence, active: Sequence[Alert], catalogue: Catalogue,
                now: float) -> SilenceRow:
    return SilenceRow(
        id=silence.id, what=matcher_words(silence.matcher),
        until=f"until {_when(silence.ends, catalogue, now)}",
        by=f"set by {silence.by} at {_when(silence.created, catalogue, now)}",
        reason=silence.reason, covers=sum(silence.covers(a, now) for a in active))


def history_row(alert: Alert, catalogue: Catalogue, now: float) -> HistoryRow:
    """A resolved alert: how long it lasted, and who acknowledged it after how long."""
    end = alert.resolved_at if alert.resolved_at is not None else now
    if alert.acked_at is not None:
        who = alert.acked_by or "someone"  # (an expired acknowledgement keeps its time only)
        ack = f"acknowledged by {who} after {format_span(alert.acked_at - alert.fired_at)}"
    else:
        ack = "NEVER ACKNOWLEDGED"
    return HistoryRow(
        id=alert.id, title=alert.title,
        severity=alert.severity if alert.severity in SEVERITIES else "warning",
        level=alert_level(alert, catalogue, dom_id=f"history-level-{alert.id}"),
        fired=uk_time(alert.fired_at, catalogue.timezone, seconds=False, now=now),
        resolved=uk_time(end, catalogue.timezone, seconds=False, now=now),
        lasted=format_span(end - alert.fired_at), ack=ack,
        acknowledged=alert.acked_at is not None,
        told=", ".join(alert.notified) or "nobody", exercise=alert.exercise)


# --- the page ----------------------------------------------------------------------------------


def build_alerts(active: Mapping[str, Alert], catalogue: Catalogue, now: float, *,
                 acks: Mapping[str, Ack] | None = None,
                 silences: Mapping[str, Silence] | None = None,
                 resolved: Sequence[Alert] = (), worker_running: bool = True,
                 history: int = HISTORY) -> AlertsView:
    """Everything the alerts page shows. ``active``: AlertBook.active(); ``acks`` and
    ``silences`` as the store holds them; ``resolved``: newest first."""
    acks, silences = acks or {}, silences or {}
    live = {k: s for k, s in silences.items() if s.ends > now}  # (the worker drops the rest)
    pairs = [(alert_card(a, catalogue, now, ack=acks.get(a.id), silences=live,
                         live=worker_running), a) for a in active.values()]
    cards = tuple(card for card, alert in sorted(pairs,
                                                 key=lambda p: urgency(p[1], p[0].ack.state)))
    unacked = sum(c.unacknowledged for c in cards)
    if cards:
        noun = "active alert" if len(cards) == 1 else "active alerts"
        summary = f"{len(cards)} {noun} · " + (f"{unacked} UNACKNOWLEDGED" if unacked
                                               else "all acknowledged")
    else:
        summary = "No alert is firing."
    rows = tuple(silence_row(s, list(active.values()), catalogue, now)
                 for s in sorted(live.values(), key=lambda s: (s.ends, s.id)))
    return AlertsView(
        problems=() if worker_running else (WORKER_STOPPED,), summary=summary,
        total=len(cards), unacknowledged=unacked, alerts=cards, silences=rows,
        history=tuple(history_row(a, catalogue, now) for a in list(resolved)[:history]))
