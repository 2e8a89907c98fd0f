"""What blur, blackout and pixelation share: each face's region, changed on its own.

The face methods take the region options of ``safefakes.anonymizers.regions``:
``region`` ("box" or "ellipse"), ``mask_scale`` (grow the region about its
centre) and ``min_size`` (faces with min(w, h) below it are left as is and
recorded as too small). All of them are deterministic and ignore ``rng``.

Two sets of settings, both documented in docs/departures.md and docs/photos.md:

* **The defaults hide faces** (what ``safefakes anonymize-images`` and
  ``anonymize`` use when no option is given): every face region is the
  ellipse inscribed in the detected box grown 1.6 times about its centre
  (``PHOTO_MASK_SCALE``: forehead, hair line and ears, which a tight detector
  box leaves out; the same area as deface's ``--mask-scale 1.3``, which grows
  each side by 30 % of the box); blur and pixelation scale with the face
  (``safefakes.anonymizers.blur``, ``.pixelate``). On the real sample photos
  (tests/test_hiding_defaults.py) dlib re-identifies no face after any of
  these defaults, where a fixed 31-tap blur of the tight box leaves large
  faces recognisable.
* **The study's fixed settings**, which config.yaml and presets/paper.yaml set
  explicitly: ``region="box"``, ``mask_scale=1.0``, one 31 x 31 Gaussian for
  every face, 8 x 8 pixelation blocks, and fullblur with a fixed kernel (15).
  These are this project's choices, not the paper's: Klomp et al. do not give
  them; docs/departures.md lists them.
"""

from __future__ import annotations

import numpy as np

from safefakes.anonymizers.base import AnonymizedImage, Anonymizer
from safefakes.anonymizers.regions import FaceRegion, check_region_options, face_regions

#: The default face region: the ellipse inscribed in the box grown this much
#: about its centre. From sqrt(2) on, the ellipse holds the whole box; 1.6 adds
#: the forehead, hair line and ears, and equals deface's --mask-scale 1.3.
PHOTO_MASK_SCALE = 1.6
PHOTO_REGION = "ellipse"


def check_image(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")


def as_boxes(boxes: np.ndarray) -> np.ndarray:
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

    def __init__(self, region: str = PHOTO_REGION, mask_scale: float = PHOTO_MASK_SCALE,
                 min_size: float = 0.0) -> None:
        check_region_options(region, float(mask_scale), float(min_size))
        self.region = region
        self.mask_scale = float(mask_scale)
        self.min_size = float(min_size)

    def anonymize(self, image, boxes, keypoints=None, rng=None) -> AnonymizedImage:
        check_image(image)
        boxes = as_boxes(boxes)
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
