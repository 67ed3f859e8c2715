"""GET /metrics: Surge's state in the Prometheus text format, read from the store at each scrape.

    install_metrics(server, context)   the route on one app's server (create_app calls it,
                                       after install_auth)
    SurgeCollector(context)            a prometheus_client collector: ``collect()`` reads a
                                       Snapshot and turns it into metric families
    read_snapshot(context)             what one scrape knows: the store's feeds, workers,
                                       levels, declaration and alerts, and the spool files
    families(snapshot)                 the metric families of a snapshot (a pure function)

Nothing is counted in this process: the worker records every poll in the store, and each
gunicorn worker serving /metrics reads the same numbers from there. A store that does not
answer is ``surge_store_up 0`` in a 200 answer that carries what is known without it (the run
mode, the rules version, the spool), as Prometheus exporters do: the scrape itself succeeded.

The families (labels in braces; counters are totals since a feed was first polled):

    surge_store_up                                    1 when the store answered this scrape
    surge_run_info{mode}                              live, simulated or exercise
    surge_rules_info{version}                         the rules version in force
    surge_feed_info{feed,function}                    one per feed the worker has polled
    surge_feed_up{feed}                               1 when healthy: a poll succeeded within
                                                      three intervals and it is not down
    surge_feed_state{feed,state}                      1 for the state its last poll left:
                                                      up, degraded or down; waiting before
                                                      its first (surge_feed_up also goes
                                                      to 0 when polls stop)
    surge_feed_consecutive_failures{feed}             failed polls in a row
    surge_feed_polls_total{feed}
    surge_feed_failed_polls_total{feed}
    surge_feed_fetch_retries_total{feed}              fetch attempts beyond each poll's first
    surge_feed_poll_duration_seconds{feed}            the last poll, retries included
    surge_feed_poll_attempts{feed}                    the last poll's fetch attempts
    surge_feed_samples_accepted_total{feed}
    surge_feed_samples_rejected_total{feed,reason}    reason: surge.store.REJECTION_REASONS
    surge_feed_samples_duplicate_total{feed}
    surge_feed_samples_late_total{feed}
    surge_feed_last_success_age_seconds{feed}         Surge seconds since its last good poll
    surge_feed_spooled_samples{feed}                  taken while the store was down, waiting
                                                      on disk (only where the spool is visible)
    surge_workers{role}                               live worker processes: active, standby
    surge_engine_last_step_timestamp_seconds          when the active worker's rules engine
                                                      last finished a step (real time)
    surge_level{name,kind}                            each published level's number
    surge_level_stale{name,kind}                      1 when it is held on stale data
    surge_declaration_in_force                        1 when a declaration is in force
    surge_declared_level                              the declared trust level, when there is one
    surge_alerts_active{kind}                         active alerts

Access: like Prometheus exporters, /metrics needs no sign-in (it holds counts and levels,
nothing about patients or people). With SURGE_METRICS_TOKEN set, it needs ``Authorization:
Bearer <token>``, compared in constant time; anything else is a 401, on the audit trail as
any refusal is. Only GET and HEAD of exactly /metrics are exempt from the sign-in guard of
dashboard/auth.py; every other method and path stays behind it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import flask
from flask import request
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from werkzeug.wrappers import Response

from dashboard.context import DashboardContext
from dashboard.sessions import ANONYMOUS, actor, audit_repeated
from feeds.spool import spooled_counts
from surge.alerting.book import AlertBook, RecordUnreadable
from surge.alerting.config import KINDS as ALERT_KINDS
from surge.errors import ConfigError, StoreUnavailable
from surge.levels import PublishedLevel
from surge.store import FEED_STATES, REJECTION_REASONS, WAITING, FeedStatus, WorkerInfo

__all__ = ["PATH", "Snapshot", "SurgeCollector", "families", "install_metrics", "read_snapshot"]

log = logging.getLogger(__name__)

PATH = "/metrics"
REALM = 'Bearer realm="surge metrics"'


# --- what one scrape reads ------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What one scrape knows. The store's part is empty when ``store_up`` is False."""

    now: float  # Surge time (feeds' times are Surge time)
    mode: str
    rules_version: str | None
    store_up: bool = False
    feeds: Sequence[FeedStatus] = ()
    spooled: Mapping[str, int] = field(default_factory=dict)
    workers: Sequence[WorkerInfo] = ()
    levels: Mapping[str, PublishedLevel] = field(default_factory=dict)
    declared: int | None = None
    alerts: Mapping[str, int] | None = None  # active alerts by kind; None: not readable


def read_snapshot(context: DashboardContext) -> Snapshot:
    """The store's picture now, and the spool files beside it; never raises for a store
    that is down (``store_up`` False then)."""
    catalogue = None
    with contextlib.suppress(ConfigError):  # a broken rules file: levels without names
        catalogue = context.catalogue()
    base = Snapshot(now=context.clock(), mode=context.run_clock().mode,
                    rules_version=catalogue.version if catalogue else None,
                    spooled=_spooled(context))
    try:
        store = context.store()
        feeds = store.feed_status()
        workers = store.workers()
        levels = store.published_levels(catalogue)
        declaration = store.declaration()
        version = store.rules_version() or base.rules_version
        alerts = _alert_counts(AlertBook(store))
    except StoreUnavailable as exc:
        log.warning("metrics: the store did not answer: %s", exc)
        return base
    return Snapshot(now=base.now, mode=base.mode, rules_version=version, store_up=True,
                    feeds=feeds, spooled=base.spooled, workers=workers, levels=levels,
                    declared=int(declaration["level"]) if declaration.get("level") is not None
                    else None, alerts=alerts)


def _alert_counts(book: AlertBook) -> dict[str, int] | None:
    try:
        active = book.active()
    except RecordUnreadable as exc:  # the alerts page says so too; the rest still counts
        log.error("metrics: %s", exc)
        return None
    counts = dict.fromkeys(ALERT_KINDS, 0)
    for alert in active.values():
        counts[alert.kind] = counts.get(alert.kind, 0) + 1
    return counts


def _spooled(context: DashboardContext) -> dict[str, int]:
    """Samples spooled per feed, where this process can see the worker's data dir."""
    try:
        return spooled_counts(context.settings.data_dir)
    except OSError as exc:
        log.warning("metrics: cannot read the spool in %s: %s", context.settings.data_dir, exc)
        return {}


# --- the families ---------------------------------------------------------------------------


def families(s: Snapshot) -> list[Metric]:
    """Every metric family of a snapshot; each family is there even when it has no sample."""
    out: list[Metric] = []

    def gauge(name: str, doc: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, doc, labels=labels)
        out.append(family)
        return family

    def counter(name: str, doc: str, labels: Sequence[str] = ()) -> CounterMetricFamily:
        family = CounterMetricFamily(name, doc, labels=labels)
        out.append(family)
        return family

    gauge("surge_store_up", "1 when the store answered this scrape, else 0.") \
        .add_metric([], 1 if s.store_up else 0)
    out.append(InfoMetricFamily("surge_run", "The run's mode: live, simulated or exercise.",
                                value={"mode": s.mode}))
    rules = InfoMetricFamily("surge_rules", "The rules version in force.", labels=["version"])
    if s.rules_version:
        rules.add_metric([s.rules_version], {})
    out.append(rules)

    feed = ["feed"]
    info = InfoMetricFamily("surge_feed", "A feed the worker has polled, and its function.",
                            labels=["feed", "function"])
    out.append(info)
    up = gauge("surge_feed_up", "1 when the feed is healthy: polled successfully within three "
                                "intervals and not down.", feed)
    state = gauge("surge_feed_state", "1 for the state the last poll left the feed in (up, "
                                      "degraded or down; waiting before the first), 0 for the "
                                      "others.", ["feed", "state"])
    failures = gauge("surge_feed_consecutive_failures", "Failed polls in a row.", feed)
    polls = counter("surge_feed_polls_total", "Polls of the feed.", feed)
    failed = counter("surge_feed_failed_polls_total", "Polls that failed after every attempt.",
                     feed)
    retries = counter("surge_feed_fetch_retries_total",
                      "Fetch attempts beyond the first of each poll.", feed)
    duration = gauge("surge_feed_poll_duration_seconds",
                     "How long the last poll took, retries included.", feed)
    attempts = gauge("surge_feed_poll_attempts", "Fetch attempts of the last poll.", feed)
    accepted = counter("surge_feed_samples_accepted_total", "Samples stored.", feed)
    rejected = counter("surge_feed_samples_rejected_total",
                       "Samples rejected and quarantined, by reason.", ["feed", "reason"])
    duplicate = counter("surge_feed_samples_duplicate_total",
                        "Samples already stored (ignored).", feed)
    late = counter("surge_feed_samples_late_total",
                   "Samples older than their series' newest (counted, not stored).", feed)
    age = gauge("surge_feed_last_success_age_seconds",
                "Seconds (Surge time) since the last successful poll.", feed)
    for f in s.feeds:
        name = [f.name]
        info.add_metric([f.name, f.function], {})
        up.add_metric(name, 1 if f.healthy(s.now) else 0)
        for each in (*FEED_STATES, WAITING):
            state.add_metric([f.name, each], 1 if f.state == each else 0)
        failures.add_metric(name, f.failures)
        polls.add_metric(name, f.polls)
        failed.add_metric(name, f.failed_polls)
        retries.add_metric(name, f.retries)
        if f.last_duration is not None:
            duration.add_metric(name, f.last_duration)
        attempts.add_metric(name, f.last_attempts)
        accepted.add_metric(name, f.accepted)
        for reason in REJECTION_REASONS:
            rejected.add_metric([f.name, reason], f.rejected_by_reason.get(reason, 0))
        duplicate.add_metric(name, f.duplicates)
        late.add_metric(name, f.late)
        if f.last_success is not None:
            age.add_metric(name, max(0.0, s.now - f.last_success))
    spooled = gauge("surge_feed_spooled_samples", "Samples taken while the store was down, "
                    "waiting on disk to be written to it.", feed)
    for spool, count in sorted(s.spooled.items()):
        spooled.add_metric([spool], count)

    workers = gauge("surge_workers", "Live worker processes, by role.", ["role"])
    step = gauge("surge_engine_last_step_timestamp_seconds",
                 "When the active worker's rules engine last finished a step (Unix time).")
    if s.store_up:
        active = [w for w in s.workers if w.active]
        workers.add_metric(["active"], len(active))
        workers.add_metric(["standby"], len(s.workers) - len(active))
        taken = active[0].info.get("engine_step") if active else None
        if isinstance(taken, int | float):
            step.add_metric([], taken)

    level = gauge("surge_level", "Each published level's number.", ["name", "kind"])
    stale = gauge("surge_level_stale", "1 when the level is held on stale data.",
                  ["name", "kind"])
    for lv in sorted(s.levels.values(), key=lambda lv: lv.name):
        level.add_metric([lv.name, lv.kind], lv.level)
        stale.add_metric([lv.name, lv.kind], 1 if lv.stale else 0)
    in_force = gauge("surge_declaration_in_force",
                     "1 when a commander's declaration of the trust level is in force.")
    declared = gauge("surge_declared_level", "The trust level a commander declared.")
    if s.store_up:
        in_force.add_metric([], 1 if s.declared is not None else 0)
        if s.declared is not None:
            declared.add_metric([], s.declared)
    alerts = gauge("surge_alerts_active", "Active alerts, by kind.", ["kind"])
    for kind, count in sorted((s.alerts or {}).items()):
        alerts.add_metric([kind], count)
    return out


class SurgeCollector(Collector):
    """Reads the store at each ``collect()``; ``describe()`` names the families without it."""

    def __init__(self, context: DashboardContext) -> None:
        self.context = context

    def describe(self) -> Iterable[Metric]:
        return families(Snapshot(now=0.0, mode="live", rules_version=None))

    def collect(self) -> Iterable[Metric]:
        return families(read_snapshot(self.context))


# --- the route ------------------------------------------------------------------------------


def _token_ok(expected: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <expected>`` (constant time: both
    sides are hashed first, so not even the length is given away)."""
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        sent = ""
    return hmac.compare_digest(hashlib.sha256(sent.strip().encode()).digest(),
                               hashlib.sha256(expected.encode()).digest())


def _refused() -> Response:
    sent = "Authorization" in request.headers
    audit_repeated("access_refused", actor(ANONYMOUS), target=f"{request.method} {PATH}",
                   reason="wrong metrics token" if sent else "no metrics token")
    response = Response("metrics need the header Authorization: Bearer <SURGE_METRICS_TOKEN>\n",
                        401, content_type="text/plain; charset=utf-8")
    response.headers["WWW-Authenticate"] = REALM + (', error="invalid_token"' if sent else "")
    return response


def install_metrics(server: flask.Flask, context: DashboardContext) -> None:
    """GET /metrics on one app's server. Call it after install_auth: its exemption from the
    sign-in guard runs before the guard, for GET and HEAD of exactly /metrics."""
    registry = CollectorRegistry()
    registry.register(SurgeCollector(context))

    def metrics() -> Response:
        token = context.settings.metrics_token
        if token is not None and not _token_ok(token):
            return _refused()
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return Response(encode(registry), 200, content_type=content_type)

    def exempt() -> Response | None:
        if request.path == PATH and request.method in ("GET", "HEAD"):
            return metrics()
        return None

    server.add_url_rule(PATH, "metrics", metrics, methods=["GET"])
    server.before_request_funcs.setdefault(None, []).insert(0, exempt)

