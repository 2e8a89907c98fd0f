"""WIDER FACE average precision, exactly as the official ``eval_tools``.

Every result of the study is an AP from here, so the numbers follow the
official MATLAB evaluation (and its widely used Python port) step by step:

1. Each image's detections are sorted by score, descending, with a stable sort
   (equal scores keep their file order). An image without predictions has none.
2. All scores of all images are normalised with one global min-max.
3. Boxes go x y w h -> x1 y1 x2 y2 with ``x2 = x + w``; IoU uses the +1 pixel
   convention. Each detection, in order, takes its best-IoU ground-truth box
   (the first on ties). At IoU >= 0.5 with a face outside the subset's kept
   list, the detection is ignored (no longer a proposal); with a kept face not
   yet matched, it matches it; with a kept face already matched, it stays a
   false positive. Images with no ground-truth box or no detection are skipped,
   but their kept faces count in the recall denominator.
4. For each of 1,000 thresholds ``1 - t/1000`` (t = 1..1000) the detections with
   a normalised score >= the threshold count: precision = matches / proposals,
   recall = matches / kept faces.
5. AP is VOC-style: sentinels, running maximum of precision, recall steps.

The official tools loop over detections and thresholds in the interpreter.
Here the loops disappear. The reference's only state is "has this kept face
been matched yet", so at any threshold the matches are the kept faces that some
detection above the threshold takes as its best box, and the proposals are the
detections above it that are not ignored: both depend on the set of detections
above the threshold, not on their order, so the per-image sort is implied
rather than performed (the tests compare with a literal, sorting reference).
Candidate pairs come from a sorted sweep on box centres (IoU >= 0.5 forces the
centres to lie within half a box width), so crowded images do not cost a full
IoU matrix.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from safefakes.data.wider_files import (
    SUBSETS,
    GroundTruth,
    prediction_path,
    read_ground_truth,
    read_prediction_info,
    read_predictions,
)
from safefakes.errors import InputError

log = logging.getLogger(__name__)

IOU_THRESHOLD = 0.5
N_THRESHOLDS = 1000


class EqualScoresWarning(UserWarning):
    """All detection scores are equal: the official normalisation divides by zero."""


def score_thresholds(n: int = N_THRESHOLDS) -> np.ndarray:
    """The official thresholds, ``1 - t/n`` for t = 1..n (0.999 down to 0.000 for n = 1000)."""
    # Computed element by element like the reference, so comparisons agree bit for bit.
    return 1.0 - np.arange(1, n + 1, dtype=np.float64) / n


@dataclass(frozen=True)
class PRCurve:
    """One subset's precision/recall at each threshold, and its AP."""

    subset: str
    thresholds: np.ndarray  # (T,) descending
    precision: np.ndarray  # (T,) NaN where no detection passes the threshold
    recall: np.ndarray  # (T,)
    ap: float  # NaN when the subset has no kept face
    n_faces: int  # kept faces of the subset: the recall denominator


@dataclass
class WiderEvaluation:
    """The result of one evaluation: three PR curves and some bookkeeping."""

    curves: dict[str, PRCurve]
    n_images: int  # images of the ground truth
    n_detections: int  # detections read for those images
    missing: list[str] = field(default_factory=list)  # "event/stem" without a prediction

    @property
    def aps(self) -> dict[str, float]:
        return {s: self.curves[s].ap for s in SUBSETS}

    @property
    def n_missing(self) -> int:
        return len(self.missing)

    def to_dict(self) -> dict[str, float | None]:
        """``{"easy": .., "medium": .., "hard": ..}``; an undefined AP (no kept face) is None."""
        return {s: (None if math.isnan(ap) else float(ap)) for s, ap in self.aps.items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC AP: sentinels (0, 0) and (1, 0), running max of precision from the right."""
    recall = np.asarray(recall, dtype=np.float64)
    # An undefined precision (no proposal yet) only occurs where recall is 0,
    # where it never weighs a recall step; MATLAB's max() skips it the same way.
    precision = np.nan_to_num(np.asarray(precision, dtype=np.float64), nan=0.0)
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def _concat(arrays: list, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """Concatenate per-image arrays into one of ``shape``; lists and odd shapes take the slow path."""
    if not arrays:
        return np.zeros((0, *shape[1:]), dtype=dtype)
    try:
        return np.concatenate(arrays).astype(dtype, copy=False).reshape(shape)
    except ValueError:
        return np.concatenate([np.asarray(a, dtype=dtype).reshape(shape) for a in arrays])


def _xyxy_rows(xywh: np.ndarray) -> np.ndarray:
    """(N, >=4) x y w h -> (4, N) contiguous rows x1 y1 x2 y2, with x2 = x + w as the reference."""
    rows = np.array(xywh[:, :4].T, dtype=np.float64, order="C")
    rows[2] += rows[0]
    rows[3] += rows[1]
    return rows


def _pair_iou(d: np.ndarray, g: np.ndarray, pd: np.ndarray, pg: np.ndarray) -> np.ndarray:
    """IoU of boxes ``d[:, pd]`` and ``g[:, pg]`` (rows x1 y1 x2 y2), +1 pixel convention, official order."""
    dx1, dy1, dx2, dy2 = (row[pd] for row in d)
    gx1, gy1, gx2, gy2 = (row[pg] for row in g)
    iw = np.minimum(dx2, gx2) - np.maximum(dx1, gx1) + 1
    ih = np.minimum(dy2, gy2) - np.maximum(dy1, gy1) + 1
    inter = iw * ih
    union = (dx2 - dx1 + 1) * (dy2 - dy1 + 1) + (gx2 - gx1 + 1) * (gy2 - gy1 + 1) - inter
    # Where both overlaps are positive both areas are too, so the union is > 0;
    # elsewhere the reference's IoU is 0, whatever the quotient.
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((iw > 0) & (ih > 0), inter / union, 0.0)


def _best_matches(det: np.ndarray, det_img: np.ndarray, gt: np.ndarray, gt_img: np.ndarray,
                  iou_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """For each detection whose best ground-truth IoU is >= the threshold: (detection, best box).

    ``det`` and ``gt`` are (4, N) rows x1 y1 x2 y2. Both outputs are ordered by
    detection index; the best box is the first (lowest index) on ties.
    """
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    if det.shape[1] == 0 or gt.shape[1] == 0:
        return empty
    # IoU >= 0.5 implies |centre_d - centre_g| <= min(W_d, W_g) / 2 on each axis
    # (W the +1 width), so only boxes whose centre x lies within half a
    # detection width can reach the threshold; the margin only adds candidates.
    margin = 1.0
    d_c = (det[0] + det[2] + 1) / 2
    d_half = (det[2] - det[0] + 1) / 2
    g_c = (gt[0] + gt[2] + 1) / 2
    lo_all = min(d_c.min(), g_c.min())
    span = max(d_c.max(), g_c.max()) - lo_all + 2 * max(float(d_half.max()), 0.0) + 4 * margin + 1
    # One sorted axis for all images: image i occupies [i * span, (i + 1) * span).
    g_key = gt_img * span + (g_c - lo_all)
    g_order = np.argsort(g_key, kind="stable")
    g_sorted = g_key[g_order]
    d_key = det_img * span + (d_c - lo_all)
    reach = np.maximum(d_half, 0.0) + margin
    lo = np.searchsorted(g_sorted, d_key - reach, side="left")
    hi = np.searchsorted(g_sorted, d_key + reach, side="right")
    counts = np.maximum(hi - lo, 0)
    n_pairs = int(counts.sum())
    if n_pairs == 0:
        return empty
    pair_det = np.repeat(np.arange(det.shape[1]), counts)
    starts = np.cumsum(counts) - counts
    pair_gt = g_order[np.arange(n_pairs) - np.repeat(starts - lo, counts)]
    same = gt_img[pair_gt] == det_img[pair_det]
    pair_det, pair_gt = pair_det[same], pair_gt[same]
    iou = _pair_iou(det, gt, pair_det, pair_gt)
    hit = iou >= iou_threshold
    pair_det, pair_gt, iou = pair_det[hit], pair_gt[hit], iou[hit]
    if len(pair_det) == 0:
        return empty
    # Per detection: highest IoU, then the lowest box index (the reference's argmax).
    order = np.lexsort((pair_gt, -iou, pair_det))
    pair_det, pair_gt = pair_det[order], pair_gt[order]
    first = np.ones(len(pair_det), dtype=bool)
    first[1:] = pair_det[1:] != pair_det[:-1]
    return pair_det[first], pair_gt[first]


def first_reached_threshold(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Index of the highest threshold each score reaches (``score >= threshold``); ``len(thresholds)`` if none.

    ``thresholds`` must be the official ``1 - t/T``. The first guess ``floor(s T)``
    is corrected against the exact threshold values, so the comparison is the
    reference's ``>=`` bit for bit (a plain searchsorted is ~10x slower on 150k
    unsorted scores). NaN reaches no threshold.
    """
    n_t = len(thresholds)
    ascending = thresholds[::-1]
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        guess = np.floor(np.clip(s, -1.0, 2.0) * n_t) + 1
    n_reached = np.clip(guess, 0, n_t).astype(np.int64)  # how many thresholds are <= s
    for _ in range(2):  # the guess is off by at most one; two rounds make it certain
        too_many = (n_reached > 0) & (ascending[np.maximum(n_reached - 1, 0)] > s)
        n_reached -= too_many
        too_few = (n_reached < n_t) & (ascending[np.minimum(n_reached, n_t - 1)] <= s)
        n_reached += too_few
    return n_t - n_reached


def _cumulative_counts(first: np.ndarray, n_t: int) -> np.ndarray:
    """Per threshold, how many entries reach it, from each entry's first reached threshold."""
    return np.cumsum(np.bincount(first, minlength=n_t + 1)[:n_t])


@dataclass(frozen=True)
class MatchedDetections:
    """Every detection of an evaluation, flattened image-major, with the face it takes.

    Which face a detection takes depends on the boxes only, not on the scores,
    so this is computed once per prediction set; the scores' normalisation and
    the thresholds come after (``evaluate``, ``per_image_counts``).
    """

    n_images: int
    scores: np.ndarray  # (D,) raw detection scores
    det_img: np.ndarray  # (D,) image index of each detection
    evaluated: np.ndarray  # (D,) bool: its image has a ground-truth box
    hit_det: np.ndarray  # detections whose best box has IoU >= the threshold ...
    hit_gt: np.ndarray  # ... and that box (global face index)
    gt_img: np.ndarray  # (F,) image index of each face
    kept: dict[str, np.ndarray]  # subset -> (F,) bool
    kept_counts: dict[str, np.ndarray]  # subset -> (n_images,) length of each image's kept list
    missing: list[str]


def match_detections(ground_truth: GroundTruth, predictions: Mapping[str, np.ndarray],
                     iou_threshold: float = IOU_THRESHOLD) -> MatchedDetections:
    """Flatten ground truth and predictions and find each detection's best face (official rules)."""
    images = ground_truth.images
    keys = [im.key for im in images]
    index = dict(zip(keys, range(len(keys))))
    unknown = [k for k in predictions if k not in index]
    if unknown:
        shown = ", ".join(sorted(unknown)[:5]) + (" ..." if len(unknown) > 5 else "")
        raise ValueError(f"{len(unknown)} prediction(s) for images not in the ground truth: {shown}")

    # Ground truth, flattened image-major in file order (global box index order = official order).
    gt_counts = np.fromiter(map(len, (im.boxes for im in images)), dtype=np.int64, count=len(images))
    gt_offsets = np.cumsum(gt_counts) - gt_counts
    gt_xywh = _concat([im.boxes for im in images], (-1, 4), np.float64)
    if len(gt_xywh) != gt_counts.sum():
        raise ValueError("ground-truth boxes must be (N, 4) x y w h arrays, one per image")
    gt_img = np.repeat(np.arange(len(images)), gt_counts)
    kept = {}
    kept_counts = {}
    for s in SUBSETS:
        idx = [im.kept[s] for im in images]
        lens = np.fromiter(map(len, idx), dtype=np.int64, count=len(idx))
        mask = np.zeros(len(gt_xywh), dtype=bool)
        mask[_concat(idx, (-1,), np.int64) + np.repeat(gt_offsets, lens)] = True
        kept[s] = mask
        # The official denominator is the length of each kept list, duplicates and all.
        kept_counts[s] = lens

    # Detections, flattened the same way.
    missing = []
    det_arrays = []
    det_counts = np.zeros(len(images), dtype=np.int64)
    for i, key in enumerate(keys):
        dets = predictions.get(key)
        if dets is None:
            missing.append(key)
            continue
        dets = np.asarray(dets, dtype=np.float64)
        if dets.size == 0:
            continue
        if dets.ndim != 2 or dets.shape[1] != 5:
            raise ValueError(f"predictions for {key}: shape {dets.shape}, expected (N, 5) x y w h score")
        det_arrays.append(dets)
        det_counts[i] = len(dets)
    dets = np.concatenate(det_arrays) if det_arrays else np.zeros((0, 5))
    det_img = np.repeat(np.arange(len(images)), det_counts)
    finite = np.isfinite(dets).all(axis=1)
    if not finite.all():
        raise ValueError(f"predictions for {keys[det_img[np.argmin(finite)]]}: NaN or infinite values")
    # No sort is needed: the reference sorts each image's detections so that
    # "the last one above a threshold" means "all those above it", and whether a
    # face was matched depends only on which of its detections are above it.

    # Images without any ground-truth box are skipped entirely (their detections are no proposals).
    evaluated = gt_counts[det_img] > 0
    ev = np.flatnonzero(evaluated)
    det_rows = _xyxy_rows(dets[ev])
    gt_rows = _xyxy_rows(gt_xywh)
    hit_local, hit_gt = _best_matches(det_rows, det_img[ev], gt_rows, gt_img, iou_threshold)
    return MatchedDetections(len(images), dets[:, 4].copy(), det_img, evaluated, ev[hit_local], hit_gt,
                             gt_img, kept, kept_counts, missing)


def normalised_scores(scores: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The official global min-max normalisation (an equal lo and hi leaves every score NaN)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (scores - lo) / (hi - lo)


def _subset_firsts(matched: MatchedDetections, first_t: np.ndarray, subset: str,
                   n_thresholds: int) -> tuple[np.ndarray, np.ndarray]:
    """(face_first, proposal): each face's first matched threshold, and which detections are proposals."""
    on_kept = matched.kept[subset][matched.hit_gt]
    proposal = matched.evaluated.copy()
    proposal[matched.hit_det[~on_kept]] = False  # its best box is a face outside the subset: ignored
    # Of several detections of a kept face the highest-scored one matches it and
    # the others stay false positives: the face counts as matched from the
    # highest threshold that any of its detections reaches.
    face_first = np.full(len(matched.gt_img), n_thresholds, dtype=np.int64)
    np.minimum.at(face_first, matched.hit_gt[on_kept], first_t[matched.hit_det[on_kept]])
    return face_first, proposal


def evaluate(ground_truth: GroundTruth, predictions: Mapping[str, np.ndarray],
             iou_threshold: float = IOU_THRESHOLD, n_thresholds: int = N_THRESHOLDS) -> WiderEvaluation:
    """APs and PR curves of ``predictions`` (``"event/stem"`` -> (N, 5) x y w h score).

    Keys of ``predictions`` must be images of ``ground_truth``; an image without
    a key has no detections and is listed in ``WiderEvaluation.missing``.
    Inputs are not modified.
    """
    matched = match_detections(ground_truth, predictions, iou_threshold)
    scores = matched.scores
    if len(scores):
        lo, hi = scores.min(), scores.max()
        if hi == lo:
            warnings.warn(
                f"all {len(scores)} detection scores equal {lo:g}: the official min-max normalisation "
                "divides by zero, so no detection reaches any threshold and every AP is 0. Give the "
                "detections distinct confidence scores.", EqualScoresWarning, stacklevel=2)
        scores = normalised_scores(scores, lo, hi)

    thresholds = score_thresholds(n_thresholds)
    first_t = first_reached_threshold(scores, thresholds)
    curves = {}
    for s in SUBSETS:
        n_faces = int(matched.kept_counts[s].sum())
        face_first, proposal = _subset_firsts(matched, first_t, s, n_thresholds)
        proposals = _cumulative_counts(first_t[proposal], n_thresholds)
        matches = _cumulative_counts(face_first, n_thresholds)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = matches / proposals
            recall = matches / n_faces if n_faces else np.full(len(thresholds), np.nan)
        ap = average_precision(recall, precision) if n_faces else float("nan")
        curves[s] = PRCurve(s, thresholds, precision, recall, ap, n_faces)
    return WiderEvaluation(curves, matched.n_images, int(len(scores)), matched.missing)


def per_image_counts(matched: MatchedDetections, lo: float, hi: float,
                     n_thresholds: int = N_THRESHOLDS) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per subset, each image's cumulative (matches, proposals) at every threshold: two (n_images, T) arrays.

    Scores are normalised with ``lo`` and ``hi`` (the min and max over the
    images being evaluated). Summing rows, an image counted as often as it is
    drawn, gives ``evaluate``'s counts for that multiset of images: the
    bootstrap over validation images rests on this.
    """
    first_t = first_reached_threshold(normalised_scores(matched.scores, lo, hi), score_thresholds(n_thresholds))
    n, width = matched.n_images, n_thresholds + 1
    out = {}
    for s in SUBSETS:
        face_first, proposal = _subset_firsts(matched, first_t, s, n_thresholds)
        hist_m = np.bincount(matched.gt_img * width + face_first, minlength=n * width).reshape(n, width)
        hist_p = np.bincount(matched.det_img[proposal] * width + first_t[proposal],
                             minlength=n * width).reshape(n, width)
        out[s] = (np.cumsum(hist_m[:, :n_thresholds], axis=1), np.cumsum(hist_p[:, :n_thresholds], axis=1))
    return out


def evaluate_folder(pred_dir: str | Path, gt_dir: str | Path,
                    iou_threshold: float = IOU_THRESHOLD) -> WiderEvaluation:
    """Evaluate a prediction folder (``<event>/<stem>.txt``) against the four ``.mat`` files of ``gt_dir``.

    Malformed prediction files and ground truth raise ``InputError`` naming the
    file and line; so does a prediction for an image the ground truth lacks,
    and a folder with no ``<event>/<image>.txt`` file at all.
    """
    pred_dir = Path(pred_dir)
    gt = read_ground_truth(gt_dir)
    predictions = read_predictions(pred_dir)
    if not predictions:
        flat = sorted(p.name for p in pred_dir.glob("*.txt"))[:3]
        raise InputError(pred_dir, "no prediction files: expected one folder per event holding <image>.txt files"
                         + (f"; found .txt files directly in the folder ({', '.join(flat)}, ...)" if flat else ""),
                         hint="write predictions as PRED_DIR/<event>/<image>.txt, as `safefakes detect` does")
    known = {im.key for im in gt.images}
    for key in sorted(predictions):
        if key not in known:
            event, stem = key.rsplit("/", 1)
            raise InputError(prediction_path(pred_dir, event, stem),
                             f"prediction for image {key!r}, which is not in the ground truth {Path(gt_dir)}",
                             hint="predict on the split that the ground truth describes, "
                                  "or evaluate against that split's ground-truth folder")
    result = evaluate(gt, predictions, iou_threshold=iou_threshold)
    negative = sum(int(((d[:, 2] < 0) | (d[:, 3] < 0)).sum()) for d in predictions.values())
    if negative:
        log.warning("%d predicted box(es) in %s have a negative width or height; scored as the official tool "
                    "does (they overlap no face). The official val ground truth itself holds one.", negative, pred_dir)
    if result.missing:
        log.warning("%d of %d images have no prediction file in %s (counted as no detections), e.g. %s",
                    result.n_missing, result.n_images, pred_dir, result.missing[0])
    return result


def scores_record(result: WiderEvaluation, pred_dir: str | Path) -> dict:
    """What ``map.json`` holds: the three APs and the machines behind the predictions.

    ``machine`` is ``{"train": .., "predict": ..}`` from the prediction folder's
    ``detect_info.json`` (``safefakes.machine`` records: CPU, the instruction
    set of torch's kernels, torch, threads, device), since a seed trains other
    weights on another CPU; null for predictions of another tool, which carry
    no such record. (The key is ``safefakes.machine.MACHINE``, spelled out here:
    that module needs torch, and the evaluation runs without it.)
    """
    return {**result.to_dict(), "machine": read_prediction_info(pred_dir).get("machine")}


__all__ = [
    "IOU_THRESHOLD", "N_THRESHOLDS", "EqualScoresWarning", "PRCurve", "WiderEvaluation", "MatchedDetections",
    "score_thresholds", "first_reached_threshold", "average_precision", "evaluate", "evaluate_folder", "scores_record",
    "match_detections", "normalised_scores", "per_image_counts",
]
