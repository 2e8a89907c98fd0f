"""CelebA as a crop set, with CIAGAN's selection of identities.

CelebA's published files (at the root, or in its ``Anno/``, ``Img/`` folders):

* in the wild: ``img_celeba/<6 digits>.jpg``, ``list_bbox_celeba.txt`` (count
  line, header ``image_id x_1 y_1 width height``, one line per image) and
  ``list_landmarks_celeba.txt`` (count line, header ``lefteye_x lefteye_y ...
  rightmouth_y``, one line per image: name and 5 x/y pairs in image pixels);
* aligned (used when ``img_celeba`` is absent): ``img_align_celeba/`` and
  ``list_landmarks_align_celeba.txt`` (same format); the face box is derived
  from the five landmarks;
* ``identity_CelebA.txt``: ``image_name identity`` per line, no header.

CIAGAN trained on 1,200 CelebA identities with at least 30 images each (its
README), landmarks from dlib: ``min_identity_images`` and ``max_identities``
select the identities (lowest ids first), ``keypoints="dlib68"`` computes the
landmarks, and faces where dlib finds none are dropped and recorded. Without
``keypoints`` the crops keep CelebA's five points (``celeba5``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from safefakes.data.crops import (
    DEFAULT_CROP_SIZE,
    DROP_MISSING_IMAGE,
    DROP_NO_LANDMARKS,
    DROP_OUTSIDE,
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

FOLDERS = ("", "Anno", "Img", "Eval")
CIAGAN_MIN_IMAGES = 30
CIAGAN_IDENTITIES = 1200


def celeba_face_box(landmarks: np.ndarray) -> np.ndarray:
    """A tight face box (x, y, w, h) from CelebA's five landmarks (eyes, nose, mouth corners).

    The landmarks span the inner face; the box adds 0.6 of their width on each
    side, 0.75 of their height above (forehead) and 0.55 below (chin), which
    covers the face of the aligned 178x218 images.
    """
    xs, ys = landmarks[:, 0], landmarks[:, 1]
    w = max(xs.max() - xs.min(), 1.0)
    h = max(ys.max() - ys.min(), 1.0)
    x1, x2 = xs.min() - 0.6 * w, xs.max() + 0.6 * w
    y1, y2 = ys.min() - 0.75 * h, ys.max() + 0.55 * h
    return np.array([x1, y1, x2 - x1, y2 - y1])


def _find(root: Path, name: str) -> Path:
    for folder in FOLDERS:
        if (root / folder / name).exists():
            return root / folder / name
    return root / "Anno" / name if name.endswith(".txt") else root / name


def _read_table(path: Path, n_values: int, header: bool) -> dict[str, np.ndarray]:
    """A CelebA list file: (count line, header line,) then ``name`` + ``n_values`` numbers per line."""
    if not path.exists():
        raise InputError(path, "CelebA annotation file not found",
                         hint="download CelebA's Anno/ files into the root folder")
    lines = path.read_text(encoding="utf-8").splitlines()
    start = 2 if header else 0
    out: dict[str, np.ndarray] = {}
    for lineno, line in enumerate(lines[start:], start + 1):
        parts = line.split()
        if not parts:
            continue
        try:
            values = np.array([float(v) for v in parts[1:]])
        except ValueError:
            values = np.array([])
        if values.size != n_values:
            raise InputError(path, f"expected an image name and {n_values} numbers, got {line!r}", line=lineno)
        if parts[0] in out:
            raise InputError(path, f"{parts[0]} is listed twice", line=lineno)
        out[parts[0]] = values
    if header:
        declared = lines[0].strip() if lines else ""
        if not declared.isdigit() or int(declared) != len(out):
            raise InputError(path, f"the first line declares {declared!r} images, the file lists {len(out)}",
                             line=1, hint="the file is truncated or not CelebA's: download it again")
    return out


def _read_identities(path: Path, images: dict) -> dict[str, int]:
    if not path.exists():
        raise InputError(path, "CelebA identity file not found", hint="download Anno/identity_CelebA.txt")
    out: dict[str, int] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isdigit():
            raise InputError(path, f"expected 'image_name identity', got {line!r}", line=lineno)
        if parts[0] not in images:
            raise InputError(path, f"{parts[0]} has an identity but is not in the image list", line=lineno,
                             hint="the identity file and the landmark/box files come from different releases")
        out[parts[0]] = int(parts[1])
    missing = [n for n in images if n not in out]
    if missing:
        raise InputError(path, f"{len(missing)} listed images have no identity (e.g. {missing[0]})",
                         hint="the identity file and the landmark/box files come from different releases")
    return out


class CelebAFaces:
    """CelebA's selected images as crop candidates, in a seeded order."""

    def __init__(self, img_dir: Path, names: list[str], boxes: dict, landmarks: dict, identities: dict,
                 aligned: bool, crop_size: int, seed: int, finder: LandmarkFinder | None) -> None:
        self.img_dir, self.names, self.boxes, self.landmarks = img_dir, names, boxes, landmarks
        self.identities, self.aligned, self.crop_size, self.finder = identities, aligned, crop_size, finder
        self.order = subset_order(len(names), None, seed)

    def __len__(self) -> int:
        return len(self.order)

    def crop(self, k: int) -> Crop | Dropped:
        name = self.names[int(self.order[k])]
        origin = f"celeba/{self.img_dir.name}/{name}"
        path = self.img_dir / name
        if not path.exists():
            return Dropped(DROP_MISSING_IMAGE, origin)
        img = read_image(path)
        H, W = img.shape[:2]
        lm = self.landmarks[name].reshape(5, 2)
        box = celeba_face_box(lm) if self.aligned else self.boxes[name]
        if not box_inside(box, W, H):
            return Dropped(DROP_OUTSIDE, origin)
        kp = np.concatenate([lm, np.ones((5, 1))], 1)
        if self.finder is not None:
            kp = self.finder.find(img, box)
            if kp is None:
                return Dropped(DROP_NO_LANDMARKS, origin)
        ident = self.identities[name]
        if self.aligned:  # the aligned images are face crops already: kept byte for byte
            return Crop(None, box, kp, ident, origin, copy_from=path)
        crop, cbox, ckp = extract_crop(img, box, kp, self.crop_size)
        return Crop(crop, cbox, ckp, ident, origin)


def import_celeba(root: str | Path, out_dir: str | Path, *, keypoints: str | None = None,
                  keypoint_weights: str | Path | None = None, min_identity_images: int = 1,
                  max_identities: int | None = None, crop_size: int = DEFAULT_CROP_SIZE,
                  faces: int | None = None, seed: int = 0, workers: int = 1, progress: bool = False) -> CropTable:
    """Import CelebA (in the wild when ``img_celeba`` exists, else aligned) as a crop set.

    CIAGAN's set: ``keypoints="dlib68", min_identity_images=30, max_identities=1200``.
    """
    root = Path(root)
    wild = _find(root, "img_celeba")
    aligned = not wild.is_dir()
    img_dir = _find(root, "img_align_celeba") if aligned else wild
    if not img_dir.is_dir():
        raise InputError(root / "img_celeba", "CelebA images folder not found",
                         hint="expected img_celeba/ (in the wild) or img_align_celeba/ under the root or Img/")
    if aligned:
        landmarks = _read_table(_find(root, "list_landmarks_align_celeba.txt"), 10, header=True)
        boxes = {}
    else:
        landmarks = _read_table(_find(root, "list_landmarks_celeba.txt"), 10, header=True)
        box_path = _find(root, "list_bbox_celeba.txt")
        boxes = _read_table(box_path, 4, header=True)
        if set(boxes) != set(landmarks):
            odd = min(set(boxes) ^ set(landmarks))
            raise InputError(box_path, f"the box and landmark lists name different images (e.g. {odd})",
                             hint="download both from the same CelebA release")
    identities = _read_identities(_find(root, "identity_CelebA.txt"), landmarks)
    counts = Counter(identities.values())
    chosen = sorted(i for i, c in counts.items() if c >= min_identity_images)
    if max_identities is not None:
        chosen = chosen[:max_identities]
    chosen_set = set(chosen)
    names = sorted(n for n in landmarks if identities[n] in chosen_set)
    if not names:
        raise InputError(root, f"no identity has {min_identity_images} images or more",
                         hint="lower min_identity_images")
    finder = LandmarkFinder(keypoints, keypoint_weights) if keypoints else None
    source = CelebAFaces(img_dir, names, boxes, landmarks, identities, aligned, crop_size, seed, finder)
    meta = {"source": "celeba", "path": str(root.resolve()), "images": img_dir.name, "seed": seed,
            "crop_size": None if aligned else crop_size, "min_identity_images": min_identity_images,
            "max_identities": max_identities, "identities": len(chosen), "available_faces": len(names),
            "keypoints": finder.describe() if finder else {"source": "celeba", "layout": "celeba5"}}
    layout = finder.layout if finder else "celeba5"
    return write_crop_set(out_dir, source, meta, layout, "celeba", faces=faces, workers=workers,
                          progress=progress)
