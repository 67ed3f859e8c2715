"""Post-incident review from the record (surge/review.py) and `surge export`, against a real
store: levels before and in a window, declarations, alerts and how fast they were
acknowledged, the CSV exports field by field, and both clock changes."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from surge.actions import annotate
from surge.auth import Actor
from surge.catalogue import Catalogue
from surge.cli import main
from surge.events import (
    AlertAcknowledged,
    AlertEscalated,
    AlertFiring,
    AlertResolved,
    Declared,
    EngineStarted,
    LevelChanged,
    Recorder,
    RulesLoaded,
    SamplesStored,
)
from surge.review import (
    EVENT_COLUMNS,
    SAMPLE_COLUMNS,
    downsample,
    events_csv,
    read_review,
    review_series,
    samples_csv,
    samples_csv_parts,
    traces,
    uk_iso_array,
)
from surge.samples import Sample
from surge.store import Store
from surge.timefmt import uk_iso
from tests.conftest import RULES

# the clocks go back at 02:00 BST on 31 October 2027 and forward at 01:00 GMT on 28 March 2027
AUTUMN = datetime(2027, 10, 31, 1, 0, tzinfo=UTC).timestamp()
SPRING = datetime(2027, 3, 28, 1, 0, tzinfo=UTC).timestamp()
HOUR = 3600.0


def uk(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def level(name: str, ts: float, before: int, after: int) -> LevelChanged:
    return LevelChanged(ts=ts, name=name, scope="overall" if name == "overall" else "protocol",
                        from_=before, to=after, rules_version="v1")


@given(st.floats(min_value=SPRING - 2 * HOUR, max_value=SPRING + 2 * HOUR) |
       st.floats(min_value=AUTUMN - 3 * HOUR, max_value=AUTUMN + 3 * HOUR) |
       st.floats(min_value=0, max_value=4e9))
@settings(max_examples=300, deadline=None)
def test_many_instants_are_written_as_one_at_a_time_would(ts: float) -> None:
    utc, local = uk_iso_array(np.array([ts]))
    assert local[0] == uk_iso(ts)
    assert utc[0] == datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_hour_repeated_in_october_is_written_twice_in_order_with_its_offset() -> None:
    half_hours = AUTUMN - HOUR + np.arange(5) * 1800  # 00:00 UTC to 02:00 UTC
    _, local = uk_iso_array(half_hours)
    assert local.tolist() == ["2027-10-31T01:00:00+01:00", "2027-10-31T01:30:00+01:00",
                              "2027-10-31T01:00:00+00:00", "2027-10-31T01:30:00+00:00",
                              "2027-10-31T02:00:00+00:00"]
    _, local = uk_iso_array(SPRING - 1800 + np.arange(3) * 1800)  # 00:30 GMT to 01:30 UTC
    assert local.tolist() == ["2027-03-28T00:30:00+00:00", "2027-03-28T02:00:00+01:00",
                              "2027-03-28T02:30:00+01:00"]


@pytest.mark.parametrize(("start", "end", "hours"), [
    ("2027-10-30T19:00:00+01:00", "2027-10-31T07:00:00+00:00", 13),  # the clocks go back
    ("2027-03-27T19:00:00+00:00", "2027-03-28T07:00:00+01:00", 11),  # and forward
])
def test_a_night_across_a_clock_change_lasts_what_it_lasted(
        store: Store, catalogue: Catalogue, start: str, end: str, hours: int) -> None:
    t1, t2 = uk(start), uk(end)
    Recorder(store).record_many([level("overall", t1 - HOUR, 1, 2),
                                 level("overall", t1 + 5 * HOUR, 2, 3)])
    review = read_review(store, catalogue, t1, t2)
    trust = review.levels[0]
    assert review.hours == hours
    assert trust.time_at() == {2: 5 * HOUR, 3: (hours - 5) * HOUR}
    assert sum(trust.time_at().values()) == hours * HOUR


def test_the_review_tells_what_was_known_declared_alerted_and_done(
        store: Store, catalogue: Catalogue) -> None:
    t0 = float(int(time.time()) - 3 * 3600)  # notes are about the past
    recorder = Recorder(store)
    recorder.record_many([
        RulesLoaded(ts=t0 - 86400, rules_version="v0", source="surge_rules.yaml"),
        level("ae", t0 - HOUR, 1, 2),  # before the window: ae starts it at 2
        Declared(ts=t0 - 30 * 60, by="gold", role="commander", level=2, reason="winter"),
        level("overall", t0 + 600, 2, 3),  # the trust had no change on record before
        SamplesStored(ts=t0 + 700, source="feed:x", accepted=5),
        AlertFiring(ts=t0 + 720, alert="a1", name="overall", severity="critical",
                    summary="trust at 3"),
        AlertEscalated(ts=t0 + 1320, alert="a1", name="overall", step=1),
        AlertAcknowledged(ts=t0 + 1500, alert="a1", name="overall", by="dm1"),
        AlertFiring(ts=t0 + 1800, alert="a2", name="sim-ae", severity="warning",
                    summary="feed down"),
        AlertAcknowledged(ts=t0 + 1860, alert="a2", name="sim-ae", by="dm2"),
        AlertResolved(ts=t0 + 2400, alert="a2", name="sim-ae"),
        AlertFiring(ts=t0 + 3000, alert="a3", name="pts", severity="warning", summary="pts"),
        Declared(ts=t0 + 3300, by="gold", role="commander", level=3, previous=2, calculated=3,
                 reason="handover delays across the patch"),
    ])
    silver = Actor("silver", "duty_manager", "local", "cli")
    annotate(store, silver, text="HALO at RVX", at=t0 + 3400)
    annotate(store, silver, text="before the window", at=t0 - HOUR)
    review = read_review(store, catalogue, t0, t0 + 2 * HOUR)
    assert [e.kind for e in review.events][:2] == ["level_changed", "alert_firing"]
    assert "samples_stored" not in {e.kind for e in review.events}
    trust, *functions = review.levels
    assert (trust.ts, trust.levels) == ((t0, t0 + 600, t0 + 2 * HOUR), (None, 3, 3))
    assert trust.time_at() == {None: 600.0, 3: 2 * HOUR - 600}  # not known is not level 1
    ae = next(s for s in functions if s.name == "ae")
    assert ae.time_at() == {2: 2 * HOUR}
    assert review.declared.levels == (2, 3, 3) and review.declared.highest == 3
    stories = {a.alert: a for a in review.alerts}
    assert (stories["a1"].ack_seconds, stories["a1"].by, stories["a1"].escalations) == (
        780, "dm1", 1)
    assert stories["a2"].resolved == t0 + 2400 and stories["a3"].acknowledged is None
    assert review.ack_times() == (420.0, 780.0, 1)  # median, longest, never acknowledged
    assert [d.reason for d in review.declarations] == ["handover delays across the patch"]
    assert [(a.text, a.by, a.at) for a in review.annotations] == [("HALO at RVX", "silver",
                                                                    t0 + 3400)]
    assert review.rules == ((t0, "v1", ""),)  # the version the newest level change used
    with pytest.raises(ValueError, match="must end after it starts"):
        read_review(store, catalogue, t0, t0)


def test_an_engine_start_gives_the_levels_it_started_from(store: Store,
                                                          catalogue: Catalogue) -> None:
    t0 = uk("2027-01-15T18:00:00+00:00")
    Recorder(store).record_many([
        EngineStarted(ts=t0 - HOUR, rules_version="v1", levels={"overall": 1, "pts": 2}),
        EngineStarted(ts=t0 + 600, rules_version="v1", levels={"overall": 2, "pts": 2}),
    ])
    trust, *functions = read_review(store, catalogue, t0, t0 + HOUR).levels
    assert trust.time_at() == {1: 600.0, 2: 3000.0}
    pts = next(s for s in functions if s.name == "pts")
    assert pts.time_at() == {2: HOUR}
    assert next(s for s in functions if s.name == "ae").time_at() == {None: HOUR}
    assert read_review(store, catalogue, t0, t0 + HOUR).rules == ((t0, "v1", ""),)


def test_a_level_changed_long_before_the_window_is_known_at_its_start(
        store: Store, catalogue: Catalogue) -> None:
    t0 = uk("2027-01-15T18:00:00+00:00")
    busy = [LevelChanged(ts=t0 - 3600 + i, name=f"ae/ae.stack@R{i % 7}", scope="trigger",
                         from_=1, to=2, rules_version="v2") for i in range(1500)]
    Recorder(store).record_many([level("overall", t0 - 5 * 86400, 1, 3), *busy])
    trust = read_review(store, catalogue, t0, t0 + HOUR).levels[0]
    assert trust.time_at() == {3: HOUR}  # 1,500 trigger changes later, still on record
    assert read_review(store, catalogue, t0, t0 + HOUR).rules == ((t0, "v2", ""),)


def test_samples_export_opens_in_pandas_with_the_documented_columns(
        store: Store, catalogue: Catalogue) -> None:
    t0 = AUTUMN - HOUR  # 01:00 BST: the hour that comes twice
    store.write([Sample("calls.waiting", "trust", t0 + i * 1800, float(10 + i))
                 for i in range(4)] + [Sample("calls.waiting", "EOC-N", t0 + 1800, 4.5)])
    out = io.StringIO()
    series = review_series(catalogue, metrics=["calls.waiting"])
    assert samples_csv(store, series, t0, t0 + 2 * HOUR, out) == 5
    table = pd.read_csv(io.StringIO(out.getvalue()))
    assert tuple(table.columns) == SAMPLE_COLUMNS
    assert table["ts_uk"].tolist() == [
        "2027-10-31T01:00:00+01:00", "2027-10-31T01:30:00+01:00", "2027-10-31T01:30:00+01:00",
        "2027-10-31T01:00:00+00:00", "2027-10-31T01:30:00+00:00"]
    assert table["scope"].tolist() == ["trust", "trust", "EOC-N", "trust", "trust"]
    assert table["value"].tolist() == [10.0, 11.0, 4.5, 12.0, 13.0]
    parsed = pd.to_datetime(table["ts_uk"], utc=True)
    assert (parsed == pd.to_datetime(table["ts_utc"], utc=True)).all()  # the same instants
    empty = io.StringIO()
    assert samples_csv(store, series, t0 - 10 * HOUR, t0 - 9 * HOUR, empty) == 0
    assert empty.getvalue() == ",".join(SAMPLE_COLUMNS) + "\n"


def test_samples_are_written_a_part_at_a_time_as_if_at_once(store: Store,
                                                            catalogue: Catalogue) -> None:
    t0 = uk("2027-01-15T18:00:00+00:00")
    store.write([Sample("calls.waiting", scope, t0 + m * 60, float(m % 50))
                 for m in range(0, 181) for scope in ("trust", "EOC-N")])  # 18:00 to 21:00
    series = review_series(catalogue, metrics=["calls.waiting"])
    whole = "".join(t for t, _ in samples_csv_parts(store, series, t0, t0 + 3 * HOUR, 1e9))
    parts = list(samples_csv_parts(store, series, t0, t0 + 3 * HOUR, 1800))  # on the minute
    assert len(parts) == 7 and "".join(t for t, _ in parts) == whole  # no row twice or lost
    assert sum(n for _, n in parts) == 362 == len(whole.splitlines()) - 1


def test_events_export_has_a_row_per_event_and_the_kinds_fields_as_json(
        store: Store, catalogue: Catalogue) -> None:
    t0 = uk("2027-01-15T18:00:00+00:00")
    Recorder(store).record_many([
        level("overall", t0 + 60, 2, 3),
        Declared(ts=t0 + 120, by="gold", role="commander", level=3, previous=2,
                 reason='"stack" over 90, C2 at 70'),
    ])
    out = io.StringIO()
    assert events_csv(read_review(store, catalogue, t0, t0 + HOUR).events, out) == 2
    table = pd.read_csv(io.StringIO(out.getvalue()), dtype=str, keep_default_na=False)
    assert tuple(table.columns) == EVENT_COLUMNS
    first, second = table.to_dict("records")
    assert (first["kind"], first["name"], first["from"], first["to"], first["actor"]) == (
        "level_changed", "overall", "2", "3", "")
    assert first["ts_uk"] == "2027-01-15T18:01:00+00:00" and first["ts_utc"].endswith("Z")
    assert (second["kind"], second["from"], second["to"], second["actor"]) == (
        "declared", "2", "3", "gold")
    assert json.loads(second["fields"])["reason"] == '"stack" over 90, C2 at 70'


def test_downsampling_keeps_every_peak() -> None:
    rng = np.random.default_rng(3)
    ts = np.arange(200_000, dtype=float) * 60
    values = rng.normal(10, 1, ts.size)
    peaks = rng.choice(ts.size, 25, replace=False)
    values[peaks] = 100 + np.arange(25)
    values[7] = -50
    values[800:960] = np.nan  # two spans of nothing: each keeps one, so the gap shows
    values[1000] = np.nan  # one missing among numbers: the span's peaks are its numbers
    low_ts, low = downsample(ts, values, 5000)
    assert np.isnan(low).sum() == 2 and set(low_ts[np.isnan(low)]) <= set(ts[800:960])
    assert len(low) <= 5000 and np.all(np.diff(low_ts) > 0)
    assert set(ts[peaks]) <= set(low_ts) and -50 in low
    assert np.nanmax(low) == np.nanmax(values) and np.nanmin(low) == np.nanmin(values)
    assert downsample(ts[:100], values[:100])[0].tolist() == ts[:100].tolist()


def test_long_windows_are_drawn_from_rollups_that_keep_every_peak(redis_client,
                                                                   redis_url) -> None:
    """A window over 3 days is drawn as each bucket's lowest-to-highest band and mean: 5
    minutes up to 17 days, hourly beyond, merged further past 5,000 buckets."""
    now = time.time()
    store = Store(redis_client, where=redis_url)
    rng = np.random.default_rng(5)
    ts = now - 20 * 86400 + np.arange(20 * 1440) * 60.0
    values = rng.normal(10, 1, ts.size).round(3)
    values[[100, 9000, 20000]] = [90.0, 95.0, -40.0]
    store.write([Sample("calls.waiting", "trust", float(t), float(v))
                 for t, v in zip(ts, values, strict=True)])
    key = ("calls.waiting", "trust")
    for days, step in ((2, None), (10, 300), (20, 3600)):
        got = traces(store, [key], now - days * 86400, now)[key]
        inside = values[ts >= now - days * 86400]
        assert got.step == step and len(got) <= 5000 and got.samples == inside.size
        top = got.values if got.high is None else got.high
        bottom = got.values if got.low is None else got.low
        assert top.max() == inside.max() and bottom.min() == inside.min()
        if step:  # the mean of the means, weighted by count, is the mean of the samples
            assert got.low is not None and np.all(got.low <= got.values)
            assert np.all(got.values <= got.high)
    merged = traces(store, [key], now - 20 * 86400, now, points=100)[key]
    assert len(merged) <= 100 and merged.high is not None and merged.low is not None
    assert {90.0, 95.0} <= set(merged.high) and merged.low.min() == -40.0


# --- the command -------------------------------------------------------------------------


def export(redis_url: str, *args: str) -> Any:
    return CliRunner().invoke(main, ["export", "--redis-url", redis_url, "--rules", str(RULES),
                                     *args])


def test_surge_export_writes_the_window_it_is_asked_for(
        store: Store, redis_url: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    store.write([Sample("calls.waiting", "trust", (now - timedelta(minutes=m)).timestamp(),
                        float(m)) for m in range(1, 4)])
    out = tmp_path / "samples.csv"
    result = export(redis_url, "--what", "samples", "--from", "1h", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "3 sample(s)" in result.output
    assert pd.read_csv(out)["value"].tolist() == [3.0, 2.0, 1.0]
    to_stdout = export(redis_url, "--what", "samples", "--from", "1h", "--scope", "EOC-N")
    assert to_stdout.exit_code == 0 and to_stdout.output == ",".join(SAMPLE_COLUMNS) + "\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--what", "samples", "--format", "pdf"], "--format pdf is not for --what samples"),
    (["--what", "report"], "--out FILE is needed for a HTML report"),
    (["--what", "samples", "--function", "call_handlin"], "did you mean 'call_handling'"),
    (["--what", "samples", "--scope", "RVJJ"], "unknown 'RVJJ'"),
    (["--what", "events", "--to", "2h"], "--to must be later than --from"),
    (["--what", "events", "--from", "yesterday"], "--from: expected an ISO time"),
])
def test_surge_export_says_what_is_wrong_with_its_arguments(
        store: Store, redis_url: str, args: list[str], message: str) -> None:
    result = export(redis_url, *(args if "--from" in args else ["--from", "1h", *args]))
    assert result.exit_code != 0 and message in result.output, result.output


def test_an_export_that_fails_leaves_no_half_written_file(
        store: Store, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "report.pdf"
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without Chromium
    result = export(redis_url, "--what", "report", "--format", "pdf", "--from", "1h",
                    "--out", str(out))
    assert result.exit_code != 0
    assert "needs headless Chromium, which is not installed here" in result.output
    assert list(tmp_path.iterdir()) == []


def test_surge_annotate_puts_a_note_on_the_timeline_and_its_author_changes_it(
        store: Store, redis_url: str) -> None:
    from tests.dashboard.conftest import add_user

    add_user(store, "ann", "duty_manager")
    add_user(store, "vic", "viewer")
    base = ["--redis-url", redis_url, "--rules", str(RULES)]
    made = CliRunner().invoke(main, ["annotate", "CAD restarted", "--at", "20m", "--until",
                                     "10m", "--about", "cad", "--as", "ann", *base])
    assert made.exit_code == 0, made.output
    (note,) = store.annotations().values()
    assert made.output.startswith(f"Note {note['note']} added by ann, about ")
    assert note["until"] - note["at"] == 600 and note["about"] == "cad"
    changed = CliRunner().invoke(main, ["annotate", "CAD restarted after a power cut",
                                        "--change", note["note"], "--as", "ann", *base])
    assert changed.exit_code == 0 and " changed by ann" in changed.output
    assert [v["text"] for v in store.annotations()[note["note"]]["versions"]] == [
        "CAD restarted", "CAD restarted after a power cut"]
    for args, message in [
            (["x", "--as", "vic"], "annotate needs the duty_manager role"),
            (["x", "--change", note["note"]], "only its author may change it"),
            (["x", "--at", "2099-01-01T00:00:00Z"], "in the future"),
            (["x", "--at", "10m", "--until", "20m"], "until must be after at")]:
        refused = CliRunner().invoke(main, ["annotate", *args, *base])
        assert refused.exit_code != 0 and message in refused.output, refused.output
    assert len(store.annotations()[note["note"]]["versions"]) == 2

