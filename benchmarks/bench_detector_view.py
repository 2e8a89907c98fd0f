"""The detector view: seconds for one train split (frozen detector's prediction + scoring).

Input: the synthetic train split at the default study's mini scale (400
images of 192 px), a mini DSFD trained briefly on it, one torch thread (as the
study's detector jobs). Measured: ``detect_split`` with config.yaml's predict
settings (the view_predict rule), then ``view_folders`` against the original's
predictions with 1,000 bootstrap resamples (the detector_view rule). The
default study takes 10 views (9 anonymized splits and the original).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from benchmarks._common import save

TRAIN_IMAGES = 400
VIEWS_IN_DEFAULT_STUDY = 10


def run(quick: bool = False) -> None:
    from safefakes.data.synthetic import generate
    from safefakes.detector.config import mini_config
    from safefakes.detector.predict import detect_split
    from safefakes.detector.train import train_detector
    from safefakes.evaluation.detector_view import ViewSettings, view_folders

    torch.set_num_threads(1)
    n_images = 40 if quick else TRAIN_IMAGES
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate(tmp / "data", seed=0, train_images=n_images, val_images=4, crops=1, image_size=(192, 192),
                 workers=1)
        train = tmp / "data" / "train"
        # A few iterations: inference costs the same as the study's trained detector; its boxes
        # (at the predict settings' score 0.01, at most 750 per image) are what scoring reads.
        checkpoint = train_detector(train, tmp / "det", mini_config(), iterations=4 if quick else 30,
                                    resume=False, device="cpu", progress=False)
        settings = dict(flip=True, multiscale=False, score_threshold=0.01, nms_iou=0.3, max_boxes=750, device="cpu")
        detect_split(checkpoint, train, tmp / "original_preds", **settings)
        t0 = time.perf_counter()
        summary = detect_split(checkpoint, train, tmp / "preds", **settings)
        t_predict = time.perf_counter() - t0
        t0 = time.perf_counter()
        view = view_folders(train, tmp / "preds", train, tmp / "original_preds", settings=ViewSettings())
        t_score = time.perf_counter() - t0
    total = t_predict + t_score
    results = {
        "images": n_images, "boxes": summary["boxes"], "faces": view.n_faces, "torch_threads": 1, "quick": quick,
        "seconds_predict": round(t_predict, 2), "seconds_score": round(t_score, 2),
        "seconds_per_split": round(total, 2),
        "seconds_default_study_views": round(VIEWS_IN_DEFAULT_STUDY * total * TRAIN_IMAGES / n_images, 1),
    }
    print(f"detector view of one {n_images}-image split: {total:.1f} s (prediction {t_predict:.1f} s, "
          f"scoring with 1,000 resamples {t_score:.2f} s; {summary['boxes']} boxes, {view.n_faces} faces); "
          f"the default study's {VIEWS_IN_DEFAULT_STUDY} views: about "
          f"{results['seconds_default_study_views']:.0f} s of one core", flush=True)
    save("detector_view", results)
