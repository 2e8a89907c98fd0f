"""The DSFD network: VGG-16, six source maps, the Feature Enhance Module, two shots.

Layer layout follows torchvision's ``vgg16().features`` index for index, so an
ImageNet state dict maps onto ``DSFD.vgg`` key for key (see ``backbone``).
A width multiplier scales every channel count and keeps the topology, so the
mini study trains the same network, only thinner.

The network takes RGB pixel values in 0..255 and normalises them itself, the
way the loaded backbone expects (torchvision's mean/std, or Caffe's BGR mean
for SSD's ``vgg16_reducedfc.pth``): callers never need to know which.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

# torchvision's vgg16 "D" configuration: channels, "M" = 2x2 max pool.
VGG16_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
# Convolutions (counted from 0) whose ReLU output is a source map: conv3_3, conv4_3, conv5_3.
SOURCE_CONVS = (6, 9, 12)
L2NORM_SCALES = (10.0, 8.0, 5.0)  # as S3FD/DSFD: conv3_3, conv4_3, conv5_3

# Input normalisation of the two backbone formats.
NORMALISATION = {
    "torchvision": {"bgr": False, "mean": (123.675, 116.28, 103.53), "std": (58.395, 57.12, 57.375)},
    "caffe": {"bgr": True, "mean": (104.0, 117.0, 123.0), "std": (1.0, 1.0, 1.0)},
}


def scaled(channels: int, width: float) -> int:
    """A channel count under the width multiplier (at least 4, so every branch exists)."""
    return max(4, int(round(channels * width)))


class L2Norm(nn.Module):
    """Channel-wise L2 normalisation with a learned per-channel scale (ParseNet, SSD)."""

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # eps keeps all-zero activations (dead ReLUs early in training) finite.
        norm = x.float().pow(2).sum(dim=1, keepdim=True).add(1e-10).sqrt()
        return (x / norm.to(x.dtype)) * self.weight.view(1, -1, 1, 1).to(x.dtype)


class FeatureEnhance(nn.Module):
    """Feature Enhance Module for one level.

    The higher (coarser) source map is projected, upsampled and multiplied
    element-wise with the projected current map; three branches of growing
    dilation then see increasingly wide context and are concatenated.
    """

    def __init__(self, in_current: int, in_higher: int | None, mid: int, out: int) -> None:
        super().__init__()
        self.lateral = nn.Conv2d(in_current, mid, 1)
        self.higher = nn.Conv2d(in_higher, mid, 1) if in_higher is not None else None
        quarter = out // 4
        half = out - 2 * quarter
        self.branch1 = nn.Conv2d(mid, half, 3, padding=1, dilation=1)
        self.trunk = nn.Conv2d(mid, half, 3, padding=2, dilation=2)
        self.branch2 = nn.Conv2d(half, quarter, 3, padding=2, dilation=2)
        self.branch3_a = nn.Conv2d(half, quarter, 3, padding=2, dilation=2)
        self.branch3_b = nn.Conv2d(quarter, quarter, 3, padding=3, dilation=3)

    def forward(self, current: torch.Tensor, higher: torch.Tensor | None) -> torch.Tensor:
        x = F.relu(self.lateral(current))
        if self.higher is not None and higher is not None:
            up = F.relu(self.higher(higher))
            up = F.interpolate(up, size=x.shape[-2:], mode="bilinear", align_corners=False)
            x = x * up
        b1 = F.relu(self.branch1(x))
        t = F.relu(self.trunk(x))
        b2 = F.relu(self.branch2(t))
        b3 = F.relu(self.branch3_b(F.relu(self.branch3_a(t))))
        return torch.cat([b1, b2, b3], dim=1)


class Head(nn.Module):
    """One shot's prediction convs: per level, 4 box offsets and 2 class scores per anchor."""

    def __init__(self, in_channels: list[int]) -> None:
        super().__init__()
        self.loc = nn.ModuleList(nn.Conv2d(c, 4, 3, padding=1) for c in in_channels)
        self.conf = nn.ModuleList(nn.Conv2d(c, 2, 3, padding=1) for c in in_channels)

    def forward(self, maps: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        locs, confs = [], []
        for x, loc, conf in zip(maps, self.loc, self.conf):
            # (B, C, H, W) -> (B, H*W, C): anchors ordered level, row, column (see anchors.py).
            locs.append(loc(x).permute(0, 2, 3, 1).flatten(1, 2))
            confs.append(conf(x).permute(0, 2, 3, 1).flatten(1, 2))
        return torch.cat(locs, 1), torch.cat(confs, 1)


class DetectorOutput(NamedTuple):
    first_loc: torch.Tensor | None  # (B, A, 4) encoded offsets, first-shot anchors
    first_conf: torch.Tensor | None  # (B, A, 2) logits background / face
    second_loc: torch.Tensor  # (B, A, 4), second-shot anchors
    second_conf: torch.Tensor  # (B, A, 2)
    feature_sizes: list[tuple[int, int]]  # (H, W) of the six source maps


class DSFD(nn.Module):
    """Dual Shot Face Detector with a VGG-16 backbone."""

    def __init__(self, width: float = 1.0, normalisation: str = "torchvision", batch_norm: bool = False) -> None:
        super().__init__()
        self.width = float(width)
        self.batch_norm = bool(batch_norm)
        c = lambda n: scaled(n, width)  # noqa: E731 - local shorthand
        layers: list[nn.Module] = []
        taps: list[int] = []
        in_ch = 3
        for v in VGG16_LAYERS:
            if v == "M":
                # ceil_mode keeps every map at ceil(size / stride) for any input size.
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            else:
                layers.append(nn.Conv2d(in_ch, c(v), 3, padding=1))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(c(v)))
                layers.append(nn.ReLU(inplace=True))
                if sum(isinstance(m, nn.Conv2d) for m in layers) - 1 in SOURCE_CONVS:
                    taps.append(len(layers) - 1)
                in_ch = c(v)
        # Index-compatible with torchvision's vgg16().features (vgg16_bn's with batch_norm).
        self.vgg = nn.Sequential(*layers)
        self.taps = tuple(taps)
        norm = (lambda ch: nn.BatchNorm2d(ch)) if batch_norm else (lambda ch: nn.Identity())
        self.fc6 = nn.Conv2d(c(512), c(1024), 3, padding=3, dilation=3)
        self.fc7 = nn.Conv2d(c(1024), c(1024), 1)
        self.conv6_1 = nn.Conv2d(c(1024), c(256), 1)
        self.conv6_2 = nn.Conv2d(c(256), c(512), 3, stride=2, padding=1)
        self.conv7_1 = nn.Conv2d(c(512), c(128), 1)
        self.conv7_2 = nn.Conv2d(c(128), c(256), 3, stride=2, padding=1)
        # Batch normalisation after each extra convolution too (ScratchDet): identities without it.
        self.extra_norms = nn.ModuleDict({name: norm(getattr(self, name).out_channels) for name in
                                          ("fc6", "fc7", "conv6_1", "conv6_2", "conv7_1", "conv7_2")})
        self.l2norms = nn.ModuleList(
            L2Norm(ch, s) for ch, s in zip((c(256), c(512), c(512)), L2NORM_SCALES))
        self.source_channels = [c(256), c(512), c(512), c(1024), c(512), c(256)]
        enhanced = c(512)
        self.fem = nn.ModuleList(
            FeatureEnhance(ch, self.source_channels[i + 1] if i + 1 < 6 else None, c(256), enhanced)
            for i, ch in enumerate(self.source_channels))
        self.first_head = Head(self.source_channels)
        self.second_head = Head([enhanced] * 6)
        self.set_normalisation(normalisation)
        self.reset_parameters()

    def set_normalisation(self, name: str) -> None:
        if name not in NORMALISATION:
            raise ValueError(f"unknown input normalisation {name!r}; choose {', '.join(NORMALISATION)}")
        spec = NORMALISATION[name]
        self.normalisation = name
        self.register_buffer("pixel_mean", torch.tensor(spec["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(spec["std"]).view(1, 3, 1, 1), persistent=False)
        self._bgr = bool(spec["bgr"])

    def reset_parameters(self) -> None:
        """Deterministic given torch's seed: He init for convs, small heads with a face prior."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        prior = 0.01  # initial face probability: keeps the first losses from exploding
        for head in (self.first_head, self.second_head):
            for conv in (*head.loc, *head.conf):
                nn.init.normal_(conv.weight, std=0.01)
                nn.init.zeros_(conv.bias)
            for conv in head.conf:
                with torch.no_grad():
                    conv.bias[1] = torch.log(torch.tensor(prior / (1 - prior)))

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        x = images.flip(1) if self._bgr else images
        return (x - self.pixel_mean) / self.pixel_std

    def source_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        start = 0
        for tap, norm in zip(self.taps, self.l2norms):
            x = self.vgg[start:tap + 1](x)
            maps.append(norm(x))
            start = tap + 1
        x = self.vgg[start:](x)  # pool5
        for names in (("fc6", "fc7"), ("conv6_1", "conv6_2"), ("conv7_1", "conv7_2")):
            for name in names:
                x = F.relu(self.extra_norms[name](getattr(self, name)(x)))
            maps.append(x)
        return maps

    def forward(self, images: torch.Tensor, first_shot: bool = True) -> DetectorOutput:
        """``images``: (B, 3, H, W) RGB in 0..255. The first shot is only needed for training."""
        maps = self.source_maps(self.preprocess(images))
        enhanced = [fem(maps[i], maps[i + 1] if i + 1 < len(maps) else None)
                    for i, fem in enumerate(self.fem)]
        second_loc, second_conf = self.second_head(enhanced)
        first_loc = first_conf = None
        if first_shot:
            first_loc, first_conf = self.first_head(maps)
        sizes = [(int(m.shape[-2]), int(m.shape[-1])) for m in maps]
        return DetectorOutput(first_loc, first_conf, second_loc, second_conf, sizes)


def feature_sizes(height: int, width: int, n_levels: int = 6) -> list[tuple[int, int]]:
    """(H, W) of the six source maps for an input size: stride 4 first, then halving (ceil)."""
    h = -(-height // 4)
    w = -(-width // 4)
    out = []
    for _ in range(n_levels):
        out.append((h, w))
        h, w = -(-h // 2), -(-w // 2)
    return out


def build_model(config) -> DSFD:
    """A DSFD sized by a ``DetectorConfig`` (weights: see ``backbone.prepare_backbone``)."""
    return DSFD(width=config.width, batch_norm=config.batch_norm)


__all__ = ["DSFD", "DetectorOutput", "FeatureEnhance", "L2Norm", "feature_sizes", "build_model",
           "scaled", "VGG16_LAYERS", "NORMALISATION"]
