"""Kernel Inception Distance (Binkowski et al., ICLR 2018), with a jackknife interval.

KID is the squared maximum mean discrepancy between two sets of Inception
pool features under the cubic polynomial kernel ``k(x, y) = (x.y / d + 1)^3``
(d = feature length), estimated without bias:

    KID = sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) / (n(n-1))
          - 2 sum_{i,j} k(x_i, y_j) / (mn).

Unlike FID, whose 2,048 x 2,048 covariance a few hundred faces cannot
estimate, the estimate is unbiased at any size, so small splits can be
compared. The study's sets are paired (face i of the original and of the
anonymized split), so the 95 % interval comes from the leave-one-face-out
jackknife: every leave-one-out estimate is a closed-form update of the three
kernel sums. The estimate can be slightly negative when the sets are alike.

Large sets are measured on a seeded uniform sample of at most
``MAX_PAIRS`` pairs (a reservoir over the streamed features), which bounds the
kernel matrices at 2,000 x 2,000.
"""

from __future__ import annotations

import math

import numpy as np

MAX_PAIRS = 2000
CONFIDENCE_Z = 1.959964  # the standard normal's 97.5 % quantile


def polynomial_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(m, n) kernel values (a.b / d + 1)^3 of feature rows."""
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def kernel_inception_distance(original: np.ndarray, anonymized: np.ndarray) -> dict:
    """``{kid, kid_low, kid_high, n_kid_faces}`` of paired (n, d) feature arrays; None below 3 pairs."""
    x = np.asarray(original, dtype=np.float64)
    y = np.asarray(anonymized, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"KID needs paired features of one shape, got {x.shape} and {y.shape}")
    n = len(x)
    if n < 3:
        return {"kid": None, "kid_low": None, "kid_high": None, "n_kid_faces": n}
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    np.fill_diagonal(kxx, 0.0)
    np.fill_diagonal(kyy, 0.0)
    sxx, syy, sxy = kxx.sum(), kyy.sum(), kxy.sum()
    kid = sxx / (n * (n - 1)) + syy / (n * (n - 1)) - 2 * sxy / (n * n)
    # Leaving pair i out removes row and column i of each kernel matrix.
    loo_xx = sxx - 2 * kxx.sum(axis=1)
    loo_yy = syy - 2 * kyy.sum(axis=1)
    loo_xy = sxy - kxy.sum(axis=1) - kxy.sum(axis=0) + np.diag(kxy)
    m = n - 1
    loo = loo_xx / (m * (m - 1)) + loo_yy / (m * (m - 1)) - 2 * loo_xy / (m * m)
    se = math.sqrt((n - 1) / n * float(np.sum((loo - loo.mean()) ** 2)))
    return {"kid": float(kid), "kid_low": float(kid - CONFIDENCE_Z * se),
            "kid_high": float(kid + CONFIDENCE_Z * se), "n_kid_faces": n}


class PairReservoir:
    """A seeded uniform sample of at most ``size`` feature pairs from a stream (Algorithm R)."""

    def __init__(self, size: int = MAX_PAIRS, seed: int = 0) -> None:
        self.size = int(size)
        self.rng = np.random.default_rng([seed, 7])
        self.seen = 0
        self.original: list[np.ndarray] = []
        self.anonymized: list[np.ndarray] = []

    def add(self, original: np.ndarray, anonymized: np.ndarray) -> None:
        for a, b in zip(np.asarray(original, dtype=np.float32), np.asarray(anonymized, dtype=np.float32)):
            if len(self.original) < self.size:
                self.original.append(a)
                self.anonymized.append(b)
            else:
                j = int(self.rng.integers(0, self.seen + 1))
                if j < self.size:
                    self.original[j], self.anonymized[j] = a, b
            self.seen += 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.original:
            return np.zeros((0, 0)), np.zeros((0, 0))
        return np.stack(self.original), np.stack(self.anonymized)


__all__ = ["MAX_PAIRS", "polynomial_kernel", "kernel_inception_distance", "PairReservoir"]
