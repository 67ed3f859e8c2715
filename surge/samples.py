"""Samples and the checks every sample passes before it is stored.

A sample is (metric, scope, timestamp, value): scope is ``trust`` or a site code, the
timestamp is seconds since the epoch in UTC. Every sample of a batch is checked: the good
ones are kept, each bad one is rejected with its reason, and nothing raises.
"""

from __future__ import annotations

import gc
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np

from surge.catalogue import TRUST, Catalogue

__all__ = ["FUTURE_TOLERANCE", "CheckedBatch", "Rejection", "Sample", "SampleColumns", "check_batch",
           "check_samples"]

FUTURE_TOLERANCE = 300.0  # seconds a timestamp may run ahead of our clock (clock skew)


class Sample(NamedTuple):
    metric: str
    scope: str
    ts: float  # seconds since the epoch, UTC
    value: float


@dataclass(frozen=True)
class Rejection:
    """A sample that was not stored, why, and what it was (kept as received)."""

    reason: str
    raw: Any


@dataclass(frozen=True)
class SampleColumns:
    """The good samples of a batch as columns, in the order of the batch: each metric and
    scope as an index among the distinct names, times and values as float64 arrays. Taken
    once by the checks and handed to Store.write, which would otherwise take them again."""

    metric_names: list[str]  # distinct; may also hold names of samples that were rejected
    metric: np.ndarray  # index into metric_names, per sample
    scope_names: list[str]
    scope: np.ndarray
    ts: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> SampleColumns | None:
        """The columns of a batch of samples of text and numbers (numbers taken as float64,
        as they are stored), unchecked; None for any other batch."""
        if not samples:
            return None
        try:
            metrics, scopes, times, values = _columns(samples)
            "".join(metrics + scopes)  # raises unless all are text: cheaper than type() of each
        except (ValueError, TypeError):
            return None
        ts, value = np.array(times), np.array(values)
        if ts.dtype != np.float64 or value.dtype != np.float64:  # not all numbers
            return None
        metric_of, m = _codes(metrics)
        scope_of, s = _codes(scopes)
        return cls(metric_of, m, scope_of, s, ts, value)

    def part(self, start: int, end: int) -> SampleColumns:
        return SampleColumns(self.metric_names, self.metric[start:end], self.scope_names,
                             self.scope[start:end], self.ts[start:end], self.value[start:end])


@dataclass(frozen=True)
class CheckedBatch:
    """A checked batch: the samples to store, the rejections with reasons, and (for a batch
    checked a column at a time) the good samples as columns."""

    good: list[Sample]
    bad: list[Rejection]
    columns: SampleColumns | None = None


def check_samples(
    items: Iterable[Sample | Mapping[str, Any] | Rejection],
    catalogue: Catalogue,
    now: float | None,
    retention: float,
) -> tuple[list[Sample], list[Rejection]]:
    """Split a batch into storable samples and rejections with reasons.

    ``now`` None skips the checks against the clock (future, retention): for history files.
    """
    checked = check_batch(items, catalogue, now, retention)
    return checked.good, checked.bad


def check_batch(
    items: Iterable[Sample | Mapping[str, Any] | Rejection],
    catalogue: Catalogue,
    now: float | None,
    retention: float,
) -> CheckedBatch:
    """check_samples, keeping the good samples' columns where it took them (for Store.write)."""
    batch = items if isinstance(items, list) else list(items)
    latest_ok = math.inf if now is None else now + FUTURE_TOLERANCE
    oldest_ok = -math.inf if now is None else now - retention
    checked = _check_columns(batch, catalogue, now, latest_ok, oldest_ok)
    if checked is not None:
        return checked
    good: list[Sample] = []
    bad: list[Rejection] = []
    for item in batch:
        out = _check_one(item, catalogue, now, latest_ok, oldest_ok)
        if isinstance(out, Rejection):
            bad.append(out)
        else:
            good.append(out)
    return CheckedBatch(good, bad)


def _check_columns(
    batch: list[Any], catalogue: Catalogue, now: float | None, latest_ok: float, oldest_ok: float,
) -> CheckedBatch | None:
    """check_samples for a batch of Samples of text and numbers, a column at a time; None
    for any other batch.

    A feed sends thousands of samples a poll, and checking them one by one in Python would
    cost more than storing them. Here each check is made once per distinct metric and scope,
    or over numpy arrays of the whole batch. Only the samples that fail go through
    _check_one, which gives their reasons, so the result is exactly what checking one by one
    gives.
    """
    if not batch or set(map(type, batch)) != {Sample}:
        return None
    metric_ids, scopes, times, values = _columns(batch)
    numbering = catalogue.numbering
    try:  # the usual batch: every name is in the catalogue
        m, s = numbering.metric_codes(metric_ids), numbering.scope_codes(scopes)
        metric_of, scope_of = numbering.metric_names, numbering.scope_names
        reported, low, high = numbering.reported, numbering.low, numbering.high
    except (KeyError, TypeError):  # a name not in it, or not text: a table of the batch's own
        try:
            "".join(metric_ids + scopes)  # raises unless all are text: cheaper than type() of each
        except TypeError:
            return None
        metric_of, m = _codes(metric_ids)
        scope_of, s = _codes(scopes)
        if len(metric_of) * len(scope_of) > 4 * len(batch) + 4096:
            return None  # mostly names seen once: a table of every pair would cost more
        reported, low, high = _scope_table(metric_of, scope_of, catalogue)
    number_types = set(map(type, times)) | set(map(type, values))
    if not number_types <= {float, int}:
        return None
    floats_only = number_types == {float}
    if not floats_only:  # a good sample has a float time and value, as _fields makes them
        times, values = tuple(map(float, times)), tuple(map(float, values))
    ts = np.array(times, dtype=np.float64)
    value = np.array(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        failed = ~reported[m, s]
        failed |= ~np.isfinite(ts)
        failed |= ~np.isfinite(value)
        failed |= (value < low[m]) | (value > high[m])
        failed |= (ts > latest_ok) | (ts < oldest_ok)
    kept = batch if floats_only else list(map(Sample._make, zip(metric_ids, scopes, times, values,
                                                                  strict=True)))
    good: list[Sample] = []
    bad: list[Rejection] = []
    start = 0
    failed_at = np.flatnonzero(failed).tolist()
    for i in failed_at:
        good += kept[start:i]
        out = _check_one(batch[i], catalogue, now, latest_ok, oldest_ok)
        if isinstance(out, Rejection):
            bad.append(out)
        else:  # not expected: the checks above are _check_one's, made a column at a time
            good.append(out)
            failed[i] = False
        start = i + 1
    good += kept[start:]
    if failed_at:
        kept_at = ~failed
        m, s, ts, value = m[kept_at], s[kept_at], ts[kept_at], value[kept_at]
    return CheckedBatch(good, bad, SampleColumns(metric_of, m, scope_of, s, ts, value))


def _columns(batch: Sequence[Any]) -> tuple[tuple[Any, ...], ...]:
    """The metrics, scopes, times and values of a batch of samples (ValueError unless each
    has four).

    The garbage collector is held off meanwhile: zip(*batch) makes an iterator per sample,
    and thousands made at once would set off its full collections, which scan every object
    there is, for nothing (iterators hold no cycles).
    """
    held = gc.isenabled()
    gc.disable()
    try:
        columns = tuple(zip(*batch, strict=True))
    finally:
        if held:
            gc.enable()
    return columns if columns else ((), (), (), ())


def _codes(column: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The distinct texts of a column, and the index among them of each item of it."""
    distinct = list(dict.fromkeys(column))
    width = 1 if len(distinct) <= 1 << 8 else 2 if len(distinct) <= 1 << 16 else 4
    code_of = {text: i.to_bytes(width, "little") for i, text in enumerate(distinct)}
    picked = operator.itemgetter(*column)(code_of)  # the item itself when there is one
    return distinct, np.frombuffer(picked if len(column) == 1 else b"".join(picked),
                                   dtype=f"<u{width}")


def _scope_table(metric_ids: list[str], scopes: list[str],
                 catalogue: Catalogue) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whether each metric is reported at each scope (False for an unknown metric or site),
    and each metric's plausible range (NaN when unknown)."""
    kinds = [scope if scope == TRUST else _kind(catalogue, scope) for scope in scopes]
    reported = np.zeros((len(metric_ids), len(scopes)), dtype=bool)
    low = np.full(len(metric_ids), np.nan)
    high = np.full(len(metric_ids), np.nan)
    for i, metric_id in enumerate(metric_ids):
        metric = catalogue.metrics.get(metric_id)
        if metric is not None:
            low[i], high[i] = metric.low, metric.high
            reported[i] = [kind is not None and kind in metric.scopes for kind in kinds]
    return reported, low, high


def _kind(catalogue: Catalogue, code: str) -> str | None:
    site = catalogue.sites.get(code)
    return None if site is None else site.kind


def _check_one(item: Sample | Mapping[str, Any] | Rejection, catalogue: Catalogue,
               now: float | None, latest_ok: float, oldest_ok: float) -> Sample | Rejection:
    """One item checked: the sample to store, or its rejection with the reason."""
    if isinstance(item, Rejection):  # what a feed could not make a sample of, and why
        return item
    try:
        metric_id, scope, ts, value = _fields(item)
    except ValueError as exc:
        return Rejection(str(exc), item)
    metric = catalogue.metrics.get(metric_id)
    if metric is None:
        return Rejection(f"unknown metric {metric_id!r}", item)
    if scope == TRUST:
        if TRUST not in metric.scopes:
            return Rejection(f"{metric_id} is reported per site, not for the trust", item)
    else:
        site = catalogue.sites.get(scope)
        if site is None:
            return Rejection(f"unknown site {scope!r}", item)
        if site.kind not in metric.scopes:
            return Rejection(f"{metric_id} is not reported by a {site.kind} ({scope})", item)
    if not math.isfinite(value):
        return Rejection(f"value of {metric_id} is {value} (not a finite number)", item)
    if not metric.low <= value <= metric.high:
        return Rejection(f"value {value:g} of {metric_id} is outside its plausible range "
                         f"[{metric.low:g}, {metric.high:g}]", item)
    if ts > latest_ok:
        assert now is not None
        return Rejection(f"timestamp {_iso(ts)} is {ts - now:.0f} s in the future "
                         f"(more than {FUTURE_TOLERANCE:.0f} s ahead)", item)
    if ts < oldest_ok:
        return Rejection(f"timestamp {_iso(ts)} is older than the retention period", item)
    return Sample(metric_id, scope, ts, value)


def _fields(item: Sample | Mapping[str, Any]) -> tuple[str, str, float, float]:
    """(metric, scope, ts, value) from a Sample or a mapping; ValueError saying what is wrong."""
    if isinstance(item, Sample):
        metric, scope, ts, value = item
    elif isinstance(item, Mapping):
        missing = [k for k in ("metric", "ts", "value") if k not in item]
        if missing:
            raise ValueError(f"missing field(s): {', '.join(missing)}")
        metric, scope, ts, value = item["metric"], item.get("scope", TRUST), item["ts"], item["value"]
    else:
        raise ValueError(f"expected a sample with metric, scope, ts and value, got {type(item).__name__}")
    if not isinstance(metric, str):
        raise ValueError(f"metric must be text, got {metric!r}")
    if not isinstance(scope, str):
        raise ValueError(f"scope must be text, got {scope!r}")
    return metric, scope, _timestamp(ts), _number(value, metric)


def _number(value: Any, metric: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"value of {metric} must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"value of {metric} must be a number, got {value!r}")


def _timestamp(ts: Any) -> float:
    if isinstance(ts, bool):
        raise ValueError(f"timestamp must be a time, got {ts!r}")
    if isinstance(ts, (int, float)):
        if not math.isfinite(ts):
            raise ValueError(f"timestamp must be a time, got {ts!r}")
        return float(ts)
    if isinstance(ts, str):
        try:
            ts = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"timestamp {ts!r} is not an ISO 8601 time") from None
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            raise ValueError(f"timestamp {ts.isoformat()} has no time zone (expected UTC)")
        return ts.timestamp()
    raise ValueError(f"timestamp must be a time, got {ts!r}")


def _iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return repr(ts)
