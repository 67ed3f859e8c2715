"""The web app under gunicorn with two workers: every worker serves the same live data, and
a session made by one worker is honoured by the other (one secret key, made once)."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from dashboard.app import create_app
from surge.samples import Sample
from surge.settings import Settings
from tests.dashboard.conftest import add_user
from tests.dashboard.test_app import callback_key
from tests.e2e.conftest import REPO, free_port

pytestmark = pytest.mark.slow


def refresh_body(settings: Settings) -> bytes:
    app = create_app(settings)
    key = callback_key(app, "overview-interval")
    cb = app.callback_map[key]
    outputs = cb["output"] if isinstance(cb["output"], list) else [cb["output"]]
    return json.dumps({
        "output": key,
        "outputs": [{"id": o.component_id, "property": o.component_property} for o in outputs],
        "inputs": [{**i, "value": 1} for i in cb["inputs"]],
        "state": [{**s, "value": None} for s in cb["state"]],
        "changedPropIds": [f"{i['id']}.{i['property']}" for i in cb["inputs"]],
    }).encode()


def test_two_gunicorn_workers_serve_the_same_live_values_to_one_session(
        store, redis_url, tmp_path: Path) -> None:
    now = time.time()
    store.write([Sample("calls.waiting", "trust", now - 30, 417.0)])
    port = free_port()
    log = tmp_path / "access.log"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SURGE_")},
           "SURGE_REDIS_URL": redis_url, "SURGE_RULES": str(REPO / "surge_rules.yaml"),
           "SURGE_DATA_DIR": str(tmp_path / "var")}  # the secret key is made there, once
    gunicorn = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--workers", "2", "--threads", "2",
         "--bind", f"127.0.0.1:{port}", "--access-logfile", str(log),
         "--access-logformat", "%(p)s %(U)s %(s)s", "dashboard.app:server"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # one browser: its session cookie, made by whichever worker, must work on both
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    password = add_user(store, "watcher", "viewer")
    try:
        body = refresh_body(Settings(redis_url=redis_url, rules=REPO / "surge_rules.yaml"))
        deadline = time.monotonic() + 60
        while True:
            try:
                page = browser.open(f"http://127.0.0.1:{port}/login", timeout=5).read()
                break
            except OSError:
                assert gunicorn.poll() is None, gunicorn.stderr.read().decode()[-3000:]
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        found = re.search(rb'name="csrf" value="([^"]+)"', page)
        assert found
        form = urllib.parse.urlencode({"csrf": found.group(1).decode(), "username": "watcher",
                                       "password": password}).encode()
        with browser.open(f"http://127.0.0.1:{port}/login", data=form, timeout=10) as landed:
            assert landed.status == 200 and landed.url.endswith(f":{port}/")
        pids: set[str] = set()
        for _ in range(200):  # until both workers have answered (bounded)
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/_dash-update-component", data=body,
                headers={"Content-Type": "application/json"})
            with browser.open(request, timeout=10) as response:
                assert response.status == 200
                assert "417" in response.read().decode()
            time.sleep(0.01)
            pids = set(re.findall(r"^<?(\d+)>? /_dash-update-component 200$",
                                  log.read_text(), re.M))
            if len(pids) >= 2:
                break
        assert len(pids) == 2, f"only worker(s) {pids} answered"
    finally:
        gunicorn.terminate()
        gunicorn.wait(30)
