"""``fullblur``: the whole image blurred with one Gaussian (the paper's "Fullblur").

A fixed kernel (the study's 15), or (``kernel=0``) one sized by the image's
largest face as the face blur sizes it (``DEFAULT_KERNEL`` when there is none),
with the same ``exact`` option as ``blur``. The faces are covered by that and
are not treated one by one.
"""

from __future__ import annotations

import numpy as np

from safefakes.anonymizers.base import AnonymizedImage, Anonymizer
from safefakes.anonymizers.face_region import PHOTO_MASK_SCALE, PHOTO_REGION, as_boxes, check_image
from safefakes.anonymizers.gaussian import (
    DEFAULT_KERNEL,
    FACE_KERNEL_SHARE,
    blur_filter,
    face_kernel,
    gaussian_filter,
)
from safefakes.anonymizers.regions import check_region_options, skip_status
from safefakes.data.anonymized import Status


class FullBlur(Anonymizer):
    """The whole image blurred with one kernel (the paper's "Fullblur"): fixed, or (``kernel=0``)
    sized by the image's largest face."""

    name = "fullblur"
    whole_image = True  # the engine transforms images without faces too
    uses_rng = False

    def __init__(self, kernel: int = 0, sigma: float = 0.0, exact: bool = False,
                 kernel_share: float = FACE_KERNEL_SHARE, mask_scale: float = PHOTO_MASK_SCALE) -> None:
        if not np.isfinite(kernel_share) or kernel_share <= 0:
            raise ValueError(f"kernel_share must be > 0, got {kernel_share}")
        check_region_options(PHOTO_REGION, float(mask_scale), 0.0)
        self.kernel_share, self.mask_scale = float(kernel_share), float(mask_scale)
        self.filter, self.kernel, self.sigma, self.exact = blur_filter(kernel, sigma, exact)
        self.scaled = self.filter is None

    def anonymize(self, image, boxes, keypoints=None, rng=None) -> AnonymizedImage:
        check_image(image)
        boxes = as_boxes(boxes)
        height, width = image.shape[:2]
        # Every face with pixels in the image is covered, small ones included.
        statuses = [skip_status(box, width, height) or Status.WHOLE_IMAGE for box in boxes.tolist()]
        out = self._filter_for(boxes, statuses).blur(image)
        return AnonymizedImage(out, statuses)

    def _filter_for(self, boxes: np.ndarray, statuses: list[str]):
        if self.filter is not None:
            return self.filter
        # As strong as the face blur of the largest face (its grown region), and
        # never weaker than the study's fixed kernel.
        sizes = [max(float(box[2]), float(box[3])) * self.mask_scale
                 for box, status in zip(boxes.tolist(), statuses) if status == Status.WHOLE_IMAGE]
        kernel = max([DEFAULT_KERNEL] + [face_kernel(int(size), int(size), self.kernel_share) for size in sizes])
        return gaussian_filter(kernel, 0.0, self.exact)

    def describe(self) -> dict:
        described = {"method": self.name, "kernel": self.kernel, "sigma": self.sigma, "exact": self.exact}
        if self.scaled:
            described.update(kernel_share=self.kernel_share, mask_scale=self.mask_scale)
        return described
