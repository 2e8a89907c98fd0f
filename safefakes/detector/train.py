"""Train DSFD on a split: SGD, step learning rate, checkpoints that resume bit for bit.

``out_dir`` receives ``checkpoint.pt`` (model, optimizer, scheduler, AMP
scaler, iteration, RNG states, data order), ``losses.csv`` (one row per
iteration) and ``train_info.json`` (config, backbone weights used, timing).
Both record the machine (``safefakes.machine``): a seed gives the same weights
only on the same kind of CPU with the same thread count, since torch's kernels
sum in an order that depends on both. Interrupt a run and start it again with
the same arguments: it continues from the last checkpoint and ends with the
same weights as an uninterrupted run (on the CPU, on the same machine; CUDA
kernels are not all deterministic).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import time
from pathlib import Path
from typing import Iterator

import torch
from tqdm import tqdm

from safefakes.data.fingerprint import DATA_SHA256, split_fingerprint
from safefakes.data.images import atomic_path, refuse_links, write_text_atomic
from safefakes.detector.anchors import shot_anchors
from safefakes.detector.backbone import RANDOM_INIT, prepare_backbone
from safefakes.detector.config import DetectorConfig, mini_config
from safefakes.detector.data import FaceTrainingSet, training_loader
from safefakes.detector.loss import progressive_anchor_loss
from safefakes.detector.model import DSFD, feature_sizes
from safefakes.devices import resolve_device
from safefakes.errors import InputError, SafeFakesError
from safefakes.machine import MACHINE, machine_record

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
LOSSES = "losses.csv"
INFO = "train_info.json"
CHECKPOINT_FORMAT = "safefakes-dsfd-1"
LOSS_COLUMNS = ("iteration", "lr", "loss", "first_conf", "first_loc", "second_conf", "second_loc",
                "positives", "seconds")
# Settings that may differ between an interrupted run and its resumption.
RESUME_FREE = {"workers", "checkpoint_every", "amp"}


class StepSchedule:
    """Learning-rate factor: optional linear warm-up, then x gamma at each milestone.

    A plain class (not a lambda) so that ``LambdaLR.state_dict`` can save it.
    """

    def __init__(self, milestones: list[int], gamma: float, warmup: int) -> None:
        self.milestones = [int(m) for m in milestones]
        self.gamma = float(gamma)
        self.warmup = int(warmup)

    def __call__(self, step: int) -> float:
        factor = self.gamma ** sum(step >= m for m in self.milestones)
        if self.warmup and step < self.warmup:
            factor *= 0.1 + 0.9 * step / self.warmup
        return factor


def make_optimizer(model: torch.nn.Module, config: DetectorConfig) -> torch.optim.Optimizer:
    """DSFD's SGD with momentum, or AdamW (``momentum`` is then its beta1)."""
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(config.momentum, 0.999),
                                 weight_decay=config.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                           weight_decay=config.weight_decay)


@contextlib.contextmanager
def deterministic(device: torch.device) -> Iterator[None]:
    """Deterministic kernels on the CPU for the duration of a run (restored afterwards)."""
    if device.type != "cpu":
        yield
        return
    before = torch.are_deterministic_algorithms_enabled()
    before_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=before_warn)


def _rng_state() -> dict:
    # Only torch's generators: the data pipeline draws from its own per-sample
    # generators (data.py), never from numpy's or Python's global ones, whose
    # state would only make two identical runs' checkpoints differ.
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


class WeightAverage:
    """An exponential moving average of a model's weights, the weights a run detects with.

    The decay ramps up as (1 + t) / (10 + t) early in the run so that the
    average does not remember the random initialisation; buffers (batch-norm
    statistics) are copied, not averaged.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = float(decay)
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.averaged = {name for name, _ in model.named_parameters()}
        self.updates = 0

    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        with torch.no_grad():
            for key, value in model.state_dict().items():
                if key in self.averaged:
                    self.state[key].lerp_(value, 1.0 - decay)
                else:
                    self.state[key].copy_(value)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "weights": self.state}

    def load_state_dict(self, saved: dict) -> None:
        self.updates = int(saved["updates"])
        for key, value in saved["weights"].items():
            self.state[key].copy_(value)


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by ``train_detector`` (tensors and plain values only)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "detector checkpoint not found",
                         hint="train one with `safefakes train-detector TRAIN_SPLIT OUT_DIR`")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or foreign files raise many types
        raise InputError(path, f"cannot read the detector checkpoint ({type(exc).__name__}: {exc})",
                         hint="delete it and train again") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise InputError(path, f"not a SafeFakes DSFD checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    return ckpt


def build_detector(ckpt: dict) -> tuple[DSFD, DetectorConfig]:
    """The model and config stored in a checkpoint (on the CPU)."""
    config = DetectorConfig.from_dict(ckpt["config"], base=DetectorConfig())
    model = DSFD(width=config.width, normalisation=ckpt.get("normalisation", "torchvision"),
                 batch_norm=config.batch_norm)
    # A run with weight averaging detects with the average (see WeightAverage).
    model.load_state_dict(ckpt["ema"]["weights"] if ckpt.get("ema") else ckpt["model"])
    return model, config


def _save_checkpoint(path: Path, payload: dict) -> None:
    with atomic_path(path) as tmp:
        # Through a file object: torch.save(obj, path) records the (temporary) file
        # name inside the archive, which would make every save's bytes differ.
        with open(tmp, "wb") as fh:
            torch.save(payload, fh)


def _format_losses(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LOSS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _read_losses(path: Path, upto: int) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return [row for row in csv.DictReader(fh) if int(row["iteration"]) <= upto]


def _check_resumable(ckpt: dict, config: DetectorConfig, total: int, path: Path) -> None:
    saved = {k: v for k, v in ckpt["config"].items() if k not in RESUME_FREE}
    now = {k: v for k, v in config.to_dict().items() if k not in RESUME_FREE}
    changed = sorted(k for k in now if saved.get(k) != now[k])
    if changed:
        raise InputError(path, f"the checkpoint was trained with different settings ({', '.join(changed)})",
                         hint="use the same config to resume, or --no-resume to start over")
    if int(ckpt["total_iterations"]) != total:
        raise InputError(path, f"the checkpoint belongs to a {ckpt['total_iterations']}-iteration run, "
                               f"not {total} (the learning-rate steps depend on the run length)",
                         hint="use another output folder, or --no-resume to start over")


def _check_same_data(ckpt: dict, path: Path, train_split: str, fingerprint: str) -> None:
    """The checkpoint was trained on this split's content (annotations and image bytes), wherever it lies."""
    saved = ckpt.get(DATA_SHA256)
    if saved is None:
        # Written before fingerprints were recorded: the settings are still checked, the data
        # cannot be; refusing would throw away a finished paper-scale training for a record it lacks.
        log.warning("%s records no fingerprint of its training data (an older checkpoint): resuming on %s without "
                    "checking that it is the split it was trained on (%s)", path, train_split,
                    ckpt.get("train_split", "not recorded"))
        return
    if saved != fingerprint:
        raise InputError(path, f"the checkpoint was trained on other data: the split {ckpt.get('train_split')} "
                               f"(fingerprint {saved[:12]}), not the split given, {train_split} (fingerprint "
                               f"{fingerprint[:12]}): their annotations or images differ",
                         hint="train on the split the checkpoint was trained on, choose another output folder, "
                              "or --no-resume to start over")


class DetectorTrainer:
    """One DSFD training run in ``out_dir``, in the GAN trainer's shape: set-up, resume, step, checkpoint.

    The order of the set-up is part of the result: the seeded initialisation,
    the backbone, then the optimizer; a resumed run then restores the RNG
    states of its checkpoint, so it ends with the weights of an uninterrupted run.
    """

    def __init__(self, train_split_dir: str | Path, out_dir: str | Path, config: DetectorConfig,
                 total: int, resume: bool, device: str | torch.device | None = None) -> None:
        self.config = config
        self.total = int(total)
        self.train_split = str(Path(train_split_dir))
        self.out_dir = Path(out_dir)
        refuse_links(self.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.ckpt_path = self.out_dir / CHECKPOINT
        self.device = resolve_device(device)
        self.use_amp = bool(config.amp and self.device.type == "cuda")
        self.dataset = FaceTrainingSet(train_split_dir, config)
        self.data_sha256 = split_fingerprint(self.dataset.split)  # once a training; checked on resume
        torch.manual_seed(config.seed)  # deterministic random initialisation
        self.model = DSFD(width=config.width, batch_norm=config.batch_norm)
        self.resuming = resume and self.ckpt_path.exists()
        # A resumed run takes its weights from the checkpoint, not from the backbone file.
        self.backbone = RANDOM_INIT if self.resuming else prepare_backbone(self.model, config)
        # Channels-last convolutions: 8-23 % faster per step of the mini model on
        # the CPU (measured), and the layout tensor cores want under AMP.
        self.model.to(self.device, memory_format=torch.channels_last)
        self.optimizer = make_optimizer(self.model, config)
        milestones = [int(round(f * self.total)) for f in config.lr_steps]
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, StepSchedule(milestones, config.lr_gamma, config.warmup_iterations))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.average = WeightAverage(self.model, config.ema_decay) if config.ema_decay else None
        self.iteration = 0
        self.rows: list[dict] = []
        self.elapsed = 0.0
        # Machines of earlier parts of a resumed run, when they differ from this one's.
        self.earlier_machines: list[dict] = []
        if self.resuming:
            self.resume()

    def resume(self) -> None:
        """Restore model, optimizer, schedule, RNG states and losses from the checkpoint."""
        ckpt = load_checkpoint(self.ckpt_path)
        _check_resumable(ckpt, self.config, self.total, self.ckpt_path)
        _check_same_data(ckpt, self.ckpt_path, self.train_split, self.data_sha256)
        self.model.load_state_dict(ckpt["model"])
        self.model.set_normalisation(ckpt["normalisation"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        _set_rng_state(ckpt["rng"])
        if self.average is not None:
            self.average.load_state_dict(ckpt["ema"])
        self.iteration = int(ckpt["iteration"])
        self.backbone = ckpt["backbone_weights"]
        self.elapsed = float(ckpt.get("seconds", 0.0))
        earlier = [*ckpt.get("earlier_machines", []), *([ckpt[MACHINE]] if ckpt.get(MACHINE) else [])]
        self.earlier_machines = [m for i, m in enumerate(earlier) if m not in earlier[:i]]
        self.rows = _read_losses(self.out_dir / LOSSES, self.iteration)
        log.info("resuming %s at iteration %d of %d", self.ckpt_path, self.iteration, self.total)

    def checkpoint(self) -> None:
        """Write the checkpoint, the losses so far and the run's summary (atomically)."""
        config, dev = self.config, self.device
        machine = machine_record(dev)
        earlier = [m for m in self.earlier_machines if m != machine]
        _save_checkpoint(self.ckpt_path, {
            "format": CHECKPOINT_FORMAT,
            "model": self.model.state_dict(),
            "normalisation": self.model.normalisation,
            "config": config.to_dict(),
            "iteration": self.iteration,
            "total_iterations": self.total,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.use_amp else {},
            "ema": self.average.state_dict() if self.average is not None else {},
            "rng": _rng_state(),
            # The data order is a function of these (see data.py): sample k = iteration * batch + j.
            "data_order": {"seed": self.dataset.seed, "next_sample": self.iteration * config.batch_size,
                           "n_images": self.dataset.n_images},
            "backbone_weights": self.backbone,
            "train_split": self.train_split,
            DATA_SHA256: self.data_sha256,
            "seconds": self.elapsed,
            MACHINE: machine,
            "earlier_machines": earlier,
        })
        write_text_atomic(self.out_dir / LOSSES, _format_losses(self.rows))
        write_text_atomic(self.out_dir / INFO, json.dumps({
            "train_split": self.train_split, DATA_SHA256: self.data_sha256, "iterations": self.iteration,
            "total_iterations": self.total,
            "backbone_weights": self.backbone, "device": str(dev), "amp": self.use_amp,
            "seconds": round(self.elapsed, 2), "torch": torch.__version__, "config": config.to_dict(),
            MACHINE: machine, "earlier_machines": earlier,
        }, indent=2) + "\n")

    def step(self, images: torch.Tensor, targets: list[torch.Tensor], anchors: tuple) -> dict:
        """One SGD step on a batch; returns its row of ``losses.csv``."""
        dev, config = self.device, self.config
        images = images.to(dev, non_blocking=True, memory_format=torch.channels_last)
        targets = [t.to(dev) for t in targets]
        lr = self.optimizer.param_groups[0]["lr"]
        with torch.autocast(dev.type, dtype=torch.float16, enabled=self.use_amp):
            output = self.model(images)
        loss = progressive_anchor_loss(output, targets, *anchors, config)
        if not torch.isfinite(loss.total):
            raise SafeFakesError(f"training diverged at iteration {self.iteration + 1} (loss {float(loss.total)}); "
                                 f"lower the learning rate (lr = {lr}) or enable grad_clip")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss.total).backward()
        if config.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.average is not None:
            self.average.update(self.model)
        self.iteration += 1
        values = [float(v.detach()) for v in (loss.total, loss.first.conf, loss.first.loc,
                                              loss.second.conf, loss.second.loc)]
        return {
            "iteration": self.iteration, "lr": f"{lr:.6g}", "loss": f"{values[0]:.6f}",
            "first_conf": f"{values[1]:.6f}", "first_loc": f"{values[2]:.6f}",
            "second_conf": f"{values[3]:.6f}", "second_loc": f"{values[4]:.6f}",
            "positives": loss.second.n_positive,
        }

    def train(self, progress: bool = True) -> Path:
        """Run the remaining iterations, checkpointing every ``checkpoint_every``; the final checkpoint's path."""
        config, total = self.config, self.total
        if self.iteration >= total:
            if not self.ckpt_path.exists():
                self.checkpoint()
            return self.ckpt_path
        size = config.input_size
        anchors = tuple(a.to(self.device) for a in shot_anchors(feature_sizes(size, size), config))
        loader = training_loader(self.dataset, self.iteration, total, config.batch_size, config.workers)
        bar = tqdm(total=total, initial=self.iteration, desc="train-detector", unit="it",
                   dynamic_ncols=True, disable=not progress)
        self.model.train()
        t_last = time.perf_counter()
        try:
            with deterministic(self.device):
                for _, (images, targets) in zip(range(self.iteration, total), loader):
                    row = self.step(images, targets, anchors)
                    now = time.perf_counter()
                    self.elapsed += now - t_last
                    t_last = now
                    row["seconds"] = f"{self.elapsed:.3f}"
                    self.rows.append(row)
                    bar.update(1)
                    bar.set_postfix(loss=row["loss"], lr=row["lr"])
                    if self.iteration % max(1, config.checkpoint_every) == 0 or self.iteration == total:
                        self.checkpoint()
        finally:
            bar.close()
        return self.ckpt_path


def train_detector(
    train_split_dir: str | Path,
    out_dir: str | Path,
    config: DetectorConfig | None = None,
    iterations: int | None = None,
    resume: bool = True,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> Path:
    """Train DSFD on a split; returns the path of the final checkpoint."""
    config = config if config is not None else mini_config()
    total = int(config.iterations if iterations is None else iterations)
    if total < 0:
        raise ValueError("iterations must be >= 0")
    return DetectorTrainer(train_split_dir, out_dir, config, total, resume, device).train(progress)


__all__ = ["train_detector", "DetectorTrainer", "load_checkpoint", "build_detector", "make_optimizer", "StepSchedule",
           "CHECKPOINT", "LOSSES", "INFO"]
