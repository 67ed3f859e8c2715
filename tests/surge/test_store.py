"""The store against a real server: dedup, late samples, ranges, retention, events, health."""

from __future__ import annotations

import math
import random
import struct
import time

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surge import keys
from surge.catalogue import Catalogue
from surge.errors import StoreUnavailable
from surge.samples import Rejection, Sample, check_batch
from surge.store import ARCHIVE_GRACE_MS, QUARANTINE_LENGTH, WAITING, Store, redact_url

# yesterday's UTC midnight: recent enough that retention keeps it, with a day either side
T0 = (time.time() // 86400 - 1) * 86400


def waiting(ts: float, value: float, scope: str = "trust") -> Sample:
    return Sample("calls.waiting", scope, ts, value)


def stored(store: Store, metric: str = "calls.waiting", scope: str = "trust",
           start: float = T0 - 86400, end: float = T0 + 86400):
    return store.series([(metric, scope)], start, end)[(metric, scope)]


def test_written_samples_come_back_in_order(store: Store) -> None:
    samples = [waiting(T0 + 60 * i, float(i)) for i in range(10)]
    result = store.write(list(reversed(samples)))
    assert result.accepted == 10 and result.duplicates == 0 and not result.late
    series = stored(store)
    assert list(series.ts) == [s.ts for s in samples]
    assert list(series.values) == [s.value for s in samples]


def test_writing_the_same_batch_twice_stores_it_once(store: Store, redis_client) -> None:
    samples = [waiting(T0 + 60 * i, float(i)) for i in range(10)]
    store.write(samples)
    size = redis_client.strlen(keys.chunk("calls.waiting", "trust", int(T0 // 86400)))
    again = store.write(samples)
    assert again.accepted == 0 and again.duplicates == 10 and not again.late
    assert redis_client.strlen(keys.chunk("calls.waiting", "trust", int(T0 // 86400))) == size
    assert len(stored(store)) == 10


def test_an_older_sample_with_a_new_value_is_rejected_as_late(store: Store) -> None:
    store.write([waiting(T0, 1.0), waiting(T0 + 120, 3.0)])
    result = store.write([waiting(T0 + 60, 2.0), waiting(T0, 9.0), waiting(T0 + 180, 4.0)])
    assert result.accepted == 1
    assert sorted(s.ts for s in result.late) == [T0, T0 + 60]
    assert list(stored(store).values) == [1.0, 3.0, 4.0]


def test_the_same_time_twice_in_one_batch_keeps_the_first(store: Store) -> None:
    result = store.write([waiting(T0, 1.0), waiting(T0, 1.0), waiting(T0, 5.0)])
    assert (result.accepted, result.duplicates, len(result.late)) == (1, 1, 1)
    assert list(stored(store).values) == [1.0]


def test_latest_holds_the_newest_of_every_series(store: Store) -> None:
    store.write([waiting(T0, 1.0), waiting(T0 + 60, 2.0), waiting(T0 + 30, 7.0, "EOC-N"),
                 Sample("ae.handover_queue", "RVJ", T0 + 5, 4.0)])
    store.write([waiting(T0 + 10, 9.0)])  # late: must not move latest backwards
    assert store.latest() == {
        ("calls.waiting", "trust"): (T0 + 60, 2.0),
        ("calls.waiting", "EOC-N"): (T0 + 30, 7.0),
        ("ae.handover_queue", "RVJ"): (T0 + 5, 4.0),
    }


def test_ranges_are_inclusive_and_cross_midnight(store: Store) -> None:
    samples = [waiting(T0 - 120 + 60 * i, float(i)) for i in range(5)]  # 23:58 .. 00:02
    store.write(samples)
    series = stored(store, start=T0 - 60, end=T0 + 60)
    assert list(series.ts) == [T0 - 60, T0, T0 + 60]
    assert len(stored(store, start=T0 + 61, end=T0 + 119)) == 0
    assert len(stored(store, start=T0 + 60, end=T0 - 60)) == 0


def test_series_reads_many_series_at_once_and_missing_ones_are_empty(store: Store) -> None:
    store.write([waiting(T0, 1.0), Sample("triage.waiting", "trust", T0, 5.0)])
    out = store.series([("calls.waiting", "trust"), ("triage.waiting", "trust"),
                        ("pts.on_time_pct", "trust")], T0 - 10, T0 + 10)
    assert [len(s) for s in out.values()] == [1, 1, 0]


def test_milliseconds_survive_the_round_trip(store: Store) -> None:
    store.write([waiting(T0 + 0.123, 1.5), waiting(T0 + 86399.999, 2.5)])
    assert list(stored(store).ts) == [pytest.approx(T0 + 0.123), pytest.approx(T0 + 86399.999)]


def test_day_chunks_expire_a_grace_period_after_leaving_the_hot_window(redis_client) -> None:
    """(They are archived, then deleted, as soon as they leave it: tests/surge/test_archive.py;
    expiry only stops the store filling should archiving stall.)"""
    store = Store(redis_client, retention=7 * 86400)
    store.write([waiting(T0 + 100, 1.0)])
    expiry_ms = redis_client.pexpiretime(keys.chunk("calls.waiting", "trust", int(T0 // 86400)))
    assert expiry_ms == (T0 + 86400 + 7 * 86400) * 1000 + ARCHIVE_GRACE_MS


def test_a_day_older_than_retention_and_the_grace_period_is_gone(redis_client) -> None:
    """Should archiving stall, a day leaves the store seven days after the hot window."""
    store = Store(redis_client, retention=86400)
    store.write([waiting(T0 - 9 * 86400 + 100, 1.0), waiting(T0 + 100, 2.0)])
    assert list(stored(store).values) == [2.0]


def test_events_are_kept_in_order_and_filtered(store: Store) -> None:
    store.append_event("feed_down", {"feed": "a"}, at=T0)
    store.append_event("level_changed", {"from": 1, "to": 2}, at=T0 + 1)
    store.append_event("feed_recovered", {"feed": "a"}, at=T0 + 2)
    assert [e.kind for e in store.events()] == ["feed_down", "level_changed", "feed_recovered"]
    feed_events = store.events(kinds={"feed_down", "feed_recovered"})
    assert [e.data["feed"] for e in feed_events] == ["a", "a"]
    assert store.events(count=1)[0].at == T0 + 2


def test_quarantine_is_bounded_and_keeps_the_reason(store: Store, redis_client) -> None:
    bad = [Rejection("unknown metric 'x'", {"metric": "x", "n": i})
           for i in range(QUARANTINE_LENGTH + 500)]
    store.record_poll("f", function="call_handling", interval=10, at=T0, rejected=bad)
    assert redis_client.xlen(keys.QUARANTINE) <= QUARANTINE_LENGTH + 200  # approximate trim
    newest = store.quarantined(1)[0]
    assert newest["reason"] == "unknown metric 'x'" and '"n": 10499' in newest["sample"]
    assert store.feed_status()[0].rejected == QUARANTINE_LENGTH + 500


def test_feed_health_follows_success_and_failure(store: Store) -> None:
    store.record_poll("sim", function="ae", interval=30, at=T0, accepted=5, late=1,
                      duplicates=2, newest_sample=T0 - 1)
    (status,) = store.feed_status()
    assert (status.accepted, status.late, status.duplicates) == (5, 1, 2)
    assert status.healthy(T0 + 60) and not status.healthy(T0 + 91)
    store.record_poll("sim", function="ae", interval=30, at=T0 + 30, error="timed out")
    store.record_poll("sim", function="ae", interval=30, at=T0 + 60, error="timed out again")
    (status,) = store.feed_status()
    assert not status.healthy(T0 + 61)
    assert status.down_since == T0 + 30 and status.last_error == "timed out again"
    store.record_poll("sim", function="ae", interval=30, at=T0 + 90)
    (status,) = store.feed_status()
    assert status.healthy(T0 + 91) and status.down_since is None


def test_a_feed_taken_on_but_never_heard_from_is_listed_waiting_then_unhealthy(
        store: Store) -> None:
    store.expect_feeds([("cad-push", "call_handling", 60.0)], at=T0)
    (status,) = store.feed_status()
    assert (status.name, status.function, status.state, status.polls) == (
        "cad-push", "call_handling", WAITING, 0)
    assert status.healthy(T0 + 180) and not status.healthy(T0 + 181)  # three intervals
    store.record_poll("cad-push", function="call_handling", interval=60, at=T0 + 200)
    store.expect_feeds([("cad-push", "call_handling", 60.0)], at=T0 + 300)  # worker restarted
    (status,) = store.feed_status()
    assert status.state == "up" and status.expected_since == T0
    assert status.healthy(T0 + 380) and not status.healthy(T0 + 381)  # from its last push


def test_a_server_that_can_evict_gets_a_warning(store: Store, redis_client) -> None:
    before = redis_client.config_get("maxmemory-policy")["maxmemory-policy"]
    try:
        redis_client.config_set("maxmemory-policy", "noeviction")
        assert store.eviction_warning() is None
        redis_client.config_set("maxmemory-policy", "allkeys-lru")
        assert "allkeys-lru" in (store.eviction_warning() or "")
    finally:
        redis_client.config_set("maxmemory-policy", before)


def test_one_worker_holds_the_lease_until_it_lapses_or_is_released(store: Store) -> None:
    assert store.worker() is None
    assert store.acquire_lease("a", ttl=0.3)
    assert not store.acquire_lease("b", ttl=0.3), "a second worker must stand by"
    assert store.renew_lease("a", ttl=0.3) and not store.renew_lease("b", ttl=0.3)
    store.worker_beat("a", {"pid": 42}, ttl=0.3)
    store.worker_beat("b", {"pid": 43}, ttl=0.3)
    assert [(w.id, w.active) for w in store.workers()] == [("a", True), ("b", False)]
    assert store.worker()["pid"] == "42"
    time.sleep(0.4)  # a lapses: nobody renewed
    assert store.workers() == [] and store.lease_holder() is None
    assert store.acquire_lease("b", ttl=5) and store.lease_holder() == "b"
    assert not store.renew_lease("a", ttl=5), "a lapsed worker must not take the lease back"
    store.release_lease("a")  # not its lease: nothing happens
    assert store.lease_holder() == "b"
    store.release_lease("b")
    assert store.lease_holder() is None


def test_an_unreachable_store_says_where_it_looked() -> None:
    store = Store.connect("redis://:secret@127.0.0.1:1/0")
    with pytest.raises(StoreUnavailable) as err:
        store.ping()
    assert "127.0.0.1:1" in str(err.value) and "secret" not in str(err.value)
    with pytest.raises(StoreUnavailable):
        store.latest()


def test_an_invalid_url_is_a_clear_error() -> None:
    with pytest.raises(StoreUnavailable, match="invalid store URL"):
        Store.connect("redis://host:notaport")


def test_redact_url_hides_passwords_only() -> None:
    assert redact_url("rediss://app:pw@host:6380/1") == "rediss://app:***@host:6380/1"
    assert redact_url("redis://host:6379") == "redis://host:6379"
    # a port that is not a number is still shown (for the error), the password never
    assert redact_url("redis://app:pw@host:abc/0") == "redis://app:***@host:abc/0"


def test_a_url_with_user_and_password_authenticates(redis_url: str, redis_client) -> None:
    if not redis_url.startswith("redis://127.0.0.1"):
        pytest.skip("creates an ACL user; only on the disposable local server")
    port = redis_url.rsplit(":", 1)[1]
    redis_client.acl_setuser("surgetest", enabled=True, passwords=["+pw-for-test-only"],
                             categories=["+@all"], keys=["*"], channels=["*"])
    try:
        store = Store.connect(f"redis://surgetest:pw-for-test-only@127.0.0.1:{port}/0")
        store.ping()
        store.write([waiting(T0, 1.0)])
        assert store.latest()
        with pytest.raises(redis.AuthenticationError):
            Store.connect(f"redis://surgetest:wrong@127.0.0.1:{port}/0").client.ping()
    finally:
        redis_client.acl_deluser("surgetest")


def test_the_same_time_twice_in_one_batch_keeps_the_first_in_the_batch(store: Store) -> None:
    result = store.write([waiting(T0, 5.0), waiting(T0 + 60, 2.0), waiting(T0, 1.0),
                          waiting(T0, 5.0)])
    assert (result.accepted, result.duplicates) == (2, 1)
    assert result.late == [waiting(T0, 1.0)]
    assert list(stored(store).values) == [5.0, 2.0]


def test_a_batch_that_is_not_all_floats_is_stored_the_same(store: Store) -> None:
    batch = [waiting(T0 + 60, 2), waiting(T0, 1), Sample("calls.waiting", "trust", T0, 1)]
    assert Store._grouped_columns(batch) is None  # grouped one sample at a time
    result = store.write(batch)
    assert (result.accepted, result.duplicates, result.late) == (2, 1, [])
    assert list(stored(store).values) == [1.0, 2.0]


def as_stored(value: float) -> bytes:
    return struct.pack("<d", value)


def model_writes(batches: list[list[Sample]]) -> list[tuple[int, int, list[Sample], list[tuple]]]:
    """What the store promises for each batch, worked out one sample at a time: accepted,
    duplicates, late samples, and the records stored (the batch notice) in the order sent."""
    chunks: dict[tuple[str, str, int], dict[int, bytes]] = {}
    newest: dict[tuple[str, str], int] = {}
    out = []
    for batch in batches:
        rows: dict[tuple[str, str, int], list[tuple[int, float, int]]] = {}
        for i, (metric, scope, ts, value) in enumerate(batch):
            ms = round(ts * 1000)
            rows.setdefault((metric, scope, ms // keys.DAY_MS), []).append((ms, value, i))
        accepted = duplicates = 0
        late: list[Sample] = []
        notice: list[tuple] = []
        in_batch_late: list[Sample] = []
        for (metric, scope, day), group in sorted(rows.items()):
            group.sort(key=lambda row: row[0])
            first_at: dict[int, float] = {}
            chunk = chunks.setdefault((metric, scope, day), {})
            for ms, value, i in group:
                if ms in first_at:
                    if value == first_at[ms]:
                        duplicates += 1
                    else:
                        in_batch_late.append(batch[i])
                    continue
                first_at[ms] = value
                if ms > newest.get((metric, scope), -1):
                    newest[(metric, scope)] = ms
                    chunk[ms] = as_stored(value)
                    accepted += 1
                    notice.append((metric, scope, ms, as_stored(value)))
                elif chunk.get(ms) == as_stored(value):
                    duplicates += 1
                else:
                    late.append(batch[i])
        out.append((accepted, duplicates, in_batch_late + late, notice))
    return out


SERIES = [("calls.waiting", "trust"), ("calls.waiting", "EOC-N"), ("ae.handover_queue", "RVJ")]
TIMES = [T0 - 60, T0 - 0.001, T0 - 0.0005, T0, T0 + 0.0005, T0 + 0.0015, T0 + 1, T0 + 60]


def plain(grouped: tuple | None) -> tuple | None:
    """A grouped batch with its sequence of batch indexes as a list, to compare."""
    return None if grouped is None else (*grouped[:2], list(grouped[2]), *grouped[3:])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(st.builds(
    lambda series, ts, value: Sample(*series, ts, value), st.sampled_from(SERIES),
    st.sampled_from(TIMES), st.sampled_from([0.0, -0.0, 1.0, 2.5, 1])), max_size=25),
    min_size=1, max_size=3))
def test_writes_keep_the_promises_of_the_store(store: Store, redis_client, catalogue: Catalogue,
                                               batches: list[list[Sample]]) -> None:
    redis_client.flushdb()
    for i, (batch, (accepted, duplicates, late, notice)) in enumerate(
            zip(batches, model_writes(batches), strict=True)):
        columns = Store._grouped_columns(batch)
        if columns is not None:  # numpy and the loop group a batch the same way
            assert plain(columns) == plain(Store._grouped_rows(batch))
        checked = check_batch(batch, catalogue, None, math.inf)
        assert checked.good == batch and (checked.columns is not None or not batch)
        if batch:  # and so do the columns the checks took, which a feed's batch is written with
            assert plain(Store._grouped_columns(batch, checked.columns)) == plain(
                Store._grouped_rows(batch))
        mark = store.last_notice()
        result = store.write(batch, columns=checked.columns if i % 2 else None)
        assert (result.accepted, result.duplicates) == (accepted, duplicates)
        assert result.late == late
        sent = [(s.metric, s.scope, round(s.ts * 1000), as_stored(s.value))
                for n in store.notices(mark) for s in n.samples]
        assert sent == notice
    everything = {}
    for _, _, _, notice in model_writes(batches):
        for metric, scope, ms, value in notice:
            everything.setdefault((metric, scope), []).append((ms, value))
    series = store.series(SERIES, T0 - 86400, T0 + 86400)
    for key in SERIES:
        expected = sorted(everything.get(key, []))
        assert [(round(t * 1000), as_stored(v)) for t, v in zip(series[key].ts.tolist(),
                                                                  series[key].values.tolist(),
                                                                  strict=True)] == expected
    assert {k: (round(t * 1000), as_stored(v)) for k, (t, v) in store.latest().items()} == {
        k: v[-1] for k, v in everything.items()}


def test_a_large_shuffled_batch_is_grouped_the_same_with_numpy_and_one_by_one() -> None:
    rng = random.Random(7)
    batch = [Sample(*rng.choice(SERIES), T0 + rng.randrange(-600, 600) / 4, rng.choice([1.0, 2.0]))
             for _ in range(3000)]
    columns = Store._grouped_columns(batch)
    assert columns is not None and plain(columns) == plain(Store._grouped_rows(batch))
    groups, _, sent, duplicates, late_at = columns
    assert len(groups) == 6 and len(sent) + duplicates + len(late_at) == len(batch)
