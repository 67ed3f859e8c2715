"""replay feeds: a file of samples played as if it were happening now; its checks when
feeds.yaml is read; and the shipped replays of real AmbSYS months through the shipped rules."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feeds import replay
from feeds.ambsys import INDICATORS, read_ambsys
from feeds.base import Feed
from feeds.config import FeedContext, load_feeds
from feeds.poller import FeedPoller
from feeds.replay import AMBSYS_METRICS, ReplayFeed, ambsys_replay_rows
from surge.catalogue import Catalogue, load_catalogue
from surge.clock import Clock
from surge.errors import ConfigError
from surge.rules.engine import Evaluator
from surge.rules.loader import load_rules
from tests.conftest import REPO, RULES

AMBSYS = REPO.parent / "shared" / "data" / "ambsys.csv"
EXAMPLES = REPO / "examples" / "feeds"
ADAPTERS = {"replay": replay}
T0 = 1_900_000_000.0  # Surge time at which the replays of these tests are built
NAMES = itertools.count()


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def context(base: Path, catalogue: Catalogue, clock: Clock | float = T0) -> FeedContext:
    if not isinstance(clock, Clock):
        at = clock
        clock = Clock(real=lambda: at)
    return FeedContext(catalogue, clock, base, base / "var", {})


def replays(path: Path, context: FeedContext) -> list[ReplayFeed]:
    feeds = load_feeds(path, context, ADAPTERS)
    assert all(isinstance(feed, ReplayFeed) for feed in feeds)
    return [feed for feed in feeds if isinstance(feed, ReplayFeed)]


def load(tmp_path: Path, catalogue: Catalogue, yaml: str, **files: str) -> list[ReplayFeed]:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "feeds.yaml").write_text(yaml)
    return replays(tmp_path / "feeds.yaml", context(tmp_path, catalogue))


def problems(tmp_path: Path, catalogue: Catalogue, yaml: str, **files: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, catalogue, yaml, **files)
    return [str(p) for p in caught.value.problems]


def entry(file: str = "months.csv", function: str = "ae", **keys: str) -> str:
    extra = "".join(f"\n    {key}: {value}" for key, value in keys.items())
    return f"""\
  - name: {function}-{next(NAMES)}
    type: replay
    function: {function}
    interval: 30s
    file: {file}{extra}
"""


MONTHS = """\
ts,metric,scope,value
2022-10-01T00:00:00Z,ae.c2_mean,trust,61
2022-10-01T00:00:00Z,ae.c1_mean,,9.9
2022-11-01T00:00:00+00:00,ae.c2_mean,trust,48
1669852800,ae.c2_mean,trust,93
2022-12-01T00:00:00Z,ae.c1_mean,trust,11
2022-12-01T00:00:00Z,calls.answer_mean,trust,88
"""  # no C1 figure for November; 1669852800 is 2022-12-01T00:00:00Z


def played(feed: ReplayFeed, polls: list[float]) -> list[tuple[str, float, float]]:
    """(metric, Surge seconds after T0, value) of every sample of a poll sequence, as the
    poller asks: since is the newest time delivered so far."""
    since: float | None = None
    out = []
    for now in polls:
        got = feed.fetch(since, T0 + now)
        assert all(since is None or s.ts > since for s in got) and all(s.ts <= T0 + now
                                                                      for s in got)
        out += [(s.metric, round(s.ts - T0, 6), s.value) for s in got]
        since = max([s.ts for s in got], default=since)
    return out


# --- checked when feeds.yaml is read ------------------------------------------------------

def test_the_keys_of_a_replay_are_checked_where_they_were_written(tmp_path: Path,
                                                                 catalogue: Catalogue) -> None:
    found = problems(tmp_path, catalogue, "feeds:\n" + entry("missing.csv") + entry(
        speed="-2", loop="yes", start="'1 December'", metrics="{ambsys.c2_mean: ae.c2_men}",
        hld="true"), **{"months.csv": MONTHS})
    path = str(tmp_path / "feeds.yaml")
    assert all(p.startswith(path + ":") for p in found), found
    text = "\n".join(found)
    assert f":6:11: feeds[0].file: file not found: {tmp_path / 'missing.csv'}" in text
    assert ":12:12: feeds[1].speed: expected a speed above 0, got -2" in text
    assert ":13:11: feeds[1].loop: expected true or false, got 'yes'" in text
    assert ":14:12: feeds[1].start: expected a date such as 2022-11-01" in text
    assert "unknown metric 'ae.c2_men' (did you mean 'ae.c2_mean'?)" in text
    assert ":16:5: feeds[1]: unknown key 'hld' (did you mean 'hold'?)" in text
    assert len(found) == 6, found


def test_bad_rows_are_reported_with_their_lines_and_the_feed_is_not_built(
        tmp_path: Path, catalogue: Catalogue) -> None:
    bad = """\
ts,metric,scope,value
2022-12-01T00:00:00Z,ae.c2_mean,trust,92.9
2022-12-01T00:00:00,ae.c2_mean,trust,1
1669852800,ae.c2_mean,trust,lots
1669852800,ae.c2_mean,trust
1669852800,ae.handover_queue,RVK,3
1669852800,ae.c2_mean,trust,5000
2022-12-01T00:00:00Z,ae.c2_mean,trust,93
1669852800,ae.c2_man,trust,3
1669939200,ae.c2_man,trust,3
"""
    found = problems(tmp_path, catalogue, "feeds:\n" + entry("bad.csv"), **{"bad.csv": bad})
    assert all(f"{tmp_path / 'feeds.yaml'}:6:11: feeds[0].file: bad.csv" in p for p in found)
    text = "\n".join(found)
    assert "line 3: ts '2022-12-01T00:00:00' has no UTC offset" in text
    assert "line 4: value 'lots' is not a number" in text
    assert "line 5: expected 4 fields, got 3" in text
    assert "line 6: unknown site 'RVK' (did you mean 'RVJ'?)" in text
    assert "line 7: value 5000 of ae.c2_mean is outside its plausible range" in text
    assert "line 8" not in text and "and 1 more bad row(s)" in text  # five, then a count
    assert ("metric 'ae.c2_man' (line 9 and 1 more) is not in the catalogue (did you mean "
            "'ae.c2_mean'?)") in text
    assert len(found) == 7, found


def test_a_duplicate_row_an_empty_file_a_bad_header_and_a_big_file_are_problems(
        tmp_path: Path, catalogue: Catalogue) -> None:
    twice = MONTHS + "2022-11-01T01:00:00+01:00,ae.c2_mean,trust,50\n"  # 00:00 UTC, as line 4
    (tmp_path / "latin.csv").write_bytes("ts,metric,scope,value\n£\n".encode("latin-1"))
    found = problems(tmp_path, catalogue, "feeds:\n" + entry("twice.csv") + entry("empty.csv")
                     + entry("header.csv") + entry("months.csv", max_bytes="10")
                     + entry("latin.csv"),
                     **{"twice.csv": twice, "empty.csv": "ts,metric,scope,value\n",
                        "header.csv": "time,metric,value\n1,ae.c2_mean,3\n",
                        "months.csv": MONTHS})
    text = "\n".join(found)
    assert ("twice.csv line 8: a second row for ae.c2_mean at trust, 2022-11-01T00:00:00Z (the "
            "first is on line 4)") in text
    assert "empty.csv has no rows, only its header" in text
    assert "header.csv: missing column(s) ts, scope; expected a header row ts,metric,scope,value" \
        in text
    assert f"months.csv is {len(MONTHS):,} bytes; this feed reads at most 10 (max_bytes)" in text
    assert "latin.csv is not UTF-8 text (byte 23)" in text
    assert len(found) == 5, found


def test_renames_start_and_function_are_checked_against_the_file(tmp_path: Path,
                                                                 catalogue: Catalogue) -> None:
    found = problems(tmp_path, catalogue, "feeds:\n"
                     + entry(function="pts")
                     + entry(start="2023-06-01")
                     + entry(metrics="{ae.c2_maen: ae.c2_mean}")
                     + entry(start="2022-11-01T00:00:00")
                     + entry(hold="true").replace("interval: 30s", "interval: 15m"),
                     **{"months.csv": MONTHS})
    text = "\n".join(found)
    assert ":6:11: feeds[0].file: months.csv has no rows for function pts (its metrics are " \
           "for ae, call_handling)" in text
    assert (":12:12: feeds[1].start: the file's last row for ae is at 2022-12-01T00:00:00Z: "
            "nothing to play from 2023-06-01T00:00:00Z") in text
    assert "metric 'ae.c2_maen' is in no row of months.csv (did you mean 'ae.c2_mean'?)" in text
    assert "the time 2022-11-01T00:00:00 has no UTC offset" in text
    assert ("hold: interval 900 s is longer than ae.c1_mean's stale_after (600 s): held figures "
            "would show STALE between polls") in text
    assert len(found) == 5, found


def test_a_missing_file_is_a_problem_when_read_and_a_built_replay_needs_it_no_more(
        tmp_path: Path, catalogue: Catalogue) -> None:
    (feed,) = load(tmp_path, catalogue, "feeds:\n" + entry(speed="86400"),
                   **{"months.csv": MONTHS})
    (tmp_path / "months.csv").unlink()  # held in memory: a poll never reads the disk
    assert [s.value for s in feed.fetch(None, T0 + 31)] == [61, 9.9, 48]
    assert "file not found" in problems(tmp_path, catalogue, "feeds:\n" + entry())[0]


# --- playing ----------------------------------------------------------------------------

def test_each_row_is_played_once_in_order_at_its_shifted_time(tmp_path: Path,
                                                              catalogue: Catalogue) -> None:
    (feed,) = load(tmp_path, catalogue, "feeds:\n" + entry(speed="86400"),  # a day a second
                   **{"months.csv": MONTHS})
    assert isinstance(feed, Feed) and (feed.type, feed.timeout) == ("replay", 10.0)
    assert feed.origin == T0  # the replay starts when it is built, at the clock's time
    got = played(feed, [0, 10, 31, 45, 61, 200])
    assert got == [("ae.c2_mean", 0, 61), ("ae.c1_mean", 0, 9.9),  # 1 Oct at the start
                   ("ae.c2_mean", 31, 48),  # 1 Nov, 31 days later: 31 s
                   ("ae.c2_mean", 61, 93), ("ae.c1_mean", 61, 11)]  # 1 Dec; the ae rows only
    assert played(feed, [200]) == got  # asked afresh, the same: a value of the time asked


def test_a_loop_starts_again_shifted_on_and_a_poll_reaches_back_one_pass_at_most(
        tmp_path: Path, catalogue: Catalogue) -> None:
    (feed,) = load(tmp_path, catalogue, "feeds:\n" + entry(speed="86400", loop="true"),
                   **{"months.csv": MONTHS})
    # a pass: Oct (31 d) + Nov (30 d) + Dec, which lasts as long as the step before it (30 d)
    assert feed.length == 91 * 86400
    got = played(feed, [0, 40, 100, 125, 200])
    times = [t for _, t, _ in got]
    assert times == sorted(times)
    assert [(t, v) for metric, t, v in got if metric == "ae.c2_mean"] == [
        (0, 61), (31, 48), (61, 93), (91, 61), (122, 48), (152, 93), (182, 61)]
    late = feed.fetch(None, T0 + 1000)  # a first poll long after the start
    assert late and all(T0 + 1000 - 91 < s.ts <= T0 + 1000 for s in late)


@pytest.mark.parametrize(("start", "first"), [
    ("2022-11-01", ("ae.c2_mean", 0, 48)),  # a YAML date: 00:00 UTC
    ("'2022-11-15'", ("ae.c2_mean", 0, 93)),  # between rows: the next row plays first
    ("2022-11-01T01:00:00+01:00", ("ae.c2_mean", 0, 48)),
    ("'2022-10-01T00:00:00Z'", ("ae.c2_mean", 0, 61)),
])
def test_start_is_where_in_the_file_the_replay_begins(tmp_path: Path, catalogue: Catalogue,
                                                      start: str, first: tuple) -> None:
    (feed,) = load(tmp_path, catalogue, "feeds:\n" + entry(speed="86400", start=start),
                   **{"months.csv": MONTHS})
    assert played(feed, [0])[0] == first


def test_hold_repeats_the_step_playing_and_only_while_it_plays(tmp_path: Path,
                                                               catalogue: Catalogue) -> None:
    (feed,) = load(tmp_path, catalogue, "feeds:\n" + entry(speed="86400", hold="true"),
                   **{"months.csv": MONTHS})
    got = played(feed, [0, 10, 31, 40, 61, 70, 90, 91, 120])
    assert got == [
        ("ae.c2_mean", 0, 61), ("ae.c1_mean", 0, 9.9),
        ("ae.c2_mean", 10, 61), ("ae.c1_mean", 10, 9.9),  # October, held
        ("ae.c2_mean", 31, 48), ("ae.c2_mean", 40, 48),  # November has no C1: none is held
        ("ae.c2_mean", 61, 93), ("ae.c1_mean", 61, 11),
        ("ae.c2_mean", 70, 93), ("ae.c1_mean", 70, 11),
        ("ae.c2_mean", 90, 93), ("ae.c1_mean", 90, 11),  # December ends at 91: then stale
    ]


def test_metrics_renames_the_files_ids_and_null_leaves_one_out(tmp_path: Path,
                                                               catalogue: Catalogue) -> None:
    rows, _ = read_ambsys(AMBSYS, "Eng")  # the ids of examples/ambsys/rules.yaml
    text = "ts,metric,scope,value\n" + "".join(
        f"{r['ts']},{r['metric']},{r['scope']},{r['value']}\n" for r in rows)
    renames = ("{ambsys.c1_mean: ae.c1_mean, ambsys.c2_mean: ae.c2_mean, ambsys.c1_p90: null, "
               "ambsys.c2_p90: null, ambsys.answer_mean: calls.answer_mean, "
               "ambsys.answer_p90: null}")
    (feed,) = load(tmp_path, catalogue, "feeds:\n" + entry(
        "england.csv", speed="86400", start="2022-12-01", metrics=renames),
        **{"england.csv": text})
    december = {r["metric"]: r["value"] for r in rows if r["ts"] == "2022-12-01T00:00:00Z"}
    assert {s.metric: s.value for s in feed.fetch(None, T0)} == {
        "ae.c1_mean": december["ambsys.c1_mean"], "ae.c2_mean": december["ambsys.c2_mean"]}


def test_speed_is_file_seconds_per_second_of_surge_time_whatever_the_clock(
        tmp_path: Path, catalogue: Catalogue) -> None:
    real = [1_000.0]
    clock = Clock.exercise(60, origin=T0, real=lambda: real[0])  # an exercise at x60
    (tmp_path / "months.csv").write_text(MONTHS)
    (tmp_path / "feeds.yaml").write_text("feeds:\n" + entry(speed="1440"))
    (feed,) = replays(tmp_path / "feeds.yaml", context(tmp_path, catalogue, clock))
    real[0] += 31  # 31 real s = 31 Surge min at x60 = 31 file days at a day a minute
    assert [(s.value, s.ts) for s in feed.fetch(None, clock()) if s.metric == "ae.c2_mean"] \
        == [(61, T0), (48, T0 + 31 * 60)]


# --- the shipped replays of real AmbSYS months ---------------------------------------------

@pytest.mark.parametrize(("name", "org"), [("ambsys-replay.yaml", "Eng"),
                                           ("ambsys-replay-swasft.yaml", "RYF")])
def test_the_shipped_replays_show_december_2022_at_the_level_its_figures_meet(
        name: str, org: str, catalogue: Catalogue) -> None:
    rules = load_rules(RULES)
    feeds = replays(EXAMPLES / name, context(EXAMPLES, catalogue))
    assert sorted(f.function for f in feeds) == ["ae", "call_handling"]
    for feed in feeds:  # each plays its own function's metrics
        assert {catalogue.metrics[s.metric].function for s in feed.samples} == {feed.function}
    rows, _ = read_ambsys(AMBSYS, org)  # the published figures, not the shipped file
    figures = {AMBSYS_METRICS[r["metric"]]: r["value"] for r in rows
               if r["ts"] == "2022-12-01T00:00:00Z" and r["metric"] in AMBSYS_METRICS}
    expected = {p.id: max(t.candidate(figures[t.metric], rules.base)
                          for t in p.triggers if t.metric in figures)
                for p in rules.protocols.values() if p.function in {f.function for f in feeds}}
    assert expected["ae"] == 4  # a C2 mean over 90 min

    # poll as the worker does until January starts to play; the engine takes each poll
    january = min(f.origin + (ts("2023-01-01") - f.samples[0].ts) / f.speed for f in feeds)
    evaluator = Evaluator(rules, T0 - 1)
    since: dict[str, float | None] = {f.name: None for f in feeds}
    now = T0
    while now < january:
        for feed in feeds:
            got = feed.fetch(since[feed.name], now)
            since[feed.name] = max([s.ts for s in got], default=since[feed.name])
            evaluator.ingest(got)
        evaluator.advance(now)
        now += min(f.interval for f in feeds)
    levels = evaluator.levels()
    assert {name: levels[name] for name in expected} == expected
    assert not any(view.stale for name, view in evaluator.explain().items()
                   if name.startswith("ae/ae.c2_mean"))  # held: never stale in its month


def test_a_replay_polled_into_the_store_holds_its_month(store, catalogue: Catalogue,
                                                        tmp_path: Path) -> None:
    now = [float(int(time.time()))]
    clock = Clock(real=lambda: now[0])
    ae, _ = replays(EXAMPLES / "ambsys-replay.yaml",
                    FeedContext(catalogue, clock, EXAMPLES, tmp_path, {}))
    poller = FeedPoller(ae, store, catalogue, clock)
    first = poller.poll()
    now[0] += ae.interval
    second = poller.poll()
    assert first.ok and second.ok and not first.rejected and not second.rejected
    assert (first.accepted, second.accepted, second.duplicates) == (2, 2, 0)
    december = {s.metric: s.value for s in ae.samples if s.ts == ts("2022-12-01")}
    latest = store.latest()
    assert latest[("ae.c2_mean", "trust")] == (now[0], pytest.approx(december["ae.c2_mean"]))
    assert latest[("ae.c1_mean", "trust")] == (now[0], pytest.approx(december["ae.c1_mean"]))
    (status,) = store.feed_status()
    assert (status.name, status.accepted, status.last_sample) == ("ambsys-ae", 4, now[0])


@pytest.mark.parametrize(("file", "org"), [("england-replay.csv", "Eng"),
                                           ("swasft-replay.csv", "RYF")])
def test_the_shipped_files_are_rebuilt_from_the_shared_ambsys_csv(
        file: str, org: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay.main(["--ambsys", str(AMBSYS), "--org", org]) == 0
    out, err = capsys.readouterr()
    assert out == (REPO / "examples" / "ambsys" / file).read_text() and not err


def test_ambsys_figures_go_to_catalogue_metrics_of_the_same_unit(catalogue: Catalogue) -> None:
    monthly = load_catalogue(REPO / "examples" / "ambsys" / "rules.yaml")
    assert set(AMBSYS_METRICS) <= {metric for metric, _ in INDICATORS.values()}
    for source, target in AMBSYS_METRICS.items():
        assert monthly.metrics[source].unit == catalogue.metrics[target].unit, source
    rows, _ = ambsys_replay_rows(AMBSYS, "Eng")
    assert {r["metric"] for r in rows} == set(AMBSYS_METRICS.values())
