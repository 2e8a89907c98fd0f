"""Keypoints computed at import, for datasets that lack the ones their GAN needs.

* ``dlib68`` (CIAGAN, Sun2018): dlib's 68 landmarks inside the face box;
  a face where dlib finds none is dropped and recorded, as CIAGAN's and
  Sun2018's authors kept only the faces dlib could landmark;
* ``deepprivacy7`` (DeepPrivacy): Keypoint R-CNN's seven points with weights,
  else the face points derived from dlib (``keypoints.deepprivacy7``); a face
  with none is dropped and recorded.
The finder is picklable and loads its models on first use, in each worker.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from safefakes.keypoints.provider import KeypointProvider

IMPORT_LAYOUTS = ("dlib68", "deepprivacy7")


class LandmarkFinder:
    """``find(image, box) -> (K, 3) | None`` in image pixels, in ``layout``."""

    def __init__(self, layout: str, weights: str | Path | None = None) -> None:
        if layout not in IMPORT_LAYOUTS:
            raise ValueError(f"keypoints computed at import: one of {', '.join(IMPORT_LAYOUTS)}, not {layout!r}")
        self.layout = layout
        self.provider = KeypointProvider(layout, weights=weights, device="cpu")

    def describe(self) -> dict:
        return self.provider.describe()

    def find(self, image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        kp = self.provider.per_face(image, "", np.asarray(box, dtype=np.float64).reshape(1, 4))[0]
        if kp is None or not (np.asarray(kp)[:, 2] > 0).any():
            return None
        return np.asarray(kp, dtype=np.float64)
