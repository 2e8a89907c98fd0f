"""The study's grid from its config: which methods, anonymized splits and detector runs it holds.

The workflow (``rules/common.smk``) expands its rules over these points; they
are computed here, from the config and the method registry, so that the grid
is tested without Snakemake and a method added to the registry (or a variant
``<method>_<variant>`` added to the config) is on it with nothing else to
change.

A point is ``(anonymizer, faces, anon_iters, det_iters, seed)``: a GAN's
training-set size and length, or 0, 0 for a method that is not trained.
"""

from __future__ import annotations

from itertools import product
from typing import Mapping

from safefakes.anonymizers.registry import CONVENTIONAL, GAN, METHODS, method_entry


def study_methods(config: Mapping, kind: str) -> list[str]:
    """The methods of ``kind`` the config can run: the registry's, then the config's variants of them."""
    variants = [name for name in config.get("anonymizers", {}) if name not in METHODS]
    return [name for name, m in METHODS.items() if m.kind == kind] + [
        name for name in variants if method_entry(name).kind == kind
    ]


def gan_methods(config: Mapping) -> list[str]:
    return study_methods(config, GAN)


def conventional_methods(config: Mapping) -> list[str]:
    return study_methods(config, CONVENTIONAL)


def externals(config: Mapping) -> list[str]:
    """Splits anonymized by other tools, named in the config (``external_splits``)."""
    return list(config.get("external_splits", {}) or {})


def method_config(config: Mapping, method: str) -> dict:
    blocks = config["anonymizers"]
    if method not in blocks:
        raise ValueError(
            f"config: anonymizers.{method} is missing, but an experiment uses it; "
            f"add a block for it (see config.yaml)"
        )
    return blocks[method]


def method_defaults(config: Mapping, method: str) -> tuple[int, int]:
    """(faces, anon_iters) of a method's default model; other methods have none (0, 0)."""
    if method in gan_methods(config):
        block = method_config(config, method)
        return block["faces"], block["anon_iters"]
    if method not in externals(config):
        method_config(config, method)
    return 0, 0


def crop_set(config: Mapping, faces: int) -> dict:
    """The crop_sets entry with ``faces`` faces."""
    for entry in config["crop_sets"]:
        if entry["faces"] == int(faces):
            return entry
    sizes = ", ".join(str(e["faces"]) for e in config["crop_sets"])
    raise ValueError(
        f"config: no crop_sets entry with faces: {faces} (have {sizes}); "
        f"add one or change the experiment/anonymizer that asks for it"
    )


def grid(config: Mapping) -> list[tuple[str, int, int, int, int]]:
    """Every (anonymizer, faces, anon_iters, det_iters, seed) that some experiment asks for.

    An experiment's `seeds` are replicate detector trainings of each of its
    grid points (the detector's seed; the anonymized split is the same).
    """
    gans = set(gan_methods(config))
    points = set()
    for exp in config["experiments"].values():
        for method in exp["methods"]:
            faces0, iters0 = method_defaults(config, method)
            if method in gans:
                faces = exp.get("faces", [faces0])
                iters = exp.get("anon_iters", [iters0])
                for f in faces:
                    crop_set(config, f)
            else:
                faces, iters = [0], [0]
            for f, a, d, s in product(faces, iters, exp["det_iters"], exp.get("seeds", [0])):
                points.add((method, int(f), int(a), int(d), int(s)))
    return sorted(points)


def keypoint_layouts() -> list[str]:
    """The keypoint layouts the registry's GANs paint with (one imported crop set each)."""
    return sorted({m.keypoints for m in METHODS.values() if m.keypoints})
