"""Run a trained DSFD on a split and write the official WIDER prediction layout.

Only the second shot is used at test time. The default is one scale (the
image as it is, shrunk only when it exceeds DSFD's memory cap of 1700 x 1200
pixels) plus its horizontal flip, merged by NMS. ``multiscale=True`` runs
DSFD's test pyramid instead: half size for large faces, the base scale and
its flip, 1.5x and 2x for small faces, merged by box voting.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from safefakes.data.images import read_image, write_text_atomic
from safefakes.data.split import Split
from safefakes.data.wider import write_prediction
from safefakes.detector.anchors import anchor_boxes, decode
from safefakes.detector.augment import resize_for_test
from safefakes.detector.boxes import box_iou, nms
from safefakes.detector.config import DetectorConfig
from safefakes.detector.model import DSFD
from safefakes.detector.train import build_detector, load_checkpoint
from safefakes.devices import resolve_device

MAX_PIXELS = 1700 * 1200  # DSFD's test-time cap on image area
PRE_NMS_TOP_K = 5000
INFO = "detect_info.json"


class Detector(NamedTuple):
    model: DSFD
    config: DetectorConfig
    device: torch.device
    backbone_weights: str
    checkpoint: Path


def load_detector(checkpoint: str | Path, device: str | torch.device | None = None) -> Detector:
    ckpt = load_checkpoint(checkpoint)
    model, config = build_detector(ckpt)
    dev = resolve_device(device)
    model.to(dev, memory_format=torch.channels_last).eval()  # as trained (see train.py)
    return Detector(model, config, dev, str(ckpt.get("backbone_weights", "unknown")), Path(checkpoint))


@torch.no_grad()
def raw_detections(detector: Detector, images: torch.Tensor, score_threshold: float) -> list[torch.Tensor]:
    """Second-shot boxes of a batch (B, 3, H, W) RGB 0..255: per image (N, 5) x1 y1 x2 y2 score."""
    model, config = detector.model, detector.config
    images = images.to(detector.device, memory_format=torch.channels_last)
    with torch.autocast(detector.device.type, dtype=torch.float16,
                        enabled=bool(config.amp and detector.device.type == "cuda")):
        out = model(images, first_shot=False)
    anchors = anchor_boxes(out.feature_sizes, config.strides, config.anchor_sizes, config.anchor_aspect)
    anchors = anchors.to(detector.device)
    scores = torch.softmax(out.second_conf.float(), dim=-1)[..., 1]
    boxes = decode(out.second_loc.float(), anchors, config.variances)
    h, w = images.shape[-2:]
    results = []
    for b in range(images.shape[0]):
        keep = scores[b] >= score_threshold
        s, bx = scores[b][keep], boxes[b][keep]
        if s.numel() > PRE_NMS_TOP_K:
            s, idx = s.topk(PRE_NMS_TOP_K)
            bx = bx[idx]
        bx = torch.stack([bx[:, 0].clamp(0, w), bx[:, 1].clamp(0, h), bx[:, 2].clamp(0, w), bx[:, 3].clamp(0, h)], 1)
        results.append(torch.cat([bx, s[:, None]], dim=1).cpu())
    return results


def _unflip(dets: torch.Tensor, width: float) -> torch.Tensor:
    out = dets.clone()
    out[:, 0] = width - dets[:, 2]
    out[:, 2] = width - dets[:, 0]
    return out


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()


def _nms_top(dets: torch.Tensor, nms_iou: float, max_boxes: int) -> torch.Tensor:
    if dets.numel() == 0:
        return dets.reshape(0, 5)
    keep = nms(dets[:, :4], dets[:, 4], nms_iou)[:max_boxes]
    return dets[keep]


def box_vote(dets: torch.Tensor, iou: float = 0.3) -> torch.Tensor:
    """Merge overlapping boxes into their score-weighted mean (DSFD's multi-scale merge)."""
    if dets.numel() == 0:
        return dets.reshape(0, 5)
    dets = dets[dets[:, 4].argsort(descending=True, stable=True)]
    out = []
    while dets.shape[0]:
        overlap = box_iou(dets[:1, :4], dets[:, :4])[0]
        group = overlap >= iou
        members = dets[group]
        weights = members[:, 4:5]
        merged = (members[:, :4] * weights).sum(0) / weights.sum()
        out.append(torch.cat([merged, members[:1, 4]]))
        dets = dets[~group]
    return torch.stack(out)


def _base_shrink(height: int, width: int) -> float:
    return min(1.0, math.sqrt(MAX_PIXELS / float(height * width)))


def detect_images(detector: Detector, images: list[np.ndarray], *, flip: bool = True, score_threshold: float = 0.01,
                  nms_iou: float = 0.3, max_boxes: int = 750) -> list[np.ndarray]:
    """Single-scale detection of images of one size, batched: per image (N, 5) x y w h score."""
    if not images:
        return []
    h, w = images[0].shape[:2]
    shrink = _base_shrink(h, w)
    scaled = [resize_for_test(im, shrink) for im in images]
    batch = torch.stack([_to_tensor(im) for im in scaled])
    if flip:
        batch = torch.cat([batch, batch.flip(-1)])
    raw = raw_detections(detector, batch, score_threshold)
    sw = batch.shape[-1]
    out = []
    for i in range(len(images)):
        dets = raw[i]
        if flip:
            dets = torch.cat([dets, _unflip(raw[len(images) + i], sw)])
        dets = _nms_top(dets, nms_iou, max_boxes)
        dets[:, :4] /= shrink
        out.append(_to_xywh(dets))
    return out


def detect_multiscale(detector: Detector, image: np.ndarray, *, flip: bool = True, score_threshold: float = 0.01,
                      nms_iou: float = 0.3, max_boxes: int = 750) -> np.ndarray:
    """DSFD's test pyramid on one image: (N, 5) x y w h score."""
    h, w = image.shape[:2]
    cap = math.sqrt(MAX_PIXELS / float(h * w))
    base = min(1.0, cap)
    parts = []

    def run(scale: float, with_flip: bool) -> torch.Tensor:
        im = _to_tensor(resize_for_test(image, scale))[None]
        batch = torch.cat([im, im.flip(-1)]) if with_flip else im
        raw = raw_detections(detector, batch, score_threshold)
        dets = raw[0]
        if with_flip:
            dets = torch.cat([dets, _unflip(raw[1], im.shape[-1])])
        dets[:, :4] /= scale
        return dets

    parts.append(run(base, flip))
    small = run(base * 0.5, False)  # only trusted for large faces
    side = torch.maximum(small[:, 2] - small[:, 0], small[:, 3] - small[:, 1])
    parts.append(small[side > 30])
    for factor in (1.5, 2.0):  # only trusted for small faces
        scale = min(base * factor, cap)
        if scale <= base:
            break
        big = run(scale, False)
        side = torch.minimum(big[:, 2] - big[:, 0], big[:, 3] - big[:, 1])
        parts.append(big[side < 100])
    dets = torch.cat(parts)
    if dets.numel():
        keep = nms(dets[:, :4], dets[:, 4], 0.9)  # drop exact duplicates before voting (speed)
        dets = box_vote(dets[keep], nms_iou)[:max_boxes]
    return _to_xywh(dets.reshape(-1, 5))


def _to_xywh(dets: torch.Tensor) -> np.ndarray:
    d = dets.numpy().astype(np.float64).reshape(-1, 5)
    out = d.copy()
    out[:, 2] = d[:, 2] - d[:, 0]
    out[:, 3] = d[:, 3] - d[:, 1]
    order = np.argsort(-out[:, 4], kind="stable")
    return out[order]


def detect_split(
    checkpoint: str | Path,
    split_dir: str | Path,
    pred_dir: str | Path,
    *,
    flip: bool = True,
    multiscale: bool = False,
    score_threshold: float = 0.01,
    nms_iou: float = 0.3,
    max_boxes: int = 750,
    device: str | torch.device | None = None,
    batch_size: int = 8,
    progress: bool = False,
) -> dict:
    """Detect faces in every image of a split; write ``pred_dir/<event>/<stem>.txt``.

    Returns a summary (also written to ``pred_dir/detect_info.json``) that
    records the checkpoint, the options and the backbone weights used.
    """
    detector = load_detector(checkpoint, device)
    split = Split.load(split_dir)
    pred_dir = Path(pred_dir)
    pred_dir.mkdir(parents=True, exist_ok=True)
    opts = dict(flip=flip, score_threshold=score_threshold, nms_iou=nms_iou, max_boxes=max_boxes)
    items = split.images
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(items), desc="detect", unit="img", dynamic_ncols=True)
    n_boxes = 0
    pending: list[tuple] = []

    def flush() -> None:
        nonlocal n_boxes
        if not pending:
            return
        results = detect_images(detector, [p[1] for p in pending], **opts)
        for (im, _), dets in zip(pending, results):
            write_prediction(pred_dir, im.event, im.stem, dets)
            n_boxes += len(dets)
        if bar is not None:
            bar.update(len(pending))
        pending.clear()

    try:
        for im in items:
            image = read_image(split.image_path(im.name))
            if multiscale:
                dets = detect_multiscale(detector, image, **opts)
                write_prediction(pred_dir, im.event, im.stem, dets)
                n_boxes += len(dets)
                if bar is not None:
                    bar.update(1)
                continue
            if pending and (pending[0][1].shape != image.shape or len(pending) >= batch_size):
                flush()
            pending.append((im, image))
        flush()
    finally:
        if bar is not None:
            bar.close()
    summary = {
        "checkpoint": str(detector.checkpoint), "split": str(Path(split_dir)), "images": len(items),
        "boxes": n_boxes, "multiscale": multiscale, **opts, "device": str(detector.device),
        "backbone_weights": detector.backbone_weights,
    }
    write_text_atomic(pred_dir / INFO, json.dumps(summary, indent=2) + "\n")
    return summary


__all__ = ["Detector", "load_detector", "raw_detections", "detect_images", "detect_multiscale", "detect_split",
           "box_vote"]
