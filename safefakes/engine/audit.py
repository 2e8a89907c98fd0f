"""The privacy audit: does an anonymized split really hide every face it should?

``audit_split(ORIGINAL, ANONYMIZED)`` checks, and names every image and face
that fails:

1. the run is complete (``anonymization.done``, ``manifest.csv``,
   ``input_hashes.csv``, ``anonymization.json`` present) and its annotations
   are the original's;
2. every annotated face of the original has exactly one manifest row with its
   box, and the manifest has no other rows;
3. every status is one the run may give: faces left as is are exactly those
   below the run's minimum size (``min_size`` of ``anonymization.json`` unless
   overridden), degenerate / outside statuses are true of their boxes,
   ``original_not_anonymized`` only in a run of the ``original`` method, and no
   face is ``unreadable_image``;
4. every face the manifest says was changed differs from the original inside
   its box by a mean absolute difference of at least ``min_mean_abs_diff``
   grey levels (0-255, averaged over the box's pixels and RGB channels);
5. every input file the run read is unchanged (SHA-256 of ``input_hashes.csv``).

About check 4. An un-anonymized face in the output is either the original
bytes, or the original re-encoded by the engine because another face in the
image changed. So a face is compared with both the original and the original
re-encoded with the run's JPEG settings, and the smaller difference counts.
Against that, an untouched face differs only by JPEG "spill" from a changed
neighbour sharing its 8x8 blocks: at the default quality 95 with 4:4:4 chroma,
measured at most 0.9 grey levels on skimage's photos (astronaut, coffee,
chelsea, rocket) for boxes of 16 px and more. Blur, pixelation and black boxes
change a real face (eyes, mouth, hair edges) by more than 2 grey levels. Hence
the default threshold 1.0. Two kinds of faces cannot be judged by it and are
counted, not failed: faces smaller than ``min_checked_size`` pixels (a few
pixels of JPEG spill dominate their mean), and featureless faces, whose region
holds less fine detail than the threshold (mean absolute difference to its own
5x5 box-filtered copy): no method has anything to remove there, e.g. blurring
a flat patch leaves it as it is. At JPEG quality below 90, spill grows to 3-5
grey levels: raise ``min_mean_abs_diff`` accordingly.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from safefakes.anonymizers.regions import is_degenerate, is_outside, is_too_small
from safefakes.data.anonymized import (
    COMPLETE_MARKER,
    INPUT_HASHES,
    MANIFEST,
    Status,
    read_input_hashes,
    read_manifest,
    read_run,
    sha256_file,
)
from safefakes.data.boxes import clip_box
from safefakes.data.images import decode_image, encode_image, image_size, write_text_atomic
from safefakes.data.split import ANNOTATIONS, Split
from safefakes.errors import InputError
from safefakes.parallel import fork_context, opencv_threads_joined

DEFAULT_MIN_MEAN_ABS_DIFF = 1.0
DEFAULT_MIN_CHECKED_SIZE = 8
KNOWN_STATUSES = {
    Status.ANONYMIZED, Status.TOO_SMALL, Status.NO_KEYPOINTS_FALLBACK, Status.NO_LANDMARKS_BLACKED_OUT,
    Status.DEGENERATE_BOX, Status.OUTSIDE_IMAGE, Status.WHOLE_IMAGE, Status.ORIGINAL, Status.UNREADABLE,
}


@dataclass(frozen=True)
class AuditFailure:
    check: str  # "run", "manifest", "status", "difference", "input_unchanged", "output"
    image: str | None
    face_index: int | None
    message: str

    def __str__(self) -> str:
        where = self.image or "-"
        if self.face_index is not None:
            where += f" face {self.face_index}"
        return f"[{self.check}] {where}: {self.message}"


@dataclass
class AuditReport:
    original_dir: str
    anonymized_dir: str
    method: str
    min_mean_abs_diff: float
    min_size: float
    n_images: int = 0
    n_faces: int = 0
    n_difference_checked: int = 0
    n_too_small_to_check: int = 0
    n_featureless: int = 0
    n_input_files_checked: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    failures: list[AuditFailure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        data = asdict(self)
        data["passed"] = self.passed
        return data

    def format(self, max_failures: int = 50) -> str:
        lines = [
            f"Privacy audit of {self.anonymized_dir}",
            f"  original split:  {self.original_dir}",
            f"  method:          {self.method}",
            f"  images / faces:  {self.n_images} / {self.n_faces}",
            "  statuses:        " + (", ".join(f"{k} {v}" for k, v in sorted(self.status_counts.items())) or "-"),
            f"  difference check: {self.n_difference_checked} changed faces checked for a mean abs difference "
            f">= {self.min_mean_abs_diff:g} grey levels; not judged: {self.n_too_small_to_check} too small, "
            f"{self.n_featureless} featureless",
            f"  minimum face size: {self.min_size:g} px",
            f"  input files re-hashed: {self.n_input_files_checked}",
        ]
        if self.passed:
            lines.append("PASSED: every check passed")
        else:
            by_check = Counter(f.check for f in self.failures)
            lines.append(f"FAILED: {len(self.failures)} problem(s) (" +
                         ", ".join(f"{k}: {v}" for k, v in sorted(by_check.items())) + ")")
            for failure in self.failures[:max_failures]:
                lines.append(f"  {failure}")
            if len(self.failures) > max_failures:
                lines.append(f"  ... and {len(self.failures) - max_failures} more (use --json for all)")
        return "\n".join(lines)


def audit_split(
    original_dir: str | Path,
    anonymized_dir: str | Path,
    *,
    min_mean_abs_diff: float = DEFAULT_MIN_MEAN_ABS_DIFF,
    min_size: float | None = None,
    min_checked_size: int = DEFAULT_MIN_CHECKED_SIZE,
    workers: int = 1,
) -> AuditReport:
    """Audit ``anonymized_dir`` (written by ``anonymize_split``) against ``original_dir``.

    min_size: the minimum face size the run was meant to use (default: the
        ``min_size`` recorded in its anonymization.json, 0 if none).
    workers: processes for the per-image difference check.
    """
    original_dir, anonymized_dir = Path(original_dir), Path(anonymized_dir)
    original = Split.load(original_dir)
    run = read_run(anonymized_dir)
    described = run.get("anonymizer", {})
    method = str(described.get("method", "?"))
    if min_size is None:
        min_size = float(described.get("min_size", 0.0))
    report = AuditReport(str(original_dir), str(anonymized_dir), method, float(min_mean_abs_diff), float(min_size))
    fail = report.failures.append

    # 1. the run's records
    for name in (COMPLETE_MARKER, MANIFEST, INPUT_HASHES):
        if not (anonymized_dir / name).exists():
            fail(AuditFailure("run", None, None, f"{name} missing: the anonymization run is incomplete"))
    ann_copy = anonymized_dir / ANNOTATIONS
    if not ann_copy.exists() or ann_copy.read_bytes() != (original_dir / ANNOTATIONS).read_bytes():
        fail(AuditFailure("run", None, None, f"{ann_copy} is missing or differs from the original's annotations"))

    # 2. the manifest covers every annotated face, and only those
    rows = read_manifest(anonymized_dir / MANIFEST) if (anonymized_dir / MANIFEST).exists() else []
    by_face: dict[tuple[str, int], dict] = {}
    for row in rows:
        key = (row["image"], row["face_index"])
        if key in by_face:
            fail(AuditFailure("manifest", key[0], key[1], "listed more than once in manifest.csv"))
        by_face[key] = row
    expected = set()
    jobs = []
    for im in original.images:
        report.n_images += 1
        faces = []
        for i, box in enumerate(im.boxes):
            report.n_faces += 1
            expected.add((im.name, i))
            row = by_face.get((im.name, i))
            if row is None:
                fail(AuditFailure("manifest", im.name, i, "annotated face missing from manifest.csv"))
                continue
            if [row["x"], row["y"], row["w"], row["h"]] != [int(v) for v in box]:
                fail(AuditFailure("manifest", im.name, i, f"manifest box {row['x']} {row['y']} {row['w']} "
                                  f"{row['h']} is not the annotated {' '.join(str(int(v)) for v in box)}"))
                continue
            faces.append((i, [int(v) for v in box], row["status"]))
        jobs.append((im.name, faces))
    for key in sorted(set(by_face) - expected):
        fail(AuditFailure("manifest", key[0], key[1], "manifest row for a face that is not annotated"))

    # 3 and 4, per image
    settings = dict(original_images=original_dir / "images", anonymized_images=anonymized_dir / "images",
                    method=method, min_size=float(min_size), threshold=float(min_mean_abs_diff),
                    min_checked=int(min_checked_size), quality=int(run.get("jpeg_quality", 95)),
                    subsampling=str(run.get("jpeg_subsampling", "4:4:4")))
    status_counts: Counter = Counter()
    for result in _map(_audit_image, [(settings, job) for job in jobs], workers):
        report.failures.extend(result["failures"])
        report.n_difference_checked += result["checked"]
        report.n_too_small_to_check += result["too_small"]
        report.n_featureless += result["featureless"]
        status_counts.update(result["statuses"])
    report.status_counts = dict(sorted(status_counts.items()))

    # 5. the input files are unchanged
    if (anonymized_dir / INPUT_HASHES).exists():
        for rel, digest in read_input_hashes(anonymized_dir).items():
            report.n_input_files_checked += 1
            path = original_dir / rel
            if not path.exists():
                fail(AuditFailure("input_unchanged", rel, None, f"input file {path} no longer exists"))
            elif sha256_file(path) != digest:
                fail(AuditFailure("input_unchanged", rel, None,
                                  f"input file {path} was modified since the anonymization read it (SHA-256 differs)"))
    return report


def write_report_json(report: AuditReport, path: str | Path) -> None:
    write_text_atomic(path, json.dumps(report.to_dict(), indent=2) + "\n")


# --------------------------------------------------------------------------- #
def _map(fn, items: list, workers: int):
    if workers <= 1 or len(items) < 2:
        return map(fn, items)
    with opencv_threads_joined():
        pool = fork_context().Pool(min(workers, len(items)))
    try:
        return list(pool.imap(fn, items, chunksize=max(1, len(items) // (workers * 8))))
    finally:
        pool.close()
        pool.join()


def _audit_image(item: tuple) -> dict:
    settings, (name, faces) = item
    out = {"failures": [], "checked": 0, "too_small": 0, "featureless": 0, "statuses": Counter()}
    fail = out["failures"].append
    if not faces:
        return out
    src_path = settings["original_images"] / name
    dst_path = settings["anonymized_images"] / name
    try:
        width, height = image_size(src_path)
    except InputError as exc:
        fail(AuditFailure("input_unchanged", name, None, f"the original image cannot be read: {exc}"))
        return out
    for i, box, status in faces:
        out["statuses"][status] += 1
        problem = _status_problem(np.asarray(box, dtype=np.float64), status, width, height, settings)
        if problem:
            fail(AuditFailure("status", name, i, problem))
    changed = [(i, box) for i, box, status in faces if status in Status.CHANGED]
    if not changed:
        return out
    if not dst_path.exists():
        fail(AuditFailure("output", name, None, f"anonymized image {dst_path} missing"))
        return out
    src_bytes, dst_bytes = src_path.read_bytes(), dst_path.read_bytes()
    try:
        original = decode_image(src_bytes, src_path).astype(np.int16)
        anonymized = decode_image(dst_bytes, dst_path).astype(np.int16)
    except InputError as exc:
        fail(AuditFailure("output", name, None, str(exc)))
        return out
    if anonymized.shape != original.shape:
        fail(AuditFailure("output", name, None, f"size {anonymized.shape[1]}x{anonymized.shape[0]} differs from "
                                                f"the original's {original.shape[1]}x{original.shape[0]}"))
        return out
    references = [original]
    if dst_bytes != src_bytes:
        # What the engine writes for an untouched face when another face of the image changed.
        suffix = dst_path.suffix
        reencoded = decode_image(encode_image(original.astype(np.uint8), suffix, settings["quality"],
                                              settings["subsampling"]))
        references.append(reencoded.astype(np.int16))
    threshold = settings["threshold"]
    for i, box in changed:
        clipped = clip_box(np.asarray(box, dtype=np.float64), width, height)
        if clipped is None:
            continue
        x1, y1, x2, y2 = clipped
        if min(x2 - x1, y2 - y1) < settings["min_checked"]:
            out["too_small"] += 1
            continue
        crop = original[y1:y2, x1:x2]
        detail = float(np.abs(crop - cv2.blur(crop.astype(np.float32), (5, 5))).mean())
        if detail < threshold:
            out["featureless"] += 1
            continue
        out["checked"] += 1
        diff = min(float(np.abs(anonymized[y1:y2, x1:x2] - ref[y1:y2, x1:x2]).mean()) for ref in references)
        if diff < threshold:
            fail(AuditFailure("difference", name, i,
                              f"marked changed but differs from the original by only {diff:.2f} grey levels "
                              f"(< {threshold}): the face looks un-anonymized"))
    return out


def _status_problem(box: np.ndarray, status: str, width: int, height: int, settings: dict) -> str | None:
    min_size = settings["min_size"]
    if status not in KNOWN_STATUSES:
        return f"unknown status {status!r}"
    if status == Status.UNREADABLE:
        return "the image could not be read when anonymizing; it is not in the anonymized split"
    if is_degenerate(box):
        return None if status == Status.DEGENERATE_BOX else f"degenerate box recorded as {status!r}"
    if status == Status.DEGENERATE_BOX:
        return "recorded as degenerate but the box has a positive width and height"
    if is_outside(box, width, height):
        return None if status == Status.OUTSIDE_IMAGE else f"box outside the image recorded as {status!r}"
    if status == Status.OUTSIDE_IMAGE:
        return f"recorded as outside the image but the box overlaps the {width}x{height} image"
    if status == Status.ORIGINAL:
        if settings["method"] == "original":
            return None
        return f"left un-anonymized (status {status!r}) in a run of method {settings['method']!r}"
    small = is_too_small(box, min_size)
    if status == Status.TOO_SMALL and not small:
        return (f"left as is as too small, but min(w, h) = {min(box[2], box[3]):g} is not below the "
                f"minimum size {min_size:g}")
    if small and status not in (Status.TOO_SMALL, Status.WHOLE_IMAGE):
        # Not a leak, but the run did not follow the minimum size it records.
        return (f"min(w, h) = {min(box[2], box[3]):g} is below the minimum size {min_size:g}, "
                f"yet recorded as {status!r} instead of {Status.TOO_SMALL!r}")
    return None
