"""Wall-screen heap benchmark: a wall screen's JavaScript heap must grow less than 10% over 2 hours.

A wall screen is a browser left on one page for days, refreshing every few seconds; a page
that keeps a little of every refresh (figures, DOM nodes, listeners) slows and then crashes
the screen overnight. Here two hours of it pass in minutes:

- `surge run` (embedded store, simulated feeds, dashboard) in its own temporary data dir, on a
  free port, with an exercise scenario (default winter-evening-surge: the levels climb and the
  figures change all evening) at a speed such that minutes x speed = 120 simulated minutes
  (10 real minutes at x12 by default), and SURGE_REFRESH so that the page refreshes every
  second (600 refreshes in 10 minutes: 50 minutes of a screen at the production 5 s);
- headless Chromium (Debian's chromium and chromium-driver, driven by selenium, as the browser
  tests do) at 1920x1080 opens the screen link `surge run` prints (signed in as a wall screen,
  the viewer role), then the page in wall mode, `/?wall=1` for the strategic page;
- every --every seconds, through the Chrome DevTools Protocol: a full garbage collection
  (HeapProfiler.collectGarbage), then Performance.getMetrics: JSHeapUsedSize (the figure
  judged), JSHeapTotalSize, Nodes (DOM nodes alive, detached ones included), JSEventListeners
  and Documents; and the page's refreshes so far, counted in the page by wrapping the
  watchdog's recordRefresh (assets/watchdog.js), which Dash calls after every completed
  refresh; the length of dash-renderer's undo history (window.store: history.past, one entry
  per tick of the page's dcc.Interval, never trimmed: plotly/dash#727); the watchdog's "not
  updating" banner; the browser console (SEVERE entries);
- at the end, a control: the same URL loaded afresh in the same browser (the same data, as
  the run left it; a playlist after one turn of it), sampled likewise. What the long-running
  page holds beyond it is what running kept; the rest of the growth is the page's content
  growing with the data.

Only samples taken once the page shown has refreshed twice and with every figure drawn count
(a sample in the middle of a playlist's move is in the CSV but not in the figures). Baseline: the median
of the first 3 samples after the warm-up (--warmup s after the page opened); final: the median
of the last 3 (one sample swings by about 1 MB with what is in flight). Reported: baseline,
final and largest heap, growth (final / baseline - 1; PASS below 10%), and the least-squares
slope of the heap after the warm-up, in bytes per real hour and per refresh; the same for DOM
nodes and listeners; refreshes seen against those expected; page reloads (assets/session.js
reloads a page on a 401: a reload empties the heap, so a run with one says so); console
errors; and problems `surge run` logged. With --rotate, a second run does the same with the
wall-screen playlist (`?wall=1&rotate=S&pages=...`, assets/rotate.js): figures are compared
page by page (baseline and final on the same page; the slope fitted with one intercept per
page).

Every sample is saved as CSV (--csv, default a temporary file; its path is printed).
Not part of `make test` (ten minutes or more).

Run: .venv/bin/python bench/wall_heap.py [--minutes 10] [--speed X] [--refresh 1] [--every 10]
                                         [--warmup 60] [--settle 20] [--page strategic]
                                         [--scenario NAME]
                                         [--rotate [S]] [--pages strategic,tactical,operational]
                                         [--csv PATH]
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver

REPO = Path(__file__).resolve().parent.parent
SURGE = str(Path(sys.executable).parent / "surge")
PATHS = {"strategic": "/"}  # any other page: /<name>
TARGET = 0.10  # the heap may grow less than this over the run
SIMULATED_MINUTES = 120
WINDOW = 3  # samples whose median is the baseline, and the final figure
CONTROL = 3  # samples of a page loaded afresh at the end

# Counts the page's completed refreshes: Dash looks the clientside function up at every call,
# so a wrapper put in place after the page loaded sees every later one. Installed again after
# a reload (the count then restarts; the sampler adds the counts of the pages before).
COUNTER_JS = """
var surge = window.dash_clientside && window.dash_clientside.surge;
if (surge && surge.recordRefresh && !window.__wallHeap) {
    var state = window.__wallHeap = {refreshes: 0, uk: "", page: "", onPage: 0};
    var original = surge.recordRefresh;
    surge.recordRefresh = function (data) {
        if (data && data.uk) {
            var here = document.querySelector("[data-page]");
            var name = here ? here.getAttribute("data-page") : "";
            state.onPage = name === state.page ? state.onPage + 1 : 1;
            state.page = name;
            state.refreshes += 1;
            state.uk = data.uk;
        }
        return original.apply(this, arguments);
    };
}
var store = window.store && window.store.getState && window.store.getState();
var root = document.querySelector("[data-page]");
var banner = document.getElementById("watchdog-banner");
var graphs = document.querySelectorAll(".dash-graph");
var drawn = Array.prototype.filter.call(graphs, function (g) {
    return g.querySelector(".js-plotly-plot .main-svg");
});
return {
    origin: performance.timeOrigin,
    refreshes: window.__wallHeap ? window.__wallHeap.refreshes : 0,
    uk: window.__wallHeap ? window.__wallHeap.uk : "",
    page: root ? root.getAttribute("data-page") : "",
    onPage: window.__wallHeap && root && window.__wallHeap.page === root.getAttribute("data-page")
        ? window.__wallHeap.onPage : 0,
    history: store && store.history ? store.history.past.length : -1,
    stalled: !!(banner && !banner.hidden),
    figures: graphs.length,
    drawn: drawn.length,
    viewport: window.innerWidth + "x" + window.innerHeight
};
"""


@dataclass
class Sample:
    run: str
    t: float  # s since the page was opened
    page: str
    heap_used: int
    heap_total: int
    nodes: int
    listeners: int
    documents: int
    refreshes: int  # completed refreshes since the page was opened, all loads of it
    on_page: int  # of them, since the page shown now was (re)drawn
    loads: int  # 1, or more when the page reloaded itself
    uk: str  # the time the page's last refresh carried (the exercise's clock)
    history: int  # entries in dash-renderer's undo history (-1: not found)
    stalled: bool  # the watchdog's "not updating" banner was up
    figures: int
    drawn: int

    @property
    def ready(self) -> bool:
        """A sample that counts: the page shown has refreshed twice (a playlist's move has
        settled) and every figure of it is drawn."""
        return bool(self.page) and self.on_page >= 2 and self.drawn >= self.figures


@dataclass
class Run:
    label: str
    url: str
    samples: list[Sample] = field(default_factory=list)
    fresh: list[Sample] = field(default_factory=list)  # the control: pages loaded afresh
    errors: list[str] = field(default_factory=list)  # console, SEVERE
    warmed_at: float = 0.0
    viewport: str = ""
    log: str = ""


# --- surge run and the browser ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def surge_run(data_dir: Path, args: argparse.Namespace) -> Iterator[tuple[str, str, list[str]]]:
    """`surge run` with the exercise: (its URL, the wall screen link it printed, its output)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURGE_")}
    env.update(SURGE_RULES=str(REPO / "surge_rules.yaml"), SURGE_REFRESH=f"{args.refresh}s")
    process = subprocess.Popen(
        [SURGE, "run", "--data-dir", str(data_dir), "--port", str(port),
         "--scenario", args.scenario, "--speed", f"{args.speed:g}"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    output: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        deadline = time.monotonic() + 90
        while not any("Surge is running" in line for line in output):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench broke: surge run did not start:\n" + "".join(output))
            time.sleep(0.1)
        found = re.search(r"Wall screen URL: (\S+)", "".join(output))
        if not found:
            raise SystemExit("bench broke: surge run printed no wall screen URL:\n"
                             + "".join(output))
        yield f"http://127.0.0.1:{port}", found.group(1), output
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def chromium() -> Iterator[WebDriver]:
    """Headless Chromium at 1920x1080, as tests/e2e/conftest.py starts it."""
    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver_path):
        raise SystemExit("the bench needs Debian's chromium and chromium-driver "
                         "(sudo apt-get install chromium chromium-driver)")
    profile = tempfile.mkdtemp(prefix="surge-wall-heap-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1920,1080",
                f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# --- sampling -------------------------------------------------------------------------------


class Sampler:
    """Samples one page (and the reloads of it) through CDP and an injected counter."""

    def __init__(self, driver: WebDriver, run: Run, opened: float) -> None:
        self.driver = driver
        self.run = run
        self.opened = opened
        self.origins: list[float] = []
        self.counted_before = 0  # refreshes counted by the loads before this one
        self.last_count = 0
        driver.execute_cdp_cmd("Performance.enable", {"timeDomain": "timeTicks"})

    def page_state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.driver.execute_script(COUNTER_JS)
        if not self.origins or state["origin"] != self.origins[-1]:
            if self.origins:
                self.counted_before += self.last_count
            self.origins.append(state["origin"])
        self.last_count = int(state["refreshes"])
        return state

    def console(self) -> None:
        for entry in self.driver.get_log("browser"):
            if entry.get("level") == "SEVERE":
                self.run.errors.append(entry.get("message", ""))

    def sample(self) -> Sample:
        self.driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
        metrics = {m["name"]: m["value"] for m in
                   self.driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]}
        state = self.page_state()
        self.console()
        self.run.viewport = state["viewport"]
        return Sample(self.run.label, round(time.monotonic() - self.opened, 1), state["page"],
                      int(metrics["JSHeapUsedSize"]), int(metrics["JSHeapTotalSize"]),
                      int(metrics["Nodes"]), int(metrics["JSEventListeners"]),
                      int(metrics["Documents"]), self.counted_before + self.last_count,
                      int(state["onPage"]),
                      len(self.origins), state["uk"], int(state["history"]),
                      bool(state["stalled"]),
                      int(state["figures"]), int(state["drawn"]))


def measure(args: argparse.Namespace, label: str, query: str, tmp: Path) -> Run:
    """One run: a fresh `surge run` and browser, sampled for --minutes, then the control."""
    data_dir = tmp / label / "var"
    data_dir.parent.mkdir(parents=True)
    with surge_run(data_dir, args) as (url, screen_link, output), chromium() as driver:
        run = Run(label, f"{url}{path_of(args.page)}?{query}")
        driver.get(screen_link)  # signs in as the demo wall screen (it lands on the overview)
        driver.get(run.url)
        opened = time.monotonic()
        sampler = Sampler(driver, run, opened)
        end = opened + args.minutes * 60
        cycle = args.rotate * len(args.pages) if args.rotate else 0
        warm_from = opened + max(args.warmup, cycle)
        print(f"{label}: {run.url.replace(url, '')} opened; sampling every {args.every:g} s "
              f"for {args.minutes:g} min", flush=True)
        # a sample every --every s, on schedule; the warm-up ends at its first sample that
        # finds every figure drawn (and, rotating, after one whole turn of the playlist)
        tick = opened
        while tick <= end:
            time.sleep(max(0.0, tick - time.monotonic()))
            sample = sampler.sample()
            run.samples.append(sample)
            if not run.warmed_at and time.monotonic() >= warm_from and sample.ready:
                run.warmed_at = sample.t
            tick += args.every
        rotating = "rotate=" in query
        run.fresh = fresh_load(driver, run, args, args.pages if rotating else [args.page],
                               cycle if rotating else 0)
        run.log = "".join(output)
        return run


def fresh_load(driver: WebDriver, run: Run, args: argparse.Namespace, pages: Sequence[str],
               cycle: float) -> list[Sample]:
    """The control: the run's URL loaded afresh, left --settle s (a playlist: and one turn
    of it), then sampled every 5 s until each page has CONTROL samples that count."""
    driver.get(run.url)
    opened = time.monotonic()
    sampler = Sampler(driver, Run(f"{run.label} fresh", run.url), opened)
    taken: list[Sample] = []
    time.sleep(args.settle + cycle)
    until = time.monotonic() + 2 * cycle + 60
    while time.monotonic() < until and any(
            sum(s.page == p for s in taken) < CONTROL for p in pages):
        sample = sampler.sample()
        if sample.ready:
            taken.append(sample)
        time.sleep(min(args.every, 5))
    run.errors.extend(sampler.run.errors)
    return taken


def path_of(page: str) -> str:
    return PATHS.get(page, f"/{page}")


# --- figures --------------------------------------------------------------------------------


def slope(points: Sequence[tuple[str, float, float]]) -> float:
    """Least-squares dy/dx of (group, x, y), one intercept per group (pages of a playlist
    weigh differently; a single page is the plain least-squares slope)."""
    groups: dict[str, list[tuple[float, float]]] = {}
    for group, x, y in points:
        groups.setdefault(group, []).append((x, y))
    sxy = sxx = 0.0
    for pts in groups.values():
        mx = sum(x for x, _ in pts) / len(pts)
        my = sum(y for _, y in pts) / len(pts)
        sxy += sum((x - mx) * (y - my) for x, y in pts)
        sxx += sum((x - mx) ** 2 for x, _ in pts)
    return sxy / sxx if sxx else 0.0


@dataclass(frozen=True)
class Figures:
    """One metric over a run: baseline and final (per page, then averaged over the pages),
    the largest sample, growth (the largest page's), slopes, and the fresh-load control."""

    baseline: float
    final: float
    largest: float
    growth: float
    per_hour: float
    per_refresh: float
    fresh: float  # nan: no control


def counted(run: Run) -> list[Sample]:
    return [s for s in run.samples if s.t >= run.warmed_at and s.ready]


def figures_of(run: Run, metric: str) -> Figures:
    after = counted(run)
    by_page: dict[str, list[float]] = {}
    for s in after:
        by_page.setdefault(s.page, []).append(getattr(s, metric))
    first = {p: statistics.median(v[:WINDOW]) for p, v in by_page.items()}
    last = {p: statistics.median(v[-WINDOW:]) for p, v in by_page.items()}
    growth = max((last[p] / first[p] - 1 for p in first if first[p]), default=0.0)
    fresh: dict[str, list[float]] = {}
    for s in run.fresh:
        fresh.setdefault(s.page, []).append(getattr(s, metric))
    control = (statistics.fmean(statistics.median(v) for v in fresh.values())
               if fresh else float("nan"))
    return Figures(statistics.fmean(first.values()), statistics.fmean(last.values()),
                   max(getattr(s, metric) for s in after), growth,
                   slope([(s.page, s.t, getattr(s, metric)) for s in after]) * 3600,
                   slope([(s.page, s.refreshes, getattr(s, metric)) for s in after]), control)


def mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB"


def signed(n: float, unit: str) -> str:
    return f"{n:+,.0f} {unit}"


def report(run: Run, args: argparse.Namespace) -> bool:
    samples = run.samples
    after = counted(run)
    if not run.warmed_at or len(after) < 2 * WINDOW:
        print(f"  too few samples with the page drawn after the warm-up ({len(after)}; last "
              f"sample: {samples[-1].drawn} of {samples[-1].figures} figures drawn): no "
              f"baseline.  FAIL")
        return False
    pages = sorted({s.page for s in after})
    heap = figures_of(run, "heap_used")
    nodes = figures_of(run, "nodes")
    listeners = figures_of(run, "listeners")
    history = figures_of(run, "history")
    seconds = samples[-1].t - run.warmed_at
    refreshes = samples[-1].refreshes
    expected = samples[-1].t / args.refresh
    loads = samples[-1].loads
    stalled = sum(s.stalled for s in samples)
    ok = heap.growth < TARGET
    per = ", each page against itself, largest" if len(pages) > 1 else ""
    kept = heap.final - heap.fresh
    rows = [
        ("samples", f"{len(samples)}, {len(after)} counted (page drawn, after the warm-up "
         f"that ended at {run.warmed_at:.0f} s; {seconds / 60:.1f} min)", ""),
        ("pages sampled", ", ".join(f"{p} x{sum(s.page == p for s in after)}" for p in pages)
         + f"; viewport {run.viewport}", ""),
        ("exercise time on the page", f"{next((s.uk for s in samples if s.uk), '?')} -> "
         f"{samples[-1].uk or '?'} UK (x{args.speed:g})", ""),
        ("JS heap used, baseline", f"{mb(heap.baseline)} (median of the first {WINDOW})", ""),
        ("JS heap used, final", f"{mb(heap.final)} (median of the last {WINDOW})", ""),
        ("JS heap used, largest sample", mb(heap.largest), ""),
        (f"JS heap growth{per}", f"{heap.growth:+.1%}", f"< {TARGET:.0%}  {verdict(ok)}"),
        ("JS heap slope (least squares)", f"{signed(heap.per_hour, 'B/h')}, "
         f"{signed(heap.per_refresh, 'B/refresh')}", "(report; ~0)"),
        ("the same URL loaded afresh at the end", f"{mb(heap.fresh)}; the long-running page "
         f"holds {kept / 1e6:+.2f} MB ({kept / heap.fresh:+.1%}) more", "(report; ~0)"),
        ("DOM nodes baseline -> final (largest)",
         f"{nodes.baseline:,.0f} -> {nodes.final:,.0f} ({nodes.largest:,.0f}), "
         f"{nodes.growth:+.1%}; fresh load {nodes.fresh:,.0f}", "(report; = fresh)"),
        ("JS event listeners baseline -> final (largest)",
         f"{listeners.baseline:,.0f} -> {listeners.final:,.0f} ({listeners.largest:,.0f}), "
         f"{listeners.growth:+.1%}; fresh load {listeners.fresh:,.0f}", "(report; = fresh)"),
        ("dash-renderer undo history entries",
         f"{history.baseline:,.0f} -> {history.final:,.0f}, "
         f"{signed(history.per_refresh, '/refresh')}", "(report; flat)"),
        ("refreshes seen", f"{refreshes:,} of ~{expected:,.0f} expected (one every "
         f"{args.refresh} s)", f">= 90%  {verdict(refreshes >= 0.9 * expected)}"),
        ("page loads", f"{loads}", f"1  {verdict(loads == 1)}"),
        ("samples with the 'not updating' banner", f"{stalled} (no refresh completed for "
         f"{3 * args.refresh} s)", "0"),
        ("console errors (SEVERE)", f"{len(run.errors)}", f"0  {verdict(not run.errors)}"),
        ("surge run log", "; ".join(problems(run.log)) or "no errors logged", ""),
    ]
    width = max(len(r[0]) for r in rows)
    for what, got, target in rows:
        print(f"  {what:<{width}}  {got:<66} {target}")
    for message in dict.fromkeys(run.errors):  # each distinct one once
        print(f"    console: {message[:300]}")
    return ok


def problems(log: str) -> list[str]:
    found = []
    for label, pattern in (("tracebacks", r"Traceback \(most recent call last\)"),
                           ("refresh failed", r"refresh failed"), ("errors", r"\bERROR\b")):
        n = len(re.findall(pattern, log))
        if n:
            found.append(f"{label} x{n}")
    return found


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def write_csv(path: Path, runs: Sequence[Run]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*(x.name for x in fields(Sample)), "counted"])
        writer.writeheader()
        for run in runs:
            kept = {id(s) for s in counted(run)} if run.warmed_at else set()
            for s in [*run.samples, *run.fresh]:
                writer.writerow({**asdict(s), "counted": int(id(s) in kept)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10, help="real minutes sampled")
    parser.add_argument("--speed", type=float, default=None,
                        help=f"exercise speed (default {SIMULATED_MINUTES} / minutes)")
    parser.add_argument("--refresh", type=int, default=1, help="s between the page's refreshes")
    parser.add_argument("--every", type=float, default=10, help="s between samples")
    parser.add_argument("--warmup", type=float, default=60, help="s before the baseline")
    parser.add_argument("--settle", type=float, default=20,
                        help="s a page loaded afresh at the end is left before the control")
    parser.add_argument("--page", default="strategic", help="the page a screen shows")
    parser.add_argument("--scenario", default="winter-evening-surge", help="exercise scenario")
    parser.add_argument("--rotate", type=int, nargs="?", const=20, default=0, metavar="S",
                        help="also a second run with the playlist, a page every S s (20)")
    parser.add_argument("--pages", default="strategic,tactical,operational",
                        help="the playlist's pages (with --rotate)")
    parser.add_argument("--csv", type=Path, default=None, help="where the samples go")
    args = parser.parse_args()
    if args.speed is None:
        args.speed = SIMULATED_MINUTES / args.minutes
    args.pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    if args.rotate:
        args.rotate = max(10, args.rotate)  # as assets/rotate.js
    if args.csv is None:
        handle, name = tempfile.mkstemp(prefix="surge-wall-heap-", suffix=".csv")
        os.close(handle)
        args.csv = Path(name)

    print(f"wall-screen heap: `surge run --scenario {args.scenario} --speed {args.speed:g}`, "
          f"SURGE_REFRESH={args.refresh}s; {args.minutes:g} real min = "
          f"{args.minutes * args.speed:g} exercise min; headless Chromium 1920x1080 signed in "
          f"by the screen link; GC then Performance.getMetrics every {args.every:g} s; "
          f"baseline after {args.warmup:g} s; {os.cpu_count()} cores")
    runs: list[Run] = []
    results = []
    with tempfile.TemporaryDirectory(prefix="surge-wall-heap-") as tmp:
        plan = [(args.page, "wall=1")]
        if args.rotate:
            plan.append(("rotate", f"wall=1&rotate={args.rotate}&pages={','.join(args.pages)}"))
        for label, query in plan:
            run = measure(args, label, query, Path(tmp))
            runs.append(run)
            write_csv(args.csv, runs)
            results.append(report(run, args))
            print()
    print(f"samples: {args.csv}")
    print(f"result: {verdict(all(results))} (JS heap growth < {TARGET:.0%} over "
          f"{args.minutes * args.speed:g} exercise minutes"
          + (", single page and playlist" if args.rotate else "") + ")")
    if not all(results):
        sys.exit(1)


if __name__ == "__main__":
    main()
