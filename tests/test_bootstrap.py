"""The paired bootstrap over validation images (safefakes.evaluation.bootstrap)."""

from __future__ import annotations

import numpy as np
import pytest
from test_widerface_eval import random_gt_and_preds

from safefakes.data.wider import SUBSETS, GroundTruth, GroundTruthImage
from safefakes.evaluation.bootstrap import (
    RunResampler,
    average_precision_rows,
    paired_difference,
    resample_weights,
)
from safefakes.evaluation.widerface import average_precision, evaluate

FACE = [20.0, 20.0, 40.0, 40.0]  # x y w h
FAR = [150.0, 150.0, 30.0, 30.0]  # a false positive, nowhere near the face


def two_image_case():
    """Images a and b with one face each. 'good' finds both faces, 'weak' only b's.

    Every image also holds one false positive scored below every true one, so
    AP = recall: 1 for good on any resample; for weak 0 on {a, a}, 1/2 on {a, b},
    1 on {b, b}. weak - good is then -1, -1/2 or 0 with probabilities 1/4, 1/2,
    1/4: the 95 % percentile interval is [-1, 0], the full-set difference -1/2.
    """
    images = [GroundTruthImage("0--E", stem, np.array([FACE]), {s: np.array([0]) for s in SUBSETS})
              for stem in ("a", "b")]
    gt = GroundTruth(["0--E"], images)
    good = {"0--E/a": np.array([FACE + [0.9], FAR + [0.1]]), "0--E/b": np.array([FACE + [0.9], FAR + [0.1]])}
    weak = {"0--E/a": np.array([FAR + [0.1]]), "0--E/b": np.array([FACE + [0.9], FAR + [0.1]])}
    return gt, good, weak


def test_hand_computed_interval():
    gt, good, weak = two_image_case()
    rng = np.random.default_rng(0)
    weights = resample_weights(2, 4000, rng)
    good_maps = RunResampler(gt, good).map_samples(weights)
    weak_maps = RunResampler(gt, weak).map_samples(weights)
    assert np.all(good_maps == 1.0)
    # Each resample's value follows from how often image a was drawn.
    drawn_a = weights[:, 0]
    expected = np.select([drawn_a == 2, drawn_a == 1, drawn_a == 0], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(weak_maps, expected)
    assert np.mean(drawn_a == 2) == pytest.approx(0.25, abs=0.03)

    full = np.ones((1, 2), dtype=np.int64)
    diff = paired_difference([weak_maps], [good_maps],
                             [RunResampler(gt, weak).map_samples(full)[0]],
                             [RunResampler(gt, good).map_samples(full)[0]], rng)
    assert diff.difference == pytest.approx(-0.5)
    assert (diff.low, diff.high) == (-1.0, 0.0)
    assert not diff.excludes_zero
    assert diff.n_resamples == 4000


def test_a_resample_is_the_official_evaluation_of_the_drawn_images():
    gt, preds = random_gt_and_preds(3, n_images=10)
    resampler = RunResampler(gt, preds)
    weights = resample_weights(len(gt.images), 5, np.random.default_rng(1))
    aps = resampler.subset_aps(weights)
    for row, w in zip(aps, weights):
        # The drawn multiset as a ground truth of its own: copies get their own names.
        images, drawn = [], {}
        for im, count in zip(gt.images, w):
            for k in range(count):
                copy = GroundTruthImage(im.event, f"{im.stem}~{k}", im.boxes, im.kept)
                images.append(copy)
                if im.key in preds:
                    drawn[copy.key] = preds[im.key]
        reference = evaluate(GroundTruth(gt.events, images), drawn).aps
        np.testing.assert_allclose(row, [reference[s] for s in SUBSETS], rtol=1e-12, atol=1e-12)
    # Every image once: the plain evaluation.
    full = resampler.subset_aps(np.ones(len(gt.images), dtype=np.int64))[0]
    np.testing.assert_allclose(full, [evaluate(gt, preds).aps[s] for s in SUBSETS], rtol=1e-12)


def test_row_ap_equals_the_reference_ap():
    rng = np.random.default_rng(5)
    recall = np.sort(rng.random((6, 40)), axis=1)
    precision = rng.random((6, 40))
    precision[:, :3] = np.nan  # no proposal yet
    expected = [average_precision(r, p) for r, p in zip(recall, precision)]
    np.testing.assert_allclose(average_precision_rows(recall, precision), expected, rtol=1e-12)


def test_weights_draw_every_image_count_times():
    weights = resample_weights(7, 300, np.random.default_rng(2))
    assert weights.shape == (300, 7)
    assert np.all(weights.sum(axis=1) == 7)
    # Each image is drawn once per resample on average.
    assert weights.mean() == pytest.approx(1.0, abs=0.1)


def test_seeds_are_resampled_too():
    # Two methods, identical on every image draw, but one seed of the method is 0.2 lower:
    # the interval must widen to cover the seed spread, not collapse to a point.
    rng = np.random.default_rng(0)
    base = np.full(2000, 0.5)
    diff = paired_difference([base, base - 0.2], [base], [0.5, 0.3], [0.5], rng)
    assert diff.difference == pytest.approx(-0.1)
    assert diff.low == pytest.approx(-0.2) and diff.high == pytest.approx(0.0)
    assert diff.n_seeds == 2 and diff.n_reference_seeds == 1
