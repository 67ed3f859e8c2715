"""Days older than the hot window, kept in Parquet files (docs/review.md).

Layout under the archive's location (a directory, or a URL pyarrow's file systems open:
file://, s3://, gs://, abfs://), by UTC day as in the store:

    samples/2026/2026-10-25.parquet      metric, scope, ts_ms, value: every sample of the day
    rollup-300/2026/2026-10-25.parquet   metric, scope, start_ms, min, max, mean, count
    rollup-3600/2026/2026-10-25.parquet  the same for each hour
    events/2026/2026-10-25.parquet       id, kind, at, filed, data: every event filed that day

Each file is written under a temporary name, then renamed; the events file is written last,
so a day that has one is whole. ``archive_due`` (run by the active worker, and by `surge
archive run`) writes each day once all of it has left the hot window, checks what it wrote,
then trims the day from the store in one transaction that also moves the store's archive
frontier. Samples older than the hot window are refused at ingest, so an archived day never
changes again.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from surge import keys
from surge.errors import SurgeError
from surge.events import ArchiveFailed, DayArchived, Recorder
from surge.store import Event, Series, SeriesKey, Store

__all__ = ["STEPS", "Archive", "ArchiveError", "ArchivedDay", "Rollup", "archive_due",
           "day_name", "rollup"]

STEPS = (300, 3600)  # the rollups kept: 5 minutes and 1 hour
GRACE_DAYS = 7  # the store keeps a day this long past the hot window, should archiving stall


class ArchiveError(SurgeError):
    """The archive cannot be written or read; the days stay in the store."""


def day_name(day: int) -> str:
    """2026-10-25 for the UTC day ``day`` (days since 1970-01-01)."""
    return datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Rollup:
    """One series' buckets in time order: start (UTC epoch s), min, max, mean, count."""

    start: np.ndarray
    min: np.ndarray
    max: np.ndarray
    mean: np.ndarray
    count: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    @classmethod
    def empty(cls) -> Rollup:
        return cls(np.empty(0), np.empty(0), np.empty(0), np.empty(0), np.empty(0, np.int64))

    @classmethod
    def joined(cls, parts: Sequence[Rollup]) -> Rollup:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(*(np.concatenate([getattr(p, f) for p in parts])
                     for f in ("start", "min", "max", "mean", "count")))


def rollup(ts: np.ndarray, values: np.ndarray, step: int) -> Rollup:
    """Min, max, mean and count of each ``step`` seconds (aligned to UTC) of a series in
    time order; only buckets with samples."""
    if not len(ts):
        return Rollup.empty()
    ms = np.round(ts * 1000).astype(np.int64)
    bucket = ms // (step * 1000)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(bucket)) + 1])
    counts = np.diff(np.append(starts, len(ts)))
    return Rollup((bucket[starts] * step).astype(np.float64),
                  np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts),
                  np.add.reduceat(values, starts) / counts, counts.astype(np.int64))


@dataclass(frozen=True)
class ArchivedDay:
    day: int
    samples: int
    events: int

    @property
    def name(self) -> str:
        return day_name(self.day)


class Archive:
    """Archived days, read and written by UTC day (days since 1970-01-01)."""

    def __init__(self, location: str | Path) -> None:
        self.location = str(location)

    @cached_property
    def _fs(self) -> tuple[pafs.FileSystem, str]:
        try:
            if "://" in self.location:
                fs, root = pafs.FileSystem.from_uri(self.location)
                return fs, root.rstrip("/")
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise ArchiveError(f"the archive at {self.location} cannot be opened: {exc}") from None
        return pafs.LocalFileSystem(), str(Path(self.location).absolute())

    def _path(self, what: str, day: int) -> str:
        name = day_name(day)
        return f"{self._fs[1]}/{what}/{name[:4]}/{name}.parquet"

    # --- writing ----------------------------------------------------------------------

    def write_day(self, day: int, samples: Mapping[SeriesKey, Series],
                  events: Sequence[tuple[Event, float]]) -> ArchivedDay:
        """Write one day: its samples, their rollups, then its events (each with the time
        it is filed by). Checks each file's row count once written."""
        written = self._write(self._path("samples", day), _samples_table(samples))
        for step in STEPS:
            rolled = {k: rollup(s.ts, s.values, step) for k, s in samples.items()}
            self._write(self._path(f"rollup-{step}", day), _rollup_table(rolled))
        count = self._write(self._path("events", day), _events_table(events))
        return ArchivedDay(day, written, count)

    def _write(self, path: str, table: pa.Table) -> int:
        fs = self._fs[0]
        temporary = f"{path}.{uuid.uuid4().hex}.tmp"
        try:
            fs.create_dir(path.rpartition("/")[0], recursive=True)
            pq.write_table(table, temporary, filesystem=fs, compression="zstd")
            fs.move(temporary, path)
            rows = pq.read_metadata(path, filesystem=fs).num_rows
        except (pa.ArrowException, OSError) as exc:
            raise ArchiveError(f"cannot write {path}: {exc}") from None
        if rows != table.num_rows:
            raise ArchiveError(f"{path} holds {rows} rows, not the {table.num_rows} written")
        return rows

    # --- reading ----------------------------------------------------------------------

    def days(self) -> list[int]:
        """Every archived day, oldest first."""
        fs, root = self._fs
        try:
            found = fs.get_file_info(pafs.FileSelector(f"{root}/events", recursive=True,
                                                       allow_not_found=True))
        except (pa.ArrowException, OSError) as exc:
            raise ArchiveError(f"cannot list the archive at {self.location}: {exc}") from None
        out = []
        for info in found:
            if info.type == pafs.FileType.File and info.base_name.endswith(".parquet"):
                stamp = datetime.strptime(info.base_name[:10], "%Y-%m-%d").replace(tzinfo=UTC)
                out.append(int(stamp.timestamp()) // 86400)
        return sorted(out)

    def _read(self, what: str, day: int) -> pa.Table | None:
        fs, _ = self._fs
        path = self._path(what, day)
        try:
            return pq.read_table(path, filesystem=fs)
        except FileNotFoundError:
            return None
        except (pa.ArrowException, OSError) as exc:
            raise ArchiveError(f"cannot read {path}: {exc}") from None

    def series(self, wanted: Iterable[SeriesKey], start: float, end: float) -> dict[SeriesKey, Series]:
        """Samples with start <= ts <= end, as Store.series gives them."""
        wanted = list(dict.fromkeys(wanted))
        lo, hi = math.floor(start * 1000), math.floor(end * 1000)
        parts: dict[SeriesKey, list[tuple[np.ndarray, np.ndarray]]] = {k: [] for k in wanted}
        for day in range(lo // keys.DAY_MS, hi // keys.DAY_MS + 1) if hi >= lo else ():
            table = self._read("samples", day)
            if table is None:
                continue
            ts_ms = table.column("ts_ms").to_numpy()
            values = table.column("value").to_numpy()
            for key, (a, b) in _runs(table, wanted).items():
                i = a + np.searchsorted(ts_ms[a:b], lo, side="left")
                j = a + np.searchsorted(ts_ms[a:b], hi, side="right")
                if j > i:
                    parts[key].append((ts_ms[i:j] / 1000.0, values[i:j]))
        return {k: Series(np.concatenate([p[0] for p in v]), np.concatenate([p[1] for p in v]))
                if v else Series(np.empty(0), np.empty(0)) for k, v in parts.items()}

    def rollups(self, wanted: Iterable[SeriesKey], start: float, end: float,
                step: int) -> dict[SeriesKey, Rollup]:
        """Buckets starting from start to end of each wanted series."""
        wanted = list(dict.fromkeys(wanted))
        lo, hi = math.floor(start * 1000), math.floor(end * 1000)
        parts: dict[SeriesKey, list[Rollup]] = {k: [] for k in wanted}
        for day in range(lo // keys.DAY_MS, hi // keys.DAY_MS + 1) if hi >= lo else ():
            table = self._read(f"rollup-{step}", day)
            if table is None:
                continue
            cols = {c: table.column(c).to_numpy() for c in ("start_ms", "min", "max", "mean",
                                                            "count")}
            for key, (a, b) in _runs(table, wanted).items():
                got = cols["start_ms"][a:b]
                i = a + np.searchsorted(got, lo, side="left")
                j = a + np.searchsorted(got, hi, side="right")
                if j > i:
                    parts[key].append(Rollup(cols["start_ms"][i:j] / 1000.0, cols["min"][i:j],
                                             cols["max"][i:j], cols["mean"][i:j],
                                             cols["count"][i:j].astype(np.int64)))
        return {k: Rollup.joined(v) for k, v in parts.items()}

    def events(self, start: float | None, end: float | None,
               kinds: Iterable[str] | None = None) -> list[Event]:
        """Archived events filed between start and end (inclusive), in the order recorded."""
        wanted = None if kinds is None else set(kinds)
        days = self.days()
        if start is not None:
            days = [d for d in days if d >= math.floor(start * 1000) // keys.DAY_MS]
        if end is not None:
            days = [d for d in days if d <= math.floor(end * 1000) // keys.DAY_MS]
        out: list[tuple[tuple[int, int], Event]] = []
        for day in days:
            for event, filed in self._day_events(day, wanted):
                if (start is None or filed >= start) and (end is None or filed <= end):
                    out.append((_order(event.id), event))
        out.sort(key=lambda pair: pair[0])
        return [e for _, e in out]

    def events_before(self, end: float, kinds: Iterable[str]) -> Iterator[Event]:
        """Archived events of some kinds filed before ``end``, newest first, a day at a time."""
        wanted = set(kinds)
        last = math.floor(end * 1000) // keys.DAY_MS
        for day in reversed([d for d in self.days() if d <= last]):
            got = [(e, f) for e, f in self._day_events(day, wanted) if f < end]
            got.sort(key=lambda pair: _order(pair[0].id), reverse=True)
            yield from (e for e, _ in got)

    def _day_events(self, day: int, kinds: set[str] | None) -> list[tuple[Event, float]]:
        table = self._read("events", day)
        if table is None:
            return []
        rows = table.to_pydict()
        return [(Event(i, k, a, json.loads(d)), f)
                for i, k, a, f, d in zip(rows["id"], rows["kind"], rows["at"], rows["filed"],
                                         rows["data"], strict=True)
                if kinds is None or k in kinds]


# --- tables ---------------------------------------------------------------------------------

_SAMPLES = pa.schema([("metric", pa.dictionary(pa.int32(), pa.string())),
                      ("scope", pa.dictionary(pa.int32(), pa.string())),
                      ("ts_ms", pa.int64()), ("value", pa.float64())])
_ROLLUPS = pa.schema([("metric", pa.dictionary(pa.int32(), pa.string())),
                      ("scope", pa.dictionary(pa.int32(), pa.string())),
                      ("start_ms", pa.int64()), ("min", pa.float64()), ("max", pa.float64()),
                      ("mean", pa.float64()), ("count", pa.int32())])
_EVENTS = pa.schema([("id", pa.string()), ("kind", pa.string()), ("at", pa.float64()),
                     ("filed", pa.float64()), ("data", pa.string())])


def _names(keys_: Sequence[SeriesKey], counts: Sequence[int]) -> tuple[pa.Array, pa.Array]:
    """The metric and scope columns: each series' names repeated once per row."""
    out = []
    for part in (0, 1):
        names = sorted({k[part] for k in keys_})
        code = {n: i for i, n in enumerate(names)}
        codes = np.repeat(np.array([code[k[part]] for k in keys_], np.int32), counts)
        out.append(pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()),
                                                  pa.array(names, pa.string())))
    return out[0], out[1]


def _samples_table(samples: Mapping[SeriesKey, Series]) -> pa.Table:
    held = sorted((k, s) for k, s in samples.items() if len(s))
    if not held:
        return _SAMPLES.empty_table()
    metric, scope = _names([k for k, _ in held], [len(s) for _, s in held])
    ts_ms = np.concatenate([np.round(s.ts * 1000).astype(np.int64) for _, s in held])
    values = np.concatenate([s.values for _, s in held]).astype(np.float64)
    return pa.Table.from_arrays([metric, scope, pa.array(ts_ms), pa.array(values)],
                                schema=_SAMPLES)


def _rollup_table(rolled: Mapping[SeriesKey, Rollup]) -> pa.Table:
    held = sorted((k, r) for k, r in rolled.items() if len(r))
    if not held:
        return _ROLLUPS.empty_table()
    metric, scope = _names([k for k, _ in held], [len(r) for _, r in held])

    def column(name: str) -> np.ndarray:
        return np.concatenate([getattr(r, name) for _, r in held])

    start_ms = np.round(column("start") * 1000).astype(np.int64)
    return pa.Table.from_arrays(
        [metric, scope, pa.array(start_ms), pa.array(column("min")), pa.array(column("max")),
         pa.array(column("mean")), pa.array(column("count").astype(np.int32))],
        schema=_ROLLUPS)


def _events_table(events: Sequence[tuple[Event, float]]) -> pa.Table:
    return pa.Table.from_pydict(
        {"id": [e.id for e, _ in events], "kind": [e.kind for e, _ in events],
         "at": [e.at for e, _ in events], "filed": [f for _, f in events],
         "data": [json.dumps(e.data, default=str) for e, _ in events]}, schema=_EVENTS)


def _runs(table: pa.Table, wanted: Sequence[SeriesKey]) -> dict[SeriesKey, tuple[int, int]]:
    """Rows [a, b) of each wanted series in a table sorted by series."""
    if not table.num_rows:
        return {}
    metric = table.column("metric").combine_chunks()
    scope = table.column("scope").combine_chunks()
    m_names, s_names = metric.dictionary.to_pylist(), scope.dictionary.to_pylist()
    code = (metric.indices.to_numpy().astype(np.int64) * len(s_names)
            + scope.indices.to_numpy())
    starts = np.concatenate([[0], np.flatnonzero(np.diff(code)) + 1])
    ends = np.append(starts[1:], len(code))
    where = {int(code[a]): (int(a), int(b)) for a, b in zip(starts, ends, strict=True)}
    m_code = {n: i for i, n in enumerate(m_names)}
    s_code = {n: i for i, n in enumerate(s_names)}
    out = {}
    for metric_id, scope_id in wanted:
        if metric_id in m_code and scope_id in s_code:
            found = where.get(m_code[metric_id] * len(s_names) + s_code[scope_id])
            if found is not None:
                out[(metric_id, scope_id)] = found
    return out


def _order(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


# --- the daily job --------------------------------------------------------------------------


def archive_due(store: Store, archive: Archive, now: float, recorder: Recorder, *,
                most: int | None = None) -> list[ArchivedDay]:
    """Archive, then trim from the store, each whole UTC day older than the hot window,
    oldest first (at most ``most`` days), each with a day_archived event. Days with nothing
    in them are passed over. An ArchiveError is recorded (archive_failed, and on the
    store's archive record) and raised: that day and every later one stay in the store."""
    due = math.floor((now - store.retention) * 1000) // keys.DAY_MS  # days before this are due
    day = store.archive_frontier()
    if day is not None and day >= due:
        return []  # (the usual case: nothing has left the hot window since the last run)
    sample_days = sorted(d for d in store.chunk_days() if d < due)
    if day is None:  # the first run: from the oldest day anything is held for
        oldest = _first_filed_day(store)
        day = min([due, *sample_days[:1], *([] if oldest is None else [oldest])])
    series = store.all_series()  # (a series first written now has nothing on these days)
    done: list[ArchivedDay] = []
    while day < due:
        if most is not None and len(done) >= most:
            break
        held = [d for d in sample_days if d >= day][:1]
        oldest = _first_filed_day(store)
        if oldest is not None:
            held.append(max(oldest, day))
        skip_to = min(held, default=due)
        if skip_to > day:  # days with nothing in them: move the frontier past them at once
            if not store.trim_archived(min(skip_to, due) - 1, []):
                break
            day = min(skip_to, due)
            continue
        base = day * keys.DAY_MS
        samples = store.series(series, base / 1000, (base + keys.DAY_MS - 0.5) / 1000)
        end = (base + keys.DAY_MS) / 1000
        events = [(e, store.filed_at(e)) for e in store.events(base / 1000, end)]
        events = [(e, f) for e, f in events if f < end]
        record: list[tuple[str, dict[str, Any], float]] = []
        if any(len(s) for s in samples.values()) or events:
            try:
                written = archive.write_day(day, samples, events)
            except ArchiveError as exc:
                recorder.record(ArchiveFailed(ts=recorder.now(), day=day_name(day),
                                              error=str(exc), location=archive.location))
                store.note_archive_error(str(exc), recorder.now())
                raise
            done.append(written)
            record.append(recorder.encode(DayArchived(
                ts=recorder.now(), day=written.name, samples=written.samples,
                events=written.events, location=archive.location)))
        if not store.trim_archived(day, series, record):
            break  # another process moved the frontier: it is archiving
        day += 1
    store.note_archive_error(None, now)
    return done


def _first_filed_day(store: Store) -> int | None:
    """The earliest day the oldest event in the store can be filed on: the day of its id, or
    the day before when its id is within EVENT_MARGIN of midnight (it may have been recorded
    a little after its time, and be filed by its time)."""
    oldest = store.oldest_event_ms()
    if oldest is None:
        return None
    return int(oldest - store.EVENT_MARGIN * 1000) // keys.DAY_MS


def describe(archive: Archive, store: Store) -> dict[str, Any]:
    """What `surge archive status` prints."""
    days = archive.days()
    frontier = store.archive_frontier()
    return {"location": archive.location, "days": len(days),
            "oldest": day_name(days[0]) if days else None,
            "newest": day_name(days[-1]) if days else None,
            "store_from": day_name(frontier) if frontier is not None else None,
            **store.archive_state()}
