"""The anonymized-split format: a split plus the records of the run that wrote it.

An anonymized split holds, next to the split's ``images/`` and
``annotations.txt`` (and sidecars, copied byte for byte):

    anonymization.json   the run: the method's describe(), seed, JPEG options, keypoints used
    input_hashes.csv     SHA-256 of every input file the run read (the audit re-checks them)
    manifest.csv         one row per annotated face: image, face_index, x, y, w, h, method, status
    anonymization.done   written last: the run is complete

A plain-folder run (``safefakes anonymize-images``) writes the same records,
with the face detector's ``score`` per manifest row, into one subfolder of its
output, ``PHOTO_RECORDS`` (``.safefakes/``), so that the folder of anonymized
photos holds photos only and can be shared as it is. ``records_dir`` says
where a folder's records are; outputs of the photo tool written before that
subfolder existed (records beside the photos) are still read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any, Collection

from safefakes.data.images import is_image_file
from safefakes.data.split import ANNOTATIONS, IDENTITIES, KEYPOINTS
from safefakes.data.wider_files import MAT_FILES
from safefakes.errors import InputError

MANIFEST = "manifest.csv"
RUN_FILE = "anonymization.json"
INPUT_HASHES = "input_hashes.csv"
COMPLETE_MARKER = "anonymization.done"
#: The subfolder of an ``anonymize-images`` output that holds its records.
PHOTO_RECORDS = ".safefakes"
MANIFEST_COLUMNS = ("image", "face_index", "x", "y", "w", "h", "method", "status")
# anonymize-images adds the detector's score of each face.
FOLDER_MANIFEST_COLUMNS = ("image", "face_index", "x", "y", "w", "h", "score", "method", "status")
#: Files of a split copied byte for byte into its anonymized copy.
SIDECARS = (ANNOTATIONS, KEYPOINTS, IDENTITIES, *MAT_FILES.values())


class Status:
    """Per-face outcomes written to ``manifest.csv``."""

    ANONYMIZED = "anonymized"
    # Below the configured minimum face size: left as is, and recorded.
    TOO_SMALL = "too_small_left_as_is"
    # The method needs keypoints and had none: it ran its documented fallback
    # (e.g. DeepPrivacy/Sun2018 with empty keypoint maps).
    NO_KEYPOINTS_FALLBACK = "no_keypoints_fallback"
    # The method cannot anonymize without landmarks: the box was blacked out (CIAGAN).
    NO_LANDMARKS_BLACKED_OUT = "no_landmarks_blacked_out"
    # Zero or negative width/height: there is no face region to change.
    DEGENERATE_BOX = "degenerate_box"
    # The box lies wholly outside the image.
    OUTSIDE_IMAGE = "outside_image"
    # The whole image was transformed (fullblur); the face is covered by that.
    WHOLE_IMAGE = "anonymized_whole_image"
    # The 'original' method: the study's un-anonymized baseline.
    ORIGINAL = "original_not_anonymized"
    # The image could not be read: no output file was written for it.
    UNREADABLE = "unreadable_image"

    # Statuses under which the face region was changed.
    CHANGED = frozenset({ANONYMIZED, NO_KEYPOINTS_FALLBACK, NO_LANDMARKS_BLACKED_OUT, WHOLE_IMAGE})


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a ``manifest.csv`` with numeric columns as numbers.

    ``OUTPUT/manifest.csv`` of an ``anonymize-images`` output (whose records
    are in ``OUTPUT/.safefakes/``) reads ``OUTPUT/.safefakes/manifest.csv``.
    """
    path = Path(path)
    if not path.exists() and (path.parent / PHOTO_RECORDS / path.name).is_file():
        path = path.parent / PHOTO_RECORDS / path.name
    if not path.exists():
        raise InputError(path, "manifest.csv missing", hint="was this folder written by 'safefakes anonymize'?")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                         hint="a manifest.csv is written by 'safefakes anonymize' in UTF-8: rerun the "
                              "anonymization into a new folder rather than editing it") from exc
    rows = []
    with io.StringIO(text, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(MANIFEST_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise InputError(path, f"missing column(s) {', '.join(sorted(missing))}", line=1)
        for lineno, row in enumerate(reader, start=2):
            try:
                for key in ("face_index", "x", "y", "w", "h"):
                    row[key] = int(row[key])
                if "score" in row:
                    row["score"] = float(row["score"])
            except (TypeError, ValueError) as exc:
                raise InputError(path, f"bad number ({exc})", line=lineno) from exc
            rows.append(row)
    return rows


def records_dir(folder: str | Path) -> Path:
    """Where the run records of the output ``folder`` are.

    ``folder/.safefakes`` for an ``anonymize-images`` output; the folder
    itself for an anonymized split (its manifest is part of the split format)
    and for a photo output of the old layout (records beside the photos).
    """
    folder = Path(folder)
    sub = folder / PHOTO_RECORDS
    return sub if sub.is_dir() else folder


def read_run(folder: str | Path) -> dict:
    """The ``anonymization.json`` of an output folder (in ``records_dir(folder)``)."""
    path = records_dir(folder) / RUN_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(path, "anonymization.json missing: this folder holds no anonymization run") from exc
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON: {exc.msg}", line=exc.lineno) from exc


def read_input_hashes(folder: str | Path) -> dict[str, str]:
    """Input file (relative to the input root) -> SHA-256, from ``input_hashes.csv``."""
    path = records_dir(folder) / INPUT_HASHES
    if not path.exists():
        raise InputError(path, "input_hashes.csv missing", hint="rerun the anonymization to completion")
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["file"]: row["sha256"] for row in csv.DictReader(fh)}


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def anonymization_record(folder: str | Path) -> Path | None:
    """The first record of an anonymization run in ``folder`` (``manifest.csv``, ``anonymization.json``,
    beside its images or in ``.safefakes/``), or None.

    An original holds none: the audits use this to refuse an ORIGINAL that is an output (arguments swapped).
    """
    for where in (Path(folder), Path(folder) / PHOTO_RECORDS):
        for name in (MANIFEST, RUN_FILE):
            path = where / name
            if path.is_file():
                return path
    return None


def unaccounted_images(folder: str | Path, accounted: Collection[str]) -> list[str]:
    """Images anywhere under ``folder`` whose path (relative, with forward slashes) is not in ``accounted``.

    The whole folder is walked, hidden folders included; links are not
    followed, and a link to a folder is listed too (what it holds cannot be
    accounted for). Files that are not images (records, logs, a report) are
    not listed: only an image can show a face.
    """
    folder = Path(folder)
    out = []
    for parent, dirs, files in os.walk(folder):
        base = Path(parent)
        for name in dirs:
            if (base / name).is_symlink():
                out.append((base / name).relative_to(folder).as_posix())
        for name in files:
            rel = (base / name).relative_to(folder).as_posix()
            if rel not in accounted and is_image_file(base / name):
                out.append(rel)
    return sorted(out)
