"""The side-by-side example: picking the image and anonymizing it as the engine does."""

from __future__ import annotations

import numpy as np
from PIL import Image

from safefakes.data.images import write_image
from safefakes.data.split import Split
from safefakes.data.wider_files import ImageFaces
from safefakes.engine.examples import anonymize_example, choose_example_image
from safefakes.plots.examples import plot_image_panels


def _split(root):
    img = np.full((80, 120, 3), 150, np.uint8)
    images = [
        ImageFaces("0--A/few.jpg", [[5, 5, 30, 30]]),
        ImageFaces("0--A/many.jpg", [[5, 5, 30, 30], [50, 10, 40, 40], [100, 60, 8, 8]]),
        ImageFaces("0--A/tiny.jpg", [[5, 5, 10, 10], [20, 20, 12, 12], [40, 40, 9, 9]]),
    ]
    for im in images:
        write_image(root / "images" / im.name, img, quality=100)
    split = Split(root, images)
    split.save_metadata()
    return split


def test_choose_the_image_with_most_large_faces(tmp_path):
    _split(tmp_path)
    # 'tiny' has as many faces as 'many', but none of at least 24 px.
    assert choose_example_image(tmp_path) == "0--A/many.jpg"


def test_anonymize_example_matches_the_method(tmp_path, ):
    _split(tmp_path)
    out = anonymize_example(tmp_path, "0--A/many.jpg", "blackout")
    assert out.shape == (80, 120, 3)
    assert out[10:40, 50:90].max() == 0  # the 40 px face is black
    assert out[70:80, 0:40].min() > 100  # the background is not
    panels = {"original": np.full((80, 120, 3), 150, np.uint8), "blackout": out}
    written = plot_image_panels(panels, tmp_path / "fig", title="0--A/many.jpg")
    assert sorted(p.suffix for p in written) == [".pdf", ".png"]
    with Image.open(tmp_path / "fig.png") as im:
        assert im.size[0] > im.size[1]  # two panels side by side
