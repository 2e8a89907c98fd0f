"""CIAGAN and Sun2018 on the CPU mini configuration: anonymized faces per second.

For each method: a mini model (its ``mini`` preset; one training step, since
speed does not depend on the weights) anonymizes the faces of synthetic
detection images (crop, landmark rendering, generator, paste), against the
baseline of the generator's forward pass alone on the same number of
prepared crops, measured in the same run. Also the training speed (steps of
the mini preset per second). Single-threaded torch, as the engine's worker
processes run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import best_time, save


def _scenes(root: Path, n_images: int) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    from safefakes.data.images import read_image
    from safefakes.data.split import Split
    from safefakes.data.synthetic import generate

    generate(root, seed=0, train_images=n_images, val_images=1, crops=40, workers=1)
    split = Split.load(root / "train")
    images, boxes, kps = [], [], []
    for im in split.images:
        images.append(read_image(split.image_path(im.name)))
        boxes.append(im.boxes)
        kp = split.keypoints[im.name].copy()
        # Every face gets its landmarks, so each one goes through the generator.
        kp[..., 2] = 1.0
        kps.append(kp)
    return images, boxes, kps


def _bench_method(name: str, crops: Path, scenes, out: Path, quick: bool) -> dict:
    import torch

    from safefakes.anonymizers.gan.dataset import open_crop_dataset
    from safefakes.anonymizers.gan.trainer import TrainConfig, Trainer

    if name == "ciagan":
        from safefakes.anonymizers.gan.ciagan import CIAGAN as Method
        from safefakes.anonymizers.gan.ciagan import PRESETS
        from safefakes.anonymizers.gan.ciagan import CiaganAnonymizer as Anon
    else:
        from safefakes.anonymizers.gan.sun2018 import PRESETS
        from safefakes.anonymizers.gan.sun2018 import Sun2018 as Method
        from safefakes.anonymizers.gan.sun2018 import Sun2018Anonymizer as Anon
    model, train = PRESETS["mini"]["model"], dict(PRESETS["mini"]["train"])
    method = Method(model)
    data = open_crop_dataset(crops, method.resolution, method.keypoint_layout)
    steps = 3 if quick else 8
    train.update(images=train["batch_size"] * (steps + 1), progress_bar=False, device="cpu",
                 checkpoint_every=10**9, sample_every=10**9)
    trainer = Trainer(method, data, out / name, TrainConfig(**train))
    raw = trainer.data.load(trainer.step_indices(0))  # the model's speed: crops read once
    trainer.train_step(raw)  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(raw)
    steps_per_s = steps / (time.perf_counter() - t0)
    trainer.step = trainer.total_steps  # skip the rest: only the final checkpoint is needed
    checkpoint = trainer.train()

    anon = Anon(checkpoint, device="cpu")
    images, boxes, kps = scenes
    n_faces = sum(len(b) for b in boxes)
    rng = np.random.default_rng(0)
    repeat = 1 if quick else 3

    def full() -> None:
        for img, b, k in zip(images, boxes, kps):
            anon.anonymize(img, b, k, rng)

    batch = data.batch(torch.arange(len(data)) % len(data))
    reps = int(np.ceil(n_faces / len(data)))
    z = method.latent(len(data))
    G = anon.G

    def generator_only() -> None:
        with torch.no_grad():
            for _ in range(reps):
                method.generate(G, batch, z)

    t_full = best_time(full, repeat)
    t_gen = best_time(generator_only, repeat) * n_faces / (reps * len(data))
    return {"faces": n_faces, "faces_per_s": n_faces / t_full, "generator_only_faces_per_s": n_faces / t_gen,
            "ratio_full_to_generator": t_gen / t_full, "train_steps_per_s": steps_per_s,
            "batch_size": train["batch_size"], "resolution": method.resolution}


def run(quick: bool = False) -> None:
    import torch

    torch.set_num_threads(1)
    results = {"device": "cpu", "threads": 1}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scenes = _scenes(root / "synthetic", 4 if quick else 12)
        for name in ("ciagan", "sun2018"):
            r = _bench_method(name, root / "synthetic" / "crops", scenes, root / "runs", quick)
            results[name] = r
            print(f"{name}: {r['faces_per_s']:.1f} faces/s anonymized ({r['faces']} faces), generator alone "
                  f"{r['generator_only_faces_per_s']:.1f} faces/s (full pipeline at "
                  f"{r['ratio_full_to_generator']:.2f}x of it); training {r['train_steps_per_s']:.2f} steps/s "
                  f"at batch {r['batch_size']}, {r['resolution']} px", flush=True)
    print("saved", save("gan_inference", results))
