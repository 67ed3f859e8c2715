"""Alert channels: the words of every format, and delivery to real servers on loopback (SMTP
by aiosmtpd, with and without STARTTLS; an HTTP receiver that can fail or hang; Debian's
prometheus-alertmanager). No mocks: every outcome here came over a socket."""

from __future__ import annotations

import json
import ssl
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from surge.alerting.channels import (
    ALERTMANAGER_HOLD,
    CLOCK_SLACK,
    SHOWN,
    Message,
    Outcome,
    alertmanager_alerts,
    deliver,
    group_key,
    message_id,
    slack_body,
    subject,
    teams_card,
    text_body,
    webhook_json,
)
from surge.alerting.config import (
    AlertmanagerTarget,
    EmailTarget,
    Receiver,
    WebhookTarget,
)
from surge.timefmt import utc_iso
from tests.alerting.conftest import SMTP_LOGIN
from tests.alerting.servers import Alertmanager, HttpReceiver, MailServer, nothing_listens

SUMMER = datetime(2026, 7, 15, 13, 46, tzinfo=UTC).timestamp()  # 14:46 BST, UK time
WINTER = datetime(2026, 1, 15, 13, 46, tzinfo=UTC).timestamp()  # 13:46 GMT, UK time
SENDER = "surge@trust.example.nhs.uk"
SUBJECT = "Level 4 Extreme pressure: 999 call handling: calls waiting 54 >= 50 for 5 min"


def message(**changes: Any) -> Message:
    """Call handling at level 4 for 27 minutes, on a summer afternoon."""
    base = Message(
        alert_id="al-1", idempotency_key="n-1:al-1", status="firing", kind="level",
        name="call_handling", title="999 call handling", level=4,
        level_name="Extreme pressure", severity="critical",
        reason="calls waiting 54 >= 50 for 5 min", since=SUMMER - 27 * 60, at=SUMMER,
        url="https://surge.example.nhs.uk/alerts#al-1", exercise=False,
        labels={"function": "call_handling"})
    return replace(base, **changes)


def handover(**changes: Any) -> Message:
    return message(**{
        "alert_id": "al-2", "idempotency_key": "n-1:al-2", "name": "ae@RVJ",
        "title": "A&E at Royal Victoria", "level": 3, "level_name": "Severe pressure",
        "reason": "ambulances waiting to hand over 9 >= 8",
        "url": "https://surge.example.nhs.uk/alerts#al-2",
        "labels": {"site": "RVJ", "function": "ae"}, **changes})


def feed(**changes: Any) -> Message:
    return message(**{
        "alert_id": "al-3", "idempotency_key": "n-1:al-3", "kind": "feed",
        "name": "cad-calls", "title": "Feed cad-calls", "level": None, "level_name": None,
        "severity": "warning", "reason": "feed down: connection refused",
        "url": "https://surge.example.nhs.uk/alerts#al-3", "labels": {}, **changes})


def smtp_url(server: MailServer, *, starttls: bool = False, login: bool = False) -> str:
    who = f"{SMTP_LOGIN[0]}:{SMTP_LOGIN[1]}@" if login else ""
    query = f"?from={SENDER}" if starttls else f"?starttls=off&from={SENDER}"
    return f"smtp://{who}{server.host}:{server.port}{query}"


def mail_to(*addresses: str, starttls: bool = True) -> Receiver:
    return Receiver("duty-managers", email=EmailTarget(addresses, starttls))


def hook(url: str, **fields: Any) -> Receiver:
    return Receiver("ops", webhook=WebhookTarget(url, **fields))


def no_secret(outcome: Outcome, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in outcome.detail


# --- the words: subjects ------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "expected"), [
    ({}, SUBJECT),
    ({"status": "resolved", "ends_at": SUMMER + 600}, f"RESOLVED: {SUBJECT}"),
    ({"status": "acknowledged", "acknowledged_by": "Jane Smith"},
     f"ACKNOWLEDGED by Jane Smith: {SUBJECT}"),
    ({"status": "escalated", "escalation_step": 2}, f"ESCALATED (step 2): {SUBJECT}"),
])
def test_the_subject_says_the_status_then_the_level_what_and_why(
        changes: dict[str, Any], expected: str) -> None:
    assert subject([message(**changes)]) == expected


@pytest.mark.parametrize(("kind", "name", "title", "reason"), [
    ("feed", "cad-calls", "Feed cad-calls", "feed down: timed out"),
    ("rules", "rules", "The rules file does not load", "surge_rules.yaml:12: unknown metric"),
    ("worker", "worker", "No Surge worker is running", "no heartbeat for 2 min"),
    ("divergence", "trust", "Declared and calculated trust levels differ",
     "declared 2, calculated 4 since 16 min"),
    ("delivery", "duty-managers", "Alerts to duty-managers are not getting through",
     "email: connection refused"),
])
def test_other_kinds_say_what_and_why_without_a_level(kind: str, name: str, title: str,
                                                      reason: str) -> None:
    m = message(kind=kind, name=name, title=title, reason=reason, level=None,
                level_name=None, severity="warning")
    assert subject([m]) == f"{title}: {reason}"
    assert subject([replace(m, status="resolved")]) == f"RESOLVED: {title}: {reason}"
    assert text_body([m]).startswith(f"{title}\n{reason}\n")


def test_a_level_without_a_name_still_reads() -> None:
    assert subject([message(level_name=None)]) == \
        "Level 4: 999 call handling: calls waiting 54 >= 50 for 5 min"


def test_a_group_leads_with_its_most_pressing_alert_and_counts_the_rest() -> None:
    group = [feed(), handover(status="acknowledged", acknowledged_by="Jo"), message()]
    assert subject(group) == f"3 alerts: {SUBJECT} (+2 more)"
    body = text_body(group)
    assert body.index("1. Level 4 Extreme") < body.index("2. Feed cad-calls") \
        < body.index("3. ACKNOWLEDGED by Jo: Level 3")


def test_a_long_reason_keeps_the_subject_short_and_the_count() -> None:
    group = [message(reason="x " * 300), feed()]
    text = subject(group)
    assert len(text) <= 200 and text.endswith("... (+1 more)")


# --- the words: exercises -----------------------------------------------------------------------


@pytest.mark.parametrize("status", ["firing", "escalated", "acknowledged", "resolved"])
def test_in_an_exercise_every_subject_and_body_starts_with_exercise(status: str) -> None:
    one = [message(status=status, exercise=True, escalation_step=1)]
    group = [*one, feed(exercise=True, status=status)]
    for messages in (one, group):
        assert subject(messages).startswith("EXERCISE: ")
        assert text_body(messages).startswith("EXERCISE - ")
        assert slack_body(messages)["text"].startswith("EXERCISE")
        assert slack_body(messages)["blocks"][0]["text"]["text"].startswith("EXERCISE")
        card = teams_card(messages)["attachments"][0]["content"]
        assert card["body"][0]["items"][0]["text"].startswith("EXERCISE")
    (alert,) = alertmanager_alerts(one)
    assert alert["labels"]["exercise"] == "true"
    assert alert["annotations"]["summary"].startswith("EXERCISE: ")
    assert webhook_json(one[0])["exercise"] is True


def test_a_real_alert_beside_an_exercise_is_not_called_an_exercise() -> None:
    group = [feed(exercise=True), message()]
    assert subject(group) == f"2 alerts: {SUBJECT} (+1 more, 1 of them EXERCISE)"
    body = text_body(group)
    assert body.startswith("REAL ALERTS AND EXERCISE ALERTS")
    assert "\n1. Level 4 Extreme" in body and "\n2. EXERCISE: Feed cad-calls" in body


# --- the words: the email body ------------------------------------------------------------------


def test_the_body_gives_times_in_uk_time_across_the_clock_change() -> None:
    summer = text_body([message()])
    assert "Firing since 14:19 UK time (27 min)." in summer  # 13:19 UTC in BST
    winter = text_body([message(since=WINTER - 27 * 60, at=WINTER)])
    assert "Firing since 13:19 UK time (27 min)." in winter  # GMT: UK time is UTC
    assert "2026-01-15 13:46 UK time" in winter


def test_the_body_says_where_the_alert_stands_and_links_to_it() -> None:
    body = text_body([message()])
    assert body.splitlines()[:2] == ["Level 4 Extreme pressure: 999 call handling",
                                     "calls waiting 54 >= 50 for 5 min"]
    assert "Open in Surge: https://surge.example.nhs.uk/alerts#al-1" in body
    assert "critical" in body and "function call_handling" in body
    assert "Reference: n-1:al-1" in body
    ack = text_body([message(status="acknowledged", acknowledged_by="Jane Smith",
                             note="extra call handlers coming in", at=SUMMER + 120)])
    assert "Acknowledged by Jane Smith at 14:48 UK time; still firing since 14:19 UK" in ack
    assert 'Note: "extra call handlers coming in"' in ack
    escalated = text_body([message(status="escalated", escalation_step=2)])
    assert "Not acknowledged: escalated (step 2) at 14:46 UK time" in escalated
    resolved = text_body([message(status="resolved", at=SUMMER + 3900,
                                  ends_at=SUMMER + 3900)])
    assert "Resolved at 15:51 UK time, after 1 h 32 min (since 14:19 UK time)." in resolved


def test_a_time_on_another_day_names_the_day() -> None:
    body = text_body([message(since=SUMMER - 86400)])
    assert "Firing since 14 Jul 14:46 UK time (24 h)." in body


def test_the_body_is_plain_text() -> None:
    body = text_body([message(reason="calls   waiting\n54 >= 50")])
    assert not any(tag in body.lower() for tag in ("<html", "<br", "<p>", "<a ", "**"))
    assert "\ncalls waiting 54 >= 50\n" in body  # a reason on one line, whatever it held


# --- the words: JSON, Teams, Slack, Alertmanager ------------------------------------------------


REQUIRED = {"id", "idempotency_key", "status", "kind", "name", "level", "level_name",
            "reason", "since", "url", "exercise"}
EXTRA = {"severity", "title", "summary", "labels", "acknowledged_by", "note",
         "escalation_step", "at", "ends_at"}


def test_the_json_is_exactly_its_fields_with_utc_times() -> None:
    m = message(status="acknowledged", acknowledged_by="Jane Smith", note="on it")
    data = webhook_json(m)
    assert set(data) == REQUIRED | EXTRA
    assert {k: data[k] for k in REQUIRED} == {
        "id": "al-1", "idempotency_key": "n-1:al-1", "status": "acknowledged",
        "kind": "level", "name": "call_handling", "level": 4,
        "level_name": "Extreme pressure", "reason": "calls waiting 54 >= 50 for 5 min",
        "since": "2026-07-15T13:19:00Z", "url": "https://surge.example.nhs.uk/alerts#al-1",
        "exercise": False}
    assert data["at"] == "2026-07-15T13:46:00Z" and data["ends_at"] is None
    assert (data["acknowledged_by"], data["note"], data["severity"]) == \
        ("Jane Smith", "on it", "critical")
    assert data["labels"] == {"function": "call_handling"}
    assert json.loads(json.dumps(data)) == data
    resolved = webhook_json(message(status="resolved", ends_at=SUMMER + 60))
    assert resolved["ends_at"] == "2026-07-15T13:47:00Z"


def test_the_teams_message_is_an_adaptive_card() -> None:
    data = teams_card([message()])
    assert data["type"] == "message"
    (attachment,) = data["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["body"][0] == {"type": "TextBlock", "text": SUBJECT, "wrap": True,
                               "size": "Large", "weight": "Bolder", "color": "Attention"}
    facts = dict((f["title"], f["value"]) for f in card["body"][1]["items"][0]["facts"])
    assert facts["Status"] == "Firing since 14:19 UK time (27 min)."
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open in Surge",
                                "url": "https://surge.example.nhs.uk/alerts#al-1"}]
    assert json.loads(json.dumps(data)) == data


def test_a_teams_group_shows_each_alert_and_counts_the_rest() -> None:
    group = [message(alert_id=f"al-{n}", idempotency_key=f"n-2:al-{n}", level=3)
             for n in range(SHOWN + 2)]
    card = teams_card(group)["attachments"][0]["content"]
    assert card["body"][0]["text"] == f"{SHOWN + 2} alerts"
    parts = [b for b in card["body"] if b["type"] == "Container"]
    assert len(parts) == SHOWN
    assert parts[0]["items"][-1]["actions"][0]["type"] == "Action.OpenUrl"
    assert card["body"][-1]["text"].startswith("and 2 more")
    assert card["actions"][0]["url"] == "https://surge.example.nhs.uk/alerts"


def test_the_slack_body_has_text_and_blocks_with_its_characters_escaped() -> None:
    data = slack_body([handover()])
    assert data["text"] == subject([handover()])
    header, section, context = data["blocks"]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert len(header["text"]["text"]) <= 150
    text = section["text"]["text"]
    assert text.startswith("*<https://surge.example.nhs.uk/alerts#al-2|Level 3 Severe "
                           "pressure: A&amp;E at Royal Victoria>*\n")
    assert "hand over 9 &gt;= 8" in text
    assert "site RVJ" in context["elements"][0]["text"]
    many = slack_body([message(alert_id=f"al-{n}") for n in range(40)])
    assert len(many["blocks"]) <= 50  # Slack's limit


def test_links_that_are_not_absolute_are_left_out_of_cards_and_alertmanager() -> None:
    m = message(url="/alerts#al-1")
    assert "actions" not in teams_card([m])["attachments"][0]["content"]
    assert "<" not in slack_body([m])["blocks"][1]["text"]["text"]
    assert "generatorURL" not in alertmanager_alerts([m])[0]


def test_alertmanager_alerts_keep_their_labels_for_life_and_end_when_resolved() -> None:
    firing, resolved = alertmanager_alerts([
        handover(), handover(status="resolved", level=2, level_name="Moderate pressure",
                             severity="warning", ends_at=SUMMER + 600, at=SUMMER + 600)])
    assert firing["labels"] == resolved["labels"] == {
        "alertname": "Surge", "kind": "level", "name": "ae@RVJ", "exercise": "false",
        "site": "RVJ", "function": "ae"}
    assert firing["annotations"]["summary"] == subject([handover()])
    assert firing["annotations"]["url"] == "https://surge.example.nhs.uk/alerts#al-2"
    assert (firing["annotations"]["level"], firing["annotations"]["severity"]) == \
        ("3", "critical")
    assert firing["startsAt"] == resolved["startsAt"] == utc_iso(SUMMER - 27 * 60)
    assert firing["endsAt"] == utc_iso(SUMMER + ALERTMANAGER_HOLD)
    assert resolved["endsAt"] == utc_iso(SUMMER + 600)
    assert firing["generatorURL"] == "https://surge.example.nhs.uk/alerts#al-2"


def test_alertmanager_times_hold_on_its_real_clock() -> None:
    now = SUMMER + 86400 * 90  # sent long after: an exercise on a scenario's clock
    firing, resolved = alertmanager_alerts(
        [message(), message(status="resolved", ends_at=now + 5, at=now + 5)], now)
    assert firing["endsAt"] == utc_iso(now + ALERTMANAGER_HOLD)  # not already over
    assert firing["startsAt"] == utc_iso(SUMMER - 27 * 60)
    assert resolved["endsAt"] == utc_iso(now - CLOCK_SLACK)  # over, on a clock behind ours
    (brief,) = alertmanager_alerts(
        [message(status="resolved", since=now - 10, ends_at=now, at=now)], now)
    assert brief["startsAt"] == brief["endsAt"] == utc_iso(now - CLOCK_SLACK)


def test_a_group_key_and_message_id_are_the_same_on_every_retry() -> None:
    assert group_key([message()]) == "n-1:al-1"
    assert group_key([message(), handover()]) == group_key([handover(), message()]) == "n-1"
    mixed = group_key([message(), handover(idempotency_key="n-9:al-2")])
    assert mixed.startswith("group-") and mixed == group_key(
        [handover(idempotency_key="n-9:al-2"), message()])
    assert message_id("n-1:al-1", SENDER) == "<surge.n-1.al-1@trust.example.nhs.uk>"
    assert message_id("n-1", "surge") == "<surge.n-1@surge.localhost>"


# --- email --------------------------------------------------------------------------------------


def test_an_email_arrives_with_its_subject_body_and_message_id(
        mail_server: MailServer) -> None:
    group = [message(), feed()]
    to = ("duty.managers@example.nhs.uk", "eoc.manager@example.nhs.uk")
    outcome = deliver(mail_to(*to), group, smtp_url=smtp_url(mail_server))
    assert outcome == {"email": Outcome(True, False, f"sent to 2 addresses by the mail "
                                                     f"server 127.0.0.1:{mail_server.port}",
                                        250)}
    (mail,) = mail_server.wait(1)
    assert mail.recipients == to and mail.sender == SENDER
    assert mail.message["To"] == ", ".join(to)
    assert mail.message["From"] == SENDER
    assert mail.message["Subject"] == subject(group)
    assert mail.message["Message-ID"] == message_id("n-1", SENDER)
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert mail.message["Importance"] == "high"
    assert mail.message.get_content_type() == "text/plain"
    assert mail.body == text_body(group)
    deliver(mail_to(*to), group, smtp_url=smtp_url(mail_server))  # a retry: the same email
    assert mail_server.wait(2)[1].message["Message-ID"] == mail.message["Message-ID"]


def test_an_exercise_email_says_so_first(mail_server: MailServer) -> None:
    deliver(mail_to("duty@example.nhs.uk"), [message(exercise=True)],
            smtp_url=smtp_url(mail_server))
    (mail,) = mail_server.wait(1)
    assert mail.message["Subject"].startswith("EXERCISE: ")
    assert mail.body.startswith("EXERCISE - ")
    assert mail.message["Importance"] is None


def test_starttls_required_but_not_offered_sends_nothing(mail_server: MailServer) -> None:
    outcome = deliver(mail_to("duty@example.nhs.uk"), [message()],
                      smtp_url=smtp_url(mail_server, starttls=True))["email"]
    assert (outcome.ok, outcome.retry) == (False, False)
    assert "does not offer STARTTLS" in outcome.detail
    assert "unencrypted" in outcome.detail
    time.sleep(0.1)
    assert mail_server.mails == []


def test_a_receiver_may_let_mail_go_in_clear_when_no_password_is_sent(
        mail_server: MailServer) -> None:
    outcome = deliver(mail_to("duty@example.nhs.uk", starttls=False), [message()],
                      smtp_url=smtp_url(mail_server, starttls=True))["email"]
    assert outcome.ok
    assert mail_server.wait(1)[0].encrypted is False


def test_starttls_and_a_login_when_the_server_offers_it(
        tls_mail_server: MailServer, trust_test_ca: Any) -> None:
    outcome = deliver(mail_to("duty@example.nhs.uk"), [message()],
                      smtp_url=smtp_url(tls_mail_server, starttls=True, login=True))["email"]
    assert outcome.ok, outcome.detail
    (mail,) = tls_mail_server.wait(1)
    assert mail.encrypted and mail.login == SMTP_LOGIN[0]
    no_secret(outcome, SMTP_LOGIN[1])


def test_smtps_is_tls_from_the_first_byte(test_ca: Any, trust_test_ca: Any) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert("127.0.0.1").configure_cert(context)
    with MailServer(tls=context, login=SMTP_LOGIN) as server:
        user, password = SMTP_LOGIN
        outcome = deliver(mail_to("duty@example.nhs.uk"), [message()],
                          smtp_url=f"smtps://{user}:{password}@127.0.0.1:{server.port}"
                                   f"?from={SENDER}")["email"]
        assert outcome.ok, outcome.detail
        (mail,) = server.wait(1)
        assert mail.encrypted and mail.login == user


def test_a_wrong_password_fails_for_good_without_saying_it(
        tls_mail_server: MailServer, trust_test_ca: Any) -> None:
    url = smtp_url(tls_mail_server, starttls=True, login=True).replace(
        SMTP_LOGIN[1], "Wr0ng-Passw0rd")
    outcome = deliver(mail_to("duty@example.nhs.uk"), [message()], smtp_url=url)["email"]
    assert (outcome.ok, outcome.retry, outcome.status) == (False, False, 535)
    assert "user name or password" in outcome.detail
    no_secret(outcome, "Wr0ng-Passw0rd", SMTP_LOGIN[1])


def test_a_certificate_nobody_trusts_fails_for_good(
        tls_mail_server: MailServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    outcome = deliver(mail_to("duty@example.nhs.uk"), [message()],
                      smtp_url=smtp_url(tls_mail_server, starttls=True, login=True))["email"]
    assert (outcome.ok, outcome.retry) == (False, False)
    assert "certificate" in outcome.detail
    no_secret(outcome, SMTP_LOGIN[1])
    assert tls_mail_server.mails == []


def test_refused_addresses_fail_for_good_and_a_full_mailbox_is_retried() -> None:
    refuse = {"gone@example.nhs.uk": "550 5.1.1 no such user",
              "full@example.nhs.uk": "452 4.2.2 mailbox full"}
    with MailServer(refuse=refuse) as server:
        url = smtp_url(server)
        gone = deliver(mail_to("gone@example.nhs.uk"), [message()], smtp_url=url)["email"]
        assert (gone.ok, gone.retry, gone.status) == (False, False, 550)
        assert "gone@example.nhs.uk: 550 5.1.1 no such user" in gone.detail
        full = deliver(mail_to("full@example.nhs.uk"), [message()], smtp_url=url)["email"]
        assert (full.ok, full.retry, full.status) == (False, True, 452)
        some = deliver(mail_to("duty@example.nhs.uk", "gone@example.nhs.uk"), [message()],
                       smtp_url=url)["email"]
        assert (some.ok, some.retry) == (False, False)  # the bad address is reported
        assert "gone@example.nhs.uk" in some.detail
        assert server.wait(1)[0].recipients == ("duty@example.nhs.uk",)


def test_no_mail_server_is_retried_and_no_setting_is_not() -> None:
    with nothing_listens() as url:
        port = url.rpartition(":")[2]
        down = deliver(mail_to("duty@example.nhs.uk"), [message()],
                       smtp_url=f"smtp://127.0.0.1:{port}?starttls=off")["email"]
    assert (down.ok, down.retry) == (False, True)
    assert down.detail == f"connection refused by the mail server 127.0.0.1:{port}"
    unset = deliver(mail_to("duty@example.nhs.uk"), [message()], smtp_url=None)["email"]
    assert (unset.ok, unset.retry) == (False, False)
    assert "SURGE_SMTP_URL is not set" in unset.detail
    bad = deliver(mail_to("duty@example.nhs.uk"), [message()],
                  smtp_url="smtp://alerts:hunter2hunter2@mail.example.nhs.uk:587/x")["email"]
    assert (bad.ok, bad.retry) == (False, False)
    assert bad.detail.startswith("SURGE_SMTP_URL cannot be used")
    no_secret(bad, "hunter2hunter2")


# --- webhooks -----------------------------------------------------------------------------------


def test_json_posts_each_alert_with_its_own_idempotency_key(
        http_receiver: HttpReceiver) -> None:
    group = [message(), feed()]
    outcome = deliver(hook(http_receiver.answer("/hook", 202)), group, smtp_url=None)
    assert outcome["webhook"].ok and outcome["webhook"].status == 202
    requests = http_receiver.received("/hook")
    assert [r.headers["idempotency-key"] for r in requests] == ["n-1:al-1", "n-1:al-3"]
    assert [r.json() for r in requests] == [webhook_json(m) for m in (message(), feed())]
    assert all(r.method == "POST" and r.headers["content-type"] == "application/json"
               for r in requests)


@pytest.mark.parametrize(("fmt", "render"), [("teams", teams_card), ("slack", slack_body)])
def test_teams_and_slack_post_the_group_once_with_its_key(
        http_receiver: HttpReceiver, fmt: str, render: Any) -> None:
    group = [message(), handover()]
    outcome = deliver(hook(http_receiver.answer(f"/{fmt}"), format=fmt), group,
                      smtp_url=None)["webhook"]
    assert outcome.ok
    (request,) = http_receiver.received(f"/{fmt}")
    assert request.headers["idempotency-key"] == "n-1"
    assert request.json() == render(group)


@pytest.mark.parametrize(("status", "ok", "retry"), [
    (200, True, False), (204, True, False), (500, False, True), (503, False, True),
    (408, False, True), (429, False, True), (404, False, False), (400, False, False),
    (401, False, False), (301, False, False),
])
def test_http_answers_become_outcomes(http_receiver: HttpReceiver, status: int, ok: bool,
                                      retry: bool) -> None:
    url = http_receiver.answer("/hook", status, b"" if status == 204 else b"said no")
    outcome = deliver(hook(url), [message()], smtp_url=None)["webhook"]
    assert (outcome.ok, outcome.retry, outcome.status) == (ok, retry, status)
    assert f"HTTP {status}" in outcome.detail and f"127.0.0.1:{http_receiver.port}" in \
        outcome.detail


def test_a_failing_json_post_stops_the_group(http_receiver: HttpReceiver) -> None:
    outcome = deliver(hook(http_receiver.answer("/hook", 500, "down")),
                      [message(), feed()], smtp_url=None)["webhook"]
    assert outcome == Outcome(False, True, f"HTTP 500 Internal Server Error from "
                                           f"127.0.0.1:{http_receiver.port}: down", 500)
    assert len(http_receiver.received("/hook")) == 1


def test_a_receiver_that_hangs_is_given_up_on_within_the_timeout(
        http_receiver: HttpReceiver) -> None:
    url = http_receiver.answer("/slow", hang=True)
    started = time.monotonic()
    outcome = deliver(hook(url, timeout=0.5), [message()], smtp_url=None)["webhook"]
    took = time.monotonic() - started
    assert (outcome.ok, outcome.retry) == (False, True)
    assert outcome.detail == f"no answer from 127.0.0.1:{http_receiver.port} within 0.5 s"
    assert 0.4 < took < 2.0
    started = time.monotonic()  # deliver's own timeout caps the target's
    outcome = deliver(hook(url, timeout=10.0), [message()], smtp_url=None,
                      timeout=0.3)["webhook"]
    assert outcome.retry and time.monotonic() - started < 1.5


def test_nothing_listening_is_retried(refused_url: str) -> None:
    outcome = deliver(hook(refused_url + "/hook"), [message()], smtp_url=None)["webhook"]
    assert (outcome.ok, outcome.retry, outcome.status) == (False, True, None)
    assert outcome.detail == f"connection refused by {refused_url.removeprefix('http://')}"


def test_headers_come_from_the_environment(http_receiver: HttpReceiver) -> None:
    receiver = hook(http_receiver.answer("/hook"),
                    headers_env={"Authorization": "HOOK_TOKEN", "X-Trust": "TRUST_CODE"})
    env = {"HOOK_TOKEN": "Bearer tok-0123456789", "TRUST_CODE": "RX9"}
    outcome = deliver(receiver, [message()], smtp_url=None, env=env)["webhook"]
    assert outcome.ok
    (request,) = http_receiver.received("/hook")
    assert request.headers["authorization"] == "Bearer tok-0123456789"
    assert request.headers["x-trust"] == "RX9"
    missing = deliver(receiver, [message()], smtp_url=None, env={"TRUST_CODE": "RX9"})
    assert missing["webhook"] == Outcome(
        False, False, "header Authorization: the environment variable HOOK_TOKEN is not set")
    assert len(http_receiver.received()) == 1  # nothing sent without it


def test_no_secret_reaches_a_detail_even_when_a_server_echoes_it(
        http_receiver: HttpReceiver) -> None:
    key_path = "/services/T0001/B0001/abcdefKEY123"
    url = http_receiver.answer(key_path, 403, f"invalid_token Bearer tok-0123456789 for "
                                              f"{key_path}")
    receiver = Receiver("chat", webhook=WebhookTarget(
        url, format="slack", headers_env={"Authorization": "HOOK_TOKEN"}, url_env="SLACK_URL"))
    outcome = deliver(receiver, [message()], smtp_url=None,
                      env={"HOOK_TOKEN": "Bearer tok-0123456789"})["webhook"]
    assert (outcome.ok, outcome.retry, outcome.status) == (False, False, 403)
    assert outcome.detail.startswith("HTTP 403 Forbidden from 127.0.0.1:")
    no_secret(outcome, "tok-0123456789", "abcdefKEY123", "/services/")


def test_deliver_never_raises(http_receiver: HttpReceiver) -> None:
    odd = deliver(hook(http_receiver.answer("/hook"), headers_env={"X-Key": "ODD"}),
                  [message()], smtp_url=None, env={"ODD": "two\nlines"})["webhook"]
    assert (odd.ok, odd.retry) == (False, False)
    assert odd.detail.startswith("header X-Key: the value of ODD cannot be sent")
    assert "two" not in odd.detail and http_receiver.received() == []
    ftp = deliver(hook("ftp://127.0.0.1/hook"), [message()], smtp_url=None)["webhook"]
    assert (ftp.ok, ftp.retry) == (False, False)
    assert deliver(Receiver("nobody"), [message()], smtp_url=None) == {}
    assert deliver(hook(http_receiver.url), [], smtp_url=None) == {}


# --- Alertmanager -------------------------------------------------------------------------------


def listed(alertmanager: Alertmanager, name: str) -> list[dict[str, Any]]:
    return [a for a in alertmanager.alerts() if a["labels"].get("name") == name]


def test_alertmanager_lists_the_alert_then_resolves_it(alertmanager: Alertmanager) -> None:
    name = f"ae@T{uuid.uuid4().hex[:6]}"
    now = time.time()
    receiver = Receiver("trust-am", alertmanager=AlertmanagerTarget(alertmanager.url + "/"))
    firing = handover(name=name, since=now - 600, at=now)
    assert deliver(receiver, [firing], smtp_url=None)["alertmanager"].ok
    (alert,) = listed(alertmanager, name)
    assert alert["labels"] == {"alertname": "Surge", "kind": "level", "name": name,
                               "exercise": "false", "site": "RVJ", "function": "ae"}
    assert alert["status"]["state"] == "active"
    assert alert["annotations"]["summary"] == subject([firing])
    assert alert["annotations"]["level"] == "3"
    assert alert["generatorURL"] == firing.url
    assert alert["startsAt"].startswith(utc_iso(now - 600)[:-1])
    assert alert["endsAt"] > utc_iso(now + ALERTMANAGER_HOLD - 60)

    risen = replace(firing, level=4, level_name="Extreme pressure", at=now + 1)
    deliver(receiver, [risen], smtp_url=None)
    (alert,) = listed(alertmanager, name)  # the same alert, not a second one
    assert alert["annotations"]["level"] == "4"

    acked = replace(risen, status="acknowledged", acknowledged_by="Jo", at=now + 2)
    deliver(receiver, [acked], smtp_url=None)
    (alert,) = listed(alertmanager, name)
    assert alert["annotations"]["acknowledged_by"] == "Jo"
    assert alert["status"]["state"] == "active"  # acknowledged, still firing

    resolved = replace(risen, status="resolved", level=2, level_name="Moderate pressure",
                       severity="warning", at=now + 3, ends_at=now + 3)
    outcome = deliver(receiver, [resolved], smtp_url=None)["alertmanager"]
    assert outcome.ok and outcome.status == 200
    deadline = time.monotonic() + 5
    while listed(alertmanager, name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listed(alertmanager, name) == []  # no longer active


def test_alertmanager_takes_a_group_in_one_post(alertmanager: Alertmanager) -> None:
    now = time.time()
    tag = uuid.uuid4().hex[:6]
    group = [message(name=f"call_handling-{tag}", since=now, at=now),
             feed(name=f"cad-{tag}", exercise=True)]  # an exercise's clock, months ago
    receiver = Receiver("trust-am", alertmanager=AlertmanagerTarget(alertmanager.url))
    assert deliver(receiver, group, smtp_url=None)["alertmanager"].ok
    (drill,) = listed(alertmanager, f"cad-{tag}")
    assert drill["labels"]["exercise"] == "true" and drill["status"]["state"] == "active"
    assert len(listed(alertmanager, f"call_handling-{tag}")) == 1


def test_an_alertmanager_that_is_down_is_retried(refused_url: str) -> None:
    receiver = Receiver("trust-am", alertmanager=AlertmanagerTarget(refused_url, timeout=2))
    outcome = deliver(receiver, [message()], smtp_url=None)["alertmanager"]
    assert (outcome.ok, outcome.retry) == (False, True)


def test_every_target_of_a_receiver_is_told(
        mail_server: MailServer, http_receiver: HttpReceiver,
        alertmanager: Alertmanager) -> None:
    now = time.time()
    receiver = Receiver(
        "everyone", email=EmailTarget(("duty@example.nhs.uk",)),
        webhook=WebhookTarget(http_receiver.answer("/hook")),
        alertmanager=AlertmanagerTarget(alertmanager.url))
    m = message(name=f"everyone-{uuid.uuid4().hex[:6]}", since=now, at=now)
    outcomes = deliver(receiver, [m], smtp_url=smtp_url(mail_server))
    assert {t: o.ok for t, o in outcomes.items()} == \
        {"email": True, "webhook": True, "alertmanager": True}
    assert mail_server.wait(1) and http_receiver.received("/hook")
    assert listed(alertmanager, m.name)
