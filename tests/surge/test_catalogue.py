"""The shipped catalogue loads; a broken file reports every problem as FILE:LINE:COL."""

from __future__ import annotations

from pathlib import Path

import pytest

from surge.catalogue import content_digest, load_catalogue
from surge.configfile import Node
from surge.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_catalogue_covers_every_function(catalogue) -> None:
    functions = [f.id for f in catalogue.functions]
    assert functions == ["call_handling", "clinical_triage", "ae", "pts"]
    for function in functions:
        assert len(catalogue.metrics_of(function)) >= 5
    handover = [m for m in catalogue.metrics_of("ae") if "hospital" in m.scopes]
    assert len(handover) >= 3
    assert len(catalogue.sites_of("hospital")) == 6
    assert [lv.number for lv in catalogue.levels] == [1, 2, 3, 4]
    assert catalogue.timezone.key == "Europe/London"


def test_scopes_of_a_per_hospital_metric_lists_every_hospital(catalogue) -> None:
    scopes = catalogue.scopes_of(catalogue.metrics["ae.handover_queue"])
    assert scopes[0] == "trust"
    assert set(scopes[1:]) == {s.code for s in catalogue.sites_of("hospital")}


def problems_in(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_catalogue(path)
    return [str(p) for p in err.value.problems]


BASE = """\
version: 1
levels:
  1: {name: Steady, colour: "#1b7f3b"}
functions:
  call_handling: {label: Calls}
sites:
  RVJ: {name: Southmead, kind: hospital}
metrics:
"""


def test_every_problem_is_reported_with_its_position(tmp_path: Path) -> None:
    problems = problems_in(tmp_path, BASE + """\
  calls.waiting:
    function: call_handlng
    label: Calls waiting
    unit: calls
    worse: up
    range: [10, 5]
    stale_after: 5 minutes
    scopes: [trust, hosptal]
    colour: red
""")
    path = str(tmp_path / "rules.yaml")
    assert problems == [
        f"{path}:10:15: metrics.calls.waiting.function: unknown function 'call_handlng' "
        f"(did you mean 'call_handling'?)",
        f"{path}:13:12: metrics.calls.waiting.worse: expected one of higher | lower, got 'up'",
        f"{path}:14:12: metrics.calls.waiting.range: range minimum 10 must be below its "
        f"maximum 5",
        f"{path}:15:18: metrics.calls.waiting.stale_after: expected a duration such as 30s, "
        f"5m, 2h or 1h30m, got '5 minutes'",
        f"{path}:16:21: metrics.calls.waiting.scopes[1]: expected one of trust | hospital | "
        f"eoc | pts_zone, got 'hosptal' (did you mean 'hospital'?)",
        f"{path}:17:5: metrics.calls.waiting: unknown key 'colour'",
    ]


def test_missing_keys_and_misspelt_top_level_keys(tmp_path: Path) -> None:
    problems = problems_in(tmp_path, BASE.replace("levels:", "levls:") + """\
  calls.waiting: {function: call_handling, label: Calls, unit: calls}
""")
    assert any(":2:1: unknown key 'levls' (did you mean 'levels'?)" in p for p in problems)
    assert any(":1:1: missing required key 'levels'" in p for p in problems)


def test_missing_metric_fields_are_named(tmp_path: Path) -> None:
    problems = problems_in(tmp_path, BASE + """\
  calls.waiting: {function: call_handling, label: Calls, unit: calls}
""")
    assert len(problems) == 3
    assert all("metrics.calls.waiting: missing required key" in p for p in problems)
    assert {p.rsplit(" ", 1)[1] for p in problems} == {"'worse'", "'range'", "'stale_after'"}


@pytest.mark.parametrize(("text", "expected"), [
    ("version: 1\nlevels: [1, 2\n", ":3:1: YAML syntax"),
    ("version: 1\nversion: 2\n", ":2:1: YAML syntax: while constructing a mapping"),
    ("", ":1:1: the file is empty"),
    ("- just\n- a list\n", ":1:1: expected a mapping, got a list"),
    (BASE.replace('"#1b7f3b"', "green") + "  {}\n", "levels.1.colour: expected a colour"),
    (BASE.replace("1: {", "one: {"), "level 'one' must be a whole number"),
    (BASE.replace("kind: hospital", "kind: clinic"), "expected one of hospital | eoc | pts_zone"),
    (BASE.replace("RVJ:", "trust:"), "site code 'trust' must be"),
    (BASE.replace("version: 1", "version: 2"), "expected version: 1, got 2"),
    (BASE + "  Calls Waiting: {}\n", "metric id 'Calls Waiting' must be lower-case"),
    (BASE.replace("levels:", "timezone: Mars/Olympus\nlevels:"), "unknown time zone"),
])
def test_bad_files_name_file_line_and_what_was_expected(tmp_path, text, expected) -> None:
    problems = problems_in(tmp_path, text)
    assert any(expected in p for p in problems), problems
    assert all(p.startswith(str(tmp_path / "rules.yaml") + ":") for p in problems)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        load_catalogue(tmp_path / "nope.yaml")


SMALL = """\
version: 1
levels:
  1: {name: Steady, colour: "#1b7f3b"}
  2: {name: Moderate, colour: "#f2c200"}
functions:
  calls: {label: Calls}
sites:
  A: {name: Hospital A, kind: hospital}
metrics:
  m.x: {function: calls, label: X, unit: n, worse: higher, range: [0, 1000], stale_after: 5m}
"""
# the same content: sections and keys in another order, other line breaks, comments, quotes
SMALL_REWRITTEN = """\
# the metric catalogue
metrics:
  m.x:
    worse: higher
    label: "X"
    function: calls   # call handling
    unit: n
    stale_after: 5m
    range: [0, 1000]

sites: {A: {kind: hospital, name: Hospital A}}
functions:
  calls: {label: Calls}
levels:  # lowest first: here the order is part of what the file says
  1: {name: Steady, colour: "#1b7f3b"}
  2: {colour: "#f2c200", name: Moderate}
version: 1
"""


def version_of(tmp_path: Path, text: str) -> str:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return load_catalogue(path).version


def test_the_version_is_what_the_file_says_not_how_it_is_laid_out(tmp_path: Path) -> None:
    version = version_of(tmp_path, SMALL)
    assert len(version) == 12 and int(version, 16) >= 0
    assert version_of(tmp_path, SMALL + "\n# a comment\n") == version
    assert version_of(tmp_path, SMALL_REWRITTEN) == version


@pytest.mark.parametrize("change", [
    ("range: [0, 1000]", "range: [0, 999]"),  # a value
    ("label: X", "label: Y"),  # a label people see
    ("kind: hospital}", "kind: eoc}"),
    ("  1: {name: Steady", "  0: {name: Steady"),  # a key
])
def test_any_change_of_content_changes_the_version(tmp_path: Path, change) -> None:
    assert SMALL.count(change[0]) == 1
    assert version_of(tmp_path, SMALL.replace(*change)) != version_of(tmp_path, SMALL)


def test_values_that_read_alike_are_not_the_same_content() -> None:
    def digest(value: object) -> str:
        return content_digest(Node(value, 1, 1, ""))

    variants = [{1: "a"}, {"1": "a"}, {True: "a"}, [[1, "a"]], {1: ["a"]}, {1: "a", 2: None}]
    assert len({digest(v) for v in variants}) == len(variants)
    assert digest({1: "a", 2: "b"}) == digest({2: "b", 1: "a"})
