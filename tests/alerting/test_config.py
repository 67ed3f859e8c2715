"""alerting.yaml into AlertingConfig: the shipped file checks clean, every mistake is reported
at once at FILE:LINE:COL in the author's terms, routes match as documented, secrets stay in
the environment, SURGE_SMTP_URL is read without ever showing its password, and `surge
alerting check` exits 0, 1 or 2."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from surge.alerting.config import (
    KINDS,
    MAX_RECEIVERS,
    MAX_ROUTES,
    AlertingConfig,
    Match,
    Route,
    SmtpServer,
    Step,
    Timing,
    WebhookTarget,
    check_alerting,
    load_alerting,
    smtp_server,
    summary,
)
from surge.cli import main
from surge.errors import ConfigError
from surge.rules.loader import load_rules

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "alerting.yaml"
RULES = REPO / "surge_rules.yaml"

# Line numbers matter: the tests below name them. Receivers on lines 3-12 (one every two
# lines), routes from line 13: the level route on 14-18, the feed route on 19-20.
GOOD = """\
defaults: {group_wait: 10s, repeat_interval: 30m, ack_timeout: 30m}
receivers:
  - name: duty-managers
    email: {to: [duty.managers@example.nhs.uk]}
  - name: tactical-commanders
    email: {to: [tactical@example.nhs.uk]}
  - name: strategic-commanders
    email: {to: [strategic@example.nhs.uk]}
  - name: ops-webhook
    webhook: {url: "http://127.0.0.1:9000/hook", format: json}
  - name: trust-alertmanager
    alertmanager: {url: "http://127.0.0.1:9093"}
routes:
  - match: {kind: level, min_level: 3}
    receiver: duty-managers
    escalate:
      - {after: 10m, receiver: tactical-commanders}
      - {after: 20m, receiver: strategic-commanders}
  - match: {kind: feed}
    receiver: ops-webhook
"""


def write(tmp_path: Path, text: str | bytes, name: str = "alerting.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def found(tmp_path: Path, text: str, **kwargs) -> list[str]:
    """Every problem as LINE:COL: message (the file name checked and taken off)."""
    path = write(tmp_path, text)
    config, problems = check_alerting(path, **kwargs)
    assert (config is None) == bool(problems)
    lines = [str(p) for p in problems]
    assert all(line.startswith(f"{path}:") for line in lines)
    return [line.removeprefix(f"{path}:") for line in lines]


def edited(*changes: tuple[str, str]) -> str:
    text = GOOD
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


# --- the good files ------------------------------------------------------------------------------


def test_the_shipped_file_checks_clean_against_the_shipped_rules() -> None:
    config, problems = check_alerting(SHIPPED, rules=load_rules(RULES), env={})
    assert problems == []
    assert config is not None
    assert {"duty-managers", "tactical-commanders", "strategic-commanders"} <= set(
        config.receivers)
    level = config.routes_for("level", "overall", 3, None, None)
    assert [r.receiver for r in level] == ["duty-managers"]
    assert [(s.after, s.receiver) for s in level[0].escalate] == [
        (600.0, "tactical-commanders"), (1200.0, "strategic-commanders")]
    for kind in KINDS:  # every kind of alert reaches someone
        assert config.routes_for(kind, "x", 4 if kind == "level" else None, None, None), kind


def test_the_example_reads_into_the_documented_objects(tmp_path: Path) -> None:
    config = load_alerting(write(tmp_path, GOOD))
    assert config.timing == Timing(10.0, 1800.0, 1800.0, 900.0, 900.0)
    duty = config.receivers["duty-managers"]
    assert duty.email is not None and duty.email.to == ("duty.managers@example.nhs.uk",)
    assert duty.email.starttls is True and duty.webhook is None and duty.alertmanager is None
    hook = config.receivers["ops-webhook"].webhook
    assert hook == WebhookTarget("http://127.0.0.1:9000/hook", "json", {}, 10.0)
    am = config.receivers["trust-alertmanager"].alertmanager
    assert am is not None and am.url == "http://127.0.0.1:9093" and am.timeout == 10.0
    first, second = config.routes
    assert first.match == Match(kind="level", min_level=3)
    assert first.escalate == (Step(600.0, "tactical-commanders"),
                              Step(1200.0, "strategic-commanders"))
    assert first.continue_ is False and first.timing == config.timing
    assert second.match == Match(kind="feed") and second.receiver == "ops-webhook"
    assert config.source == str(tmp_path / "alerting.yaml")
    assert re.fullmatch(r"[0-9a-f]{12}", config.version)


def test_a_receiver_may_have_several_targets_and_a_route_its_own_timing(tmp_path: Path) -> None:
    text = edited(
        ("    alertmanager: {url: \"http://127.0.0.1:9093\"}\n",
         "    alertmanager: {url: \"http://127.0.0.1:9093\", timeout: 5s}\n"
         "    email: {to: [a@example.nhs.uk, b@example.nhs.uk], starttls: false}\n"
         "    webhook: {url: \"https://hooks.example.nhs.uk/x\", format: teams, timeout: 3s,\n"
         "              headers_env: {Authorization: OPS_HOOK_AUTH, X-Trust: TRUST_ID}}\n"),
        ("  - match: {kind: feed}\n    receiver: ops-webhook\n",
         "  - match: {kind: feed}\n    receiver: ops-webhook\n    group_wait: 0s\n"
         "    repeat_interval: 2h\n    continue: true\n"))
    config = load_alerting(write(tmp_path, text))
    am = config.receivers["trust-alertmanager"]
    assert am.alertmanager is not None and am.alertmanager.timeout == 5.0
    assert am.email is not None and am.email.to == ("a@example.nhs.uk", "b@example.nhs.uk")
    assert am.email.starttls is False
    assert am.webhook is not None and am.webhook.format == "teams" and am.webhook.timeout == 3.0
    assert dict(am.webhook.headers_env) == {"Authorization": "OPS_HOOK_AUTH",
                                            "X-Trust": "TRUST_ID"}
    feed = config.routes[1]
    assert feed.continue_ is True
    assert feed.timing == Timing(group_wait=0.0, repeat_interval=7200.0, ack_timeout=1800.0)


def test_defaults_set_every_timing_and_routes_inherit_them(tmp_path: Path) -> None:
    text = edited(("defaults: {group_wait: 10s, repeat_interval: 30m, ack_timeout: 30m}",
                   "defaults: {group_wait: 1m, repeat_interval: 1h, ack_timeout: 2h,\n"
                   "           divergence_after: 5m, delivery_max_age: 1h}"))
    config = load_alerting(write(tmp_path, text))
    assert config.timing == Timing(60.0, 3600.0, 7200.0, 300.0, 3600.0)
    assert all(route.timing == config.timing for route in config.routes)
    no_defaults = load_alerting(write(tmp_path, GOOD.split("\n", 1)[1]))
    assert no_defaults.timing == Timing()


# --- every mistake, where it was made ------------------------------------------------------------

MISTAKES = [
    pytest.param((("routes:", "route:"),),
                 "13:1: unknown key 'route' (did you mean 'routes'?)", id="top-level key"),
    pytest.param((("email: {to: [duty", "emial: {to: [duty"),),
                 "4:5: receivers[0]: unknown key 'emial' (did you mean 'email'?)",
                 id="receiver key"),
    pytest.param((("format: json}", "format: json, timout: 5s}"),),
                 "10:64: receivers[3].webhook: unknown key 'timout' (did you mean 'timeout'?)",
                 id="webhook key"),
    pytest.param((("{kind: feed}", "{knid: feed}"),),
                 "19:13: routes[1].match: unknown key 'knid' (did you mean 'kind'?)",
                 id="match key"),
    pytest.param((("{after: 10m, receiver: tactical", "{afterwards: 10m, receiver: tactical"),),
                 "17:10: routes[0].escalate[0]: unknown key 'afterwards' (did you mean 'after'?)",
                 id="step key"),
    pytest.param((("group_wait: 10s", "group_wait: ten seconds"),),
                 "1:24: defaults.group_wait: expected a duration such as 30s, 5m, 2h or 1h30m, "
                 "got 'ten seconds'", id="duration"),
    pytest.param((("repeat_interval: 30m", "repeat_interval: 30"),),
                 "1:46: defaults.repeat_interval: a duration needs a unit", id="bare number"),
    pytest.param((("repeat_interval: 30m", "repeat_interval: 30s"),),
                 "1:46: defaults.repeat_interval: expected at least 1m, got 30s",
                 id="repeat too often"),
    pytest.param((("group_wait: 10s", "group_wait: 1h"),),
                 "1:24: defaults.group_wait: expected from 0s to 10m, got 1h",
                 id="group_wait too long"),
    pytest.param((("  - name: tactical-commanders", "  - name: duty-managers"),),
                 "5:11: receivers[1].name: duplicate receiver name 'duty-managers': the "
                 "receiver on line 3 already has it", id="duplicate receiver"),
    pytest.param((("  - name: trust-alertmanager", "  - name: trust alertmanager"),),
                 "11:11: receivers[4].name: a receiver name is letters, digits, -, _ and .",
                 id="receiver name"),
    pytest.param((("    alertmanager: {url: \"http://127.0.0.1:9093\"}\n", ""),),
                 "11:5: receivers[4]: a receiver needs at least one of email, webhook or "
                 "alertmanager", id="no target"),
    pytest.param((("[duty.managers@example.nhs.uk]", "[duty managers]"),),
                 "4:18: receivers[0].email.to[0]: expected an email address such as "
                 "duty.managers@example.nhs.uk, got 'duty managers'", id="bad address"),
    pytest.param((("[duty.managers@example.nhs.uk]", "['Duty <duty@example.nhs.uk>']"),),
                 "write the address alone, without a name or <>", id="address with a name"),
    pytest.param((("[duty.managers@example.nhs.uk]", "[a@example.nhs.uk, A@example.nhs.uk]"),),
                 "4:36: receivers[0].email.to[1]: A@example.nhs.uk is listed twice",
                 id="address twice"),
    pytest.param((("[duty.managers@example.nhs.uk]", "[]"),),
                 "4:17: receivers[0].email.to: to: give at least one address", id="no address"),
    pytest.param((("email: {to: [duty.managers@example.nhs.uk]}", "email: {}"),),
                 "4:12: receivers[0].email: missing required key 'to'", id="no to"),
    pytest.param((("http://127.0.0.1:9000/hook", "ftp://127.0.0.1:9000/hook"),),
                 "10:20: receivers[3].webhook.url: expected an http:// or https:// URL with a "
                 "host", id="url scheme"),
    pytest.param((("http://127.0.0.1:9000/hook", "http:///hook"),),
                 "10:20: receivers[3].webhook.url: expected an http:// or https:// URL with a "
                 "host", id="url without host"),
    pytest.param((("http://127.0.0.1:9093", "http://127.0.0.1:99999"),),
                 "12:25: receivers[4].alertmanager.url: is not a URL that can be read",
                 id="url port"),
    pytest.param((("format: json", "format: jsn"),),
                 "10:58: receivers[3].webhook.format: expected one of json | teams | slack, got "
                 "'jsn' (did you mean 'json'?)", id="format"),
    pytest.param((("format: json", "format: json, timeout: 0s"),),
                 "10:73: receivers[3].webhook.timeout: expected from 1s to 2m, got 0s",
                 id="timeout"),
    pytest.param((("    receiver: ops-webhook", "    receiver: ops-webhok"),),
                 "20:15: routes[1].receiver: unknown receiver 'ops-webhok' (did you mean "
                 "'ops-webhook'?)", id="route receiver"),
    pytest.param((("    receiver: ops-webhook", "    receiver: nobody"),),
                 "20:15: routes[1].receiver: unknown receiver 'nobody' (the receivers are "
                 "duty-managers, tactical-commanders, strategic-commanders, ops-webhook, "
                 "trust-alertmanager)", id="route receiver listed"),
    pytest.param((("receiver: strategic-commanders}", "receiver: strategic-comanders}"),),
                 "18:32: routes[0].escalate[1].receiver: unknown receiver 'strategic-comanders' "
                 "(did you mean 'strategic-commanders'?)", id="escalation receiver"),
    pytest.param((("{after: 20m,", "{after: 10m,"),),
                 "18:17: routes[0].escalate[1].after: the steps must come later and later: "
                 "after 10m is not later than the step before's 10m", id="after not later"),
    pytest.param((("{after: 10m,", "{after: 0,"),),
                 "17:17: routes[0].escalate[0].after: expected more than 0, got 0s",
                 id="after zero"),
    pytest.param((("receiver: strategic-commanders}", "receiver: duty-managers}"),),
                 "18:32: routes[0].escalate[1].receiver: duty-managers is already told by then",
                 id="escalation to whoever was told"),
    pytest.param((("{kind: feed}", "{kind: feeds}"),),
                 "19:19: routes[1].match.kind: expected one of level | feed | rules | worker | "
                 "divergence | delivery | archive, got 'feeds' (did you mean 'feed'?)", id="kind"),
    pytest.param((("min_level: 3", "min_level: 5"),),
                 "14:37: routes[0].match.min_level: expected a level from 1 to 4, got 5",
                 id="min_level range"),
    pytest.param((("min_level: 3", "min_level: '3'"),),
                 "14:37: routes[0].match.min_level: expected a level from 1 to 4, got '3'",
                 id="min_level text"),
    pytest.param((("min_level: 3", "min_level: true"),),
                 "14:37: routes[0].match.min_level: expected a level from 1 to 4, got true",
                 id="min_level bool"),
    pytest.param((("{kind: feed}", "{kind: feed, min_level: 2}"),),
                 "19:25: routes[1].match: min_level only applies to level alerts (kind: level), "
                 "not to kind: feed", id="min_level with another kind"),
    pytest.param((("{kind: feed}", "{kind: feed, site: 3}"),),
                 "19:31: routes[1].match.site: expected text, got 3", id="site"),
    pytest.param((("{kind: feed}", "{kind: feed, function: [ae]}"),),
                 "19:35: routes[1].match.function: expected text, got a list", id="function"),
    pytest.param((("    receiver: ops-webhook\n", "    receiver: ops-webhook\n    continue: yes\n"),),
                 "21:15: routes[1].continue: expected true or false, got 'yes'", id="continue"),
    pytest.param((("    receiver: ops-webhook\n", "    receiver: ops-webhook\n    ack_timeout: 0s\n"),),
                 "21:18: routes[1].ack_timeout: expected at least 1m, got 0s",
                 id="route timing"),
    pytest.param((("    receiver: ops-webhook\n",
                   "    receiver: ops-webhook\n    divergence_after: 5m\n"),),
                 "21:5: routes[1]: unknown key 'divergence_after'", id="route timing not ours"),
    pytest.param((("  - match: {kind: feed}\n    receiver: ops-webhook\n",
                   "  - match: {kind: level, min_level: 4}\n    receiver: ops-webhook\n"),),
                 "19:5: routes[1]: this route is never used: the route on line 14 matches "
                 "every alert it would, and comes first", id="shadowed route"),
]


@pytest.mark.parametrize(("changes", "expected"), MISTAKES)
def test_each_mistake_is_reported_where_it_was_made(tmp_path: Path, changes, expected) -> None:
    problems = found(tmp_path, edited(*changes))
    assert any(p.startswith(expected) or (expected in p and ":" not in expected[:6])
               for p in problems), problems


def test_every_problem_is_reported_at_once_sorted_by_line(tmp_path: Path) -> None:
    text = edited(("group_wait: 10s", "group_wait: soon"),
                  ("email: {to: [duty", "emial: {to: [duty"),
                  ("format: json", "format: xml"),
                  ("routes:", "routes:\n  - match: {kind: levle}\n    receiver: duty-managers"),
                  ("receiver: strategic-commanders}", "receiver: strategic}"),
                  ("    receiver: ops-webhook", "    receiver: ops"))
    problems = found(tmp_path, text)
    assert len(problems) == 6, problems
    positions = [tuple(int(n) for n in p.split(":")[:2]) for p in problems]
    assert positions == sorted(positions)
    assert [line for line, _ in positions] == [1, 4, 10, 14, 20, 22]
    assert "did you mean 'level'?" in problems[3]


def test_the_route_after_a_catch_all_is_never_used_unless_it_continues(tmp_path: Path) -> None:
    catch_all = edited(("  - match: {kind: level, min_level: 3}\n",
                        "  - receiver: strategic-commanders\n"
                        "  - match: {kind: level, min_level: 3}\n"))
    problems = found(tmp_path, catch_all)
    assert [p.split(":")[0] for p in problems] == ["15", "20"]
    assert all("never used: the route on line 14" in p for p in problems)
    assert found(tmp_path, catch_all.replace("  - receiver: strategic-commanders\n",
                                             "  - {receiver: strategic-commanders, "
                                             "continue: true}\n")) == []


# --- empty, wrong-shaped and too large ---------------------------------------------------------


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_an_empty_file_is_no_receivers(tmp_path: Path, text: str) -> None:
    assert found(tmp_path, text) == [
        "1:1: the file is empty: no receivers, so nobody is alerted (to turn alerting off, "
        "remove the file)"]


def test_receivers_without_routes_alert_nobody(tmp_path: Path) -> None:
    head = GOOD.split("routes:")[0]
    assert found(tmp_path, head) == [
        "1:1: no routes: nobody is alerted; add routes saying which alerts go to which "
        "receiver (see docs/alerting.md)"]
    assert found(tmp_path, head + "routes: []\n") == [
        "13:9: routes: no routes: nobody is alerted; add at least one"]


def test_no_receivers_alert_nobody(tmp_path: Path) -> None:
    assert found(tmp_path, "defaults: {group_wait: 10s}\n")[0].startswith(
        "1:1: no receivers: nobody is alerted")
    assert found(tmp_path, "receivers: []\nroutes: []\n")[0] == (
        "1:12: receivers: no receivers: nobody is alerted; add at least one")


def test_a_file_that_is_not_a_mapping_says_what_is_expected(tmp_path: Path) -> None:
    assert found(tmp_path, "- name: duty-managers\n") == [
        "1:1: expected a mapping with receivers and routes, got a list (see docs/alerting.md)"]


def test_yaml_mistakes_are_located_and_name_this_file(tmp_path: Path) -> None:
    assert found(tmp_path, "receivers: [\n")[0].startswith("2:1: YAML syntax:")
    dup = found(tmp_path, GOOD + "receivers: []\n")
    assert dup == ["21:1: YAML syntax: while constructing a mapping found duplicate key "
                   "\"receivers\": a name may be used only once here"]
    merged = found(tmp_path, "base: &b {to: [a@example.nhs.uk]}\n" + GOOD.replace(
        "email: {to: [duty.managers@example.nhs.uk]}", "email: {<<: *b}"))
    assert merged and "merge keys (<<) are not supported in alerting.yaml" in merged[0]


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    problems = found(tmp_path, GOOD + "#" * 1_100_000 + "\n")
    assert len(problems) == 1 and problems[0].startswith("1:1: the file is 1,100,")
    assert "the limit is 1,048,576" in problems[0] and "docs/alerting.md" in problems[0]


def test_aliases_that_multiply_a_small_file_are_read_quickly(tmp_path: Path) -> None:
    laughs = "a0: &a0 [x, y, z, w, v, u, t, s, r, q]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
    problems = found(tmp_path, laughs + GOOD)  # (refused before a billion values are walked)
    assert problems == ["1:1: aliases (*name) make this file hold more than 1,000,000 values: "
                        "write it out without them (see Limits in docs/alerting.md)"]
    fewer = laughs.split("a5:")[0]  # a hundred thousand values: allowed, and still quick
    assert [p.split(":")[0] for p in found(tmp_path, fewer + GOOD)] == [str(n)
                                                                       for n in range(1, 6)]


def test_an_alias_may_stand_for_a_list_written_once(tmp_path: Path) -> None:
    text = edited(("[duty.managers@example.nhs.uk]", "&managers [duty.managers@example.nhs.uk]"),
                  ("[tactical@example.nhs.uk]", "*managers"))
    config = config_of(tmp_path, text)
    tactical = config.receivers["tactical-commanders"].email
    assert tactical is not None and tactical.to == ("duty.managers@example.nhs.uk",)


def test_receivers_and_routes_are_capped(tmp_path: Path) -> None:
    many = "".join(f"  - name: r{i}\n    email: {{to: [r{i}@example.nhs.uk]}}\n"
                   for i in range(MAX_RECEIVERS + 1))
    text = f"receivers:\n{many}routes:\n  - receiver: r0\n"
    assert found(tmp_path, text) == [
        f"2:3: receivers: {MAX_RECEIVERS + 1} receivers; the limit is {MAX_RECEIVERS} "
        f"(see Limits in docs/alerting.md)"]
    routes = "".join(f"  - {{match: {{name: n{i}}}, receiver: duty-managers}}\n"
                     for i in range(MAX_ROUTES + 1))
    text = GOOD.split("routes:")[0] + "routes:\n" + routes
    assert found(tmp_path, text) == [
        f"14:3: routes: {MAX_ROUTES + 1} routes; the limit is {MAX_ROUTES} "
        f"(see Limits in docs/alerting.md)"]
    at_the_limit = GOOD.split("routes:")[0] + "routes:\n" + "".join(
        f"  - {{match: {{name: n{i}}}, receiver: duty-managers}}\n" for i in range(MAX_ROUTES))
    assert found(tmp_path, at_the_limit) == []


# --- secrets only from the environment --------------------------------------------------------

SECRET = "secrets come from the environment: use headers_env / SURGE_SMTP_URL"


@pytest.mark.parametrize(("old", "new", "where"), [
    ("email: {to: [duty.managers@example.nhs.uk]}",
     "email: {to: [duty.managers@example.nhs.uk], password: hunter22}", "4:49"),
    ("format: json}", "format: json, token: abc123}", "10:64"),
    ("format: json}", "format: json, api_key: abc123}", "10:64"),
    ("format: json}", "format: json, X-Api-Key: abc123}", "10:64"),
    ("format: json}", "format: json, headers: {Authorization: Bearer abc123}}", "10:74"),
    ("    alertmanager: {url: \"http://127.0.0.1:9093\"}",
     "    alertmanager: {url: \"http://127.0.0.1:9093\"}\n    smtp_password: abc123", "13:5"),
    ("defaults: {", "secret: abc123\ndefaults: {", "1:1"),
])
def test_a_secret_in_the_file_is_refused_once(tmp_path: Path, old: str, new: str,
                                              where: str) -> None:
    problems = found(tmp_path, edited((old, new)))
    secret = [p for p in problems if SECRET in p]
    assert len(secret) == 1 and secret[0].startswith(where + ":"), problems
    assert not any("unknown key" in p and where in p for p in problems)  # not twice
    assert all("abc123" not in p and "hunter22" not in p for p in problems)


@pytest.mark.parametrize("url", [
    "http://admin:s3cr3t@127.0.0.1:9000/hook",
    "https://hooks.slack.com/services/T000/B000/XXXX",
    "https://trust.webhook.office.com/webhookb2/abc/IncomingWebhook/def",
    "https://prod-01.uksouth.logic.azure.com/workflows/x/invoke?api-version=1&sig=s3cr3t",
    "https://hooks.example.nhs.uk/x?token=s3cr3t",
])
def test_a_url_carrying_a_secret_is_refused(tmp_path: Path, url: str) -> None:
    problems = found(tmp_path, edited(("http://127.0.0.1:9000/hook", url)))
    assert len(problems) == 1 and problems[0].startswith("10:20: receivers[3].webhook.url: ")
    assert SECRET in problems[0]
    assert "s3cr3t" not in problems[0] and "XXXX" not in problems[0]


def test_headers_come_from_environment_variables(tmp_path: Path) -> None:
    ok = edited(("format: json}", "format: json, headers_env: {Authorization: OPS_HOOK_AUTH}}"))
    assert found(tmp_path, ok) == []
    inline = ok.replace("OPS_HOOK_AUTH", "'Bearer abc123'")
    problems = found(tmp_path, inline)
    assert len(problems) == 1 and problems[0].startswith(
        "10:93: receivers[3].webhook.headers_env.Authorization: expected the name of the "
        "environment variable that holds the Authorization header")
    assert SECRET in problems[0] and "abc123" not in problems[0]
    assert "is not an HTTP header name" in found(
        tmp_path, ok.replace("{Authorization:", "{'Bad Header':"))[0]


def test_a_webhook_url_with_a_key_comes_from_url_env(tmp_path: Path) -> None:
    secret_url = "https://prod-01.uksouth.logic.azure.com/workflows/x?sig=s3cr3t"
    text = edited(('url: "http://127.0.0.1:9000/hook", format: json',
                   "url_env: TEAMS_URL, format: teams"))
    path = write(tmp_path, text)
    config = load_alerting(path, env={"TEAMS_URL": secret_url})
    hook = config.receivers["ops-webhook"].webhook
    assert hook is not None and hook.url == secret_url and hook.url_env == "TEAMS_URL"
    assert hook.shown == "$TEAMS_URL"
    assert "s3cr3t" not in repr(config) and "s3cr3t" not in summary(config)
    assert "$TEAMS_URL (teams)" in summary(config)
    assert found(tmp_path, text, env={}) == [
        "10:24: receivers[3].webhook.url_env: the environment variable TEAMS_URL is not set: "
        "it holds this webhook's URL"]
    bad = found(tmp_path, text, env={"TEAMS_URL": "ftp://s3cr3t.example/x"})
    assert bad == ["10:24: receivers[3].webhook.url_env: the URL in TEAMS_URL expected an "
                   "http:// or https:// URL with a host, such as https://host/path"]
    both = found(tmp_path, text.replace("url_env: TEAMS_URL", 'url: "http://a/", url_env: X'))
    assert both[0].startswith("10:14: receivers[3].webhook: give url, or url_env")


# --- against the rules ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rules():
    return load_rules(RULES)


@pytest.mark.parametrize(("match", "expected"), [
    ("{kind: level, site: RVK}", "unknown site 'RVK' (did you mean 'RVJ'?)"),
    ("{kind: feed, function: call_handlin}",
     "unknown function 'call_handlin' (did you mean 'call_handling'?)"),
    ("{kind: level, name: call_handlin}", "no level is called 'call_handlin' (did you mean "
                                          "'call_handling'?)"),
    ("{kind: level, name: ae@RVK}", "no level is called 'ae@RVK' (did you mean 'ae@RVJ'?)"),
    ("{kind: level, name: overall@RVJ}", "no level is called 'overall@RVJ'"),
])
def test_sites_functions_and_level_names_are_checked_against_the_rules(
        tmp_path: Path, rules, match: str, expected: str) -> None:
    text = edited(("{kind: feed}", match))
    assert found(tmp_path, text) == []  # without the rules nothing says they are wrong
    problems = found(tmp_path, text, rules=rules)
    assert len(problems) == 1 and problems[0].startswith("19:") and expected in problems[0]


@pytest.mark.parametrize("match", ["{kind: level, name: overall}",
                                   "{kind: level, name: ae@RVJ, site: RVJ, function: ae}",
                                   "{kind: feed, name: anything, function: pts}"])
def test_names_the_rules_have_check_clean(tmp_path: Path, rules, match: str) -> None:
    assert found(tmp_path, edited(("{kind: feed}", match)), rules=rules) == []


# --- the documentation ------------------------------------------------------------------------

DOCS = REPO / "docs" / "alerting.md"


def test_the_documented_example_checks_clean(tmp_path: Path, rules) -> None:
    block = re.search(r"### A complete example\n\n```yaml\n(.*?)```", DOCS.read_text(), re.S)
    assert block is not None
    config, problems = check_alerting(write(tmp_path, block.group(1)), rules=rules,
                                      env={"TEAMS_OPS_URL": "https://x.webhook.office.com/a"})
    assert problems == [] and config is not None


def test_every_key_and_kind_is_documented() -> None:
    from surge.alerting import config

    text = DOCS.read_text()
    keys = {*config.TOP_KEYS, *config.DEFAULT_KEYS, *config.RECEIVER_KEYS, *config.EMAIL_KEYS,
            *config.WEBHOOK_KEYS, *config.ALERTMANAGER_KEYS, *config.ROUTE_KEYS,
            *config.MATCH_KEYS, *config.STEP_KEYS, *KINDS, *config.FORMATS}
    assert [key for key in sorted(keys) if f"`{key}`" not in text] == []


# --- which routes an alert goes to --------------------------------------------------------------


def config_of(tmp_path: Path, text: str) -> AlertingConfig:
    return load_alerting(write(tmp_path, text))


def receivers_for(config: AlertingConfig, kind: str, name: str = "x", level: int | None = None,
                  site: str | None = None, function: str | None = None) -> list[str]:
    return [r.receiver for r in config.routes_for(kind, name, level, site, function)]


def test_the_first_matching_route_wins(tmp_path: Path) -> None:
    config = config_of(tmp_path, GOOD)
    assert receivers_for(config, "level", "overall", 3) == ["duty-managers"]
    assert receivers_for(config, "level", "overall", 4) == ["duty-managers"]
    assert receivers_for(config, "level", "overall", 2) == []
    assert receivers_for(config, "level", "overall", None) == []  # no level: no min_level
    assert receivers_for(config, "feed", "cad", None) == ["ops-webhook"]
    assert receivers_for(config, "worker", "worker") == []


def test_continue_goes_on_to_the_next_matching_routes(tmp_path: Path) -> None:
    text = edited(("    receiver: duty-managers\n", "    receiver: duty-managers\n"
                                                    "    continue: true\n")) + (
        "  - match: {site: RVJ}\n    receiver: strategic-commanders\n"
        "  - receiver: trust-alertmanager\n")
    config = config_of(tmp_path, text)
    assert receivers_for(config, "level", "ae@RVJ", 3, "RVJ", "ae") == [
        "duty-managers", "strategic-commanders"]
    assert receivers_for(config, "level", "ae@RA7", 3, "RA7", "ae") == [
        "duty-managers", "trust-alertmanager"]
    assert receivers_for(config, "level", "ae@RA7", 2, "RA7", "ae") == ["trust-alertmanager"]
    assert receivers_for(config, "feed", "cad", None, "RVJ") == ["ops-webhook"]  # stops there
    assert receivers_for(config, "delivery", "n-1") == ["trust-alertmanager"]


def test_match_on_name_site_and_function() -> None:
    match = Match(kind="level", name="ae@RVJ", site="RVJ", function="ae")
    assert match.matches("level", "ae@RVJ", 2, "RVJ", "ae")
    assert not match.matches("feed", "ae@RVJ", 2, "RVJ", "ae")
    assert not match.matches("level", "ae", 2, "RVJ", "ae")
    assert not match.matches("level", "ae@RVJ", 2, None, "ae")
    assert not match.matches("level", "ae@RVJ", 2, "RVJ", None)
    assert Match().matches("delivery", "n", None, None, None)
    assert Match(min_level=2).matches("level", "x", 2, None, None)
    assert not Match(min_level=2).matches("feed", "x", None, None, None)


labels = st.fixed_dictionaries({
    "kind": st.sampled_from(KINDS), "name": st.sampled_from(["overall", "ae", "ae@RVJ"]),
    "level": st.none() | st.integers(1, 4), "site": st.sampled_from([None, "RVJ", "RA7"]),
    "function": st.sampled_from([None, "ae", "pts"])})
matches = st.builds(Match, kind=st.none() | st.sampled_from(KINDS),
                    min_level=st.none() | st.integers(1, 4),
                    name=st.none() | st.sampled_from(["overall", "ae", "ae@RVJ"]),
                    site=st.none() | st.sampled_from(["RVJ", "RA7"]),
                    function=st.none() | st.sampled_from(["ae", "pts"]))


@settings(max_examples=500, deadline=None)
@given(first=matches, second=matches, alerts=st.lists(labels, min_size=1, max_size=20))
def test_a_route_reported_as_never_used_is_never_used(first: Match, second: Match,
                                                      alerts: list[dict]) -> None:
    """The unreachable-route check may only report a route that no alert could reach."""
    config = AlertingConfig(Timing(), {}, (Route(first, "a"), Route(second, "b")), "v", "f")
    if first.covers(second):
        for alert in alerts:
            assert [r.receiver for r in config.routes_for(**alert)] != ["b"]


# --- the version ----------------------------------------------------------------------------------


def test_the_version_ignores_comments_layout_and_order(tmp_path: Path) -> None:
    version = config_of(tmp_path, GOOD).version
    relaid = ("# who is alerted\n"
              "receivers:\n"
              "  - {email: {to: [duty.managers@example.nhs.uk]}, name: duty-managers}\n"
              "  - name: tactical-commanders   # silver\n"
              "    email:\n      to:\n        - tactical@example.nhs.uk\n"
              "  - name: strategic-commanders\n    email: {to: [strategic@example.nhs.uk]}\n"
              "  - name: ops-webhook\n    webhook: {format: json, url: 'http://127.0.0.1:9000/hook'}\n"
              "  - name: trust-alertmanager\n    alertmanager: {url: \"http://127.0.0.1:9093\"}\n"
              "routes:\n"
              "  - receiver: duty-managers\n    match: {min_level: 3, kind: level}\n"
              "    escalate: [{receiver: tactical-commanders, after: 10m},\n"
              "               {after: 20m, receiver: strategic-commanders}]\n"
              "  - {match: {kind: feed}, receiver: ops-webhook}\n"
              "defaults:\n  ack_timeout: 30m\n  group_wait: 10s\n  repeat_interval: 30m\n")
    assert config_of(tmp_path, relaid).version == version
    assert config_of(tmp_path, GOOD.replace("after: 20m", "after: 25m")).version != version
    swapped = edited(("  - match: {kind: level, min_level: 3}\n    receiver: duty-managers\n"
                      "    escalate:\n      - {after: 10m, receiver: tactical-commanders}\n"
                      "      - {after: 20m, receiver: strategic-commanders}\n", ""))
    swapped = swapped.replace("routes:\n", "routes:\n  - match: {kind: level, min_level: 3}\n"
                                           "    receiver: duty-managers\n", 1)
    assert config_of(tmp_path, swapped).version != version  # route order is meaning


# --- never raises, whatever the file says ---------------------------------------------------------

KEYS = ["defaults", "receivers", "routes", "group_wait", "repeat_interval", "ack_timeout",
        "divergence_after", "delivery_max_age", "name", "email", "webhook", "alertmanager",
        "to", "starttls", "url", "url_env", "format", "headers_env", "timeout", "match",
        "receiver", "escalate", "continue", "kind", "min_level", "site", "function", "after",
        "token", "Authorization", "zzz"]
SCALARS = (st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=True)
           | st.sampled_from(["10s", "0", "30m", "1h30m", "json", "level", "feed", "duty",
                              "a@example.nhs.uk", "http://127.0.0.1:9/x", "https://a:b@h/",
                              "ftp://x", "http://[::1", "http://h:0/", "X_VAR", "", " "])
           | st.text(max_size=12))
TREES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner,
                                       max_size=5), max_leaves=30)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(tree=st.dictionaries(st.sampled_from(["defaults", "receivers", "routes", "x"]), TREES,
                            max_size=3))
def test_any_shape_gives_problems_never_a_traceback(tmp_path: Path, tree: dict) -> None:
    path = write(tmp_path, json.dumps(tree, allow_nan=True))  # JSON is YAML
    config, problems = check_alerting(path, env={"X_VAR": "http://127.0.0.1/"})
    assert (config is None) == bool(problems)
    assert all(p.line is not None and p.line >= 1 for p in problems)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(receiver=TREES, route=TREES)
def test_any_receiver_or_route_gives_problems_never_a_traceback(tmp_path: Path, receiver,
                                                                route) -> None:
    doc = {"receivers": [{"name": "a", "email": {"to": ["a@example.nhs.uk"]}}, receiver],
           "routes": [{"receiver": "a"}, route]}
    path = write(tmp_path, json.dumps(doc, allow_nan=True))
    config, problems = check_alerting(path, env={})
    assert (config is None) == bool(problems)


# --- SURGE_SMTP_URL -------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "server"), [
    ("smtp://mail.example.nhs.uk", SmtpServer("mail.example.nhs.uk", 25, None, None, True, False)),
    ("smtp://surge:pa%40ss@mail.example.nhs.uk:587",
     SmtpServer("mail.example.nhs.uk", 587, "surge", "pa@ss", True, False)),
    ("smtp://127.0.0.1:8025?starttls=off", SmtpServer("127.0.0.1", 8025, None, None, False, False)),
    ("smtp://127.0.0.1:8025/?starttls=on", SmtpServer("127.0.0.1", 8025, None, None, True, False)),
    ("smtps://u:p@mail.example.nhs.uk", SmtpServer("mail.example.nhs.uk", 465, "u", "p", False,
                                                   True)),
    ("smtps://mail.example.nhs.uk:2465?from=surge@example.nhs.uk",
     SmtpServer("mail.example.nhs.uk", 2465, None, None, False, True, "surge@example.nhs.uk")),
])
def test_smtp_server_reads_the_three_forms(url: str, server: SmtpServer) -> None:
    assert smtp_server(url) == server


@pytest.mark.parametrize(("url", "message"), [
    ("http://mail.example.nhs.uk", "SURGE_SMTP_URL: expected smtp://user:password@host:port"),
    ("mail.example.nhs.uk:25", "SURGE_SMTP_URL: expected smtp://"),
    ("smtp://", "SURGE_SMTP_URL: there is no host"),
    ("smtp://mail:abc", "SURGE_SMTP_URL: the port or address cannot be read"),
    ("smtp://mail:0", "SURGE_SMTP_URL: the port must be from 1 to 65535"),
    ("smtp://mail/inbox", "SURGE_SMTP_URL: nothing may follow the host and port"),
    ("smtp://mail?starttls=maybe", "SURGE_SMTP_URL: starttls is on or off"),
    ("smtp://mail?startls=off", "SURGE_SMTP_URL: unknown setting after ? (did you mean "
                                "'starttls'?)"),
    ("smtps://mail?starttls=off", "SURGE_SMTP_URL: starttls does not apply to smtps://"),
    ("smtp://mail?from=nobody", "SURGE_SMTP_URL: from= is not an email address"),
    ("smtp://surge@mail", "SURGE_SMTP_URL: a user needs a password"),
    ("smtp://:pw@mail", "SURGE_SMTP_URL: a password needs a user"),
    ("smtp://surge:@mail", "SURGE_SMTP_URL: the password is empty"),
    ("smtp://surge:hunter22@mail?starttls=off",
     "SURGE_SMTP_URL: a password is never sent unencrypted"),
])
def test_a_bad_smtp_url_names_the_variable_and_the_fault(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        smtp_server(url)
    assert any(str(p).startswith(message) for p in caught.value.problems), str(caught.value)
    assert "hunter22" not in str(caught.value)


def test_smtp_problems_are_reported_together_under_the_name_given() -> None:
    with pytest.raises(ConfigError) as caught:
        smtp_server("smtp://:pw@mail/x?starttls=perhaps", source="--smtp-url")
    assert [p.source for p in caught.value.problems] == ["--smtp-url"] * 3


def test_the_smtp_password_is_never_in_a_repr() -> None:
    server = smtp_server("smtp://surge:hunter22@mail.example.nhs.uk")
    assert server.password == "hunter22" and "hunter22" not in repr(server)


PASSWORDS = st.text(alphabet=string.ascii_letters + string.digits + string.punctuation,
                    min_size=8, max_size=24).filter(
    lambda p: any(c.isdigit() for c in p) and any(c.isalpha() for c in p))
SHAPES = ["smtp://surge:{}@mail:25", "smtp://surge:{}@mail:abc", "smtp://surge:{}@mail/x",
          "smtp://surge:{}@mail?starttls=off", "smtp://surge:{}@mail?bogus=1",
          "smtps://surge:{}@mail?starttls=off", "http://surge:{}@mail", "smtp://:{}@mail",
          "smtp://surge:{}@", "smtp://surge:{}@[::1", "smtp://surge:{}@mail?from=x",
          "smtp://{}@mail", "{}", "smtp://{}", "smtp://surge:{}"]


@settings(max_examples=400, deadline=None)
@given(password=PASSWORDS, shape=st.sampled_from(SHAPES))
def test_the_smtp_password_is_never_in_a_message(password: str, shape: str) -> None:
    assume("{}" not in password)
    try:
        smtp_server(shape.format(password))
    except ConfigError as exc:
        assert password not in str(exc)


# --- surge alerting check -------------------------------------------------------------------------


def invoke(*args: str, env: dict[str, str] | None = None):
    base = {"SURGE_RULES": str(RULES), "SURGE_ALERTING": None, "SURGE_SMTP_URL": None}
    return CliRunner().invoke(main, list(args), env={**base, **(env or {})},
                              catch_exceptions=False)


def test_check_the_shipped_file_in_words() -> None:
    result = invoke("alerting", "check", str(SHIPPED))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{SHIPPED}: OK — 3 receivers, ")
    assert ("Level alerts at level 3 or above -> duty-managers\n"
            "     if nobody acknowledges it: tactical-commanders after 10m, then "
            "strategic-commanders after 20m") in result.stdout
    assert "note: SURGE_SMTP_URL is not set, so no email is sent" in result.stderr


def test_check_reads_surge_alerting_by_default(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "custom.yaml")
    result = invoke("alerting", "check", env={"SURGE_ALERTING": str(path),
                                              "SURGE_SMTP_URL": "smtp://127.0.0.1:8025?starttls=off",
                                              "OPS_HOOK_AUTH": None})
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{path}: OK — 5 receivers, 2 routes; version ")
    assert "Nobody is told about: rules alerts" in result.stdout
    assert "Not used by any route: trust-alertmanager" in result.stdout
    assert result.stderr == ""


def test_check_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    path = write(tmp_path, edited(("email: {to: [duty", "emial: {to: [duty"),
                                  ("{kind: feed}", "{kind: feed, site: RVK}")))
    result = invoke("alerting", "check", str(path))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines == [
        f"{path}:4:5: receivers[0]: unknown key 'emial' (did you mean 'email'?)",
        f"{path}:19:31: routes[1].match.site: unknown site 'RVK' (did you mean 'RVJ'?): the "
        f"rules have no such site, so this never matches"]
    assert f"{path}: 2 problem(s)" in result.stderr
    assert "Traceback" not in result.output


def test_check_a_missing_file_says_alerting_is_off(tmp_path: Path) -> None:
    result = invoke("alerting", "check", str(tmp_path / "alerting.yaml"))
    assert result.exit_code == 1
    assert result.output == (f"{tmp_path / 'alerting.yaml'}: file not found: alerting is off "
                             f"(nobody is alerted) until it exists; see docs/alerting.md\n")
    default = invoke("alerting", "check", env={"SURGE_ALERTING": str(tmp_path / "none.yaml")})
    assert default.exit_code == 1 and "none.yaml: file not found" in default.output


def test_check_bad_usage_exits_2(tmp_path: Path) -> None:
    assert invoke("alerting", "check", "a.yaml", "b.yaml").exit_code == 2
    assert invoke("alerting", "check", "--bogus").exit_code == 2
    assert invoke("alerting", "check", str(tmp_path)).exit_code == 2  # a directory
    result = invoke("alerting", "check", str(SHIPPED), env={"SURGE_PORT": "eighty"})
    assert result.exit_code == 2 and "SURGE_PORT" in result.stderr


def test_check_refuses_an_smtp_url_that_cannot_send_and_hides_its_password() -> None:
    result = invoke("alerting", "check", str(SHIPPED),
                    env={"SURGE_SMTP_URL": "smtp://surge:hunter22@mail:25?starttls=off"})
    assert result.exit_code == 1
    assert "SURGE_SMTP_URL: a password is never sent unencrypted" in result.stdout
    assert "hunter22" not in result.output


def test_check_notes_header_variables_that_are_not_set(tmp_path: Path) -> None:
    path = write(tmp_path, edited(
        ("format: json}", "format: json, headers_env: {Authorization: OPS_HOOK_AUTH}}")))
    result = invoke("alerting", "check", str(path),
                    env={"SURGE_SMTP_URL": "smtp://127.0.0.1:8025?starttls=off"})
    assert result.exit_code == 0
    assert result.stderr == ("note: OPS_HOOK_AUTH is not set, so ops-webhook's webhook is sent "
                             "without its Authorization header\n")
    quiet = invoke("alerting", "check", str(path),
                   env={"SURGE_SMTP_URL": "smtp://127.0.0.1:8025?starttls=off",
                        "OPS_HOOK_AUTH": "Bearer x"})
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_check_without_readable_rules_still_checks_the_file(tmp_path: Path) -> None:
    result = invoke("alerting", "check", str(SHIPPED), "--rules", str(tmp_path / "none.yaml"))
    assert result.exit_code == 0
    assert "does not check (surge rules check)" in result.stderr
