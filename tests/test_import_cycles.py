"""No import cycle anywhere in `bridge`, counting imports inside functions too.

A cycle that works today only because one side imports on use breaks as soon as someone moves
that import up, and it hides which way the data flows. The graph is read from the source (AST), so
a cycle is found whichever module happens to be imported first.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1] / "bridge"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(root: Path) -> dict[str, Path]:
    return {_module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def _imported(tree: ast.AST, importer: str, is_package: bool, known: set[str]) -> set[str]:
    """The `bridge` modules a module's import statements name (top level and inside functions).

    `from bridge.x import y` names `bridge.x.y` when that is a module, else `bridge.x` (whose
    `__init__` must have run to have `y`).
    """
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importer's package
                package = importer.split(".") if is_package else importer.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                module = f"{base}.{alias.name}"
                names.add(module if module in known else base)
    return {name for name in names if name in known}


def _with_packages(importer: str, target: str) -> set[str]:
    """`target` and the packages Python runs on the way to it that the importer's own import did
    not already run (importing `bridge.a.b` from outside `bridge.a` runs `bridge/a/__init__.py`)."""
    parts = target.split(".")
    own = importer.split(".")
    result = {target}
    for depth in range(2, len(parts)):
        package = ".".join(parts[:depth])
        if own[:depth] != parts[:depth]:
            result.add(package)
    return result


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = _modules(root)
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        targets = _imported(tree, name, path.name == "__init__.py", known)
        graph[name] = {t for target in targets for t in _with_packages(name, target)} - {name}
        graph[name] &= known
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search, deterministic order)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_bridge_has_no_import_cycle() -> None:
    graph = import_graph(ROOT)
    assert len(graph) > 50  # the walk saw the package
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_config_package_imports_nothing_else_of_the_bridge() -> None:
    graph = import_graph(ROOT)
    for module, targets in graph.items():
        if module == "bridge.config" or module.startswith("bridge.config."):
            outside = {t for t in targets if not t.startswith("bridge.config")}
            assert not outside, f"{module} imports {sorted(outside)}"


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "bridge"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "cycle"),
    [
        (  # a function-level import closing the loop counts
            {
                "__init__.py": "",
                "a.py": "from bridge.b import x\n",
                "b.py": "def f():\n    from bridge import a\n    return a\nx = 1\n",
            },
            ["bridge.a", "bridge.b", "bridge.a"],
        ),
        (  # through a package's __init__, as `bridge.config` -> rules -> a component config did
            {
                "__init__.py": "",
                "config/__init__.py": "from bridge.config.rules import R\n",
                "config/rules.py": "from bridge.comp.config import C\nR = 1\n",
                "config/types.py": "T = 1\n",
                "comp/__init__.py": "",
                "comp/config.py": "from bridge.config.types import T\nC = 1\n",
            },
            ["bridge.comp.config", "bridge.config", "bridge.config.rules", "bridge.comp.config"],
        ),
        (  # a package importing its own submodules is no cycle
            {
                "__init__.py": "",
                "p/__init__.py": "from bridge.p.m import M\n",
                "p/m.py": "from bridge.p.n import N\nM = 1\n",
                "p/n.py": "N = 1\n",
            },
            None,
        ),
    ],
)
def test_the_check_finds_cycles(tmp_path: Path, files: dict[str, str], cycle: list[str] | None) -> None:
    assert find_cycle(import_graph(_package(tmp_path, files))) == cycle
