"""A crop set as a GAN's training data, read from disk as the GAN trains.

Only a compact per-face table stays in memory (box, keypoints, identity: a
few hundred bytes a face, memory-mapped when the crop set has one, see
``safefakes.data.crops``); each crop is decoded and cut when a batch asks for
it, in DataLoader worker processes when there are any. So memory does not grow
with the set: FDF's 1.42M faces train like 2,000.

A sample is the real crop, the blacked-out condition, the mask and the
keypoints, all made by the same ``geometry.crop_face`` that anonymization
uses, so a generator trains on exactly what it will see. Samples are uint8
until they reach the device (``to_batch``), which keeps the transfers small.
Each process keeps the samples it made in a cache of fixed size
(``CACHE_MB``): a small set (the mini study's 1,500 crops at 32 px take
11 MB) is decoded once, a large one streams, and memory stays bounded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from safefakes.anonymizers.gan.geometry import EXPAND, crop_face, real_crop
from safefakes.data.crops import CropTable, read_crop_table
from safefakes.data.images import read_image
from safefakes.errors import InputError
from safefakes.keypoints.layouts import SIZES, convert_keypoints

CACHE_MB = 256.0  # per process; the same bound whatever the crop set's size


class CropDataset(torch.utils.data.Dataset):
    """The first ``faces`` crops of a crop set (its order is the deterministic subset order)."""

    def __init__(self, table: CropTable, resolution: int, layout: str | None, expand: float = EXPAND,
                 cache_mb: float = CACHE_MB) -> None:
        self.table = table
        self.resolution = int(resolution)
        self.layout = layout
        self.expand = expand
        self.n_points = SIZES[layout] if layout else 0
        self.cache_bytes = int(cache_mb * 2**20)
        self._cache: dict[int, dict] = {}
        self._cached = 0

    def __len__(self) -> int:
        return len(self.table)

    @property
    def root(self) -> Path:
        return self.table.root

    def __getitem__(self, i: int) -> dict:
        i = int(i)
        if i in self._cache:
            return self._cache[i]
        sample = self._make(i)
        size = sum(t.numel() * t.element_size() for t in sample.values())
        if self._cached + size <= self.cache_bytes:
            self._cache[i] = sample
            self._cached += size
        return sample

    def _make(self, i: int) -> dict:
        name = self.table.name(i)
        image = read_image(self.table.image_path(i))
        box = self.table.boxes[i]
        face_kp = None
        source_kp = self.table.keypoints
        if self.layout and source_kp is not None:
            face_kp = convert_keypoints(np.asarray(source_kp[i], dtype=np.float64),
                                        self.table.keypoint_layout or self.layout, self.layout)
        crop = crop_face(image, box, self.resolution, face_kp, self.expand)
        if crop is None:
            raise InputError(self.table.annotations_path, f"{name}: its face box lies outside the image",
                             hint="rebuild the crop set with `safefakes crops`")
        kps = np.zeros((self.n_points, 3), np.float32)
        if face_kp is not None:
            kps = crop.keypoints
        return {
            # Channels first in numpy: torch's copy of a permuted tensor spins up its
            # thread pool for each small crop (10 ms a crop measured, 50x numpy's).
            "image": torch.from_numpy(np.ascontiguousarray(real_crop(image, crop.square, self.resolution)
                                                           .transpose(2, 0, 1))),
            "condition": torch.from_numpy(np.ascontiguousarray(crop.image.transpose(2, 0, 1))),
            "mask": torch.from_numpy(crop.mask).unsqueeze(0),
            "keypoints": torch.from_numpy(np.ascontiguousarray(kps, dtype=np.float32)),
            "identity": torch.tensor(int(self.table.identities[i]), dtype=torch.int64),
        }

    def load(self, indices) -> dict:
        """The uint8 samples of ``indices`` stacked, read in this process (sample grids, tests)."""
        return collate_crops([self[int(i)] for i in indices])

    def batch(self, indices, flip: torch.Tensor | None = None,
              flip_pairs: tuple[tuple[int, int], ...] = ()) -> dict:
        """Float tensors in [-1, 1] for ``indices`` on the CPU; ``flip`` (B,) bool mirrors those samples."""
        return to_batch(self.load(indices), "cpu", flip, flip_pairs)


def collate_crops(samples: list[dict]) -> dict:
    # Stacked in numpy: torch.stack wakes its thread pool for every batch
    # (0.12 s a batch of 32 measured on a loaded 2-core machine, 40x numpy's).
    return {key: torch.from_numpy(np.stack([s[key].numpy() for s in samples])) for key in samples[0]}


def to_batch(raw: dict, device: torch.device | str, flip: torch.Tensor | None = None,
             flip_pairs: tuple[tuple[int, int], ...] = ()) -> dict:
    """uint8 samples -> float tensors in [-1, 1] on ``device`` (non-blocking from pinned memory)."""
    moved = {k: v.to(device, non_blocking=True) for k, v in raw.items()}
    out = {
        "image": moved["image"].float() / 127.5 - 1,
        "condition": moved["condition"].float() / 127.5 - 1,
        "mask": moved["mask"].float(),
        "keypoints": moved["keypoints"].clone(),
        "identity": moved["identity"],
    }
    if flip is not None and bool(flip.any()):
        f = flip.to(out["image"].device)
        for key in ("image", "condition", "mask"):
            out[key][f] = out[key][f].flip(-1)
        kp = out["keypoints"]
        sel = kp[f]
        sel[..., 0] = torch.where(sel[..., 2] > 0, 1 - sel[..., 0], sel[..., 0])
        for a, b in flip_pairs:
            sel[:, [a, b]] = sel[:, [b, a]]
        kp[f] = sel
    return out


def open_crop_dataset(crop_dir: str | Path, resolution: int, layout: str | None,
                      faces: int | None = None, expand: float = EXPAND, cache_mb: float = CACHE_MB) -> CropDataset:
    """The first ``faces`` crops of the crop set at ``crop_dir`` for a model of ``resolution`` px.

    layout: the keypoint layout the model wants (None: no keypoints). Crops
    without keypoints train with empty maps, as DeepPrivacy does.
    """
    table = read_crop_table(crop_dir)
    if faces is not None:
        if faces > len(table):
            raise InputError(crop_dir, f"--faces {faces} asked for, but the crop set holds {len(table)} faces",
                             hint="import a larger crop set or lower --faces")
        table = table.first(faces)
    if len(table) == 0:
        raise InputError(crop_dir, "the crop set holds no faces")
    if layout:
        # A GAN that needs keypoints must not learn on empty maps and then see
        # real ones at anonymization: the crop set must carry convertible points.
        fix = f"import the crop set with the keypoints this GAN needs (`safefakes crops ... --keypoints {layout}`)"
        if table.keypoints is None:
            raise InputError(crop_dir, f"the crop set has no keypoints; this GAN needs {layout}", hint=fix)
        try:
            convert_keypoints(np.zeros((table.keypoints.shape[1], 3)), table.keypoint_layout or layout, layout)
        except ValueError as exc:
            raise InputError(crop_dir, f"its {table.keypoint_layout} keypoints cannot give the {layout} points "
                                       f"this GAN needs ({exc})", hint=fix) from exc
    return CropDataset(table, resolution, layout, expand, cache_mb)
