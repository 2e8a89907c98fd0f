"""Kernel Inception Distance: the unbiased estimate, its jackknife interval, the reservoir sample."""

from __future__ import annotations

import numpy as np
import pytest

from safefakes.evaluation.kid import PairReservoir, kernel_inception_distance


def literal_kid(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written as the double sums."""
    m, d = x.shape
    k = lambda a, b: (float(a @ b) / d + 1.0) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_by_hand_on_one_dimensional_features():
    # d = 1, x = (0, 1, 2), y = (1, 1, 1): k(a, b) = (ab + 1)^3.
    # xx: pairs (0,1) (0,2) -> 1, 1; (1,2) -> 27; both orders: 2 * 29 / 6 = 29/3.
    # yy: every pair 8: 8. xy: rows x=0: 1+1+1, x=1: 8*3, x=2: 27*3 -> 108 / 9 = 12.
    result = kernel_inception_distance(np.array([[0.0], [1.0], [2.0]]), np.ones((3, 1)))
    assert result["kid"] == pytest.approx(29 / 3 + 8 - 24)
    assert result["n_kid_faces"] == 3


def test_matches_the_double_sums_and_the_jackknife():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 5))
    y = rng.normal(0.5, 1.0, size=(12, 5))
    result = kernel_inception_distance(x, y)
    assert result["kid"] == pytest.approx(literal_kid(x, y), rel=1e-10)
    # The jackknife by brute force: leave each pair out and recompute.
    loo = np.array([literal_kid(np.delete(x, i, 0), np.delete(y, i, 0)) for i in range(12)])
    se = np.sqrt(11 / 12 * np.sum((loo - loo.mean()) ** 2))
    assert result["kid_low"] == pytest.approx(result["kid"] - 1.959964 * se, rel=1e-8)
    assert result["kid_high"] == pytest.approx(result["kid"] + 1.959964 * se, rel=1e-8)


def test_same_distribution_interval_covers_zero_and_a_shift_does_not():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 16))
    same = kernel_inception_distance(x, rng.normal(size=(200, 16)))
    assert same["kid_low"] < 0 < same["kid_high"]
    shifted = kernel_inception_distance(x, rng.normal(1.0, 1.0, size=(200, 16)))
    assert shifted["kid_low"] > 0


def test_too_few_pairs_and_unpaired_input():
    assert kernel_inception_distance(np.zeros((2, 4)), np.zeros((2, 4)))["kid"] is None
    with pytest.raises(ValueError, match="paired"):
        kernel_inception_distance(np.zeros((5, 4)), np.zeros((4, 4)))


def test_reservoir_is_a_seeded_uniform_sample():
    counts = np.zeros(50)
    for seed in range(400):
        reservoir = PairReservoir(size=10, seed=seed)
        for start in range(0, 50, 7):  # batches of uneven size
            rows = np.arange(start, min(start + 7, 50), dtype=np.float32)[:, None]
            reservoir.add(rows, -rows)
        original, anonymized = reservoir.arrays()
        assert original.shape == (10, 1) and np.all(anonymized == -original)  # pairs stay pairs
        counts[original[:, 0].astype(int)] += 1
    # Each of the 50 items is kept with probability 10/50: 80 of 400 times on average.
    assert counts.min() > 50 and counts.max() < 115
    a, b = PairReservoir(10, seed=3), PairReservoir(10, seed=3)
    for r in (a, b):
        r.add(np.arange(30.0)[:, None], np.arange(30.0)[:, None])
    assert np.array_equal(a.arrays()[0], b.arrays()[0])
