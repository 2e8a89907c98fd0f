"""DeepPrivacy's seven points (nose, eyes, ears, shoulders) from Keypoint R-CNN.

DeepPrivacy took its pose from Mask R-CNN's COCO keypoints; torchvision's
``keypointrcnn_resnet50_fpn`` gives the same 17 COCO points, whose first seven
are exactly DeepPrivacy's. The weights cannot be bundled: they are loaded from
a configured file (``MissingWeightsError`` names it when it is missing), and
the model is built with ``weights=None, weights_backbone=None`` so nothing is
ever downloaded; its batch norms then run as torchvision runs the COCO model
(frozen statistics, eps 0).

Faces and people are matched by the rules of DeepPrivacy's WIDER FACE
anonymization script: every person Keypoint R-CNN scores above 0.01 is a
candidate; the face boxes, in annotation order, each take the first free
candidate (highest score first) whose nose and both eyes all lie inside the
box (edges included); a person serves one face at most. The seven points are
taken as they come (DeepPrivacy draws all seven, whatever their keypoint
scores).

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
FACE_POINTS = 3  # nose and eyes: the points that must fall inside the face box (DeepPrivacy's rule)
MIN_SCORE = 0.01  # a person scored above this is a candidate (DeepPrivacy's WIDER script)


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
    # torchvision runs the COCO model with frozen batch norms of eps 0; built
    # without weights it has plain batch norms (eps 1e-5), equal to those in eval mode.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eps = 0.0
    return model.eval()


def match_people(boxes: np.ndarray, people: np.ndarray, scores: np.ndarray) -> list[np.ndarray | None]:
    """For each face box (x, y, w, h) the seven points of its person, or None (DeepPrivacy's rules).

    people: (P, 17 or more, 2 or 3) COCO keypoints; scores: (P,). Boxes in
    order each take the free person of highest score whose nose and eyes lie
    inside the box, edges included; a person is used once. The points come
    back as (7, 3) x, y, visible = 1.
    """
    people = np.asarray(people, dtype=np.float64)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    used: set[int] = set()
    out: list[np.ndarray | None] = []
    for x, y, w, h in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        match = None
        for p in order:
            if p in used:
                continue
            face = people[p, :FACE_POINTS, :2]
            if ((face[:, 0] >= x) & (face[:, 0] <= x + w) & (face[:, 1] >= y) & (face[:, 1] <= y + h)).all():
                match = int(p)
                used.add(match)
                break
        if match is None:
            out.append(None)
            continue
        kp = np.ones((N_POINTS, 3), dtype=np.float64)
        kp[:, :2] = people[match, :N_POINTS, :2]
        out.append(kp)
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
            from safefakes.devices import resolve_device

            self.device = resolve_device(device)
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
        keep = pred["scores"] > self.min_score
        kps = pred["keypoints"][keep].cpu().numpy().astype(np.float64)  # (P, 17, 3)
        return match_people(boxes, kps, pred["scores"][keep].cpu().numpy())
