"""What every ``surge`` command shares: the ``main`` group, option sets, settings, errors, who acts.

surge/cli.py (the entry point) and the sub-CLIs (cli_rules.py, cli_auth.py) import this
module and register their commands on ``main``; it imports none of them, and cli.py imports
the sub-CLIs, so the imports run one way.
"""

from __future__ import annotations

import functools
import getpass
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from surge.actions import Actor, act_as
from surge.errors import SurgeError
from surge.settings import Settings
from surge.store import Store

__all__ = [
    "as_option",
    "base_url",
    "cli_actor",
    "display_host",
    "feed_options",
    "friendly_errors",
    "local_operator",
    "main",
    "open_checked_store",
    "settings_from_options",
    "store_options",
    "web_options",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log more detail.")
def main(verbose: bool) -> None:
    """Surge: real-time surge monitoring for an ambulance service."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        for noisy in ("apscheduler", "werkzeug"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def friendly_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a SurgeError into its message on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SurgeError as exc:
            for line in str(exc).splitlines():
                click.echo(f"error: {line}", err=True)
            sys.exit(2)

    return wrapper


# --- options -----------------------------------------------------------------------------


def store_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--rules", type=click.Path(dir_okay=False),
                      help="Rules file [SURGE_RULES; default surge_rules.yaml].")(fn)
    fn = click.option("--data-dir", type=click.Path(file_okay=False),
                      help="Embedded store and local state [SURGE_DATA_DIR; default ./var].")(fn)
    fn = click.option("--redis-url", help="Store URL, e.g. redis://host:6379/0 "
                                          "[SURGE_REDIS_URL; default: embedded store].")(fn)
    return fn


def feed_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--feeds-file", type=click.Path(dir_okay=False),
                      help="The feeds to poll (docs/feeds.md) [SURGE_FEEDS_FILE; default "
                           "./feeds.yaml if there is one, else the simulator].")(fn)
    fn = click.option("--seed", type=int, help="Simulator seed [SURGE_SEED; default 1].")(fn)
    fn = click.option("--speed", type=click.FloatRange(min=0, min_open=True, max=10_000),
                      help="Simulated time runs N times faster [SURGE_SPEED; default 1].")(fn)
    fn = click.option("--scenario", help="Simulator scenario name or file [SURGE_SCENARIO].")(fn)
    return fn


def web_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--port", type=click.IntRange(1, 65535),
                      help="Web port [SURGE_PORT; default 8050].")(fn)
    fn = click.option("--host", help="Web address [SURGE_HOST; default 127.0.0.1].")(fn)
    return fn


def as_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--as USER``: act as that user, with the role the store holds for them."""
    return click.option(
        "--as", "as_user", metavar="USER",
        help="Act as this user, with their role; they must exist and be enabled. Without "
             "it, whoever runs the command on the server acts as admin, recorded as "
             "cli:{OS user}.")(fn)


# --- settings, the store, who is acting -------------------------------------------------


def settings_from_options(**options: Any) -> Settings:
    """Settings from SURGE_* variables, with the command's options taking precedence."""
    for name in ("rules", "data_dir", "feeds_file"):
        if options.get(name) is not None:
            options[name] = Path(options[name])
    return Settings.from_env(**options)


def open_checked_store(settings: Settings) -> Store:
    """The store, or StoreUnavailable (a SurgeError) saying where it was looked for."""
    from surge.context import open_store

    store = open_store(settings)
    store.ping()
    return store


def local_operator() -> Actor:
    """Whoever runs the CLI on the server: trusted as admin, named by their OS login. (They
    can reach the store directly anyway; the name keeps the audit trail honest.)"""
    try:
        who = getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        who = "unknown"
    return Actor(f"cli:{who}", "admin", "local", "cli")


def cli_actor(store: Store, as_user: str | None) -> Actor:
    """The actor of a command: ``--as USER`` (UnknownActor if unknown or disabled), or the
    local operator when ``--as`` was not given."""
    return local_operator() if as_user is None else act_as(store, as_user, via="cli")


def display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host


def base_url(settings: Settings) -> str:
    """Where a browser on this machine reaches the dashboard."""
    return f"http://{display_host(settings.host)}:{settings.port}"
