"""How far each anonymized face is from its original: L1, L2, SSIM, LPIPS, FID and KID.

Every anonymized face is paired with the same face of the original split (by
image name and face index, from the anonymized split's ``manifest.csv``; a
split written by another tool has none, and every annotated face then counts
as anonymized). The two splits' annotations must agree box for box.
Faces smaller than ``min_size`` pixels in width or height are skipped (their
crops are mostly interpolation), and faces the anonymizer left as they were
(too small, degenerate, outside the image) are not pairs of an anonymization.
Both crops of a pair are cut from the face box and resized to one size,
``crop_size`` square, so that every metric compares like with like.

* ``l1``: mean absolute difference of [0, 1] pixels, averaged over pairs.
* ``l2``: mean squared difference of [0, 1] pixels, averaged over pairs.
* ``ssim``: scikit-image SSIM with the settings of Wang et al. 2004 (Gaussian
  window, sigma 1.5), per pair over the three channels, averaged.
* ``lpips``: the ``lpips`` package, AlexNet v0.1, per pair, averaged.
* ``fid``: Frechet distance between the Gaussians fitted to the 2048-d pool
  features of pytorch-fid's Inception on the original and on the anonymized
  crops (two sets, not pairs; needs at least two faces). Biased upwards when
  faces are few: its covariance has 2,048^2 entries.
* ``kid``: Kernel Inception Distance on the same features (``kid.py``),
  unbiased at any number of faces, with a 95 % jackknife interval.

The per-pair means carry 95 % t-intervals over faces (``l1_low``, ``l1_high``,
...). FID and KID may use a seeded sample of the faces (``distribution_faces``):
Inception at 299 px is the costly part on a CPU.

The images are streamed and the crops processed in batches; the Inception
statistics are kept as running sums (and KID's sample as a bounded
reservoir), so memory does not grow with the split.
The networks run on the first visible GPU when there is one (torch follows
``CUDA_VISIBLE_DEVICES``), else on the CPU.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pandas as pd
from scipy import stats

from safefakes.data.anonymized import Status
from safefakes.data.anonymized import read_manifest as read_manifest_rows
from safefakes.data.boxes import clip_box
from safefakes.data.images import read_image
from safefakes.data.split import Split
from safefakes.errors import InputError
from safefakes.evaluation.kid import PairReservoir, kernel_inception_distance
from safefakes.evaluation.reference_features import ReferenceFeatures
from safefakes.evaluation.settings import DEFAULT_BATCH_SIZE, DEFAULT_CROP_SIZE, DEFAULT_MIN_SIZE

log = logging.getLogger(__name__)

MANIFEST = "manifest.csv"
#: Manifest statuses whose face is a pair of an anonymization; 'original' pairs
#: each face with itself (the study's baseline, distance zero).
PAIRED_STATUSES = frozenset(Status.CHANGED | {Status.ORIGINAL})
#: Metrics of each face pair, averaged over faces (each with a 95 % interval).
PAIR_METRICS = ("l1", "l2", "ssim", "lpips")


# --------------------------------------------------------------------------- #
# Pairing faces
# --------------------------------------------------------------------------- #
def read_manifest(path: str | Path) -> dict[str, dict[int, str]]:
    """image name -> face index -> status, from an anonymized split's manifest.csv."""
    out: dict[str, dict[int, str]] = {}
    for row in read_manifest_rows(path):
        out.setdefault(row["image"], {})[row["face_index"]] = row["status"]
    return out


@dataclass
class ImagePair:
    """One image of the original split, its anonymized version and the faces to compare."""

    name: str
    original: np.ndarray  # (H, W, 3) uint8
    anonymized: np.ndarray  # (H, W, 3) uint8
    face_indices: np.ndarray  # (n,) indices into the image's annotated faces
    boxes: np.ndarray  # (n, 4) x1, y1, x2, y2, clipped to the image


@dataclass
class PairCounts:
    """What happened to every annotated face while pairing (written with the metrics)."""

    paired: int = 0
    too_small: int = 0  # below min_size
    not_anonymized: int = 0  # the manifest says the face was left as is
    over_cap: int = 0  # eligible, but not in the max_faces sample


def iter_image_pairs(
    original_root: str | Path,
    anonymized_root: str | Path,
    min_size: int = DEFAULT_MIN_SIZE,
    counts: PairCounts | None = None,
    max_faces: int | None = None,
    seed: int = 0,
) -> Iterator[ImagePair]:
    """Yield every image that has at least one face to compare, in annotation order.

    max_faces: compare at most this many faces, a seeded uniform sample of the
    eligible ones (the same sample for every method that anonymized the same
    faces of one split, so methods stay comparable while CPU runs stay short).
    """
    original = Split.load(original_root)
    anonymized_root = Path(anonymized_root)
    anonymized = Split.load(anonymized_root)
    # A split written by another tool has no manifest: every annotated face is
    # then taken as meant to be anonymized.
    external = not (anonymized_root / MANIFEST).exists()
    statuses = {} if external else read_manifest(anonymized_root / MANIFEST)
    if external:
        log.info("%s has no %s: an external split, every annotated face is compared", anonymized_root, MANIFEST)
    counts = counts if counts is not None else PairCounts()
    eligible: list[tuple] = []  # (image, face indices), from the annotations alone
    for im in original.images:
        if im.name not in anonymized:
            raise InputError(anonymized_root / "annotations.txt",
                             f"{im.name} of {original.root} is missing",
                             hint="compare an anonymized split with the split it was made from")
        if len(anonymized[im.name]) != len(im):
            raise InputError(anonymized_root / "annotations.txt",
                             f"{im.name} has {len(anonymized[im.name])} faces, the original {len(im)}",
                             hint="compare an anonymized split with the split it was made from")
        differs = np.flatnonzero((anonymized[im.name].boxes != im.boxes).any(axis=1))
        if differs.size:
            i = int(differs[0])
            raise InputError(anonymized_root / "annotations.txt",
                             f"{im.name} face {i} has box {' '.join(map(str, anonymized[im.name].boxes[i]))}, "
                             f"the original {' '.join(map(str, im.boxes[i]))}",
                             hint="compare an anonymized split with the split it was made from")
        image_status = statuses.get(im.name, {})
        candidates = []
        for i, box in enumerate(im.boxes):
            status = Status.ANONYMIZED if external else image_status.get(i)
            if status is None:
                raise InputError(anonymized_root / MANIFEST, f"no row for face {i} of {im.name}",
                                 hint="the manifest lists every annotated face; re-run the anonymizer")
            if status not in PAIRED_STATUSES:
                counts.not_anonymized += 1
            elif box[2] < min_size or box[3] < min_size:
                counts.too_small += 1
            else:
                candidates.append(i)
        if candidates:
            eligible.append((im, candidates))

    total = sum(len(c) for _, c in eligible)
    if max_faces is not None and total > max_faces:
        chosen = set(np.random.default_rng(seed).choice(total, size=max_faces, replace=False).tolist())
        counts.over_cap += total - max_faces
        numbered, start = [], 0
        for im, candidates in eligible:
            keep = [i for k, i in enumerate(candidates) if start + k in chosen]
            start += len(candidates)
            if keep:
                numbered.append((im, keep))
        eligible = numbered

    for im, candidates in eligible:
        orig_img = read_image(original.image_path(im.name))
        anon_img = read_image(anonymized.image_path(im.name))
        if orig_img.shape != anon_img.shape:
            raise InputError(anonymized.image_path(im.name),
                             f"size {anon_img.shape[1]}x{anon_img.shape[0]} differs from the original's "
                             f"{orig_img.shape[1]}x{orig_img.shape[0]}",
                             hint="anonymizers keep the image size; re-run the anonymizer")
        height, width = orig_img.shape[:2]
        kept, boxes = [], []
        for i in candidates:
            clipped = clip_box(im.boxes[i], width, height)
            if clipped is None:
                counts.not_anonymized += 1
                continue
            kept.append(i)
            boxes.append(clipped)
        if not kept:
            continue
        counts.paired += len(kept)
        yield ImagePair(im.name, orig_img, anon_img, np.asarray(kept, dtype=np.int64),
                        np.asarray(boxes, dtype=np.int64).reshape(-1, 4))


def crop_faces(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """(n, size, size, 3) uint8 crops of x1, y1, x2, y2 boxes, each resized to a square."""
    out = np.empty((len(boxes), size, size, 3), dtype=np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, dtype=np.int64)):
        crop = image[y1:y2, x1:x2]
        shrinking = crop.shape[0] > size or crop.shape[1] > size
        out[k] = cv2.resize(crop, (size, size),
                            interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return out


# --------------------------------------------------------------------------- #
# The metrics on batches of crops
# --------------------------------------------------------------------------- #
def pixel_distances(original: np.ndarray, anonymized: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair mean |a - b| and mean (a - b)^2 on [0, 1] pixels, for (n, S, S, 3) uint8 crops."""
    a = original.astype(np.float64) / 255.0
    b = anonymized.astype(np.float64) / 255.0
    diff = a - b
    axes = tuple(range(1, diff.ndim))
    return np.abs(diff).mean(axis=axes), (diff**2).mean(axis=axes)


def ssim_pairs(original: np.ndarray, anonymized: np.ndarray) -> np.ndarray:
    """Per pair SSIM (Wang et al. 2004 settings) of (n, S, S, 3) uint8 crops."""
    from skimage.metrics import structural_similarity

    return np.array([
        structural_similarity(a, b, channel_axis=-1, data_range=255, gaussian_weights=True,
                              sigma=1.5, use_sample_covariance=False)
        for a, b in zip(original, anonymized)
    ], dtype=np.float64)


def _to_tensor(crops: np.ndarray, device):
    import torch

    return torch.from_numpy(np.ascontiguousarray(crops)).to(device).permute(0, 3, 1, 2).float() / 255.0


def lpips_pairs(model, original: np.ndarray, anonymized: np.ndarray, device="cpu") -> np.ndarray:
    """Per pair LPIPS distance of (n, S, S, 3) uint8 crops (model from backbones.load_lpips_alex)."""
    import torch

    with torch.no_grad():
        d = model(_to_tensor(original, device), _to_tensor(anonymized, device), normalize=True)
    return d.flatten().double().cpu().numpy()


def inception_features(model, crops: np.ndarray, device="cpu") -> np.ndarray:
    """(n, 2048) pool features of pytorch-fid's Inception for (n, S, S, 3) uint8 crops."""
    import torch

    with torch.no_grad():
        feats = model(_to_tensor(crops, device))[0]
    return feats.reshape(len(crops), -1).double().cpu().numpy()


@dataclass
class GaussianStats:
    """Running mean and covariance of feature vectors (float64 sums).

    While there are no more samples than dimensions the samples themselves are
    kept too: the Frechet distance is then exact and cheap in sample space.
    """

    n: int = 0
    total: np.ndarray | None = None
    outer: np.ndarray | None = None
    samples: list[np.ndarray] | None = field(default_factory=list, repr=False)

    def add(self, feats: np.ndarray) -> None:
        feats = np.asarray(feats, dtype=np.float64)
        if self.total is None:
            self.total = np.zeros(feats.shape[1])
            self.outer = np.zeros((feats.shape[1], feats.shape[1]))
        self.n += len(feats)
        self.total += feats.sum(axis=0)
        self.outer += feats.T @ feats
        if self.samples is not None:
            self.samples.append(feats)
            if self.n > feats.shape[1]:
                self.samples = None

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        mu = self.total / self.n
        cov = (self.outer - self.n * np.outer(mu, mu)) / (self.n - 1)
        return mu, (cov + cov.T) / 2

    def centered_samples(self) -> np.ndarray | None:
        if self.samples is None:
            return None
        x = np.concatenate(self.samples)
        return x - x.mean(axis=0)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(matrix)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float | None:
    """FID = |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^1/2); None with fewer than two faces.

    Tr((S1 S2)^1/2) is the sum of the square roots of the eigenvalues of S1 S2.
    With few samples (S = X^T X / (n - 1), X centred) those are the squared
    singular values of X1 X2^T / sqrt((n1 - 1)(n2 - 1)), which is exact for the
    singular covariances of small sets and avoids a 2048 x 2048 matrix root;
    with many, the symmetric form S1^1/2 S2 S1^1/2 is diagonalised.
    """
    if a.n < 2 or b.n < 2:
        return None
    mu1, s1 = a.mean_cov()
    mu2, s2 = b.mean_cov()
    x1, x2 = a.centered_samples(), b.centered_samples()
    if x1 is not None and x2 is not None:
        scale = np.sqrt((a.n - 1) * (b.n - 1))
        tr_sqrt = np.linalg.svd(x1 @ x2.T, compute_uv=False).sum() / scale
        tr1 = (x1**2).sum() / (a.n - 1)
        tr2 = (x2**2).sum() / (b.n - 1)
    else:
        root = _psd_sqrt(s1)
        tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(root @ s2 @ root), 0, None)).sum()
        tr1, tr2 = np.trace(s1), np.trace(s2)
    diff = mu1 - mu2
    # Rounding can leave a tiny negative total for identical sets.
    return max(float(diff @ diff + tr1 + tr2 - 2 * tr_sqrt), 0.0)


# --------------------------------------------------------------------------- #
# A whole anonymized split
# --------------------------------------------------------------------------- #
def default_device() -> str:
    """The first visible GPU when there is one (CUDA_VISIBLE_DEVICES applies), else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class Backbones:
    """The LPIPS and FID networks with a description of their weights, loaded once."""

    lpips: object
    inception: object
    files: dict  # lpips_alexnet, lpips_linear, fid_inception: a path or "random-init"

    @property
    def random_init(self) -> bool:
        from safefakes.evaluation.backbones import RANDOM_INIT

        return RANDOM_INIT in self.files.values()


def load_backbones(
    lpips_weights: str | Path | None = None,
    inception_weights: str | Path | None = None,
    allow_random_init: bool = False,
) -> Backbones:
    """Both metric networks (see safefakes.evaluation.backbones for where weights come from)."""
    from safefakes.evaluation.backbones import load_fid_inception, load_lpips_alex

    lpips_model, lpips_files = load_lpips_alex(lpips_weights, allow_random_init)
    inception, inception_file = load_fid_inception(inception_weights, allow_random_init)
    return Backbones(lpips_model, inception, {
        "lpips_alexnet": lpips_files["trunk"],
        "lpips_linear": lpips_files["linear"],
        "fid_inception": inception_file,
    })


@dataclass
class ImageMetrics:
    summary: dict  # what image_metrics.json holds
    per_face: pd.DataFrame = field(repr=False)  # image, face_index, l1, l2, ssim, lpips


def _stream_crops(pairs: Iterator[ImagePair], crop_size: int, batch_size: int, consume) -> None:
    """Crop both faces of every pair and hand them to ``consume`` in batches of about batch_size."""
    buffer: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
    pending = 0
    for pair in pairs:
        # Cut into batch_size pieces so that an image with many faces does not overflow a batch.
        for start in range(0, len(pair.boxes), batch_size):
            sl = slice(start, start + batch_size)
            buffer.append((pair.name, pair.face_indices[sl],
                           crop_faces(pair.original, pair.boxes[sl], crop_size),
                           crop_faces(pair.anonymized, pair.boxes[sl], crop_size)))
            pending += len(pair.boxes[sl])
            if pending >= batch_size:
                consume(buffer)
                buffer = []
                pending = 0
    if buffer:
        consume(buffer)


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
    device = device or default_device()
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
    _stream_crops(iter_image_pairs(original_root, anonymized_root, min_size, counts, max_faces, seed),
                  crop_size, batch_size, per_pair)
    if separate_sample:
        _stream_crops(iter_image_pairs(original_root, anonymized_root, min_size, None, distribution_faces, seed),
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
