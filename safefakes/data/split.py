"""A split: ``images/<event>/<name>.jpg`` plus ``annotations.txt`` and sidecars.

Optional sidecars: ``keypoints.json`` (per face, a list of ``[x, y, visible]``
in a named layout), ``identities.json`` (per face, an identity id) and, for a
validation split, the four official-style ``wider_*_val.mat`` files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from safefakes.data.images import write_text_atomic
from safefakes.data.wider_files import (
    MAT_FILES,
    SUBSET_MIN_HEIGHT,
    SUBSETS,
    GroundTruth,
    GroundTruthImage,
    ImageFaces,
    read_annotations,
    read_ground_truth,
    write_annotations,
    write_ground_truth,
)
from safefakes.errors import InputError

ANNOTATIONS = "annotations.txt"
KEYPOINTS = "keypoints.json"
IDENTITIES = "identities.json"
IMAGES = "images"


def height_proxy_subsets(image: ImageFaces) -> dict[str, np.ndarray]:
    """Kept faces per subset from box height alone (0-based indices)."""
    h = image.boxes[:, 3]
    valid = ~image.invalid
    return {s: np.flatnonzero((h > SUBSET_MIN_HEIGHT[s]) & valid) for s in SUBSETS}


@dataclass
class Split:
    """A WIDER-format split folder, loaded into memory (annotations only)."""

    root: Path
    images: list[ImageFaces]
    keypoints: dict[str, np.ndarray] | None = None  # name -> (N, K, 3) x, y, visible
    keypoint_layout: str | None = None
    identities: dict[str, np.ndarray] | None = None  # name -> (N,) int identity ids
    # identity id -> parameter vector, where the data's generator knows them (synthetic set)
    identity_vectors: dict[int, np.ndarray] | None = None
    ground_truth: GroundTruth | None = None  # official subsets, when the .mat files exist
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self._index = {im.name: i for i, im in enumerate(self.images)}

    # -- access ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, name: str) -> ImageFaces:
        return self.images[self._index[name]]

    def __contains__(self, name: str) -> bool:
        return name in self._index

    @property
    def n_faces(self) -> int:
        return int(sum(len(im) for im in self.images))

    def image_path(self, name: str) -> Path:
        return self.root / IMAGES / name

    def subsets(self) -> dict[str, dict[str, np.ndarray]]:
        """image name -> subset -> kept face indices (official when present, else the height proxy)."""
        out: dict[str, dict[str, np.ndarray]] = {}
        official = {}
        if self.ground_truth is not None:
            official = {im.key: im.kept for im in self.ground_truth.images}
        for im in self.images:
            key = f"{im.event}/{im.stem}"
            out[im.name] = official.get(key) or height_proxy_subsets(im)
        return out

    def to_ground_truth(self) -> GroundTruth:
        """The split as official-style ground truth (for the evaluator and .mat files)."""
        subsets = self.subsets()
        events: list[str] = []
        gts = []
        for im in sorted(self.images, key=lambda im: (im.event, im.name)):
            if im.event not in events:
                events.append(im.event)
            gts.append(GroundTruthImage(im.event, im.stem, im.boxes.astype(np.float64),
                                        subsets[im.name], im.attributes))
        return GroundTruth(events, gts)

    # -- IO -------------------------------------------------------------------
    @classmethod
    def load(cls, root: str | Path, sidecars: bool = True) -> "Split":
        """The split at ``root``; ``sidecars=False`` reads only the images and boxes
        (keypoints.json, identities.json and the .mat files left unparsed)."""
        root = Path(root)
        ann_path = root / ANNOTATIONS
        if not root.is_dir():
            raise InputError(root, "split folder not found",
                             hint="a split is a folder with images/ and annotations.txt")
        if not ann_path.exists():
            raise InputError(ann_path, "annotations.txt missing: this folder is not a split",
                             hint="a split is a folder with images/ and annotations.txt in WIDER bbx_gt format")
        images = read_annotations(ann_path)
        if not sidecars:
            return cls(root, images)
        keypoints = layout = identities = vectors = gt = None
        if (root / KEYPOINTS).exists():
            keypoints, layout = _read_keypoints(root / KEYPOINTS, images)
        if (root / IDENTITIES).exists():
            identities, vectors = _read_identities(root / IDENTITIES, images)
        if all((root / f).exists() for f in MAT_FILES.values()):
            gt = read_ground_truth(root)
        return cls(root, images, keypoints, layout, identities, vectors, gt)

    def save_metadata(self, root: str | Path | None = None, with_mat: bool = False) -> None:
        """Write annotations.txt and the sidecars present (images are not touched)."""
        root = Path(root) if root is not None else self.root
        write_annotations(root / ANNOTATIONS, self.images)
        if self.keypoints is not None:
            payload = {
                "layout": self.keypoint_layout,
                "faces": {n: np.round(np.asarray(k, dtype=np.float64), 2).tolist()
                          for n, k in self.keypoints.items()},
            }
            write_text_atomic(root / KEYPOINTS, json.dumps(payload, separators=(",", ":")) + "\n")
        if self.identities is not None:
            payload: dict = {"faces": {n: [int(v) for v in ids] for n, ids in self.identities.items()}}
            if self.identity_vectors is not None:
                payload["vectors"] = {str(k): np.round(np.asarray(v, dtype=np.float64), 6).tolist()
                                      for k, v in self.identity_vectors.items()}
            write_text_atomic(root / IDENTITIES, json.dumps(payload, separators=(",", ":")) + "\n")
        if with_mat:
            write_ground_truth(root, self.to_ground_truth())


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON: {exc.msg}", line=exc.lineno) from exc


def _read_keypoints(path: Path, images: list[ImageFaces]) -> tuple[dict[str, np.ndarray], str | None]:
    data = _read_json(path)
    if not isinstance(data, dict) or "faces" not in data:
        raise InputError(path, "expected an object with 'layout' and 'faces'")
    counts = {im.name: len(im) for im in images}
    out = {}
    for name, pts in data["faces"].items():
        arr = np.asarray(pts, dtype=np.float64)
        if name not in counts:
            raise InputError(path, f"keypoints for {name!r}, which is not in annotations.txt")
        if arr.size == 0:
            arr = arr.reshape(0, 0, 3)
        if arr.ndim != 3 or arr.shape[0] != counts[name] or arr.shape[2] != 3:
            raise InputError(path, f"{name}: keypoints have shape {arr.shape}, expected "
                                   f"({counts[name]}, K, 3) for its {counts[name]} faces")
        out[name] = arr
    return out, data.get("layout")


def _read_identities(
    path: Path, images: list[ImageFaces]
) -> tuple[dict[str, np.ndarray], dict[int, np.ndarray] | None]:
    data = _read_json(path)
    if not isinstance(data, dict) or "faces" not in data:
        raise InputError(path, "expected an object with 'faces'")
    counts = {im.name: len(im) for im in images}
    out = {}
    for name, ids in data["faces"].items():
        if name not in counts:
            raise InputError(path, f"identities for {name!r}, which is not in annotations.txt")
        if len(ids) != counts[name]:
            raise InputError(path, f"{name}: {len(ids)} identities for {counts[name]} faces")
        out[name] = np.asarray(ids, dtype=np.int64)
    vectors = None
    if "vectors" in data:
        vectors = {int(k): np.asarray(v, dtype=np.float64) for k, v in data["vectors"].items()}
    return out, vectors
