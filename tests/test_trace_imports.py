"""The trace package's modules import each other without a circle.

Every import counts, at module level or inside a function: a function-local import is how a
circle hides (``_serial`` needed ``analysis`` for dependency edges while ``analysis`` read
serialised traces through ``_serial``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import interlace.trace

PACKAGE = "interlace.trace"


def _imports(path: Path) -> set[str]:
    """The ``interlace.trace`` modules that the file at ``path`` imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith(PACKAGE + "."):
                found.add(node.module)
            elif node.module == PACKAGE:
                found.update(f"{PACKAGE}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(PACKAGE + "."))
    return found


def _graph() -> dict[str, set[str]]:
    root = Path(interlace.trace.__file__).parent
    modules = {f"{PACKAGE}.{p.stem}": p for p in root.glob("*.py") if p.stem != "__init__"}
    return {name: _imports(path) & modules.keys() for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_cycle_finder_finds_a_planted_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_trace_modules_import_without_a_circle() -> None:
    graph = _graph()
    assert f"{PACKAGE}._serial" in graph and f"{PACKAGE}.analysis" in graph
    assert f"{PACKAGE}._serial" in graph[f"{PACKAGE}.analysis"]  # the edge that stays
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])
