"""FID: the Frechet distance between the Gaussians fitted to the 2048-d pool features
of pytorch-fid's Inception (``backbones.load_fid_inception``) on two sets of face
crops (sets, not pairs; needs at least two faces in each). Biased upwards when
faces are few: its covariance has 2,048^2 entries. The statistics are kept as
running sums (``GaussianStats``), so memory does not grow with the split.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from safefakes.evaluation.backbones import crops_to_tensor


def inception_features(model, crops: np.ndarray, device="cpu") -> np.ndarray:
    """(n, 2048) pool features of pytorch-fid's Inception for (n, S, S, 3) uint8 crops."""
    import torch

    with torch.no_grad():
        feats = model(crops_to_tensor(crops, device))[0]
    return feats.reshape(len(crops), -1).double().cpu().numpy()


@dataclass
class GaussianStats:
    """Running mean and covariance of feature vectors (float64 sums).

    While there are no more samples than dimensions the samples themselves are
    kept too: the Frechet distance is then exact and cheap in sample space.
    """

    n: int = 0
    total: np.ndarray | None = None
    outer: np.ndarray | None = None
    samples: list[np.ndarray] | None = field(default_factory=list, repr=False)

    def add(self, feats: np.ndarray) -> None:
        feats = np.asarray(feats, dtype=np.float64)
        if self.total is None:
            self.total = np.zeros(feats.shape[1])
            self.outer = np.zeros((feats.shape[1], feats.shape[1]))
        self.n += len(feats)
        self.total += feats.sum(axis=0)
        self.outer += feats.T @ feats
        if self.samples is not None:
            self.samples.append(feats)
            if self.n > feats.shape[1]:
                self.samples = None

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        mu = self.total / self.n
        cov = (self.outer - self.n * np.outer(mu, mu)) / (self.n - 1)
        return mu, (cov + cov.T) / 2

    def centered_samples(self) -> np.ndarray | None:
        if self.samples is None:
            return None
        x = np.concatenate(self.samples)
        return x - x.mean(axis=0)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(matrix)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float | None:
    """FID = |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^1/2); None with fewer than two faces.

    Tr((S1 S2)^1/2) is the sum of the square roots of the eigenvalues of S1 S2.
    With few samples (S = X^T X / (n - 1), X centred) those are the squared
    singular values of X1 X2^T / sqrt((n1 - 1)(n2 - 1)), which is exact for the
    singular covariances of small sets and avoids a 2048 x 2048 matrix root;
    with many, the symmetric form S1^1/2 S2 S1^1/2 is diagonalised.
    """
    if a.n < 2 or b.n < 2:
        return None
    mu1, s1 = a.mean_cov()
    mu2, s2 = b.mean_cov()
    x1, x2 = a.centered_samples(), b.centered_samples()
    if x1 is not None and x2 is not None:
        scale = np.sqrt((a.n - 1) * (b.n - 1))
        tr_sqrt = np.linalg.svd(x1 @ x2.T, compute_uv=False).sum() / scale
        tr1 = (x1**2).sum() / (a.n - 1)
        tr2 = (x2**2).sum() / (b.n - 1)
    else:
        root = _psd_sqrt(s1)
        tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(root @ s2 @ root), 0, None)).sum()
        tr1, tr2 = np.trace(s1), np.trace(s2)
    diff = mu1 - mu2
    # Rounding can leave a tiny negative total for identical sets.
    return max(float(diff @ diff + tr1 + tr2 - 2 * tr_sqrt), 0.0)


__all__ = ["GaussianStats", "frechet_distance", "inception_features"]
