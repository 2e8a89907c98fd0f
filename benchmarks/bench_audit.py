"""The audit's survival threshold, calibrated: leaks against anonymized faces.

For every face (boxes laid over skimage's photos: astronaut, coffee, chelsea,
rocket, camera; and the annotated faces of a small synthetic val split) it
measures ``survival`` (safefakes.audit.survival) of

* leaks: the original face re-encoded as JPEG at quality 50..100 with 4:4:4
  or 4:2:0 chroma, pasted at its place or shifted by 2 or 3 px (into a
  blackout output, the whole image then re-encoded);
* anonymized faces: blur, pixelate, blackout (box and ellipse regions) and
  fullblur at their defaults, encoded as the engine does (quality 95, 4:4:4)
  and re-encoded at quality 50 with 4:2:0. (The GANs need trained
  checkpoints; tests/test_deepprivacy.py audits a trained one's output.)

It prints the lowest survival of the leaks and the highest of the
anonymized faces per case and per face-size band, and the margin around the
audit's threshold (``DEFAULT_MAX_SURVIVAL``). Also the audit's time per face.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import save
from safefakes.anonymizers.registry import build_anonymizer
from safefakes.audit.split import DEFAULT_MAX_SURVIVAL, DEFAULT_MIN_CHECKED_SIZE, DEFAULT_MIN_DETAIL
from safefakes.audit.survival import face_detail, survival
from safefakes.data.boxes import clip_box
from safefakes.data.images import decode_image, encode_image
from safefakes.data.split import Split

QUALITIES = (50, 60, 70, 80, 90, 95, 100)
SHIFTS = ((0, 0), (2, 0), (2, 3), (-3, 2))


def _jpeg(image: np.ndarray, quality: int, subsampling: str) -> np.ndarray:
    return decode_image(encode_image(image, ".jpg", quality, subsampling))


def skimage_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    from skimage import data

    cases = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "camera"):
        image = getattr(data, name)()
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        image = np.ascontiguousarray(image[:, :, :3])
        h, w = image.shape[:2]
        boxes = []
        for side in (12, 20, 32, 64, 128):
            for fy in (0.2, 0.5):
                for fx in (0.25, 0.6):
                    boxes.append([int(fx * w), int(fy * h), side, int(side * 1.2)])
        if name == "astronaut":
            boxes.append([170, 30, 110, 130])  # her face
        cases.append((name, image, np.array(boxes, dtype=np.int64)))
    return cases


def synthetic_cases(root: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    from safefakes.data.synthetic import generate

    generate(root, seed=3, train_images=1, val_images=30, crops=8, workers=1)
    split = Split.load(root / "val", sidecars=False)
    return [(im.name, decode_image(split.image_path(im.name).read_bytes()), im.boxes)
            for im in split.images if len(im)]


def _band(box) -> str:
    side = min(box[2], box[3])
    return "<16" if side < 16 else "16-31" if side < 32 else "32-63" if side < 64 else ">=64"


def measure(cases) -> dict:
    methods = {name: build_anonymizer(name) for name in ("blur", "pixelate", "blackout", "fullblur")}
    methods["blackout-ellipse"] = build_anonymizer("blackout", region="ellipse")
    methods["blur-ellipse"] = build_anonymizer("blur", region="ellipse")
    leaks: dict[str, list[float]] = {}
    anonymized: dict[str, list[float]] = {}
    n_faces = skipped = 0
    seconds = 0.0
    for _, image, boxes in cases:
        h, w = image.shape[:2]
        blackout = methods["blackout"].anonymize(image, boxes, None, None).image
        outputs = {}
        for mname, method in methods.items():
            rng = np.random.default_rng(0)
            result = method.anonymize(image, boxes, None, rng).image
            outputs[f"{mname} q95 4:4:4"] = _jpeg(result, 95, "4:4:4")
            outputs[f"{mname} q50 4:2:0"] = _jpeg(result, 50, "4:2:0")
        for box in boxes:
            clipped = clip_box(box.astype(np.float64), w, h)
            if clipped is None or min(clipped[2] - clipped[0], clipped[3] - clipped[1]) < DEFAULT_MIN_CHECKED_SIZE:
                continue
            if face_detail(image, clipped) < DEFAULT_MIN_DETAIL:
                skipped += 1
                continue
            n_faces += 1
            band = _band(box)
            x1, y1, x2, y2 = clipped
            for dx, dy in SHIFTS:
                pasted = blackout.copy()
                tx1, ty1 = max(0, x1 + dx), max(0, y1 + dy)
                tx2, ty2 = min(w, x2 + dx), min(h, y2 + dy)
                pasted[ty1:ty2, tx1:tx2] = image[ty1 - dy:ty2 - dy, tx1 - dx:tx2 - dx]
                for q in QUALITIES:
                    for sub in ("4:4:4", "4:2:0"):
                        t0 = time.perf_counter()
                        s = survival(image, _jpeg(pasted, q, sub), clipped)
                        seconds += time.perf_counter() - t0
                        leaks.setdefault(f"leak shift {dx},{dy} {band}", []).append(s)
            for key, out in outputs.items():
                anonymized.setdefault(f"{key.split(' ')[0]} {band}", []).append(survival(image, out, clipped))
    return {"leaks": leaks, "anonymized": anonymized, "n_faces": n_faces, "featureless": skipped,
            "seconds_per_survival": seconds / max(1, sum(len(v) for v in leaks.values()))}


def run(quick: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sets = {"skimage": skimage_cases()}
        if not quick:
            sets["synthetic"] = synthetic_cases(Path(tmp) / "synth")
        payload = {"threshold": DEFAULT_MAX_SURVIVAL, "min_detail": DEFAULT_MIN_DETAIL}
        for set_name, cases in sets.items():
            result = measure(cases)
            lowest_leak = min(min(v) for v in result["leaks"].values())
            highest_anon = max(max(v) for v in result["anonymized"].values())
            print(f"{set_name}: {result['n_faces']} faces judged, {result['featureless']} featureless; "
                  f"survival of leaks >= {lowest_leak:.3f}, of anonymized faces <= {highest_anon:.3f} "
                  f"(threshold {DEFAULT_MAX_SURVIVAL}); {result['seconds_per_survival'] * 1e3:.2f} ms per face")
            for kind in ("leaks", "anonymized"):
                for key, values in sorted(result[kind].items()):
                    edge = min(values) if kind == "leaks" else max(values)
                    print(f"  {kind:<10} {key:<32} n={len(values):<4} {'min' if kind == 'leaks' else 'max'} "
                          f"{edge:.3f}  median {float(np.median(values)):.3f}")
            payload[set_name] = {
                "n_faces": result["n_faces"], "featureless": result["featureless"],
                "lowest_leak": lowest_leak, "highest_anonymized": highest_anon,
                "leaks": {k: [min(v), float(np.median(v))] for k, v in result["leaks"].items()},
                "anonymized": {k: [max(v), float(np.median(v))] for k, v in result["anonymized"].items()},
                "ms_per_survival": result["seconds_per_survival"] * 1e3,
            }
        print(f"results: {save('audit', payload)}")
