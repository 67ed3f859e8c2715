"""The store: Redis (or Valkey) as the system of record for samples, events and feed health.

This is the only module that talks to Redis; key names come from ``surge.keys``.

Out-of-order samples are handled deliberately: a sample is stored only when it is newer than
its series' newest stored sample. An older sample that is already stored, with the same
value, is a duplicate and is ignored (so re-sending a batch is harmless); any other older
sample is rejected as *late* and counted, never inserted into the past.
"""

from __future__ import annotations

import itertools
import json
import math
import struct
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import redis

from surge import _lua, keys
from surge.catalogue import Catalogue
from surge.errors import LeaseLost, StoreUnavailable
from surge.levels import PublishedLevel, parse_levels
from surge.samples import Rejection, Sample, SampleColumns

__all__ = [
    "ARCHIVE_GRACE_MS",
    "DEFAULT_RETENTION",
    "FEED_STATES",
    "REJECTION_REASONS",
    "WAITING",
    "BatchNotice",
    "Event",
    "FeedStatus",
    "Series",
    "Store",
    "WorkerInfo",
    "WriteResult",
    "redact_url",
    "rejection_reason",
]

DEFAULT_RETENTION = 35 * 86400
ARCHIVE_GRACE_MS = 7 * 86_400_000  # a day's samples outlive the hot window by this, should
# archiving stall (surge.archive trims them as soon as they are archived)
QUARANTINE_LENGTH = 10_000
FEED_STATES = ("up", "degraded", "down")  # a feed's state, as the poller records it
WAITING = "waiting"  # the state of a feed taken on that has not been polled (or pushed to) yet
REJECTED_PREFIX = "rejected:"  # feed hash fields counting rejections by category
MAX_BATCH = 20_000  # samples per script call, so one call never holds the server for long
NOTICE_LENGTH = 5_000  # batch notices kept (approx.): the engine reads them within seconds
RECORD = np.dtype([("ms", "<u4"), ("value", "<f8")])
_VALUE = struct.Struct("<d")

Clock = Callable[[], float]
SeriesKey = tuple[str, str]  # (metric, scope)


@dataclass(frozen=True)
class WriteResult:
    accepted: int
    duplicates: int
    late: list[Sample] = field(default_factory=list)
    notices: tuple[str, ...] = ()  # ids of the batch notices written (one per script call)


@dataclass(frozen=True)
class BatchNotice:
    """A stored batch, as the rules engine learns of it: who wrote it and what was stored."""

    id: str
    source: str
    samples: list[Sample]


@dataclass(frozen=True)
class Series:
    """Samples of one series in time order: ts in seconds (UTC epoch) and values."""

    ts: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(frozen=True)
class Event:
    id: str
    kind: str
    at: float  # seconds since the epoch, UTC
    data: dict[str, Any]


@dataclass(frozen=True)
class WorkerInfo:
    """A live worker process: its id, whether it is the active one, and what it reported."""

    id: str
    active: bool
    info: dict[str, Any]


@dataclass(frozen=True)
class FeedStatus:
    """What the worker last recorded about one feed.

    ``state`` is the poller's (feeds/poller.py): ``up`` (the last poll succeeded),
    ``degraded`` (it failed, but fewer polls in a row than take the feed down) or ``down``.
    ``down_since`` is set only while the feed is down, to when its run of failed polls
    began. The counters are totals since the feed was first polled; records written before
    a field existed read with its default.
    """

    name: str
    function: str
    interval: float
    last_success: float | None
    last_attempt: float | None
    last_error: str | None
    last_error_at: float | None
    last_sample: float | None
    accepted: int
    rejected: int
    late: int
    duplicates: int
    down_since: float | None
    state: str = "up"
    failures: int = 0  # failed polls in a row; 0 after a success
    failing_since: float | None = None  # when that run of failed polls began
    polls: int = 0
    failed_polls: int = 0
    retries: int = 0  # fetch attempts beyond each poll's first, over every poll
    last_attempts: int = 0  # fetch attempts the last poll made
    last_duration: float | None = None  # real seconds the last poll took, retries included
    rejected_by_reason: Mapping[str, int] = field(default_factory=dict)  # REJECTION_REASONS
    # when a worker first took the feed on (expect_feeds): a feed nothing has been received
    # from yet (state WAITING) is unhealthy once it has been waiting three intervals
    expected_since: float | None = None

    def healthy(self, now: float) -> bool:
        """Polled successfully within three intervals (at least a minute) and not down; a
        feed never heard from is given three intervals from when it was taken on."""
        if self.down_since is not None:
            return False
        last = self.last_success if self.last_success is not None else self.expected_since
        return last is not None and now - last <= max(3 * self.interval, 60.0)


class Store:
    """Reads and writes Surge's data in one Redis database."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        retention: float = DEFAULT_RETENTION,
        clock: Clock = time.time,
        where: str = "",
    ) -> None:
        self.client = client
        self.retention = retention
        self.clock = clock
        self.where = where or "the store"
        self._write = client.register_script(_lua.WRITE)
        self._range = client.register_script(_lua.RANGE)
        self._renew = client.register_script(_lua.RENEW_LEASE)
        self._release = client.register_script(_lua.RELEASE_LEASE)
        self._last_ids = client.register_script(_lua.LAST_IDS)

    @classmethod
    def connect(cls, url: str, **kwargs: Any) -> Store:
        """A store on the server at ``url`` (redis://, rediss://, unix://)."""
        try:
            client = redis.Redis.from_url(
                url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=30
            )
        except ValueError as exc:
            raise StoreUnavailable(f"invalid store URL {redact_url(url)!r}: {exc}") from None
        return cls(client, where=redact_url(url), **kwargs)

    def close(self) -> None:
        self.client.close()

    # --- health of the store itself ---------------------------------------------------

    def ping(self) -> None:
        """Raise StoreUnavailable unless the server answers."""
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise StoreUnavailable(f"cannot reach {self.where}: {exc}") from None

    def server_info(self) -> dict[str, Any]:
        info = self._call(self.client.info, "server")
        return {k: info.get(k) for k in ("redis_version", "valkey_version", "server_name")
                if info.get(k) is not None}

    def eviction_warning(self) -> str | None:
        """A warning when the server may evict keys under memory pressure (losing history)."""
        try:
            policy = self._call(self.client.config_get, "maxmemory-policy")
        except (StoreUnavailable, redis.ResponseError):
            return None  # CONFIG may be disabled on managed servers; nothing to check then
        value = policy.get("maxmemory-policy") or policy.get(b"maxmemory-policy")
        if isinstance(value, bytes):
            value = value.decode()
        if value and value != "noeviction":
            return (f"{self.where} has maxmemory-policy {value}: when it fills, it will evict "
                    f"keys and history will be lost. Set maxmemory-policy noeviction.")
        return None

    # --- samples ----------------------------------------------------------------------

    def write(self, samples: Sequence[Sample], source: str = "",
              columns: SampleColumns | None = None) -> WriteResult:
        """Store samples newer than their series' newest; report duplicates and late ones.

        What is accepted is also announced, atomically, as a batch notice (``notices``), so
        the rules engine evaluates it whichever process wrote it. ``columns``: the same
        samples as columns, as check_batch took them (ignored unless as many)."""
        if columns is not None and len(columns) != len(samples):
            columns = None
        accepted = duplicates = 0
        late: list[Sample] = []
        notices: list[str] = []
        for start in range(0, len(samples), MAX_BATCH):
            part = samples[start:start + MAX_BATCH]
            a, d, lt, notice = self._write_part(
                part, source, None if columns is None else columns.part(start, start + MAX_BATCH))
            accepted += a
            duplicates += d
            late.extend(lt)
            if notice:
                notices.append(notice)
        return WriteResult(accepted, duplicates, late, tuple(notices))

    def _write_part(self, samples: Sequence[Sample], source: str,
                    columns: SampleColumns | None) -> tuple[int, int, list[Sample], str | None]:
        grouped = self._grouped_columns(samples, columns) or self._grouped_rows(samples)
        groups, packed, sent, duplicates, late_at = grouped
        script_keys = [keys.LATEST, keys.BATCHES]
        for metric, scope, day, _ in groups:
            script_keys.append(keys.chunk(metric, scope, day))
        header = "".join([f"{keys.series_field(metric, scope)}\n{day * keys.DAY_MS}\n{count}\n"
                          for metric, scope, day, count in groups])
        # a day's chunk is kept until the end of its day plus the retention period (and a
        # grace period: surge.archive deletes it once archived)
        keep_ms = keys.DAY_MS + int(self.retention * 1000) + ARCHIVE_GRACE_MS
        args = [source or "-", NOTICE_LENGTH, keep_ms, header, packed]
        late = [samples[i] for i in late_at]
        if not len(sent):
            return 0, duplicates, late, None
        accepted, dup, late_positions, notice = self._call(self._write, keys=script_keys,
                                                           args=args)
        late += [samples[sent[p]] for p in late_positions]
        return (int(accepted), duplicates + int(dup), late,
                notice.decode() if notice else None)

    # What the write script is sent for a batch: its groups, one per series and day, in the
    # order of (metric, scope, day), each (metric, scope, day, number of records); the
    # records of every group, one after the other, each group's in strictly increasing time;
    # the batch index of every record sent, in the order sent; the in-batch duplicates
    # counted; the batch index of each sample late within the batch. The same time twice in
    # one series in one batch: the first sample in the batch wins, a later one with an equal
    # value is a duplicate, any other is late.
    _Grouped = tuple[list[tuple[str, str, int, int]], bytes, Sequence[int] | np.ndarray, int,
                     list[int]]

    @staticmethod
    def _grouped_columns(samples: Sequence[Sample],
                         columns: SampleColumns | None = None) -> Store._Grouped | None:
        """The batch grouped with numpy: for a batch of samples of text and numbers (taken as
        float64, as they are stored) at sane times, which is every batch check_samples lets
        through; None for any other. ``columns``, when given, are the batch's own (from
        check_batch), so they are not taken again."""
        n = len(samples)
        if columns is None:
            columns = SampleColumns.of(samples)
        if columns is None or not n:
            return None
        ts, value = columns.ts, columns.value
        # series numbered in (metric, scope) order, so sorting by number sorts by name
        metric_of, m = Store._sorted_codes(columns.metric_names, columns.metric)
        scope_of, s = Store._sorted_codes(columns.scope_names, columns.scope)
        ms_float = np.rint(ts * 1000)  # as round(ts * 1000): half to even
        if not np.all(np.abs(ms_float) < 2.0 ** 53):  # NaN fails this too
            return None
        ms = ms_float.astype(np.int64)
        order, ms, series = Store._by_series_and_time(m, s, len(scope_of), ms)
        value = value[order]
        again = np.zeros(n, dtype=bool)  # the same series and time as the sample before
        again[1:] = (ms[1:] == ms[:-1]) & (series[1:] == series[:-1])
        late_at: list[int] = []
        duplicates = 0
        if again.any():
            first_at = np.maximum.accumulate(np.where(again, 0, np.arange(n)))
            duplicate = again & (value == value[first_at])
            late_at = order[again & ~duplicate].tolist()
            duplicates = int(duplicate.sum())
            kept = ~again
            order, ms, series, value = order[kept], ms[kept], series[kept], value[kept]
        day = ms // keys.DAY_MS
        records = np.empty(len(order), dtype=RECORD)
        records["ms"] = ms - day * keys.DAY_MS
        records["value"] = value
        starts = np.flatnonzero(np.r_[True, (series[1:] != series[:-1]) | (day[1:] != day[:-1])])
        counts = np.diff(np.r_[starts, len(order)])
        groups = [(metric_of[sr // len(scope_of)], scope_of[sr % len(scope_of)], d, count)
                  for sr, d, count in zip(series[starts].tolist(), day[starts].tolist(),
                                          counts.tolist(), strict=True)]
        return groups, records.tobytes(), order, duplicates, late_at

    @staticmethod
    def _by_series_and_time(m: np.ndarray, s: np.ndarray, scopes: int,
                            ms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The order that sorts a batch by series (numbered by metric, then scope) then time,
        keeping batch order at the same time; and the series and times in that order.

        A feed's batch is usually in time order already, so a stable sort by series alone (a
        radix sort, when the series fit in 16 bits) mostly suffices: that is checked, and
        the batch sorted by both otherwise."""
        if (int(m.max()) + 1) * scopes <= 1 << 16:
            series = m.astype(np.uint16) * np.uint16(scopes) + s.astype(np.uint16)
            order = np.argsort(series, kind="stable")
            by_series, at = series[order], ms[order]
            if np.all((at[1:] >= at[:-1]) | (by_series[1:] != by_series[:-1])):
                return order, at, by_series.astype(np.int64)
        series = m.astype(np.int64) * scopes + s
        order = np.lexsort((ms, series))
        return order, ms[order], series[order]

    @staticmethod
    def _sorted_codes(names: list[str], codes: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Names and codes renumbered so that the names are in sorted order."""
        if all(a < b for a, b in itertools.pairwise(names)):  # as the catalogue numbers them
            return names, codes
        by_name = sorted(range(len(names)), key=names.__getitem__)
        rank = np.empty(len(names), dtype=np.int64)
        rank[by_name] = np.arange(len(names))
        return [names[i] for i in by_name], rank[codes]

    @staticmethod
    def _grouped_rows(samples: Sequence[Sample]) -> Store._Grouped:
        """The batch grouped one sample at a time: for any batch."""
        rows_of: dict[tuple[str, str, int], list[tuple[int, float, int]]] = defaultdict(list)
        for i, (metric, scope, ts, value) in enumerate(samples):
            ms = round(ts * 1000)
            rows_of[(metric, scope, ms // keys.DAY_MS)].append((ms, value, i))
        groups: list[tuple[str, str, int, int]] = []
        packed: list[bytes] = []
        sent: list[int] = []
        duplicates = 0
        late_at: list[int] = []
        for (metric, scope, day), rows in sorted(rows_of.items(), key=lambda kv: kv[0]):
            rows.sort(key=lambda row: row[0])  # stable: batch order kept
            daybase = day * keys.DAY_MS
            flat: list[float | int] = []
            previous: tuple[int, float] | None = None
            for ms, value, i in rows:
                if previous is not None and ms == previous[0]:
                    if value == previous[1]:
                        duplicates += 1
                    else:
                        late_at.append(i)
                    continue
                previous = (ms, value)
                flat += (ms - daybase, value)
                sent.append(i)
            groups.append((metric, scope, day, len(flat) // 2))
            packed.append(struct.pack("<" + "Id" * (len(flat) // 2), *flat))
        return groups, b"".join(packed), sent, duplicates, late_at

    # --- batch notices: how the rules engine learns of every stored batch --------------

    def last_notice(self) -> str:
        """The id of the newest batch notice ("0-0" when there is none)."""
        raw = self._call(self.client.xrevrange, keys.BATCHES, "+", "-", count=1)
        return raw[0][0].decode() if raw else "0-0"

    def oldest_notice(self) -> str | None:
        raw = self._call(self.client.xrange, keys.BATCHES, "-", "+", count=1)
        return raw[0][0].decode() if raw else None

    def notices(self, after: str, block_ms: int | None = None,
                count: int = 500) -> list[BatchNotice]:
        """Batch notices after the id ``after``, oldest first; waits up to block_ms for one."""
        if block_ms is not None:
            raw = self._call(self.client.xread, {keys.BATCHES: after}, count=count,
                             block=block_ms)
            entries = raw[0][1] if raw else []
        else:
            entries = self._call(self.client.xrange, keys.BATCHES, f"({after}", "+",
                                 count=count)
        return [_notice(i.decode(), f) for i, f in entries]

    def latest(self) -> dict[SeriesKey, tuple[float, float]]:
        """(timestamp, value) of the newest sample of every series, in one round trip."""
        raw = self._call(self.client.hgetall, keys.LATEST)
        out: dict[SeriesKey, tuple[float, float]] = {}
        for field_name, value in raw.items():
            head, _, packed = value.partition(b"|")
            out[keys.split_series_field(field_name.decode())] = (
                int(head) / 1000, _VALUE.unpack(packed)[0])
        return out

    def series(self, wanted: Iterable[SeriesKey], start: float, end: float) -> dict[SeriesKey, Series]:
        """Samples with start <= ts <= end for each wanted series, in one round trip."""
        wanted = list(dict.fromkeys(wanted))
        start_ms, end_ms = math.floor(start * 1000), math.floor(end * 1000)
        if end_ms < start_ms:
            return {k: _empty() for k in wanted}
        chunk_keys: list[str] = []
        bounds: list[int] = []
        owners: list[tuple[SeriesKey, int]] = []
        for metric, scope in wanted:
            for day in range(start_ms // keys.DAY_MS, end_ms // keys.DAY_MS + 1):
                base = day * keys.DAY_MS
                chunk_keys.append(keys.chunk(metric, scope, day))
                bounds += (max(start_ms - base, 0), min(end_ms - base, keys.DAY_MS - 1))
                owners.append(((metric, scope), base))
        blobs = self._call(self._range, keys=chunk_keys, args=bounds) if chunk_keys else []
        parts: dict[SeriesKey, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
        for (key, base), blob in zip(owners, blobs, strict=True):
            if blob:
                rec = np.frombuffer(blob, dtype=RECORD)
                parts[key].append(((rec["ms"].astype(np.int64) + base) / 1000.0, rec["value"]))
        out = {}
        for key in wanted:
            if parts[key]:
                out[key] = Series(np.concatenate([p[0] for p in parts[key]]),
                                  np.concatenate([p[1] for p in parts[key]]))
            else:
                out[key] = _empty()
        return out

    # --- events: the timeline of record ----------------------------------------------
    # Stream ids follow the time of each event (_lua.APPEND_EVENTS): an event is appended
    # with id max(its ms, the last id's ms)-seq. So a read of a time range is a read of an
    # id range, never a scan of the stream. An event is "filed" under its own time when it
    # was recorded within EVENT_MARGIN of the newest before it; under when it was recorded
    # (its id) otherwise. A range read takes ids from start to end + EVENT_MARGIN and keeps
    # what is filed in the range: every event is in exactly one of two adjacent ranges.

    EVENT_MARGIN = 3600.0  # seconds; see docs/events.md
    EVENT_BATCH = 2_000  # events per script call, so one call never holds the server for long
    EVENT_PAGE = 1_000  # entries per range read

    def append_event(self, kind: str, data: Mapping[str, Any], at: float | None = None) -> str:
        """Append to the timeline; returns the event id."""
        when = self.clock() if at is None else at
        return self.append_events([(kind, data, when)])[0]

    def append_events(self, events: Sequence[tuple[str, Mapping[str, Any], float]]) -> list[str]:
        """Append several (kind, data, at) events in one transaction, in order; their ids.

        ``surge.events.encode`` turns a typed event into such a triple."""
        if not events:
            return []
        pipe = self.client.pipeline(transaction=True)
        self._queue_events(pipe, events)
        return [i.decode() for ids in self._call(pipe.execute) for i in ids]

    def events(self, start: float | None = None, end: float | None = None,
               kinds: Iterable[str] | None = None, count: int | None = None) -> list[Event]:
        """Events filed between start and end (inclusive), optionally of some kinds; only
        the newest ``count`` when given; in the order recorded."""
        wanted = set(kinds) if kinds is not None else None
        low = "-" if start is None else str(max(math.floor(start * 1000), 0))
        high = "+" if end is None else str(self._event_ms(end) + round(self.EVENT_MARGIN * 1000))
        out: list[Event] = []
        for event_id, fields in self._event_entries(low, high, newest_first=bool(count)):
            kind = fields[b"kind"].decode()
            if wanted is not None and kind not in wanted:
                continue
            event = Event(event_id.decode(), kind, float(fields[b"at"]),
                          json.loads(fields[b"data"]))
            filed = self.filed_at(event)
            if (start is not None and filed < start) or (end is not None and filed > end):
                continue
            out.append(event)
            if count and len(out) == count:
                break
        return out[::-1] if count else out

    def events_before(self, end: float, kinds: Iterable[str]) -> Iterator[Event]:
        """Events of some kinds filed before ``end``, newest first, read a page at a time as
        the caller goes on: a reader that finds what it wants early reads no further."""
        wanted = set(kinds)
        high = str(self._event_ms(end) + round(self.EVENT_MARGIN * 1000))
        for event_id, fields in self._event_entries("-", high, newest_first=True):
            kind = fields[b"kind"].decode()
            if kind not in wanted:
                continue
            event = Event(event_id.decode(), kind, float(fields[b"at"]),
                          json.loads(fields[b"data"]))
            if self.filed_at(event) < end:
                yield event

    def _queue_events(self, pipe: Any, events: Sequence[tuple[str, Mapping[str, Any], float]]) -> None:
        """Queue the appends on ``pipe``: a store method can write events in the same
        transaction as the state they describe."""
        script = self.client.register_script(_lua.APPEND_EVENTS)
        for start in range(0, len(events), self.EVENT_BATCH):
            args: list[Any] = []
            for kind, data, at in events[start:start + self.EVENT_BATCH]:
                args += (self._event_ms(at), kind, repr(float(at)), json.dumps(data, default=str))
            script(keys=[keys.EVENTS], args=args, client=pipe)

    def _event_entries(self, low: str, high: str,
                       newest_first: bool = False) -> Iterable[tuple[bytes, dict[bytes, bytes]]]:
        """Raw entries with low <= id <= high, a page at a time, so a reader that stops
        early reads no further."""
        while True:
            if newest_first:
                page = self._call(self.client.xrevrange, keys.EVENTS, high, low,
                                  count=self.EVENT_PAGE)
            else:
                page = self._call(self.client.xrange, keys.EVENTS, low, high,
                                  count=self.EVENT_PAGE)
            yield from page
            if len(page) < self.EVENT_PAGE:
                return
            last = "(" + page[-1][0].decode()
            high, low = (last, low) if newest_first else (high, last)

    @staticmethod
    def _event_ms(at: float) -> int:
        """An event's time in whole ms, rounded up (so its id is never before it)."""
        return max(math.ceil(at * 1000), 0)

    def filed_at(self, event: Event) -> float:
        """The time an event is found by: its own, unless it was recorded late."""
        recorded = int(event.id.partition("-")[0])
        if recorded - self._event_ms(event.at) > round(self.EVENT_MARGIN * 1000):
            return recorded / 1000
        return event.at

    # --- the archive frontier (surge.archive) -------------------------------------------

    def archive_frontier(self) -> int | None:
        """The first UTC day (days since 1970-01-01) still in the store: every earlier one is
        in the archive. None: nothing was ever archived."""
        raw = self._call(self.client.hget, keys.ARCHIVE, "frontier")
        return None if raw is None else int(raw)

    def archive_state(self) -> dict[str, str]:
        return self._decoded(self._call(self.client.hgetall, keys.ARCHIVE))

    def note_archive_error(self, error: str | None, at: float) -> None:
        if error is None:
            self._call(self.client.hdel, keys.ARCHIVE, "last_error", "last_error_at")
        else:
            self._call(self.client.hset, keys.ARCHIVE,
                       mapping={"last_error": error, "last_error_at": repr(at)})

    def oldest_event_ms(self) -> int | None:
        first = self._call(self.client.xrange, keys.EVENTS, "-", "+", count=1)
        return int(first[0][0].decode().partition("-")[0]) if first else None

    def chunk_days(self) -> set[int]:
        """Every UTC day some series has samples of in the store (one SCAN of the keys)."""
        found = set()
        for key in self._call(lambda: list(self.client.scan_iter(match=keys.CHUNK_MATCH,
                                                                   count=1000))):
            found.add(int(key.rpartition(b":")[2]))
        return found

    def all_series(self) -> list[SeriesKey]:
        """Every series ever written (each has a latest value), in a stable order."""
        return sorted(keys.split_series_field(f.decode())
                      for f in self._call(self.client.hkeys, keys.LATEST))

    def trim_archived(self, day: int, series: Iterable[SeriesKey],
                      events: Sequence[tuple[str, Mapping[str, Any], float]] = ()) -> bool:
        """Drop an archived day from the store: its samples, the events before the next day
        (every one is filed on or before this day), move the frontier past it and append
        ``events``, in one transaction. False (nothing done) when the frontier is past this
        day or was moved meanwhile: another process is archiving."""
        chunks = [keys.chunk(m, s, day) for m, s in series]
        expected = self.archive_frontier()
        if expected is not None and expected > day:
            return False

        def now(pipe: Any) -> int | None:
            raw = pipe.hget(keys.ARCHIVE, "frontier")
            return None if raw is None else int(raw)

        def write(pipe: Any) -> None:
            if chunks:
                pipe.delete(*chunks)
            pipe.xtrim(keys.EVENTS, minid=str((day + 1) * keys.DAY_MS), approximate=False)
            pipe.hset(keys.ARCHIVE, mapping={"frontier": day + 1,
                                             "archived_at": repr(self.clock())})

        return self._swap(keys.ARCHIVE, now, expected, write, events) is not None

    # --- feeds ------------------------------------------------------------------------

    def record_poll(
        self,
        feed: str,
        *,
        function: str,
        interval: float,
        at: float,
        error: str | None = None,
        accepted: int = 0,
        rejected: Sequence[Rejection] = (),
        late: int = 0,
        duplicates: int = 0,
        newest_sample: float | None = None,
        attempts: int = 1,
        duration: float | None = None,
        state: str | None = None,
        failing_since: float | None = None,
    ) -> None:
        """Record one poll of a feed: success or error, counts, state and quarantined samples.

        ``state`` is the feed's state after this poll, as the poller decided it (one of
        FEED_STATES); None records a single poll's view: down on an error, up otherwise.
        While it is down, ``down_since`` keeps the value it was first given:
        ``failing_since`` (when the run of failed polls began; default ``at``). Rejections
        are counted in all and by REJECTION_REASONS category.
        """
        if state is None:
            state = "up" if error is None else "down"
        if state not in FEED_STATES:
            raise ValueError(f"feed state must be one of {', '.join(FEED_STATES)}, got {state!r}")
        began = f"{at if failing_since is None else failing_since:.3f}"
        key = keys.feed(feed)
        pipe = self.client.pipeline(transaction=True)
        pipe.sadd(keys.FEEDS, feed)
        pipe.hset(key, mapping={"function": function, "interval": interval,
                                "last_attempt": f"{at:.3f}", "state": state,
                                "last_attempts": attempts})
        if duration is not None:
            pipe.hset(key, "last_duration", f"{duration:.3f}")
        pipe.hincrby(key, "polls", 1)
        if attempts > 1:
            pipe.hincrby(key, "retries", attempts - 1)
        if error is None:
            pipe.hset(key, mapping={"last_success": f"{at:.3f}", "failures": 0})
            pipe.hdel(key, "failing_since")
        else:
            pipe.hset(key, mapping={"last_error": error[:500], "last_error_at": f"{at:.3f}"})
            pipe.hincrby(key, "failed_polls", 1)
            pipe.hincrby(key, "failures", 1)
            pipe.hsetnx(key, "failing_since", began)
        if state == "down":
            pipe.hsetnx(key, "down_since", began)
        else:
            pipe.hdel(key, "down_since")
        if newest_sample is not None:
            pipe.hset(key, "last_sample", f"{newest_sample:.3f}")
        for name, n in (("accepted", accepted), ("rejected", len(rejected)), ("late", late),
                        ("duplicates", duplicates)):
            if n:
                pipe.hincrby(key, name, n)
        for reason, n in Counter(rejection_reason(r.reason) for r in rejected).items():
            pipe.hincrby(key, REJECTED_PREFIX + reason, n)
        for rejection in rejected:
            pipe.xadd(keys.QUARANTINE,
                      {"feed": feed, "at": f"{at:.3f}", "reason": rejection.reason,
                       "sample": json.dumps(rejection.raw, default=repr)[:2000]},
                      maxlen=QUARANTINE_LENGTH, approximate=True)
        self._call(pipe.execute)

    def expect_feeds(self, feeds: Iterable[tuple[str, str, float]], at: float) -> None:
        """Record that the worker polls, or waits for pushes to, each of ``feeds`` (name,
        function, interval), so that one never heard from is listed, WAITING, and goes
        unhealthy (and raises its alert) after three intervals, like one that stops."""
        pipe = self.client.pipeline(transaction=True)
        for name, function, interval in feeds:
            key = keys.feed(name)
            pipe.sadd(keys.FEEDS, name)
            pipe.hset(key, mapping={"function": function, "interval": interval})
            pipe.hsetnx(key, "expected_since", f"{at:.3f}")
            pipe.hsetnx(key, "state", WAITING)
        self._call(pipe.execute)

    def feed_status(self) -> list[FeedStatus]:
        names = sorted(n.decode() for n in self._call(self.client.smembers, keys.FEEDS))
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(keys.feed(name))
        rows = self._call(pipe.execute)
        return [_feed_status(name, {k.decode(): v.decode() for k, v in row.items()})
                for name, row in zip(names, rows, strict=True)]

    def quarantined(self, count: int = 100) -> list[dict[str, Any]]:
        """The newest quarantined samples, newest first, with feed, time and reason."""
        raw = self._call(self.client.xrevrange, keys.QUARANTINE, "+", "-", count=count)
        return [{"id": i.decode(), **{k.decode(): v.decode() for k, v in f.items()}}
                for i, f in raw]

    # --- the rules engine's state and the levels it publishes ---------------------------

    def save_engine(self, fields: Mapping[str, str], drop: Iterable[str] = (),
                    levels: Mapping[str, str] | None = None,
                    drop_levels: Iterable[str] = (),
                    events: Sequence[tuple[str, Mapping[str, Any], float]] = (),
                    fence: str | None = None) -> list[str]:
        """Write the events of a step, the engine's changed state and the levels it publishes
        in one transaction: all or nothing, so a worker killed at any instant leaves either
        the step complete or no trace of it, and its successor records each change once.

        ``fence``: the writer's worker id; the write happens only while it holds the lease
        (LeaseLost otherwise), so a worker that was frozen and lost its lease cannot
        overwrite its successor's work. Returns the events' ids."""
        drop, drop_levels = list(drop), list(drop_levels)
        for _ in range(20):  # the holder's own lease renewals also end a WATCH: try again
            pipe = self.client.pipeline(transaction=True)
            try:
                if fence is not None:
                    self._call(pipe.watch, keys.LEASE)
                    holder = self._call(pipe.get, keys.LEASE)
                    if holder is None or holder.decode() != fence:
                        raise LeaseLost(f"worker {fence} no longer holds the lease "
                                        f"(held by {holder.decode() if holder else 'nobody'})")
                    pipe.multi()
                self._queue_events(pipe, events)
                scripts = -(-len(events) // self.EVENT_BATCH)
                if fields:
                    pipe.hset(keys.ENGINE, mapping=dict(fields))  # type: ignore[arg-type]
                if drop:
                    pipe.hdel(keys.ENGINE, *drop)
                if levels:
                    pipe.hset(keys.LEVELS, mapping=dict(levels))  # type: ignore[arg-type]
                if drop_levels:
                    pipe.hdel(keys.LEVELS, *drop_levels)
                results = self._call(pipe.execute)
                return [i.decode() for ids in results[:scripts] for i in ids]
            except redis.WatchError:
                continue
            finally:
                pipe.reset()
        raise LeaseLost(f"worker {fence}: the lease kept changing; the step was not saved")

    def has_engine_state(self) -> bool:
        return bool(self._call(self.client.hexists, keys.ENGINE, "meta"))

    def load_engine(self) -> dict[str, str]:
        raw = self._call(self.client.hgetall, keys.ENGINE)
        return {k.decode(): v.decode() for k, v in raw.items()}

    def levels(self) -> dict[str, dict[str, Any]]:
        """Every level the engine publishes, as published: name -> {level, since, stale,
        kind, reason} (the engine's own record; ``published_levels`` reads it typed)."""
        raw = self._call(self.client.hgetall, keys.LEVELS)
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    def published_levels(self, catalogue: Catalogue | None = None) -> dict[str, PublishedLevel]:
        """Every level the engine publishes, typed, its level names from ``catalogue``."""
        return parse_levels(self.levels(), catalogue)

    def request_reload(self, by: str) -> None:
        self._call(self.client.set, keys.RELOAD, by)

    def take_reload_request(self) -> str | None:
        value = self._call(self.client.getdel, keys.RELOAD)
        return value.decode() if value is not None else None

    # --- workers: one active (the lease holder), any number of hot standbys -------------
    # Liveness is real time (a process is alive or not), whatever the Surge clock's speed:
    # the lease and the membership entries expire by the server's clock.

    def acquire_lease(self, owner: str, ttl: float) -> bool:
        """Become the active worker if nobody is; True if ``owner`` holds the lease now."""
        got = self._call(self.client.set, keys.LEASE, owner, nx=True, px=int(ttl * 1000))
        return bool(got) or self.renew_lease(owner, ttl)

    def renew_lease(self, owner: str, ttl: float) -> bool:
        """Extend the lease if ``owner`` still holds it; False if it was lost."""
        return bool(self._call(self._renew, keys=[keys.LEASE], args=[owner, int(ttl * 1000)]))

    def release_lease(self, owner: str) -> None:
        self._call(self._release, keys=[keys.LEASE], args=[owner])

    def took_lease(self, owner: str) -> str | None:
        """Note ``owner`` as the latest active worker; returns the one before it, if any."""
        before = self._call(self.client.set, keys.LEASE_LAST, owner, get=True)
        return before.decode() if before is not None and before.decode() != owner else None

    def lease_holder(self) -> str | None:
        value = self._call(self.client.get, keys.LEASE)
        return value.decode() if value is not None else None

    def worker_beat(self, owner: str, info: Mapping[str, Any], ttl: float) -> None:
        """Record that worker ``owner`` is alive (active or standby) for ``ttl`` seconds."""
        record = json.dumps({**info, "expires_ms": int((time.time() + ttl) * 1000)})
        self._call(self.client.hset, keys.WORKERS, owner, record)

    def worker_gone(self, owner: str) -> None:
        self._call(self.client.hdel, keys.WORKERS, owner)

    def workers(self) -> list[WorkerInfo]:
        """Every live worker, the active one first; entries whose beat expired are dropped."""
        pipe = self.client.pipeline(transaction=False)
        pipe.get(keys.LEASE)
        pipe.hgetall(keys.WORKERS)
        pipe.time()
        holder, raw, (secs, micros) = self._call(pipe.execute)
        server_ms = int(secs) * 1000 + int(micros) // 1000
        active = holder.decode() if holder is not None else None
        out: list[WorkerInfo] = []
        expired: list[bytes] = []
        for owner_b, value in raw.items():
            owner = owner_b.decode()
            try:
                info = json.loads(value)
            except ValueError:
                info = {}
            # expiry is judged by the server's clock as well as ours: either may be skewed
            if int(info.get("expires_ms", 0)) < min(server_ms, int(time.time() * 1000)):
                expired.append(owner_b)
                continue
            out.append(WorkerInfo(owner, owner == active, info))
        if expired:
            self._call(self.client.hdel, keys.WORKERS, *expired)
        return sorted(out, key=lambda w: (not w.active, w.id))

    def worker(self) -> dict[str, str] | None:
        """The active worker's record (pid, host, started, ...), or None if none is active."""
        for info in self.workers():
            if info.active:
                return {"id": info.id, **{k: str(v) for k, v in info.info.items()}}
        return None

    # --- the run's clock and the rules in force, shared by every process ---------------

    def publish_clock(self, record: Mapping[str, str]) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(keys.CLOCK)
        pipe.hset(keys.CLOCK, mapping=dict(record))  # type: ignore[arg-type]
        self._call(pipe.execute)

    def change_mark(self) -> str:
        """A mark that moves whenever a batch is stored or an event recorded (a level
        changed, a declaration, a confirmation, a feed down, rules loaded...): pages compare
        it to know whether what they last built is still the store's picture. One round trip."""
        ids = self._call(self._last_ids, keys=[keys.EVENTS, keys.BATCHES])
        return "/".join(i.decode() if isinstance(i, bytes) else str(i) for i in ids)

    def clock_record(self) -> dict[str, str]:
        raw = self._call(self.client.hgetall, keys.CLOCK)
        return {k.decode(): v.decode() for k, v in raw.items()}

    def publish_rules(self, version: str, text: str, *, source: str, loaded_by: str,
                      at: float) -> None:
        """Make ``version`` (with its file's text) the rules in force for every process."""
        self._call(self.client.hset, keys.RULES, mapping={
            "version": version, "text": text, "source": source, "loaded_by": loaded_by,
            "loaded_at": f"{at:.3f}"})

    def rules_version(self) -> str | None:
        value = self._call(self.client.hget, keys.RULES, "version")
        return value.decode() if value is not None else None

    def rules_in_force(self) -> dict[str, str]:
        """version, text, source, loaded_by, loaded_at of the rules in force ({} if none)."""
        raw = self._call(self.client.hgetall, keys.RULES)
        return {k.decode(): v.decode() for k, v in raw.items()}

    # --- what an exercise must not mix with -------------------------------------------

    def clear_run_data(self) -> int:
        """Delete everything but accounts (users, screens, sign-in state); returns the count.

        For a fresh exercise on a store that held the previous exercise: its simulated
        samples, levels and timeline go, its sign-ins and wall-screen links stay."""
        doomed: list[bytes] = []
        for key in self.client.scan_iter(match=keys.PREFIX + "*", count=1000):
            if not keys.is_account_key(key.decode()):
                doomed.append(key)
        for start in range(0, len(doomed), 1000):
            self._call(self.client.delete, *doomed[start:start + 1000])
        return len(doomed)

    def holds_live_data(self) -> bool:
        """True when real (not simulated) feeds have written to this store."""
        record = self.clock_record()
        if record.get("mode") in ("simulated", "exercise"):
            return False
        return bool(self._call(self.client.exists, keys.LATEST, keys.FEEDS))

    # --- users and wall screens: surge.auth's records, kept as hashes of strings --------

    def user_names(self) -> list[str]:
        return sorted(n.decode() for n in self._call(self.client.smembers, keys.USERS))

    def user_record(self, name: str) -> dict[str, str]:
        """The user's fields, or {} when there is no such user."""
        return self._decoded(self._call(self.client.hgetall, keys.user(name)))

    def user_records(self) -> dict[str, dict[str, str]]:
        """Every user's fields, by name, in name order."""
        return self._records(self.user_names(), keys.user)

    def create_user(self, name: str, fields: Mapping[str, str]) -> bool:
        """Create the user in one transaction; False (and nothing written) if it exists."""
        key = keys.user(name)

        def create(pipe: Any) -> bool:
            if pipe.exists(key):
                pipe.multi()
                return False
            pipe.multi()
            pipe.hset(key, mapping=dict(fields))
            pipe.sadd(keys.USERS, name)
            return True

        return bool(self._call(self.client.transaction, create, key, value_from_callable=True))

    def update_user(self, name: str, fields: Mapping[str, str], *, new_epoch: bool = False) -> None:
        """Set some of the user's fields; ``new_epoch`` also moves their ``epoch`` on by one."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.user(name), mapping=dict(fields))  # type: ignore[arg-type]
        if new_epoch:
            pipe.hincrby(keys.user(name), "epoch", 1)
        self._call(pipe.execute)

    def swap_user_field(self, name: str, field: str, old: str, new: str) -> bool:
        """Set the user's ``field`` to ``new`` only if it still holds ``old``."""
        key = keys.user(name)

        def swap(pipe: Any) -> bool:
            current = pipe.hget(key, field)
            pipe.multi()
            if current != old.encode():
                return False
            pipe.hset(key, field, new)
            return True

        return bool(self._call(self.client.transaction, swap, key, value_from_callable=True))

    def screen_names(self) -> list[str]:
        return sorted(n.decode() for n in self._call(self.client.smembers, keys.SCREENS))

    def screen_record(self, name: str) -> dict[str, str]:
        """The screen's fields, or {} when there is no such screen."""
        return self._decoded(self._call(self.client.hgetall, keys.screen(name)))

    def screen_records(self) -> dict[str, dict[str, str]]:
        """Every screen's fields, by name, in name order."""
        return self._records(self.screen_names(), keys.screen)

    def create_screen(self, name: str, fields: Mapping[str, str], token_sha256: str) -> bool:
        """Create the screen and its token in one transaction, replacing a revoked screen of
        the same name; False (and nothing written) if a live screen has the name."""
        return self._create_secret_holder(keys.screen(name), keys.SCREENS,
                                          keys.screen_token(token_sha256), name, fields)

    def revoke_screen(self, name: str, fields: Mapping[str, str], token_sha256: str) -> None:
        """Set the screen's revoked fields and delete its token, together."""
        self._revoke_secret_holder(keys.screen(name), keys.screen_token(token_sha256), fields)

    def update_screen(self, name: str, fields: Mapping[str, str]) -> None:
        self._call(self.client.hset, keys.screen(name), mapping=dict(fields))

    def screen_by_token(self, token_sha256: str) -> str | None:
        """The name of the screen whose token has this sha256, if it is live."""
        return self._holder_of(keys.screen_token(token_sha256))

    # Wall screens and API tokens are both named holders of a secret: a hash of fields, a
    # set of names, and a key from the secret's sha256 to the name while it is live.

    def _create_secret_holder(self, key: str, names: str, secret_key: str, name: str,
                              fields: Mapping[str, str]) -> bool:
        def create(pipe: Any) -> bool:
            if pipe.exists(key) and pipe.hget(key, "revoked") != b"1":
                pipe.multi()
                return False
            pipe.multi()
            pipe.delete(key)
            pipe.hset(key, mapping=dict(fields))
            pipe.sadd(names, name)
            pipe.set(secret_key, name)
            return True

        return bool(self._call(self.client.transaction, create, key, value_from_callable=True))

    def _revoke_secret_holder(self, key: str, secret_key: str, fields: Mapping[str, str]) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(key, mapping=dict(fields))  # type: ignore[arg-type]
        pipe.delete(secret_key)
        self._call(pipe.execute)

    def _holder_of(self, secret_key: str) -> str | None:
        name = self._call(self.client.get, secret_key)
        return name.decode() if name is not None else None

    def _records(self, names: list[str], key: Callable[[str], str]) -> dict[str, dict[str, str]]:
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(key(name))
        rows = self._call(pipe.execute) if names else []
        return {name: self._decoded(row) for name, row in zip(names, rows, strict=True) if row}

    @staticmethod
    def _decoded(raw: Mapping[bytes, bytes]) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in raw.items()}

    # --- signed-in sessions: surge.auth.sessions' records -------------------------------

    def create_session(self, digest: str, kind: str, name: str, fields: Mapping[str, str],
                       ttl: float | None) -> None:
        """Record a session and add it to its owner's set, together; it expires by itself
        after ``ttl`` seconds (None: it lasts until ended). Sessions of the owner that have
        expired are dropped from the set."""
        owner = keys.sessions_of(kind, name)
        self.owner_sessions(kind, name)  # drops the expired
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.session(digest), mapping=dict(fields))  # type: ignore[arg-type]
        if ttl is not None:
            pipe.expire(keys.session(digest), max(math.ceil(ttl), 1))
        pipe.sadd(owner, digest)
        self._call(pipe.execute)

    def session_record(self, digest: str) -> dict[str, str]:
        """The session's fields, or {} when it has ended (or never was)."""
        return self._decoded(self._call(self.client.hgetall, keys.session(digest)))

    def touch_session(self, digest: str, fields: Mapping[str, str]) -> bool:
        """Set some fields of a session that still exists; False (nothing written) if not."""
        key = keys.session(digest)

        def touch(pipe: Any) -> bool:
            if not pipe.exists(key):
                pipe.multi()
                return False
            pipe.multi()
            pipe.hset(key, mapping=dict(fields))
            return True

        return bool(self._call(self.client.transaction, touch, key, value_from_callable=True))

    def owner_sessions(self, kind: str, name: str) -> dict[str, dict[str, str]]:
        """Every live session of one user or screen: digest -> fields, oldest first."""
        owner = keys.sessions_of(kind, name)
        digests = sorted(d.decode() for d in self._call(self.client.smembers, owner))
        pipe = self.client.pipeline(transaction=False)
        for digest in digests:
            pipe.hgetall(keys.session(digest))
        rows = self._call(pipe.execute) if digests else []
        gone = [d for d, row in zip(digests, rows, strict=True) if not row]
        if gone:
            self._call(self.client.srem, owner, *gone)
        live = {d: self._decoded(row) for d, row in zip(digests, rows, strict=True) if row}
        return dict(sorted(live.items(), key=lambda kv: float(kv[1].get("created", 0))))

    def end_session(self, digest: str, kind: str, name: str) -> bool:
        """End one session now; False if it had already ended."""
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(keys.session(digest))
        pipe.srem(keys.sessions_of(kind, name), digest)
        deleted, _ = self._call(pipe.execute)
        return bool(deleted)

    def end_sessions(self, kind: str, name: str) -> int:
        """End every session of one user or screen now; how many were live."""
        owner = keys.sessions_of(kind, name)

        def end_all(pipe: Any) -> None:
            digests = [d.decode() for d in pipe.smembers(owner)]
            pipe.multi()
            for digest in digests:
                pipe.delete(keys.session(digest))
            pipe.delete(owner)

        done = self._call(self.client.transaction, end_all, owner)
        return sum(int(n) for n in done[:-1])

    # --- throttles and repeated refusals: surge.auth's counts -------------------------
    # Scripts, so that a count is checked and taken in one step: a burst of requests at
    # once gets exactly the limit, never more.

    _TAKE_ATTEMPT = """
    local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
    for i, key in ipairs(KEYS) do
        redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
        if redis.call('ZCARD', key) >= limit then return i end
    end
    for _, key in ipairs(KEYS) do
        redis.call('ZADD', key, now, ARGV[4])
        redis.call('PEXPIRE', key, math.ceil(window * 1000))
    end
    return 0
    """

    def take_attempt(self, limit_keys: Sequence[str], *, limit: int, window: float, now: float,
                     attempt: str) -> str | None:
        """Count ``attempt`` against every key if each has had fewer than ``limit`` attempts
        in the ``window`` seconds before ``now`` (None); else the first key that is full,
        and nothing is counted."""
        limit_keys = list(limit_keys)
        script = self.client.register_script(self._TAKE_ATTEMPT)
        full = int(self._call(script, keys=limit_keys,
                              args=[repr(float(now)), repr(float(window)), limit, attempt]))
        return limit_keys[full - 1] if full else None

    def give_back_attempt(self, limit_keys: Sequence[str], attempt: str) -> None:
        """Uncount an attempt (it succeeded, or was never tried)."""
        pipe = self.client.pipeline(transaction=True)
        for key in limit_keys:
            pipe.zrem(key, attempt)
        self._call(pipe.execute)

    _NOTE_REPEAT = """
    local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
    local start = redis.call('HGET', KEYS[1], 'start')
    if start and now - tonumber(start) < window then
        redis.call('HINCRBY', KEYS[1], 'count', 1)
        redis.call('HSET', KEYS[1], 'last', ARGV[1])
        return {0}
    end
    local closed = {}
    if start then closed = redis.call('HGETALL', KEYS[1]) end
    redis.call('DEL', KEYS[1])
    redis.call('HSET', KEYS[1], 'start', ARGV[1], 'last', ARGV[1], 'count', 0,
               'entry', ARGV[3])
    redis.call('ZADD', KEYS[2], now, KEYS[1])
    return {1, closed}
    """

    def note_repeat(self, key: str, *, now: float, window: float,
                    entry: str) -> tuple[bool, dict[str, str] | None]:
        """Note one occurrence of a repeatable refusal (``key``: what, from where). Returns
        whether it opens a new window (to be recorded now, ``entry`` kept for the count),
        and the window it closed, if one (its start, last, count of repeats and entry)."""
        script = self.client.register_script(self._NOTE_REPEAT)
        answer = self._call(script, keys=[key, keys.AUDIT_REPEATS],
                            args=[repr(float(now)), repr(float(window)), entry])
        if not answer[0]:
            return False, None
        flat = answer[1] if len(answer) > 1 else []
        closed = {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}
        return True, closed or None

    _TAKE_CLOSED = """
    local out = {}
    local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0,
                           tonumber(ARGV[2]))
    for _, key in ipairs(due) do
        local row = redis.call('HGETALL', key)
        redis.call('DEL', key)
        redis.call('ZREM', KEYS[1], key)
        if #row > 0 then table.insert(out, row) end
    end
    return out
    """

    def take_closed_repeats(self, opened_before: float, limit: int = 1000) -> list[dict[str, str]]:
        """Remove and return the repeat counts whose window opened at or before
        ``opened_before`` (their start, last, count and entry)."""
        script = self.client.register_script(self._TAKE_CLOSED)
        rows = self._call(script, keys=[keys.AUDIT_REPEATS],
                          args=[repr(float(opened_before)), limit])
        return [{row[i].decode(): row[i + 1].decode() for i in range(0, len(row), 2)}
                for row in rows]

    # --- a web process's view of the store --------------------------------------------

    def for_web(self, *, connect_timeout: float = 1.0, read_timeout: float = 2.0) -> Store:
        """This store on connections of its own that give up quickly, for a web process:
        ``connect_timeout`` seconds to connect, ``read_timeout`` for each answer. A call that
        times out is not repeated, and for ``read_timeout / 2`` seconds after it every call
        fails at once, so one page asking several things of a frozen store says within a
        few seconds that it is unreachable (a dropped connection is tried once more)."""
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        class GiveUpQuickly(Retry):
            """One try (one more after a dropped connection); after a failure, none for a
            while. Shared by every connection of the pool (copies are the same object)."""

            def __init__(self, pause: float) -> None:
                super().__init__(NoBackoff(), 1)
                self.pause = pause
                self.failed_at = -math.inf

            def __deepcopy__(self, memo: Any) -> GiveUpQuickly:
                return self

            def call_with_retry(self, do: Callable[[], Any], fail: Callable[..., Any],
                                is_retryable: Any = None, with_failure_count: bool = False) -> Any:
                if time.monotonic() - self.failed_at < self.pause:
                    raise redis.ConnectionError("it did not answer just now")
                for tries in (1, 2):
                    try:
                        return do()
                    except (redis.ConnectionError, redis.TimeoutError) as error:
                        if with_failure_count:
                            fail(error, tries)
                        else:
                            fail(error)
                        if tries == 2 or isinstance(error, redis.TimeoutError):
                            self.failed_at = time.monotonic()
                            raise
                raise AssertionError("unreachable")

        pool = self.client.connection_pool
        options = {k: v for k, v in pool.connection_kwargs.items()
                   if not k.startswith("orig_")
                   and k not in ("maint_notifications_pool_handler", "himport_registry")}
        options.update(socket_connect_timeout=connect_timeout, socket_timeout=read_timeout,
                       retry=GiveUpQuickly(read_timeout / 2))
        client = redis.Redis(connection_pool=redis.ConnectionPool(
            connection_class=pool.connection_class, **options))
        return Store(client, retention=self.retention, clock=self.clock, where=self.where)

    # --- the declared level, the action checklist and API tokens ----------------------

    def declaration(self) -> dict[str, Any]:
        """The trust's declaration in force, as recorded ({} when none is)."""
        raw = self._call(self.client.get, keys.DECLARATION)
        return json.loads(raw) if raw is not None else {}

    def swap_declaration(self, expected: Mapping[str, Any], new: Mapping[str, Any] | None,
                         events: Sequence[tuple[str, Mapping[str, Any], float]] = ()
                         ) -> list[str] | None:
        """Replace the declaration with ``new`` (None: withdraw it) and append ``events``, in
        one transaction, only while it is still ``expected`` ({} for none); the events' ids,
        or None (and nothing written) when it changed meanwhile."""
        def now(pipe: Any) -> Any:
            raw = self._call(pipe.get, keys.DECLARATION)
            return json.loads(raw) if raw is not None else {}

        def write(pipe: Any) -> None:
            if new is None:
                pipe.delete(keys.DECLARATION)
            else:
                pipe.set(keys.DECLARATION, json.dumps(dict(new)))

        return self._swap(keys.DECLARATION, now, dict(expected), write, events)

    def annotations(self) -> dict[str, dict[str, Any]]:
        """Every note on the timeline: id -> its record (surge.actions.annotate)."""
        raw = self._call(self.client.hgetall, keys.ANNOTATIONS)
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    def swap_annotation(self, note: str, expected: Mapping[str, Any] | None,
                        new: Mapping[str, Any],
                        events: Sequence[tuple[str, Mapping[str, Any], float]] = ()
                        ) -> list[str] | None:
        """Keep note ``new`` and append ``events``, in one transaction, only while the note
        is still ``expected`` (None: not there yet); the events' ids, or None (and nothing
        written) when it changed meanwhile."""
        def now(pipe: Any) -> Any:
            raw = self._call(pipe.hget, keys.ANNOTATIONS, note)
            return json.loads(raw) if raw is not None else None

        return self._swap(keys.ANNOTATIONS, now,
                          dict(expected) if expected is not None else None,
                          lambda pipe: pipe.hset(keys.ANNOTATIONS, note, json.dumps(dict(new))),
                          events)

    def _swap(self, watched: str, now: Callable[[Any], Any], expected: Any,
              write: Callable[[Any], Any],
              events: Sequence[tuple[str, Mapping[str, Any], float]]) -> list[str] | None:
        """Compare and set: while ``watched`` holds what ``now`` reads as ``expected``,
        ``write`` and append ``events`` in one transaction; the events' ids, or None (and
        nothing written) when it is not, or changed meanwhile."""
        pipe = self.client.pipeline(transaction=True)
        try:
            self._call(pipe.watch, watched)
            if now(pipe) != expected:
                return None
            pipe.multi()
            self._queue_events(pipe, events)
            write(pipe)
            results = self._call(pipe.execute)
        except redis.WatchError:
            return None
        finally:
            pipe.reset()
        scripts = -(-len(events) // self.EVENT_BATCH)
        return [i.decode() for ids in results[:scripts] for i in ids]

    def put_field(self, key: str, field: str, value: str | None,
                  events: Sequence[tuple[str, Mapping[str, Any], float]] = ()) -> list[str]:
        """Set (None: delete) one field of a hash and append ``events``, in one
        transaction (an acknowledgement and its record never part); the events' ids."""
        pipe = self.client.pipeline(transaction=True)
        self._queue_events(pipe, events)
        if value is None:
            pipe.hdel(key, field)
        else:
            pipe.hset(key, field, value)
        results = self._call(pipe.execute)
        scripts = -(-len(events) // self.EVENT_BATCH)
        return [i.decode() for ids in results[:scripts] for i in ids]

    def confirmations(self, protocol: str) -> dict[str, dict[str, Any]]:
        """Every confirmation kept for one protocol's checklist: field -> record."""
        raw = self._call(self.client.hgetall, keys.checklist(protocol))
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    def add_confirmation(self, protocol: str, field: str, record: Mapping[str, Any],
                         events: Sequence[tuple[str, Mapping[str, Any], float]] = ()
                         ) -> list[str] | None:
        """Keep one confirmation and append ``events``, in one transaction; the events' ids,
        or None (and nothing written) when ``field`` is there already."""
        key = keys.checklist(protocol)
        for _ in range(20):  # another field of the hash written meanwhile: try again
            pipe = self.client.pipeline(transaction=True)
            try:
                self._call(pipe.watch, key)
                if self._call(pipe.hexists, key, field):
                    return None
                pipe.multi()
                self._queue_events(pipe, events)
                pipe.hset(key, field, json.dumps(dict(record)))
                results = self._call(pipe.execute)
            except redis.WatchError:
                continue
            finally:
                pipe.reset()
            scripts = -(-len(events) // self.EVENT_BATCH)
            return [i.decode() for ids in results[:scripts] for i in ids]
        raise StoreUnavailable(f"{self.where}: the checklist of {protocol} kept changing; "
                               f"the confirmation was not saved")

    def token_names(self) -> list[str]:
        return sorted(n.decode() for n in self._call(self.client.smembers, keys.TOKENS))

    def token_record(self, name: str) -> dict[str, str]:
        """The API token's fields, or {} when there is no such token."""
        return self._decoded(self._call(self.client.hgetall, keys.token(name)))

    def token_records(self) -> dict[str, dict[str, str]]:
        """Every API token's fields, by name, in name order."""
        return self._records(self.token_names(), keys.token)

    def create_token(self, name: str, fields: Mapping[str, str], token_sha256: str) -> bool:
        """Create the API token and its hash in one transaction, replacing a revoked token of
        the same name; False (and nothing written) if a live token has the name."""
        return self._create_secret_holder(keys.token(name), keys.TOKENS,
                                          keys.token_hash(token_sha256), name, fields)

    def revoke_token(self, name: str, fields: Mapping[str, str], token_sha256: str) -> None:
        """Set the API token's revoked fields and delete its hash, together."""
        self._revoke_secret_holder(keys.token(name), keys.token_hash(token_sha256), fields)

    def update_token(self, name: str, fields: Mapping[str, str]) -> None:
        self._call(self.client.hset, keys.token(name), mapping=dict(fields))

    def token_by_hash(self, token_sha256: str) -> str | None:
        """The name of the API token whose sha256 this is, if it is live."""
        return self._holder_of(keys.token_hash(token_sha256))

    # --- plumbing ---------------------------------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(f"cannot reach {self.where}: {exc}") from None


def _notice(notice_id: str, fields: Mapping[bytes, bytes]) -> BatchNotice:
    body = fields.get(b"b", b"")
    samples: list[Sample] = []
    pos = 0
    while pos < len(body):
        end_field = body.index(b"\n", pos)
        end_day = body.index(b"\n", end_field + 1)
        end_count = body.index(b"\n", end_day + 1)
        metric, scope = keys.split_series_field(body[pos:end_field].decode())
        base = int(body[end_field + 1:end_day])
        n = int(body[end_day + 1:end_count])
        start = end_count + 1
        rec = np.frombuffer(body, dtype=RECORD, count=n, offset=start)
        ts = ((rec["ms"].astype(np.int64) + base) / 1000.0).tolist()
        samples += [Sample(metric, scope, t, v) for t, v in zip(ts, rec["value"].tolist(),
                                                                 strict=True)]
        pos = start + n * RECORD.itemsize
    return BatchNotice(notice_id, fields.get(b"src", b"-").decode(), samples)


def _empty() -> Series:
    return Series(np.empty(0), np.empty(0))


def _feed_status(name: str, row: dict[str, str]) -> FeedStatus:
    def num(key: str) -> float | None:
        return float(row[key]) if key in row else None

    def count(key: str) -> int:
        return int(row.get(key, 0))

    down_since = num("down_since")
    return FeedStatus(
        name=name, function=row.get("function", "?"), interval=float(row.get("interval", 60)),
        last_success=num("last_success"), last_attempt=num("last_attempt"),
        last_error=row.get("last_error"), last_error_at=num("last_error_at"),
        last_sample=num("last_sample"), accepted=count("accepted"), rejected=count("rejected"),
        late=count("late"), duplicates=count("duplicates"), down_since=down_since,
        # a record from before feed states: down while down_since was set, else up
        state=row.get("state") or ("down" if down_since is not None else "up"),
        failures=count("failures"), failing_since=num("failing_since"), polls=count("polls"),
        failed_polls=count("failed_polls"), retries=count("retries"),
        last_attempts=count("last_attempts"), last_duration=num("last_duration"),
        rejected_by_reason={k.removeprefix(REJECTED_PREFIX): int(v) for k, v in row.items()
                            if k.startswith(REJECTED_PREFIX)},
        expected_since=num("expected_since"))


# Rejections are counted by category, so that counters stay few whatever a feed sends: the
# first category whose words are in the reason (as surge.samples and the feeds word them).
_REASON_WORDS = (
    ("unknown_metric", ("unknown metric",)),
    ("unknown_site", ("unknown site",)),
    ("wrong_scope", ("is reported per site", "is not reported by a")),
    ("not_a_number", ("not a finite number", "must be a number", "not a number", "is null")),
    ("out_of_range", ("outside its plausible range",)),
    ("in_the_future", ("in the future",)),
    ("too_old", ("older than the retention",)),
)
REJECTION_REASONS = (*(category for category, _ in _REASON_WORDS), "unreadable")


def rejection_reason(reason: str) -> str:
    """The category (one of REJECTION_REASONS) of a rejection's reason; ``unreadable`` for
    anything that could not be read as a sample at all (a missing field, a bad time, a file)."""
    text = reason.lower()
    for category, words in _REASON_WORDS:
        if any(w in text for w in words):
            return category
    return "unreadable"


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe to print and log."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port: int | str | None
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: keep it as written, for the message
        port = parts.netloc.rpartition(":")[2] or None
    netloc = f"{user}:***@{host}" + (f":{port}" if port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def utc_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
