"""The study's grid and the method registry: a method or a variant is on the grid, the CLI and the figures
from one entry."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO

from safefakes import study_grid
from safefakes.anonymizers import registry
from safefakes.anonymizers.base import AnonymizedImage, Anonymizer
from safefakes.anonymizers.registry import CONVENTIONAL, GAN, Method, build_anonymizer, method_entry
from safefakes.data.anonymized import Status
from safefakes.plots.style import label, ordered_methods
from safefakes.study_config import check_anonymizer_blocks

SCHEMA = REPO / "schemas" / "config.schema.yaml"


class Invert(Anonymizer):
    """A test double: each face box inverted."""

    name = "invert"
    uses_rng = False

    def __init__(self, strength: int = 255) -> None:
        self.strength = strength

    def anonymize(self, image, boxes, keypoints=None, rng=None) -> AnonymizedImage:
        out = image.copy()
        boxes = np.asarray(boxes, dtype=int).reshape(-1, 4)
        for x, y, w, h in boxes:
            out[y:y + h, x:x + w] = self.strength - out[y:y + h, x:x + w]
        return AnonymizedImage(out, [Status.ANONYMIZED] * len(boxes))


def _default_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_the_registry_entry_is_the_one_source_of_a_gan_s_module_keypoints_and_presets():
    from safefakes.anonymizers.gan import method_class
    from safefakes.anonymizers.gan.presets import presets

    for name in registry.methods_of_kind(GAN):
        entry = registry.METHODS[name]
        cls = method_class(name)
        assert cls.__module__ == entry.module
        assert cls.keypoint_layout == entry.keypoints
        assert set(presets(name)) >= {"mini", "paper"}
    assert study_grid.keypoint_layouts() == ["deepprivacy7", "dlib68"]


def test_a_variant_is_its_method_with_its_own_name_label_and_place():
    entry = method_entry("sun2018_blurred")
    assert entry.module == registry.METHODS["sun2018"].module and entry.kind == GAN
    assert label("sun2018_blurred") == "Sun2018 (blurred)"
    assert ordered_methods(["blur", "sun2018_blurred", "original", "sun2018", "other"]) == [
        "original", "sun2018", "sun2018_blurred", "blur", "other"]
    assert registry.method_kinds(["sun2018_blurred"])["sun2018_blurred"] == GAN
    assert not registry.is_method("sun2018blurred") and not registry.is_method("nothing_blurred")


def test_the_sun2018_variant_of_the_custom_preset_expands_beside_the_plain_method():
    config = _default_config()
    override = yaml.safe_load((REPO / "presets" / "sun2018-blurred.yaml").read_text())
    config["anonymizers"].update(override["anonymizers"])
    config["experiments"].update(override["experiments"])
    check_anonymizer_blocks(config, SCHEMA)
    points = study_grid.grid(config)
    variant = {p for p in points if p[0] == "sun2018_blurred"}
    plain = {p for p in points if p[0] == "sun2018"}
    assert variant == {("sun2018_blurred", 1500, 4000, 250, s) for s in (0, 1, 2)}
    assert {(f, a, d, s) for _, f, a, d, s in variant} <= {(f, a, d, s) for _, f, a, d, s in plain}
    assert "sun2018_blurred" in study_grid.gan_methods(config)
    # The variant trains Sun2018 with the blurred box: its block's model setting.
    from safefakes.anonymizers.gan.train import split_overrides

    train = dict(config["anonymizers"]["sun2018_blurred"]["train"])
    train.pop("preset")
    model, _ = split_overrides("sun2018_blurred", train)
    assert model == {"input": "blur"}


def test_an_unknown_variant_base_is_a_config_error_naming_the_block():
    config = _default_config()
    config["anonymizers"]["sunn2018_blurred"] = copy.deepcopy(config["anonymizers"]["sun2018"])
    with pytest.raises(ValueError, match=r"anonymizers\.sunn2018_blurred: unknown method"):
        check_anonymizer_blocks(config, SCHEMA)


def test_a_method_added_in_one_place_is_on_the_grid_the_cli_and_the_figures(monkeypatch):
    monkeypatch.setitem(registry.METHODS, "invert",
                        Method(f"{__name__}:Invert", CONVENTIONAL, "Inverted box"))
    # The grid: a config block and an experiment that names it.
    config = _default_config()
    config["anonymizers"]["invert"] = {"options": {"strength": 200}}
    config["experiments"]["methods"]["methods"].append("invert")
    check_anonymizer_blocks(config, SCHEMA)
    assert "invert" in study_grid.conventional_methods(config)
    assert {p for p in study_grid.grid(config) if p[0] == "invert"} == {("invert", 0, 0, 250, s) for s in (0, 1, 2)}
    # The CLI: a choice of --method, built with its options.
    from safefakes.commands import anonymize

    parser = argparse.ArgumentParser()
    anonymize.add_parser(parser.add_subparsers())
    args = parser.parse_args(["anonymize", "in", "out", "--method", "invert"])
    assert args.method == "invert"
    image = np.full((8, 8, 3), 10, np.uint8)
    assert build_anonymizer("invert", strength=200).anonymize(image, [[0, 0, 4, 4]]).image[0, 0, 0] == 190
    # The figures: its label, and its place in the registry's order (after the ones before it).
    assert label("invert") == "Inverted box"
    assert ordered_methods(["invert", "blackout", "original"]) == ["original", "blackout", "invert"]
    assert registry.method_kinds()["invert"] == CONVENTIONAL


def test_the_schema_s_keypoint_sources_are_the_providers():
    from safefakes.keypoints.provider import PROVIDERS

    schema = yaml.safe_load(Path(SCHEMA).read_text())
    assert schema["$defs"]["gan"]["properties"]["keypoints"]["enum"] == list(PROVIDERS)
