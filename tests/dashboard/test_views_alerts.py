"""The alerts page's view model (dashboard/views/alerts.py) and the header's alert count,
without a server: UNACKNOWLEDGED said loudly and counted, an acknowledgement with who, when,
after how long and its note (also while the worker has not taken it up yet), the escalation
step and when it escalates next in UK time, silences, exercises, the history, durations
across the clock change, and a stopped worker or unreadable alerts never read as normal."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from dash import html

from dashboard.components.status import status_bar
from dashboard.data import build_status, count_alerts
from dashboard.views.alerts import alert_card, build_alerts, history_row, matcher_words
from surge.alerting.book import Ack, Alert, Silence
from surge.catalogue import Catalogue
from tests.dashboard.test_views_header import NOW, UK

CHAIN = ((600.0, "tactical-commanders"), (1200.0, "strategic-commanders"))


def alert(**changes: Any) -> Alert:
    """A level 3 alert at Southmead, fired 15 min before NOW (14:00 GMT), unacknowledged,
    escalated once (after 10 min) and due to escalate again at 20 min."""
    base: dict[str, Any] = dict(
        id="al-0001", key="level:ae@RVJ", kind="level", name="ae@RVJ",
        title="A&E operations at Southmead Hospital", level=3, level_name="Severe pressure",
        severity="critical", reason="ambulances waiting to hand over ≥ 6 for 5 min",
        since=NOW - 960, fired_at=NOW - 900, site="RVJ", function="ae",
        receivers=("duty-managers",), notified=("duty-managers", "tactical-commanders"),
        chain=CHAIN, step=1, unacked_since=NOW - 900)
    return Alert(**{**base, **changes})


def acked(**changes: Any) -> Alert:
    return alert(acked_by="dm-1", acked_at=NOW - 480, ack_note="HALO on site",
                 ack_expires=NOW - 480 + 1800, unacked_since=None, unacked_total=420.0,
                 **changes)


def text(node: Any) -> str:
    if isinstance(node, str | int | float):
        return str(node)
    if isinstance(node, list | tuple):
        return " ".join(text(c) for c in node)
    return text(getattr(node, "children", None)) if node is not None else ""


# --- one alert ----------------------------------------------------------------------------


def test_an_unacknowledged_alert_says_so_and_when_it_escalates(catalogue: Catalogue) -> None:
    card = alert_card(alert(), catalogue, NOW)
    assert card.id == "al-0001" and card.unacknowledged
    assert (card.ack.state, card.ack.text) == ("unacknowledged", "UNACKNOWLEDGED for 15 min")
    assert card.severity == "critical" and card.kind == "level"
    level = card.level
    assert level is not None
    assert (level.number, level.name, level.colour, level.state) == \
        (3, "Severe pressure", "#e0700b", "live")  # number, name and colour together
    assert level.dom_id == "alert-level-al-0001"
    assert card.since == "since 13:44 (16 min)" and card.fired == "fired 13:45"
    assert card.told == "duty-managers, tactical-commanders"
    assert card.escalation == "step 1 of 2 · escalates to strategic-commanders at 14:05"
    assert card.next_escalation == ("strategic-commanders", "14:05")
    assert card.silenced is None and not card.exercise
    assert card.what == "kind level · name ae@RVJ · site RVJ · function ae"


def test_an_acknowledged_alert_says_who_when_after_how_long_and_why(
        catalogue: Catalogue) -> None:
    card = alert_card(acked(), catalogue, NOW)
    assert not card.unacknowledged
    assert card.ack.text == "ACKNOWLEDGED by dm-1 at 13:52 after 7 min"
    assert card.ack.note == "HALO on site"
    assert card.ack.detail == "holds until 14:22 while it fires"
    assert card.escalation == \
        "step 1 of 2 · escalation paused while acknowledged (next: strategic-commanders)"
    assert card.next_escalation is None


def test_an_acknowledgement_the_worker_has_not_taken_up_yet_shows_as_recorded(
        catalogue: Catalogue) -> None:
    ack = Ack(by="dm-2", role="duty_manager", at=NOW - 5, note="on it", via="page")
    card = alert_card(alert(), catalogue, NOW, ack=ack)
    assert (card.ack.state, card.ack.text, card.ack.note) == \
        ("pending", "ACKNOWLEDGED by dm-2 at 13:59", "on it")
    assert "worker" in (card.ack.detail or "") and not card.unacknowledged
    # the acknowledgement the worker took up already is not news
    taken = Ack(by="dm-1", role="duty_manager", at=NOW - 480, note="HALO on site")
    assert alert_card(acked(), catalogue, NOW, ack=taken).ack.state == "acknowledged"


def test_an_expired_acknowledgement_is_unacknowledged_again(catalogue: Catalogue) -> None:
    expired = alert(acked_by=None, acked_at=NOW - 2400, ack_expires=None,
                    unacked_since=NOW - 600, unacked_total=120.0)
    card = alert_card(expired, catalogue, NOW,
                      ack=Ack(by="dm-1", role="duty_manager", at=NOW - 2400))
    assert card.unacknowledged and card.ack.text == "UNACKNOWLEDGED for 12 min"
    assert card.ack.detail == "an acknowledgement at 13:20 has expired"


def test_the_escalation_when_the_chain_is_done_or_there_is_none(catalogue: Catalogue) -> None:
    done = alert_card(alert(step=2), catalogue, NOW)
    assert done.escalation == \
        "step 2 of 2 · escalation complete: everyone in the chain has been told"
    none = alert_card(alert(chain=(), step=0), catalogue, NOW)
    assert none.escalation == "no escalation: its route has none"


def test_a_feed_alert_has_no_level_and_an_exercise_alert_says_so(catalogue: Catalogue) -> None:
    feed = alert_card(alert(id="al-feed", kind="feed", name="cad-calls", level=None,
                            level_name=None, severity="warning", title="Feed cad-calls",
                            site=None, exercise=True), catalogue, NOW)
    assert feed.level is None and feed.kind == "feed" and feed.exercise
    assert feed.what == "kind feed · name cad-calls · function ae"


def test_a_level_not_in_the_rules_file_is_grey_and_still_numbered(catalogue: Catalogue) -> None:
    card = alert_card(alert(level=7, level_name=None), catalogue, NOW)
    assert card.level is not None and card.level.number == 7
    assert card.level.name == "level 7 (not in the rules file)" and card.level.colour == "#5a5f66"


def test_a_silence_in_force_marks_the_alerts_it_covers(catalogue: Catalogue) -> None:
    quiet = Silence(id="si-1", matcher={"site": "RVJ"}, ends=NOW + 3600, reason="drill",
                    by="dm-1", created=NOW - 60)
    over = replace(quiet, id="si-0", ends=NOW - 1)
    card = alert_card(alert(), catalogue, NOW, silences={"si-1": quiet})
    assert card.silenced == "SILENCED until 15:00 by dm-1: drill"
    assert alert_card(alert(), catalogue, NOW, silences={"si-0": over}).silenced is None
    withheld = alert_card(alert(withheld=("strategic-commanders",)), catalogue, NOW)
    assert withheld.withheld == "strategic-commanders"
    assert matcher_words({"kind": "feed", "min_level": 3}) == "kind=feed, min_level=3"


def test_durations_are_counted_in_real_hours_across_the_autumn_change(
        catalogue: Catalogue) -> None:
    fired = datetime(2026, 10, 25, 0, 30, tzinfo=UK).timestamp()  # 00:30 BST
    now = datetime(2026, 10, 25, 2, 30, tzinfo=UK).timestamp()  # 02:30 GMT: 3 h later
    card = alert_card(alert(since=fired, fired_at=fired, unacked_since=fired, chain=()),
                      catalogue, now)
    assert card.since == "since 00:30 (3 h 00 min)"
    assert card.ack.text == "UNACKNOWLEDGED for 3 h 00 min"
    row = history_row(alert(fired_at=fired, resolved_at=now), catalogue, now)
    assert (row.fired, row.resolved, row.lasted) == ("00:30", "02:30", "3 h 00 min")


# --- the page ----------------------------------------------------------------------------


def test_the_page_puts_the_unacknowledged_and_most_severe_first(catalogue: Catalogue) -> None:
    active = {
        "al-a": acked(id="al-a", severity="critical", level=4),
        "al-b": alert(id="al-b", severity="warning", level=2, level_name="Moderate pressure"),
        "al-c": alert(id="al-c"),
        "al-d": alert(id="al-d", kind="feed", name="f", level=None, severity="warning",
                      fired_at=NOW - 100, unacked_since=NOW - 100),
    }
    view = build_alerts(active, catalogue, NOW)
    assert [c.id for c in view.alerts] == ["al-c", "al-b", "al-d", "al-a"]
    assert (view.total, view.unacknowledged) == (4, 3)
    assert view.summary == "4 active alerts · 3 UNACKNOWLEDGED"
    assert view.problems == ()
    one = build_alerts({"al-a": active["al-a"]}, catalogue, NOW)
    assert one.summary == "1 active alert · all acknowledged"
    assert build_alerts({}, catalogue, NOW).summary == "No alert is firing."


def test_silences_in_force_are_listed_with_what_they_cover(catalogue: Catalogue) -> None:
    silences = {
        "si-2": Silence(id="si-2", matcher={"kind": "feed"}, ends=NOW + 7200, reason="upgrade",
                        by="dm-1", created=NOW - 600),
        "si-1": Silence(id="si-1", matcher={"site": "RVJ", "min_level": 3}, ends=NOW + 1800,
                        reason="drill", by="dm-2", created=NOW - 60),
        "si-0": Silence(id="si-0", matcher={"kind": "level"}, ends=NOW - 5, reason="over",
                        by="dm-2", created=NOW - 3600),
    }
    view = build_alerts({"al-0001": alert()}, catalogue, NOW, silences=silences)
    assert [(s.id, s.what, s.until, s.by, s.covers) for s in view.silences] == [
        ("si-1", "site=RVJ, min_level=3", "until 14:30", "set by dm-2 at 13:59", 1),
        ("si-2", "kind=feed", "until 16:00", "set by dm-1 at 13:50", 0)]
    assert view.alerts[0].silenced == "SILENCED until 14:30 by dm-2: drill"


def test_the_history_says_how_long_each_lasted_and_who_acknowledged_it(
        catalogue: Catalogue) -> None:
    resolved = [
        acked(id="al-r1", resolved_at=NOW - 60, resolved_reason="its cause cleared"),
        alert(id="al-r2", fired_at=NOW - 2 * 86400, resolved_at=NOW - 2 * 86400 + 4000,
              severity="warning"),
    ]
    view = build_alerts({}, catalogue, NOW, resolved=resolved, history=1)
    assert [r.id for r in view.history] == ["al-r1"]  # at most ``history``
    first = history_row(resolved[0], catalogue, NOW)
    assert (first.fired, first.resolved, first.lasted) == ("13:45", "13:59", "14 min")
    assert first.ack == "acknowledged by dm-1 after 7 min" and first.acknowledged
    assert first.level is not None and first.level.number == 3
    old = history_row(resolved[1], catalogue, NOW)
    assert old.fired == "24 Nov 14:00" and old.lasted == "1 h 06 min"
    assert old.ack == "NEVER ACKNOWLEDGED" and not old.acknowledged


def test_a_stopped_worker_is_said_first_and_levels_lose_their_colour(
        catalogue: Catalogue) -> None:
    view = build_alerts({"al-0001": alert()}, catalogue, NOW, worker_running=False)
    assert view.problems and view.problems[0].startswith("WORKER STOPPED")
    level = view.alerts[0].level
    assert level is not None and level.state == "not-live" and level.number == 3
    assert level.flag == "NOT UPDATING — worker stopped"


# --- the header's count ------------------------------------------------------------------


def chip(status: Any) -> Any:
    line = status_bar(status, "Tactical")[0]
    chips = next(c for c in line.children if getattr(c, "className", "") == "status-chips")
    return next((c for c in chips.children if isinstance(c, html.A)), None)


def test_the_header_counts_alerts_and_is_loud_while_any_is_unacknowledged(
        catalogue: Catalogue) -> None:
    heartbeat = {"id": "w", "at": str(NOW)}
    active = {"al-1": alert(id="al-1"), "al-2": acked(id="al-2")}
    status = build_status(catalogue, [], heartbeat, NOW, alerts=count_alerts(active))
    link = chip(status)
    assert link.children == "2 ALERTS (1 unacknowledged)" and link.href == "/alerts"
    assert "chip-alerts-loud" in link.className and link.id == "status-alerts"
    quiet = build_status(catalogue, [], heartbeat, NOW,
                         alerts=count_alerts({"al-2": acked(id="al-2")}))
    assert chip(quiet).children == "1 ALERT (0 unacknowledged)"
    assert "chip-alerts-quiet" in chip(quiet).className
    # none: no chip at all; not read (a page that does not show it): none either
    assert chip(build_status(catalogue, [], heartbeat, NOW, alerts=count_alerts({}))) is None
    assert chip(build_status(catalogue, [], heartbeat, NOW)) is None


def test_alerts_that_cannot_be_read_never_look_like_none(catalogue: Catalogue) -> None:
    down = build_status(catalogue, [], None, NOW, store_error="cannot reach the store",
                        alerts=count_alerts(None, error="cannot reach the store"))
    link = chip(down)
    assert link.children == "ALERTS NOT AVAILABLE" and "chip-alerts-loud" in link.className
    assert link.title == "cannot reach the store"
    assert "ALERTS NOT AVAILABLE" in text(status_bar(down, "Alerts"))
