"""Find faces in plain photos (no annotations) with dlib's CNN or HOG detector.

The CNN (MMOD) model ships in the ``face_recognition_models`` package, so this
works offline. The CNN is more accurate (profile and small faces), the HOG
detector is much faster on a CPU. Models are loaded once per process.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

DETECTORS = ("cnn", "hog")


@dataclass(frozen=True)
class FaceFinder:
    """Detector settings; calling it on an RGB image returns (boxes xywh int64, scores).

    threshold: detections scoring below it are dropped. The HOG detector also
    takes it as dlib's ``adjust_threshold``, so a negative value finds more
    (and less certain) faces; the CNN reports only detections scoring above 0.
    upsample: how many times the image is doubled first (finds smaller faces,
    costs 4x time each).
    """

    detector: str = "cnn"
    threshold: float = 0.0
    upsample: int = 1

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}")
        if int(self.upsample) < 0:
            raise ValueError(f"upsample must be >= 0, got {self.upsample}")

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return find_faces(image, self.detector, self.threshold, self.upsample)

    def describe(self) -> dict:
        return {"detector": self.detector, "threshold": float(self.threshold), "upsample": int(self.upsample)}


def find_faces(
    image: np.ndarray, detector: str = "cnn", threshold: float = 0.0, upsample: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Faces of an RGB uint8 image: ((N, 4) int64 x, y, w, h; (N,) float scores), best first."""
    image = np.ascontiguousarray(image)
    if detector == "cnn":
        found = _cnn_detector()(image, int(upsample))
        rects = [d.rect for d in found]
        scores = [float(d.confidence) for d in found]
    elif detector == "hog":
        rects, scores, _ = _hog_detector().run(image, int(upsample), float(threshold))
        scores = [float(s) for s in scores]
    else:
        raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {detector!r}")
    boxes = np.array([[r.left(), r.top(), r.width(), r.height()] for r in rects], dtype=np.int64).reshape(-1, 4)
    scores_arr = np.asarray(scores, dtype=np.float64).reshape(-1)
    keep = scores_arr >= threshold
    boxes, scores_arr = boxes[keep], scores_arr[keep]
    order = np.argsort(-scores_arr, kind="stable")
    return boxes[order], scores_arr[order]


def cnn_model_path() -> str:
    with warnings.catch_warnings():
        # face_recognition_models imports the deprecated pkg_resources at import time.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        import face_recognition_models
    return face_recognition_models.cnn_face_detector_model_location()


@lru_cache(maxsize=1)
def _cnn_detector():
    import dlib

    return dlib.cnn_face_detection_model_v1(cnn_model_path())


@lru_cache(maxsize=1)
def _hog_detector():
    import dlib

    return dlib.get_frontal_face_detector()
