"""anonymize-images against deface on the same folder of real photos: time, memory, faces found.

Input: the real sample photos with faces that installed packages ship
(skimage's astronaut and cameraman, matplotlib's Grace Hopper), each at four
scales (0.75, 1, 1.5, 2) and mirrored: 24 photos of 384 to 1200 px, one face
each (--quick: the 3 photos as they are). Each tool runs as its own command on
its own copy of the folder (deface writes next to its inputs), one after the
other:

* ``safefakes anonymize-images IN OUT --method blur`` with its defaults
  (CenterFace detector, scaled blur, workers bounded by cores and memory),
  then each detector with one worker (deface's own single process):
  ``--detector centerface``, ``hog`` and ``cnn`` (the slow one; skipped with
  --quick).
* ``deface`` (when installed: ``pip install deface``, not a dependency of
  SafeFakes) with its defaults, on every photo in one call, on onnxruntime's
  CPU provider when onnx and onnxruntime are installed (deface's fast
  backend). Without them deface falls back to OpenCV's DNN module, which in
  deface 1.5.0 returns hundreds of false boxes once the photo size changes
  within a run (seen here: 1, then 6, then 504 boxes on the astronaut at
  512, 768, 512 px), so its faces and time on a mixed folder mean little;
  the result records the backend.

Reported: wall time, the ratio to deface's, the peak resident memory of the
largest process (a pool worker or the main process) and its ratio to
deface's, and the faces found: each photo's one face is dlib's CNN box on
the original photo, scaled and mirrored with it; a box overlapping it (IoU >=
0.3) finds it, any other box is false (safefakes: its manifest; deface: its
CenterFace model at its default threshold 0.2, run here on the same photos).
Wall times on a shared machine are noisy: the load average is recorded next
to them.
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
from safefakes.audit.photos import box_iou
from safefakes.data.anonymized import read_manifest
from safefakes.photos.face_finder import find_faces

SCALES = (0.75, 1.0, 1.5, 2.0)
SAME_FACE_IOU = 0.3
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


def make_folder(root: Path, quick: bool) -> dict[str, np.ndarray]:
    """Write the photos; name -> the box (x, y, w, h) of its one face."""
    root.mkdir(parents=True)
    faces = {}
    for name, image in sample_photos().items():
        # The one face of each photo: dlib's CNN box on the original.
        face = find_faces(image, "cnn", 0.0, 0)[0][0].astype(np.float64)
        variants = {"": (1.0, False)} if quick else {f"_{scale:g}x{'_mirrored' if mirror else ''}": (scale, mirror)
                                                      for scale in SCALES for mirror in (False, True)}
        for suffix, (scale, mirror) in variants.items():
            variant = cv2.resize(image[:, ::-1] if mirror else image, None, fx=scale, fy=scale,
                                 interpolation=cv2.INTER_AREA)
            box = face * scale
            if mirror:
                box[0] = variant.shape[1] - box[0] - box[2]
            path = root / f"{name}{suffix}.png"
            Image.fromarray(np.ascontiguousarray(variant)).save(path)
            faces[path.name] = box
    return faces


def score_boxes(found: dict[str, np.ndarray], faces: dict[str, np.ndarray]) -> dict:
    """Faces found (a box overlapping a photo's face) and false boxes, over the folder."""
    hits = false = 0
    for name, face in faces.items():
        boxes = np.asarray(found.get(name, np.zeros((0, 4))), dtype=np.float64).reshape(-1, 4)
        same = box_iou(boxes, face[None])[:, 0] >= SAME_FACE_IOU if len(boxes) else np.zeros(0, bool)
        hits += int(same.any())
        false += int((~same).sum())
    return {"faces_found": hits, "faces": len(faces), "false_boxes": false}


def manifest_boxes(out: Path) -> dict[str, np.ndarray]:
    boxes: dict[str, list] = {}
    for row in read_manifest(out / "manifest.csv"):
        boxes.setdefault(row["image"], []).append([row["x"], row["y"], row["w"], row["h"]])
    return {name: np.array(b, dtype=np.float64) for name, b in boxes.items()}


def measure(command: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["load_avg_1min"] = os.getloadavg()[0]
    if result["rc"] != 0:
        raise RuntimeError(f"{' '.join(command)} failed with exit code {result['rc']}")
    return result


def deface_boxes(paths: list[Path]) -> dict[str, np.ndarray] | None:
    try:
        from deface.centerface import CenterFace
    except ImportError:
        return None
    found = {}
    for path in paths:
        # A model per photo: its OpenCV fallback goes wrong when the size changes (see above).
        model = CenterFace(in_shape=None, backend="auto", override_execution_provider=CPU_PROVIDER)
        detections, _ = model(cv2.imread(str(path)), threshold=0.2)
        found[path.name] = np.c_[detections[:, :2], detections[:, 2:4] - detections[:, :2]].reshape(-1, 4)
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
        faces = make_folder(tmp / "photos", quick)
        paths = sorted((tmp / "photos").glob("*.png"))
        results["photos"] = len(paths)
        print(f"{len(paths)} photos in {tmp / 'photos'}")
        safefakes = [sys.executable, "-m", "safefakes", "anonymize-images", str(tmp / "photos")]
        runs = {"safefakes (defaults)": [], "safefakes --detector centerface --workers 1":
                ["--detector", "centerface", "--workers", "1"],
                "safefakes --detector hog --workers 1": ["--detector", "hog", "--workers", "1"]}
        if not quick:
            runs["safefakes --detector cnn --workers 1"] = ["--detector", "cnn", "--workers", "1"]
        for i, (label, extra) in enumerate(runs.items()):
            out = tmp / f"out{i}"
            result = measure([*safefakes, str(out), "--method", "blur", "--no-progress", *extra])
            result.update(score_boxes(manifest_boxes(out), faces))
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
            result.update(score_boxes(deface_boxes(paths) or {}, faces))
            results["deface"] = result
        else:
            print("deface is not installed (pip install deface): no comparison")
        for label, result in results.items():
            if not isinstance(result, dict):
                continue
            ratio = ""
            if "deface" in results and label != "deface":
                reference = results["deface"]
                result["time_ratio_to_deface"] = result["seconds"] / reference["seconds"]
                result["memory_ratio_to_deface"] = result["peak_rss_bytes"] / reference["peak_rss_bytes"]
                ratio = (f", {result['time_ratio_to_deface']:.2f}x deface's time, "
                         f"{result['memory_ratio_to_deface']:.2f}x its memory")
            print(f"{label:45s} {result['seconds']:7.1f} s, peak {result['peak_rss_bytes'] / 2**20:6.0f} MB a "
                  f"process, {result['faces_found']}/{result['faces']} faces found, {result['false_boxes']} false "
                  f"box(es){ratio} (load {result['load_avg_1min']:.1f})")
        path = save("photo_folder", results)
        print(f"results: {path}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
