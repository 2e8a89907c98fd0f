"""The Inception features of the original split's faces, computed once for every anonymized split.

FID and KID compare each anonymized split with the same original faces, and
Inception at 299 px is the costly part of the image metrics on a CPU: without
this file every split's job would run the original's faces through it again
(nine times in the default study). ``compute_reference_features`` measures the
faces that ``compute_image_metrics`` would draw for a split that anonymized
every face (the same seeded sample), and the file keys each feature vector by
image name and face index. A split whose sample holds other faces still gets
them measured in its own job.

The file records what the features depend on (the split's annotations, the
crop size, the Inception weights); ``ReferenceFeatures.check`` refuses a file
made for another split or network instead of mixing features of two.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from safefakes.data.images import atomic_path
from safefakes.data.split import ANNOTATIONS
from safefakes.errors import InputError
from safefakes.evaluation.face_pairs import iter_image_pairs, stream_crops
from safefakes.evaluation.fid import inception_features
from safefakes.evaluation.settings import DEFAULT_BATCH_SIZE

FORMAT = "safefakes-reference-features-1"


def split_fingerprint(split_root: str | Path) -> str:
    """SHA-256 of a split's annotations: the faces (names, boxes) the keys refer to."""
    return hashlib.sha256((Path(split_root) / ANNOTATIONS).read_bytes()).hexdigest()


@dataclass
class ReferenceFeatures:
    """Inception pool features (float32) of original faces, by (image name, face index)."""

    rows: dict[tuple[str, int], int]
    features: np.ndarray
    info: dict
    path: Path | None = None

    def lookup(self, names: list[str], indices: np.ndarray) -> np.ndarray | None:
        """The (n, 2048) float64 features of these faces, or None when any one is not in the file."""
        try:
            rows = [self.rows[(name, int(i))] for name, i in zip(names, indices)]
        except KeyError:
            return None
        return self.features[rows].astype(np.float64)

    def check(self, original_root: str | Path, crop_size: int, fid_inception: str) -> None:
        """Refuse features of another split, crop size or Inception network."""
        expected = {"split_sha256": split_fingerprint(original_root), "crop_size": int(crop_size),
                    "fid_inception": str(fid_inception)}
        wrong = [f"{key} {self.info.get(key)!r}, not {value!r}" for key, value in expected.items()
                 if self.info.get(key) != value]
        if wrong:
            raise InputError(self.path or "<reference features>",
                             f"made for other faces or another network ({'; '.join(wrong)})",
                             hint=f"delete it and compute it again for {original_root}")

    def save(self, path: str | Path) -> None:
        """An ``.npz`` archive whose bytes depend on its contents only (numpy dates its members 1980-01-01)."""
        names = sorted(self.rows, key=self.rows.get)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, format=np.array(FORMAT), info=np.array(json.dumps(self.info, sort_keys=True)),
                     images=np.array([n for n, _ in names], dtype=str),
                     face_index=np.array([i for _, i in names], dtype=np.int64),
                     features=self.features.astype(np.float32))

    @classmethod
    def load(cls, path: str | Path) -> "ReferenceFeatures":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["format"]) != FORMAT:
                    raise InputError(path, f"not a reference-features file (format {str(data['format'])!r})")
                info = json.loads(str(data["info"]))
                images, face_index, features = data["images"], data["face_index"], data["features"]
        except FileNotFoundError as exc:
            raise InputError(path, "reference-features file not found",
                             hint="compute it with compute_reference_features (rule reference_features)") from exc
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(path, f"cannot read the reference features ({type(exc).__name__}: {exc})",
                             hint="delete it and compute it again") from exc
        rows = {(str(n), int(i)): k for k, (n, i) in enumerate(zip(images, face_index))}
        return cls(rows, features, info, path)


def compute_reference_features(
    original_root: str | Path,
    *,
    min_size: int,
    crop_size: int,
    inception_weights: str | Path | None = None,
    allow_random_init: bool = False,
    max_faces: int | None = None,
    distribution_faces: int | None = None,
    seed: int = 0,
    device: str | None = None,
) -> ReferenceFeatures:
    """Features of the faces ``compute_image_metrics`` draws for FID and KID from ``original_root``.

    Arguments as there: the sample is that of a split that anonymized every
    face of at least ``min_size`` px (``distribution_faces`` of them, or the
    ``max_faces`` sample of the per-pair metrics when it is None).
    """
    from safefakes.devices import resolve_device
    from safefakes.evaluation.backbones import load_fid_inception

    device = resolve_device(device)
    inception, inception_file = load_fid_inception(inception_weights, allow_random_init)
    inception = inception.to(device)
    sample = distribution_faces if distribution_faces is not None else max_faces
    keys: list[tuple[str, int]] = []
    chunks: list[np.ndarray] = []

    def consume(batch: list) -> None:
        keys.extend((name, int(i)) for name, idx, _, _ in batch for i in idx)
        chunks.append(inception_features(inception, np.concatenate([o for _, _, o, _ in batch]), device)
                      .astype(np.float32))

    # The original paired with itself: every face counts as anonymized.
    stream_crops(iter_image_pairs(original_root, original_root, min_size, None, sample, seed),
                  crop_size, DEFAULT_BATCH_SIZE, consume)
    features = np.concatenate(chunks) if chunks else np.zeros((0, 2048), dtype=np.float32)
    info = {"split_sha256": split_fingerprint(original_root), "crop_size": int(crop_size),
            "fid_inception": str(inception_file), "min_size": int(min_size), "faces": len(keys),
            "sample": sample, "seed": int(seed), "split": str(original_root)}
    return ReferenceFeatures({key: k for k, key in enumerate(keys)}, features, info)


__all__ = ["ReferenceFeatures", "compute_reference_features", "split_fingerprint"]
