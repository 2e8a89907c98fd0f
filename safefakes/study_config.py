"""Checks of the study's config that need the method registry (the JSON schema cannot know it).

The schema (``schemas/config.schema.yaml``) describes the shape of a
conventional and of a GAN method's block; which shape a block must have
depends on its method's kind, which only the registry knows.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import jsonschema
import yaml

from safefakes.anonymizers.gan.settings import GanTraining
from safefakes.anonymizers.registry import (
    CONVENTIONAL,
    GAN,
    METHODS,
    REFERENCE,
    AnonymizerSpec,
    build_anonymizer,
    is_method,
    method_entry,
    method_options,
)
from safefakes.detector.config import DetectorTraining, PredictSettings
from safefakes.engine.settings import AnonymizeSettings, AuditSettings
from safefakes.errors import SafeFakesError
from safefakes.evaluation.settings import DetectorViewSettings, MetricsSettings
from safefakes.settings import ConfigError, type_problem, unknown_key

#: The config's JSON schema in this repository.
SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"

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
        if not is_method(name):
            problems.append(f"anonymizers.{name}: unknown method; known: {known} (or a variant "
                            f"<method>_<variant> of one)")
            continue
        definition = schema["$defs"][BLOCK_SCHEMA[method_entry(name).kind]]
        _fill_defaults(block, definition)
        for error in _validator(schema, definition).iter_errors(block):
            where = ".".join(str(p) for p in error.absolute_path)
            problems.append(f"anonymizers.{name}{'.' + where if where else ''}: {error.message}")
    externals = config.get("external_splits", {}) or {}
    for name in externals:
        if is_method(name):
            problems.append(f"external_splits.{name}: the name of a method of this project; choose another")
    for exp_name, experiment in config.get("experiments", {}).items():
        for method in experiment.get("methods", []):
            if not is_method(method) and method not in externals:
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


# -- every job's settings, built when the workflow parses the config ----------------------------------------------

@dataclass(frozen=True)
class StudySettings:
    """The settings of every step of the study, as its jobs will build them from the same config blocks."""

    detector: DetectorTraining
    predict: PredictSettings
    view_predict: PredictSettings  # the detector view's test: predict, with detector_view's multiscale / flip
    detector_view: DetectorViewSettings
    metrics: MetricsSettings
    anonymize: AnonymizeSettings
    audit: AuditSettings
    methods: dict[str, AnonymizerSpec]  # every method block's method and options
    gan_training: dict[str, GanTraining]  # every GAN block's training


#: The study's step blocks and their settings types (the config reference and the defaults read them).
STEP_TYPES = {
    "anonymize": AnonymizeSettings,
    "audit": AuditSettings,
    "detector": DetectorTraining,
    "predict": PredictSettings,
    "detector_view": DetectorViewSettings,
    "metrics": MetricsSettings,
}
#: A GAN job sets these options itself (the trained checkpoint, the job's device).
JOB_OPTIONS = ("checkpoint", "device")


def check_study_settings(config: dict) -> StudySettings:
    """Build the settings of every job of the study from ``config`` and fill its step blocks' defaults.

    Call it after ``check_anonymizer_blocks`` (which fills the method blocks' shape).
    Cheap: it builds each conventional method once with its options and loads no
    weights; a GAN's module (torch) is imported only to check a block that
    overrides its training or sets its options.

    Raises ConfigError listing every problem, each naming its config key and the fix.
    """
    problems: list[str] = []

    def build(make, *args, **kwargs):
        try:
            return make(*args, **kwargs)
        except ConfigError as exc:
            problems.extend(str(exc).removeprefix("config: ").split("\nconfig: "))
            return None

    results = config.get("results")
    if not isinstance(results, str) or not results.strip() or Path(results.strip()) == Path("/"):
        problems.append(f"results: {results!r} would put every output of the study under the file system's root "
                        "(or nowhere); set it to a folder, e.g. results: results")
    built = {}
    for key, kind in STEP_TYPES.items():
        block = config.get(key)
        built[key] = build(kind.from_config, block, key)
        if built[key] is not None:
            fill_defaults(config, key, kind)
    view_predict = None
    if built["predict"] is not None and built["detector_view"] is not None:
        view = built["detector_view"]
        tests = {k: getattr(view, k) for k in ("multiscale", "flip") if getattr(view, k) is not None}
        view_predict = build(PredictSettings.from_config, {**config["predict"], **tests},
                             "predict (with detector_view's multiscale and flip)")
    metrics = built["metrics"]
    if metrics is not None and _measures_splits(config):
        problems.extend(metrics.missing_weights("metrics"))

    methods, gan_training = {}, {}
    for name, block in (config.get("anonymizers") or {}).items():
        if not is_method(name) or not isinstance(block, Mapping):
            continue  # check_anonymizer_blocks names it
        kind = method_entry(name).kind
        options = block.get("options") or {}
        if not isinstance(options, Mapping):
            problems.append(f"anonymizers.{name}.options: expected a mapping of the method's options, "
                            f"found {options!r}; write it as options: {{}}")
            continue
        if kind == GAN:
            training = build(GanTraining.from_config, block.get("train"), f"anonymizers.{name}.train", method=name)
            if training is not None:
                gan_training[name] = training
                block.setdefault("train", {}).setdefault("preset", training.preset)
            spec = build(_gan_spec, name, options)
        else:
            spec = build(_method_spec, name, options)
        if spec is not None:
            methods[name] = spec
    problems.extend(_external_split_problems(config))
    if problems:
        raise ConfigError("config:\n  " + "\n  ".join(problems))
    return StudySettings(built["detector"], built["predict"], view_predict, built["detector_view"],
                         built["metrics"], built["anonymize"], built["audit"], methods, gan_training)


def fill_defaults(config: dict, key: str, kind: type) -> None:
    """Give the block ``config[key]`` every setting it lacks, at its type's default, in the type's order.

    The order is the schema's, as Snakemake's validation used to fill them: a
    job's params (a block) compare equal to those of a run before the move.
    """
    block = config.get(key)
    if block is None:
        block = config[key] = {}
    for name, value in kind.defaults().items():
        block.setdefault(name, value)


def _method_spec(name: str, options: Mapping[str, Any]) -> AnonymizerSpec:
    """A conventional method built once with its options: what its constructor refuses fails here."""
    where = f"anonymizers.{name}.options"
    known = sorted(method_options(name))
    for key in options:
        if key not in known:
            raise ConfigError(unknown_key(where, key, known).replace("is not a setting", f"is not an option of {name}"))
    try:
        build_anonymizer(name, **options)
    except (SafeFakesError, TypeError, ValueError) as exc:
        named = [key for key in options if key in str(exc)]
        where = f"{where}.{named[0]}" if len(named) == 1 else where
        raise ConfigError(f"config: {where}: {exc}; give a value the method takes "
                          f"(safefakes anonymize --help describes its options)") from None
    return AnonymizerSpec(name, dict(options))


def _gan_spec(name: str, options: Mapping[str, Any]) -> AnonymizerSpec:
    """A GAN's options, checked against its factory without loading a checkpoint."""
    where = f"anonymizers.{name}.options"
    for key in options:
        if key in JOB_OPTIONS:
            raise ConfigError(f"config: {where}.{key}: set by the workflow for each job (the trained model, the "
                              "job's device); remove it")
    if options:  # the factory's signature (imports the GAN's module)
        parameters = inspect.signature(method_entry(name).factory, eval_str=True).parameters
        known = sorted(set(method_options(name)) - set(JOB_OPTIONS))
        for key, value in options.items():
            if key not in known:
                raise ConfigError(unknown_key(where, key, known).replace("is not a setting",
                                                                         f"is not an option of {name}"))
            hint = parameters[key].annotation if key in parameters else inspect.Parameter.empty
            expected = None if hint is inspect.Parameter.empty else type_problem(hint, value)
            if expected is not None:
                raise ConfigError(f"config: {where}.{key}: expected {expected}, found {value!r}; "
                                  f"write it as {expected}")
    return AnonymizerSpec(name, dict(options))


def _measures_splits(config: Mapping) -> bool:
    """Whether the grid holds an anonymized split (whose image metrics need the backbones)."""
    externals = config.get("external_splits") or {}
    for experiment in (config.get("experiments") or {}).values():
        for method in experiment.get("methods", []) if isinstance(experiment, Mapping) else []:
            if method in externals or (is_method(method) and method_entry(method).kind != REFERENCE):
                return True
    return False


def _external_split_problems(config: Mapping) -> list[str]:
    """An external split that an experiment runs must be there (the other tool's output of the train split)."""
    externals = config.get("external_splits") or {}
    used = {m for e in (config.get("experiments") or {}).values() if isinstance(e, Mapping)
            for m in e.get("methods", [])}
    source = (config.get("data") or {}).get("source", "synthetic")
    problems = []
    for name, block in externals.items():
        path = block.get("path") if isinstance(block, Mapping) else None
        if name in used and path and not Path(path, "images").is_dir():
            problems.append(
                f"external_splits.{name}.path: {path!r} holds no images/ folder (looked at "
                f"{Path(path, 'images')}); run the other tool on {config.get('results')}/data/{source}/train and "
                f"give the folder it wrote, or take {name} out of the experiments' methods until it is there")
    return problems


def reference(schema_path: str | Path) -> str:
    """The configuration reference (Markdown): every key of the schema with its type, default and description.

    Defaults come from the steps' settings types where they live, else from the schema.
    """
    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    lines = ["# Configuration reference", "",
             "<!-- Generated by `python -m safefakes.study_config --reference > docs/configuration.md` from",
             "     schemas/config.schema.yaml (descriptions) and the steps' settings types (defaults);",
             "     tests/test_study_config.py checks that this file is up to date. -->", "",
             _flat(schema.get("description", "")), "",
             "A study's config is one YAML file (`config.yaml`, `presets/paper.yaml`, or your own with "
             "`--configfile`). Every key below is checked when Snakemake reads the config (`snakemake -n` "
             "fails before any job, naming the key); a key that is not set takes its default.", ""]
    defs = schema.get("$defs", {})
    for key, spec in schema.get("properties", {}).items():
        lines += [f"## `{key}`", ""]
        if spec.get("description"):
            lines += [_flat(spec["description"]), ""]
        if "required" in schema and key in schema["required"]:
            lines += ["Required.", ""]
        rows = list(_rows(key, spec, defs, STEP_TYPES.get(key)))
        if key == "anonymizers":
            rows += [("anonymizers.<conventional method>" + k, *rest)
                     for k, *rest in _rows("", defs["conventional"], defs, None)]
            rows += [("anonymizers.<GAN>" + k, *rest)
                     for k, *rest in _rows("", defs["gan"], defs, None, gan=True)]
        if not rows and "properties" not in spec and "additionalProperties" not in spec:
            shown = f"`{_yaml(spec['default'])}`" if "default" in spec else "—"
            lines += [f"Type: {_type(spec)}; default: {shown}.", ""]
        if rows:
            lines += ["| key | type | default | description |", "| --- | --- | --- | --- |"]
            lines += [f"| `{k}` | {t} | {d} | {text} |" for k, t, d, text in rows]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _rows(prefix: str, spec: Mapping, defs: Mapping, kind: type | None, gan: bool = False):
    defaults = kind.defaults() if kind is not None else {}
    props = spec.get("properties") or {}
    if not props and isinstance(spec.get("additionalProperties"), Mapping):
        props = {"<name>": spec["additionalProperties"]}
    if "items" in spec and spec.get("type") == "array" and isinstance(spec["items"], Mapping) and \
            spec["items"].get("properties"):
        props = {"[i]": spec["items"]}
    for name, sub in props.items():
        if "$ref" in sub:
            sub = {**defs[sub["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in sub.items() if k != "$ref"}}
        key = f"{prefix}.{name}" if prefix else f".{name}"
        key = key.replace(".[i]", "[i]")
        if name in defaults:
            default = defaults[name]
        elif gan and name == "train":
            default = {"preset": GanTraining.preset}
        elif "default" in sub:
            default = sub["default"]
        else:
            default = _NO_DEFAULT
        if name != "[i]" and name != "<name>" or not (sub.get("properties") or sub.get("items")):
            shown = "—" if default is _NO_DEFAULT else f"`{_yaml(default)}`"
            yield key, _type(sub), shown, _flat(sub.get("description", "")).replace("|", "\\|")
        if isinstance(sub, Mapping) and (sub.get("properties") or (sub.get("type") == "array" and
                                                                  isinstance(sub.get("items"), Mapping) and
                                                                  sub["items"].get("properties"))):
            nested = STEP_TYPES.get(key) if prefix == "" else None
            yield from _rows(key, sub, defs, nested)


_NO_DEFAULT = object()


def _type(spec: Mapping) -> str:
    kind = spec.get("type", "object" if "properties" in spec else "")
    kinds = kind if isinstance(kind, list) else [kind]
    text = " or ".join(k for k in kinds if k)
    if "enum" in spec:
        text = " \\| ".join(f"`{v}`" for v in spec["enum"])
    bounds = []
    if "minimum" in spec:
        bounds.append(f">= {spec['minimum']}")
    if "maximum" in spec:
        bounds.append(f"<= {spec['maximum']}")
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("\n...").strip()


def _flat(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m safefakes.study_config",
                                     description="The study's configuration reference (docs/configuration.md).")
    parser.add_argument("--reference", action="store_true", help="print the configuration reference (Markdown)")
    parser.add_argument("--schema", default=str(SCHEMA), help="the config's JSON schema (default: %(default)s)")
    args = parser.parse_args(argv)
    if not args.reference:
        parser.error("nothing to do: give --reference")
    sys.stdout.write(reference(args.schema))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
