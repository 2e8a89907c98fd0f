"""Import the real WIDER FACE from its official folders into two splits.

Expected under ``root`` (the layout of the official downloads)::

    WIDER_train/images/<event>/<name>.jpg
    WIDER_val/images/<event>/<name>.jpg
    wider_face_split/wider_face_train_bbx_gt.txt
    wider_face_split/wider_face_val_bbx_gt.txt
    eval_tools/ground_truth/wider_{face,easy,medium,hard}_val.mat

The splits reference the user's images through a symbolic link (12,880 + 3,226
images are not copied) and are never written through it: every SafeFakes step
writes a new split folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from safefakes.data.split import ANNOTATIONS, IMAGES
from safefakes.data.wider_files import MAT_FILES, read_annotations, read_ground_truth
from safefakes.errors import InputError

SOURCES = {
    "train": ("WIDER_train/images", "wider_face_split/wider_face_train_bbx_gt.txt"),
    "val": ("WIDER_val/images", "wider_face_split/wider_face_val_bbx_gt.txt"),
}
GROUND_TRUTH = "eval_tools/ground_truth"
DOWNLOAD_HINT = ("download WIDER FACE (WIDER_train.zip, WIDER_val.zip, wider_face_split.zip and the "
                 "evaluation code eval_tools.zip) from the WIDER FACE site and unpack them into one folder, "
                 "then set data.widerface.root to it")


def check_layout(root: str | Path) -> None:
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "WIDER FACE folder not found", hint=DOWNLOAD_HINT)
    needed = [p for pair in SOURCES.values() for p in pair]
    needed += [f"{GROUND_TRUTH}/{f}" for f in MAT_FILES.values()]
    missing = [p for p in needed if not (root / p).exists()]
    if missing:
        raise InputError(root, f"not a WIDER FACE folder: missing {', '.join(missing)}", hint=DOWNLOAD_HINT)


def import_split(root: str | Path, which: str, out_dir: str | Path) -> int:
    """Write split ``which`` ('train' or 'val') to ``out_dir``; returns its image count."""
    root = Path(root).resolve()
    out_dir = Path(out_dir)
    check_layout(root)
    images_rel, ann_rel = SOURCES[which]
    images_dir = root / images_rel
    ann_path = root / ann_rel
    images = read_annotations(ann_path)
    missing = [im.name for im in images if not (images_dir / im.name).is_file()]
    if missing:
        raise InputError(ann_path, f"{len(missing)} annotated image(s) are missing under {images_dir}, "
                                   f"e.g. {missing[0]}", hint="re-extract the image archive")
    if which == "val":
        gt = read_ground_truth(root / GROUND_TRUTH)
        keys = {f"{im.event}/{im.stem}" for im in images}
        absent = [im.key for im in gt.images if im.key not in keys]
        if absent:
            raise InputError(root / GROUND_TRUTH, f"{len(absent)} ground-truth image(s) are not in {ann_path.name}, "
                                                 f"e.g. {absent[0]}")
    # Build next to the target and rename, so that a half-done import never looks complete.
    tmp = out_dir.with_name(f".{out_dir.name}.importing")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    os.symlink(images_dir, tmp / IMAGES, target_is_directory=True)
    shutil.copyfile(ann_path, tmp / ANNOTATIONS)
    if which == "val":
        for f in MAT_FILES.values():
            shutil.copyfile(root / GROUND_TRUTH / f, tmp / f)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return len(images)
