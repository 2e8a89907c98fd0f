"""One validation image under every method, side by side (the paper's Fig. 1)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from safefakes.data.images import read_image
from safefakes.data.split import Split
from safefakes.errors import InputError
from safefakes.plots.style import label, ordered_methods, plt, save_figure


def face_region(split: Split, image_name: str, width: int, height: int, margin: float = 0.6
                ) -> tuple[int, int, int, int]:
    """x1, y1, x2, y2 around all faces of the image, grown by ``margin`` of its size."""
    boxes = split[image_name].boxes.astype(float)
    if len(boxes) == 0:
        return 0, 0, width, height
    x1, y1 = boxes[:, 0].min(), boxes[:, 1].min()
    x2, y2 = (boxes[:, 0] + boxes[:, 2]).max(), (boxes[:, 1] + boxes[:, 3]).max()
    grow_x, grow_y = (x2 - x1) * margin, (y2 - y1) * margin
    return (max(int(x1 - grow_x), 0), max(int(y1 - grow_y), 0),
            min(int(math.ceil(x2 + grow_x)), width), min(int(math.ceil(y2 + grow_y)), height))


def plot_method_examples(splits: dict[str, str | Path], image_name: str, out_stem: str | Path,
                         crop_to_faces: bool = False, columns: int = 4) -> list[Path]:
    """splits: method -> split folder holding ``image_name``; one panel per method.

    crop_to_faces zooms every panel to the same region around the annotated faces
    (useful where faces are small in a large photograph).
    """
    if not splits:
        raise ValueError("no split given")
    methods = ordered_methods(splits)
    images, region = {}, None
    for method in methods:
        split = Split.load(splits[method])
        if image_name not in split:
            raise InputError(Path(splits[method]) / "annotations.txt", f"no image {image_name!r}",
                             hint="pass an image name as written in annotations.txt, e.g. 0--Parade/x.jpg")
        img = read_image(split.image_path(image_name))
        if crop_to_faces and region is None:
            region = face_region(split, image_name, img.shape[1], img.shape[0])
        images[method] = img
    if region is not None:
        x1, y1, x2, y2 = region
        images = {m: img[y1:y2, x1:x2] for m, img in images.items()}
    return plot_image_panels(images, out_stem, columns=columns)


def plot_image_panels(images: dict[str, np.ndarray], out_stem: str | Path, columns: int = 4,
                      title: str | None = None) -> list[Path]:
    """One panel per method (method -> RGB image, all the same size), in the study's method order."""
    if not images:
        raise ValueError("no image given")
    methods = ordered_methods(images)
    cols = min(columns, len(methods))
    rows = math.ceil(len(methods) / cols)
    h, w = next(iter(images.values())).shape[:2]
    panel = 2.6
    fig, axes = plt.subplots(rows, cols, figsize=(panel * cols, panel * rows * h / w + 0.35 * rows),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, method in zip(axes.flat, methods):
        ax.imshow(np.asarray(images[method]))
        ax.set_title(label(method))
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out_stem)
