"""The alert lifecycle, run by the active worker: what should be alerting now, who is told,
escalation, acknowledgement, repeats, silences and resolution.

Each ``step`` compares what should be alerting (``conditions``: the levels published, the
feeds, the declaration, and conditions raised by events such as a rejected rules file)
with the alerts in the store, and acts on the difference:

    no alert, a route matches      fire: tell the routes' receivers ("firing")
    firing, its level rose         tell everyone told so far again ("firing", severity up)
    firing, unacknowledged         escalate when its chain's next ``after`` has passed
                                   unacknowledged ("escalated"); repeat every
                                   ``repeat_interval`` to everyone told so far
    acknowledged (surge.actions)   tell everyone told so far ("acknowledged"); escalation
                                   stops until the acknowledgement expires (``ack_timeout``)
                                   while it still fires, then goes on where it stopped
    cause gone                     resolve: tell everyone who was told ("resolved")

A step is idempotent and its state is in the store, so a standby that takes over goes on
where the last active worker stopped. Notifications for one receiver that arrive within
its route's ``group_wait`` are sent as one (``flush``); a silence covering an alert stops
its notifications, not the alert. Everything is on the timeline as typed events.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from surge import keys
from surge.alerting.book import Ack, Alert, AlertBook, Notification, Silence
from surge.alerting.config import AlertingConfig, Route
from surge.catalogue import Catalogue
from surge.declarations import trust_status
from surge.events import (
    AlertEscalated,
    AlertFiring,
    AlertResolved,
    Event,
    SilenceEnded,
)
from surge.levels import OVERALL, PublishedLevel, describe
from surge.store import Store

__all__ = ["Alerter", "Condition", "conditions", "message_of", "severity_of"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Condition:
    """Something that should be alerting now, if a route wants it."""

    kind: str  # level, feed, rules, worker, divergence, delivery, archive
    name: str
    title: str
    reason: str
    since: float
    level: int | None = None
    level_name: str | None = None
    site: str | None = None
    function: str | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


def severity_of(kind: str, level: int | None) -> str:
    """critical, warning or info: level 3 and 4 and no worker are critical."""
    if kind == "level":
        return "critical" if (level or 0) >= 3 else "warning" if (level or 0) == 2 else "info"
    return "critical" if kind in ("worker", "delivery") else "warning"


def message_of(alert: Alert, status: str, now: float, public_url: str) -> dict[str, Any]:
    """The fields of a surge.alerting.channels.Message for ``alert`` now (its idempotency
    key is added when its notification is made)."""
    labels = {k: v for k, v in (("site", alert.site), ("function", alert.function)) if v}
    return {"alert_id": alert.id, "idempotency_key": "", "status": status,
            "kind": alert.kind, "name": alert.name, "title": alert.title,
            "level": alert.level, "level_name": alert.level_name,
            "severity": alert.severity, "reason": alert.reason, "since": alert.since,
            "at": now, "url": f"{public_url}/alerts#{alert.id}",
            "exercise": alert.exercise, "labels": labels,
            "acknowledged_by": alert.acked_by, "note": alert.ack_note,
            "escalation_step": alert.step,
            "ends_at": alert.resolved_at if status == "resolved" else None}


def _level_condition(lv: PublishedLevel, catalogue: Catalogue) -> Condition:
    protocol, _, site = lv.name.partition("@")
    labels = {f.id: f.label for f in catalogue.functions}
    function = protocol if protocol in labels else None
    if lv.name == OVERALL:
        title = "The trust"
    elif site:
        place = catalogue.sites[site].name if site in catalogue.sites else site
        title = f"{labels.get(protocol, protocol)} at {place}"
    else:
        title = labels.get(protocol, protocol)
    return Condition("level", lv.name, title, describe(lv, limit=2), lv.since or 0.0,
                     level=lv.level, level_name=lv.level_name or None, site=site or None,
                     function=function)


def conditions(store: Store, catalogue: Catalogue, config: AlertingConfig, now: float,
               book: AlertBook) -> list[Condition]:
    """Everything that should be alerting now, before routes and silences."""
    out: list[Condition] = []
    lowest = min((lv.number for lv in catalogue.levels), default=1)
    levels = store.published_levels(catalogue)
    for lv in levels.values():
        if lv.kind in ("protocol", "site", "overall") and lv.level > lowest:
            out.append(_level_condition(lv, catalogue))
    for feed in store.feed_status():
        if not feed.healthy(now):
            since = (feed.down_since or feed.last_success or feed.last_attempt
                     or feed.expected_since or now)
            why = feed.last_error or ("no successful poll for three intervals"
                                      if feed.polls else "nothing received since it was set up")
            out.append(Condition("feed", feed.name, f"Feed {feed.name}", f"feed down: {why}",
                                 since, function=feed.function or None))
    trust = trust_status(store, catalogue, now, levels)
    if trust.diverges and trust.diverging_since is not None \
            and now - trust.diverging_since >= config.timing.divergence_after:
        declared = trust.declared
        calc = trust.calculated
        out.append(Condition(
            "divergence", "trust", "Declared and calculated trust levels differ",
            f"declared {declared.level if declared else '-'}, calculated "
            f"{calc.level if calc else '-'} since "
            f"{int((now - trust.diverging_since) // 60)} min", trust.diverging_since))
    for data in book.conditions().values():
        try:
            out.append(Condition(**data))
        except TypeError:
            log.error("an alert condition in the store does not read: %r", data)
    return out


class Alerter:
    """One pass of the lifecycle at a time; ``step`` is called by the worker's alert loop."""

    def __init__(self, store: Store, config: Callable[[], AlertingConfig | None],
                 catalogue: Callable[[], Catalogue], clock: Callable[[], float], *,
                 publish: Callable[[Event], object], public_url: str = "http://127.0.0.1:8050",
                 exercise: Callable[[], bool] = lambda: False,
                 wake_dispatcher: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.book = AlertBook(store)
        self.config = config
        self.catalogue = catalogue
        self.clock = clock
        self.publish = publish
        self.public_url = public_url.rstrip("/")
        self.exercise = exercise
        self.wake_dispatcher = wake_dispatcher

    # --- one pass ----------------------------------------------------------------------------

    def step(self) -> float | None:
        """Bring the alerts up to date; returns the Surge time something next falls due
        (an escalation, a repeat, an acknowledgement expiring, a group), None if nothing."""
        config = self.config()
        if config is None:
            return None
        now = self.clock()
        catalogue = self.catalogue()
        wanted = {c.key: c for c in conditions(self.store, catalogue, config, now, self.book)}
        active = self.book.active()
        by_key = {a.key: a for a in active.values()}
        acks = self.book.acks()
        silences = self._live_silences(now)
        outgoing: list[tuple[str, dict[str, Any], float]] = []  # (receiver, message, wait)
        changed: list[Alert] = []
        due: list[float] = []

        for key, cond in wanted.items():
            routes = config.routes_for(cond.kind, cond.name, cond.level, cond.site,
                                       cond.function)
            if not routes:
                continue  # nobody is to be told: an alert for it, if any, resolves
            alert = by_key.pop(key, None)
            moved = True
            if alert is None:
                alert = self._fire(cond, routes, now, silences, outgoing)
            else:
                alert, moved = self._update(alert, cond, routes, acks.get(alert.id), now,
                                            silences, outgoing)
            if moved:
                changed.append(alert)
            if (at := self._next_due(alert, now)) is not None:
                due.append(at)
        self.book.save(*changed)
        for alert in by_key.values():  # no longer wanted: resolved
            self._resolve(alert, wanted.get(alert.key), now, silences, outgoing)
        self._queue(outgoing, now, config)
        group_due = self.flush(now)
        if group_due is not None:
            due.append(group_due)
        return min(due, default=None)

    # --- transitions --------------------------------------------------------------------------

    def _fire(self, cond: Condition, routes: list[Route], now: float,
              silences: Mapping[str, Silence], outgoing: list) -> Alert:
        receivers = tuple(dict.fromkeys(r.receiver for r in routes))
        chain_route = next((r for r in routes if r.escalate), routes[0])
        alert_id = "al-" + hashlib.sha1(f"{cond.key}|{now}|{uuid.uuid4()}".encode()).hexdigest()[:10]
        alert = Alert(
            id=alert_id, key=cond.key, kind=cond.kind, name=cond.name, title=cond.title,
            level=cond.level, level_name=cond.level_name,
            severity=severity_of(cond.kind, cond.level), reason=cond.reason,
            since=cond.since, fired_at=now, site=cond.site, function=cond.function,
            exercise=self.exercise(), receivers=receivers,
            chain=tuple((s.after, s.receiver) for s in chain_route.escalate),
            unacked_since=now, repeat_interval=routes[0].timing.repeat_interval,
            ack_timeout=routes[0].timing.ack_timeout)
        alert = self._tell(alert, "firing", receivers, now, silences, outgoing)
        self.publish(AlertFiring(ts=now, alert=alert.id, name=alert.name,
                                 severity=alert.severity, summary=self._summary(alert),
                                 level=alert.level, channels=receivers))
        return alert

    def _update(self, alert: Alert, cond: Condition, routes: list[Route], ack: Ack | None,
                now: float, silences: Mapping[str, Silence],
                outgoing: list) -> tuple[Alert, bool]:
        before = alert
        if alert.withheld and not any(s.covers(alert, now) for s in silences.values()):
            alert = self._tell(replace(alert, withheld=()), "firing", alert.withheld, now,
                               silences, outgoing)  # its silence ended while it fires
        rose = cond.level is not None and alert.level is not None and cond.level > alert.level
        alert = replace(alert, reason=cond.reason, level=cond.level,
                        level_name=cond.level_name, title=cond.title,
                        severity=severity_of(cond.kind, cond.level))
        if rose:  # severity up: everyone told so far, and the new level's routes
            more = tuple(r.receiver for r in routes if r.receiver not in alert.notified)
            alert = self._tell(alert, "firing", tuple(dict.fromkeys(alert.notified + more)),
                               now, silences, outgoing)
        if ack is not None and alert.acked_at != ack.at:  # a new acknowledgement
            alert = replace(alert, acked_by=ack.by, acked_at=ack.at, ack_note=ack.note or None,
                            ack_expires=ack.at + alert.ack_timeout,
                            unacked_total=alert.unacked_for(ack.at), unacked_since=None)
            alert = self._tell(alert, "acknowledged", alert.notified, now, silences, outgoing)
        if alert.unacked_since is None and alert.ack_expires is not None \
                and now >= alert.ack_expires:  # it still fires: escalation resumes
            alert = replace(alert, unacked_since=alert.ack_expires, acked_by=None,
                            ack_expires=None)
            alert = self._tell(alert, "firing", alert.notified, now, silences, outgoing)
        step = alert.next_step
        if step is not None and alert.unacked_since is not None \
                and alert.unacked_for(now) >= step[0]:
            receiver = step[1]
            alert = replace(alert, step=alert.step + 1)
            last = alert.last_notified  # (the others' repeats keep their own time)
            alert = self._tell(alert, "escalated", (receiver,), now, silences, outgoing)
            alert = replace(alert, last_notified=last)
            self.publish(AlertEscalated(ts=now, alert=alert.id, name=alert.name,
                                        step=alert.step, notified=(receiver,),
                                        reason=f"not acknowledged for "
                                               f"{int(alert.unacked_for(now) // 60)} min"))
        elif alert.unacked_since is not None and alert.last_notified is not None \
                and now - alert.last_notified >= alert.repeat_interval:
            alert = self._tell(alert, "firing", alert.notified, now, silences, outgoing)
        return alert, alert != before

    def _resolve(self, alert: Alert, cond: Condition | None, now: float,
                 silences: Mapping[str, Silence], outgoing: list) -> None:
        if cond is not None:  # still there, but below every route's min_level: say where
            alert = replace(alert, level=cond.level, level_name=cond.level_name,
                            reason=cond.reason, severity=severity_of(cond.kind, cond.level))
        alert = replace(alert, resolved_at=now, resolved_reason="its cause cleared")
        alert = self._tell(alert, "resolved", alert.notified, now, silences, outgoing,
                           even_silenced=True)
        self.book.close(alert)
        if alert.kind == "worker":  # a worker is active again: the watchers may raise anew
            self.store.client.delete(keys.WORKER_ALERT_CLAIM)
        self.publish(AlertResolved(ts=now, alert=alert.id, name=alert.name,
                                   reason="its cause cleared"))

    def _tell(self, alert: Alert, status: str, receivers: tuple[str, ...], now: float,
              silences: Mapping[str, Silence], outgoing: list, *,
              even_silenced: bool = False) -> Alert:
        silence = next((s for s in silences.values() if s.covers(alert, now)), None)
        alert = replace(alert, silenced=silence.id if silence else None)
        if silence is not None and not even_silenced:
            if status in ("firing", "escalated"):  # told when the silence ends, if it fires
                alert = replace(alert, withheld=tuple(dict.fromkeys(alert.withheld
                                                                    + receivers)))
            return replace(alert, last_notified=now)
        message = message_of(alert, status, now, self.public_url)
        for receiver in receivers:
            outgoing.append((receiver, message, 0.0))
        return replace(alert, notified=tuple(dict.fromkeys(alert.notified + receivers)),
                       last_notified=now)

    def _next_due(self, alert: Alert, now: float) -> float | None:
        times = []
        if (at := alert.next_escalation(now)) is not None:
            times.append(at)
        if alert.unacked_since is not None and alert.last_notified is not None:
            times.append(alert.last_notified + alert.repeat_interval)
        if alert.unacked_since is None and alert.ack_expires is not None:
            times.append(alert.ack_expires)
        return min(times, default=None)

    def _live_silences(self, now: float) -> dict[str, Silence]:
        silences = self.book.silences()
        for silence in [s for s in silences.values() if now >= s.ends]:
            if self.book.drop_silence(silence.id):
                self.publish(SilenceEnded(ts=now, silence=silence.id, reason="expired"))
            silences.pop(silence.id)
        return silences

    # --- messages and groups -------------------------------------------------------------------

    def _summary(self, alert: Alert) -> str:
        if alert.kind == "level" and alert.level is not None:
            return f"Level {alert.level} {alert.level_name or ''}: {alert.title}: {alert.reason}"
        return f"{alert.title}: {alert.reason}"

    def _queue(self, outgoing: list[tuple[str, dict[str, Any], float]], now: float,
               config: AlertingConfig) -> None:
        """Messages join their receiver's group, due group_wait after its first message."""
        if not outgoing:
            return
        groups = self.book.groups()
        for receiver, message, _ in outgoing:
            if receiver not in config.receivers:
                log.error("alert %s: receiver %r is not in the alerting config any more",
                          message["alert_id"], receiver)
                continue
            wait = _group_wait(config, message)
            group = groups.setdefault(receiver, {"due": now + wait, "messages": []})
            group["due"] = min(group["due"], now + wait)
            # one message per alert and status in a group: the latest firing says where it
            # stands, and an acknowledgement or an escalation is never lost to a later change
            same = (message["alert_id"], message["status"])
            group["messages"] = [m for m in group["messages"]
                                 if (m["alert_id"], m["status"]) != same] + [message]
        for receiver, group in groups.items():
            self.book.save_group(receiver, group)

    def flush(self, now: float) -> float | None:
        """Groups whose group_wait has passed become notifications in the outbox; returns
        when the next one falls due."""
        later: list[float] = []
        flushed = False
        for receiver, group in self.book.groups().items():
            if group["due"] > now:
                later.append(group["due"])
                continue
            messages = tuple(group["messages"])
            nid = "n-" + uuid.uuid4().hex[:16]
            messages = tuple({**m, "idempotency_key": f"{nid}:{m['alert_id']}:{m['status']}"}
                             for m in messages)
            self.book.flush_group(receiver, Notification(
                id=nid, receiver=receiver, messages=messages, created=time.time(),
                next_at=time.time(), exercise=any(m["exercise"] for m in messages),
                alerts=tuple(m["alert_id"] for m in messages)))
            flushed = True
        if flushed:
            self.wake_dispatcher()
        return min(later, default=None)


def _group_wait(config: AlertingConfig, message: Mapping[str, Any]) -> float:
    labels = message.get("labels") or {}
    routes = config.routes_for(message["kind"], message["name"], message.get("level"),
                               labels.get("site"), labels.get("function"))
    return min((r.timing.group_wait for r in routes), default=config.timing.group_wait)


def as_dict(alert: Alert) -> dict[str, Any]:
    return asdict(alert)
