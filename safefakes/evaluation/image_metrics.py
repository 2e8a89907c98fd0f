"""How far each anonymized face is from its original: L1, L2, SSIM, LPIPS, FID and KID of a split.

This module puts the parts together; each has its own module:

* which faces are compared and their crops (``face_pairs``: by image name and
  face index from the manifest, faces under ``min_size`` and faces left as
  they were skipped, every crop resized to ``crop_size`` square);
* ``l1``, ``l2``, ``ssim`` per pair (``pixel_metrics``);
* ``lpips`` per pair (``lpips_metric``, the ``lpips`` package's AlexNet v0.1);
* ``fid`` between the original and the anonymized crops' Inception features
  (``fid``: two sets, not pairs; needs at least two faces);
* ``kid``, the Kernel Inception Distance on the same features (``kid``),
  unbiased at any number of faces, with a 95 % jackknife interval;
* the networks and their weights (``backbones``), the original's features
  computed once for every split (``reference_features``), and identity
  leakage (``leakage``: ``measure_split`` adds it, for the study and for
  ``safefakes metrics`` alike).

The per-pair means carry 95 % t-intervals over faces (``l1_low``, ``l1_high``,
...). FID and KID may use a seeded sample of the faces (``distribution_faces``):
Inception at 299 px is the costly part on a CPU.

The images are streamed and the crops processed in batches; the Inception
statistics are kept as running sums (and KID's sample as a bounded
reservoir), so memory does not grow with the split.
The networks run on ``safefakes.devices.resolve_device``'s device: the first
visible GPU when there is one (torch follows ``CUDA_VISIBLE_DEVICES``), else the CPU.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from safefakes.data.images import write_text_atomic
from safefakes.evaluation.backbones import Backbones, load_backbones
from safefakes.evaluation.face_pairs import PairCounts, iter_image_pairs, stream_crops
from safefakes.evaluation.fid import GaussianStats, frechet_distance, inception_features
from safefakes.evaluation.kid import PairReservoir, kernel_inception_distance
from safefakes.evaluation.leakage import compute_leakage
from safefakes.evaluation.lpips_metric import lpips_pairs
from safefakes.evaluation.pixel_metrics import pixel_distances, ssim_pairs
from safefakes.evaluation.reference_features import ReferenceFeatures
from safefakes.evaluation.settings import DEFAULT_BATCH_SIZE, DEFAULT_CROP_SIZE, DEFAULT_MIN_SIZE, MetricsSettings

log = logging.getLogger(__name__)

#: Metrics of each face pair, averaged over faces (each with a 95 % interval).
PAIR_METRICS = ("l1", "l2", "ssim", "lpips")


@dataclass
class ImageMetrics:
    summary: dict  # what image_metrics.json holds
    per_face: pd.DataFrame = field(repr=False)  # image, face_index, l1, l2, ssim, lpips


def _face_interval(values: pd.Series) -> tuple[float | None, float | None]:
    x = values.to_numpy(dtype=np.float64)
    if len(x) < 2:
        return None, None
    half = float(stats.t.ppf(0.975, len(x) - 1)) * float(x.std(ddof=1)) / np.sqrt(len(x))
    return float(x.mean()) - half, float(x.mean()) + half


def compute_image_metrics(
    original_root: str | Path,
    anonymized_root: str | Path,
    *,
    min_size: int = DEFAULT_MIN_SIZE,
    crop_size: int = DEFAULT_CROP_SIZE,
    lpips_weights: str | Path | None = None,
    inception_weights: str | Path | None = None,
    allow_random_init: bool = False,
    device: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    backbones: Backbones | None = None,
    max_faces: int | None = None,
    seed: int = 0,
    distribution_faces: int | None = None,
    reference: ReferenceFeatures | None = None,
) -> ImageMetrics:
    """L1, L2, SSIM, LPIPS, FID and KID of an anonymized split against its original.

    ``backbones`` (from ``load_backbones``) saves reloading the networks when
    several splits are measured in one process; the weight arguments are then unused.
    max_faces, seed: measure a seeded sample of at most max_faces faces (see iter_image_pairs).
    distribution_faces: FID and KID (Inception features, the costly part on a CPU)
    on a seeded sample of at most this many faces, drawn by the same rule; None:
    on the faces of the per-pair metrics.
    reference: the original faces' Inception features computed once for all
    splits (``reference_features``); faces it lacks are measured here.
    """
    if crop_size < 32:
        raise ValueError(f"crop_size {crop_size} is below 32, the smallest input AlexNet (LPIPS) accepts")
    from safefakes.devices import resolve_device

    device = resolve_device(device)
    if backbones is None:
        backbones = load_backbones(lpips_weights, inception_weights, allow_random_init)
    lpips_model = backbones.lpips.to(device)
    inception = backbones.inception.to(device)
    if reference is not None:
        reference.check(original_root, crop_size, backbones.files["fid_inception"])

    rows: list[pd.DataFrame] = []
    stats_original, stats_anonymized = GaussianStats(), GaussianStats()
    reservoir = PairReservoir(seed=seed)
    separate_sample = distribution_faces is not None

    def add_features(batch: list) -> None:
        orig = np.concatenate([o for _, _, o, _ in batch])
        anon = np.concatenate([a for _, _, _, a in batch])
        f_orig = None
        if reference is not None:
            f_orig = reference.lookup([n for n, idx, _, _ in batch for _ in idx],
                                      np.concatenate([idx for _, idx, _, _ in batch]))
        if f_orig is None:
            f_orig = inception_features(inception, orig, device)
        # A face left as it was (the original split's baseline) has its original's features.
        f_anon = f_orig.copy()
        changed = ~(orig == anon).reshape(len(orig), -1).all(axis=1)
        if changed.any():
            f_anon[changed] = inception_features(inception, anon[changed], device)
        stats_original.add(f_orig)
        stats_anonymized.add(f_anon)
        reservoir.add(f_orig, f_anon)

    def per_pair(batch: list) -> None:
        names = [n for n, idx, _, _ in batch for _ in idx]
        indices = np.concatenate([idx for _, idx, _, _ in batch])
        orig = np.concatenate([o for _, _, o, _ in batch])
        anon = np.concatenate([a for _, _, _, a in batch])
        l1, l2 = pixel_distances(orig, anon)
        rows.append(pd.DataFrame({
            "image": names, "face_index": indices, "l1": l1, "l2": l2,
            "ssim": ssim_pairs(orig, anon), "lpips": lpips_pairs(lpips_model, orig, anon, device),
        }))
        if not separate_sample:
            add_features(batch)

    counts = PairCounts()
    stream_crops(iter_image_pairs(original_root, anonymized_root, min_size, counts, max_faces, seed),
                  crop_size, batch_size, per_pair)
    if separate_sample:
        stream_crops(iter_image_pairs(original_root, anonymized_root, min_size, None, distribution_faces, seed),
                      crop_size, batch_size, add_features)

    per_face = (pd.concat(rows, ignore_index=True) if rows
                else pd.DataFrame(columns=["image", "face_index", "l1", "l2", "ssim", "lpips"]))
    if per_face.empty:
        log.warning("no face pair of at least %d px between %s and %s", min_size, original_root,
                    anonymized_root)
    def mean(col: str) -> float | None:
        return float(per_face[col].mean()) if len(per_face) else None

    summary = {
        "l1": mean("l1"),
        "l2": mean("l2"),
        "ssim": mean("ssim"),
        "lpips": mean("lpips"),
        "fid": frechet_distance(stats_original, stats_anonymized),
        **kernel_inception_distance(*reservoir.arrays()),
        # 95 % t-intervals of the per-pair means, over faces.
        **{f"{col}_{end}": value for col in PAIR_METRICS
           for end, value in zip(("low", "high"), _face_interval(per_face[col]))},
        "n_faces": int(len(per_face)),
        "n_distribution_faces": int(stats_original.n),
        "distribution_faces": distribution_faces,
        "n_too_small": counts.too_small,
        "n_not_anonymized": counts.not_anonymized,
        "n_over_cap": counts.over_cap,
        "max_faces": max_faces,
        # One word for tables: any untrained backbone makes LPIPS/FID incomparable.
        "backbone_weights": "random-init" if backbones.random_init else "pretrained",
        "backbone_files": dict(backbones.files),
        "reference_features": None if reference is None or reference.path is None else str(reference.path),
        "min_size": int(min_size),
        "crop_size": int(crop_size),
        "device": str(device),
    }
    return ImageMetrics(summary, per_face)


#: ``measure_split``'s leakage: auto (the synthetic recognizer where the split has identity vectors, else
#: dlib), dlib, synthetic-identity, or none (recorded as such).
NO_LEAKAGE = "none"


def measure_split(
    original_root: str | Path,
    anonymized_root: str | Path,
    settings: MetricsSettings,
    *,
    leakage: str = "auto",
    recognizer: str | Path | None = None,
    recognizer_crops: str | Path | None = None,
    seed: int = 0,
    device: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    reference: ReferenceFeatures | None = None,
    backbones: Backbones | None = None,
) -> ImageMetrics:
    """What ``image_metrics.json`` holds, for the study's rule and ``safefakes metrics`` alike.

    The image metrics (``compute_image_metrics`` with ``settings``, the study's
    ``metrics`` block) followed by the identity leakage of the same seeded face
    sample (``leakage.compute_leakage``: ``leakage`` is its source, ``"none"``
    records reid_rate and top1_rate as None). recognizer: a synthetic
    recognizer trained once (``safefakes train-recognizer``, the study's rule);
    recognizer_crops: the split it would otherwise learn from.
    """
    result = compute_image_metrics(
        original_root, anonymized_root,
        min_size=settings.min_size, crop_size=settings.crop_size,
        lpips_weights=settings.lpips_weights, inception_weights=settings.inception_weights,
        allow_random_init=settings.allow_random_init, device=device, batch_size=batch_size,
        backbones=backbones, max_faces=settings.max_faces, seed=seed,
        distribution_faces=settings.distribution_faces, reference=reference,
    )
    summary = dict(result.summary)
    if leakage == NO_LEAKAGE:
        summary.update(reid_rate=None, top1_rate=None, leakage_source=NO_LEAKAGE)
    else:
        # The same seed picks the same faces as the image metrics.
        summary.update(compute_leakage(original_root, anonymized_root, settings.min_size, leakage, seed,
                                       recognizer_crops, max_faces=settings.max_faces, recognizer=recognizer))
    return ImageMetrics(summary, result.per_face)


def write_metrics_json(summary: dict, path: str | Path) -> None:
    """``image_metrics.json``: the summary, keys in their order, indented by 2."""
    write_text_atomic(path, json.dumps(summary, indent=2) + "\n")
