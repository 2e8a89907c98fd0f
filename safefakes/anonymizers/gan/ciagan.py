"""CIAGAN (Maximov et al., CVPR 2020): a conditional identity anonymization GAN.

As published:

* Generator input: CIAGAN's landmark image (1-px lines along the jaw, the
  nose bridge and the inner mouth) and the face crop with the CIAGAN mask
  blacked out (the jaw polygon closed at eyebrow height; see
  ``landmarks.py``). A one-hot *target identity* goes through an MLP to a
  32x4x4 map, then convolutions, and joins the encoder at the bottleneck.
  Residual down blocks, residual blocks and residual up blocks with instance
  norm; **no skip connections** (they would carry the real face's identity
  around the bottleneck).
* Output: face * (1 - mask) + G * mask.
* Discriminator: sees the output together with the landmark image; LSGAN loss.
* Identity loss: a siamese identity network (``identity.py``) trained next to
  the GAN with a margin-based contrastive loss on real crops of the crop
  set's identities; the generator's output is pulled towards the embedding
  of the target identity.
* Adam lr 1e-4, betas (0.5, 0.999); batch 16 (paper preset).

Departures, each forced by the shared trainer and documented here: the
discriminator object holds the critic, the siamese network and the identity
bank (so the trainer's single critic optimizer, checkpoints and resume cover
all three; CIAGAN also updates the siamese net once per step with the same
Adam settings); the identity reference is the running mean embedding of the
target identity instead of one random photo of it (``identity.py``); the
generator has no spectral norm (the trainer's EMA averages parameters, not the
power-iteration buffers spectral norm keeps; the discriminator keeps it, on
its two dense layers too, where CIAGAN's has it on the convolutions only);
the mini preset makes one critic update per generator update (the paper
preset five, as CIAGAN's repository) and adds an L1 term inside the mask
(``l1_weight``, 0 = CIAGAN's loss, as in the paper preset; see PRESETS); a
tanh on the generator's output and no leading relu in the first residual
block of each network (our images are in [-1, 1], CIAGAN's in [0, 1]).

What the generator sees (privacy): the crop around the face (the box made
square and grown by 0.35 of its side on every side) with the CIAGAN mask
blacked out, the landmark lines and the target identity. The mask does not
cover the whole box: the forehead, hair, ears and box corners outside the jaw
polygon are seen by the generator *and kept in the output*, as CIAGAN
intends. At anonymization, every pixel CIAGAN replaces (the mask mapped back
to image pixels) is blacked out before any crop is cut, so those pixels never
reach the generator; faces without landmarks have their whole box blacked
out (``Status.NO_LANDMARKS_BLACKED_OUT``), as the paper did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from safefakes.anonymizers.base import AnonymizedImage
from safefakes.anonymizers.gan.anonymizer import MIN_FACE_SIZE, GANAnonymizer
from safefakes.anonymizers.gan.blocks import resolutions
from safefakes.anonymizers.gan.geometry import EXPAND, paste_order, real_crop, square_box
from safefakes.anonymizers.gan.identity import (
    MARGIN,
    IdentityBank,
    IdentityNet,
    batch_contrastive_loss,
    contrastive_loss,
)
from safefakes.anonymizers.gan.landmarks import DLIB68_FLIP_PAIRS, ciagan_inputs, ciagan_mask
from safefakes.anonymizers.gan.trainer import ConfiguredMethod
from safefakes.anonymizers.registry import METHODS
from safefakes.data.anonymized import Status
from safefakes.data.boxes import clip_box

NAME = "ciagan"
# Channels per resolution at width 1: CIAGAN's 32/64/128/256/256 encoder (and the
# mirrored decoder ending in 16 at 128 px); the critic's 64..512.
G_CHANNELS = {256: 16, 128: 16, 64: 32, 32: 64, 16: 128, 8: 256, 4: 256}
D_CHANNELS = {256: 32, 128: 32, 64: 64, 32: 128, 16: 256, 8: 512, 4: 512}

# Model and training sizes (see ``presets.preset``): ``mini`` (CPU, under a
# minute) and ``paper`` (GPU).
PRESETS: dict[str, dict[str, dict]] = {
    # 32 px at 1/8 width (width 0.25 doubles the CPU time). One mini-only
    # departure: an L1 term between output and real face inside the mask
    # (``l1_weight`` 50; 0 = CIAGAN, as in "paper"), because CIAGAN's loss alone
    # paints no face in a CPU minute; G lr 4e-3, a 10x slower critic and siamese
    # net, batch 8, 6,000 images. The measurements: docs/calibration.md.
    "mini": {
        "model": {"resolution": 32, "width": 0.125, "n_identities": 256, "mlp_layers": 3, "res_blocks": 2,
                  "identity_width": 8, "identity_dim": 64, "l1_weight": 50.0},
        "train": {"images": 6_000, "batch_size": 8, "lr": 4e-3, "d_lr_scale": 0.1, "betas": (0.5, 0.999),
                  "critic_steps": 1, "ema_halflife_images": 200, "checkpoint_every": 1_000,
                  "sample_every": 1_000, "log_every": 160},
    },
    # CIAGAN's repository: 128 px, 1200 CelebA identities, batch 16, lr 1e-4,
    # betas (0.5, 0.999), 5 critic updates per generator update, 100 epochs
    # (4M images over its CelebA subset of about 40k faces), no EMA.
    "paper": {
        "model": {"resolution": 128, "width": 1.0, "n_identities": 1200, "mlp_layers": 7, "res_blocks": 4,
                  "identity_width": 32, "identity_dim": 128, "l1_weight": 0.0},
        "train": {"images": 4_000_000, "batch_size": 16, "lr": 1e-4, "betas": (0.5, 0.999), "critic_steps": 5,
                  "ema_halflife_images": 0, "checkpoint_every": 100_000, "sample_every": 100_000,
                  "log_every": 5_000, "workers": 8},  # crops read ahead from disk
    },
}

@dataclass
class CiaganConfig:
    """What determines the networks (stored in every checkpoint)."""

    resolution: int = 128
    width: float = 1.0
    min_channels: int = 8
    n_identities: int = 1200  # one-hot size: CIAGAN's 1200 CelebA identities
    mlp_layers: int = 7  # CIAGAN's one-hot MLP depth
    res_blocks: int = 4
    identity_width: int = 32
    identity_dim: int = 128
    margin: float = MARGIN
    identity_weight: float = 1.0
    # Mini-only departure (see PRESETS): weight of an L1 term between the output
    # and the real face inside the mask. 0 = CIAGAN's generator loss exactly.
    l1_weight: float = 0.0
    mask_dilate: int = 1  # px of the crop; covers resampling at the mask's edge
    extra: dict = field(default_factory=dict)

    def g_channels(self, res: int) -> int:
        return max(int(round(G_CHANNELS[res] * self.width)), self.min_channels)

    def d_channels(self, res: int) -> int:
        return max(int(round(D_CHANNELS[res] * self.width)), self.min_channels)

    @property
    def z_channels(self) -> int:
        """Channels of the identity's 4x4 map (CIAGAN: 32)."""
        return max(int(round(32 * self.width)), 4)

    @property
    def mlp_width(self) -> int:
        return max(int(round(256 * self.width)), 16)


# --------------------------------------------------------------------------- #
# Layers (CIAGAN's residual blocks)
# --------------------------------------------------------------------------- #
def _conv(c_in: int, c_out: int, k: int = 3, sn: bool = False) -> nn.Module:
    conv = nn.Conv2d(c_in, c_out, k, 1, 0)
    return nn.Sequential(nn.ReflectionPad2d(k // 2), spectral_norm(conv) if sn else conv)


class ResBlockDown(nn.Module):
    """relu-conv-relu-conv-avgpool with a 1x1-conv-avgpool shortcut.

    The first block of a network skips the leading relu: CIAGAN's images are in
    [0, 1], ours in [-1, 1], where it would erase every dark pixel.
    """

    def __init__(self, c_in: int, c_out: int, sn: bool = False, first: bool = False) -> None:
        super().__init__()
        self.conv1, self.conv2 = _conv(c_in, c_out, 3, sn), _conv(c_out, c_out, 3, sn)
        self.skip = _conv(c_in, c_out, 1, sn)
        self.first = first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        return F.avg_pool2d(out, 2) + F.avg_pool2d(self.skip(x), 2)


class ResBlockUp(nn.Module):
    """norm-relu-up-conv-norm-relu-conv with an up-1x1-conv shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.InstanceNorm2d(c_in, affine=True), nn.InstanceNorm2d(c_out, affine=True)
        self.conv1, self.conv2 = _conv(c_in, c_out), _conv(c_out, c_out)
        self.skip = _conv(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(F.relu(self.norm1(x)), scale_factor=2, mode="nearest")
        out = self.conv2(F.relu(self.norm2(self.conv1(out))))
        return out + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(ch, ch), nn.InstanceNorm2d(ch, affine=True), nn.ReLU(),
                                  _conv(ch, ch), nn.InstanceNorm2d(ch, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


# --------------------------------------------------------------------------- #
# Networks
# --------------------------------------------------------------------------- #
class Generator(nn.Module):
    """Encoder of (landmark image, masked face) -> + identity map at 4x4 -> decoder; no skips."""

    def __init__(self, cfg: CiaganConfig) -> None:
        super().__init__()
        self.cfg = cfg
        levels = resolutions(cfg.resolution)  # 4 .. R
        ch = cfg.g_channels
        enc: list[nn.Module] = []
        c_in = 1 + 3
        for r in reversed(levels[:-1]):  # outputs at R/2 .. 4
            enc += [ResBlockDown(c_in, ch(r), first=not enc), nn.InstanceNorm2d(ch(r), affine=True)]
            c_in = ch(r)
        self.encoder = nn.Sequential(*enc)
        mlp: list[nn.Module] = []
        width, n_in = cfg.mlp_width, cfg.n_identities
        for _ in range(max(cfg.mlp_layers - 1, 0)):
            mlp += [nn.Linear(n_in, width), nn.LeakyReLU(0.2)]
            n_in = width
        mlp += [nn.Linear(n_in, cfg.z_channels * 16), nn.LeakyReLU(0.2)]
        self.identity_mlp = nn.Sequential(*mlp)
        zc, c4 = cfg.z_channels, ch(4)
        self.identity_conv = nn.Sequential(
            _conv(zc, 2 * zc), nn.LeakyReLU(0.2), nn.InstanceNorm2d(2 * zc, affine=True),
            _conv(2 * zc, c4), nn.LeakyReLU(0.2), nn.InstanceNorm2d(c4, affine=True))
        self.embed = nn.Sequential(_conv(2 * c4, c4), nn.InstanceNorm2d(c4, affine=True))
        self.res = nn.Sequential(*[ResBlock(c4) for _ in range(cfg.res_blocks)])
        dec: list[nn.Module] = []
        c_in = c4
        for r in levels[1:]:  # outputs at 8 .. R
            dec += [ResBlockUp(c_in, ch(r)), nn.InstanceNorm2d(ch(r), affine=True)]
            c_in = ch(r)
        self.decoder = nn.Sequential(*dec)
        self.to_rgb = nn.Conv2d(c_in, 3, 3, 1, 1)

    def forward(self, landmarks: torch.Tensor, masked_face: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        """landmarks (B,1,R,R), masked_face (B,3,R,R) in [-1,1], identity (B, n_identities) one-hot."""
        h = self.encoder(torch.cat([landmarks, masked_face], 1))
        z = self.identity_mlp(identity.to(h.dtype)).view(-1, self.cfg.z_channels, 4, 4)
        h = self.embed(torch.cat([h, self.identity_conv(z)], 1))
        # tanh keeps the output in the image range (CIAGAN's own output is unbounded;
        # bounded, the mini model leaves the colour-noise phase much sooner).
        return torch.tanh(self.to_rgb(self.decoder(self.res(h))))


class Critic(nn.Module):
    """LSGAN critic of (image, landmark image): spectral-norm residual down blocks and two dense layers."""

    def __init__(self, cfg: CiaganConfig) -> None:
        super().__init__()
        levels = resolutions(cfg.resolution)
        ch = cfg.d_channels
        blocks, c_in = [], 3 + 1
        for r in reversed(levels[:-1]):
            blocks.append(ResBlockDown(c_in, ch(r), sn=True, first=not blocks))
            c_in = ch(r)
        self.blocks = nn.Sequential(*blocks)
        self.dense = nn.Sequential(nn.Flatten(), spectral_norm(nn.Linear(c_in * 16, 2 * c_in)), nn.LeakyReLU(0.2),
                                   spectral_norm(nn.Linear(2 * c_in, 1)))

    def forward(self, image: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        return self.dense(F.relu(self.blocks(torch.cat([image, landmarks], 1)))).squeeze(1)


class Discriminator(nn.Module):
    """What CIAGAN trains against the generator: the critic, the siamese network and the identity bank."""

    def __init__(self, cfg: CiaganConfig) -> None:
        super().__init__()
        self.critic = Critic(cfg)
        self.siamese = IdentityNet(cfg.resolution, cfg.identity_width, cfg.identity_dim)
        self.bank = IdentityBank(cfg.n_identities, cfg.identity_dim)


# --------------------------------------------------------------------------- #
# The method (trainer protocol: see trainer.GANMethod)
# --------------------------------------------------------------------------- #
def _weighted_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (values.float() * weight).sum() / weight.sum().clamp_min(1.0)


class CIAGAN(ConfiguredMethod):
    """The method as the generic trainer and ``CiaganAnonymizer`` use it.

    The 'latent' is the target identity: a one-hot (B, n_identities) vector.
    Batches carry ``keypoints`` (B, 68, 3) in crop units and the face either as
    ``image`` (training: the real crop) or ``face`` (anonymization: the crop
    with the replaced pixels already blacked out).
    """

    name = NAME
    presets = PRESETS  # "mini" and "paper" settings, see PRESETS
    keypoint_layout = METHODS[NAME].keypoints
    flip_pairs = DLIB68_FLIP_PAIRS

    config_class = CiaganConfig
    generator_class = Generator
    discriminator_class = Discriminator

    def identity_onehot(self, slots: torch.Tensor) -> torch.Tensor:
        return F.one_hot(slots.long(), self.config.n_identities).float()

    def latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Random target identities (one-hot) on the CPU from ``generator``."""
        return self.identity_onehot(torch.randint(self.config.n_identities, (n,), generator=generator))

    def latent_from_numpy(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        return self.identity_onehot(torch.from_numpy(rng.integers(0, self.config.n_identities, n)))

    def inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(face, landmark image, mask) of a batch; mask 1 = pixel the generator replaces."""
        face = batch["face"] if "face" in batch else batch["image"]
        lines, mask = ciagan_inputs(batch["keypoints"], face.shape[-1], self.config.mask_dilate)
        return face, lines.to(face.dtype), mask.to(face.dtype)

    def generate(self, G: nn.Module, batch: dict, z: torch.Tensor) -> torch.Tensor:
        face, lines, mask = self.inputs(batch)
        return self._compose(G, face, lines, mask, z)

    @staticmethod
    def _compose(G, face, lines, mask, z):
        kept = face * (1 - mask)
        return kept + G(lines, kept, z.to(face.device)) * mask

    # -- losses -----------------------------------------------------------------
    def discriminator_loss(self, G: nn.Module, D: Discriminator, batch: dict, z: torch.Tensor,
                           generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
        """LSGAN critic loss plus the siamese network's contrastive loss; updates the identity bank."""
        real, lines, mask = self.inputs(batch)
        # Faces without the mask landmarks have nothing to replace: they do not train.
        valid = (mask.flatten(1).amax(1) > 0).float()
        with torch.no_grad():
            fake = self._compose(G, real, lines, mask, z)
        real_score = D.critic(real, lines).float()
        fake_score = D.critic(fake.detach(), lines).float()
        d_real = _weighted_mean((real_score - 1) ** 2, valid)
        d_fake = _weighted_mean(fake_score ** 2, valid)
        ids = batch["identity"]
        emb = D.siamese(real)
        siamese = batch_contrastive_loss(emb, ids, D.siamese(real.flip(-1)), self.config.margin)
        D.bank.update(emb.detach(), ids)
        loss = d_real + d_fake + siamese
        return loss, {"d_loss": loss.item(), "d_real": d_real.item(), "d_fake": d_fake.item(),
                      "siamese": siamese.item()}

    def generator_loss(self, G: nn.Module, D: Discriminator, batch: dict, z: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """LSGAN generator loss plus the identity loss towards the target identity's embedding."""
        real, lines, mask = self.inputs(batch)
        valid = (mask.flatten(1).amax(1) > 0).float()
        fake = self._compose(G, real, lines, mask, z)
        adv = _weighted_mean((D.critic(fake, lines).float() - 1) ** 2, valid)
        slots = z.argmax(1).to(real.device)
        known = (D.bank.count[slots] > 0).float() * valid
        target = D.bank.centroid[slots]
        ident = contrastive_loss(D.siamese(fake), target, torch.ones_like(slots), self.config.margin, known)
        loss = adv + self.config.identity_weight * ident
        stats = {"g_loss": loss.item(), "g_adv": adv.item(), "g_identity": ident.item()}
        if self.config.l1_weight:
            l1 = mask_l1(fake, real, mask)
            loss = loss + self.config.l1_weight * l1
            stats.update(g_loss=loss.item(), l1=l1.item())
        return loss, stats


def mask_l1(fake: torch.Tensor, real: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the replaced (mask 1) pixels and channels (0 when no mask)."""
    weight = mask.float().expand_as(real)
    return ((fake.float() - real.float()).abs() * weight).sum() / weight.sum().clamp(min=1.0)


# --------------------------------------------------------------------------- #
# Anonymization
# --------------------------------------------------------------------------- #
def trained_identity_slots(state: dict, n_identities: int) -> np.ndarray:
    """Slots of the identities the checkpoint's generator was trained towards (all when unknown)."""
    count = state.get("discriminator", {}).get("bank.count")
    if count is None or not bool((count > 0).any()):
        return np.arange(n_identities)
    return (count > 0).nonzero().flatten().numpy()


@dataclass
class _Face:
    square: tuple[int, int, int]
    keypoints: np.ndarray  # (68, 3) in crop units
    write: tuple[slice, slice, np.ndarray]  # image rows, cols and the bool mask of the pixels to replace


class CiaganAnonymizer(GANAnonymizer):
    """Replace each face's CIAGAN mask region with a generated face of a random (seeded) identity.

    Faces without landmarks are blacked out over their whole box and recorded
    as ``Status.NO_LANDMARKS_BLACKED_OUT``; faces under ``min_size`` px (10, as the
    paper does for all three GANs) are left as is and recorded as too small.
    """

    def __init__(self, checkpoint: str | Path, device: str = "auto", min_size: int = MIN_FACE_SIZE,
                 expand: float = EXPAND, batch_size: int = 64) -> None:
        super().__init__(checkpoint, device=device, min_size=min_size, expand=expand, batch_size=batch_size,
                         expect_method=NAME)

    def _configure(self, state: dict) -> None:
        self.identity_slots = trained_identity_slots(state, self.method.config.n_identities)

    def describe(self) -> dict:
        return {**super().describe(), "identities": int(len(self.identity_slots))}

    def _prepare(self, kp: np.ndarray, box: np.ndarray, W: int, H: int) -> _Face | None:
        """Crop geometry and the image pixels to replace; None when the mask is empty."""
        R = self.method.resolution
        x0, y0, side = square_box(box, W, H, self.expand)
        crop_kp = np.stack([(kp[:, 0] - x0) / side, (kp[:, 1] - y0) / side, (kp[:, 2] > 0)], 1)
        mask = ciagan_mask(crop_kp, R, dilate=0)
        if not mask.any():
            return None
        # The replaced image pixels: the crop mask mapped back pixel for pixel
        # (nearest), inside the generator's dilated mask, so each one is generated.
        full = cv2.resize(mask.astype(np.uint8), (side, side), interpolation=cv2.INTER_NEAREST).astype(bool)
        ix1, iy1, ix2, iy2 = max(x0, 0), max(y0, 0), min(x0 + side, W), min(y0 + side, H)
        write = full[iy1 - y0:iy2 - y0, ix1 - x0:ix2 - x0]
        return _Face((x0, y0, side), crop_kp.astype(np.float32), (slice(iy1, iy2), slice(ix1, ix2), write))

    def anonymize(self, image: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray | None = None,
                  rng: np.random.Generator | None = None) -> AnonymizedImage:
        rng = rng if rng is not None else np.random.default_rng(0)
        H, W = image.shape[:2]
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        n = len(boxes)
        statuses, todo = self._faces_to_do(boxes, W, H)
        # One target identity per face, drawn in face order whatever is processed.
        targets = self.identity_slots[rng.integers(0, len(self.identity_slots), n)] if n else np.zeros(0, int)
        faces: dict[int, _Face] = {}
        blacked: list[int] = []
        for i in todo:
            kp = self._face_keypoints(keypoints, i)
            face = self._prepare(kp, boxes[i], W, H) if kp is not None else None
            if face is None:
                statuses[i] = Status.NO_LANDMARKS_BLACKED_OUT
                blacked.append(i)
            else:
                faces[i] = face
        out = image.copy()
        if not faces and not blacked:
            return AnonymizedImage(out, statuses)
        # Every pixel that will be replaced is blacked out before any crop is cut:
        # none of them reaches the generator, not even through a neighbour's crop.
        hidden = image.copy()
        for i in blacked:
            x1, y1, x2, y2 = clip_box(boxes[i], W, H)
            hidden[y1:y2, x1:x2] = 0
        for face in faces.values():
            rows, cols, write = face.write
            hidden[rows, cols][write] = 0
        generated = self._generate(hidden, faces, targets)
        for i in paste_order(boxes):
            if i in generated:
                face = faces[i]
                x0, y0, side = face.square
                rows, cols, write = face.write
                full = cv2.resize(generated[i], (side, side), interpolation=cv2.INTER_LINEAR)
                region = full[rows.start - y0:rows.stop - y0, cols.start - x0:cols.stop - x0]
                out[rows, cols][write] = region[write]
            elif i in blacked:
                x1, y1, x2, y2 = clip_box(boxes[i], W, H)
                out[y1:y2, x1:x2] = 0
        return AnonymizedImage(out, statuses)

    batches_images = False  # masks and identities are prepared per image

    def anonymize_many(self, items) -> list[AnonymizedImage]:
        return [self.anonymize(*item) for item in items]

    def _generate(self, hidden: np.ndarray, faces: dict[int, _Face], targets: np.ndarray) -> dict[int, np.ndarray]:
        R = self.method.resolution
        order = list(faces)
        generated: dict[int, np.ndarray] = {}
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            crops = np.stack([real_crop(hidden, faces[i].square, R) for i in chunk])
            batch = {
                "face": torch.from_numpy(crops).permute(0, 3, 1, 2).float().div(127.5).sub(1).to(self.device),
                "keypoints": torch.from_numpy(np.stack([faces[i].keypoints for i in chunk])).to(self.device),
            }
            z = self.method.identity_onehot(torch.from_numpy(targets[chunk])).to(self.device)
            with torch.no_grad():
                fake = self.method.generate(self.G, batch, z)
            arr = ((fake.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
            generated.update(zip(chunk, arr))
        return generated


def build_ciagan(*, checkpoint: str, device: str = "auto", min_size: int = MIN_FACE_SIZE,
                 batch_size: int = 64) -> CiaganAnonymizer:
    """The registry's factory: a CIAGAN anonymizer from a ``train-anonymizer`` checkpoint."""
    return CiaganAnonymizer(checkpoint, device=device, min_size=min_size, batch_size=batch_size)
