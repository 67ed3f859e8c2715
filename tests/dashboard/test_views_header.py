"""The header's view model (dashboard/views/header.py): the declared level beside the
calculated one, never agreement it cannot see, and the UK time across the clock changes.

Also the helpers the other view tests share: levels as the engine publishes them, and a
declaration as the store keeps it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from dashboard.data import build_status
from dashboard.views.header import clock_view, declared_view
from surge.catalogue import Catalogue
from surge.declarations import Declaration, TrustStatus
from surge.levels import PublishedLevel, parse_levels

UK = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UK).timestamp()  # GMT


def level(n: int, drivers: list[str] | None = None, *, kind: str = "protocol",
          stale: bool = False, since: float = NOW - 3600) -> dict[str, Any]:
    return {"level": n, "since": since, "stale": stale, "kind": kind,
            "reason": {"combine": "max", "drivers": drivers or []}}


def trigger(metric: str, n: int, value: float, threshold: float | None, *,
            pending: dict | None = None, site: str | None = None,
            aggregate: str | None = None, stale: bool = False) -> dict[str, Any]:
    reason: dict[str, Any] = {"metric": metric, "value": value, "compares": ">=",
                              "threshold": threshold, "candidate": n, "stale": stale,
                              "for": 300, "clear_for": 900}
    if pending:
        reason["pending"] = pending
    if site:
        reason["site"] = site
    if aggregate:
        reason["aggregate"] = aggregate
    return {"level": n, "since": NOW - 600, "stale": stale, "kind": "trigger",
            "reason": reason}


def published(catalogue: Catalogue, raw: dict[str, dict[str, Any]]) -> dict[str, PublishedLevel]:
    return parse_levels(raw, catalogue)


def declaration(n: int, at: float, *, by: str = "gold", reason: str = "two hospitals closed",
                calculated: int | None = 2) -> Declaration:
    return Declaration.from_record({"level": n, "by": by, "role": "commander", "via": "page",
                                    "at": at, "reason": reason, "calculated": calculated,
                                    "rules_version": "v1"})


def trust(catalogue: Catalogue, calculated: int | None, declared: Declaration | None,
          since: float | None = None) -> TrustStatus:
    levels = published(catalogue, {"overall": level(calculated, kind="overall")}) \
        if calculated is not None else {}
    calc = levels.get("overall")
    diverges = declared is not None and calc is not None and calc.level != declared.level
    return TrustStatus(NOW, calc, declared, diverges, since if diverges else None)


# --- the declared level ---------------------------------------------------------------------


def test_nothing_declared_says_so_on_grey_never_agreement(catalogue: Catalogue) -> None:
    view = declared_view(trust(catalogue, 2, None), catalogue, NOW)
    assert (view.number, view.name, view.agreement) == (None, "NO LEVEL DECLARED",
                                                         "no declaration")
    assert view.colour == "#5a5f66" and not view.diverges
    assert "advice only" in (view.flag or "")


def test_a_declaration_that_differs_is_flagged_with_how_long(catalogue: Catalogue) -> None:
    at = NOW - 3900  # 12:55
    view = declared_view(trust(catalogue, 2, declaration(3, at), since=at), catalogue, NOW)
    assert (view.number, view.name, view.colour) == (3, "Severe pressure", "#e0700b")
    assert view.diverges and view.diverging_for == 3900
    assert view.flag == ("DIVERGES — declared 3, calculated 2, for 1 h 05 min "
                         "(since 12:55)")
    assert view.by == "gold (commander)" and view.at == "declared 12:55"
    assert view.reason == "two hospitals closed"


def test_a_declaration_that_agrees_has_no_flag(catalogue: Catalogue) -> None:
    view = declared_view(trust(catalogue, 3, declaration(3, NOW - 60)), catalogue, NOW)
    assert view.agreement == "agrees" and view.flag is None and view.number == 3


def test_with_no_calculated_level_it_cannot_compare(catalogue: Catalogue) -> None:
    view = declared_view(trust(catalogue, None, declaration(3, NOW - 60)), catalogue, NOW)
    assert view.agreement == "unknown" and view.number == 3
    assert view.flag is not None and view.flag.startswith("CANNOT COMPARE")


def test_with_the_worker_stopped_the_declaration_stands_but_is_not_compared(
        catalogue: Catalogue) -> None:
    view = declared_view(trust(catalogue, 2, declaration(3, NOW - 60), since=NOW - 60),
                         catalogue, NOW, live=False)
    assert view.number == 3 and view.state == "declared"
    assert view.agreement == "unknown" and not view.diverges


def test_an_unreachable_store_shows_no_declared_level(catalogue: Catalogue) -> None:
    view = declared_view(None, catalogue, NOW)
    assert (view.number, view.name, view.agreement) == (None, "DECLARED LEVEL NOT AVAILABLE",
                                                         "not available")
    assert view.colour == "#5a5f66"


def test_a_declaration_of_yesterday_names_its_day(catalogue: Catalogue) -> None:
    at = datetime(2026, 11, 25, 22, 10, tzinfo=UK).timestamp()
    view = declared_view(trust(catalogue, 3, declaration(3, at)), catalogue, NOW)
    assert view.at == "declared 25 Nov 22:10"


# --- the clock -----------------------------------------------------------------------------


def test_the_clock_is_uk_time_with_its_zone_across_the_changes() -> None:
    # 01:30 happens twice on 25 October 2026: first BST, then GMT
    first = datetime(2026, 10, 25, 0, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    again = first + 3600
    assert (clock_view(first, UK).time, clock_view(first, UK).zone) == ("01:30:00", "BST")
    assert (clock_view(again, UK).time, clock_view(again, UK).zone) == ("01:30:00", "GMT")
    spring = datetime(2026, 3, 29, 1, 0, tzinfo=ZoneInfo("UTC")).timestamp()  # 01:00 GMT
    assert clock_view(spring, UK).time == "02:00:00" and clock_view(spring, UK).zone == "BST"
    assert clock_view(NOW, UK).date == "Thursday 26 November 2026"


def test_the_status_carries_both_levels_and_the_clock(catalogue: Catalogue) -> None:
    levels = published(catalogue, {"overall": level(2, kind="overall")})
    status = build_status(catalogue, [], {"id": "w", "pid": "1"}, NOW, levels=levels,
                          trust=trust(catalogue, 2, declaration(3, NOW - 60), since=NOW - 60))
    assert status.level.number == 2 and status.declared is not None
    assert status.declared.number == 3 and status.declared.diverges
    assert status.clock is not None and status.clock.zone == "GMT"
    down = build_status(catalogue, [], None, NOW, store_error="cannot reach the store")
    assert down.declared is not None and down.declared.agreement == "not available"
    assert down.level.number is None
