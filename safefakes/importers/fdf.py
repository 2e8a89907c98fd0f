"""FDF (Flickr Diverse Faces, DeepPrivacy's dataset) as a crop set.

FDF's layout, as DeepPrivacy's training code reads it: per subset (``train``:
1,421,253 faces, ``val``: 50,000; the paper's 1.47M is both)
``<root>/<subset>/images/<imsize>/<index>.png`` (each image a face crop),
``<root>/<subset>/bounding_box/<imsize>.torch`` ((N, 4) x0, y0, x1, y1 in
pixels of the <imsize> image; ``.npy`` is accepted too) and
``<root>/<subset>/landmarks.npy`` ((N, 7, 2) in [0, 1] of the image: nose,
eyes, ears, shoulders, DeepPrivacy's seven points; pixels are accepted too).
FDF has no identities. Its own seven points are DeepPrivacy's keypoints;
``keypoints="dlib68"`` computes dlib's 68 instead (faces without any are
dropped and recorded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from safefakes.data.crops import (
    DROP_MISSING_IMAGE,
    DROP_NO_LANDMARKS,
    DROP_OUTSIDE,
    Crop,
    CropTable,
    Dropped,
    box_inside,
    subset_order,
    write_crop_set,
)
from safefakes.data.images import read_image
from safefakes.errors import InputError
from safefakes.importers.landmarks import LandmarkFinder

SUBSETS = ("train", "val")
SIZES = {"train": 1_421_253, "val": 50_000}  # FDF's README


def _load_array(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        return np.load(path)
    import torch

    try:
        value = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise InputError(path, f"cannot read the FDF boxes: {exc}", hint="download FDF's metadata again") from exc
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


class FDFFaces:
    """FDF's faces of some subsets as crop candidates, in a seeded order."""

    def __init__(self, root: Path, subsets: tuple[str, ...], imsize: int, seed: int,
                 finder: LandmarkFinder | None) -> None:
        self.root, self.subsets, self.imsize, self.finder = root, subsets, imsize, finder
        self.boxes, self.landmarks = [], []
        for subset in subsets:
            base = root / subset
            img_dir = base / "images" / str(imsize)
            if not img_dir.is_dir():
                raise InputError(img_dir, "FDF images folder not found",
                                 hint=f"expected <root>/{subset}/images/{imsize}/<index>.png (FDF's layout)")
            box_path = next((p for p in (base / "bounding_box" / f"{imsize}.torch",
                                         base / "bounding_box" / f"{imsize}.npy") if p.exists()), None)
            if box_path is None:
                raise InputError(base / "bounding_box" / f"{imsize}.torch", "FDF bounding boxes not found",
                                 hint="download FDF's metadata into the root folder")
            lm_path = base / "landmarks.npy"
            if not lm_path.exists():
                raise InputError(lm_path, "FDF landmarks not found", hint="download FDF's metadata into the root")
            boxes = _load_array(box_path)
            landmarks = np.load(lm_path, mmap_mode="r")
            if boxes.ndim != 2 or boxes.shape[1] != 4:
                raise InputError(box_path, f"expected (N, 4) boxes, got shape {boxes.shape}")
            if landmarks.ndim != 3 or landmarks.shape[1:] != (7, 2):
                raise InputError(lm_path, f"expected (N, 7, 2) landmarks, got shape {landmarks.shape}")
            if len(boxes) != len(landmarks):
                raise InputError(lm_path, f"{len(landmarks)} landmark sets for the {len(boxes)} boxes of {box_path}",
                                 hint="the FDF download is incomplete: download the metadata again")
            self.boxes.append(boxes.astype(np.float32))
            self.landmarks.append(landmarks)
        self.offsets = np.cumsum([0] + [len(b) for b in self.boxes])
        self.order = subset_order(int(self.offsets[-1]), None, seed)

    def __len__(self) -> int:
        return len(self.order)

    def crop(self, k: int) -> Crop | Dropped:
        g = int(self.order[k])
        s = int(np.searchsorted(self.offsets, g, side="right") - 1)
        index = g - int(self.offsets[s])
        subset = self.subsets[s]
        path = self.root / subset / "images" / str(self.imsize) / f"{index}.png"
        origin = f"fdf/{subset}/{index}.png"
        if not path.exists():
            return Dropped(DROP_MISSING_IMAGE, origin)
        img = read_image(path)
        H, W = img.shape[:2]
        x0, y0, x1, y1 = (float(v) for v in self.boxes[s][index])
        box = np.array([x0, y0, x1 - x0, y1 - y0])
        if not box_inside(box, W, H):
            return Dropped(DROP_OUTSIDE, origin)
        if self.finder is not None:
            kp = self.finder.find(img, box)
            if kp is None:
                return Dropped(DROP_NO_LANDMARKS, origin)
            return Crop(img, box, kp, -1, origin)
        lm = np.asarray(self.landmarks[s][index], dtype=np.float64).copy()
        if lm.max() <= 1.5:  # relative coordinates (FDF's documented range)
            lm[:, 0] *= W
            lm[:, 1] *= H
        vis = (lm[:, 0] >= 0) & (lm[:, 0] < W) & (lm[:, 1] >= 0) & (lm[:, 1] < H)
        return Crop(img, box, np.concatenate([lm, vis[:, None].astype(np.float64)], 1), -1, origin)


def import_fdf(root: str | Path, out_dir: str | Path, *, subsets: tuple[str, ...] | list[str] = ("train",),
               imsize: int = 128, keypoints: str | None = None, keypoint_weights: str | Path | None = None,
               faces: int | None = None, seed: int = 0, workers: int = 1, progress: bool = False) -> CropTable:
    """Import FDF's ``subsets`` (``train``, ``val``, or both: the paper's 1.47M) as a crop set.

    keypoints: None or ``deepprivacy7`` keeps FDF's own seven points;
    ``dlib68`` computes dlib's landmarks (faces without are dropped, recorded).
    """
    root = Path(root)
    subsets = tuple(subsets)
    unknown = [s for s in subsets if s not in SUBSETS]
    if unknown or not subsets:
        raise InputError(root, f"unknown FDF subset(s) {unknown or subsets}", hint=f"choose from {SUBSETS}")
    finder = LandmarkFinder(keypoints, keypoint_weights) if keypoints not in (None, "deepprivacy7") else None
    source = FDFFaces(root, subsets, imsize, seed, finder)
    if faces is not None and faces > len(source):
        raise InputError(root, f"{faces} faces asked for, but FDF's {'+'.join(subsets)} holds {len(source)}",
                         hint=f"FDF has {SIZES['train']:,} training and {SIZES['val']:,} validation faces")
    meta = {"source": "fdf", "path": str(root.resolve()), "subsets": list(subsets), "imsize": imsize,
            "seed": seed, "available_faces": len(source),
            "keypoints": finder.describe() if finder else {"source": "fdf", "layout": "deepprivacy7"}}
    layout = finder.layout if finder else "deepprivacy7"
    return write_crop_set(out_dir, source, meta, layout, "fdf", faces=faces, workers=workers, progress=progress)
