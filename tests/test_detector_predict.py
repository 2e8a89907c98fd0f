"""DSFD's multi-scale test as its reference code runs it: the scales, the size cap,
NMS within each scale, and box voting over their union."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from safefakes.detector import predict
from safefakes.detector.predict import ScaleStep, max_test_scale, multiscale_steps


def steps(height, width):
    return [(round(s.scale, 4), s.flip, s.keep) for s in multiscale_steps(height, width)]


def test_size_cap_is_the_references():
    # sqrt(2^31 / 200 / pixels), at most 3
    assert max_test_scale(768, 1024) == 3.0
    assert math.isclose(max_test_scale(3000, 4000), math.sqrt((2**31 - 1) / 200 / 12e6))
    assert math.isclose(max_test_scale(2000, 2000), 1.6384, rel_tol=1e-4)


def test_scales_of_a_typical_wider_image():
    # cap 3: base and flip; 0.5 and 0.75 for large faces; 2, 1.5, then 4 > 3 so the cap
    # itself, for small faces; the pyramid's 0.25 (large) and 1.25 / 1.75 / 2.25 (small).
    assert steps(768, 1024) == [(1.0, False, "all"), (1.0, True, "all"), (0.5, False, "large"),
                                (0.75, False, "large"), (2.0, False, "small"), (1.5, False, "small"),
                                (3.0, False, "small"), (0.25, False, "large"), (1.25, False, "small"),
                                (1.75, False, "small"), (2.25, False, "small")]


def test_scales_of_a_large_and_a_medium_image():
    cap = max_test_scale(3000, 4000)  # 0.946: shrunk base, no enlargement
    assert steps(3000, 4000) == [(round(cap, 4), False, "all"), (round(cap, 4), True, "all"),
                                 (0.5, False, "large"), (0.75, False, "large"),
                                 (round((0.5 + cap) / 2, 4), False, "large"), (0.25, False, "large")]
    cap = max_test_scale(2000, 2000)  # 1.64: up to the cap, 1.5 and 1.25 within it
    assert steps(2000, 2000) == [(1.0, False, "all"), (1.0, True, "all"), (0.5, False, "large"),
                                 (0.75, False, "large"), (round(cap, 4), False, "small"), (1.5, False, "small"),
                                 (0.25, False, "large"), (1.25, False, "small")]
    assert all(isinstance(s, ScaleStep) for s in multiscale_steps(10, 10))


WIDTH, HEIGHT = 200, 120
FACE_A = (75.0, 10.0, 124.0, 59.0)  # 50 px, centred: seen at every scale (and mirrored onto itself)
FACE_B = [(20.0, 60.0, 69.0, 109.0, 0.9), (22.0, 60.0, 71.0, 109.0, 0.8)]  # a duplicate pair, base scale only


@pytest.fixture
def fake_network(monkeypatch):
    """raw_detections replaced by a network that sees face A at every scale, B (twice) at the base scale."""
    seen = []

    def raw(detector, images, score_threshold):
        scale = images.shape[-1] / WIDTH
        seen.append(round(scale, 3))
        boxes = [(*FACE_A, 0.6 + 0.01 * len(seen))]
        if images.shape[-1] == WIDTH:
            boxes += FACE_B
        dets = torch.tensor(boxes, dtype=torch.float32)
        dets[:, :4] *= scale
        return [dets[dets[:, 4] >= score_threshold]]

    monkeypatch.setattr(predict, "raw_detections", raw)
    return seen


def test_multiscale_merges_per_scale_nms_results_by_voting(fake_network):
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    dets = predict.detect_multiscale(None, image)
    assert len(fake_network) == len(multiscale_steps(HEIGHT, WIDTH))
    # Face B: NMS within the base scale (and within its flip) leaves one box each, which no
    # other scale supports, so voting drops both. Without per-scale NMS the pair would
    # support each other and survive.
    assert dets.shape == (1, 5)
    x, y, w, h, score = dets[0]
    # Written as the reference writes it: corners floored, inclusive sizes rounded up
    # (face A spans pixels 75..124 and 10..59; the flip shifts it by one pixel, float
    # rounding in the mean may put a corner just below the integer).
    assert all(float(v).is_integer() for v in (x, y, w, h))
    assert 74 <= x <= 76 and 9 <= y <= 10 and 50 <= w <= 52 and 50 <= h <= 51
    # The vote keeps the best score among the scales that kept face A (it is 50 px: the
    # "large" scales and the "small" ones all keep it).
    assert score == pytest.approx(0.6 + 0.01 * len(fake_network))


def test_multiscale_without_flip_skips_the_flipped_base(fake_network):
    predict.detect_multiscale(None, np.zeros((HEIGHT, WIDTH, 3), np.uint8), flip=False)
    assert len(fake_network) == len(multiscale_steps(HEIGHT, WIDTH)) - 1


# --------------------------------------------------------------------------- #
# The prediction folder: never inside the split, never through a link, never half-written
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def split_and_checkpoint(tmp_path_factory):
    from builders import make_face_split, plain_config

    from safefakes.detector.train import train_detector

    root = tmp_path_factory.mktemp("detect")
    split = make_face_split(root / "val", [[(4, 6, 20)], [(28, 4, 16)], [(8, 18, 28)]], size=48)
    config = plain_config(input_size=48, batch_size=2, checkpoint_every=100)
    return split, train_detector(split, root / "run", config, iterations=1, progress=False)


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_a_link_inside_the_prediction_folder_is_refused(split_and_checkpoint, tmp_path):
    from safefakes.errors import SafeFakesError

    split, ckpt = split_and_checkpoint
    outside = tmp_path / "outside"
    outside.mkdir()
    pred = tmp_path / "pred"
    pred.mkdir()
    (pred / "0--Test").symlink_to(outside, target_is_directory=True)
    with pytest.raises(SafeFakesError, match="symbolic link inside the output folder"):
        predict.detect_split(ckpt, split, pred)
    assert _files(outside) == [] and (pred / "0--Test").is_symlink()


@pytest.mark.parametrize("where", ["inside", "same", "above"])
def test_a_prediction_folder_overlapping_the_split_is_refused(split_and_checkpoint, where):
    from safefakes.cli import main

    split, ckpt = split_and_checkpoint
    pred = {"inside": split / "preds", "same": split, "above": split.parent}[where]
    before = _files(split)
    assert main(["detect", str(ckpt), str(split), str(pred), "--quiet"]) == 2
    assert _files(split) == before


def test_a_crashed_detect_leaves_no_prediction_folder_and_a_rerun_finishes(split_and_checkpoint, tmp_path,
                                                                          monkeypatch):
    from safefakes.errors import SafeFakesError

    split, ckpt = split_and_checkpoint
    pred = tmp_path / "pred"
    real, calls = predict.detect_images, {"n": 0}

    def crash_on_the_second_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise MemoryError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(predict, "detect_images", crash_on_the_second_batch)
    with pytest.raises(MemoryError):
        predict.detect_split(ckpt, split, pred, batch_size=1)
    assert not pred.exists()  # nothing the evaluation could take for a result
    monkeypatch.setattr(predict, "detect_images", real)
    summary = predict.detect_split(ckpt, split, pred, batch_size=1)
    assert summary["images"] == 3
    assert _files(pred) == ["0--Test", "0--Test/img_00.txt", "0--Test/img_01.txt", "0--Test/img_02.txt",
                            "detect_info.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["pred"]  # the crashed run's folder is cleared
    # A finished folder is replaced by a rerun; a folder of other files is refused.
    (pred / "0--Test/stale.txt").write_text("from an earlier run")
    predict.detect_split(ckpt, split, pred)
    assert not (pred / "0--Test/stale.txt").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(SafeFakesError, match="holds no detect_info.json"):
        predict.detect_split(ckpt, split, other)
    assert _files(other) == ["notes.txt"]


def test_two_images_sharing_a_stem_stop_detect_before_anything_is_written(split_and_checkpoint, tmp_path):
    import shutil

    from safefakes.cli import main

    split, ckpt = split_and_checkpoint
    dup = tmp_path / "dup"
    shutil.copytree(split, dup)
    shutil.copyfile(dup / "images/0--Test/img_00.jpg", dup / "images/0--Test/img_00.png")
    text = (dup / "annotations.txt").read_text()
    (dup / "annotations.txt").write_text(text + "0--Test/img_00.png\n1\n4 6 20 20 0 0 0 0 0 0\n")
    assert main(["detect", str(ckpt), str(dup), str(tmp_path / "pred"), "--quiet"]) == 2
    assert not (tmp_path / "pred").exists()
