"""The operational page's view model (dashboard/views/operational.py), without a server:
every site's figures, worst first, with STALE and NO DATA in the cells' words."""

from __future__ import annotations

from dashboard.views.operational import build_operational, site_table
from surge.catalogue import Catalogue
from tests.dashboard.test_views_header import NOW, level, published


def test_hospitals_come_worst_first_with_their_level(catalogue: Catalogue) -> None:
    latest = {("ae.handover_queue", "RVJ"): (NOW - 30, 2.0),
              ("ae.handover_queue", "RK9"): (NOW - 30, 7.0),
              ("ae.handover_longest", "RK9"): (NOW - 30, 186.0),
              ("ae.hours_lost", "RK9"): (NOW - 30, 4.5)}
    levels = published(catalogue, {"ae@RK9": level(3, kind="site"),
                                   "ae@RVJ": level(1, kind="site")})
    table = site_table(catalogue, "hospital", latest, levels, NOW)
    assert table is not None and table.with_level
    assert [c.heading for c in table.columns[:4]] == [
        "Waiting to hand over", "Longest wait", "Over 60 min (today)", "Hours lost (today)"]
    first = table.rows[0]
    assert (first["code"], first["rank"], first["level"]) == ("RK9", 1, 3)
    assert first["level_text"] == "3 Severe pressure"
    assert first["level_style"] == {"backgroundColor": "#e0700b", "color": "#111111"}
    assert (first["m0"], first["m0_text"], first["m1_text"]) == (7.0, "7", "3 h 06 min")
    assert table.rows[1]["code"] == "RVJ"
    assert first["age"] == "updated 30 s ago"


def test_stale_and_missing_figures_say_so_and_never_sort_as_values(
        catalogue: Catalogue) -> None:
    latest = {("ae.handover_queue", "RVJ"): (NOW - 3600, 9.0)}  # stale after 3 min
    table = site_table(catalogue, "hospital", latest, {}, NOW)
    assert table is not None
    rvj = next(r for r in table.rows if r["code"] == "RVJ")
    assert rvj["m0_state"] == "stale" and "STALE — last value 13:00" in rvj["m0_text"]
    rk9 = next(r for r in table.rows if r["code"] == "RK9")
    assert (rk9["m0"], rk9["m0_text"], rk9["m0_state"]) == (None, "NO DATA", "missing")
    assert rk9["age"] == "no value received"
    assert not table.with_level  # nothing published: no level column claiming a level


def test_a_stale_site_level_is_not_painted(catalogue: Catalogue) -> None:
    levels = published(catalogue, {"ae@RK9": level(3, kind="site", stale=True)})
    table = site_table(catalogue, "hospital", {}, levels, NOW)
    assert table is not None
    rk9 = next(r for r in table.rows if r["code"] == "RK9")
    assert rk9["level_style"] == {} and rk9["level_state"] == "stale"
    assert rk9["level_text"] == "3 Severe pressure — STALE DATA — level held"
    other = next(r for r in table.rows if r["code"] == "RVJ")
    assert other["level"] is None and other["level_text"].startswith("LEVEL NOT AVAILABLE")


def test_every_kind_of_site_has_its_table(catalogue: Catalogue) -> None:
    latest = {("calls.waiting", "EOC-N"): (NOW - 5, 12.0),
              ("pts.discharges_over_2h", "PTS-S"): (NOW - 5, 9.0)}
    tables = {t.kind: t for t in build_operational(catalogue, latest, {}, NOW)}
    assert list(tables) == ["hospital", "eoc", "pts_zone"]
    assert tables["eoc"].columns[0].metric == "calls.waiting"
    assert tables["eoc"].rows[0]["code"] == "EOC-N"
    assert tables["pts_zone"].rows[0]["code"] == "PTS-S"
    assert len(tables["hospital"].rows) == 6
