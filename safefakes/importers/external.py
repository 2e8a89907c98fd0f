"""A split anonymized by another tool, taken into the study as one more method.

The study can measure anonymizers this project does not implement: the user
runs their tool on the study's train split and names the result in the
config (``external_splits``). ``import_external_split`` checks that it is an
anonymized copy of that split (the same image names and boxes, every image
there at its original size) and copies it into the study's run folder, so
that the audit, the metrics and the detector read it like any other method's
split. It has no ``manifest.csv``: the audit and the metrics then take every
annotated face as meant to be anonymized.

The user's folder is only read (symbolic links in it are followed for
reading); the copy is assembled in a temporary sibling folder and renamed
into place, so an interrupted import leaves nothing that looks complete.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from safefakes.data.images import image_size, write_text_atomic
from safefakes.data.split import ANNOTATIONS, IMAGES, Split
from safefakes.data.wider_files import read_annotations
from safefakes.errors import InputError, SafeFakesError

#: Written into the copy: where it came from.
SOURCE_FILE = "external_split.json"


def import_external_split(original_dir: str | Path, external_dir: str | Path, output_dir: str | Path) -> int:
    """Check ``external_dir`` against ``original_dir`` and copy it to ``output_dir``; returns the image count.

    ``external_dir`` holds ``images/`` in the original's layout and, optionally,
    an ``annotations.txt`` (which must then list the original's images and
    boxes; without one, the original's is copied).
    """
    original_dir, external_dir, output_dir = Path(original_dir), Path(external_dir), Path(output_dir)
    original = Split.load(original_dir, sidecars=False)
    if not (external_dir / IMAGES).is_dir():
        raise InputError(external_dir, "no images/ folder: not a split",
                         hint="an external split is a folder with images/<event>/<name> as in the original")
    theirs = external_dir / ANNOTATIONS
    if theirs.exists():
        listed = {im.name: im.boxes.tolist() for im in read_annotations(theirs)}
        for im in original.images:
            if im.name not in listed:
                raise InputError(theirs, f"{im.name} of {original_dir} is not listed",
                                 hint="anonymize the study's train split itself, image for image")
            if listed[im.name] != im.boxes.tolist():
                raise InputError(theirs, f"the boxes of {im.name} differ from the original's",
                                 hint="keep the original annotations: the study compares face for face")
        extra = sorted(set(listed) - {im.name for im in original.images})
        if extra:
            raise InputError(theirs, f"{len(extra)} image(s) not in the original split, e.g. {extra[0]}")
    for im in original.images:
        src = external_dir / IMAGES / im.name
        if not src.is_file():
            raise InputError(src, "missing: the external split must hold every image of the original")
        if image_size(src) != image_size(original.image_path(im.name)):
            raise InputError(src, f"size {image_size(src)} differs from the original's "
                                  f"{image_size(original.image_path(im.name))}",
                             hint="anonymizers keep the image size")

    if output_dir.exists():
        raise SafeFakesError(f"{output_dir} exists; remove it to import {external_dir} again")
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
    try:
        for im in original.images:
            dst = stage / IMAGES / im.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(external_dir / IMAGES / im.name, dst)
        shutil.copyfile(original_dir / ANNOTATIONS, stage / ANNOTATIONS)
        write_text_atomic(stage / SOURCE_FILE, json.dumps(
            {"kind": "external", "source": str(external_dir.resolve()), "images": len(original.images)},
            indent=2) + "\n")
        stage.rename(output_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return len(original.images)
