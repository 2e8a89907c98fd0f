"""Content fingerprints of training data, so that a checkpoint names the data it was trained on.

A training run that resumes, or continues a shorter run, must see the data
its checkpoint saw: a folder name says nothing (a split regenerated in place,
another crop set under the same name). The fingerprint is a SHA-256 over
what the trainer reads, in order:

* a split (the detector's training data): the annotations file, then every
  image it lists, each as (relative path, size, SHA-256 of its bytes);
* the first N faces of a crop set (a GAN's training data): per face, its
  image's (name, size, SHA-256), its box, keypoints and identity, as the
  trainer sees them from the crop table.

Every byte is read once per training (WIDER FACE train, 1.5 GB, in a few
seconds), never per step. The same data gives the same fingerprint wherever
the folder lies, since paths are taken relative to it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from safefakes.data.crops import CropTable
from safefakes.data.split import ANNOTATIONS, IMAGES, Split
from safefakes.errors import InputError

#: The key under which checkpoints store the fingerprint of their training data.
DATA_SHA256 = "data_sha256"


def _file_line(root: Path, rel: str) -> bytes:
    path = root / rel
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
    except OSError as exc:
        raise InputError(path, f"cannot read it to fingerprint the training data ({exc.strerror or exc})",
                         hint="every image the annotations list must be in the split's images/ folder") from exc
    return f"{rel}\t{size}\t{digest.hexdigest()}\n".encode()


def split_fingerprint(split: Split) -> str:
    """SHA-256 of a split's annotations and of every image they list (path, size, content)."""
    digest = hashlib.sha256(b"safefakes-split-fingerprint-1\n")
    digest.update(_file_line(split.root, ANNOTATIONS))
    for name in sorted(im.name for im in split.images):
        digest.update(_file_line(split.root, f"{IMAGES}/{name}"))
    return digest.hexdigest()


def crop_fingerprint(table: CropTable) -> str:
    """SHA-256 of the faces of a crop table in order: image (name, size, content), box, keypoints, identity."""
    digest = hashlib.sha256(b"safefakes-crop-fingerprint-1\n")
    seen: dict[str, bytes] = {}
    for i in range(len(table)):
        name = table.name(i)
        if name not in seen:
            seen[name] = _file_line(table.root, f"{IMAGES}/{name}")
        digest.update(seen[name])
        digest.update(np.ascontiguousarray(table.boxes[i], dtype=np.float64).tobytes())
        if table.keypoints is not None:
            digest.update(np.ascontiguousarray(table.keypoints[i], dtype=np.float64).tobytes())
        digest.update(int(table.identities[i]).to_bytes(8, "little", signed=True))
    digest.update(f"layout={table.keypoint_layout}\n".encode())
    return digest.hexdigest()


__all__ = ["DATA_SHA256", "split_fingerprint", "crop_fingerprint"]
