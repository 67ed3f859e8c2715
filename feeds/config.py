"""feeds.yaml: which feeds the worker polls, each checked like the rules file.

Every problem is reported at once, sorted by line, as ``FILE:LINE:COL: message`` with "did you
mean ...?" for a misspelt key, type or function. Secrets never live in the file: a feed names
the environment variable that holds a token, a password or a database URL (``*_env`` keys),
so the file can be reviewed and kept in version control by anyone.

The keys every feed has are read here (``name``, ``type``, ``function``, ``interval``,
``timeout``, ``max_bytes``); the keys of its type are read by its adapter module, which
``feeds/registry.py`` names by type. An adapter module has:

- ``REQUIRED`` and ``OPTIONAL``: the names of its type's own keys;
- ``build(spec, reader, context) -> Feed | None``: the feed, after checking ``spec.options``
  and reporting every problem with ``reader.error(node, message)`` (None when it reported any).
  It is called only for an entry whose common keys are sound and which has every key in
  ``REQUIRED``, and no key outside REQUIRED and OPTIONAL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from feeds.base import Feed
from surge.catalogue import Catalogue
from surge.clock import Clock
from surge.configfile import Node, Reader, did_you_mean, load_yaml
from surge.runmode import NOT_LIVE_TYPES

__all__ = ["COMMON", "DEFAULT_MAX_BYTES", "DEFAULT_TIMEOUT", "MAX_FEEDS", "FeedContext",
           "FeedSpec", "entry_digests", "env_value", "load_feeds", "resolve_path"]

COMMON = ("name", "type", "function", "interval", "timeout", "max_bytes")
DEFAULT_TIMEOUT = 10.0  # seconds a poll may take before it is given up
DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # the largest payload read in one poll
MAX_FEEDS = 500


@dataclass(frozen=True)
class FeedContext:
    """What building a feed may use besides its own keys."""

    catalogue: Catalogue
    clock: Clock
    base_dir: Path  # the folder of feeds.yaml: relative paths in it are from there
    data_dir: Path  # Surge's data folder: a feed's own state (seen files...) goes under it
    env: Mapping[str, str] = field(default_factory=dict)  # where *_env keys are looked up


@dataclass(frozen=True)
class FeedSpec:
    """One feed's entry: its common keys read, its type's own keys as nodes (with where
    they were written, for messages)."""

    name: str
    type: str
    function: str
    interval: float  # seconds between polls
    timeout: float  # seconds one poll may take
    max_bytes: int  # the largest payload it may read in one poll
    node: Node  # the whole entry
    options: Mapping[str, Node]  # the type's own keys


def env_value(reader: Reader, node: Node, context: FeedContext,
              what: str = "the secret") -> str | None:
    """The value of the environment variable named at ``node``; a problem if the name is
    not text or the variable is not set (its value is never echoed)."""
    name = reader.string(node, "the name of an environment variable")
    if name is None:
        return None
    value = context.env.get(name)
    if not value:
        reader.error(node, f"environment variable {name} is not set (it holds {what})")
        return None
    return value


def resolve_path(reader: Reader, node: Node, context: FeedContext) -> Path | None:
    """A path from the file, relative to the folder of feeds.yaml."""
    text = reader.string(node, "a path")
    if text is None:
        return None
    path = Path(text).expanduser()
    return path if path.is_absolute() else context.base_dir / path


def load_feeds(path: str | Path, context: FeedContext,
               adapters: Mapping[str, ModuleType]) -> list[Feed]:
    """The feeds of ``path``, each built by the adapter module of its type (``adapters``:
    feeds.registry.ADAPTERS); ConfigError with every problem in the file otherwise."""
    root = load_yaml(path)
    reader = Reader(path)
    top = reader.mapping(root, required=["feeds"])
    feeds: list[Feed] = []
    if top is None or "feeds" not in top:
        reader.raise_if_any()
        return feeds
    entries = reader.sequence(top["feeds"], "a list of feeds")
    if entries is not None and len(entries) > MAX_FEEDS:
        reader.error(top["feeds"], f"{len(entries)} feeds; at most {MAX_FEEDS}")
        entries = None
    if entries is not None and not entries:
        reader.error(top["feeds"], "no feeds: list at least one (or remove the file to run "
                                   "the simulator)")
    seen: dict[str, Node] = {}
    specs = [spec for entry in entries or []
             if (spec := _spec(reader, entry, context, adapters, seen)) is not None]
    real = [spec for spec in specs if spec.type not in NOT_LIVE_TYPES]
    if real and len(real) < len(specs):
        for spec in specs:
            if spec.type in NOT_LIVE_TYPES:
                reader.error(spec.node.child("type"),
                             f"a {spec.type} feed ({spec.name}) cannot run beside real feeds "
                             f"(such as {real[0].name}, line {real[0].node.line}): its figures "
                             f"are not happening now, and would show on the pages as live. "
                             f"Give it a feeds file of its own")
        specs = []
    for spec in specs:
        feed = adapters[spec.type].build(spec, reader, context)
        if feed is not None:
            feeds.append(feed)
    reader.raise_if_any()
    return feeds


def entry_digests(path: str | Path) -> dict[str, str]:
    """Each feed's entry in the file, by name, as a digest of what is written in it (keys in
    any order): a running worker keeps polling a feed whose entry has not changed."""
    root = load_yaml(path).value
    entries = root.get("feeds") if hasattr(root, "get") else None
    out: dict[str, str] = {}
    for entry in entries if isinstance(entries, list) else []:
        if hasattr(entry, "get") and isinstance(entry.get("name"), str):
            text = json.dumps(entry, sort_keys=True, default=str)
            out[entry["name"]] = hashlib.sha256(text.encode()).hexdigest()
    return out


def _spec(reader: Reader, entry: Node, context: FeedContext,
          adapters: Mapping[str, ModuleType], seen: dict[str, Node]) -> FeedSpec | None:
    """The common keys of one entry, checked; its type's keys picked out for the adapter."""
    if not hasattr(entry.value, "items"):
        reader.error(entry, "expected a feed (a mapping with name, type, function, ...)")
        return None
    kind = None
    if "type" in entry.value:
        kind = reader.choice(entry.child("type"), list(adapters))
    else:
        reader.error(entry, f"missing required key 'type' (one of {' | '.join(adapters)})")
    module = adapters.get(kind) if kind else None
    if module is not None:
        children = reader.mapping(entry, required=["name", "type", "function", "interval",
                                                   *module.REQUIRED],
                                  optional=[*COMMON, *module.OPTIONAL])
    else:  # its type is unknown, so are its own keys: check the common ones only
        children = reader.mapping(entry, required=["name", "type", "function", "interval"],
                                  optional=[*COMMON, *(str(k) for k in entry.value)])
        children = {k: v for k, v in (children or {}).items() if k in COMMON}
    if children is None:
        return None
    name = reader.string(children["name"], "a feed name") if "name" in children else None
    if name is not None:
        if name in seen:
            first = seen[name]
            reader.error(children["name"], f"feed name {name!r} is used already (line "
                                            f"{first.line}): each feed needs a name of its own")
            name = None
        else:
            seen[name] = children["name"]
    function = None
    if "function" in children:
        function = reader.string(children["function"], "a function id")
        known = [f.id for f in context.catalogue.functions]
        if function is not None and function not in known:
            reader.error(children["function"], f"unknown function {function!r}"
                                                f"{did_you_mean(function, known)} (known: "
                                                f"{', '.join(known)})")
            function = None
    interval = _seconds(reader, children.get("interval"), None)
    timeout = _seconds(reader, children.get("timeout"), DEFAULT_TIMEOUT)
    max_bytes = float(DEFAULT_MAX_BYTES)
    if "max_bytes" in children:
        got = reader.number(children["max_bytes"], "a number of bytes")
        if got is not None and (got < 1 or got != int(got)):
            reader.error(children["max_bytes"], f"expected a whole number of bytes >= 1, "
                                                f"got {got:g}")
            got = None
        max_bytes = got if got is not None else 0.0
    if interval is not None and timeout is not None and timeout > interval:
        reader.error(children.get("timeout", entry),
                     f"timeout {timeout:g} s is longer than the interval {interval:g} s: a "
                     f"poll must end before the next is due")
    if None in (name, function, interval, timeout, module) or not max_bytes:
        return None
    assert module is not None
    if any(key not in children for key in module.REQUIRED):  # (reported as missing)
        return None
    assert name is not None and function is not None and interval is not None
    assert timeout is not None and kind is not None
    options = {k: v for k, v in children.items() if k not in COMMON}
    return FeedSpec(name, kind, function, interval, timeout, int(max_bytes), entry, options)


def _seconds(reader: Reader, node: Node | None, default: float | None) -> float | None:
    if node is None:
        return default
    seconds = reader.duration(node)
    if seconds is None:
        return None
    if seconds <= 0:
        reader.error(node, "expected a duration above 0, such as 30s or 5m")
        return None
    return float(seconds)
