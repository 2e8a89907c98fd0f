"""Work done inside a worker process: read, anonymize and write images, journal them.

A worker is set up once (``init_worker``) with the method, the keypoint
provider, the run's settings and the task list, then takes chunks of
contiguous images (``process_chunk``). Each output image is written atomically
(temporary file renamed into place); a chunk's records are appended to the
worker's journal in one write when it is done, also when it is cut short by an
exception, and only ever after their images, so a record means "this image is
done". Every image depends only on its own bytes, boxes and
``image_seed(seed, name)``, so a resumed or parallel run gives the bytes of an
uninterrupted serial one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from safefakes.anonymizers.base import AnonymizedImage, Anonymizer
from safefakes.data.anonymized import Status
from safefakes.data.images import (
    decode_image,
    decode_photo,
    encode_image,
    encode_photo,
    name_the_file,
    photo_alpha,
    photo_exif,
    photo_is_grey,
)
from safefakes.data.seeding import image_seed
from safefakes.engine.journal import open_journal
from safefakes.engine.methods import AnonymizerSource, KeypointProvider
from safefakes.errors import InputError
from safefakes.photos.face_finder import FaceFinder


@dataclass(frozen=True)
class Settings:
    input_images: Path
    output_images: Path
    parts: Path
    seed: int
    quality: int
    subsampling: str
    finder: FaceFinder | None  # None: boxes come from the annotations
    # Plain-folder runs (a finder is set): photos are read upright (EXIF
    # orientation applied) and written back in their own format; with
    # keep_metadata their EXIF block is copied (orientation reset), else dropped.
    keep_metadata: bool = False


STATE: dict[str, Any] = {}  # this process's worker: its method, settings and tasks


def init_worker(source: AnonymizerSource, provider: KeypointProvider | None, settings: Settings,
                tasks: list[tuple], single_thread: bool = False) -> None:
    if single_thread:
        # The pool already uses every core; OpenCV's and torch's own threads
        # would only compete. For torch it is also a must: a child forked from a
        # parent whose OpenMP pool ran hangs in its first parallel region (seen
        # here: GAN workers stuck in load_state_dict).
        cv2.setNumThreads(1)
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(1)
    anonymizer = source if isinstance(source, Anonymizer) else source()
    STATE.update(anonymizer=anonymizer, provider=provider, settings=settings, tasks=tasks,
                 src_root=os.fspath(settings.input_images), dst_root=os.fspath(settings.output_images),
                 uses_rng=anonymizer.uses_rng, batched=anonymizer.batches_images,
                 whole=anonymizer.whole_image, identity=anonymizer.identity)


def process_chunk(bounds: tuple[int, int]) -> list[tuple[dict, str | None]]:
    """Anonymize images ``start:stop`` of the task list, then journal them in one write; runs in a worker.

    A record is journaled only after its image has been written, so a record
    still means "this image is done". Records of a chunk that is cut short by
    an exception are journaled (their images are complete); a process killed
    outright loses the records of its unfinished chunk, and the rerun redoes
    those images, to the same bytes (outputs are deterministic and replaced
    atomically).
    """
    start, stop = bounds
    tasks = STATE["tasks"][start:stop]
    done: list[tuple[dict, str | None]] = []
    lines: list[str] = []
    try:
        if STATE["batched"]:
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
            fh = _journal(STATE["settings"])
            try:
                fh.write("".join(lines))
                fh.flush()
            except OSError as exc:  # a full disk: name the journal
                name_the_file(exc, fh.name, fh.name)
                raise
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
    exif: bytes | None = None  # kept for the output (plain-folder runs with keep_metadata)
    grey: bool = False  # a grey photo (plain-folder runs): its copy is written grey too
    alpha: np.ndarray | None = None  # a photo's alpha channel (plain-folder runs): its copy keeps it

    @property
    def untouched(self) -> bool:
        """Copied byte for byte without asking the method to change anything."""
        return bool(STATE["identity"] or (len(self.boxes) == 0 and not STATE["whole"]))


def _load(task: tuple) -> _Job | dict:
    """Read, hash and decode one input, find or take its faces; a failure record on bad input."""
    name, boxes, kps = task
    settings: Settings = STATE["settings"]
    src = os.path.join(STATE["src_root"], name)
    try:
        with open(src, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return _failure(name, boxes, None, f"cannot read {src} ({exc.strerror or exc})")
    digest = hashlib.sha256(data).hexdigest()  # of the very bytes decoded: one read per input
    photo = settings.finder is not None
    try:
        image = (decode_photo if photo else decode_image)(data, src)
    except InputError as exc:
        return _failure(name, boxes, digest, str(exc))
    scores = None
    if boxes is None:
        boxes, scores = settings.finder(image)
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    exif = photo_exif(data) if photo and settings.keep_metadata else None
    job = _Job(name, data, digest, image, boxes, kps, scores, exif, photo and photo_is_grey(data),
               photo_alpha(data) if photo else None)
    anonymizer: Anonymizer = STATE["anonymizer"]
    provider = STATE["provider"]
    if not job.untouched and anonymizer.needs_keypoints and provider is not None:
        job.keypoints = provider(image, name, boxes)
    return job


def _method_input(job: _Job) -> tuple:
    """(image, boxes, keypoints, rng) as ``Anonymizer.anonymize`` takes them."""
    settings: Settings = STATE["settings"]
    rng = np.random.default_rng(image_seed(settings.seed, job.name)) if STATE["uses_rng"] else None
    return job.image, job.boxes, job.keypoints, rng


def _process(task: tuple) -> dict:
    """Anonymize one image (write its output file) and return its record; runs in a worker."""
    job = _load(task)
    if not isinstance(job, _Job):
        return job  # a failure record
    result = None if job.untouched else STATE["anonymizer"].anonymize(*_method_input(job))
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
                       STATE["anonymizer"].anonymize_many([_method_input(job) for job in todo])))
    for job in jobs:
        yield _write_result(job, results.get(job.name)) if isinstance(job, _Job) else job


def _write_result(job: _Job, result: AnonymizedImage | None) -> dict:
    """Encode and write one image (atomically) and return its record; runs in a worker."""
    anonymizer: Anonymizer = STATE["anonymizer"]
    settings: Settings = STATE["settings"]
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
                if settings.finder is not None:
                    out = encode_photo(result.image, os.path.splitext(name)[1], settings.quality,
                                       settings.subsampling, job.exif, job.grey, job.alpha)
                else:
                    out = encode_image(result.image, os.path.splitext(name)[1], settings.quality,
                                       settings.subsampling)
            except ValueError as exc:  # a format we cannot write (e.g. .bmp): never a silent copy
                return _failure(name, boxes, job.digest, f"cannot write the anonymized image: {exc}")
    write_atomic(os.path.join(STATE["dst_root"], name), out)
    # The output's hash too: a rerun redoes an output whose bytes differ (replaced by hand, a failed copy).
    rec = {"image": name, "sha256": job.digest, "output_sha256": hashlib.sha256(out).hexdigest(),
           "statuses": statuses}
    if job.scores is not None:  # boxes found by a face detector: the parent does not know them
        rec["boxes"] = boxes.tolist()
        rec["scores"] = [round(float(score), 4) for score in job.scores]
    return rec


def _failure(name: str, boxes: np.ndarray | None, digest: str | None, message: str) -> dict:
    # No record in the journal: a rerun retries the image. No output file either.
    # boxes is None when they were to be found in the image (a plain-folder run): no faces to list.
    rec = {"image": name, "sha256": digest, "error": message, "statuses": []}
    if boxes is not None:
        rec["statuses"] = [Status.UNREADABLE] * len(boxes)
        if STATE["settings"].finder is not None:
            rec["boxes"] = np.asarray(boxes, dtype=np.int64).reshape(-1, 4).tolist()
    return rec


def _journal(settings: Settings):
    """This process's journal (opened on first use, one per process: no locking needed)."""
    fh = STATE.get("journal")
    if fh is None:
        fh = open_journal(settings.parts)
        STATE["journal"] = fh
    return fh


def close_journal() -> None:
    fh = STATE.pop("journal", None)
    if fh is not None:
        try:
            fh.close()
        except OSError as exc:  # the last lines could not be written: name the journal
            name_the_file(exc, fh.name, fh.name)
            raise


def write_atomic(path: str | Path, data: bytes) -> None:
    # Like data.images.write_bytes_atomic, with fewer system calls per file (this
    # runs once per image); the temporary name matches the ".*.part" sweep.
    head, tail = os.path.split(os.fspath(path))
    tmp = os.path.join(head, f".{tail}.{os.getpid()}.part")
    try:
        fh = open(tmp, "wb")
    except FileNotFoundError:
        os.makedirs(head, exist_ok=True)
        fh = open(tmp, "wb")
    try:
        with fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:  # a full disk, a file too large: the message names the file meant
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        name_the_file(exc, path, tmp)
        raise
