"""Find faces in plain photos (no annotations) with dlib's HOG or CNN detector.

Both ship with dlib and the ``face_recognition_models`` package, so this works
offline. Measured on the real sample photos (skimage's astronaut and
cameraman, matplotlib's Grace Hopper; ``python -m benchmarks photo_folder``):

* ``hog`` (the default): upsampled once, about 0.1-0.2 s and 100-300 MB a
  512 px photo; frontal and near-frontal faces (it misses the cameraman's
  three-quarter view).
* ``cnn`` (dlib's MMOD network): finds turned faces too, but costs about 3 s
  and 360 MB a 512 px photo at upsample 0, four times that per upsample: on
  the benchmark's 24 photos 8x the time of ``hog`` (160 s against 20 s).

Large photos are scaled down first so that their longer side is at most
``max_side`` (``DEFAULT_MAX_SIDE``): the detectors' memory grows with the
pixels (the CNN needs about 1.1 GB at 1024 px, 0.74 GB at 800 px), and a
worker must stay under 1 GB. Boxes are scaled back to the photo's pixels.
Models are loaded once per process.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

DETECTORS = ("hog", "cnn")
DEFAULT_DETECTOR = "hog"
#: Upsampling each detector gets by default: HOG's window is 80 px, so once
#: doubled it finds faces from 40 px; the CNN's cost makes that 4x dearer.
DEFAULT_UPSAMPLE = {"hog": 1, "cnn": 0}
#: Longer side (px) a photo is scaled down to before detection, by detector.
DEFAULT_MAX_SIDE = {"hog": 2048, "cnn": 800}
#: Peak memory of one worker process (bytes) at the default sizes, measured
#: with margin (hog: 320 MB at 2048 px upsampled once; cnn: 740 MB at 800 px);
#: the engine bounds its default worker count by it.
WORKER_MEMORY = {"hog": 400 * 2**20, "cnn": 1000 * 2**20}


@dataclass(frozen=True)
class FaceFinder:
    """Detector settings; calling it on an RGB image returns (boxes xywh int64, scores).

    threshold: detections scoring below it are dropped. The HOG detector also
    takes it as dlib's ``adjust_threshold``, so a negative value finds more
    (and less certain) faces; the CNN reports only detections scoring above 0.
    upsample: how many times the image is doubled first (finds smaller faces,
    costs 4x time each); None = the detector's default.
    max_side: the photo is scaled down so that its longer side is at most
    this (px) before detection; 0 = never; None = the detector's default.
    """

    detector: str = DEFAULT_DETECTOR
    threshold: float = 0.0
    upsample: int | None = None
    max_side: int | None = None

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}")
        if self.upsample is None:
            object.__setattr__(self, "upsample", DEFAULT_UPSAMPLE[self.detector])
        if self.max_side is None:
            object.__setattr__(self, "max_side", DEFAULT_MAX_SIDE[self.detector])
        if int(self.upsample) < 0:
            raise ValueError(f"upsample must be >= 0, got {self.upsample}")
        if int(self.max_side) < 0 or 0 < int(self.max_side) < 64:
            raise ValueError(f"max_side must be 0 (never scale down) or >= 64 px, got {self.max_side}")

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return find_faces(image, self.detector, self.threshold, int(self.upsample), int(self.max_side))

    @property
    def worker_memory(self) -> int:
        """Bytes one worker process may need: the measured peak, scaled with the pixels it detects on."""
        default = DEFAULT_MAX_SIDE[self.detector] * 2 ** DEFAULT_UPSAMPLE[self.detector]
        side = (int(self.max_side) or 4 * DEFAULT_MAX_SIDE[self.detector]) * 2 ** int(self.upsample)
        return int(WORKER_MEMORY[self.detector] * max(1.0, (side / default) ** 2))

    def describe(self) -> dict:
        return {"detector": self.detector, "threshold": float(self.threshold), "upsample": int(self.upsample),
                "max_side": int(self.max_side)}


def find_faces(
    image: np.ndarray, detector: str = DEFAULT_DETECTOR, threshold: float = 0.0, upsample: int | None = None,
    max_side: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Faces of an RGB uint8 image: ((N, 4) int64 x, y, w, h; (N,) float scores), best first.

    max_side > 0: a larger photo is detected on a copy scaled down to that
    longer side, and the boxes are scaled back.
    """
    if detector not in DETECTORS:
        raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {detector!r}")
    upsample = DEFAULT_UPSAMPLE[detector] if upsample is None else int(upsample)
    height, width = image.shape[:2]
    scale = 1.0
    if max_side and max(height, width) > max_side:
        scale = max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    image = np.ascontiguousarray(image)
    if detector == "cnn":
        found = _cnn_detector()(image, upsample)
        rects = [d.rect for d in found]
        scores = [float(d.confidence) for d in found]
    else:
        rects, scores, _ = _hog_detector().run(image, upsample, float(threshold))
        scores = [float(s) for s in scores]
    boxes = np.array([[r.left(), r.top(), r.width(), r.height()] for r in rects], dtype=np.float64).reshape(-1, 4)
    if scale != 1.0:
        boxes = boxes / scale
    boxes = np.round(boxes).astype(np.int64)
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
