"""dlib-68 landmarks drawn the way CIAGAN and Sun2018 feed them to their generators.

CIAGAN (Maximov et al., CVPR 2020; its ``process_data.py``):

* the *landmark image*: 1-px lines along the jaw (points 0-16), the nose
  bridge (27-30) and the closed inner mouth (60-67), nothing else, so the
  generator gets the face's pose and expression but not the shape of eyes,
  brows or lips (those carry identity);
* the *mask*: the jaw line (0-16) closed at eyebrow height, i.e. the polygon
  (x0, y19), 0, 1, ..., 16, (x16, y24), filled. Points 19 and 24 are the tops
  of the brow arches. It covers brows, eyes, nose, mouth and chin, but not the
  forehead, hair or ears: CIAGAN keeps those pixels.

Sun2018 (Sun et al., CVPR 2018): one map per landmark, a filled disc around
the point (the pose encoding of Ma et al.'s PG2, the same group: radius 4 px
at 128 px, scaled with the resolution here), so the 68 maps give the
generator the whole face layout. A missing landmark gives an empty map.

Coordinates: a point (u, v) in [0, 1] of the crop lies in pixel
(floor(u R), floor(v R)), as in ``blocks.keypoint_maps``.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

N_LANDMARKS = 68
JAW = tuple(range(0, 17))
NOSE_BRIDGE = tuple(range(27, 31))
INNER_MOUTH = tuple(range(60, 68))
BROW_TOP_IMAGE_LEFT = 19  # top of the brow arch on the image's left
BROW_TOP_IMAGE_RIGHT = 24
#: The points the CIAGAN mask needs; a face missing any of them has no usable landmarks.
MASK_POINTS = JAW + (BROW_TOP_IMAGE_LEFT, BROW_TOP_IMAGE_RIGHT)

# Left/right mirror pairs of dlib's 68 points (iBUG 300-W order), swapped on a horizontal flip.
DLIB68_FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    tuple((i, 16 - i) for i in range(8))  # jaw
    + ((17, 26), (18, 25), (19, 24), (20, 23), (21, 22))  # brows
    + ((31, 35), (32, 34))  # nostrils
    + ((36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46))  # eyes
    + ((48, 54), (49, 53), (50, 52), (55, 59), (56, 58))  # outer lips
    + ((60, 64), (61, 63), (65, 67))  # inner lips
)


def ciagan_segments() -> list[tuple[int, int]]:
    """The landmark pairs joined by a line in CIAGAN's landmark image."""
    segs = [(JAW[i], JAW[i + 1]) for i in range(len(JAW) - 1)]
    segs += [(NOSE_BRIDGE[i], NOSE_BRIDGE[i + 1]) for i in range(len(NOSE_BRIDGE) - 1)]
    segs += [(INNER_MOUTH[i], INNER_MOUTH[(i + 1) % len(INNER_MOUTH)]) for i in range(len(INNER_MOUTH))]
    return segs


_SEGMENTS = ciagan_segments()


def _pixels(points: np.ndarray, resolution: int) -> np.ndarray:
    """(K, 2) integer pixel columns/rows of points given in [0, 1] crop units."""
    return np.floor(np.asarray(points, dtype=np.float64)[:, :2] * resolution).astype(np.int32)


def has_mask_points(keypoints: np.ndarray) -> bool:
    """True when a (68, 3) face has every point the CIAGAN mask needs."""
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    return kp.shape[0] == N_LANDMARKS and bool((kp[list(MASK_POINTS), 2] > 0).all())


def ciagan_landmark_image(keypoints: np.ndarray, resolution: int) -> np.ndarray:
    """(R, R) float32, 1 on the 1-px lines of jaw, nose bridge and inner mouth, else 0.

    keypoints: (68, 3) x, y in [0, 1] of the crop and a visible flag; a
    segment is drawn only when both of its ends are visible.
    """
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    img = np.zeros((resolution, resolution), np.uint8)
    if kp.shape[0] != N_LANDMARKS:
        return img.astype(np.float32)
    px = _pixels(kp, resolution)
    vis = kp[:, 2] > 0
    for a, b in _SEGMENTS:
        if vis[a] and vis[b]:
            cv2.line(img, (int(px[a, 0]), int(px[a, 1])), (int(px[b, 0]), int(px[b, 1])), 1, 1, cv2.LINE_8)
    return img.astype(np.float32)


def ciagan_polygon(keypoints: np.ndarray) -> np.ndarray:
    """(19, 2) vertices of the CIAGAN mask in the keypoints' own units: the jaw closed at brow height."""
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    top_left = [kp[JAW[0], 0], kp[BROW_TOP_IMAGE_LEFT, 1]]
    top_right = [kp[JAW[-1], 0], kp[BROW_TOP_IMAGE_RIGHT, 1]]
    return np.array([top_left, *kp[list(JAW), :2], top_right], dtype=np.float64)


def ciagan_mask(keypoints: np.ndarray, resolution: int, dilate: int = 0) -> np.ndarray:
    """(R, R) bool, True inside the filled jaw polygon (the pixels CIAGAN replaces).

    keypoints: (68, 3) in [0, 1] crop units. dilate: grow the mask by this
    many pixels (a 3x3 cross per step). A face without the mask points gives
    an empty mask.
    """
    mask = np.zeros((resolution, resolution), np.uint8)
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    if not has_mask_points(kp):
        return mask.astype(bool)
    poly = np.floor(ciagan_polygon(kp) * resolution).astype(np.int32)
    cv2.fillPoly(mask, [poly], 1)
    if dilate > 0:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)), iterations=int(dilate))
    return mask.astype(bool)


def ciagan_inputs(keypoints: torch.Tensor, resolution: int, dilate: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched landmark images (B, 1, R, R) and masks (B, 1, R, R) float, on the keypoints' device."""
    kps = keypoints.detach().float().cpu().numpy()
    lines = np.stack([ciagan_landmark_image(k, resolution) for k in kps]) if len(kps) else \
        np.zeros((0, resolution, resolution), np.float32)
    masks = np.stack([ciagan_mask(k, resolution, dilate) for k in kps]).astype(np.float32) if len(kps) else \
        np.zeros((0, resolution, resolution), np.float32)
    dev = keypoints.device
    return torch.from_numpy(lines).unsqueeze(1).to(dev), torch.from_numpy(masks).unsqueeze(1).to(dev)


def landmark_heatmaps(keypoints: torch.Tensor, resolution: int, radius: float) -> torch.Tensor:
    """Sun2018's landmark maps: (B, K, 3) in [0, 1] -> (B, K, R, R), 1 within ``radius`` px of each point.

    Distances are measured between pixel centres (a point lies in pixel
    floor(u R)), so radius 0 marks that one pixel. Invisible points give
    empty maps.
    """
    b, k, _ = keypoints.shape
    kp = keypoints.float()
    grid = torch.arange(resolution, device=kp.device, dtype=torch.float32)
    col = (kp[..., 0] * resolution).floor().clamp(0, resolution - 1)
    row = (kp[..., 1] * resolution).floor().clamp(0, resolution - 1)
    dx = grid.view(1, 1, 1, -1) - col.view(b, k, 1, 1)
    dy = grid.view(1, 1, -1, 1) - row.view(b, k, 1, 1)
    inside = (dx * dx + dy * dy) <= radius * radius + 1e-6
    vis = (kp[..., 2] > 0).view(b, k, 1, 1)
    return (inside & vis).float()


def heatmap_radius(resolution: int, radius_at_128: float = 4.0) -> float:
    """PG2's 4 px at 128 px, scaled to ``resolution`` (at least 1 px)."""
    return max(1.0, radius_at_128 * resolution / 128.0)
