"""During `surge run`, level changes reach the events stream with reasons, live."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import redis

from surge.store import Store
from tests.e2e.conftest import REPO, free_port, start_surge


def test_a_major_incident_raises_call_handling_with_reasons_on_record(tmp_path: Path) -> None:
    # the shipped rules, with every `for` shortened so the test need not wait minutes
    rules = tmp_path / "rules.yaml"
    rules.write_text(re.sub(r"\bfor: \S+", "for: 0s", (REPO / "surge_rules.yaml").read_text()))
    run = start_surge(tmp_path / "var", free_port(), "--scenario", "major-incident",
                      "--speed", "120", SURGE_RULES=str(rules))
    try:
        url = json.loads((tmp_path / "var" / "store.json").read_text())["url"]
        store = Store(redis.Redis.from_url(url))
        deadline = time.monotonic() + 90
        while True:
            ups = [e for e in store.events(kinds={"level_changed"})
                   if e.data["name"] == "call_handling" and e.data["to"] > e.data["from"]]
            if ups:
                break
            assert time.monotonic() < deadline, "no call_handling escalation within 90 s:\n" \
                + "".join(run.output[-20:])
            time.sleep(1)
        event = ups[0]
        assert event.data["reason"]["drivers"]
        assert event.data["rules_version"]
        driver = event.data["reason"]["drivers"][0]
        trigger_events = [e for e in store.events(kinds={"level_changed"})
                          if e.data["name"] == driver]
        assert trigger_events and trigger_events[-1].data["reason"]["text"].startswith("calls.")
        assert store.levels()["call_handling"]["level"] >= event.data["to"] - 1
        # (the first start's demo login and screen are audited before the worker starts)
        kinds = [e.kind for e in store.events() if e.kind != "audit"]
        assert kinds[:2] in (["worker_started", "engine_started"],
                             ["engine_started", "worker_started"])
    finally:
        assert run.stop() == 0
