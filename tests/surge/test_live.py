"""The live engine against a real store: restarts, events, hot reload, and the same
transitions as a backtest on the same data."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surge.catalogue import load_catalogue
from surge.errors import LeaseLost
from surge.rules.engine import Evaluator
from surge.rules.live import WARM_WINDOW, LiveEngine, describe_changes
from surge.rules.loader import load_rules
from surge.samples import Sample
from tests.surge.test_engine import HEAD

NOW = float(int(time.time()) // 60 * 60)  # recent, so the store keeps what is written
MIN = 60.0

RULES = HEAD + """\
protocols:
  p:
    label: P
    triggers:
      - {metric: m.x, levels: {2: 10, 3: 20}, for: 5m, clear_for: 3m}
      - {metric: m.site, over: sites, aggregate: each, levels: {2: 5}, for: 2m}
  q:
    label: Q
    triggers:
      - {metric: m.site, over: sites, aggregate: max, levels: {2: 8, 3: 12}, clear_for: 2m}
"""

# RULES with nothing changed but where things are written: protocols and keys in another
# order, block style for a trigger, comments and blank lines
MOVED = HEAD + """\
# Q first now
protocols:
  q:
    triggers:
      - {aggregate: max, over: sites, metric: m.site, clear_for: 2m, levels: {3: 12, 2: 8}}
    label: Q

  p:
    triggers:
      - metric: m.x  # written out
        clear_for: 3m
        levels: {3: 20, 2: 10}
        for: 5m
      - {metric: m.site, over: sites, aggregate: each, levels: {2: 5}, for: 2m}
    label: "P"
"""


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def write_rules(tmp_path: Path, text: str = RULES) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def feed(engine: LiveEngine, store, clock: Clock, samples: list[Sample]) -> None:
    """As the worker does: store each sample when it is taken, then evaluate it."""
    for sample in samples:
        clock.t = sample.ts
        store.write([sample])
        engine.ingest([sample])


def level_events(store, name: str) -> list[tuple[float, int]]:
    return [(round(e.at - NOW, 3), e.data["to"]) for e in store.events(kinds={"level_changed"})
            if e.data["name"] == name]


def test_a_restart_in_the_middle_of_a_pending_escalation_continues_exactly(store, tmp_path) -> None:
    path = write_rules(tmp_path)
    clock = Clock(NOW)
    engine = LiveEngine(store, path, clock)
    feed(engine, store, clock, [Sample("m.x", "trust", NOW + i * MIN, 25) for i in range(4)])
    clock.t = NOW + 3 * MIN + 30
    engine.tick()
    assert engine.evaluator.levels()["p"] == 1  # 3m30s of 5m
    del engine

    restarted = LiveEngine(store, path, clock)
    assert restarted.evaluator.levels()["p"] == 1
    pending = restarted.evaluator.explain()["p/m.x"].reason["pending"]
    assert pending["held"] == 210 and pending["level"] == 3
    feed(restarted, store, clock, [Sample("m.x", "trust", NOW + 4 * MIN, 25)])
    clock.t = NOW + 5 * MIN
    restarted.tick()
    assert level_events(store, "p") == [(300, 3)]  # at crossing + 5m, not reset by the restart
    kinds = [e.kind for e in store.events()]
    assert kinds.count("engine_started") == 1


def test_events_carry_old_and_new_level_reason_and_rules_version(store, tmp_path) -> None:
    path = write_rules(tmp_path)
    clock = Clock(NOW)
    engine = LiveEngine(store, path, clock)
    feed(engine, store, clock, [Sample("m.site", "A", NOW, 13), Sample("m.site", "A", NOW + MIN, 1)])
    clock.t = NOW + 4 * MIN
    engine.tick()
    (up, down) = [e for e in store.events(kinds={"level_changed"}) if e.data["name"] == "q"]
    assert (up.data["from"], up.data["to"], down.data["to"]) == (1, 3, 1)
    assert up.at == NOW and down.at == NOW + 3 * MIN  # below 8 from 1m, clear_for 2m
    assert up.data["rules_version"] == engine.rules.version
    assert up.data["reason"]["drivers"] == ["q/m.site"]
    trigger = [e for e in store.events(kinds={"level_changed"}) if e.data["name"] == "q/m.site"]
    assert trigger[0].data["reason"]["text"] == "max of m.site over sites >= 12 (now 13)"
    published = store.levels()
    assert published["q"]["level"] == 1 and published["p@A"]["level"] == 1


def test_an_invalid_rules_file_is_rejected_and_the_running_rules_stay(store, tmp_path) -> None:
    path = write_rules(tmp_path)
    clock = Clock(NOW)
    engine = LiveEngine(store, path, clock)
    version = engine.rules.version
    path.write_text(RULES.replace("levels: {2: 10, 3: 20}", "levels: {2: 10, 3: 5}"))
    clock.t = NOW + 10
    engine.tick()
    (rejected,) = store.events(kinds={"rules_rejected"})
    assert "must rise with the level" in rejected.data["problems"][0] or \
        "thresholds" in rejected.data["problems"][0]
    assert f"{path}:" in rejected.data["problems"][0]
    assert engine.rules.version == version
    engine.tick()  # the same broken file is not rejected again at every tick
    assert len(store.events(kinds={"rules_rejected"})) == 1


def test_a_valid_change_takes_effect_and_unchanged_triggers_keep_their_state(store, tmp_path) -> None:
    path = write_rules(tmp_path)
    clock = Clock(NOW)
    engine = LiveEngine(store, path, clock)
    feed(engine, store, clock, [Sample("m.x", "trust", NOW + i * MIN, 25) for i in range(6)]
         + [Sample("m.site", "A", NOW + 5 * MIN, 9)])
    assert engine.evaluator.levels()["p"] == 3 and engine.evaluator.levels()["q"] == 2
    path.write_text(RULES.replace("levels: {2: 8, 3: 12}", "levels: {2: 5, 3: 9}"))
    clock.t = NOW + 5 * MIN + 10
    engine.tick()
    (loaded,) = store.events(kinds={"rules_loaded"})
    assert "changed q" in loaded.data["summary"]
    assert engine.evaluator.levels()["p"] == 3  # kept: no reset, no re-escalation
    assert engine.evaluator.levels()["q"] == 3  # the changed trigger re-evaluated: 9 >= 9
    assert [e for e in level_events(store, "p") if e[0] > 300] == []


def test_surge_rules_reload_is_acted_on_at_the_next_tick(store, tmp_path) -> None:
    path = write_rules(tmp_path)
    clock = Clock(NOW)
    engine = LiveEngine(store, path, clock)
    path.write_text(RULES.replace("label: Q", "label: Queue"))
    # the file's stamp is checked too; make only the request count
    engine._file_stamp = (path.stat().st_mtime, path.stat().st_size)
    store.request_reload(by="test")
    engine.tick()
    (loaded,) = store.events(kinds={"rules_loaded"})
    assert loaded.data["cause"] == "requested by test"
    assert engine.rules.protocols["q"].label == "Queue"


def test_moving_lines_keeps_the_version_and_describe_changes_says_no_change(tmp_path) -> None:
    old = load_rules(write_rules(tmp_path))
    path = write_rules(tmp_path, MOVED)
    new = load_rules(path)
    assert new.protocols["p"].triggers[0].line != old.protocols["p"].triggers[0].line
    assert new.version == old.version
    assert load_catalogue(path).version == new.version  # what pages and the worker compare
    assert describe_changes(old, new, set(), 5) == \
        "no change; 0 of 5 trigger instance(s) kept their state"


def test_a_changed_threshold_changes_the_version_and_names_the_protocol(tmp_path) -> None:
    old = load_rules(write_rules(tmp_path))
    new = load_rules(write_rules(tmp_path, MOVED.replace("levels: {3: 12, 2: 8}",
                                                         "levels: {3: 12, 2: 9}")))
    assert new.version != old.version and len(new.version) == len(old.version) == 12
    assert describe_changes(old, new, {"kept"}, 5) == \
        "changed q; 1 of 5 trigger instance(s) kept their state"


def test_a_file_that_only_moved_lines_is_not_reloaded(store, tmp_path) -> None:
    path = write_rules(tmp_path)
    clock = Clock(NOW)
    engine = LiveEngine(store, path, clock)
    feed(engine, store, clock, [Sample("m.x", "trust", NOW + i * MIN, 25) for i in range(3)])
    rules, version, levels = engine.rules, engine.rules.version, engine.evaluator.levels()
    path.write_text(MOVED)
    clock.t = NOW + 2 * MIN + 10
    engine.tick()
    assert store.events(kinds={"rules_loaded", "rules_rejected"}) == []
    assert engine.rules is rules and engine.rules.version == version
    assert engine.evaluator.levels() == levels


SAMPLE = st.tuples(st.sampled_from([("m.x", "trust"), ("m.site", "A"), ("m.site", "B")]),
                   st.integers(min_value=1, max_value=400),   # seconds after the previous one
                   st.integers(min_value=0, max_value=25))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(SAMPLE, min_size=1, max_size=40),
       tick=st.integers(min_value=1, max_value=90))
def test_live_and_backtest_give_the_same_transitions(store, redis_client, tmp_path, steps,
                                                     tick) -> None:
    redis_client.flushdb()
    path = write_rules(tmp_path)
    clock = Clock(NOW)
    engine = LiveEngine(store, path, clock)
    samples, t = [], NOW
    for (metric, scope), gap, value in steps:
        t += gap
        samples.append(Sample(metric, scope, t, float(value)))
    end = t + 20 * MIN
    next_tick = NOW + tick
    for sample in samples:  # ticks between samples, as the scheduler would
        while next_tick < sample.ts:
            clock.t = next_tick
            engine.tick()
            next_tick += tick
        feed(engine, store, clock, [sample])
    clock.t = end
    engine.tick()
    live = [(round(e.at, 3), e.data["name"], e.data["to"], e.data["stale"])
            for e in store.events(kinds={"level_changed", "level_stale", "level_fresh"})]
    backtest = Evaluator(engine.rules, NOW - WARM_WINDOW)
    backtest.advance(NOW)
    backtest.transitions.clear()
    expected = [(round(x.at, 3), x.name, x.new, x.stale) for x in backtest.run(samples, end)]
    assert live == expected


def published_now(engine: LiveEngine) -> dict[str, dict]:
    """Every level as a save from scratch would publish it."""
    return {name: json.loads(json.dumps({"level": v.level, "since": v.since, "stale": v.stale,
                                         "kind": v.kind, "reason": v.reason}, default=str))
            for name, v in engine.evaluator.explain().items()}


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(SAMPLE, min_size=1, max_size=25),
       tick=st.integers(min_value=5, max_value=90), lag=st.sampled_from([0, 30, 150]))
def test_saves_of_what_changed_add_up_to_the_whole_state(store, redis_client, tmp_path, steps,
                                                         tick, lag) -> None:
    """Each save writes only what changed; together they are all there is: the published
    levels are those a full save would write, and a restart continues with the same views.
    With a lag, samples arrive before the engine evaluates up to their time."""
    redis_client.flushdb()
    path = write_rules(tmp_path)
    clock = Clock(NOW)
    engine = LiveEngine(store, path, clock, horizon=lambda: clock.t - lag)
    t, next_tick = NOW, NOW + tick
    for (metric, scope), gap, value in steps:
        t += gap
        while next_tick < t:
            clock.t = next_tick
            engine.tick()
            next_tick += tick
        feed(engine, store, clock, [Sample(metric, scope, t, float(value))])
        assert store.levels() == published_now(engine)
    clock.t = t + 10 * MIN
    engine.tick()
    assert store.levels() == published_now(engine)
    restarted = LiveEngine(store, path, clock, horizon=lambda: clock.t - lag)
    assert restarted.evaluator.explain() == engine.evaluator.explain()


def test_a_worker_that_lost_its_lease_cannot_write_its_successor_over(store, tmp_path) -> None:
    """A frozen worker whose lease lapsed and was taken must not record or save anything."""
    clock = Clock(NOW)
    assert store.acquire_lease("frozen", ttl=60)
    engine = LiveEngine(store, write_rules(tmp_path), clock, fence="frozen")
    store.release_lease("frozen")
    assert store.acquire_lease("successor", ttl=60)
    before = (store.load_engine(), store.levels(), len(store.events()))
    clock.t = NOW + 10
    store.write([Sample("m.x", "trust", NOW + 10, 25.0)])
    with pytest.raises(LeaseLost):
        engine.ingest([Sample("m.x", "trust", NOW + 10, 25.0)])
    assert (store.load_engine(), store.levels(), len(store.events())) == before


def test_a_step_is_saved_with_its_events_and_published_after(store, tmp_path) -> None:
    from surge.bus import Bus
    from surge.events import LevelChanged

    clock = Clock(NOW)
    bus = Bus()
    heard: list = []
    bus.subscribe(heard.append)
    engine = LiveEngine(store, write_rules(tmp_path), clock, bus=bus)
    feed(engine, store, clock, [Sample("m.x", "trust", NOW + 1, 25.0)])
    clock.t = NOW + 6 * MIN
    engine.tick()
    changes = [e for e in heard if isinstance(e, LevelChanged)]
    assert changes and all(e.id for e in changes), "published only once on the record"
    recorded = {e.id for e in store.events(kinds={"level_changed"})}
    assert {e.id for e in changes} <= recorded
    saved_t = json.loads(store.load_engine()["meta"])["t"] / 1000
    assert max(e.ts for e in changes) <= saved_t  # the state saved with them is as new


def test_a_breach_pushed_now_raises_its_level_now_not_when_the_slowest_feed_delivers(
        store, tmp_path) -> None:
    """The engine evaluates polled feeds' data only up to the time every feed has delivered
    (here 150 s behind: a feed polled every minute or two). A reading pushed to Surge (`surge
    ingest`, an API) waits for nobody: its level changes as it is stored. A polled sample
    that then arrives stamped earlier counts from when it arrives."""
    clock = Clock(NOW)
    engine = LiveEngine(store, write_rules(tmp_path), clock, horizon=lambda: clock.t - 150)
    clock.t = NOW + 10 * MIN
    polled = Sample("m.site", "A", clock.t, 13.0)
    store.write([polled], source="feed:cad")
    engine.ingest([polled])
    assert store.levels()["q"]["level"] == 1  # a polled sample waits for the other feeds
    clock.t += 1
    pushed = Sample("m.site", "B", clock.t, 13.0)
    store.write([pushed], source="cli")
    changes = engine.ingest([pushed], pushed=True)
    # evaluated up to the pushed sample, so the polled one before it too, at its own time
    assert ("q", 3, polled.ts) in {(c.name, c.new, c.at) for c in changes}
    assert store.levels()["q"]["level"] == 3
    clock.t += 5
    earlier = Sample("m.site", "C", clock.t - 60, 2.0)  # a minute old: a slow feed's poll
    store.write([earlier], source="feed:pts")
    engine.ingest([earlier])
    engine.tick()
    assert store.levels()["q"]["level"] == 3  # evaluated, not rewound
    future = Sample("m.x", "trust", clock.t + 3600, 25.0)  # a clock an hour fast
    store.write([future], source="cli")
    engine.ingest([future], pushed=True)
    assert engine.evaluator.t / 1000 <= clock.t  # never evaluated past now
