"""Real photographs with faces that installed packages ship (offline): the tests' ground truth.

skimage ships ``astronaut`` (Eileen Collins, colour) and ``camera`` (the
cameraman, grayscale, a three-quarter face); matplotlib ships Grace Hopper's
portrait. The other skimage and matplotlib sample images show no face
(coffee, chelsea the cat, rocket, ...), and ``lfw_subset`` holds 25 x 25 px
crops, too small for dlib's detector.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SAMPLE_PHOTOS = ("astronaut", "camera", "grace_hopper")


def grace_hopper_path() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def sample_photo(name: str) -> np.ndarray:
    """One of ``SAMPLE_PHOTOS`` as RGB uint8; skips the test when its package lacks it."""
    if name == "grace_hopper":
        path = grace_hopper_path()
        if not path.exists():
            pytest.skip(f"matplotlib's sample data is not installed ({path})")
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    data = pytest.importorskip("skimage.data")
    image = getattr(data, name)()
    return np.ascontiguousarray(np.stack([image] * 3, axis=-1) if image.ndim == 2 else image)
