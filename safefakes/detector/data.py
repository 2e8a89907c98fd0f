"""Training samples from a split: the data order and the augmentation are pure functions of the seed.

Sample ``k`` of a run (k = iteration * batch_size + position) is image
``permutation(epoch)[k mod n]`` augmented with a generator seeded by
``(seed, k)``. Resuming at iteration ``i`` therefore needs no saved iterator:
it continues at sample ``i * batch_size``, bit for bit, whatever the number
of loader workers.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from safefakes.data.images import read_image
from safefakes.data.split import Split
from safefakes.detector.augment import augment
from safefakes.errors import InputError


def training_boxes(split: Split) -> dict[str, np.ndarray]:
    """Per image, the faces to learn: x1 y1 x2 y2, without invalid or degenerate boxes."""
    out = {}
    for im in split.images:
        keep = ~(im.invalid | im.degenerate)
        b = im.boxes[keep].astype(np.float64)
        out[im.name] = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1).reshape(-1, 4)
    return out


class FaceTrainingSet(torch.utils.data.Dataset):
    """Augmented training samples of a split, indexed by the run's sample number."""

    def __init__(self, split: Split | str | Path, config, seed: int | None = None, cache: bool = True) -> None:
        self.split = split if isinstance(split, Split) else Split.load(split)
        if len(self.split) == 0:
            raise InputError(self.split.root / "annotations.txt", "the training split lists no images",
                             hint="train on a split with annotated images")
        self.config = config
        self.seed = int(config.seed if seed is None else seed)
        self.names = [im.name for im in self.split.images]
        self.boxes = training_boxes(self.split)
        self.cache = cache
        self._images: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        # Sample numbers are unbounded; a DataLoader only sees them through the batch sampler.
        return 2**62

    @property
    def n_images(self) -> int:
        return len(self.names)

    @lru_cache(maxsize=4)  # noqa: B019 - the set lives as long as its training; 4 permutations are kept
    def permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, 1, epoch]).permutation(self.n_images)

    def image_for_sample(self, k: int) -> str:
        epoch, position = divmod(int(k), self.n_images)
        return self.names[int(self.permutation(epoch)[position])]

    def load(self, name: str) -> np.ndarray:
        if name in self._images:
            return self._images[name]
        image = read_image(self.split.image_path(name))
        if self.cache:
            self._images[name] = image
        return image

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        name = self.image_for_sample(k)
        rng = np.random.default_rng([self.seed, 2, int(k)])
        image, boxes = augment(self.load(name), self.boxes[name], rng, self.config)
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), torch.from_numpy(boxes)


class BatchOrder(torch.utils.data.Sampler):
    """Batches of sample numbers for iterations ``start .. stop - 1``."""

    def __init__(self, start: int, stop: int, batch_size: int) -> None:
        self.start, self.stop, self.batch_size = int(start), int(stop), int(batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        for it in range(self.start, self.stop):
            yield list(range(it * self.batch_size, (it + 1) * self.batch_size))

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def collate(samples: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    images = torch.stack([s[0] for s in samples])
    return images, [s[1] for s in samples]


def training_loader(dataset: FaceTrainingSet, start: int, stop: int, batch_size: int,
                    workers: int = 0) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        dataset, batch_sampler=BatchOrder(start, stop, batch_size), collate_fn=collate,
        num_workers=workers, persistent_workers=False)


__all__ = ["FaceTrainingSet", "BatchOrder", "collate", "training_loader", "training_boxes"]
