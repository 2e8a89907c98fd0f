"""Paired bootstrap over validation images: is a method's mAP really different from the original's?

A detector's AP is measured on one finite validation set, and trained once
per seed. To say whether an anonymizer changes the detector, both sources of
noise go into one interval:

* the validation images: each resample draws ``n`` images with replacement
  (the same draw for every run, hence *paired*) and recomputes AP easy /
  medium / hard with the official WIDER protocol on that multiset of images
  (the score normalisation included: its min and max are those of the drawn
  images);
* the detector's training: each resample also draws, with replacement, which
  of a grid point's seeds (replicate trainings) it averages.

The statistic is the mean AP over easy, medium and hard (the paper's mAP),
averaged over the drawn seeds; the difference to the original's is reported
with its 95 % percentile interval. A subset with no kept face in a resample
(impossible on real data, possible on tiny sets) leaves the mean of the others.

Each run's matching is computed once (``widerface.match_detections``); a
resample's counts are then a weighted sum of per-image counts
(``widerface.per_image_counts``), so 1,000 resamples cost about as much as a
few dozen plain evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from safefakes.data.wider import SUBSETS, GroundTruth
from safefakes.evaluation.widerface import MatchedDetections, match_detections, per_image_counts

N_RESAMPLES = 1000
CONFIDENCE = 0.95


def resample_weights(n_images: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(n_resamples, n_images): how often each image is drawn in each resample (rows sum to n_images)."""
    draws = rng.integers(0, n_images, size=(n_resamples, n_images))
    weights = np.zeros((n_resamples, n_images), dtype=np.int64)
    np.add.at(weights, (np.repeat(np.arange(n_resamples), n_images), draws.ravel()), 1)
    return weights


def average_precision_rows(recall: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """``widerface.average_precision`` of each row (recall non-decreasing along a row)."""
    precision = np.nan_to_num(precision, nan=0.0)
    rows = recall.shape[0]
    mrec = np.concatenate([np.zeros((rows, 1)), recall, np.ones((rows, 1))], axis=1)
    mpre = np.concatenate([np.zeros((rows, 1)), precision, np.zeros((rows, 1))], axis=1)
    mpre = np.maximum.accumulate(mpre[:, ::-1], axis=1)[:, ::-1]
    # Where recall does not step, the term is zero: the sum equals the reference's sum over steps.
    return np.sum((mrec[:, 1:] - mrec[:, :-1]) * mpre[:, 1:], axis=1)


class RunResampler:
    """One run's predictions against the validation ground truth, ready for resampling."""

    def __init__(self, ground_truth: GroundTruth, predictions: Mapping[str, np.ndarray]) -> None:
        self.matched: MatchedDetections = match_detections(ground_truth, predictions)
        scores, img = self.matched.scores, self.matched.det_img
        n = self.matched.n_images
        # Each image's lowest and highest score: a resample's normalisation range.
        self.image_min = np.full(n, np.inf)
        self.image_max = np.full(n, -np.inf)
        np.minimum.at(self.image_min, img, scores)
        np.maximum.at(self.image_max, img, scores)

    def subset_aps(self, weights: np.ndarray) -> np.ndarray:
        """(R, 3) AP easy / medium / hard of each resample (rows of ``weights``); NaN: no kept face."""
        weights = np.atleast_2d(weights)
        drawn = weights > 0
        lo = np.where(drawn, self.image_min, np.inf).min(axis=1)
        hi = np.where(drawn, self.image_max, -np.inf).max(axis=1)
        out = np.full((len(weights), len(SUBSETS)), np.nan)
        ranges = np.stack([lo, hi], axis=1)
        # Resamples share a handful of (min, max) pairs: count each pair's thresholds once.
        for pair in np.unique(ranges, axis=0):
            rows = np.flatnonzero((ranges == pair).all(axis=1))
            w = weights[rows].astype(np.float64)
            # No detection among the drawn images: any range will do, the drawn rows are all zero.
            # (One score only, lo == hi: as officially, nothing reaches a threshold.)
            lo_hi = (float(pair[0]), float(pair[1])) if np.isfinite(pair).all() else (0.0, 1.0)
            counts = per_image_counts(self.matched, *lo_hi)
            for k, s in enumerate(SUBSETS):
                matches, proposals = (w @ counts[s][0], w @ counts[s][1])
                faces = w @ self.matched.kept_counts[s].astype(np.float64)
                with np.errstate(invalid="ignore", divide="ignore"):
                    precision = matches / proposals
                    recall = matches / faces[:, None]
                ap = average_precision_rows(recall, precision)
                out[rows, k] = np.where(faces > 0, ap, np.nan)
        return out

    def map_samples(self, weights: np.ndarray) -> np.ndarray:
        """(R,) mean AP over the subsets of each resample."""
        return _nanmean_rows(self.subset_aps(weights))


def _nanmean_rows(values: np.ndarray) -> np.ndarray:
    counts = np.isfinite(values).sum(axis=1)
    sums = np.nansum(values, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


@dataclass(frozen=True)
class Difference:
    """A method's mAP minus the reference's, with its percentile interval."""

    difference: float  # on the full validation set, mean over each side's seeds
    low: float
    high: float
    n_resamples: int
    n_seeds: int
    n_reference_seeds: int

    @property
    def excludes_zero(self) -> bool:
        return bool(self.low > 0 or self.high < 0)


def _seed_mean(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(R,) per resample the mean over seeds drawn with replacement; ``samples`` is (seeds, R)."""
    n_seeds, n_resamples = samples.shape
    if n_seeds == 1:
        return samples[0]
    pick = rng.integers(0, n_seeds, size=(n_resamples, n_seeds))
    return np.nanmean(samples[pick, np.arange(n_resamples)[:, None]], axis=1)


def paired_difference(method: Sequence[np.ndarray], reference: Sequence[np.ndarray],
                      method_full: Sequence[float], reference_full: Sequence[float],
                      rng: np.random.Generator, confidence: float = CONFIDENCE) -> Difference:
    """The bootstrap interval of mean(method) - mean(reference).

    ``method`` and ``reference``: one (R,) array of resampled mAPs per seed,
    all from the same image draws; ``*_full``: each seed's mAP on the whole set.
    """
    m = _seed_mean(np.asarray(method, dtype=np.float64), rng)
    r = _seed_mean(np.asarray(reference, dtype=np.float64), rng)
    diff = m - r
    diff = diff[np.isfinite(diff)]
    alpha = (1 - confidence) / 2
    low, high = (np.quantile(diff, [alpha, 1 - alpha]) if len(diff) else (np.nan, np.nan))
    observed = float(np.mean(method_full) - np.mean(reference_full))
    return Difference(observed, float(low), float(high), len(diff), len(method_full), len(reference_full))


__all__ = ["N_RESAMPLES", "CONFIDENCE", "resample_weights", "average_precision_rows", "RunResampler",
           "Difference", "paired_difference"]
