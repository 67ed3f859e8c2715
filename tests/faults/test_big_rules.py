"""A rules file too big to be sensible is refused at once, with where and why; the worker
never wedges on one: a new file is loaded off the engine's thread, within a time limit."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from surge.catalogue import MAX_SITES
from surge.rules import live
from surge.rules.live import LiveEngine
from surge.rules.loader import MAX_INSTANCES, check_rules

REPO = Path(__file__).resolve().parents[2]
SURGE = str(Path(sys.executable).parent / "surge")
SHIPPED = (REPO / "surge_rules.yaml").read_text()


def with_sites(count: int, text: str = SHIPPED) -> str:
    """The shipped rules with ``count`` more hospitals."""
    extra = "".join(f"  X{i:06d}: {{name: Hospital {i}, kind: hospital}}\n" for i in range(count))
    return text.replace("sites:\n", "sites:\n" + extra, 1)


def test_the_hostile_five_megabyte_file_is_refused_at_once(tmp_path: Path) -> None:
    big = tmp_path / "surge_rules.yaml"
    big.write_text(with_sites(120_000))
    assert big.stat().st_size > 5_000_000
    started = time.monotonic()
    done = subprocess.run([SURGE, "rules", "check", str(big)], capture_output=True, text=True,
                          timeout=120)
    took = time.monotonic() - started
    assert done.returncode == 1
    assert f"{big}:1:1: the file is {big.stat().st_size:,} bytes; the limit is" in done.stdout \
        + done.stderr
    print(f"refused in {took:.2f} s", file=sys.stderr)


def test_too_many_sites_are_named_where_they_are_written(tmp_path: Path) -> None:
    path = tmp_path / "surge_rules.yaml"
    path.write_text(with_sites(MAX_SITES + 1))
    rules, problems = check_rules(path)
    assert rules is None
    line = SHIPPED[:SHIPPED.index("sites:\n")].count("\n") + 2  # the first site's line
    assert [str(p) for p in problems if "listed; the limit" in p.message] == [
        f"{path}:{line}:3: sites: {MAX_SITES + 12:,} listed; the limit is {MAX_SITES:,} "
        f"(see Limits in docs/rules.md)"]


def test_per_site_triggers_that_would_evaluate_too_many_times_are_refused(tmp_path) -> None:
    sites = 900
    triggers = "".join(f"      - {{id: q{i}, metric: ae.handover_queue, over: sites, "
                       f"aggregate: each, levels: {{2: {i + 1}}}, for: 5m}}\n" for i in range(60))
    text = with_sites(sites).replace("protocols:\n", "protocols:\n  big:\n    label: Big\n"
                                                     "    triggers:\n" + triggers, 1)
    path = tmp_path / "surge_rules.yaml"
    path.write_text(text)
    rules, problems = check_rules(path)
    assert rules is None
    found = [p.message for p in problems if "evaluate" in p.message]
    assert len(found) == 1 and f"the limit is {MAX_INSTANCES:,}" in found[0]


def test_a_slow_file_is_loaded_off_the_engine_thread_and_refused_after_the_limit(
        store, tmp_path, monkeypatch) -> None:
    path = tmp_path / "surge_rules.yaml"
    path.write_text(SHIPPED)
    engine = LiveEngine(store, path, time.time)
    version = engine.rules.version
    monkeypatch.setattr(live, "QUICK_LOAD", 0.0)  # as for a file that takes long to load
    monkeypatch.setattr(live, "RELOAD_TIME_LIMIT", 0.0)
    path.write_text(with_sites(MAX_SITES - 20))  # valid, and it takes a while to read
    engine.tick()  # starts loading and returns at once: the tick is not held up by the file
    assert store.events(kinds={"rules_loaded", "rules_rejected"}) == []  # nothing decided yet
    time.sleep(0.01)
    engine.tick()  # past the limit: refused, the running rules stay
    (rejected,) = store.events(kinds={"rules_rejected"})
    assert "took longer than" in rejected.data["problems"][0]
    assert engine.rules.version == version
    engine.tick()  # and the engine goes on
    assert store.events(kinds={"rules_loaded"}) == []


def test_a_large_but_allowed_file_still_loads_on_reload(store, tmp_path) -> None:
    count = MAX_SITES - 20
    path = tmp_path / "surge_rules.yaml"
    path.write_text(SHIPPED)
    engine = LiveEngine(store, path, time.time)
    path.write_text(with_sites(count))
    deadline = time.monotonic() + 60
    while not store.events(kinds={"rules_loaded"}):
        assert time.monotonic() < deadline
        engine.tick()
        time.sleep(0.1)
    assert len(engine.rules.catalogue.sites) == count + 11
