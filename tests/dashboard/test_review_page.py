"""The review page (/review) through Flask's test client, against a real store: which window
each choice gives (across both clock changes), the exports it links (any signed-in role may
download; bad parameters are a 400 in words), the note form's callback refused below a
duty manager and for a wall screen, a wall screen's review without controls, and "as the
wall showed it" (/review/wall): a bad moment refused in words, a past one shown read-only."""

from __future__ import annotations

import io
import json
import math
import time
from datetime import datetime
from typing import Any

import pandas as pd
import pytest
from dash import Dash

from dashboard.app import create_app
from dashboard.views.review import AROUND, window_of
from surge.events import Declared, LevelChanged, Recorder
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
            (("2026-01-01 00:00", "2027-01-15 00:00", None), "at most 366 days"),
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


def add_note(app: Dash, client: Any, text: str, change: str | None = None,
             about: str = "RVX") -> Any:
    """The POST the Add or change note button makes (``change``: the note chosen under
    "Or change my note")."""
    from tests.dashboard.test_alerts_page import press

    def ident(kind: str) -> dict[str, str]:
        return {"type": kind, "key": "form"}

    return press(app, client, "note-result", ident("note-add"),
                 [(ident("note-text"), text), (ident("note-at"), ""), (ident("note-until"), ""),
                  (ident("note-about"), about), (ident("mine-note"), change)])


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


def test_an_author_changes_their_note_from_the_page_and_nobody_else_can(app: Dash,
                                                                         store: Store) -> None:
    author = client_as(app, store, "duty_manager")
    assert add_note(app, author, "HALO on scen").status_code == 200
    (note,) = store.annotations()
    # the page offers the author their own notes of the window, and only theirs
    offered = show_window(app, author, wall=False)["review-mine"]["data"]
    assert [o["value"] for o in offered] == [note] and "HALO on scen" in offered[0]["label"]
    changed = add_note(app, author, "HALO on scene at RVX", change=note, about="")
    assert b"changed by duty_manager" in changed.data
    versions = store.annotations()[note]["versions"]
    assert [v["text"] for v in versions] == ["HALO on scen", "HALO on scene at RVX"]
    # a change is of the text only: a new subject is refused, in words, and nothing changes
    refused = add_note(app, author, "HALO left", change=note, about="RVJ")
    assert b"Nothing changed" in refused.data and b"text only" in refused.data
    other = app.server.test_client()
    other.get("/_favicon.ico")
    assert sign_in(other, "dm2", add_user(store, "dm2", "duty_manager")).status_code == 302
    assert show_window(app, other, wall=False)["review-mine"]["data"] == []
    theirs = add_note(app, other, "not mine to change", change=note, about="")
    assert b"Nothing changed" in theirs.data and b"only its author" in theirs.data
    assert len(store.annotations()[note]["versions"]) == 2


# --- wall mode, and the wall as it was ------------------------------------------------------


def post(app: Dash, client: Any, input_id: str, inputs: dict[str, Any],
         state: dict[str, Any]) -> dict:
    """POST the callback fired by ``input_id``, each input and state by its id; returns
    {component id: {property: value}}."""
    found = [k for k, cb in app.callback_map.items()
             if any(i["id"] == input_id for i in cb["inputs"])]
    assert len(found) == 1, found
    cb = app.callback_map[found[0]]
    outputs = cb["output"] if isinstance(cb["output"], list) else [cb["output"]]
    got = client.post("/_dash-update-component", json={
        "output": found[0],
        "outputs": [{"id": o.component_id, "property": o.component_property} for o in outputs],
        "inputs": [{**i, "value": inputs.get(i["id"])} for i in cb["inputs"]],
        "state": [{**s, "value": state.get(s["id"])} for s in cb["state"]],
        "changedPropIds": [f"{input_id}.{cb['inputs'][0]['property']}"]})
    assert got.status_code == 200, got.data[:1000]
    return got.get_json()["response"]


def show_window(app: Dash, client: Any, wall: bool) -> dict:
    return post(app, client, "review-preset", {"review-preset": "24h"},
                {"review-mode": {"wall": wall}})


def opened(app: Dash, client: Any, path: str, search: str = "") -> dict:
    from tests.dashboard.test_pages_app import open_page

    return open_page(app, client, path, search)["_pages_content"]["children"]


@pytest.mark.parametrize(("role", "search"), [("duty_manager", "?wall=1"), ("screen", "")])
def test_on_a_wall_the_review_shows_the_story_and_no_controls(
        app: Dash, store: Store, role: str, search: str) -> None:
    from tests.dashboard.test_app import walk

    client = client_as(app, store, role)
    page = opened(app, client, "/review", search)
    found = {str(c["props"].get("id")): c["props"] for c in walk(page)}
    pickers = [c["props"] for c in walk(page) if c["props"].get("className") == "review-picker"]
    assert len(pickers) == 2 and all(p.get("hidden") for p in pickers)  # window, filters
    assert "note-form" not in found and "review-grid" in found and "review-levels" in found
    wall = show_window(app, client, wall=True)
    assert wall["review-downloads"]["children"] == []  # no exports
    assert "From " in json.dumps(wall["review-window"]["children"])  # the story stays
    desk = show_window(app, client, wall=False)
    assert "/review/export?" in json.dumps(desk["review-downloads"]["children"])


def test_a_desk_review_keeps_its_controls_and_links_each_event_to_the_wall_then(
        app: Dash, store: Store) -> None:
    from tests.dashboard.test_app import walk

    now = time.time()
    Recorder(store).record(LevelChanged(ts=now - 600.5, name="overall", scope="overall",
                                        from_=1, to=2, rules_version="v1"))
    client = client_as(app, store, "duty_manager")
    page = opened(app, client, "/review")
    assert not any(c["props"].get("hidden") for c in walk(page)
                   if c["props"].get("className") == "review-picker")
    assert "note-form" in {str(c["props"].get("id")) for c in walk(page)}
    shown = show_window(app, client, wall=False)
    row = shown["review-grid"]["rowData"][0]
    assert row["wall"] == f"[the wall then](/review/wall?at={math.ceil(now - 600.5)})"
    assert "/review/wall?at=" in json.dumps(shown["review-window"]["children"])


def asof(app: Dash, client: Any, at: Any) -> dict:
    return post(app, client, "asof-at", {"asof-at": at}, {"asof-mode": {"wall": False}})


def test_the_wall_then_refuses_a_bad_moment_in_words(app: Dash, store: Store) -> None:
    from tests.dashboard.test_app import text

    client = client_as(app, store, "viewer")
    for at, words in [("soon", "at must be a time in epoch seconds, not 'soon'"),
                      ("-5", "after 1 January 1970"), ("nan", "after 1 January 1970"),
                      (str(time.time() + 3600), "in the future"), (None, "no moment given")]:
        banner = text(asof(app, client, at)["asof-banner"]["children"])
        assert banner.startswith("⚠ Nothing shown: ") and words in banner, banner
    anonymous = app.server.test_client().get("/review/wall?at=1")
    assert anonymous.status_code in (302, 401)


def test_the_wall_then_shows_a_past_moment_read_only(app: Dash, store: Store) -> None:
    from tests.dashboard.test_app import text, walk

    now = float(int(time.time()))
    Recorder(store).record_many([
        LevelChanged(ts=now - 7200, name="overall", scope="overall", from_=1, to=3,
                     rules_version="v1", reason={"combine": "max", "drivers": ["ae"]}),
        LevelChanged(ts=now - 7200, name="ae", scope="protocol", from_=1, to=3,
                     rules_version="v1"),
        Declared(ts=now - 3600, by="gold", role="commander", level=3, calculated=3,
                 reason="handover delays"),
        LevelChanged(ts=now - 600, name="overall", scope="overall", from_=3, to=1,
                     rules_version="v1")])
    client = client_as(app, store, "commander")  # who could declare now: not from the past
    page = opened(app, client, "/review/wall", f"?at={now - 1800:.0f}")
    assert page["props"]["data-page"] == "asof"
    assert "declare-control" not in text(page) and "Declare" not in text(page)
    shown = asof(app, client, f"{now - 1800:.0f}")
    banner = text(shown["asof-banner"]["children"])
    then = datetime.fromtimestamp(now - 1800, UK)
    assert banner.startswith(f"As the wall showed it at {then:%H:%M:%S} {then:%Z} on ")
    assert f"{then:%B %Y}" in banner and "(UK time, UTC+0" in banner
    assert "a reconstruction from the record, not live" in banner
    assert shown["asof-back"]["href"] == f"/review?around={now - 1800:.0f}"
    levels = shown["asof-levels"]["children"]
    overall = next(c for c in walk(levels) if c["props"].get("id") == "strategic-level-overall")
    assert "3" in text(overall) and "Severe pressure" in text(overall)  # then, not now (1)
    assert "handover delays" in text(levels)
    assert "Not reconstructed" in text(shown["asof-actions"]["children"])  # v1 is not held
