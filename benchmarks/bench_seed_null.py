"""The difference interval under the null: six seeds of one method, split 3 vs 3, must not differ.

Six mini detectors are trained on the default study's original synthetic train
split (``config.yaml``'s ``data.synthetic``, ``detector`` and ``predict``
blocks; the mini preset at 250 iterations on one thread, as the study's
``methods`` experiment trains them) with seeds 0 to 5, run on its val split
and evaluated. Each of the ten ways to split the six seeds into two groups of
three is one "method vs original" comparison with no true difference; the
interval of ``evaluation.bootstrap.paired_difference`` (Welch's t over seeds
plus the paired image bootstrap, 1,000 resamples) must contain 0 in at least 9
of the 10. (The ten splits share seeds, so this is a check, not a coverage
estimate: tests/test_bootstrap.py measures coverage in simulation.)

Measured (2026-12-07, AMD EPYC, AVX512, torch 2.14.1, one thread; 743 s on
2 shared cores): seeds 0-5 scored 0.850 / 0.849 / 0.877 / 0.807 / 0.885 /
0.866 (sd 0.028); all 10 intervals contain 0, half-widths 0.059 to 0.083,
standard errors from images 0.019-0.027 and from seeds 0.015-0.026. (The
earlier seed bootstrap also contained 0 in all 10 here, where the seeds agree
about as well as the images do; it fell short where seeds disagree.)

The trained detectors, predictions and map.json files stay under
``benchmarks/results/seed_null/`` (``seed_null_quick/`` for ``--quick``): a
re-run evaluates them again without training. Delete the folder to train anew
(a changed setting stops with an error rather than reusing a run).
``--quick``: a 24-image train split, 16 val images, 10 iterations: a smoke run
of the same code, whose intervals mean nothing.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from benchmarks._common import RESULTS, save

ROOT = Path(__file__).resolve().parents[1]
N_SEEDS = 6
ITERATIONS = 250
N_RESAMPLES = 1000


def _study_settings(quick: bool) -> dict:
    """The default study's data, detector and predict settings (config.yaml), shrunk for --quick."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    data = dict(config["data"]["synthetic"])
    if quick:
        data.update(train_images=24, val_images=16, crops=1)
    return {"data": data, "detector": config["detector"], "predict": config["predict"],
            "iterations": 10 if quick else ITERATIONS}


def _dataset(out: Path, data: dict) -> tuple[Path, Path]:
    from safefakes.data.synthetic import generate

    marker = out / "data" / "settings.json"
    if not (marker.is_file() and json.loads(marker.read_text()) == data):
        generate(out / "data", seed=data["seed"], train_images=data["train_images"], val_images=data["val_images"],
                 crops=data["crops"], image_size=tuple(data["image_size"]), workers=1)
        marker.write_text(json.dumps(data))
    return out / "data" / "train", out / "data" / "val"


def _run(seed: int, run_dir: Path, train: Path, val: Path, settings: dict) -> dict:
    """Train (or find trained), predict and evaluate one seed; its map.json content."""
    from safefakes.data.images import write_text_atomic
    from safefakes.detector.config import DetectorConfig, preset
    from safefakes.detector.predict import detect_split
    from safefakes.detector.train import train_detector
    from safefakes.evaluation.widerface import evaluate_folder, scores_record

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


def splits(n: int = N_SEEDS) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """The ways to split seeds 0..n-1 into two halves, each once (the half with seed 0 first)."""
    seeds = range(n)
    return [(a, tuple(s for s in seeds if s not in a)) for a in itertools.combinations(seeds, n // 2) if 0 in a]


def run(quick: bool = False) -> None:
    from safefakes.data.wider import read_ground_truth, read_predictions
    from safefakes.evaluation.bootstrap import INTERVAL_METHOD, RunResampler, paired_difference, resample_weights
    from safefakes.machine import describe_machine

    # One thread, as the study's detector jobs: the weights depend on the thread count.
    torch.set_num_threads(1)
    settings = _study_settings(quick)
    out = RESULTS / ("seed_null_quick" if quick else "seed_null")
    out.mkdir(parents=True, exist_ok=True)
    train, val = _dataset(out, settings["data"])
    scores = {seed: _run(seed, out / f"seed~{seed}", train, val, settings) for seed in range(N_SEEDS)}

    gt = read_ground_truth(val)
    weights = resample_weights(len(gt.images), N_RESAMPLES, np.random.default_rng(0))
    full = np.ones((1, len(gt.images)), dtype=np.int64)
    samples, maps = {}, {}
    for seed in range(N_SEEDS):
        resampler = RunResampler(gt, read_predictions(out / f"seed~{seed}" / "predictions"))
        samples[seed] = resampler.map_samples(weights)
        maps[seed] = float(resampler.map_samples(full)[0])

    rows = []
    for a, b in splits():
        d = paired_difference([samples[s] for s in a], [samples[s] for s in b], [maps[s] for s in a],
                              [maps[s] for s in b])
        rows.append({"seeds": list(a), "against": list(b), "difference": round(d.difference, 4),
                     "low": round(d.low, 4), "high": round(d.high, 4), "df": round(d.df, 2),
                     "se_images": round(d.se_images, 4), "se_seeds": round(d.se_seeds, 4),
                     "contains_0": bool(d.low <= 0 <= d.high)})
        verdict = "" if rows[-1]["contains_0"] else "  EXCLUDES 0"
        print(f"seeds {a} vs {b}: {d.difference:+.4f} [{d.low:+.4f}, {d.high:+.4f}] df {d.df:.1f} "
              f"(se images {d.se_images:.4f}, seeds {d.se_seeds:.4f}){verdict}", flush=True)
    n_contain = sum(r["contains_0"] for r in rows)
    machines = sorted({describe_machine((s.get("machine") or {}).get("train")) for s in scores.values()})
    payload = {"quick": quick, "method": INTERVAL_METHOD, "iterations": settings["iterations"],
               "data": settings["data"], "resamples": N_RESAMPLES,
               "seed_maps": {str(s): round(m, 4) for s, m in maps.items()},
               "seed_map_sd": round(float(np.std(list(maps.values()), ddof=1)), 4),
               "splits": rows, "contain_0": n_contain, "required": 9, "machines": machines,
               "passed": n_contain >= 9}
    path = save("seed_null_quick" if quick else "seed_null", payload)
    print(f"seed mAPs: {', '.join(f'{m:.4f}' for m in maps.values())} (sd {payload['seed_map_sd']:.4f}); "
          f"machine: {'; '.join(machines)}", flush=True)
    print(f"{n_contain} of {len(rows)} intervals contain 0 (required: 9); written to {path}", flush=True)
    if not quick and n_contain < 9:
        raise RuntimeError(f"the difference interval excluded 0 in {len(rows) - n_contain} of {len(rows)} "
                           "splits of one method's seeds: it is too narrow")
    if any(math.isnan(r["low"]) for r in rows):
        raise RuntimeError("a split gave no interval: every half must hold at least two seeds")
