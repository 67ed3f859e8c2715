"""The HTTP API (/api/v1/) through Flask's test client, against a real Valkey server: declaring,
withdrawing and confirming as a signed-in user (with the session's CSRF token) and with an API
token; the refusals (no or a wrong CSRF token, a revoked or unknown token) changing nothing
but the audit trail; bad bodies answered with a 4xx naming the problem; the levels read back
as the store holds them. Who may use which door, by role: test_role_matrix.py."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from click.testing import CliRunner
from dash import Dash
from flask.testing import FlaskClient

from dashboard.app import create_app
from surge.actions import declare_level
from surge.auth import Actor, Tokens, audit_events
from surge.catalogue import load_catalogue
from surge.cli import main
from surge.declarations import planned_actions
from surge.events import ActionConfirmed, DeclarationWithdrawn, Declared, read_events
from surge.rules.loader import load_rules
from surge.store import Store
from surge.timefmt import utc_iso
from tests.conftest import active_worker
from tests.dashboard.conftest import ADMIN_CLI, RULES, add_screen, add_user, auth_settings, sign_in
from tests.dashboard.test_role_matrix import snapshot

NOW = time.time()
LEVELS = "/api/v1/levels"
DECLARATION = "/api/v1/declaration"
MAX_BODY = 16 * 1024


@pytest.fixture
def app(store: Store) -> Dash:
    return create_app(auth_settings(), store, clock=lambda: NOW)


def signed_in(app: Dash, store: Store, role: str) -> tuple[FlaskClient, str]:
    """A browser signed in with ``role``, and its CSRF token, as GET /api/v1/levels gives it."""
    client = app.server.test_client()
    client.get("/_favicon.ico")  # the first request sets up Dash's page router
    name = f"{role.replace('_', '-')}-1"
    assert sign_in(client, name, add_user(store, name, role)).status_code == 302
    answer = client.get(LEVELS)
    assert answer.status_code == 200, answer.data[:300]
    return client, answer.headers["X-CSRF-Token"]


def api_token(store: Store, role: str, name: str | None = None) -> dict[str, str]:
    """The Authorization header of a new API token with ``role``."""
    token = Tokens(store).add(name or f"{role}-bot", role, by=ADMIN_CLI)
    return {"Authorization": f"Bearer {token}"}


def used(client: FlaskClient, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` after one request with them: a token's first use is noted in the store
    (last used, from where), and within 30 s from the same address not again."""
    assert client.get(LEVELS, headers=headers).status_code == 200
    return headers


def publish(store: Store, levels: dict[str, dict[str, Any]]) -> None:
    store.save_engine({}, levels={name: json.dumps(value) for name, value in levels.items()})


def level(n: int, kind: str = "protocol", stale: bool = False) -> dict[str, Any]:
    return {"level": n, "since": NOW - 3600, "stale": stale, "kind": kind,
            "reason": {"combine": "max", "drivers": []}}


def ae_action(at_level: int = 2) -> str:
    return next(a.id for a in planned_actions(load_rules(RULES)).values()
                if a.protocol == "ae" and a.level == at_level)


def added_audit(store: Store, before: int) -> list[dict[str, Any]]:
    return [e.data for e in audit_events(store)][before:]


def audit_count(store: Store) -> int:
    return len(audit_events(store))


# --- declaring, withdrawing, confirming -----------------------------------------------------


def test_a_commander_declares_and_withdraws_with_a_session_and_its_csrf_token(
        app: Dash, store: Store) -> None:
    active_worker(store)
    publish(store, {"overall": level(2, "overall")})
    client, csrf = signed_in(app, store, "commander")
    made = client.post(DECLARATION, json={"level": 3, "reason": "two EDs closed"},
                       headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.data[:500]
    body = made.get_json()
    kept = store.declaration()
    assert body["declared"] == {
        "level": 3, "level_name": "Severe pressure", "by": "commander-1", "role": "commander",
        "via": "api", "at": utc_iso(kept["at"]), "at_epoch": kept["at"],
        "reason": "two EDs closed", "calculated": 2,
        "rules_version": load_catalogue(RULES).version}
    assert (kept["level"], kept["by"], kept["via"]) == (3, "commander-1", "api")
    assert body["previous"] is None and body["diverges"] is True
    assert body["diverging_since_epoch"] == kept["at"]
    [event] = read_events(store, kinds=[Declared])
    assert event.id == body["event_id"] and (event.by, event.via, event.level) == \
        ("commander-1", "api", 3)
    audit = next(e for e in audit_events(store) if e.id == body["audit_id"]).data
    assert (audit["action"], audit["user"], audit["via"], audit["address"]) == \
        ("level_declared", "commander-1", "api", "127.0.0.1")

    gone = client.delete(DECLARATION, json={"reason": "EDs open again"},
                         headers={"X-CSRF-Token": csrf})
    assert gone.status_code == 200, gone.data[:500]
    assert gone.get_json()["withdrawn"]["level"] == 3
    assert gone.get_json()["withdrawn"]["reason"] == "EDs open again"
    assert store.declaration() == {}
    [withdrawn] = read_events(store, kinds=[DeclarationWithdrawn])
    assert (withdrawn.by, withdrawn.via, withdrawn.reason) == \
        ("commander-1", "api", "EDs open again")
    again = client.delete(DECLARATION, headers={"X-CSRF-Token": csrf})  # no body: no reason
    assert again.status_code == 409
    assert again.get_json()["error"] == "nothing to withdraw: no level is declared"


def test_a_program_declares_and_withdraws_with_a_commander_token(app: Dash,
                                                                 store: Store) -> None:
    headers = api_token(store, "commander", "cad-bridge")
    client = app.server.test_client()
    made = client.post(DECLARATION, json={"level": 4, "reason": "major incident"},
                       headers=headers)
    assert made.status_code == 201, made.data[:500]
    assert "Set-Cookie" not in made.headers  # a token is no session
    assert made.get_json()["declared"]["by"] == "token:cad-bridge"
    assert (store.declaration()["by"], store.declaration()["via"]) == ("token:cad-bridge", "api")
    [event] = read_events(store, kinds=[Declared])
    assert (event.by, event.role, event.via) == ("token:cad-bridge", "commander", "api")
    assert client.delete(DECLARATION, headers=headers).status_code == 200
    assert store.declaration() == {}
    [used] = [t for t in Tokens(store).list() if t.name == "cad-bridge"]
    assert used.last_address == "127.0.0.1" and used.last_used is not None


@pytest.mark.parametrize("how", ["session", "token"])
def test_a_duty_manager_confirms_an_action(app: Dash, store: Store, how: str) -> None:
    publish(store, {"overall": level(2, "overall"), "ae": level(2)})
    action = ae_action()
    if how == "session":
        client, csrf = signed_in(app, store, "duty_manager")
        headers, who = {"X-CSRF-Token": csrf}, "duty-manager-1"
    else:
        client, headers = app.server.test_client(), api_token(store, "duty_manager", "ops")
        who = "token:ops"
    url = f"/api/v1/actions/{action}/confirm"
    done = client.post(url, json={"note": "extra crews on"}, headers=headers)
    assert done.status_code == 201, done.data[:500]
    body = done.get_json()
    assert body["already"] is False and body["action"]["id"] == action
    assert body["confirmation"]["by"] == who and body["confirmation"]["via"] == "api"
    assert body["confirmation"]["note"] == "extra crews on"
    assert body["confirmation"]["since_epoch"] == NOW - 3600
    [event] = read_events(store, kinds=[ActionConfirmed])
    assert (event.action_id, event.by, event.via, event.note) == \
        (action, who, "api", "extra crews on")
    again = client.post(url, headers=headers)  # no body: no note; already done
    assert again.status_code == 200 and again.get_json()["already"] is True
    assert again.get_json()["confirmation"]["note"] == "extra crews on"  # the first one's
    assert len(read_events(store, kinds=[ActionConfirmed])) == 1


def test_confirming_an_unknown_action_is_404_and_one_not_in_force_409(app: Dash,
                                                                      store: Store) -> None:
    publish(store, {"ae": level(2)})
    headers = api_token(store, "duty_manager")
    client = app.server.test_client()
    action = ae_action()
    unknown = client.post(f"/api/v1/actions/{action}x/confirm", headers=headers)
    assert unknown.status_code == 404
    assert unknown.get_json()["error"].startswith(f"unknown action '{action}x' (did you mean")
    above = client.post(f"/api/v1/actions/{ae_action(4)}/confirm", headers=headers)
    assert above.status_code == 409 and "not in force" in above.get_json()["error"]
    assert read_events(store, kinds=[ActionConfirmed]) == []


def test_a_declaration_made_over_the_api_is_in_surge_events(app: Dash, store: Store,
                                                            redis_url: str) -> None:
    client = app.server.test_client()
    made = client.post(DECLARATION, json={"level": 3, "reason": "from the CAD"},
                       headers=api_token(store, "commander", "cad"))
    assert made.status_code == 201
    result = CliRunner().invoke(main, ["events", "--kind", "declared", "--json"],
                                env={"SURGE_RULES": str(RULES), "SURGE_REDIS_URL": redis_url},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [line] = [json.loads(row) for row in result.output.splitlines() if row.strip()]
    assert (line["kind"], line["by"], line["via"], line["level"], line["reason"]) == \
        ("declared", "token:cad", "api", 3, "from the CAD")


# --- refusals: CSRF and tokens ------------------------------------------------------------


DOORS = ("POST declaration", "DELETE declaration", "POST confirm")


def prepare(store: Store, door: str) -> None:
    """What the door needs to succeed: a declaration to withdraw, an action in force."""
    publish(store, {"overall": level(2, "overall"), "ae": level(2)})
    if door == "DELETE declaration":
        declare_level(store, Actor("cmdr", "commander", "local", "cli"), level=3,
                      reason="set up", catalogue=load_catalogue(RULES))


def knock(client: FlaskClient, door: str, headers: dict[str, str]) -> Any:
    if door == "POST declaration":
        return client.post(DECLARATION, json={"level": 4, "reason": "x"}, headers=headers)
    if door == "DELETE declaration":
        return client.delete(DECLARATION, json={"reason": "x"}, headers=headers)
    return client.post(f"/api/v1/actions/{ae_action()}/confirm", json={"note": "x"},
                       headers=headers)


@pytest.mark.parametrize("csrf", ["missing", "wrong", "another session's"])
@pytest.mark.parametrize("door", DOORS)
def test_a_session_without_its_csrf_token_is_refused(app: Dash, store: Store, door: str,
                                                     csrf: str) -> None:
    prepare(store, door)
    client, _mine = signed_in(app, store, "admin")
    headers = {"missing": {}, "wrong": {"X-CSRF-Token": "not-the-token"},
               "another session's": {"X-CSRF-Token": signed_in(app, store, "commander")[1]},
               }[csrf]
    before, audited = snapshot(store.client), audit_count(store)
    response = knock(client, door, headers)
    assert response.status_code == 403, response.data[:300]
    assert response.get_json()["error"].startswith("CSRF token missing or wrong")
    assert snapshot(store.client) == before, "a refused request changed Redis"
    [entry] = added_audit(store, audited)
    assert (entry["action"], entry["user"], entry["role"], entry["reason"]) == \
        ("access_refused", "admin-1", "admin", "csrf token missing or wrong")
    assert entry["target"].split()[0] == door.split()[0]


@pytest.mark.parametrize("token", ["revoked", "unknown", "not a bearer token"])
@pytest.mark.parametrize("door", DOORS)
def test_a_revoked_or_unknown_token_is_refused(app: Dash, store: Store, door: str,
                                               token: str) -> None:
    prepare(store, door)
    headers = api_token(store, "admin", "gone")
    if token == "revoked":
        Tokens(store).revoke("gone", by=ADMIN_CLI)
    elif token == "unknown":
        headers = {"Authorization": headers["Authorization"][:-2] + "xx"}
    else:
        headers = {"Authorization": "Basic YWRtaW46YWRtaW4="}
    before, audited = snapshot(store.client), audit_count(store)
    response = knock(app.server.test_client(), door, headers)
    assert response.status_code == 401, response.data[:300]
    assert response.get_json()["error"].startswith("API token not valid")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert snapshot(store.client) == before, "a refused request changed Redis"
    [entry] = added_audit(store, audited)
    assert (entry["action"], entry["user"], entry["reason"]) == \
        ("access_refused", "(anonymous)", "unknown or revoked API token")
    assert entry["needed"] == ("commander" if "declaration" in door else "duty_manager")
    assert "token" not in entry and "gone" not in json.dumps(entry)


def test_a_bad_token_is_refused_even_beside_a_good_session(app: Dash, store: Store) -> None:
    """The token a request presents decides who it is; a session cannot rescue it."""
    client, csrf = signed_in(app, store, "commander")
    response = client.post(DECLARATION, json={"level": 3, "reason": "x"},
                           headers={"X-CSRF-Token": csrf, "Authorization": "Bearer surge_no"})
    assert response.status_code == 401
    assert store.declaration() == {}
    assert client.get(LEVELS, headers={"Authorization": "Bearer surge_no"}).status_code == 401


def test_a_token_revoked_stops_at_the_next_request(app: Dash, store: Store) -> None:
    headers = api_token(store, "viewer", "board")
    client = app.server.test_client()
    assert client.get(LEVELS, headers=headers).status_code == 200
    Tokens(store).revoke("board", by=ADMIN_CLI)
    assert client.get(LEVELS, headers=headers).status_code == 401


# --- bad requests ---------------------------------------------------------------------------


BAD_DECLARATIONS = [
    # (body, status, what the error says, the field named)
    (b"level=3&reason=closed", 400, "the body is not valid JSON (Expecting value", None),
    (b'{"level": 3, "reason": "x"', 400, "the body is not valid JSON", None),
    (b'{"level": 3, "reason": "\xff"}', 400, "the body is not valid JSON", None),
    (b"[" * 6000 + b"]" * 6000, 400, "the body is not valid JSON", None),
    (b'{"level": ' + b"9" * 5000 + b', "reason": "x"}', 400, "the body is not valid JSON", None),
    (b"[3, \"closed\"]", 400, 'the body must be a JSON object, such as {"level": "...", '
                              '"reason": "..."}', None),
    (b'"3"', 400, "the body must be a JSON object", None),
    (b"", 400, "level is required: one of 1 Steady state, 2 Moderate pressure, 3 Severe "
               "pressure, 4 Extreme pressure", "level"),
    ({"level": 7, "reason": "x"}, 400, "there is no level 7; the levels are 1 Steady state",
     None),
    ({"level": 0, "reason": "x"}, 400, "there is no level 0", None),
    ({"level": "three", "reason": "x"}, 400, "level must be a whole number, not a string: "
                                             "one of 1 Steady state", "level"),
    ({"level": "3", "reason": "x"}, 400, "level must be a whole number, not a string", "level"),
    ({"level": 3.5, "reason": "x"}, 400, "level must be a whole number, not the number 3.5",
     "level"),
    ({"level": True, "reason": "x"}, 400, "level must be a whole number, not true or false",
     "level"),
    ({"level": None, "reason": "x"}, 400, "level is required", "level"),
    ({"reason": "x"}, 400, "level is required", "level"),
    ({"level": 3}, 400, "reason is required: say why, in at most 500 characters", "reason"),
    ({"level": 3, "reason": ""}, 400, "a reason is required", None),
    ({"level": 3, "reason": "   "}, 400, "a reason is required", None),
    ({"level": 3, "reason": 42}, 400, "reason must be text (a JSON string), not the number 42",
     "reason"),
    ({"level": 3, "reason": ["x"]}, 400, "reason must be text (a JSON string), not a list",
     "reason"),
    ({"level": 3, "reason": "x" * 501}, 400, "the reason is 501 characters long; at most 500",
     None),
    ({"level": 3, "reason": "bad\x00byte"}, 400, "the reason must not hold control characters",
     None),
    ({"level": 3, "reason": "x", "urgent": True}, 400, "unknown field 'urgent'; the fields are "
                                                       "level, reason", "urgent"),
    ({"levle": 3, "reason": "x"}, 400, "unknown field 'levle' (did you mean 'level'?)", "levle"),
    ({"level": 3, "reason": "x" * 100_000}, 413, "the request is too large", None),
    (b" " * (MAX_BODY + 1), 413, "the request is too large", None),
]


@pytest.mark.parametrize(("body", "status", "says", "field"), BAD_DECLARATIONS,
                         ids=[f"case{i}" for i in range(len(BAD_DECLARATIONS))])
def test_a_bad_declaration_is_a_4xx_naming_the_problem(app: Dash, store: Store, body: Any,
                                                       status: int, says: str,
                                                       field: str | None) -> None:
    client = app.server.test_client()
    headers = used(client, api_token(store, "commander"))
    before, events = snapshot(store.client), len(store.events())
    if isinstance(body, bytes):
        response = client.post(DECLARATION, data=body, headers=headers,
                               content_type="application/json")
    else:
        response = client.post(DECLARATION, json=body, headers=headers)
    assert response.status_code == status, response.data[:300]
    answer = response.get_json()
    assert answer["error"].startswith(says), answer
    assert answer.get("field") == field
    assert "Traceback" not in response.get_data(as_text=True)
    assert store.declaration() == {} and snapshot(store.client) == before
    assert store.events()[events:] == []


def test_the_same_checks_hold_for_a_session(app: Dash, store: Store) -> None:
    client, csrf = signed_in(app, store, "commander")
    response = client.post(DECLARATION, json={"level": "three", "reason": "x"},
                           headers={"X-CSRF-Token": csrf})
    assert response.status_code == 400 and response.get_json()["field"] == "level"


def test_a_body_sent_in_chunks_is_cut_off_at_the_limit(app: Dash, store: Store) -> None:
    import io

    headers = {**api_token(store, "commander"), "Transfer-Encoding": "chunked"}
    body = json.dumps({"level": 3, "reason": "x" * (2 * MAX_BODY)}).encode()
    response = app.server.test_client().post(  # as a server marks a chunked body
        DECLARATION, input_stream=io.BytesIO(body), headers=headers,
        content_type="application/json", environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413, response.data[:300]
    assert response.get_json()["error"] == "the request is too large"
    assert store.declaration() == {}


@pytest.mark.parametrize(("url", "body", "says", "field"), [
    (DECLARATION, {"note": "x"}, "unknown field 'note'; the fields are reason", "note"),
    (DECLARATION, {"reason": 3}, "reason must be text", "reason"),
    ("/api/v1/actions/ID/confirm", {"reason": "x"}, "unknown field 'reason'; the fields are "
                                                    "note", "reason"),
    ("/api/v1/actions/ID/confirm", {"note": {"a": 1}}, "note must be text (a JSON string), "
                                                       "not an object", "note"),
    ("/api/v1/actions/ID/confirm", {"note": "y" * 501}, "the note is 501 characters long",
     None),
])
def test_bad_withdrawals_and_confirmations(app: Dash, store: Store, url: str, body: Any,
                                           says: str, field: str | None) -> None:
    prepare(store, "DELETE declaration")
    url = url.replace("ID", ae_action())
    client = app.server.test_client()
    headers = used(client, api_token(store, "admin"))
    before = snapshot(store.client)
    send = client.delete if url == DECLARATION else client.post
    response = send(url, json=body, headers=headers)
    assert response.status_code == 400, response.data[:300]
    assert response.get_json()["error"].startswith(says)
    assert response.get_json().get("field") == field
    assert snapshot(store.client) == before


def test_unknown_endpoints_and_methods_answer_in_json(app: Dash, store: Store) -> None:
    client = app.server.test_client()
    headers = api_token(store, "admin")
    missing = client.get("/api/v1/level", headers=headers)
    assert missing.status_code == 404
    assert missing.get_json()["error"].startswith("no such endpoint: GET /api/v1/level; the "
                                                  "endpoints are GET /api/v1/levels")
    wrong = client.put(DECLARATION, json={}, headers=headers)
    assert wrong.status_code == 405 and "Method Not Allowed" in wrong.get_json()["error"]
    assert set(wrong.headers["Allow"].split(", ")) >= {"POST", "DELETE"}


def test_an_unreachable_store_is_503(app: Dash, store: Store) -> None:
    headers = api_token(store, "commander")
    client, csrf = signed_in(app, store, "commander")
    context = app.server.extensions["surge"]
    context._store = Store.connect("redis://127.0.0.1:1")
    by_token = app.server.test_client().post(DECLARATION, json={"level": 3, "reason": "x"},
                                             headers=headers)
    assert by_token.status_code == 503
    assert "cannot be reached to check the API token" in by_token.get_json()["error"]
    by_session = client.post(DECLARATION, json={"level": 3, "reason": "x"},
                             headers={"X-CSRF-Token": csrf})
    assert by_session.status_code == 503
    read = client.get(LEVELS)  # a session may read while the store is down: it says so
    assert read.status_code == 503
    assert read.get_json()["error"].startswith("the data store cannot be reached to check")


# --- reading the levels -------------------------------------------------------------------------


def test_the_levels_are_what_the_store_holds(app: Dash, store: Store) -> None:
    active_worker(store)
    publish(store, {"overall": level(2, "overall"), "ae": level(2), "ae@RVJ": level(3, "site"),
                    "ae/ae.handover_queue@RVJ": level(3, "trigger")})
    headers = api_token(store, "commander", "board")
    client = app.server.test_client()
    assert client.post(DECLARATION, json={"level": 3, "reason": "RVJ full"},
                       headers=headers).status_code == 201
    answer = client.get(LEVELS, headers=headers)
    assert answer.status_code == 200
    assert "X-CSRF-Token" not in answer.headers  # a token has no session to protect
    body = answer.get_json()
    catalogue = load_catalogue(RULES)
    published = store.published_levels(catalogue)
    kept = store.declaration()
    assert (body["at"], body["at_epoch"]) == (utc_iso(NOW), NOW)
    assert body["rules_version"] == catalogue.version
    assert (body["mode"], body["worker"], body["stale"]) == ("live", "running", False)
    trust = body["trust"]
    assert trust["calculated"]["level"] == published["overall"].level == 2
    assert trust["calculated"]["since_epoch"] == published["overall"].since
    assert trust["calculated"]["since"] == utc_iso(NOW - 3600)
    assert trust["declared"]["level"] == kept["level"] == 3
    assert (trust["declared"]["by"], trust["declared"]["via"]) == ("token:board", "api")
    assert trust["declared"]["at_epoch"] == kept["at"]
    assert trust["declared"]["at"] == utc_iso(kept["at"])
    assert (trust["agreement"], trust["diverges"]) == ("diverges", True)
    assert trust["diverging_since_epoch"] == kept["diverging_since"]
    assert set(body["levels"]) == {"ae", "ae@RVJ"}  # functions and sites, not triggers
    site = body["levels"]["ae@RVJ"]
    assert (site["kind"], site["protocol"], site["site"], site["level"], site["level_name"]) \
        == ("site", "ae", "RVJ", published["ae@RVJ"].level, "Severe pressure")


def test_the_levels_say_when_they_are_stale(app: Dash, store: Store) -> None:
    client = app.server.test_client()
    headers = api_token(store, "viewer")
    nothing = client.get(LEVELS, headers=headers).get_json()
    assert nothing["stale"] is True and nothing["trust"]["calculated"] is None
    assert (nothing["trust"]["declared"], nothing["trust"]["agreement"]) == \
        (None, "no declaration")
    publish(store, {"overall": level(2, "overall"), "ae": level(2, stale=True)})
    assert client.get(LEVELS, headers=headers).get_json()["worker"] == "stopped"
    active_worker(store)
    held = client.get(LEVELS, headers=headers).get_json()
    assert held["stale"] is True and held["levels"]["ae"]["stale"] is True
    publish(store, {"overall": level(2, "overall"), "ae": level(2)})
    assert client.get(LEVELS, headers=headers).get_json()["stale"] is False


@pytest.mark.parametrize(("who", "status"), [("anonymous", 401), ("screen", 200),
                                             ("viewer", 200)])
def test_who_may_read_the_levels(app: Dash, store: Store, who: str, status: int) -> None:
    client = app.server.test_client()
    client.get("/_favicon.ico")
    if who == "screen":
        assert client.get(f"/screen/{add_screen(store)}").status_code == 302
    elif who == "viewer":
        client, _ = signed_in(app, store, "viewer")
    answer = client.get(LEVELS)
    assert answer.status_code == status
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.is_json and ("trust" in answer.get_json()) == (status == 200)
    assert ("X-CSRF-Token" in answer.headers) == (who == "viewer")  # screens cannot POST
