"""The surge command: status, exit codes, and clear errors for bad input (never a traceback)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from surge.cli import main
from tests.conftest import active_worker

REPO = Path(__file__).resolve().parents[2]


def invoke(*args: str, env: dict[str, str] | None = None):
    runner = CliRunner()
    base = {"SURGE_RULES": str(REPO / "surge_rules.yaml")}
    return runner.invoke(main, list(args), env={**base, **(env or {})}, catch_exceptions=False)


def test_status_reports_a_reachable_store_and_each_feed(store, redis_url) -> None:
    now = time.time()
    store.record_poll("sim-ae", function="ae", interval=30, at=now, accepted=7,
                      newest_sample=now - 5)
    store.record_poll("sim-pts", function="pts", interval=60, at=now, error="source down")
    active_worker(store)
    result = invoke("status", "--json", env={"SURGE_REDIS_URL": redis_url})
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["store"]["reachable"] is True and report["worker"]["running"] is True
    feeds = {f["feed"]: f for f in report["feeds"]}
    assert feeds["sim-ae"]["healthy"] is True and feeds["sim-ae"]["samples_accepted"] == 7
    assert feeds["sim-ae"]["function"] == "ae" and 4 <= feeds["sim-ae"]["age_seconds"] < 60
    assert feeds["sim-pts"]["healthy"] is False and feeds["sim-pts"]["last_error"] == "source down"
    text = invoke("status", env={"SURGE_REDIS_URL": redis_url})
    assert text.exit_code == 0 and "sim-pts" in text.output and "NO" in text.output


def test_status_exits_1_when_the_store_is_unreachable() -> None:
    result = invoke("status", "--json", env={"SURGE_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["store"]["reachable"] is False and "127.0.0.1:1" in report["store"]["error"]


def test_status_without_a_running_embedded_store_says_how_to_start_one(tmp_path) -> None:
    result = invoke("status", "--data-dir", str(tmp_path))
    assert result.exit_code == 1
    assert "no embedded store is running" in result.output and "surge run" in result.output


def test_a_bad_setting_is_named_with_a_non_zero_exit() -> None:
    result = invoke("status", env={"SURGE_RETENTION": "a while"})
    assert result.exit_code == 2
    assert "SURGE_RETENTION: expected a duration" in result.output
    assert "Traceback" not in result.output


def test_a_bad_rules_file_stops_the_worker_with_file_line_col(tmp_path, redis_url) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text((REPO / "surge_rules.yaml").read_text().replace("worse: higher", "worse: up", 1))
    result = invoke("worker", "--rules", str(rules), env={"SURGE_REDIS_URL": redis_url})
    assert result.exit_code == 2
    assert f"error: {rules}:" in result.output and "expected one of higher | lower, got 'up'" \
        in result.output


def test_a_bad_option_value_is_a_usage_error() -> None:
    result = invoke("run", "--speed", "-3")
    assert result.exit_code == 2 and "Invalid value for '--speed'" in result.output


def test_an_unknown_feed_name_is_named(redis_url) -> None:
    result = invoke("worker", env={"SURGE_REDIS_URL": redis_url, "SURGE_FEEDS": "simulatr"})
    assert result.exit_code == 2
    assert "SURGE_FEEDS: unknown feed 'simulatr' (did you mean 'simulator'?)" in result.output


def test_an_unknown_scenario_is_named(redis_url) -> None:
    result = invoke("worker", "--scenario", "no-such-scenario", env={"SURGE_REDIS_URL": redis_url})
    assert result.exit_code == 2 and "no-such-scenario" in result.output


def test_run_on_a_busy_port_says_so_and_starts_nothing(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = invoke("run", "--port", str(port), "--data-dir", str(tmp_path / "var"))
    assert result.exit_code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.output
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize("args", [["bogus"], ["status", "--nope"]])
def test_unknown_commands_and_options_are_usage_errors(args) -> None:
    result = invoke(*args)
    assert result.exit_code == 2 and "Usage:" in result.output


def test_run_with_broken_protocols_starts_nothing(tmp_path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text((REPO / "surge_rules.yaml").read_text()
                     .replace("levels: {2: 15, 3: 30, 4: 60}", "levels: {2: 15, 3: 10, 4: 60}"))
    result = invoke("run", "--rules", str(rules), "--data-dir", str(tmp_path / "var"))
    assert result.exit_code == 2
    assert "thresholds of calls.waiting must rise with the level" in result.output
    assert not (tmp_path / "var").exists()  # no store started, no demo login created unseen


def test_status_says_loudly_when_the_rules_engine_is_stuck(store, redis_url) -> None:
    store.acquire_lease("w", 60)
    store.worker_beat("w", {"pid": 1, "role": "active", "engine_step": time.time() - 300}, 60)
    result = invoke("status", env={"SURGE_REDIS_URL": redis_url})
    assert "RULES ENGINE STUCK: no evaluation for 300 s" in result.output
    report = json.loads(invoke("status", "--json", env={"SURGE_REDIS_URL": redis_url}).output)
    assert report["worker"]["engine_stalled_seconds"] == 300
    store.worker_beat("w", {"pid": 1, "role": "active", "engine_step": time.time()}, 60)
    assert "STUCK" not in invoke("status", env={"SURGE_REDIS_URL": redis_url}).output


def test_status_counts_the_alerts_and_the_outbox(store, redis_url) -> None:
    from surge.alerting.book import Alert, AlertBook, Notification

    now = time.time()
    book = AlertBook(store)
    book.save(Alert(id="al-1", key="level:ae", kind="level", name="ae", title="A&E", level=3,
                    level_name="Severe pressure", severity="critical", reason="r", since=now,
                    fired_at=now, unacked_since=now))
    book.enqueue(Notification(id="n-1", receiver="duty-managers", messages=(), created=now,
                              next_at=now + 60))
    book.record_attempt(Notification(id="n-2", receiver="ops", messages=(), created=now,
                                     state="failed"))
    result = invoke("status", "--json", env={"SURGE_REDIS_URL": redis_url})
    assert json.loads(result.output)["alerts"] == {
        "active": 1, "unacknowledged": 1, "outbox_pending": 1, "failed_last_day": 1}
    text = invoke("status", env={"SURGE_REDIS_URL": redis_url}).output
    assert "alerts: 1 active (1 unacknowledged); outbox: 1 to send, 1 failed in the last day" \
        in text
