"""The audit's survival measure on the cases that once misjudged it (issue 28)."""

from __future__ import annotations

import numpy as np

from safefakes.anonymizers.registry import build_anonymizer
from safefakes.data.images import decode_image, encode_image, read_image
from safefakes.data.split import Split
from safefakes.data.wider import ImageFaces
from safefakes.engine.audit import audit_split
from safefakes.engine.split import anonymize_split
from safefakes.engine.survival import survival


def _synthetic_scene(root, split: str, index: int, seed: int, train_images: int, val_images: int):
    """One image of ``safefakes synth --seed SEED``, rendered alone as a split of its own."""
    from safefakes.data.synthetic import EVENTS, _render_task, _scene_name, population_size

    name = _scene_name(split, index)
    _, records = _render_task(("scene", str(root), split, name, seed,
                               ((192, 192), population_size(train_images, val_images), index % len(EVENTS))))
    boxes = np.array([r.box for r in records], dtype=np.int64)
    Split(root, [ImageFaces(name, boxes)]).save_metadata()
    return name, boxes


def test_pixelation_beside_a_flat_occluder_is_not_a_kept_face(tmp_path):
    """`safefakes synth --seed 3 --train-images 12 --val-images 12`, val image 8: face 0's
    27 x 37 px box runs into a flat occluder, whose straight edge was most of the box's detail.
    Pixelated (2 x 2 cells) it is four flat cells, one boundary 2 px from that edge: survival
    was 0.75 (a failed audit). The face's own detail is gone; a copy of it is still caught."""
    orig, anon = tmp_path / "orig", tmp_path / "anon"
    name, boxes = _synthetic_scene(orig, "val", 8, seed=3, train_images=12, val_images=12)
    assert name == "2--Party/2_Party_val_00008.jpg" and boxes[0].tolist() == [151, 136, 27, 37]
    anonymize_split(orig, anon, build_anonymizer("pixelate", region="box", mask_scale=1.0), workers=1,
                    progress=False)
    report = audit_split(orig, anon)
    assert report.passed and report.n_survival_checked >= 1, report.format()
    original = read_image(orig / "images" / name)
    output = read_image(anon / "images" / name)
    box = (151, 136, 178, 173)
    assert survival(original, output, box) < 0.3
    for quality in (50, 70, 95):
        kept = output.copy()
        kept[136:173, 151:178] = original[136:173, 151:178]
        assert survival(original, decode_image(encode_image(kept, ".jpg", quality, "4:2:0")), box) > 0.75, quality

