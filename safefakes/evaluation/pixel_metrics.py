"""The per-pair pixel metrics of face crops: L1, L2 and SSIM.

* ``l1``: mean absolute difference of [0, 1] pixels.
* ``l2``: mean squared difference of [0, 1] pixels.
* ``ssim``: scikit-image SSIM with the settings of Wang et al. 2004 (Gaussian
  window, sigma 1.5), over the three channels.
"""

from __future__ import annotations

import numpy as np


def pixel_distances(original: np.ndarray, anonymized: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair mean |a - b| and mean (a - b)^2 on [0, 1] pixels, for (n, S, S, 3) uint8 crops."""
    a = original.astype(np.float64) / 255.0
    b = anonymized.astype(np.float64) / 255.0
    diff = a - b
    axes = tuple(range(1, diff.ndim))
    return np.abs(diff).mean(axis=axes), (diff**2).mean(axis=axes)


def ssim_pairs(original: np.ndarray, anonymized: np.ndarray) -> np.ndarray:
    """Per pair SSIM (Wang et al. 2004 settings) of (n, S, S, 3) uint8 crops."""
    from skimage.metrics import structural_similarity

    return np.array([
        structural_similarity(a, b, channel_axis=-1, data_range=255, gaussian_weights=True,
                              sigma=1.5, use_sample_covariance=False)
        for a, b in zip(original, anonymized)
    ], dtype=np.float64)


__all__ = ["pixel_distances", "ssim_pairs"]
