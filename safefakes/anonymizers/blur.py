"""``blur``: Gaussian blur of each face region.

One fixed kernel for every face (the study's ``kernel: 31``; ``sigma=0``
means OpenCV's rule for the kernel size, sigma = 0.3 * ((k - 1) / 2 - 1) + 0.8,
5.0 for k = 31), or (``kernel=0``, the photo tool's default) a kernel of
``FACE_KERNEL_SHARE`` (all) of each face region's longer side, so that the blur
is as strong as the face is large. Strong blurs (sigma >= 4.5) are computed on
a half-resolution grid, within 3 grey levels of the full-resolution filter;
``exact=True`` runs the latter (``safefakes.anonymizers.gaussian``).
"""

from __future__ import annotations

import numpy as np

from safefakes.anonymizers.face_region import RegionAnonymizer, paste
from safefakes.anonymizers.gaussian import FACE_KERNEL_SHARE, blur_filter, face_kernel, gaussian_filter
from safefakes.anonymizers.regions import FaceRegion


class Blur(RegionAnonymizer):
    """Gaussian blur of each face region: one fixed kernel, or (``kernel=0``) one scaled to each face."""

    name = "blur"

    def __init__(self, kernel: int = 0, sigma: float = 0.0, exact: bool = False,
                 kernel_share: float = FACE_KERNEL_SHARE, **region_options) -> None:
        super().__init__(**region_options)
        if not np.isfinite(kernel_share) or kernel_share <= 0:
            raise ValueError(f"kernel_share must be > 0, got {kernel_share}")
        self.kernel_share = float(kernel_share)
        self.filter, self.kernel, self.sigma, self.exact = blur_filter(kernel, sigma, exact)
        self.scaled = self.filter is None

    def _change(self, image: np.ndarray, out: np.ndarray, regions: list[FaceRegion]) -> None:
        if self.filter is not None:
            rects = [(r.x1, r.y1, r.x2, r.y2) for r in regions]
            for region, new in zip(regions, self.filter.blur_regions(image, rects)):
                paste(out, region, new)
            return
        # Each face its own kernel; every one is computed from the input image,
        # so overlapping faces still do not depend on their order.
        news = []
        for region in regions:
            kernel = face_kernel(region.x2 - region.x1, region.y2 - region.y1, self.kernel_share)
            rect = (region.x1, region.y1, region.x2, region.y2)
            news.append(gaussian_filter(kernel, 0.0, self.exact).blur_regions(image, [rect])[0])
        for region, new in zip(regions, news):
            paste(out, region, new)

    def describe(self) -> dict:
        described = {**super().describe(), "kernel": self.kernel, "sigma": self.sigma, "exact": self.exact}
        if self.scaled:
            described["kernel_share"] = self.kernel_share
        return described
