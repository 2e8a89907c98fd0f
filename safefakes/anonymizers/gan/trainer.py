"""The generic GAN trainer: any method object with the ``GANMethod`` shape trains here.

Length is counted in images shown (as DeepPrivacy counts it). One step = one
critic update then one generator update on the same batch. The trainer owns
what every GAN needs and no model details:

* checkpoints every ``checkpoint_every`` images with both networks, the EMA
  generator, both optimizers, the AMP scalers and every RNG state, written
  atomically; ``resume=True`` continues from the newest one and, on the CPU,
  ends with weights bit-identical to an uninterrupted run (the crops of a
  step, the extra critic batches included, are a pure function of seed and
  step; latents, flips and GP mixing come from one saved ``torch.Generator``);
* the crops streamed from disk by a DataLoader (``workers`` processes read
  ahead; 0 reads in this process): the same batches whatever the number of
  workers, pinned memory and non-blocking copies on CUDA;
* a losses CSV and PNG sample grids (condition | EMA output, two latents | real)
  as it trains; a progress bar;
* CUDA with mixed precision (fp16 autocast + gradient scaling) when present;
* progressive growing as an option (resolution and fade-in ``alpha`` set on
  both networks from a schedule in images).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from safefakes.anonymizers.gan.blocks import resolutions
from safefakes.anonymizers.gan.dataset import CropDataset, collate_crops, to_batch
from safefakes.data.fingerprint import DATA_SHA256, crop_fingerprint
from safefakes.data.images import atomic_path, write_image, write_text_atomic
from safefakes.devices import resolve_device
from safefakes.errors import SafeFakesError
from safefakes.parallel import fork_context, opencv_threads_joined

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
FINAL_CHECKPOINT = "checkpoint.pt"
# Training settings that do not change the trajectory of a run: a longer run may
# continue a shorter one whose settings differ only in these.
SCHEDULE_FREE = frozenset({"images", "checkpoint_every", "sample_every", "log_every", "keep_checkpoints",
                           "progress_bar", "device", "amp", "workers"})
LOSSES = "losses.csv"
SAMPLES = "samples"


class GANMethod(Protocol):
    """What a GAN module provides (see ``deepprivacy.DeepPrivacy``)."""

    name: str
    keypoint_layout: str | None
    flip_pairs: tuple[tuple[int, int], ...]
    resolution: int

    def config_dict(self) -> dict: ...
    def make_generator(self) -> nn.Module: ...
    def make_discriminator(self) -> nn.Module: ...
    def latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor: ...
    def generate(self, G: nn.Module, batch: dict, z: torch.Tensor) -> torch.Tensor: ...
    def discriminator_loss(self, G, D, batch, z, generator=None) -> tuple[torch.Tensor, dict]: ...
    def generator_loss(self, G, D, batch, z) -> tuple[torch.Tensor, dict]: ...


class ConfiguredMethod:
    """What every GAN method shares: a config dataclass and the two networks built from it.

    A subclass sets ``config_class``, ``generator_class`` and ``discriminator_class``
    and adds its latent, generation and losses (the rest of ``GANMethod``).
    """

    config_class: type
    generator_class: type
    discriminator_class: type

    def __init__(self, config=None) -> None:
        if isinstance(config, dict):
            config = self.config_class(**config)
        self.config = config or self.config_class()
        resolutions(self.config.resolution)  # validates: a power of two >= 4

    @property
    def resolution(self) -> int:
        return self.config.resolution

    def config_dict(self) -> dict:
        return asdict(self.config)

    def make_generator(self) -> nn.Module:
        return self.generator_class(self.config)

    def make_discriminator(self) -> nn.Module:
        return self.discriminator_class(self.config)


@dataclass
class TrainConfig:
    """The schedule and optimisation settings (model settings live in the method's config)."""

    images: int = 20_000  # length in images shown
    batch_size: int = 16
    lr: float = 1.5e-3
    # Critic updates per generator update. DeepPrivacy uses 1; tiny CPU models
    # need more: with 1, the mini generator outruns its critic (the critic then
    # scores saturated noise above real faces and nothing face-like emerges).
    critic_steps: int = 1
    betas: tuple[float, float] = (0.0, 0.99)
    d_lr_scale: float = 1.0  # the critic's learning rate is lr * d_lr_scale (two time-scale updates)
    ema_halflife_images: float = 10_000.0  # EMA beta = 0.5 ** (batch / halflife)
    checkpoint_every: int = 5_000  # images
    sample_every: int = 5_000  # images
    log_every: int = 500  # images
    keep_checkpoints: int = 2
    seed: int = 0
    flip: bool = True
    device: str = "auto"  # auto: CUDA when visible (CUDA_VISIBLE_DEVICES decides), else CPU
    amp: bool = True  # mixed precision, on CUDA only
    progressive: bool = False
    progressive_start: int = 8
    progressive_images: int = 10_000  # images per fade-in and per stable phase
    progress_bar: bool = True
    workers: int = 0  # DataLoader processes reading crops ahead (0: read in the training process)
    extra: dict = field(default_factory=dict)


def progressive_phase(images_shown: int, final: int, start: int, per_phase: int) -> tuple[int, float]:
    """(resolution, alpha) of progressive growing after ``images_shown`` images.

    Stable at ``start``, then for every doubling a fade-in (alpha 0 -> 1) and a
    stable phase, each ``per_phase`` images long.
    """
    res = start
    t = images_shown - per_phase
    while res < final and t >= 0:
        if t < per_phase:
            return res * 2, t / per_phase
        res *= 2
        t -= 2 * per_phase
    return min(res, final), 1.0


def _resize_batch(batch: dict, res: int) -> dict:
    """The batch at a lower resolution (progressive growing): area for pixels, min-pool for the mask."""
    full = batch["image"].shape[-1]
    if res == full:
        return batch
    k = full // res
    out = dict(batch)
    for key in ("image", "condition"):
        out[key] = F.avg_pool2d(batch[key], k)
    out["mask"] = -F.max_pool2d(-batch["mask"], k)  # a pixel touching the box stays unknown
    # Unknown pixels are black (-1), as at full resolution.
    out["condition"] = out["condition"] * out["mask"] - (1 - out["mask"])
    return out


def image_grid(rows: list[torch.Tensor]) -> np.ndarray:
    """Rows of (B, 3, R, R) tensors in [-1, 1] -> one uint8 (H, W, 3) grid with 2 px gaps."""
    b, _, r, _ = rows[0].shape
    gap = 2
    grid = np.full((len(rows) * (r + gap) + gap, b * (r + gap) + gap, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        arr = ((row.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        for j in range(b):
            y, x = gap + i * (r + gap), gap + j * (r + gap)
            grid[y:y + r, x:x + r] = arr[j]
    return grid


class Trainer:
    """Trains ``method`` on ``data`` into ``out_dir`` (checkpoints, losses.csv, samples/)."""

    def __init__(self, method: GANMethod, data: CropDataset, out_dir: str | Path, config: TrainConfig,
                 source: dict | None = None) -> None:
        self.method = method
        self.cfg = config
        self.out = Path(out_dir)
        self.device = resolve_device(config.device)
        self.amp = bool(config.amp and self.device.type == "cuda")
        # What the run trains on, by content: a continuation on other crops is refused (check_continuable).
        self.source = {"crops": str(data.root), **(source or {}), DATA_SHA256: crop_fingerprint(data.table)}
        torch.manual_seed(config.seed)  # network initialisation
        self.G = method.make_generator().to(self.device)
        self.D = method.make_discriminator().to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=config.lr, betas=tuple(config.betas))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=config.lr * config.d_lr_scale,
                                      betas=tuple(config.betas))
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.data = data
        self.rng = torch.Generator().manual_seed(config.seed + 1)
        self.step = 0
        self.images_shown = 0
        self.rows: list[dict] = []
        self._perms: dict[int, torch.Tensor] = {}
        n_show = min(8, len(data))
        self.sample_batch = to_batch(self.data.load(range(n_show)), self.device)
        fixed = torch.Generator().manual_seed(config.seed + 2)
        self.sample_z = [method.latent(n_show, fixed).to(self.device) for _ in range(2)]

    # -- schedule ---------------------------------------------------------------
    @property
    def total_steps(self) -> int:
        return math.ceil(self.cfg.images / self.cfg.batch_size)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
            self._perms = {epoch: torch.randperm(len(self.data), generator=g)}
        return self._perms[epoch]

    def _extra_indices(self, step: int, k: int) -> torch.Tensor:
        """The crops of extra critic update ``k`` of ``step``: random, a pure function of seed and step."""
        rng = np.random.default_rng([self.cfg.seed, 3, step, k])
        return torch.from_numpy(rng.integers(0, len(self.data), self.cfg.batch_size))

    def step_indices(self, step: int) -> list[int]:
        """Every crop that ``step`` reads: its batch, then each extra critic update's."""
        parts = [self._indices(step)] + [self._extra_indices(step, k)
                                         for k in range(1, max(self.cfg.critic_steps, 1))]
        return torch.cat(parts).tolist()

    def loader(self, start: int) -> torch.utils.data.DataLoader:
        """The crops of steps ``start`` .. the end, read ahead by ``workers`` processes."""
        workers = max(int(self.cfg.workers), 0)
        return torch.utils.data.DataLoader(
            self.data, batch_sampler=_StepSampler(self, start, self.total_steps), collate_fn=collate_crops,
            num_workers=workers, pin_memory=self.device.type == "cuda",
            multiprocessing_context=fork_context() if workers else None,
            worker_init_fn=_quiet_worker if workers else None, prefetch_factor=4 if workers else None)

    def _indices(self, step: int) -> torch.Tensor:
        n, b = len(self.data), self.cfg.batch_size
        pos = step * b + torch.arange(b)
        out = torch.empty(b, dtype=torch.long)
        for epoch in pos.div(n, rounding_mode="floor").unique().tolist():
            sel = pos.div(n, rounding_mode="floor") == epoch
            out[sel] = self._permutation(epoch)[pos[sel] % n]
        return out

    def _phase(self) -> tuple[int, float]:
        if not self.cfg.progressive:
            return self.method.resolution, 1.0
        return progressive_phase(self.images_shown, self.method.resolution, self.cfg.progressive_start,
                                 self.cfg.progressive_images)

    def _set_phase(self, res: int, alpha: float) -> None:
        for net in (self.G, self.D, self.G_ema):
            net.current_resolution, net.alpha = res, alpha

    def _autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp)

    # -- one step ---------------------------------------------------------------
    def train_step(self, crops: dict | None = None) -> dict:
        """One step on ``crops`` (the uint8 samples of ``step_indices(step)``; read here when None)."""
        b = self.cfg.batch_size
        if crops is None:
            crops = self.data.load(self.step_indices(self.step))
        res, alpha = self._phase()
        self._set_phase(res, alpha)
        flip = (torch.rand(b, generator=self.rng) < 0.5) if self.cfg.flip else None
        first = {key: value[:b] for key, value in crops.items()}
        batch = _resize_batch(to_batch(first, self.device, flip, self.method.flip_pairs), res)
        z_d = self.method.latent(b, self.rng).to(self.device)
        z_g = self.method.latent(b, self.rng).to(self.device)

        self.D.requires_grad_(True)
        for k in range(max(self.cfg.critic_steps, 1)):
            if k > 0:  # extra critic updates: random crops (``_extra_indices``), flips from the saved RNG
                flip_k = (torch.rand(b, generator=self.rng) < 0.5) if self.cfg.flip else None
                part = {key: value[k * b:(k + 1) * b] for key, value in crops.items()}
                batch_k = _resize_batch(to_batch(part, self.device, flip_k, self.method.flip_pairs), res)
                z_k = self.method.latent(b, self.rng).to(self.device)
            else:
                batch_k, z_k = batch, z_d
            self.opt_d.zero_grad(set_to_none=True)
            with self._autocast():
                d_loss, stats = self.method.discriminator_loss(self.G, self.D, batch_k, z_k, self.rng)
            self.scaler_d.scale(d_loss).backward()
            self.scaler_d.step(self.opt_d)
            self.scaler_d.update()

        self.D.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        with self._autocast():
            g_loss, g_stats = self.method.generator_loss(self.G, self.D, batch, z_g)
        self.scaler_g.scale(g_loss).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        stats.update(g_stats)

        beta = 0.5 ** (b / max(self.cfg.ema_halflife_images, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
                p_ema.lerp_(p.detach(), 1 - beta)
        self.step += 1
        self.images_shown += b
        stats.update(resolution=res, alpha=round(alpha, 4))
        return stats

    # -- the loop -----------------------------------------------------------------
    def train(self, resume: bool = False, stop_after_images: int | None = None,
              start_from: str | Path | None = None) -> Path:
        """Train to ``config.images`` (or stop early after ``stop_after_images``, to test resume).

        start_from: the final checkpoint of a shorter run with the same settings
        (see ``SCHEDULE_FREE``) and data, which this run continues: the GANs'
        schedules do not depend on the run's length, so a run to N images is
        the first N images of a longer one, and a sweep over training lengths
        costs one run to the longest (on the CPU, bit for bit).
        """
        latest = latest_checkpoint(self.out) if resume else None
        candidates = [latest] if latest is not None else []
        final = self.out / FINAL_CHECKPOINT
        if resume and final.is_file():
            # A finished run is resumed like an interrupted one (longer, or done already), or refused
            # (other data or settings): --resume never trains over it from scratch without a word.
            candidates.append(final)
        if start_from is not None:
            candidates.append(Path(start_from))
        states = [(path, _load_checkpoint(path)) for path in candidates]
        # --resume is held to the same rule as --start-from: other settings (batch
        # size, seed, faces...) or a run already past the asked length are refused.
        for path, state in states:
            self.check_continuable(path, state)
        self.out.mkdir(parents=True, exist_ok=True)  # after the checks: a refused start leaves no folder
        if states:
            path, state = max(states, key=lambda ps: ps[1]["images_shown"])
            self.load_state(state)
            log.info("continuing from %s at %d images", path, self.images_shown)
        write_text_atomic(self.out / "train_config.json", json.dumps(
            {"method": self.method.name, "model": self.method.config_dict(), "train": asdict(self.cfg),
             "n_faces": len(self.data), "source": self.source}, indent=2, default=str) + "\n")
        from tqdm import tqdm

        bar = tqdm(total=self.total_steps, initial=self.step, desc=f"train {self.method.name}", unit="step",
                   disable=not self.cfg.progress_bar, mininterval=2.0)
        t0, limit = time.perf_counter(), stop_after_images
        with opencv_threads_joined():  # the workers fork here
            batches = iter(self.loader(self.step))
        while self.step < self.total_steps:
            before = self.images_shown
            stats = self.train_step(next(batches))
            bar.update(1)
            now = self.images_shown
            if self._crossed(before, now, self.cfg.log_every) or self.step == self.total_steps:
                self.rows.append({"step": self.step, "images": now, **{k: _fmt(v) for k, v in stats.items()},
                                  "seconds": round(time.perf_counter() - t0, 3)})
                bar.set_postfix(d=f"{stats['d_loss']:.3f}", g=f"{stats['g_loss']:.3f}")
                self.write_losses()  # small: rewritten whole (atomically) so it is always readable
            if self._crossed(before, now, self.cfg.sample_every):
                self.save_samples()
            if self._crossed(before, now, self.cfg.checkpoint_every):
                self.save_checkpoint()
            if limit is not None and now >= limit:
                bar.close()
                del batches  # stops the workers
                self.save_checkpoint()
                return self.out / CHECKPOINT_DIR
        bar.close()
        self.save_samples()
        self.write_losses()
        path = self.out / FINAL_CHECKPOINT
        _save_atomic(self.state(), path)
        return path

    def check_continuable(self, path: Path, state: dict) -> None:
        """Refuse to continue a run that is not a shorter version of this one."""
        def trajectory(train: dict) -> dict:
            return {k: v for k, v in train.items() if k not in SCHEDULE_FREE}

        mine = json.loads(json.dumps(asdict(self.cfg), default=str))
        theirs = json.loads(json.dumps(state.get("train_config", {}), default=str))
        problems = []
        if state.get("method") != self.method.name:
            problems.append(f"method {state.get('method')!r}, not {self.method.name!r}")
        if state.get("model_config") != self.method.config_dict():
            problems.append("another model config")
        if trajectory(theirs) != trajectory(mine):
            diff = sorted(k for k in set(trajectory(mine)) | set(trajectory(theirs))
                          if mine.get(k) != theirs.get(k))
            problems.append(f"other training settings ({', '.join(diff)})")
        if state.get("source", {}).get("faces_used") != self.source.get("faces_used"):
            problems.append(f"{state.get('source', {}).get('faces_used')} training faces, not "
                            f"{self.source.get('faces_used')}")
        problems += self._data_problems(path, state.get("source", {}))
        if int(state.get("images_shown", 0)) > self.cfg.images:
            problems.append(f"already {state['images_shown']} images, more than the {self.cfg.images} asked for")
        if problems:
            raise SafeFakesError(f"{path}: cannot continue this training from it: {'; '.join(problems)}. "
                                 f"Train from scratch (no start checkpoint) or fix the settings.")

    def _data_problems(self, path: Path, theirs: dict) -> list[str]:
        """Whether the checkpoint was trained on the crops this run reads (by their fingerprint)."""
        mine = self.source
        if DATA_SHA256 not in theirs:
            # Written before fingerprints were recorded: weeks of GPU time at the paper's scale, so
            # not refused; the settings and face count above are still checked, and from the next
            # checkpoint on the data is.
            log.warning("%s records no fingerprint of its training data (an older checkpoint): continuing on "
                        "%s without checking that it is the crop set it was trained on (%s)", path,
                        mine.get("crops"), theirs.get("crops", "not recorded"))
            return []
        if theirs[DATA_SHA256] == mine[DATA_SHA256]:
            return []
        def named(source: dict) -> str:
            faces = f"{source['faces_used']} faces, " if "faces_used" in source else ""
            return f"{source.get('crops', '(not recorded)')} ({faces}fingerprint {source[DATA_SHA256][:12]})"

        return [f"it was trained on other data: the checkpoint's crops {named(theirs)} are not the crops given, "
                f"{named(mine)}"]

    @staticmethod
    def _crossed(before: int, after: int, every: int) -> bool:
        return every > 0 and before // every != after // every

    # -- outputs ------------------------------------------------------------------
    def write_losses(self) -> None:
        if not self.rows:
            return
        keys = list(dict.fromkeys(k for row in self.rows for k in row))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.out / LOSSES, buf.getvalue())

    @torch.no_grad()
    def save_samples(self) -> Path:
        # Outside the training's random streams: a grid drawn or not never changes the run.
        with torch.random.fork_rng(devices=[]):
            return self._save_samples()

    def _save_samples(self) -> Path:
        res, alpha = self._phase()
        self._set_phase(res, alpha)
        batch = _resize_batch(self.sample_batch, res)
        fakes = [self.method.generate(self.G_ema, batch, z) for z in self.sample_z]
        grid = image_grid([batch["condition"], *fakes, batch["image"]])
        path = self.out / SAMPLES / f"images_{self.images_shown:09d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path, grid)
        write_image(self.out / SAMPLES / "latest.png", grid)
        return path

    def state(self) -> dict:
        return {
            "format": "safefakes-gan-checkpoint-1",
            "method": self.method.name,
            "model_config": self.method.config_dict(),
            "keypoint_layout": self.method.keypoint_layout,
            "train_config": asdict(self.cfg),
            "source": self.source,
            "step": self.step,
            "images_shown": self.images_shown,
            "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(),
            "ema_generator": self.G_ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "rng": {"trainer": self.rng.get_state(), "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
            "losses": self.rows,
        }

    def load_state(self, state: dict) -> None:
        if state.get("method") != self.method.name:
            raise ValueError(f"checkpoint of method {state.get('method')!r}, not {self.method.name!r}")
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["discriminator"])
        self.G_ema.load_state_dict(state["ema_generator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.scaler_g.load_state_dict(state["scaler_g"])
        self.scaler_d.load_state_dict(state["scaler_d"])
        self.rng.set_state(state["rng"]["trainer"])
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.step = int(state["step"])
        self.images_shown = int(state["images_shown"])
        self.rows = [row for row in state.get("losses", []) if row["step"] <= self.step]

    def save_checkpoint(self) -> Path:
        folder = self.out / CHECKPOINT_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"images_{self.images_shown:09d}.pt"
        _save_atomic(self.state(), path)
        self.write_losses()
        for old in sorted(folder.glob("images_*.pt"))[:-max(self.cfg.keep_checkpoints, 1)]:
            old.unlink()
        return path


class _StepSampler(torch.utils.data.Sampler):
    """For each step from ``start`` to ``stop``, the list of crops it reads (``Trainer.step_indices``)."""

    def __init__(self, trainer: Trainer, start: int, stop: int) -> None:
        self.trainer, self.start, self.stop = trainer, int(start), int(stop)

    def __iter__(self):
        for step in range(self.start, self.stop):
            yield self.trainer.step_indices(step)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def _quiet_worker(_: int) -> None:
    # A loader worker decodes one crop at a time: more threads only compete
    # with the training process for the same cores.
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _fmt(v):
    return round(v, 6) if isinstance(v, float) else v


def _save_atomic(state: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        # Through a file object: torch.save(obj, path) records the (temporary) file
        # name inside the archive, which would make every save's bytes differ.
        with open(tmp, "wb") as fh:
            torch.save(state, fh)


def _load_checkpoint(path: Path) -> dict:
    """A training checkpoint; a missing, truncated or foreign file is an error naming it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError as exc:
        raise SafeFakesError(f"{path}: checkpoint not found") from exc
    except Exception as exc:  # noqa: BLE001 - pickle and zip errors of every kind: not a checkpoint
        raise SafeFakesError(f"{path}: not a training checkpoint this tool can read ({type(exc).__name__}: "
                             f"{exc}); give the checkpoint.pt of a train-anonymizer run") from exc
    if not isinstance(state, dict) or "images_shown" not in state:
        raise SafeFakesError(f"{path}: not a GAN training checkpoint (no training state); give the checkpoint.pt "
                             "of a train-anonymizer run")
    return state


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest periodic checkpoint of a training folder (None when there is none)."""
    found = sorted((Path(out_dir) / CHECKPOINT_DIR).glob("images_*.pt"))
    return found[-1] if found else None
