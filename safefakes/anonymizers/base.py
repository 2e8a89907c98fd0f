"""The one interface every anonymizer implements, conventional and GAN alike.

An anonymizer takes one RGB image, its face boxes (and keypoints where the
method needs them) and a random generator seeded per image by the dataset
engine, and returns the anonymized image with one status per face. It never
modifies its input array.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class AnonymizedImage:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    statuses: list[str]  # one per input face, in input order


class Anonymizer(ABC):
    """Base class of every method. Subclasses set ``name`` and implement ``anonymize``."""

    name: str = ""
    #: Which keypoint layout the method needs (None: boxes only).
    needs_keypoints: str | None = None
    #: Whether ``anonymize`` draws from ``rng``. A deterministic method sets
    #: False and the dataset engine passes ``rng=None`` (saving a generator
    #: per image); methods that leave it True get their per-image generator.
    uses_rng: bool = True
    #: Whether ``anonymize_many`` shares work between images (a GAN's batches):
    #: the dataset engine then hands it a chunk of images at once.
    batches_images: bool = False
    #: Whether the method changes the whole image (fullblur): the dataset
    #: engine then transforms images without faces too.
    whole_image: bool = False
    #: Whether the method returns its input unchanged (original): the dataset
    #: engine then copies every file byte for byte.
    identity: bool = False

    @abstractmethod
    def anonymize(
        self,
        image: np.ndarray,
        boxes: np.ndarray,
        keypoints: np.ndarray | None = None,
        rng: np.random.Generator | None = None,
    ) -> AnonymizedImage:
        """Anonymize every face of ``image``.

        image: (H, W, 3) uint8 RGB, not modified.
        boxes: (N, 4) x, y, w, h in pixels (WIDER convention).
        keypoints: (N, K, 3) x, y, visible in image pixels, or None.
        rng: the per-image generator; all randomness comes from it.
        """

    def anonymize_many(self, items: Sequence[tuple]) -> list[AnonymizedImage]:
        """``anonymize`` of each (image, boxes, keypoints, rng); the output of one image never
        depends on the others. Methods that can share work between images override it."""
        return [self.anonymize(*item) for item in items]

    def describe(self) -> dict:
        """The options that determine the output (written next to the manifest)."""
        return {"method": self.name}
