"""Face-crop sets: the training data of the GAN anonymizers.

A crop set is a split folder (``safefakes.data.split``): every image holds one
face crop with one annotated tight face box, plus

* ``keypoints.json`` (in the source's layout) and ``identities.json`` (-1
  where the identity is unknown), as every split carries them;
* ``table/``: the same per-face data as ``.npy`` arrays (``boxes``,
  ``keypoints``, ``identities``, ``index``), which training memory-maps, so
  that a 1.4M-face set is never parsed into memory;
* ``faces.csv`` (image, where it came from), ``drops.csv`` (every candidate
  face that was not taken, and why) and ``crops.json`` (the source, its
  settings, and how many faces were found, kept and dropped, by reason).

Its images are written in a fixed pseudo-random order (seeded), so "the first
N faces" is a deterministic subset and smaller subsets are nested in larger
ones: the anonymizer-training-size sweep (``--faces N``). Image names carry a
candidate's position in that order (``<event>/<position>.jpg``), so a dropped
candidate leaves a gap in the numbers, never a different subset.

``write_crop_set`` builds one from any ``CropSource`` (a sequence of candidate
faces in set order): in worker processes, chunk by chunk, into
``<out>.partial/``, which an interrupted run continues; the folder is renamed
to ``<out>`` only when it is complete, so a crop set that exists is whole.
Nothing but the current chunk is held in memory.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from safefakes.data.images import copy_file_atomic, read_image, write_image, write_text_atomic
from safefakes.data.split import ANNOTATIONS, IMAGES, Split
from safefakes.errors import InputError
from safefakes.parallel import fork_context, opencv_threads_joined

CROPS_META = "crops.json"
TABLE = "table"
FACES_CSV = "faces.csv"
DROPS_CSV = "drops.csv"
PARTIAL_SUFFIX = ".partial"
CROP_EXPAND = 0.5  # more context than any GAN crops (DeepPrivacy: 0.35), so they all fit
DEFAULT_CROP_SIZE = 128
DEFAULT_MIN_SIZE = 24
CHUNK = 256  # candidates per unit of work (and of resumption)

# Why a candidate face was not taken (drops.csv, crops.json "dropped").
DROP_OUTSIDE = "box_outside_image"
DROP_TOO_SMALL = "smaller_than_min_size"
DROP_NO_LANDMARKS = "no_landmarks_found"
DROP_MISSING_IMAGE = "image_missing"
DROP_UNREADABLE = "image_unreadable"


@dataclass
class Crop:
    """One face crop before it is written."""

    image: np.ndarray | None  # (H, W, 3) uint8; None when ``copy_from`` is set
    box: np.ndarray  # (4,) x, y, w, h in crop pixels
    keypoints: np.ndarray | None  # (K, 3) in crop pixels, or None
    identity: int = -1
    origin: str = ""  # where it came from (image name / file), for the record
    copy_from: Path | None = None  # copy this file byte for byte instead of encoding ``image``


@dataclass
class Dropped:
    """A candidate face that is not taken into the set, with the reason (recorded, not an error)."""

    reason: str
    origin: str


class CropSource(Protocol):
    """Candidate faces in set order; ``crop(k)`` makes candidate ``k`` (in any process)."""

    def __len__(self) -> int: ...
    def crop(self, k: int) -> Crop | Dropped: ...


class CropList:
    """Crops already made, as a ``CropSource`` (tests, small programmatic sets)."""

    def __init__(self, crops) -> None:
        self.crops = list(crops)

    def __len__(self) -> int:
        return len(self.crops)

    def crop(self, k: int) -> Crop | Dropped:
        return self.crops[k]


def subset_order(n: int, faces: int | None, seed: int = 0) -> np.ndarray:
    """The indices of a deterministic subset of ``faces`` out of ``n`` (all when None), in set order.

    The first k of the order for ``faces`` = m are the order for ``faces`` = k:
    subsets of one source are nested.
    """
    if faces is not None and faces > n:
        raise ValueError(f"--faces {faces} asked for, but the source holds only {n} usable faces")
    order = np.random.default_rng(seed).permutation(n)
    return order if faces is None else order[:faces]


def box_inside(box: np.ndarray, width: int, height: int) -> bool:
    """Whether a box (x, y, w, h) has a non-empty part inside a width x height image."""
    x, y, w, h = (float(v) for v in box[:4])
    return w > 0 and h > 0 and x < width and y < height and x + w > 0 and y + h > 0


def extract_crop(image: np.ndarray, box: np.ndarray, keypoints: np.ndarray | None,
                 crop_size: int = DEFAULT_CROP_SIZE, expand: float = CROP_EXPAND
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
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


# --------------------------------------------------------------------------- #
# The table training reads
# --------------------------------------------------------------------------- #
@dataclass
class CropTable:
    """Per face: image name, box (x, y, w, h), keypoints and identity (arrays may be memory-mapped)."""

    root: Path
    boxes: np.ndarray  # (N, 4)
    keypoints: np.ndarray | None  # (N, K, 3) x, y, visible in crop pixels
    keypoint_layout: str | None
    identities: np.ndarray  # (N,) -1 where unknown
    index: np.ndarray | None = None  # (N,) position numbers: names are <event>/<position>.jpg
    event: str = ""
    names: list[str] | None = None  # explicit names (a split of crops without a table)

    def __len__(self) -> int:
        return len(self.boxes)

    def name(self, i: int) -> str:
        if self.names is not None:
            return self.names[i]
        return f"{self.event}/{int(self.index[i]):07d}.jpg"

    def image_path(self, i: int) -> Path:
        return self.root / IMAGES / self.name(i)

    @property
    def annotations_path(self) -> Path:
        return self.root / ANNOTATIONS

    def first(self, n: int) -> CropTable:
        return CropTable(self.root, self.boxes[:n], None if self.keypoints is None else self.keypoints[:n],
                         self.keypoint_layout, self.identities[:n], None if self.index is None else self.index[:n],
                         self.event, None if self.names is None else self.names[:n])


def read_crop_table(crop_dir: str | Path) -> CropTable:
    """The per-face table of a crop set: memory-mapped from ``table/``, or built from a plain split.

    A split of one-face crops without a table (e.g. the synthetic ``crops``
    split) is small by construction; its faces are listed in memory.
    """
    root = Path(crop_dir)
    table = root / TABLE
    if (root / CROPS_META).exists() and table.is_dir():
        meta = json.loads((root / CROPS_META).read_text(encoding="utf-8"))
        try:
            boxes = np.load(table / "boxes.npy", mmap_mode="r")
            identities = np.load(table / "identities.npy", mmap_mode="r")
            index = np.load(table / "index.npy", mmap_mode="r")
            kp_path = table / "keypoints.npy"
            keypoints = np.load(kp_path, mmap_mode="r") if kp_path.exists() else None
        except (OSError, ValueError) as exc:
            raise InputError(table, f"cannot read the crop table: {exc}",
                             hint="the crop set is damaged: import it again") from exc
        n = len(boxes)
        if len(identities) != n or len(index) != n or (keypoints is not None and len(keypoints) != n):
            raise InputError(table, "the table's arrays differ in length", hint="import the crop set again")
        return CropTable(root, boxes, keypoints, meta.get("keypoint_layout") if keypoints is not None else None,
                         identities, index, meta.get("event", ""))
    split = Split.load(root)
    entries = [(im, j) for im in split.images for j in range(len(im))]
    boxes = np.array([im.boxes[j] for im, j in entries], dtype=np.float64).reshape(-1, 4)
    keypoints = None
    if split.keypoints is not None:
        sizes = {v.shape[1] for v in split.keypoints.values() if v.size}
        k = sizes.pop() if len(sizes) == 1 else 0
        if k:
            keypoints = np.zeros((len(entries), k, 3), np.float32)
            for i, (im, j) in enumerate(entries):
                if im.name in split.keypoints:
                    keypoints[i] = split.keypoints[im.name][j]
    ids = np.array([split.identities[im.name][j] if split.identities and im.name in split.identities else -1
                    for im, j in entries], dtype=np.int64)
    return CropTable(root, boxes, keypoints, split.keypoint_layout if keypoints is not None else None, ids,
                     names=[im.name for im, _ in entries])


def read_crop_source(crop_dir: str | Path) -> dict:
    """The ``crops.json`` record of a crop set.

    A split of one-face crops without ``crops.json`` (e.g. the synthetic
    ``crops`` split) is a crop set too; its record just names the folder.
    """
    path = Path(crop_dir) / CROPS_META
    if not path.exists():
        Split.load(crop_dir, sidecars=False)  # raises a clear error when it is not a split at all
        return {"source": "split-of-crops", "path": str(Path(crop_dir).resolve())}
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- #
# Writing: chunks in workers, resumable, then assembled and renamed into place
# --------------------------------------------------------------------------- #
@dataclass
class _Job:
    work: Path
    source: CropSource
    event: str
    chunk: int


_ACTIVE: _Job | None = None  # the job of this process (set before the pool forks)


def _chunk_path(work: Path, c: int) -> Path:
    return work / "chunks" / f"{c:06d}.npz"


def _box_ints(box: np.ndarray) -> list[int]:
    # Rounded outwards: the annotated box covers the whole face.
    x, y, w, h = (float(v) for v in box[:4])
    x1, y1 = int(np.floor(x)), int(np.floor(y))
    return [x1, y1, int(np.ceil(x + w)) - x1, int(np.ceil(y + h)) - y1]


def _run_chunk(c: int) -> int:
    """Make and write candidates of chunk ``c``; record them in its .npz. Returns the faces kept."""
    job = _ACTIVE
    lo, hi = c * job.chunk, min((c + 1) * job.chunk, len(job.source))
    kept_k, boxes, kps, ids, origins, drop_origin, drop_reason = [], [], [], [], [], [], []
    for k in range(lo, hi):
        item = job.source.crop(k)
        if isinstance(item, Dropped):
            drop_origin.append(item.origin)
            drop_reason.append(item.reason)
            continue
        path = job.work / IMAGES / job.event / f"{k:07d}.jpg"
        if item.copy_from is not None:
            copy_file_atomic(item.copy_from, path)
        else:
            write_image(path, item.image)
        kept_k.append(k)
        boxes.append(_box_ints(item.box))
        kps.append(None if item.keypoints is None else np.asarray(item.keypoints, np.float32))
        ids.append(int(item.identity))
        origins.append(item.origin)
    sizes = {kp.shape for kp in kps if kp is not None}
    if len(sizes) > 1:
        raise ValueError(f"candidates {lo}..{hi - 1}: keypoint arrays of several shapes {sorted(sizes)}")
    shape = sizes.pop() if sizes else (0, 3)
    kp_arr = np.zeros((len(kps),) + shape, np.float32)
    has_kp = np.zeros(len(kps), bool)
    for i, kp in enumerate(kps):
        if kp is not None:
            kp_arr[i], has_kp[i] = kp, True
    out = _chunk_path(job.work, c)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, k=np.array(kept_k, np.int64), boxes=np.array(boxes, np.int64).reshape(-1, 4), keypoints=kp_arr,
             has_kp=has_kp, identities=np.array(ids, np.int64), origins=np.array(origins, dtype=str),
             drop_origin=np.array(drop_origin, dtype=str), drop_reason=np.array(drop_reason, dtype=str))
    os.replace(tmp, out)
    return len(kept_k)


def _kept_in(path: Path) -> int:
    with np.load(path) as z:
        return len(z["k"])


def write_crop_set(out_dir: str | Path, source: CropSource, meta: dict, layout: str | None, event: str, *,
                   faces: int | None = None, workers: int = 1, progress: bool = False,
                   chunk: int = CHUNK) -> CropTable:
    """Write the crops of ``source`` (taken in order, at most ``faces`` kept) as a crop set at ``out_dir``.

    meta: the source and its settings (recorded in crops.json; an interrupted
    run continues only with the same). layout: the keypoints' layout name.
    """
    global _ACTIVE
    out = Path(out_dir)
    if out.exists():
        raise InputError(out, "the crop set folder exists already", hint="remove it to import again")
    work = out.with_name(out.name + PARTIAL_SUFFIX)
    # What the chunks depend on (``faces`` only says how many of them to use).
    settings = json.loads(json.dumps({**meta, "keypoint_layout": layout, "event": event, "chunk": chunk,
                                      "candidates": len(source)}, default=str))
    record = work / "settings.json"
    if record.exists():
        previous = json.loads(record.read_text(encoding="utf-8"))
        if previous != settings:
            diff = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
            raise InputError(work, f"an interrupted import with other settings ({', '.join(diff)}) is here",
                             hint="remove this folder to start again, or resume with the same settings")
    else:
        write_text_atomic(record, json.dumps(settings, indent=1) + "\n")
    n_chunks = math.ceil(len(source) / chunk)
    from tqdm import tqdm

    bar = tqdm(total=len(source), desc=f"crops {event}", unit="face", disable=not progress, mininterval=2.0)
    _ACTIVE = _Job(work, source, event, chunk)
    used, kept = 0, 0
    pool = None
    futures: dict[int, Future] = {}
    try:
        if workers > 1:
            with opencv_threads_joined():
                pool = ProcessPoolExecutor(workers, mp_context=fork_context())
        for c in range(n_chunks):
            if faces is not None and kept >= faces:
                break
            if pool is not None:  # keep the workers busy a few chunks ahead, in order
                for ahead in range(c, min(c + 2 * workers, n_chunks)):
                    if ahead not in futures and not _chunk_path(work, ahead).exists():
                        futures[ahead] = pool.submit(_run_chunk, ahead)
            if c in futures:
                kept += futures.pop(c).result()
            elif _chunk_path(work, c).exists():
                kept += _kept_in(_chunk_path(work, c))
            else:
                kept += _run_chunk(c)
            used = c + 1
            bar.update(min((c + 1) * chunk, len(source)) - c * chunk)
    finally:
        bar.close()
        if pool is not None:
            for f in futures.values():
                f.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
        _ACTIVE = None
    if faces is not None and kept < faces:
        raise InputError(work, f"--faces {faces} asked for, but the source gives only {kept} usable faces "
                               f"(of {len(source)} candidates; see {DROPS_CSV} reasons in the import's log)",
                         hint="lower faces (crop_sets[].faces) or add data")
    _assemble(work, used, faces, settings, layout, event)
    os.replace(work, out)  # the set appears whole, or not at all
    return read_crop_table(out)


def _assemble(work: Path, used: int, faces: int | None, settings: dict, layout: str | None, event: str) -> None:
    """Chunks 0..used-1 -> annotations.txt, table/, sidecars, faces.csv, drops.csv, crops.json (last)."""
    chunks = [_chunk_path(work, c) for c in range(used)]
    counts = [_kept_in(p) for p in chunks]
    n = sum(counts) if faces is None else min(faces, sum(counts))
    if n == 0:
        raise InputError(work, "no face crop to write: the source has no usable faces",
                         hint="check the source folder, or lower min_size")
    k_points = 0
    for p in chunks:
        with np.load(p) as z:
            if z["has_kp"].any():
                k_points = z["keypoints"].shape[1]
                break
    table_dir = work / TABLE
    table_dir.mkdir(exist_ok=True)
    fmt = np.lib.format.open_memmap
    boxes = fmt(table_dir / "boxes.npy", "w+", np.float32, (n, 4))
    ids = fmt(table_dir / "identities.npy", "w+", np.int64, (n,))
    index = fmt(table_dir / "index.npy", "w+", np.int64, (n,))
    kps = fmt(table_dir / "keypoints.npy", "w+", np.float32, (n, k_points, 3)) if k_points and layout else None
    dropped: dict[str, int] = {}
    found = 0
    with ExitStack() as files:
        def create(name: str):
            return files.enter_context(open(work / name, "w", encoding="utf-8", newline=""))

        ann, faces_csv, drops_csv, id_json = (create(f) for f in (ANNOTATIONS, FACES_CSV, DROPS_CSV,
                                                                  "identities.json"))
        kp_json = create("keypoints.json") if kps is not None else None
        face_writer, drop_writer = csv.writer(faces_csv, lineterminator="\n"), csv.writer(drops_csv,
                                                                                        lineterminator="\n")
        face_writer.writerow(["image", "origin"])
        drop_writer.writerow(["origin", "reason"])
        if kp_json is not None:
            kp_json.write(json.dumps({"layout": layout})[:-1] + ',"faces":{')
        id_json.write('{"faces":{')
        i = 0
        for path in chunks:
            with np.load(path) as z:
                found += len(z["k"]) + len(z["drop_reason"])
                for origin, reason in zip(z["drop_origin"].tolist(), z["drop_reason"].tolist()):
                    drop_writer.writerow([origin, reason])
                    dropped[reason] = dropped.get(reason, 0) + 1
                take = min(len(z["k"]), n - i)
                for j in range(take):
                    k = int(z["k"][j])
                    name = f"{event}/{k:07d}.jpg"
                    box = z["boxes"][j]
                    ann.write(f"{name}\n1\n{box[0]} {box[1]} {box[2]} {box[3]} 0 0 0 0 0 0\n")
                    face_writer.writerow([name, str(z["origins"][j])])
                    sep = "," if i else ""
                    boxes[i], ids[i], index[i] = box, z["identities"][j], k
                    id_json.write(f'{sep}"{name}":[{int(z["identities"][j])}]')
                    if kps is not None:
                        kp = z["keypoints"][j] if z["has_kp"][j] else np.zeros((k_points, 3), np.float32)
                        kps[i] = kp
                        kp_json.write(f'{sep}"{name}":' + json.dumps([np.round(kp.astype(np.float64), 2).tolist()],
                                                                      separators=(",", ":")))
                    i += 1
                # crops made beyond the asked-for faces (the last chunk) are not part of the set
                for k in z["k"][take:].tolist():
                    (work / IMAGES / event / f"{int(k):07d}.jpg").unlink(missing_ok=True)
        if kp_json is not None:
            kp_json.write("}}\n")
        id_json.write("}}\n")
    for arr in (boxes, ids, index, kps):
        if arr is not None:
            arr.flush()
    del boxes, ids, index, kps
    shutil.rmtree(work / "chunks")
    (work / "settings.json").unlink()
    _remove_strays(work, {f"{event}/{int(k):07d}.jpg" for k in np.load(table_dir / "index.npy")})
    record = {**settings, "faces": faces, "n_faces": n, "found": found, "kept": n, "dropped": dropped,
              "keypoint_layout": layout if k_points else None}
    write_text_atomic(work / CROPS_META, json.dumps(record, indent=1, default=str) + "\n")


def _remove_strays(work: Path, names: set[str]) -> None:
    """Remove what a killed run left in the set's folder: temporary files of atomic writes (``.*.part``,
    ``.*.tmp.npz``) and crops no chunk of the set lists (a killed chunk's, one made by a worker ahead)."""
    for tmp in [*work.rglob(".*.part"), *work.rglob(".*.tmp.npz")]:
        tmp.unlink(missing_ok=True)
    images = work / IMAGES
    for path in images.rglob("*"):
        if path.is_file() and path.relative_to(images).as_posix() not in names:
            path.unlink()


def read_drops(crop_dir: str | Path) -> list[dict]:
    """The candidates a crop set did not take, with the reason (drops.csv)."""
    path = Path(crop_dir) / DROPS_CSV
    if not path.exists():
        return []
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


# --------------------------------------------------------------------------- #
# From a WIDER-format split
# --------------------------------------------------------------------------- #
class SplitFaces:
    """The faces of a split (at least ``min_size`` px, not invalid) as crop candidates."""

    def __init__(self, split: Split, order: np.ndarray, entries: list, crop_size: int) -> None:
        self.split, self.order, self.entries, self.crop_size = split, order, entries, crop_size

    def __len__(self) -> int:
        return len(self.order)

    def crop(self, k: int) -> Crop | Dropped:
        im, j = self.entries[int(self.order[k])]
        origin = f"{im.name}#{j}"
        image = read_image(self.split.image_path(im.name))
        if not box_inside(im.boxes[j], image.shape[1], image.shape[0]):
            return Dropped(DROP_OUTSIDE, origin)
        kp = self.split.keypoints[im.name][j] if self.split.keypoints and im.name in self.split.keypoints else None
        img, box, kpc = extract_crop(image, im.boxes[j], kp, self.crop_size)
        ident = int(self.split.identities[im.name][j]) if self.split.identities and im.name in self.split.identities \
            else -1
        return Crop(img, box, kpc, ident, origin)


def build_crop_set(split_dir: str | Path, out_dir: str | Path, *, min_size: int = DEFAULT_MIN_SIZE,
                   crop_size: int = DEFAULT_CROP_SIZE, faces: int | None = None, seed: int = 0,
                   workers: int = 1, progress: bool = False) -> CropTable:
    """Crop every face of a split at least ``min_size`` px (smaller side), not invalid; ``faces``: a subset."""
    split = Split.load(split_dir)
    entries = [(im, j) for im in split.images for j in range(len(im))
               if min(im.boxes[j, 2], im.boxes[j, 3]) >= min_size and not im.invalid[j]]
    if faces is not None and faces > len(entries):
        raise InputError(split.root, f"--faces {faces} asked for, but the split holds only {len(entries)} faces "
                                     f"of at least {min_size} px", hint="lower --faces or --min-size")
    order = subset_order(len(entries), None, seed)
    source = {"source": "split", "path": str(Path(split_dir).resolve()), "min_size": min_size,
              "crop_size": crop_size, "expand": CROP_EXPAND, "seed": seed, "available_faces": len(entries)}
    return write_crop_set(out_dir, SplitFaces(split, order, entries, crop_size), source, split.keypoint_layout,
                          "split", faces=faces, workers=workers, progress=progress)
