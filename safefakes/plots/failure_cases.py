"""A method's failure cases (the paper's Fig. 8): each original face beside its anonymized version, with
the best score the frozen original-trained detector gave each (``evaluation.failure_cases``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from safefakes.data.images import read_image
from safefakes.data.split import Split
from safefakes.errors import InputError
from safefakes.evaluation.failure_cases import FaceScore
from safefakes.plots.style import label, plt, save_figure

#: The crop around a face: a square this many times the box's longer side, centred on the box.
CONTEXT = 1.6
PAIRS_PER_ROW = 4


def face_crop(image: np.ndarray, box: Sequence[int], context: float = CONTEXT) -> tuple[np.ndarray, tuple]:
    """A square crop around ``box`` (x, y, w, h), padded with black outside the image, and the box's
    (x, y, w, h) inside the crop."""
    x, y, w, h = (int(v) for v in box)
    side = max(int(math.ceil(max(w, h) * context)), 1)
    x0, y0 = x + w // 2 - side // 2, y + h // 2 - side // 2
    out = np.zeros((side, side, 3), dtype=image.dtype)
    ih, iw = image.shape[:2]
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, iw), min(y0 + side, ih)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out, (x - x0, y - y0, w, h)


def plot_failure_cases(cases: Sequence[FaceScore], original_dir: str | Path, anonymized_dir: str | Path,
                       out_stem: str | Path, method: str = "deepprivacy",
                       pairs_per_row: int = PAIRS_PER_ROW) -> list[Path]:
    """Original crop | anonymized crop for every case, with the detector's best score on each."""
    if not cases:
        # A split where the method painted no face of that size (a tiny study): say so, stop nothing.
        fig, ax = plt.subplots(figsize=(5, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, f"{label(method)} painted no face of the size asked for: no failure case to show",
                ha="center", va="center", fontsize=8)
        return save_figure(fig, out_stem)
    original, anonymized = Split.load(original_dir, sidecars=False), Split.load(anonymized_dir, sidecars=False)
    for split in (original, anonymized):
        missing = [c.image for c in cases if c.image not in split]
        if missing:
            raise InputError(Path(split.root) / "annotations.txt", f"no image {missing[0]!r}")
    cols = min(pairs_per_row, len(cases))
    rows = math.ceil(len(cases) / cols)
    fig, axes = plt.subplots(rows, 2 * cols, figsize=(1.5 * 2 * cols, 1.85 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, case in enumerate(cases):
        r, c = divmod(i, cols)
        for k, (split, title) in enumerate(((original, _score_text("original", case.original_score)),
                                            (anonymized, _score_text(label(method), case.score)))):
            crop, (bx, by, bw, bh) = face_crop(read_image(split.image_path(case.image)), case.box)
            ax = axes[r, 2 * c + k]
            ax.imshow(crop, interpolation="nearest")
            ax.add_patch(plt.Rectangle((bx - 0.5, by - 0.5), bw, bh, fill=False, edgecolor="#ffdd00",
                                       linewidth=0.6, linestyle=":"))
            ax.set_title(title, fontsize=6.5)
        stem = Path(case.image).stem
        axes[r, 2 * c].text(1.0, -0.04, f"{stem} #{case.face_index}, {case.box[2]} px wide", fontsize=5.5,
                            ha="center", va="top", transform=axes[r, 2 * c].transAxes)
    fig.suptitle(f"{label(method)}: the painted faces the original-trained detector scores lowest "
                 "(its best score at IoU >= 0.5; 0: no detection)", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out_stem)


def _score_text(name: str, score: float | None) -> str:
    return name if score is None else f"{name}: {score:.2f}"


__all__ = ["CONTEXT", "face_crop", "plot_failure_cases"]
