"""Every page says when its figures are invented, and follows the run's clock and rules.

A web process under gunicorn is given no clock: it reads the one the worker published in
the store, so during an exercise its pages show the exercise band and the exercise's time;
and it takes up the rules version the worker put in force, without a restart.
"""

from __future__ import annotations

import time
from pathlib import Path

from dashboard.app import create_app
from dashboard.context import DashboardContext
from surge.clock import Clock
from surge.store import Store
from tests.dashboard.conftest import auth_settings
from tests.dashboard.test_app import call, text

RULES = Path(__file__).resolve().parents[2] / "surge_rules.yaml"


def band_of(app) -> str:
    return text(call(app, "run-mode-check", 1)["run-mode-band"]["children"])


def test_a_live_run_has_no_band_and_an_exercise_has_one(store: Store) -> None:
    app = create_app(auth_settings(anonymous_view=True), store)
    assert band_of(app) == ""
    store.publish_clock(Clock.exercise(60, scenario="winter-evening-surge").to_record())
    app = create_app(auth_settings(anonymous_view=True), store)
    band = band_of(app)
    assert "EXERCISE — SIMULATED DATA, TIME x60" in band and "winter-evening-surge" in band
    store.publish_clock(Clock(mode="simulated").to_record())
    app = create_app(auth_settings(anonymous_view=True), store)
    assert band_of(app) == "SIMULATED DATA"


def test_pages_read_exercise_time_but_sessions_stay_on_real_time(store: Store) -> None:
    origin = time.time() - 86_400
    store.publish_clock(Clock.exercise(60, origin=origin).to_record())
    context = DashboardContext(auth_settings(), store)
    assert abs(context.clock() - origin) < 60 * 5  # an exercise's time, a day ago
    assert abs(context.security_clock() - time.time()) < 5


def test_a_web_process_takes_up_the_rules_version_the_worker_put_in_force(store: Store,
                                                                         tmp_path) -> None:
    context = DashboardContext(auth_settings(), store)
    assert "calls.on_hold" not in context.catalogue().metrics
    text_ = RULES.read_text().replace(
        "metrics:\n", "metrics:\n  calls.on_hold: {function: call_handling, label: Calls on "
                      "hold, unit: calls, worse: higher, range: [0, 500], stale_after: 2m, "
                      "scopes: [trust]}\n", 1)
    changed = tmp_path / "surge_rules.yaml"
    changed.write_text(text_)
    from surge.rules.loader import load_rules

    version = load_rules(changed).version
    store.publish_rules(version, text_, source=str(changed), loaded_by="test", at=time.time())
    context._version_checked = 0.0  # as if the next refresh came a few seconds later
    catalogue = context.catalogue()
    assert "calls.on_hold" in catalogue.metrics and catalogue.version == version
