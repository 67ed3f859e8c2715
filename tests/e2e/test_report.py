"""The post-incident report: a self-contained HTML file that opens in headless Chromium with
networking off and shows its charts, and the same printed to PDF."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from surge.actions import annotate
from surge.auth import Actor
from surge.cli import main
from surge.events import (
    AlertAcknowledged,
    AlertFiring,
    Declared,
    EngineStarted,
    LevelChanged,
    Recorder,
)
from surge.samples import Sample
from surge.store import Store
from tests.conftest import RULES


def evening(store: Store) -> float:
    """Two hours of an evening on record, ending now: samples, levels, a declaration, an
    alert acknowledged and a note."""
    now = time.time()
    t0 = now - 2 * 3600
    store.write([Sample("calls.waiting", "trust", t0 + m * 60, float(10 + m % 40))
                 for m in range(120)])
    Recorder(store).record_many([
        EngineStarted(ts=t0 + 1, rules_version="v1", levels={"overall": 1, "call_handling": 1}),
        LevelChanged(ts=t0 + 1800, name="call_handling", scope="protocol", from_=1, to=3,
                     rules_version="v1"),
        LevelChanged(ts=t0 + 1800, name="overall", scope="overall", from_=1, to=3,
                     rules_version="v1"),
        AlertFiring(ts=t0 + 1810, alert="a1", name="overall", severity="critical",
                    summary="Level 3 Severe pressure"),
        AlertAcknowledged(ts=t0 + 2110, alert="a1", name="overall", by="dm1"),
        Declared(ts=t0 + 2400, by="gold", role="commander", level=3, reason="<b>999 queue</b>"),
    ])
    note = annotate(store, Actor("silver", "duty_manager", "local", "cli"), text="HALO at RVX",
                    at=t0 + 2500)
    annotate(store, Actor("silver", "duty_manager", "local", "cli"), note=note.note,
             text="HALO at RVX: major incident declared")
    return now


def report(store: Store, redis_url: str, out: Path, fmt: str) -> Any:
    return CliRunner().invoke(main, ["export", "--redis-url", redis_url, "--rules", str(RULES),
                                     "--what", "report", "--format", fmt, "--from", "2h",
                                     "--out", str(out)])


def test_the_html_report_opens_offline_and_shows_its_charts(
        store: Store, redis_url: str, tmp_path: Path, browser: Any) -> None:
    evening(store)
    out = tmp_path / "review.html"
    result = report(store, redis_url, out, "html")
    assert result.exit_code == 0, result.output
    document = out.read_text()
    markup = re.sub(r"<script[^>]*>.*?</script>", "<script></script>", document, flags=re.S)
    assert "<script></script>" in markup and "<script src" not in document
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", markup)  # nothing fetched
    assert "&lt;b&gt;999 queue&lt;/b&gt;" in document  # what people wrote is text, not markup
    browser.set_network_conditions(offline=True, latency=0, throughput=0)
    try:
        browser.get(out.as_uri())
        time.sleep(1)
        charts = browser.find_elements("css selector", ".js-plotly-plot .main-svg")
        text = browser.find_element("tag name", "body").text
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        browser.delete_network_conditions()
    assert len(charts) >= 2 and not errors, errors
    assert "Highest calculated trust level 3 Severe pressure" in text
    assert "dm1 after 5 min" in text and "gold" in text
    assert "HALO at RVX: major incident declared (changed 1 time" in text
    assert "999 calls waiting" in text


def test_the_pdf_report_is_printed_by_chromium(store: Store, redis_url: str,
                                               tmp_path: Path) -> None:
    evening(store)
    out = tmp_path / "review.pdf"
    result = report(store, redis_url, out, "pdf")
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 20_000
