"""The interval of a method's mAP minus the original's (safefakes.evaluation.bootstrap): the paired
bootstrap over validation images, Welch's t over seeds, and the interval's coverage in simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from test_widerface_eval import random_gt_and_preds

from safefakes.data.wider_files import SUBSETS, GroundTruth, GroundTruthImage
from safefakes.evaluation.bootstrap import (
    RunResampler,
    average_precision_rows,
    paired_difference,
    resample_weights,
    welch_interval,
)
from safefakes.evaluation.wider_ap import average_precision, evaluate

FACE = [20.0, 20.0, 40.0, 40.0]  # x y w h
FAR = [150.0, 150.0, 30.0, 30.0]  # a false positive, nowhere near the face


def two_image_case():
    """Images a and b with one face each. 'good' finds both faces, 'weak' only b's.

    Every image also holds one false positive scored below every true one, so
    AP = recall: 1 for good on any resample; for weak 0 on {a, a}, 1/2 on {a, b},
    1 on {b, b}. weak - good is then -1, -1/2 or 0 with probabilities 1/4, 1/2,
    1/4: variance 1/8 over the images, the full-set difference -1/2.
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
    weak_full = RunResampler(gt, weak).map_samples(full)[0]
    good_full = RunResampler(gt, good).map_samples(full)[0]
    # One seed a side: the difference, its image part, and no interval, no verdict.
    diff = paired_difference([weak_maps], [good_maps], [weak_full], [good_full])
    assert diff.difference == pytest.approx(-0.5)
    assert diff.se_images == pytest.approx(math.sqrt(1 / 8), rel=0.05)
    assert math.isnan(diff.low) and math.isnan(diff.high) and math.isnan(diff.df)
    assert not diff.has_interval and not diff.excludes_zero
    assert diff.n_resamples == 4000 and diff.n_seeds == diff.n_reference_seeds == 1
    # Two identical seeds a side: no seed spread, the image part alone, with the normal quantile.
    diff = paired_difference([weak_maps] * 2, [good_maps] * 2, [weak_full] * 2, [good_full] * 2)
    half = 1.959964 * diff.se_images
    assert diff.df == math.inf and diff.se_seeds == 0.0
    assert (diff.low, diff.high) == (pytest.approx(-0.5 - half), pytest.approx(-0.5 + half))
    assert diff.has_interval and not diff.excludes_zero


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


def test_seed_spread_widens_the_interval_by_hand():
    # No image noise (every resample the same): Welch's t over the seeds. The method's seeds
    # 0.5, 0.3, 0.4 (sd 0.1) against three equal reference seeds: df 2, half width
    # t(0.975, 2) 0.1 / sqrt(3) = 4.302653 * 0.057735 = 0.248414.
    flat = np.full(500, 0.6)
    diff = paired_difference([flat - 0.1, flat - 0.3, flat - 0.2], [flat] * 3, [0.5, 0.3, 0.4], [0.6] * 3)
    assert diff.difference == pytest.approx(-0.2)
    assert diff.df == pytest.approx(2.0) and diff.se_images == 0.0
    assert diff.low == pytest.approx(-0.448414, abs=1e-6) and diff.high == pytest.approx(0.048414, abs=1e-6)
    assert not diff.excludes_zero
    assert diff.n_seeds == diff.n_reference_seeds == 3


@pytest.mark.parametrize("method", [[0.791, 0.630, 0.720], [0.529, 0.129, 0.439]], ids=["pixelate", "fullblur"])
def test_measured_seeds_without_image_noise_are_welch(method):
    # The study's seeds that the earlier seed bootstrap called findings ([-0.264, -0.072] and
    # [-0.734, -0.327]): Welch's interval, scipy's, includes 0.
    original = [0.884, 0.870, 0.888]
    diff, low, high, df, _ = welch_interval(method, original, 0.0)
    welch = stats.ttest_ind(method, original, equal_var=False).confidence_interval(0.95)
    assert (low, high) == (pytest.approx(welch.low), pytest.approx(welch.high))
    assert low < 0 < high
    # Image noise adds to the standard error, and, known, to the degrees of freedom (with df near 2
    # the smaller t quantile can even outweigh it: a known part makes the sum more nearly normal).
    _, low2, high2, df2, _ = welch_interval(method, original, 0.01 ** 2)
    t, t2 = stats.t.ppf(0.975, df), stats.t.ppf(0.975, df2)
    assert df2 > df and (high2 - low2) / t2 > (high - low) / t
    assert (high2 - low2) / t2 / 2 == pytest.approx(math.sqrt(((high - low) / t / 2) ** 2 + 0.01 ** 2))


def test_fewer_than_two_seeds_a_side_give_no_interval():
    for method, reference in (([0.5], [0.6]), ([0.5, 0.4, 0.45], [0.6]), ([0.5], [0.6, 0.62])):
        diff, low, high, df, se = welch_interval(method, reference, 0.001)
        assert diff == pytest.approx(np.mean(method) - np.mean(reference))
        assert all(np.isnan(v) for v in (low, high, df, se))
    d = paired_difference([np.full(10, 0.5)] * 3, [np.full(10, 0.6)], [0.5, 0.4, 0.45], [0.6])
    assert d.difference == pytest.approx(-0.15) and not d.has_interval and not d.excludes_zero


def simulated_experiments(rng: np.random.Generator, n_experiments: int, delta: float, seed_sd: tuple[float, float],
                          image_sd: float, shared_sd: float, interaction_sd: float, n_seeds: int = 3,
                          n_images: int = 60, n_resamples: int = 400, block: int = 100):
    """Experiments with a known difference ``delta``: per seed and image, a score whose mean over images is mAP.

    Each image has a difficulty shared by both arms (``shared_sd``) and one of
    its own in each arm (``image_sd``); each seed an offset (``seed_sd``, per arm)
    and a seed x image part (``interaction_sd``). Yields (full-set mAPs (2, seeds),
    resampled mAPs (2, seeds, R)) per experiment; a block of experiments shares
    one draw of the images (the bootstrap's), independent of the data.
    """
    for start in range(0, n_experiments, block):
        n = min(block, n_experiments - start)
        weights = resample_weights(n_images, n_resamples, rng) / n_images
        level = np.array([0.6 + delta, 0.6]).reshape(1, 2, 1, 1)
        scores = (level + rng.normal(0, shared_sd, (n, 1, 1, n_images))
                  + rng.normal(0, image_sd, (n, 2, 1, n_images))
                  + rng.normal(0, 1, (n, 2, n_seeds, 1)) * np.reshape(seed_sd, (1, 2, 1, 1))
                  + rng.normal(0, interaction_sd, (n, 2, n_seeds, n_images)))
        full, resampled = scores.mean(axis=-1), scores @ weights.T
        yield from zip(full, resampled)


SCENARIOS = {
    # Full-image blur against the original: one arm's seeds spread 15 times the other's.
    "seeds-unequal": dict(delta=-0.2, seed_sd=(0.15, 0.01), image_sd=0.05, shared_sd=0.2, interaction_sd=0.05),
    "seeds-equal": dict(delta=0.0, seed_sd=(0.1, 0.1), image_sd=0.1, shared_sd=0.2, interaction_sd=0.1),
    "images-dominate": dict(delta=-0.05, seed_sd=(0.003, 0.003), image_sd=0.25, shared_sd=0.2, interaction_sd=0.02),
    "balanced": dict(delta=-0.1, seed_sd=(0.03, 0.03), image_sd=0.2, shared_sd=0.2, interaction_sd=0.05),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_interval_covers_a_known_difference_in_95_percent_of_experiments(scenario):
    # 2,000 simulated studies of 3 vs 3 seeds on 60 validation images each: binomial sd 0.5 %.
    params = SCENARIOS[scenario]
    rng = np.random.default_rng(sum(map(ord, scenario)))
    covered = []
    for full, resampled in simulated_experiments(rng, 2000, **params):
        d = paired_difference(list(resampled[0]), list(resampled[1]), full[0], full[1])
        covered.append(d.low <= params["delta"] <= d.high)
    assert 0.92 <= np.mean(covered) <= 0.98, np.mean(covered)
