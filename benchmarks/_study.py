"""The default study's pieces for benchmarks: its settings, its synthetic data, an original-trained detector."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]


def study_settings(quick: bool, iterations: int) -> dict:
    """The default study's data, detector, predict and anonymizer settings (config.yaml), shrunk for --quick."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    data = dict(config["data"]["synthetic"])
    if quick:
        data.update(train_images=24, val_images=16, crops=1)
    return {"data": data, "detector": config["detector"], "predict": config["predict"],
            "anonymizers": config["anonymizers"], "anonymize": config["anonymize"],
            "iterations": 10 if quick else iterations}


def dataset(out: Path, data: dict) -> tuple[Path, Path]:
    """The synthetic train and val splits (and crops) of ``data`` under ``out/data``, generated once."""
    from safefakes.data.synthetic import generate

    marker = out / "data" / "settings.json"
    if not (marker.is_file() and json.loads(marker.read_text()) == data):
        generate(out / "data", seed=data["seed"], train_images=data["train_images"], val_images=data["val_images"],
                 crops=data["crops"], image_size=tuple(data["image_size"]), workers=1)
        marker.write_text(json.dumps(data))
    return out / "data" / "train", out / "data" / "val"


def original_run(seed: int, run_dir: Path, train: Path, val: Path, settings: dict) -> dict:
    """Train (or find trained), predict and evaluate one seed on ``train``; its map.json content.

    The detector's checkpoint is ``run_dir/work/checkpoint.pt``.
    """
    from safefakes.data.images import write_text_atomic
    from safefakes.detector.config import DetectorConfig, preset
    from safefakes.detector.predict import detect_split
    from safefakes.detector.train import train_detector
    from safefakes.evaluation.wider_ap import evaluate_folder, scores_record

    det = settings["detector"]
    # As workflow_scripts/train_detector.py builds it: the preset, the config's settings, the seed.
    overrides = dict(det.get("settings") or {})
    overrides.update(backbone_weights=det["backbone_weights"], allow_random_init=det["allow_random_init"], seed=seed)
    config = DetectorConfig.from_dict(overrides, base=preset(det["preset"]), source="config.yaml: detector")
    previous = run_dir / "work" / "checkpoint.pt"
    before = previous.stat().st_mtime_ns if previous.is_file() else None
    t0 = time.perf_counter()
    checkpoint = train_detector(train, run_dir / "work", config, iterations=settings["iterations"], resume=True,
                                progress=False)
    trained = "cached" if checkpoint.stat().st_mtime_ns == before else f"trained in {time.perf_counter() - t0:.0f} s"
    pred = run_dir / "predictions"
    scores_path = run_dir / "map.json"
    if not scores_path.is_file() or scores_path.stat().st_mtime_ns < checkpoint.stat().st_mtime_ns:
        p = settings["predict"]
        detect_split(checkpoint, val, pred, flip=p["flip"], multiscale=p["multiscale"],
                     score_threshold=p["score_threshold"], nms_iou=p["nms_iou"], max_boxes=p["max_boxes"],
                     device="cpu")
        write_text_atomic(scores_path, json.dumps(scores_record(evaluate_folder(pred, val), pred)) + "\n")
    scores = json.loads(scores_path.read_text())
    print(f"seed {seed}: mAP {np.mean([scores[s] for s in ('easy', 'medium', 'hard')]):.4f} "
          f"(detector {trained})", flush=True)
    return scores
