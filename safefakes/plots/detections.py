"""Detections of detectors trained on differently anonymized data, on the same validation images (Fig. 5).

The paper shows the full-image-blur detector beside the DeepPrivacy one: both
score close to the original's mAP, and they find the same faces. One row per
image, one column per detector: the annotated faces (green, dashed) and the
detections scored at least ``score`` (red, with their scores); each panel says
how many annotated faces a detection at that score takes at IoU >= 0.5 (the
official matching, ``evaluation.failure_cases.best_face_scores``), and the
image's top score (a detector whose scores stay under the threshold still
ranks faces, which is what its AP measures).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from safefakes.data.images import read_image
from safefakes.data.split import Split
from safefakes.data.wider_files import GroundTruth, read_predictions
from safefakes.errors import InputError
from safefakes.evaluation.detector_view import DEFAULT_SCORE, all_faces_ground_truth
from safefakes.evaluation.failure_cases import best_face_scores
from safefakes.plots.style import label, ordered_methods, plt, save_figure

N_IMAGES = 3
#: An image is a candidate when it has a face at least this wide (a figure of specks shows nothing).
MIN_WIDTH = 16
GROUND_TRUTH_COLOR = "#2ca02c"
DETECTION_COLOR = "#d62728"


def choose_detection_images(split: Split, n: int = N_IMAGES, min_width: int = MIN_WIDTH) -> list[str]:
    """``n`` images from distinct events, spread evenly over the events in name order: in each, the first
    image by name with a face at least ``min_width`` px wide (else its first image)."""
    events: dict[str, list] = {}
    for im in sorted(split.images, key=lambda im: im.name):
        events.setdefault(im.event, []).append(im)
    if not events:
        raise InputError(split.root, "the split has no image")
    names = sorted(events)
    picks = sorted({int(round(i)) for i in np.linspace(0, len(names) - 1, min(n, len(names)))})
    chosen = []
    for i in picks:
        images = events[names[i]]
        wide = [im for im in images if len(im.boxes) and (im.boxes[:, 2] >= min_width).any()]
        chosen.append((wide or images)[0].name)
    return chosen


def _image_key(name: str) -> str:
    event = name.rsplit("/", 1)[0] if "/" in name else ""
    return f"{event}/{Path(name).stem}"


def plot_detections(val_dir: str | Path, predictions: Mapping[str, str | Path], out_stem: str | Path,
                    score: float = DEFAULT_SCORE, images: list[str] | None = None,
                    titles: Mapping[str, str] | None = None) -> list[Path]:
    """predictions: method -> prediction folder (official layout) of its detector on ``val_dir``.

    ``images``: the image names to show (default ``choose_detection_images``); ``titles``: a column
    title per method (default its label). Writes ``<out_stem>.png`` and ``.pdf``.
    """
    if not predictions:
        raise ValueError("no detector's predictions given")
    split = Split.load(val_dir, sidecars=False)
    images = images or choose_detection_images(split)
    missing = [name for name in images if name not in split]
    if missing:
        raise InputError(Path(val_dir) / "annotations.txt", f"no image {missing[0]!r}")
    shown = Split(split.root, [split[name] for name in images])
    truth = all_faces_ground_truth(shown)
    methods = ordered_methods(predictions)
    detections = {m: _read(predictions[m], shown) for m in methods}
    fig, axes = plt.subplots(len(images), len(methods), figsize=(3.2 * len(methods), 3.2 * len(images)),
                             squeeze=False)
    for row, name in enumerate(images):
        img = read_image(split.image_path(name))
        boxes = split[name].boxes
        for col, method in enumerate(methods):
            ax = axes[row, col]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            for x, y, w, h in boxes:
                ax.add_patch(plt.Rectangle((x, y), w, h, fill=False, edgecolor=GROUND_TRUTH_COLOR,
                                           linestyle="--", linewidth=1.0))
            every = detections[method].get(_image_key(name), np.zeros((0, 5)))
            dets = every[every[:, 4] >= score]
            # A detector whose scores stay under the threshold still ranks faces (its AP): say how high.
            top = f"top score {every[:, 4].max():.2f}" if len(every) else "no detection"
            for x, y, w, h, s in dets:
                ax.add_patch(plt.Rectangle((x, y), w, h, fill=False, edgecolor=DETECTION_COLOR, linewidth=1.2))
                ax.text(x, y - 1, f"{s:.2f}", color=DETECTION_COLOR, fontsize=6, va="bottom")
            found = _found(truth, detections[method], name, score)
            ax.set_xlabel(f"{found} of {len(boxes)} faces found, {len(dets)} detections ({top})", fontsize=7)
            if row == 0:
                ax.set_title((titles or {}).get(method, label(method)), fontsize=9)
            if col == 0:
                ax.set_ylabel(name, fontsize=7)
    fig.suptitle(f"Annotated faces (green, dashed) and detections scored >= {score:g} (red)", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out_stem)


def _read(pred_dir: str | Path, split: Split) -> dict[str, np.ndarray]:
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise InputError(pred_dir, "prediction folder not found",
                         hint="predict on the validation split first (`safefakes detect`)")
    wanted = {_image_key(im.name) for im in split.images}
    return {k: v for k, v in read_predictions(pred_dir).items() if k in wanted}


def _found(truth: GroundTruth, detections: Mapping[str, np.ndarray], name: str, score: float) -> int:
    """How many of the image's faces a detection scored >= ``score`` takes (IoU >= 0.5)."""
    index = [i for i, im in enumerate(truth.images) if im.key == _image_key(name)][0]
    one = GroundTruth(truth.events, [truth.images[index]])
    key = truth.images[index].key
    best = best_face_scores(one, {key: detections.get(key, np.zeros((0, 5)))})
    return int((best >= score).sum())


__all__ = ["N_IMAGES", "MIN_WIDTH", "choose_detection_images", "plot_detections"]
