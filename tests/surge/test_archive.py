"""The archive (surge/archive.py) and reads across it (surge/history.py), against a real
store and real Parquet files: days leave the store only once written and checked, read back
identical, windows that span the store and the archive read as one, rollups agree with the
samples, and a failed archive loses nothing."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import redis
from click.testing import CliRunner

from surge import keys
from surge.archive import Archive, ArchiveError, archive_due, day_name, rollup
from surge.cli import main
from surge.events import Annotation, ArchiveFailed, DayArchived, Recorder, read_events
from surge.history import History
from surge.samples import Sample
from surge.store import Series, Store

DAY = 86400.0
D0 = int(time.time() // DAY) - 6  # the record's first UTC day (the store's chunks expire
# by the server's clock, at most nine days after their day with this hot window)
SERIES = [("calls.waiting", "trust"), ("calls.waiting", "EOC-N"), ("handover.delay", "RVH")]
RETENTION = 2 * DAY


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def record(redis_client: redis.Redis, redis_url: str, tmp_path: Path) -> tuple[Store, Archive, Clock]:
    """Five days of samples (one a minute, varied) and events, in a store whose hot window
    is two days, at the start of day six."""
    clock = Clock((D0 + 5) * DAY + 60)
    store = Store(redis_client, where=redis_url, retention=RETENTION, clock=clock)
    rng = np.random.default_rng(7)
    for metric, scope in SERIES:
        ts = D0 * DAY + np.arange(0, 5 * DAY, 60.0) + rng.uniform(0, 50, 7200).round(3)
        values = rng.normal(20, 8, len(ts)).round(2)
        store.write([Sample(metric, scope, float(t), float(v)) for t, v in zip(ts, values, strict=True)])
    recorder = Recorder(store, clock)
    for i in range(5 * 24):
        recorder.record(Annotation(ts=D0 * DAY + i * 3600 + 7, text=f"note {i}", by="gold"))
    return store, Archive(tmp_path / "archive"), clock


def everything(store: Store) -> tuple[dict, list]:
    series = store.series(SERIES, D0 * DAY, (D0 + 6) * DAY)
    return series, store.events()


def test_archive_round_trip_days_leave_the_store_and_read_back_identical(record):
    store, archive, clock = record
    before_series, before_events = everything(store)
    done = archive_due(store, archive, clock(), Recorder(store, clock))
    # the hot window is two days at day 5 + 1 min: days 0, 1 and 2 have wholly left it
    assert [d.day for d in done] == [D0, D0 + 1, D0 + 2]
    assert archive.days() == [D0, D0 + 1, D0 + 2]
    assert store.archive_frontier() == D0 + 3
    assert [(d.samples, d.events) for d in done] == [(3 * 1440, 24)] * 3
    # gone from the store: the samples of archived days and their events
    assert not store.client.exists(*(keys.chunk(m, s, D0 + 2) for m, s in SERIES))
    assert store.client.exists(keys.chunk("calls.waiting", "trust", D0 + 3))
    assert store.events(end=(D0 + 3) * DAY - 1, kinds=["annotation"]) == []
    history = History(store, archive)
    after_series = history.series(SERIES, D0 * DAY, (D0 + 6) * DAY)
    for key in SERIES:
        assert np.array_equal(after_series[key].ts, before_series[key].ts)
        assert np.array_equal(after_series[key].values, before_series[key].values)
    after_events = [e for e in history.events() if e.kind == "annotation"]
    assert after_events == [e for e in before_events if e.kind == "annotation"]
    # each archived day is on the record, in the store's hot window
    archived = read_events(store, kinds=[DayArchived])
    assert [e.day for e in archived] == [day_name(D0 + i) for i in range(3)]
    assert archived[0].location == archive.location and archived[0].samples == 3 * 1440


def test_windows_spanning_the_store_and_the_archive_read_as_one(record):
    store, archive, clock = record
    start, end = (D0 + 2) * DAY + 3600.5, (D0 + 3) * DAY + 7200.25  # across the frontier
    before = store.series(SERIES, start, end)
    before_events = store.events(start, end, ["annotation"])
    archive_due(store, archive, clock(), Recorder(store, clock))
    history = History(store, archive)
    after = history.series(SERIES, start, end)
    for key in SERIES:
        assert len(after[key]) > 0
        assert np.array_equal(after[key].ts, before[key].ts)
        assert np.array_equal(after[key].values, before[key].values)
    assert history.events(start, end, ["annotation"]) == before_events
    # the newest few, and newest first back across the frontier
    assert history.events(start, end, ["annotation"], count=3) == before_events[-3:]
    back = list(history.events_before((D0 + 3) * DAY + 2 * 3600, ["annotation"]))
    assert [e.data["text"] for e in back[:4]] == ["note 73", "note 72", "note 71", "note 70"]
    assert len(back) == 74  # every one, each once
    # entirely inside the archive, and entirely inside the store
    assert history.events((D0 + 1) * DAY, (D0 + 1) * DAY + 3600)[0].data["text"] == "note 24"
    assert len(history.series(SERIES, (D0 + 4) * DAY, (D0 + 4) * DAY + 599)[SERIES[0]]) == 10


def test_rollups_from_the_archive_and_the_store_agree_with_the_samples(record):
    store, archive, clock = record
    raw = store.series(SERIES, D0 * DAY, (D0 + 6) * DAY)
    archive_due(store, archive, clock(), Recorder(store, clock))
    history = History(store, archive)
    for step in (300, 3600):
        got = history.rollups(SERIES, D0 * DAY, (D0 + 6) * DAY, step)
        for key in SERIES:
            ts, values = raw[key].ts, raw[key].values
            bucket = np.floor(ts / step) * step
            starts = np.unique(bucket)
            assert np.array_equal(got[key].start, starts)
            assert np.array_equal(got[key].max, [values[bucket == b].max() for b in starts])
            assert np.array_equal(got[key].min, [values[bucket == b].min() for b in starts])
            assert np.allclose(got[key].mean, [values[bucket == b].mean() for b in starts])
            assert got[key].count.sum() == len(ts)
    with pytest.raises(ValueError, match="300 or 3600"):
        history.rollups(SERIES, D0 * DAY, (D0 + 1) * DAY, 60)


def test_an_event_filed_on_an_archived_day_but_recorded_after_it_is_read_once(
        redis_client, redis_url, tmp_path):
    clock = Clock((D0 + 4) * DAY)
    store = Store(redis_client, where=redis_url, retention=RETENTION, clock=clock)
    recorder = Recorder(store, clock)
    recorder.record(Annotation(ts=(D0 + 1) * DAY + 10, text="after midnight", by="a"))
    # recorded after the one above, so its stream id is in the next day; filed by its time
    recorder.record(Annotation(ts=(D0 + 1) * DAY - 0.5, text="before midnight", by="a"))
    archive = Archive(tmp_path / "a")
    clock.now = (D0 + 3) * DAY + 1  # day D0 has left the hot window, D0 + 1 not yet
    archive_due(store, archive, clock(), recorder)
    assert store.archive_frontier() == D0 + 1
    history = History(store, archive)
    texts = [e.data["text"] for e in history.events(kinds=["annotation"])]
    assert sorted(texts) == ["after midnight", "before midnight"]
    assert [e.data["text"] for e in history.events((D0 + 1) * DAY, None, ["annotation"])] == [
        "after midnight"]
    back = [e.data["text"] for e in history.events_before((D0 + 2) * DAY, ["annotation"])]
    assert back == ["after midnight", "before midnight"]


def test_archiving_again_does_nothing_and_days_with_nothing_are_passed_over(record):
    store, archive, clock = record
    archive_due(store, archive, clock(), Recorder(store, clock))
    assert archive_due(store, archive, clock(), Recorder(store, clock)) == []
    clock.now += 30 * DAY  # a month with no data: the frontier moves, no empty files
    assert [d.day for d in archive_due(store, archive, clock(), Recorder(store, clock))] == [
        D0 + 3, D0 + 4, D0 + 5]  # (day 5 holds the day_archived events)
    assert store.archive_frontier() == D0 + 33
    assert archive.days() == [D0 + i for i in range(6)]


def test_a_failed_archive_loses_nothing_and_says_so(record, tmp_path):
    store, _, clock = record
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the archive should be")
    archive = Archive(blocked)
    before_series, before_events = everything(store)
    with pytest.raises(ArchiveError, match="cannot write"):
        archive_due(store, archive, clock(), Recorder(store, clock))
    assert store.archive_frontier() == D0  # (only the empty day before it was passed over)
    after_series, after_events = everything(store)
    for key in SERIES:
        assert np.array_equal(after_series[key].values, before_series[key].values)
    assert [e for e in after_events if e.kind == "annotation"] == before_events
    (failed,) = read_events(store, kinds=[ArchiveFailed])
    assert failed.day == day_name(D0) and "cannot write" in failed.error
    assert "cannot write" in store.archive_state()["last_error"]
    # a later run that succeeds clears the error
    assert archive_due(store, Archive(tmp_path / "ok"), clock(), Recorder(store, clock))
    assert "last_error" not in store.archive_state()


def test_a_history_without_anything_archived_is_the_store(store, tmp_path):
    t = time.time() - 3600
    store.write([Sample("calls.waiting", "trust", t, 3.0)])
    history = History(store, Archive(tmp_path / "empty"))
    got = history.series([("calls.waiting", "trust")], t - DAY, t + 1)
    assert got[("calls.waiting", "trust")].values.tolist() == [3.0]
    assert history.rollups([("calls.waiting", "trust")], t - DAY, t + 1, 3600)[
        ("calls.waiting", "trust")].max.tolist() == [3.0]


def test_rollup_of_nothing_and_of_one_bucket():
    assert len(rollup(np.empty(0), np.empty(0), 300)) == 0
    got = rollup(np.array([600.0, 700.0, 899.999]), np.array([1.0, 5.0, 3.0]), 300)
    assert got.start.tolist() == [600.0] and got.max.tolist() == [5.0]
    assert got.mean.tolist() == [3.0] and got.count.tolist() == [3]


def test_surge_archive_run_and_status(record, redis_url, tmp_path, monkeypatch):
    _, _, clock = record
    where = tmp_path / "cli-archive"
    monkeypatch.setenv("SURGE_ARCHIVE", str(where))
    monkeypatch.setenv("SURGE_RETENTION", "2d")
    runner = CliRunner()
    status = runner.invoke(main, ["archive", "status", "--json", "--redis-url", redis_url])
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["days"] == 0
    run = runner.invoke(main, ["archive", "run", "--now",
                               datetime.fromtimestamp(clock(), UTC).isoformat(), "--redis-url",
                               redis_url])
    assert run.exit_code == 0, run.output
    assert day_name(D0) in run.output and "3 day(s) archived" in run.output
    shown = json.loads(runner.invoke(main, ["archive", "status", "--json", "--redis-url",
                                            redis_url]).output)
    assert shown["days"] == 3 and shown["oldest"] == day_name(D0)
    assert shown["store_from"] == day_name(D0 + 3)
    bad = runner.invoke(main, ["archive", "run", "--now", "yesterday-ish", "--redis-url",
                               redis_url])
    assert bad.exit_code == 2 and "--now" in bad.output


def test_surge_archive_setting_is_checked(monkeypatch):
    from surge.errors import ConfigError
    from surge.settings import Settings

    with pytest.raises(ConfigError, match="SURGE_ARCHIVE"):
        Settings.from_env({"SURGE_ARCHIVE": "ftp://somewhere/archive"})
    assert Settings.from_env({"SURGE_ARCHIVE": "s3://bucket/surge"}).archive_location == (
        "s3://bucket/surge")
    assert Settings.from_env({"SURGE_DATA_DIR": "/srv/surge"}).archive_location == (
        "/srv/surge/archive")



def test_exports_and_backtests_read_the_archive_as_if_it_were_the_store(record, redis_url,
                                                                        tmp_path, monkeypatch):
    """The same commands over the same window say the same before and after the days in it
    were archived and trimmed from the store."""
    _, _, clock = record
    monkeypatch.setenv("SURGE_ARCHIVE", str(tmp_path / "cli-archive"))
    monkeypatch.setenv("SURGE_RETENTION", "2d")
    runner = CliRunner()
    window = ["--from", datetime.fromtimestamp((D0 + 1) * DAY, UTC).isoformat(),
              "--to", datetime.fromtimestamp((D0 + 4) * DAY, UTC).isoformat(),
              "--redis-url", redis_url]

    def outputs() -> list[str]:
        got = []
        for what in ("samples", "events"):
            out = tmp_path / f"{what}.csv"
            done = runner.invoke(main, ["export", "--what", what, "--out", str(out), *window])
            assert done.exit_code == 0, done.output
            got.append(out.read_text())
        backtest = runner.invoke(main, ["rules", "backtest", "--format", "json", *window])
        assert backtest.exit_code == 0, backtest.output
        got.append(backtest.output)
        return got

    before = outputs()
    assert runner.invoke(main, ["archive", "run", "--now", datetime.fromtimestamp(
        clock(), UTC).isoformat(), "--redis-url", redis_url]).exit_code == 0
    samples, events, backtest = outputs()
    assert samples == before[0] and samples.count("\n") > 2 * 3 * 1440
    assert events.splitlines()[:49] == before[1].splitlines()[:49]  # (then: day_archived)
    assert "note 24" in events
    assert backtest == before[2] and json.loads(backtest)["samples"] > 3 * 1440


def test_an_archive_given_as_a_file_url_is_the_same_archive(tmp_path):
    by_url = Archive(f"file://{tmp_path}/by-url")
    day = 20_400
    samples = {("calls.waiting", "trust"): Series(day * DAY + np.arange(3.0) * 60,
                                                  np.array([1.0, 2.0, 3.0]))}
    assert by_url.write_day(day, samples, []).samples == 3
    by_path = Archive(tmp_path / "by-url")
    assert by_path.days() == [day]
    got = by_path.series(list(samples), day * DAY, day * DAY + 120)
    assert got[("calls.waiting", "trust")].values.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ArchiveError, match="cannot be opened"):
        Archive("nosuchscheme://bucket/x").days()


def test_the_first_run_archives_from_the_oldest_day_held_however_old(redis_client, redis_url,
                                                                     tmp_path):
    """Days held since a longer hot window, and events from long before, are archived; the
    empty years between are passed over at once."""
    clock = Clock((D0 + 5) * DAY)
    store = Store(redis_client, where=redis_url, retention=RETENTION, clock=clock)
    store.write([Sample("calls.waiting", "trust", D0 * DAY + 60, 4.0)])
    Recorder(store, clock).record(Annotation(ts=(D0 - 3650) * DAY, text="long ago", by="a"))
    archive = Archive(tmp_path / "a")
    done = archive_due(store, archive, clock(), Recorder(store, clock))
    assert [d.day for d in done] == [D0 - 3650, D0]
    assert store.archive_frontier() == D0 + 3
    history = History(store, archive)
    assert [e.data["text"] for e in history.events(kinds=["annotation"])] == ["long ago"]
    assert history.series([("calls.waiting", "trust")], D0 * DAY, (D0 + 1) * DAY)[
        ("calls.waiting", "trust")].values.tolist() == [4.0]
