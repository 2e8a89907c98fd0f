"""The settings of the judge's steps in the study: the image metrics and the detector's view.

``MetricsSettings`` is the study's ``metrics`` block (and the flags of
``safefakes metrics``); ``DetectorViewSettings`` the study's ``detector_view``
block (``ViewSettings`` of ``detector_view`` is what ``view_folders`` takes).
Imports nothing heavy: the command line and the workflow's config check read it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from safefakes.evaluation.backbones import (
    ALEXNET_CONFIG_KEY,
    ALEXNET_FILE,
    ALEXNET_URL,
    INCEPTION_CONFIG_KEY,
    INCEPTION_FILE,
    INCEPTION_URL,
)
from safefakes.settings import Settings, setting

#: The library's defaults (``compute_image_metrics``, ``compute_leakage``, ``safefakes metrics``): faces
#: narrower or lower than this are skipped, crops are resized to this side, and measured in batches of this.
#: The study's own ``metrics.min_size`` default is MetricsSettings.min_size.
DEFAULT_MIN_SIZE = 24
DEFAULT_CROP_SIZE = 64
DEFAULT_BATCH_SIZE = 32
#: The score a detection needs (at IoU >= 0.5) for the detector's view to count its face as found.
DEFAULT_SCORE = 0.5


def torch_hub_checkpoints() -> Path:
    """Where torch.hub keeps downloaded weights (``torch.hub.get_dir()/checkpoints``), without importing torch.

    The same rule as torch's: $TORCH_HOME, else $XDG_CACHE_HOME/torch, else ~/.cache/torch.
    """
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    home = os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))
    return Path(home) / "hub" / "checkpoints"


@dataclass(frozen=True)
class MetricsSettings(Settings):
    """Image metrics and identity leakage of each anonymized train split of the study."""

    allow_random_init: bool = setting(False)
    lpips_weights: str | None = setting(None)
    inception_weights: str | None = setting(None)
    # The study compares faces down to 16 px (the detector view's headline size); the library's
    # default (DEFAULT_MIN_SIZE, `safefakes metrics`) is 24.
    min_size: int = setting(16, minimum=1)
    crop_size: int = setting(DEFAULT_CROP_SIZE, minimum=8)
    max_faces: int | None = setting(None, minimum=1)
    distribution_faces: int | None = setting(None, minimum=3)

    def missing_weights(self, where: str = "metrics") -> list[str]:
        """What the metrics would stop on for want of weights: each names the keys, the file looked for and the fix.

        Empty with ``allow_random_init`` (deterministic random backbones, recorded in the outputs).
        """
        if self.allow_random_init:
            return []
        problems = []
        for what, key, filename, url, configured in (
                ("LPIPS AlexNet", ALEXNET_CONFIG_KEY, ALEXNET_FILE, ALEXNET_URL, self.lpips_weights),
                ("FID Inception", INCEPTION_CONFIG_KEY, INCEPTION_FILE, INCEPTION_URL, self.inception_weights)):
            key = key.replace("metrics", where, 1)
            if configured:
                if not Path(configured).expanduser().is_file():
                    problems.append(f"{key}: the {what} weights file {configured!r} is not there; download "
                                    f"{url} and set {key} to the file, or set {where}.allow_random_init: true")
                continue
            cached = torch_hub_checkpoints() / filename
            if not cached.is_file():
                problems.append(
                    f"{key} is not set and the {what} weights are not in the torch cache (looked at {cached}); "
                    f"download {url} and set {key} to the file, or set {where}.allow_random_init: true "
                    "(deterministic random backbones, recorded as backbone_weights: random-init)")
        return problems


@dataclass(frozen=True)
class DetectorViewSettings(Settings):
    """Which detector the view runs, how, and the score a found face needs."""

    checkpoint: str | None = setting(None)
    score: float = setting(DEFAULT_SCORE, minimum=0, maximum=1)
    # None: as the study's `predict` block.
    multiscale: bool | None = setting(None)
    flip: bool | None = setting(None)


__all__ = ["MetricsSettings", "DetectorViewSettings", "DEFAULT_MIN_SIZE", "DEFAULT_CROP_SIZE", "DEFAULT_BATCH_SIZE",
           "DEFAULT_SCORE", "torch_hub_checkpoints"]
