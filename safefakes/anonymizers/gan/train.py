"""Train a GAN anonymizer by name on a crop set: the one entry point of the CLI and the workflow."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from safefakes.anonymizers.gan.settings import DEFAULT_PRESET, GanTraining
from safefakes.anonymizers.gan.trainer import FINAL_CHECKPOINT, LOSSES, SAMPLES, TrainConfig
from safefakes.data.images import refuse_links
from safefakes.errors import SafeFakesError

TRAIN_KEYS = frozenset(f.name for f in dataclasses.fields(TrainConfig))


@dataclass
class TrainResult:
    checkpoint: Path  # for `safefakes anonymize --checkpoint`
    samples: Path  # the last sample grid
    losses: Path
    images_shown: int
    n_faces: int


def split_overrides(method: str, overrides: Mapping[str, Any]) -> tuple[dict, dict]:
    """Settings by role: TrainConfig fields go to training, the rest to the method's model config."""
    from safefakes.anonymizers.gan import get_method

    model_keys = set(get_method(method).config_dict())
    train, model, unknown = {}, {}, []
    for key, value in overrides.items():
        if key in TRAIN_KEYS:
            train[key] = value
        elif key in model_keys:
            model[key] = value
        else:
            unknown.append(key)
    if unknown:
        raise SafeFakesError(
            f"{method}: unknown training setting(s) {', '.join(sorted(unknown))}; model settings: "
            f"{', '.join(sorted(model_keys))}; training settings: {', '.join(sorted(TRAIN_KEYS))}")
    return model, train


def train_gan(
    method: str,
    crops: str | Path,
    out_dir: str | Path,
    *,
    faces: int | None = None,
    images: int | None = None,
    preset: str = DEFAULT_PRESET,
    overrides: Mapping[str, Any] | None = None,
    seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
    start_from: str | Path | None = None,
    workers: int | None = None,
) -> TrainResult:
    """Train ``method`` on the first ``faces`` crops of ``crops`` for ``images`` images shown.

    preset: "mini" or "paper" sizes; overrides: model or training settings on
    top of it (e.g. ``{"width": 0.25, "batch_size": 32}``). ``resume``
    continues from the newest checkpoint in ``out_dir``; ``start_from``
    continues the final checkpoint of a shorter run with the same settings
    (``Trainer.train``). ``workers``: DataLoader processes that read the
    crops ahead (default: the preset's).
    """
    from safefakes.anonymizers.gan import get_method
    from safefakes.anonymizers.gan.dataset import open_crop_dataset
    from safefakes.anonymizers.gan.trainer import Trainer
    from safefakes.data.crops import read_crop_source

    # The study's config and the command line go through the same settings type (names a wrong override).
    model_cfg, train_cfg = GanTraining(method=method, preset=preset, overrides=dict(overrides or {})).resolve()
    if images is not None:
        train_cfg["images"] = int(images)
    train_cfg.update(seed=seed, device=device, progress_bar=progress)
    if workers is not None:
        train_cfg["workers"] = int(workers)
    gan = get_method(method, model_cfg)
    source = read_crop_source(crops)
    data = open_crop_dataset(crops, gan.resolution, gan.keypoint_layout, faces=faces)
    source.update(crops=str(crops), faces_used=len(data))
    refuse_links(out_dir)  # nothing is written through a link planted in the training folder
    trainer = Trainer(gan, data, out_dir, TrainConfig(**train_cfg), source=source)
    checkpoint = trainer.train(resume=resume, start_from=start_from)
    out = Path(out_dir)
    assert checkpoint == out / FINAL_CHECKPOINT
    return TrainResult(checkpoint, out / SAMPLES / "latest.png", out / LOSSES, trainer.images_shown, len(data))
