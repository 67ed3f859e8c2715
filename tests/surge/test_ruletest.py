"""Rule tests: the values notation, every malformed-file message with its position, the exit
codes, failure reports, and the shipped tests in tests/rules/ holding against the shipped rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from surge.rules.ruletest import NotationError, parse_values, run_files

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "surge_rules.yaml"
SHIPPED = sorted((REPO / "tests" / "rules").glob("*.yaml"))


def run(*paths: str | Path) -> tuple[int, list[str]]:
    out: list[str] = []
    code = run_files(list(paths), out.append)
    return code, "\n".join(out).splitlines()


def write(tmp_path: Path, text: str, name: str = "test.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text.replace("RULES", str(RULES)))
    return path


# --- the notation ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "values"), [
    ("5", [5.0]),
    ("5x3", [5.0, 5.0, 5.0, 5.0]),
    ("5+1x4", [5.0, 6.0, 7.0, 8.0, 9.0]),
    ("10-2x3", [10.0, 8.0, 6.0, 4.0]),
    ("1 _x3 2", [1.0, None, None, None, 2.0]),  # as promtool: _xn is n missing, not n+1
    ("_ 1 _", [None, 1.0, None]),
    ("_x0 7", [7.0]),
    ("5x0", [5.0]),
    ("2.5 .5 3.", [2.5, 0.5, 3.0]),
    ("1e3 2.5E-1 1e+2+1x1", [1000.0, 0.25, 100.0, 101.0]),
    ("+4 -3 -1-1x2", [4.0, -3.0, -1.0, -2.0, -3.0]),
    ("0.5-0.25x2", [0.5, 0.25, 0.0]),
    ("  1\n\t2  ", [1.0, 2.0]),
    ("", []),
])
def test_parse_values(text: str, values: list[float | None]) -> None:
    assert parse_values(text) == values


def test_a_step_is_added_value_by_value_as_promtool_does() -> None:
    # 0.1 added nine times is not 1.0 in binary: promtool stores 0.9999999999999999 too
    # (test_promtool checks these against promtool itself).
    assert parse_values("0.1+0.1x9")[-1] == 0.9999999999999999
    assert parse_values("0.1+0.1x2")[-1] == 0.30000000000000004


@pytest.mark.parametrize(("text", "message", "offset"), [
    ("x3", "'x3' is not a value", 0),
    ("5x", "x needs a whole count", 0),
    ("1 5+1x", "x needs a whole count", 2),
    ("5xx3", "'5xx3' is not a value", 0),
    ("abc", "'abc' is not a value", 0),
    ("1 2 5+x3", "a step is missing", 4),
    ("5x3.5", "is not a value", 0),
    ("5x-1", "is not a value", 0),
    ("1,2", "is not a value", 0),
    ("Inf", "finite numbers only", 0),
    ("1 NaN", "finite numbers only", 2),
    ("stale", "write _ for a missing sample", 0),
    ("__", "is not a value", 0),
])
def test_bad_notation_says_what_and_where(text: str, message: str, offset: int) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        parse_values(text)
    assert isinstance(err.value, NotationError)
    assert err.value.offset == offset
    assert "5x3" in str(err.value) or "write _" in str(err.value)  # shows a correct form


# --- the shipped tests -----------------------------------------------------------------------


def test_the_shipped_rule_tests_all_hold() -> None:
    code, out = run(*SHIPPED)
    assert code == 0, "\n".join(out)
    assert re.fullmatch(rf"{len(SHIPPED)} files, \d+ expectations: all hold", out[-1])


def test_the_shipped_rule_tests_cover_every_protocol_and_say_what_they_show() -> None:
    text = "\n".join(p.read_text() for p in SHIPPED)
    for name in ("call_handling", "clinical_triage", "ae", "pts", "overall", "ae@RVJ",
                 "ae/hospitals_over_60"):
        assert re.search(rf"[{{ \"]{re.escape(name)}\"?:", text), name
    assert "    stale: {" in text
    for path in SHIPPED:
        assert path.read_text().startswith("# "), f"{path.name} needs a header comment"
        assert "rules: ../../surge_rules.yaml" in path.read_text()


def test_one_wrong_expectation_in_a_shipped_test_fails_with_expected_actual_and_reason(
        tmp_path: Path) -> None:
    original = (REPO / "tests" / "rules" / "call_handling.yaml").read_text()
    changed = original.replace("../../surge_rules.yaml", str(RULES)).replace(
        "levels: {call_handling: 4, overall: 4}\n  - at: 54m59s",
        "levels: {call_handling: 3, overall: 4}\n  - at: 54m59s")
    assert changed.count("call_handling: 3, overall: 4") == 1
    path = write(tmp_path, changed)
    line = changed.splitlines().index("    levels: {call_handling: 3, overall: 4}") + 1
    code, out = run(path)
    assert code == 1
    # the reason in the sentence every screen shows, then each trigger under it that is raised
    assert out[0] == (f"{path}:{line}: at 30m (2026-01-01T00:30:00Z): call_handling expected 3, "
                      f"got 4 — 999 calls waiting ≥ 60 calls for 5m (now 70 calls)")
    assert out[1] == ("    call_handling/calls.waiting at level 4 Extreme pressure: "
                      "999 calls waiting ≥ 60 calls for 5m (now 70 calls)")
    assert out[-1] == "1 file: 1 of 20 expectations failed"


# --- running, with a rules file written for the test ----------------------------------------------

TINY_RULES = """\
version: 1
levels:
  1: {name: Steady, colour: "#1b7f3b"}
  2: {name: Raised, colour: "#f2c200"}
functions:
  f: {label: F}
sites:
  S1: {name: Site one, kind: hospital}
metrics:
  m.value: {function: f, label: M, unit: x, worse: higher, range: [0, 100], stale_after: 2m,
            scopes: [trust, hospital]}
protocols:
  p:
    label: P
    combine: max
    triggers:
      - {metric: m.value, levels: {2: 10}, for: 0, clear_for: 0}
      - {id: at_sites, metric: m.value, over: sites, aggregate: each, levels: {2: 50},
         for: 2m, clear_for: 0}
overall: {label: O, combine: max, from: [p]}
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "tiny.yaml").write_text(TINY_RULES)
    return tmp_path


def test_a_sample_at_the_expectation_time_is_evaluated_before_it_is_checked(tiny: Path) -> None:
    path = write(tiny, """\
rules: rules/tiny.yaml
input:
  - {metric: m.value, values: "1 1 1 20 1"}
expect:
  - {at: 2m59s, levels: {p: 1}}
  - {at: 3m, levels: {p: 1}}
  - {at: 4m, levels: {p: 2}}
""")
    code, out = run(path)
    out = [line for line in out if not line.startswith("    ")]  # drivers' reasons
    assert code == 1
    assert out[0].startswith(f"{path}:6: at 3m (2026-01-01T00:03:00Z): p expected 1, got 2 — ")
    assert out[1].startswith(f"{path}:7: at 4m (2026-01-01T00:04:00Z): p expected 2, got 1 — ")
    assert out[-1] == "1 file: 2 of 3 expectations failed"


def test_expectations_run_in_time_order_through_one_evaluator(tiny: Path) -> None:
    # Written out of order, and with absolute times: the file is one run of the engine.
    path = write(tiny, """\
rules: rules/tiny.yaml
start: 2026-03-01T10:00:00+01:00
interval: 30s
input:
  - {metric: m.value, scope: S1, values: "60x4 1"}
expect:
  - {at: 2m, levels: {"p@S1": 2, p: 2, overall: 2, p/at_sites: 2}}
  - {at: 2026-03-01T09:01:59Z, levels: {"p@S1": 1, p/at_sites@S1: 1}}
  - {at: 2m30s, levels: {"p@S1": 1}, stale: {p/at_sites@S1: false, p/m.value: true}}
  - {at: 5m, stale: {p/at_sites@S1: true, "p@S1": true, overall: true}}
""")
    code, out = run(path)
    assert (code, out) == (0, ["1 file, 12 expectations: all hold"])


def test_a_wrong_stale_flag_is_reported_as_such(tiny: Path) -> None:
    path = write(tiny, """\
rules: rules/tiny.yaml
input:
  - {metric: m.value, values: "20"}
expect:
  - at: 3m
    levels: {p: 2}
    stale: {p/m.value: false, p: false}
""")
    code, out = run(path)
    assert code == 1
    assert out[0] == (f"{path}:7: at 3m (2026-01-01T00:03:00Z): stale flag of p/m.value "
                      f"expected false, got true — M: data stale, held at level 2 Raised")
    assert out[1] == (f"{path}:7: at 3m (2026-01-01T00:03:00Z): stale flag of p expected "
                      f"false, got true — M: data stale, held at level 2 Raised")
    assert "    p/m.value at level 2 Raised: M: data stale, held at level 2 Raised" in out
    assert "    p/at_sites@S1 at level 1 Steady: M at Site one: data stale, held at level 1 " \
           "Steady" in out
    assert out[-1] == "1 file: 2 of 3 expectations failed"


def test_a_failure_says_what_is_pending_and_how_long_it_has_held(tiny: Path) -> None:
    path = write(tiny, """\
rules: rules/tiny.yaml
input:
  - {metric: m.value, scope: S1, values: "60x3"}
expect:
  - {at: 1m, levels: {p: 2}}
""")
    code, out = run(path)
    assert code == 1
    pending = "level 2 Raised pending: M at Site one ≥ 50 x for 1m of 2m"
    assert out[0] == (f"{path}:5: at 1m (2026-01-01T00:01:00Z): p expected 2, got 1 — "
                      f"No trigger above level 1 Steady; {pending}")
    assert out[1] == (f"    p/at_sites@S1 at level 1 Steady: M at Site one: no threshold met "
                      f"(now 60 x); {pending}")


def test_exit_codes_0_1_2_and_malformed_wins(tiny: Path) -> None:
    good = write(tiny, "rules: rules/tiny.yaml\ninput: [{metric: m.value, values: '20'}]\n"
                       "expect: [{at: 0, levels: {p: 2}}]\n", "good.yaml")
    bad = write(tiny, "rules: rules/tiny.yaml\ninput: [{metric: m.value, values: '20'}]\n"
                      "expect: [{at: 0, levels: {p: 1}}]\n", "bad.yaml")
    broken = write(tiny, "rules: rules/tiny.yaml\ninput: []\nexpect: []\n", "broken.yaml")
    assert run(good) == (0, ["1 file, 1 expectation: all hold"])
    assert run(good, bad)[0] == 1
    assert run(good, bad)[1][-1] == "2 files: 1 of 2 expectations failed"
    code, out = run(good, bad, broken)
    assert code == 2
    assert any(line.startswith(f"{bad}:3: at 0") for line in out)  # the others still run
    assert out[-1] == "3 files: 1 malformed, 1 of 2 expectations in the others failed"
    assert run(broken, good)[1][-1] == "2 files: 1 malformed, 1 expectation in the others: all hold"


# --- malformed files ---------------------------------------------------------------------------


def problems(tmp_path: Path, text: str) -> tuple[Path, list[str]]:
    path = write(tmp_path, text)
    code, out = run(path)
    assert code == 2, out
    assert out[-1] == "1 file: 1 malformed"
    return path, out[:-1]


def test_every_problem_in_the_file_is_reported_with_its_position(tmp_path: Path) -> None:
    path, out = problems(tmp_path, """\
rules: RULES
start: 2026-01-05T08:00:00
interval: 0s
expcet: []
input:
  - metric: calls.waitng
    values: "5x10"
  - metric: calls.waiting
    scope: EOC-X
    values: "5x10"
  - metric: calls.demand_vs_forecast
    scope: EOC-N
    values: "5x10"
  - metric: ae.stack
    values: "5 6 5xx3 7"
  - metric: ae.c2_mean
    values: 5 2000
  - metric: ae.stack
    valeus: "1"
  - metric: triage.waiting
    values: "_x3"
  - {metric: pts.on_time_pct, values: '90 100.5'}
  - metric: calls.answer_mean
    values: "1"
  - metric: calls.answer_mean
    values: "2"
  - metric: ae.handover_queue
    scope: RVJ
    interval: 90
    values: 3
  - metric: ae.stack
    scope: RVJ
    values: "1"
  - [calls.waiting, "1"]
expect:
  - at: 16
    levels: {call_handlin: 2, "call_handling@EOC-N": 2, ae: 5, pts: high, "ae@RXX": 1}
  - at: 2025-12-31T00:00:00Z
    stale: {overall: yes}
  - at: 5m
  - at: 5m
    level: {overall: 1}
  - at: 2026-01-05
    levels: {ovreall: 1}
  - at: 1m
    levels: [overall, 1]
""")
    p = str(path)
    assert out == [
        f"{p}:2:8: start: 2026-01-05T08:00:00 has no time zone: add Z for UTC "
        "(2026-01-05T08:00:00Z) or an offset (+01:00)",
        f"{p}:3:11: interval: interval must be longer than 0s",
        f"{p}:4:1: unknown key 'expcet' (did you mean 'expect'?)",
        f"{p}:6:13: input[0].metric: unknown metric 'calls.waitng' (did you mean 'calls.waiting'?)",
        f"{p}:9:12: input[1].scope: unknown scope 'EOC-X' (did you mean 'EOC-S'?): expected "
        "trust or a site code",
        f"{p}:12:12: input[2].scope: calls.demand_vs_forecast is not reported at EOC-N (site kind "
        "eoc); it is reported at: trust",
        f"{p}:15:18: input[3].values: '5xx3' is not a value: expected a number (5, 2.5, 1e3), "
        "axn (5x3), a+bxn (5+1x4), a-bxn (10-2x3), _ or _xn",
        f"{p}:17:13: input[4].values: value 2000 of ae.c2_mean is outside its plausible range "
        "[0, 1440]: the engine never sees it",
        f"{p}:18:5: input[5]: missing required key 'values'",
        f"{p}:19:5: input[5]: unknown key 'valeus' (did you mean 'values'?)",
        f"{p}:21:13: input[6].values: no values: give at least one number",
        f"{p}:22:39: input[7].values: value 100.5 of pts.on_time_pct is outside its plausible "
        "range [0, 100]: the engine never sees it",
        f"{p}:25:5: input[9]: a second series for calls.answer_mean at trust (the first is on "
        "line 23): give each one series",
        f"{p}:29:15: input[10].interval: a duration needs a unit: 90s, 90m or 90h? (e.g. 1h30m)",
        f"{p}:32:12: input[11].scope: ae.stack is not reported at RVJ (site kind hospital); it "
        "is reported at: trust",
        f"{p}:34:5: input[12]: expected a series such as {{metric: calls.waiting, values: "
        "\"5x10 30x20\"}, got a list",
        f"{p}:36:9: expect[0].at: a duration needs a unit: 16s, 16m or 16h? (e.g. 1h30m), or an "
        "absolute time such as 2026-01-01T00:16:00Z",
        f"{p}:37:14: expect[0].levels: unknown level name 'call_handlin' (did you mean "
        "'call_handling'?)",
        f"{p}:37:31: expect[0].levels: unknown level name 'call_handling@EOC-N': call_handling has "
        "no per-site levels (only triggers with aggregate: each have)",
        f"{p}:37:61: expect[0].levels.ae: expected a level (1, 2, 3, 4), got 5",
        f"{p}:37:69: expect[0].levels.pts: expected a level (1, 2, 3, 4), got 'high'",
        f"{p}:37:75: expect[0].levels: unknown level name 'ae@RXX': ae has per-site levels at "
        "RVJ, RA7, RD1, RH8, RK9, RA9",
        f"{p}:39:22: expect[1].stale.overall: expected true or false, got 'yes'",
        f"{p}:40:5: expect[2]: nothing to check: add levels: (and/or stale:)",
        f"{p}:41:5: expect[3]: nothing to check: add levels: (and/or stale:)",
        f"{p}:42:5: expect[3]: unknown key 'level' (did you mean 'levels'?)",
        f"{p}:43:9: expect[4].at: 2026-01-05 is a date: give a time too, such as "
        "2026-01-05T00:00:00Z",
        f"{p}:44:14: expect[4].levels: unknown level name 'ovreall' (did you mean 'overall'?)",
        f"{p}:46:13: expect[5].levels: expected a mapping of names to values, such as "
        "{overall: 3}, got a list",
    ]


def test_a_time_before_the_start_is_refused(tmp_path: Path) -> None:
    path, out = problems(tmp_path, """\
rules: RULES
start: "2026-01-05T08:00:00Z"
input: [{metric: calls.waiting, values: "1"}]
expect:
  - {at: 2026-01-05T07:59:59Z, levels: {overall: 1}}
  - {at: "2026-01-05T09:00:00+02:00", levels: {overall: 1}}
  - {at: "2026-01-05T25:00:00Z", levels: {overall: 1}}
""")
    assert out == [
        f"{path}:5:10: expect[0].at: 2026-01-05T07:59:59Z is before the test's start "
        "2026-01-05T08:00:00Z",
        f"{path}:6:10: expect[1].at: 2026-01-05T07:00:00Z is before the test's start "
        "2026-01-05T08:00:00Z",
        f"{path}:7:10: expect[2].at: '2026-01-05T25:00:00Z' is not an ISO 8601 time such as "
        "2026-01-05T08:00:00Z",
    ]


def test_the_top_of_the_file(tmp_path: Path) -> None:
    path, out = problems(tmp_path, "start: yesterday\ninterval: often\ninput: {}\nexpect: []\n")
    assert out == [
        f"{path}:1:1: missing required key 'rules'",
        f"{path}:1:8: start: expected a time such as 2026-01-05T08:00:00Z, got 'yesterday'",
        f"{path}:2:11: interval: expected a duration such as 30s, 5m, 2h or 1h30m, got 'often'",
        f"{path}:3:8: input: expected a list of series, each starting with - metric:, got a "
        "mapping",
        f"{path}:4:9: expect: expect is empty: give at least one expectation",
    ]
    path, out = problems(tmp_path, "- just\n- a list\n")
    assert out == [f"{path}:1:1: expected a rule test with rules:, input: and expect:, got a list"]
    path, out = problems(tmp_path, "rules: [1\ninput: x\n")
    assert len(out) == 1 and out[0].startswith(f"{path}:2:") and "YAML syntax" in out[0]
    path, out = problems(tmp_path, "rules: RULES\ninput: []\nexpect:\n  - at: 2026-02-30T00:00:00Z\n")
    assert out == [f"{path}:4:9: YAML syntax: cannot read a value: day is out of range for month"]
    path, out = problems(tmp_path, "")
    assert out == [f"{path}:1:1: the file is empty"]
    code, out = run(tmp_path / "nowhere.yaml")
    assert (code, out[0]) == (2, f"{tmp_path / 'nowhere.yaml'}: file not found")
    code, out = run(tmp_path)
    assert code == 2 and out[0].startswith(f"{tmp_path}: cannot be read")


def test_the_rules_file_must_exist_and_be_sound(tmp_path: Path) -> None:
    path, out = problems(tmp_path, "rules: nowhere.yaml\ninput: [{metric: calls.waiting, "
                                   "values: '1'}]\nexpect: [{at: 0, levels: {overall: 1}}]\n")
    assert out == [f"{path}:1:8: rules: no rules file at {tmp_path / 'nowhere.yaml'}"]
    (tmp_path / "broken_rules.yaml").write_text("version: 2\nlevels: {}\n")
    test = "rules: broken_rules.yaml\ninput: [{metric: calls.waiting, values: '1'}]\n" \
           "expect: [{at: 0, levels: {overall: 1}}]\n"
    first, second = write(tmp_path, test, "a.yaml"), write(tmp_path, test, "b.yaml")
    code, out = run(first, second)
    assert code == 2
    rules_problems = [line for line in out if line.startswith(str(tmp_path / "broken_rules.yaml"))]
    assert rules_problems and any("version: 1" in line for line in rules_problems)
    assert len(rules_problems) == len(set(rules_problems))  # once, though two tests use it
    for test_file in (first, second):
        assert (f"{test_file}:1:8: rules: the rules file broken_rules.yaml has problems "
                "(listed above)") in out
    assert out[-1] == "2 files: 2 malformed"
