"""The conventional anonymizers of the study: blur, blackout, pixelate, fullblur.

Plus ``original``, the identity, which is the study's un-anonymized baseline.

Defaults:

* ``blur``: a Gaussian blur with one fixed 31 x 31 kernel whatever the face
  size, as Klomp et al. (2021) blur individual faces with a fixed kernel (the
  exact size of their kernel was not available offline; 31 is a strong blur for
  WIDER-sized faces). ``sigma=0`` means OpenCV's rule for the kernel size,
  sigma = 0.3 * ((k - 1) / 2 - 1) + 0.8, which is 5.0 for k = 31.
* ``pixelate``: each face region reduced to 8 x 8 blocks (area average) and
  scaled back up with nearest neighbour, whatever the face size; faces under
  16 px get fewer blocks, so that every cell is at least 2 px wide and a tiny
  face is changed too.
* ``blackout``: each face region set to 0.
* ``fullblur``: the whole image blurred with the same fixed kernel; the faces
  are covered by that and are not treated one by one.

The face methods share the region options of ``safefakes.anonymizers.regions``:
``region`` ("box" or "ellipse"), ``mask_scale`` (grow the region about its
centre) and ``min_size`` (faces with min(w, h) below it are left as is and
recorded as too small). All of them are deterministic and ignore ``rng``.
"""

from __future__ import annotations

from abc import abstractmethod
from functools import lru_cache

import cv2
import numpy as np

from safefakes.anonymizers.base import AnonymizedImage, Anonymizer, Status
from safefakes.anonymizers.regions import FaceRegion, check_region_options, face_regions, skip_status

DEFAULT_KERNEL = 31
DEFAULT_BLOCKS = 8


def _check_image(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")


def _as_boxes(boxes: np.ndarray) -> np.ndarray:
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def _check_kernel(kernel: int) -> int:
    kernel = int(kernel)
    if kernel < 3 or kernel % 2 == 0:
        raise ValueError(f"the blur kernel must be an odd size >= 3, got {kernel}")
    return kernel


@lru_cache(maxsize=32)
def gaussian_taps(kernel: int, sigma: float = 0.0) -> np.ndarray:
    """The 1-D float32 taps of the blur (computed once per kernel and sigma; read-only)."""
    taps = cv2.getGaussianKernel(int(kernel), float(sigma)).astype(np.float32)
    taps.setflags(write=False)
    return taps


def gaussian_blur(image: np.ndarray, kernel: int, sigma: float = 0.0) -> np.ndarray:
    """A Gaussian blur of uint8 RGB with a ``kernel`` x ``kernel`` kernel (reflect-101 border).

    cv2.GaussianBlur is bit-exact fixed point on uint8, which for a 31-tap
    kernel is about 3-4x slower than the separable float filter used here
    (measured with OpenCV 4.14 on 192 px images: 1.2 ms against 0.3 ms); the
    two differ by at most two grey levels (rounding). The float filter's value
    at a pixel depends only on the pixels under the kernel, not on the extent
    of the array it is applied to (checked on every face of the synthetic
    split), so a face region blurred with its margin equals the same region
    of a whole-image blur.
    """
    taps = gaussian_taps(kernel, sigma)
    return cv2.sepFilter2D(image, -1, taps, taps, borderType=cv2.BORDER_REFLECT_101)


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
        out = image.copy()
        statuses: list[str] = []
        for status, region in face_regions(boxes.tolist(), width, height, self.region, self.mask_scale,
                                           self.min_size):
            if region is not None:
                self._change(out, region)
            statuses.append(status)
        return AnonymizedImage(out, statuses)

    def _change(self, out: np.ndarray, region: FaceRegion) -> None:
        """Replace the region's pixels of ``out`` (in place; ``out`` is our own copy)."""
        new = self._new_pixels(out, region)
        target = out[region.y1:region.y2, region.x1:region.x2]
        if region.mask is None:
            target[...] = new
        else:
            target[region.mask] = new[region.mask]

    @abstractmethod
    def _new_pixels(self, out: np.ndarray, region: FaceRegion) -> np.ndarray:
        """The replacement pixels of the region's bounding rectangle (each method's own)."""

    def describe(self) -> dict:
        return {"method": self.name, "region": self.region, "mask_scale": self.mask_scale,
                "min_size": self.min_size}


class Blur(RegionAnonymizer):
    """Gaussian blur of each face region with one fixed kernel."""

    name = "blur"

    def __init__(self, kernel: int = DEFAULT_KERNEL, sigma: float = 0.0, **region_options) -> None:
        super().__init__(**region_options)
        self.kernel = _check_kernel(kernel)
        self.sigma = float(sigma)

    def _new_pixels(self, out: np.ndarray, region: FaceRegion) -> np.ndarray:
        # Blur the region plus a margin of half a kernel, so that the pixels
        # inside the box see their real neighbours, not a padded border (at
        # the image border the filter reflects, as a blur of the whole image does).
        height, width = out.shape[:2]
        half = self.kernel // 2
        mx1, my1 = max(region.x1 - half, 0), max(region.y1 - half, 0)
        mx2, my2 = min(region.x2 + half, width), min(region.y2 + half, height)
        blurred = gaussian_blur(out[my1:my2, mx1:mx2], self.kernel, self.sigma)
        return blurred[region.y1 - my1:region.y2 - my1, region.x1 - mx1:region.x2 - mx1]

    def describe(self) -> dict:
        return {**super().describe(), "kernel": self.kernel, "sigma": self.sigma}


class Blackout(RegionAnonymizer):
    """Each face region filled with one colour (black by default)."""

    name = "blackout"

    def __init__(self, value: int = 0, **region_options) -> None:
        super().__init__(**region_options)
        if not 0 <= int(value) <= 255:
            raise ValueError(f"blackout value must be 0..255, got {value}")
        self.value = int(value)

    def _change(self, out: np.ndarray, region: FaceRegion) -> None:
        # Fill in place: no array of new pixels is needed for one colour.
        if region.mask is None:
            out[region.y1:region.y2, region.x1:region.x2] = self.value
        else:
            out[region.slices][region.mask] = self.value

    def _new_pixels(self, out: np.ndarray, region: FaceRegion) -> np.ndarray:
        return np.full_like(out[region.slices], self.value)

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

    def _new_pixels(self, out: np.ndarray, region: FaceRegion) -> np.ndarray:
        crop = out[region.slices]
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
    #: The engine must transform images without faces too.
    whole_image = True
    uses_rng = False

    def __init__(self, kernel: int = DEFAULT_KERNEL, sigma: float = 0.0) -> None:
        self.kernel = _check_kernel(kernel)
        self.sigma = float(sigma)

    def anonymize(self, image, boxes, keypoints=None, rng=None) -> AnonymizedImage:
        _check_image(image)
        boxes = _as_boxes(boxes)
        height, width = image.shape[:2]
        out = gaussian_blur(image, self.kernel, self.sigma)
        # Every face with pixels in the image is covered, small ones included.
        statuses = [skip_status(box, width, height) or Status.WHOLE_IMAGE for box in boxes.tolist()]
        return AnonymizedImage(out, statuses)

    def describe(self) -> dict:
        return {"method": self.name, "kernel": self.kernel, "sigma": self.sigma}


class Original(Anonymizer):
    """The identity: the study's baseline trained on the un-anonymized images."""

    name = "original"
    #: The engine copies the input files byte for byte instead of re-encoding.
    identity = True
    uses_rng = False

    def anonymize(self, image, boxes, keypoints=None, rng=None) -> AnonymizedImage:
        _check_image(image)
        return AnonymizedImage(image.copy(), [Status.ORIGINAL] * len(_as_boxes(boxes)))
