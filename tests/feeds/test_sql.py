"""sql feeds against real SQLite databases: what a poll reads (:since, the lookback, the row
cap), rows that are not samples, a database that cannot be read, and the checks of the entry
in feeds.yaml; polls through the poller into the real store. Where PostgreSQL and the psycopg
driver are installed, a server of its own shows the read-only transaction, the statement
timeout and the password kept out of messages."""

from __future__ import annotations

import glob
import importlib.util
import logging
import math
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from feeds import sql
from feeds.base import Feed
from feeds.config import FeedContext, load_feeds
from feeds.poller import FeedPoller
from surge.catalogue import Catalogue
from surge.clock import Clock
from surge.errors import ConfigError, FetchFailed
from surge.samples import Rejection, check_samples
from tests.conftest import free_port

NOW = float(int(time.time()))
HOUR = 3600.0
# clinical_triage metrics of surge_rules.yaml, both reported for the trust only
WAITING = "triage.waiting"  # incidents awaiting clinical assessment, range [0, 2000]
LONGEST = "triage.longest_wait"  # minutes, range [0, 2880]

QUERY = "SELECT ts, metric, scope, value FROM surge_view WHERE ts > :since ORDER BY ts"


def sqlite_text(ts: float) -> str:
    """A time as SQLite's datetime() writes it: UTC, no zone."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def iso_text(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Hub:
    """A SQLite database as a clinical hub might keep one: a table of readings and the view
    the feed reads (``surge_view``), ts kept as SQLite text, epoch seconds or ISO text."""

    def __init__(self, path: Path, time_as: str = "datetime") -> None:
        self.path = path
        self.time_as = time_as
        with self.connect() as db:
            db.execute("CREATE TABLE readings (recorded_at, indicator, site, reading)")
            db.execute("CREATE VIEW surge_view AS SELECT recorded_at AS ts, indicator AS metric, "
                       "site AS scope, reading AS value FROM readings")

    def connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, isolation_level=None)

    def stamp(self, ts: float) -> str | int:
        return int(ts) if self.time_as == "epoch" else (
            iso_text(ts) if self.time_as == "iso" else sqlite_text(ts))

    def add(self, *rows: tuple[Any, Any, Any, Any], stamped: bool = True) -> None:
        """Rows of (ts, metric, scope, value); ts in epoch seconds is stamped as the hub keeps
        it, unless ``stamped`` is False (then it is stored as given)."""
        with self.connect() as db:
            db.executemany("INSERT INTO readings VALUES (?, ?, ?, ?)",
                           [(self.stamp(ts) if stamped else ts, m, s, v) for ts, m, s, v in rows])
        db.close()

    def clear(self) -> None:
        with self.connect() as db:
            db.execute("DELETE FROM readings")
        db.close()


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    return Hub(tmp_path / "hub #1.db")  # a name a URI must escape


def feeds_file(tmp_path: Path, extra: str = "", query: str = QUERY, url_env: str = "HUB_DB_URL",
               timeout: str = "10s") -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(f"""\
feeds:
  - name: hub-db
    type: sql
    function: clinical_triage
    url_env: {url_env}
    interval: 1m
    timeout: {timeout}
    query: "{query}"
{extra}""")
    return path


def context(tmp_path: Path, catalogue: Catalogue, env: dict[str, str]) -> FeedContext:
    return FeedContext(catalogue, Clock(), tmp_path, tmp_path / "var", env)


@pytest.fixture
def open_feeds() -> Iterator[list[sql.SqlFeed]]:
    """Every feed a test builds, closed at its end."""
    built: list[sql.SqlFeed] = []
    yield built
    for feed in built:
        feed.close()


def built(tmp_path: Path, catalogue: Catalogue, hub: Hub, open_feeds: list[sql.SqlFeed],
          extra: str = "", query: str = QUERY, timeout: str = "10s") -> sql.SqlFeed:
    url = f"sqlite:///{hub.path.name}"  # relative: to the folder of feeds.yaml
    (feed,) = load_feeds(feeds_file(tmp_path, extra, query, timeout=timeout),
                         context(tmp_path, catalogue, {"HUB_DB_URL": url}), {"sql": sql})
    assert isinstance(feed, sql.SqlFeed)
    open_feeds.append(feed)
    return feed


def problems(tmp_path: Path, catalogue: Catalogue, env: dict[str, str], extra: str = "",
             query: str = QUERY, url_env: str = "HUB_DB_URL") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_feeds(feeds_file(tmp_path, extra, query, url_env), context(tmp_path, catalogue, env),
                   {"sql": sql})
    return [str(p) for p in caught.value.problems]


def samples(items: Sequence[Any]) -> list[tuple[float, str, str, float]]:
    return [(i["ts"], i["metric"], i["scope"], i["value"]) for i in items
            if not isinstance(i, Rejection)]


# --- what a poll reads -------------------------------------------------------------------


@pytest.mark.parametrize(("time_as", "extra"), [
    ("datetime", ""),
    ("epoch", "    since_as: epoch\n"),
    ("iso", "    since_as: iso\n"),
])
def test_the_first_poll_reads_back_a_day_and_the_next_only_newer_rows(
        tmp_path: Path, catalogue: Catalogue, open_feeds: list[sql.SqlFeed], time_as: str,
        extra: str) -> None:
    hub = Hub(tmp_path / "hub.db", time_as)
    hub.add((NOW - 30 * HOUR, WAITING, None, 1), (NOW - 2 * HOUR, WAITING, None, 12),
            (NOW - HOUR, LONGEST, "trust", 45.5))
    feed = built(tmp_path, catalogue, hub, open_feeds, extra)
    assert isinstance(feed, Feed) and feed.timeout == 10.0 and feed.interval == 60.0
    assert samples(feed.fetch(None, NOW)) == [(NOW - 2 * HOUR, WAITING, "trust", 12.0),
                                              (NOW - HOUR, LONGEST, "trust", 45.5)]
    hub.add((NOW + 50, WAITING, None, 14))
    newer = samples(feed.fetch(NOW - HOUR, NOW + 60))
    if time_as == "iso":  # text compared as text: "...:00Z" sorts after "...:00.000000+00:00",
        assert newer.pop(0)[0] == NOW - HOUR  # so the row at :since itself comes again
    assert newer == [(NOW + 50, WAITING, "trust", 14.0)]
    assert [s[0] for s in samples(feed.fetch(NOW + 50, NOW + 120))] == (
        [NOW + 50] if time_as == "iso" else [])


def test_the_lookback_and_the_column_names_are_options(
        tmp_path: Path, catalogue: Catalogue, open_feeds: list[sql.SqlFeed]) -> None:
    hub = Hub(tmp_path / "hub.db")
    hub.add((NOW - 30 * HOUR, WAITING, "trust", 1), (NOW - 50 * HOUR, WAITING, "trust", 2))
    feed = built(tmp_path, catalogue, hub, open_feeds, """\
    first_since: 2d
    columns: {ts: recorded_at, metric: indicator, value: reading}
""", query="SELECT recorded_at, indicator, reading FROM readings WHERE recorded_at > :since")
    assert samples(feed.fetch(None, NOW)) == [(NOW - 30 * HOUR, WAITING, "trust", 1.0)]


def test_a_row_that_is_not_a_sample_is_rejected_with_its_reason_and_the_others_kept(
        tmp_path: Path, catalogue: Catalogue, hub: Hub, open_feeds: list[sql.SqlFeed]) -> None:
    hub.add((NOW - 50, WAITING, None, 3), (NOW - 40, WAITING, None, "lots"),
            (NOW - 30, WAITING, None, None), (NOW - 20, None, None, 1),
            (NOW - 10, LONGEST, None, "17.5"))
    hub.add(("yesterday", WAITING, None, 2), (sqlite_text(NOW - 5), WAITING, 7, 2), stamped=False)
    items = list(built(tmp_path, catalogue, hub, open_feeds).fetch(NOW - HOUR, NOW))
    assert samples(items) == [(NOW - 50, WAITING, "trust", 3.0),
                              (NOW - 10, LONGEST, "trust", 17.5)]
    reasons = sorted(i.reason for i in items if isinstance(i, Rejection))
    assert reasons == ["metric must be text, got NULL",
                       "scope must be text (a site code, or NULL for the trust), got 7",
                       "ts 'yesterday' is not an ISO 8601 time",
                       "value of triage.waiting is NULL",
                       "value of triage.waiting must be a number, got 'lots'"]
    rejected = next(i for i in items if isinstance(i, Rejection) and "lots" in i.reason)
    assert rejected.raw == {"ts": sqlite_text(NOW - 40), "metric": WAITING, "scope": None,
                            "value": "lots"}  # the row as read, for the quarantine


def test_rows_over_the_cap_in_time_order_are_read_in_complete_parts(
        tmp_path: Path, catalogue: Catalogue, hub: Hub, open_feeds: list[sql.SqlFeed],
        caplog: pytest.LogCaptureFixture) -> None:
    hub.add(*[(NOW - 60 * n, WAITING, None, n) for n in (5, 4, 4, 3, 2, 1)])
    feed = built(tmp_path, catalogue, hub, open_feeds, "    max_rows: 3\n")
    with caplog.at_level(logging.WARNING, "feeds.sql"):
        first = samples(feed.fetch(None, NOW))
    # the fourth row is at the third's time: the two at NOW - 240 are delivered together later
    assert first == [(NOW - 300, WAITING, "trust", 5.0)]
    assert "more than 3 rows (max_rows) are waiting" in caplog.text
    assert [s[3] for s in samples(feed.fetch(NOW - 300, NOW))] == [4.0, 4.0]
    assert [s[3] for s in samples(feed.fetch(NOW - 240, NOW))] == [3.0, 2.0, 1.0]


def test_rows_over_the_cap_out_of_order_fail_the_poll_rather_than_skip_some(
        tmp_path: Path, catalogue: Catalogue, hub: Hub, open_feeds: list[sql.SqlFeed]) -> None:
    hub.add(*[(NOW - 60 * n, WAITING, None, n) for n in (1, 3, 2, 4)])
    feed = built(tmp_path, catalogue, hub, open_feeds, "    max_rows: 3\n",
                 query="SELECT * FROM surge_view WHERE ts > :since")
    with pytest.raises(FetchFailed, match=r"more than 3 rows .* add ORDER BY ts"):
        feed.fetch(None, NOW)


# --- a database that cannot be read ------------------------------------------------------


def test_a_missing_database_file_fails_the_poll_naming_it(
        tmp_path: Path, catalogue: Catalogue, hub: Hub, open_feeds: list[sql.SqlFeed]) -> None:
    feed = built(tmp_path, catalogue, hub, open_feeds)
    hub.path.unlink()
    with pytest.raises(FetchFailed) as caught:
        feed.fetch(None, NOW)
    assert str(caught.value) == (f"sqlite:///{hub.path}: the database file {hub.path} does not "
                                 f"exist")
    assert not hub.path.exists()  # a read-only feed never creates it


def test_a_locked_database_fails_the_poll_after_the_timeout(
        tmp_path: Path, catalogue: Catalogue, hub: Hub, open_feeds: list[sql.SqlFeed]) -> None:
    feed = built(tmp_path, catalogue, hub, open_feeds, timeout="1s")
    writer = hub.connect()
    writer.execute("BEGIN EXCLUSIVE")  # a writer holding the file, as during a long import
    try:
        with pytest.raises(FetchFailed, match="database is locked"):
            feed.fetch(None, NOW)
    finally:
        writer.rollback()
        writer.close()
    assert feed.fetch(None, NOW) == []  # and it reads again once the lock is gone


def test_a_query_running_past_the_timeout_is_stopped(
        tmp_path: Path, catalogue: Catalogue, hub: Hub, open_feeds: list[sql.SqlFeed]) -> None:
    endless = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
               "WHERE i < 500000000) SELECT i AS ts, 'x' AS metric, i AS value FROM n "
               "WHERE i < 0 AND :since IS NOT NULL")
    feed = built(tmp_path, catalogue, hub, open_feeds, query=endless, timeout="1s")
    with pytest.raises(FetchFailed, match=r"ran longer than the timeout \(1 s\) and was stopped"):
        feed.fetch(None, NOW)


@pytest.mark.parametrize(("query", "message"), [
    ("SELECT ts, metric, value FROM gone_view WHERE ts > :since", "no such table: gone_view"),
    ("SELECT ts, metric FROM surge_view WHERE ts > :since",
     "the query returns no column 'value' (it returns ts, metric)"),
    ("SELECT ts, metric, value FROM surge_view WHERE ts > :since AND nonsense(1)",
     "no such function: nonsense"),
])
def test_a_query_the_database_cannot_answer_fails_the_poll_with_its_reason(
        tmp_path: Path, catalogue: Catalogue, hub: Hub, open_feeds: list[sql.SqlFeed],
        query: str, message: str) -> None:
    feed = built(tmp_path, catalogue, hub, open_feeds, query=query)
    with pytest.raises(FetchFailed) as caught:
        feed.fetch(None, NOW)
    assert str(caught.value).startswith(f"sqlite:///{hub.path}: ")
    assert message in str(caught.value)


def test_the_sqlite_connection_itself_refuses_to_write(
        tmp_path: Path, catalogue: Catalogue, hub: Hub, open_feeds: list[sql.SqlFeed]) -> None:
    feed = built(tmp_path, catalogue, hub, open_feeds)
    with feed.engine.connect() as conn, pytest.raises(OperationalError, match="readonly"):
        conn.exec_driver_sql("INSERT INTO readings VALUES (1, 2, 3, 4)")
    with hub.connect() as db:
        assert db.execute("SELECT count(*) FROM readings").fetchone() == (0,)
    db.close()


# --- the entry in feeds.yaml -------------------------------------------------------------


@pytest.mark.parametrize(("query", "message"), [
    ("DELETE FROM readings WHERE recorded_at > :since", "it starts with DELETE"),
    ("SELECT * FROM surge_view WHERE ts > :since; DROP TABLE readings", "one statement"),
    ("WITH gone AS (DELETE FROM readings RETURNING *) SELECT * FROM gone WHERE ts > :since",
     "contains DELETE"),
    ("SELECT * INTO kept FROM surge_view WHERE ts > :since", "contains INTO"),
    ("SELECT * FROM surge_view WHERE ts > :since FOR UPDATE", "contains UPDATE"),
    ("PRAGMA query_only = OFF", "it starts with PRAGMA"),
    ("SELECT * FROM surge_view", "does not use :since"),
    ("SELECT * FROM surge_view WHERE ts > :since AND scope = :site",
     "the parameter(s) :site; only :since is given a value"),
])
def test_a_query_that_is_not_one_select_is_refused_where_it_is_written(
        tmp_path: Path, catalogue: Catalogue, query: str, message: str) -> None:
    found = problems(tmp_path, catalogue, {"HUB_DB_URL": "sqlite:///hub.db"}, query=query)
    assert len(found) == 1 and found[0].startswith(f"{tmp_path / 'feeds.yaml'}:8:12: "), found
    assert message in found[0], found


def test_words_in_quotes_and_comments_do_not_count(
        tmp_path: Path, catalogue: Catalogue, hub: Hub, open_feeds: list[sql.SqlFeed]) -> None:
    query = ("SELECT ts, metric, value FROM surge_view -- no DELETE here\\n"
             "WHERE ts > :since AND metric != 'update; drop' /* INSERT */")
    assert built(tmp_path, catalogue, hub, open_feeds, query=query).fetch(None, NOW) == []


def test_every_problem_of_the_entry_is_reported_at_once_with_did_you_mean(
        tmp_path: Path, catalogue: Catalogue) -> None:
    found = problems(tmp_path, catalogue, {}, """\
    since_as: epock
    first_since: 0s
    max_row: 10
    columns: {tss: recorded_at, value: 3}
""", query="UPDATE readings SET reading = 0 WHERE recorded_at > :since")
    text = "\n".join(found)
    path = str(tmp_path / "feeds.yaml")
    assert all(p.startswith(path + ":") for p in found), found
    assert f"{path}:5:14: feeds[0].url_env: environment variable HUB_DB_URL is not set (it " \
           f"holds the database URL)" in found
    assert ":8:12:" in text and "it starts with UPDATE" in text
    assert ":9:15:" in text and "did you mean 'epoch'" in text
    assert ":10:18:" in text and "above 0" in text
    assert ":11:5:" in text and "unknown key 'max_row' (did you mean 'max_rows'?)" in text
    assert ":12:15:" in text and "unknown key 'tss' (did you mean 'ts'?)" in text
    assert "expected a column name, got 3" in text
    assert len(found) == 7, found


SECRET = "Hunter2-hub"


@pytest.mark.parametrize(("url", "message"), [
    (f"not a database url {SECRET}", "the value of HUB_DB_URL is not a database URL"),
    (f"nosuchdb://surge:{SECRET}@db.example/hub", "unknown database kind 'nosuchdb'"),
    (f"mssql+pymssql://surge:{SECRET}@db.example/hub",
     "needs the mssql+pymssql driver, which is not installed"),
    (f"postgresql+asyncpg://surge:{SECRET}@db.example/hub", "asyncio driver"),
])
def test_a_url_that_cannot_be_used_is_reported_without_its_value(
        tmp_path: Path, catalogue: Catalogue, url: str, message: str) -> None:
    if "pymssql" in url and importlib.util.find_spec("pymssql") is not None:
        pytest.skip("pymssql is installed here")
    found = problems(tmp_path, catalogue, {"HUB_DB_URL": url})
    assert len(found) == 1 and "feeds.yaml:5:14: feeds[0].url_env: " in found[0], found
    assert message in found[0], found
    assert SECRET not in found[0] and "db.example" not in found[0]


# --- into the store ----------------------------------------------------------------------


def test_polled_rows_are_stored_and_bad_ones_quarantined(
        tmp_path: Path, catalogue: Catalogue, hub: Hub, open_feeds: list[sql.SqlFeed],
        store: Any) -> None:
    hub.add((NOW - 120, WAITING, None, 30), (NOW - 90, "triage.waitng", None, 3),
            (NOW - 60, LONGEST, None, 95), (NOW - 60, WAITING, None, "n/a"))
    feed = built(tmp_path, catalogue, hub, open_feeds)
    times = iter([NOW, NOW + 60])
    poller = FeedPoller(feed, store, catalogue, lambda: next(times))
    first = poller.poll()
    assert first.ok and (first.accepted, len(first.rejected)) == (2, 2)
    assert store.latest() == {(WAITING, "trust"): (NOW - 120, 30.0),
                              (LONGEST, "trust"): (NOW - 60, 95.0)}
    reasons = {q["reason"] for q in store.quarantined()}
    assert reasons == {"value of triage.waiting must be a number, got 'n/a'",
                       "unknown metric 'triage.waitng'"}
    hub.add((NOW + 30, WAITING, None, 41))
    second = poller.poll()  # only the row newer than the newest stored
    assert (second.accepted, second.duplicates, len(second.rejected)) == (1, 0, 0)
    assert store.latest()[(WAITING, "trust")] == (NOW + 30, 41.0)
    (status,) = store.feed_status()
    assert status.name == "hub-db" and status.last_sample == NOW + 30


# --- whatever is in the rows -------------------------------------------------------------

CELLS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.binary(max_size=20), st.sampled_from([WAITING, LONGEST, "trust", "RVJ", "1e400",
                                             "-1e400", "nan", "2025-01-08T10:00:00+01:00",
                                             "9999-12-31 23:59:59", "0001-01-01", "", " "]),
    st.floats(min_value=-1e12, max_value=1e12).map(lambda s: NOW - abs(s) % (40 * 86400)))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(CELLS, CELLS, CELLS, CELLS), max_size=12),
       broken=st.booleans())
def test_whatever_the_rows_hold_a_poll_gives_samples_or_reasoned_rejections(
        tmp_path: Path, catalogue: Catalogue, hub: Hub, open_feeds: list[sql.SqlFeed],
        rows: list[tuple[Any, Any, Any, Any]], broken: bool) -> None:
    everything = "SELECT ts, metric, scope, value FROM surge_view WHERE :since IS NOT NULL"
    feed = open_feeds[0] if open_feeds else built(tmp_path, catalogue, hub, open_feeds,
                                                  query=everything)
    hub.clear()
    hub.add(*rows, stamped=False)
    if broken:  # text that is not UTF-8, as a careless import leaves it
        with hub.connect() as db:
            db.execute("INSERT INTO readings VALUES (?, CAST(? AS TEXT), NULL, 1)",
                       (sqlite_text(NOW), b"triage.\xff\xfe"))
        db.close()
    try:
        items = list(feed.fetch(None, NOW))
    except FetchFailed as exc:
        assert str(exc)
        return
    assert len(items) == len(rows) + broken
    for item in items:
        if isinstance(item, Rejection):
            assert item.reason and isinstance(item.raw, dict)
        else:
            assert isinstance(item, dict)
            assert isinstance(item["ts"], float) and math.isfinite(item["ts"])
            assert isinstance(item["value"], float) and isinstance(item["metric"], str)
    good, bad = check_samples(items, catalogue, NOW, 35 * 86400)  # the poller's own check
    assert all(r.reason for r in bad) and len(good) + len(bad) == len(items)


# --- PostgreSQL, where it is installed ---------------------------------------------------

PG_CTL = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))), None) \
    or shutil.which("pg_ctl")


def as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: under root its programs run as nobody."""
    return ["runuser", "-u", "nobody", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A PostgreSQL server of its own for this module, on a free port, with a table and a
    view of clinical triage samples; the URL of the account ``surge`` (password SECRET)."""
    if PG_CTL is None:
        pytest.skip("PostgreSQL is not installed (no pg_ctl)")
    pytest.importorskip("psycopg", reason="the psycopg driver is not installed")
    bin_dir = Path(PG_CTL).parent
    home = Path(tempfile.mkdtemp(prefix="surge-pg-"))  # not under pytest's root-only folders
    if os.geteuid() == 0:
        shutil.chown(home, "nobody")
    (home / "password").write_text(SECRET)
    port = free_port()
    try:
        subprocess.run(as_postgres([str(bin_dir / "initdb"), "-D", str(home / "data"), "-U",
                                    "surge", "--pwfile", str(home / "password"), "-A",
                                    "scram-sha-256", "--no-sync", "-E", "UTF8"]),
                       check=True, capture_output=True)
        subprocess.run(as_postgres([PG_CTL, "-D", str(home / "data"), "-w", "-l",
                                    str(home / "log"), "-o",
                                    f"-p {port} -k {home} -c listen_addresses=127.0.0.1 "
                                    f"-c fsync=off", "start"]), check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(home, ignore_errors=True)
        pytest.skip(f"a PostgreSQL server could not be started here: {exc}")
    url = f"postgresql+psycopg://surge:{SECRET}@127.0.0.1:{port}/postgres"
    engine = create_engine(url)
    with engine.begin() as db:
        db.exec_driver_sql("CREATE TABLE readings (recorded_at timestamptz, logged_at timestamp, "
                           "indicator text, site text, reading numeric)")
        db.exec_driver_sql("CREATE VIEW surge_view AS SELECT recorded_at AS ts, indicator AS "
                           "metric, site AS scope, reading AS value FROM readings")
        db.exec_driver_sql("CREATE SEQUENCE polls")
    engine.dispose()
    try:
        yield url
    finally:
        subprocess.run(as_postgres([PG_CTL, "-D", str(home / "data"), "-m", "immediate",
                                    "stop"]), capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def pg_feed(tmp_path: Path, catalogue: Catalogue, url: str, open_feeds: list[sql.SqlFeed],
            query: str = QUERY, timeout: str = "10s") -> sql.SqlFeed:
    (feed,) = load_feeds(feeds_file(tmp_path, query=query, timeout=timeout),
                         context(tmp_path, catalogue, {"HUB_DB_URL": url}), {"sql": sql})
    assert isinstance(feed, sql.SqlFeed)
    open_feeds.append(feed)
    return feed


def test_postgresql_timestamps_are_read_as_utc_and_since_is_honoured(
        tmp_path: Path, catalogue: Catalogue, postgres: str,
        open_feeds: list[sql.SqlFeed]) -> None:
    engine = create_engine(postgres)
    with engine.begin() as db:
        db.exec_driver_sql("TRUNCATE readings")
        for ts, metric, value in ((NOW - 30 * HOUR, WAITING, 1), (NOW - HOUR, WAITING, 12),
                                  (NOW - 60, LONGEST, 45.5)):
            moment = datetime.fromtimestamp(ts, UTC)
            db.exec_driver_sql("INSERT INTO readings VALUES (%s, %s, %s, NULL, %s)",
                               (moment, moment.replace(tzinfo=None), metric, value))
    engine.dispose()
    feed = pg_feed(tmp_path, catalogue, postgres, open_feeds)
    assert samples(feed.fetch(None, NOW)) == [(NOW - HOUR, WAITING, "trust", 12.0),
                                              (NOW - 60, LONGEST, "trust", 45.5)]
    assert samples(feed.fetch(NOW - HOUR, NOW)) == [(NOW - 60, LONGEST, "trust", 45.5)]
    naive = pg_feed(tmp_path, catalogue, postgres, open_feeds, query=(
        "SELECT logged_at AS ts, indicator AS metric, reading AS value FROM readings "
        "WHERE logged_at > :since ORDER BY ts"))  # timestamp without time zone: UTC
    assert [s[0] for s in samples(naive.fetch(NOW - 2 * HOUR, NOW))] == [NOW - HOUR, NOW - 60]


def test_postgresql_refuses_a_write_the_query_check_lets_through(
        tmp_path: Path, catalogue: Catalogue, postgres: str,
        open_feeds: list[sql.SqlFeed]) -> None:
    sneaky = "SELECT ts, metric, value FROM surge_view WHERE ts > :since AND nextval('polls') > 0"
    with pytest.raises(FetchFailed, match=r"cannot execute nextval\(\) in a read-only transaction"):
        pg_feed(tmp_path, catalogue, postgres, open_feeds, query=sneaky).fetch(None, NOW)


def test_postgresql_stops_a_query_running_past_the_timeout(
        tmp_path: Path, catalogue: Catalogue, postgres: str,
        open_feeds: list[sql.SqlFeed]) -> None:
    slow = "SELECT ts, metric, value FROM surge_view, pg_sleep(30) WHERE ts > :since"
    feed = pg_feed(tmp_path, catalogue, postgres, open_feeds, query=slow, timeout="1s")
    with pytest.raises(FetchFailed, match="canceling statement due to statement timeout"):
        feed.fetch(None, NOW)


@pytest.mark.parametrize("fault", ["a wrong password", "no server on the port"])
def test_postgresql_that_cannot_be_reached_fails_the_poll_without_the_password(
        tmp_path: Path, catalogue: Catalogue, postgres: str, open_feeds: list[sql.SqlFeed],
        fault: str) -> None:
    if fault == "a wrong password":
        url, message = postgres.replace(SECRET, "Not-" + SECRET), "password authentication failed"
    else:
        url = re.sub(r":\d+/", f":{free_port()}/", postgres)
        message = "Connection refused"
    with pytest.raises(FetchFailed) as caught:
        pg_feed(tmp_path, catalogue, url, open_feeds).fetch(None, NOW)
    assert message in str(caught.value)
    assert str(caught.value).startswith("postgresql+psycopg://surge:***@127.0.0.1:")
    assert SECRET not in str(caught.value)
