"""``blackout``: each face region filled with one colour (black: the paper's black box)."""

from __future__ import annotations

import numpy as np

from safefakes.anonymizers.face_region import RegionAnonymizer
from safefakes.anonymizers.regions import FaceRegion


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
