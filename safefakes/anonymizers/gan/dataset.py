"""A crop set as training tensors for a GAN: real crop, blacked-out condition, mask, keypoints.

The condition is made by the same ``geometry.crop_face`` that anonymization
uses, so a generator trains on exactly what it will see.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from safefakes.anonymizers.gan.geometry import EXPAND, crop_face, real_crop
from safefakes.data.images import read_image
from safefakes.data.split import Split
from safefakes.errors import InputError
from safefakes.keypoints.layouts import SIZES, convert_keypoints


@dataclass
class CropTensors:
    """Every crop of a crop set, prepared once (uint8 images keep the memory small)."""

    images: torch.Tensor  # (N, 3, R, R) uint8, the real crops
    conditions: torch.Tensor  # (N, 3, R, R) uint8, the box blacked out
    masks: torch.Tensor  # (N, 1, R, R) bool, True = known pixel
    keypoints: torch.Tensor  # (N, K, 3) float32, x, y in [0, 1], visible
    identities: torch.Tensor  # (N,) int64, -1 where unknown
    names: list[str]

    def __len__(self) -> int:
        return len(self.images)

    def to(self, device: str | torch.device) -> "CropTensors":
        return CropTensors(self.images.to(device), self.conditions.to(device), self.masks.to(device),
                           self.keypoints.to(device), self.identities.to(device), self.names)

    def batch(self, indices: torch.Tensor, flip: torch.Tensor | None = None,
              flip_pairs: tuple[tuple[int, int], ...] = ()) -> dict:
        """Float tensors in [-1, 1] for ``indices``; ``flip`` (B,) bool mirrors those samples."""
        idx = indices.to(self.images.device)
        out = {
            "image": self.images[idx].float() / 127.5 - 1,
            "condition": self.conditions[idx].float() / 127.5 - 1,
            "mask": self.masks[idx].float(),
            "keypoints": self.keypoints[idx].clone(),
            "identity": self.identities[idx],
        }
        if flip is not None and bool(flip.any()):
            f = flip.to(idx.device)
            for key in ("image", "condition", "mask"):
                out[key][f] = out[key][f].flip(-1)
            kp = out["keypoints"]
            sel = kp[f]
            sel[..., 0] = torch.where(sel[..., 2] > 0, 1 - sel[..., 0], sel[..., 0])
            for a, b in flip_pairs:
                sel[:, [a, b]] = sel[:, [b, a]]
            kp[f] = sel
        return out


def load_crop_tensors(crop_dir: str | Path, resolution: int, layout: str | None,
                      faces: int | None = None, expand: float = EXPAND) -> CropTensors:
    """Prepare the first ``faces`` crops of a crop set (its order is the deterministic subset order).

    layout: the keypoint layout the model wants (None: no keypoints). Crops
    without keypoints train with empty maps, as DeepPrivacy does.
    """
    split = Split.load(crop_dir)
    entries = [(im, j) for im in split.images for j in range(len(im))]
    if faces is not None:
        if faces > len(entries):
            raise InputError(crop_dir, f"--faces {faces} asked for, but the crop set holds {len(entries)} faces",
                             hint="build a larger crop set or lower --faces")
        entries = entries[:faces]
    if not entries:
        raise InputError(crop_dir, "the crop set holds no faces")
    k = SIZES[layout] if layout else 0
    n = len(entries)
    images = np.zeros((n, resolution, resolution, 3), np.uint8)
    conditions = np.zeros_like(images)
    masks = np.zeros((n, resolution, resolution), bool)
    kps = np.zeros((n, k, 3), np.float32)
    ids = np.full(n, -1, np.int64)
    for i, (im, j) in enumerate(entries):
        img = read_image(split.image_path(im.name))
        face_kp = None
        if layout and split.keypoints is not None and im.name in split.keypoints:
            src = split.keypoint_layout or layout
            face_kp = convert_keypoints(split.keypoints[im.name][j], src, layout)
        crop = crop_face(img, im.boxes[j], resolution, face_kp, expand)
        if crop is None:
            raise InputError(split.root / "annotations.txt", f"{im.name}: face {j} lies outside its image")
        images[i] = real_crop(img, crop.square, resolution)
        conditions[i] = crop.image
        masks[i] = crop.mask
        if face_kp is not None:
            kps[i] = crop.keypoints
        if split.identities is not None and im.name in split.identities:
            ids[i] = split.identities[im.name][j]
    return CropTensors(
        torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(conditions).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(masks).unsqueeze(1),
        torch.from_numpy(kps),
        torch.from_numpy(ids),
        [im.name for im, _ in entries],
    )
