"""Face boxes in the WIDER convention (x, y, w, h in pixels) against an image."""

from __future__ import annotations

import numpy as np


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
