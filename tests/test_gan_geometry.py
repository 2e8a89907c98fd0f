"""Crop/paste geometry of the GAN anonymizers and the keypoint maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from safefakes.anonymizers.gan.blocks import keypoint_maps, resolutions
from safefakes.anonymizers.gan.geometry import box_mask, crop_face, paste_face, paste_order, square_box

torch.set_num_threads(1)


def noise(h, w, seed=0):
    return np.random.default_rng(seed).integers(1, 256, (h, w, 3), dtype=np.uint8)


def test_square_box_expands_by_035_of_the_larger_side_and_centres():
    # 20 x 10 box: side = ceil(20 * 1.7) = 34, centre (50, 55)
    assert square_box(np.array([40, 50, 20, 10]), 200, 200) == (33, 38, 34)


def test_square_box_is_shifted_inside_the_image_when_it_fits():
    assert square_box(np.array([0, 0, 20, 20]), 100, 100) == (0, 0, 34)
    assert square_box(np.array([90, 90, 10, 10]), 100, 100) == (83, 83, 17)
    # larger than the image: stays centred (the crop is zero-padded)
    x0, y0, side = square_box(np.array([0, 0, 30, 30]), 40, 40)
    assert side == 51 and (x0, y0) == (-11, -11)


def test_crop_blacks_out_the_box_and_masks_it():
    img = noise(120, 160)
    crop = crop_face(img, np.array([60, 40, 30, 30]), 32)
    assert crop.image.shape == (32, 32, 3) and crop.mask.shape == (32, 32)
    assert crop.box == (60, 40, 90, 70)
    assert (crop.image[~crop.mask] == 0).all()
    # 30 px box in a 51 px square -> about 19 of 32 px masked per side
    rows = np.flatnonzero(~crop.mask.all(axis=1))
    assert 18 <= len(rows) <= 21
    # outside the mask the real pixels are kept (noise is never 0 everywhere)
    assert crop.image[crop.mask].mean() > 50
    assert input_unchanged(img)


def input_unchanged(img):
    return np.array_equal(img, noise(*img.shape[:2]))


def test_crop_never_depends_on_the_pixels_inside_the_box():
    img = noise(100, 100)
    other = img.copy()
    other[30:57, 41:70] = 255 - other[30:57, 41:70]  # box x 41..70, y 30..57
    box = np.array([41, 30, 29, 27])
    a, b = crop_face(img, box, 16), crop_face(other, box, 16)
    assert np.array_equal(a.image, b.image)
    # nor on other hidden faces
    c = crop_face(img, box, 16, hide=[(0, 0, 10, 10)])
    img2 = img.copy()
    img2[0:10, 0:10] = 0
    assert np.array_equal(c.image, crop_face(img2, box, 16).image)


def test_pasted_face_lands_in_its_box_and_nowhere_else():
    for box in ([20, 30, 25, 18], [-5, 70, 20, 40], [90, -3, 15, 15]):
        img = np.zeros((100, 110, 3), np.uint8)
        crop = crop_face(img, np.array(box), 16)
        generated = np.full((16, 16, 3), 200, np.uint8)
        paste_face(img, generated, crop)
        x, y, w, h = box
        expected = np.zeros((100, 110), bool)
        expected[max(y, 0):min(y + h, 100), max(x, 0):min(x + w, 110)] = True
        assert np.array_equal(img[..., 0] == 200, expected), box


def test_pasted_content_is_the_generated_box_region():
    # A generated square with a left/right split: the box's left half must get the left colour.
    img = np.zeros((200, 200, 3), np.uint8)
    crop = crop_face(img, np.array([80, 80, 40, 40]), 64)
    gen = np.zeros((64, 64, 3), np.uint8)
    gen[:, :32] = 50
    gen[:, 32:] = 150
    paste_face(img, gen, crop)
    assert (img[85:115, 82:98, 0] == 50).all() and (img[85:115, 102:118, 0] == 150).all()


def test_keypoints_are_mapped_into_the_crop():
    img = noise(100, 100)
    kp = np.array([[50.0, 50.0, 1], [0.0, 0.0, 1], [55.0, 45.0, 0]])
    crop = crop_face(img, np.array([40, 40, 20, 20]), 32, kp)
    x0, y0, side = crop.square
    assert crop.keypoints[0, 2] == 1 and crop.keypoints[0, :2] == pytest.approx([(50 - x0) / side, (50 - y0) / side])
    assert crop.keypoints[1, 2] == 0  # outside the square
    assert crop.keypoints[2, 2] == 0  # not visible


def test_box_mask_rounds_outwards():
    mask = box_mask((10, 10, 20, 20), (0, 0, 40), 16)  # 10..20 of 40 -> 4..8 of 16
    assert (~mask).sum() == 16 and not mask[4:8, 4:8].any()


def test_paste_order_puts_the_largest_last():
    boxes = np.array([[0, 0, 30, 30], [0, 0, 5, 5], [0, 0, 10, 40]])
    assert paste_order(boxes).tolist() == [1, 2, 0]  # areas 900, 25, 400


def test_keypoint_maps_are_one_hot_at_every_resolution():
    kp = torch.tensor([[[0.5, 0.25, 1.0], [0.9, 0.9, 0.0]]])
    for r in (4, 8, 32):
        maps = keypoint_maps(kp, r)
        assert maps.shape == (1, 2, r, r)
        assert maps[0, 0].sum() == 1 and maps[0, 0, r // 4, r // 2] == 1
        assert maps[0, 1].sum() == 0
    assert resolutions(32) == [4, 8, 16, 32]
    with pytest.raises(ValueError):
        resolutions(48)
