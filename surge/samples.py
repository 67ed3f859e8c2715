"""Samples and the checks every sample passes before it is stored.

A sample is (metric, scope, timestamp, value): scope is ``trust`` or a site code, the
timestamp is seconds since the epoch in UTC. A batch is checked sample by sample: the good
ones are kept, each bad one is rejected with its reason, and nothing raises.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from surge.catalogue import TRUST, Catalogue

__all__ = ["FUTURE_TOLERANCE", "Rejection", "Sample", "check_samples"]

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


def check_samples(
    items: Iterable[Sample | Mapping[str, Any] | Rejection],
    catalogue: Catalogue,
    now: float | None,
    retention: float,
) -> tuple[list[Sample], list[Rejection]]:
    """Split a batch into storable samples and rejections with reasons.

    ``now`` None skips the checks against the clock (future, retention): for history files.
    """
    good: list[Sample] = []
    bad: list[Rejection] = []
    metrics = catalogue.metrics
    sites = catalogue.sites
    latest_ok = math.inf if now is None else now + FUTURE_TOLERANCE
    oldest_ok = -math.inf if now is None else now - retention
    for item in items:
        if isinstance(item, Rejection):  # what a feed could not make a sample of, and why
            bad.append(item)
            continue
        try:
            metric_id, scope, ts, value = _fields(item)
        except ValueError as exc:
            bad.append(Rejection(str(exc), item))
            continue
        metric = metrics.get(metric_id)
        if metric is None:
            bad.append(Rejection(f"unknown metric {metric_id!r}", item))
            continue
        if scope == TRUST:
            if TRUST not in metric.scopes:
                bad.append(Rejection(f"{metric_id} is reported per site, not for the trust", item))
                continue
        else:
            site = sites.get(scope)
            if site is None:
                bad.append(Rejection(f"unknown site {scope!r}", item))
                continue
            if site.kind not in metric.scopes:
                bad.append(Rejection(f"{metric_id} is not reported by a {site.kind} ({scope})",
                                     item))
                continue
        if not math.isfinite(value):
            bad.append(Rejection(f"value of {metric_id} is {value} (not a finite number)", item))
            continue
        if not metric.low <= value <= metric.high:
            bad.append(Rejection(f"value {value:g} of {metric_id} is outside its plausible range "
                                 f"[{metric.low:g}, {metric.high:g}]", item))
            continue
        if ts > latest_ok:
            assert now is not None
            bad.append(Rejection(f"timestamp {_iso(ts)} is {ts - now:.0f} s in the future "
                                 f"(more than {FUTURE_TOLERANCE:.0f} s ahead)", item))
            continue
        if ts < oldest_ok:
            bad.append(Rejection(f"timestamp {_iso(ts)} is older than the retention period",
                                 item))
            continue
        good.append(Sample(metric_id, scope, ts, value))
    return good, bad


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
