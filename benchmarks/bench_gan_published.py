"""The GANs with their published losses at small scale: do they paint faces, and after how many images?

The default study's mini DeepPrivacy and CIAGAN train with an L1 term in the
box that their authors do not use (``l1_weight``; the paper presets keep it at
0). A GAN that paints faces at small scale only with that crutch warns that
the paper preset may not train at all, so this benchmark trains each of them
with its published loss (the mini preset with ``l1_weight`` 0: DeepPrivacy's
WGAN-GP with the drift term, CIAGAN's LSGAN with the identity loss) on the
default study's crop set, to 8 times the mini preset's length, as one run
continued from checkpoint to checkpoint. At every checkpoint it anonymizes the
study's train split and asks the frozen detector trained on the original
split (the study's seed 0, mini preset, 250 iterations) what it still finds:
the found rate of faces of at least 16 px (score >= 0.5, IoU >= 0.5) and its
retention against the original split, with bootstrap intervals
(``evaluation.detector_view``). Sun2018's mini preset already trains with its
published loss (L1 plus the two adversarial terms) and is not repeated here.

Results, samples and anonymized splits stay under
``benchmarks/results/gan_published/`` (``gan_published_quick/`` for
``--quick``, a smoke run of the same code on a 24-image split whose numbers
mean nothing). A re-run reuses the data, the detector and every finished
checkpoint.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from pathlib import Path

import torch

from benchmarks._common import RESULTS, save
from benchmarks._study import dataset, original_run, study_settings

ITERATIONS = 250  # the study's detector length
LENGTHS = (1, 2, 4, 8)  # multiples of the mini preset's training length
GANS = ("deepprivacy", "ciagan")
PUBLISHED = {"l1_weight": 0.0}


def _detect(checkpoint: Path, split: Path, out: Path, settings: dict) -> Path:
    from safefakes.detector.predict import detect_split

    if not (out / "detect_info.json").is_file():
        p = settings["predict"]
        detect_split(checkpoint, split, out, flip=p["flip"], multiscale=p["multiscale"],
                     score_threshold=p["score_threshold"], nms_iou=p["nms_iou"], max_boxes=p["max_boxes"],
                     device="cpu")
    return out


def _statuses(split: Path) -> dict[str, int]:
    from safefakes.data.anonymized import read_manifest

    return dict(Counter(row["status"] for row in read_manifest(split / "manifest.csv")))


def _point(gan: str, images: int, start: Path | None, folder: Path, train: Path, crops: Path,
           detector: Path, reference: Path, settings: dict, quick: bool) -> dict:
    from safefakes.anonymizers.gan.train import train_gan
    from safefakes.anonymizers.registry import AnonymizerSpec
    from safefakes.engine.split import anonymize_split
    from safefakes.evaluation.detector_view import view_folders
    from safefakes.keypoints.provider import make_keypoint_provider

    block = settings["anonymizers"][gan]
    t0 = time.perf_counter()
    result = train_gan(gan, crops, folder / "gan", faces=None if quick else block["faces"], images=images,
                       preset="mini", overrides=PUBLISHED, seed=0, device="cpu", progress=False, start_from=start)
    seconds = time.perf_counter() - t0
    shutil.copyfile(result.samples, folder / "samples.png")
    split = folder / "split"
    anonymize_split(train, split, AnonymizerSpec(gan, {"checkpoint": str(result.checkpoint), "device": "cpu"}),
                    seed=settings["anonymize"]["seed"], workers=1,
                    keypoints=make_keypoint_provider(block["keypoints"], split=train), progress=False)
    predictions = _detect(detector, split, folder / "view_predictions", settings)
    view = view_folders(split, predictions, train, reference)
    found, kept = view.recall["ge16"], view.retention["ge16"]
    return {"method": gan, "images": result.images_shown, "train_seconds": round(seconds, 1),
            "found_ge16": found.to_dict(), "retention_ge16": kept.to_dict(), "statuses": _statuses(split),
            "checkpoint": str(result.checkpoint), "samples": str(folder / "samples.png")}


def run(quick: bool = False) -> None:
    torch.set_num_threads(1)  # as the study's GAN and detector jobs
    settings = study_settings(quick, ITERATIONS)
    out = RESULTS / ("gan_published_quick" if quick else "gan_published")
    train, val = dataset(out, settings["data"])
    crops = out / "data" / "crops"
    original_run(0, out / "detector", train, val, settings)
    detector = out / "detector" / "work" / "checkpoint.pt"
    reference = _detect(detector, train, out / "original_view_predictions", settings)
    rows = []
    starts: dict[str, Path | None] = dict.fromkeys(GANS)
    # Length by length, both GANs at each, so that a run stopped early has every GAN at its shorter lengths.
    for k in LENGTHS:
        for gan in GANS:
            images = (32 if quick else settings["anonymizers"][gan]["anon_iters"]) * k
            folder = out / gan / f"images~{images}"
            marker = folder / "point.json"
            if marker.is_file():
                row = json.loads(marker.read_text())
            else:
                if folder.exists():
                    shutil.rmtree(folder)
                folder.mkdir(parents=True)
                row = _point(gan, images, starts[gan], folder, train, crops, detector, reference, settings, quick)
                marker.write_text(json.dumps(row, indent=2) + "\n")
            starts[gan] = Path(row["checkpoint"])
            rows.append(row)
            f, r = row["found_ge16"], row["retention_ge16"]
            print(f"{gan:12s} {row['images']:7d} images ({row['train_seconds']:6.1f} s of training): found "
                  f"{f['value']:.3f} [{f['low']:.3f}, {f['high']:.3f}] of {f['n']} faces >= 16 px, retention "
                  f"{r['value']:.3f} [{r['low']:.3f}, {r['high']:.3f}]; {row['statuses']}", flush=True)
    path = save("gan_published_quick" if quick else "gan_published", {"loss": PUBLISHED, "rows": rows})
    print(f"written to {path}")
