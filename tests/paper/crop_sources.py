"""FDF, CelebA and PIPA in the layouts that ``safefakes.data.crops``' importers read today.

Until the crop-set importers of issue 16 (and their fixture builders in
``tests/fixtures/{fdf,celeba,pipa}.py``) are merged, the scale-reduced paper
run gets its crop sources from here; the faces are the synthetic set's
single-face crops (real faces cannot ship), the files are laid out as:

* FDF: ``<root>/train/images/128/<index>.png``, ``<root>/train/bounding_box/128.torch``
  ((N, 4) x0 y0 x1 y1 pixels), ``<root>/train/landmarks.npy`` ((N, 7, 2) in [0, 1]);
* CelebA: ``<root>/img_align_celeba/000001.jpg`` (178 x 218),
  ``identity_CelebA.txt``, ``list_landmarks_align_celeba.txt`` (count line,
  header line, name + five x / y pairs);
* PIPA: ``<root>/train/<photoset>_<photo>.jpg`` and ``<root>/annotations/index.txt``
  (``photoset_id photo_id xmin ymin width height identity_id subset_id``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from safefakes.data.images import read_image, write_image
from safefakes.data.split import Split
from safefakes.data.synthetic import generate
from safefakes.keypoints.layouts import convert_keypoints

CELEBA_SIZE = (178, 218)  # width, height of CelebA's aligned images
FDF_SIZE = 128


def _crops(tmp: Path, n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """(image, box x y w h, synthetic72 keypoints, identity) of ``n`` synthetic face crops."""
    generate(tmp / "synthetic", seed=seed, train_images=1, val_images=1, crops=n, crop_size=FDF_SIZE, workers=1)
    split = Split.load(tmp / "synthetic" / "crops")
    out = []
    for im in split.images:
        out.append((read_image(split.image_path(im.name)), im.boxes[0].astype(np.float64),
                    np.asarray(split.keypoints[im.name][0], np.float64), int(split.identities[im.name][0])))
    return out


def _replace(stage: Path, root: Path) -> Path:
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(stage), root)
    return root


def write_fdf(root: str | Path, n: int, seed: int = 0) -> Path:
    root = Path(root)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "fdf"
        images = stage / "train" / "images" / str(FDF_SIZE)
        images.mkdir(parents=True)
        boxes, landmarks = [], []
        for i, (img, (x, y, w, h), kp, _) in enumerate(_crops(Path(tmp), n, seed)):
            write_image(images / f"{i}.png", img)
            boxes.append([x, y, x + w, y + h])
            landmarks.append(convert_keypoints(kp, "synthetic72", "deepprivacy7")[:, :2] / FDF_SIZE)
        (stage / "train" / "bounding_box").mkdir()
        torch.save(torch.tensor(boxes, dtype=torch.float32), stage / "train" / "bounding_box" / f"{FDF_SIZE}.torch")
        np.save(stage / "train" / "landmarks.npy", np.asarray(landmarks, np.float32))
        return _replace(stage, root)


def write_celeba(root: str | Path, n: int, seed: int = 0) -> Path:
    root = Path(root)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "celeba"
        images = stage / "img_align_celeba"
        images.mkdir(parents=True)
        ids, marks = [], []
        sx, sy = CELEBA_SIZE[0] / FDF_SIZE, CELEBA_SIZE[1] / FDF_SIZE
        for i, (img, _, kp, identity) in enumerate(_crops(Path(tmp), n, seed)):
            name = f"{i + 1:06d}.jpg"
            write_image(images / name, cv2.resize(img, CELEBA_SIZE, interpolation=cv2.INTER_AREA))
            d68 = convert_keypoints(kp, "synthetic72", "dlib68")[:, :2]
            # CelebA's five: the image-left eye, the image-right eye, the nose tip, the mouth corners.
            five = np.stack([d68[36:42].mean(0), d68[42:48].mean(0), d68[30], d68[48], d68[54]]) * (sx, sy)
            ids.append(f"{name} {identity}")
            marks.append(f"{name} " + " ".join(str(int(round(v))) for v in five.ravel()))
        (stage / "identity_CelebA.txt").write_text("\n".join(ids) + "\n", encoding="utf-8")
        header = "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y"
        (stage / "list_landmarks_align_celeba.txt").write_text(
            f"{len(marks)}\n{header}\n" + "\n".join(marks) + "\n", encoding="utf-8")
        return _replace(stage, root)


def write_pipa(root: str | Path, n: int, seed: int = 0) -> Path:
    root = Path(root)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "pipa"
        (stage / "train").mkdir(parents=True)
        (stage / "annotations").mkdir()
        lines = []
        for i, (img, (x, y, w, h), _, identity) in enumerate(_crops(Path(tmp), n, seed)):
            photoset, photo = 72157600000000 + i // 3, 500000000 + i
            write_image(stage / "train" / f"{photoset}_{photo}.jpg", img)
            lines.append(f"{photoset} {photo} {int(x)} {int(y)} {int(w)} {int(h)} {identity} 1")
        (stage / "annotations" / "index.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return _replace(stage, root)
