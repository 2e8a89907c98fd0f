"""Anonymize every annotated face of a split into a new split (``safefakes anonymize``).

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

import logging
import time
from pathlib import Path

from safefakes.data.anonymized import MANIFEST_COLUMNS, SIDECARS, sha256_file
from safefakes.data.images import PHOTO_SUFFIXES
from safefakes.data.split import ANNOTATIONS, IMAGES, KEYPOINTS, Split
from safefakes.engine.journal import PARTS_DIR
from safefakes.engine.methods import AnonymizerSource, KeypointProvider, describe_keypoints, resolve_anonymizer
from safefakes.engine.output import check_jpeg, copy_if_changed, finish_output, prepare_output
from safefakes.engine.pool import run_images
from safefakes.engine.report import SplitReport
from safefakes.engine.settings import AnonymizeSettings
from safefakes.engine.worker import Settings
from safefakes.errors import InputError

log = logging.getLogger(__name__)


def is_photo_folder(folder: Path) -> bool:
    """A folder holding photos (at any depth) and no annotations.txt: not a split, input of anonymize-images."""
    if not folder.is_dir() or (folder / ANNOTATIONS).exists():
        return False
    return any(p.suffix.lower() in PHOTO_SUFFIXES and p.is_file() for p in folder.rglob("*"))


def refuse_photo_folder(input_dir: Path) -> None:
    """A folder of photos with no annotations.txt is no split: point to the command that finds the faces."""
    if is_photo_folder(input_dir):
        raise InputError(input_dir / ANNOTATIONS,
                         "annotations.txt missing: this is a folder of photos, not a split (a split lists its "
                         "faces in annotations.txt)",
                         hint=f"to find the faces in these photos and anonymize them, run `safefakes "
                              f"anonymize-images {input_dir} OUTPUT`")


def anonymize_split(
    input_dir: str | Path,
    output_dir: str | Path,
    anonymizer: AnonymizerSource,
    *,
    seed: int = AnonymizeSettings.seed,
    workers: int | None = None,
    jpeg_quality: int = AnonymizeSettings.jpeg_quality,
    jpeg_subsampling: str = AnonymizeSettings.jpeg_subsampling,
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
    instance, source = resolve_anonymizer(anonymizer)
    check_jpeg(jpeg_quality, jpeg_subsampling)
    # The sidecars (keypoints.json, identities.json, .mat) are copied and hashed
    # either way; they are parsed only when the method reads the split's keypoints.
    refuse_photo_folder(input_dir)
    split = Split.load(input_dir, sidecars=bool(instance.needs_keypoints) and keypoints is None)
    if not split.images:
        log.warning("%s lists no image: the anonymized split will be empty", input_dir / ANNOTATIONS)

    split_keypoints = None
    if instance.needs_keypoints and keypoints is None and split.keypoints is not None:
        # Passed as stored: converting between layouts is the method's business.
        split_keypoints = split.keypoints
        if split.keypoint_layout != instance.needs_keypoints:
            log.info("%s: keypoint layout %r, %s uses %r", input_dir / KEYPOINTS, split.keypoint_layout,
                     instance.name, instance.needs_keypoints)

    sidecars = [name for name in SIDECARS if (input_dir / name).exists()]
    input_hashes = {name: sha256_file(input_dir / name) for name in sidecars}
    run = {
        "format": 1,
        "kind": "split",
        "anonymizer": instance.describe(),
        "seed": int(seed),
        "jpeg_quality": int(jpeg_quality),
        "jpeg_subsampling": jpeg_subsampling,
        "keypoints": describe_keypoints(instance, keypoints, split_keypoints),
        "input_annotations_sha256": input_hashes[ANNOTATIONS],
    }
    prepare_output(input_dir, output_dir, run, resume)
    for name in sidecars:
        copy_if_changed(input_dir / name, output_dir / name)

    tasks = []
    for im in split.images:
        kps = split_keypoints.get(im.name) if split_keypoints is not None else None
        tasks.append((im.name, im.boxes, kps))
    settings = Settings(
        input_images=input_dir / IMAGES,
        output_images=output_dir / IMAGES,
        parts=output_dir / PARTS_DIR,
        seed=int(seed),
        quality=int(jpeg_quality),
        subsampling=jpeg_subsampling,
        finder=None,
    )
    records, n_resumed = run_images(tasks, instance, source, keypoints, settings, workers, progress, resume,
                                 start_method)
    return finish_output(output_dir, instance, records, [im.name for im in split.images],
                   {im.name: im.boxes for im in split.images}, input_hashes, "images/", MANIFEST_COLUMNS,
                   n_resumed, t0)
