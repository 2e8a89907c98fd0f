"""Per-image random seeds that do not depend on processing order."""

from __future__ import annotations

import hashlib


def image_seed(seed: int, image_name: str) -> int:
    """A per-image seed independent of processing order (parallel = serial bytes)."""
    digest = hashlib.sha256(f"{seed}:{image_name}".encode()).digest()
    return int.from_bytes(digest[:8], "little")
