"""The dashboard app through Flask's test client, against a real Valkey server.

The refresh callback is called the way the browser calls it: a POST to
/_dash-update-component, built from the app's callback_map. These tests are about what
pages show, so the app runs with anonymous (read-only) viewing on; sign-in and roles are
tested in test_auth.py and test_role_matrix.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dash import Dash

from dashboard.app import create_app
from dashboard.formatting import local_time
from surge.catalogue import Catalogue
from surge.samples import Sample
from surge.settings import Settings
from surge.store import Store
from tests.conftest import active_worker
from tests.dashboard.conftest import add_user, auth_settings, sign_in

RULES = Path(__file__).resolve().parents[2] / "surge_rules.yaml"
NOW = time.time()  # real time: the store expires day chunks by the wall clock


def settings(**changes: Any) -> Settings:
    return auth_settings(anonymous_view=True, **changes)


@pytest.fixture
def app(store: Store) -> Dash:
    return create_app(settings(), store, clock=lambda: NOW)


# --- helpers: call a callback as the browser does, and read the components returned ------


def callback_key(app: Dash, input_id: str) -> str:
    keys = [k for k, cb in app.callback_map.items()
            if any(i["id"] == input_id for i in cb["inputs"])]
    assert len(keys) == 1, f"expected one callback on {input_id}, found {keys}"
    return keys[0]


def call(app: Dash, input_id: str, value: Any, state: list[Any] | None = None,
         client: Any = None) -> dict:
    """POST one callback; returns {component id: {property: value}}."""
    client = client or app.server.test_client()
    client.get("/")  # the first request sets up the server (and the pages router)
    key = callback_key(app, input_id)
    cb = app.callback_map[key]
    outputs = cb["output"] if isinstance(cb["output"], list) else [cb["output"]]
    body = {
        "output": key,
        "outputs": [{"id": o.component_id, "property": o.component_property} for o in outputs],
        "inputs": [{**i, "value": value} for i in cb["inputs"]],
        "state": [{**s, "value": v} for s, v in zip(cb["state"], state or [None] * len(cb["state"]),
                                                    strict=True)],
        "changedPropIds": [f"{i['id']}.{i['property']}" for i in cb["inputs"]],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.data[:2000]
    return response.get_json()["response"]


def refresh(app: Dash, previous: dict | None = None, client: Any = None) -> dict:
    return call(app, "overview-interval", 1, [previous], client)


def walk(node: Any) -> Iterator[dict]:
    """Every component in a JSON layout, depth first."""
    if isinstance(node, list):
        for child in node:
            yield from walk(child)
    elif isinstance(node, dict) and "props" in node:
        yield node
        yield from walk(node["props"].get("children"))


def text(node: Any) -> str:
    """The visible text of a JSON layout, as the browser would join it."""
    if isinstance(node, str | int | float):
        return str(node)
    if isinstance(node, list):
        return "".join(text(child) for child in node)
    if isinstance(node, dict) and "props" in node:
        return text(node["props"].get("children"))
    return ""


def by_id(node: Any, element_id: str) -> dict:
    found = [c for c in walk(node) if c["props"].get("id") == element_id]
    assert len(found) == 1, f"expected one #{element_id}, found {len(found)}"
    return found[0]


def write(store: Store, *samples: tuple[str, str, float, float]) -> None:
    result = store.write([Sample(*s) for s in samples])
    assert result.accepted == len(samples)


# --- the page ---------------------------------------------------------------------------


def test_the_app_is_served_and_the_overview_has_its_layout(app: Dash) -> None:
    client = app.server.test_client()
    index = client.get("/")
    assert index.status_code == 200
    assert b"watchdog.js" in index.data and b"surge.css" in index.data  # assets/ is served
    assert client.get("/_dash-layout").status_code == 200
    page = call(app, "_pages_location", "/overview", [])
    assert page["_pages_store"]["data"]["title"] == "Surge — Overview"
    layout = page["_pages_content"]["children"]
    assert by_id(layout, "overview-interval")["props"]["interval"] == 5000
    assert by_id(layout, "screen-watchdog")["props"]["data-interval-ms"] == "5000"
    by_id(layout, "status-bar")
    by_id(layout, "overview-panels")


def test_assets_are_served_from_the_repository_assets_folder(app: Dash) -> None:
    client = app.server.test_client()
    js = client.get("/assets/watchdog.js")
    assert js.status_code == 200
    assert b"THIS SCREEN IS NOT UPDATING" in js.data


def test_refresh_shows_the_values_in_the_store(app: Dash, store: Store,
                                              catalogue: Catalogue) -> None:
    write(store,
          ("calls.waiting", "trust", NOW - 65, 10), ("calls.waiting", "trust", NOW - 5, 12),
          ("ae.c2_mean", "trust", NOW - 30, 93),
          ("pts.on_time_pct", "trust", NOW - 60, 87.2),
          ("ae.handover_longest", "RK9", NOW - 20, 186), ("ae.handover_queue", "RK9", NOW - 20, 6),
          ("ae.handover_longest", "RVJ", NOW - 20, 27))
    active_worker(store)
    out = refresh(app)
    panels = out["overview-panels"]["children"]
    assert [p["props"]["id"] for p in panels] == [f"panel-{f.id}" for f in catalogue.functions]
    assert text(by_id(panels, "value-calls-waiting")) == "12 calls"
    assert text(by_id(panels, "value-ae-c2_mean")) == "1 h 33 min"
    assert text(by_id(panels, "value-pts-on_time_pct")) == "87 %"
    assert text(by_id(panels, "value-triage-waiting")) == "NO DATA"
    spark = by_id(panels, "spark-calls-waiting")["props"]["figure"]
    assert len(spark["data"]) == 2  # the line and its newest point
    worst = by_id(panels, "handover-RK9")
    assert worst["props"]["className"] == "worst"
    assert "WORST" in text(worst) and "Derriford Hospital" in text(worst)
    assert "3 h 06 min" in text(worst)
    status = text(out["status-bar"]["children"])
    assert f"Updated {local_time(NOW, catalogue.timezone)} UK time" in status
    assert "STORE OK" in status and "WORKER RUNNING" in status
    assert "UNREACHABLE" not in status and "WORKER STOPPED" not in status
    assert out["overview-panels"]["className"] == "panels"
    assert out["screen-watchdog-refresh"]["data"]["uk"] == local_time(NOW, catalogue.timezone)


def test_an_old_value_is_shown_stale(app: Dash, store: Store, catalogue: Catalogue) -> None:
    at = NOW - 600  # calls.waiting goes stale after 2 minutes
    write(store, ("calls.waiting", "trust", at, 12), ("ae.stack", "trust", NOW - 10, 140))
    panels = refresh(app)["overview-panels"]["children"]
    stale = by_id(panels, "value-calls-waiting")
    assert stale["props"]["data-state"] == "stale"
    hhmm = local_time(at, catalogue.timezone, seconds=False)
    assert text(stale) == f"12 callsSTALE — last value {hhmm}"
    live = by_id(panels, "value-ae-stack")
    assert live["props"]["data-state"] == "live"
    assert "STALE" not in text(live)


def test_an_unreachable_store_gives_a_banner_not_an_error() -> None:
    dead = Store.connect("redis://127.0.0.1:1")
    app = create_app(settings(), dead, clock=lambda: NOW)
    out = refresh(app)
    status = text(out["status-bar"]["children"])
    assert "DATA STORE UNREACHABLE — figures below are not live" in status
    assert "STORE UNREACHABLE" in status
    assert "WORKER STOPPED" not in status  # unknown, not claimed
    assert out["overview-panels"]["className"] == "panels not-live"
    panels = out["overview-panels"]["children"]
    assert text(by_id(panels, "value-calls-waiting")) == "NO DATA"


def test_an_unreachable_store_keeps_the_last_figures_greyed_out() -> None:
    app = create_app(settings(), Store.connect("redis://127.0.0.1:1"), clock=lambda: NOW)
    out = refresh(app, previous={"uk": "14:03:17", "live_uk": "14:03:17"})
    assert "overview-panels" not in out or "children" not in out["overview-panels"]
    assert out["overview-panels"]["className"] == "panels not-live"
    assert "last live data 14:03:17" in text(out["status-bar"]["children"])


def test_a_failing_feed_gets_a_banner_naming_it(app: Dash, store: Store,
                                                catalogue: Catalogue) -> None:
    store.record_poll("cad", function="ae", interval=30, at=NOW - 120, accepted=3)
    store.record_poll("cad", function="ae", interval=30, at=NOW - 90, error="HTTP 503 from CAD")
    store.record_poll("pts-feed", function="pts", interval=30, at=NOW - 5, accepted=3)
    status = text(refresh(app)["status-bar"]["children"])
    since = local_time(NOW - 90, catalogue.timezone)
    assert f"FEED DOWN — cad (A&E operations) failing since {since}: HTTP 503 from CAD" in status
    assert "pts-feed" not in status
    assert "FEEDS 1/2 OK" in status


def test_a_stopped_worker_gets_a_banner(app: Dash, store: Store) -> None:
    status = text(refresh(app)["status-bar"]["children"])
    assert "WORKER STOPPED — no new data is being collected" in status
    active_worker(store)
    assert "WORKER STOPPED" not in text(refresh(app)["status-bar"]["children"])


def test_a_broken_rules_file_is_shown_on_the_page(tmp_path: Path, store: Store) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.read_text().replace("stale_after: 2m", "stale_after: soon", 1))
    app = create_app(settings(rules=rules), store, clock=lambda: NOW)
    out = refresh(app)
    assert "CONFIGURATION BROKEN" in text(out["status-bar"]["children"])
    problems = text(out["overview-panels"]["children"])
    assert str(rules) in problems and "stale_after" in problems
    rules.write_text(RULES.read_text())  # fixed: the next refresh recovers
    assert "CONFIGURATION BROKEN" not in text(refresh(app)["status-bar"]["children"])


def test_a_bad_setting_is_shown_on_the_page(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            store: Store) -> None:
    monkeypatch.chdir(tmp_path)  # the default data directory (and its secret key) is ./var
    monkeypatch.setenv("SURGE_REFRESH", "often")
    app = create_app(store=store)
    client = app.server.test_client()
    login = client.get("/login")  # signing in still works, and says what is broken
    assert b"CONFIGURATION BROKEN" in login.data and b"SURGE_REFRESH" in login.data
    sign_in(client, "eve", add_user(store, "eve", "viewer"))
    out = refresh(app, client=client)
    assert "CONFIGURATION BROKEN" in text(out["status-bar"]["children"])
    assert "SURGE_REFRESH" in text(out["overview-panels"]["children"])


def test_the_store_is_opened_from_settings_on_first_use(redis_url: str, store: Store) -> None:
    app = create_app(settings(redis_url=redis_url), clock=lambda: NOW)
    assert app.server.extensions["surge"]._store is None  # nothing contacted yet
    write(store, ("triage.waiting", "trust", NOW - 5, 63))
    panels = refresh(app)["overview-panels"]["children"]
    assert text(by_id(panels, "value-triage-waiting")) == "63 incidents"


def test_two_apps_in_one_process_each_have_their_own_callbacks_and_store(
        store: Store) -> None:
    dead = create_app(settings(), Store.connect("redis://127.0.0.1:1"), clock=lambda: NOW)
    live = create_app(settings(), store, clock=lambda: NOW)
    write(store, ("ae.stack", "trust", NOW - 5, 140))
    assert "UNREACHABLE" in text(refresh(dead)["status-bar"]["children"])
    panels = refresh(live)["overview-panels"]["children"]
    assert text(by_id(panels, "value-ae-stack")) == "140 incidents"


def test_the_module_exposes_a_server_for_gunicorn() -> None:
    from dashboard import app as module

    assert callable(module.server.wsgi_app)
    assert module.server.extensions["surge"] is not None




# --- calculated levels ------------------------------------------------------------------


def publish(store: Store, levels: dict[str, dict[str, Any]]) -> None:
    """Levels as the rules engine publishes them."""
    store.save_engine({}, levels={name: json.dumps(value) for name, value in levels.items()})


def level(n: int, drivers: list[str] | None = None, *, kind: str = "protocol",
          stale: bool = False, since: float = NOW - 3600) -> dict[str, Any]:
    return {"level": n, "since": since, "stale": stale, "kind": kind,
            "reason": {"combine": "max", "drivers": drivers or []}}


def waiting_trigger(n: int, value: float, threshold: float | None,
                    pending: dict | None = None) -> dict[str, Any]:
    reason: dict[str, Any] = {"metric": "calls.waiting", "value": value, "compares": ">=",
                              "threshold": threshold, "candidate": n, "stale": False,
                              "for": 300, "clear_for": 900, "text": "calls.waiting"}
    if pending:
        reason["pending"] = pending
    return {"level": n, "since": NOW - 3600, "stale": False, "kind": "trigger",
            "reason": reason}


def badge(node: Any, element_id: str) -> tuple[str, str, str, str]:
    """(data-level, data-stale, data-state, text) of a level badge."""
    found = by_id(node, element_id)
    props = found["props"]
    return props["data-level"], props["data-stale"], props["data-state"], text(found)


def test_refresh_shows_the_calculated_levels(app: Dash, store: Store,
                                             catalogue: Catalogue) -> None:
    active_worker(store)
    since = NOW - 3600
    publish(store, {
        "overall": level(3, ["call_handling"], kind="overall", since=since),
        "call_handling": level(3, ["call_handling/calls.waiting"], since=since),
        "call_handling/calls.waiting": waiting_trigger(3, 41, 30),
        "ae": level(2), "ae@RVJ": level(2, kind="site"), "ae@RK9": level(4, kind="site"),
        "pts": level(1, stale=True),
        "clinical_triage": level(1),
        "clinical_triage/triage.waiting": {
            "level": 1, "since": NOW, "stale": False, "kind": "trigger",
            "reason": {"metric": "triage.waiting", "value": 80, "compares": ">=",
                       "threshold": None, "candidate": 2, "stale": False, "for": 600,
                       "pending": {"level": 2, "direction": "up", "held": 250,
                                   "needed": 600, "threshold": 50}}},
    })
    out = refresh(app)
    status, panels = out["status-bar"]["children"], out["overview-panels"]["children"]
    hhmm = local_time(since, catalogue.timezone, seconds=False)

    data_level, stale, state, overall = badge(status, "level-overall")
    assert (data_level, stale, state) == ("3", "false", "live")
    assert overall == "CALCULATED LEVEL3—Severe pressure"
    assert by_id(status, "level-overall")["props"]["style"] == {
        "backgroundColor": "#e0700b", "color": "#111111"}
    bar = text(status)
    assert f"Trust level, calculated (advice) · since {hhmm}" in bar
    assert "Set by 999 call handling" in bar
    # no level has been declared: said as such, never shown as if one had
    assert "no level declared" in bar.lower()

    assert badge(panels, "level-call_handling")[:3] == ("3", "false", "live")
    call_handling = text(by_id(panels, "panel-call_handling"))
    assert "3Severe pressure" in call_handling and f"calculated · since {hhmm}" in call_handling
    assert "999 calls waiting ≥ 30 calls for 5m (now 41 calls)" in call_handling

    triage = text(by_id(panels, "panel-clinical_triage"))
    assert "▲ 2 Moderate pressure pending: Incidents awaiting clinical assessment ≥ 50 " \
           "incidents for 4m of 10m" in triage

    assert badge(panels, "level-pts") == ("1", "true", "stale",
                                          "1Steady stateSTALE DATA — level held")
    assert by_id(panels, "level-pts")["props"]["style"] is None  # hatched, not green
    assert badge(panels, "level-ae-RVJ")[:3] == ("2", "false", "live")
    assert "Extreme pressure" in text(by_id(panels, "handover-RK9"))
    assert badge(panels, "level-ae-RD1")[0] == "none"
    assert "Calculated level" in text(by_id(panels, "handover-table"))


def test_no_published_levels_say_level_not_available(app: Dash, store: Store) -> None:
    active_worker(store)
    out = refresh(app)
    status, panels = out["status-bar"]["children"], out["overview-panels"]["children"]
    assert badge(status, "level-overall")[2:] == ("missing", "CALCULATED LEVELNOT AVAILABLE")
    assert "the rules engine has not published any levels yet" in text(status)
    for function in ("call_handling", "clinical_triage", "ae", "pts"):
        assert badge(panels, f"level-{function}") == ("none", "false", "missing",
                                                      "LEVEL NOT AVAILABLE")
    assert badge(panels, "level-ae-RVJ")[2:] == ("missing", "NO LEVEL")  # a compact cell


def test_levels_are_not_live_when_the_worker_has_stopped(app: Dash, store: Store) -> None:
    publish(store, {"overall": level(2, ["ae"], kind="overall"), "ae": level(2)})
    out = refresh(app)
    assert badge(out["status-bar"]["children"], "level-overall") == (
        "2", "false", "not-live",
        "CALCULATED LEVEL2—Moderate pressureNOT UPDATING — worker stopped")
    assert "NOT UPDATING" in text(by_id(out["overview-panels"]["children"], "level-ae"))


def test_an_unreachable_store_shows_no_level() -> None:
    app = create_app(settings(), Store.connect("redis://127.0.0.1:1"), clock=lambda: NOW)
    out = refresh(app)
    status = out["status-bar"]["children"]
    assert badge(status, "level-overall")[:3] == ("none", "false", "missing")
    assert "data store unreachable" in text(status)
    panels = out["overview-panels"]["children"]
    assert badge(panels, "level-ae")[2] == "missing"
    kept = refresh(app, previous={"uk": "14:03:17", "live_uk": "14:03:17"})
    assert badge(kept["status-bar"]["children"], "level-overall")[2] == "missing"
    assert kept["overview-panels"]["className"] == "panels not-live"  # greyed, NOT LIVE


def test_a_broken_rules_file_shows_no_level(tmp_path: Path, store: Store) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\n")
    app = create_app(settings(rules=rules), store, clock=lambda: NOW)
    status = refresh(app)["status-bar"]["children"]
    assert badge(status, "level-overall")[2] == "missing"
    assert "the configuration is broken" in text(status)


def test_a_refresh_reads_the_levels_with_one_command(app: Dash, store: Store) -> None:
    active_worker(store)
    publish(store, {"overall": level(2, ["ae"], kind="overall"), "ae": level(2)})
    store.client.config_resetstat()
    refresh(app)
    stats = store.client.info("commandstats")
    # latest values, the live workers, the levels and the alerts; no feeds are registered
    assert stats["cmdstat_hgetall"]["calls"] == 4
    # and at most one look at which rules version is in force (every couple of seconds)
    assert stats.get("cmdstat_hget", {"calls": 0})["calls"] <= 1
    assert "cmdstat_hmget" not in stats
