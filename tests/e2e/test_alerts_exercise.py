"""The alerting acceptance, as a duty manager would see it: `surge run --scenario
winter-evening-surge --speed 60` as shipped (the rules, alerting.yaml, and no mail server
set, so the run's own local mailbox takes the emails into var/mailbox and lists them).
Emails arrive marked EXERCISE, climb the escalation chain while nobody acknowledges, and
acknowledging one alert stops its chain (the others go on)."""

from __future__ import annotations

import re
import subprocess
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from surge.alerting.book import AlertBook
from surge.events import AlertAcknowledged, AlertEscalated, read_events
from tests.e2e.conftest import REPO, SURGE, _env, free_port, start_surge

pytestmark = pytest.mark.slow

DUTY = "duty.managers@example.nhs.uk"
TACTICAL = "tactical.commander@example.nhs.uk"


class Mail:
    def __init__(self, path: Path) -> None:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.message = message
        self.recipients = str(message["To"])
        part = message.get_body(("plain",))
        self.body = part.get_content() if isinstance(part, EmailMessage) else ""
        self.subject = str(message["Subject"])


def mails(folder: Path) -> list[Mail]:
    return [Mail(p) for p in sorted(folder.glob("*.eml"))]


def alert_ids(mail: Mail) -> set[str]:
    return set(re.findall(r"/alerts#(al-[0-9a-f]+)", mail.body))


def wait_for(folder: Path, test, timeout: float, what: str) -> list[Mail]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in mails(folder) if test(m)]
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s; mails: "
                         f"{[m.subject for m in mails(folder)]}")


def test_an_exercise_emails_the_duty_managers_escalates_and_an_acknowledgement_stops_it(
        tmp_path: Path) -> None:
    run = start_surge(tmp_path / "var", free_port(), "--scenario", "winter-evening-surge",
                      "--speed", "60")
    mailbox = tmp_path / "var" / "mailbox"
    try:
        first = wait_for(mailbox, lambda m: DUTY in m.recipients, 150,
                         "the duty managers' first email")[0]
        assert first.subject.startswith("EXERCISE"), first.subject
        assert first.body.lstrip().startswith("EXERCISE"), first.body[:200]
        assert re.search(r"Level [34] ", first.subject), first.subject
        assert any(DUTY in line and "EXERCISE" in line for line in run.output), \
            "the terminal does not list the email"
        # nobody acknowledges: 10 min of exercise time (10 s) later, the next people
        escalated = wait_for(mailbox, lambda m: TACTICAL in m.recipients, 60,
                             "the escalation to the tactical commanders")[0]
        assert escalated.subject.startswith("EXERCISE")
        # the trust's alert, if it is in that email: it lasts the evening (a site's may
        # resolve at once, and a resolved alert is not acknowledged)
        active = AlertBook(run.store()).active()
        candidates = [active[i] for i in alert_ids(escalated) if i in active]
        assert candidates, "the escalated alerts are not active"
        target = max(candidates, key=lambda a: (a.name == "overall", -a.fired_at)).id
        done = subprocess.run(
            [SURGE, "alerts", "ack", target, "--note", "on it", "--data-dir",
             str(run.data_dir)], cwd=REPO, env=_env(), capture_output=True, text=True,
            timeout=60)
        assert done.returncode == 0, done.stderr
        acked_at = time.monotonic()
        # the chain would reach the strategic commanders 20 min (20 s) after firing, and
        # the acknowledgement lasts 30 min (30 s): watch 25 s
        time.sleep(25 - min(25.0, time.monotonic() - acked_at))
        store = run.store()
        (ack,) = [e for e in read_events(store, kinds=[AlertAcknowledged])
                  if e.alert == target]
        later = [e for e in read_events(store, kinds=[AlertEscalated])
                 if e.alert == target and e.ts > ack.ts]
        assert later == [], "the acknowledged alert went on escalating"
        # those told hear who took it on (or, if it ended first, that it ended)
        told = [m for m in mails(mailbox)  # (alone, or in a group with others)
                if re.search(rf"(ACKNOWLEDGED by|RESOLVED)[^\n]*\n(?:[^\n]+\n)*?[^\n]*"
                             rf"/alerts#{target}\b", m.body)]
        assert told, "those told were not told it was acknowledged"
        kinds = {e.kind for e in read_events(store)}
        assert {"alert_firing", "alert_escalated", "alert_acknowledged",
                "notification_sent"} <= kinds
        assert all(e.exercise for e in read_events(store) if e.kind.startswith("alert"))
    finally:
        assert run.stop() == 0, "".join(run.output[-50:])
