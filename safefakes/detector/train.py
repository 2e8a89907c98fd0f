"""Train DSFD on a split: SGD, step learning rate, checkpoints that resume bit for bit.

``out_dir`` receives ``checkpoint.pt`` (model, optimizer, scheduler, AMP
scaler, iteration, RNG states, data order), ``losses.csv`` (one row per
iteration) and ``train_info.json`` (config, backbone weights used, timing).
Interrupt a run and start it again with the same arguments: it continues
from the last checkpoint and ends with the same weights as an uninterrupted
run (on the CPU; CUDA kernels are not all deterministic).
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

import numpy as np
import torch

from safefakes.data.images import atomic_path, write_text_atomic
from safefakes.detector.anchors import shot_anchors
from safefakes.detector.backbone import RANDOM_INIT, prepare_backbone
from safefakes.detector.config import DetectorConfig, mini_config
from safefakes.detector.data import FaceTrainingSet, training_loader
from safefakes.detector.loss import progressive_anchor_loss
from safefakes.detector.model import DSFD, feature_sizes
from safefakes.errors import InputError, SafeFakesError

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


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The requested device; by default the first visible CUDA device (CUDA_VISIBLE_DEVICES), else the CPU."""
    if device is not None:
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise SafeFakesError(f"device {device!r} requested but CUDA is not available; use --device cpu")
        return dev
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


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
    model = DSFD(width=config.width, normalisation=ckpt.get("normalisation", "torchvision"))
    model.load_state_dict(ckpt["model"])
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
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / CHECKPOINT
    dev = resolve_device(device)
    use_amp = bool(config.amp and dev.type == "cuda")

    dataset = FaceTrainingSet(train_split_dir, config)
    torch.manual_seed(config.seed)  # deterministic random initialisation
    model = DSFD(width=config.width)
    resuming = resume and ckpt_path.exists()
    # A resumed run takes its weights from the checkpoint, not from the backbone file.
    backbone = RANDOM_INIT if resuming else prepare_backbone(model, config)
    # Channels-last convolutions: 8-23 % faster per step of the mini model on
    # the CPU (measured), and the layout tensor cores want under AMP.
    model.to(dev, memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config)
    milestones = [int(round(f * total)) for f in config.lr_steps]
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, StepSchedule(milestones, config.lr_gamma, config.warmup_iterations))
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    start = 0
    rows: list[dict] = []
    elapsed = 0.0
    if resuming:
        ckpt = load_checkpoint(ckpt_path)
        _check_resumable(ckpt, config, total, ckpt_path)
        model.load_state_dict(ckpt["model"])
        model.set_normalisation(ckpt["normalisation"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        _set_rng_state(ckpt["rng"])
        start = int(ckpt["iteration"])
        backbone = ckpt["backbone_weights"]
        elapsed = float(ckpt.get("seconds", 0.0))
        rows = _read_losses(out_dir / LOSSES, start)
        log.info("resuming %s at iteration %d of %d", ckpt_path, start, total)

    def checkpoint(iteration: int) -> None:
        _save_checkpoint(ckpt_path, {
            "format": CHECKPOINT_FORMAT,
            "model": model.state_dict(),
            "normalisation": model.normalisation,
            "config": config.to_dict(),
            "iteration": iteration,
            "total_iterations": total,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if use_amp else {},
            "rng": _rng_state(),
            # The data order is a function of these (see data.py): sample k = iteration * batch + j.
            "data_order": {"seed": dataset.seed, "next_sample": iteration * config.batch_size,
                           "n_images": dataset.n_images},
            "backbone_weights": backbone,
            "train_split": str(Path(train_split_dir)),
            "seconds": elapsed,
        })
        write_text_atomic(out_dir / LOSSES, _format_losses(rows))
        write_text_atomic(out_dir / INFO, json.dumps({
            "train_split": str(Path(train_split_dir)), "iterations": iteration, "total_iterations": total,
            "backbone_weights": backbone, "device": str(dev), "amp": use_amp, "seconds": round(elapsed, 2),
            "torch": torch.__version__, "config": config.to_dict(),
        }, indent=2) + "\n")

    if start >= total:
        if not ckpt_path.exists():
            checkpoint(start)
        return ckpt_path

    size = config.input_size
    first_anchors, second_anchors = (a.to(dev) for a in shot_anchors(feature_sizes(size, size), config))
    loader = training_loader(dataset, start, total, config.batch_size, config.workers)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=start, desc="train-detector", unit="it", dynamic_ncols=True)
    model.train()
    t_last = time.perf_counter()
    try:
        with deterministic(dev):
            for it, (images, targets) in zip(range(start, total), loader):
                images = images.to(dev, non_blocking=True, memory_format=torch.channels_last)
                targets = [t.to(dev) for t in targets]
                lr = optimizer.param_groups[0]["lr"]
                with torch.autocast(dev.type, dtype=torch.float16, enabled=use_amp):
                    output = model(images)
                loss = progressive_anchor_loss(output, targets, first_anchors, second_anchors, config)
                if not torch.isfinite(loss.total):
                    raise SafeFakesError(f"training diverged at iteration {it + 1} (loss {float(loss.total)}); "
                                         f"lower the learning rate (lr = {lr}) or enable grad_clip")
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss.total).backward()
                if config.grad_clip:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                now = time.perf_counter()
                elapsed += now - t_last
                t_last = now
                values = [float(v.detach()) for v in (loss.total, loss.first.conf, loss.first.loc,
                                                      loss.second.conf, loss.second.loc)]
                rows.append({
                    "iteration": it + 1, "lr": f"{lr:.6g}", "loss": f"{values[0]:.6f}",
                    "first_conf": f"{values[1]:.6f}", "first_loc": f"{values[2]:.6f}",
                    "second_conf": f"{values[3]:.6f}", "second_loc": f"{values[4]:.6f}",
                    "positives": loss.second.n_positive, "seconds": f"{elapsed:.3f}",
                })
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{values[0]:.3f}", lr=f"{lr:.2g}")
                if (it + 1) % max(1, config.checkpoint_every) == 0 or it + 1 == total:
                    checkpoint(it + 1)
    finally:
        if bar is not None:
            bar.close()
    return ckpt_path


__all__ = ["train_detector", "load_checkpoint", "build_detector", "resolve_device", "make_optimizer", "StepSchedule",
           "CHECKPOINT", "LOSSES", "INFO"]
