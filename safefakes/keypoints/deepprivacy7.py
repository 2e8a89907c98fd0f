"""DeepPrivacy's seven points (nose, eyes, ears, shoulders) from Keypoint R-CNN.

DeepPrivacy took its pose from Mask R-CNN's COCO keypoints; torchvision's
``keypointrcnn_resnet50_fpn`` gives the same 17 COCO points, whose first seven
are exactly DeepPrivacy's. The weights cannot be bundled: they are loaded from
a configured file (``MissingWeightsError`` names it when it is missing), and
the model is built with ``weights=None, weights_backbone=None`` so nothing is
ever downloaded. Each face box is matched to the person whose face points
(nose, eyes, ears) fall inside it most often, ties broken by detection score.

Without configured weights, ``DeepPrivacy7Detector(weights=None)`` uses the
documented fallback: the face points derived from dlib's 68 landmarks
(nose tip, eye centres, jaw points at ear height; shoulders missing).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from safefakes.errors import InputError, MissingWeightsError
from safefakes.keypoints.dlib68 import detect_landmarks
from safefakes.keypoints.layouts import dlib68_to_deepprivacy7

log = logging.getLogger(__name__)

CONFIG_KEY = "keypoints.keypointrcnn_weights"
WEIGHTS_SOURCE = ("https://download.pytorch.org/models/keypointrcnn_resnet50_fpn_coco-fc266e95.pth "
                  "(torchvision KeypointRCNN_ResNet50_FPN_Weights.COCO_V1)")
N_POINTS = 7
FACE_POINTS = 5  # nose, eyes, ears: the points that must fall inside the face box
MIN_SCORE = 0.5  # person detection score


def build_keypoint_rcnn(weights: str | Path, min_size: int = 800, max_size: int = 1333):
    """torchvision's Keypoint R-CNN with weights from ``weights`` (never downloaded)."""
    path = Path(weights)
    if not path.is_file():
        raise MissingWeightsError("Keypoint R-CNN (torchvision keypointrcnn_resnet50_fpn, COCO)", path,
                                  CONFIG_KEY, WEIGHTS_SOURCE)
    import torch
    from torchvision.models.detection import keypointrcnn_resnet50_fpn

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(path, f"cannot read Keypoint R-CNN weights: {exc}",
                         hint=f"download them again from {WEIGHTS_SOURCE}") from exc
    if not isinstance(state, dict) or "roi_heads.keypoint_predictor.kps_score_lowres.weight" not in state:
        raise InputError(path, "these are not keypointrcnn_resnet50_fpn weights", hint=f"use {WEIGHTS_SOURCE}")
    model = keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None, min_size=min_size, max_size=max_size)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise InputError(path, "these are not keypointrcnn_resnet50_fpn weights",
                         hint=f"use {WEIGHTS_SOURCE}") from exc
    return model.eval()


def match_people(boxes: np.ndarray, people: np.ndarray, scores: np.ndarray) -> list[np.ndarray | None]:
    """For each face box (x, y, w, h) the seven points of the best-matching person, or None.

    people: (P, 17 or more, 3) COCO keypoints x, y, visible; scores: (P,).
    """
    out: list[np.ndarray | None] = []
    for x, y, w, h in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        best, best_key = None, (0, -np.inf)
        for p, s in zip(people, scores):
            face = p[:FACE_POINTS]
            inside = ((face[:, 2] > 0) & (face[:, 0] >= x) & (face[:, 0] <= x + w)
                      & (face[:, 1] >= y) & (face[:, 1] <= y + h))
            key = (int(inside.sum()), float(s))
            if key[0] > 0 and key > best_key:
                best, best_key = p, key
        out.append(None if best is None else np.asarray(best[:N_POINTS], dtype=np.float64).copy())
    return out


class DeepPrivacy7Detector:
    """Seven DeepPrivacy points per face box; Keypoint R-CNN, or the dlib fallback without weights."""

    def __init__(self, weights: str | Path | None = None, device: str = "auto", min_score: float = MIN_SCORE,
                 allow_dlib_fallback: bool = True) -> None:
        self.weights = weights
        self.min_score = min_score
        self.model = None
        if weights:
            self.model = build_keypoint_rcnn(weights)
            import torch

            self.device = torch.device("cuda" if device == "auto" and torch.cuda.is_available()
                                       else ("cpu" if device == "auto" else device))
            self.model.to(self.device)
        elif not allow_dlib_fallback:
            raise MissingWeightsError("Keypoint R-CNN (torchvision keypointrcnn_resnet50_fpn, COCO)", None,
                                      CONFIG_KEY, WEIGHTS_SOURCE)
        else:
            log.info("no Keypoint R-CNN weights configured (%s): DeepPrivacy's face points come from dlib",
                     CONFIG_KEY)

    @property
    def source(self) -> str:
        return "keypointrcnn" if self.model is not None else "dlib68-fallback"

    def __call__(self, image: np.ndarray, boxes: np.ndarray) -> list[np.ndarray | None]:
        if self.model is None:
            return [None if kp is None else dlib68_to_deepprivacy7(kp) for kp in detect_landmarks(image, boxes)]
        import torch

        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div(255).to(self.device)
            pred = self.model([x])[0]
        keep = pred["scores"] >= self.min_score
        kps = pred["keypoints"][keep].cpu().numpy().astype(np.float64)  # (P, 17, 3), visibility 1
        if len(kps):
            kps[..., 2] = (pred["keypoints_scores"][keep].cpu().numpy() > 0).astype(np.float64)
        return match_people(boxes, kps, pred["scores"][keep].cpu().numpy())
