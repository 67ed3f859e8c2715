"""The event contract: every kind written typed and read back equal, the exercise flag, old
and unknown entries, and time-range reads that follow stream ids (against the real store)."""

from __future__ import annotations

import json
import time

import pytest

from surge import events as ev
from surge.bus import Bus
from surge.clock import Clock
from surge.events import (
    KINDS,
    AuditEntry,
    FeedDown,
    GenericEvent,
    LevelChanged,
    Recorder,
    decode,
    encode,
    read_events,
    to_json,
)
from surge.store import Store

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
MARGIN = Store.EVENT_MARGIN

LEVEL = {"name": "call_handling", "scope": "protocol", "from_": 1, "to": 3, "stale": False,
         "reason": {"combine": "max", "drivers": ["call_handling/calls.waiting"]},
         "rules_version": "0123456789ab"}
EXAMPLES: list[ev.Event] = [
    ev.SamplesStored(ts=T0, source="cli:today.csv", accepted=40, rejected=2, late=1,
                     duplicates=3, notices=("1767225600000-0",)),
    ev.LevelChanged(ts=T0, **LEVEL),  # type: ignore[arg-type]
    ev.LevelStale(ts=T0, **{**LEVEL, "stale": True}),  # type: ignore[arg-type]
    ev.LevelFresh(ts=T0, **{**LEVEL, "from_": 3}),  # type: ignore[arg-type]
    ev.EngineStarted(ts=T0, rules_version="0123456789ab", warm_start_from=T0 - 86400,
                     levels={"overall": 1, "call_handling": 2}),
    ev.RulesLoaded(ts=T0, rules_version="bbbbbbbbbbbb", previous_version="0123456789ab",
                   source="surge_rules.yaml", cause="requested by web:ops",
                   summary="changed call_handling", loaded_by="ops"),
    ev.RulesRejected(ts=T0, source="surge_rules.yaml", rules_version="0123456789ab",
                     problems=("surge_rules.yaml:12:5: thresholds must rise with the level",),
                     cause="the file changed", loaded_by=None),
    ev.FeedDown(ts=T0, feed="cad", function="ae", error="CAD API returned 503"),
    ev.FeedDegraded(ts=T0, feed="cad", function="ae", error="CAD API returned 503"),
    ev.FeedRecovered(ts=T0, feed="cad", function="ae", error="CAD API returned 503",
                     down_since=T0 - 600),
    ev.StoreDown(ts=T0, where="redis://store:6379/0", error="connection refused"),
    ev.StoreUp(ts=T0, where="redis://store:6379/0", down_since=T0 - 30),
    ev.DayArchived(ts=T0, day="2026-10-25", samples=57_600, events=312,
                   location="/srv/surge/archive"),
    ev.ArchiveFailed(ts=T0, day="2026-10-25", error="cannot write ...: No space left on device",
                     location="/srv/surge/archive"),
    ev.WorkerStarted(ts=T0, worker="w-1", pid=4242, host="surge-1", feeds=("cad", "pts"),
                     rules_version="0123456789ab"),
    ev.WorkerStopped(ts=T0, worker="w-1", pid=4242, host="surge-1"),
    ev.WorkerTookOver(ts=T0, worker="w-2", pid=77, host="surge-2", previous="w-1"),
    ev.AuditEntry(ts=T0, action="user_added", user="ops", role="admin", address="10.0.0.1",
                  details={"target": "ivy", "new_role": "viewer"}),
    ev.Declared(ts=T0, level=3, previous=2, calculated=3, reason="three hospitals holding",
                by="gold", role="commander", rules_version="0123456789ab"),
    ev.DeclarationWithdrawn(ts=T0, level=3, reason="demand back to forecast", by="gold",
                            role="commander"),
    ev.Acknowledged(ts=T0, name="call_handling", level=3, by="silver", role="duty_manager",
                    note="extra call handlers called in"),
    ev.ActionConfirmed(ts=T0, name="overall", level=3, action="Offer overtime to all crews",
                       by="silver", role="duty_manager"),
    ev.Annotation(ts=T0, text="CAD restarted by supplier", by="silver", name="cad"),
    ev.AlertFiring(ts=T0, alert="a-1", name="overall", severity="critical",
                   summary="overall level 3 Severe pressure", level=3,
                   channels=("email:gold@trust.nhs.uk",)),
    ev.AlertEscalated(ts=T0, alert="a-1", name="overall", step=1,
                      notified=("sms:+447700900000",), reason="not acknowledged in 10 min"),
    ev.AlertAcknowledged(ts=T0, alert="a-1", name="overall", by="gold", role="commander"),
    ev.AlertResolved(ts=T0, alert="a-1", name="overall", reason="level back to 2"),
    ev.NotificationSent(ts=T0, notification="n-1", receiver="duty-managers", alerts=("a-1",),
                        status="firing", attempts=2, delay=1.5),
    ev.NotificationFailed(ts=T0, notification="n-2", receiver="ops", alerts=("a-1",),
                          status="firing", attempts=9, detail="webhook: HTTP 404"),
    ev.SilenceCreated(ts=T0, silence="s-1", matcher={"feed": "cad"}, ends=T0 + 3600,
                      reason="supplier maintenance", by="silver", role="duty_manager"),
    ev.SilenceEnded(ts=T0, silence="s-1", reason="expired"),
    ev.ExerciseStarted(ts=T0, speed=60.0, origin=T0, scenario="winter-evening-surge",
                       by="trainer"),
]


def level(ts: float, name: str = "overall", to: int = 2) -> LevelChanged:
    return LevelChanged(ts=ts, name=name, scope="overall", from_=1, to=to,
                        rules_version="0123456789ab")


def test_the_examples_cover_every_kind_and_the_public_names_exist() -> None:
    assert sorted(type(e).kind for e in EXAMPLES) == sorted(KINDS)
    assert all(hasattr(ev, name) for name in ev.__all__)
    assert all(cls.__name__ in ev.__all__ for cls in KINDS.values())


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.kind)
def test_every_kind_reads_back_equal(store: Store, event: ev.Event) -> None:
    recorded = Recorder(store, Clock()).record(event)
    [back] = read_events(store)
    assert back == event == recorded and type(back) is type(event)
    assert back.id == recorded.id != "" and back.exercise is False
    assert back.describe()  # one line for people, whatever the kind
    line = json.loads(json.dumps(to_json(back)))
    assert line["kind"] == event.kind and line["exercise"] is False
    assert line["ts"] == "2026-01-01T00:00:00.000Z" and line["schema"] == event.schema


def test_events_recorded_during_an_exercise_say_so(store: Store) -> None:
    exercise = Clock.exercise(60, origin=T0, real=lambda: 1000.0)
    recorder = Recorder(store, exercise)
    recorder.record_many([level(recorder.now()), FeedDown(ts=T0, feed="cad", function="ae",
                                                          error="timeout", exercise=False)])
    Recorder(store, Clock()).record(level(T0 + 1, to=1))
    assert [e.exercise for e in read_events(store)] == [True, True, False]
    assert read_events(store)[0].ts == T0  # the exercise's own time


def test_the_recorder_uses_the_store_clock_by_default(redis_client) -> None:
    store = Store(redis_client, clock=Clock.exercise(10, origin=T0))
    assert Recorder(store).record(level(T0)).exercise is True


def test_typed_events_go_into_a_callers_own_transaction(store: Store) -> None:
    """What the engine does: its events and its state written together."""
    recorder = Recorder(store, Clock.exercise(60, origin=T0))
    changes = [level(T0), level(T0 + 5, name="call_handling", to=3)]
    triples = [recorder.encode(e) for e in changes]
    assert triples[0][0] == "level_changed" and triples[0][2] == T0
    assert triples[0][1]["exercise"] is True and triples[0][1]["from"] == 1
    store.append_events(triples)
    back = read_events(store)
    assert back == [e.__class__(**{**e.__dict__, "exercise": True}) for e in changes]


def test_a_bus_feeds_the_recorder(store: Store) -> None:
    bus = Bus()
    stop = Recorder(store, Clock()).attach(bus)
    bus.publish(level(T0))
    bus.publish("not an event")
    stop()
    bus.publish(level(T0 + 1))
    assert read_events(store) == [level(T0)]


def test_unknown_kinds_newer_schemas_and_misfits_read_back_generic(store: Store) -> None:
    store.append_event("helicopter_tasked", {"callsign": "H45"}, at=T0)
    kind, fields, at = encode(level(T0 + 1))
    store.append_event(kind, {**fields, "schema": 2, "why": "a field from the future"}, at=at)
    store.append_event("rules_rejected", {"running_version": "abc", "problems": ["x"]},
                       at=T0 + 2)  # written before the kind was typed
    store.append_event("level_changed", {**fields, "scope": "galaxy"}, at=T0 + 3)
    unknown, newer, untyped, bad_scope = read_events(store)
    assert unknown == GenericEvent(kind="helicopter_tasked", ts=T0, data={"callsign": "H45"})
    assert isinstance(newer, GenericEvent) and newer.schema == 2 and newer.data["to"] == 2
    assert isinstance(untyped, GenericEvent) and untyped.data["running_version"] == "abc"
    assert isinstance(bad_scope, GenericEvent) and bad_scope.exercise is False
    assert "callsign=H45" in unknown.describe()
    assert to_json(unknown) == {"ts": "2026-01-01T00:00:00.000Z", "kind": "helicopter_tasked",
                                "exercise": False, "schema": 0, "callsign": "H45"}


def test_the_untyped_calls_still_work_and_read_typed_when_they_fit(store: Store) -> None:
    store.append_event("feed_down", {"feed": "cad", "function": "ae", "error": "503"}, at=T0)
    store.append_events([("feed_recovered", {"feed": "cad", "function": "ae"}, T0 + 60)])
    down, up = store.events()
    assert (down.kind, down.at, down.data) == ("feed_down", T0, {"feed": "cad", "function": "ae",
                                                                 "error": "503"})
    assert read_events(store, kinds=["feed_recovered"]) == [
        ev.FeedRecovered(ts=T0 + 60, feed="cad", function="ae")]
    assert store.events(count=1)[0].id == up.id


def test_audit_entries_written_before_the_contract_read_typed(store: Store) -> None:
    store.append_event("audit", {"action": "login_failed", "user": "dan", "role": "",
                                 "address": "192.0.2.2", "reason": "wrong password"}, at=T0)
    [entry] = read_events(store)
    assert isinstance(entry, AuditEntry) and entry.ok is False
    assert entry.details == {"reason": "wrong password"}
    assert entry.data == {"action": "login_failed", "user": "dan", "role": "",
                          "address": "192.0.2.2", "reason": "wrong password"}


def test_an_envelope_that_is_not_one_is_kept_as_recorded(store: Store) -> None:
    store.append_event("samples_stored", {"schema": "1", "exercise": "yes", "source": "x",
                                          "accepted": 1}, at=T0)
    [raw] = store.events()
    event = decode(raw)
    assert isinstance(event, GenericEvent) and (event.schema, event.exercise) == (0, False)
    assert event.data == {"schema": "1", "exercise": "yes", "source": "x", "accepted": 1}


# --- ids follow the time of each event -------------------------------------------------------


def ms(event_id: str) -> int:
    return int(event_id.split("-")[0])


def test_ids_follow_event_time_and_never_go_backwards(store: Store) -> None:
    recorder = Recorder(store, Clock())
    times = [T0 + 10, T0 + 10, T0 + 5, T0 + 20.0005, T0 + 1]
    recorded = recorder.record_many([level(t) for t in times])
    ids = [e.id for e in recorded]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    assert len(set(ids)) == len(ids)
    assert all(ms(e.id) >= e.ts * 1000 for e in recorded)
    assert ms(ids[0]) == (T0 + 10) * 1000 and ms(ids[2]) == (T0 + 10) * 1000  # not before
    assert ms(ids[3]) == (T0 + 20) * 1000 + 1  # a fraction of a ms: rounded up
    assert [e.ts for e in read_events(store)] == times  # in the order recorded


def test_range_bounds_are_exact_to_the_ms(store: Store) -> None:
    recorder = Recorder(store, Clock())
    recorder.record_many([level(T0 + i / 1000, to=i + 1) for i in range(3)])

    def tos(start: float, end: float) -> list[int]:
        return [e.to for e in read_events(store, start=start, end=end)]  # type: ignore[union-attr]

    assert tos(T0 + 0.001, T0 + 0.001) == [2]
    assert tos(T0, T0 + 0.001) == [1, 2]
    assert tos(T0 + 0.0005, T0 + 0.0025) == [2, 3]
    assert tos(T0 - 1, T0 - 0.001) == [] and tos(T0 + 0.003, T0 + 5) == []


def test_an_event_recorded_late_is_filed_under_when_it_was_recorded(store: Store) -> None:
    recorder = Recorder(store, Clock())
    recorder.record(level(T0 + 2 * MARGIN, name="newest"))
    slightly = recorder.record(level(T0 + 2 * MARGIN - 60, name="a minute late"))
    late = recorder.record(level(T0, name="two margins late"))
    assert ms(late.id) == (T0 + 2 * MARGIN) * 1000  # stream time does not go back

    def names(start: float | None, end: float | None) -> list[str]:
        return [e.name for e in read_events(store, start=start, end=end)]  # type: ignore[union-attr]

    assert names(T0 - 10, T0 + 10) == []  # not found by its own time ...
    assert names(T0 + 2 * MARGIN - 1, T0 + 2 * MARGIN) == ["newest", "two margins late"]
    assert names(T0 + 2 * MARGIN - 61, T0 + 2 * MARGIN - 59) == ["a minute late"]
    assert slightly.ts == T0 + 2 * MARGIN - 60
    assert names(None, None) == ["newest", "a minute late", "two margins late"]
    # two adjacent ranges hold each event exactly once, wherever the cut is
    for cut in (T0 - 1, T0 + 1, T0 + 2 * MARGIN - 60.5, T0 + 2 * MARGIN - 0.5):
        assert sorted(names(T0 - MARGIN, cut) + names(cut + 0.001, T0 + 3 * MARGIN)) == \
            sorted(names(None, None))


class CountingStore(Store):
    """The real store, counting the stream entries a read takes from the server."""

    entries_read = 0

    def _event_entries(self, low: str, high: str, newest_first: bool = False):  # type: ignore[override]
        for entry in super()._event_entries(low, high, newest_first):
            self.entries_read += 1
            yield entry

    def reads(self, **kwargs) -> tuple[list, int]:
        self.entries_read = 0
        found = read_events(self, **kwargs)
        return found, self.entries_read


def test_a_range_read_takes_only_the_range_from_a_long_stream(redis_client) -> None:
    store = CountingStore(redis_client)
    n = 200_000  # one event a second: 55 hours
    kind, fields, _ = encode(level(T0))
    for start in range(0, n, 20_000):
        store.append_events([(kind, fields, T0 + i) for i in range(start, start + 20_000)])
    assert redis_client.xlen("surge:events") == n

    window, read = store.reads(start=T0 + 100_000, end=T0 + 100_599)
    assert [e.ts for e in window] == [T0 + 100_000 + i for i in range(600)]
    assert read <= 600 + MARGIN + 1 + Store.EVENT_PAGE  # the range, the margin, one page
    newest, read = store.reads(limit=10)
    assert [e.ts for e in newest] == [T0 + n - 10 + i for i in range(10)]
    assert read <= Store.EVENT_PAGE
    found, read = store.reads(start=T0 + 100_000, end=T0 + 100_599, limit=5)
    assert [e.ts for e in found] == [T0 + 100_595 + i for i in range(5)]
    assert read <= MARGIN + 5 + Store.EVENT_PAGE
    nothing, read = store.reads(kinds=["feed_down"])  # no time range: every entry is read
    assert nothing == [] and read == n


def test_audit_entries_during_an_exercise_keep_the_timeline_on_one_clock(store) -> None:
    """Sign-ins are timed on real time; on the record they take the exercise's time, so
    the exercise's events stay findable by time range."""
    from surge.auth import Actor
    from surge.auth.audit import record as audit_record
    from surge.clock import Clock

    clock = Clock.exercise(60, origin=time.time() - 86_400)  # an exercise started yesterday
    store.clock = clock
    audit_record(store, "user_added", Actor("cli:root", "admin", "local"), at=time.time(),
                 target="alice")
    Recorder(store, clock).record(FeedDown(ts=clock(), feed="sim-ae", function="ae",
                                           error="outage"))
    found = read_events(store, start=clock() - 60, end=clock() + 1)
    assert [e.kind for e in found] == ["audit", "feed_down"]
    assert all(e.exercise for e in found)
