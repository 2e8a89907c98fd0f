"""Which pixels of an image belong to a face: box or ellipse, grown, clipped.

Every conventional method changes the same region of a face, so the rules
that decide it live here: a degenerate box has no region, a box wholly outside
the image has none either, a face below the minimum size is left as is, and
otherwise the region is the box (or the ellipse inscribed in it) grown about
its centre by ``mask_scale`` and clipped to the image.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np

from safefakes.data.anonymized import Status

REGIONS = ("box", "ellipse")


class FaceRegion(NamedTuple):
    """The pixels to change: a clipped rectangle and, for an ellipse, a mask inside it.

    A named tuple: one is made per face of every image, and a tuple is made
    several times faster than a frozen dataclass.
    """

    x1: int
    y1: int
    x2: int
    y2: int
    mask: np.ndarray | None  # (y2 - y1, x2 - x1) bool, None = the whole rectangle

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y1, self.y2), slice(self.x1, self.x2)


def check_region_options(region: str, mask_scale: float, min_size: float) -> None:
    """Reject option values that would silently anonymize less than asked."""
    if region not in REGIONS:
        raise ValueError(f"region must be one of {', '.join(REGIONS)}, got {region!r}")
    if not np.isfinite(mask_scale) or mask_scale < 1.0:
        # A scale below 1 would leave the rim of every annotated face untouched.
        raise ValueError(f"mask_scale must be >= 1.0 (1.0 = exactly the box), got {mask_scale}")
    if not np.isfinite(min_size) or min_size < 0:
        raise ValueError(f"min_size must be >= 0 pixels, got {min_size}")


def grow_box(box: np.ndarray, scale: float) -> np.ndarray:
    """x, y, w, h of ``box`` scaled by ``scale`` about its centre (float)."""
    x, y, w, h = (float(v) for v in box[:4])
    cx, cy = x + w / 2.0, y + h / 2.0
    w2, h2 = w * scale, h * scale
    return np.array([cx - w2 / 2.0, cy - h2 / 2.0, w2, h2], dtype=np.float64)


def clip(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int] | None:
    """``base.clip_box`` on plain floats: integer x1, y1, x2, y2 in the image, None if empty.

    The same rule (floor the start, ceil the end, clamp to the image), in plain
    Python: this runs for every face of every image, where numpy scalars cost
    more than the arithmetic.
    """
    x, y, w, h = float(box[0]), float(box[1]), float(box[2]), float(box[3])
    x1 = max(math.floor(x), 0)
    y1 = max(math.floor(y), 0)
    x2 = min(math.ceil(x + w), width)
    y2 = min(math.ceil(y + h), height)
    if x2 <= x1 or y2 <= y1:
        return None
    return x1, y1, x2, y2


def is_degenerate(box: Sequence[float]) -> bool:
    return bool(box[2] <= 0 or box[3] <= 0)


def is_outside(box: Sequence[float], width: int, height: int) -> bool:
    """True when a non-degenerate box shares no pixel with the image."""
    return clip(box, width, height) is None


def is_too_small(box: Sequence[float], min_size: float) -> bool:
    """The minimum-size rule: min(w, h) of the annotated box below ``min_size``."""
    return bool(min(float(box[2]), float(box[3])) < min_size)


def skip_status(box: Sequence[float], width: int, height: int, min_size: float = 0.0) -> str | None:
    """The status of a face that gets no region, or None when it is to be anonymized.

    The order matters: a box without area or outside the image has nothing to
    leave as is, so those statuses come before the size rule.
    """
    if is_degenerate(box):
        return Status.DEGENERATE_BOX
    if is_outside(box, width, height):
        return Status.OUTSIDE_IMAGE
    if is_too_small(box, min_size):
        return Status.TOO_SMALL
    return None


def face_region(
    box: Sequence[float], width: int, height: int, region: str = "box", mask_scale: float = 1.0
) -> FaceRegion | None:
    """The region of one face in a ``width`` x ``height`` image, or None if it is empty."""
    grown = grow_box(box, mask_scale) if mask_scale != 1.0 else box
    clipped = clip(grown, width, height)
    if clipped is None:
        return None
    x1, y1, x2, y2 = clipped
    if region == "box":
        return FaceRegion(x1, y1, x2, y2, None)
    # The ellipse inscribed in the grown box, sampled at pixel centres. It is
    # computed in image coordinates, so clipping the box does not reshape it.
    gx, gy, gw, gh = (float(v) for v in grown[:4])
    cx, cy = gx + gw / 2.0, gy + gh / 2.0
    ys = (np.arange(y1, y2, dtype=np.float64) + 0.5 - cy) / (gh / 2.0)
    xs = (np.arange(x1, x2, dtype=np.float64) + 0.5 - cx) / (gw / 2.0)
    mask = (ys[:, None] ** 2 + xs[None, :] ** 2) <= 1.0
    if not mask.any():
        # A box of one or two pixels can miss every pixel centre: keep the
        # pixel nearest the centre so that no face goes untouched.
        mask[min(max(int(cy) - y1, 0), y2 - y1 - 1), min(max(int(cx) - x1, 0), x2 - x1 - 1)] = True
    return FaceRegion(x1, y1, x2, y2, mask)


def face_regions(
    boxes: Sequence[Sequence[float]], width: int, height: int, region: str = "box",
    mask_scale: float = 1.0, min_size: float = 0.0,
) -> list[tuple[str, FaceRegion | None]]:
    """(status, region) of every face: ``skip_status`` then ``face_region``, in one pass.

    The same rules as calling the two per face (the region is None exactly
    when the status is not ``anonymized``), with the common case (a box region
    at scale 1) done inline: this runs for every face of every image.
    """
    out: list[tuple[str, FaceRegion | None]] = []
    plain = region == "box" and mask_scale == 1.0
    floor, ceil = math.floor, math.ceil
    for box in boxes:
        x, y, w, h = float(box[0]), float(box[1]), float(box[2]), float(box[3])
        if w <= 0 or h <= 0:
            out.append((Status.DEGENERATE_BOX, None))
            continue
        x1, y1 = max(floor(x), 0), max(floor(y), 0)
        x2, y2 = min(ceil(x + w), width), min(ceil(y + h), height)
        if x2 <= x1 or y2 <= y1:
            out.append((Status.OUTSIDE_IMAGE, None))
            continue
        if min(w, h) < min_size:
            out.append((Status.TOO_SMALL, None))
            continue
        face = FaceRegion(x1, y1, x2, y2, None) if plain else face_region(box, width, height, region, mask_scale)
        out.append((Status.ANONYMIZED, face) if face is not None else (Status.OUTSIDE_IMAGE, None))
    return out
