"""Run a trained DSFD on a split and write the official WIDER prediction layout.

Only the second shot is used at test time. The default is one scale (the
image as it is, shrunk only when it exceeds DSFD's size cap) plus its
horizontal flip, merged by NMS. ``multiscale=True`` runs the test of DSFD's
reference code (``widerface_val.py`` of the authors' release) instead:

* the size cap: an image is scaled up to ``sqrt(2^31 / 200 / pixels)``, at
  most 3x (the base scale is that cap when below 1, else 1);
* the scales: the base scale and its flip; 0.5 and 0.75 (0.5 x the cap when
  the cap is below 0.75) and 0.25, kept only for boxes longer than 30 px; the
  enlarged scales (2x, 1.5x, then doubling up to the cap, and the cap itself)
  and 1.25 / 1.75 / 2.25 within the cap, kept only for boxes shorter than
  100 px (``multiscale_steps``);
* each scale is its own detection: scores above the threshold, the best
  5,000, NMS at ``nms_iou``, as the network's detection layer does;
* the union is merged by box voting: boxes overlapping the best remaining one
  by IoU >= 0.3 become their score-weighted mean with the best score; a box
  no other box supports is dropped (``box_vote``). Sizes and overlaps count
  pixels inclusively (``x2 - x1 + 1``), as the reference does, and the boxes
  are written as it writes them: ``floor(x1) floor(y1) ceil(x2 - x1 + 1)
  ceil(y2 - y1 + 1)``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from safefakes.data.images import read_image, refuse_links, write_text_atomic
from safefakes.data.split import Split
from safefakes.data.wider_files import PREDICTION_INFO, write_prediction
from safefakes.detector.anchors import anchor_boxes, decode
from safefakes.detector.augment import resize_for_test
from safefakes.detector.config import DetectorConfig, PredictSettings
from safefakes.detector.model import DSFD
from safefakes.detector.overlap import nms
from safefakes.detector.train import build_detector, load_checkpoint
from safefakes.devices import resolve_device
from safefakes.errors import InputError, SafeFakesError
from safefakes.machine import MACHINE, machine_record

# DSFD's test-time size cap (reference widerface_val.py): an image is scaled
# to at most 2^31 / 200 pixels (Caffe's blob limit at its memory factor), and never beyond 3x.
MAX_TEST_PIXELS = 0x7FFFFFFF / 200.0
MAX_TEST_SCALE = 3.0
PRE_NMS_TOP_K = 5000  # candidates per scale, as the reference's detection layer (top_k)
VOTE_IOU = 0.3  # box voting's overlap (reference bbox_vote)
LARGE_SIDE = 30  # a shrunk scale keeps boxes whose longer side exceeds this (px, original image)
SMALL_SIDE = 100  # an enlarged scale keeps boxes whose shorter side is below this
INFO = PREDICTION_INFO


class Detector(NamedTuple):
    model: DSFD
    config: DetectorConfig
    device: torch.device
    backbone_weights: str
    checkpoint: Path
    trained_on: dict | None = None  # the checkpoint's machine record (safefakes.machine); None: older checkpoint


def load_detector(checkpoint: str | Path, device: str | torch.device | None = None) -> Detector:
    ckpt = load_checkpoint(checkpoint)
    model, config = build_detector(ckpt)
    dev = resolve_device(device)
    model.to(dev, memory_format=torch.channels_last).eval()  # as trained (see train.py)
    return Detector(model, config, dev, str(ckpt.get("backbone_weights", "unknown")), Path(checkpoint),
                    ckpt.get(MACHINE))


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


def _inclusive_sides(dets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return dets[:, 2] - dets[:, 0] + 1, dets[:, 3] - dets[:, 1] + 1


def box_vote(dets: torch.Tensor, iou: float = VOTE_IOU) -> torch.Tensor:
    """DSFD's box voting: (N, 5) x1 y1 x2 y2 score -> merged boxes, best first.

    The best remaining box takes every box overlapping it by ``iou`` or more
    (itself included); a group of two or more becomes the score-weighted mean
    box with the group's best score, a box alone is dropped.
    """
    if dets.numel() == 0:
        return dets.reshape(0, 5)
    dets = dets[dets[:, 4].argsort(descending=True, stable=True)]
    w, h = _inclusive_sides(dets)
    area = w * h
    out = []
    while dets.shape[0]:
        inter_w = (torch.minimum(dets[0, 2], dets[:, 2]) - torch.maximum(dets[0, 0], dets[:, 0]) + 1).clamp(min=0)
        inter_h = (torch.minimum(dets[0, 3], dets[:, 3]) - torch.maximum(dets[0, 1], dets[:, 1]) + 1).clamp(min=0)
        inter = inter_w * inter_h
        group = inter / (area[0] + area - inter) >= iou
        members = dets[group]
        dets, area = dets[~group], area[~group]
        if members.shape[0] < 2:
            continue
        weights = members[:, 4:5]
        merged = (members[:, :4] * weights).sum(0) / weights.sum()
        out.append(torch.cat([merged, members[:, 4].max().reshape(1)]))
    return torch.stack(out) if out else torch.zeros((0, 5))


def max_test_scale(height: int, width: int) -> float:
    """The reference's largest test scale for an image: its size cap, at most 3x."""
    return min(MAX_TEST_SCALE, math.sqrt(MAX_TEST_PIXELS / float(height * width)))


def _base_shrink(height: int, width: int) -> float:
    return min(1.0, max_test_scale(height, width))


class ScaleStep(NamedTuple):
    scale: float
    flip: bool
    keep: str  # "all", "large" (longer side > LARGE_SIDE) or "small" (shorter side < SMALL_SIDE)


def multiscale_steps(height: int, width: int) -> list[ScaleStep]:
    """DSFD's multi-scale test of one image, in the reference's order (see the module docstring)."""
    cap = max_test_scale(height, width)
    base = min(1.0, cap)
    scales = [ScaleStep(base, False, "all"), ScaleStep(base, True, "all")]
    shrunk = 0.5 if cap >= 0.75 else 0.5 * cap
    scales.append(ScaleStep(shrunk, False, "large"))
    if cap > 0.75:
        scales.append(ScaleStep(0.75, False, "large"))
    big = min(2.0, cap) if cap > 1 else (shrunk + cap) / 2
    enlarged = [big]
    if cap > 1.5:
        enlarged.append(1.5)
    if cap > 2:
        big *= 2
        while big < cap:
            enlarged.append(big)
            big *= 2
        enlarged.append(cap)
    # The reference filters all enlarged scales by where the doubling ended.
    keep = "small" if big > 1 else "large"
    scales += [ScaleStep(s, False, keep) for s in enlarged]
    scales.append(ScaleStep(0.25, False, "large"))
    scales += [ScaleStep(s, False, "small") for s in (1.25, 1.75, 2.25) if s <= cap]
    return scales


def _keep_sizes(dets: torch.Tensor, keep: str) -> torch.Tensor:
    if keep == "all" or dets.numel() == 0:
        return dets
    w, h = _inclusive_sides(dets)
    if keep == "large":
        return dets[torch.maximum(w, h) > LARGE_SIDE]
    return dets[torch.minimum(w, h) < SMALL_SIDE]


# The test's defaults are PredictSettings' (the study's `predict` block and `safefakes detect`'s flags).
_DEFAULT = PredictSettings()


def detect_images(detector: Detector, images: list[np.ndarray], *, flip: bool = _DEFAULT.flip,
                  score_threshold: float = _DEFAULT.score_threshold, nms_iou: float = _DEFAULT.nms_iou,
                  max_boxes: int = _DEFAULT.max_boxes) -> list[np.ndarray]:
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


def detect_multiscale(detector: Detector, image: np.ndarray, *, flip: bool = _DEFAULT.flip,
                      score_threshold: float = _DEFAULT.score_threshold, nms_iou: float = _DEFAULT.nms_iou,
                      max_boxes: int = _DEFAULT.max_boxes) -> np.ndarray:
    """DSFD's multi-scale test on one image (``multiscale_steps``, ``box_vote``): (N, 5) x y w h score.

    ``flip=False`` leaves out the flipped base scale.
    """
    h, w = image.shape[:2]
    parts = []
    for step in multiscale_steps(h, w):
        if step.flip and not flip:
            continue
        im = _to_tensor(resize_for_test(image, step.scale))[None]
        if step.flip:
            im = im.flip(-1)
        dets = raw_detections(detector, im, score_threshold)[0]
        if step.flip:
            dets = _unflip(dets, im.shape[-1])
        dets = _nms_top(dets, nms_iou, PRE_NMS_TOP_K)  # the network's own NMS, per scale
        dets[:, :4] /= step.scale
        parts.append(_keep_sizes(dets, step.keep))
    dets = box_vote(torch.cat(parts))[:max_boxes].reshape(-1, 5)
    # Written as the reference writes its boxes: corners floored, inclusive sizes rounded up.
    x1, y1 = dets[:, 0].floor(), dets[:, 1].floor()
    w, h = (dets[:, 2] - dets[:, 0] + 1).ceil(), (dets[:, 3] - dets[:, 1] + 1).ceil()
    return _to_xywh(torch.stack([x1, y1, x1 + w, y1 + h, dets[:, 4]], 1))


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
    flip: bool = _DEFAULT.flip,
    multiscale: bool = _DEFAULT.multiscale,
    score_threshold: float = _DEFAULT.score_threshold,
    nms_iou: float = _DEFAULT.nms_iou,
    max_boxes: int = _DEFAULT.max_boxes,
    device: str | torch.device | None = None,
    batch_size: int = 8,
    progress: bool = False,
) -> dict:
    """Detect faces in every image of a split; write ``pred_dir/<event>/<stem>.txt``.

    The predictions are written into a hidden sibling of ``pred_dir`` and
    renamed into place when every image is done, ``detect_info.json`` included:
    a prediction folder that exists is complete and comes from the last run
    that wrote it (a finished earlier run's folder is removed first, a crashed
    run leaves only the sibling, which the next run clears). A folder that is,
    holds or lies in the split, a link inside ``pred_dir`` and a non-empty
    ``pred_dir`` that is not a finished prediction folder are refused.

    Returns a summary (also written to ``pred_dir/detect_info.json``) that
    records the checkpoint, the options, the backbone weights used and the
    machines that trained and ran the detector (``safefakes.machine``).
    """
    split = Split.load(split_dir)
    detector = load_detector(checkpoint, device)  # a bad checkpoint fails before any folder is touched
    final_dir, pred_dir = Path(pred_dir), _prepare_prediction_folder(split.root, Path(pred_dir))
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
        # The same seed trains other weights on another CPU: the predictions say where theirs came from.
        MACHINE: {"train": detector.trained_on, "predict": machine_record(detector.device)},
    }
    write_text_atomic(pred_dir / INFO, json.dumps(summary, indent=2) + "\n")
    _publish(pred_dir, final_dir)
    return summary


def _prepare_prediction_folder(split_dir: Path, pred_dir: Path) -> Path:
    """Check ``pred_dir`` and return the empty hidden folder the predictions are written into."""
    src, dst = split_dir.resolve(), pred_dir.resolve()
    if dst == src or src in dst.parents or dst in src.parents:
        raise SafeFakesError(
            f"prediction folder {pred_dir} overlaps the split {split_dir}: nothing is written inside an input, and "
            "a split inside a prediction folder would be read as predictions; choose a folder outside the split")
    if pred_dir.exists() and not pred_dir.is_dir():
        raise InputError(pred_dir, "the prediction folder exists and is not a folder",
                         hint="choose another PRED_DIR")
    refuse_links(pred_dir)
    if pred_dir.is_dir() and any(pred_dir.iterdir()) and not (pred_dir / INFO).is_file():
        raise SafeFakesError(
            f"prediction folder {pred_dir} is not empty and holds no {INFO}, so it is not a finished "
            "`safefakes detect` output (an interrupted run of an older version, or files of another tool); "
            "delete it or choose another PRED_DIR")
    work = pred_dir.parent / f".{pred_dir.name}.detect-partial"
    if work.exists() or work.is_symlink():  # what a crashed run left
        _remove(work)
    if pred_dir.exists() or pred_dir.is_symlink():
        # A finished earlier run (or an empty folder): this run replaces it, and until it has
        # finished no prediction folder exists that could be taken for its result.
        _remove(pred_dir)
    work.mkdir(parents=True)
    return work


def _publish(work: Path, pred_dir: Path) -> None:
    """Rename the finished predictions into place."""
    os.replace(work, pred_dir)


def _remove(path: Path) -> None:
    # A link is removed, never followed.
    if path.is_symlink() or not path.is_dir():
        path.unlink()
    else:
        shutil.rmtree(path)


__all__ = ["Detector", "load_detector", "raw_detections", "detect_images", "detect_multiscale", "detect_split",
           "box_vote", "max_test_scale", "multiscale_steps", "ScaleStep"]
