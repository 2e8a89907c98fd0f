"""Anchor boxes of the two shots (Progressive Anchor Loss) and the box encoding.

One anchor per source-map cell, centred on the cell, ``size`` pixels on the
geometric mean of its sides with height / width = ``aspect``. The second shot
uses ``anchor_sizes`` (16..512 over strides 4..128 in DSFD); the first shot
the same times ``first_shot_ratio`` (one half). Boxes are in input pixels,
ordered level by level, then row by row, then column by column: the order in
which ``model.Head`` flattens its predictions.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch


def anchor_boxes(
    feature_sizes: Sequence[tuple[int, int]],
    strides: Sequence[int],
    sizes: Sequence[float],
    aspect: float = 1.5,
) -> torch.Tensor:
    """(A, 4) anchors as cx, cy, w, h in input pixels (float32)."""
    if not (len(feature_sizes) == len(strides) == len(sizes)):
        raise ValueError("one stride and one anchor size per source map are needed")
    out = []
    for (h, w), stride, size in zip(feature_sizes, strides, sizes):
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                                indexing="ij")
        cx = (xs.reshape(-1) + 0.5) * stride
        cy = (ys.reshape(-1) + 0.5) * stride
        aw = torch.full_like(cx, size / math.sqrt(aspect))
        ah = torch.full_like(cx, size * math.sqrt(aspect))
        out.append(torch.stack([cx, cy, aw, ah], dim=1))
    return torch.cat(out, 0).float()


def shot_anchors(feature_sizes: Sequence[tuple[int, int]], config) -> tuple[torch.Tensor, torch.Tensor]:
    """(first-shot anchors, second-shot anchors) for a ``DetectorConfig``."""
    second = anchor_boxes(feature_sizes, config.strides, config.anchor_sizes, config.anchor_aspect)
    first_sizes = [s * config.first_shot_ratio for s in config.anchor_sizes]
    first = anchor_boxes(feature_sizes, config.strides, first_sizes, config.anchor_aspect)
    return first, second


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    cxcy, wh = boxes[..., :2], boxes[..., 2:]
    return torch.cat([cxcy - wh / 2, cxcy + wh / 2], dim=-1)


def xyxy_to_cxcywh(boxes: torch.Tensor) -> torch.Tensor:
    return torch.cat([(boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]], dim=-1)


def encode(boxes_xyxy: torch.Tensor, anchors: torch.Tensor, variances: Sequence[float] = (0.1, 0.2)) -> torch.Tensor:
    """SSD regression targets of matched boxes relative to their anchors (cx, cy, w, h)."""
    b = xyxy_to_cxcywh(boxes_xyxy)
    d_xy = (b[..., :2] - anchors[..., :2]) / (variances[0] * anchors[..., 2:])
    d_wh = torch.log(b[..., 2:].clamp(min=1e-6) / anchors[..., 2:]) / variances[1]
    return torch.cat([d_xy, d_wh], dim=-1)


def decode(offsets: torch.Tensor, anchors: torch.Tensor, variances: Sequence[float] = (0.1, 0.2)) -> torch.Tensor:
    """Inverse of ``encode``: predicted offsets -> x1, y1, x2, y2 boxes."""
    cxcy = anchors[..., :2] + offsets[..., :2] * variances[0] * anchors[..., 2:]
    # Clamp before exp: an untrained head must not produce infinite boxes.
    wh = anchors[..., 2:] * torch.exp((offsets[..., 2:] * variances[1]).clamp(max=10.0))
    return torch.cat([cxcy - wh / 2, cxcy + wh / 2], dim=-1)


__all__ = ["anchor_boxes", "shot_anchors", "cxcywh_to_xyxy", "xyxy_to_cxcywh", "encode", "decode"]
