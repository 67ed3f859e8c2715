"""The alerting acceptance, as a duty manager would see it: `surge run --scenario
winter-evening-surge --speed 60` with the shipped rules and alerting.yaml and a local
mailbox. Emails arrive marked EXERCISE, climb the escalation chain while nobody acknowledges,
and acknowledging one alert stops its chain (the others go on)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from surge.events import read_events
from tests.alerting.servers import Mail, MailServer
from tests.e2e.conftest import REPO, SURGE, _env, free_port, start_surge

pytestmark = pytest.mark.slow

DUTY = "duty.managers@example.nhs.uk"
TACTICAL = "tactical.commander@example.nhs.uk"
STRATEGIC = "strategic.commander@example.nhs.uk"


def alert_ids(mail: Mail) -> set[str]:
    return set(re.findall(r"/alerts#(al-[0-9a-f]+)", mail.body))


def to(mails: list[Mail], address: str) -> list[Mail]:
    return [m for m in mails if address in m.recipients]


def wait_for(mailbox: MailServer, test, timeout: float, what: str) -> list[Mail]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in list(mailbox.mails) if test(m)]
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s; mails: "
                         f"{[str(m.message['Subject']) for m in mailbox.mails]}")


def test_an_exercise_emails_the_duty_managers_escalates_and_an_acknowledgement_stops_it(
        tmp_path: Path) -> None:
    with MailServer() as mailbox:
        run = start_surge(tmp_path / "var", free_port(), "--scenario",
                          "winter-evening-surge", "--speed", "60",
                          SURGE_ALERTING=str(REPO / "alerting.yaml"),
                          SURGE_SMTP_URL=f"smtp://127.0.0.1:{mailbox.port}?starttls=off")
        try:
            first = wait_for(mailbox, lambda m: DUTY in m.recipients, 150,
                             "the duty managers' first email")[0]
            subject = str(first.message["Subject"])
            assert subject.startswith("EXERCISE"), subject
            assert first.body.lstrip().startswith("EXERCISE"), first.body[:200]
            assert re.search(r"Level [34] ", subject), subject
            # nobody acknowledges: 10 min of exercise time (10 s) later, the next people
            escalated = wait_for(mailbox, lambda m: TACTICAL in m.recipients, 60,
                                 "the escalation to the tactical commanders")[0]
            assert str(escalated.message["Subject"]).startswith("EXERCISE")
            target = sorted(alert_ids(escalated))[0]
            done = subprocess.run(
                [SURGE, "alerts", "ack", target, "--note", "on it", "--data-dir",
                 str(run.data_dir)], cwd=REPO, env=_env(), capture_output=True, text=True,
                timeout=60)
            assert done.returncode == 0, done.stderr
            acked_at = time.monotonic()
            # the chain would reach the strategic commanders 20 min (20 s) after firing;
            # watch well past that
            time.sleep(25 - min(25.0, time.monotonic() - acked_at))
            strategic = to(list(mailbox.mails), STRATEGIC)
            escalated_ids = set().union(*(alert_ids(m) for m in strategic)) if strategic \
                else set()
            assert target not in escalated_ids, "the acknowledged alert went on escalating"
            acknowledged = [m for m in mailbox.mails if "ACKNOWLEDGED" in
                            str(m.message["Subject"]) and target in alert_ids(m)]
            assert acknowledged, "those told were not told it was acknowledged"
            store = run.store()
            kinds = {e.kind for e in read_events(store)}
            assert {"alert_firing", "alert_escalated", "alert_acknowledged",
                    "notification_sent"} <= kinds
            assert all(e.exercise for e in read_events(store) if e.kind.startswith("alert"))
        finally:
            assert run.stop() == 0, "".join(run.output[-50:])
