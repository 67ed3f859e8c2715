"""Telling people about alerts: the words for each channel, and sending them.

    Message                  one alert's state as told to people
    subject, text_body       an email (plain text, for a phone's lock screen first)
    webhook_json             format json: one alert, one POST
    teams_card, slack_body   formats teams and slack: a group of alerts in one POST
    alertmanager_alerts      POST /api/v2/alerts to a Prometheus Alertmanager
    deliver                  send a group to each of a receiver's targets -> an Outcome each

Nothing here raises for a failed delivery: every failure is an ``Outcome`` saying whether a
retry may help (``retry=True``: refused connection, timeout, 5xx, 408, 429, a temporary SMTP
refusal) or not (a 4xx, a bad address, a server that would take mail only in clear, a
missing environment variable). Details name hosts, codes and variables, never a password,
a header value or a URL that is itself a key.

Times for people are UK time (``surge.timefmt.uk_time``); times for machines are UTC ISO 8601.
In an exercise every subject, body and card starts with EXERCISE.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import os
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx

from surge.alerting.config import (
    AlertmanagerTarget,
    EmailTarget,
    Receiver,
    SmtpServer,
    WebhookTarget,
    smtp_server,
)
from surge.errors import ConfigError
from surge.timefmt import uk_time, utc_iso

__all__ = [
    "ALERTMANAGER_HOLD",
    "CLOCK_SLACK",
    "SMTP_TIMEOUT",
    "Message",
    "Outcome",
    "alertmanager_alerts",
    "deliver",
    "group_key",
    "headline",
    "message_id",
    "ordered",
    "slack_body",
    "subject",
    "teams_card",
    "text_body",
    "webhook_json",
]

SMTP_TIMEOUT = 20.0  # seconds for each step of an SMTP conversation (email has no timeout key)
# A firing alert told to Alertmanager ends this long after it was last told, unless resolved
# sooner. Surge tells again at every change and repeat; an endsAt too close would let
# Alertmanager resolve an alert that still fires (it resolves one without endsAt after its
# resolve_timeout, 5 min by default): falsely reassuring. Too long errs on the safe side.
ALERTMANAGER_HOLD = 24 * 3600.0
CLOCK_SLACK = 60.0  # seconds Alertmanager's clock may be behind ours
SHOWN = 10  # alerts shown one by one in a Teams or Slack message; the rest are counted
SUBJECT_MAX = 200
DETAIL_MAX = 300
USER_AGENT = "surge-alerts"

_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\xa0-\xff]+")
_STATUS_RANK = {"escalated": 0, "firing": 1, "acknowledged": 2, "resolved": 3}
_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Message:
    """One alert's state as told to people, at one change (``status``)."""

    alert_id: str
    idempotency_key: str  # the same on every retry of this notification
    status: str  # firing | escalated | acknowledged | resolved
    kind: str  # level | feed | rules | worker | divergence | delivery
    name: str  # call_handling, ae@RVJ, cad-calls
    title: str  # for people: "999 call handling", "A&E at Royal Victoria"
    level: int | None
    level_name: str | None
    severity: str  # critical | warning | info
    reason: str  # "calls waiting 54 >= 50 for 5 min"
    since: float  # UTC epoch seconds: when the alert began
    at: float  # when this change happened
    url: str  # the alert on /alerts
    exercise: bool
    labels: Mapping[str, str]  # site, function
    acknowledged_by: str | None = None
    note: str | None = None
    escalation_step: int = 0
    ends_at: float | None = None


@dataclass(frozen=True)
class Outcome:
    """How one delivery to one target went."""

    ok: bool
    retry: bool  # False: failed for good (a 4xx, a bad address); True: worth trying again
    detail: str  # short, for logs and the record; never a secret
    status: int | None = None  # the HTTP or SMTP code, when there was one


# --- words --------------------------------------------------------------------------------------


def ordered(messages: Iterable[Message]) -> list[Message]:
    """Most pressing first: real before exercise, still firing before acknowledged and
    resolved, highest level and severity, then the newest."""
    return sorted(messages, key=lambda m: (
        m.exercise, _STATUS_RANK.get(m.status, 1), -(m.level or 0),
        _SEVERITY_RANK.get(m.severity, 1), -m.at))


def headline(message: Message) -> str:
    """One line for one alert: RESOLVED: Level 4 Extreme pressure: 999 call handling: calls
    waiting 54 >= 50 for 5 min (without EXERCISE, which the whole message carries)."""
    return f"{_heading(message)}: {message.reason}" if message.reason else _heading(message)


def subject(messages: Sequence[Message]) -> str:
    """An email subject a duty manager can act on from a phone's lock screen: the most
    pressing alert's headline, with how many more there are."""
    items = _non_empty(messages)
    drill = all(m.exercise for m in items)
    prefix = "EXERCISE: " if drill else ""
    suffix = ""
    if len(items) > 1:
        prefix += f"{len(items)} alerts: "
        drills = sum(m.exercise for m in items)
        suffix = f" (+{len(items) - 1} more" + \
            (f", {drills} of them EXERCISE)" if drills and not drill else ")")
    text = _clip(headline(items[0]), SUBJECT_MAX - len(prefix) - len(suffix))
    return _one_line(prefix + text + suffix)


def text_body(messages: Sequence[Message]) -> str:
    """The plain-text email: each alert with its status, times in UK time and its link."""
    items = _non_empty(messages)
    at = max(m.at for m in items)
    drills = [m.exercise for m in items]
    lines: list[str] = []
    if all(drills):
        lines += [f"EXERCISE - {'this is' if len(items) == 1 else 'these are'} from an "
                  f"exercise, not a real alert.", ""]
    elif any(drills):
        lines += ["REAL ALERTS AND EXERCISE ALERTS together: the exercise ones are marked "
                  "EXERCISE.", ""]
    if len(items) == 1:
        lines += [*_block(items[0], at), ""]
    else:
        lines += [f"{len(items)} alerts, as of {uk_time(at, dated=True, seconds=False)} "
                  f"UK time:", ""]
        for n, m in enumerate(items, 1):
            first, *rest = _block(m, at, mark=any(drills) and not all(drills))
            lines += [f"{n}. {first}", *(f"   {line}" for line in rest), ""]
    lines += ["-- ", f"Surge surge monitoring, {uk_time(at, dated=True, seconds=False)} UK "
                     f"time. Reference: {group_key(items)}"]
    return "\n".join(lines) + "\n"


def webhook_json(message: Message) -> dict[str, Any]:
    """Format json: one alert as a JSON object (times UTC ISO 8601)."""
    m = message
    return {
        "id": m.alert_id, "idempotency_key": m.idempotency_key, "status": m.status,
        "kind": m.kind, "name": m.name, "level": m.level, "level_name": m.level_name,
        "reason": m.reason, "since": utc_iso(m.since), "url": m.url, "exercise": m.exercise,
        # beyond the fixed fields: what a relay needs to show it without asking again
        "severity": m.severity, "title": m.title, "summary": subject([m]),
        "labels": dict(m.labels), "acknowledged_by": m.acknowledged_by, "note": m.note,
        "escalation_step": m.escalation_step, "at": utc_iso(m.at),
        "ends_at": utc_iso(m.ends_at) if m.ends_at is not None else None,
    }


def teams_card(messages: Sequence[Message]) -> dict[str, Any]:
    """Format teams: a Microsoft Teams message with one Adaptive Card (1.4), as Teams
    incoming webhooks and Workflows accept it."""
    items = _non_empty(messages)
    at = max(m.at for m in items)
    drill = all(m.exercise for m in items)
    mixed = not drill and any(m.exercise for m in items)
    body: list[dict[str, Any]] = []
    if drill:
        body.append({"type": "Container", "style": "warning", "items": [_text(
            "EXERCISE - not a real alert", weight="Bolder", color="Attention")]})
    single = len(items) == 1
    body.append(_text(subject(items) if single else
                      f"{'EXERCISE: ' if drill else ''}{len(items)} alerts", size="Large",
                      weight="Bolder", color=_colour(items[0])))
    for m in items[:SHOWN]:
        part: list[dict[str, Any]] = []
        if not single:
            part.append(_text(("EXERCISE: " if mixed and m.exercise else "") + _heading(m),
                              weight="Bolder", color=_colour(m)))
            part.append(_text(m.reason))
        part.append({"type": "FactSet", "facts": [{"title": k, "value": v}
                                                  for k, v in _facts(m, at)]})
        if not single and _absolute(m.url):
            part.append({"type": "ActionSet", "actions": [
                {"type": "Action.OpenUrl", "title": "Open in Surge", "url": m.url}]})
        body.append({"type": "Container", "separator": not single, "items": part})
    if len(items) > SHOWN:
        body.append(_text(f"and {len(items) - SHOWN} more: see the alerts page in Surge.",
                          isSubtle=True))
    card: dict[str, Any] = {
        "type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4", "body": body, "msteams": {"width": "Full"}}
    link = items[0].url if single else _alerts_page(items[0].url)
    if _absolute(link):
        card["actions"] = [{"type": "Action.OpenUrl",
                            "title": "Open in Surge" if single else "All alerts in Surge",
                            "url": link}]
    return {"type": "message", "summary": subject(items), "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
         "content": card}]}


def slack_body(messages: Sequence[Message]) -> dict[str, Any]:
    """Format slack: a Slack incoming-webhook body; ``text`` is what notifications show."""
    items = _non_empty(messages)
    at = max(m.at for m in items)
    drill = all(m.exercise for m in items)
    mixed = not drill and any(m.exercise for m in items)
    top = subject(items) if len(items) == 1 else \
        f"{'EXERCISE: ' if drill else ''}{len(items)} alerts"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(top, 150)}}]
    if drill:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": "*EXERCISE* - not a real alert"}]})
    for m in items[:SHOWN]:
        title = ("EXERCISE: " if mixed and m.exercise else "") + _heading(m)
        lines = [f"*{_slack_link(m.url, title)}*", _slack(m.reason), _slack(_status_line(m, at))]
        if m.note:
            lines.append(_slack(f"Note: {m.note}"))
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": _clip("\n".join(lines), 3000)}})
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": _slack(_meta(m))}]})
    if len(items) > SHOWN:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"and {len(items) - SHOWN} more: "
            f"{_slack_link(_alerts_page(items[0].url), 'all alerts in Surge')}")}]})
    return {"text": subject(items), "blocks": blocks}


def alertmanager_alerts(messages: Sequence[Message], now: float | None = None
                        ) -> list[dict[str, Any]]:
    """The body of ``POST /api/v2/alerts``: one alert each.

    Labels are what identifies an alert to Alertmanager, so they hold only what stays the
    same for the alert's whole life (alertname="Surge", kind, name, exercise, site,
    function): a level alert's level and severity change as it rises and falls, and with
    them in the labels Alertmanager would keep each earlier level firing as another alert,
    unresolved. Level and severity are annotations.

    A firing alert ends ALERTMANAGER_HOLD after it was told; a resolved one when it ended.
    ``now`` (the real time of sending; deliver gives it) keeps both right on Alertmanager's
    clock, which is real time: a resolved alert ends no later than CLOCK_SLACK before now
    (an end Alertmanager saw as still to come would leave the alert firing until the hold
    ran out), and a firing one holds from now, even when an exercise's clock is elsewhere."""
    out = []
    for m in messages:
        labels = {"alertname": "Surge", "kind": m.kind, "name": m.name,
                  "exercise": "true" if m.exercise else "false"}
        for key, value in m.labels.items():
            name = re.sub(r"\W", "_", key, flags=re.ASCII)
            if value and name not in labels and re.match(r"[A-Za-z_]", name):
                labels[name] = str(value)
        annotations = {"summary": subject([m]), "description": "\n".join(_block(m, m.at)),
                       "url": m.url, "severity": m.severity, "status": m.status,
                       "alert_id": m.alert_id}
        if m.level is not None:
            annotations["level"] = str(m.level)
            annotations["level_name"] = m.level_name or ""
        if m.acknowledged_by:
            annotations["acknowledged_by"] = m.acknowledged_by
        if m.note:
            annotations["note"] = m.note
        starts = m.since
        if m.status == "resolved":
            ends = m.ends_at if m.ends_at is not None else m.at
            if now is not None:
                ends = min(ends, now - CLOCK_SLACK)
            starts = min(starts, ends)  # Alertmanager refuses an end before the start
        else:
            ends = max(m.at, now if now is not None else m.at) + ALERTMANAGER_HOLD
        alert: dict[str, Any] = {"labels": labels, "annotations": annotations,
                                 "startsAt": utc_iso(starts), "endsAt": utc_iso(ends)}
        if _absolute(m.url):
            alert["generatorURL"] = m.url
        out.append(alert)
    return out


def group_key(messages: Sequence[Message]) -> str:
    """The idempotency key of a group sent as one (an email, a Teams or Slack POST): one
    message's own key; for several, the notification id their keys share (``id:alert``), or
    else a digest of their keys. The same group gives the same key on every retry."""
    keys = sorted({m.idempotency_key for m in messages})
    if len(keys) == 1:
        return keys[0]
    stems = {k.rpartition(":")[0] for k in keys}
    if len(stems) == 1 and "" not in stems:
        return stems.pop()
    return "group-" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]


def message_id(key: str, sender: str) -> str:
    """An email's Message-ID made from its idempotency key, so that a repeated send is
    recognisably the same email: <surge.KEY@the sender's domain>."""
    local = re.sub(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+", ".", key).strip(".")
    if not local:
        local = hashlib.sha256(key.encode()).hexdigest()[:32]
    domain = sender.rpartition("@")[2]
    if "@" not in sender or not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?", domain):
        domain = "surge.localhost"
    return f"<surge.{local}@{domain}>"


def _heading(m: Message) -> str:
    """RESOLVED: Level 4 Extreme pressure: 999 call handling (no reason)."""
    if m.status == "resolved":
        status = "RESOLVED: "
    elif m.status == "acknowledged":
        status = f"ACKNOWLEDGED by {m.acknowledged_by}: " if m.acknowledged_by \
            else "ACKNOWLEDGED: "
    elif m.status == "escalated":
        status = f"ESCALATED (step {m.escalation_step}): " if m.escalation_step \
            else "ESCALATED: "
    else:
        status = ""
    level = ""
    if m.level is not None:
        level = f"Level {m.level} {m.level_name}: " if m.level_name else f"Level {m.level}: "
    return f"{status}{level}{m.title}"


def _block(m: Message, at: float, *, mark: bool = False) -> list[str]:
    """One alert in the email's words: heading, reason, status, what and where, link."""
    lines = [("EXERCISE: " if mark and m.exercise else "") + _heading(m)]
    if m.reason:
        lines.append(m.reason)
    lines.append(_status_line(m, at))
    if m.note:
        lines.append(f'Note: "{m.note}"')
    lines.append(_meta(m))
    if m.url:
        lines.append(f"Open in Surge: {m.url}")
    return [_one_line(line) for line in lines]


def _status_line(m: Message, at: float) -> str:
    since = f"{_when(m.since, at)} UK time"
    if m.status == "resolved":
        end = m.ends_at if m.ends_at is not None else m.at
        return (f"Resolved at {_when(end, at)} UK time, after {_span(end - m.since)} "
                f"(since {since}).")
    if m.status == "acknowledged":
        who = f" by {m.acknowledged_by}" if m.acknowledged_by else ""
        return f"Acknowledged{who} at {_when(m.at, at)} UK time; still firing since {since}."
    if m.status == "escalated":
        step = f" (step {m.escalation_step})" if m.escalation_step else ""
        return (f"Not acknowledged: escalated{step} at {_when(m.at, at)} UK time; firing "
                f"since {since} ({_span(m.at - m.since)}).")
    return f"Firing since {since} ({_span(m.at - m.since)})."


def _meta(m: Message) -> str:
    parts = [m.severity, f"{m.kind} {m.name}"]
    parts += [f"{key} {value}" for key, value in m.labels.items() if value]
    return " · ".join(parts)


def _facts(m: Message, at: float) -> list[tuple[str, str]]:
    facts = [("Status", _status_line(m, at))]
    if m.note:
        facts.append(("Note", m.note))
    facts.append(("Severity", m.severity))
    facts += [(key.capitalize(), str(value)) for key, value in m.labels.items() if value]
    return facts


def _when(ts: float, at: float) -> str:
    return uk_time(ts, seconds=False, now=at)


def _span(seconds: float) -> str:
    """27 min, 2 h 5 min: how long, for people."""
    minutes = max(0, int(seconds // 60))
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _colour(m: Message) -> str:
    if m.status == "resolved":
        return "Good"
    if m.status == "acknowledged":
        return "Accent"
    return {"critical": "Attention", "warning": "Warning"}.get(m.severity, "Default")


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _slack(text: str) -> str:
    """Text as Slack mrkdwn shows it literally (its three control characters escaped)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str, text: str) -> str:
    if not _absolute(url):
        return _slack(text)
    return f"<{_slack(url).replace('|', '%7C')}|{_slack(text)}>"


def _absolute(url: str) -> bool:
    """Whether ``url`` can be a link in a card, a button or Alertmanager (http or https)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _alerts_page(url: str) -> str:
    return url.partition("#")[0]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:max(0, limit - 3)].rstrip() + "..."


def _non_empty(messages: Sequence[Message]) -> list[Message]:
    items = ordered(messages)
    if not items:
        raise ValueError("no messages to put into words")
    return items


# --- sending ------------------------------------------------------------------------------------


def deliver(receiver: Receiver, messages: Sequence[Message], *, smtp_url: str | None,
            env: Mapping[str, str] = os.environ,
            timeout: float | None = None) -> dict[str, Outcome]:
    """Send ``messages`` (one group) to each of the receiver's targets; an Outcome for each
    target there is ("email", "webhook", "alertmanager"). Never raises.

    ``smtp_url`` is SURGE_SMTP_URL; ``env`` is where ``headers_env`` values are read;
    ``timeout``, when given, caps every target's own (seconds for each network call)."""
    items = ordered(messages)
    if not items:
        return {}
    secrets = _secrets(receiver, smtp_url, env)
    sends: list[tuple[str, Callable[[], Outcome]]] = []
    if receiver.email is not None:
        email_target = receiver.email
        sends.append(("email", lambda: _send_email(
            email_target, items, smtp_url, _cap(SMTP_TIMEOUT, timeout))))
    if receiver.webhook is not None:
        hook = receiver.webhook
        sends.append(("webhook", lambda: _send_webhook(
            hook, items, env, _cap(hook.timeout, timeout))))
    if receiver.alertmanager is not None:
        manager = receiver.alertmanager
        sends.append(("alertmanager", lambda: _send_alertmanager(
            manager, items, _cap(manager.timeout, timeout))))
    outcomes: dict[str, Outcome] = {}
    for target, send in sends:
        try:
            outcome = send()
        except Exception as exc:  # a delivery never raises: it has an outcome
            outcome = Outcome(False, True, f"unexpected {type(exc).__name__} while sending")
        outcomes[target] = Outcome(outcome.ok, outcome.retry,
                                   _clip(_scrub(outcome.detail, secrets), DETAIL_MAX),
                                   outcome.status)
    return outcomes


def _cap(own: float, cap: float | None) -> float:
    return own if cap is None else min(own, cap)


def _secrets(receiver: Receiver, smtp_url: str | None, env: Mapping[str, str]) -> list[str]:
    """What must never appear in a detail: header values, a URL read from the environment
    (it is a key), the SMTP password."""
    found: list[str] = []
    hook = receiver.webhook
    if hook is not None:
        found += [env.get(var, "") for var in hook.headers_env.values()]
        if hook.url_env:
            parts = urlsplit(hook.url)
            found += [hook.url, parts.path, parts.query]
    if smtp_url:
        with contextlib.suppress(ValueError):
            parts = urlsplit(smtp_url.strip())
            found += [smtp_url, parts.password or ""]
    # longest first, so a URL goes before its path; short strings would blank out words
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


# email


def _send_email(target: EmailTarget, messages: list[Message], smtp_url: str | None,
                timeout: float) -> Outcome:
    """One email for the group, to every address, over SMTP. STARTTLS when the server's URL
    asks for it; then, if the server does not offer it, nothing is sent in clear (unless the
    receiver says ``starttls: false`` and no password is to be sent)."""
    if not smtp_url:
        return Outcome(False, False, "SURGE_SMTP_URL is not set: no email can be sent")
    try:
        server = smtp_server(smtp_url)
    except ConfigError as exc:  # (its messages never repeat the password)
        return Outcome(False, False, "SURGE_SMTP_URL cannot be used: "
                                     + "; ".join(p.message for p in exc.problems))
    where = f"mail server {server.host}:{server.port}"
    sender = server.sender or _default_sender(server)
    mail = _email(target, messages, sender)
    try:
        smtp = _smtp_connect(server, timeout)
    except (smtplib.SMTPException, OSError) as exc:
        return _smtp_failure(exc, where, timeout)
    try:
        smtp.ehlo()
        if server.starttls and not server.ssl:
            if smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            elif target.starttls or server.password:
                return Outcome(False, False, (
                    f"the {where} does not offer STARTTLS, which SURGE_SMTP_URL asks for: no "
                    f"email is sent unencrypted (for a local relay without TLS, end "
                    f"SURGE_SMTP_URL with ?starttls=off)"))
        if server.username:
            smtp.login(server.username, server.password or "")
        refused = smtp.send_message(mail, from_addr=sender, to_addrs=list(target.to))
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()
    except (smtplib.SMTPException, OSError) as exc:
        return _smtp_failure(exc, where, timeout)
    finally:
        smtp.close()
    if refused:
        return Outcome(False, any(400 <= code < 500 for code, _ in refused.values()),
                       f"the {where} refused " + _refusals(refused),
                       next(iter(refused.values()))[0])
    return Outcome(True, False, f"sent to {len(target.to)} address"
                                f"{'' if len(target.to) == 1 else 'es'} by the {where}", 250)


def _email(target: EmailTarget, messages: list[Message], sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = subject(messages)
    mail["From"] = sender
    mail["To"] = ", ".join(target.to)
    mail["Date"] = email.utils.formatdate(usegmt=True)
    mail["Message-ID"] = message_id(group_key(messages), sender)
    mail["Auto-Submitted"] = "auto-generated"  # no out-of-office replies (RFC 3834)
    mail["X-Auto-Response-Suppress"] = "All"  # (the same, for Exchange)
    if any(m.severity == "critical" and m.status in ("firing", "escalated")
           and not m.exercise for m in messages):
        mail["Importance"] = "high"
    mail.set_content(text_body(messages))
    return mail


def _default_sender(server: SmtpServer) -> str:
    if server.username and "@" in server.username:
        return server.username
    return f"surge@{socket.gethostname() or 'localhost'}"


def _smtp_connect(server: SmtpServer, timeout: float) -> smtplib.SMTP:
    # A fixed EHLO name: smtplib would otherwise look up this host's FQDN in DNS, unbounded.
    helo = socket.gethostname() or "localhost"
    if server.ssl:
        return smtplib.SMTP_SSL(server.host, server.port, local_hostname=helo,
                                timeout=timeout, context=ssl.create_default_context())
    return smtplib.SMTP(server.host, server.port, local_hostname=helo, timeout=timeout)


def _smtp_failure(exc: BaseException, where: str, timeout: float) -> Outcome:
    """An SMTP or network error as an Outcome: a 5xx refusal and certificate or TLS
    problems are for good; a 4xx, a timeout or a dropped connection are worth a retry."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return Outcome(False, any(400 <= c < 500 for c in codes),
                       f"the {where} refused every address: " + _refusals(exc.recipients),
                       codes[0] if codes else None)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return Outcome(False, False, f"the {where} refused the user name or password in "
                                     f"SURGE_SMTP_URL ({_reply(exc.smtp_code, exc.smtp_error)})",
                       exc.smtp_code)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return Outcome(False, False, f"the {where} does not support what was asked: {exc}")
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        return Outcome(False, not 500 <= code < 600,
                       f"the {where} answered {_reply(code, exc.smtp_error)}", code)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return Outcome(False, True, f"the {where} closed the connection")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Outcome(False, False, f"the {where}'s certificate was not accepted: "
                                     f"{exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        return Outcome(False, False, f"TLS with the {where} failed ({exc.reason}): is it "
                                     f"smtps:// (TLS from the start) or smtp:// (STARTTLS)?")
    if isinstance(exc, TimeoutError):
        return Outcome(False, True, f"no answer from the {where} within {timeout:g} s")
    if isinstance(exc, ConnectionRefusedError):
        return Outcome(False, True, f"connection refused by the {where}")
    if isinstance(exc, socket.gaierror):
        return Outcome(False, True, f"the {where} cannot be found ({exc.strerror})")
    if isinstance(exc, OSError):
        return Outcome(False, True, f"cannot reach the {where} "
                                    f"({exc.strerror or type(exc).__name__})")
    return Outcome(False, True, f"{type(exc).__name__} with the {where}")


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return _clip(f"{code} {_one_line(words)}", 120)


def _refusals(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{address}: {_reply(code, text)}"
                     for address, (code, text) in refused.items())


# HTTP


def _send_webhook(target: WebhookTarget, messages: list[Message], env: Mapping[str, str],
                  timeout: float) -> Outcome:
    """Format json: one POST per message, each with its own key, until one fails; teams
    and slack: one POST for the group, with the group's key."""
    headers: dict[str, str] = {}
    for header, var in target.headers_env.items():
        value = env.get(var)
        if not value:
            return Outcome(False, False, f"header {header}: the environment variable {var} "
                                         f"is {'empty' if value == '' else 'not set'}")
        if not _HEADER_VALUE.fullmatch(value):
            return Outcome(False, False, f"header {header}: the value of {var} cannot be "
                                         f"sent in a header (a line break or a character "
                                         f"beyond Latin-1)")
        headers[header] = value
    if target.format == "json":
        posts = [(webhook_json(m), m.idempotency_key) for m in messages]
    elif target.format == "teams":
        posts = [(teams_card(messages), group_key(messages))]
    elif target.format == "slack":
        posts = [(slack_body(messages), group_key(messages))]
    else:
        return Outcome(False, False, f"unknown webhook format {target.format!r}")
    outcome = Outcome(False, True, "nothing sent")
    with _client(timeout) as client:
        for body, key in posts:
            outcome = _post(client, target.url, body, {**headers, "Idempotency-Key": key},
                            timeout)
            if not outcome.ok:
                break
    if outcome.ok and len(posts) > 1:
        return Outcome(True, False, f"{len(posts)} POSTs: {outcome.detail}", outcome.status)
    return outcome


def _send_alertmanager(target: AlertmanagerTarget, messages: list[Message],
                       timeout: float) -> Outcome:
    url = target.url.rstrip("/")
    if not url.endswith("/api/v2/alerts"):
        url += "/api/v2/alerts"
    with _client(timeout) as client:
        return _post(client, url, alertmanager_alerts(messages, time.time()),
                     {"Idempotency-Key": group_key(messages)}, timeout)


def _client(timeout: float) -> httpx.Client:
    # trust_env: a trust's proxy (HTTPS_PROXY) and CA bundle (SSL_CERT_FILE) are honoured
    return httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False,
                        headers={"User-Agent": USER_AGENT}, trust_env=True)


def _post(client: httpx.Client, url: str, body: Any, headers: Mapping[str, str],
          timeout: float) -> Outcome:
    """One JSON POST as an Outcome: 2xx done; 5xx, 408, 429, timeouts and refused or
    dropped connections worth a retry; anything else (other 4xx, a redirect) for good."""
    where = _host(url)
    try:
        with client.stream("POST", url, content=json.dumps(body).encode(),
                           headers={**headers, "Content-Type": "application/json"}) as reply:
            text = _some_text(reply)
    except httpx.ConnectTimeout:
        return Outcome(False, True, f"no connection to {where} within {timeout:g} s")
    except httpx.TimeoutException:
        return Outcome(False, True, f"no answer from {where} within {timeout:g} s")
    except httpx.ConnectError as exc:
        if isinstance(exc.__context__, ConnectionRefusedError) or "refused" in str(exc):
            return Outcome(False, True, f"connection refused by {where}")
        return Outcome(False, True, f"cannot connect to {where} ({exc})")
    except (httpx.UnsupportedProtocol, httpx.InvalidURL):
        return Outcome(False, False, f"the URL for {where} cannot be used: http:// or "
                                     f"https:// expected")
    except httpx.LocalProtocolError:  # what we would send is not HTTP: sending again won't do
        return Outcome(False, False, f"the request to {where} cannot be sent as it is")
    except httpx.HTTPError as exc:
        return Outcome(False, True, f"{type(exc).__name__} from {where}")
    code = reply.status_code
    said = f"HTTP {code} {reply.reason_phrase}".rstrip() + f" from {where}"
    if text:
        said += f": {text}"
    if 200 <= code < 300:
        return Outcome(True, False, said, code)
    if 300 <= code < 400:
        return Outcome(False, False, f"{said} (a redirect: give the address it leads to)",
                       code)
    return Outcome(False, code >= 500 or code in (408, 429), said, code)


def _some_text(reply: httpx.Response, limit: int = 2048) -> str:
    """The start of a reply's body, as one short line, when it is text (Slack says what
    was wrong that way); the rest is not read."""
    kind = reply.headers.get("content-type", "")
    if not (kind.startswith("text/") or "json" in kind):
        return ""
    data = b""
    for chunk in reply.iter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return _clip(_one_line(data[:limit].decode(errors="replace")), 100)


def _host(url: str) -> str:
    """host:port of a URL: how a detail names a server without its path, which can be a
    key (Teams, Slack)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the webhook"
    if not parts.hostname:
        return "the webhook"
    return f"{parts.hostname}:{port}" if port else parts.hostname
