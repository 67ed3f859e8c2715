"""`surge events`, `surge ingest` and `surge samples` against the real store, with good and bad
input: bad input is one clear message and an exit status, never a traceback."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from surge.cli import main
from surge.clock import Clock
from surge.events import (
    AuditEntry,
    FeedDown,
    LevelChanged,
    Recorder,
    SamplesStored,
    read_events,
)
from surge.store import Store

REPO = Path(__file__).resolve().parents[2]
SUMMER = 1_782_900_000.0  # 2026-07-01T10:00:00Z, 11:00 in the UK (BST, +01:00)


def invoke(redis_url: str, *args: str, input: str | bytes | None = None):
    env = {"SURGE_RULES": str(REPO / "surge_rules.yaml"), "SURGE_REDIS_URL": redis_url}
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)


def level(ts: float, to: int = 2) -> LevelChanged:
    return LevelChanged(ts=ts, name="call_handling", scope="protocol", from_=1, to=to,
                        reason={"drivers": ["call_handling/calls.waiting"]},
                        rules_version="0123456789ab")


# --- surge events ---------------------------------------------------------------------------


def test_events_are_listed_in_uk_time_with_a_summary_each(store: Store, redis_url) -> None:
    recorder = Recorder(store, Clock())
    recorder.record_many([
        level(SUMMER),
        FeedDown(ts=SUMMER + 60, feed="cad", function="ae", error="CAD API returned 503"),
        AuditEntry(ts=SUMMER + 120, action="login", user="ivy", role="viewer",
                   address="10.0.0.7")])
    Recorder(store, Clock.exercise(60, origin=SUMMER)).record(level(SUMMER + 180, to=3))
    result = invoke(redis_url, "events")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split() == ["2026-07-01", "11:00:00+01:00", "level_changed", "call_handling",
                                "(protocol)", "1", "->", "2:", "driven", "by",
                                "call_handling/calls.waiting"]
    assert "feed_down" in lines[2] and "cad (ae) is DOWN: CAD API returned 503" in lines[2]
    assert "11:02:00+01:00  audit" in lines[3] and "login by ivy (viewer)" in lines[3]
    assert lines[4].endswith("[EXERCISE]") and "EXERCISE" not in lines[1]


def test_events_as_json_lines_filtered_by_kind_time_and_limit(store: Store, redis_url) -> None:
    now = time.time()
    Recorder(store, Clock()).record_many(
        [level(now - 3600, to=2), level(now - 600, to=3),
         FeedDown(ts=now - 300, feed="cad", function="ae", error="timeout"),
         level(now - 60, to=4)])
    result = invoke(redis_url, "events", "--json", "--from", "15m", "--kind", "level_changed")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["kind"], r["to"], r["exercise"]) for r in rows] == [
        ("level_changed", 3, False), ("level_changed", 4, False)]
    assert rows[0]["ts"].endswith("Z") and rows[0]["from"] == 1 and rows[0]["schema"] == 1
    assert rows[0]["reason"] == {"drivers": ["call_handling/calls.waiting"]}
    both = invoke(redis_url, "events", "--json", "--kind", "feed_down", "--kind",
                  "level_changed", "--limit", "2").output.splitlines()
    assert [json.loads(line)["kind"] for line in both] == ["feed_down", "level_changed"]
    old = invoke(redis_url, "events", "--to", "30m", "--json").output.splitlines()
    assert [json.loads(line)["to"] for line in old] == [2]
    assert invoke(redis_url, "events", "--from", "2000-01-01", "--to",
                  "2000-01-02").output == "No events match.\n"


@pytest.mark.parametrize(("args", "message"), [
    (("--kind", "level_change"), "error: --kind: unknown kind 'level_change' (did you mean "
                                 "'level_changed'?)"),
    (("--from", "last tuesday"), "error: --from: expected an ISO time"),
    (("--from", "1h", "--to", "2h"), "error: --to must be later than --from"),
    (("--limit", "0"), "Invalid value for '--limit'"),
    (("--limit", "many"), "Invalid value for '--limit'"),
])
def test_bad_event_arguments_exit_2_with_a_clear_error(store, redis_url, args, message) -> None:
    result = invoke(redis_url, "events", *args)
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


# --- surge ingest ---------------------------------------------------------------------------


def csv_text(now: float) -> str:
    return "\n".join([
        "ts,metric,scope,value",
        f"{now - 120:.0f},calls.waiting,trust,12",                    # line 2: epoch seconds
        "2000-01-01T00:00:00Z,calls.waiting,trust,5",                  # line 3: too old
        f"{_iso(now - 60)},calls.waiting,EOC-N,7",                     # line 4: ISO with Z
        f"{now - 60:.0f},calls.waitng,trust,3",                        # line 5: unknown metric
        f"{now - 60:.0f},calls.waiting,,13",                           # line 6: empty scope
        f"{now - 60:.0f},calls.waiting,trust",                         # line 7: three values
        f"{_iso(now - 30)[:-1]},calls.waiting,trust,14",               # line 8: no offset
        f"{now - 30:.0f},calls.waiting,trust,-4",                      # line 9: out of range
        "",
    ])


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def test_ingest_keeps_the_good_rows_and_names_each_bad_one(store, redis_url, tmp_path,
                                                          monkeypatch) -> None:
    now = time.time()
    monkeypatch.chdir(tmp_path)
    Path("today.csv").write_text(csv_text(now))
    result = invoke(redis_url, "ingest", "today.csv")
    assert result.exit_code == 0, result.output
    assert "today.csv: 8 row(s): 3 stored, 0 duplicate, 0 late, 5 rejected" in result.stdout
    errors = result.stderr.splitlines()
    assert errors[0] == "today.csv:3: timestamp 2000-01-01T00:00:00+00:00 is older than the " \
                        "retention period"
    assert errors[1] == "today.csv:5: unknown metric 'calls.waitng'"
    assert errors[2] == "today.csv:7: expected 4 values (ts,metric,scope,value), got 3"
    assert errors[3].startswith("today.csv:8: timestamp ") and "no time zone" in errors[3]
    assert errors[4].startswith("today.csv:9: value -4 of calls.waiting is outside")
    stored = store.series([("calls.waiting", "trust"), ("calls.waiting", "EOC-N")], now - 600,
                          now)
    assert list(stored[("calls.waiting", "trust")].values) == [12.0, 13.0]
    assert list(stored[("calls.waiting", "EOC-N")].values) == [7.0]
    [event] = read_events(store, kinds=[SamplesStored])
    assert isinstance(event, SamplesStored) and event.source == "cli:today.csv"
    assert (event.accepted, event.rejected, event.late, event.duplicates) == (3, 5, 0, 0)
    assert len(event.notices) == 1 and store.notices("0-0")[0].id == event.notices[0]

    again = invoke(redis_url, "ingest", str(tmp_path / "today.csv"))  # the same file twice is harmless
    assert again.exit_code == 0 and "0 stored, 3 duplicate" in again.stdout


def test_ingest_reads_standard_input_and_reports_late_samples(store, redis_url) -> None:
    now = time.time()
    first = invoke(redis_url, "ingest", "-", input=f"metric,value,ts,scope\n"
                                                     f"calls.waiting,9,{now - 10:.3f},trust\n")
    assert first.exit_code == 0 and "1 stored" in first.stdout
    late = invoke(redis_url, "ingest", "-", input=f"ts,metric,scope,value\n"
                                                    f"{now - 20:.3f},calls.waiting,trust,4\n")
    assert late.exit_code == 0 and "0 stored, 0 duplicate, 1 late, 0 rejected" in late.stdout
    sources = [e.source for e in read_events(store, kinds=[SamplesStored])]  # type: ignore[union-attr]
    assert sources == ["cli:stdin", "cli:stdin"]


def test_ingest_exits_1_when_every_row_is_rejected(store, redis_url, tmp_path,
                                                  monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = Path("bad.csv")
    path.write_text("ts,metric,scope,value\n2026-01-01T00:00:00Z,no.such.metric,trust,1\n")
    result = invoke(redis_url, "ingest", str(path))
    assert result.exit_code == 1
    assert "bad.csv:2: unknown metric 'no.such.metric'" in result.output
    header_only = Path("empty.csv")
    header_only.write_text("ts,metric,scope,value\n")
    result = invoke(redis_url, "ingest", str(header_only))
    assert result.exit_code == 1 and "no rows after the header" in result.output


@pytest.mark.parametrize(("content", "message"), [
    ("2026-01-01T00:00:00Z,calls.waiting,trust,1\n",
     "error: data.csv:1: the first line must be the header ts,metric,scope,value"),
    ("ts,metric,value\n2026-01-01T00:00:00Z,calls.waiting,1\n", "(missing scope;"),
    ("", "got 'an empty file'"),
    (b"ts,metric,scope,value\n\xff\xfe,x,y,z\n", "error: data.csv: not UTF-8 text (byte 22)"),
])
def test_a_bad_file_exits_2_and_stores_nothing(store, redis_url, tmp_path, monkeypatch,
                                               content, message) -> None:
    monkeypatch.chdir(tmp_path)
    path = Path("data.csv")
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    result = invoke(redis_url, "ingest", "data.csv")
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output and store.events() == []


def test_a_missing_file_exits_2(store, redis_url, tmp_path) -> None:
    result = invoke(redis_url, "ingest", str(tmp_path / "nowhere.csv"))
    assert result.exit_code == 2 and "nowhere.csv" in result.output
    assert "Traceback" not in result.output


# --- surge samples --------------------------------------------------------------------------


def test_samples_shows_what_is_stored_in_uk_time_and_utc(store, redis_url) -> None:
    now = float(int(time.time()))
    invoke(redis_url, "ingest", "-", input="ts,metric,scope,value\n" + "".join(
        f"{now - m * 60:.0f},calls.waiting,EOC-N,{m}\n" for m in (50, 40, 30)))
    result = invoke(redis_url, "samples", "calls.waiting", "--scope", "EOC-N", "--from", "45m")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("calls.waiting for EOC-N (calls), 2 sample(s) from ")
    first = lines[2].split()
    assert first[2] == _iso(now - 40 * 60) and first[3] == "40"
    assert first[1][8:] in ("+00:00", "+01:00")  # UK time and its offset
    rows = [json.loads(line) for line in invoke(redis_url, "samples", "calls.waiting",
                                                "--scope", "EOC-N", "--json").output.splitlines()]
    assert [(r["ts"][:19], r["value"]) for r in rows] == [
        (_iso(now - m * 60)[:19], float(m)) for m in (50, 40, 30)]
    empty = invoke(redis_url, "samples", "calls.waiting")
    assert empty.exit_code == 0 and "No samples of calls.waiting for trust" in empty.output


@pytest.mark.parametrize(("args", "message"), [
    (("calls.waitng",), "error: unknown metric 'calls.waitng' (did you mean 'calls.waiting'?)"),
    (("calls.waiting", "--scope", "EOC-X"), "error: calls.waiting is not reported for 'EOC-X'"),
    (("calls.demand_vs_forecast", "--scope", "EOC-N"), "it is reported for trust"),
    (("calls.waiting", "--from", "soon"), "error: --from: expected an ISO time"),
])
def test_bad_sample_arguments_exit_2(store, redis_url, args, message) -> None:
    result = invoke(redis_url, "samples", *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output
