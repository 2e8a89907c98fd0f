"""How much of an original face survives in an output image: the audit's measure.

A face is "still there" when the output holds the original's fine detail
(edges of eyes, mouth, hair, skin texture) at the face's place, possibly
shifted by a few pixels. Re-encoding (JPEG at any quality, any chroma
subsampling) keeps most of that detail and only adds noise; blur removes it,
a black box has none, pixelation and a GAN's new face put other detail there.

The measure: the luma of both images is band-passed (a difference of
Gaussians, sigmas ``DETAIL_SIGMAS``: finer is pixel noise that JPEG removes
first, coarser is shading that blur and pixelation keep), and the original's detail inside the
ellipse inscribed in the box (its axes shrunk to ``INNER``) is correlated
with the output's at every shift of up to ``max_shift`` pixels. At the best
shift, the normalised correlation (is the same pattern there?), the share
of the face's own detail energy the output reproduces there (is it there at
full strength? straight lines as long as the box left out: they are an
occluder's or a frame's edge, or pixelation's cells, not the face) and the
original's amplitude against the output's there (is it most of what is
there?) are taken, and the smallest is the face's *survival*: about 1
for the same face, about 0 for unrelated detail or none. Luma alone is
used because JPEG keeps it at full resolution whatever the chroma
subsampling, and identity lives in it. The ellipse, not the box:
a method's region may be the inscribed ellipse (``--region ellipse``), whose
corners keep the original background by design.

Large faces are first reduced to ``MAX_SIDE`` pixels (area averaging), so
the cost per face is bounded and the detail measured is the face's
structure, not sensor noise; the shift scales with them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

DETAIL_SIGMAS = (0.7, 1.6)
MAX_SIDE = 96
DEFAULT_MAX_SHIFT = 4
#: The judged ellipse's axes, as a share of the box's: a face's outline lies on its box's
#: edge, and a black box's edge there looks like an outline to the measure.
INNER = 0.8


def _luma(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)


def _detail(grey: np.ndarray) -> np.ndarray:
    fine = cv2.GaussianBlur(grey, (0, 0), DETAIL_SIGMAS[0], borderType=cv2.BORDER_REFLECT)
    return fine - cv2.GaussianBlur(grey, (0, 0), DETAIL_SIGMAS[1], borderType=cv2.BORDER_REFLECT)


def _ellipse_mask(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    ry, rx = max(INNER * h / 2.0, 0.5), max(INNER * w / 2.0, 0.5)
    return ((((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) <= 1.0).astype(np.float32)


def face_detail(original: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Root-mean-square detail (grey levels) of the original inside the box's ellipse.

    ``box`` is clipped ``(x1, y1, x2, y2)``. A face below a few grey levels
    has nothing a method could remove: it cannot be judged by survival.
    """
    template, mask = _window(original, box, 0)[1:]
    n = float(mask.sum())
    return math.sqrt(float((template ** 2).sum()) / n) if n else 0.0


#: The copies of the original face searched besides the face itself: mirrored,
#: rescaled about the box's centre, and sampled down to half and up again.
TRANSFORMS = ("mirrored", "scaled 0.9", "scaled 1.1", "down-up 0.5")


def survival(
    original: np.ndarray, output: np.ndarray, box: tuple[int, int, int, int], max_shift: int = DEFAULT_MAX_SHIFT,
    transforms: bool = False,
) -> float:
    """Largest normalised correlation of the original's detail with the output's, over shifts.

    original, output: RGB uint8 images of one size; box: clipped ``(x1, y1, x2, y2)``.
    transforms: also search the copies of ``TRANSFORMS`` (see ``survival_of_copies``).
    """
    if transforms:
        return survival_of_copies(original, output, box, max_shift)[0]
    scale, template, mask = _window(original, box, 0)
    shift = max(1, math.ceil(max_shift * scale))
    searched = _window(output, box, shift, scale)[1]
    return _best_match(template, searched, mask)


def survival_of_copies(
    original: np.ndarray, output: np.ndarray, box: tuple[int, int, int, int], max_shift: int = DEFAULT_MAX_SHIFT,
) -> tuple[float, str]:
    """(survival, what was found): the largest survival of the face itself and of its copies.

    A face mirrored, rescaled by 10 % or sampled down and up again is still the
    face, but its detail no longer lies where the original's did: each such copy
    of the original is made around the box and searched in the output like the
    face itself ("as is" when the face itself scores highest).
    """
    x1, y1, x2, y2 = box
    scale = min(1.0, MAX_SIDE / max(x2 - x1, y2 - y1))
    # Both images cut to what _window reads around the box (and a little more), so that
    # each copy costs the box's neighbourhood, not the whole image.
    pad = int(math.ceil((max_shift + 4 * DETAIL_SIGMAS[1] + 4) / scale)) + 2
    height, width = original.shape[:2]
    cx1, cy1, cx2, cy2 = max(0, x1 - pad), max(0, y1 - pad), min(width, x2 + pad), min(height, y2 + pad)
    near = np.ascontiguousarray(original[cy1:cy2, cx1:cx2])
    out = np.ascontiguousarray(output[cy1:cy2, cx1:cx2])
    local = (x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1)
    best = (survival(near, out, local, max_shift), "as is")
    for name in TRANSFORMS:
        found = survival(_copy(near, local, name), out, local, max_shift)
        if found > best[0]:
            best = (found, name)
    return best


def _copy(image: np.ndarray, box: tuple[int, int, int, int], name: str) -> np.ndarray:
    """``image`` transformed about the centre of ``box`` (one of ``TRANSFORMS``)."""
    height, width = image.shape[:2]
    if name == "down-up 0.5":
        small = cv2.resize(image, (max(1, round(width / 2)), max(1, round(height / 2))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    cx, cy = (box[0] + box[2] - 1) / 2.0, (box[1] + box[3] - 1) / 2.0
    if name == "mirrored":
        matrix = np.float32([[-1, 0, 2 * cx], [0, 1, 0]])
    else:
        s = float(name.split()[1])
        matrix = np.float32([[s, 0, cx - s * cx], [0, s, cy - s * cy]])
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _without_lines(detail: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``detail`` (h, w) inside ``mask`` less its straight vertical and horizontal lines.

    An edge that runs straight across the whole judged ellipse is the scene's
    (an occluder's, a frame's) or a method's (the rows and columns of
    pixelation's cells), never what identifies a face, and pixelation
    reproduces it: a box that ran into a flat occluder held mostly that edge,
    and four flat cells whose boundary fell 2 px from it scored 0.75 (the
    share of the original's detail reproduced; its correlation was 0.93).
    So the means of every column and then of every row inside the mask are
    taken out, twice (the mask is an ellipse, so one pass leaves a little),
    of both images alike at the best shift: a copy of the face, shifted or
    re-encoded, still matches its original exactly.
    """
    rows = np.maximum(mask.sum(axis=1, keepdims=True), 1.0)
    cols = np.maximum(mask.sum(axis=0, keepdims=True), 1.0)
    detail = detail * mask
    for _ in range(2):
        detail = detail - (detail.sum(axis=0, keepdims=True) / cols) * mask
        detail = detail - (detail.sum(axis=1, keepdims=True) / rows) * mask
    return detail


def _best_match(template: np.ndarray, searched: np.ndarray, mask: np.ndarray) -> float:
    """Survival of ``template`` (h, w) in ``searched`` (h + 2s, w + 2s), over the (2s + 1)^2 shifts."""
    energy = float((template ** 2).sum())
    if energy <= 0.0:
        return 0.0
    dot = cv2.matchTemplate(searched, template, cv2.TM_CCORR)
    local = cv2.matchTemplate(searched * searched, mask, cv2.TM_CCORR)
    ncc = dot / np.sqrt(np.maximum(local, 1e-6) * energy)
    best = np.unravel_index(int(np.argmax(ncc)), ncc.shape)
    # The share of the original's detail the output reproduces at that shift:
    # low for blur and black boxes, whose little remaining detail (block and
    # box edges, JPEG ringing) can still correlate with the original's. Only
    # the face's own detail counts here, its straight lines left out (see
    # _without_lines); the correlation and the amplitude below keep them, so
    # that an occluder's edge re-encoded beside a faint face does not hide it.
    own = _without_lines(template, mask)
    own_energy = float((own ** 2).sum())
    h, w = template.shape
    there = _without_lines(searched[best[0]:best[0] + h, best[1]:best[1] + w], mask)
    gain = float((there * own).sum()) / own_energy if own_energy > 0.0 else 0.0
    # And the other way round, the original's detail against all the output
    # has there: a face that survives is most of what the window holds, while
    # a black box's edge shifted into a faint small face is far stronger than
    # the face and only resembles it (measured on the default study: correlation
    # 0.76, the output's detail 2.7 times the face's energy). An output whose
    # detail there is over 1.33 times the face's amplitude (heavy sharpening) is
    # therefore not judged to hold the face: `--reid` is the check for that.
    amplitude = math.sqrt(energy / max(float(local[best]), 1e-6))
    return float(np.clip(min(float(ncc[best]), gain, amplitude), -1.0, 1.0))


def _window(image: np.ndarray, box: tuple[int, int, int, int], margin: int,
            scale: float | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """(scale, detail of the box grown by ``margin`` scaled px, ellipse mask of the box).

    The detail is computed on a context around the box (so the blur's border
    is real image, not a mirror of the face) and zero beyond the image (no
    detail there to match).
    """
    x1, y1, x2, y2 = box
    if scale is None:
        scale = min(1.0, MAX_SIDE / max(x2 - x1, y2 - y1))
    pad = int(math.ceil((margin + 4 * DETAIL_SIGMAS[1] + 1) / scale))
    height, width = image.shape[:2]
    cx1, cy1, cx2, cy2 = max(0, x1 - pad), max(0, y1 - pad), min(width, x2 + pad), min(height, y2 + pad)
    grey = _luma(image[cy1:cy2, cx1:cx2])
    left, top = x1 - cx1, y1 - cy1
    if scale < 1.0:
        size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    detail = _detail(grey)
    bx1, by1 = int(round(left * scale)), int(round(top * scale))
    bw, bh = max(1, int(round((x2 - x1) * scale))), max(1, int(round((y2 - y1) * scale)))
    mask = _ellipse_mask(bh, bw)
    if margin == 0:
        crop = detail[by1:by1 + bh, bx1:bx1 + bw]
        crop = _fit(crop, bh, bw)
        return scale, np.ascontiguousarray(crop * mask), mask
    # The searched window: the box grown by ``margin`` on every side, zero outside the image.
    padded = cv2.copyMakeBorder(detail, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=0.0)
    crop = padded[by1:by1 + bh + 2 * margin, bx1:bx1 + bw + 2 * margin]
    return scale, np.ascontiguousarray(_fit(crop, bh + 2 * margin, bw + 2 * margin)), mask


def _fit(crop: np.ndarray, h: int, w: int) -> np.ndarray:
    """``crop`` zero-padded (bottom, right) to h x w: rounding may leave it a pixel short."""
    if crop.shape == (h, w):
        return crop
    out = np.zeros((h, w), dtype=np.float32)
    out[:min(h, crop.shape[0]), :min(w, crop.shape[1])] = crop[:h, :w]
    return out
