"""The dataset engine: anonymize every annotated face of a split into a new split.

Output folder (a split plus the run's records)::

    images/<event>/<name>.jpg   same layout as the input
    annotations.txt, sidecars   copied byte for byte (keypoints.json, identities.json, .mat)
    anonymization.json          written first: the method's describe(), seed, JPEG options
    input_hashes.csv            SHA-256 of every input file read (the audit re-checks them)
    manifest.csv                one row per annotated face: image, face_index, x, y, w, h, method, status
    anonymization.done          written last: the run is complete

Guarantees:

* The input split is only read. The output folder may not be, or lie inside,
  the input folder (nor the other way round).
* Workers take chunks of contiguous images (at most ``MAX_CHUNK``). Each
  output image is written atomically (temporary file renamed into place);
  when its chunk is done, one-line records of the chunk's images are appended
  to the worker's journal under ``.anonymize_parts/`` in one write (also when
  the chunk is cut short by an exception: its finished images are recorded).
  A record is only ever written after its image, and a rerun of the same
  command skips the images with a record, so an interrupted run resumes: a
  process killed outright loses at most the records of its unfinished chunk,
  whose images are redone (a torn last line is ignored). The input file's
  SHA-256 is taken from the bytes that are decoded (one read per image). At
  the end the journals are merged into one ``records.jsonl`` in annotation
  order. Every image depends only on its own bytes, boxes and
  ``image_seed(seed, name)``, and the final files are assembled in
  annotation order, so a resumed (or parallel) run gives the same bytes as an
  uninterrupted serial one.
* An output folder that holds a different run (other method, options, seed,
  JPEG settings or input annotations) is refused; so is a non-empty folder that
  holds no run.
* Images whose pixels the method leaves unchanged (no faces, all faces too
  small, the ``original`` method) are copied byte for byte; the others are
  encoded with the input's format (JPEG at ``jpeg_quality`` and
  ``jpeg_subsampling``; PNG lossless). Two class attributes of
  ``Anonymizer`` steer this: ``whole_image = True`` (``fullblur``) makes the engine
  transform faceless images too, ``identity = True`` (``original``) makes it
  copy every file byte for byte.

Policy for unreadable images (corrupt or missing files): the run goes on with
the other images, writes no output file for the unreadable ones (so no
un-anonymized face can slip into the output), records their faces with status
``unreadable_image`` in ``manifest.csv``, does *not* write
``anonymization.done``, and raises ``AnonymizationError`` naming each file.
Replace or drop those images and rerun the same command: the done images are
kept, the failed ones are retried.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import json
import logging
import multiprocessing
import os
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Union

import numpy as np

from safefakes.parallel import fork_context, opencv_threads_joined
from safefakes.anonymizers.base import AnonymizedImage, Anonymizer, Status, image_seed
from safefakes.anonymizers.find_faces import FaceFinder
from safefakes.data.images import (
    JPEG_SUFFIXES,
    decode_image,
    encode_image,
    write_bytes_atomic,
    write_text_atomic,
)
from safefakes.data.split import ANNOTATIONS, IDENTITIES, IMAGES, KEYPOINTS, Split
from safefakes.data.wider import MAT_FILES
from safefakes.errors import InputError, SafeFakesError

log = logging.getLogger(__name__)

MANIFEST = "manifest.csv"
RUN_FILE = "anonymization.json"
INPUT_HASHES = "input_hashes.csv"
COMPLETE_MARKER = "anonymization.done"
PARTS_DIR = ".anonymize_parts"
RECORDS = "records.jsonl"
UNREADABLE = "unreadable_image"
MANIFEST_COLUMNS = ("image", "face_index", "x", "y", "w", "h", "method", "status")
# anonymize-images adds the detector's score of each face.
FOLDER_MANIFEST_COLUMNS = ("image", "face_index", "x", "y", "w", "h", "score", "method", "status")
SIDECARS = (ANNOTATIONS, KEYPOINTS, IDENTITIES, *MAT_FILES.values())
IMAGE_SUFFIXES = (*sorted(JPEG_SUFFIXES), ".png")
SUBSAMPLINGS = ("4:4:4", "4:2:2", "4:2:0")

#: (image, image_name, boxes) -> (N, K, 3) keypoints or None; must be picklable for workers > 1.
KeypointProvider = Callable[[np.ndarray, str, np.ndarray], Union[np.ndarray, None]]
#: An anonymizer, or a picklable zero-argument factory (e.g. ``AnonymizerSpec``)
#: that each worker process calls once to build its own.
AnonymizerSource = Union[Anonymizer, Callable[[], Anonymizer]]


class AnonymizationError(SafeFakesError):
    """Some images could not be anonymized; the output is marked incomplete."""

    def __init__(self, message: str, report: "SplitReport") -> None:
        super().__init__(message)
        self.report = report


@dataclass
class SplitReport:
    """What a run did. ``complete`` is False when any image failed."""

    output_dir: Path
    method: str
    n_images: int
    n_faces: int
    n_resumed: int  # images done by an earlier, interrupted run and skipped
    status_counts: dict[str, int]
    failed_images: dict[str, str] = field(default_factory=dict)  # image -> message
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.failed_images

    def summary(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.status_counts.items())) or "no faces"
        text = (f"{self.method}: {self.n_images} images, {self.n_faces} faces ({counts}) "
                f"-> {self.output_dir} in {self.seconds:.1f} s")
        if self.n_resumed:
            text += f"; {self.n_resumed} images were already done and kept"
        if self.failed_images:
            text += f"; {len(self.failed_images)} image(s) FAILED"
        return text


# --------------------------------------------------------------------------- #
# Public entry points
# --------------------------------------------------------------------------- #
def anonymize_split(
    input_dir: str | Path,
    output_dir: str | Path,
    anonymizer: AnonymizerSource,
    *,
    seed: int = 0,
    workers: int | None = None,
    jpeg_quality: int = 95,
    jpeg_subsampling: str = "4:4:4",
    keypoints: KeypointProvider | None = None,
    progress: bool = True,
    resume: bool = True,
    start_method: str | None = None,
) -> SplitReport:
    """Anonymize every annotated face of the split ``input_dir`` into ``output_dir``.

    anonymizer: an ``Anonymizer`` (handed to the workers) or a picklable
        zero-argument factory such as ``AnonymizerSpec("deepprivacy", {...})``
        (called once in this process, for ``describe()``, and once per worker).
    keypoints: a keypoint provider, called per image when the method needs
        keypoints; None: the split's ``keypoints.json`` (as stored; the method
        converts layouts), or no keypoints when the split has none.
    workers: processes (default: all cores; 1 runs in this process).
    resume: keep the images done by an earlier run of the same command;
        False redoes every image.
    start_method: how worker processes start ("fork" or "spawn"); default
        "fork", or "spawn" when CUDA is initialized in this process.

    Raises ``AnonymizationError`` (after finishing every other image) when an
    image cannot be read, and ``SafeFakesError`` for an unusable output folder.
    """
    t0 = time.perf_counter()
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    instance, source = _resolve_anonymizer(anonymizer)
    _check_jpeg(jpeg_quality, jpeg_subsampling)
    # The sidecars (keypoints.json, identities.json, .mat) are copied and hashed
    # either way; they are parsed only when the method reads the split's keypoints.
    split = Split.load(input_dir, sidecars=bool(instance.needs_keypoints) and keypoints is None)

    split_keypoints = None
    if instance.needs_keypoints and keypoints is None and split.keypoints is not None:
        # Passed as stored: converting between layouts is the method's business.
        split_keypoints = split.keypoints
        if split.keypoint_layout != instance.needs_keypoints:
            log.info("%s: keypoint layout %r, %s uses %r", input_dir / KEYPOINTS, split.keypoint_layout,
                     instance.name, instance.needs_keypoints)

    sidecars = [name for name in SIDECARS if (input_dir / name).exists()]
    input_hashes = {name: _sha256_file(input_dir / name) for name in sidecars}
    run = {
        "format": 1,
        "kind": "split",
        "anonymizer": instance.describe(),
        "seed": int(seed),
        "jpeg_quality": int(jpeg_quality),
        "jpeg_subsampling": jpeg_subsampling,
        "keypoints": _describe_keypoints(instance, keypoints, split_keypoints),
        "input_annotations_sha256": input_hashes[ANNOTATIONS],
    }
    _prepare_output(input_dir, output_dir, run, resume)
    for name in sidecars:
        _copy_if_changed(input_dir / name, output_dir / name)

    tasks = []
    for im in split.images:
        kps = split_keypoints.get(im.name) if split_keypoints is not None else None
        tasks.append((im.name, im.boxes, kps))
    settings = _Settings(
        input_images=input_dir / IMAGES,
        output_images=output_dir / IMAGES,
        parts=output_dir / PARTS_DIR,
        seed=int(seed),
        quality=int(jpeg_quality),
        subsampling=jpeg_subsampling,
        finder=None,
    )
    records, n_resumed = _run(tasks, instance, source, keypoints, settings, workers, progress, resume,
                                 start_method)
    return _finish(output_dir, instance, records, [im.name for im in split.images],
                   {im.name: im.boxes for im in split.images}, input_hashes, "images/", MANIFEST_COLUMNS,
                   n_resumed, t0)


def anonymize_folder(
    input_dir: str | Path,
    output_dir: str | Path,
    anonymizer: AnonymizerSource,
    *,
    detector: str = "cnn",
    threshold: float = 0.0,
    upsample: int = 1,
    seed: int = 0,
    workers: int | None = None,
    jpeg_quality: int = 95,
    jpeg_subsampling: str = "4:4:4",
    keypoints: KeypointProvider | None = None,
    progress: bool = True,
    resume: bool = True,
    start_method: str | None = None,
) -> SplitReport:
    """Anonymize the faces that dlib finds in every photo under ``input_dir``.

    The anonymized copies keep their paths relative to ``input_dir``; the
    output folder gets the same records as a split run (``manifest.csv`` with
    the detector's score per face, ``anonymization.json``, ``input_hashes.csv``,
    ``anonymization.done``) and the same resume and failure policy.
    """
    t0 = time.perf_counter()
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if not input_dir.is_dir():
        raise InputError(input_dir, "input folder not found")
    instance, source = _resolve_anonymizer(anonymizer)
    _check_jpeg(jpeg_quality, jpeg_subsampling)
    try:
        finder = FaceFinder(detector, float(threshold), int(upsample))
    except ValueError as exc:
        raise SafeFakesError(str(exc)) from exc
    names = _list_images(input_dir, exclude=output_dir)
    if not names:
        raise InputError(input_dir, "no .jpg, .jpeg or .png images found",
                         hint="point INPUT_DIR at a folder of photos")
    run = {
        "format": 1,
        "kind": "folder",
        "anonymizer": instance.describe(),
        "face_finder": finder.describe(),
        "seed": int(seed),
        "jpeg_quality": int(jpeg_quality),
        "jpeg_subsampling": jpeg_subsampling,
        "keypoints": _describe_keypoints(instance, keypoints, None),
        "input_files_sha256": hashlib.sha256("\n".join(names).encode()).hexdigest(),
    }
    _prepare_output(input_dir, output_dir, run, resume)
    settings = _Settings(
        input_images=input_dir,
        output_images=output_dir,
        parts=output_dir / PARTS_DIR,
        seed=int(seed),
        quality=int(jpeg_quality),
        subsampling=jpeg_subsampling,
        finder=finder,
    )
    tasks = [(name, None, None) for name in names]
    records, n_resumed = _run(tasks, instance, source, keypoints, settings, workers, progress, resume,
                                 start_method)
    return _finish(output_dir, instance, records, names, None, {}, "", FOLDER_MANIFEST_COLUMNS, n_resumed, t0)


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a ``manifest.csv`` with numeric columns as numbers."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "manifest.csv missing", hint="was this folder written by 'safefakes anonymize'?")
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
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


def read_run(folder: str | Path) -> dict:
    """The ``anonymization.json`` of an output folder."""
    path = Path(folder) / RUN_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(path, "anonymization.json missing: this folder holds no anonymization run") from exc
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON: {exc.msg}", line=exc.lineno) from exc


def read_input_hashes(folder: str | Path) -> dict[str, str]:
    """Input file (relative to the input root) -> SHA-256, from ``input_hashes.csv``."""
    path = Path(folder) / INPUT_HASHES
    if not path.exists():
        raise InputError(path, "input_hashes.csv missing", hint="rerun the anonymization to completion")
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["file"]: row["sha256"] for row in csv.DictReader(fh)}


def sha256_file(path: str | Path) -> str:
    return _sha256_file(Path(path))


# --------------------------------------------------------------------------- #
# Output folder: identity, refusal, final files
# --------------------------------------------------------------------------- #
def _prepare_output(input_dir: Path, output_dir: Path, run: dict, resume: bool) -> None:
    src, dst = input_dir.resolve(), output_dir.resolve()
    if dst == src or src in dst.parents or dst in src.parents:
        raise SafeFakesError(
            f"output folder {output_dir} overlaps the input folder {input_dir}; "
            "the input is never written to: choose a separate output folder"
        )
    if dst.exists() and not dst.is_dir():
        raise InputError(output_dir, "output path exists and is not a folder")
    run_path = output_dir / RUN_FILE
    run = json.loads(json.dumps(run))  # compare as stored (tuples become lists)
    if run_path.exists():
        previous = read_run(output_dir)
        if previous != run:
            diff = sorted(k for k in set(previous) | set(run) if previous.get(k) != run.get(k))
            details = "; ".join(f"{k}: there {previous.get(k)!r}, now {run.get(k)!r}" for k in diff)
            raise SafeFakesError(
                f"output folder {output_dir} holds a different anonymization run ({details}); "
                "choose another output folder, or delete this one to replace it"
            )
        if not resume:
            shutil.rmtree(output_dir / PARTS_DIR, ignore_errors=True)
    elif dst.exists() and any(dst.iterdir()):
        raise SafeFakesError(
            f"output folder {output_dir} is not empty and holds no {RUN_FILE}; "
            "choose an empty or new folder so that no unrelated files are mixed into the anonymized split"
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    # Whatever follows, the folder must not look complete until this run says so.
    (output_dir / COMPLETE_MARKER).unlink(missing_ok=True)
    # Temporary files of a killed worker (atomic_path's ".<name>.<random>.part").
    for tmp in output_dir.rglob(".*.part"):
        tmp.unlink(missing_ok=True)
    if not run_path.exists():
        write_text_atomic(run_path, json.dumps(run, indent=2, sort_keys=True) + "\n")


def _finish(
    output_dir: Path,
    instance: Anonymizer,
    records: dict[str, tuple[dict, str | None]],
    order: list[str],
    annotated: dict[str, np.ndarray] | None,
    extra_hashes: dict[str, str],
    image_prefix: str,
    columns: tuple[str, ...],
    n_resumed: int,
    t0: float,
) -> SplitReport:
    """Merge the journals, write ``input_hashes.csv`` and ``manifest.csv``, then the completion marker.

    annotated: image -> boxes of a split run (its records hold statuses only);
    None for a plain-folder run, whose records carry the boxes found and their scores.
    """
    _merge_journals(output_dir / PARTS_DIR, records, order)
    lines, failed, counts, hashes = [",".join(columns) + "\n"], {}, Counter(), dict(extra_hashes)
    method, with_score = instance.name, "score" in columns
    for name in order:
        rec = records[name][0]
        if rec.get("sha256"):
            hashes[image_prefix + name] = rec["sha256"]
        if rec.get("error"):
            failed[name] = rec["error"]
        statuses = rec["statuses"]
        if not statuses:
            continue
        counts.update(statuses)
        boxes = rec["boxes"] if annotated is None else annotated[name].tolist()
        image = _csv_field(name)
        if with_score:
            scores = rec.get("scores") or [""] * len(statuses)
            lines.extend(f"{image},{i},{x},{y},{w},{h},{score},{method},{status}\n"
                         for i, ((x, y, w, h), score, status) in enumerate(zip(boxes, scores, statuses)))
        else:
            lines.extend(f"{image},{i},{x},{y},{w},{h},{method},{status}\n"
                         for i, ((x, y, w, h), status) in enumerate(zip(boxes, statuses)))
    hash_buf = io.StringIO()
    hash_writer = csv.writer(hash_buf, lineterminator="\n")
    hash_writer.writerow(("file", "sha256"))
    hash_writer.writerows(sorted(hashes.items()))
    write_text_atomic(output_dir / INPUT_HASHES, hash_buf.getvalue())
    write_text_atomic(output_dir / MANIFEST, "".join(lines))
    n_faces = len(lines) - 1
    report = SplitReport(output_dir, instance.name, len(order), n_faces, n_resumed,
                         dict(sorted(counts.items())), failed, time.perf_counter() - t0)
    if failed:
        listed = "; ".join(f"{name}: {msg}" for name, msg in list(failed.items())[:10])
        more = f" (and {len(failed) - 10} more, see {MANIFEST})" if len(failed) > 10 else ""
        raise AnonymizationError(
            f"{len(failed)} image(s) could not be anonymized and were left out of {output_dir}: "
            f"{listed}{more}. The output is marked incomplete (no {COMPLETE_MARKER}); replace or remove "
            "these images and rerun the same command (finished images are kept)",
            report,
        )
    marker = {"images": len(order), "faces": n_faces, "status_counts": report.status_counts}
    write_text_atomic(output_dir / COMPLETE_MARKER, json.dumps(marker, indent=2, sort_keys=True) + "\n")
    return report


# --------------------------------------------------------------------------- #
# Running the images: serially or in a process pool
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class _Settings:
    input_images: Path
    output_images: Path
    parts: Path
    seed: int
    quality: int
    subsampling: str
    finder: FaceFinder | None  # None: boxes come from the annotations


_STATE: dict[str, Any] = {}
#: At most this many images per chunk: a worker takes one chunk (contiguous
#: images in annotation order) at a time and appends the chunk's journal
#: records in one write when it is done.
MAX_CHUNK = 32


def _init_worker(source: AnonymizerSource, provider: KeypointProvider | None, settings: _Settings,
                 tasks: list[tuple], single_thread: bool = False) -> None:
    if single_thread:
        # The pool already uses every core; OpenCV's and torch's own threads
        # would only compete. For torch it is also a must: a child forked from a
        # parent whose OpenMP pool ran hangs in its first parallel region (seen
        # here: GAN workers stuck in load_state_dict).
        import cv2

        cv2.setNumThreads(1)
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(1)
    anonymizer = source if isinstance(source, Anonymizer) else source()
    _STATE.update(anonymizer=anonymizer, provider=provider, settings=settings, tasks=tasks,
                  src_root=os.fspath(settings.input_images), dst_root=os.fspath(settings.output_images),
                  uses_rng=anonymizer.uses_rng, batched=anonymizer.batches_images,
                  whole=anonymizer.whole_image, identity=anonymizer.identity)


def _run(
    tasks: list[tuple],
    instance: Anonymizer,
    source: AnonymizerSource,
    provider: KeypointProvider | None,
    settings: _Settings,
    workers: int | None,
    progress: bool,
    resume: bool,
    start_method: str | None = None,
) -> tuple[dict[str, tuple[dict, str | None]], int]:
    """Process every image not done yet; name -> (record, its journal line or None if it failed)."""
    from tqdm import tqdm

    class _Bar(tqdm):
        # No monitor thread: a thread alive while the pool forks can leave a
        # lock held forever in the children.
        monitor_interval = 0

    records: dict[str, tuple[dict, str | None]] = {}
    todo = []
    journal = _read_journals(settings) if resume else {}
    output_root = os.fspath(settings.output_images)
    for task in tasks:
        done = journal.get(task[0])
        if done is not None and not os.path.exists(os.path.join(output_root, task[0])):
            done = None
        if done is not None:
            records[task[0]] = done
        else:
            todo.append(task)
    n_resumed = len(records)
    workers = _default_workers() if workers is None else int(workers)
    if workers < 1:
        raise SafeFakesError(f"workers must be >= 1, got {workers}")
    workers = min(workers, max(len(todo), 1))
    bar = _Bar(total=len(tasks), initial=n_resumed, unit="img", disable=not progress,
               desc=f"anonymize ({instance.name})", dynamic_ncols=True)
    try:
        for done_chunk in _results(todo, instance, source, provider, settings, workers, start_method):
            for rec, line in done_chunk:
                records[rec["image"]] = (rec, line)
            bar.update(len(done_chunk))
    finally:
        bar.close()
    return records, n_resumed


def _start_method() -> str:
    """"fork" (fast, works from any script), unless CUDA is up in this process.

    A forked child cannot use a CUDA context made by its parent, so GAN runs
    that already touched the GPU start their workers with "spawn" (which needs
    the caller's script to guard its entry point with ``if __name__ == "__main__"``).
    """
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        return "spawn"
    return fork_context().get_start_method()


def _chunks(n: int, workers: int) -> list[tuple[int, int]]:
    """[start, stop) ranges of contiguous images: about 8 per worker, at most MAX_CHUNK images each."""
    size = max(1, min(MAX_CHUNK, n // (workers * 8)))
    return [(i, min(i + size, n)) for i in range(0, n, size)]


def _results(todo, instance, source, provider, settings, workers, start_method=None) -> Iterable[list]:
    """Lists of (record, journal line) per finished chunk, in any order."""
    if not todo:
        return
    chunks = _chunks(len(todo), workers)
    if workers == 1:
        _init_worker(instance, provider, settings, todo)
        try:
            for chunk in chunks:
                yield _process_chunk(chunk)
        finally:
            _close_journal()
            _STATE.clear()
        return
    ctx = multiprocessing.get_context(start_method or _start_method())
    pool_source = source if source is not None else instance
    # Forked workers would otherwise walk (and so copy, page by page) every
    # object of this process in each of their garbage collections.
    gc.freeze()
    try:
        with opencv_threads_joined():
            # The task list travels once per worker (inherited when forked);
            # the chunks are only index ranges into it.
            pool = ctx.Pool(workers, initializer=_init_worker,
                            initargs=(pool_source, provider, settings, todo, True))
        with pool:
            try:
                yield from pool.imap_unordered(_process_chunk, chunks, chunksize=1)
            except BaseException:
                pool.terminate()
                raise
    finally:
        gc.unfreeze()


def _process_chunk(bounds: tuple[int, int]) -> list[tuple[dict, str | None]]:
    """Anonymize images ``start:stop`` of the task list, then journal them in one write; runs in a worker.

    A record is journaled only after its image has been written, so a record
    still means "this image is done". Records of a chunk that is cut short by
    an exception are journaled (their images are complete); a process killed
    outright loses the records of its unfinished chunk, and the rerun redoes
    those images, to the same bytes (outputs are deterministic and replaced
    atomically).
    """
    start, stop = bounds
    tasks = _STATE["tasks"][start:stop]
    done: list[tuple[dict, str | None]] = []
    lines: list[str] = []
    try:
        if _STATE["batched"]:
            records = _process_together(tasks)
        else:
            records = (_process(task) for task in tasks)
        for rec in records:
            if rec.get("error"):
                done.append((rec, None))  # not journaled: a rerun retries it
            else:
                line = json.dumps(rec, separators=(",", ":")) + "\n"
                done.append((rec, line))
                lines.append(line)
    finally:
        if lines:
            fh = _journal(_STATE["settings"])
            fh.write("".join(lines))
            fh.flush()
    return done


@dataclass
class _Job:
    """One decoded input image on its way through a worker."""

    name: str
    data: bytes  # the input file's bytes (copied as they are when nothing changes)
    digest: str
    image: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray | None
    scores: np.ndarray | None  # of boxes found by a face detector (plain-folder runs)

    @property
    def untouched(self) -> bool:
        """Copied byte for byte without asking the method to change anything."""
        return bool(_STATE["identity"] or (len(self.boxes) == 0 and not _STATE["whole"]))


def _load(task: tuple) -> _Job | dict:
    """Read, hash and decode one input, find or take its faces; a failure record on bad input."""
    name, boxes, kps = task
    settings: _Settings = _STATE["settings"]
    src = os.path.join(_STATE["src_root"], name)
    try:
        with open(src, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return _failure(name, boxes, None, f"cannot read {src} ({exc.strerror or exc})")
    digest = hashlib.sha256(data).hexdigest()  # of the very bytes decoded: one read per input
    try:
        image = decode_image(data, src)
    except InputError as exc:
        return _failure(name, boxes, digest, str(exc))
    scores = None
    if boxes is None:
        boxes, scores = settings.finder(image)
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    job = _Job(name, data, digest, image, boxes, kps, scores)
    anonymizer: Anonymizer = _STATE["anonymizer"]
    provider = _STATE["provider"]
    if not job.untouched and anonymizer.needs_keypoints and provider is not None:
        job.keypoints = provider(image, name, boxes)
    return job


def _method_input(job: _Job) -> tuple:
    """(image, boxes, keypoints, rng) as ``Anonymizer.anonymize`` takes them."""
    settings: _Settings = _STATE["settings"]
    rng = np.random.default_rng(image_seed(settings.seed, job.name)) if _STATE["uses_rng"] else None
    return job.image, job.boxes, job.keypoints, rng


def _process(task: tuple) -> dict:
    """Anonymize one image (write its output file) and return its record; runs in a worker."""
    job = _load(task)
    if not isinstance(job, _Job):
        return job  # a failure record
    result = None if job.untouched else _STATE["anonymizer"].anonymize(*_method_input(job))
    return _write_result(job, result)


def _process_together(tasks: list[tuple]) -> Iterator[dict]:
    """Load a chunk, anonymize its images in one ``anonymize_many`` call, then write them one by one.

    For methods whose per-call cost dwarfs the per-face cost (GANs on a CPU).
    The output of one image does not depend on the others (the methods
    guarantee it), so the bytes are those of one image at a time.
    """
    jobs = [_load(task) for task in tasks]
    todo = [job for job in jobs if isinstance(job, _Job) and not job.untouched]
    results = dict(zip((job.name for job in todo),
                       _STATE["anonymizer"].anonymize_many([_method_input(job) for job in todo])))
    for job in jobs:
        yield _write_result(job, results.get(job.name)) if isinstance(job, _Job) else job


def _write_result(job: _Job, result: AnonymizedImage | None) -> dict:
    """Encode and write one image (atomically) and return its record; runs in a worker."""
    anonymizer: Anonymizer = _STATE["anonymizer"]
    settings: _Settings = _STATE["settings"]
    name, boxes = job.name, job.boxes
    if result is None:  # untouched: the method only reports its statuses
        statuses = anonymizer.anonymize(job.image, boxes).statuses if len(boxes) else []
        out = job.data
    else:
        statuses = list(result.statuses)
        if len(statuses) != len(boxes):
            raise RuntimeError(f"{anonymizer.name} returned {len(statuses)} statuses for {len(boxes)} faces of {name}")
        if not any(st in Status.CHANGED for st in statuses) and np.array_equal(result.image, job.image):
            out = job.data  # nothing changed: keep the original bytes, no re-encoding loss
        else:
            try:
                out = encode_image(result.image, os.path.splitext(name)[1], settings.quality,
                                   settings.subsampling)
            except ValueError as exc:  # a format we cannot write (e.g. .bmp): never a silent copy
                return _failure(name, boxes, job.digest, f"cannot write the anonymized image: {exc}")
    _write_atomic(os.path.join(_STATE["dst_root"], name), out)
    rec = {"image": name, "sha256": job.digest, "statuses": statuses}
    if job.scores is not None:  # boxes found by a face detector: the parent does not know them
        rec["boxes"] = boxes.tolist()
        rec["scores"] = [round(float(score), 4) for score in job.scores]
    return rec


def _failure(name: str, boxes: np.ndarray | None, digest: str | None, message: str) -> dict:
    # No record in the journal: a rerun retries the image. No output file either.
    # boxes is None when they were to be found in the image (a plain-folder run): no faces to list.
    rec = {"image": name, "sha256": digest, "error": message, "statuses": []}
    if boxes is not None:
        rec["statuses"] = [UNREADABLE] * len(boxes)
        if _STATE["settings"].finder is not None:
            rec["boxes"] = np.asarray(boxes, dtype=np.int64).reshape(-1, 4).tolist()
    return rec


def _journal(settings: _Settings):
    """This process's journal (opened on first use, one per process: no locking needed)."""
    fh = _STATE.get("journal")
    if fh is None:
        settings.parts.mkdir(parents=True, exist_ok=True)
        fh = open(settings.parts / f"journal-{os.getpid()}-{os.urandom(4).hex()}.jsonl", "a", encoding="utf-8")
        _STATE["journal"] = fh
    return fh


def _close_journal() -> None:
    fh = _STATE.pop("journal", None)
    if fh is not None:
        fh.close()


def _read_journals(settings: _Settings) -> dict[str, tuple[dict, str]]:
    """name -> (record, its line) of every image an earlier run finished."""
    records: dict[str, tuple[dict, str]] = {}
    if not settings.parts.is_dir():
        return records
    for path in sorted(settings.parts.glob("*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # torn by a kill: that image is redone
                # Records of another format (an older version) are ignored: those images are redone.
                if isinstance(rec, dict) and "image" in rec and "statuses" in rec and not rec.get("error"):
                    # Re-serialized: a line torn before its newline may still parse.
                    records[rec["image"]] = (rec, json.dumps(rec, separators=(",", ":")) + "\n")
    return records


def _merge_journals(parts: Path, records: dict[str, tuple[dict, str | None]], order: list[str]) -> None:
    """Replace the per-process journals by one file in annotation order (same bytes on every run)."""
    if not parts.is_dir():
        return
    old = [p for p in parts.glob("*.jsonl") if p.name != RECORDS]
    lines = [records[name][1] for name in order if name in records and records[name][1] is not None]
    write_text_atomic(parts / RECORDS, "".join(lines))
    for path in old:
        path.unlink(missing_ok=True)


def _write_atomic(path: str | Path, data: bytes) -> None:
    # Like data.images.write_bytes_atomic, with fewer system calls per file (this
    # runs once per image); the temporary name matches the ".*.part" sweep.
    head, tail = os.path.split(os.fspath(path))
    tmp = os.path.join(head, f".{tail}.{os.getpid()}.part")
    try:
        fh = open(tmp, "wb")
    except FileNotFoundError:
        os.makedirs(head, exist_ok=True)
        fh = open(tmp, "wb")
    with fh:
        fh.write(data)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- #
# Small helpers
# --------------------------------------------------------------------------- #
def _resolve_anonymizer(anonymizer: AnonymizerSource) -> tuple[Anonymizer, AnonymizerSource | None]:
    if isinstance(anonymizer, Anonymizer):
        return anonymizer, None
    if callable(anonymizer):
        instance = anonymizer()
        if not isinstance(instance, Anonymizer):
            raise TypeError(f"the anonymizer factory returned {type(instance).__name__}, not an Anonymizer")
        return instance, anonymizer
    raise TypeError(f"expected an Anonymizer or a zero-argument factory, got {type(anonymizer).__name__}")


def _describe_keypoints(instance: Anonymizer, provider, split_keypoints) -> str:
    if not instance.needs_keypoints:
        return "not needed"
    if provider is not None:
        describe = getattr(provider, "describe", None)
        if callable(describe):
            return json.dumps(describe(), sort_keys=True)
        return f"provider {getattr(provider, '__module__', '?')}.{getattr(provider, '__qualname__', type(provider).__name__)}"
    return "split keypoints.json" if split_keypoints is not None else "none"


def _check_jpeg(quality: int, subsampling: str) -> None:
    if not 1 <= int(quality) <= 100:
        raise SafeFakesError(f"JPEG quality must be 1..100, got {quality}")
    if subsampling not in SUBSAMPLINGS:
        raise SafeFakesError(f"JPEG subsampling must be one of {', '.join(SUBSAMPLINGS)}, got {subsampling!r}")


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _csv_field(text: str) -> str:
    """``text`` as one CSV field (quoted only when it must be, as csv.writer's QUOTE_MINIMAL does)."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_if_changed(src: Path, dst: Path) -> None:
    data = src.read_bytes()
    if not dst.exists() or dst.read_bytes() != data:
        write_bytes_atomic(dst, data)


def _list_images(root: Path, exclude: Path) -> list[str]:
    exclude = exclude.resolve()
    names = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file() or path.name.startswith("."):
            continue
        if exclude == path.resolve() or exclude in path.resolve().parents:
            continue
        names.append(path.relative_to(root).as_posix())
    return names
