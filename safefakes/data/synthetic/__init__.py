"""The embedded default dataset: procedurally generated faces, deterministic by seed.

``generate(out_dir)`` writes three split folders in the WIDER format
(``safefakes.data.split``):

* ``train`` and ``val``: detection images (default 192 x 192) with 1-8 faces
  from about 6 px to a third of the image height (log-uniform, like WIDER
  FACE), on cluttered backgrounds with face-like distractors. Each carries
  ``annotations.txt`` (with blur / expression / illumination / occlusion /
  pose labels), ``keypoints.json`` (layout ``synthetic72``, see ``face.py``)
  and ``identities.json`` (per face an identity id, plus ``"vectors"``: the
  ``identity_vector`` of every id used). ``val`` also carries the four
  official-style ``wider_*_val.mat`` files. Train and val people come from
  one population, so they may overlap.
* ``crops``: one square crop per image, one face each, 5-10 crops per
  person, from people *disjoint* from train and val (the anonymizers must not
  see the detector's faces). Events group the people in buckets.

Keypoints (``LAYOUT = "synthetic72"``, documented in ``face.py``): the 68
dlib landmarks in dlib's order (jaw 0-16, brows 17-26, nose 27-35 with the
tip at 30, eyes 36-47, mouth 48-67), then left ear 68, right ear 69, left
shoulder 70, right shoulder 71 ("left" is the person's left: the image's
right in a frontal face). Each point is ``[x, y, visible]`` in pixels.

Every image has its own seed (from the global seed and its name), so the
output is the same byte for byte whatever the number of worker processes.
A split appears under its final name only when complete: it is written under
a hidden ``.<split>.partial`` name and renamed into place at the end.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np

from safefakes.data.images import image_size, read_image, write_image
from safefakes.data.seeding import image_seed
from safefakes.data.split import IMAGES, Split
from safefakes.data.synthetic.face import (  # noqa: F401  (re-exported layout constants)
    CHIN,
    DLIB68,
    INNER_LIPS,
    JAW,
    KEYPOINT_NAMES,
    LAYOUT,
    LEFT_BROW,
    LEFT_EAR,
    LEFT_EYE,
    LEFT_SHOULDER,
    MOUTH,
    N_KEYPOINTS,
    NOSE,
    NOSE_BOTTOM,
    NOSE_BRIDGE,
    NOSE_TIP,
    OUTER_LIPS,
    RIGHT_BROW,
    RIGHT_EAR,
    RIGHT_EYE,
    RIGHT_SHOULDER,
    Placement,
    Pose,
)
from safefakes.data.synthetic.identity import (  # noqa: F401
    VECTOR_SIZE,
    Identity,
    identity_distance,
    identity_vector,
    sample_identity,
)
from safefakes.data.synthetic.scene import CROP_EXPANSION, EVENTS, FaceRecord, render_crop, render_scene
from safefakes.data.wider_files import ImageFaces
from safefakes.parallel import fork_context, opencv_threads_joined

log = logging.getLogger(__name__)

DEFAULT_TRAIN_IMAGES = 400
DEFAULT_VAL_IMAGES = 150
DEFAULT_CROPS = 1500
DEFAULT_IMAGE_SIZE = (192, 192)
DEFAULT_CROP_SIZE = 64
SPLITS = ("train", "val", "crops")
JPEG_QUALITY = 92
CROPS_PER_IDENTITY = (5, 10)
CROP_BUCKET = 50  # people per crops event folder


def identity_for(seed: int, identity_id: int) -> Identity:
    """The person with this id under this seed (the same in every process)."""
    return _identity_cached(int(seed), int(identity_id))


@lru_cache(maxsize=8192)
def _identity_cached(seed: int, identity_id: int) -> Identity:
    return sample_identity(np.random.default_rng(image_seed(seed, f"identity/{identity_id}")))


def population_size(train_images: int, val_images: int) -> int:
    """How many people train and val draw from: each appears in ~4-5 images."""
    return max(16, int(train_images) + int(val_images))


def _scene_name(split: str, index: int) -> str:
    event = EVENTS[index % len(EVENTS)]
    number, label = event.split("--", 1)
    return f"{event}/{number}_{label}_{split}_{index:05d}.jpg"


def _crop_layout(seed: int, n_crops: int, first_id: int) -> list[tuple[str, int]]:
    """(image name, identity id) of every crop: 5-10 crops per person, bucketed into events."""
    rng = np.random.default_rng(image_seed(seed, "crops/layout"))
    out: list[tuple[str, int]] = []
    person = 0
    while len(out) < n_crops:
        count = int(rng.integers(CROPS_PER_IDENTITY[0], CROPS_PER_IDENTITY[1] + 1))
        ident = first_id + person
        bucket = person // CROP_BUCKET
        event = f"{bucket}--People_{bucket * CROP_BUCKET:05d}-{(bucket + 1) * CROP_BUCKET - 1:05d}"
        for k in range(min(count, n_crops - len(out))):
            out.append((f"{event}/{bucket}_People_id{ident:06d}_{k:02d}.jpg", ident))
        person += 1
    return out


def _render_task(task: tuple) -> tuple[str, list[FaceRecord]]:
    """Render one image and write it under the staging folder (runs in a worker)."""
    kind, stage, split, name, seed, payload = task
    rng = np.random.default_rng(image_seed(seed, f"{split}/{name}"))
    if kind == "scene":
        size, pool_size, event = payload
        # Draw a handful of candidate people from the population for this image.
        ids = rng.choice(pool_size, size=min(pool_size, 12), replace=False)
        people = [(int(i), identity_for(seed, int(i))) for i in ids]
        img, records = render_scene(rng, size, people, event)
    else:
        crop_size, ident_id = payload
        img, record = render_crop(rng, crop_size, identity_for(seed, ident_id), ident_id)
        records = [record]
    write_image(Path(stage) / IMAGES / name, img, quality=JPEG_QUALITY)
    return name, records


def _worker_init() -> None:
    import cv2

    # One OpenCV thread per worker: the workers already use every core.
    cv2.setNumThreads(1)


def _run_tasks(tasks: list[tuple], workers: int) -> list[tuple[str, list[FaceRecord]]]:
    if workers <= 1 or len(tasks) < 4:
        return [_render_task(t) for t in tasks]
    chunk = max(1, len(tasks) // (workers * 8))
    # The workers only run numpy, OpenCV and Pillow; they fork (see safefakes.parallel).
    with opencv_threads_joined():
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=fork_context(), initializer=_worker_init)
        # The executor forks its workers lazily, at the first submission.
        futures = [pool.submit(_render_task, t) for t in tasks[:workers]]
    with pool:
        rest = list(pool.map(_render_task, tasks[workers:], chunksize=chunk))
        return [f.result() for f in futures] + rest


def _write_split(stage: Path, results: list[tuple[str, list[FaceRecord]]], seed: int,
                 with_mat: bool) -> dict:
    images, keypoints, identities = [], {}, {}
    used: set[int] = set()
    for name, records in results:
        boxes = np.array([r.box for r in records], dtype=np.int64).reshape(-1, 4)
        attrs = np.array([r.attributes for r in records], dtype=np.int64).reshape(-1, 6)
        images.append(ImageFaces(name, boxes, attrs))
        keypoints[name] = np.array([r.keypoints for r in records], dtype=np.float64).reshape(-1, N_KEYPOINTS, 3)
        identities[name] = np.array([r.identity for r in records], dtype=np.int64)
        used.update(int(r.identity) for r in records)
    vectors = {i: identity_vector(identity_for(seed, i)) for i in sorted(used)}
    split = Split(stage, images, keypoints, LAYOUT, identities, vectors)
    split.save_metadata(stage, with_mat=with_mat)
    return {"images": len(images), "faces": split.n_faces, "identities": len(used)}


def _swap_into_place(stage: Path, final: Path) -> None:
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
        os.replace(stage, final)
        shutil.rmtree(old)
    else:
        os.replace(stage, final)


def generate(
    out_dir: str | Path,
    *,
    seed: int = 0,
    train_images: int = DEFAULT_TRAIN_IMAGES,
    val_images: int = DEFAULT_VAL_IMAGES,
    crops: int = DEFAULT_CROPS,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    crop_size: int = DEFAULT_CROP_SIZE,
    workers: int | None = None,
) -> dict:
    """Write ``out_dir/{train,val,crops}``; return counts per split.

    Same seed and sizes give identical files, whatever ``workers`` is
    (default: every CPU core).
    """
    out = Path(out_dir)
    W, H = (int(v) for v in image_size)
    if min(W, H) < 32:
        raise ValueError(f"image_size {image_size} is too small: faces need at least 32 x 32 pixels")
    if int(crop_size) < 32:
        raise ValueError(f"crop_size {crop_size} is too small: use at least 32")
    for name, n in (("train_images", train_images), ("val_images", val_images), ("crops", crops)):
        if int(n) < 1:
            raise ValueError(f"{name} must be at least 1, got {n}")
    workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    pool_size = population_size(train_images, val_images)
    plan: dict[str, list[tuple]] = {s: [] for s in SPLITS}
    stages = {s: out / f".{s}.partial" for s in SPLITS}
    for _s, stage in stages.items():
        if stage.exists():
            shutil.rmtree(stage)  # left over from a killed run
        stage.mkdir(parents=True)
    for split, n in (("train", train_images), ("val", val_images)):
        for i in range(int(n)):
            name = _scene_name(split, i)
            plan[split].append(("scene", str(stages[split]), split, name, int(seed),
                                ((W, H), pool_size, i % len(EVENTS))))
    for name, ident in _crop_layout(int(seed), int(crops), first_id=pool_size):
        plan["crops"].append(("crop", str(stages["crops"]), "crops", name, int(seed), (int(crop_size), ident)))

    all_tasks = plan["train"] + plan["val"] + plan["crops"]
    results = _run_tasks(all_tasks, workers)
    summary: dict = {"seed": int(seed), "image_size": [W, H], "crop_size": int(crop_size)}
    start = 0
    for split in SPLITS:
        part = results[start:start + len(plan[split])]
        start += len(plan[split])
        summary[split] = _write_split(stages[split], part, int(seed), with_mat=(split == "val"))
    for split in SPLITS:
        _swap_into_place(stages[split], out / split)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    log.debug("synthetic dataset in %s: %s", out, summary)
    return summary


def write_preview(out_dir: str | Path, path: str | Path, n_images: int = 12, n_crops: int | None = None,
                  columns: int = 4) -> Path:
    """A contact sheet PNG: train images with their boxes (green; orange when occluded),
    then crops (by default one row, as many as fit the sheet's width)."""
    import cv2

    out = Path(out_dir)
    train = Split.load(out / "train")
    crops_split = Split.load(out / "crops")
    tiles = []
    for im in train.images[:n_images]:
        img = read_image(train.image_path(im.name)).copy()
        for (x, y, w, h), occ in zip(im.boxes, im.attribute("occlusion")):
            colour = (0, 255, 0) if occ == 0 else (255, 200, 0)
            cv2.rectangle(img, (int(x), int(y)), (int(x + w - 1), int(y + h - 1)), colour, 1)
        tiles.append(img)
    if not tiles:
        raise ValueError(f"{out / 'train'} holds no images")
    th, tw = tiles[0].shape[:2]
    gap = 4
    rows = [tiles[i:i + columns] for i in range(0, len(tiles), columns)]
    sheet_w = columns * tw + (columns + 1) * gap
    if n_crops is None:
        crop_side = image_size(crops_split.image_path(crops_split.images[0].name))[0] if len(crops_split) else 1
        n_crops = max(1, (sheet_w - gap) // (crop_side + gap))
    crop_imgs = [read_image(crops_split.image_path(im.name)) for im in crops_split.images[:n_crops]]
    crop_h = 0
    if crop_imgs:
        cs = crop_imgs[0].shape[0]
        per_row = max(1, (sheet_w - gap) // (cs + gap))
        crop_rows = [crop_imgs[i:i + per_row] for i in range(0, len(crop_imgs), per_row)]
        crop_h = len(crop_rows) * (cs + gap)
    sheet = np.full((len(rows) * (th + gap) + gap + crop_h, sheet_w, 3), 255, dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            y, x = gap + r * (th + gap), gap + c * (tw + gap)
            sheet[y:y + th, x:x + tw] = tile[:th, :tw]
    if crop_imgs:
        y0 = len(rows) * (th + gap) + gap
        for r, row in enumerate(crop_rows):
            for c, crop in enumerate(row):
                y, x = y0 + r * (cs + gap), gap + c * (cs + gap)
                sheet[y:y + cs, x:x + cs] = crop[:cs, :cs]
    path = Path(path)
    write_image(path, sheet)
    return path


__all__ = [
    "generate", "write_preview", "identity_vector", "identity_distance", "identity_for", "sample_identity",
    "Identity", "Pose", "Placement", "LAYOUT", "KEYPOINT_NAMES", "N_KEYPOINTS", "EVENTS", "CROP_EXPANSION",
    "VECTOR_SIZE",
    "JAW", "CHIN", "RIGHT_BROW", "LEFT_BROW", "NOSE", "NOSE_BRIDGE", "NOSE_BOTTOM", "NOSE_TIP",
    "RIGHT_EYE", "LEFT_EYE", "OUTER_LIPS", "INNER_LIPS", "MOUTH", "DLIB68",
    "LEFT_EAR", "RIGHT_EAR", "LEFT_SHOULDER", "RIGHT_SHOULDER",
    "DEFAULT_TRAIN_IMAGES", "DEFAULT_VAL_IMAGES", "DEFAULT_CROPS", "DEFAULT_IMAGE_SIZE", "DEFAULT_CROP_SIZE",
]
