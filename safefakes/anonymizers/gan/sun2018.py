"""Sun2018 (Sun et al., "Natural and effective obfuscation by head inpainting", CVPR 2018).

No public code exists; this is a from-scratch re-implementation of the
paper's landmark-conditioned inpainting stage (stage II), as the Safe Fakes
study did, with the paper's stage I (landmark generation) as an option:

* Input: the crop with the face box blacked out (``input="black"``, the
  default and the private one) or blurred (``input="blur"``: the paper found
  it about 3 % better for the detector but it is less private: the blurred
  face reaches the generator), the known-pixel mask, and dlib's 68 landmarks
  as 68 landmark maps (``landmarks.landmark_heatmaps``: a disc of 4 px at
  128 px around each point, the encoding of the same group's PG2).
* Generator: a U-Net with skip connections (stride-2 encoder, nearest-up
  decoder, instance norm); its output fills the box only.
* Loss: L1 reconstruction inside the box plus an adversarial loss from two
  discriminators: a global one on the whole crop (the inpainted region in its
  context, with the mask and the landmark maps) and a local one on the box
  region cut out with a margin of context (RoI-aligned to half the
  resolution). Non-saturating GAN loss.
* Stage I (``missing_landmarks="generate"``): the paper's landmark generation,
  here a small network (``LandmarkNet``) that regresses the 68 landmarks from
  the obfuscated crop, trained beside the generator on the crops' landmarks;
  it gives the inpainting stage a layout for faces the landmark detector missed.
* Paper preset: batch 64, lr 5e-4 for G and 2e-5 for D.

Faces without landmarks still run, recorded as ``Status.NO_KEYPOINTS_FALLBACK``:
with empty landmark maps (``missing_landmarks="empty"``, the inpainting stage
alone, as the Safe Fakes study ran it; the paper notes this gives face-like
blobs), or with stage I's generated landmarks.

The shared trainer has one learning rate for both networks. The
discriminator's lower rate is built into its layers: each weight is stored
divided by ``d_lr_scale`` and multiplied back in the forward pass, so Adam's
steps (invariant to gradient scale) move the effective weights
``d_lr_scale`` times slower: exactly Adam at lr * d_lr_scale (with its eps
scaled alike).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from safefakes.anonymizers.base import AnonymizedImage
from safefakes.anonymizers.gan.anonymizer import MIN_FACE_SIZE, GANAnonymizer
from safefakes.anonymizers.gan.blocks import resolutions
from safefakes.anonymizers.gan.geometry import EXPAND, crop_face, paste_face, paste_order, real_crop
from safefakes.anonymizers.gan.landmarks import DLIB68_FLIP_PAIRS, N_LANDMARKS, heatmap_radius, landmark_heatmaps
from safefakes.anonymizers.gan.trainer import ConfiguredMethod
from safefakes.anonymizers.registry import METHODS
from safefakes.data.anonymized import Status
from safefakes.data.boxes import clip_box

NAME = "sun2018"
INPUTS = ("black", "blur")
MISSING_LANDMARKS = ("empty", "generate")
# Channels per resolution at width 1 (pix2pix-like: 64 at 64 px up to 512).
CHANNELS = {256: 32, 128: 32, 64: 64, 32: 128, 16: 256, 8: 512, 4: 512}

# Model and training sizes (see ``presets.preset``): ``mini`` (CPU, about a
# minute) and ``paper`` (GPU).
PRESETS: dict[str, dict[str, dict]] = {
    # 32 px at 1/8 width; G lr 1e-3 and D lr 1e-3 * 0.1 so a minute of CPU gives faces.
    # Stage I on (``missing_landmarks``: "generate"), a mini-only departure: the
    # synthetic train split's faces are almost all under the 50 px at which dlib's
    # landmarks end (23 of its 1,586 faces have them), so the inpainting stage
    # alone painted featureless skin into nearly every box: the frozen original
    # detector found 0.13 of the faces >= 16 px (0.83 on the original split), at
    # 4,000 and at 16,000 images alike, while the training samples (all with
    # landmarks) showed eyes, brows and mouths. With stage I the same training
    # found 0.79 (docs/calibration.md).
    "mini": {
        "model": {"resolution": 32, "width": 0.125, "d_lr_scale": 0.1, "missing_landmarks": "generate"},
        "train": {"images": 4_000, "batch_size": 16, "lr": 1e-3, "betas": (0.5, 0.999),
                  "ema_halflife_images": 200, "checkpoint_every": 1_000, "sample_every": 1_000,
                  "log_every": 160},
    },
    # The paper: batch 64, lr 5e-4 (G) and 2e-5 (D); 128 px as the study; the
    # inpainting stage alone (empty maps where dlib finds no landmarks), as Safe Fakes ran it.
    "paper": {
        "model": {"resolution": 128, "width": 1.0, "d_lr_scale": 2e-5 / 5e-4, "missing_landmarks": "empty"},
        "train": {"images": 2_000_000, "batch_size": 64, "lr": 5e-4, "betas": (0.5, 0.999),
                  "ema_halflife_images": 0, "checkpoint_every": 100_000, "sample_every": 100_000,
                  "log_every": 5_000, "workers": 8},  # crops read ahead from disk
    },
}

@dataclass
class Sun2018Config:
    """What determines the networks (stored in every checkpoint)."""

    resolution: int = 128
    width: float = 1.0
    min_channels: int = 8
    input: str = "black"  # or "blur": the box blurred instead of blacked out
    blur_sigma: float = 0.04  # Gaussian sigma as a fraction of the crop side (input="blur")
    heatmap_radius_at_128: float = 4.0
    z_channels: int = 0  # the paper's inpainting stage has no noise input
    l1_weight: float = 10.0
    local_context: float = 0.25  # margin around the box seen by the local discriminator, of its size
    d_lr_scale: float = 2e-5 / 5e-4
    # A face without detected landmarks: "empty" maps (the inpainting stage alone,
    # as the Safe Fakes study ran it: face-like blobs) or "generate" them from the
    # obfuscated crop with the paper's stage I (``LandmarkNet``).
    missing_landmarks: str = "empty"
    landmark_weight: float = 10.0  # stage I's L1 on the landmark coordinates (in crop units)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.input not in INPUTS:
            raise ValueError(f"sun2018 input must be one of {INPUTS}, got {self.input!r}")
        if self.missing_landmarks not in MISSING_LANDMARKS:
            raise ValueError(f"sun2018 missing_landmarks must be one of {MISSING_LANDMARKS}, "
                             f"got {self.missing_landmarks!r}")

    def channels(self, res: int) -> int:
        return max(int(round(CHANNELS[res] * self.width)), self.min_channels)


# --------------------------------------------------------------------------- #
# Layers
# --------------------------------------------------------------------------- #
def _block(c_in: int, c_out: int, stride: int = 1, norm: bool = True, act: str = "lrelu") -> nn.Sequential:
    k = 4 if stride == 2 else 3
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride, 1)]
    if norm:
        layers.append(nn.InstanceNorm2d(c_out, affine=True))
    layers.append(nn.LeakyReLU(0.2) if act == "lrelu" else nn.ReLU())
    return nn.Sequential(*layers)


class _ScaledConv2d(nn.Conv2d):
    """A convolution whose learning rate is ``scale`` times the optimizer's (see the module doc)."""

    def __init__(self, *args, scale: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lr_scale = float(scale)
        with torch.no_grad():
            self.weight.div_(self.lr_scale)
            if self.bias is not None:
                self.bias.div_(self.lr_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_scale if self.bias is not None else None
        return F.conv2d(x, self.weight * self.lr_scale, bias, self.stride, self.padding)


class _ScaledLinear(nn.Linear):
    def __init__(self, *args, scale: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lr_scale = float(scale)
        with torch.no_grad():
            self.weight.div_(self.lr_scale)
            self.bias.div_(self.lr_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.lr_scale, self.bias * self.lr_scale)


# --------------------------------------------------------------------------- #
# Networks
# --------------------------------------------------------------------------- #
class Generator(nn.Module):
    """U-Net with skips: (condition, mask, 68 landmark maps[, z]) -> the crop with the box filled."""

    def __init__(self, cfg: Sun2018Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.levels = resolutions(cfg.resolution)  # 4 .. R
        ch, R = cfg.channels, cfg.resolution
        self.stem = _block(3 + 1 + N_LANDMARKS, ch(R), norm=False)
        self.down = nn.ModuleDict({str(r): nn.Sequential(_block(ch(r), ch(r)), _block(ch(r), ch(r // 2), stride=2))
                                   for r in self.levels[1:]})
        self.bottleneck = _block(ch(4) + cfg.z_channels, ch(4))
        self.up = nn.ModuleDict({str(r): nn.Sequential(_block(ch(r // 2) + ch(r), ch(r), act="relu"),
                                                       _block(ch(r), ch(r), act="relu"))
                                 for r in self.levels[1:]})
        self.to_rgb = nn.Conv2d(ch(R), 3, 1)
        self.landmark_net = LandmarkNet(cfg) if cfg.missing_landmarks == "generate" else None

    def forward(self, condition: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor,
                z: torch.Tensor | None = None) -> torch.Tensor:
        h = self.stem(torch.cat([condition, mask, maps], 1))
        skips = {}
        for r in reversed(self.levels[1:]):
            skips[r] = h
            h = self.down[str(r)](h)
        if self.cfg.z_channels:
            h = torch.cat([h, z.to(h.dtype)], 1)
        h = self.bottleneck(h)
        for r in self.levels[1:]:
            h = self.up[str(r)](torch.cat([F.interpolate(h, scale_factor=2, mode="nearest"), skips[r]], 1))
        rgb = torch.tanh(self.to_rgb(h))
        return condition * mask + rgb * (1 - mask)


class LandmarkNet(nn.Module):
    """Sun2018's stage I: the 68 landmarks of the hidden face, generated from the obfuscated crop.

    Stride-2 convolutions of (condition, mask) down to 4x4, then a linear layer to
    68 (x, y) in [0, 1] of the crop. Trained by an L1 loss on the detected
    (visible) landmarks of the training crops; at anonymization it stands in for a
    landmark detector that found nothing, so the inpainting stage gets a face layout
    fitted to the head's context instead of empty maps.
    """

    def __init__(self, cfg: Sun2018Config) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        res, c = cfg.resolution, 4
        while res > 4:
            c_out = cfg.channels(res // 2)
            layers.append(_block(c, c_out, stride=2, norm=False))
            res, c = res // 2, c_out
        self.features = nn.Sequential(*layers)
        self.points = nn.Linear(c * 16, N_LANDMARKS * 2)

    def forward(self, condition: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, 68, 2) landmark positions in [0, 1] of the crop."""
        h = self.features(torch.cat([condition, mask], 1)).flatten(1)
        return torch.sigmoid(self.points(h)).view(-1, N_LANDMARKS, 2)


class PatchCritic(nn.Module):
    """Stride-2 convolutions down to 4x4, then a linear score; learning rate scaled by ``scale``."""

    def __init__(self, c_in: int, resolution: int, cfg: Sun2018Config, scale: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        res, c = resolution, c_in
        while res > 4:
            c_out = cfg.channels(res // 2)
            layers += [_ScaledConv2d(c, c_out, 4, 2, 1, scale=scale), nn.LeakyReLU(0.2)]
            res, c = res // 2, c_out
        self.features = nn.Sequential(*layers)
        self.score = _ScaledLinear(c * 16, 1, scale=scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.features(x).flatten(1)).squeeze(1)


class Discriminator(nn.Module):
    """The global (whole crop: image, mask, landmarks) and local (box and its margin) critics."""

    def __init__(self, cfg: Sun2018Config) -> None:
        super().__init__()
        self.cfg = cfg
        scale = cfg.d_lr_scale
        self.global_critic = PatchCritic(3 + 1 + 1, cfg.resolution, cfg, scale)
        self.local_critic = PatchCritic(3 + 1, max(cfg.resolution // 2, 8), cfg, scale)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision.ops import roi_align

        pose = maps.amax(1, keepdim=True)  # all landmarks in one map: cheap, still shows the layout
        g = self.global_critic(torch.cat([image, mask, pose], 1))
        rois = box_regions(mask, self.cfg.local_context)
        size = max(self.cfg.resolution // 2, 8)
        local = roi_align(torch.cat([image, pose], 1).float(), rois, (size, size), 1.0, 2, True).to(image.dtype)
        return g, self.local_critic(local)


def box_regions(mask: torch.Tensor, context: float) -> torch.Tensor:
    """(B, 5) RoIs (batch index, x1, y1, x2, y2) of the unknown region of each mask, grown by ``context``."""
    b, _, h, w = mask.shape
    hole = mask[:, 0] < 0.5
    rows, cols = hole.any(2), hole.any(1)
    none = ~rows.any(1)
    y1 = rows.float().argmax(1).float()
    y2 = h - rows.flip(1).float().argmax(1).float()
    x1 = cols.float().argmax(1).float()
    x2 = w - cols.flip(1).float().argmax(1).float()
    # A sample with nothing to inpaint: the whole crop.
    y1, x1 = torch.where(none, 0.0, y1), torch.where(none, 0.0, x1)
    y2, x2 = torch.where(none, float(h), y2), torch.where(none, float(w), x2)
    my, mx = (y2 - y1) * context, (x2 - x1) * context
    return torch.stack([torch.arange(b, device=mask.device, dtype=torch.float32),
                        (x1 - mx).clamp(0, w), (y1 - my).clamp(0, h),
                        (x2 + mx).clamp(0, w), (y2 + my).clamp(0, h)], 1).to(mask.device)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, H, W) images, reflect padding."""
    if sigma <= 0:
        return images
    radius = max(int(np.ceil(3 * sigma)), 1)
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=images.device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = (k / k.sum()).to(images.dtype)
    c = images.shape[1]
    out = F.pad(images, (radius, radius, 0, 0), mode="reflect")
    out = F.conv2d(out, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    out = F.pad(out, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(out, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


# --------------------------------------------------------------------------- #
# The method (trainer protocol: see trainer.GANMethod)
# --------------------------------------------------------------------------- #
class Sun2018(ConfiguredMethod):
    """The method as the generic trainer and ``Sun2018Anonymizer`` use it."""

    name = NAME
    presets = PRESETS  # "mini" and "paper" settings, see PRESETS
    keypoint_layout = METHODS[NAME].keypoints
    flip_pairs = DLIB68_FLIP_PAIRS

    config_class = Sun2018Config
    generator_class = Generator
    discriminator_class = Discriminator

    def latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.z_channels, 4, 4, generator=generator)

    def latent_from_numpy(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        return torch.from_numpy(rng.standard_normal((n, self.config.z_channels, 4, 4)).astype(np.float32))

    def blur_condition(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The crop with the box replaced by its blur (input='blur')."""
        sigma = self.config.blur_sigma * image.shape[-1]
        return image * mask + gaussian_blur(image, sigma) * (1 - mask)

    def maps(self, keypoints: torch.Tensor, resolution: int) -> torch.Tensor:
        return landmark_heatmaps(keypoints, resolution, heatmap_radius(resolution, self.config.heatmap_radius_at_128))

    def condition(self, batch: dict) -> torch.Tensor:
        """The generator's image input. In blur mode a training batch (with the real
        ``image``) gets its box blurred here; at anonymization the anonymizer has
        already put the blurred box into ``condition``."""
        if self.config.input == "blur" and "image" in batch:
            return self.blur_condition(batch["image"], batch["mask"])
        return batch["condition"]

    def keypoints(self, G: nn.Module, batch: dict, condition: torch.Tensor) -> torch.Tensor:
        """The batch's landmarks; with stage I, generated ones for faces that have none."""
        kp = batch["keypoints"]
        if G.landmark_net is None:
            return kp
        missing = ~(kp[..., 2] > 0).any(1)
        if not bool(missing.any()):
            return kp
        generated = G.landmark_net(condition, batch["mask"]).to(kp.dtype)
        generated = torch.cat([generated, torch.ones_like(generated[..., :1])], -1)
        return torch.where(missing[:, None, None], generated, kp)

    def generate(self, G: nn.Module, batch: dict, z: torch.Tensor) -> torch.Tensor:
        cond = self.condition(batch)
        maps = self.maps(self.keypoints(G, batch, cond), cond.shape[-1]).to(cond.dtype)
        return G(cond, batch["mask"], maps, z.to(cond.device))

    # -- losses -----------------------------------------------------------------
    def discriminator_loss(self, G: nn.Module, D: Discriminator, batch: dict, z: torch.Tensor,
                           generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
        real, mask = batch["image"], batch["mask"]
        maps = self.maps(batch["keypoints"], real.shape[-1]).to(real.dtype)
        with torch.no_grad():
            fake = self.generate(G, batch, z)
        rg, rl = D(real, mask, maps)
        fg, fl = D(fake.detach(), mask, maps)
        d_global = F.softplus(-rg.float()).mean() + F.softplus(fg.float()).mean()
        d_local = F.softplus(-rl.float()).mean() + F.softplus(fl.float()).mean()
        loss = d_global + d_local
        return loss, {"d_loss": loss.item(), "d_global": d_global.item(), "d_local": d_local.item()}

    def generator_loss(self, G: nn.Module, D: Discriminator, batch: dict, z: torch.Tensor) -> tuple[torch.Tensor, dict]:
        real, mask = batch["image"], batch["mask"]
        maps = self.maps(batch["keypoints"], real.shape[-1]).to(real.dtype)
        fake = self.generate(G, batch, z)
        fg, fl = D(fake, mask, maps)
        adv = F.softplus(-fg.float()).mean() + F.softplus(-fl.float()).mean()
        hole = 1 - mask
        l1 = ((fake.float() - real.float()).abs() * hole).sum() / (hole.sum() * 3).clamp_min(1.0)
        loss = adv + self.config.l1_weight * l1
        stats = {"g_adv": adv.item(), "l1": l1.item()}
        if G.landmark_net is not None:
            kp = batch["keypoints"].float()
            predicted = G.landmark_net(self.condition(batch), mask).float()
            visible = (kp[..., 2:] > 0).float()
            err = ((predicted - kp[..., :2]).abs() * visible).sum() / (2 * visible.sum()).clamp_min(1.0)
            loss = loss + self.config.landmark_weight * err
            stats["landmark_l1"] = err.item()
        return loss, {"g_loss": loss.item(), **stats}


# --------------------------------------------------------------------------- #
# Anonymization
# --------------------------------------------------------------------------- #
class Sun2018Anonymizer(GANAnonymizer):
    """Inpaint every face box conditioned on its 68 landmarks (empty maps where there are none)."""

    def __init__(self, checkpoint: str | Path, device: str = "auto", min_size: int = MIN_FACE_SIZE,
                 expand: float = EXPAND, batch_size: int = 64) -> None:
        super().__init__(checkpoint, device=device, min_size=min_size, expand=expand, batch_size=batch_size,
                         expect_method=NAME)

    def describe(self) -> dict:
        return {**super().describe(), "input": self.method.config.input}

    def anonymize(self, image: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray | None = None,
                  rng: np.random.Generator | None = None) -> AnonymizedImage:
        if self.method.config.input == "black":
            # The shared GAN anonymizer does exactly this: box blacked out, empty
            # maps (and NO_KEYPOINTS_FALLBACK) for faces without landmarks.
            return super().anonymize(image, boxes, keypoints, rng)
        return self._anonymize_blurred(image, boxes, keypoints, rng)

    @property
    def batches_images(self) -> bool:
        return self.method.config.input == "black"

    def anonymize_many(self, items) -> list[AnonymizedImage]:
        if self.method.config.input == "black":
            return super().anonymize_many(items)
        return [self._anonymize_blurred(*item) for item in items]

    def _anonymize_blurred(self, image, boxes, keypoints, rng) -> AnonymizedImage:
        """input='blur': each face's own box blurred (not hidden); every other replaced face is blacked out."""
        rng = rng if rng is not None else np.random.default_rng(0)
        H, W = image.shape[:2]
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        n = len(boxes)
        statuses, todo = self._faces_to_do(boxes, W, H)
        z_all = self.method.latent_from_numpy(n, rng) if n else None
        out = image.copy()
        if not todo:
            return AnonymizedImage(out, statuses)
        R = self.method.resolution
        tight = {i: clip_box(boxes[i], W, H) for i in todo}
        crops, conds, kps = {}, {}, {}
        for i in todo:
            kp = self._face_keypoints(keypoints, i)
            if kp is None:
                statuses[i] = Status.NO_KEYPOINTS_FALLBACK
            others = [tight[j] for j in todo if j != i]
            crops[i] = crop_face(image, boxes[i], R, kp, self.expand, others)
            context = image.copy()
            for x1, y1, x2, y2 in others:
                context[y1:y2, x1:x2] = 0
            conds[i] = real_crop(context, crops[i].square, R)
            kps[i] = crops[i].keypoints if kp is not None else np.zeros((N_LANDMARKS, 3), np.float32)
        generated = {}
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            ctx = torch.from_numpy(np.stack([conds[i] for i in chunk])).permute(0, 3, 1, 2).float().div(127.5).sub(1)
            mask = torch.from_numpy(np.stack([crops[i].mask for i in chunk])).unsqueeze(1).float()
            batch = {
                "condition": self.method.blur_condition(ctx, mask).to(self.device),
                "mask": mask.to(self.device),
                "keypoints": torch.from_numpy(np.stack([kps[i] for i in chunk])).float().to(self.device),
            }
            with torch.no_grad():
                fake = self.method.generate(self.G, batch, z_all[chunk].to(self.device))
            arr = ((fake.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
            generated.update(zip(chunk, arr))
        for i in paste_order(boxes):
            if i in generated:
                paste_face(out, generated[i], crops[i])
        return AnonymizedImage(out, statuses)


def build_sun2018(*, checkpoint: str, device: str = "auto", min_size: int = MIN_FACE_SIZE,
                  batch_size: int = 64) -> Sun2018Anonymizer:
    """The registry's factory: a Sun2018 anonymizer from a ``train-anonymizer`` checkpoint."""
    return Sun2018Anonymizer(checkpoint, device=device, min_size=min_size, batch_size=batch_size)
