"""The ``surge alerting`` commands: check alerting.yaml, who is told about which alerts and how."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from surge.alerting.config import AlertingConfig, check_alerting, smtp_server, summary
from surge.cli_base import friendly_errors, main
from surge.cli_base import settings_from_options as _settings
from surge.errors import ConfigError

__all__ = ["alerting_group"]


@main.group("alerting")
def alerting_group() -> None:
    """Check the alerting configuration (alerting.yaml, or SURGE_ALERTING)."""


@alerting_group.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--rules", "rules_file", type=click.Path(dir_okay=False),
              help="Rules file whose sites, functions and protocols the routes are checked "
                   "against [SURGE_RULES; default surge_rules.yaml].")
@friendly_errors
def check(file: str | None, rules_file: str | None) -> None:
    """Check an alerting file [default: SURGE_ALERTING or ./alerting.yaml]: exit 0 with what it
    does in words, or 1 with every problem as FILE:LINE:COL."""
    from surge.rules.loader import check_rules

    settings = _settings(rules=rules_file)
    path = Path(file) if file else settings.alerting
    if not path.exists():
        click.echo(f"{path}: file not found: alerting is off (nobody is alerted) until it "
                   f"exists; see docs/alerting.md")
        sys.exit(1)
    rules, rule_problems = check_rules(settings.rules)
    config, problems = check_alerting(path, rules=rules)
    if problems or config is None:
        for problem in problems:
            click.echo(str(problem))
        click.echo(f"{path}: {len(problems)} problem(s)", err=True)
        sys.exit(1)
    smtp_problems = _check_smtp(config, settings.smtp_url)
    if smtp_problems:
        for line in smtp_problems:
            click.echo(line)
        click.echo(f"{path} is sound, but email cannot be sent: SURGE_SMTP_URL has "
                   f"{len(smtp_problems)} problem(s)", err=True)
        sys.exit(1)
    click.echo(summary(config))
    if rule_problems:
        click.echo(f"note: the rules file {settings.rules} does not check (surge rules check), "
                   f"so the sites, functions and protocols of the routes were not checked "
                   f"against it", err=True)
    for note in _notes(config, settings.smtp_url):
        click.echo(f"note: {note}", err=True)


def _check_smtp(config: AlertingConfig, smtp_url: str | None) -> list[str]:
    """SURGE_SMTP_URL's problems, when there is email to send and it is set."""
    if smtp_url is None or not any(r.email for r in config.receivers.values()):
        return []
    try:
        smtp_server(smtp_url)
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return []


def _notes(config: AlertingConfig, smtp_url: str | None) -> list[str]:
    """What the environment this is checked in lacks for the file to work (the worker's may
    differ, so these do not fail the check)."""
    notes = []
    emailed = [r.name for r in config.receivers.values() if r.email]
    if emailed and smtp_url is None:
        notes.append(f"SURGE_SMTP_URL is not set, so no email is sent (to {', '.join(emailed)}); "
                     f"for a try-out, run `surge dev-mailbox` and set "
                     f"SURGE_SMTP_URL='smtp://127.0.0.1:8025?starttls=off'")
    for receiver in config.receivers.values():
        headers = receiver.webhook.headers_env if receiver.webhook else {}
        for header, variable in headers.items():
            if not os.environ.get(variable):
                notes.append(f"{variable} is not set, so {receiver.name}'s webhook is sent "
                             f"without its {header} header")
    return notes
