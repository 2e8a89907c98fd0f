"""The conventional anonymizers of the study: blur, blackout, pixelate, fullblur.

Plus ``original``, the identity, which is the study's un-anonymized baseline.

Defaults:

* ``blur``: a Gaussian blur with one fixed 31 x 31 kernel whatever the face
  size, as Klomp et al. (2021) blur individual faces with a fixed kernel (the
  exact size of their kernel was not available offline; 31 is a strong blur for
  WIDER-sized faces). ``sigma=0`` means OpenCV's rule for the kernel size,
  sigma = 0.3 * ((k - 1) / 2 - 1) + 0.8, which is 5.0 for k = 31. Strong
  blurs (sigma >= 4.5) are computed on a half-resolution grid, within 3 grey
  levels of the full-resolution filter; ``exact=True`` runs the latter
  (``safefakes.anonymizers.gaussian``).
* ``pixelate``: each face region reduced to 8 x 8 blocks (area average) and
  scaled back up with nearest neighbour, whatever the face size; faces under
  16 px get fewer blocks, so that every cell is at least 2 px wide and a tiny
  face is changed too.
* ``blackout``: each face region set to 0.
* ``fullblur``: the whole image blurred with the same fixed Gaussian (and the
  same ``exact`` option); the faces are covered by that and are not treated
  one by one.

The face methods share the region options of ``safefakes.anonymizers.regions``:
``region`` ("box" or "ellipse"), ``mask_scale`` (grow the region about its
centre) and ``min_size`` (faces with min(w, h) below it are left as is and
recorded as too small). All of them are deterministic and ignore ``rng``.
"""

from __future__ import annotations

import cv2
import numpy as np

from safefakes.anonymizers.base import AnonymizedImage, Anonymizer
from safefakes.data.anonymized import Status
from safefakes.anonymizers.gaussian import gaussian_filter
from safefakes.anonymizers.regions import FaceRegion, check_region_options, face_regions, skip_status

DEFAULT_KERNEL = 31
DEFAULT_BLOCKS = 8


def _check_image(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")


def _as_boxes(boxes: np.ndarray) -> np.ndarray:
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def paste(out: np.ndarray, region: FaceRegion, new: np.ndarray) -> None:
    """Write ``new`` (the region's bounding rectangle) into ``out`` inside the region (box or ellipse)."""
    target = out[region.y1:region.y2, region.x1:region.x2]
    if region.mask is None:
        target[...] = new
    else:
        target[region.mask] = new[region.mask]


class RegionAnonymizer(Anonymizer):
    """A method that changes each face's region on its own (blur, blackout, pixelate)."""

    uses_rng = False  # deterministic: the engine passes no generator

    def __init__(self, region: str = "box", mask_scale: float = 1.0, min_size: float = 0.0) -> None:
        check_region_options(region, float(mask_scale), float(min_size))
        self.region = region
        self.mask_scale = float(mask_scale)
        self.min_size = float(min_size)

    def anonymize(self, image, boxes, keypoints=None, rng=None) -> AnonymizedImage:
        _check_image(image)
        boxes = _as_boxes(boxes)
        height, width = image.shape[:2]
        faces = face_regions(boxes.tolist(), width, height, self.region, self.mask_scale, self.min_size)
        regions = [region for _, region in faces if region is not None]
        out = image.copy()
        if regions:
            self._change(image, out, regions)
        return AnonymizedImage(out, [status for status, _ in faces])

    def _change(self, image: np.ndarray, out: np.ndarray, regions: list[FaceRegion]) -> None:
        """Write each region's new pixels into ``out`` (our own copy of ``image``).

        The new pixels are computed from the input ``image``, so faces whose
        regions (or blur margins) overlap do not depend on their order.
        """
        for region in regions:
            paste(out, region, self._new_pixels(image, region))

    def _new_pixels(self, image: np.ndarray, region: FaceRegion) -> np.ndarray:
        """The replacement pixels of the region's bounding rectangle: a method overrides
        this, or ``_change`` when it handles all regions at once (blur, blackout)."""
        raise NotImplementedError(f"{type(self).__name__} overrides neither _new_pixels nor _change")

    def describe(self) -> dict:
        return {"method": self.name, "region": self.region, "mask_scale": self.mask_scale,
                "min_size": self.min_size}


class Blur(RegionAnonymizer):
    """Gaussian blur of each face region with one fixed kernel."""

    name = "blur"

    def __init__(self, kernel: int = DEFAULT_KERNEL, sigma: float = 0.0, exact: bool = False,
                 **region_options) -> None:
        super().__init__(**region_options)
        self.filter = gaussian_filter(kernel, sigma, exact)
        self.kernel, self.sigma, self.exact = self.filter.kernel, self.filter.sigma, self.filter.exact

    def _change(self, image: np.ndarray, out: np.ndarray, regions: list[FaceRegion]) -> None:
        rects = [(r.x1, r.y1, r.x2, r.y2) for r in regions]
        for region, new in zip(regions, self.filter.blur_regions(image, rects)):
            paste(out, region, new)

    def describe(self) -> dict:
        return {**super().describe(), "kernel": self.kernel, "sigma": self.sigma, "exact": self.exact}


class Blackout(RegionAnonymizer):
    """Each face region filled with one colour (black by default)."""

    name = "blackout"

    def __init__(self, value: int = 0, **region_options) -> None:
        super().__init__(**region_options)
        if not 0 <= int(value) <= 255:
            raise ValueError(f"blackout value must be 0..255, got {value}")
        self.value = int(value)

    def _change(self, image: np.ndarray, out: np.ndarray, regions: list[FaceRegion]) -> None:
        # Fill in place: no array of new pixels is needed for one colour.
        for region in regions:
            if region.mask is None:
                out[region.y1:region.y2, region.x1:region.x2] = self.value
            else:
                out[region.slices][region.mask] = self.value

    def describe(self) -> dict:
        return {**super().describe(), "value": self.value}


class Pixelate(RegionAnonymizer):
    """Each face region reduced to ``blocks`` x ``blocks`` cells, then scaled back up."""

    name = "pixelate"

    def __init__(self, blocks: int = DEFAULT_BLOCKS, **region_options) -> None:
        super().__init__(**region_options)
        if int(blocks) < 1:
            raise ValueError(f"blocks must be >= 1, got {blocks}")
        self.blocks = int(blocks)

    def _new_pixels(self, image: np.ndarray, region: FaceRegion) -> np.ndarray:
        crop = image[region.slices]
        h, w = crop.shape[:2]
        # Cells are at least 2 px: a face smaller than the block count would
        # otherwise come back pixel for pixel, unchanged yet recorded as anonymized.
        size = (min(self.blocks, max(w // 2, 1)), min(self.blocks, max(h // 2, 1)))
        small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)

    def describe(self) -> dict:
        return {**super().describe(), "blocks": self.blocks}


class FullBlur(Anonymizer):
    """The whole image blurred with one fixed kernel (the paper's "Fullblur")."""

    name = "fullblur"
    whole_image = True  # the engine transforms images without faces too
    uses_rng = False

    def __init__(self, kernel: int = DEFAULT_KERNEL, sigma: float = 0.0, exact: bool = False) -> None:
        self.filter = gaussian_filter(kernel, sigma, exact)
        self.kernel, self.sigma, self.exact = self.filter.kernel, self.filter.sigma, self.filter.exact

    def anonymize(self, image, boxes, keypoints=None, rng=None) -> AnonymizedImage:
        _check_image(image)
        boxes = _as_boxes(boxes)
        height, width = image.shape[:2]
        out = self.filter.blur(image)
        # Every face with pixels in the image is covered, small ones included.
        statuses = [skip_status(box, width, height) or Status.WHOLE_IMAGE for box in boxes.tolist()]
        return AnonymizedImage(out, statuses)

    def describe(self) -> dict:
        return {"method": self.name, "kernel": self.kernel, "sigma": self.sigma, "exact": self.exact}


class Original(Anonymizer):
    """The identity: the study's baseline trained on the un-anonymized images."""

    name = "original"
    identity = True  # the engine copies the input files byte for byte
    uses_rng = False

    def anonymize(self, image, boxes, keypoints=None, rng=None) -> AnonymizedImage:
        _check_image(image)
        return AnonymizedImage(image.copy(), [Status.ORIGINAL] * len(_as_boxes(boxes)))
