"""Layers shared by the GANs: equalized-learning-rate convolutions, pixel norm, ...

Weight scaling (ProGAN's equalized learning rate): weights are stored as
N(0, 1) and multiplied by He's constant sqrt(2 / fan_in) at run time, so Adam
updates every layer at the same speed whatever its fan-in.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class WSConv2d(nn.Module):
    """A weight-scaled convolution ('same' padding)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, gain: float = math.sqrt(2)) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class WSLinear(nn.Module):
    """A weight-scaled fully connected layer."""

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2)) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit average square (ProGAN)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class ConvBlock(nn.Sequential):
    """Weight-scaled 3x3 conv, LeakyReLU 0.2 and (optionally) pixel norm."""

    def __init__(self, in_channels: int, out_channels: int, pixel_norm: bool = True) -> None:
        layers: list[nn.Module] = [WSConv2d(in_channels, out_channels, 3), nn.LeakyReLU(0.2)]
        if pixel_norm:
            layers.append(PixelNorm())
        super().__init__(*layers)


class MinibatchStd(nn.Module):
    """Append the average standard deviation over a group of samples (ProGAN) as one channel."""

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        if n % g:
            g = 1
        y = x.float().reshape(g, -1, c, h, w)
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (n/g,)
        y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w).to(x.dtype)
        return torch.cat([x, y], dim=1)


def downsample(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2)


def upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


def keypoint_maps(keypoints: torch.Tensor, resolution: int) -> torch.Tensor:
    """One-hot spatial map per keypoint: (B, K, 3) x, y in [0, 1], visible -> (B, K, R, R).

    An invisible keypoint (or a face without keypoints) gives an all-zero map,
    which is how DeepPrivacy runs faces it has no pose for.
    """
    b, k, _ = keypoints.shape
    maps = torch.zeros(b, k, resolution * resolution, device=keypoints.device, dtype=torch.float32)
    if k == 0:
        return maps.reshape(b, 0, resolution, resolution)
    col = (keypoints[..., 0] * resolution).floor().long().clamp(0, resolution - 1)
    row = (keypoints[..., 1] * resolution).floor().long().clamp(0, resolution - 1)
    vis = (keypoints[..., 2] > 0).float()
    maps.scatter_(2, (row * resolution + col).unsqueeze(-1), vis.unsqueeze(-1))
    return maps.reshape(b, k, resolution, resolution)


def resolutions(resolution: int, lowest: int = 4) -> list[int]:
    """The resolutions of a pyramid from ``lowest`` up to ``resolution`` (powers of two)."""
    if resolution < lowest or resolution & (resolution - 1):
        raise ValueError(f"resolution {resolution} must be a power of two >= {lowest}")
    out = [lowest]
    while out[-1] < resolution:
        out.append(out[-1] * 2)
    return out
