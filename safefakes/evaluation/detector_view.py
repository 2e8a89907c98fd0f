"""The detector's view: does a detector trained on original faces still find the anonymized ones?

A frozen detector, trained on the original train split, looks at an anonymized
copy of that split (same images, same boxes, new faces). How many of the
annotated faces it still finds is a cheap stand-in for what the study measures
at great cost: the mAP of a detector *trained* on the anonymized split.

For one split and one prediction folder (the official layout), over ALL
annotated faces (no WIDER ignore sets):

* ``ap``: the official WIDER AP (``widerface.evaluate``, IoU >= 0.5) with every
  face kept;
* ``recall``: the found rate at a fixed score: a face is found when a detection
  scored >= ``score`` takes it as its best box (the official matching) at
  IoU >= 0.5; over all faces, faces >= 16 px wide (the headline) and per
  width bin (< 16, 16-32, 32-64, >= 64 px);
* with the original split's predictions as well, each number as a
  ``retention``: method / original.

Every number carries a percentile bootstrap interval over images (seeded);
a retention's interval resamples the same images on both sides (paired).
An AP resample normalises the scores over the drawn images, as the official
tool does over its set. An empty face set gives NaN (``null`` in JSON).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from safefakes.data.anonymized import MANIFEST, Status, read_manifest
from safefakes.data.images import write_text_atomic
from safefakes.data.split import Split
from safefakes.data.wider_files import SUBSETS, GroundTruth, GroundTruthImage, read_predictions
from safefakes.errors import InputError
from safefakes.evaluation.settings import DEFAULT_SCORE
from safefakes.evaluation.wider_ap import (
    IOU_THRESHOLD,
    MatchedDetections,
    average_precision,
    evaluate,
    match_detections,
    per_image_counts,
)

VIEW_JSON = "detector_view.json"
#: Box-width bins (px): [0, 16), [16, 32), [32, 64), [64, inf).
SIZE_BINS = {"lt16": (0, 16), "16to32": (16, 32), "32to64": (32, 64), "ge64": (64, math.inf)}
#: Face sets with a found rate: all faces, the headline (>= 16 px wide), each width bin, and the
#: faces >= 16 px that the method painted itself (not blacked out: CIAGAN blacks out faces without
#: landmarks, and is judged on both).
HEADLINE = "ge16"
PAINTED = "painted_ge16"
FACE_SETS = ("all", HEADLINE, *SIZE_BINS, PAINTED)
#: Manifest statuses of a face the method replaced with its own output (see ``data.anonymized.Status``).
PAINTED_STATUSES = frozenset({Status.ANONYMIZED, Status.NO_KEYPOINTS_FALLBACK, Status.WHOLE_IMAGE})
#: Table columns of the headline numbers (found rate of faces >= 16 px, and its retention).
HEADLINE_COLUMN = f"view_recall_{HEADLINE}"


@dataclass(frozen=True)
class ViewSettings:
    """The found-rate threshold and the bootstrap's size, seed and level."""

    score: float = DEFAULT_SCORE
    iou: float = IOU_THRESHOLD
    resamples: int = 1000
    seed: int = 0
    confidence: float = 0.95


@dataclass(frozen=True)
class Estimate:
    """A number on the whole split, its bootstrap interval, and the faces behind it."""

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class DetectorView:
    n_images: int
    n_faces: int
    n_missing: int  # images without a prediction file (counted as no detections)
    settings: ViewSettings
    ap: Estimate
    recall: dict[str, Estimate]  # FACE_SETS
    retention: dict[str, Estimate] | None  # "ap" and FACE_SETS; None without a reference

    def to_dict(self) -> dict:
        s = self.settings
        return {
            "n_images": self.n_images,
            "n_faces": self.n_faces,
            "n_missing_predictions": self.n_missing,
            "score_threshold": s.score,
            "iou_threshold": s.iou,
            "size_bins_px": {k: [lo, None if math.isinf(hi) else hi] for k, (lo, hi) in SIZE_BINS.items()},
            "bootstrap": {"resamples": s.resamples, "seed": s.seed, "confidence": s.confidence},
            "ap": self.ap.to_dict(),
            "recall": {k: e.to_dict() for k, e in self.recall.items()},
            "retention": None if self.retention is None else {
                "ap": self.retention["ap"].to_dict(),
                "recall": {k: self.retention[k].to_dict() for k in FACE_SETS},
            },
        }


def all_faces_ground_truth(split: Split) -> GroundTruth:
    """The split's boxes as ground truth in which every subset keeps every face."""
    events: list[str] = []
    images = []
    for im in split.images:
        if im.event not in events:
            events.append(im.event)
        every = np.arange(len(im.boxes))
        images.append(GroundTruthImage(im.event, im.stem, im.boxes.astype(np.float64), {s: every for s in SUBSETS}))
    return GroundTruth(events, images)


def face_set_masks(widths: np.ndarray, painted: np.ndarray | None = None) -> np.ndarray:
    """(F, len(FACE_SETS)) bool: which face sets each face (by box width; ``painted``: default all) belongs to."""
    widths = np.asarray(widths, dtype=np.float64)
    painted = np.ones(len(widths), dtype=bool) if painted is None else np.asarray(painted, dtype=bool)
    ge16 = widths >= SIZE_BINS["16to32"][0]
    columns = [np.ones(len(widths), dtype=bool), ge16]
    columns += [(widths >= lo) & (widths < hi) for lo, hi in SIZE_BINS.values()]
    columns.append(ge16 & painted)
    return np.stack(columns, axis=1) if len(widths) else np.zeros((0, len(FACE_SETS)), dtype=bool)


def painted_faces(split_dir: str | Path) -> dict[str, np.ndarray] | None:
    """Per image key (``event/stem``), which faces the method painted (``PAINTED_STATUSES``).

    None for a split without ``manifest.csv`` (the original: every face is its own).
    """
    path = Path(split_dir) / MANIFEST
    if not path.is_file():
        return None
    rows = read_manifest(path)
    out: dict[str, np.ndarray] = {}
    for row in rows:
        name = str(row["image"])
        event = name.rsplit("/", 1)[0] if "/" in name else ""
        key = f"{event}/{Path(name).stem}"  # as ``GroundTruthImage.key``
        flags = out.setdefault(key, np.zeros(0, dtype=bool))
        i = int(row["face_index"])
        if i >= len(flags):
            flags = np.concatenate([flags, np.zeros(i + 1 - len(flags), dtype=bool)])
        flags[i] = row["status"] in PAINTED_STATUSES
        out[key] = flags
    return out


def _painted_array(ground_truth: GroundTruth, painted: Mapping[str, np.ndarray] | None) -> np.ndarray | None:
    """``painted`` in the face order of ``ground_truth`` (faces it does not list: not painted)."""
    if painted is None:
        return None
    parts = []
    for im in ground_truth.images:
        flags = np.zeros(len(im.boxes), dtype=bool)
        given = painted.get(im.key, np.zeros(0, dtype=bool))[:len(im.boxes)]
        flags[:len(given)] = given
        parts.append(flags)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


class SplitScores:
    """One prediction set against a split's faces, as per-image counts ready for resampling."""

    def __init__(self, ground_truth: GroundTruth, predictions: Mapping[str, np.ndarray],
                 settings: ViewSettings = ViewSettings(), painted: np.ndarray | None = None) -> None:
        self.settings = settings
        self.matched: MatchedDetections = match_detections(ground_truth, predictions, settings.iou)
        m = self.matched
        n = m.n_images
        widths = np.concatenate([im.boxes[:, 2] for im in ground_truth.images]) if n else np.zeros(0)
        masks = face_set_masks(widths, painted)
        found = np.zeros(len(m.gt_img), dtype=bool)
        found[m.hit_gt[m.scores[m.hit_det] >= settings.score]] = True
        self.faces = _per_image(m.gt_img, masks, n)  # (n_images, S)
        self.found = _per_image(m.gt_img, masks & found[:, None], n)
        # The official AP on the whole split; each image's score range for the resamples' normalisation.
        self.full_ap = evaluate(ground_truth, predictions, settings.iou).curves[SUBSETS[0]].ap if n else math.nan
        self.image_min = np.full(n, np.inf)
        self.image_max = np.full(n, -np.inf)
        np.minimum.at(self.image_min, m.det_img, m.scores)
        np.maximum.at(self.image_max, m.det_img, m.scores)

    @property
    def n_images(self) -> int:
        return self.matched.n_images

    def recall(self, weights: np.ndarray) -> np.ndarray:
        """(R, S) found rate of each face set in each resample (rows of ``weights``); NaN: no face."""
        w = np.atleast_2d(weights).astype(np.float64)
        faces, found = w @ self.faces, w @ self.found
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(faces > 0, found / np.maximum(faces, 1), np.nan)

    def ap(self, weights: np.ndarray) -> np.ndarray:
        """(R,) official AP over all faces of each resample, scores normalised over its drawn images."""
        weights = np.atleast_2d(weights)
        out = np.full(len(weights), np.nan)
        if self.n_images == 0:
            return out
        drawn = weights > 0
        lo = np.where(drawn, self.image_min, np.inf).min(axis=1)
        hi = np.where(drawn, self.image_max, -np.inf).max(axis=1)
        ranges = np.stack([lo, hi], axis=1)
        subset = SUBSETS[0]  # every subset keeps every face
        faces_per_image = self.matched.kept_counts[subset].astype(np.float64)
        # Resamples share a handful of score ranges: count each range's thresholds once.
        for pair in np.unique(ranges, axis=0):
            rows = np.flatnonzero((ranges == pair).all(axis=1))
            lo_hi = (float(pair[0]), float(pair[1])) if np.isfinite(pair).all() else (0.0, 1.0)
            matches, proposals = per_image_counts(self.matched, *lo_hi)[subset]
            w = weights[rows].astype(np.float64)
            m, p, faces = w @ matches, w @ proposals, w @ faces_per_image
            with np.errstate(invalid="ignore", divide="ignore"):
                precision, recall = m / p, m / faces[:, None]
            for row, rec, prec, f in zip(rows, recall, precision, faces):
                out[row] = average_precision(rec, prec) if f > 0 else math.nan
        return out


def _per_image(image_of_face: np.ndarray, masks: np.ndarray, n_images: int) -> np.ndarray:
    out = np.zeros((n_images, masks.shape[1]), dtype=np.int64)
    np.add.at(out, image_of_face, masks.astype(np.int64))
    return out


def resample_weights(n_images: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n_images): how often each image is drawn (with replacement) in each resample."""
    if n_images == 0:
        return np.zeros((resamples, 0), dtype=np.int64)
    draws = np.random.default_rng(seed).integers(0, n_images, size=(resamples, n_images))
    flat = draws + (np.arange(resamples) * n_images)[:, None]
    return np.bincount(flat.ravel(), minlength=resamples * n_images).reshape(resamples, n_images)


def _estimate(value: float, samples: np.ndarray, n: int, confidence: float) -> Estimate:
    samples = samples[np.isfinite(samples)]
    if math.isnan(value) or not len(samples):
        return Estimate(float(value), math.nan, math.nan, n)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(samples, [alpha, 1 - alpha])
    return Estimate(float(value), float(low), float(high), n)


def _ratio(a: float | np.ndarray, b: float | np.ndarray):
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.divide(a, b)
    return np.where(np.isfinite(out), out, np.nan)


def _check_same_faces(ground_truth: GroundTruth, reference: GroundTruth) -> None:
    ours = {im.key: im.boxes for im in ground_truth.images}
    theirs = {im.key: im.boxes for im in reference.images}
    if ours.keys() != theirs.keys():
        extra = sorted(ours.keys() ^ theirs.keys())
        raise ValueError(f"the reference split has other images ({len(extra)} differ, e.g. {extra[0]})")
    for key, boxes in ours.items():
        if boxes.shape != theirs[key].shape or not np.array_equal(boxes, theirs[key]):
            raise ValueError(f"the reference split has other boxes in {key}")


def view(ground_truth: GroundTruth, predictions: Mapping[str, np.ndarray],
         reference_predictions: Mapping[str, np.ndarray] | None = None,
         settings: ViewSettings = ViewSettings(),
         reference_ground_truth: GroundTruth | None = None,
         painted: Mapping[str, np.ndarray] | None = None) -> DetectorView:
    """The detector's view of a split (``predictions``: ``"event/stem"`` -> (N, 5) x y w h score).

    ``ground_truth`` keeps every face in every subset (``all_faces_ground_truth``).
    With ``reference_predictions`` (the same detector on the original split,
    whose faces are ``reference_ground_truth``, by default the same), each
    number also as a retention with a paired bootstrap interval. ``painted``
    (``painted_faces``) limits the ``painted_ge16`` set, on both sides, to the
    faces the method painted; None: every face.
    """
    ours = SplitScores(ground_truth, predictions, settings, _painted_array(ground_truth, painted))
    weights = resample_weights(ours.n_images, settings.resamples, settings.seed)
    n_faces = ours.faces.sum(axis=0)
    recall_full = ours.recall(np.ones(ours.n_images))[0]
    recall_samples = ours.recall(weights)
    ap_samples = ours.ap(weights)
    conf = settings.confidence
    recall = {k: _estimate(recall_full[i], recall_samples[:, i], int(n_faces[i]), conf)
              for i, k in enumerate(FACE_SETS)}
    ap = _estimate(ours.full_ap, ap_samples, int(n_faces[0]), conf)
    retention = None
    if reference_predictions is not None:
        ref_gt = reference_ground_truth or ground_truth
        _check_same_faces(ground_truth, ref_gt)
        # The same images in the same order on both sides: one draw serves both (paired).
        order = {im.key: i for i, im in enumerate(ref_gt.images)}
        ref = SplitScores(ref_gt, reference_predictions, settings, _painted_array(ref_gt, painted))
        ref_weights = np.zeros_like(weights)
        ref_weights[:, [order[im.key] for im in ground_truth.images]] = weights
        ref_full = ref.recall(np.ones(ref.n_images))[0]
        ref_samples = ref.recall(ref_weights)
        retention = {"ap": _estimate(float(_ratio(ours.full_ap, ref.full_ap)),
                                     _ratio(ap_samples, ref.ap(ref_weights)), int(n_faces[0]), conf)}
        for i, k in enumerate(FACE_SETS):
            retention[k] = _estimate(float(_ratio(recall_full[i], ref_full[i])),
                                     _ratio(recall_samples[:, i], ref_samples[:, i]), int(n_faces[i]), conf)
    return DetectorView(ours.n_images, int(n_faces[0]), len(ours.matched.missing), settings, ap, recall, retention)


def _load(split_dir: str | Path, pred_dir: str | Path) -> tuple[GroundTruth, dict[str, np.ndarray]]:
    split = Split.load(split_dir, sidecars=False)
    ground_truth = all_faces_ground_truth(split)
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise InputError(pred_dir, "prediction folder not found",
                         hint="predict on the split first (`safefakes detect CHECKPOINT SPLIT PRED_DIR`)")
    predictions = read_predictions(pred_dir)
    if len(split) and not predictions:
        raise InputError(pred_dir, "no prediction files: expected one folder per event holding <image>.txt files",
                         hint="write predictions as PRED_DIR/<event>/<image>.txt, as `safefakes detect` does")
    known = {im.key for im in ground_truth.images}
    unknown = sorted(k for k in predictions if k not in known)
    if unknown:
        raise InputError(pred_dir, f"predictions for {len(unknown)} image(s) not in {Path(split_dir)}, "
                                   f"e.g. {unknown[0]}",
                         hint="predict on the split whose annotations you give")
    return ground_truth, predictions


def view_folders(split_dir: str | Path, pred_dir: str | Path,
                 reference_split_dir: str | Path | None = None, reference_pred_dir: str | Path | None = None,
                 settings: ViewSettings = ViewSettings()) -> DetectorView:
    """``view`` of a split folder and its prediction folder (``<event>/<stem>.txt``), and the reference's."""
    ground_truth, predictions = _load(split_dir, pred_dir)
    painted = painted_faces(split_dir)
    if (reference_split_dir is None) != (reference_pred_dir is None):
        raise ValueError("give both the reference split and its predictions, or neither")
    if reference_split_dir is None:
        return view(ground_truth, predictions, settings=settings, painted=painted)
    ref_gt, ref_predictions = _load(reference_split_dir, reference_pred_dir)
    try:
        _check_same_faces(ground_truth, ref_gt)
    except ValueError as exc:
        raise InputError(Path(reference_split_dir) / "annotations.txt", str(exc),
                         hint="the reference must be the original split that this split anonymizes "
                              "(an anonymized split keeps its images' names and boxes)") from exc
    return view(ground_truth, predictions, ref_predictions, settings, ref_gt, painted)


def write_view(result: DetectorView, path: str | Path) -> Path:
    write_text_atomic(path, json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
    return Path(path)


def view_columns(data: Mapping) -> dict[str, float]:
    """A ``detector_view.json``'s numbers as flat table columns (``view_*``); null -> NaN.

    view_ap[_low|_high], view_recall_<set>[_low|_high], view_faces_<set>, and with a
    reference view_retention_ap[...] and view_retention_<set>[...], for each face
    set of FACE_SETS (all, ge16, lt16, 16to32, 32to64, ge64, painted_ge16).
    """
    def num(v) -> float:
        return math.nan if v is None else float(v)

    def put(out: dict, name: str, e: Mapping, with_n: str | None = None) -> None:
        out[name], out[f"{name}_low"], out[f"{name}_high"] = num(e["value"]), num(e["low"]), num(e["high"])
        if with_n:
            out[with_n] = int(e["n"])

    out: dict[str, float] = {}
    put(out, "view_ap", data["ap"])
    for k in FACE_SETS:
        put(out, f"view_recall_{k}", data["recall"][k], f"view_faces_{k}")
    retention = data.get("retention")
    if retention:
        put(out, "view_retention_ap", retention["ap"])
        for k in FACE_SETS:
            put(out, f"view_retention_{k}", retention["recall"][k])
    return out


__all__ = [
    "VIEW_JSON", "SIZE_BINS", "FACE_SETS", "HEADLINE", "PAINTED", "PAINTED_STATUSES", "HEADLINE_COLUMN",
    "DEFAULT_SCORE", "ViewSettings", "Estimate", "DetectorView", "SplitScores", "all_faces_ground_truth",
    "face_set_masks", "painted_faces", "resample_weights", "view", "view_folders", "write_view", "view_columns",
]
