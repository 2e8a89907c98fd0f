"""``safefakes audit IN_DIR OUT_DIR`` on an ``anonymize-images`` output: is a face still there?

A split audit checks the annotated boxes; a folder of photos has no
annotations, so this audit asks the question a viewer would, with eyes of its
own: it finds the faces of every original photo with a finder independent of
the run's (``AuditFinder``: dlib's CNN detector, another family than the
run's CenterFace, beside CenterFace at a lower threshold, the union of both),
so that a face the run's detector missed is not a face the audit misses too.
Each face found in the original is then looked for at the same place in the
anonymized copy, whether or not a detector finds it there again:

* survival (``safefakes.audit.survival``, the split audit's measure, with the
  same ``max_survival`` bound and ``min_detail``): a face whose detail is still
  in the copy fails;
* with ``reid``, dlib's recognizer describes the face in the original and in
  the copy (landmarks placed in the same box): a face it still matches
  (descriptor distance below 0.6) fails too. It only adds failures.

The copies are searched by the same finder, and each face of the original
found again at its place is reported, as is any face found in a copy with
no face of the original near it (neither fails the audit: a blurred face is
still face-shaped, and a GAN paints a new face on purpose).

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
from pathlib import Path, PurePosixPath

from safefakes.audit.faces import (  # noqa: F401  (box_iou, FaceCheck, SAME_FACE_IOU: used from here too)
    DEFAULT_MAX_SURVIVAL,
    DEFAULT_MIN_CHECKED_SIZE,
    DEFAULT_MIN_DETAIL,
    SAME_FACE_IOU,
    AuditFinder,
    FaceCheck,
    FolderAuditReport,
    audit_finder,
    box_iou,
    check_pair,
    check_settings,
    dlib_describer,
)
from safefakes.audit.video import check_video_pair
from safefakes.data.anonymized import (
    COMPLETE_MARKER,
    PHOTO_RECORDS,
    RUN_FILE,
    anonymization_record,
    read_input_hashes,
    read_run,
    records_dir,
    sha256_file,
    unaccounted_images,
)
from safefakes.data.images import decode_photo, write_text_atomic
from safefakes.errors import InputError, SafeFakesError
from safefakes.video.io import is_video_name


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


# --------------------------------------------------------------------------- #
# The folder
# --------------------------------------------------------------------------- #
def audit_folder(
    original: str | Path,
    anonymized: str | Path,
    *,
    reid: bool = False,
    threshold: float | None = None,
    upsample: int | None = None,
    max_side: int | None = None,
    weights: str | Path | None = None,
    max_survival: float = DEFAULT_MAX_SURVIVAL,
    min_detail: float = DEFAULT_MIN_DETAIL,
    min_checked_size: int = DEFAULT_MIN_CHECKED_SIZE,
    search_copies: bool = False,
    every: int | None = None,
    finder: AuditFinder | None = None,
) -> FolderAuditReport:
    """Audit an ``anonymize-images`` output folder against the input root it was made from.

    threshold: CenterFace's in the audit (default ``AUDIT_THRESHOLD``, or the
    run's own CenterFace threshold where that is lower); upsample, max_side:
    the CNN's (default 0 and 800 px); weights: CenterFace's file (default: as
    ``FaceFinder`` resolves it). finder: an ``AuditFinder`` made already (the
    options above are then not used).
    max_survival, min_detail, min_checked_size, search_copies: the survival
    check's, as in the split audit. every: a video's frames are checked every
    this many (default: about two a second, ``video_audit.default_every``);
    an error for an output that holds no video.
    """
    original, anonymized = Path(original), Path(anonymized)
    run = _check_folders(original, anonymized)
    settings = check_settings(max_survival, min_detail, min_checked_size, search_copies,
                              (run.get("anonymizer") or {}).get("min_size") or 0.0)
    finder = finder or audit_finder(run, threshold, upsample, max_side, weights)
    report = FolderAuditReport(original, anonymized, finder.describe(), bool(reid), settings)
    if not (records_dir(anonymized) / COMPLETE_MARKER).exists():
        report.problems.append(f"the run is incomplete (no {COMPLETE_MARKER}): rerun the same anonymize-images "
                               "command to finish it")
    hashes = read_input_hashes(anonymized)
    if every is not None and not any(is_video_name(name) for name in hashes):
        raise SafeFakesError(f"--every {every} applies to videos, and {anonymized} holds none (its run read "
                             f"{len(hashes)} photo(s)): drop --every")
    describer = dlib_describer() if reid else None
    for name, digest in sorted(hashes.items()):
        if not _safe_name(name):
            report.problems.append(f"input_hashes.csv names {name!r}, which is not a relative path inside the "
                                   "folder: refusing to read it")
            continue
        if is_video_name(name):
            if _same_file(original / name, digest, report):
                check_video_pair(name, original / name, anonymized / name, finder, settings, describer, every,
                                 report)
            continue
        pair = _read_pair(original / name, anonymized / name, digest, report)
        if pair is None:
            continue
        report.n_images += 1
        checks, new = check_pair(name, *pair, finder, settings, describer)
        report.faces.extend(checks)
        report.new_faces.extend(new)
    for rel in unaccounted_videos(anonymized, set(hashes)):
        report.problems.append(
            f"{anonymized / rel}: a video the run did not write (no input of that name in input_hashes.csv), so the "
            "audit cannot account for it (an original copied in?): remove it, or anonymize it with the rest by "
            "rerunning anonymize-images into a new folder")
    for rel in unaccounted_images(anonymized, set(hashes)):
        report.problems.append(
            f"{anonymized / rel}: an image the run did not write (no input photo of that name in input_hashes.csv), "
            "so the audit cannot account for it (an original copied in?): remove it, or anonymize it with the "
            "rest by rerunning anonymize-images into a new folder")
    return report


def _check_folders(original: Path, anonymized: Path) -> dict:
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
    return run


def _safe_name(name: str) -> bool:
    # Names in the records are data: never an absolute path or one that climbs out.
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts and "\\" not in name


def _same_file(src: Path, digest: str, report: FolderAuditReport) -> bool:
    """Whether the original ``src`` is there with the bytes the run hashed (a video: read in blocks)."""
    try:
        same = sha256_file(src) == digest
    except OSError:
        report.problems.append(f"{src}: the original video is missing (was IN_DIR the folder the run read?)")
        return False
    if not same:
        report.problems.append(f"{src}: the original differs from the video the run read (changed since, or "
                               "another folder): audit against the run's own input")
    return same


def unaccounted_videos(folder: Path, accounted: set[str]) -> list[str]:
    """Video files anywhere under ``folder`` (records aside) that no input of the run accounts for."""
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if rel.startswith(f"{PHOTO_RECORDS}/") or not is_video_name(path) or rel in accounted:
            continue
        if path.is_file() or path.is_symlink():
            found.append(rel)
    return found


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


def write_folder_report_json(report: FolderAuditReport, path: str | Path) -> None:
    write_text_atomic(path, json.dumps(report.to_json(), indent=2) + "\n")
