"""One image under several methods: the material of the study's side-by-side figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from safefakes.anonymizers.registry import build_anonymizer
from safefakes.data.images import read_image
from safefakes.data.seeding import image_seed
from safefakes.data.split import Split
from safefakes.errors import InputError


def choose_example_image(split_dir: str | Path, min_size: int = 24) -> str:
    """The image with the most faces at least ``min_size`` px (ties: the first by name)."""
    split = Split.load(split_dir)
    if not split.images:
        raise InputError(split_dir, "the split has no image")

    def score(im) -> tuple[int, str]:
        sides = np.minimum(im.boxes[:, 2], im.boxes[:, 3]) if len(im) else np.zeros(0)
        return -int((sides >= min_size).sum()), im.name

    return min(split.images, key=score).name


def anonymize_example(
    split_dir: str | Path,
    image_name: str,
    method: str,
    options: dict | None = None,
    keypoints: tuple[str, str | None] | None = None,
    seed: int = 0,
) -> np.ndarray:
    """``image_name`` of the split anonymized by ``method``, as the dataset engine would do it.

    keypoints: (provider name, weights) for methods that need them; None uses
    the split's keypoints.json when the method needs keypoints.
    """
    split = Split.load(split_dir)
    if image_name not in split:
        raise InputError(Path(split_dir) / "annotations.txt", f"no image {image_name!r}")
    anonymizer = build_anonymizer(method, **(options or {}))
    image = read_image(split.image_path(image_name))
    boxes = split[image_name].boxes
    points = None
    if anonymizer.needs_keypoints:
        if keypoints is not None:
            from safefakes.keypoints.provider import make_keypoint_provider

            name, weights = keypoints
            provider = make_keypoint_provider(name, split=split, weights=weights)
            points = provider(image, image_name, boxes)
        elif split.keypoints is not None:
            points = split.keypoints.get(image_name)
    rng = np.random.default_rng(image_seed(seed, image_name))
    return anonymizer.anonymize(image, boxes, points, rng).image
