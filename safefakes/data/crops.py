"""Face-crop sets: the training data of the GAN anonymizers.

A crop set is itself a split folder (``safefakes.data.split``): every image
holds one face crop with one annotated tight face box, plus
``keypoints.json`` (in the source's layout), ``identities.json`` (-1 where the
identity is unknown) and ``crops.json`` (where the crops came from). Its images
are written in a fixed pseudo-random order (seeded), so "the first N faces" is
a deterministic subset and smaller subsets are nested in larger ones: the
anonymizer-training-size sweep (``--faces N``).

Sources:

* any WIDER-format split (``build_crop_set``): faces whose smaller side is at
  least ``min_size`` px, not flagged invalid; a square around the face (grown
  by ``CROP_EXPAND`` of its larger side on every side) resized to ``crop_size``;
* FDF (``import_fdf``), DeepPrivacy's own format: ``<root>/<subset>/images/
  <imsize>/<index>.png``, ``bounding_box/<imsize>.torch`` (or ``.npy``;
  (N, 4) x0, y0, x1, y1 in pixels of the <imsize> image) and ``landmarks.npy``
  ((N, 7, 2) in [0, 1] of the image; pixels are accepted too), the seven
  points in COCO order (nose, eyes, ears, shoulders). FDF has no identities;
* CelebA (``import_celeba``): ``img_align_celeba/*.jpg``,
  ``identity_CelebA.txt`` (``name id``) and ``list_landmarks_align_celeba.txt``
  (count line, header line, ``name`` + 5 x/y pairs). The aligned images are
  face crops already; the face box is derived from the five landmarks;
* PIPA (``import_pipa``): photos with head boxes and identities, one line per
  person in ``index.txt`` (or ``all_data.txt``): ``photoset_id photo_id xmin
  ymin width height identity_id subset_id``; photos are found anywhere under
  the root as ``<photoset_id>_<photo_id>.jpg``. PIPA has no landmarks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

from safefakes.data.images import copy_file_atomic, read_image, write_image, write_text_atomic
from safefakes.data.split import IMAGES, Split
from safefakes.data.wider import ImageFaces
from safefakes.errors import InputError

CROPS_META = "crops.json"
CROP_EXPAND = 0.5  # more context than any GAN crops (DeepPrivacy: 0.35), so they all fit
DEFAULT_CROP_SIZE = 128
DEFAULT_MIN_SIZE = 24


@dataclass
class Crop:
    """One face crop before it is written."""

    image: np.ndarray | None  # (H, W, 3) uint8; None when ``copy_from`` is set
    box: np.ndarray  # (4,) x, y, w, h in crop pixels
    keypoints: np.ndarray | None  # (K, 3) in crop pixels, or None
    identity: int = -1
    origin: str = ""  # where it came from (image name / file), for the record
    copy_from: Path | None = None  # copy this file byte for byte instead of encoding ``image``


def subset_order(n: int, faces: int | None, seed: int = 0) -> np.ndarray:
    """The indices of a deterministic subset of ``faces`` out of ``n`` (all when None), in set order.

    The first k of the order for ``faces`` = m are the order for ``faces`` = k:
    subsets of one source are nested.
    """
    if faces is not None and faces > n:
        raise ValueError(f"--faces {faces} asked for, but the source holds only {n} usable faces")
    order = np.random.default_rng(seed).permutation(n)
    return order if faces is None else order[:faces]


def extract_crop(image: np.ndarray, box: np.ndarray, keypoints: np.ndarray | None,
                 crop_size: int = DEFAULT_CROP_SIZE, expand: float = CROP_EXPAND) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A square crop around ``box`` resized to ``crop_size``; the box and keypoints mapped into it."""
    H, W = image.shape[:2]
    x, y, w, h = (float(v) for v in box[:4])
    side = max(int(np.ceil(max(w, h) * (1 + 2 * expand))), 1)
    # Centred on the face and zero-padded outside the image (data does not
    # depend on the anonymizers' geometry; the GANs re-crop from this anyway).
    x0 = int(np.floor(x + w / 2 - side / 2))
    y0 = int(np.floor(y + h / 2 - side / 2))
    scale = crop_size / side
    cut = np.zeros((side, side, 3), dtype=np.uint8)
    ix1, iy1, ix2, iy2 = max(x0, 0), max(y0, 0), min(x0 + side, W), min(y0 + side, H)
    if ix2 > ix1 and iy2 > iy1:
        cut[iy1 - y0:iy2 - y0, ix1 - x0:ix2 - x0] = image[iy1:iy2, ix1:ix2]
    crop = cv2.resize(cut, (crop_size, crop_size), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    new_box = np.array([(x - x0) * scale, (y - y0) * scale, w * scale, h * scale])
    kp = None
    if keypoints is not None:
        kp = np.asarray(keypoints, dtype=np.float64).copy()
        kp[:, 0] = (kp[:, 0] - x0) * scale
        kp[:, 1] = (kp[:, 1] - y0) * scale
        kp[kp[:, 2] <= 0, :2] = 0
    return crop, new_box, kp


def write_crop_set(out_dir: str | Path, crops: Iterable[Crop], source: dict, layout: str | None,
                   event: str) -> Split:
    """Write crops as a split folder: images, annotations.txt, keypoints.json, identities.json, crops.json."""
    out = Path(out_dir)
    images, kps, ids, origins = [], {}, {}, []
    any_kp = False
    for i, crop in enumerate(crops):
        name = f"{event}/{i:07d}.jpg"
        if crop.copy_from is not None:
            copy_file_atomic(crop.copy_from, out / IMAGES / name)
        else:
            write_image(out / IMAGES / name, crop.image)
        # Rounded outwards: the annotated box covers the whole face.
        x, y, w, h = crop.box
        x1, y1 = int(np.floor(x)), int(np.floor(y))
        box = [x1, y1, int(np.ceil(x + w)) - x1, int(np.ceil(y + h)) - y1]
        images.append(ImageFaces(name, np.array([box])))
        if crop.keypoints is not None:
            any_kp = True
        kps[name] = crop.keypoints
        ids[name] = np.array([crop.identity], dtype=np.int64)
        origins.append(crop.origin)
    if not images:
        raise InputError(out, "no face crop to write: the source has no usable faces",
                         hint="check the source folder, or lower --min-size")
    keypoints = None
    if any_kp and layout:
        k = next(len(v) for v in kps.values() if v is not None)
        keypoints = {n: (np.zeros((1, k, 3)) if v is None else np.asarray(v)[None]) for n, v in kps.items()}
    split = Split(out, images, keypoints, layout if keypoints else None, ids)
    split.save_metadata()
    meta = {**source, "n_faces": len(images), "keypoint_layout": split.keypoint_layout, "origins": origins}
    write_text_atomic(out / CROPS_META, json.dumps(meta, indent=1) + "\n")
    return split


def read_crop_source(crop_dir: str | Path) -> dict:
    """The ``crops.json`` record of a crop set (without the per-crop origins).

    A split of one-face crops without ``crops.json`` (e.g. the synthetic
    ``crops`` split) is a crop set too; its record just names the folder.
    """
    path = Path(crop_dir) / CROPS_META
    if not path.exists():
        Split.load(crop_dir)  # raises a clear error when it is not a split at all
        return {"source": "split-of-crops", "path": str(Path(crop_dir).resolve())}
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta.pop("origins", None)
    return meta


# --------------------------------------------------------------------------- #
# From a WIDER-format split
# --------------------------------------------------------------------------- #
def build_crop_set(split_dir: str | Path, out_dir: str | Path, *, min_size: int = DEFAULT_MIN_SIZE,
                   crop_size: int = DEFAULT_CROP_SIZE, faces: int | None = None, seed: int = 0) -> Split:
    """Crop every face of a split at least ``min_size`` px (smaller side), not invalid; ``faces``: a subset."""
    split = Split.load(split_dir)
    entries = [(im, j) for im in split.images for j in range(len(im))
               if min(im.boxes[j, 2], im.boxes[j, 3]) >= min_size and not im.invalid[j]]
    try:
        order = subset_order(len(entries), faces, seed)
    except ValueError as exc:
        raise InputError(split.root, str(exc), hint="lower --faces or --min-size") from exc

    def crops() -> Iterator[Crop]:
        cache: dict[str, np.ndarray] = {}
        for k in order:
            im, j = entries[k]
            if im.name not in cache:
                cache.clear()
                cache[im.name] = read_image(split.image_path(im.name))
            kp = split.keypoints[im.name][j] if split.keypoints and im.name in split.keypoints else None
            img, box, kpc = extract_crop(cache[im.name], im.boxes[j], kp, crop_size)
            ident = int(split.identities[im.name][j]) if split.identities and im.name in split.identities else -1
            yield Crop(img, box, kpc, ident, f"{im.name}#{j}")

    source = {"source": "split", "path": str(Path(split_dir).resolve()), "min_size": min_size,
              "crop_size": crop_size, "expand": CROP_EXPAND, "faces": faces, "seed": seed,
              "available_faces": len(entries)}
    return write_crop_set(out_dir, crops(), source, split.keypoint_layout, "split")


# --------------------------------------------------------------------------- #
# FDF
# --------------------------------------------------------------------------- #
def _load_array(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        return np.load(path)
    import torch

    value = torch.load(path, map_location="cpu", weights_only=True)
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def import_fdf(root: str | Path, out_dir: str | Path, *, subset: str = "train", imsize: int = 128,
               faces: int | None = None, seed: int = 0) -> Split:
    """Import FDF (DeepPrivacy's Flickr Diverse Faces) as a crop set; see the module docstring."""
    base = Path(root) / subset
    img_dir = base / "images" / str(imsize)
    if not img_dir.is_dir():
        raise InputError(img_dir, "FDF images folder not found",
                         hint=f"expected <root>/{subset}/images/{imsize}/<index>.png (FDF's layout)")
    box_path = next((p for p in (base / "bounding_box" / f"{imsize}.torch", base / "bounding_box" / f"{imsize}.npy")
                     if p.exists()), None)
    if box_path is None:
        raise InputError(base / "bounding_box" / f"{imsize}.torch", "FDF bounding boxes not found")
    lm_path = base / "landmarks.npy"
    if not lm_path.exists():
        raise InputError(lm_path, "FDF landmarks not found")
    files = sorted((p for p in img_dir.iterdir() if p.suffix.lower() in (".png", ".jpg") and p.stem.isdigit()),
                   key=lambda p: int(p.stem))
    boxes = _load_array(box_path).reshape(-1, 4).astype(np.float64)
    landmarks = np.load(lm_path).astype(np.float64).reshape(-1, 7, 2)
    n = len(files)
    if len(boxes) < n or len(landmarks) < n:
        where = box_path if len(boxes) < n else lm_path
        raise InputError(where, f"{len(boxes)} boxes and {len(landmarks)} landmark sets for {n} images",
                         hint="the FDF download is incomplete: download the metadata again")
    try:
        order = subset_order(n, faces, seed)
    except ValueError as exc:
        raise InputError(img_dir, str(exc), hint="lower --faces") from exc

    def crops() -> Iterator[Crop]:
        for k in order:
            path = files[k]
            index = int(path.stem)
            img = read_image(path)
            H, W = img.shape[:2]
            x0, y0, x1, y1 = boxes[index]
            lm = landmarks[index].copy()
            if lm.max() <= 1.5:  # relative coordinates (FDF's documented range)
                lm[:, 0] *= W
                lm[:, 1] *= H
            vis = (lm[:, 0] >= 0) & (lm[:, 0] < W) & (lm[:, 1] >= 0) & (lm[:, 1] < H)
            kp = np.concatenate([lm, vis[:, None].astype(np.float64)], 1)
            yield Crop(img, np.array([x0, y0, x1 - x0, y1 - y0]), kp, -1, f"fdf/{subset}/{path.name}")

    source = {"source": "fdf", "path": str(Path(root).resolve()), "subset": subset, "imsize": imsize,
              "faces": faces, "seed": seed, "available_faces": n}
    return write_crop_set(out_dir, crops(), source, "deepprivacy7", "fdf")


# --------------------------------------------------------------------------- #
# CelebA
# --------------------------------------------------------------------------- #
def celeba_face_box(landmarks: np.ndarray) -> np.ndarray:
    """A tight face box (x, y, w, h) from CelebA's five aligned landmarks (eyes, nose, mouth corners).

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


def _read_lines(path: Path) -> list[str]:
    if not path.exists():
        raise InputError(path, "file not found", hint="download CelebA's annotation files next to img_align_celeba/")
    return path.read_text(encoding="utf-8").splitlines()


def import_celeba(root: str | Path, out_dir: str | Path, *, faces: int | None = None, seed: int = 0) -> Split:
    """Import CelebA's aligned faces with identities and landmarks as a crop set."""
    root = Path(root)
    img_dir = root / "img_align_celeba"
    if not img_dir.is_dir():
        raise InputError(img_dir, "CelebA aligned images folder not found",
                         hint="expected <root>/img_align_celeba/000001.jpg ...")
    id_path, lm_path = root / "identity_CelebA.txt", root / "list_landmarks_align_celeba.txt"
    identities: dict[str, int] = {}
    for lineno, line in enumerate(_read_lines(id_path), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise InputError(id_path, f"expected 'image_name identity', got {line!r}", line=lineno)
        identities[parts[0]] = int(parts[1])
    landmarks: dict[str, np.ndarray] = {}
    lines = _read_lines(lm_path)
    for lineno, line in enumerate(lines[2:], 3):  # line 1: count, line 2: column names
        parts = line.split()
        if not parts:
            continue
        try:
            vals = np.array([float(v) for v in parts[1:]])
        except ValueError:
            vals = np.array([])
        if vals.size != 10:
            raise InputError(lm_path, f"expected an image name and 10 numbers, got {line!r}", line=lineno)
        landmarks[parts[0]] = vals.reshape(5, 2)
    names = sorted(n for n in landmarks if (img_dir / n).exists())
    try:
        order = subset_order(len(names), faces, seed)
    except ValueError as exc:
        raise InputError(img_dir, str(exc), hint="lower --faces") from exc

    def crops() -> Iterator[Crop]:
        for k in order:
            name = names[k]
            lm = landmarks[name]
            kp = np.concatenate([lm, np.ones((5, 1))], 1)
            yield Crop(None, celeba_face_box(lm), kp, identities.get(name, -1), f"celeba/{name}",
                       copy_from=img_dir / name)

    source = {"source": "celeba", "path": str(root.resolve()), "faces": faces, "seed": seed,
              "available_faces": len(names)}
    return write_crop_set(out_dir, crops(), source, "celeba5", "celeba")


# --------------------------------------------------------------------------- #
# PIPA
# --------------------------------------------------------------------------- #
def import_pipa(root: str | Path, out_dir: str | Path, *, index: str | Path | None = None,
                min_size: int = DEFAULT_MIN_SIZE, crop_size: int = DEFAULT_CROP_SIZE,
                faces: int | None = None, seed: int = 0) -> Split:
    """Import PIPA's head boxes with identities as a crop set (no landmarks)."""
    root = Path(root)
    if index is None:
        candidates = [root / "annotations" / "index.txt", root / "index.txt", root / "all_data.txt",
                      root / "annotations" / "all_data.txt"]
        index = next((p for p in candidates if p.exists()), candidates[0])
    index = Path(index)
    if not index.exists():
        raise InputError(index, "PIPA annotation file not found",
                         hint="expected index.txt with 'photoset_id photo_id xmin ymin width height identity_id subset_id'")
    photos = {p.stem: p for p in root.rglob("*.jpg")}
    entries = []
    for lineno, line in enumerate(index.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 7:
            raise InputError(index, f"expected 'photoset_id photo_id xmin ymin width height identity_id "
                                    f"subset_id', got {line!r}", line=lineno)
        try:
            x, y, w, h = (float(v) for v in parts[2:6])
            ident = int(parts[6])
        except ValueError as exc:
            raise InputError(index, f"not a number in {line!r}", line=lineno) from exc
        stem = f"{parts[0]}_{parts[1]}"
        if stem not in photos:
            raise InputError(index, f"photo {stem}.jpg not found under {root}", line=lineno,
                             hint="download the PIPA photos (e.g. by Flickr photo id) into the root folder")
        if min(w, h) >= min_size:
            entries.append((stem, np.array([x, y, w, h]), ident))
    try:
        order = subset_order(len(entries), faces, seed)
    except ValueError as exc:
        raise InputError(index, str(exc), hint="lower --faces or --min-size") from exc

    def crops() -> Iterator[Crop]:
        for k in order:
            stem, box, ident = entries[k]
            img, cbox, _ = extract_crop(read_image(photos[stem]), box, None, crop_size)
            yield Crop(img, cbox, None, ident, f"pipa/{stem}.jpg")

    source = {"source": "pipa", "path": str(root.resolve()), "min_size": min_size, "crop_size": crop_size,
              "expand": CROP_EXPAND, "faces": faces, "seed": seed, "available_faces": len(entries)}
    return write_crop_set(out_dir, crops(), source, None, "pipa")
