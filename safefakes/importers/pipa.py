"""PIPA (People In Photo Albums) as a crop set, with the keypoints its GANs need.

PIPA's published annotations: ``annotations/index.txt``, one line per person
instance: ``photoset_id photo_id xmin ymin width height identity_id
subset_id`` (a head box in photo pixels, which may reach outside the photo;
subset 1 train, 2 val, 3 test, 0 leftover). Photos are
``<photoset_id>_<photo_id>.jpg`` in ``train/``, ``val/``, ``test/``,
``leftover/`` (found anywhere under the root).

PIPA has no landmarks, so they are computed at import: ``dlib68`` for
Sun2018 (which used the ~16k PIPA faces where dlib finds landmarks),
``deepprivacy7`` for DeepPrivacy (Keypoint R-CNN, ~38k faces). A head whose
keypoints are not found, whose box lies outside its photo or is smaller than
``min_size`` is dropped and recorded; a photo listed but absent is an error
naming the line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from safefakes.data.crops import (
    DEFAULT_CROP_SIZE,
    DEFAULT_MIN_SIZE,
    DROP_NO_LANDMARKS,
    DROP_OUTSIDE,
    DROP_TOO_SMALL,
    Crop,
    CropTable,
    Dropped,
    box_inside,
    extract_crop,
    subset_order,
    write_crop_set,
)
from safefakes.data.images import read_image
from safefakes.errors import InputError
from safefakes.importers.landmarks import LandmarkFinder

INDEX_FORMAT = "photoset_id photo_id xmin ymin width height identity_id subset_id"


def read_pipa_index(index: Path, root: Path, subsets: tuple[int, ...] | None = None
                    ) -> tuple[list[Path], np.ndarray, np.ndarray, np.ndarray]:
    """Photos (one per instance), boxes (N, 4), identities (N,), source line numbers (N,) of ``index.txt``."""
    if not index.exists():
        raise InputError(index, "PIPA annotation file not found", hint=f"expected index.txt with '{INDEX_FORMAT}'")
    photos = {p.stem: p for p in root.rglob("*.jpg")}
    paths, boxes, ids, lines = [], [], [], []
    for lineno, line in enumerate(index.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 8:
            raise InputError(index, f"expected '{INDEX_FORMAT}', got {line!r}", line=lineno)
        try:
            box = [float(v) for v in parts[2:6]]
            ident, subset = int(parts[6]), int(parts[7])
        except ValueError as exc:
            raise InputError(index, f"not a number in {line!r}", line=lineno) from exc
        if subsets is not None and subset not in subsets:
            continue
        stem = f"{parts[0]}_{parts[1]}"
        if stem not in photos:
            raise InputError(index, f"photo {stem}.jpg is listed but not found under {root}", line=lineno,
                             hint="download the PIPA photos (train/, val/, test/, leftover/) into the root folder")
        paths.append(photos[stem])
        boxes.append(box)
        ids.append(ident)
        lines.append(lineno)
    return paths, np.array(boxes, np.float64).reshape(-1, 4), np.array(ids, np.int64), np.array(lines, np.int64)


class PIPAHeads:
    """PIPA's head boxes as crop candidates, in a seeded order."""

    def __init__(self, root: Path, paths: list[Path], boxes: np.ndarray, ids: np.ndarray, min_size: int,
                 crop_size: int, seed: int, finder: LandmarkFinder) -> None:
        self.root, self.paths, self.boxes, self.ids = root, paths, boxes, ids
        self.min_size, self.crop_size, self.finder = min_size, crop_size, finder
        self.order = subset_order(len(paths), None, seed)

    def __len__(self) -> int:
        return len(self.order)

    def crop(self, k: int) -> Crop | Dropped:
        i = int(self.order[k])
        box = self.boxes[i]
        origin = f"pipa/{self.paths[i].relative_to(self.root).as_posix()}#{i}"
        if min(box[2], box[3]) < self.min_size:
            return Dropped(DROP_TOO_SMALL, origin)
        img = read_image(self.paths[i])
        if not box_inside(box, img.shape[1], img.shape[0]):
            return Dropped(DROP_OUTSIDE, origin)
        kp = self.finder.find(img, box)
        if kp is None:
            return Dropped(DROP_NO_LANDMARKS, origin)
        crop, cbox, ckp = extract_crop(img, box, kp, self.crop_size)
        return Crop(crop, cbox, ckp, int(self.ids[i]), origin)


def import_pipa(root: str | Path, out_dir: str | Path, *, keypoints: str = "deepprivacy7",
                keypoint_weights: str | Path | None = None, index: str | Path | None = None,
                subsets: tuple[int, ...] | None = None, min_size: int = DEFAULT_MIN_SIZE,
                crop_size: int = DEFAULT_CROP_SIZE, faces: int | None = None, seed: int = 0, workers: int = 1,
                progress: bool = False) -> CropTable:
    """Import PIPA's heads with identities and ``keypoints`` (``dlib68``: Sun2018, ``deepprivacy7``: DeepPrivacy)."""
    root = Path(root)
    if index is None:
        candidates = [root / "annotations" / "index.txt", root / "index.txt"]
        index = next((p for p in candidates if p.exists()), candidates[0])
    finder = LandmarkFinder(keypoints, keypoint_weights)
    paths, boxes, ids, _ = read_pipa_index(Path(index), root, subsets)
    source = PIPAHeads(root, paths, boxes, ids, min_size, crop_size, seed, finder)
    meta = {"source": "pipa", "path": str(root.resolve()), "index": str(Path(index).resolve()),
            "subsets": None if subsets is None else list(subsets), "min_size": min_size, "crop_size": crop_size,
            "seed": seed, "available_faces": len(source), "keypoints": finder.describe()}
    return write_crop_set(out_dir, source, meta, finder.layout, "pipa", faces=faces, workers=workers,
                          progress=progress)
