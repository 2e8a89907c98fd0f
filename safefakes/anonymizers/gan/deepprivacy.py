"""DeepPrivacy (Hukkelas et al., ISVC 2019): a conditional U-Net GAN that inpaints a face.

The generator sees only the blacked-out crop and the mask (never the face), the
pose as one one-hot map per keypoint injected at every decoder resolution, and
a 32x4x4 latent at the bottleneck. Blocks are weight-scaled 3x3 convolutions,
LeakyReLU 0.2 and pixel norm; average pooling down, nearest up. The
discriminator sees the image, the condition, the mask and the pose maps. Loss:
WGAN-GP (lambda 10) plus the 0.001 epsilon drift term; Adam betas (0, 0.99);
an EMA generator (kept by the trainer). ``l1_weight`` adds an L1 term in the
box (a mini-only departure, 0 = the published loss; see PRESETS). Progressive growing is an option: both
networks take the current resolution and fade-in ``alpha``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from safefakes.anonymizers.gan.anonymizer import MIN_FACE_SIZE
from safefakes.anonymizers.gan.blocks import (
    ConvBlock,
    MinibatchStd,
    WSConv2d,
    WSLinear,
    downsample,
    keypoint_maps,
    resolutions,
    upsample,
)
from safefakes.anonymizers.gan.trainer import ConfiguredMethod
from safefakes.anonymizers.registry import METHODS

NAME = "deepprivacy"
# Channels per resolution at width 1 (ProGAN-style: wide at low resolution).
BASE_CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32}
# Left/right keypoint pairs of the seven DeepPrivacy points (COCO order), swapped on a flip.
FLIP_PAIRS = ((1, 2), (3, 4), (5, 6))

# Model and training sizes (see ``presets.preset``): ``mini`` (CPU, under a
# minute) and ``paper`` (GPU, days).
#
# The paper settings: the architecture of DeepPrivacy's repository's V1
# config (channels 512 up to 32 px, 256 at 64 px, 128 at 128 px:
# ``BASE_CHANNELS`` at width 1; Adam betas (0, 0.99)), trained with the Safe
# Fakes study's batch 128 and learning rate 1.5e-3 (the V1 config's batch 32
# at 128 px is a later setting). The study trains all GANs at 128 px; the
# workflow sets the length (40M images for the reference model, 42M was the
# released one's). Progressive growing (``progressive``) is available; the mini
# preset trains at its full resolution (docs/calibration.md).
PRESETS: dict[str, dict[str, dict]] = {
    # The mini preset keeps the architecture and WGAN-GP + drift, and shrinks width
    # (1/32), resolution (64 px, the crop set's) and length (11,000 images). One
    # mini-only departure: an L1 term in the box (``l1_weight`` 50; 0 in "paper"),
    # because weight-scaled layers move about lr per Adam step and a pure
    # adversarial loss paints no face in this budget; hence lr 1e-2, a 10x slower
    # critic, batch 8. The measurements behind each value: docs/calibration.md.
    "mini": {
        "model": {"resolution": 64, "width": 1 / 32, "l1_weight": 50.0},
        "train": {"images": 11_000, "batch_size": 8, "lr": 1e-2, "d_lr_scale": 0.1, "betas": (0.5, 0.99),
                  "ema_halflife_images": 500, "critic_steps": 1, "progressive": False, "progressive_start": 8,
                  "progressive_images": 500, "checkpoint_every": 1_000, "sample_every": 1_000, "log_every": 160},
    },
    "paper": {
        "model": {"resolution": 128, "width": 1.0, "l1_weight": 0.0},
        "train": {"images": 40_000_000, "batch_size": 128, "lr": 1.5e-3, "ema_halflife_images": 10_000,
                  "critic_steps": 1, "progressive": False,
                  "checkpoint_every": 200_000, "sample_every": 200_000, "log_every": 10_000,
                  "workers": 8},  # crops read ahead from disk: a GPU step outruns one decoding process
    },
}


@dataclass
class DeepPrivacyConfig:
    """What determines the networks (stored in every checkpoint)."""

    resolution: int = 128
    width: float = 1.0  # channel multiplier of BASE_CHANNELS
    min_channels: int = 8
    n_keypoints: int = 7
    z_channels: int = 32  # the 32x4x4 latent
    gp_lambda: float = 10.0
    epsilon_drift: float = 0.001
    # Mini-only departure (see PRESETS): weight of a mean absolute error inside
    # the box added to the generator loss; 0 = DeepPrivacy's loss.
    l1_weight: float = 0.0
    extra: dict = field(default_factory=dict)

    def channels(self, res: int) -> int:
        return max(int(round(BASE_CHANNELS[res] * self.width)), self.min_channels)


class Generator(nn.Module):
    """U-Net: encoder of the condition, latent + pose at 4x4, decoder with skips and pose maps."""

    def __init__(self, cfg: DeepPrivacyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.levels = resolutions(cfg.resolution)
        ch, k = cfg.channels, cfg.n_keypoints
        self.from_rgb = nn.ModuleDict({str(r): WSConv2d(4, ch(r), 1) for r in self.levels})
        self.encoder = nn.ModuleDict({
            str(r): nn.Sequential(ConvBlock(ch(r), ch(r)), ConvBlock(ch(r), ch(r // 2)))
            for r in self.levels[1:]
        })
        self.bottleneck = nn.Sequential(ConvBlock(ch(4) + cfg.z_channels + k, ch(4)), ConvBlock(ch(4), ch(4)))
        self.decoder = nn.ModuleDict({
            str(r): nn.Sequential(ConvBlock(2 * ch(r // 2) + k, ch(r)), ConvBlock(ch(r), ch(r)))
            for r in self.levels[1:]
        })
        self.to_rgb = nn.ModuleDict({str(r): WSConv2d(ch(r), 3, 1, gain=1.0) for r in self.levels})
        self.current_resolution = cfg.resolution
        self.alpha = 1.0

    def forward(self, condition: torch.Tensor, mask: torch.Tensor, keypoints: torch.Tensor,
                z: torch.Tensor) -> torch.Tensor:
        """condition (B,3,r,r) in [-1,1] with the box black (-1), mask (B,1,r,r) 1 = known, keypoints (B,K,3)."""
        res, alpha = self.current_resolution, self.alpha
        x = torch.cat([condition, mask], 1)
        h = self.from_rgb[str(res)](x)
        skips = {}
        for r in [lv for lv in reversed(self.levels) if 4 < lv <= res]:
            skips[r] = self.encoder[str(r)](h)
            h = downsample(skips[r])
            if r == res and alpha < 1.0:  # fade in the new highest resolution
                h = alpha * h + (1 - alpha) * self.from_rgb[str(r // 2)](downsample(x))
        h = self.bottleneck(torch.cat([h, z.to(h.dtype), keypoint_maps(keypoints, 4).to(h.dtype)], 1))
        prev = h
        for r in [lv for lv in self.levels if 4 < lv <= res]:
            prev = h
            pose = keypoint_maps(keypoints, r).to(h.dtype)
            h = self.decoder[str(r)](torch.cat([upsample(h), skips[r], pose], 1))
        rgb = self.to_rgb[str(res)](h)
        if alpha < 1.0 and res > 4:
            rgb = alpha * rgb + (1 - alpha) * upsample(self.to_rgb[str(res // 2)](prev))
        # Outside the box the known pixels are kept: the generator only fills the box.
        return condition * mask + rgb * (1 - mask)


class Discriminator(nn.Module):
    """Sees image + condition + mask + pose maps; ProGAN blocks without pixel norm."""

    def __init__(self, cfg: DeepPrivacyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.levels = resolutions(cfg.resolution)
        ch, k = cfg.channels, cfg.n_keypoints
        n_in = 3 + 3 + 1 + k
        self.from_rgb = nn.ModuleDict({str(r): WSConv2d(n_in, ch(r), 1) for r in self.levels})
        self.blocks = nn.ModuleDict({
            str(r): nn.Sequential(ConvBlock(ch(r), ch(r), pixel_norm=False),
                                  ConvBlock(ch(r), ch(r // 2), pixel_norm=False))
            for r in self.levels[1:]
        })
        self.final = nn.Sequential(MinibatchStd(), ConvBlock(ch(4) + 1, ch(4), pixel_norm=False), nn.Flatten(),
                                   WSLinear(ch(4) * 16, ch(4)), nn.LeakyReLU(0.2), WSLinear(ch(4), 1, gain=1.0))
        self.current_resolution = cfg.resolution
        self.alpha = 1.0

    def _input(self, image, condition, mask, keypoints, res):
        return torch.cat([image, condition, mask, keypoint_maps(keypoints, res).to(image.dtype)], 1)

    def forward(self, image: torch.Tensor, condition: torch.Tensor, mask: torch.Tensor,
                keypoints: torch.Tensor) -> torch.Tensor:
        res, alpha = self.current_resolution, self.alpha
        x = self._input(image, condition, mask, keypoints, res)
        h = self.from_rgb[str(res)](x)
        for r in [lv for lv in reversed(self.levels) if 4 < lv <= res]:
            h = downsample(self.blocks[str(r)](h))
            if r == res and alpha < 1.0:
                small = self._input(downsample(image), downsample(condition), -nn.functional.max_pool2d(-mask, 2),
                                    keypoints, res // 2)
                h = alpha * h + (1 - alpha) * self.from_rgb[str(r // 2)](small)
        return self.final(h).squeeze(1)


class DeepPrivacy(ConfiguredMethod):
    """The method as the generic trainer and anonymizer use it (see trainer.GANMethod)."""

    name = NAME
    presets = PRESETS  # "mini" and "paper" settings, see PRESETS
    keypoint_layout = METHODS[NAME].keypoints
    flip_pairs = FLIP_PAIRS

    config_class = DeepPrivacyConfig
    generator_class = Generator
    discriminator_class = Discriminator

    def latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Latents on the CPU from ``generator`` (device-independent draws)."""
        return torch.randn(n, self.config.z_channels, 4, 4, generator=generator)

    def latent_from_numpy(self, n: int, rng) -> torch.Tensor:
        z = rng.standard_normal((n, self.config.z_channels, 4, 4)).astype("float32")
        return torch.from_numpy(z)

    def generate(self, G: nn.Module, batch: dict, z: torch.Tensor) -> torch.Tensor:
        return G(batch["condition"], batch["mask"], batch["keypoints"], z)

    # -- losses -----------------------------------------------------------------
    def discriminator_loss(self, G: nn.Module, D: nn.Module, batch: dict, z: torch.Tensor,
                           generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
        """WGAN-GP critic loss with the epsilon drift term; returns (loss, logged values)."""
        real = batch["image"]
        with torch.no_grad():
            fake = self.generate(G, batch, z)
        cond, mask, kp = batch["condition"], batch["mask"], batch["keypoints"]
        real_score = D(real, cond, mask, kp).float()
        fake_score = D(fake.detach(), cond, mask, kp).float()
        wasserstein = real_score.mean() - fake_score.mean()
        eps = torch.rand(real.shape[0], 1, 1, 1, generator=generator).to(real.device)
        gp = gradient_penalty(D, real, fake.detach(), eps, cond, mask, kp)
        drift = (real_score ** 2).mean()
        loss = -wasserstein + self.config.gp_lambda * gp + self.config.epsilon_drift * drift
        return loss, {"d_loss": loss.item(), "wasserstein": wasserstein.item(), "gp": gp.item(),
                      "drift": drift.item()}

    def generator_loss(self, G: nn.Module, D: nn.Module, batch: dict, z: torch.Tensor) -> tuple[torch.Tensor, dict]:
        fake = self.generate(G, batch, z)
        loss = -D(fake, batch["condition"], batch["mask"], batch["keypoints"]).float().mean()
        stats = {"g_loss": loss.item()}
        if self.config.l1_weight:
            l1 = box_l1(fake, batch["image"], batch["mask"])
            loss = loss + self.config.l1_weight * l1
            stats.update(g_loss=loss.item(), l1=l1.item())
        return loss, stats


def box_l1(fake: torch.Tensor, real: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the unknown (box, mask 0) pixels and channels."""
    box = (1 - mask.float()).expand_as(real)
    return ((fake.float() - real.float()).abs() * box).sum() / box.sum().clamp(min=1.0)


def gradient_penalty(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor,
                     condition: torch.Tensor, mask: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
    """(||grad D(x_hat)|| - 1)^2 on random interpolates; in float32 even under AMP (stable)."""
    device_type = real.device.type
    with torch.autocast(device_type=device_type, enabled=False):
        x_hat = (eps * real.float() + (1 - eps) * fake.float()).requires_grad_(True)
        score = D(x_hat, condition.float(), mask.float(), keypoints.float())
        (grad,) = torch.autograd.grad(score.sum(), x_hat, create_graph=True)
        return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def build_deepprivacy(*, checkpoint: str, device: str = "auto", min_size: int = MIN_FACE_SIZE,
                      batch_size: int = 64):
    """The registry's factory: a DeepPrivacy anonymizer from a ``train-anonymizer`` checkpoint."""
    from safefakes.anonymizers.gan.anonymizer import GANAnonymizer

    return GANAnonymizer(checkpoint, device=device, min_size=min_size, batch_size=batch_size,
                         expect_method=NAME)
