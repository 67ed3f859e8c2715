"""The spool: samples taken while the store is down are kept on disk and written once, in
order, when it returns; against a real Valkey server."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from feeds.spool import Spool, spooled_counts
from surge.samples import Sample
from surge.store import Store

NOW = float(int(time.time()) // 60 * 60)


def minute(start: float, n: int = 1000) -> list[Sample]:
    """A minute of a busy feed: n samples of per-hospital and trust series."""
    return [Sample("calls.waiting", "trust", start + i * 60 / n, float(i % 90))
            for i in range(n)]


def dead(store: Store) -> Store:
    """The same store as reached through a connection that fails: the store is down."""
    return Store(redis.Redis(port=1, socket_connect_timeout=0.2,
                             retry=Retry(NoBackoff(), 0)), where="a stopped store")


def test_an_hour_of_outage_at_a_thousand_samples_a_minute_loses_nothing(
        tmp_path: Path, store: Store) -> None:
    spool = Spool(tmp_path, "cad-calls")
    start = NOW - 3600
    for m in range(60):
        assert spool.add("feed:cad-calls", minute(start + m * 60))
    assert len(spool) == 60_000
    assert spooled_counts(tmp_path) == {"cad-calls": 60_000}
    report = spool.drain(store)
    assert (report.samples, report.accepted, report.late, report.left) == (60_000, 60_000, 0, 0)
    stored = store.series([("calls.waiting", "trust")], start, NOW)[("calls.waiting", "trust")]
    assert len(stored) == 60_000 and list(stored.ts) == sorted(stored.ts)
    assert not spool.path.exists() and spooled_counts(tmp_path) == {}


def test_the_spooled_count_follows_the_file_reading_only_what_it_gained(
        tmp_path: Path, store: Store) -> None:
    spool = Spool(tmp_path, "cad-calls")
    seen = []
    for m in range(3):
        spool.add("feed:cad-calls", minute(NOW - 600 + m * 60, 10))
        seen.append(spooled_counts(tmp_path)["cad-calls"])
    assert seen == [10, 20, 30] and len(spool) == 30
    with open(spool.path, "ab") as out:  # a batch torn by a kill mid-write: not counted
        out.write(b'{"source":"feed:cad-calls","samples":[["calls.waiting","trust",')
    assert spooled_counts(tmp_path) == {"cad-calls": 30}
    spool.add("feed:cad-calls", minute(NOW - 300, 5))  # written after it, on a line of its own
    assert spooled_counts(tmp_path) == {"cad-calls": 35} and len(spool) == 35
    assert spool.drain(dead(store)).left == 35  # the store is down: the file is rewritten
    assert spooled_counts(tmp_path) == {"cad-calls": 35}
    assert spool.drain(store).left == 0 and spooled_counts(tmp_path) == {}
    spool.add("feed:cad-calls", minute(NOW - 120, 7))  # a new file, perhaps on the same inode
    assert spooled_counts(tmp_path) == {"cad-calls": 7} == {"cad-calls": len(spool)}


def test_a_store_down_again_keeps_what_it_did_not_take(tmp_path: Path, store: Store) -> None:
    spool = Spool(tmp_path, "pts")
    for m in range(3):
        spool.add("feed:pts", minute(NOW - 600 + m * 60, 10))
    report = spool.drain(dead(store))
    assert (report.batches, report.left) == (0, 30)
    assert len(spool) == 30  # all still there, in order
    assert spool.drain(store).accepted == 30 and len(spool) == 0


def test_written_twice_after_a_crash_is_stored_once(tmp_path: Path, store: Store) -> None:
    """The worker died after the store took the batches but before the spool was emptied:
    the next drain writes them again, and the store ignores them as duplicates."""
    spool = Spool(tmp_path, "hub")
    batch = minute(NOW - 300, 50)
    spool.add("feed:hub", batch)
    store.write(batch, source="feed:hub")  # what the store already took
    report = spool.drain(store)
    assert (report.accepted, report.duplicates, report.late) == (0, 50, 0)
    assert len(store.series([("calls.waiting", "trust")], NOW - 400, NOW)[
        ("calls.waiting", "trust")]) == 50


def test_a_line_torn_by_a_kill_is_skipped_and_the_rest_kept(tmp_path: Path,
                                                          store: Store) -> None:
    spool = Spool(tmp_path, "cad")
    spool.add("feed:cad", minute(NOW - 120, 5))
    with open(spool.path, "ab") as out:
        out.write(b'{"source":"feed:cad","samples":[["calls.wai')  # killed mid-write
    spool.add("feed:cad", minute(NOW - 60, 5))  # after the restart
    assert len(spool) == 10
    assert spool.drain(store).accepted == 10


def test_a_full_spool_refuses_loudly_and_counts_what_it_dropped(tmp_path: Path,
                                                              caplog) -> None:
    spool = Spool(tmp_path, "cad", max_bytes=1200)
    assert spool.add("feed:cad", minute(NOW, 20))
    assert not spool.add("feed:cad", minute(NOW + 60, 20))
    assert spool.dropped == 20 and len(spool) == 20
    assert "DROPPED" in caplog.text


def test_a_feed_name_cannot_put_its_spool_outside_the_folder(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "../../etc/passwd")
    assert spool.path.parent == tmp_path / "spool"


class Ticking:
    """A feed of one calls-waiting sample per poll, stamped at the poll."""

    name = "cad-calls"
    function = "call_handling"
    interval = 60.0

    def fetch(self, since, now):
        return [Sample("calls.waiting", "trust", now, 7.0)]


def test_a_poller_spools_through_a_store_outage_and_writes_it_all_back_first(
        tmp_path: Path, store: Store, catalogue) -> None:
    """Polls while the store is down keep their samples on disk; the first poll after it is
    back writes them, in order, before its own: every sample once, none late."""
    from feeds.poller import FeedPoller
    from surge.errors import StoreUnavailable

    clock = [NOW - 600.0]
    spool = Spool(tmp_path, "cad-calls")
    poller = FeedPoller(Ticking(), store, catalogue, lambda: clock[0], spool=spool,
                        sleep=lambda s: None, drain_again_after=0)
    poller.poll()
    up = poller.store
    poller.store = dead(store)
    for _ in range(5):  # five minutes of outage
        clock[0] += 60
        with contextlib.suppress(StoreUnavailable):  # (poll_safely logs it)
            poller.poll(retry=False)
    assert len(spool) == 5
    poller.store = up
    clock[0] += 60
    poller.poll()
    stored = store.series([("calls.waiting", "trust")], NOW - 700, NOW)[("calls.waiting",
                                                                          "trust")]
    assert list(stored.ts) == [NOW - 600 + 60 * i for i in range(7)]  # all, once, in order
    assert not spool.pending()
    status = {s.name: s for s in store.feed_status()}["cad-calls"]
    assert status.late == 0
