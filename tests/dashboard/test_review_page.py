"""The review page (/review) through Flask's test client, against a real store: which window
each choice gives (across both clock changes), the exports it links (any signed-in role may
download; bad parameters are a 400 in words), and the note form's callback refused below a
duty manager and for a wall screen."""

from __future__ import annotations

import io
import time
from datetime import datetime
from typing import Any

import pandas as pd
import pytest
from dash import Dash

from dashboard.app import create_app
from dashboard.views.review import AROUND, window_of
from surge.review import SAMPLE_COLUMNS
from surge.samples import Sample
from surge.store import Store
from surge.timefmt import UK
from tests.dashboard.conftest import add_screen, add_user, auth_settings, sign_in


def uk(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UK).timestamp()


@pytest.mark.parametrize(("now", "start", "hours"), [
    ("2027-10-31 10:00", "2027-10-30 19:00", 13),  # the night the clocks go back
    ("2027-03-28 06:30", "2027-03-26 19:00", 12),  # before 07:00: the night before
    ("2027-03-28 07:00", "2027-03-27 19:00", 11),  # the night the clocks go forward
])
def test_last_night_is_19_to_07_uk_time_whatever_the_clocks_did(now: str, start: str,
                                                                 hours: int) -> None:
    t1, t2 = window_of("night", None, None, None, uk(now))
    assert t1 == uk(start) and (t2 - t1) / 3600 == hours
    assert datetime.fromtimestamp(t2, UK).strftime("%H:%M") == "07:00"


def test_the_other_choices_and_what_is_refused() -> None:
    now = uk("2027-01-15 12:00")
    assert window_of("24h", None, None, None, now) == (now - 86400, now)
    assert window_of("7d", None, None, None, now) == (now - 7 * 86400, now)
    assert window_of("24h", None, None, str(now - 3 * 3600), now) == (
        now - 3 * 3600 - AROUND, now - 3 * 3600 + AROUND)
    assert window_of("24h", None, None, str(now - 600), now)[1] == now  # never past now
    assert window_of(None, "2027-01-14 19:00", "2027-01-15 07:00", None, now) == (
        uk("2027-01-14 19:00"), uk("2027-01-15 07:00"))
    for args, message in [
            (("2027-01-15 07:00", "2027-01-14 19:00", None), "To must be after From"),
            (("2026-11-01 00:00", "2027-01-15 00:00", None), "at most 35 days"),
            (("yesterday", None, None), "From: expected a UK time"),
            ((None, None, "soon"), "around must be a time")]:
        with pytest.raises(ValueError, match=message):
            window_of("24h", *args, now)


@pytest.fixture
def app(store: Store) -> Dash:
    return create_app(auth_settings(), store)


def client_as(app: Dash, store: Store, role: str) -> Any:
    client = app.server.test_client()
    client.get("/_favicon.ico")
    if role == "screen":
        assert client.get(f"/screen/{add_screen(store)}").status_code == 302
    else:
        assert sign_in(client, role, add_user(store, role, role)).status_code == 302
    return client


@pytest.mark.parametrize("role", ["viewer", "screen", "duty_manager"])
def test_the_window_exports_download_for_anyone_signed_in(app: Dash, store: Store,
                                                          role: str) -> None:
    now = time.time()
    store.write([Sample("calls.waiting", "trust", now - 60 * m, float(m)) for m in range(1, 6)])
    client = client_as(app, store, role)
    query = {"what": "samples", "format": "csv", "start": f"{now - 3600:.0f}",
             "end": f"{now:.0f}"}
    got = client.get("/review/export", query_string=query)
    assert got.status_code == 200, got.data[:300]
    assert got.headers["Content-Disposition"].startswith('attachment; filename="surge-samples-')
    table = pd.read_csv(io.BytesIO(got.data))
    assert tuple(table.columns) == SAMPLE_COLUMNS and len(table) == 5
    events = client.get("/review/export", query_string={**query, "what": "events"})
    assert events.status_code == 200 and events.data.startswith(b"ts_utc,ts_uk,kind,")
    report = client.get("/review/export", query_string={**query, "what": "report",
                                                        "format": "html"})
    assert report.status_code == 200 and b"Surge post-incident review" in report.data


def test_at_most_two_exports_are_made_at_once(app: Dash, store: Store) -> None:
    now = time.time()
    store.write([Sample("calls.waiting", "trust", now - 60 * m, float(m)) for m in range(1, 6)])
    client = client_as(app, store, "viewer")
    query = {"what": "samples", "format": "csv", "start": f"{now - 3600:.0f}",
             "end": f"{now:.0f}"}
    downloading = [client.get("/review/export", query_string=query, buffered=False)
                   for _ in range(2)]  # two downloads under way, not yet read
    busy = client.get("/review/export", query_string=query)
    assert busy.status_code == 429 and busy.headers["Retry-After"] == "30"
    assert b"exports are being made already" in busy.data
    assert [len(d.get_data().splitlines()) for d in downloading] == [6, 6]
    for d in downloading:
        d.close()
    assert client.get("/review/export", query_string=query).status_code == 200


def test_bad_export_parameters_are_a_400_in_words(app: Dash, store: Store) -> None:
    client = client_as(app, store, "viewer")
    for query, words in [({"what": "everything", "format": "csv"}, b"what and format"),
                         ({"what": "samples", "format": "csv", "start": "x", "end": "1"},
                          b"start and end must be times"),
                         ({"what": "samples", "format": "csv", "start": "10", "end": "5"},
                          b"end must be after start")]:
        got = client.get("/review/export", query_string=query)
        assert got.status_code == 400 and words in got.data
    anonymous = app.server.test_client().get("/review/export?what=samples&format=csv")
    assert anonymous.status_code in (302, 401)


def add_note(app: Dash, client: Any, text: str) -> Any:
    """The POST the Add note button makes."""
    from tests.dashboard.test_alerts_page import press

    def ident(kind: str) -> dict[str, str]:
        return {"type": kind, "key": "form"}

    return press(app, client, "note-result", ident("note-add"),
                 [(ident("note-text"), text), (ident("note-at"), ""), (ident("note-until"), ""),
                  (ident("note-about"), "RVX")])


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("screen", 403),
                                              ("duty_manager", 200), ("commander", 200)])
def test_only_a_duty_manager_and_above_adds_a_note_from_the_page(
        app: Dash, store: Store, role: str, status: int) -> None:
    client = client_as(app, store, role)
    answer = add_note(app, client, "HALO on scene")
    assert answer.status_code == status, answer.data[:300]
    notes = list(store.annotations().values())
    if status == 403:
        assert notes == []
        return
    assert [(n["by"], n["about"], n["versions"][0]["text"], n["versions"][0]["via"])
            for n in notes] == [(role, "RVX", "HALO on scene", "page")]
    assert b"added by" in answer.data
