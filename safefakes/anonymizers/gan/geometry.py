"""Crop a face for a GAN and paste the generated face back (shared by every GAN).

DeepPrivacy's geometry: the face box is made square and expanded on every side
by 0.35 of its larger side, the square is cut out of the image (shifted to stay
inside it when it fits, zero-padded where it does not) and resized to the model
resolution. The tight box is blacked out *before* resizing, in full-resolution
image pixels, and again in crop pixels with the crop-space box rounded outwards,
so no pixel inside the box can leak into the generator through interpolation.
The generated square is resized back and only the tight box is written.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from safefakes.data.boxes import clip_box

EXPAND = 0.35  # DeepPrivacy: each side grows by this fraction of the larger box side


@dataclass
class FaceCrop:
    """One face prepared for a generator."""

    image: np.ndarray  # (R, R, 3) uint8, the tight box blacked out
    mask: np.ndarray  # (R, R) bool, True where the pixels are known (outside the box)
    keypoints: np.ndarray  # (K, 3) x, y in [0, 1] of the crop, visible 0/1
    square: tuple[int, int, int]  # x0, y0, side of the square in image pixels
    box: tuple[int, int, int, int]  # the tight box x1, y1, x2, y2 in image pixels (clipped)


def square_box(box: np.ndarray, width: int, height: int, expand: float = EXPAND) -> tuple[int, int, int]:
    """x0, y0, side of the expanded square around a WIDER box (x, y, w, h).

    The square is shifted to lie inside the image when it fits, so the crop
    holds as much real context as possible; otherwise it stays centred and the
    crop is zero-padded.
    """
    x, y, w, h = (float(v) for v in box[:4])
    side = max(w, h) * (1.0 + 2.0 * expand)
    side_px = max(int(np.ceil(side)), 1)
    cx, cy = x + w / 2.0, y + h / 2.0
    x0 = int(np.floor(cx - side_px / 2.0))
    y0 = int(np.floor(cy - side_px / 2.0))
    if side_px <= width:
        x0 = min(max(x0, 0), width - side_px)
    if side_px <= height:
        y0 = min(max(y0, 0), height - side_px)
    return x0, y0, side_px


def _cut(image: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """The square [x0, x0+side) x [y0, y0+side) of ``image``, zero outside the image."""
    H, W = image.shape[:2]
    out = np.zeros((side, side) + image.shape[2:], dtype=image.dtype)
    ix1, iy1 = max(x0, 0), max(y0, 0)
    ix2, iy2 = min(x0 + side, W), min(y0 + side, H)
    if ix2 > ix1 and iy2 > iy1:
        out[iy1 - y0:iy2 - y0, ix1 - x0:ix2 - x0] = image[iy1:iy2, ix1:ix2]
    return out


def box_mask(box: tuple[int, int, int, int], square: tuple[int, int, int], resolution: int) -> np.ndarray:
    """(R, R) bool mask of the crop, False on every crop pixel that overlaps the tight box."""
    x0, y0, side = square
    scale = resolution / side
    bx1, by1, bx2, by2 = box
    c1 = max(int(np.floor((bx1 - x0) * scale)), 0)
    r1 = max(int(np.floor((by1 - y0) * scale)), 0)
    c2 = min(int(np.ceil((bx2 - x0) * scale)), resolution)
    r2 = min(int(np.ceil((by2 - y0) * scale)), resolution)
    mask = np.ones((resolution, resolution), dtype=bool)
    mask[r1:r2, c1:c2] = False
    return mask


def crop_face(
    image: np.ndarray,
    box: np.ndarray,
    resolution: int,
    keypoints: np.ndarray | None = None,
    expand: float = EXPAND,
    hide: list[tuple[int, int, int, int]] | None = None,
) -> FaceCrop | None:
    """Cut the face of ``box`` (x, y, w, h) out of ``image`` for a generator.

    keypoints: (K, 3) x, y, visible in image pixels, or None (empty maps).
    hide: further x1, y1, x2, y2 boxes to black out (other faces of the image),
    so no face's pixels reach the generator through a neighbour's crop.
    Returns None when the box is empty inside the image.
    """
    H, W = image.shape[:2]
    tight = clip_box(box, W, H)
    if tight is None:
        return None
    blacked = image.copy()
    for x1, y1, x2, y2 in [tight] + list(hide or []):
        blacked[y1:y2, x1:x2] = 0
    square = square_box(box, W, H, expand)
    x0, y0, side = square
    cut = _cut(blacked, x0, y0, side)
    interp = cv2.INTER_AREA if side > resolution else cv2.INTER_LINEAR
    crop = cv2.resize(cut, (resolution, resolution), interpolation=interp)
    mask = box_mask(tight, square, resolution)
    crop[~mask] = 0
    kps = np.zeros((0, 3), dtype=np.float32)
    if keypoints is not None:
        kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
        u = (kp[:, 0] - x0) / side
        v = (kp[:, 1] - y0) / side
        vis = (kp[:, 2] > 0) & (u >= 0) & (u < 1) & (v >= 0) & (v < 1) & np.isfinite(u) & np.isfinite(v)
        kps = np.stack([np.where(vis, u, 0), np.where(vis, v, 0), vis.astype(np.float64)], 1).astype(np.float32)
    return FaceCrop(crop, mask, kps, square, tight)


def real_crop(image: np.ndarray, square: tuple[int, int, int], resolution: int) -> np.ndarray:
    """The untouched square resized like ``crop_face`` does (the training target)."""
    x0, y0, side = square
    interp = cv2.INTER_AREA if side > resolution else cv2.INTER_LINEAR
    return cv2.resize(_cut(image, x0, y0, side), (resolution, resolution), interpolation=interp)


def paste_face(image: np.ndarray, generated: np.ndarray, crop: FaceCrop) -> np.ndarray:
    """Write the generated square back into the tight box of ``crop`` only (in place on ``image``)."""
    x0, y0, side = crop.square
    x1, y1, x2, y2 = crop.box
    full = cv2.resize(generated, (side, side), interpolation=cv2.INTER_LINEAR)
    image[y1:y2, x1:x2] = full[y1 - y0:y2 - y0, x1 - x0:x2 - x0]
    return image


def paste_order(boxes: np.ndarray) -> np.ndarray:
    """Indices of the faces by area, smallest first: larger faces are pasted last (on top)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    area = np.clip(boxes[:, 2], 0, None) * np.clip(boxes[:, 3], 0, None)
    return np.argsort(area, kind="stable")
