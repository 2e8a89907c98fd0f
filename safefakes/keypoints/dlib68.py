"""dlib's 68 facial landmarks, found inside given face boxes.

dlib's landmark model (``shape_predictor_68_face_landmarks``, shipped offline
in ``face_recognition_models``) was trained on boxes of dlib's own HOG face
detector. So for each given box we run that detector on the region around the
box (at the image's own scale, upsampled once as dlib's examples do) and fit
the landmarks in the detection that best overlaps the box. No matching
detection means no landmarks: the face is reported as ``None``. This is what
makes dlib fail on small faces (below about 50 px the HOG detector finds
nothing), the effect the study measures for landmark-hungry methods.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np

MIN_IOU = 0.3  # a detection must overlap the given box at least this much
CONTEXT = 0.5  # the searched region: the box grown by this fraction of its size on every side
UPSAMPLE = 1  # dlib's default in its examples: finds faces down to ~40 px


@lru_cache(maxsize=1)
def _models():
    import dlib

    with warnings.catch_warnings():
        # face_recognition_models imports pkg_resources, which warns on import.
        warnings.simplefilter("ignore")
        import face_recognition_models

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    return dlib, detector, predictor


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def landmarks_in_box(image: np.ndarray, box: np.ndarray, upsample: int = UPSAMPLE,
                     min_iou: float = MIN_IOU) -> np.ndarray | None:
    """(68, 3) x, y, visible=1 of the face in ``box`` (x, y, w, h), or None when dlib finds none."""
    dlib, detector, predictor = _models()
    H, W = image.shape[:2]
    x, y, w, h = (float(v) for v in box[:4])
    if w <= 0 or h <= 0:
        return None
    rx1 = int(max(np.floor(x - CONTEXT * w), 0))
    ry1 = int(max(np.floor(y - CONTEXT * h), 0))
    rx2 = int(min(np.ceil(x + w + CONTEXT * w), W))
    ry2 = int(min(np.ceil(y + h + CONTEXT * h), H))
    if rx2 <= rx1 or ry2 <= ry1:
        return None
    region = np.ascontiguousarray(image[ry1:ry2, rx1:rx2])
    target = (x - rx1, y - ry1, x + w - rx1, y + h - ry1)
    best, best_iou = None, min_iou
    for det in detector(region, upsample):
        cand = (det.left(), det.top(), det.right(), det.bottom())
        iou = _iou(cand, target)
        if iou >= best_iou:
            best, best_iou = det, iou
    if best is None:
        return None
    shape = predictor(region, best)
    pts = np.array([[p.x + rx1, p.y + ry1, 1.0] for p in shape.parts()], dtype=np.float64)
    return pts


def detect_landmarks(image: np.ndarray, boxes: np.ndarray) -> list[np.ndarray | None]:
    """dlib 68 landmarks for every face box of an image; None where no face was found."""
    return [landmarks_in_box(image, b) for b in np.asarray(boxes, dtype=np.float64).reshape(-1, 4)]
