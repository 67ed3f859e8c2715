"""`surge run` end to end: serves pages, feeds are healthy, Ctrl-C stops all, history survives."""

from __future__ import annotations

import json
import time
import urllib.request

import redis

from tests.e2e.conftest import free_port, start_surge


def embedded_url(data_dir) -> str:
    return json.loads((data_dir / "store.json").read_text())["url"]


def wait_until(check, timeout: float = 60.0, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(every)


def test_the_demo_serves_the_page_and_every_feed_is_healthy(surge_run) -> None:
    with urllib.request.urlopen(surge_run.url, timeout=10) as page:
        assert page.status == 200 and b"Surge" in page.read()
        assert page.url.endswith("/login?next=%2F")  # the pages require signing in
    assert len(surge_run.admin_password) >= 12  # printed once, on the first start
    assert surge_run.screen_url.startswith(f"{surge_run.url}screen/")

    def all_healthy():
        code, report = surge_run.status()
        assert code == 0 and report["store"]["reachable"] is True
        feeds = report["feeds"]
        return len(feeds) == 4 and all(f["healthy"] for f in feeds) and report

    report = wait_until(all_healthy)
    assert {f["function"] for f in report["feeds"]} == {"call_handling", "clinical_triage",
                                                        "ae", "pts"}
    assert all(f["samples_accepted"] > 0 and f["samples_rejected"] == 0 for f in report["feeds"])
    assert report["worker"]["running"] is True


def test_ctrl_c_stops_everything_and_a_restart_keeps_the_history(tmp_path) -> None:
    data_dir, port = tmp_path / "var", free_port()
    first = start_surge(data_dir, port)
    client = redis.Redis.from_url(embedded_url(data_dir))

    def history():
        return wait_until(lambda: client.hgetall("surge:latest"), timeout=30, every=0.2)

    before = {k: v for k, v in history().items()}
    assert first.stop() == 0
    assert any("stopped" in line for line in first.output)
    assert not (data_dir / "store.json").exists()
    try:
        client.ping()
        raise AssertionError("the embedded store is still running after Ctrl-C")
    except redis.ConnectionError:
        pass

    assert any("Wall screen URL:" in line for line in first.output)
    second = start_surge(data_dir, port)
    try:
        assert not any("password:" in line for line in second.output)  # not made again
        client = redis.Redis.from_url(embedded_url(data_dir))
        after = client.hgetall("surge:latest")
        assert set(before) <= set(after)
        # every series still has the samples written before the restart
        for field in list(before)[:5]:
            metric, scope = field.decode().split("|")
            assert any(client.strlen(k) > 0 for k in client.keys(f"surge:ts:{metric}:{scope}:*"))
        code, _ = second.status()
        assert code == 0
    finally:
        assert second.stop() == 0
