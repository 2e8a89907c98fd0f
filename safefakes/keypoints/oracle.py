"""Oracle keypoints of the synthetic dataset, standing in for a real source with its limits.

The synthetic generator knows where it drew every landmark (``keypoints.json``,
layout ``synthetic72``). Where a real keypoint source does not work on the
synthetic faces, the oracle gives that source's points instead, but only for
faces the real source could handle: a face below the source's documented
minimum size gets no keypoints, as it would from the real detector. This keeps
the paper's effect that landmark-hungry methods lose small faces.

Minimum face sizes (the smaller side of the box, in pixels):

* ``dlib68``: 50 px. dlib's HOG detector, upsampled once, stops finding faces
  at about 40-50 px, and its landmark model needs the detector's box.
* ``deepprivacy7``: 10 px. DeepPrivacy's Mask R-CNN pose finds people and their
  face points down to about 10 px faces (DeepPrivacy anonymizes faces that small).

The real detectors were tried on the synthetic faces first (``measure_dlib``;
synthetic val split of ``generate(seed=0)``, 595 faces, dlib upsampled once):

    face size (px)   0-10  10-20  20-30  30-40  40-50  50-60
    faces             156    185    111     86     46     11
    dlib finds         0%     0%    21%    66%    61%    55%
    median error of the found nose/eye points: 2-4 % of the face size

So dlib's own 68 points work on the synthetic faces (provider ``dlib68``),
with its real small-face failures; the oracle is needed where a source cannot
run offline at all: Keypoint R-CNN's weights are a download, so
``oracle-deepprivacy7`` stands in for DeepPrivacy's seven points.
"""

from __future__ import annotations

import numpy as np

from safefakes.keypoints.layouts import convert_keypoints

MIN_FACE_SIZE = {"dlib68": 50, "deepprivacy7": 10}


def oracle_keypoints(keypoints: np.ndarray | None, boxes: np.ndarray, source: str,
                     layout: str = "synthetic72") -> list[np.ndarray | None]:
    """Per face, the oracle points converted to ``source``'s layout, or None where the source fails.

    keypoints: (N, K, 3) of the image in ``layout`` (None: the image has none).
    boxes: (N, 4) x, y, w, h.
    """
    if source not in MIN_FACE_SIZE:
        raise ValueError(f"unknown keypoint source {source!r}; known: {', '.join(MIN_FACE_SIZE)}")
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if keypoints is None:
        return [None] * len(boxes)
    keypoints = np.asarray(keypoints, dtype=np.float64)
    out: list[np.ndarray | None] = []
    for box, kp in zip(boxes, keypoints):
        if min(box[2], box[3]) < MIN_FACE_SIZE[source] or not (kp[:, 2] > 0).any():
            out.append(None)
            continue
        conv = convert_keypoints(kp, layout, source)
        out.append(conv if (conv[:, 2] > 0).any() else None)
    return out


SIZE_BINS = (0, 10, 20, 30, 40, 50, 60, 80, 120, 10_000)


def measure_dlib(split_dir, bins: tuple[int, ...] = SIZE_BINS, max_faces: int | None = None) -> list[dict]:
    """How often dlib finds the 68 landmarks of a split's faces, by face size (smaller box side, px).

    Also checks the found points against the split's oracle points (when it has
    them): ``median_error`` is the median distance of dlib's nose tip and eye
    centres to the oracle's, relative to the face size.
    Returns one row per size bin: lo, hi, faces, found, rate, median_error.
    """
    from safefakes.data.images import read_image
    from safefakes.data.split import Split
    from safefakes.keypoints.dlib68 import detect_landmarks

    split = Split.load(split_dir)
    sizes, found, errors = [], [], []
    done = 0
    for im in split.images:
        if max_faces is not None and done >= max_faces:
            break
        valid = [j for j in range(len(im)) if not im.invalid[j] and not im.degenerate[j]]
        if not valid:
            continue
        image = read_image(split.image_path(im.name))
        results = detect_landmarks(image, im.boxes[valid])
        for j, kp in zip(valid, results):
            size = float(min(im.boxes[j, 2], im.boxes[j, 3]))
            sizes.append(size)
            found.append(kp is not None)
            err = np.nan
            if kp is not None and split.keypoints is not None and im.name in split.keypoints:
                oracle = convert_keypoints(split.keypoints[im.name][j], split.keypoint_layout or "synthetic72",
                                           "deepprivacy7")
                mine = convert_keypoints(kp, "dlib68", "deepprivacy7")
                ok = oracle[:3, 2] > 0
                if ok.any():
                    err = float(np.median(np.linalg.norm(mine[:3, :2][ok] - oracle[:3, :2][ok], axis=1)) / size)
            errors.append(err)
            done += 1
    sizes_a, found_a, err_a = np.array(sizes), np.array(found, bool), np.array(errors)
    rows = []
    for lo, hi in zip(bins[:-1], bins[1:]):
        sel = (sizes_a >= lo) & (sizes_a < hi)
        n = int(sel.sum())
        errs = err_a[sel & found_a]
        errs = errs[np.isfinite(errs)]
        rows.append({"lo": lo, "hi": hi, "faces": n, "found": int(found_a[sel].sum()),
                     "rate": round(float(found_a[sel].mean()), 3) if n else None,
                     "median_error": round(float(np.median(errs)), 3) if len(errs) else None})
    return rows
