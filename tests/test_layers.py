"""The layers run one way: no module of surge/, feeds/ or dashboard/ imports itself round a
circle, surge/ (the core) imports feeds/ and dashboard/ only where the processes are put
together, and every name a surge module exports in ``__all__`` exists.

Imports are read from the source with ast, every one of them: at module level, inside
functions (a deferred import still ties the modules together) and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import surge

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("surge", "feeds", "dashboard")

# Where the core may reach up a floor, and why; nowhere else.
ALLOWED_UP = {
    "surge.worker": ("feeds.",),  # the worker runs the feeds' poller
    "surge.cli": ("feeds.registry", "dashboard.app"),  # `surge run|worker|web` build them
    "surge.cli_feeds": ("feeds.registry",),  # `surge feeds check` builds them to check
    "surge.runmode": ("feeds.scenario",),  # an exercise starts at its scenario's start time
    "surge.cli_export": ("dashboard.report",),  # a report is drawn as the pages draw
}


def modules() -> dict[str, Path]:
    """Every module of the three packages, by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The modules of ours that ``name`` imports (a package's ``from pkg import mod``
    counts as importing ``pkg.mod``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target in known and target != name:
                yield target


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: set(imported(name, path, known)) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of more than one module (Tarjan), as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def test_no_module_imports_itself_round_a_circle() -> None:
    found = cycles(graph())
    assert not found, "import cycles (move what both need down a floor):\n" + "\n".join(
        " <-> ".join(group) for group in found)


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_core_reaches_feeds_and_dashboard_only_where_the_processes_are_built() -> None:
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in graph().items() if name.split(".")[0] == "surge"
        for target in targets if target.split(".")[0] in ("feeds", "dashboard")
        and not target.startswith(ALLOWED_UP.get(name, ())))
    assert not wrong, "surge/ is the core: it must not depend on " + "; ".join(wrong)


def test_feeds_know_nothing_of_pages() -> None:
    wrong = sorted(f"{name} imports {target}" for name, targets in graph().items()
                   if name.startswith("feeds") for target in targets
                   if target.startswith("dashboard"))
    assert not wrong


def surge_modules() -> list[str]:
    return ["surge", *sorted(m.name for m in pkgutil.walk_packages(surge.__path__, "surge."))]


@pytest.mark.parametrize("name", surge_modules())
def test_every_exported_name_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", [])
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
