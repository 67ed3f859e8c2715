"""Reading YAML config with the file, line and column of every value, and checking its shape.

Every check reports into one list of problems, so a user sees all of them at once, each as
``FILE:LINE:COL: message`` with a "did you mean ...?" where a name looks misspelt.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from surge.durations import parse_duration
from surge.errors import ConfigError, Problem

__all__ = ["MAX_EXPANDED", "MAX_FILE_BYTES", "Node", "Reader", "did_you_mean", "expanded_size",
           "load_yaml"]


@dataclass(frozen=True)
class Node:
    """A value from the file with where it was written (1-based line and column)."""

    value: Any
    line: int
    col: int
    name: str  # dotted path from the root, for messages: metrics.calls.waiting.range

    def child(self, key: Any) -> Node:
        container = self.value
        name = f"{self.name}.{key}" if self.name else str(key)
        if isinstance(container, CommentedSeq):
            line, col = container.lc.item(key)
            return Node(container[key], line + 1, col + 1, f"{self.name}[{key}]")
        line, col = container.lc.value(key)
        return Node(container[key], line + 1, col + 1, name)

    def key_position(self, key: Any) -> tuple[int, int]:
        line, col = self.value.lc.key(key)
        return line + 1, col + 1


MAX_FILE_BYTES = 1_048_576  # a large trust's rules are under 100 KB; parsing is slow past this


def load_yaml(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> Node:
    """The root node of a YAML file; ConfigError naming the file and position otherwise.

    A file over ``max_bytes`` is refused before it is read: parsing YAML takes seconds per
    megabyte and a lot of memory, and no sensible configuration is that big."""
    source = str(path)
    try:
        size = Path(path).stat().st_size
    except FileNotFoundError:
        raise ConfigError.single(source, "file not found") from None
    except OSError as exc:
        raise ConfigError.single(source, f"cannot be read: {exc}") from None
    if size > max_bytes:
        raise ConfigError([Problem(source, f"the file is {size:,} bytes; the limit is "
                                           f"{max_bytes:,} (see Limits in docs/rules.md)", 1, 1)])
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError.single(source, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError.single(source, f"cannot be read: {exc}") from None
    yaml = YAML(typ="rt")
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        detail = detail.replace("\n", " ").strip() or "invalid YAML"
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        raise ConfigError([Problem(source, f"YAML syntax: {detail}", line, col)]) from None
    except YAMLError as exc:
        raise ConfigError.single(source, f"YAML syntax: {exc}") from None
    if data is None:
        raise ConfigError([Problem(source, "the file is empty", 1, 1)])
    return Node(data, 1, 1, "")


def did_you_mean(name: object, known: Iterable[object]) -> str:
    """' (did you mean X?)' for the closest known name, or '' when nothing is close."""
    candidates = [str(k) for k in known]
    close = difflib.get_close_matches(str(name), candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Reader:
    """Checks the shape of nodes, collecting problems against one source file."""

    def __init__(self, source: str | Path) -> None:
        self.source = str(source)
        self.problems: list[Problem] = []

    def error(self, node: Node, message: str, at_key: Any = None) -> None:
        line, col = node.line, node.col
        if at_key is not None and isinstance(node.value, CommentedMap):
            line, col = node.key_position(at_key)
        where = f"{node.name}: " if node.name else ""
        self.problems.append(Problem(self.source, where + message, line, col))

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(sorted(self.problems, key=lambda p: (p.line or 0, p.col or 0)))

    # --- shapes ----------------------------------------------------------------------

    def mapping(
        self,
        node: Node,
        *,
        required: Iterable[str] = (),
        optional: Iterable[str] = (),
        what: str = "a mapping",
    ) -> dict[str, Node] | None:
        """The children of a mapping node, after reporting unknown and missing keys.

        With neither required nor optional given, any key is allowed.
        """
        if not isinstance(node.value, CommentedMap):
            self.error(node, f"expected {what}, got {describe(node.value)}")
            return None
        required = list(required)
        allowed = set(required) | set(optional)
        children: dict[str, Node] = {}
        for key in node.value:
            if allowed and str(key) not in allowed:
                hint = did_you_mean(key, sorted(allowed))
                self.error(node, f"unknown key {str(key)!r}{hint}", at_key=key)
                continue
            children[str(key)] = node.child(key)
        for key in required:
            if key not in children and key not in {str(k) for k in node.value}:
                self.error(node, f"missing required key {key!r}")
        return children

    def items(self, node: Node, what: str = "a mapping") -> Iterator[tuple[Any, Node]]:
        """(key, child) for each entry of a mapping node with free-form keys."""
        if not isinstance(node.value, CommentedMap):
            self.error(node, f"expected {what}, got {describe(node.value)}")
            return
        for key in node.value:
            yield key, node.child(key)

    def sequence(self, node: Node, what: str = "a list") -> list[Node] | None:
        if not isinstance(node.value, CommentedSeq):
            self.error(node, f"expected {what}, got {describe(node.value)}")
            return None
        return [node.child(i) for i in range(len(node.value))]

    def string(self, node: Node, what: str = "text") -> str | None:
        if isinstance(node.value, str) and node.value.strip():
            return str(node.value)
        self.error(node, f"expected {what}, got {describe(node.value)}")
        return None

    def number(self, node: Node, what: str = "a number") -> float | None:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error(node, f"expected {what}, got {describe(value)}")
            return None
        if not math.isfinite(value):
            self.error(node, f"expected {what}, got {value}")
            return None
        return float(value)

    def boolean(self, node: Node) -> bool | None:
        if isinstance(node.value, bool):
            return node.value
        self.error(node, f"expected true or false, got {describe(node.value)}")
        return None

    def choice(self, node: Node, options: Iterable[str]) -> str | None:
        options = list(options)
        if isinstance(node.value, str) and node.value in options:
            return node.value
        hint = did_you_mean(node.value, options) if isinstance(node.value, str) else ""
        listed = " | ".join(options)
        self.error(node, f"expected one of {listed}, got {describe(node.value)}{hint}")
        return None

    def duration(self, node: Node) -> int | None:
        try:
            return parse_duration(node.value)
        except ValueError as exc:
            self.error(node, str(exc))
            return None


def describe(value: Any) -> str:
    """How a wrongly-typed value is named in a message."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, CommentedMap):
        return "a mapping"
    if isinstance(value, CommentedSeq):
        return "a list"
    if isinstance(value, str):
        return repr(value)
    return str(value)


MAX_EXPANDED = 1_000_000  # values a file may hold with its aliases written out


def expanded_size(value: object) -> int:
    """How many values a document holds with every alias written out, counted without
    writing them out (up to just over MAX_EXPANDED): ten lines of aliases can stand for a
    billion values, and hashing the content for its version would take hours."""
    if not isinstance(value, (dict, list)):
        return 1
    sizes: dict[int, int] = {}
    entered: set[int] = set()
    pending: list[tuple[Any, bool]] = [(value, False)]
    while pending:
        item, children_done = pending.pop()
        children = list(item.values()) if isinstance(item, dict) else item
        if children_done:
            total = 1 + sum(sizes.get(id(c), 1) for c in children)
            sizes[id(item)] = min(total, MAX_EXPANDED + 1)
        elif id(item) not in entered:
            entered.add(id(item))
            pending.append((item, True))
            pending.extend((c, False) for c in children if isinstance(c, (dict, list)))
    return sizes.get(id(value), 1)
