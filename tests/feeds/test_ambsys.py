"""AmbSYS monthly data into samples, and a backtest over it with the example rules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from feeds.ambsys import read_ambsys
from surge.errors import ConfigError
from surge.rules.backtest import read_csv, run_backtest
from surge.rules.loader import load_rules

REPO = Path(__file__).resolve().parents[2]
AMBSYS = REPO.parent / "shared" / "data" / "ambsys.csv"


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def england_csv(tmp_path_factory) -> Path:
    assert AMBSYS.exists(), f"the shared AmbSYS data is expected at {AMBSYS}"
    rows, problems = read_ambsys(AMBSYS, "Eng")
    assert not problems
    path = tmp_path_factory.mktemp("ambsys") / "england.csv"
    path.write_text("ts,metric,scope,value\n" + "".join(
        f"{r['ts']},{r['metric']},{r['scope']},{r['value']}\n" for r in rows))
    return path


def test_december_2022_is_read_as_published(england_csv) -> None:
    rows, _ = read_ambsys(AMBSYS, "Eng")
    december = {r["metric"]: r["value"] for r in rows if r["ts"] == "2022-12-01T00:00:00Z"}
    assert december["ambsys.c2_mean"] == pytest.approx(5575 / 60, abs=0.001)  # 1 h 33 min
    assert december["ambsys.c1_mean"] == pytest.approx(658 / 60, abs=0.001)
    assert december["ambsys.answer_mean"] == 88


def test_winter_2022_is_extreme_pressure_and_december_2023_is_not(england_csv) -> None:
    rules = load_rules(REPO / "examples" / "ambsys" / "rules.yaml")
    samples = read_csv(england_csv, rules)
    result = run_backtest(rules, samples, ts("2022-06-01"), ts("2024-04-01"))

    def level_at(name: str, when: float) -> int:
        level = result.initial[name]
        for t in result.transitions:
            if t.name == name and t.level_changed and t.at <= when:
                level = t.new
        return level

    assert level_at("ae", ts("2022-12-15")) == 4
    assert level_at("overall", ts("2022-12-15")) == 4
    assert level_at("ae", ts("2023-12-15")) < 4  # C2 mean 2,757 s: severe, not extreme
    assert sum(result.time_at_level["overall"].values()) == pytest.approx(
        ts("2024-04-01") - ts("2022-06-01"))


def test_an_unknown_organisation_and_a_broken_file_are_reported(tmp_path) -> None:
    rows, problems = read_ambsys(AMBSYS, "NOPE")
    assert not rows and "no rows for organisation 'NOPE'" in problems[0].message
    bad = tmp_path / "bad.csv"
    bad.write_text("Year,Month,Region,Org Code,Org Name,A31\n2022,12,Eng,Eng,England,lots\n"
                   "2022,13,Eng,Eng,England,100\n2023,1,Eng,Eng,England,120\n")
    rows, problems = read_ambsys(bad, "Eng")
    assert [str(p) for p in problems] == [f"{bad}:2:1: A31 is 'lots', not a number",
                                          f"{bad}:3:1: bad Year/Month '2022'/'13'"]
    assert rows == [{"ts": "2023-01-01T00:00:00Z", "metric": "ambsys.c2_mean",
                     "scope": "trust", "value": 2.0}]
    _, problems = read_ambsys(REPO / "surge_rules.yaml", "Eng")
    assert "not an AmbSYS file" in problems[0].message


def test_a_bad_backtest_csv_names_every_bad_row(tmp_path) -> None:
    rules = load_rules(REPO / "examples" / "ambsys" / "rules.yaml")
    path = tmp_path / "in.csv"
    path.write_text("ts,metric,scope,value\n2022-12-01T00:00:00Z,ambsys.c2_mean,trust,93\n"
                    "2022-12-01,ambsys.c2_mean,trust,93\nnot a time,ambsys.c2_mean,trust,1\n"
                    "2022-12-01T00:00:00Z,ambsys.c3_mean,trust,1\n")
    with pytest.raises(ConfigError) as err:
        read_csv(path, rules)
    text = str(err.value)
    assert f"{path}:3:1: timestamp 2022-12-01T00:00:00 has no time zone" in text
    assert f"{path}:4:1: timestamp 'not a time' is not an ISO 8601 time" in text
    assert f"{path}:5:1: unknown metric 'ambsys.c3_mean'" in text
