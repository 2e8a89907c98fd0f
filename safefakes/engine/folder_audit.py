"""``safefakes audit IN_DIR OUT_DIR`` on an ``anonymize-images`` output: is a face still there?

A split audit checks the annotated boxes; a folder of photos has no
annotations, so this audit asks the question a viewer would: it finds the
faces of every original photo again (with the run's own detector settings,
or stronger ones given here) and looks for each of them in the anonymized
copy. A face of the original that the detector still finds at the same place
in the copy (IoU >= ``SAME_FACE_IOU``) is a finding; with ``reid``, dlib's
recognizer also compares the face in the copy with the original (landmarks
placed in the original's box) and a face still found *and* recognised
(descriptor distance below dlib's 0.6) fails the audit. Without ``reid``,
any face still found fails it.

It also checks the records: the run is complete, every input photo is in the
original folder with the bytes the run hashed (so the audit compares the
right originals) and has its anonymized copy, of the same size, and the
output folder holds no image the run did not write (anywhere in it: a
photo copied in would otherwise pass unseen). An ORIGINAL that holds a
run's records is refused: the two folders were given the wrong way round.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from safefakes.data.anonymized import (
    COMPLETE_MARKER,
    RUN_FILE,
    anonymization_record,
    read_input_hashes,
    read_run,
    records_dir,
    unaccounted_images,
)
from safefakes.data.images import decode_photo, write_text_atomic
from safefakes.engine.face_finder import FaceFinder
from safefakes.errors import InputError, SafeFakesError
from safefakes.evaluation.leakage import DLIB_MATCH_DISTANCE, DlibDescriber

#: A detection in the copy at least this IoU with an original face is that face.
SAME_FACE_IOU = 0.3


def is_folder_run(folder: str | Path) -> bool:
    """Whether ``folder`` holds an ``anonymize-images`` output (rather than an anonymized split).

    Its records are in ``folder/.safefakes/``, or beside the photos in an output of an earlier version.
    """
    path = records_dir(folder) / RUN_FILE
    if not path.is_file():
        return False
    try:
        return read_run(folder).get("kind") == "folder"
    except InputError:
        return False


@dataclass
class FaceCheck:
    """One face of an original photo, looked for in its anonymized copy."""

    image: str
    box: list[int]  # x, y, w, h in the original (upright)
    found_after: bool  # the detector still finds a face there in the copy
    distance: float | None = None  # dlib descriptor distance copy <-> original (with reid)

    @property
    def recognised(self) -> bool | None:
        return None if self.distance is None else self.distance < DLIB_MATCH_DISTANCE


@dataclass
class FolderAuditReport:
    original: Path
    anonymized: Path
    face_finder: dict
    reid: bool
    n_images: int = 0
    faces: list[FaceCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # record problems: missing, changed, incomplete

    @property
    def failing_faces(self) -> list[FaceCheck]:
        if self.reid:
            return [f for f in self.faces if f.found_after and f.recognised]
        return [f for f in self.faces if f.found_after]

    @property
    def passed(self) -> bool:
        return not self.problems and not self.failing_faces

    def format(self) -> str:
        lines = [f"audit of {self.anonymized} against {self.original}",
                 f"  detector: {self.face_finder}; re-identification: {'dlib' if self.reid else 'off'}",
                 f"  {self.n_images} photo(s), {len(self.faces)} face(s) found in the originals, "
                 f"{sum(f.found_after for f in self.faces)} still found in the copies"]
        if self.reid:
            lines.append(f"  recognised by dlib (distance < {DLIB_MATCH_DISTANCE}): "
                         f"{sum(bool(f.recognised) for f in self.faces)}")
        for problem in self.problems:
            lines.append(f"  FAIL {problem}")
        for face in self.failing_faces:
            what = "still found" + (f" and recognised (distance {face.distance:.3f})" if self.reid else "")
            lines.append(f"  FAIL {face.image}: the face at {face.box} is {what}")
        lines.append("PASSED" if self.passed else "FAILED")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"original": str(self.original), "anonymized": str(self.anonymized),
                "face_finder": self.face_finder, "reid": self.reid, "n_images": self.n_images,
                "passed": self.passed, "problems": self.problems,
                "faces": [{**asdict(f), "recognised": f.recognised} for f in self.faces]}


def audit_folder(
    original: str | Path,
    anonymized: str | Path,
    *,
    reid: bool = False,
    detector: str | None = None,
    threshold: float | None = None,
    upsample: int | None = None,
    max_side: int | None = None,
    weights: str | Path | None = None,
) -> FolderAuditReport:
    """Audit an ``anonymize-images`` output folder against the input root it was made from.

    detector, threshold, upsample, max_side: default to the run's own (from
    ``anonymization.json``); another detector (e.g. ``cnn`` after a ``hog``
    run) also catches faces the run's detector missed, which the copy then
    still shows. Given another detector, its own defaults apply. weights:
    CenterFace's file (default: as ``FaceFinder`` resolves it).
    """
    original, anonymized = Path(original), Path(anonymized)
    if not anonymized.is_dir():
        raise InputError(anonymized, "anonymized folder not found",
                         hint="give the output folder of the anonymize-images run as ANONYMIZED")
    if not original.is_dir():
        raise InputError(original, "original folder not found",
                         hint="give the folder the anonymize-images run read (its input root)")
    record = anonymization_record(original)
    if record is not None:
        raise InputError(
            record, f"ORIGINAL {original} holds an anonymization record ({record.name}): it is an anonymized "
                    "output, not the photos the run read, so the arguments look swapped",
            hint=f"run `safefakes audit ORIGINAL ANONYMIZED` with the run's input folder first, e.g. "
                 f"`safefakes audit {anonymized} {original}` if these are the two folders")
    run = read_run(anonymized)
    if run.get("kind") != "folder":
        raise InputError(records_dir(anonymized) / RUN_FILE,
                         f"not an anonymize-images output (kind {run.get('kind')!r})",
                         hint="audit an anonymized split against its original split instead")
    recorded = run.get("face_finder") or {}
    # Runs recorded before CenterFace existed used hog, the default then.
    own = detector is None or detector == recorded.get("detector", "hog")
    try:
        finder = FaceFinder(
            detector or recorded.get("detector", "hog"),
            recorded.get("threshold") if threshold is None and own else threshold,
            recorded.get("upsample") if upsample is None and own else upsample,
            recorded.get("max_side") if max_side is None and own else max_side,
            None if weights is None else str(weights),
        )
    except ValueError as exc:
        raise SafeFakesError(str(exc)) from exc
    report = FolderAuditReport(original, anonymized, finder.describe(), bool(reid))
    if not (records_dir(anonymized) / COMPLETE_MARKER).exists():
        report.problems.append(f"the run is incomplete (no {COMPLETE_MARKER}): rerun the same anonymize-images "
                               "command to finish it")
    hashes = read_input_hashes(anonymized)
    describer = DlibDescriber() if reid else None
    for name, digest in sorted(hashes.items()):
        if not _safe_name(name):
            report.problems.append(f"input_hashes.csv names {name!r}, which is not a relative path inside the "
                                   "folder: refusing to read it")
            continue
        pair = _read_pair(original / name, anonymized / name, digest, report)
        if pair is None:
            continue
        report.n_images += 1
        before, after = pair
        report.faces.extend(_check_faces(name, before, after, finder, describer))
    for rel in unaccounted_images(anonymized, set(hashes)):
        report.problems.append(
            f"{anonymized / rel}: an image the run did not write (no input photo of that name in input_hashes.csv), "
            "so the audit cannot account for it (an original copied in?): remove it, or anonymize it with the "
            "rest by rerunning anonymize-images into a new folder")
    return report


def _safe_name(name: str) -> bool:
    # Names in the records are data: never an absolute path or one that climbs out.
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts and "\\" not in name


def _read_pair(src: Path, dst: Path, digest: str, report: FolderAuditReport):
    try:
        data = src.read_bytes()
    except OSError:
        report.problems.append(f"{src}: the original photo is missing (was IN_DIR the folder the run read?)")
        return None
    if hashlib.sha256(data).hexdigest() != digest:
        report.problems.append(f"{src}: the original differs from the photo the run read (changed since, or "
                               "another folder): audit against the run's own input")
        return None
    try:
        copy = dst.read_bytes()
    except OSError:
        report.problems.append(f"{dst}: the anonymized copy is missing")
        return None
    try:
        before, after = decode_photo(data, src), decode_photo(copy, dst)
    except InputError as exc:
        report.problems.append(str(exc))
        return None
    if before.shape != after.shape:
        report.problems.append(f"{dst}: size {after.shape[1]}x{after.shape[0]} differs from the original's "
                               f"{before.shape[1]}x{before.shape[0]}")
        return None
    return before, after


def _check_faces(name: str, before: np.ndarray, after: np.ndarray, finder: FaceFinder,
                 describer: DlibDescriber | None) -> list[FaceCheck]:
    boxes, _ = finder(before)
    if not len(boxes):
        return []
    after_boxes, _ = finder(after)
    overlap = box_iou(boxes, after_boxes)
    checks = [FaceCheck(name, [int(v) for v in box], bool(len(after_boxes) and overlap[i].max() >= SAME_FACE_IOU))
              for i, box in enumerate(boxes.tolist())]
    if describer is not None:
        corners = np.c_[boxes[:, :2], boxes[:, :2] + boxes[:, 2:]]
        d = np.linalg.norm(describer.describe(after, corners) - describer.describe(before, corners), axis=1)
        for check, distance in zip(checks, d.tolist()):
            check.distance = round(float(distance), 4)
    return checks


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of x, y, w, h boxes."""
    a, b = np.asarray(a, dtype=np.float64).reshape(-1, 4), np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax2, ay2, bx2, by2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def write_folder_report_json(report: FolderAuditReport, path: str | Path) -> None:
    write_text_atomic(path, json.dumps(report.to_json(), indent=2) + "\n")
