"""GAN anonymizers, CPU mini configuration: training speed of each mini GAN, DeepPrivacy's anonymization speed.

Measured with the mini preset's model (64 px, width 1/32) and batch (8), one
torch thread (the fastest setting on a shared 2-core machine), next to a
baseline measured in the same run: the generator's forward pass alone on the
same batch. Reported:

* training: steps/s and images/s of a full DeepPrivacy step at the preset's resolution (its critic
  updates with WGAN-GP, generator update, EMA), a step's cost in generator
  forward passes, the mini preset's estimated training time, and a step at
  8 px (where progressive growing starts);
* anonymization: faces/s of ``GANAnonymizer.anonymize`` on 192 x 192 images
  with 4 faces each (crop, generate, paste), against the generator forward
  alone on the same number of faces;
* each mini GAN (DeepPrivacy, CIAGAN, Sun2018): training images/s at its
  mini preset on the default study's synthetic crops, one thread, and the
  study's training length in seconds at that rate;
* threads: the mini preset's whole training (``train_gan``, fresh processes) on
  2 cores, one job on 2 threads against two 1-thread jobs at once, the baseline
  one job on 1 thread (the study's GAN jobs take one thread each).
On a GPU (when present) the first two are measured again on CUDA.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks._common import RESULTS, best_time, describe_pairing, save, thread_pairing
from safefakes.anonymizers.gan.anonymizer import GANAnonymizer
from safefakes.anonymizers.gan.dataset import CropDataset, open_crop_dataset, to_batch
from safefakes.anonymizers.gan.deepprivacy import DeepPrivacy, DeepPrivacyConfig
from safefakes.anonymizers.gan.presets import preset
from safefakes.anonymizers.gan.trainer import TrainConfig, Trainer, progressive_phase
from safefakes.data.crops import Crop, CropList, write_crop_set


def _data(n: int, res: int, tmp: Path) -> CropDataset:
    """A crop set of ``n`` noise crops with a box and seven keypoints, written once under ``tmp``."""
    out = tmp / f"crops_{n}_{res}"
    if not out.exists():
        rng = np.random.default_rng(0)
        crops = []
        for _ in range(n):
            kp = np.column_stack([rng.uniform(res / 4, 3 * res / 4, (7, 2)), np.ones(7)])
            crops.append(Crop(rng.integers(0, 256, (res, res, 3), dtype=np.uint8),
                              np.array([res / 4, res / 4, res / 2, res / 2]), kp))
        write_crop_set(out, CropList(crops), {"source": "benchmark"}, "deepprivacy7", "bench")
    return open_crop_dataset(out, res, "deepprivacy7")


def _measure(device: str, quick: bool, tmp: Path) -> dict:
    model_cfg, train_cfg = preset("deepprivacy", "mini")
    method = DeepPrivacy(DeepPrivacyConfig(**model_cfg))
    batch = train_cfg["batch_size"]
    res = method.resolution
    trainer = Trainer(method, _data(64, res, tmp), tmp / f"train_{device}",
                      TrainConfig(images=10**9, batch_size=batch, progress_bar=False, device=device,
                                  critic_steps=train_cfg["critic_steps"]))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    repeat = 2 if quick else 5
    steps = 3 if quick else 10

    b = to_batch(trainer.data.load(range(batch)), trainer.device)
    # the model's speed, without reading crops: every step trains on the same crops, read once
    raw = trainer.data.load(trainer.step_indices(0))
    z = method.latent(batch).to(trainer.device)

    def forward():
        with torch.no_grad():
            method.generate(trainer.G, b, z)
        sync()

    forward()
    t_forward = best_time(forward, repeat)
    trainer.train_step(raw)  # warm-up

    def train():
        for _ in range(steps):
            trainer.train_step(raw)
        sync()

    t_step = best_time(train, repeat) / steps

    # Progressive growing (an option): a step at its start resolution, for comparison.
    prog = Trainer(method, _data(64, res, tmp), tmp / f"prog_{device}",
                   TrainConfig(images=10**9, batch_size=batch, progress_bar=False, device=device,
                               critic_steps=train_cfg["critic_steps"], progressive=True,
                               progressive_start=train_cfg["progressive_start"],
                               progressive_images=10**9))
    raw_prog = prog.data.load(prog.step_indices(0))
    prog.train_step(raw_prog)

    def low_res_step():
        prog.train_step(raw_prog)
        sync()

    per_res = {train_cfg["progressive_start"]: best_time(low_res_step, repeat), res: t_step}
    if train_cfg["progressive"]:
        lo = train_cfg["progressive_start"]
        estimate = 0.0
        for shown in range(0, train_cfg["images"], batch):
            r, _ = progressive_phase(shown, res, lo, train_cfg["progressive_images"])
            # between the timed resolutions: interpolate on the pixel count
            estimate += per_res[lo] + (per_res[res] - per_res[lo]) * (r * r - lo * lo) / (res * res - lo * lo)
    else:
        estimate = train_cfg["images"] / batch * t_step

    ckpt = tmp / f"ckpt_{device}.pt"
    torch.save(trainer.state(), ckpt)
    anon = GANAnonymizer(ckpt, device=device)
    rng = np.random.default_rng(0)
    n_images = 4 if quick else 16
    images = [rng.integers(0, 256, (192, 192, 3), dtype=np.uint8) for _ in range(n_images)]
    boxes = np.array([[10, 10, 40, 48], [100, 20, 30, 30], [60, 110, 60, 64], [150, 150, 20, 24]])
    kps = np.zeros((4, 7, 3))
    kps[..., :2] = boxes[:, None, :2] + boxes[:, None, 2:] / 2
    kps[..., 2] = 1

    def anonymize():
        for i, img in enumerate(images):
            anon.anonymize(img, boxes, kps, np.random.default_rng(i))
        sync()

    anonymize()
    t_anon = best_time(anonymize, repeat)
    n_faces = 4 * n_images
    cond = {k: v[:4] for k, v in b.items()}
    z4 = z[:4]

    def forward_faces():
        with torch.no_grad():
            for _ in range(n_images):
                method.generate(anon.G, cond, z4)
        sync()

    forward_faces()
    t_anon_base = best_time(forward_faces, repeat)
    return {
        "device": device,
        "threads": torch.get_num_threads(),
        "resolution": res,
        "width": model_cfg["width"],
        "batch_size": batch,
        "generator_params": sum(p.numel() for p in trainer.G.parameters()),
        "discriminator_params": sum(p.numel() for p in trainer.D.parameters()),
        "generator_forward_s": t_forward,
        "train_step_s": t_step,
        "train_steps_per_s": 1 / t_step,
        "train_images_per_s": batch / t_step,
        "train_step_in_forward_passes": t_step / t_forward,
        "mini_preset_images": train_cfg["images"],
        "critic_steps": train_cfg["critic_steps"],
        "step_s_by_resolution": {str(k): v for k, v in per_res.items()},
        "mini_preset_train_s_estimate": estimate,
        "anonymize_faces_per_s": n_faces / t_anon,
        "generator_only_faces_per_s": n_faces / t_anon_base,
        "anonymize_overhead_ratio": t_anon / t_anon_base,
    }


def _mini_rates(quick: bool, tmp: Path) -> list[dict]:
    """Each mini GAN's training images/s on the default study's crop set (its preset, one thread)."""
    from benchmarks._study import dataset, study_settings
    from safefakes.anonymizers.gan.train import train_gan

    settings = study_settings(quick, 250)
    out = RESULTS / ("gan_quick" if quick else "gan")
    dataset(out, settings["data"])
    crops = out / "data" / "crops"
    rows = []
    for method in ("deepprivacy", "ciagan", "sun2018"):
        block = settings["anonymizers"][method]
        images = 32 if quick else 800
        _, train_cfg = preset(method, "mini")
        t0 = time.perf_counter()
        train_gan(method, crops, tmp / f"rate_{method}", faces=None if quick else block["faces"], images=images,
                  preset="mini", device="cpu", progress=False)
        rate = images / (time.perf_counter() - t0)
        rows.append({"method": method, "images": images, "images_per_s": rate,
                     "study_images": block["anon_iters"], "study_train_s_estimate": block["anon_iters"] / rate,
                     "mini_preset": train_cfg})
        print(f"  {method:12s} {rate:6.1f} images/s (one thread, the mini preset, {images} images); the study's "
              f"{block['anon_iters']} images: ~{block['anon_iters'] / rate:.0f} s", flush=True)
    return rows


def _child_train(crops: str, out: str, threads: str, images: str) -> None:
    """The mini DeepPrivacy's training in this (fresh) process on ``threads`` threads; prints its images/s."""
    from safefakes.anonymizers.gan.train import train_gan

    torch.set_num_threads(int(threads))
    t0 = time.perf_counter()
    train_gan("deepprivacy", crops, out, images=int(images), preset="mini", device="cpu", progress=False)
    print(json.dumps({"rate": int(images) / (time.perf_counter() - t0)}))


def run(quick: bool = False) -> None:
    torch.set_num_threads(int(os.environ.get("SAFEFAKES_BENCH_THREADS", "1")))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        for device in devices:
            t0 = time.perf_counter()
            r = _measure(device, quick, Path(tmp))
            r["seconds"] = round(time.perf_counter() - t0, 1)
            results.append(r)
            print(f"[{device}] DeepPrivacy mini ({r['resolution']} px, width {r['width']:.4g}, batch "
                  f"{r['batch_size']}, {r['threads']} thread(s)):")
            print(f"  training at {r['resolution']} px ({r['critic_steps']} critic steps): "
                  f"{r['train_steps_per_s']:.2f} steps/s = {r['train_images_per_s']:.1f} images/s; "
                  f"one step = {r['train_step_in_forward_passes']:.1f}x the generator forward alone "
                  f"({r['generator_forward_s'] * 1e3:.1f} ms)")
            print(f"  mini preset ({r['mini_preset_images']} images): ~"
                  f"{r['mini_preset_train_s_estimate']:.0f} s (step s by resolution: "
                  + ", ".join(f"{k} px {v:.3f}" for k, v in r["step_s_by_resolution"].items()) + ")")
            print(f"  anonymization: {r['anonymize_faces_per_s']:.1f} faces/s vs generator alone "
                  f"{r['generator_only_faces_per_s']:.1f} faces/s "
                  f"(crop+paste overhead x{r['anonymize_overhead_ratio']:.2f})")
        print("[cpu] each mini GAN's training on the default study's crops:")
        rates = _mini_rates(quick, Path(tmp))
        images = 256 if quick else 2048
        res = preset("deepprivacy", "mini")[0]["resolution"]
        _data(512, res, Path(tmp))
        threads = thread_pairing(lambda n, name: ["benchmarks.bench_gan", "--child-train",
                                                  str(Path(tmp) / f"crops_512_{res}"), str(Path(tmp) / name),
                                                  str(n), str(images)])
        threads["images"] = images
        print(describe_pairing(f"DeepPrivacy mini training ({images} images)", "images", threads), flush=True)
    path = save("gan", {"quick": quick, "results": results, "mini_training_rates": rates,
                        "cpu_mini_threads": threads})
    print(f"  -> {path}")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child-train":
        _child_train(*sys.argv[2:])
    else:
        run(quick="--quick" in sys.argv)
