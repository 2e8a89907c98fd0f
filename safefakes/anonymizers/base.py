"""The one interface every anonymizer implements, conventional and GAN alike.

An anonymizer takes one RGB image, its face boxes (and keypoints where the
method needs them) and a random generator seeded per image by the dataset
engine, and returns the anonymized image with one status per face. It never
modifies its input array.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

import numpy as np


class Status:
    """Per-face outcomes written to ``manifest.csv``."""

    ANONYMIZED = "anonymized"
    # Below the configured minimum face size: left as is, and recorded.
    TOO_SMALL = "too_small_left_as_is"
    # The method needs keypoints and had none: it ran its documented fallback
    # (e.g. DeepPrivacy/Sun2018 with empty keypoint maps).
    NO_KEYPOINTS_FALLBACK = "no_keypoints_fallback"
    # The method cannot anonymize without landmarks: the box was blacked out (CIAGAN).
    NO_LANDMARKS_BLACKED_OUT = "no_landmarks_blacked_out"
    # Zero or negative width/height: there is no face region to change.
    DEGENERATE_BOX = "degenerate_box"
    # The box lies wholly outside the image.
    OUTSIDE_IMAGE = "outside_image"
    # The whole image was transformed (fullblur); the face is covered by that.
    WHOLE_IMAGE = "anonymized_whole_image"
    # The 'original' method: the study's un-anonymized baseline.
    ORIGINAL = "original_not_anonymized"

    # Statuses under which the face region was changed.
    CHANGED = frozenset({ANONYMIZED, NO_KEYPOINTS_FALLBACK, NO_LANDMARKS_BLACKED_OUT, WHOLE_IMAGE})


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


def image_seed(seed: int, image_name: str) -> int:
    """A per-image seed independent of processing order (parallel = serial bytes)."""
    digest = hashlib.sha256(f"{seed}:{image_name}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def clip_box(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Integer x1, y1, x2, y2 of a WIDER box clipped to the image; None if empty."""
    x, y, w, h = (float(v) for v in box[:4])
    x1 = max(int(np.floor(x)), 0)
    y1 = max(int(np.floor(y)), 0)
    x2 = min(int(np.ceil(x + w)), width)
    y2 = min(int(np.ceil(y + h)), height)
    if x2 <= x1 or y2 <= y1:
        return None
    return x1, y1, x2, y2
