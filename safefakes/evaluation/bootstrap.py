"""Is a method's mAP really different from the original's? An interval over validation images and seeds.

A detector's AP is measured on one finite validation set, and trained once
per seed (a replicate training). Both are noise; the difference of the seed
means of a method and of the original, ``D``, carries both into one 95 %
interval:

    D ± t(0.975, ν) · sqrt(V_images + s²_m / n_m + s²_r / n_r)

*Why.* Write seed ``i`` of arm ``a`` (method or reference) scored on the
fixed validation set ``V`` as ``X_ai = μ_a(V) + e_ai``: ``μ_a(V)`` its mAP
on ``V`` averaged over seeds, ``e_ai`` independent seed noise of variance
``σ²_a``. The target is ``δ = E_V[μ_m(V) − μ_r(V)]``, the difference a new
validation set and new seeds would reproduce on average. By the law of total
variance ``Var(D) = Var_V(μ_m(V) − μ_r(V)) + σ²_m/n_m + σ²_r/n_r``. The
seed terms are estimated without bias by the seeds' sample variances of
their full-set mAPs (``s²_a``, ``n_a − 1`` degrees of freedom each): the
spread of seeds on one validation set is the seed noise at fixed ``V``. The
image term is the variance of ``D`` over a paired bootstrap of the
validation images, seeds held fixed: each resample draws ``n`` images with
replacement, the same draw for every run, since both arms are scored on the
same images and their shared difficulty cancels in the difference; AP easy /
medium / hard are recomputed with the official WIDER protocol on that
multiset (score normalisation included). That bootstrap variance also holds
the image variance of the seeds' own deviations (a seed × image term of
order ``1/(n_seeds · n_images)``), which the seed terms count already: the
estimate errs on the wide side, by little. Since the seed terms rest on 2 + 2
degrees of freedom for 3 + 3 seeds, ``(D − δ) / SE`` is referred to Student's
t with Welch–Satterthwaite degrees of freedom, the image term entering as
known (hundreds of images, 1,000 resamples): ``ν = V² / Σ_a (s²_a/n_a)² /
(n_a − 1)``, with ``V`` the total. Without the image term this is Welch's
interval, close to nominal for 3 vs 3 even when one arm's seeds spread 20
times the other's; the image term only moves ν towards the normal limit.
``tests/test_bootstrap.py`` simulates 2,000 studies of 3 vs 3 seeds on 60
images with a known difference in each of four settings: one arm's seeds
spreading 15 times the other's, equal seed spreads, image noise dominating,
both alike. The interval covers the truth in 94.0, 95.4, 94.9 and 94.1 % of
them (the earlier bootstrap over images and seeds: 75.5, 82.4, 94.4, 92.2 %).

*Why not the earlier bootstrap over images and seeds.* Drawing 3 seeds with
replacement gives 10 distinct seed means whose variance is the plug-in
``(n − 1)/n · s²/n``, two thirds of the unbiased one, and a percentile
interval where a t quantile with about 2 to 4 degrees of freedom (4.3 to 2.8,
not 1.96) is due: for seeds that disagree its interval was about half as wide
as it should be (pixelation against the original: [-0.264, -0.072], "excludes
0", where Welch's interval over the seeds alone gives [-0.364, +0.030]).

*One seed in an arm.* Its seed variance cannot be estimated, and borrowing
the other arm's assumes equal spread, false in this study (full-image blur's
seeds spread from 0.13 to 0.53, the original's by 0.03): the difference is
reported with no interval (NaN low, high and degrees of freedom) and no
verdict; train more seeds to get one.

A subset with no kept face in a resample (impossible on real data, possible
on tiny sets) leaves the mean of the others. Each run's matching is computed
once (``widerface.match_detections``); a resample's counts are then a
weighted sum of per-image counts (``widerface.per_image_counts``), so 1,000
resamples cost about as much as a few dozen plain evaluations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy import stats

from safefakes.data.wider_files import SUBSETS, GroundTruth
from safefakes.evaluation.wider_ap import MatchedDetections, match_detections, per_image_counts

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


#: What ``Difference`` intervals are, for tables and captions.
INTERVAL_METHOD = "welch-t: seed variances + paired image bootstrap"


@dataclass(frozen=True)
class Difference:
    """A method's mAP minus the reference's (seed means), with its 95 % interval (see the module).

    ``low``, ``high`` and ``df`` are NaN where an arm has fewer than two seeds
    (no interval, no verdict).
    """

    difference: float  # on the full validation set, mean over each side's seeds
    low: float
    high: float
    n_resamples: int  # image resamples behind the image variance
    n_seeds: int
    n_reference_seeds: int
    df: float  # Welch–Satterthwaite degrees of freedom (inf: no seed spread at all)
    se_images: float  # standard error of the difference from the validation images
    se_seeds: float  # from the seeds: sqrt(s²_m/n_m + s²_r/n_r)

    @property
    def has_interval(self) -> bool:
        return bool(np.isfinite(self.low) and np.isfinite(self.high))

    @property
    def excludes_zero(self) -> bool:
        """True only for an interval that lies wholly on one side of 0 (never without an interval)."""
        return bool(self.has_interval and (self.low > 0 or self.high < 0))


def welch_interval(method: np.ndarray, reference: np.ndarray, image_variance: np.ndarray | float,
                   confidence: float = CONFIDENCE) -> tuple[np.ndarray, ...]:
    """Vectorised: (difference, low, high, df, se_seeds) of seed values (..., n_m) and (..., n_r).

    ``image_variance`` (broadcast to the leading shape) is the variance of the
    difference of seed means over the validation images (``paired_difference``
    takes it from the paired bootstrap). Either arm with fewer than two seeds:
    low, high, df and se_seeds are NaN.
    """
    m = np.asarray(method, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    n_m, n_r = m.shape[-1], r.shape[-1]
    difference = m.mean(axis=-1) - r.mean(axis=-1)
    shape = np.broadcast_shapes(difference.shape, np.shape(image_variance))
    difference = np.broadcast_to(difference, shape)
    if n_m < 2 or n_r < 2:
        nan = np.full(shape, np.nan)
        return difference, nan, nan.copy(), nan.copy(), nan.copy()
    var_m = m.var(axis=-1, ddof=1) / n_m
    var_r = r.var(axis=-1, ddof=1) / n_r
    seeds = var_m + var_r
    total = seeds + np.asarray(image_variance, dtype=np.float64)
    seed_df_term = var_m ** 2 / (n_m - 1) + var_r ** 2 / (n_r - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        # No seed spread in either arm: the image term alone, known: the normal limit.
        df = np.where(seed_df_term > 0, total ** 2 / np.where(seed_df_term > 0, seed_df_term, 1.0), np.inf)
    df = np.where(np.isfinite(total), df, np.nan)
    half = stats.t.ppf(0.5 + confidence / 2, df) * np.sqrt(total)
    return (difference, np.broadcast_to(difference - half, shape), np.broadcast_to(difference + half, shape),
            np.broadcast_to(df, shape), np.broadcast_to(np.sqrt(seeds), shape))


def paired_difference(method: Sequence[np.ndarray], reference: Sequence[np.ndarray],
                      method_full: Sequence[float], reference_full: Sequence[float],
                      confidence: float = CONFIDENCE) -> Difference:
    """The interval of mean(method) - mean(reference) over seeds and validation images (see the module).

    ``method`` and ``reference``: one (R,) array of resampled mAPs per seed,
    all from the same image draws; ``*_full``: each seed's mAP on the whole
    set. The image variance is that of the difference of seed means over the
    R draws; the seed variances are those of the ``*_full`` values.
    """
    m_full = np.asarray(method_full, dtype=np.float64)
    r_full = np.asarray(reference_full, dtype=np.float64)
    m = np.nanmean(np.asarray(method, dtype=np.float64), axis=0)
    r = np.nanmean(np.asarray(reference, dtype=np.float64), axis=0)
    diff = m - r
    diff = diff[np.isfinite(diff)]
    image_variance = float(np.var(diff, ddof=1)) if len(diff) > 1 else math.nan
    observed, low, high, df, se_seeds = welch_interval(m_full, r_full, image_variance, confidence)
    return Difference(float(observed), float(low), float(high), len(diff), len(m_full), len(r_full),
                      float(df), math.sqrt(image_variance), float(se_seeds))


__all__ = ["N_RESAMPLES", "CONFIDENCE", "INTERVAL_METHOD", "resample_weights", "average_precision_rows",
           "RunResampler", "Difference", "welch_interval", "paired_difference"]
