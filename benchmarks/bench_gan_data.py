"""GAN training data streamed from disk: memory that does not grow with the crop set, and loader speed.

Input: synthetic crop sets of 2,000 and 50,000 faces at 128 px (the paper
GANs' resolution), made from 200 distinct synthetic face crops
(``safefakes.data.synthetic``) repeated, written by ``write_crop_set`` as an
import writes them (table, keypoints.json, images). Measured:

* peak resident memory of a training of each GAN for a fixed number of steps
  on each set, each in a fresh process (the training process's peak, and the
  largest loader worker's): the issue's target is a difference under 300 MB
  between 2,000 and 50,000 faces. The models are the paper presets at 128 px
  with their width cut to 1/16 and batch 16, so that CPU steps take seconds;
  memory of the data path does not depend on the width;
* loader throughput at 128 px (crops/s, DeepPrivacy's samples: real crop,
  condition, mask, seven keypoints) with 2 worker processes, against the same
  loader with none in the same run.
On a GPU (when present) the trainings run on CUDA (pinned memory, non-blocking copies).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import child_env, save

SIZES = (2_000, 50_000)
RES = 128
STEPS = 6
WIDTH = {"deepprivacy": 1 / 16, "ciagan": 1 / 16, "sun2018": 1 / 16}


class _Repeated:
    """``n`` candidates cycling through a few rendered crops (copied byte for byte)."""

    def __init__(self, crops_split, n: int) -> None:
        from safefakes.data.crops import read_crop_table

        self.table = read_crop_table(crops_split)
        self.n = n

    def __len__(self) -> int:
        return self.n

    def crop(self, k: int):
        from safefakes.data.crops import Crop

        i = k % len(self.table)
        return Crop(None, np.asarray(self.table.boxes[i], dtype=np.float64), np.asarray(self.table.keypoints[i]),
                    int(self.table.identities[i]), f"synthetic#{i}", copy_from=self.table.image_path(i))


def _crop_sets(tmp: Path, quick: bool) -> dict[int, Path]:
    from safefakes.data.crops import write_crop_set
    from safefakes.data.synthetic import generate

    generate(tmp / "synthetic", seed=0, train_images=1, val_images=1, crops=200, crop_size=RES, workers=1)
    sets = {}
    for n in SIZES:
        n = n // 10 if quick else n
        t0 = time.perf_counter()
        sets[n] = tmp / f"crops_{n}"
        write_crop_set(sets[n], _Repeated(tmp / "synthetic" / "crops", n), {"source": "benchmark"},
                       "synthetic72", "bench", workers=2)
        print(f"  crop set of {n} faces written in {time.perf_counter() - t0:.1f} s", flush=True)
    return sets


def _child(method: str, crops: str, out: str, device: str) -> None:
    """One training in this (fresh) process; prints its peak RSS as JSON."""
    import torch

    from safefakes.anonymizers.gan import get_method
    from safefakes.anonymizers.gan.dataset import open_crop_dataset
    from safefakes.anonymizers.gan.presets import preset
    from safefakes.anonymizers.gan.trainer import TrainConfig, Trainer

    torch.set_num_threads(1)
    model, train = preset(method, "paper")
    model.update(resolution=RES, width=WIDTH[method])
    if "n_identities" in model:
        model["n_identities"] = 200  # the synthetic crops' identities
    gan = get_method(method, model)
    data = open_crop_dataset(crops, gan.resolution, gan.keypoint_layout)
    train.update(images=16 * STEPS, batch_size=16, workers=2, progress_bar=False, device=device,
                 checkpoint_every=10**9, sample_every=10**9, log_every=10**9)
    t0 = time.perf_counter()
    Trainer(gan, data, out, TrainConfig(**train)).train()
    seconds = time.perf_counter() - t0
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"rss_mb": self_mb, "worker_rss_mb": workers_mb, "seconds": seconds}))


def _train_peak(method: str, crops: Path, out: Path, device: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_gan_data", "--child", method, str(crops),
                           str(out), device], capture_output=True, text=True, env=child_env(), check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"training {method} on {crops} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _loader_speed(crops: Path, workers: int, n_crops: int) -> tuple[float, float]:
    """(crops per wall second, crops per CPU second of this process: meaningful without workers)."""
    import torch

    from safefakes.anonymizers.gan.dataset import collate_crops, open_crop_dataset

    data = open_crop_dataset(crops, RES, "deepprivacy7")
    order = np.random.default_rng(0).permutation(len(data))[:n_crops].tolist()
    batches = [order[i:i + 32] for i in range(0, len(order), 32)]
    loader = torch.utils.data.DataLoader(data, batch_sampler=batches, collate_fn=collate_crops,
                                         num_workers=workers, prefetch_factor=4 if workers else None)
    t0, c0 = time.perf_counter(), time.process_time()
    seen = sum(len(b["image"]) for b in loader)
    return seen / (time.perf_counter() - t0), seen / (time.process_time() - c0)


def run(quick: bool = False) -> None:
    from safefakes.devices import resolve_device

    device = str(resolve_device("auto"))
    with tempfile.TemporaryDirectory(prefix="bench_gan_data_") as tmp:
        tmp = Path(tmp)
        sets = _crop_sets(tmp, quick)
        small, large = sorted(sets)
        n_load = 600 if quick else 3000
        base, per_cpu_s = _loader_speed(sets[large], 0, n_load)
        speed, _ = _loader_speed(sets[large], 2, n_load)
        # Wall-clock rates depend on what else runs on the machine; the CPU cost
        # of a crop does not, and bounds what 2 idle cores deliver.
        print(f"  loader at {RES} px on {large} faces: {speed:.0f} crops/s with 2 workers, "
              f"{base:.0f} crops/s in-process (x{speed / base:.2f}); a crop costs {1000 / per_cpu_s:.2f} ms of CPU: "
              f"{2 * per_cpu_s:.0f} crops/s on 2 idle cores; target >= 1000; load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)
        results = {"device": device, "resolution": RES, "steps": STEPS, "sizes": [small, large],
                   "loader_crops_per_s_2_workers": speed, "loader_crops_per_s_in_process": base,
                   "loader_crops_per_cpu_second": per_cpu_s, "load_average": os.getloadavg()[0], "training": {}}
        for method in ("deepprivacy", "ciagan", "sun2018"):
            peaks = {n: _train_peak(method, sets[n], tmp / f"run_{method}_{n}", device) for n in (small, large)}
            diff = peaks[large]["rss_mb"] - peaks[small]["rss_mb"]
            wdiff = peaks[large]["worker_rss_mb"] - peaks[small]["worker_rss_mb"]
            results["training"][method] = {"peaks": {str(k): v for k, v in peaks.items()}, "rss_diff_mb": diff,
                                           "worker_rss_diff_mb": wdiff}
            print(f"  {method}: peak RSS {peaks[small]['rss_mb']:.0f} MB ({small} faces) vs "
                  f"{peaks[large]['rss_mb']:.0f} MB ({large}): {diff:+.0f} MB (target < 300); largest worker "
                  f"{peaks[small]['worker_rss_mb']:.0f} vs {peaks[large]['worker_rss_mb']:.0f} MB; "
                  f"{STEPS} steps in {peaks[small]['seconds']:.1f} / {peaks[large]['seconds']:.1f} s", flush=True)
        save("gan_data" + ("_quick" if quick else ""), results)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        _child(*sys.argv[2:])
    else:
        run(quick="--quick" in sys.argv)
