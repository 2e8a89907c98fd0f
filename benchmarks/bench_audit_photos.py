"""The photo audit's catch table: does it catch every face left as it was, and pass every honest output?

Folder: skimage's LFW sample (``lfw_subset``: 12 of its faces, 25 px, shown at
100 px in a 4 x 3 tile, grey, PNG), skimage's astronaut (JPEG) and cameraman
(grey PNG) and matplotlib's Grace Hopper (JPEG), each at scales 0.5 and 1
(--quick: 1 only), plus 1.5 without --quick. The faces are those the audit's
own finder sees in the originals (``AuditFinder``: dlib's CNN and CenterFace
from 0.2, below 0.4 confirmed by the CNN on a zoomed copy).

* Honest runs: ``anonymize_folder`` with each conventional method's defaults
  (blur, pixelate, blackout, fullblur; --quick: blur and blackout) and the
  detector at ``--threshold 0.2``, so that the run covers every face the audit
  sees; each output audited without and with ``--reid``: any failing face is an
  alarm (expected: none). The defaults' run (CenterFace at 0.4) is audited too:
  it misses the LFW faces CenterFace scores under 0.4, so its failures are
  faces the run left as they were.
* Leaks, one face at a time: the same run, with the run's detector made blind
  to that one face (its detections overlapping the face dropped, as if the
  detector had missed it): the face stays as it was in an otherwise anonymized
  folder whose records are the run's own (the honest run's folder with that
  photo's copy removed, rerun: resume redoes that photo only). Caught when
  that face fails the audit (by survival; with --reid, by survival or dlib). ``fullblur`` blurs a
  whole photo once any face in it is found, so a face it misses in a photo
  with other faces is still blurred: there the leak is made by pasting the
  original's pixels of the face's 1.6x region back into the output instead.

Results: ``benchmarks/results/audit_photos.json`` (--quick:
``audit_photos_quick.json``), and the tables printed.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from benchmarks._common import save
from safefakes.anonymizers.registry import build_anonymizer
from safefakes.audit.faces import AuditFinder, box_iou
from safefakes.audit.photos import audit_folder
from safefakes.data.images import decode_photo
from safefakes.photos import folder as folder_module
from safefakes.photos.face_finder import FaceFinder
from safefakes.photos.folder import anonymize_folder

RUN_THRESHOLD = 0.2
MISSED_IOU = 0.3
GROW = 1.6  # the methods' default region, about the box's centre


def lfw_tile(n: int = 12, columns: int = 4, side: int = 100) -> np.ndarray:
    from skimage import data

    faces = data.lfw_subset()[:n]  # the first 100 of the 200 are faces
    tiles = [cv2.resize(np.round(f * 255).astype(np.uint8), (side, side), interpolation=cv2.INTER_CUBIC)
             for f in faces]
    rows = [np.hstack(tiles[r * columns:(r + 1) * columns]) for r in range(n // columns)]
    return np.ascontiguousarray(np.stack([np.vstack(rows)] * 3, axis=-1))


def make_folder(root: Path, quick: bool) -> None:
    from benchmarks.bench_photo_folder import sample_photos

    root.mkdir(parents=True)
    Image.fromarray(lfw_tile()[..., 0]).save(root / "lfw_tile.png")
    scales = (1.0,) if quick else (0.5, 1.0, 1.5)
    for name, image in sample_photos().items():
        for scale in scales:
            photo = image if scale == 1 else cv2.resize(image, None, fx=scale, fy=scale,
                                                        interpolation=cv2.INTER_AREA if scale < 1 else
                                                        cv2.INTER_CUBIC)
            stem = f"{name}_{scale:g}x"
            if name == "camera":
                Image.fromarray(np.ascontiguousarray(photo[..., 0])).save(root / f"{stem}.png")
            else:
                Image.fromarray(np.ascontiguousarray(photo)).save(root / f"{stem}.jpg", quality=95)


def _digest(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).data).hexdigest()


@dataclass(frozen=True)
class BlindFinder(FaceFinder):
    """The run's detector, blind to one face: its detections overlapping ``blind`` in one photo are dropped."""

    photo: str = ""  # _digest of the photo's pixels
    blind: tuple = ()  # the face's boxes (x, y, w, h)

    def __call__(self, image: np.ndarray):
        boxes, scores = super().__call__(image)
        if not len(boxes) or _digest(image) != self.photo:
            return boxes, scores
        face = np.array(self.blind, dtype=np.float64).reshape(-1, 4)
        centres = boxes[:, :2] + boxes[:, 2:] / 2
        cx, cy = centres[:, None, 0], centres[:, None, 1]
        x1, y1 = face[None, :, 0], face[None, :, 1]
        x2, y2 = x1 + face[None, :, 2], y1 + face[None, :, 3]
        inside = (cx >= x1) & (cx <= x2) & (cy >= y1) & (cy <= y2)
        keep = (box_iou(boxes, face).max(axis=1) < MISSED_IOU) & ~inside.any(axis=1)
        return boxes[keep], scores[keep]


def run_method(src: Path, out: Path, method: str, threshold: float = RUN_THRESHOLD, blind: BlindFinder | None = None):
    make = folder_module.make_finder
    if blind is not None:
        folder_module.make_finder = lambda *args, **kwargs: blind
    try:
        anonymize_folder(src, out, build_anonymizer(method), threshold=threshold, workers=1, progress=False)
    finally:
        folder_module.make_finder = make


def paste_back(src: Path, out: Path, name: str, box) -> None:
    """The original's pixels of ``box`` grown ``GROW`` times about its centre, pasted into the output photo."""
    before = decode_photo((src / name).read_bytes())
    after = decode_photo((out / name).read_bytes()).copy()
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    x1, y1 = max(0, int(cx - GROW * w / 2)), max(0, int(cy - GROW * h / 2))
    x2, y2 = min(before.shape[1], int(cx + GROW * w / 2)), min(before.shape[0], int(cy + GROW * h / 2))
    after[y1:y2, x1:x2] = before[y1:y2, x1:x2]
    path = out / name
    with Image.open(path) as img:
        grey = img.mode == "L"
    Image.fromarray(after[..., 0] if grey else after).save(path, **({} if path.suffix == ".png" else {"quality": 95}))


def run(quick: bool) -> None:
    t0 = time.perf_counter()
    methods = ("blur", "blackout") if quick else ("blur", "pixelate", "blackout", "fullblur")
    leak_methods = ("blur",) if quick else methods
    finder = AuditFinder()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "photos"
        make_folder(src, quick)
        faces = []  # (photo, its pixels' digest, the face)
        for path in sorted(src.iterdir()):
            image = decode_photo(path.read_bytes())
            for face in finder(image):
                faces.append((path.name, _digest(image), face))
        print(f"{len(faces)} faces in {len(list(src.iterdir()))} photos (the audit's finder)")
        honest = {}
        for method in (*methods, "blur (defaults: threshold 0.4)"):
            out = tmp / f"honest_{method.split()[0]}_{len(honest)}"  # honest_<method>_<index in methods>
            run_method(src, out, method.split()[0], 0.4 if "defaults" in method else RUN_THRESHOLD)
            plain = audit_folder(src, out, finder=finder)
            reid = audit_folder(src, out, finder=finder, reid=True)
            judged = [f.survival for f in plain.faces if f.survival is not None]
            distances = [f.distance for f in reid.faces if f.distance is not None]
            honest[method] = {
                "faces": len(plain.faces), "judged_by_survival": len(judged),
                "alarms": len(plain.failing_faces), "alarms_with_reid": len(reid.failing_faces),
                "highest_survival": max(judged, default=None), "lowest_distance": min(distances, default=None),
                "failing": [f"{f.image} {f.box} survival {f.survival} distance {f.distance}"
                            for f in reid.failing_faces],
                "new_faces_in_copies": len(reid.new_faces), "problems": plain.problems,
            }
            print(f"honest {method:<32} faces {len(plain.faces):>3}  alarms {len(plain.failing_faces)}  with --reid "
                  f"{len(reid.failing_faces)}  highest survival {max(judged, default=float('nan')):.3f}  lowest "
                  f"distance {min(distances, default=float('nan')):.3f}", flush=True)
        catches = []
        for method in leak_methods:
            done = tmp / f"honest_{method}_{methods.index(method)}"
            for name, digest, face in faces:
                out = tmp / "leak"
                shutil.rmtree(out, ignore_errors=True)
                # The honest run's folder, the photo's copy removed: the rerun redoes that photo only
                # (resume), with its own records.
                shutil.copytree(done, out)
                (out / name).unlink()
                how = "missed by the run"
                if method == "fullblur":
                    run_method(src, out, method)
                    paste_back(src, out, name, face.box)
                    how = "pasted back"
                else:
                    blind = BlindFinder("centerface", RUN_THRESHOLD, photo=digest, blind=tuple(face.boxes))
                    run_method(src, out, method, blind=blind)
                report = audit_folder(src, out, finder=finder, reid=True)
                own = [f for f in report.faces if f.image == name and box_iou([f.box], [face.box])[0, 0] >= 0.99]
                check = own[0] if own else None
                caught = bool(check is not None and check.survives)
                caught_reid = bool(check is not None and (check.survives or check.recognised))
                catches.append({
                    "method": method, "leak": how, "photo": name, "box": list(face.box),
                    "size": int(min(face.box[2:])), "found_by": face.found_by,
                    "caught": caught, "caught_with_reid": caught_reid,
                    "survival": None if check is None else check.survival,
                    "distance": None if check is None else check.distance,
                    "found_again": None if check is None else check.found_after,
                    "other_failures": len(report.failing_faces) - int(caught_reid),
                })
                c = catches[-1]
                print(f"leak {method:<9} {name:<22} {str(c['box']):<22} {c['size']:>4} px  caught "
                      f"{'yes' if c['caught'] else 'NO ':<3} with --reid {'yes' if c['caught_with_reid'] else 'NO '}"
                      f"  survival {c['survival']}  distance {c['distance']}  found again {c['found_again']}",
                      flush=True)
    table = {}
    for c in catches:
        row = table.setdefault(c["method"], {"faces": 0, "caught": 0, "caught_with_reid": 0})
        row["faces"] += 1
        row["caught"] += c["caught"]
        row["caught_with_reid"] += c["caught_with_reid"]
    for method, row in table.items():
        print(f"catch {method:<9} {row['caught']}/{row['faces']} caught, {row['caught_with_reid']}/{row['faces']} "
              "with --reid")
    payload = {"quick": quick, "faces": len(faces), "run_threshold": RUN_THRESHOLD, "finder": finder.describe(),
               "honest": honest, "catch_table": table, "leaks": catches,
               "seconds": round(time.perf_counter() - t0, 1)}
    print(f"results: {save('audit_photos_quick' if quick else 'audit_photos', payload)}")
