"""Training augmentation of DSFD: photometric distortion, crops, flips, resizing.

Improved Anchor Matching draws each training crop either by
data-anchor-sampling (PyramidBox: rescale the image so that one random face
takes the size of a randomly chosen anchor no more than one scale above its
own, with probability ``data_anchor_sampling``) or by an SSD-style random
square crop. Every random choice comes from the ``np.random.Generator``
passed in, so a sample is reproducible from its seed alone. Images are RGB
float32 in 0..255; boxes are x1 y1 x2 y2 in pixels. Inputs are not modified.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# Padding outside the image: the ImageNet mean colour, i.e. zero after normalisation.
FILL_RGB = (123.675, 116.28, 103.53)


def photometric_distort(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random brightness, contrast, saturation and hue (each with probability 1/2), as SSD."""
    img = image.astype(np.float32, copy=True)
    contrast_first = rng.random() < 0.5
    if rng.random() < 0.5:
        img += np.float32(rng.uniform(-32, 32))
    if contrast_first and rng.random() < 0.5:
        img *= np.float32(rng.uniform(0.5, 1.5))
    do_sat, do_hue = rng.random() < 0.5, rng.random() < 0.5
    sat, hue = rng.uniform(0.5, 1.5), rng.uniform(-18, 18)
    if do_sat or do_hue:
        hsv = cv2.cvtColor(np.clip(img, 0, 255) / 255.0, cv2.COLOR_RGB2HSV)  # H in degrees
        if do_sat:
            hsv[..., 1] = np.clip(hsv[..., 1] * sat, 0, 1)
        if do_hue:
            hsv[..., 0] = np.mod(hsv[..., 0] + hue, 360.0)
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0
    if not contrast_first and rng.random() < 0.5:
        img *= np.float32(rng.uniform(0.5, 1.5))
    return np.clip(img, 0, 255).astype(np.float32)


def crop_resize(image: np.ndarray, boxes: np.ndarray, x0: float, y0: float, side: float,
                out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut the square (x0, y0, side) out of the image (padding outside it) and resize it.

    Faces whose centre falls outside the square are dropped; the others are
    clipped to it.
    """
    scale = out_size / side
    m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], dtype=np.float64)
    out = cv2.warpAffine(image.astype(np.float32), m, (out_size, out_size), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=FILL_RGB)
    if len(boxes) == 0:
        return out, boxes.reshape(0, 4).astype(np.float32)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    inside = ((centre[:, 0] >= x0) & (centre[:, 0] < x0 + side)
              & (centre[:, 1] >= y0) & (centre[:, 1] < y0 + side))
    b = (boxes[inside] - np.array([x0, y0, x0, y0])) * scale
    b = np.clip(b, 0, out_size)
    return out, b.astype(np.float32)


def random_square_crop(boxes: np.ndarray, height: int, width: int, rng: np.random.Generator,
                       min_crop: float, tries: int = 25) -> tuple[float, float, float]:
    """An SSD-style square crop holding at least one face centre (x0, y0, side)."""
    short = min(height, width)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2 if len(boxes) else np.zeros((0, 2))
    for _ in range(tries):
        side = rng.uniform(min_crop, 1.0) * short
        x0 = rng.uniform(0, width - side)
        y0 = rng.uniform(0, height - side)
        if len(boxes) == 0:
            return x0, y0, side
        inside = ((centres[:, 0] >= x0) & (centres[:, 0] < x0 + side)
                  & (centres[:, 1] >= y0) & (centres[:, 1] < y0 + side))
        if inside.any():
            return x0, y0, side
    # No luck: the whole image, padded to a square.
    side = float(max(height, width))
    return (width - side) / 2, (height - side) / 2, side


def data_anchor_crop(boxes: np.ndarray, height: int, width: int, rng: np.random.Generator,
                     input_size: int, anchor_sizes: tuple[float, ...]) -> tuple[float, float, float]:
    """Data-anchor-sampling: a square (x0, y0, side) that resizes one face to a sampled anchor scale."""
    k = int(rng.integers(len(boxes)))
    x1, y1, x2, y2 = (float(v) for v in boxes[k])
    face = math.sqrt(max(x2 - x1, 1.0) * max(y2 - y1, 1.0))
    # Anchors larger than the crop can never match anything in it.
    usable = [a for a in anchor_sizes if a <= input_size] or [min(anchor_sizes)]
    nearest = int(np.argmin([abs(a - face) for a in usable]))
    target_index = int(rng.integers(0, min(nearest + 1, len(usable) - 1) + 1))
    anchor = usable[target_index]
    target = rng.uniform(anchor / 2, anchor * 2)
    side = input_size * face / target  # crop side in original pixels
    # Place the face anywhere inside the crop (centred when it does not fit).
    lo_x, hi_x = x2 - side, x1
    lo_y, hi_y = y2 - side, y1
    x0 = rng.uniform(lo_x, hi_x) if hi_x > lo_x else (x1 + x2 - side) / 2
    y0 = rng.uniform(lo_y, hi_y) if hi_y > lo_y else (y1 + y2 - side) / 2
    return x0, y0, side


def augment(image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, config) -> tuple[np.ndarray, np.ndarray]:
    """One training sample: (input_size, input_size, 3) float32 RGB and its (M, 4) x1 y1 x2 y2 faces."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    height, width = image.shape[:2]
    img = photometric_distort(image, rng) if config.photometric else image.astype(np.float32)
    size = int(config.input_size)
    if len(boxes) and rng.random() < config.data_anchor_sampling:
        x0, y0, side = data_anchor_crop(boxes, height, width, rng, size, tuple(config.anchor_sizes))
    else:
        x0, y0, side = random_square_crop(boxes, height, width, rng, config.min_crop)
    img, out_boxes = crop_resize(img, boxes, x0, y0, side, size)
    if rng.random() < config.flip:
        img = np.ascontiguousarray(img[:, ::-1])
        out_boxes = np.stack([size - out_boxes[:, 2], out_boxes[:, 1], size - out_boxes[:, 0], out_boxes[:, 3]],
                             axis=1).reshape(-1, 4)
    wh = out_boxes[:, 2:] - out_boxes[:, :2]
    keep = (wh >= config.min_face_size).all(axis=1)
    return img, out_boxes[keep].astype(np.float32)


def resize_for_test(image: np.ndarray, scale: float) -> np.ndarray:
    """Rescale a whole image for inference (float32 RGB)."""
    if scale == 1.0:
        return image.astype(np.float32)
    h, w = image.shape[:2]
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image.astype(np.float32), size, interpolation=interp)


__all__ = ["augment", "photometric_distort", "crop_resize", "random_square_crop", "data_anchor_crop",
           "resize_for_test", "FILL_RGB"]
