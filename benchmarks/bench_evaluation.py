"""WIDER FACE evaluation: the vectorised evaluator against a per-image loop of the same algorithm.

Input: the real val ground truth (../shared/data/widerface_val_gt) when present,
else a synthetic ground truth of the same size (3,226 images, 39,708 faces);
about 150,000 simulated detections (jittered hits on most faces, duplicates,
false positives). Both implementations must give identical APs.
Targets: the vectorised evaluator under 0.3 s, and at least 10x the loop.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import best_time, save
from safefakes.data.wider_files import (
    SUBSETS,
    GroundTruth,
    GroundTruthImage,
    read_ground_truth,
    write_ground_truth,
    write_predictions,
)
from safefakes.evaluation.wider_ap import evaluate, evaluate_folder, score_thresholds

REAL_GT = Path(__file__).resolve().parents[2] / "shared" / "data" / "widerface_val_gt"
N_IMAGES, N_FACES, N_DETECTIONS = 3226, 39708, 150_000


# --------------------------------------------------------------------------- #
# The baseline: the official algorithm, one image and one detection at a time
# (IoU matrix per image with numpy, matching loop per detection in Python,
# thresholds per image with searchsorted instead of a Python loop of 1,000).
# --------------------------------------------------------------------------- #
def loop_evaluate(gt: GroundTruth, preds: dict[str, np.ndarray], thresh_num: int = 1000) -> dict[str, float]:
    per_image = {}
    for key, d in preds.items():
        d = np.asarray(d, dtype=np.float64)
        per_image[key] = d[np.argsort(-d[:, 4], kind="stable")].copy()
    scores = np.concatenate([d[:, 4] for d in per_image.values()])
    lo, hi = scores.min(), scores.max()
    for d in per_image.values():
        d[:, 4] = (d[:, 4] - lo) / (hi - lo)
    thresholds = score_thresholds(thresh_num)
    aps = {}
    for subset in SUBSETS:
        proposals = np.zeros(thresh_num)
        matches = np.zeros(thresh_num)
        count_face = 0
        for im in gt.images:
            keep = im.kept[subset]
            count_face += len(keep)
            d = per_image.get(im.key)
            if d is None or len(d) == 0 or len(im.boxes) == 0:
                continue
            ignore = np.zeros(len(im.boxes))
            ignore[keep] = 1
            px1, py1 = d[:, 0], d[:, 1]
            px2, py2 = d[:, 0] + d[:, 2], d[:, 1] + d[:, 3]
            g = np.asarray(im.boxes, dtype=np.float64)
            gx1, gy1, gx2, gy2 = g[:, 0], g[:, 1], g[:, 0] + g[:, 2], g[:, 1] + g[:, 3]
            iw = np.minimum(px2[:, None], gx2) - np.maximum(px1[:, None], gx1) + 1
            ih = np.minimum(py2[:, None], gy2) - np.maximum(py1[:, None], gy1) + 1
            inter = iw * ih
            ua = ((px2 - px1 + 1) * (py2 - py1 + 1))[:, None] + (gx2 - gx1 + 1) * (gy2 - gy1 + 1) - inter
            with np.errstate(invalid="ignore", divide="ignore"):
                iou = np.where((iw > 0) & (ih > 0), inter / ua, 0.0)
            recall_list = np.zeros(len(g))
            proposal = np.ones(len(d))
            pred_recall = np.zeros(len(d))
            n_matched = 0
            for h in range(len(d)):
                best = int(np.argmax(iou[h]))
                if iou[h, best] >= 0.5:
                    if ignore[best] == 0:
                        recall_list[best] = -1
                        proposal[h] = -1
                    elif recall_list[best] == 0:
                        recall_list[best] = 1
                        n_matched += 1
                pred_recall[h] = n_matched
            # last detection with score >= threshold = how many reach it (scores sorted)
            reached = np.searchsorted(-d[:, 4], -thresholds, side="right")
            cum_prop = np.concatenate(([0], np.cumsum(proposal == 1)))
            cum_rec = np.concatenate(([0], pred_recall))
            proposals += cum_prop[reached]
            matches += cum_rec[reached]
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = matches / proposals
        recall = matches / count_face
        aps[subset] = _voc_ap(recall, precision)
    return aps


def _voc_ap(rec: np.ndarray, prec: np.ndarray) -> float:
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], np.nan_to_num(prec, nan=0.0), [0.0]))
    for i in range(len(mpre) - 1, 0, -1):
        mpre[i - 1] = max(mpre[i - 1], mpre[i])
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


# --------------------------------------------------------------------------- #
# Inputs
# --------------------------------------------------------------------------- #
def synthetic_ground_truth(rng: np.random.Generator, n_images: int = N_IMAGES,
                           n_faces: int = N_FACES) -> GroundTruth:
    """Same size as WIDER val: long-tailed faces per image, mostly small faces."""
    weights = rng.pareto(1.2, n_images) + 0.2
    # At most 709 faces an image, as in WIDER val; the remainder goes to random images.
    counts = np.clip(np.floor(weights / weights.sum() * n_faces), 1, 709).astype(int)
    while counts.sum() < n_faces:
        room = np.flatnonzero(counts < 709)
        np.add.at(counts, rng.choice(room, n_faces - counts.sum()), 1)
        counts = np.minimum(counts, 709)
    images = []
    for i, n in enumerate(counts):
        h = np.clip(np.exp(rng.normal(3.0, 1.0, n)), 4, 600).round()
        w = (h * rng.uniform(0.6, 0.9, n)).round()
        x, y = rng.uniform(0, 1024 - w), rng.uniform(0, 1024 - h)
        boxes = np.column_stack([x.round(), y.round(), w, h])
        kept = {"easy": np.flatnonzero(h > 50), "medium": np.flatnonzero(h > 30), "hard": np.flatnonzero(h > 10)}
        event = f"{i % 61}--Event"
        images.append(GroundTruthImage(event, f"{i % 61}_Event_{i}", boxes, kept))
    images.sort(key=lambda im: int(im.event.split("--")[0]))
    return GroundTruth(sorted({im.event for im in images}, key=lambda e: int(e.split("--")[0])), images)


def simulated_detections(gt: GroundTruth, rng: np.random.Generator,
                         n_total: int = N_DETECTIONS) -> dict[str, np.ndarray]:
    """Hits on ~85 % of faces (some twice), the rest false positives spread over the images."""
    hits = {}
    n_hits = 0
    for im in gt.images:
        b = np.asarray(im.boxes, dtype=np.float64)
        found = b[rng.random(len(b)) < 0.85]
        dup = found[rng.random(len(found)) < 0.1]
        d = np.concatenate([found, dup])
        size = np.maximum(d[:, 2:4], 1)
        d = np.column_stack([d[:, :2] + rng.normal(0, 0.08, (len(d), 2)) * size,
                             size * np.exp(rng.normal(0, 0.1, (len(d), 2)))])
        hits[im.key] = np.column_stack([d, rng.beta(5, 2, len(d))])
        n_hits += len(d)
    n_fp = max(n_total - n_hits, 0)
    per_image = rng.multinomial(n_fp, np.full(len(gt.images), 1 / len(gt.images)))
    preds = {}
    for im, n in zip(gt.images, per_image):
        wh = np.exp(rng.normal(3.0, 1.0, (n, 2)))
        xy = rng.uniform(0, 1024, (n, 2))
        fp = np.column_stack([xy, wh, rng.beta(2, 5, n)])
        dets = np.concatenate([hits[im.key], fp])
        dets = dets[rng.permutation(len(dets))]
        # The precision of prediction files (boxes 0.1 px, scores 1e-6), so files and memory agree.
        preds[im.key] = np.column_stack([np.round(dets[:, :4], 1), np.round(dets[:, 4], 6)])
    return preds


def _best_cpu(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        c0 = time.process_time()
        fn()
        best = min(best, time.process_time() - c0)
    return best


def run(quick: bool) -> None:
    rng = np.random.default_rng(0)
    if (REAL_GT / "wider_face_val.mat").exists():
        gt, source = read_ground_truth(REAL_GT), "WIDER FACE val (real)"
    else:
        gt, source = synthetic_ground_truth(rng), "synthetic, WIDER val size"
    n_det = N_DETECTIONS
    if quick:
        gt = GroundTruth(gt.events, gt.images[:300])
        n_det = N_DETECTIONS * 300 // N_IMAGES
    preds = simulated_detections(gt, rng, n_det)
    n_dets = sum(len(v) for v in preds.values())
    load = os.getloadavg()[0]
    print(f"load average (1 min): {load:.1f} on {os.cpu_count()} CPUs")
    print(f"ground truth: {source}: {len(gt.images)} images, {gt.n_faces} faces; {n_dets} detections")

    fast = evaluate(gt, preds).aps
    t_fast = best_time(lambda: evaluate(gt, preds), repeat=5)
    # CPU time too: on a shared machine the wall time mostly measures the others.
    cpu_fast = _best_cpu(lambda: evaluate(gt, preds), repeat=5)
    t0, c0 = time.perf_counter(), time.process_time()
    slow = loop_evaluate(gt, preds)
    t_loop, cpu_loop = time.perf_counter() - t0, time.process_time() - c0
    identical = all(fast[s] == slow[s] for s in SUBSETS)
    max_diff = max(abs(fast[s] - slow[s]) for s in SUBSETS)
    print("APs  vectorised: " + "  ".join(f"{s} {fast[s]:.6f}" for s in SUBSETS))
    print("APs  loop:       " + "  ".join(f"{s} {slow[s]:.6f}" for s in SUBSETS))
    print(f"identical: {identical} (max |diff| {max_diff:.3g})")
    print(f"vectorised: {t_fast * 1000:.1f} ms (best of 5)   loop: {t_loop * 1000:.0f} ms   "
          f"speed-up: {t_loop / t_fast:.1f}x   target: < 300 ms and >= 10x")
    print(f"CPU time   vectorised: {cpu_fast * 1000:.1f} ms   loop: {cpu_loop * 1000:.0f} ms   "
          f"ratio: {cpu_loop / cpu_fast:.1f}x")

    # The whole `safefakes evaluate` path, files included (for information, not a target).
    t_folder = None
    if not quick:
        with tempfile.TemporaryDirectory() as tmp:
            pred_dir, gt_dir = Path(tmp) / "pred", Path(tmp) / "gt"
            write_predictions(pred_dir, preds)
            write_ground_truth(gt_dir, gt)
            t0 = time.perf_counter()
            from_files = evaluate_folder(pred_dir, gt_dir).aps
            t_folder = time.perf_counter() - t0
        print(f"evaluate_folder (4 .mat files + {len(preds)} prediction files, then evaluate): {t_folder:.2f} s; "
              f"same APs as in memory: {from_files == fast}")

    if not identical:
        raise AssertionError(f"vectorised and loop APs differ: {fast} vs {slow}")
    save("evaluation", {
        "ground_truth": source, "images": len(gt.images), "faces": gt.n_faces, "detections": n_dets,
        "quick": quick, "load_average_1min": load, "aps_vectorised": fast, "aps_loop": slow, "identical": identical,
        "seconds_vectorised": t_fast, "seconds_loop": t_loop, "speedup": t_loop / t_fast,
        "cpu_seconds_vectorised": cpu_fast, "cpu_seconds_loop": cpu_loop,
        "seconds_evaluate_folder": t_folder,
        "target": {"seconds_vectorised_max": 0.3, "speedup_min": 10.0},
        "meets_target": bool(t_fast < 0.3 and t_loop / t_fast >= 10) if not quick else None,
    })
