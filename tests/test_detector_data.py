"""DSFD training data: tiny splits made here, augmentation, the reproducible data order.

The tiny splits come from ``builders`` (shared with the other ``test_detector_*`` files).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from builders import make_face_split, plain_config

from safefakes.data.split import Split
from safefakes.data.wider_files import ImageFaces
from safefakes.detector.augment import augment, crop_resize
from safefakes.detector.config import DetectorConfig, mini_config
from safefakes.detector.data import FaceTrainingSet, training_boxes

torch.set_num_threads(1)


def test_plain_augment_only_resizes_the_boxes():
    img = np.zeros((64, 64, 3), np.uint8)
    boxes = np.array([[8, 4, 24, 20], [40, 40, 60, 62]], np.float64)
    out, b = augment(img, boxes, np.random.default_rng(0), plain_config())
    assert out.shape == (32, 32, 3) and out.dtype == np.float32
    np.testing.assert_allclose(b, boxes / 2, atol=1e-5)
    assert boxes[0, 0] == 8  # input untouched


def test_flip_mirrors_image_and_boxes():
    img = np.zeros((32, 32, 3), np.uint8)
    img[:, :8] = 255  # bright left band
    boxes = np.array([[2, 4, 10, 12]], np.float64)
    out, b = augment(img, boxes, np.random.default_rng(0), plain_config(flip=1.0))
    np.testing.assert_allclose(b, [[22, 4, 30, 12]], atol=1e-5)
    assert out[:, -4:].mean() > 250 and out[:, :20].mean() < 5


def test_small_faces_are_dropped_after_resizing():
    img = np.zeros((64, 64, 3), np.uint8)
    boxes = np.array([[0, 0, 5, 5], [20, 20, 40, 40]], np.float64)  # 2.5 px and 10 px after resizing
    _, b = augment(img, boxes, np.random.default_rng(0), plain_config(min_face_size=3.0))
    np.testing.assert_allclose(b, [[10, 10, 20, 20]], atol=1e-5)


def test_crop_keeps_faces_whose_centre_is_inside_and_clips_them():
    img = np.zeros((100, 100, 3), np.float32)
    boxes = np.array([[10, 10, 30, 30], [45, 45, 70, 70], [90, 90, 99, 99]], np.float64)
    out, b = crop_resize(img, boxes, 40.0, 40.0, 50.0, 25)  # square 40..90, half size
    assert out.shape == (25, 25, 3)
    np.testing.assert_allclose(b, [[2.5, 2.5, 15, 15]], atol=1e-5)


def test_full_augmentation_is_deterministic_and_keeps_boxes_inside():
    rng = np.random.default_rng(5)
    img = (rng.random((120, 90, 3)) * 255).astype(np.uint8)
    boxes = np.array([[10, 10, 40, 50], [50, 60, 58, 70], [5, 90, 25, 115]], np.float64)
    config = DetectorConfig.from_dict({"input_size": 64, "data_anchor_sampling": 0.5}, base=mini_config())
    for seed in range(20):
        a_img, a_boxes = augment(img, boxes, np.random.default_rng(seed), config)
        b_img, b_boxes = augment(img, boxes, np.random.default_rng(seed), config)
        assert np.array_equal(a_img, b_img) and np.array_equal(a_boxes, b_boxes)
        assert a_img.shape == (64, 64, 3)
        assert (a_boxes >= 0).all() and (a_boxes <= 64).all()
        assert ((a_boxes[:, 2:] - a_boxes[:, :2]) >= config.min_face_size).all()


def test_training_set_ignores_invalid_and_degenerate_boxes(tmp_path):
    root = make_face_split(tmp_path / "s", [[(4, 4, 20), (30, 30, 16)]], with_mat=False)
    split = Split.load(root)
    im = split.images[0]
    attrs = im.attributes.copy()
    attrs[1, 3] = 1  # invalid
    split.images[0] = ImageFaces(im.name, np.array([[4, 4, 20, 20], [30, 30, 16, 16], [50, 50, 0, 9]]),
                                 np.vstack([attrs, np.zeros((1, 6), np.int64)]))
    boxes = training_boxes(split)[im.name]
    np.testing.assert_array_equal(boxes, [[4, 4, 24, 24]])


def test_sample_order_is_a_function_of_the_sample_number(tmp_path):
    root = make_face_split(tmp_path / "s", [[(4, 4, 20)], [(10, 10, 30)], [(20, 2, 24)]], with_mat=False)
    config = plain_config(data_anchor_sampling=0.5, flip=0.5, photometric=True, min_crop=0.3)
    a, b = FaceTrainingSet(root, config), FaceTrainingSet(root, config)
    # Each epoch visits every image once.
    assert sorted(a.image_for_sample(k) for k in range(3)) == sorted(im.name for im in a.split.images)
    for k in (0, 4, 7):  # out of order, as a resumed run would ask
        ia, ba = a[k]
        ib, bb = b[k]
        assert torch.equal(ia, ib) and torch.equal(ba, bb)
        assert ia.shape == (3, 32, 32)


def test_empty_split_is_an_input_error(tmp_path):
    from safefakes.errors import InputError

    root = tmp_path / "empty"
    root.mkdir()
    (root / "annotations.txt").write_text("")
    with pytest.raises(InputError, match="no images"):
        FaceTrainingSet(root, plain_config())
