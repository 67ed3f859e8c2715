"""The ``surge alerts`` commands (list, ack, silence, unsilence, outbox) and ``surge
dev-mailbox``, a local SMTP sink for trying alerts out.

Acknowledging and silencing are actions (surge.actions): ``--as USER`` acts as that user with
the role the store holds for them (duty_manager or above); without it, as the operator on the
server. Times are the run's clock (an exercise's, when one is running), in UK local time.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from surge.actions import acknowledge_alert, create_silence, end_silence
from surge.alerting.book import Alert, AlertBook
from surge.cli_base import (
    as_option,
    cli_actor,
    friendly_errors,
    main,
    open_checked_store,
    store_options,
)
from surge.cli_base import settings_from_options as _settings
from surge.cli_events import run_clock
from surge.durations import parse_duration
from surge.errors import SurgeError
from surge.store import Store
from surge.timefmt import uk_time, utc_iso

__all__ = ["alerts_group", "dev_mailbox"]


def _open(options: dict[str, Any]) -> Store:
    store = open_checked_store(_settings(**options))
    store.clock = run_clock(store)
    return store


@main.group("alerts")
def alerts_group() -> None:
    """Surge alerts: what is firing, acknowledging, silences, and the outbox."""


def _line(alert: Alert, now: float) -> str:
    level = f"Level {alert.level} {alert.level_name or ''} · " if alert.level else ""
    state = (f"ACKNOWLEDGED by {alert.acked_by}" if alert.acked_by else
             "RESOLVED" if alert.resolved_at else "UNACKNOWLEDGED")
    extra = ""
    if not alert.resolved_at and (at := alert.next_escalation(now)) is not None:
        extra = f" · escalates to {alert.chain[alert.step][1]} at {uk_time(at)}"
    silenced = " · SILENCED" if alert.silenced else ""
    return (f"{alert.id}  [{alert.severity}] {level}{alert.title}: {alert.reason}\n"
            f"    since {uk_time(alert.since, zone=True)} · {state} · step {alert.step}"
            f"{extra}{silenced} · told: {', '.join(alert.notified) or '-'}"
            + (" · EXERCISE" if alert.exercise else ""))


@alerts_group.command("list")
@click.option("--resolved", "show_resolved", type=int, default=0, metavar="N",
              help="Also the N most recently resolved alerts.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@store_options
@friendly_errors
def list_alerts(show_resolved: int, as_json: bool, **options: Any) -> None:
    """Active alerts, most severe first; silences in force."""
    store = _open(options)
    book = AlertBook(store)
    now = store.clock()
    active = sorted(book.active().values(), key=lambda a: (-(a.level or 0), a.fired_at))
    resolved = book.resolved(show_resolved) if show_resolved > 0 else []
    silences = list(book.silences().values())
    if as_json:
        from dataclasses import asdict

        click.echo(json.dumps({"at": utc_iso(now), "active": [asdict(a) for a in active],
                               "resolved": [asdict(a) for a in resolved],
                               "silences": [asdict(s) for s in silences]}, default=str))
        return
    if not active:
        click.echo("No active alerts.")
    for alert in active:
        click.echo(_line(alert, now))
    for alert in resolved:
        click.echo(_line(alert, now))
    for s in silences:
        what = ", ".join(f"{k}={v}" for k, v in s.matcher.items())
        click.echo(f"SILENCE {s.id}: {what} until {uk_time(s.ends, zone=True)} by {s.by}: "
                   f"{s.reason}")


@alerts_group.command("ack")
@click.argument("alert_id")
@click.option("--note", help="What you are doing about it (optional).")
@as_option
@store_options
@friendly_errors
def ack(alert_id: str, note: str | None, as_user: str | None, **options: Any) -> None:
    """Acknowledge an alert: its escalation stops until the acknowledgement expires."""
    store = _open(options)
    done = acknowledge_alert(store, cli_actor(store, as_user), alert=alert_id, note=note)
    click.echo(f"Alert {done.alert} ({done.name}) acknowledged by {done.by} at "
               f"{uk_time(done.at, zone=True)}.")


@alerts_group.command("silence")
@click.option("--match", "matches", multiple=True, metavar="FIELD=VALUE", required=True,
              help="What to silence: kind, name, site, function or min_level; repeat to "
                   "narrow (e.g. --match kind=feed --match name=cad-calls).")
@click.option("--for", "duration", required=True, metavar="DURATION",
              help="How long, e.g. 30m, 2h (at most 7d).")
@click.option("--reason", required=True, help="Why (required).")
@as_option
@store_options
@friendly_errors
def silence(matches: tuple[str, ...], duration: str, reason: str, as_user: str | None,
            **options: Any) -> None:
    """Silence matching alerts: they still show, but nobody is notified until it ends."""
    matcher: dict[str, Any] = {}
    for item in matches:
        field, sep, value = item.partition("=")
        if not sep or not field or not value:
            raise SurgeError(f"--match {item!r}: expected FIELD=VALUE, e.g. kind=feed")
        matcher[field.strip()] = int(value) if field.strip() == "min_level" \
            and value.strip().isdigit() else value.strip()
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise SurgeError(f"--for {duration!r}: {exc}") from None
    store = _open(options)
    made = create_silence(store, cli_actor(store, as_user), matcher=matcher,
                          ends=store.clock() + seconds, reason=reason)
    click.echo(f"Silence {made.id} in force until {uk_time(made.ends, zone=True)}.")


@alerts_group.command("unsilence")
@click.argument("silence_id")
@click.option("--reason", help="Why it is lifted early (optional).")
@as_option
@store_options
@friendly_errors
def unsilence(silence_id: str, reason: str | None, as_user: str | None, **options: Any) -> None:
    """Lift a silence before it ends."""
    store = _open(options)
    end_silence(store, cli_actor(store, as_user), silence=silence_id, reason=reason)
    click.echo(f"Silence {silence_id} lifted.")


@alerts_group.command("outbox")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--limit", type=int, default=20, show_default=True)
@store_options
@friendly_errors
def outbox(as_json: bool, limit: int, **options: Any) -> None:
    """Notifications, newest first: to whom, their state, and every attempt."""
    store = _open(options)
    found = AlertBook(store).notifications()[-limit:][::-1]
    if as_json:
        from dataclasses import asdict

        click.echo(json.dumps([asdict(n) for n in found]))
        return
    for n in found:
        statuses = ",".join(dict.fromkeys(str(m.get("status")) for m in n.messages))
        click.echo(f"{n.id}  {n.state.upper():9} {statuses} to {n.receiver} "
                   f"({len(n.messages)} alert(s)), queued {uk_time(n.created, zone=True)}")
        for a in n.attempts:
            mark = "ok" if a.get("ok") else "retry" if a.get("retry") else "FAILED"
            click.echo(f"    {uk_time(a['at'])} {a.get('target')}: {mark} {a.get('detail', '')}")


@main.command("dev-mailbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8025, show_default=True, type=int)
@friendly_errors
def dev_mailbox(host: str, port: int) -> None:
    """A local mailbox for trying alerts: an SMTP server that prints every email it gets.
    Point Surge at it with SURGE_SMTP_URL=smtp://127.0.0.1:8025?starttls=off."""
    from email.message import EmailMessage

    from surge.alerting.mailbox import Mailbox

    def show(recipients: list[str], message: EmailMessage) -> None:
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content().rstrip() if isinstance(body, EmailMessage) else ""
        click.echo(f"\n--- mail to {', '.join(recipients)} ---\nSubject: "
                   f"{message['Subject']}\n{text}")

    mailbox = Mailbox(show, host=host, port=port).start()
    click.echo(f"Dev mailbox on smtp://{host}:{port} (no TLS): every email is printed here. "
               f"Run Surge with SURGE_SMTP_URL='{mailbox.smtp_url}'. Ctrl-C stops it.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        mailbox.stop()
