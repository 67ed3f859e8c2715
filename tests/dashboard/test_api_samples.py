"""POST /api/v1/samples through Flask's test client, against a real Valkey server: a system
pushing the samples of its push feed with a feed token, as JSON or CSV; good samples kept
beside bad ones, each bad one named with its place and reason; the push recorded against the
feed's health; and every refusal (no token, a revoked one, a role token, a body that cannot
be read, too big, of another type, the store down) answered in words, audited, and changing
nothing else. Who may use the door, beside every other door: test_role_matrix.py."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from dash import Dash
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.app import create_app
from feeds.push import MAX_SAMPLES
from surge.auth import Tokens, audit_events
from surge.errors import SurgeError
from surge.events import SamplesStored, read_events
from surge.ingest import polled
from surge.store import Store
from surge.timefmt import utc_iso
from tests.dashboard.conftest import ADMIN_CLI, RULES, add_user, auth_settings, sign_in
from tests.dashboard.test_role_matrix import snapshot

NOW = float(int(time.time()))
SAMPLES = "/api/v1/samples"
MAX_BODY = 1024 * 1024
FEEDS = """\
feeds:
  - name: cad-push
    type: push
    function: call_handling
    interval: 1m
  - name: pts-push
    type: push
    function: pts
    interval: 5m
"""


@pytest.fixture
def feeds_file(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(FEEDS)
    return path


@pytest.fixture
def app(store: Store, feeds_file: Path) -> Dash:
    return create_app(auth_settings(feeds_file=feeds_file), store, clock=lambda: NOW)


@pytest.fixture
def client(app: Dash) -> FlaskClient:
    return app.server.test_client()


def feed_token(store: Store, feed: str = "cad-push", name: str = "cad-bridge") -> dict[str, str]:
    """The Authorization header of a new feed token for ``feed``."""
    return {"Authorization": f"Bearer {Tokens(store).add_feed(name, feed, by=ADMIN_CLI)}"}


def role_token(store: Store, role: str = "admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {Tokens(store).add(f'{role}-bot', role, by=ADMIN_CLI)}"}


def sample(metric: str = "calls.waiting", scope: str = "trust", ts: float | str = NOW - 60,
           value: Any = 12) -> dict[str, Any]:
    return {"metric": metric, "scope": scope, "ts": ts, "value": value}


def push_csv(client: FlaskClient, headers: dict[str, str], text: str) -> Any:
    return client.post(SAMPLES, data=text.encode(), headers=headers, content_type="text/csv")


def unchanged(store: Store) -> dict[bytes, bytes]:
    """Everything in the store but the audit trail and the tokens' records (whose last use
    is noted when they are presented)."""
    return {k: v for k, v in snapshot(store.client).items() if b":token:" not in k}


def refusals(store: Store, before: int = 0) -> list[dict[str, Any]]:
    return [e.data for e in audit_events(store)[before:] if e.data["action"] == "access_refused"]


# --- pushing ---------------------------------------------------------------------------------


def test_json_samples_are_stored_and_the_answer_says_what_became_of_each(
        client: FlaskClient, store: Store) -> None:
    headers = feed_token(store)
    answer = client.post(SAMPLES, headers=headers, json=[
        sample(ts=NOW - 60, value=12), sample(ts=NOW - 30, value="14"),
        sample("calls.answer_mean", "EOC-N", utc_iso(NOW - 30), 41.5),
        sample("calls.wating"), sample(value=1e9), {"metric": "calls.waiting"}, "x",
        {**sample(), "scop": "EOC-N"}])
    assert answer.status_code == 200, answer.data[:500]
    assert answer.get_json() == {
        "feed": "cad-push", "function": "call_handling", "source": "push:cad-push",
        "at": utc_iso(NOW), "at_epoch": NOW, "received": 8, "accepted": 3, "duplicates": 0,
        "late": [], "rejected": [
            {"index": 3, "reason": "unknown metric 'calls.wating'"},
            {"index": 4, "reason": "value 1e+09 of calls.waiting is outside its plausible "
                                   "range [0, 2000]"},
            {"index": 5, "reason": "missing field(s): ts, value"},
            {"index": 6, "reason": "a sample must be an object with metric, scope, ts and "
                                   "value, not a string"},
            {"index": 7, "reason": "unknown field 'scop' (did you mean 'scope'?): a sample has "
                                   "metric, scope, ts and value"}]}
    assert answer.headers["Cache-Control"] == "no-store"
    series = store.series([("calls.waiting", "trust")], NOW - 120, NOW)[("calls.waiting", "trust")]
    assert (series.ts.tolist(), series.values.tolist()) == ([NOW - 60, NOW - 30], [12, 14])
    assert store.latest()[("calls.answer_mean", "EOC-N")] == (NOW - 30, 41.5)

    [event] = read_events(store, kinds=[SamplesStored])
    assert isinstance(event, SamplesStored)
    assert (event.source, event.accepted, event.rejected) == ("push:cad-push", 3, 5)
    assert not polled(event.source)  # the rules engine evaluates pushed data at once


def test_the_push_is_recorded_against_the_feeds_health(client: FlaskClient, store: Store) -> None:
    headers = feed_token(store)
    assert client.post(SAMPLES, headers=headers, json={"samples": [sample()]}).status_code == 200
    assert client.post(SAMPLES, headers=headers, json=[sample("nope")]).status_code == 422
    [status] = store.feed_status()
    assert (status.name, status.function, status.interval, status.state) == \
        ("cad-push", "call_handling", 60.0, "up")
    assert (status.accepted, status.rejected, status.last_success, status.last_sample) == \
        (1, 1, NOW, NOW - 60)
    # a system that goes quiet: unhealthy after three intervals without a push
    assert status.healthy(NOW + 180) and not status.healthy(NOW + 181)


def test_a_csv_body_is_read_as_surge_ingest_reads_a_file(client: FlaskClient,
                                                         store: Store) -> None:
    headers = feed_token(store, "pts-push", "pts-bridge")
    answer = push_csv(client, headers, (
        "ts,metric,scope,value\n"
        f"{utc_iso(NOW - 60)},pts.on_time_pct,PTS-N,81.5\n"
        f"{NOW - 60:.0f},pts.vehicles_vs_plan,,97\n"
        "\n"
        f"{NOW - 60:.0f},pts.on_time_pct,RVJ,80\n"
        f"{NOW - 60:.0f},pts.on_time_pct\n"))
    assert answer.status_code == 200, answer.data[:500]
    said = answer.get_json()
    assert (said["feed"], said["function"], said["accepted"]) == ("pts-push", "pts", 2)
    assert said["rejected"] == [
        {"line": 5, "reason": "pts.on_time_pct is not reported by a hospital (RVJ)"},
        {"line": 6, "reason": "expected 4 values (ts,metric,scope,value), got 2"}]
    assert store.latest()[("pts.on_time_pct", "PTS-N")] == (NOW - 60, 81.5)
    assert store.latest()[("pts.vehicles_vs_plan", "trust")] == (NOW - 60, 97)


def test_a_body_sent_again_is_counted_as_duplicates_and_older_samples_as_late(
        client: FlaskClient, store: Store) -> None:
    headers = feed_token(store)
    body = [sample(ts=NOW - 30)]
    assert client.post(SAMPLES, headers=headers, json=body).get_json()["accepted"] == 1
    again = client.post(SAMPLES, headers=headers, json=body)
    assert again.status_code == 200
    assert (again.get_json()["accepted"], again.get_json()["duplicates"]) == (0, 1)
    older = client.post(SAMPLES, headers=headers, json=[sample(ts=NOW - 90)]).get_json()
    assert older["late"] == [{"metric": "calls.waiting", "scope": "trust",
                              "ts": utc_iso(NOW - 90), "ts_epoch": NOW - 90}]


def test_every_sample_rejected_is_422_and_an_empty_push_is_a_heartbeat(
        client: FlaskClient, store: Store) -> None:
    headers = feed_token(store)
    refused = client.post(SAMPLES, headers=headers, json=[sample("nope"), sample(value=-5)])
    assert refused.status_code == 422
    assert [r["index"] for r in refused.get_json()["rejected"]] == [0, 1]
    assert store.latest() == {}
    alive = client.post(SAMPLES, headers=headers, json=[])
    assert alive.status_code == 200 and alive.get_json()["received"] == 0
    assert store.feed_status()[0].last_success == NOW


# --- bodies it cannot take -------------------------------------------------------------------


@pytest.mark.parametrize(("body", "content_type", "said", "where"), [
    (b'[{"metric": "calls.waiting",\n "ts": 1, "value": 3,}]', "application/json",
     "the body is not valid JSON: Expecting property name enclosed in double quotes at line 2,"
     " column 22", {"line": 2, "column": 22}),
    (b"metric=calls.waiting&value=3", "application/json; charset=utf-8",
     "the body is not valid JSON: Expecting value at line 1, column 1", {"line": 1, "column": 1}),
    (b"[" * 50_000 + b"]" * 50_000, "application/json", "the body is not valid JSON that can "
     "be read: nested too deep, or a number too long", {}),
    (b'{"samples": [], "feed": "x"}', "application/json", "unknown field 'feed': the body is "
     'a list of samples, or {"samples": [...]}', {}),
    (b'[{"metric": "\xff"}]', "application/json", "the body is not UTF-8 text (byte 13 "
     "cannot be read)", {}),
    (b"time,metric,value\n1,calls.waiting,3\n", "text/csv", "body:1: the first line must be "
     "the header ts,metric,scope,value (missing ts, scope; got 'time,metric,value')",
     {"line": 1}),
    (b"ts,metric,scope,value\n1,a,," + b"x" * 200_000 + b"\n", "text/csv", "the body is not "
     "CSV that can be read: field larger than field limit (131072) (line 2)", {"line": 2}),
])
def test_a_body_that_cannot_be_read_is_400_saying_where(
        client: FlaskClient, store: Store, body: bytes, content_type: str, said: str,
        where: dict[str, int]) -> None:
    headers = feed_token(store)
    before = unchanged(store)
    answer = client.post(SAMPLES, data=body, headers=headers, content_type=content_type)
    assert answer.status_code == 400, answer.data[:300]
    assert answer.get_json() == {"error": said, **where}
    assert unchanged(store) == before  # not even the feed's health: nothing was received


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x",
                                          "application/json; charset=latin-1", "text/csv+x"])
def test_another_content_type_is_415(client: FlaskClient, store: Store,
                                     content_type: str | None) -> None:
    headers = feed_token(store)
    before = unchanged(store)
    answer = client.post(SAMPLES, data=json.dumps([sample()]), headers=headers,
                         content_type=content_type)
    assert answer.status_code == 415, answer.data[:300]
    error = answer.get_json()["error"]
    assert error.startswith("send the samples as Content-Type: application/json (a list of "
                            "samples) or text/csv (the columns ts,metric,scope,value), in UTF-8;")
    assert unchanged(store) == before


def test_vendor_json_types_are_json(client: FlaskClient, store: Store) -> None:
    answer = client.post(SAMPLES, data=json.dumps([sample()]), headers=feed_token(store),
                         content_type="application/vnd.cad+json")
    assert answer.status_code == 200 and answer.get_json()["accepted"] == 1


def test_a_body_over_the_limit_is_413_unread(client: FlaskClient, store: Store) -> None:
    headers = feed_token(store)
    before = unchanged(store)
    big = json.dumps([sample()] * (MAX_BODY // 60)).encode()
    assert len(big) > MAX_BODY
    answer = client.post(SAMPLES, data=big, headers=headers, content_type="application/json")
    assert answer.status_code == 413
    assert answer.get_json()["error"] == (
        "the body is over 1,048,576 bytes, the most one push may send (SURGE_MAX_BODY): send "
        "the samples in several pushes")
    chunked = client.post(SAMPLES, input_stream=io.BytesIO(big),
                          headers={**headers, "Transfer-Encoding": "chunked"},
                          content_type="application/json",
                          environ_overrides={"wsgi.input_terminated": True})
    assert chunked.status_code == 413
    assert unchanged(store) == before


def test_a_push_may_be_bigger_than_other_api_bodies(client: FlaskClient, store: Store) -> None:
    """Other API bodies stop at 16 KB; a push may hold thousands of samples."""
    body = [sample(ts=NOW - MAX_SAMPLES + i) for i in range(MAX_SAMPLES)]
    assert len(json.dumps(body)) > 500_000
    answer = client.post(SAMPLES, headers=feed_token(store), json=body)
    assert answer.status_code == 200, answer.data[:300]
    assert answer.get_json()["accepted"] == MAX_SAMPLES


def test_more_samples_than_one_push_may_hold_is_413(client: FlaskClient, store: Store) -> None:
    headers = feed_token(store)
    before = unchanged(store)
    answer = client.post(SAMPLES, headers=headers, json=[sample()] * (MAX_SAMPLES + 1))
    assert answer.status_code == 413
    assert answer.get_json()["error"] == ("10,001 samples in one push; at most 10,000: send "
                                          "them in several")
    assert unchanged(store) == before


def test_only_post_is_answered(client: FlaskClient, store: Store) -> None:
    for method in ("GET", "PUT", "DELETE"):
        answer = client.open(SAMPLES, method=method, headers=feed_token(store, name=method))
        assert answer.status_code == 405 and answer.headers["Allow"] == "POST"
        assert "a system POSTs its samples there" in answer.get_json()["error"]


# --- who may push ----------------------------------------------------------------------------


@pytest.mark.parametrize(("authorization", "said"), [
    (None, "a feed token is required: send Authorization: Bearer surge_... with a token made "
           "by `surge tokens add NAME --feed FEED`"),
    ("Basic YWRtaW46YWRtaW4=", "a feed token is required"),
    ("Bearer surge_not-a-token", "feed token not valid: unknown or revoked"),
    ("Bearer " + "x" * 5000, "feed token not valid: unknown or revoked"),
])
def test_no_token_or_an_unknown_one_is_401_audited(client: FlaskClient, store: Store,
                                                   authorization: str | None, said: str) -> None:
    before, audited = unchanged(store), len(audit_events(store))
    headers = {"Authorization": authorization} if authorization else {}
    answer = client.post(SAMPLES, headers=headers, json=[sample()])
    assert answer.status_code == 401
    assert answer.get_json()["error"].startswith(said)
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert unchanged(store) == before
    [refused] = refusals(store, audited)
    assert (refused["user"], refused["address"], refused["target"]) == \
        ("(anonymous)", "127.0.0.1", "POST /api/v1/samples")


def test_a_revoked_feed_token_stops_at_the_next_push(client: FlaskClient, store: Store) -> None:
    headers = feed_token(store)
    assert client.post(SAMPLES, headers=headers, json=[sample()]).status_code == 200
    Tokens(store).revoke("cad-bridge", by=ADMIN_CLI)
    before = unchanged(store)
    answer = client.post(SAMPLES, headers=headers, json=[sample(ts=NOW - 1)])
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert unchanged(store) == before
    assert refusals(store)[-1]["reason"] == "unknown or revoked API token"


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_a_role_token_cannot_push(client: FlaskClient, store: Store, role: str) -> None:
    headers = role_token(store, role)
    before, audited = unchanged(store), len(audit_events(store))
    answer = client.post(SAMPLES, headers=headers, json=[sample()])
    assert answer.status_code == 403
    assert answer.get_json()["error"] == ("a role token cannot push samples: make a feed token "
                                          "for the pushing system with `surge tokens add NAME "
                                          "--feed FEED`")
    assert unchanged(store) == before
    [refused] = refusals(store, audited)
    assert (refused["user"], refused["role"], refused["reason"], refused["target"]) == \
        (f"token:{role}-bot", role, "a role token cannot push samples", "POST /api/v1/samples")


def test_a_signed_in_session_cannot_push(app: Dash, store: Store) -> None:
    """The door takes a feed token only: a session, even an admin's with its CSRF token, is
    not one (and a cross-site form could not send one)."""
    client = app.server.test_client()
    client.get("/_favicon.ico")
    assert sign_in(client, "admin-1", add_user(store, "admin-1", "admin")).status_code == 302
    csrf = client.get("/api/v1/levels").headers["X-CSRF-Token"]
    answer = client.post(SAMPLES, json=[sample()], headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 401 and store.latest() == {}


def test_a_feed_that_is_not_a_push_feed_of_the_feeds_file_is_403(
        client: FlaskClient, store: Store, feeds_file: Path) -> None:
    headers = feed_token(store, "cad-pull")
    before, audited = unchanged(store), len(audit_events(store))
    answer = client.post(SAMPLES, headers=headers, json=[sample()])
    assert answer.status_code == 403
    assert answer.get_json()["error"] == (
        f"feed 'cad-pull' is not a push feed of the feeds file {feeds_file}: add it, with "
        f"type: push, its function and its interval (docs/feeds.md)")
    assert unchanged(store) == before
    [refused] = refusals(store, audited)
    assert (refused["user"], refused["feed"], refused["reason"]) == \
        ("token:cad-bridge", "cad-pull", "not a push feed of the feeds file")


def test_without_a_feeds_file_no_push_is_taken(store: Store) -> None:
    client = create_app(auth_settings(), store, clock=lambda: NOW).server.test_client()
    answer = client.post(SAMPLES, headers=feed_token(store), json=[sample()])
    assert answer.status_code == 403
    assert "there is none: SURGE_FEEDS_FILE or ./feeds.yaml" in answer.get_json()["error"]
    assert store.latest() == {} and store.feed_status() == []


def test_the_feeds_file_is_read_again_when_it_changes(client: FlaskClient, store: Store,
                                                      feeds_file: Path) -> None:
    headers = feed_token(store, "triage-push", "triage-bridge")
    assert client.post(SAMPLES, headers=headers, json=[]).status_code == 403
    feeds_file.write_text(FEEDS + "  - name: triage-push\n    type: push\n"
                                  "    function: clinical_triage\n    interval: 2m\n")
    answer = client.post(SAMPLES, headers=headers, json=[sample("triage.waiting")])
    assert answer.status_code == 200 and answer.get_json()["function"] == "clinical_triage"
    feeds_file.write_text(FEEDS + "  - name: triage-push\n    type: push\n    function: x\n")
    broken = client.post(SAMPLES, headers=headers, json=[])
    assert broken.status_code == 503
    assert broken.get_json()["error"].startswith(
        "the feeds file has problems, so no push is taken until they are fixed (`surge feeds "
        f"check`): {feeds_file}:")


def test_a_feed_token_opens_no_other_door(client: FlaskClient, store: Store) -> None:
    headers = feed_token(store)
    client.post(SAMPLES, headers=headers, json=[])  # its first use is noted
    before, audited = unchanged(store), len(audit_events(store))
    for method, path, body in [("GET", "/api/v1/levels", None), ("GET", "/api/v1/alerts", None),
                               ("POST", "/api/v1/declaration", {"level": 4, "reason": "x"}),
                               ("POST", "/api/rules/reload", {})]:
        answer = client.open(path, method=method, json=body, headers=headers)
        assert answer.status_code == 403, (path, answer.data[:300])
    assert unchanged(store) == before and store.declaration() == {}
    assert [(r["user"], r["target"]) for r in refusals(store, audited)] == [
        ("token:cad-bridge", "GET /api/v1/levels"), ("token:cad-bridge", "GET /api/v1/alerts"),
        ("token:cad-bridge", "POST /api/v1/declaration"),
        ("token:cad-bridge", "POST /api/rules/reload")]


def test_an_unreachable_store_is_503_and_nothing_is_written(app: Dash, store: Store) -> None:
    headers = feed_token(store)
    before = unchanged(store)
    app.server.extensions["surge"]._store = Store.connect("redis://127.0.0.1:1")
    answer = app.server.test_client().post(SAMPLES, headers=headers, json=[sample()])
    assert answer.status_code == 503
    assert answer.get_json()["error"].startswith(
        "the data store cannot be reached to check the feed token")
    assert unchanged(store) == before


def test_a_feed_token_is_kept_as_a_role_token_is(store: Store) -> None:
    """Only its sha256 is stored; it is listed with its feed and no role; adding it is
    audited; a name that cannot be a feed's is refused."""
    secret = Tokens(store).add_feed("cad-bridge", "cad-push", by=ADMIN_CLI)
    assert secret.startswith("surge_")
    assert all(secret.encode() not in (store.client.dump(k) or b"")
               for k in store.client.scan_iter())
    [listed] = Tokens(store).list()
    assert (listed.name, listed.role, listed.feed, listed.grants) == \
        ("cad-bridge", "", "cad-push", "feed:cad-push")
    who = Tokens(store).resolve(secret, "10.0.0.9")
    assert who is not None and (who.name, who.role, who.feed) == ("cad-bridge", "", "cad-push")
    [added] = [e.data for e in audit_events(store)]
    assert (added["action"], added["api_token"], added["feed"]) == \
        ("token_added", "cad-bridge", "cad-push")
    for bad in ("", "   ", "cad\npush", "x" * 101):
        with pytest.raises(SurgeError, match="invalid feed name"):
            Tokens(store).add_feed("other", bad, by=ADMIN_CLI)


# --- random bodies -------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)
SAMPLE_LIKE = st.fixed_dictionaries({
    "metric": st.sampled_from(["calls.waiting", "calls.answer_mean", "ae.stack", "nope", ""]),
    "ts": st.one_of(st.floats(), st.integers(), st.text(max_size=25),
                    st.just(utc_iso(NOW - 10))),
    "value": JSON}, optional={"scope": st.sampled_from(["trust", "EOC-N", "RVJ", "", "x"])})
CSV_LINE = st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=12), max_size=6)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=st.one_of(
    st.binary(max_size=200),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.lists(st.one_of(SAMPLE_LIKE, JSON), max_size=6).map(lambda v: json.dumps(v).encode()),
    st.lists(CSV_LINE, max_size=5).map(
        lambda rows: "\n".join(["ts,metric,scope,value", *(",".join(r) for r in rows)]).encode())),
    content_type=st.sampled_from(["application/json", "text/csv", "text/plain", None]))
def test_no_body_is_answered_with_a_500(client: FlaskClient, store: Store, body: bytes,
                                        content_type: str | None) -> None:
    headers = {"Authorization": f"Bearer {_token(store)}"}
    answer = client.post(SAMPLES, data=body, headers=headers, content_type=content_type)
    assert answer.status_code in (200, 400, 413, 415, 422), (answer.status_code, body)
    said = answer.get_json()
    assert isinstance(said, dict) and ("error" in said or "accepted" in said)


def _token(store: Store) -> str:
    """One feed token for the whole run of examples (the store is not flushed between them)."""
    found = getattr(store, "_test_feed_token", None)
    if found is None:
        found = Tokens(store).add_feed("fuzz", "cad-push", by=ADMIN_CLI)
        store._test_feed_token = found  # type: ignore[attr-defined]
    return str(found)


# --- surge tokens add NAME --feed FEED ----------------------------------------------------------


def test_a_feed_token_from_the_cli_pushes_until_it_is_revoked(client: FlaskClient, store: Store,
                                                              redis_url: str) -> None:
    from surge.cli import main

    def cli(*args: str) -> Any:
        env = {"SURGE_RULES": str(RULES), "SURGE_REDIS_URL": redis_url}
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    added = cli("tokens", "add", "cad-bridge", "--feed", "cad-push")
    assert added.exit_code == 0, added.output
    token = added.output.strip().splitlines()[-1]
    assert token.startswith("surge_") and "shown only this once" in added.output
    assert all(token.encode() not in (store.client.dump(k) or b"")
               for k in store.client.scan_iter())
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post(SAMPLES, headers=headers, json=[sample()]).status_code == 200

    rows = json.loads(cli("tokens", "list", "--json").output)
    assert [(r["name"], r["role"], r["feed"], r["revoked"]) for r in rows] == [
        ("cad-bridge", "", "cad-push", False)]
    assert token not in json.dumps(rows)
    listed = cli("tokens", "list").output
    assert "cad-bridge" in listed and "feed:cad-push" in listed

    both = cli("tokens", "add", "x", "--feed", "cad-push", "--role", "viewer")
    neither = cli("tokens", "add", "x")
    assert both.exit_code == neither.exit_code == 2

    revoked = cli("tokens", "revoke", "cad-bridge")
    assert revoked.exit_code == 0 and "Revoked API token 'cad-bridge'" in revoked.output
    assert client.post(SAMPLES, headers=headers, json=[sample(ts=NOW - 1)]).status_code == 401
    assert [(e.action, e.data.get("feed")) for e in audit_events(store)
            if e.action.startswith("token_")] == [("token_added", "cad-push"),
                                                 ("token_revoked", None)]
