"""Surge against a real peer: Prometheus's own alerting, run by ``promtool test rules``.

For a single-threshold trigger on 1-minute data that never goes stale, the trigger is at
level 2 exactly when Prometheus fires ``expr: m >= T`` with the same ``for`` and
``keep_firing_for`` = ``clear_for``. Random series (seeded, in promtool's notation, read by
Surge through ``parse_values``) are run through the engine; the level at every whole minute
becomes an ``alert_rule_test`` (firing or not), and promtool says whether Prometheus agrees.

What was checked in Prometheus (rules/alerting.go, cmd/promtool/unittest.go) to make the
comparison fair:

- promtool evaluates the group at 0, 1m, 2m, ... and ``exp_alerts`` lists FIRING alerts
  only; a pending alert counts as not firing.
- An alert becomes pending at the first evaluation where the expression is true (ActiveAt)
  and fires at the first evaluation with ``ts - ActiveAt >= for``: true at 0..for in every
  evaluation, as Surge's "candidate >= 2 throughout [t - for, t]". A false evaluation while
  pending drops it, so ``for`` starts again.
- ``keep_firing_for``: from the first false evaluation (KeepFiringSince) it keeps firing
  while ``ts - KeepFiringSince < keep_firing_for`` and resolves at exactly that duration,
  as Surge's level falls when no candidate 2 is left in [t - clear_for, t]. A true
  evaluation meanwhile resets it, as a sample at level 2 inside Surge's window does.
- Missing samples: an instant query looks back 5m for the latest sample, so gaps of up to 4
  missing minutes (``_x4``) leave the value as it was in both; Surge's stale_after is 5m.
  Longer gaps are a genuine difference, not compared: Prometheus has no series (the alert
  resolves) while Surge holds the level and flags it stale.

Only the 1-minute evaluation instants are compared: Prometheus has no state in between.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from surge.rules.engine import Evaluator
from surge.rules.loader import load_rules
from surge.rules.ruletest import parse_values
from surge.samples import Sample

CASES = 30
SEED = 20260101
MAX_GAP = 4  # missing minutes in a row; 5m of lookback and stale_after keep it fresh

RULES = """\
version: 1
levels:
  1: {{name: Steady, colour: "#1b7f3b"}}
  2: {{name: Raised, colour: "#f2c200"}}
functions:
  f: {{label: F}}
sites: {{}}
metrics:
  m.value: {{function: f, label: M, unit: x, worse: higher, range: [0, 1000],
            stale_after: 5m, scopes: [trust]}}
protocols:
  p:
    label: P
    combine: max
    triggers:
      - metric: m.value
        levels: {{2: {threshold:g}}}
        for: {for_m}m
        clear_for: {clear_m}m
overall:
  label: O
  combine: max
  from: [p]
"""

PROMETHEUS_RULES = """\
groups:
  - name: g
    interval: 1m
    rules:
      - alert: A
        expr: m >= {threshold:g}
        for: {for_m}m
        keep_firing_for: {clear_m}m
"""


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: it comes with Debian's prometheus package "
                    "(apt-get install prometheus; `make test` installs it when run as root)")
    return path


@dataclass(frozen=True)
class Case:
    threshold: float
    for_m: int
    clear_m: int
    notation: str

    def describe(self) -> str:
        return (f"m >= {self.threshold:g}, for {self.for_m}m, clear_for/keep_firing_for "
                f"{self.clear_m}m, values {self.notation!r}")


def random_notation(rng: random.Random, threshold: float, minutes: int) -> str:
    """A series of about ``minutes`` values near the threshold, in every form of the notation,
    starting with a value and never missing more than MAX_GAP minutes in a row."""
    items: list[str] = [f"{threshold + rng.choice((-3, 0, 3)):g}"]
    count, gap = 1, 0
    while count < minutes:
        kind = rng.random()
        if kind < 0.12 and gap < MAX_GAP:
            n = rng.randint(1, MAX_GAP - gap)
            items.append("_" if n == 1 else f"_x{n}")
            count, gap = count + n, gap + n
            continue
        a = threshold + rng.choice((-4, -2, -1, -0.5, 0, 0, 0.5, 1, 3, 8))
        n = rng.randint(0, 12)
        if kind < 0.35:
            items.append(f"{a:g}")
            n = 0
        elif kind < 0.7:
            items.append(f"{a:g}x{n}")
        else:
            step = rng.choice((-1, -0.5, 0.5, 1))
            items.append(f"{a:g}{step:+g}x{n}")
        count, gap = count + n + 1, 0
    return " ".join(items)


def surge_firing(rules_path: Path, case: Case) -> list[bool]:
    """Whether the trigger is at level 2 at each whole minute of the data, by Surge."""
    values = parse_values(case.notation)
    samples = [Sample("m.value", "trust", 60.0 * i, v) for i, v in enumerate(values)
               if v is not None]
    evaluator = Evaluator(load_rules(rules_path), 0.0)
    firing = []
    for minute in range(len(values)):
        evaluator.ingest(s for s in samples if 60 * (minute - 1) < s.ts <= 60 * minute)
        evaluator.advance(60.0 * minute)
        firing.append(evaluator.levels()["p/m.value"] == 2)
    return firing


def promtool_test(case: Case, firing: list[bool], rule_file: str) -> str:
    """A promtool test file: the series, and at each minute whether A must be firing."""
    lines = [
        f"rule_files: [{rule_file}]",
        "evaluation_interval: 1m",
        "tests:",
        "  - interval: 1m",
        "    input_series:",
        f"      - {{series: m, values: \"{case.notation}\"}}",
        "    alert_rule_test:",
    ]
    for minute, fires in enumerate(firing):
        expected = ", exp_alerts: [{exp_labels: {}}]" if fires else ""
        lines.append(f"      - {{alertname: A, eval_time: {minute}m{expected}}}")
    return "\n".join(lines) + "\n"


def test_surge_levels_match_prometheus_alerts(promtool: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    cases, tests = [], []
    for i in range(CASES):
        threshold = float(rng.randint(20, 60))
        case = Case(threshold, rng.randint(0, 10), rng.randint(0, 10),
                    random_notation(rng, threshold, rng.randint(60, 120)))
        rules_path = tmp_path / f"surge_rules_{i}.yaml"
        rules_path.write_text(RULES.format(threshold=threshold, for_m=case.for_m,
                                           clear_m=case.clear_m))
        (tmp_path / f"prometheus_{i}.yml").write_text(PROMETHEUS_RULES.format(
            threshold=threshold, for_m=case.for_m, clear_m=case.clear_m))
        firing = surge_firing(rules_path, case)
        test = tmp_path / f"test_{i}.yml"
        test.write_text(promtool_test(case, firing, f"prometheus_{i}.yml"))
        cases.append(case)
        tests.append(test.name)
    # The cases are worth comparing only if the alert both fires and resolves in them.
    assert sum("exp_alerts" in (tmp_path / t).read_text() for t in tests) >= CASES // 2
    result = subprocess.run([promtool, "test", "rules", *tests], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        # promtool writes results to stdout and failures to stderr: ask file by file.
        report = []
        for name, case in zip(tests, cases, strict=True):
            one = subprocess.run([promtool, "test", "rules", name], cwd=tmp_path,
                                 capture_output=True, text=True, timeout=60)
            if one.returncode != 0:
                report.append(f"{name}: {case.describe()}\n{one.stderr.strip()[:1500]}")
        pytest.fail("Prometheus disagrees with Surge (exp: Surge's level 2, got: Prometheus's "
                    "firing alerts):\n" + "\n".join(report or [result.stderr[-3000:]]))


def test_parse_values_reads_the_notation_as_promtool_does(promtool: str, tmp_path: Path) -> None:
    """Every value parse_values gives is the value Prometheus stored, to the last bit."""
    notation = ("1 _x3 2 1e1 1.5e1 2.5E+1 10-2x3 0.1+0.1x9 3x2 _ -0 +4 7-0.25x5 .5 "
                "1e3-1e2x2 0.3-0.1x3 6")
    values = parse_values(notation)
    checks, latest = [], None
    for minute, value in enumerate(values):
        latest = value if value is not None else latest
        checks.append(f"      - {{expr: m, eval_time: {minute}m, exp_samples: "
                      f"[{{labels: m, value: {latest!r}}}]}}")
    (tmp_path / "rules.yml").write_text("groups: []\n")
    (tmp_path / "test.yml").write_text("\n".join([
        "rule_files: [rules.yml]",
        "tests:",
        "  - interval: 1m",
        "    input_series:",
        f"      - {{series: m, values: \"{notation}\"}}",
        "    promql_expr_test:",
        *checks,
    ]) + "\n")
    result = subprocess.run([promtool, "test", "rules", "test.yml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
