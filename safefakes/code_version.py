"""The version of the code a workflow step runs: a hash over the import closure of its entry points.

Snakemake reruns a job when its params change, but it does not see the
library code a ``script:`` imports. Each rule therefore passes, as a param,
the hash of every ``safefakes`` module its script can run: the script's own
imports, followed transitively through the package's source (module-level
imports and those inside functions alike, since both run). Computed, not
listed by hand, so a new helper module cannot be forgotten.

One exception keeps branches apart: a *dispatcher* maps method names to the
methods' code (the registry, and the GAN package's ``method_class`` and
factories). Its own source is hashed, but its imports are not followed, so
every method is not in every method's branch; a rule that runs a method names
that method's module as an extra entry.

Only the source is read (with ``ast``): nothing is imported, so computing a
hash costs milliseconds and cannot fail on a missing optional dependency.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Iterable

PACKAGE = "safefakes"
#: Modules that map method names to the methods' code (see above): hashed, imports not followed.
DISPATCHERS = frozenset({"safefakes.anonymizers.registry", "safefakes.anonymizers.gan"})


def import_closure(entries: Iterable[str | Path], source_root: str | Path) -> list[str]:
    """Every ``safefakes`` module (dotted name) that ``entries`` can import, sorted.

    entries: dotted module names (``safefakes.engine.split``) or paths of
        scripts (``workflow_scripts/anonymize.py``) whose imports start the walk.
    source_root: the folder holding the ``safefakes`` package.
    """
    root = Path(source_root)
    seen: set[str] = set()
    todo: list[str] = []
    for entry in entries:
        if isinstance(entry, Path) or str(entry).endswith(".py"):
            todo.extend(_imports_of_file(Path(entry), root))
        else:
            todo.append(str(entry))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name, root)
        if path is None:
            raise ValueError(f"code_version: no source for module {name} under {root}")
        seen.add(name)
        todo.extend(_parents(name))
        if name not in DISPATCHERS:
            todo.extend(_imports_of_file(path, root))
    return sorted(seen)


def code_version(entries: Iterable[str | Path], source_root: str | Path) -> str:
    """A 16-hex-digit hash of the source of ``import_closure(entries)`` (and of the script entries)."""
    root = Path(source_root)
    entries = list(entries)
    digest = hashlib.sha256()
    for entry in entries:
        if isinstance(entry, Path) or str(entry).endswith(".py"):
            digest.update(Path(entry).name.encode())
            digest.update(Path(entry).read_bytes())
    for name in import_closure(entries, root):
        path = _module_file(name, root)
        digest.update(name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def module_of_file(path: str | Path, source_root: str | Path) -> str:
    """The dotted name of a module file under ``source_root`` (``safefakes/a/__init__.py`` -> ``safefakes.a``)."""
    rel = Path(path).resolve().relative_to(Path(source_root).resolve()).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _parents(name: str) -> list[str]:
    """Importing a.b.c runs a/__init__.py and a/b/__init__.py first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _module_file(name: str, root: Path) -> Path | None:
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=None)
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_bytes(), filename=str(path))


def _imports_of_file(path: Path, root: Path) -> list[str]:
    """The ``safefakes`` modules a file imports anywhere; ``from a import b`` counts a.b when b is a module."""
    found = []
    for node in ast.walk(_parsed(path.resolve())):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found.extend(f"{node.module}.{alias.name}" for alias in node.names
                         if _module_file(f"{node.module}.{alias.name}", root) is not None)
    return [name for name in found if name == PACKAGE or name.startswith(PACKAGE + ".")]
