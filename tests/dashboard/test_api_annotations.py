"""Notes on the timeline over the HTTP API (/api/v1/annotations), against a real store: who may
write them (duty manager and above; never a viewer or a wall screen), that only a note's
author changes it and every version is kept, and bad bodies answered with a 4xx naming the
field."""

from __future__ import annotations

import time
from typing import Any

import pytest
from dash import Dash

from dashboard.app import create_app
from surge.auth import ROLES, needed
from surge.events import Annotation, read_events
from surge.store import Store
from surge.timefmt import utc_iso
from tests.dashboard.conftest import auth_settings
from tests.dashboard.test_api import signed_in
from tests.dashboard.test_role_matrix import (
    API_CALLERS,
    api_client_as,
    api_label,
    api_role,
    new_events,
    snapshot,
)

NOTES = "/api/v1/annotations"


@pytest.fixture
def app(store: Store) -> Dash:
    return create_app(auth_settings(), store)


@pytest.mark.parametrize("caller", API_CALLERS)
def test_who_may_write_a_note(app: Dash, store: Store, caller: str) -> None:
    client, headers = api_client_as(app, store, caller)
    before, events = snapshot(store.client), len(store.events())
    response = client.post(NOTES, json={"text": "CAD restarted at 19:02"}, headers=headers)
    allowed = caller not in ("anonymous", "screen") and \
        ROLES.index(api_role(caller)) >= ROLES.index(needed("annotate"))
    assert response.status_code == (401 if caller == "anonymous" else 201 if allowed else 403)
    added = new_events(store, events)
    if not allowed:
        assert snapshot(store.client) == before, "a refused request changed Redis"
        assert [e.kind for e in added] == ["audit"]
        return
    note = response.get_json()["annotation"]
    assert (note["by"], note["text"], note["about"]) == (api_label(caller),
                                                         "CAD restarted at 19:02", None)
    assert [e.kind for e in added] == ["annotation", "audit"]
    assert list(store.annotations()) == [note["id"]]
    assert client.get(NOTES, headers=headers).get_json()["annotations"] == [note]


def test_only_its_author_changes_a_note_and_every_version_is_kept(app: Dash,
                                                                 store: Store) -> None:
    ann, ann_csrf = signed_in(app, store, "duty_manager")
    bob, bob_csrf = signed_in(app, store, "commander")
    at = time.time() - 1800
    made = ann.post(NOTES, json={"text": "HALO on scene at RVX", "at": utc_iso(at),
                                 "until": utc_iso(at + 600), "about": "RVX"},
                    headers={"X-CSRF-Token": ann_csrf})
    assert made.status_code == 201, made.data
    note = made.get_json()["annotation"]
    assert (note["at_epoch"], note["until_epoch"], note["about"]) == (float(int(at)),
                                                                      float(int(at + 600)), "RVX")
    path = f"{NOTES}/{note['id']}"
    refused = bob.put(path, json={"text": "wrong"}, headers={"X-CSRF-Token": bob_csrf})
    assert refused.status_code == 409
    assert "only its author may change it" in refused.get_json()["error"]
    changed = ann.put(path, json={"text": "HALO on scene at RVX, 2 crews"},
                      headers={"X-CSRF-Token": ann_csrf})
    assert changed.status_code == 200, changed.data
    got = changed.get_json()["annotation"]
    assert got["text"] == "HALO on scene at RVX, 2 crews"
    assert [(v["text"], v["edit"]) for v in got["versions"]] == [
        ("HALO on scene at RVX", 0), ("HALO on scene at RVX, 2 crews", 1)]
    history = [e for e in read_events(store, kinds=[Annotation]) if isinstance(e, Annotation)]
    assert [(e.note, e.edit, e.by) for e in history] == [(note["id"], 0, "duty-manager-1"),
                                                         (note["id"], 1, "duty-manager-1")]
    listed = bob.get(NOTES, query_string={"from": utc_iso(at - 60), "to": utc_iso(at + 60)})
    assert [n["id"] for n in listed.get_json()["annotations"]] == [note["id"]]
    assert bob.get(NOTES, query_string={"to": utc_iso(at - 60)}).get_json() == {
        "annotations": []}


@pytest.mark.parametrize(("body", "field", "message"), [
    ({}, "text", "text is required"),
    ({"text": "   "}, None, "a note is required"),
    ({"text": 5}, "text", "text must be text"),
    ({"text": "x", "colour": "red"}, "colour", "unknown field 'colour'"),
    ({"text": "x", "at": "2026-11-18T15:00:00"}, "at", "must say its time zone"),
    ({"text": "x", "at": "yesterday"}, "at", "must be an ISO 8601 time"),
    ({"text": "x", "at": "2099-01-01T00:00:00Z"}, None, "in the future"),
    ({"text": "x", "at": "2026-11-18T15:00:00Z", "until": "2026-11-18T14:00:00Z"}, None,
     "until must be after at"),
    ({"text": "x" * 2001}, None, "at most"),
])
def test_a_bad_note_is_a_4xx_naming_the_problem(app: Dash, store: Store, body: Any,
                                                 field: str | None, message: str) -> None:
    client, csrf = signed_in(app, store, "duty_manager")
    events = len(store.events())
    response = client.post(NOTES, json=body, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 400, response.data
    answer = response.get_json()
    assert message in answer["error"] and answer.get("field") == field
    assert store.annotations() == {} and len(store.events()) == events
    missing = client.put(f"{NOTES}/an-nothing", json={"text": "x"},
                         headers={"X-CSRF-Token": csrf})
    assert missing.status_code == 404 and "there is no note" in missing.get_json()["error"]
