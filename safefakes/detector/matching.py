"""Anchor matching: which anchors are faces, and which face each one regresses to.

An anchor is positive when its IoU with some face reaches the threshold (0.4
in DSFD's Improved Anchor Matching, up from SSD's 0.35/0.5); every face also
claims its single best anchor, so that no face, however small or oddly
shaped, goes without a positive.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from safefakes.detector.anchors import cxcywh_to_xyxy
from safefakes.detector.overlap import box_iou


class Match(NamedTuple):
    positive: torch.Tensor  # (A,) bool
    gt_index: torch.Tensor  # (A,) int64: the face each anchor is assigned to (meaningful where positive)
    iou: torch.Tensor  # (A,) IoU with the assigned face; 2.0 where a face forced its best anchor


def match_anchors(gt_boxes: torch.Tensor, anchors: torch.Tensor, threshold: float = 0.4) -> Match:
    """Match faces (G, 4) x1 y1 x2 y2 to anchors (A, 4) cx cy w h."""
    n = anchors.shape[0]
    device = anchors.device
    if gt_boxes.numel() == 0:
        return Match(torch.zeros(n, dtype=torch.bool, device=device),
                     torch.zeros(n, dtype=torch.long, device=device),
                     torch.zeros(n, device=device))
    iou = box_iou(gt_boxes.float(), cxcywh_to_xyxy(anchors.float()))  # (G, A)
    best_iou, best_gt = iou.max(dim=0)  # per anchor
    best_anchor = iou.argmax(dim=1)  # per face
    # Each face keeps its best anchor even below the threshold (its IoU is
    # then reported as 2.0). Faces are assigned in order, so when two faces
    # share a best anchor the later one wins, deterministically.
    overlaps = iou[torch.arange(iou.shape[0], device=device), best_anchor].tolist()
    for g, a in enumerate(best_anchor.tolist()):
        if overlaps[g] > 0:
            best_gt[a] = g
            best_iou[a] = 2.0
    positive = best_iou >= threshold
    return Match(positive, best_gt, best_iou)


__all__ = ["Match", "match_anchors"]
