"""Config checks: the method registry (the one list of methods) and every step's settings, before any job."""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys

import pytest
import yaml
from conftest import REPO
from snakemake.utils import validate

from safefakes import cli
from safefakes.anonymizers.gan.settings import GanTraining
from safefakes.detector.config import DetectorTraining, PredictSettings
from safefakes.engine.settings import AnonymizeSettings
from safefakes.evaluation.settings import DetectorViewSettings, MetricsSettings
from safefakes.settings import ConfigError, SettingError
from safefakes.study_config import (
    STEP_TYPES,
    check_anonymizer_blocks,
    check_study_settings,
    reference,
)

SCHEMA = REPO / "schemas" / "config.schema.yaml"


def test_blocks_are_checked_by_their_method_kind_and_get_defaults():
    config = {"anonymizers": {"blur": {}, "deepprivacy": {"faces": 10, "anon_iters": 20}},
              "experiments": {"methods": {"methods": ["blur", "deepprivacy"]}},
              "metrics": {"allow_random_init": True}, "results": "results"}
    check_anonymizer_blocks(config, SCHEMA)
    check_study_settings(config)
    assert config["anonymizers"]["blur"] == {"options": {}}
    dp = config["anonymizers"]["deepprivacy"]
    assert dp["train"] == {"preset": "mini"} and dp["keypoint_weights"] is None and dp["options"] == {}


@pytest.mark.parametrize("config, message", [
    ({"anonymizers": {"blurr": {}}, "experiments": {}}, "anonymizers.blurr: unknown method"),
    ({"anonymizers": {"blur": {"faces": 3}}, "experiments": {}}, "anonymizers.blur: Additional properties"),
    ({"anonymizers": {"ciagan": {"faces": 3}}, "experiments": {}}, "anonymizers.ciagan: 'anon_iters' is a required"),
    ({"anonymizers": {}, "experiments": {"fig4": {"methods": ["mystery"]}}},
     "experiments.fig4.methods: unknown method 'mystery'"),
])
def test_bad_blocks_name_the_key(config, message):
    with pytest.raises(ValueError, match=message):
        check_anonymizer_blocks(config, SCHEMA)


# -- every step's settings --------------------------------------------------------------------------------------

def default_config() -> dict:
    """config.yaml as the Snakefile has it when rules/common.smk checks it (schema defaults filled)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    validate(config, str(SCHEMA))
    check_anonymizer_blocks(config, SCHEMA)
    return config


def _set(config: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for key in parents:
        config = config.setdefault(key, {})
    if value is _DELETE:
        config.pop(last, None)
    else:
        config[last] = value


_DELETE = object()


def test_the_default_study_builds_every_jobs_settings():
    settings = check_study_settings(default_config())
    assert settings.detector.config(seed=2).seed == 2 and settings.detector.threads == 1
    assert settings.predict == PredictSettings() and settings.view_predict == PredictSettings()
    assert settings.anonymize == AnonymizeSettings() and settings.audit.survival == "record"
    assert set(settings.methods) == set(default_config()["anonymizers"])
    assert set(settings.gan_training) == {"deepprivacy", "ciagan", "sun2018"}


# A typo in every block (and the key path each error must name).
TYPOS = [
    ("detector.settings.lr_typo", 0.1),
    ("detector.thread", 1),
    ("predict.nms_iuo", 0.3),
    ("detector_view.scor", 0.5),
    ("metrics.min_sise", 16),
    ("anonymize.jpeg_qualty", 90),
    ("audit.survivl", "fail"),
    ("anonymizers.deepprivacy.train.batch_sise", 4),
    ("anonymizers.sun2018.train.lr_typo", 1e-3),
    ("anonymizers.blur.options.kernal", 31),
    ("anonymizers.pixelate.options.block", 8),
    ("anonymizers.ciagan.options.min_sise", 10),
]


@pytest.mark.parametrize("key, value", TYPOS, ids=[k for k, _ in TYPOS])
def test_a_typo_in_any_block_names_its_key(key, value):
    config = default_config()
    _set(config, key, value)
    with pytest.raises(ConfigError) as caught:
        check_study_settings(config)
    text = str(caught.value)
    assert f"{key} is not a" in text, text
    assert "known:" in text or "settings:" in text or "takes" in text or "did you mean" in text, text


# Wrong types and values, and where each must point.
BAD_VALUES = [
    ("detector.settings.lr", "fast", "detector.settings.lr: expected a number"),
    ("detector.settings.width", 9, "detector.settings: invalid detector config: width 9"),
    ("detector.preset", "huge", "detector.preset: 'huge' is not one of mini, paper"),
    ("predict.max_boxes", 0, "predict.max_boxes: 0 is below 1"),
    ("predict.flip", "yes", "predict.flip: expected true or false"),
    ("detector_view.score", 2, "detector_view.score: 2 is above 1"),
    ("detector_view.multiscale", "no", "detector_view.multiscale: expected true or false or null"),
    ("anonymize.jpeg_quality", 400, "anonymize.jpeg_quality: 400 is above 100"),
    ("anonymize.jpeg_subsampling", "4:1:1", "anonymize.jpeg_subsampling: '4:1:1' is not one of"),
    ("audit.survival", "warn", "audit.survival: 'warn' is not one of fail, record"),
    ("metrics.crop_size", 4, "metrics.crop_size: 4 is below 8"),
    ("anonymizers.blur.options.kernel", 30, "anonymizers.blur.options.kernel:"),
    ("anonymizers.pixelate.options.blocks", 0, "anonymizers.pixelate.options.blocks:"),
    ("anonymizers.deepprivacy.train.batch_size", "many", "anonymizers.deepprivacy.train.batch_size: expected a whole"),
    ("anonymizers.deepprivacy.train.resolution", 33, "anonymizers.deepprivacy.train.resolution: resolution 33"),
    ("anonymizers.deepprivacy.options.checkpoint", "x.pt", "anonymizers.deepprivacy.options.checkpoint: set by the"),
    ("anonymizers.ciagan.options.batch_size", "big", "anonymizers.ciagan.options.batch_size: expected a whole"),
    ("results", "", "results: '' would put every output"),
]


@pytest.mark.parametrize("key, value, message", BAD_VALUES, ids=[k for k, *_ in BAD_VALUES])
def test_a_wrong_value_names_its_key_and_the_fix(key, value, message):
    config = default_config()
    _set(config, key, value)
    with pytest.raises(ConfigError) as caught:
        check_study_settings(config)
    assert message in str(caught.value), str(caught.value)


def test_every_problem_is_listed_at_once():
    config = default_config()
    _set(config, "predict.nms_iuo", 1)
    _set(config, "anonymize.jpeg_quality", 0)
    with pytest.raises(ConfigError) as caught:
        check_study_settings(config)
    assert "predict.nms_iuo" in str(caught.value) and "anonymize.jpeg_quality" in str(caught.value)


def test_metrics_weights_missing_without_allow_random_init_name_the_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty torch cache
    config = default_config()
    config["metrics"]["allow_random_init"] = False
    with pytest.raises(ConfigError) as caught:
        check_study_settings(config)
    text = str(caught.value)
    for key in ("metrics.lpips_weights", "metrics.inception_weights", "metrics.allow_random_init: true"):
        assert key in text, text
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / "pt_inception-2015-12-05-6726825d.pth") in text
    # The weights in the torch cache, or named in the config, are enough.
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / "alexnet-owt-7be5be79.pth").touch()
    inception = tmp_path / "inception.pth"
    inception.touch()
    config["metrics"]["inception_weights"] = str(inception)
    check_study_settings(config)
    # A study without an anonymized split measures nothing.
    config = default_config()
    config["metrics"]["allow_random_init"] = False
    config["experiments"] = {"one": {"methods": ["original"], "det_iters": [10]}}
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    check_study_settings(config)


def test_an_external_split_an_experiment_runs_must_be_there(tmp_path):
    config = default_config()
    config["external_splits"] = {"othertool": {"path": str(tmp_path / "theirs")}}
    check_study_settings(copy.deepcopy(config))  # listed, not run: nothing to import yet
    config["experiments"]["methods"]["methods"].append("othertool")
    with pytest.raises(ConfigError, match="external_splits.othertool.path: .* holds no images/ folder"):
        check_study_settings(copy.deepcopy(config))
    (tmp_path / "theirs" / "images").mkdir(parents=True)
    check_study_settings(config)


def test_empty_blocks_are_filled_with_the_types_defaults_in_their_order():
    config = default_config()
    for key in STEP_TYPES:
        config[key] = {}
    config["metrics"] = {"allow_random_init": True}  # no weights offline
    check_study_settings(config)
    for key, kind in STEP_TYPES.items():
        expected = {**kind.defaults(), **({"allow_random_init": True} if key == "metrics" else {})}
        assert list(config[key].items()) == list(expected.items()), key


def test_the_schema_holds_no_second_copy_of_a_steps_default():
    """A step's defaults live in its settings type; the schema names the same keys in the same order."""
    schema = yaml.safe_load(SCHEMA.read_text())
    for key, kind in STEP_TYPES.items():
        properties = schema["properties"][key]["properties"]
        assert list(properties) == kind.config_keys(), key
        assert not [name for name, spec in properties.items() if "default" in spec], key
    train = schema["$defs"]["gan"]["properties"]["train"]
    assert train["default"] == {} and "default" not in train["properties"]["preset"]


def test_the_job_scripts_build_their_settings_through_the_types():
    """A job accepts exactly what the dry run accepted: each script builds its block through the same type."""
    scripts = REPO / "workflow_scripts"
    expect = {"train_detector.py": "DetectorTraining.from_config", "predict.py": "PredictSettings.from_config",
              "train_anonymizer.py": "GanTraining.from_config", "anonymize.py": "AnonymizeSettings.from_config",
              "anonymize_gan.py": "AnonymizeSettings.from_config", "image_metrics.py": "MetricsSettings.from_config",
              "reference_features.py": "MetricsSettings.from_config",
              "detector_view.py": "DetectorViewSettings.from_config", "audit.py": "AuditSettings.from_config"}
    for script, call in expect.items():
        assert call in (scripts / script).read_text(), script


def test_settings_types_refuse_wrong_values_in_code_too():
    with pytest.raises(SettingError, match="nms_iou"):
        PredictSettings(nms_iou=1.5)
    with pytest.raises(SettingError, match="jpeg_quality"):
        AnonymizeSettings(jpeg_quality=0)
    with pytest.raises(SettingError, match="settings.lr"):
        DetectorTraining(settings={"lr": "fast"})
    with pytest.raises(SettingError, match="batch_sise"):
        GanTraining(method="deepprivacy", overrides={"batch_sise": 3})


def _subcommand(name: str) -> argparse.ArgumentParser:
    parser = cli.build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]


def test_the_command_lines_defaults_are_the_types():
    detect = cli.build_parser().parse_args(["detect", "c.pt", "s", "p"])
    assert PredictSettings.from_args(detect, score_threshold=detect.threshold) == PredictSettings()
    anonymize = cli.build_parser().parse_args(["anonymize", "s", "o", "--method", "blur"])
    assert AnonymizeSettings.from_args(anonymize) == AnonymizeSettings()
    view = cli.build_parser().parse_args(["detector-view", "s", "--detector", "c.pt"])
    assert view.score == DetectorViewSettings.score
    metrics = cli.build_parser().parse_args(["metrics", "o", "a", "--json", "m.json"])
    for key in ("allow_random_init", "lpips_weights", "inception_weights", "max_faces", "distribution_faces"):
        assert getattr(metrics, key) == getattr(MetricsSettings, key), key
    assert cli.build_parser().parse_args(["train-detector", "s", "o"]).preset == DetectorTraining.preset
    assert cli.build_parser().parse_args(["train-anonymizer", "c", "o"]).preset == GanTraining.preset


def test_a_wrong_flag_is_named():
    args = cli.build_parser().parse_args(["detect", "c.pt", "s", "p", "--max-boxes", "0"])
    with pytest.raises(Exception, match="--max-boxes: 0 is below 1"):
        PredictSettings.from_args(args, score_threshold=args.threshold)


# -- through a real dry run -------------------------------------------------------------------------------------

def _dry_run(tmp_path, change) -> subprocess.CompletedProcess:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    change(config)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path / "work"),
           "--workflow-profile", "none", "--cores", "1", "-n", "--configfile", str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


# Two cheap cases (a GAN's train block imports torch; the library test above covers it).
@pytest.mark.parametrize("change, key", [
    (lambda c: c["detector"]["settings"].update(lr_typo=0.1), "detector.settings.lr_typo is not a setting"),
    (lambda c: c["anonymizers"]["blur"]["options"].update(kernel=30), "anonymizers.blur.options.kernel"),
], ids=["detector-settings-typo", "even-blur-kernel"])
def test_the_dry_run_fails_naming_the_key_before_any_job(tmp_path, change, key):
    proc = _dry_run(tmp_path, change)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and key in text, text
    # Nothing was planned, let alone run.
    assert "Job stats" not in text and "Building DAG" not in text
    assert not (tmp_path / "work" / "results").exists()


def test_the_configuration_reference_is_up_to_date():
    doc = REPO / "docs" / "configuration.md"
    assert doc.read_text(encoding="utf-8") == reference(SCHEMA), (
        "docs/configuration.md is out of date: python -m safefakes.study_config --reference > docs/configuration.md")


def test_the_defaults_the_schema_still_holds_agree_with_the_library():
    """Blocks that are not a step's settings (the data, the report) keep their defaults in the schema;
    where the library has the same default, the two agree."""
    from safefakes.data import synthetic
    from safefakes.evaluation.detector_view import ViewSettings

    schema = yaml.safe_load(SCHEMA.read_text())["properties"]
    generated = schema["data"]["properties"]["synthetic"]["properties"]
    assert (generated["train_images"]["default"], generated["val_images"]["default"], generated["crops"]["default"],
            tuple(generated["image_size"]["default"])) == (
        synthetic.DEFAULT_TRAIN_IMAGES, synthetic.DEFAULT_VAL_IMAGES, synthetic.DEFAULT_CROPS,
        synthetic.DEFAULT_IMAGE_SIZE)
    report = schema["report"]["properties"]
    assert report["bootstrap_resamples"]["default"] == ViewSettings.resamples
    assert report["bootstrap_seed"]["default"] == ViewSettings.seed


def test_train_detector_config_of_the_studys_config_file_is_the_workflows_detector():
    """`safefakes train-detector --config config.yaml` trains the detector the workflow's jobs train."""
    from safefakes.detector.config import load_config

    block = yaml.safe_load((REPO / "config.yaml").read_text())["detector"]
    assert load_config(REPO / "config.yaml") == DetectorTraining.from_config(block, "detector").config()
