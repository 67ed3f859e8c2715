"""Exercises as the README runs them: `surge run --scenario NAME --speed 60`, shipped rules.

Nothing here rewrites the rules: the three scenarios run side by side at x60 against the
rules file as shipped, and the levels must rise (and, for the winter evening, fall again)
within the six real minutes the README promises, with reasons on record, every event marked
as exercise, and every page carrying the exercise band; on the winter evening, the duty
managers are emailed, the alert escalates, and an acknowledgement stops it.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import redis
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from surge.alerting.book import AlertBook
from surge.events import AlertAcknowledged, AlertEscalated, read_events
from surge.store import Event, Store
from tests.e2e.conftest import REPO, SURGE, SurgeRun, _env, free_port, start_surge

pytestmark = pytest.mark.slow

SPEED = "60"
DEADLINE = 6 * 60 + 30  # real seconds from the start of the run: six minutes, and some slack
BAND = "EXERCISE — SIMULATED DATA, TIME x60"
PAGES = ("/", "/tactical", "/operational", "/protocols", "/status", "/overview")


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


def wait_for_mail(folder: Path, test, timeout: float, what: str) -> list[Mail]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in mails(folder) if test(m)]
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s; mails: "
                         f"{[m.subject for m in mails(folder)]}")


class Exercise:
    def __init__(self, run: SurgeRun, started: float) -> None:
        self.run = run
        self.started = started
        url = json.loads((run.data_dir / "store.json").read_text())["url"]
        self.store = Store(redis.Redis.from_url(url))

    def changes(self, name: str) -> list[Event]:
        return [e for e in self.store.events(kinds={"level_changed"}) if e.data["name"] == name]

    def wait_for(self, what: str, condition: Callable[[], object]) -> object:
        while True:
            found = condition()
            if found:
                return found
            assert self.run.process.poll() is None, "".join(self.run.output[-30:])
            assert time.monotonic() - self.started < DEADLINE, (
                f"{what}: not within {DEADLINE} real seconds of the start:\n"
                + "\n".join(f"{e.data['name']} {e.data['from']}->{e.data['to']}"
                            for e in self.store.events(kinds={"level_changed"})
                            if e.data["scope"] in ("protocol", "overall", "site")))
            time.sleep(1)

    def reaches(self, name: str, level: int) -> Event:
        found = self.wait_for(f"{name} reaching level {level}",
                              lambda: [e for e in self.changes(name) if e.data["to"] >= level])
        assert isinstance(found, list)
        return found[0]


@pytest.fixture(scope="module")
def exercises(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Exercise]]:
    """The three scenarios, started together so their six minutes overlap."""
    runs: dict[str, Exercise] = {}
    try:
        for scenario in ("winter-evening-surge", "handover-crisis", "major-incident"):
            data_dir = tmp_path_factory.mktemp(scenario) / "var"
            run = start_surge(data_dir, free_port(), "--scenario", scenario, "--speed", SPEED)
            runs[scenario] = Exercise(run, time.monotonic())
        yield runs
    finally:
        for exercise in runs.values():
            exercise.run.stop()


def escalation_reason_is_on_record(event: Event) -> None:
    reason = event.data["reason"]
    assert reason.get("drivers"), event.data
    assert event.data["rules_version"]


# first: the page must see the rise before the evening ends and the levels fall
@pytest.mark.browser
def test_every_page_carries_the_exercise_band_and_shows_the_level_rising(exercises,
                                                                        browser) -> None:
    winter = exercises["winter-evening-surge"]
    browser.delete_all_cookies()
    browser.get(winter.run.screen_url)  # signs in as the demo wall screen
    browser.get(winter.run.url + "overview")  # where each function's level has a badge
    WebDriverWait(browser, 60, poll_frequency=0.5).until(
        lambda d: d.find_element(By.ID, "run-mode-band").text.strip())
    assert BAND in browser.find_element(By.ID, "run-mode-band").text

    def level_at_least_3(driver) -> bool:
        try:  # (the badge is redrawn by each refresh: one found may be gone when read)
            badge = driver.find_element(By.ID, "level-call_handling")
            level = badge.get_attribute("data-level")
            text = badge.text
        except Exception:
            return False
        return bool(level and level.isdigit() and int(level) >= 3
                    and re.search(rf"\b{level}\b", text))

    remaining = max(5.0, DEADLINE - (time.monotonic() - winter.started))
    WebDriverWait(browser, remaining, poll_frequency=1).until(level_at_least_3)
    # every page a wall screen may open carries the band (a screen has no navigation links)
    for path in PAGES:
        browser.get(winter.run.url.rstrip("/") + path)
        WebDriverWait(browser, 30, poll_frequency=0.5).until(
            lambda d: BAND in d.find_element(By.ID, "run-mode-band").text)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"
              and not re.search(r"status of 40[13]", e["message"])]
    assert errors == []


# second: while the evening climbs, before the levels fall
def test_an_exercise_emails_the_duty_managers_escalates_and_an_acknowledgement_stops_it(
        exercises) -> None:
    """The alerting acceptance as a duty manager sees it, on the winter evening as shipped
    (rules, alerting.yaml, and no mail server set, so the run's own local mailbox takes the
    emails into var/mailbox and lists them): emails arrive marked EXERCISE, climb the
    escalation chain while nobody acknowledges, and acknowledging one alert stops its chain
    (the others go on)."""
    run = exercises["winter-evening-surge"].run
    mailbox = run.data_dir / "mailbox"
    first = wait_for_mail(mailbox, lambda m: DUTY in m.recipients, 150,
                          "the duty managers' first email")[0]
    assert first.subject.startswith("EXERCISE"), first.subject
    assert first.body.lstrip().startswith("EXERCISE"), first.body[:200]
    assert re.search(r"Level [34] ", first.subject), first.subject
    assert any(DUTY in line and "EXERCISE" in line for line in run.output), \
        "the terminal does not list the email"
    # nobody acknowledges: 10 min of exercise time (10 s) later, the next people; the
    # evening goes on raising alerts, so one whose chain has further to go is there to take
    book = AlertBook(run.store())

    def climbing(mail: Mail) -> list:
        active = book.active()
        return [active[i] for i in alert_ids(mail) if i in active
                and active[i].step < len(active[i].chain)] if TACTICAL in mail.recipients \
            else []

    escalated = wait_for_mail(mailbox, climbing, 120,
                              "an escalation to the tactical commanders, still climbing")[-1]
    assert escalated.subject.startswith("EXERCISE")
    # the trust's alert, if it is in that email: it lasts the evening (a site's may
    # resolve at once, and a resolved alert is not acknowledged)
    candidates = climbing(escalated)
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


def test_winter_evening_raises_call_handling_and_the_trust_then_lets_them_fall(exercises) -> None:
    winter = exercises["winter-evening-surge"]
    up = winter.reaches("call_handling", 3)
    escalation_reason_is_on_record(up)
    trust_up = winter.reaches("overall", 3)
    escalation_reason_is_on_record(trust_up)
    assert winter.run.printed(r"(EXERCISE — SIMULATED DATA, TIME x60)")

    def fell(name: str) -> list[Event]:
        return [e for e in winter.changes(name) if e.at > trust_up.at and e.data["to"] < 3]

    winter.wait_for("call handling falling below 3 as the evening ends",
                    lambda: fell("call_handling"))
    winter.wait_for("the trust falling below 3", lambda: fell("overall"))
    # what `surge events` prints: the rise, with its reason, marked as exercise
    done = subprocess.run([SURGE, "events", "--kind", "level_changed", "--json",
                           "--data-dir", str(winter.run.data_dir)], cwd=REPO,
                          capture_output=True, text=True, timeout=60, env=_env())
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    rises = [e for e in lines if e["name"] == "call_handling" and e["to"] >= 3]
    assert rises and all(e["exercise"] is True for e in lines)
    assert rises[0]["reason"]["drivers"]


def test_handover_crisis_raises_ae_and_hospital_levels(exercises) -> None:
    crisis = exercises["handover-crisis"]
    up = crisis.reaches("ae", 3)
    escalation_reason_is_on_record(up)
    hospitals = crisis.wait_for("a hospital's A&E level rising", lambda: [
        e for e in crisis.store.events(kinds={"level_changed"})
        if e.data["scope"] == "site" and e.data["name"].startswith("ae@") and e.data["to"] >= 3])
    assert hospitals


def test_major_incident_raises_call_handling(exercises) -> None:
    incident = exercises["major-incident"]
    escalation_reason_is_on_record(incident.reaches("call_handling", 3))


def test_exercise_data_are_kept_apart(exercises) -> None:
    winter = exercises["winter-evening-surge"]
    assert (winter.run.data_dir / "exercise" / "valkey").is_dir()
    assert not (winter.run.data_dir / "valkey").exists()
    started = [e for e in winter.store.events() if e.kind == "worker_started"]
    assert started
    clock = winter.store.clock_record()
    assert clock["mode"] == "exercise" and float(clock["speed"]) == 60.0
    assert Path(winter.run.data_dir).is_dir()
