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
    "engine": (4, None),
    "plots": (5, None),
    "commands": (6, None), "cli": (6, None), "__main__": (6, None),
    "code_version": (6, None), "study_config": (6, None), "study_grid": (6, None),
    "devices": (0, None), "machine": (0, None), "video": (4, None),
}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
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


def upward_imports() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = _top(_module_name(path))
        assert here in FLOORS, f"{path}: a new top-level module or package; give it a floor in FLOORS"
        floor, group = FLOORS[here]
        for line, name in _imports(path):
            there = _top(name)
            their_floor, their_group = FLOORS[there]
            sideways = floor == their_floor and group is not None and their_group != group
            if their_floor > floor or sideways:
                problems.append(f"{path.relative_to(REPO)}:{line} ({here}, floor {floor}) imports {name} "
                                f"({there}, floor {their_floor})")
    return problems


def test_no_module_imports_from_a_floor_above_or_beside_it():
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    # The walker must catch an import hidden inside a function.
    bad = PACKAGE / "data" / "_layer_probe.py"
    bad.write_text("def f():\n    from safefakes.engine.split import anonymize_split\n    return anonymize_split\n")
    try:
        problems = upward_imports()
    finally:
        bad.unlink()
    assert any("_layer_probe.py:2" in p and "safefakes.engine.split" in p for p in problems), problems
