"""Detector settings: one dataclass, a "mini" preset (CPU, minutes) and a "paper" preset.

The paper preset follows the Safe Fakes study (DSFD, VGG-16, 640 px crops,
batch 4, lr 2.5e-4) and the DSFD paper (Li et al., CVPR 2019): anchors 16..512
over strides 4..128 with one 1.5:1 (height:width) aspect ratio, first-shot
anchors half the second shot's, IoU matching threshold 0.4 (Improved Anchor
Matching), data-anchor-sampling with probability 2/5 and SSD-style crops
otherwise, SSD variances (0.1, 0.2), 3:1 hard negative mining. The learning
rate drops 10x at 2/3 and 5/6 of the run, as DSFD's 80k/20k/20k schedule does.

The mini preset keeps the topology and every rule, shrinks the input size, the
channel width and the schedule, and adds batch normalisation and weight
averaging (it trains from scratch, see ``mini_config``), so that a run takes
about a minute on one CPU core.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from safefakes.errors import InputError
from safefakes.settings import ConfigError, SettingError, Settings, example, setting, unknown_key

PRESETS = ("mini", "paper")
#: The preset of the study's detector and of ``safefakes train-detector``.
DEFAULT_PRESET = "mini"
OPTIMIZERS = ("sgd", "adamw")
# Where the user sets the ImageNet VGG-16 file (named in MissingWeightsError).
BACKBONE_CONFIG_KEY = "detector.backbone_weights"


@dataclass(frozen=True)
class DetectorConfig:
    # -- model -------------------------------------------------------------
    input_size: int = 640  # square training crops, pixels
    width: float = 1.0  # channel multiplier: 1.0 is VGG-16 as published
    batch_norm: bool = False  # batch normalisation after every backbone convolution (training from scratch)
    # -- optimisation ----------------------------------------------------------
    batch_size: int = 4
    optimizer: str = "sgd"  # "sgd" (with momentum, as DSFD) or "adamw"
    lr: float = 2.5e-4
    momentum: float = 0.9
    weight_decay: float = 5e-4
    iterations: int = 60_000
    lr_steps: tuple[float, ...] = (2 / 3, 5 / 6)  # fractions of the run length
    lr_gamma: float = 0.1
    warmup_iterations: int = 0  # linear warm-up from lr/10 (0: none)
    grad_clip: float | None = None  # max gradient norm; None = no clipping
    ema_decay: float = 0.0  # detect with an exponential moving average of the weights (0: the last weights)
    amp: bool = True  # torch.autocast mixed precision, CUDA only
    seed: int = 0
    workers: int = 0  # DataLoader worker processes (0: load in the training process)
    checkpoint_every: int = 1000  # iterations between checkpoints (and the last one)
    # -- anchors, matching, loss ----------------------------------------------
    strides: tuple[int, ...] = (4, 8, 16, 32, 64, 128)
    anchor_sizes: tuple[float, ...] = (16, 32, 64, 128, 256, 512)  # second shot
    first_shot_ratio: float = 0.5  # Progressive Anchor Loss: first-shot anchors are half
    anchor_aspect: float = 1.5  # height / width
    match_threshold: float = 0.4
    neg_pos_ratio: float = 3.0
    variances: tuple[float, float] = (0.1, 0.2)
    # -- augmentation ----------------------------------------------------------
    photometric: bool = True
    data_anchor_sampling: float = 0.4  # probability; SSD-style random crop otherwise
    min_crop: float = 0.3  # smallest random crop side, as a fraction of the image's short side
    flip: float = 0.5  # horizontal flip probability
    min_face_size: float = 3.0  # faces smaller than this (pixels, after resizing) are dropped
    # -- weights ---------------------------------------------------------------
    backbone_weights: str | None = None  # torchvision vgg16 or SSD vgg16_reducedfc.pth
    allow_random_init: bool = False

    def __post_init__(self) -> None:
        # Frozen: the lists a YAML file gives become tuples here, once.
        object.__setattr__(self, "lr_steps", tuple(float(s) for s in self.lr_steps))
        object.__setattr__(self, "strides", tuple(int(s) for s in self.strides))
        object.__setattr__(self, "anchor_sizes", tuple(float(s) for s in self.anchor_sizes))
        object.__setattr__(self, "variances", (float(self.variances[0]), float(self.variances[1])))
        problems = []
        if len(self.strides) != 6 or len(self.anchor_sizes) != 6:
            problems.append("strides and anchor_sizes need one value per source map (6)")
        if self.input_size < 32:
            problems.append(f"input_size {self.input_size} is too small (>= 32)")
        if not 0 < self.width <= 4:
            problems.append(f"width {self.width} must be in (0, 4]")
        if self.batch_size < 1 or self.iterations < 0:
            problems.append("batch_size must be >= 1 and iterations >= 0")
        if any(not 0 < s < 1 for s in self.lr_steps):
            problems.append("lr_steps are fractions of the run length, each in (0, 1)")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer {self.optimizer!r} must be one of {', '.join(OPTIMIZERS)}")
        if not 0 <= self.ema_decay < 1:
            problems.append(f"ema_decay {self.ema_decay} must be in [0, 1)")
        if not 0 < self.match_threshold < 1:
            problems.append("match_threshold must be in (0, 1)")
        if problems:
            raise ValueError("invalid detector config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: "DetectorConfig | None" = None,
                  source: str | Path = "<config>") -> "DetectorConfig":
        """Override ``base`` (default: the paper preset) with the keys in ``data``."""
        base = base if base is not None else paper_config()
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(source, f"unknown detector setting(s): {', '.join(unknown)}",
                             hint=f"known settings: {', '.join(sorted(known))}")
        data = {key: _yaml_number(_FIELD_TYPES[key], value) for key, value in data.items()}
        for key, value in data.items():
            expected = _type_problem(_FIELD_TYPES[key], value)
            if expected is not None:
                raise InputError(source, f"detector setting {key!r}: expected {expected}, found {value!r}",
                                 line=_key_line(source, key),
                                 hint=f"give {key} as {expected}, e.g. {key}: {_example(getattr(base, key))}")
        merged = base.to_dict()
        merged.update(dict(data))
        try:
            return cls(**merged)
        except (TypeError, ValueError) as exc:
            raise InputError(source, str(exc)) from exc


# The annotation of each field (a string: ``from __future__ import annotations``).
_FIELD_TYPES = {f.name: str(f.type) for f in dataclasses.fields(DetectorConfig)}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_problem(annotation: str, value: Any) -> str | None:
    """What a setting of this annotation expects, when ``value`` is not that; else None."""
    optional = annotation.endswith("| None")
    if value is None:
        return None if optional else f"a value of type {annotation}"
    kind = annotation.removesuffix("| None").strip()
    if kind == "bool":
        return None if isinstance(value, bool) else "true or false"
    if kind == "int":
        return None if isinstance(value, int) and not isinstance(value, bool) else "a whole number"
    if kind == "float":
        return None if _is_number(value) else "a number"
    if kind == "str":
        return None if isinstance(value, str) else "a text value"
    if kind.startswith("tuple"):
        ok = isinstance(value, (list, tuple)) and all(_is_number(v) for v in value)
        return None if ok else "a list of numbers"
    return None


def _yaml_number(annotation: str, value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` (no dot) as text: a number setting takes it as the number it spells."""
    if annotation.removesuffix("| None").strip() == "float" and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


def _example(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return "null" if value is None else str(value)


def _key_line(source: str | Path, key: str) -> int | None:
    """The 1-based line of ``key:`` in a config file, when the source is one and holds it once."""
    try:
        lines = Path(source).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    hits = [i + 1 for i, ln in enumerate(lines) if ln.strip().startswith(f"{key}:")]
    return hits[0] if len(hits) == 1 else None


def paper_config() -> DetectorConfig:
    """DSFD as trained in the Safe Fakes study (GPU scale)."""
    return DetectorConfig()


def mini_config() -> DetectorConfig:
    """The same detector, small enough to train in about a minute on two CPU cores.

    No ImageNet weights exist offline, so the mini study starts from a
    deterministic random initialisation (and records so in its outputs).
    """
    return DetectorConfig(
        # Training crops as large as the test images (192 px): with 96 px crops the
        # coarse source maps differ between training and test and runs failed at
        # random. Batch norm (vgg16_bn, ScratchDet) and AdamW, because no ImageNet
        # weights exist offline; detection uses an average of the weights. 250
        # iterations: the shortest run whose mean AP moves little with its seed or
        # thread count. Every setting tried, with its numbers: docs/calibration.md.
        input_size=192,
        width=0.125,
        batch_size=4,
        batch_norm=True,
        optimizer="adamw",
        lr=0.003,
        ema_decay=0.99,
        iterations=250,
        # A short run from random weights keeps its full learning rate longer
        # than the paper's drops at 2/3 and 5/6, which cut runs before they took off.
        lr_steps=(0.9, 0.95),
        warmup_iterations=40,
        grad_clip=10.0,
        checkpoint_every=100,
        min_face_size=3.0,
        allow_random_init=True,
    )


def preset(name: str) -> DetectorConfig:
    if name == "mini":
        return mini_config()
    if name == "paper":
        return paper_config()
    raise ValueError(f"unknown detector preset {name!r}; choose one of {', '.join(PRESETS)}")


def load_config(path: str | Path | None = None, preset_name: str = DEFAULT_PRESET) -> DetectorConfig:
    """A preset, overridden by a YAML file (its top level or its ``detector:`` mapping)."""
    config = preset(preset_name)
    if path is None:
        return config
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise InputError(path, "detector config file not found") from exc
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                         hint="save the file as UTF-8") from exc
    except IsADirectoryError as exc:
        raise InputError(path, "a folder, not a detector config file") from exc
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise InputError(path, f"invalid YAML: {exc}", line=None if line is None else line + 1) from exc
    if not isinstance(data, dict):
        raise InputError(path, "expected a mapping of detector settings")
    if isinstance(data.get("detector"), dict):
        data = data["detector"]
    if "settings" in data or "preset" in data:
        # The workflow's shape (config.yaml): {preset, settings, backbone_weights, allow_random_init}.
        data = dict(data)
        if "preset" in data:
            try:
                config = preset(str(data.pop("preset")))
            except ValueError as exc:
                raise InputError(path, str(exc)) from exc
        settings = dict(data.pop("settings", None) or {})
        data.pop("threads", None)  # the workflow's job threads (DetectorTraining), not a training setting
        settings.update(data)
        data = settings
    return DetectorConfig.from_dict(data, base=config, source=path)


@dataclass(frozen=True)
class DetectorTraining(Settings):
    """The study's ``detector`` block: a preset, DetectorConfig settings overriding it, the backbone's weights
    and the threads of each detector job; ``config()`` is the DetectorConfig a training job runs."""

    preset: str = setting(DEFAULT_PRESET, choices=PRESETS)
    settings: Mapping[str, Any] = setting(default_factory=dict)
    backbone_weights: str | None = setting(DetectorConfig.backbone_weights)
    allow_random_init: bool = setting(DetectorConfig.allow_random_init)
    # A CPU training's weights depend on it (the order of floating-point sums); see the config reference.
    threads: int = setting(2, minimum=1)

    @classmethod
    def from_config(cls, block: Mapping[str, Any] | None, where: str = "detector", **given: Any):
        settings = (block or {}).get("settings") if isinstance(block, Mapping) else None
        if isinstance(settings, Mapping):
            for key in settings:
                if key not in _FIELD_TYPES:
                    raise ConfigError(unknown_key(f"{where}.settings", key, sorted(_FIELD_TYPES)))
        return super().from_config(block, where, **given)

    def problems(self) -> list[tuple[str, str, str | None]]:
        try:
            self.config()
        except SettingError as exc:
            return [(exc.key, exc.message, exc.fix)]
        return []

    def config(self, seed: int | None = None) -> DetectorConfig:
        """The preset, overridden by ``settings``, the weights and (a replicate's) ``seed``."""
        base = preset(self.preset)
        data = {}
        for key, value in self.settings.items():
            if key not in _FIELD_TYPES:
                raise SettingError(f"settings.{key}", f"is not a detector setting; known: "
                                   f"{', '.join(sorted(_FIELD_TYPES))}", "correct or remove it")
            value = _yaml_number(_FIELD_TYPES[key], value)
            expected = _type_problem(_FIELD_TYPES[key], value)
            if expected is not None:
                raise SettingError(f"settings.{key}", f"expected {expected}, found {value!r}",
                                   f"write it as {expected}, e.g. {key}: {example(getattr(base, key))}")
            data[key] = value
        merged = base.to_dict()
        merged.update(data)
        merged.update(backbone_weights=self.backbone_weights, allow_random_init=self.allow_random_init)
        if seed is not None:
            merged["seed"] = seed
        try:
            return DetectorConfig(**merged)
        except (TypeError, ValueError) as exc:
            raise SettingError("settings", str(exc), "change the setting it names") from None


@dataclass(frozen=True)
class PredictSettings(Settings):
    """The study's ``predict`` block and the flags of ``safefakes detect``: the detector's test."""

    flip: bool = setting(True)
    multiscale: bool = setting(False)
    score_threshold: float = setting(0.01, minimum=0, maximum=1)
    nms_iou: float = setting(0.3, minimum=0, maximum=1)
    max_boxes: int = setting(750, minimum=1)

    def kwargs(self) -> dict[str, Any]:
        """As ``detect_split``'s keyword arguments."""
        return {key: getattr(self, key) for key in self.config_keys()}


__all__ = ["DetectorConfig", "DetectorTraining", "PredictSettings", "PRESETS", "DEFAULT_PRESET", "OPTIMIZERS",
           "BACKBONE_CONFIG_KEY", "paper_config", "mini_config", "preset", "load_config"]
