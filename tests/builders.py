"""Tiny data the tests build: drawn faces, WIDER-format splits, anonymized copies.

Shared by several test modules; every builder is deterministic by its seed.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import cv2
import numpy as np

from safefakes.anonymizers.gan.landmarks import DLIB68_FLIP_PAIRS
from safefakes.data.anonymized import Status
from safefakes.data.images import copy_file_atomic, write_image
from safefakes.data.split import Split
from safefakes.data.wider_files import ImageFaces, write_annotations
from safefakes.detector.config import DetectorConfig, mini_config

# --------------------------------------------------------------------------- #
# Cartoon faces on noise (engine and audit tests)
# --------------------------------------------------------------------------- #

def draw_face(img: np.ndarray, box) -> None:
    """A face-like pattern: a skin ellipse, dark eyes and a mouth (edges to anonymize)."""
    x, y, w, h = box
    if w <= 0 or h <= 0:
        return
    cx, cy = x + w // 2, y + h // 2
    cv2.ellipse(img, (cx, cy), (max(w // 2, 1), max(h // 2, 1)), 0, 0, 360, (224, 172, 140), -1)
    r = max(w // 10, 1)
    cv2.circle(img, (x + w // 3, y + h // 3), r, (20, 20, 20), -1)
    cv2.circle(img, (x + 2 * w // 3, y + h // 3), r, (20, 20, 20), -1)
    cv2.line(img, (x + w // 3, y + 3 * h // 4), (x + 2 * w // 3, y + 3 * h // 4), (120, 20, 30), max(h // 16, 1))

def make_split(root: Path, faces: dict, size=(100, 160), seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    images = []
    for name, boxes in faces.items():
        img = np.clip(rng.normal(120, 25, (*size, 3)), 0, 255).astype(np.uint8)
        img = cv2.GaussianBlur(img, (5, 5), 0)
        for box in boxes:
            draw_face(img, box)
        write_image(root / "images" / name, img)
        images.append(ImageFaces(name, np.array(boxes, dtype=np.int64).reshape(-1, 4)))
    split = Split(root, images)
    split.save_metadata()
    return split

def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- #
# Faces whose look follows an identity (image metrics, leakage, plots)
# --------------------------------------------------------------------------- #

def draw_identity_face(img: np.ndarray, box, ident: np.ndarray, rng: np.random.Generator) -> None:
    """A textured cartoon face whose look follows the identity vector (6 numbers in [0, 1])."""
    x, y, w, h = box
    skin = (120 + 120 * ident[:3]).astype(int)
    cx, cy = x + w // 2, y + h // 2
    axes = (max(int(w * (0.32 + 0.15 * ident[4])), 2), max(int(h * 0.45), 2))
    cv2.ellipse(img, (cx, cy), axes, 0, 0, 360, tuple(int(v) for v in skin), -1)
    spacing = int(w * (0.12 + 0.14 * ident[3]))
    eye = max(w // 12, 1)
    for sx in (-1, 1):
        cv2.circle(img, (cx + sx * spacing, cy - h // 8), eye, (20, 20, 60), -1)
    mouth = max(int(w * (0.1 + 0.2 * ident[5])), 1)
    cv2.line(img, (cx - mouth, cy + h // 4), (cx + mouth, cy + h // 4), (150, 30, 30), max(h // 20, 1))
    patch = img[y:y + h, x:x + w].astype(np.int16) + rng.integers(-12, 13, (h, w, 3))
    img[y:y + h, x:x + w] = np.clip(patch, 0, 255).astype(np.uint8)

def make_identity_split(root: Path, n_images: int = 3, faces_per_image: int = 2, size: int = 56,
               seed: int = 0, with_identities: bool = False, n_identities: int | None = None) -> Split:
    """A split of n_images drawn images, each with faces_per_image faces of size x size px."""
    rng = np.random.default_rng(seed)
    images, identities = [], {}
    n_identities = n_identities or n_images * faces_per_image
    vectors = {k: rng.uniform(0, 1, 6) for k in range(n_identities)}
    face = 0
    for i in range(n_images):
        name = f"0--Test/0_Test_{i}.jpg"
        img = np.zeros((size * 2, (size + 8) * faces_per_image + 8, 3), np.uint8)
        img[:] = rng.integers(40, 90, 3)
        boxes, ids = [], []
        for j in range(faces_per_image):
            box = (8 + j * (size + 8), size // 2, size, size)
            ident = face % n_identities
            draw_identity_face(img, box, vectors[ident], rng)
            boxes.append(box)
            ids.append(ident)
            face += 1
        write_image(root / "images" / name, img)
        images.append(ImageFaces(name, np.array(boxes)))
        identities[name] = np.array(ids)
    split = Split(root, images)
    if with_identities:
        split.identities = identities
        split.identity_vectors = vectors
    split.save_metadata()
    return Split.load(root)

def make_anonymized(original: Split, root: Path, transform, method: str = "test",
                    status: str = Status.ANONYMIZED, statuses: dict | None = None) -> Path:
    """Copy a split with transform(face_crop, face_number) applied to every face, plus manifest.csv."""
    from safefakes.data.images import read_image

    rows = []
    n = 0
    for im in original.images:
        img = read_image(original.image_path(im.name)).copy()
        changed = False
        for k, (x, y, w, h) in enumerate(im.boxes):
            face_status = (statuses or {}).get((im.name, k), status)
            if face_status in Status.CHANGED:
                img[y:y + h, x:x + w] = transform(img[y:y + h, x:x + w].copy(), n)
                changed = True
            rows.append([im.name, k, x, y, w, h, method, face_status])
            n += 1
        if changed:
            write_image(root / "images" / im.name, img)
        else:  # as the 'original' method does: the same bytes
            copy_file_atomic(original.image_path(im.name), root / "images" / im.name)
    Split(root, original.images).save_metadata()
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "face_index", "x", "y", "w", "h", "method", "status"])
        writer.writerows(rows)
    return root

def blur(kernel: int):
    return lambda crop, _n: cv2.GaussianBlur(crop, (kernel, kernel), 0)

# --------------------------------------------------------------------------- #
# Landmark faces for the GANs: a symmetric dlib-68 template, tiny splits and crop sets
# --------------------------------------------------------------------------- #
def template_landmarks() -> np.ndarray:
    """(68, 2) dlib-68 points of a frontal face in box units [0, 1], mirror-symmetric about x = 0.5."""
    p = np.zeros((68, 2))
    for i in range(17):  # jaw: a half ellipse from (0.1, 0.45) down to the chin (0.5, 0.95)
        a = np.pi * i / 16
        p[i] = [0.5 - 0.4 * np.cos(a), 0.45 + 0.5 * np.sin(a)]
    p[17:22] = [[0.16, 0.31], [0.22, 0.28], [0.29, 0.27], [0.36, 0.28], [0.42, 0.31]]  # brow, image left
    p[27:31] = [[0.5, 0.38], [0.5, 0.45], [0.5, 0.52], [0.5, 0.58]]  # nose bridge
    p[31:34] = [[0.42, 0.63], [0.46, 0.645], [0.5, 0.65]]
    p[36:42] = [[0.24, 0.40], [0.28, 0.38], [0.34, 0.38], [0.38, 0.40], [0.34, 0.42], [0.28, 0.42]]
    p[48:52] = [[0.35, 0.78], [0.40, 0.74], [0.45, 0.73], [0.5, 0.735]]
    p[55:58] = [[0.61, 0.81], [0.56, 0.83], [0.5, 0.84]]  # lower lip, image right
    p[60:63] = [[0.39, 0.78], [0.45, 0.765], [0.5, 0.76]]
    p[65:67] = [[0.55, 0.795], [0.5, 0.80]]
    for a, b in DLIB68_FLIP_PAIRS:  # the image-right half mirrors the image-left half
        if a >= 17:
            p[b] = [1 - p[a, 0], p[a, 1]]
    return p


def face_keypoints(box: tuple[float, float, float, float], visible: bool = True) -> np.ndarray:
    """(68, 3) template landmarks placed in a WIDER box (x, y, w, h), in image pixels."""
    x, y, w, h = box
    t = template_landmarks()
    return np.stack([x + t[:, 0] * w, y + t[:, 1] * h, np.full(68, float(visible))], 1)


def draw_landmark_face(img: np.ndarray, box: tuple[int, int, int, int], identity: int) -> None:
    """A crude face in ``box`` whose skin, eye and mouth colours depend on ``identity``."""
    x, y, w, h = box
    rng = np.random.default_rng(identity)
    skin = tuple(int(v) for v in rng.integers(90, 230, 3))
    eye = tuple(int(v) for v in rng.integers(0, 120, 3))
    cv2.ellipse(img, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, skin, -1)
    for ex in (0.31, 0.69):
        cv2.circle(img, (int(x + ex * w), int(y + 0.4 * h)), max(w // 10, 1), eye, -1)
    cv2.line(img, (int(x + 0.38 * w), int(y + 0.78 * h)), (int(x + 0.62 * w), int(y + 0.78 * h)), (150, 30, 40),
             max(h // 16, 1))


def write_landmark_split(root: Path, faces_per_image: list[list[tuple[int, int, int, int]]],
                         identities: list[list[int]], size: int = 48, landmarks: list[list[bool]] | None = None,
                         seed: int = 0) -> Path:
    """A tiny WIDER-format split with dlib68 keypoints.json and identities.json; returns ``root``."""
    rng = np.random.default_rng(seed)
    images, kps, ids = [], {}, {}
    for k, (boxes, idents) in enumerate(zip(faces_per_image, identities)):
        name = f"0--Test/img_{k:03d}.jpg"
        img = np.zeros((size, size, 3), np.uint8)
        img[:] = rng.integers(40, 200, 3)
        img = np.clip(img.astype(int) + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)
        for box, ident in zip(boxes, idents):
            draw_landmark_face(img, box, ident)
        write_image(root / "images" / name, img)
        arr = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
        images.append(ImageFaces(name, arr, np.zeros((len(arr), 6), np.int64)))
        vis = landmarks[k] if landmarks is not None else [True] * len(boxes)
        kps[name] = [face_keypoints(b, v).round(2).tolist() for b, v in zip(boxes, vis)]
        ids[name] = list(idents)
    write_annotations(root / "annotations.txt", images)
    (root / "keypoints.json").write_text(json.dumps({"layout": "dlib68", "faces": kps}))
    (root / "identities.json").write_text(json.dumps({"faces": ids}))
    return root


def tiny_crop_set(root: Path, n: int = 16, size: int = 32) -> Path:
    """``n`` one-face crops of four identities, each face filling the middle of the crop."""
    boxes = [[(8 + k % 3, 7 + k % 2, 16, 18)] for k in range(n)]
    return write_landmark_split(root, boxes, [[k % 4] for k in range(n)], size=size)


# --------------------------------------------------------------------------- #
# Easy square faces for the detector
# --------------------------------------------------------------------------- #

def draw_square_face(img: np.ndarray, x: int, y: int, s: int) -> None:
    """A bright disc with two dark eyes and a mouth: an easy "face" of side ``s``."""
    yy, xx = np.mgrid[:s, :s]
    c = (s - 1) / 2
    patch = img[y:y + s, x:x + s]
    patch[(yy - c) ** 2 + (xx - c) ** 2 <= (s / 2) ** 2] = (235, 195, 150)
    eyes = (np.abs(yy - 0.38 * s) < 0.09 * s) & ((np.abs(xx - 0.3 * s) < 0.09 * s) | (np.abs(xx - 0.7 * s) < 0.09 * s))
    patch[eyes] = (25, 25, 25)
    patch[(np.abs(yy - 0.72 * s) < 0.06 * s) & (np.abs(xx - c) < 0.22 * s)] = (120, 30, 30)

def make_face_split(root: Path, boxes_per_image: list[list[tuple[int, int, int]]], size: int = 64,
                    seed: int = 0, with_mat: bool = True) -> Path:
    """A split of ``size``-pixel noisy images with one drawn face per (x, y, side)."""
    rng = np.random.default_rng(seed)
    images = []
    for i, faces in enumerate(boxes_per_image):
        img = (rng.random((size, size, 3)) * 50 + 30).astype(np.uint8)
        for x, y, s in faces:
            draw_square_face(img, x, y, s)
        name = f"0--Test/img_{i:02d}.jpg"
        write_image(root / "images" / name, img)
        images.append(ImageFaces(name, np.array([[x, y, s, s] for x, y, s in faces]).reshape(-1, 4)))
    Split(root, images).save_metadata(with_mat=with_mat)
    return root

def plain_config(**kw) -> DetectorConfig:
    """No photometric change, no flip, a crop that is the whole (square) image."""
    base = dict(input_size=32, width=0.0625, photometric=False, data_anchor_sampling=0.0, min_crop=1.0,
                flip=0.0, min_face_size=1.0, allow_random_init=True)
    base.update(kw)
    return DetectorConfig.from_dict(base, base=mini_config())


# --------------------------------------------------------------------------- #

def run_command(module, argv: list[str]) -> int:
    """Parse and run one sub-command module the way safefakes.cli does."""
    parser = argparse.ArgumentParser()
    module.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)
