"""One view per data change: ViewCache on its own, then the pages through Flask's test client
against a real store (every screen of a page shares one build until something is stored or
recorded, and what was stored shows at the next refresh), then what the browser receives:
compressed callbacks and scripts, and scripts it may keep."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import brotli
import pytest
from dash import Dash

from dashboard.app import COMPRESS, create_app
from dashboard.viewcache import ViewCache
from surge.actions import act_as, declare_level
from surge.catalogue import Catalogue
from surge.samples import Sample
from surge.store import Store
from tests.conftest import active_worker
from tests.dashboard.conftest import add_screen, add_user, auth_settings
from tests.dashboard.test_pages_app import body, client_as, refresh, text

NOW = time.time()


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# --- the cache on its own --------------------------------------------------------------------


def test_a_view_is_shared_until_its_mark_moves_or_it_is_a_second_old() -> None:
    ticks = Ticks()
    cache = ViewCache(fresh=1.0, clock=ticks)
    builds: list[int] = []

    def make() -> int:
        builds.append(1)
        return len(builds)

    assert cache.get("page", "mark-1", make).value == 1
    assert cache.get("page", "mark-1", make).value == 1  # shared
    assert cache.get("page", "mark-2", make).value == 2  # something was stored
    ticks.now += 0.9
    assert cache.get("page", "mark-2", make).value == 2
    ticks.now += 0.2  # over a second old: ages and staleness moved
    assert cache.get("page", "mark-2", make).value == 3
    assert cache.get("other page", "mark-2", make).value == 4
    assert (cache.built, cache.shared) == (4, 2)


def test_screens_asking_together_wait_for_one_build() -> None:
    cache = ViewCache()
    started, release = threading.Event(), threading.Event()
    builds: list[int] = []

    def slow() -> str:
        builds.append(1)
        started.set()
        release.wait(5)
        return "view"

    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("k", 1, slow).value))
               for _ in range(20)]
    for thread in threads:
        thread.start()
    assert started.wait(5)
    time.sleep(0.1)  # the other 19 are waiting on the one building
    release.set()
    for thread in threads:
        thread.join(5)
    assert got == ["view"] * 20 and len(builds) == 1


def test_a_failed_build_is_not_kept() -> None:
    cache = ViewCache()

    def broken() -> str:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        cache.get("k", 1, broken)
    assert cache.get("k", 1, lambda: "view").value == "view"


def test_the_oldest_views_make_room() -> None:
    cache = ViewCache(size=2)
    for key in "abc":
        cache.get(key, 1, lambda key=key: key)
    calls: list[str] = []
    cache.get("a", 1, lambda: calls.append("a") or "a")  # type: ignore[func-returns-value]
    assert calls == ["a"]  # "a" had gone


# --- pages: one build per data change, for every screen ---------------------------------------


@pytest.fixture
def app(store: Store) -> Dash:
    return create_app(auth_settings(), store, clock=lambda: NOW)


def timing(app: Dash, client: Any, page: str, wall: bool = True) -> tuple[str, dict]:
    response = client.post("/_dash-update-component", json=body(
        app, f"{page}-interval", {"n_intervals": 1}, [None, {"wall": wall}]))
    assert response.status_code == 200, response.data[:500]
    return response.headers.get("Server-Timing", ""), response.get_json()["response"]


def screen_client(app: Dash, store: Store, name: str) -> Any:
    client = app.server.test_client()
    assert client.get(f"/screen/{add_screen(store, name)}").status_code == 302
    return client


@pytest.mark.parametrize("page", ["strategic", "tactical", "operational"])
def test_wall_screens_share_one_build_until_a_batch_is_stored(app: Dash, store: Store,
                                                              page: str) -> None:
    active_worker(store)
    store.write([Sample("calls.waiting", "trust", NOW - 60, 12)])
    screens = [screen_client(app, store, f"wall {i}") for i in range(3)]
    seen = [timing(app, screen, page) for screen in screens]
    assert "view;desc=built" in seen[0][0]
    assert all("store;desc=shared" in t and "view;desc=shared" in t for t, _ in seen[1:]), seen
    assert seen[1][1] == seen[2][1]  # the same view, sent to each
    store.write([Sample("calls.waiting", "trust", NOW - 30, 54)])  # a new batch
    after, response = timing(app, screens[1], page)
    assert "store;desc=built" in after and "view;desc=built" in after, after
    if page == "strategic":
        assert "54" in text(response["strategic-figures"]["children"])


def test_a_declaration_reaches_every_screen_at_its_next_refresh(app: Dash, store: Store,
                                                                catalogue: Catalogue) -> None:
    active_worker(store)
    wall = screen_client(app, store, "wall")
    viewer = client_as(app, store, "viewer")
    before = text(refresh(app, wall, "strategic", wall=True)["strategic-status"]["children"])
    assert "NO LEVEL DECLARED" in before
    add_user(store, "gold", "commander")
    declare_level(store, act_as(store, "gold", via="cli"), level=3, reason="two EDs closed",
                  catalogue=catalogue)
    for client, on_wall in ((wall, True), (viewer, False)):
        header = text(refresh(app, client, "strategic", wall=on_wall)["strategic-status"]
                      ["children"])
        assert "DECLARED LEVEL3" in header, header


def test_a_desk_screen_keeps_its_own_header_and_controls(app: Dash, store: Store) -> None:
    active_worker(store)
    commander = client_as(app, store, "commander")
    viewer = client_as(app, store, "viewer")
    mine = text(refresh(app, commander, "strategic")["strategic-status"]["children"])
    theirs = text(refresh(app, viewer, "strategic")["strategic-status"]["children"])
    assert "commander-1" in mine and "commander-1" not in theirs
    assert "viewer-1" in theirs


# --- what goes over the wire ----------------------------------------------------------------


def test_a_refresh_is_sent_compressed_to_a_browser_that_accepts_it(app: Dash,
                                                                  store: Store) -> None:
    active_worker(store)
    client = screen_client(app, store, "wall")
    payload = body(app, "strategic-interval", {"n_intervals": 1}, [None, {"wall": True}])
    plain = client.post("/_dash-update-component", json=payload)
    packed = client.post("/_dash-update-component", json=payload,
                         headers={"Accept-Encoding": "gzip, deflate, br"})
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "br"
    assert packed.headers["Cache-Control"] == "no-store"
    assert len(packed.data) * 3 < len(plain.data)
    assert brotli.decompress(packed.data) == plain.data


def test_scripts_are_compressed_once_and_kept_by_the_browser(app: Dash, store: Store) -> None:
    client = client_as(app, store, "viewer")
    index = client.get("/").data.decode()
    bundle = next(src for src in re.findall(r'src="([^"]+)"', index) if "dash_renderer" in src)
    first = client.get(bundle, headers={"Accept-Encoding": "gzip, br"})
    assert first.headers["Content-Encoding"] == "br"
    assert "max-age=31536000" in first.headers["Cache-Control"]  # fingerprinted: a year
    # plotly.js, loaded by the first chart, as the browser asks for it (no fingerprint)
    plotly = "/_dash-component-suites/plotly/package_data/plotly.min.js"
    first = client.get(plotly, headers={"Accept-Encoding": "gzip, br"})
    assert first.status_code == 200 and first.headers["Content-Encoding"] == "br"
    assert len(first.data) < 1_500_000  # of 4.8 MB
    assert f"br;{plotly}?" in list(app.server.extensions[COMPRESS].cache.keys())  # compressed once
    reload = client.get(plotly, headers={"Accept-Encoding": "gzip, br",
                                         "If-None-Match": first.headers["ETag"]})
    assert reload.status_code == 304 and not reload.data
    asset = client.get("/assets/watchdog.js")
    assert "max-age=86400" in asset.headers["Cache-Control"]
    assert client.get("/assets/watchdog.js", headers={
        "If-None-Match": asset.headers["ETag"]}).status_code == 304
