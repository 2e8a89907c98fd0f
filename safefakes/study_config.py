"""Checks of the study's config that need the method registry (the JSON schema cannot know it).

The schema (``schemas/config.schema.yaml``) describes the shape of a
conventional and of a GAN method's block; which shape a block must have
depends on its method's kind, which only the registry knows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import jsonschema
import yaml

from safefakes.anonymizers.registry import CONVENTIONAL, GAN, METHODS, REFERENCE

#: The schema's $defs entry that describes a method block, by method kind.
BLOCK_SCHEMA = {REFERENCE: "conventional", CONVENTIONAL: "conventional", GAN: "gan"}


def check_anonymizer_blocks(config: dict, schema_path: str | Path) -> None:
    """Validate ``config["anonymizers"]`` block by block against its method's kind, filling defaults.

    schema_path: the config's JSON schema (YAML), whose ``$defs`` describe the blocks.

    Raises ValueError naming the config key and what to do: an unknown method
    name (in a block or an experiment; an experiment may also name one of the
    config's ``external_splits``), an external split named like a method, or
    a block of the wrong shape.
    """
    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    known = ", ".join(METHODS)
    problems = []
    blocks = config.get("anonymizers", {})
    for name, block in blocks.items():
        if name not in METHODS:
            problems.append(f"anonymizers.{name}: unknown method; known: {known}")
            continue
        definition = schema["$defs"][BLOCK_SCHEMA[METHODS[name].kind]]
        _fill_defaults(block, definition)
        for error in _validator(schema, definition).iter_errors(block):
            where = ".".join(str(p) for p in error.absolute_path)
            problems.append(f"anonymizers.{name}{'.' + where if where else ''}: {error.message}")
    externals = config.get("external_splits", {}) or {}
    for name in externals:
        if name in METHODS:
            problems.append(f"external_splits.{name}: the name of a method of this project; choose another")
    for exp_name, experiment in config.get("experiments", {}).items():
        for method in experiment.get("methods", []):
            if method not in METHODS and method not in externals:
                problems.append(f"experiments.{exp_name}.methods: unknown method {method!r}; known: {known}"
                                + (f", and the external splits {', '.join(externals)}" if externals else
                                   " (or name a split of another tool under external_splits)"))
    if problems:
        raise ValueError("config:\n  " + "\n  ".join(problems))


def _validator(schema: Mapping[str, Any], definition: Mapping[str, Any]):
    # The block's definition, resolved against the whole schema for its $refs.
    return jsonschema.Draft202012Validator({**definition, "$defs": schema.get("$defs", {})})


def _fill_defaults(block: dict, definition: Mapping[str, Any]) -> None:
    for key, spec in definition.get("properties", {}).items():
        if key not in block and "default" in spec:
            block[key] = _copy(spec["default"])
        if isinstance(block.get(key), dict) and "properties" in spec:
            _fill_defaults(block[key], spec)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
