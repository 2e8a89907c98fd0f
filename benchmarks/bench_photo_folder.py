"""anonymize-images against deface on the same folder of real photos: time, memory, faces found.

Input: the real sample photos with faces that installed packages ship
(skimage's astronaut and cameraman, matplotlib's Grace Hopper), each at four
scales (0.75, 1, 1.5, 2) and mirrored: 24 photos of 384 to 1200 px (--quick:
the 3 photos as they are). Each tool runs as its own command on its own copy
of the folder (deface writes next to its inputs), one after the other:

* ``safefakes anonymize-images IN OUT --method blur`` with its defaults (HOG
  detector, scaled blur, workers bounded by cores and memory), then with one
  worker (deface's own single process), then ``--detector cnn`` with one
  worker (the accurate, slow detector; skipped with --quick).
* ``deface`` (when installed: ``pip install deface``, not a dependency of
  SafeFakes) with its defaults, on every photo in one call, on onnxruntime's
  CPU provider when onnx and onnxruntime are installed (deface's fast
  backend). Without them deface falls back to OpenCV's DNN module, which in
  deface 1.5.0 returns hundreds of false boxes once the photo size changes
  within a run (seen here: 1, then 6, then 504 boxes on the astronaut at
  512, 768, 512 px), so its faces and time on a mixed folder mean little;
  the result records the backend.

Reported: wall time, the ratio to deface's, the peak resident memory of the
largest process (a pool worker or the main process), and the faces found
(safefakes: its manifest; deface: its CenterFace model at its default
threshold 0.2, run here on the same photos). Wall times on a shared machine
are noisy: the load average is recorded next to them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from benchmarks._common import save

SCALES = (0.75, 1.0, 1.5, 2.0)
CPU_PROVIDER = "CPUExecutionProvider"
# Runs one command and prints its wall time and its largest descendant's peak RSS.
_MEASURE = """
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"rc": rc, "seconds": wall, "peak_rss_bytes": peak}))
"""


def sample_photos() -> dict[str, np.ndarray]:
    import matplotlib
    from skimage import data

    photos = {"astronaut": data.astronaut(), "camera": np.stack([data.camera()] * 3, axis=-1)}
    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    with Image.open(hopper) as img:
        photos["grace_hopper"] = np.asarray(img.convert("RGB"))
    return photos


def make_folder(root: Path, quick: bool) -> list[Path]:
    root.mkdir(parents=True)
    paths = []
    for name, image in sample_photos().items():
        variants = {"": image} if quick else {
            f"_{scale:g}x{'_mirrored' if mirror else ''}": cv2.resize(
                image[:, ::-1] if mirror else image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            for scale in SCALES for mirror in (False, True)}
        for suffix, variant in variants.items():
            path = root / f"{name}{suffix}.png"
            Image.fromarray(np.ascontiguousarray(variant)).save(path)
            paths.append(path)
    return paths


def measure(command: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["load_avg_1min"] = os.getloadavg()[0]
    if result["rc"] != 0:
        raise RuntimeError(f"{' '.join(command)} failed with exit code {result['rc']}")
    return result


def deface_faces(paths: list[Path]) -> int | None:
    try:
        from deface.centerface import CenterFace
    except ImportError:
        return None
    found = 0
    for path in paths:
        # A model per photo: its OpenCV fallback goes wrong when the size changes (see above).
        model = CenterFace(in_shape=None, backend="auto", override_execution_provider=CPU_PROVIDER)
        detections, _ = model(cv2.imread(str(path)), threshold=0.2)
        found += len(detections)
    return found


def deface_backend() -> str:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return "opencv"
    return "onnxrt"


def run(quick: bool = False) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench_photo_folder_"))
    results: dict = {"quick": quick, "cores": len(os.sched_getaffinity(0))}
    try:
        paths = make_folder(tmp / "photos", quick)
        results["photos"] = len(paths)
        print(f"{len(paths)} photos in {tmp / 'photos'}")
        safefakes = [sys.executable, "-m", "safefakes", "anonymize-images", str(tmp / "photos")]
        runs = {"safefakes (defaults)": [], "safefakes --workers 1": ["--workers", "1"]}
        if not quick:
            runs["safefakes --detector cnn --workers 1"] = ["--detector", "cnn", "--workers", "1"]
        for i, (label, extra) in enumerate(runs.items()):
            out = tmp / f"out{i}"
            result = measure([*safefakes, str(out), "--method", "blur", "--no-progress", *extra])
            result["faces_found"] = sum(1 for _ in open(out / "manifest.csv")) - 1
            results[label] = result
            print(f"{label}: {result['seconds']:.1f} s", flush=True)
        deface = shutil.which("deface") or str(Path(sys.executable).with_name("deface"))
        if Path(deface).exists():
            copy = tmp / "deface_in"
            shutil.copytree(tmp / "photos", copy)
            backend = deface_backend()
            provider = ["--execution-provider", CPU_PROVIDER] if backend == "onnxrt" else []
            result = measure([deface, "--backend", backend, *provider, *sorted(str(p) for p in copy.glob("*.png"))])
            result["backend"] = backend
            print(f"deface: {result['seconds']:.1f} s", flush=True)
            result["faces_found"] = deface_faces(paths)
            results["deface"] = result
        else:
            print("deface is not installed (pip install deface): no comparison")
        for label, result in results.items():
            if not isinstance(result, dict):
                continue
            ratio = ""
            if "deface" in results and label != "deface":
                ratio = f", {result['seconds'] / results['deface']['seconds']:.2f}x deface's time"
                result["time_ratio_to_deface"] = result["seconds"] / results["deface"]["seconds"]
            print(f"{label:40s} {result['seconds']:7.1f} s, peak {result['peak_rss_bytes'] / 2**20:6.0f} MB a "
                  f"process, {result['faces_found']} faces found{ratio} (load {result['load_avg_1min']:.1f})")
        path = save("photo_folder", results)
        print(f"results: {path}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
