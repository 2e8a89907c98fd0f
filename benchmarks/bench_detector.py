"""DSFD speed: training iterations/s and prediction images/s.

CPU: the mini configuration (the default study's), next to two baselines
measured in the same run: the network's forward+backward pass alone on a
random batch (what the training loop adds: data, matching, loss, optimizer)
and the paper configuration's step (640 px, width 1.0) at batch 1 (what the
mini scale buys). Prediction: ``detect_split`` (flip, NMS, file writing)
next to the bare forward pass over the same images.

GPU (when ``torch.cuda.is_available()``): the paper configuration (640 px,
batch 4, VGG-16, mixed precision) training iterations/s and prediction
images/s on the synthetic val split.

CPU timings use one torch thread (see ``run``).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import torch

from benchmarks._common import best_time, describe_pairing, save, thread_pairing


def _train_rate(split: Path, out: Path, config, iterations: int, device: str) -> float:
    """Iterations per second of the training loop, from losses.csv (startup excluded)."""
    from safefakes.detector.train import train_detector

    train_detector(split, out, config, iterations=iterations, resume=False, device=device, progress=False)
    with open(out / "losses.csv", newline="") as fh:
        seconds = [float(r["seconds"]) for r in csv.DictReader(fh)]
    return (len(seconds) - 1) / (seconds[-1] - seconds[0])  # the first iteration warms up


def _child_train(split: str, out: str, threads: str, iterations: str) -> None:
    """One mini training in this (fresh) process on ``threads`` threads; prints its iterations/s."""
    from safefakes.detector.config import mini_config

    torch.set_num_threads(int(threads))
    print(json.dumps({"rate": _train_rate(Path(split), Path(out), mini_config(), int(iterations), "cpu")}))


def _threads_section(train: Path, tmp: Path, iterations: int) -> dict:
    """Mini trainings per second on 2 cores: one job on 2 threads against two 1-thread jobs at once.

    The default study fixes a detector job at one thread (its weights then do
    not depend on the machine) and runs two at a time on 2 cores.
    """
    return thread_pairing(lambda threads, name: ["benchmarks.bench_detector", "--child-train", str(train),
                                                 str(tmp / name), str(threads), str(iterations)])


def _step_rate(config, batch: int, repeat: int, device: str = "cpu") -> float:
    """Forward + backward passes per second of the bare network on a random batch."""
    from safefakes.detector.model import DSFD

    torch.manual_seed(0)
    model = DSFD(config.width).to(device)
    x = torch.rand(batch, 3, config.input_size, config.input_size, device=device) * 255

    def step() -> None:
        out = model(x)
        (out.first_conf.sum() + out.second_conf.sum() + out.first_loc.sum() + out.second_loc.sum()).backward()
        if device != "cpu":
            torch.cuda.synchronize()

    step()
    return 1.0 / best_time(step, repeat)


def _forward_images_per_s(checkpoint: Path, split: Path, device: str) -> float:
    """The bare second-shot forward pass over the split's images, as detect_split batches them."""
    from safefakes.data.images import read_image
    from safefakes.data.split import Split
    from safefakes.detector.predict import load_detector

    det = load_detector(checkpoint, device)
    s = Split.load(split)
    images = [read_image(s.image_path(im.name)) for im in s.images]
    batch = torch.stack([torch.from_numpy(im.transpose(2, 0, 1).copy()).float() for im in images[:8]])
    batch = torch.cat([batch, batch.flip(-1)]).to(det.device)

    def run() -> None:
        with torch.no_grad():
            det.model(batch, first_shot=False)
        if det.device.type == "cuda":
            torch.cuda.synchronize()

    run()
    return 8 / best_time(run, 3)


def run(quick: bool = False) -> None:
    from safefakes.data.synthetic import generate
    from safefakes.detector.config import mini_config, paper_config
    from safefakes.detector.predict import detect_split

    # One thread: the study runs one detector job per core, and on a shared
    # machine several OpenMP threads per process slow each other down badly.
    torch.set_num_threads(1)
    results: dict = {"torch_threads": torch.get_num_threads(), "quick": quick}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n_val = 16 if quick else 48
        generate(tmp / "data", seed=0, train_images=24, val_images=n_val, crops=1, workers=1)
        train, val = tmp / "data" / "train", tmp / "data" / "val"

        mini = mini_config()
        iters = 8 if quick else 40
        rate = _train_rate(train, tmp / "mini", mini, iters, "cpu")
        bare = _step_rate(mini, mini.batch_size, 2 if quick else 5)
        paper_cpu = dataclasses.replace(paper_config(), batch_size=1, allow_random_init=True)
        paper_rate = _train_rate(train, tmp / "paper_cpu", paper_cpu, 2 if quick else 3, "cpu")
        results["cpu_mini_train"] = {
            "config": {"input_size": mini.input_size, "width": mini.width, "batch_size": mini.batch_size},
            "iterations_per_s": round(rate, 3),
            "seconds_per_600_iterations": round(600 / rate, 1),
            "baseline_bare_forward_backward_per_s": round(bare, 3),
            "ratio_vs_bare_network": round(rate / bare, 3),
            "baseline_paper_step_batch1_per_s": round(paper_rate, 4),
            "speedup_vs_paper_step_batch1": round(rate / paper_rate, 1),
        }
        print(f"CPU mini training: {rate:.2f} it/s ({600 / rate:.0f} s per 600 iterations); bare network "
              f"{bare:.2f} passes/s (x{rate / bare:.2f}); paper step at batch 1 {paper_rate:.3f} it/s "
              f"(mini is x{rate / paper_rate:.0f} faster)", flush=True)

        threads = _threads_section(train, tmp, 8 if quick else 40)
        results["cpu_mini_threads"] = threads
        print(describe_pairing("CPU mini detector training", "it", threads), flush=True)

        ckpt = tmp / "mini" / "checkpoint.pt"
        t = best_time(lambda: detect_split(ckpt, val, tmp / "pred", device="cpu"), 1 if quick else 2)
        fwd = _forward_images_per_s(ckpt, val, "cpu")
        results["cpu_mini_predict"] = {
            "images": n_val, "images_per_s": round(n_val / t, 2),
            "seconds_per_150_images": round(150 * t / n_val, 2),
            "baseline_bare_forward_images_per_s": round(fwd, 2),
            "ratio_vs_bare_forward": round(n_val / t / fwd, 3),
        }
        print(f"CPU mini prediction (flip): {n_val / t:.1f} images/s ({150 * t / n_val:.1f} s per 150 images); "
              f"bare forward {fwd:.1f} images/s", flush=True)

        if torch.cuda.is_available():
            paper = dataclasses.replace(paper_config(), allow_random_init=True, checkpoint_every=10**6)
            iters = 10 if quick else 40
            gpu_rate = _train_rate(train, tmp / "paper_gpu", paper, iters, "cuda")
            gpu_bare = _step_rate(paper, paper.batch_size, 5, "cuda")
            gckpt = tmp / "paper_gpu" / "checkpoint.pt"
            detect_split(gckpt, val, tmp / "gpred", device="cuda")  # warm-up
            gt = best_time(lambda: detect_split(gckpt, val, tmp / "gpred", device="cuda"), 2)
            results["gpu_paper"] = {
                "device": torch.cuda.get_device_name(0),
                "train_iterations_per_s": round(gpu_rate, 3),
                "hours_per_60k_iterations": round(60000 / gpu_rate / 3600, 2),
                "baseline_bare_forward_backward_fp32_per_s": round(gpu_bare, 3),
                "predict_images_per_s": round(n_val / gt, 2),
            }
            print(f"GPU paper config ({torch.cuda.get_device_name(0)}): {gpu_rate:.2f} it/s "
                  f"({60000 / gpu_rate / 3600:.1f} h per 60k iterations), bare fp32 pass {gpu_bare:.2f}/s; "
                  f"prediction {n_val / gt:.1f} images/s", flush=True)
        else:
            results["gpu_paper"] = None
            print("GPU section skipped: no CUDA device", flush=True)
    path = save("detector", results)
    print(f"results: {path}")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child-train":
        _child_train(*sys.argv[2:])
    else:
        run(quick="--quick" in sys.argv)
