"""Anonymize the faces found in a plain folder of photos (``safefakes anonymize-images``).

The anonymized copies keep their paths relative to the input folder; the
output folder gets the records of a split run (see ``safefakes.engine.split``),
with the face detector's score per manifest row, and the same resume and
failure policy.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from safefakes.data.anonymized import FOLDER_MANIFEST_COLUMNS
from safefakes.data.images import JPEG_SUFFIXES
from safefakes.engine.face_finder import FaceFinder
from safefakes.engine.journal import PARTS_DIR
from safefakes.engine.methods import AnonymizerSource, KeypointProvider, describe_keypoints, resolve_anonymizer
from safefakes.engine.output import check_jpeg, finish_output, prepare_output
from safefakes.engine.pool import run_images
from safefakes.engine.report import SplitReport
from safefakes.engine.worker import Settings
from safefakes.errors import InputError, SafeFakesError

IMAGE_SUFFIXES = (*sorted(JPEG_SUFFIXES), ".png")


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
    instance, source = resolve_anonymizer(anonymizer)
    check_jpeg(jpeg_quality, jpeg_subsampling)
    try:
        finder = FaceFinder(detector, float(threshold), int(upsample))
    except ValueError as exc:
        raise SafeFakesError(str(exc)) from exc
    names = list_images(input_dir, exclude=output_dir)
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
        "keypoints": describe_keypoints(instance, keypoints, None),
        "input_files_sha256": hashlib.sha256("\n".join(names).encode()).hexdigest(),
    }
    prepare_output(input_dir, output_dir, run, resume)
    settings = Settings(
        input_images=input_dir,
        output_images=output_dir,
        parts=output_dir / PARTS_DIR,
        seed=int(seed),
        quality=int(jpeg_quality),
        subsampling=jpeg_subsampling,
        finder=finder,
    )
    tasks = [(name, None, None) for name in names]
    records, n_resumed = run_images(tasks, instance, source, keypoints, settings, workers, progress, resume,
                                 start_method)
    return finish_output(output_dir, instance, records, names, None, {}, "", FOLDER_MANIFEST_COLUMNS, n_resumed, t0)


def list_images(root: Path, exclude: Path) -> list[str]:
    exclude = exclude.resolve()
    names = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file() or path.name.startswith("."):
            continue
        if exclude == path.resolve() or exclude in path.resolve().parents:
            continue
        names.append(path.relative_to(root).as_posix())
    return names
