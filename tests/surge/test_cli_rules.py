"""`surge rules check|test|backtest|reload` and `surge explain` as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from pathlib import Path

from click.testing import CliRunner

from surge.cli import main
from surge.cli_base import local_operator
from surge.rules.live import LiveEngine
from surge.samples import Sample

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "surge_rules.yaml"


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env={"SURGE_RULES": str(RULES), **(env or {})},
                              catch_exceptions=False)


def test_check_the_shipped_rules() -> None:
    result = invoke("rules", "check", str(RULES))
    assert result.exit_code == 0
    assert "OK" in result.output and "4 protocols" in result.output


def test_check_a_broken_copy_lists_every_problem_with_its_position(tmp_path) -> None:
    broken = tmp_path / "rules.yaml"
    broken.write_text(RULES.read_text()
                      .replace("levels: {2: 15, 3: 30, 4: 60}", "levels: {2: 15, 3: 10, 4: 60}")
                      .replace("metric: calls.answer_mean", "metric: calls.answer_mena")
                      .replace("for: 10m\n        clear_for: 30m", "for: ten minutes\n"
                               "        clear_for: 30m", 1))
    result = invoke("rules", "check", str(broken))
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith(str(broken))]
    assert len(lines) >= 3
    assert all(line.split(":")[1].isdigit() and line.split(":")[2].isdigit() for line in lines)
    assert any("did you mean 'calls.answer_mean'" in line for line in lines)
    assert "Traceback" not in result.output


def test_rule_tests_pass_and_fail_with_exit_codes(tmp_path) -> None:
    shipped = sorted(str(p) for p in (REPO / "tests" / "rules").glob("*.yaml"))
    assert invoke("rules", "test", *shipped).exit_code == 0
    assert invoke("rules", "test", str(tmp_path / "missing.yaml")).exit_code == 2


def test_backtest_over_the_store_reports_transitions_and_time_at_level(store, redis_url) -> None:
    now = float(int(time.time()) // 60 * 60)
    store.write([Sample("calls.waiting", "trust", now - 3600 + 60 * i, 70.0 if i >= 10 else 2.0)
                 for i in range(50)])
    result = invoke("rules", "backtest", "--from", "1h", "--format", "json",
                    env={"SURGE_REDIS_URL": redis_url})
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    ups = [t for t in report["transitions"] if t["name"] == "call_handling" and t["to"] > t["from"]]
    assert ups and ups[-1]["to"] == 4
    assert sum(report["time_at_level"]["call_handling"].values()) == 3600
    table = invoke("rules", "backtest", "--from", "1h", env={"SURGE_REDIS_URL": redis_url})
    assert "4 Extreme pressure" in table.output and "Time at each level" in table.output


def test_backtest_says_why_in_the_sentence_every_screen_shows(store, redis_url) -> None:
    now = float(int(time.time()) // 60 * 60)
    store.write([Sample("calls.waiting", "trust", now - 3600 + 60 * i, 45.0 if i >= 10 else 2.0)
                 for i in range(50)])
    env = {"SURGE_REDIS_URL": redis_url}
    why = "999 calls waiting ≥ 30 calls for 5m (now 45 calls)"
    table = invoke("rules", "backtest", "--from", "1h", env=env).output
    (row,) = [line for line in table.splitlines() if " call_handling " in line]
    assert "1 Steady state" in row and "3 Severe pressure" in row and why in row
    assert "Set by 999 call handling" in table  # the overall level names the function
    rows = list(csv.DictReader(io.StringIO(
        invoke("rules", "backtest", "--from", "1h", "--format", "csv", env=env).output)))
    up = next(r for r in rows if r["name"] == "call_handling" and r["to"] == "3")
    assert up["why"] == why and up["at"].endswith("Z")
    report = json.loads(invoke("rules", "backtest", "--from", "1h", "--format", "json",
                               env=env).output)
    assert next(t for t in report["transitions"] if t["name"] == "call_handling")["why"] == why


def test_backtest_refuses_bad_times_clearly(redis_url) -> None:
    result = invoke("rules", "backtest", "--from", "last tuesday",
                    env={"SURGE_REDIS_URL": redis_url})
    assert result.exit_code == 2 and "--from: expected an ISO time" in result.output
    result = invoke("rules", "backtest", "--from", "1h", "--to", "2h",
                    env={"SURGE_REDIS_URL": redis_url})
    assert result.exit_code == 2 and "--to must be later than --from" in result.output


def test_explain_prints_the_published_levels_with_reasons(store, redis_url) -> None:
    now = time.time()
    LiveEngine(store, RULES, lambda: now)
    store.write([Sample("calls.waiting", "trust", now - 5, 40.0)])
    result = invoke("explain", "--json", env={"SURGE_REDIS_URL": redis_url})
    assert result.exit_code == 0
    levels = json.loads(result.output)["levels"]
    assert {"overall", "call_handling", "ae@RVJ"} <= set(levels)
    text = invoke("explain", env={"SURGE_REDIS_URL": redis_url}).output
    assert "overall" in text and "Steady state" in text


def test_explain_says_why_and_what_is_pending_in_the_sentences_every_screen_shows(
        store, redis_url) -> None:
    now = float(int(time.time()) // 60 * 60)
    # 45 calls waiting for 18 minutes (level 3), then 65 for the last 2 (level 4 pending)
    store.write([Sample("calls.waiting", "trust", now - 1200 + 60 * i, 45.0 if i < 18 else 65.0)
                 for i in range(21)])
    LiveEngine(store, RULES, lambda: now)
    env = {"SURGE_REDIS_URL": redis_url}
    lines = invoke("explain", env=env).output.splitlines()
    head = next(i for i, line in enumerate(lines) if line.strip().startswith("call_handling "))
    assert "3 Severe pressure" in lines[head]
    assert lines[head + 1].strip() == "999 calls waiting ≥ 30 calls for 5m (now 65 calls)"
    assert lines[head + 2].strip() == ("▲ level 4 Extreme pressure pending: 999 calls waiting "
                                       "≥ 60 calls for 2m of 5m")
    overall = next(i for i, line in enumerate(lines) if line.strip().startswith("overall "))
    assert lines[overall + 1].strip() == "Set by 999 call handling"
    assert lines[overall + 2].strip() == ("▲ level 4 Extreme pressure pending: 999 call "
                                          "handling, 2m of 5m")
    levels = json.loads(invoke("explain", "--json", env=env).output)["levels"]
    assert levels["call_handling"]["level_name"] == "Severe pressure"
    assert levels["call_handling"]["why"] == "999 calls waiting ≥ 30 calls for 5m (now 65 calls)"
    assert levels["call_handling"]["reason"]["combine"] == "max"  # as the engine published it


def test_explain_at_a_past_time_evaluates_stored_history(store, redis_url) -> None:
    now = float(int(time.time()) // 60 * 60)
    store.write([Sample("calls.waiting", "trust", now - 1800 + 60 * i, 45.0) for i in range(20)])
    result = invoke("explain", "--at", "15m", "--json", env={"SURGE_REDIS_URL": redis_url})
    levels = json.loads(result.output)["levels"]
    assert levels["call_handling"]["level"] == 3  # >= 30 for 5m by then, below 60
    assert "calls.waiting >= 30" in levels["call_handling/calls.waiting"]["reason"]["text"]
    assert levels["call_handling"]["why"] == "999 calls waiting ≥ 30 calls for 5m (now 45 calls)"
    text = invoke("explain", "--at", "15m", env={"SURGE_REDIS_URL": redis_url}).output
    assert re.match(r"Calculated levels \(at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d (GMT|BST)\)", text)
    assert "999 calls waiting ≥ 30 calls for 5m (now 45 calls)" in text


def test_explain_without_a_worker_says_so(store, redis_url) -> None:
    result = invoke("explain", env={"SURGE_REDIS_URL": redis_url})
    assert result.exit_code == 2 and "is the worker running?" in result.output


def test_reload_asks_the_worker_and_warns_about_a_broken_file(store, redis_url, tmp_path) -> None:
    assert invoke("rules", "reload", env={"SURGE_REDIS_URL": redis_url}).exit_code == 0
    assert store.take_reload_request() == local_operator().label  # on the record
    (audit,) = store.events(kinds={"audit"})
    assert audit.data["action"] == "rules_reload_requested" and audit.data["problems"] == 0
    broken = tmp_path / "rules.yaml"
    broken.write_text("version: 1\n")
    result = invoke("rules", "reload", "--rules", str(broken), env={"SURGE_REDIS_URL": redis_url})
    assert result.exit_code == 1 and "will reject this file" in result.output
