"""A method's failure cases (the paper's Fig. 8): the painted faces the frozen original-trained detector
scores lowest.

The detector's view (``detector_view``) runs a detector trained on the original
split over the anonymized copy of that split. Each annotated face gets the best
score among the detections that take it as their best box at IoU >= 0.5 (the
official matching, the same that decides whether the view "found" it: found at
score t exactly when its best score is >= t); a face no detection takes scores 0.
The failure cases are the lowest-scored faces among those at least
``min_width`` px wide that the method painted itself (manifest status
``anonymized``: not left as is, blacked out or painted by a fallback), ties
broken by the score the same detector gave the original face (highest first:
there the anonymization, not the face, lost it; where the original split's
predictions are given), then by image name and face index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from safefakes.data.anonymized import MANIFEST, Status, read_manifest
from safefakes.data.split import Split
from safefakes.data.wider_files import GroundTruth, read_predictions
from safefakes.errors import InputError
from safefakes.evaluation.detector_view import all_faces_ground_truth
from safefakes.evaluation.wider_ap import IOU_THRESHOLD, match_detections

#: Faces narrower than this are left out (the detector view's headline face set starts here).
MIN_WIDTH = 16
N_CASES = 8


@dataclass(frozen=True)
class FaceScore:
    """One face of a split and the best score the detector gave it (0: no detection took it)."""

    image: str  # as in annotations.txt, e.g. "0--Parade/0_Parade_1.jpg"
    face_index: int
    box: tuple[int, int, int, int]  # x, y, w, h
    score: float
    original_score: float | None = None  # the same face on the original split, where given


def best_face_scores(ground_truth: GroundTruth, predictions, iou: float = IOU_THRESHOLD) -> np.ndarray:
    """(F,) per face (image-major, in ``ground_truth`` order) the best score of a detection that takes it."""
    matched = match_detections(ground_truth, predictions, iou)
    best = np.zeros(len(matched.gt_img), dtype=np.float64)
    np.maximum.at(best, matched.hit_gt, matched.scores[matched.hit_det])
    return best


def _scores(split: Split, pred_dir: str | Path) -> np.ndarray:
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise InputError(pred_dir, "prediction folder not found",
                         hint="predict on the split first (`safefakes detect CHECKPOINT SPLIT PRED_DIR`)")
    predictions = read_predictions(pred_dir)
    known = {f"{im.event}/{im.stem}" for im in split.images}
    unknown = sorted(k for k in predictions if k not in known)
    if unknown:
        raise InputError(pred_dir, f"predictions for {len(unknown)} image(s) not in {split.root}, e.g. {unknown[0]}",
                         hint="give the predictions of the detector on this split")
    return best_face_scores(all_faces_ground_truth(split), predictions)


def _painted(split: Split, manifest: Path) -> np.ndarray:
    """(F,) bool in the split's face order: the manifest says the method painted the face."""
    statuses = {(str(r["image"]), int(r["face_index"])): r["status"] for r in read_manifest(manifest)}
    return np.array([statuses.get((im.name, k)) == Status.ANONYMIZED
                     for im in split.images for k in range(len(im.boxes))], dtype=bool)


def lowest_scored_faces(split_dir: str | Path, pred_dir: str | Path,
                        reference_split_dir: str | Path | None = None,
                        reference_pred_dir: str | Path | None = None,
                        n: int = N_CASES, min_width: int = MIN_WIDTH) -> list[FaceScore]:
    """The ``n`` painted faces >= ``min_width`` px of an anonymized split that the detector scores lowest."""
    split = Split.load(split_dir, sidecars=False)
    manifest = Path(split_dir) / MANIFEST
    if not manifest.is_file():
        raise InputError(manifest, "manifest.csv missing: the failure cases need to know which faces the "
                                   "method painted", hint="give a split written by `safefakes anonymize`")
    scores = _scores(split, pred_dir)
    original = None
    if (reference_split_dir is None) != (reference_pred_dir is None):
        raise ValueError("give both the original split and its predictions, or neither")
    if reference_split_dir is not None:
        reference = Split.load(reference_split_dir, sidecars=False)
        ours = [(im.name, im.boxes.tolist()) for im in split.images]
        if ours != [(im.name, im.boxes.tolist()) for im in reference.images]:
            raise InputError(Path(reference_split_dir) / "annotations.txt",
                             "the original split has other images or boxes than the anonymized one",
                             hint="give the original split that this split anonymizes")
        original = _scores(reference, reference_pred_dir)
    faces = [(im.name, k, tuple(int(v) for v in box))
             for im in split.images for k, box in enumerate(im.boxes)]
    widths = np.array([box[2] for _, _, box in faces], dtype=np.int64)
    eligible = np.flatnonzero(_painted(split, manifest) & (widths >= min_width))
    # Among equal scores (often 0: no detection at all), first the faces whose original the detector
    # scored highest: there the anonymization, not the face, lost it.
    before = np.zeros(len(faces)) if original is None else original
    order = sorted(eligible, key=lambda i: (scores[i], -before[i], faces[i][0], faces[i][1]))[:n]
    return [FaceScore(faces[i][0], faces[i][1], faces[i][2], float(scores[i]),
                      None if original is None else float(original[i])) for i in order]


__all__ = ["MIN_WIDTH", "N_CASES", "FaceScore", "best_face_scores", "lowest_scored_faces"]
