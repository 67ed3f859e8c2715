"""GET /metrics through Flask's test client against a real Valkey server: what a poller, the
engine, a commander and the alerter put in the store, scraped and parsed as Prometheus
parses it; open by default, a bearer token when one is set; a store that is down."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from dashboard.app import create_app
from feeds.poller import FeedPoller
from feeds.spool import Spool
from surge.alerting.book import Alert, AlertBook
from surge.auth import audit_events
from surge.errors import FetchFailed
from surge.samples import Sample
from surge.store import REJECTION_REASONS, Store
from tests.conftest import free_port
from tests.dashboard.conftest import add_user, auth_settings, sign_in

NOW = float(int(time.time()))
TOKEN = "metrics-" + "7" * 40


class FlakyFeed:
    """A feed that delivers or fails on cue, poll by poll."""

    name = "cad"
    function = "ae"
    interval = 30.0

    def __init__(self, *responses) -> None:
        self.responses = list(responses)

    def fetch(self, since, now):
        response = self.responses.pop(0)
        if isinstance(response, Exception):
            raise response
        return response


def scrape(client: FlaskClient, **headers: str) -> dict[str, Metric]:
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.data[:300]
    assert answer.content_type.startswith("text/plain; version=")
    return {f.name: f for f in text_string_to_metric_families(answer.get_data(as_text=True))}


def value(families: dict[str, Metric], family: str, sample: str | None = None,
          **labels: str) -> float | None:
    """The value of the one sample of ``family`` with ``labels`` (None: there is none)."""
    found = [s.value for s in families[family].samples
             if (sample is None or s.name == sample) and s.labels == labels]
    assert len(found) <= 1, found
    return found[0] if found else None


@pytest.fixture
def client(store: Store, tmp_path: Path) -> FlaskClient:
    app = create_app(auth_settings(data_dir=tmp_path), store, clock=lambda: NOW)
    return app.server.test_client()


def test_metrics_need_no_sign_in_and_read_the_store(client: FlaskClient, store: Store,
                                                    catalogue, tmp_path: Path) -> None:
    feed = FlakyFeed([Sample("calls.waiting", "trust", NOW - 100, 4.0),
                      {"metric": "calls.wait", "scope": "trust", "ts": NOW - 100, "value": 1},
                      {"metric": "calls.waiting", "scope": "trust", "ts": NOW - 90,
                       "value": "NaN"}],
                     FetchFailed("HTTP 503"), FetchFailed("HTTP 503"), FetchFailed("HTTP 503"))
    clock = iter([NOW - 90, NOW - 60])
    poller = FeedPoller(feed, store, catalogue, lambda: next(clock), sleep=lambda s: None)
    poller.poll()
    poller.poll()  # failed three times: degraded
    store.save_engine({}, levels={
        "overall": json.dumps({"level": 2, "since": NOW - 600, "stale": False, "kind": "overall",
                               "reason": {"combine": "max", "drivers": []}}),
        "ae": json.dumps({"level": 3, "since": NOW - 600, "stale": True, "kind": "protocol",
                          "reason": {"combine": "max", "drivers": []}})})
    store.swap_declaration({}, {"level": 3, "level_name": "Severe pressure", "at": NOW - 300,
                                "by": "gold", "role": "commander", "reason": "three sites"})
    AlertBook(store).save(Alert(id="a-1", key="feed:cad", kind="feed", name="cad",
                                title="Feed cad", level=None, level_name=None,
                                severity="warning", reason="feed down", since=NOW - 60,
                                fired_at=NOW - 60))
    store.acquire_lease("w-1", 60)
    store.worker_beat("w-1", {"pid": 1, "role": "active", "engine_step": 1_767_225_600.5}, 60)
    store.worker_beat("w-2", {"pid": 2, "role": "standby"}, 60)
    Spool(tmp_path, "cad").add("feed:cad", [Sample("calls.waiting", "trust", NOW - 5, 1.0)] * 3)

    got = scrape(client)
    assert value(got, "surge_store_up") == 1
    assert value(got, "surge_run_info", mode="live") == 1
    assert value(got, "surge_feed_info", feed="cad", function="ae") == 1
    assert value(got, "surge_feed_up", feed="cad") == 1  # degraded, and its data still fresh
    assert {s.labels["state"]: s.value for s in got["surge_feed_state"].samples} == \
        {"up": 0, "degraded": 1, "down": 0, "waiting": 0}
    assert value(got, "surge_feed_consecutive_failures", feed="cad") == 1
    assert value(got, "surge_feed_polls", "surge_feed_polls_total", feed="cad") == 2
    assert value(got, "surge_feed_failed_polls", "surge_feed_failed_polls_total",
                 feed="cad") == 1
    assert value(got, "surge_feed_fetch_retries", "surge_feed_fetch_retries_total",
                 feed="cad") == 2
    assert value(got, "surge_feed_poll_attempts", feed="cad") == 3
    assert value(got, "surge_feed_poll_duration_seconds", feed="cad") is not None
    assert value(got, "surge_feed_samples_accepted", "surge_feed_samples_accepted_total",
                 feed="cad") == 1
    rejected = {s.labels["reason"]: s.value for s in got["surge_feed_samples_rejected"].samples
                if s.name == "surge_feed_samples_rejected_total"}
    assert set(rejected) == set(REJECTION_REASONS)  # every reason, 0 until it happens
    assert (rejected["unknown_metric"], rejected["not_a_number"], sum(rejected.values())) == \
        (1, 1, 2)
    assert value(got, "surge_feed_last_success_age_seconds", feed="cad") == 90
    assert value(got, "surge_feed_spooled_samples", feed="cad") == 3
    assert value(got, "surge_workers", role="active") == 1
    assert value(got, "surge_workers", role="standby") == 1
    assert value(got, "surge_engine_last_step_timestamp_seconds") == 1_767_225_600.5
    assert value(got, "surge_level", name="overall", kind="overall") == 2
    assert value(got, "surge_level_stale", name="ae", kind="protocol") == 1
    assert value(got, "surge_level_stale", name="overall", kind="overall") == 0
    assert value(got, "surge_declaration_in_force") == 1
    assert value(got, "surge_declared_level") == 3
    assert value(got, "surge_alerts_active", kind="feed") == 1
    assert value(got, "surge_alerts_active", kind="level") == 0


def test_a_feed_down_reads_as_down(client: FlaskClient, store: Store) -> None:
    store.record_poll("pts-feed", function="pts", interval=30, at=NOW - 30, error="refused")
    got = scrape(client)
    assert value(got, "surge_feed_up", feed="pts-feed") == 0
    assert value(got, "surge_feed_state", feed="pts-feed", state="down") == 1
    assert value(got, "surge_feed_last_success_age_seconds", feed="pts-feed") is None
    assert value(got, "surge_declaration_in_force") == 0
    assert value(got, "surge_declared_level") is None


def test_openmetrics_is_given_to_a_scraper_that_asks_for_it(client: FlaskClient) -> None:
    answer = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert answer.status_code == 200
    assert answer.content_type.startswith("application/openmetrics-text")
    assert answer.get_data(as_text=True).endswith("# EOF\n")


def test_with_a_token_set_only_its_bearer_may_scrape(store: Store, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(auth_settings(data_dir=tmp_path, metrics_token=TOKEN), store,
                     clock=lambda: NOW)
    client = app.server.test_client()
    for headers in ({}, {"Authorization": "Bearer " + TOKEN[:-1] + "8"},
                    {"Authorization": "Basic " + TOKEN}, {"Authorization": TOKEN}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["WWW-Authenticate"].startswith('Bearer realm="surge metrics"')
        assert b"surge_" not in refused.data
    assert scrape(client, Authorization=f"Bearer {TOKEN}")["surge_store_up"]
    assert scrape(client, Authorization=f"bearer  {TOKEN}")  # the scheme is case-blind
    refusals = [e for e in audit_events(store) if e.action == "access_refused"]
    assert refusals and all(TOKEN not in json.dumps(e.details) for e in refusals)
    assert TOKEN not in caplog.text


def test_the_exemption_is_for_reading_metrics_alone(client: FlaskClient) -> None:
    for path in ("/metrics/", "/metricsx", "/status", "/metrics/../status"):
        answer = client.get(path)
        assert answer.status_code in (302, 401), path
        assert b"surge_store_up" not in answer.data
    posted = client.post("/metrics", data=b"x")
    assert posted.status_code == 401 and b"surge_store_up" not in posted.data


def test_a_signed_in_user_scrapes_as_anyone_does(client: FlaskClient, store: Store) -> None:
    assert sign_in(client, "ops", add_user(store, "ops", "viewer")).status_code == 302
    assert scrape(client)["surge_store_up"]


def test_a_store_that_is_down_is_said_in_a_good_answer(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    down = Store(redis.Redis.from_url(url, socket_connect_timeout=0.5), where=url)
    Spool(tmp_path, "cad").add("feed:cad", [Sample("calls.waiting", "trust", NOW, 1.0)])
    app = create_app(auth_settings(data_dir=tmp_path), down, clock=lambda: NOW)
    got = scrape(app.server.test_client())
    assert value(got, "surge_store_up") == 0
    assert value(got, "surge_run_info", mode="live") == 1
    assert value(got, "surge_feed_spooled_samples", feed="cad") == 1  # on disk: still known
    assert got["surge_feed_up"].samples == [] and got["surge_level"].samples == []
    assert got["surge_workers"].samples == [] and got["surge_alerts_active"].samples == []
