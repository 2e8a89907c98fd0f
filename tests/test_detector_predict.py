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
