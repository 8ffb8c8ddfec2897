"""The package's layout reads as the data flow: no import cycle between its top-level parts, argparse only in cli/."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "tickreplay"


def _part(path: Path) -> str:
    return path.relative_to(PKG).parts[0].removesuffix(".py")


def _imported_parts(path: Path) -> set[str]:
    """Top-level parts of tickreplay that ``path`` imports (inside functions too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(path.relative_to(PKG).parts[:-1])
                base = base[:len(base) - (node.level - 1)]
                names = ["/".join(base + (node.module or "").split(".")).strip("/")]
            elif (node.module or "").startswith("tickreplay."):
                names = [node.module.split(".", 1)[1].replace(".", "/")]
            elif node.module == "tickreplay":
                names = [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".", 1)[1].replace(".", "/") for a in node.names if a.name.startswith("tickreplay.")]
        out |= {n.split("/")[0] for n in names if n}
    return out


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for f in PKG.rglob("*.py"):
        src = _part(f)
        if src == "__init__":
            continue
        graph.setdefault(src, set()).update(p for p in _imported_parts(f) if p != src and p != "__init__")
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one part (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_packages():
    graph = import_graph()
    assert {"experiment", "overlay", "trader", "book", "engine"} <= set(graph)
    assert cycles(graph) == []


def test_overlay_does_not_import_experiment_and_argparse_lives_in_cli():
    graph = import_graph()
    assert "experiment" not in graph["overlay"]
    users = sorted(str(f.relative_to(PKG)) for f in PKG.rglob("*.py")
                   if _part(f) != "cli" and "argparse" in f.read_text())
    assert users == []
