"""The package's floors: a module imports only from its own floor or the floors below.

Floors, bottom up: errors and parallel; data; keypoints; then anonymizers,
detector and evaluation side by side (none imports another: the judge does
not depend on the judged); the dataset engine; plots; commands and workflow
helpers. Imports inside functions count too: hiding one there to dodge a
cycle is still an upward arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import REPO

PACKAGE = REPO / "safefakes"

#: Top-level name under safefakes -> (floor, side-by-side group or None).
FLOORS = {
    "__init__": (0, None), "errors": (0, None), "parallel": (0, None), "settings": (0, None),
    "data": (1, None), "weights": (1, None),
    "keypoints": (2, None),
    "anonymizers": (3, "anonymizers"), "detector": (3, "detector"), "evaluation": (3, "evaluation"),
    "importers": (3, "importers"),
    "engine": (4, None), "photos": (4, None),
    "audit": (5, None),
    "plots": (5, None),
    "commands": (6, None), "cli": (6, None), "__main__": (6, None),
    "code_version": (6, None), "study_config": (6, None), "study_grid": (6, None),
    "devices": (0, None), "machine": (0, None), "video": (4, None),
}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path, root: Path = REPO) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pytest.fail(f"{path}:{node.lineno}: relative import; name the module absolutely")
            found.append((node.lineno, node.module or ""))
    return [(line, name) for line, name in found if name == "safefakes" or name.startswith("safefakes.")]


def upward_imports(package: Path = PACKAGE) -> list[str]:
    root = package.parent
    problems = []
    for path in sorted(package.rglob("*.py")):
        here = _top(_module_name(path, root))
        assert here in FLOORS, f"{path}: a new top-level module or package; give it a floor in FLOORS"
        floor, group = FLOORS[here]
        for line, name in _imports(path):
            there = _top(name)
            their_floor, their_group = FLOORS[there]
            sideways = floor == their_floor and group is not None and their_group != group
            if their_floor > floor or sideways:
                problems.append(f"{path.relative_to(root)}:{line} ({here}, floor {floor}) imports {name} "
                                f"({there}, floor {their_floor})")
    return problems


def test_no_module_imports_from_a_floor_above_or_beside_it():
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(tmp_path):
    # The walker must catch an import hidden inside a function; the probe lives in a package of its own
    # under the test's folder (never in safefakes/: a stray file if killed, a race under parallel tests).
    package = tmp_path / "safefakes"
    (package / "data").mkdir(parents=True)
    (package / "data" / "_layer_probe.py").write_text(
        "def f():\n    from safefakes.engine.split import anonymize_split\n    return anonymize_split\n")
    problems = upward_imports(package)
    assert any("_layer_probe.py:2" in p and "safefakes.engine.split" in p for p in problems), problems
    assert not list(PACKAGE.rglob("_layer_probe.py"))


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (at the top or inside functions; ``from a import b``
    counts as importing the module ``a.b`` where there is one)."""
    root = package.parent
    modules = {_module_name(path, root): path for path in package.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets.update(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules
                               else node.module for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle found by a depth-first walk, as the modules along it (the first repeated at the end)."""
    cycles, done, path = [], set(), []

    def visit(module: str) -> None:
        path.append(module)
        for other in sorted(graph[module]):
            if other in path:
                cycles.append(path[path.index(other):] + [other])
            elif other not in done:
                visit(other)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module)
    return cycles


def test_no_module_imports_one_that_imports_it_back():
    assert import_cycles(import_graph()) == []


def test_the_cycle_check_sees_a_circle_through_a_function(tmp_path):
    package = tmp_path / "safefakes"
    (package / "evaluation").mkdir(parents=True)
    (package / "evaluation" / "a.py").write_text("from safefakes.evaluation.b import g\n")
    (package / "evaluation" / "b.py").write_text("def g():\n    from safefakes.evaluation import a\n    return a\n")
    (package / "evaluation" / "c.py").write_text("import safefakes.evaluation.a\n")
    assert import_cycles(import_graph(package)) == [
        ["safefakes.evaluation.a", "safefakes.evaluation.b", "safefakes.evaluation.a"]]
