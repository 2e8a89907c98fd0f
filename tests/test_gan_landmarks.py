"""CIAGAN's landmark image and jaw mask, Sun2018's landmark maps, on hand-placed dlib-68 points.

The 68-point face template and the tiny splits come from ``builders``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from builders import face_keypoints, template_landmarks

from safefakes.anonymizers.gan import landmarks as lm


# --------------------------------------------------------------------------- #
# The template itself
# --------------------------------------------------------------------------- #
def test_flip_pairs_are_an_involution_that_mirrors_the_template():
    flat = [i for pair in lm.DLIB68_FLIP_PAIRS for i in pair]
    assert len(flat) == len(set(flat))  # each point in at most one pair
    t = template_landmarks()
    mirrored = np.stack([1 - t[:, 0], t[:, 1]], 1)
    for a, b in lm.DLIB68_FLIP_PAIRS:
        mirrored[[a, b]] = mirrored[[b, a]]
    np.testing.assert_allclose(mirrored, t, atol=1e-12)


# --------------------------------------------------------------------------- #
# CIAGAN landmark image
# --------------------------------------------------------------------------- #
def _kp(visible: bool = True) -> np.ndarray:
    t = template_landmarks()
    return np.concatenate([t, np.full((68, 1), float(visible))], 1)


def test_ciagan_segments_are_jaw_nose_bridge_and_closed_inner_mouth():
    segs = lm.ciagan_segments()
    assert len(segs) == 16 + 3 + 8
    assert (0, 1) in segs and (15, 16) in segs and (16, 17) not in segs
    assert (27, 28) in segs and (29, 30) in segs and (30, 31) not in segs
    assert (67, 60) in segs and (63, 64) in segs
    assert not any(i in range(36, 48) for s in segs for i in s)  # no eyes
    assert not any(i in range(17, 27) for s in segs for i in s)  # no brows


def test_landmark_image_draws_one_pixel_lines_on_the_chosen_parts_only():
    R = 64
    img = lm.ciagan_landmark_image(_kp(), R)
    assert img.shape == (R, R) and img.dtype == np.float32 and set(np.unique(img)) == {0.0, 1.0}
    # The nose bridge: x = 0.5 -> column 32, rows 24 (0.38) .. 37 (0.58), one pixel wide.
    assert img[24:38, 32].all()
    assert not img[24:38, 31].any() and not img[24:38, 33].any()
    # Every jaw and inner-mouth point lies on a line.
    for i in list(range(17)) + list(range(60, 68)):
        c, r = (np.floor(_kp()[i, :2] * R)).astype(int)
        assert img[min(r, R - 1), min(c, R - 1)] == 1, i
    # Eyes, brows and outer-lip corners are not drawn.
    for i in (17, 19, 26, 36, 39, 45, 48, 54):
        c, r = (np.floor(_kp()[i, :2] * R)).astype(int)
        assert img[r, c] == 0, i


def test_landmark_image_skips_segments_with_a_missing_end():
    kp = _kp()
    kp[28, 2] = 0  # nose bridge point 28 missing: segments 27-28 and 28-29 vanish, 29-30 stays
    img = lm.ciagan_landmark_image(kp, 64)
    assert not img[25:28, 32].any()  # between 27 (row 24) and 28 (row 28)
    assert img[34:38, 32].all()  # 29 (row 33) to 30 (row 37)
    assert not lm.ciagan_landmark_image(_kp(visible=False), 64).any()


# --------------------------------------------------------------------------- #
# CIAGAN mask
# --------------------------------------------------------------------------- #
def test_mask_is_the_jaw_closed_at_eyebrow_height():
    R = 100
    mask = lm.ciagan_mask(_kp(), R)
    assert mask.dtype == bool and mask.shape == (R, R)
    # Inside: the nose, the eyes and the band between the brow tops (y 0.27) and the jaw ends (y 0.45).
    for x, y in [(0.5, 0.5), (0.31, 0.4), (0.5, 0.3), (0.15, 0.35), (0.5, 0.9)]:
        assert mask[int(y * R), int(x * R)], (x, y)
    # Outside: the forehead above the brow tops, beside the jaw, below the chin, the corners.
    for x, y in [(0.5, 0.2), (0.05, 0.5), (0.95, 0.5), (0.5, 0.98), (0.12, 0.85), (0.88, 0.85)]:
        assert not mask[int(y * R), int(x * R)], (x, y)
    # Rows above brow height are empty; the widest row spans the jaw ends (0.1 .. 0.9).
    assert not mask[:26].any() and mask[27].any()
    cols = np.flatnonzero(mask.any(0))
    assert abs(cols[0] - 10) <= 1 and abs(cols[-1] - 90) <= 1  # floor() of 0.1 * R may give 9
    # Area: the rectangle from brow height to the jaw ends plus the half ellipse below.
    expected = (0.8 * (0.45 - 0.27) + np.pi * 0.4 * 0.5 / 2) * R * R
    assert abs(mask.sum() - expected) / expected < 0.04


def test_mask_polygon_vertices():
    poly = lm.ciagan_polygon(_kp())
    t = template_landmarks()
    assert poly.shape == (19, 2)
    np.testing.assert_allclose(poly[0], [t[0, 0], t[19, 1]])
    np.testing.assert_allclose(poly[1:18], t[:17])
    np.testing.assert_allclose(poly[18], [t[16, 0], t[24, 1]])


def test_mask_needs_its_points_and_dilation_grows_it_by_one_ring():
    kp = _kp()
    kp[19, 2] = 0
    assert not lm.has_mask_points(kp) and not lm.ciagan_mask(kp, 32).any()
    kp = _kp()
    kp[40, 2] = 0  # an eye point is not a mask point
    assert lm.has_mask_points(kp) and lm.ciagan_mask(kp, 32).any()
    base, grown = lm.ciagan_mask(_kp(), 32), lm.ciagan_mask(_kp(), 32, dilate=1)
    assert (grown >= base).all() and grown.sum() > base.sum()
    new = grown & ~base
    padded = np.pad(base, 1)
    neighbour = padded[:-2, 1:-1] | padded[2:, 1:-1] | padded[1:-1, :-2] | padded[1:-1, 2:]
    assert neighbour[new].all()  # every added pixel touches the original mask


def test_batched_inputs_match_the_single_face_functions():
    kps = torch.from_numpy(np.stack([_kp(), _kp(visible=False)])).float()
    lines, masks = lm.ciagan_inputs(kps, 32, dilate=1)
    assert lines.shape == masks.shape == (2, 1, 32, 32)
    np.testing.assert_array_equal(lines[0, 0].numpy(), lm.ciagan_landmark_image(kps[0].numpy(), 32))
    np.testing.assert_array_equal(masks[0, 0].numpy() > 0, lm.ciagan_mask(kps[0].numpy(), 32, 1))
    assert lines[1].sum() == 0 and masks[1].sum() == 0


# --------------------------------------------------------------------------- #
# Sun2018 landmark maps
# --------------------------------------------------------------------------- #
def test_heatmaps_are_discs_around_each_visible_point():
    kp = torch.tensor([[[0.5, 0.5, 1.0], [0.0, 0.0, 1.0], [0.3, 0.3, 0.0]]])
    maps = lm.landmark_heatmaps(kp, 32, radius=1.0)
    assert maps.shape == (1, 3, 32, 32)
    cross = {(16, 16), (15, 16), (17, 16), (16, 15), (16, 17)}
    assert {tuple(int(v) for v in rc) for rc in maps[0, 0].nonzero()} == cross
    assert {tuple(int(v) for v in rc) for rc in maps[0, 1].nonzero()} == {(0, 0), (1, 0), (0, 1)}  # clipped
    assert maps[0, 2].sum() == 0  # invisible: empty map
    # PG2's radius 4 at 128 px: the 49 lattice points within distance 4.
    big = lm.landmark_heatmaps(torch.tensor([[[0.5, 0.5, 1.0]]]), 128, lm.heatmap_radius(128))
    assert int(big.sum()) == 49
    assert lm.heatmap_radius(32) == 1.0 and lm.heatmap_radius(256) == 8.0


def test_template_keypoints_in_a_box():
    kp = face_keypoints((10, 20, 30, 40))
    assert kp.shape == (68, 3) and (kp[:, 2] == 1).all()
    assert kp[8, 0] == pytest.approx(25.0) and kp[8, 1] == pytest.approx(20 + 0.95 * 40)
