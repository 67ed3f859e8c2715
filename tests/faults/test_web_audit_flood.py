"""One client cannot flood the audit trail: failed screen links are throttled per address like
failed sign-ins, and repeated refusals from one address are recorded once per window with a
count, not once per request. `surge audit` reads a time range, never the whole trail."""

from __future__ import annotations

from typing import Any

import redis
from click.testing import CliRunner

from dashboard.app import create_app
from surge.auth import Actor, record
from surge.cli import main
from surge.store import Store
from tests.dashboard.conftest import RULES, auth_settings

T0 = 1_790_000_000.0
FLOOD = 2_000


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> float:
        return self.at


def accounted(store: Store, address: str) -> int:
    """Refusals from ``address`` the audit trail accounts for: one per entry, or its count."""
    return sum(int(e.data.get("count", 1)) for e in store_entries(store)
               if e.data["address"] == address)


def store_entries(store: Store) -> list[Any]:
    """The audit entries as stored (reading through audit_events would record counts)."""
    from surge.events import AuditEntry, read_events

    return read_events(store, kinds=[AuditEntry])


def test_a_flood_of_bad_screen_links_is_throttled_and_recorded_once_with_a_count(
        store: Store) -> None:
    clock = Clock()
    app = create_app(auth_settings(), store, clock=clock)
    client = app.server.test_client()
    flood = {"REMOTE_ADDR": "10.0.0.7"}
    statuses = [client.get(f"/screen/garbage{i}", environ_base=flood).status_code
                for i in range(FLOOD)]
    events = len(store.events())
    print(f"\n{FLOOD} bad screen links: {events} events on the timeline, "
          f"statuses {sorted(set(statuses))}")
    assert statuses[:5] == [403] * 5  # SURGE_LOGIN_LIMIT, 5 a minute from one address
    assert set(statuses[5:]) == {429}  # then refused without being looked up
    assert events <= 3
    # another address is not held off
    assert client.get("/screen/garbage", environ_base={"REMOTE_ADDR": "10.0.0.8"}).status_code \
        == 403

    clock.at += 301  # the window closes: the next refusal also records the counts of the last
    assert client.get("/screen/garbage", environ_base=flood).status_code == 403
    assert accounted(store, "10.0.0.7") == FLOOD + 1  # every refusal, in a handful of entries
    assert len(store.events()) <= 6
    counted = [e for e in store_entries(store) if "count" in e.data]
    assert {(e.data["action"], e.data["count"], e.data["window"]) for e in counted} == {
        ("screen_revoked_refused", 4, "5 min"), ("screen_link_throttled", FLOOD - 6, "5 min")}


def test_closed_windows_are_recorded_when_the_trail_is_read(store: Store) -> None:
    clock = Clock()
    app = create_app(auth_settings(), store, clock=clock)
    client = app.server.test_client()
    for _ in range(50):
        client.get("/screen/garbage", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    clock.at += 301
    from surge.auth.audit import flush_repeats

    before = len(store.events())
    flush_repeats(store, now=clock.at)
    assert len(store.events()) == before + 2  # one count for each kind of refusal
    assert accounted(store, "10.0.0.9") == 50


def test_surge_audit_reads_a_time_range_not_the_whole_trail(store: Store, redis_url: str,
                                                            redis_client: redis.Redis) -> None:
    old = T0 - 30 * 86400
    who = Actor("mallory", "", "10.0.0.7")
    for i in range(20_000):  # a month ago: a flood, long before the range asked for
        record(store, "login_failed", who, at=old + i / 100, reason="wrong password")
    record(store, "login", Actor("alice", "viewer", "10.0.0.1"), at=T0)

    def xranges() -> int:
        stats = redis_client.info("commandstats")
        return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0))
                   for c in ("xrange", "xrevrange"))

    before = xranges()
    env = {"SURGE_RULES": str(RULES), "SURGE_REDIS_URL": redis_url}
    done = CliRunner().invoke(main, ["audit", "--from", "2026-09-21T00:00:00Z", "--json"],
                              env=env, catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert '"user": "alice"' in done.output and "mallory" not in done.output
    assert xranges() - before <= 2  # one page: the 20,000 old entries are not read
