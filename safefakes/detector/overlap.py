"""Box overlap and non-maximum suppression, without importing torchvision's Python package.

``import torchvision`` pulls in its model zoo and ``torch._dynamo`` (about
1.5 s), paid again by every detector training and prediction job of the
study. The overlap is a few tensor operations; NMS calls torchvision's
compiled kernel, registered straight from its shared library.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import torch


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Areas of (N, 4) x1 y1 x2 y2 boxes."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, M) intersection over union of (N, 4) and (M, 4) x1 y1 x2 y2 boxes."""
    top_left = torch.max(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=2)
    return inter / (box_area(a)[:, None] + box_area(b)[None, :] - inter)


@functools.cache
def _nms_kernel():
    spec = importlib.util.find_spec("torchvision")
    libraries = sorted(Path(spec.submodule_search_locations[0]).glob("_C*.so")) if spec else []
    for library in libraries:
        try:
            torch.ops.load_library(str(library))
            return torch.ops.torchvision.nms
        except (OSError, RuntimeError):
            continue
    from torchvision.ops import nms  # slower import, same kernel

    return nms


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices of the boxes kept by greedy NMS, by decreasing score (torchvision.ops.nms)."""
    return _nms_kernel()(boxes, scores, float(iou_threshold))
