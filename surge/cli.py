"""The ``surge`` command: run everything, or the worker, the web server or a status check.

The entry point (``surge.cli:main``): the group, its options and error handling live in
surge/cli_base.py, which the sub-CLIs (cli_rules.py, cli_auth.py) import too; this module
imports them so that their commands are registered. Errors a user can cause are printed as
one clear message per problem with a non-zero exit; never a traceback.
"""

from __future__ import annotations

import errno
import json
import logging
import signal
import socket
import sys
import threading
from dataclasses import replace
from typing import Any

import click

# importing the sub-CLIs registers their commands on main: users, screens, audit, rules, explain,
# alerting, alerts, archive, feeds, export
from surge import (  # noqa: F401
    cli_alerting,
    cli_alerts,
    cli_archive,
    cli_auth,
    cli_data,
    cli_events,
    cli_export,
    cli_feeds,
    cli_levels,
    cli_rules,
)
from surge.auth import ensure_demo_login
from surge.catalogue import Catalogue, load_catalogue
from surge.cli_base import base_url as _base_url
from surge.cli_base import display_host as _display_host
from surge.cli_base import feed_options, friendly_errors, main, store_options, web_options
from surge.cli_base import settings_from_options as _settings
from surge.clock import Clock
from surge.errors import StoreUnavailable, SurgeError
from surge.rules.loader import load_rules
from surge.settings import Settings
from surge.store import Store, redact_url, utc_iso

__all__ = ["main"]

log = logging.getLogger("surge")


@main.command()
@store_options
@web_options
@feed_options
@friendly_errors
def run(**options: Any) -> None:
    """Store, worker and web in one process; Ctrl-C stops all three."""
    from surge.embedded import EmbeddedStore
    from surge.events import Recorder
    from surge.runmode import plan_clock, prepare_store, store_dir
    from surge.settings import prepare_data_dir

    settings = _settings(**options)
    catalogue = load_rules(settings.rules).catalogue  # every problem now, before anything starts
    clock = plan_clock(settings, catalogue)  # a bad scenario or speed: before anything starts
    _check_feeds(settings, catalogue, clock)
    web = _WebServer(settings)  # before anything starts: a busy port stops us cleanly
    try:  # then the data dir, made and checked before anything is written anywhere
        prepare_data_dir(settings.data_dir,
                         "--data-dir" if options.get("data_dir") is not None else "SURGE_DATA_DIR")
    except BaseException:
        web.close()
        raise
    mailbox = _demo_mailbox(settings, clock)
    if mailbox is not None:
        settings = replace(settings, smtp_url=mailbox.smtp_url)
    embedded = (EmbeddedStore(settings.data_dir, store_dir=store_dir(settings, clock))
                if settings.embedded else None)
    stop = threading.Event()  # set by Ctrl-C, SIGTERM, or an embedded store that stays down
    try:
        url = embedded.start() if embedded else settings.redis_url
        assert url is not None
        settings = replace(settings, redis_url=url)
        store = _open_checked(settings)
        store.clock = clock
        if embedded:
            embedded.supervise(Recorder(store, clock), on_failure=stop.set)
        prepare_store(store, clock, fresh_exercise=True)
        first_login = ensure_demo_login(store, _base_url(settings))
        if first_login:  # shown at once: it is never shown again, whatever happens next
            _print_first_login(*first_login)
        worker = _start_worker(settings, store, catalogue, clock)
        try:
            web.attach(settings, store, clock)
            web.start()
            where = "embedded store in " + str(settings.data_dir) if embedded else redact_url(url)
            banner = clock.banner()
            if banner:
                click.secho(banner + (f" (scenario {clock.scenario})" if clock.scenario else ""),
                            fg="yellow", bold=True)
            click.echo(f"Surge is running on http://{_display_host(settings.host)}:"
                       f"{settings.port}/  (store: {where}; Ctrl-C to stop)")
            _wait_for_stop(stop)
            click.echo("stopping...")
        finally:
            web.stop()
            worker.stop()
            store.close()
    finally:
        web.close()
        if embedded:
            embedded.stop()
        if mailbox is not None:
            mailbox.stop()
    if embedded and embedded.failure:  # loud, last, and a non-zero exit for a supervisor
        click.secho(f"error: {embedded.failure}; Surge has stopped", fg="red", bold=True,
                    err=True)
        sys.exit(1)
    click.echo("stopped")


@main.command()
@store_options
@feed_options
@friendly_errors
def worker(**options: Any) -> None:
    """Poll the feeds and run the rules engine; with others running, one is active and the
    rest stand by to take over."""
    from surge.runmode import joined_clock, plan_clock, prepare_store

    settings = _settings(**options)
    catalogue = load_rules(settings.rules).catalogue
    clock = plan_clock(settings, catalogue)
    _check_feeds(settings, catalogue, clock)
    store = _open_checked(settings)
    joining = bool(store.workers())  # others are running: share their clock, clear nothing
    clock = joined_clock(store, clock) if joining else clock
    store.clock = clock
    prepare_store(store, clock, fresh_exercise=not joining)
    running = _start_worker(settings, store, catalogue, clock)
    role = "active" if running.wait_until_active(2.0) else "standby (another worker is active)"
    click.echo(f"worker {running.id} running against {store.where}: {role} (Ctrl-C to stop)")
    try:
        _wait_for_signal()
    finally:
        running.stop()
        store.close()


@main.command()
@store_options
@web_options
@friendly_errors
def web(**options: Any) -> None:
    """Serve the dashboard (for production use gunicorn, see the Procfile)."""
    settings = _settings(**options)
    load_catalogue(settings.rules)
    server = _WebServer(settings)
    from surge.context import open_store

    store = open_store(settings)
    from dashboard.app import watch_for_workers

    watch_for_workers(server.attach(settings, store))
    server.start()
    click.echo(f"Surge web on http://{_display_host(settings.host)}:{settings.port}/ "
               f"(Ctrl-C to stop)")
    try:
        _wait_for_signal()
    finally:
        server.stop()
        server.close()
        store.close()


@main.command()
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@friendly_errors
def status(as_json: bool, **options: Any) -> None:
    """Is the store reachable, and is every feed healthy? Exit 0 when the store is reachable."""
    from surge.context import open_store

    settings = _settings(**options)
    report: dict[str, Any] = {"store": {"reachable": False}, "feeds": [], "worker": None,
                              "workers": [], "rules": None, "clock": None, "alerts": None}
    try:
        store = open_store(settings)
        store.ping()
    except StoreUnavailable as exc:
        report["store"]["error"] = str(exc)
    else:
        clock = Clock.from_record(store.clock_record())
        now = clock()
        report["store"] = {"reachable": True, "url": store.where, **store.server_info()}
        warning = store.eviction_warning()
        if warning:
            report["store"]["warning"] = warning
        workers = store.workers()
        report["workers"] = [{"id": w.id, "active": w.active, **w.info} for w in workers]
        report["worker"] = _worker_report(workers)
        report["rules"] = _rules_report(store.rules_in_force())
        report["clock"] = {"mode": clock.mode, "speed": clock.speed, "scenario": clock.scenario,
                           "now": utc_iso(now), "banner": clock.banner()}
        report["feeds"] = [_feed_report(s, now) for s in store.feed_status()]
        report["alerts"] = _alerts_report(store)
        store.close()
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        _print_status(report)
    sys.exit(0 if report["store"]["reachable"] else 1)


# --- helpers -------------------------------------------------------------------------


def _demo_mailbox(settings: Settings, clock: Clock) -> Any:
    """For a simulated run or an exercise with alerting and no mail server: a local mailbox
    (surge/alerting/mailbox.py) keeping the alert emails in DATA_DIR/mailbox and saying in
    this terminal what arrived. Never for live data: its emails must reach people."""
    if settings.smtp_url is not None or not clock.simulated or not settings.alerting.exists():
        return None
    from email.message import EmailMessage

    from surge.alerting.mailbox import Mailbox

    def told(recipients: list[str], message: EmailMessage) -> None:
        click.echo(f"mail to {', '.join(recipients)}: {message['Subject']}")

    try:
        mailbox = Mailbox(told, folder=settings.data_dir / "mailbox").start()
    except SurgeError as exc:
        click.secho(f"no local mailbox ({exc}): alert emails will fail", fg="yellow", err=True)
        return None
    click.echo(f"Alert emails go to a local mailbox (no SURGE_SMTP_URL): listed here, kept in "
               f"{settings.data_dir / 'mailbox'}/")
    return mailbox


def _open_checked(settings: Settings) -> Store:
    from surge.context import open_store

    store = open_store(settings)
    store.ping()
    warning = store.eviction_warning()
    if warning:
        click.secho(f"WARNING: {warning}", fg="red", bold=True, err=True)
    return store


def _check_feeds(settings: Settings, catalogue: Catalogue, clock: Clock) -> None:
    """Build the feeds once before anything starts, so a bad feed setting stops us cleanly."""
    from feeds.registry import build_feeds

    build_feeds(settings, catalogue, clock)


def _start_worker(settings: Settings, store: Store, catalogue: Catalogue, clock: Clock) -> Any:
    from feeds.registry import build_feeds
    from surge.worker import Worker

    feeds = build_feeds(settings, catalogue, clock)
    running = Worker(store, catalogue, feeds, clock=clock, rules_path=settings.rules,
                     settings=settings)
    running.start()
    return running


class _WebServer:
    """The dashboard on a werkzeug server in a thread, bound before anything else starts."""

    def __init__(self, settings: Settings) -> None:
        from werkzeug.serving import make_server

        from dashboard.app import create_app

        self._create_app = create_app
        self._dispatch: Any = None
        _check_port_free(settings.host, settings.port)
        try:
            self.server = make_server(settings.host, settings.port, self._wsgi, threaded=True)
        except (OSError, SystemExit):  # werkzeug exits on a bind failure; say why ourselves
            raise SurgeError(f"cannot listen on {settings.host}:{settings.port}") from None
        self.thread: threading.Thread | None = None

    def _wsgi(self, environ: Any, start_response: Any) -> Any:
        return self._dispatch(environ, start_response)

    def attach(self, settings: Settings, store: Store, clock: Clock | None = None) -> Any:
        app = self._create_app(settings, store=store, clock=clock)
        self._dispatch = app.server.wsgi_app
        return app

    def start(self) -> None:
        self.thread = threading.Thread(target=self.server.serve_forever, name="web", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.thread is not None:
            self.server.shutdown()
            self.thread.join(timeout=10)
            self.thread = None

    def close(self) -> None:
        self.server.server_close()


def _check_port_free(host: str, port: int) -> None:
    """SurgeError saying clearly why the web server could not listen on host:port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise SurgeError(f"port {port} on {host} is already in use (is Surge already "
                                 f"running?); choose another with --port or SURGE_PORT") from None
            raise SurgeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _print_first_login(user: str, password: str, url: str) -> None:
    """The demo login created on first start, shown once in a box that stands out."""
    lines = ["First start: an admin login was created",
             f"  user: {user}  password: {password}",
             f"  (change it with: surge users reset-password {user})",
             f"Wall screen URL: {url}"]
    width = max(len(line) for line in lines) + 2
    click.secho("+" + "-" * width + "+", fg="yellow", bold=True)
    for line in lines:
        click.secho(f"| {line:<{width - 1}}|", fg="yellow", bold=True)
    click.secho("+" + "-" * width + "+", fg="yellow", bold=True)


def _wait_for_stop(stop: threading.Event) -> None:
    """Until Ctrl-C, SIGTERM or SIGHUP (the terminal closed), or ``stop`` is set."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


def _worker_report(workers: list[Any]) -> dict[str, Any]:
    from surge.worker import engine_stalled

    active = next((w for w in workers if w.active), None)
    if active is None:
        return {"running": False, "standbys": len(workers)}
    stalled = engine_stalled(active.info)
    return {"running": True, "id": active.id, "pid": active.info.get("pid"),
            "host": active.info.get("host"), "standbys": len(workers) - 1,
            "engine_stalled_seconds": round(stalled) if stalled else None}


def _rules_report(published: dict[str, str]) -> dict[str, Any] | None:
    if not published:
        return None
    at = float(published.get("loaded_at", 0))
    return {"version": published.get("version"), "source": published.get("source"),
            "loaded_by": published.get("loaded_by"), "loaded_at": utc_iso(at) if at else None}


def _feed_report(s: Any, now: float) -> dict[str, Any]:
    return {
        "feed": s.name,
        "function": s.function,
        "healthy": s.healthy(now),
        "last_sample": utc_iso(s.last_sample) if s.last_sample else None,
        "age_seconds": round(now - s.last_sample, 1) if s.last_sample else None,
        "last_success": utc_iso(s.last_success) if s.last_success else None,
        "samples_accepted": s.accepted,
        "samples_rejected": s.rejected,
        "samples_late": s.late,
        "duplicates": s.duplicates,
        "rejected_by_reason": dict(s.rejected_by_reason),
        "state": s.state,
        "failed_polls_in_a_row": s.failures,
        "polls": s.polls,
        "failed_polls": s.failed_polls,
        "retries": s.retries,
        "last_poll_seconds": s.last_duration,
        "last_error": s.last_error if s.state != "up" else None,
        "down_since": utc_iso(s.down_since) if s.down_since else None,
    }


def _alerts_report(store: Store) -> dict[str, Any]:
    """Alerts active and unacknowledged, and the outbox: pending, and failed in the last day."""
    import time

    from surge.alerting.book import AlertBook, RecordUnreadable

    book = AlertBook(store)
    try:
        active = book.active()
        sent = book.notifications()
    except RecordUnreadable as exc:
        return {"error": str(exc)}
    day_ago = time.time() - 86400
    return {"active": len(active),
            "unacknowledged": sum(a.unacked_since is not None for a in active.values()),
            "outbox_pending": sum(n.state == "pending" for n in sent),
            "failed_last_day": sum(n.state == "failed" and n.created >= day_ago for n in sent)}


def _print_status(report: dict[str, Any]) -> None:
    store = report["store"]
    if not store["reachable"]:
        click.secho(f"store: NOT REACHABLE - {store.get('error', '')}", fg="red", bold=True)
        return
    version = store.get("valkey_version") or store.get("redis_version") or "?"
    click.echo(f"store: reachable ({store['url']}, {store.get('server_name', 'redis')} {version})")
    if "warning" in store:
        click.secho(f"WARNING: {store['warning']}", fg="red", bold=True)
    if report["clock"] and report["clock"]["banner"]:
        clock = report["clock"]
        scenario = f", scenario {clock['scenario']}" if clock["scenario"] else ""
        click.secho(f"{clock['banner']}{scenario}; Surge time now {clock['now']}",
                    fg="yellow", bold=True)
    worker = report["worker"]
    if worker and worker["running"]:
        click.echo(f"worker: running ({worker['id']}, active; {worker['standbys']} standby)")
        if worker["engine_stalled_seconds"]:
            click.secho(f"RULES ENGINE STUCK: no evaluation for {worker['engine_stalled_seconds']}"
                        f" s; levels are not being updated", fg="red", bold=True)
    else:
        standbys = worker["standbys"] if worker else 0
        click.secho(f"worker: NOT RUNNING (no active worker; {standbys} standby)", fg="red",
                    bold=True)
    for w in report["workers"]:
        if not w["active"]:
            click.echo(f"  standby: {w['id']}")
    rules = report["rules"]
    if rules:
        click.echo(f"rules: version {rules['version']} from {rules['source']}, loaded "
                   f"{rules['loaded_at']} by {rules['loaded_by']}")
    else:
        click.secho("rules: none in force yet (no worker has loaded them)", fg="red")
    alerts = report.get("alerts")
    if alerts and "error" in alerts:
        click.secho(f"alerts: NOT AVAILABLE - {alerts['error']}", fg="red", bold=True)
    elif alerts:
        line = (f"alerts: {alerts['active']} active ({alerts['unacknowledged']} unacknowledged); "
                f"outbox: {alerts['outbox_pending']} to send, {alerts['failed_last_day']} "
                f"failed in the last day")
        loud = alerts["unacknowledged"] or alerts["failed_last_day"]
        click.secho(line, fg="red" if loud else None, bold=bool(loud))
    if not report["feeds"]:
        click.echo("feeds: none has been polled yet")
        return
    header = f"{'feed':<22} {'function':<16} {'last sample (UTC)':<21} {'age s':>7} " \
             f"{'accepted':>9} {'rejected':>9}  healthy"
    click.echo(header)
    for f in report["feeds"]:
        age = "-" if f["age_seconds"] is None else f"{f['age_seconds']:.0f}"
        healthy = "yes" if f["healthy"] else "NO"
        line = (f"{f['feed']:<22} {f['function']:<16} {f['last_sample'] or '-':<21} {age:>7} "
                f"{f['samples_accepted']:>9} {f['samples_rejected']:>9}  {healthy}")
        click.secho(line, fg=None if f["healthy"] else "red")
        if f["last_error"] and f["down_since"]:
            click.secho(f"    down since {f['down_since']}: {f['last_error']}", fg="red")
        elif f["last_error"]:
            click.secho(f"    degraded, {f['failed_polls_in_a_row']} failed poll(s) in a row: "
                        f"{f['last_error']}", fg="yellow")

