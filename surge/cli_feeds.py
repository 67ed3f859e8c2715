"""The ``surge feeds`` commands: check a feeds file, and what each feed would poll."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from surge.cli_base import friendly_errors, main
from surge.cli_base import settings_from_options as _settings
from surge.errors import ConfigError

__all__ = ["feeds_group"]


@main.group("feeds")
def feeds_group() -> None:
    """Check the feeds configuration (feeds.yaml, or SURGE_FEEDS_FILE)."""


@feeds_group.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--rules", "rules_file", type=click.Path(dir_okay=False),
              help="Rules file whose functions and metrics the feeds are checked against "
                   "[SURGE_RULES; default surge_rules.yaml].")
@friendly_errors
def check(file: str | None, rules_file: str | None) -> None:
    """Check a feeds file [default: SURGE_FEEDS_FILE or ./feeds.yaml]: exit 0 listing each
    feed, or 1 with every problem as FILE:LINE:COL. Secrets named in it (*_env) are looked
    up in this environment, never printed."""
    from dataclasses import replace

    from feeds.registry import build_feeds
    from surge.clock import Clock
    from surge.rules.loader import load_rules

    settings = _settings(rules=rules_file, feeds_file=file)
    path = settings.feeds_path
    if path is None:
        click.echo("no feeds file (./feeds.yaml or SURGE_FEEDS_FILE): the worker polls the "
                   f"built-in feeds {', '.join(settings.feeds)}; see docs/feeds.md")
        sys.exit(1)
    settings = replace(settings, feeds_file=Path(path))
    catalogue = load_rules(settings.rules).catalogue
    try:
        feeds = build_feeds(settings, catalogue, Clock())
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        click.echo(f"{path}: {len(exc.problems)} problem(s)", err=True)
        sys.exit(1)
    click.echo(f"{path}: {len(feeds)} feed(s)")
    for feed in feeds:
        kind = getattr(feed, "type", type(feed).__name__)
        click.echo(f"  {feed.name}: {kind}, {feed.function}, every {feed.interval:g} s")
