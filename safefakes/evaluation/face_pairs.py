"""Which faces of an anonymized split are compared with the original's, and their crops.

Every anonymized face is paired with the same face of the original split (by
image name and face index, from the anonymized split's ``manifest.csv``; a
split written by another tool has none, and every annotated face then counts
as anonymized). The two splits' annotations must agree box for box.
Faces smaller than ``min_size`` pixels in width or height are skipped (their
crops are mostly interpolation), and faces the anonymizer left as they were
(too small, degenerate, outside the image) are not pairs of an anonymization.
Both crops of a pair are cut from the face box and resized to one size,
``crop_size`` square, so that every metric compares like with like. The
images are streamed and the crops handed on in batches (``stream_crops``), so
memory does not grow with the split.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from safefakes.data.anonymized import Status
from safefakes.data.anonymized import read_manifest as read_manifest_rows
from safefakes.data.boxes import clip_box
from safefakes.data.images import read_image
from safefakes.data.split import Split
from safefakes.errors import InputError
from safefakes.evaluation.settings import DEFAULT_MIN_SIZE

log = logging.getLogger(__name__)

MANIFEST = "manifest.csv"
#: Manifest statuses whose face is a pair of an anonymization; 'original' pairs
#: each face with itself (the study's baseline, distance zero).
PAIRED_STATUSES = frozenset(Status.CHANGED | {Status.ORIGINAL})


def read_manifest(path: str | Path) -> dict[str, dict[int, str]]:
    """image name -> face index -> status, from an anonymized split's manifest.csv."""
    out: dict[str, dict[int, str]] = {}
    for row in read_manifest_rows(path):
        out.setdefault(row["image"], {})[row["face_index"]] = row["status"]
    return out


@dataclass
class ImagePair:
    """One image of the original split, its anonymized version and the faces to compare."""

    name: str
    original: np.ndarray  # (H, W, 3) uint8
    anonymized: np.ndarray  # (H, W, 3) uint8
    face_indices: np.ndarray  # (n,) indices into the image's annotated faces
    boxes: np.ndarray  # (n, 4) x1, y1, x2, y2, clipped to the image


@dataclass
class PairCounts:
    """What happened to every annotated face while pairing (written with the metrics)."""

    paired: int = 0
    too_small: int = 0  # below min_size
    not_anonymized: int = 0  # the manifest says the face was left as is
    over_cap: int = 0  # eligible, but not in the max_faces sample


def iter_image_pairs(
    original_root: str | Path,
    anonymized_root: str | Path,
    min_size: int = DEFAULT_MIN_SIZE,
    counts: PairCounts | None = None,
    max_faces: int | None = None,
    seed: int = 0,
) -> Iterator[ImagePair]:
    """Yield every image that has at least one face to compare, in annotation order.

    max_faces: compare at most this many faces, a seeded uniform sample of the
    eligible ones (the same sample for every method that anonymized the same
    faces of one split, so methods stay comparable while CPU runs stay short).
    """
    original = Split.load(original_root)
    anonymized_root = Path(anonymized_root)
    anonymized = Split.load(anonymized_root)
    # A split written by another tool has no manifest: every annotated face is
    # then taken as meant to be anonymized.
    external = not (anonymized_root / MANIFEST).exists()
    statuses = {} if external else read_manifest(anonymized_root / MANIFEST)
    if external:
        log.info("%s has no %s: an external split, every annotated face is compared", anonymized_root, MANIFEST)
    counts = counts if counts is not None else PairCounts()
    eligible: list[tuple] = []  # (image, face indices), from the annotations alone
    for im in original.images:
        if im.name not in anonymized:
            raise InputError(anonymized_root / "annotations.txt",
                             f"{im.name} of {original.root} is missing",
                             hint="compare an anonymized split with the split it was made from")
        if len(anonymized[im.name]) != len(im):
            raise InputError(anonymized_root / "annotations.txt",
                             f"{im.name} has {len(anonymized[im.name])} faces, the original {len(im)}",
                             hint="compare an anonymized split with the split it was made from")
        differs = np.flatnonzero((anonymized[im.name].boxes != im.boxes).any(axis=1))
        if differs.size:
            i = int(differs[0])
            raise InputError(anonymized_root / "annotations.txt",
                             f"{im.name} face {i} has box {' '.join(map(str, anonymized[im.name].boxes[i]))}, "
                             f"the original {' '.join(map(str, im.boxes[i]))}",
                             hint="compare an anonymized split with the split it was made from")
        image_status = statuses.get(im.name, {})
        candidates = []
        for i, box in enumerate(im.boxes):
            status = Status.ANONYMIZED if external else image_status.get(i)
            if status is None:
                raise InputError(anonymized_root / MANIFEST, f"no row for face {i} of {im.name}",
                                 hint="the manifest lists every annotated face; re-run the anonymizer")
            if status not in PAIRED_STATUSES:
                counts.not_anonymized += 1
            elif box[2] < min_size or box[3] < min_size:
                counts.too_small += 1
            else:
                candidates.append(i)
        if candidates:
            eligible.append((im, candidates))

    total = sum(len(c) for _, c in eligible)
    if max_faces is not None and total > max_faces:
        chosen = set(np.random.default_rng(seed).choice(total, size=max_faces, replace=False).tolist())
        counts.over_cap += total - max_faces
        numbered, start = [], 0
        for im, candidates in eligible:
            keep = [i for k, i in enumerate(candidates) if start + k in chosen]
            start += len(candidates)
            if keep:
                numbered.append((im, keep))
        eligible = numbered

    for im, candidates in eligible:
        orig_img = read_image(original.image_path(im.name))
        anon_img = read_image(anonymized.image_path(im.name))
        if orig_img.shape != anon_img.shape:
            raise InputError(anonymized.image_path(im.name),
                             f"size {anon_img.shape[1]}x{anon_img.shape[0]} differs from the original's "
                             f"{orig_img.shape[1]}x{orig_img.shape[0]}",
                             hint="anonymizers keep the image size; re-run the anonymizer")
        height, width = orig_img.shape[:2]
        kept, boxes = [], []
        for i in candidates:
            clipped = clip_box(im.boxes[i], width, height)
            if clipped is None:
                counts.not_anonymized += 1
                continue
            kept.append(i)
            boxes.append(clipped)
        if not kept:
            continue
        counts.paired += len(kept)
        yield ImagePair(im.name, orig_img, anon_img, np.asarray(kept, dtype=np.int64),
                        np.asarray(boxes, dtype=np.int64).reshape(-1, 4))


def crop_faces(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """(n, size, size, 3) uint8 crops of x1, y1, x2, y2 boxes, each resized to a square."""
    out = np.empty((len(boxes), size, size, 3), dtype=np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, dtype=np.int64)):
        crop = image[y1:y2, x1:x2]
        shrinking = crop.shape[0] > size or crop.shape[1] > size
        out[k] = cv2.resize(crop, (size, size),
                            interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return out


def stream_crops(pairs: Iterator[ImagePair], crop_size: int, batch_size: int, consume) -> None:
    """Crop both faces of every pair and hand them to ``consume`` in batches of about batch_size."""
    buffer: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
    pending = 0
    for pair in pairs:
        # Cut into batch_size pieces so that an image with many faces does not overflow a batch.
        for start in range(0, len(pair.boxes), batch_size):
            sl = slice(start, start + batch_size)
            buffer.append((pair.name, pair.face_indices[sl],
                           crop_faces(pair.original, pair.boxes[sl], crop_size),
                           crop_faces(pair.anonymized, pair.boxes[sl], crop_size)))
            pending += len(pair.boxes[sl])
            if pending >= batch_size:
                consume(buffer)
                buffer = []
                pending = 0
    if buffer:
        consume(buffer)


__all__ = ["MANIFEST", "PAIRED_STATUSES", "ImagePair", "PairCounts", "crop_faces", "iter_image_pairs",
           "read_manifest", "stream_crops"]
