"""A trained GAN as an ``Anonymizer``: crop each face, generate, paste into the tight box.

Works for any method that ``safefakes.anonymizers.gan.get_method`` knows; the
checkpoint says which method and model config it holds. The device follows
CUDA_VISIBLE_DEVICES ('auto': the first visible GPU, else the CPU). All faces
of an image go through the generator in one batch; their latents are drawn
from the per-image ``rng`` in face order, so results do not depend on batching.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from safefakes.anonymizers.base import AnonymizedImage, Anonymizer
from safefakes.anonymizers.gan import get_method
from safefakes.anonymizers.gan.geometry import EXPAND, crop_face, paste_face, paste_order
from safefakes.data.anonymized import Status
from safefakes.data.boxes import clip_box
from safefakes.devices import resolve_device
from safefakes.errors import InputError, MissingWeightsError
from safefakes.keypoints.layouts import SIZES, convert_keypoints

MIN_FACE_SIZE = 10  # px; smaller faces are left as is and recorded (too small to inpaint)
_LAYOUT_BY_SIZE = {n: name for name, n in SIZES.items()}


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError("GAN anonymizer checkpoint", path, "anonymizers.<method>.checkpoint",
                                  "`safefakes train-anonymizer` (its OUT_DIR/checkpoint.pt)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for a damaged file
        raise InputError(path, f"cannot read the checkpoint: {exc}",
                         hint="train again or point --checkpoint at OUT_DIR/checkpoint.pt") from exc
    if not isinstance(state, dict) or "ema_generator" not in state or "method" not in state:
        raise InputError(path, "not a safefakes GAN checkpoint (no 'method' / 'ema_generator')",
                         hint="use the checkpoint.pt written by `safefakes train-anonymizer`")
    return state


class GANAnonymizer(Anonymizer):
    """Inpaint every face with a trained generator (its EMA weights)."""

    batches_images = True

    def __init__(self, checkpoint: str | Path, device: str = "auto", min_size: int = MIN_FACE_SIZE,
                 expand: float = EXPAND, batch_size: int = 64, expect_method: str | None = None) -> None:
        state = load_checkpoint(checkpoint)
        if expect_method is not None and state["method"] != expect_method:
            raise InputError(checkpoint, f"this is a {state['method']} checkpoint, not {expect_method}",
                             hint=f"train one with `safefakes train-anonymizer --method {expect_method}`")
        self.checkpoint = str(checkpoint)
        self.method = get_method(state["method"], state["model_config"])
        self.name = self.method.name
        self.needs_keypoints = self.method.keypoint_layout
        self.device = resolve_device(device)
        self.G = self.method.make_generator()
        self.G.load_state_dict(state["ema_generator"])
        self.G.to(self.device).eval().requires_grad_(False)
        self.min_size = min_size
        self.expand = expand
        self.batch_size = batch_size
        self.images_shown = int(state.get("images_shown", 0))
        self._configure(state)

    def _configure(self, state: dict) -> None:
        """Hook for a method that needs more of its checkpoint than the generator."""

    def _faces_to_do(self, boxes: np.ndarray, width: int, height: int) -> tuple[list[str], list[int]]:
        """Per-face statuses, and the faces to replace (the others are recorded and left as they are)."""
        statuses = [Status.ANONYMIZED] * len(boxes)
        todo: list[int] = []
        for i, (_x, _y, w, h) in enumerate(boxes):
            if w <= 0 or h <= 0:
                statuses[i] = Status.DEGENERATE_BOX
            elif clip_box(boxes[i], width, height) is None:
                statuses[i] = Status.OUTSIDE_IMAGE
            elif min(w, h) < self.min_size:
                statuses[i] = Status.TOO_SMALL
            else:
                todo.append(i)
        return statuses, todo

    def describe(self) -> dict:
        return {"method": self.name, "checkpoint": self.checkpoint, "images_shown": self.images_shown,
                "resolution": self.method.resolution, "min_size": self.min_size, "expand": self.expand}

    def _face_keypoints(self, keypoints: np.ndarray | None, i: int) -> np.ndarray | None:
        if keypoints is None or self.needs_keypoints is None:
            return None
        kp = np.asarray(keypoints[i], dtype=np.float64)
        if kp.size == 0 or not (kp[:, 2] > 0).any():
            return None
        source = _LAYOUT_BY_SIZE.get(kp.shape[0])
        if source is None:
            raise ValueError(f"{kp.shape[0]} keypoints per face: not a known layout ({SIZES})")
        return convert_keypoints(kp, source, self.needs_keypoints)

    def anonymize(self, image: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray | None = None,
                  rng: np.random.Generator | None = None) -> AnonymizedImage:
        return self.anonymize_many([(image, boxes, keypoints, rng)])[0]

    def anonymize_many(self, items: Sequence[tuple]) -> list[AnonymizedImage]:
        """``anonymize`` of several (image, boxes, keypoints, rng), the faces of all in shared batches.

        A tiny generator costs about as much for one face as for sixty-four on
        the CPU, so the dataset engine hands over a chunk of images at once.
        Each face's output depends only on its own crop and latent (checked by
        the tests), so the bytes are those of one image at a time.
        """
        jobs = [self._prepare_image(*item) for item in items]
        faces = [(job, i) for job in jobs for i in job.todo]
        for start in range(0, len(faces), self.batch_size):
            chunk = faces[start:start + self.batch_size]
            batch = {
                "condition": torch.from_numpy(np.stack([job.crops[i].image for job, i in chunk]))
                .permute(0, 3, 1, 2).float().div(127.5).sub(1).to(self.device),
                "mask": torch.from_numpy(np.stack([job.crops[i].mask for job, i in chunk])).unsqueeze(1).float()
                .to(self.device),
                "keypoints": torch.from_numpy(np.stack([job.keypoints[i] for job, i in chunk])).float()
                .to(self.device),
            }
            z = torch.stack([job.z[i] for job, i in chunk]).to(self.device)
            with torch.no_grad():
                fake = self.method.generate(self.G, batch, z)
            arr = ((fake.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
            for (job, i), face in zip(chunk, arr):
                job.generated[i] = face
        for job in jobs:
            for i in paste_order(job.boxes):
                if i in job.generated:
                    paste_face(job.out, job.generated[i], job.crops[i])
        return [AnonymizedImage(job.out, job.statuses) for job in jobs]

    def _prepare_image(self, image: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray | None = None,
                       rng: np.random.Generator | None = None) -> "_ImageJob":
        """Statuses, crops and latents of one image's faces (nothing generated yet)."""
        rng = rng if rng is not None else np.random.default_rng(0)
        H, W = image.shape[:2]
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        n = len(boxes)
        statuses, todo = self._faces_to_do(boxes, W, H)
        # One latent per face, drawn in face order whatever is processed.
        z_all = self.method.latent_from_numpy(n, rng) if n else None
        job = _ImageJob(image.copy(), statuses, boxes, todo, z_all)
        # Every face to be replaced is blacked out in every crop: no face's pixels
        # reach the generator, not even through a neighbour's context.
        hide = [clip_box(boxes[i], W, H) for i in todo]
        k = 0 if self.needs_keypoints is None else SIZES[self.needs_keypoints]
        for i in todo:
            kp = self._face_keypoints(keypoints, i)
            if kp is None and self.needs_keypoints is not None:
                statuses[i] = Status.NO_KEYPOINTS_FALLBACK
            job.crops[i] = crop_face(image, boxes[i], self.method.resolution, kp, self.expand, hide)
            job.keypoints[i] = job.crops[i].keypoints if kp is not None else np.zeros((k, 3), np.float32)
        return job


@dataclass
class _ImageJob:
    """One image on its way through ``GANAnonymizer.anonymize_many``."""

    out: np.ndarray  # the output image, faces pasted in at the end
    statuses: list[str]
    boxes: np.ndarray
    todo: list[int]  # the faces to generate
    z: torch.Tensor | None  # one latent per face of the image
    crops: dict = field(default_factory=dict)  # face -> FaceCrop
    keypoints: dict = field(default_factory=dict)  # face -> keypoints in crop coordinates
    generated: dict = field(default_factory=dict)  # face -> generated crop
