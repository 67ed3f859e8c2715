"""The status page's view model: is everything that feeds the screens working?

Each feed (healthy or DOWN and since when, its last poll and newest sample, counts), the
samples rejected by reason and the quarantine's latest entries, the store, the active and
standby workers with the liveness of the active one's rules engine, the last evaluation,
and the rules version in force. Failures are stated first and in words.

``now`` is Surge's clock (exercise time during an exercise); ``real_now`` is the machine's,
which the workers' heartbeats and the engine's steps are timed by.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dashboard.formatting import format_age, uk_time
from surge.catalogue import Catalogue
from surge.store import WAITING, FeedStatus, WorkerInfo
from surge.worker import ENGINE_STALLED_SECONDS, engine_stalled

__all__ = ["FeedRow", "StatusPageView", "WorkerRow", "build_status_page"]

QUARANTINE_SHOWN = 10


@dataclass(frozen=True)
class FeedRow:
    name: str
    function: str
    healthy: bool
    state: str  # "OK" or "DOWN since 14:03: error"
    last_poll: str
    newest_sample: str
    counts: str  # "12,345 accepted · 3 rejected · 0 late · 1 duplicate"


@dataclass(frozen=True)
class WorkerRow:
    id: str
    role: str  # ACTIVE | standby
    host: str
    started: str
    rules_version: str
    feeds: str
    engine: str  # "engine stepping: last evaluation 2 s ago" / "ENGINE STUCK ..."
    stuck: bool


@dataclass(frozen=True)
class StatusPageView:
    problems: tuple[str, ...]  # every failure, in words; empty when all is well
    feeds: tuple[FeedRow, ...]
    rejections: tuple[tuple[str, str, int], ...]  # (feed, reason, count) in the latest
    quarantine: tuple[tuple[str, str, str, str], ...]  # (time, feed, reason, sample)
    quarantine_seen: int
    store: tuple[tuple[str, str], ...]  # (what, value)
    workers: tuple[WorkerRow, ...]
    last_evaluation: str
    rules: tuple[tuple[str, str], ...]


def _when(ts: float | None, catalogue: Catalogue, now: float) -> str:
    if ts is None:
        return "never"
    return f"{uk_time(ts, catalogue.timezone, now=now)} ({format_age(now - ts)})"


def _feed(feed: FeedStatus, catalogue: Catalogue, now: float, labels: Mapping[str, str]
          ) -> FeedRow:
    healthy = feed.healthy(now)
    if healthy and feed.state == "degraded":  # failing, not yet down: its data still fresh
        since = feed.failing_since or feed.last_error_at
        state = (f"DEGRADED — {feed.failures} failed poll(s) in a row"
                 + (f" since {uk_time(since, catalogue.timezone, now=now)}" if since else ""))
        if feed.last_error:
            state += f": {feed.last_error[:200]}"
    elif healthy and feed.state == WAITING:
        state = "WAITING for its first poll or push"
    elif healthy:
        state = "OK"
    elif feed.down_since is not None:
        state = f"DOWN since {uk_time(feed.down_since, catalogue.timezone, now=now)}"
        if feed.last_error:
            state += f": {feed.last_error[:200]}"
    elif feed.state == WAITING:
        state = "DOWN: nothing received since it was set up"
        if feed.expected_since is not None:
            state += f" ({uk_time(feed.expected_since, catalogue.timezone, now=now)})"
    else:
        state = "DOWN: no successful poll recently"
    counts = (f"{feed.accepted:,} accepted · {feed.rejected:,} rejected · {feed.late:,} late "
              f"· {feed.duplicates:,} duplicate · {feed.polls:,} polls, {feed.failed_polls:,} "
              f"failed, {feed.retries:,} retried")
    reasons = [f"{n:,} {reason.replace('_', ' ')}"
               for reason, n in sorted(feed.rejected_by_reason.items()) if n]
    if reasons:
        counts += f" · rejected: {', '.join(reasons)}"
    return FeedRow(feed.name, labels.get(feed.function, feed.function), healthy, state,
                   _when(feed.last_success, catalogue, now),
                   _when(feed.last_sample, catalogue, now), counts)


def _worker(worker: WorkerInfo, catalogue: Catalogue, now: float, real_now: float
            ) -> WorkerRow:
    info: dict[str, Any] = worker.info
    started = info.get("started")
    try:
        started_text = uk_time(float(started), catalogue.timezone, now=now) if started else "?"
    except (TypeError, ValueError):
        started_text = "?"
    step = info.get("engine_step")
    stuck = False
    if not worker.active:
        engine = "standby: takes over if the active worker stops"
    elif not isinstance(step, int | float):
        engine = "no rules engine step reported yet"
    else:
        idle = engine_stalled(info, real_now)
        stuck = idle is not None
        engine = (f"ENGINE STUCK — no evaluation for {round(idle)} s (over "
                  f"{ENGINE_STALLED_SECONDS:.0f} s)" if idle is not None
                  else f"engine running: last evaluation {format_age(real_now - step)}")
    feeds = info.get("feeds") or []
    return WorkerRow(worker.id, "ACTIVE" if worker.active else "standby",
                     f"{info.get('host', '?')} pid {info.get('pid', '?')}", started_text,
                     str(info.get("rules_version") or "?"),
                     ", ".join(str(f) for f in feeds) if isinstance(feeds, list) else str(feeds),
                     engine, stuck)


def build_status_page(catalogue: Catalogue, now: float, real_now: float, *,
                      store_error: str | None, where: str, server: Mapping[str, Any],
                      eviction: str | None, feeds: Sequence[FeedStatus],
                      quarantined: Sequence[Mapping[str, Any]], workers: Sequence[WorkerInfo],
                      rules: Mapping[str, str]) -> StatusPageView:
    """Everything the status page shows; ``store_error``: the store did not answer."""
    labels = {f.id: f.label for f in catalogue.functions}
    problems: list[str] = []
    if store_error is not None:
        problems.append(f"DATA STORE UNREACHABLE — {store_error}")
        store: tuple[tuple[str, str], ...] = (("where", where), ("state", "UNREACHABLE"))
        return StatusPageView(tuple(problems), (), (), (), 0, store, (),
                              "unknown: the store cannot be read", (("version", "unknown"),))
    rows = tuple(_feed(f, catalogue, now, labels) for f in feeds)
    problems += [f"FEED {r.name} ({r.function}) {r.state}" for r in rows if not r.healthy]
    if not rows:
        problems.append("NO FEEDS HAVE REPORTED — no data is being collected")
    if eviction:
        problems.append(f"STORE MAY EVICT DATA — {eviction}")
    worker_rows = tuple(_worker(w, catalogue, now, real_now) for w in workers)
    active = [w for w in worker_rows if w.role == "ACTIVE"]
    if not active:
        problems.append("NO ACTIVE WORKER — no data is being collected or evaluated")
    problems += [f"{w.id}: {w.engine}" for w in active if w.stuck]
    last = active[0].engine if active else "no active worker: nothing is being evaluated"
    reasons = Counter((str(q.get("feed", "?")), str(q.get("reason", "?"))) for q in quarantined)
    rejections = tuple((f, r, n) for (f, r), n in reasons.most_common())
    entries = []
    for q in quarantined[:QUARANTINE_SHOWN]:
        try:
            at = uk_time(float(q.get("at", "")), catalogue.timezone, now=now)
        except ValueError:
            at = "?"
        entries.append((at, str(q.get("feed", "?")), str(q.get("reason", "?")),
                        str(q.get("sample", ""))[:160]))
    version = server.get("valkey_version") or server.get("redis_version") or "?"
    store = (("where", where), ("state", "reachable"),
             ("server", f"{server.get('server_name') or 'redis'} {version}"),
             ("eviction", eviction or "none: maxmemory-policy noeviction"))
    if rules.get("version"):
        try:
            loaded = _when(float(rules.get("loaded_at", "")), catalogue, now)
        except ValueError:
            loaded = "?"
        rules_rows: tuple[tuple[str, str], ...] = (("version", rules["version"]), ("loaded", loaded),
                      ("by", rules.get("loaded_by", "?")), ("file", rules.get("source", "?")))
    else:
        problems.append("NO RULES PUBLISHED — no worker has put rules in force")
        rules_rows = (("version", f"{catalogue.version} (the file: none published)"),)
    return StatusPageView(tuple(problems), rows, rejections, tuple(entries), len(quarantined),
                          store, worker_rows, last, rules_rows)
