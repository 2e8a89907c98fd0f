"""Keypoint layouts and the conversions between them.

Every keypoint array is (K, 3) or (N, K, 3): x, y in pixels and a visibility
flag (0 = missing). Layouts:

* ``dlib68``: dlib's 68 landmarks (iBUG 300-W order). Points 36-41 are the eye
  on the image's left (the subject's right eye), 42-47 the other eye.
* ``deepprivacy7``: nose, left eye, right eye, left ear, right ear, left
  shoulder, right shoulder: COCO keypoints 0-6 as Keypoint R-CNN gives them;
  left/right are the subject's (COCO), so the subject's left eye is on the
  image's right for a frontal face. FDF stores the same seven points.
* ``synthetic72``: the synthetic dataset's oracle: dlib68 + left ear (68),
  right ear (69), left shoulder (70), right shoulder (71), subject's left/right
  as in COCO.
* ``celeba5``: CelebA's aligned landmarks: left eye, right eye, nose, left mouth
  corner, right mouth corner, where CelebA's "left" is the image's left.
"""

from __future__ import annotations

import numpy as np

SIZES = {"dlib68": 68, "deepprivacy7": 7, "synthetic72": 72, "celeba5": 5}
DEEPPRIVACY7_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder")

# dlib68 index groups
_NOSE_TIP = 30
_EYE_IMAGE_LEFT = list(range(36, 42))  # subject's right eye
_EYE_IMAGE_RIGHT = list(range(42, 48))  # subject's left eye
# Jaw points at ear height: the face points of DeepPrivacy's seven derived from dlib.
_JAW_IMAGE_LEFT = 1  # near the subject's right ear
_JAW_IMAGE_RIGHT = 15  # near the subject's left ear


def _mean_point(kp: np.ndarray, idx: list[int]) -> np.ndarray:
    pts = kp[..., idx, :]
    vis = (pts[..., 2] > 0).all(axis=-1)
    out = np.zeros(kp.shape[:-2] + (3,), dtype=np.float64)
    out[..., :2] = pts[..., :2].mean(axis=-2)
    out[..., 2] = vis
    return out


def dlib68_to_deepprivacy7(kp: np.ndarray) -> np.ndarray:
    """The face points of the seven from dlib's 68 (shoulders missing); ears from the jaw line."""
    kp = np.asarray(kp, dtype=np.float64)
    out = np.zeros(kp.shape[:-2] + (7, 3), dtype=np.float64)
    out[..., 0, :] = kp[..., _NOSE_TIP, :]
    out[..., 1, :] = _mean_point(kp, _EYE_IMAGE_RIGHT)
    out[..., 2, :] = _mean_point(kp, _EYE_IMAGE_LEFT)
    out[..., 3, :] = kp[..., _JAW_IMAGE_RIGHT, :]
    out[..., 4, :] = kp[..., _JAW_IMAGE_LEFT, :]
    return out


def convert_keypoints(kp: np.ndarray, source: str, target: str) -> np.ndarray:
    """Convert (.., K, 3) keypoints from layout ``source`` to ``target``; missing points get visible 0."""
    kp = np.asarray(kp, dtype=np.float64)
    if source not in SIZES or target not in SIZES:
        raise ValueError(f"unknown keypoint layout {source!r} or {target!r}; known: {', '.join(SIZES)}")
    if kp.shape[-2] != SIZES[source]:
        raise ValueError(f"{source} keypoints need {SIZES[source]} points, got {kp.shape[-2]}")
    if source == target:
        return kp.copy()
    if source == "synthetic72" and target == "dlib68":
        return kp[..., :68, :].copy()
    if source == "synthetic72" and target == "deepprivacy7":
        out = dlib68_to_deepprivacy7(kp[..., :68, :])
        out[..., 3:7, :] = kp[..., 68:72, :]
        return out
    if source == "dlib68" and target == "deepprivacy7":
        return dlib68_to_deepprivacy7(kp)
    if source == "celeba5" and target == "deepprivacy7":
        out = np.zeros(kp.shape[:-2] + (7, 3), dtype=np.float64)
        out[..., 0, :] = kp[..., 2, :]
        out[..., 1, :] = kp[..., 1, :]  # CelebA's right eye is on the image's right: the subject's left
        out[..., 2, :] = kp[..., 0, :]
        return out
    raise ValueError(f"cannot convert {source} keypoints to {target}")
