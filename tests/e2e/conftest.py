"""`surge run` as a user starts it: a real process with its own embedded store and port."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from surge.store import Store

REPO = Path(__file__).resolve().parents[2]
SURGE = str(Path(sys.executable).parent / "surge")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SurgeRun:
    """A running `surge run`, its output, and helpers to ask it things."""

    data_dir: Path
    port: int
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def printed(self, pattern: str) -> str:
        """The first group of ``pattern`` in what `surge run` printed."""
        found = re.search(pattern, "".join(self.output))
        assert found, f"no {pattern!r} in:\n" + "".join(self.output)
        return found.group(1)

    @property
    def admin_password(self) -> str:
        """The first-start admin password `surge run` printed."""
        return self.printed(r"user: admin  password: (\S+)")

    @property
    def screen_url(self) -> str:
        """The demo wall screen's URL `surge run` printed."""
        return self.printed(r"Wall screen URL: (\S+)")

    def store(self) -> Store:
        url = json.loads((self.data_dir / "store.json").read_text())["url"]
        return Store(redis.Redis.from_url(url))

    def status(self) -> tuple[int, dict]:
        done = subprocess.run([SURGE, "status", "--json", "--data-dir", str(self.data_dir)],
                              cwd=REPO, capture_output=True, text=True, timeout=60,
                              env=_env())
        return done.returncode, json.loads(done.stdout)

    def wait_for_output(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.output):
            if self.process.poll() is not None:
                raise AssertionError(f"surge run exited {self.process.returncode}:\n"
                                     + "".join(self.output))
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} within {timeout} s:\n" + "".join(self.output))
            time.sleep(0.1)

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURGE_")}
    return {**env, "SURGE_RULES": str(REPO / "surge_rules.yaml"), **extra}


def start_surge(data_dir: Path, port: int, *args: str, **env: str) -> SurgeRun:
    process = subprocess.Popen(
        [SURGE, "run", "--data-dir", str(data_dir), "--port", str(port), *args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(**env))
    run = SurgeRun(data_dir, port, process)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            run.output.append(line)

    threading.Thread(target=pump, daemon=True).start()
    run.wait_for_output("Surge is running")
    return run


@pytest.fixture(scope="session")
def surge_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SurgeRun]:
    """One demo instance shared by the read-only end-to-end tests."""
    run = start_surge(tmp_path_factory.mktemp("demo") / "var", free_port())
    try:
        yield run
    finally:
        run.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's chromium and chromium-driver), logging the console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, (
        "the browser tests need Debian's chromium and chromium-driver "
        "(make test installs them when run as root)")
    profile = tempfile.mkdtemp(prefix="surge-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
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
