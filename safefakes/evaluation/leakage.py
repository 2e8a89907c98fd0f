"""Identity leakage: can the person behind an anonymized face still be recognised?

The study measures how useful anonymized data stays; this module measures how
anonymous it is. Every anonymized face is compared with the original faces of
the same split, through a face recognizer:

* ``reid_rate``: the share of anonymized faces whose descriptor lies within the
  recognizer's match distance of their own original (a verification attack:
  "is this the same person?").
* ``top1_rate``: the share whose nearest original, among all originals of the
  split, is their own (an identification attack). Ties count as misses, so a
  method that maps every face to one descriptor scores no hits by luck.

Two recognizers, chosen by what the original split knows:

``dlib`` (real photographs)
    dlib's ResNet face-recognition descriptors (128-d, from the
    ``face_recognition_models`` package): the 68-point shape predictor places
    landmarks inside the annotated box, the face is aligned and described.
    Distance: Euclidean; match distance 0.6, dlib's own threshold (99.38 % on
    LFW).

``synthetic-identity`` (the procedurally generated set)
    dlib finds no sensible landmarks on drawn faces, but the generator knows
    every face's identity parameters (``identities.json`` "vectors"). The
    gallery is those true vectors; the probe is a *learned recognizer*: a small
    CNN regressor that maps a 32 x 32 face crop to the identity vector. It
    learns from the synthetic crops set (``crops``, 5-10 photos per person, of
    people disjoint from train and val: a recognizer that generalises to
    unseen people). Without a crops set it is cross-fitted on the originals:
    two folds of faces, each described by the model trained on the other (it
    then knows the people from their other photos).

    Identity distance: vectors are standardised component-wise by the mean
    and standard deviation over the recognizer's training identities, and
    ``d(a, b) = ||a - b||_2 / sqrt(D)``, the root-mean-square difference in
    standard deviations (D = vector length; 0 = same parameters, about 1.4
    between two random identities). It weighs every parameter alike, unlike
    ``safefakes.data.synthetic.identity_distance`` (raw Euclidean over its
    maximum), so that a one-hot hair style and a [0, 1] parameter count the
    same to the recognizer's loss and to the match.

    Match distance: calibrated on the originals at a 5 % false-match rate, as
    a verification threshold is: the 5th percentile of the distances between
    each original face's estimate and the vectors of *other* identities.
    ``original_reid_rate`` and ``original_top1_rate``, the same rates for the
    un-anonymized faces, show what the recognizer achieves at best; an
    anonymizer's rates read against them and against their *measured* chance
    level (``reid_chance``, ``top1_chance``: the rates of the same estimates
    with the identities shuffled among the faces, see ``identification_rates``).
    A black box re-identifies at chance: only ``*_excess_low`` > 0 is a leak.

    What leaks, by trait: the same re-identification on two parts of the
    identity vector, each with its own match distance (5 % false matches on
    that part): ``reid_face_*`` on the traits inside the face that an
    anonymizer is meant to replace (face shape, eyes, brows, nose, mouth,
    iris: ``FACE_TRAITS``), ``reid_context_*`` on those the surroundings of
    the box show as well (skin tone, hair: ``CONTEXT_TRAITS``). An in-painting
    GAN that matches the neck's skin and the hair around the box leaks the
    second by design, as blur does; only the first says that the face itself
    is still the person's.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from safefakes.data.boxes import clip_box
from safefakes.data.images import atomic_path, read_image
from safefakes.data.split import Split
from safefakes.data.synthetic.identity import CONTEXT_TRAITS, FACE_TRAITS, VECTOR_SIZE, trait_columns
from safefakes.errors import InputError
from safefakes.evaluation.face_pairs import crop_faces, iter_image_pairs
from safefakes.evaluation.settings import DEFAULT_MIN_SIZE

log = logging.getLogger(__name__)

DLIB = "dlib"
SYNTHETIC = "synthetic-identity"
DLIB_MATCH_DISTANCE = 0.6
#: Share of impostors (an original's estimate against another identity) the
#: synthetic match distance lets through.
SYNTHETIC_FALSE_MATCH_RATE = 0.05
RECOGNIZER_CROP = 32
RECOGNIZER_STEPS = 600
#: Fewest faces a recognizer is trained on at all.
MIN_FACES_TO_TRAIN = 8
RECOGNIZER_FORMAT = "safefakes-identity-recognizer-1"


# --------------------------------------------------------------------------- #
# The rates
# --------------------------------------------------------------------------- #
#: What ``identification_rates`` adds to a rate: its chance level and the excess's 95 % interval.
CHANCE_KEYS = ("reid_chance", "top1_chance", "reid_excess_low", "reid_excess_high", "top1_excess_low",
               "top1_excess_high")
#: Parts of the synthetic identity re-identified on their own (module docstring): name -> traits.
TRAIT_GROUPS = {"face": FACE_TRAITS, "context": CONTEXT_TRAITS}
TRAIT_KEYS = tuple(f"reid_{group}_{key}" for group in TRAIT_GROUPS
                   for key in ("rate", "chance", "excess_low", "excess_high"))


def _euclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) Euclidean distances, via the Gram trick (clipped at zero)."""
    d2 = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(d2, 0.0))


def identification_rates(
    probes: np.ndarray,
    gallery: np.ndarray,
    own: np.ndarray,
    threshold: float,
    scale: float = 1.0,
) -> dict:
    """Re-identification and top-1 rates of probes against a gallery, and their chance levels.

    probes: (n, D) descriptors of the anonymized faces; gallery: (m, D)
    descriptors of the originals; own: (n,) index into gallery of each probe's
    own original; distance = Euclidean / scale. Returns reid_rate, top1_rate,
    the mean distance to the own original, and for each rate its chance level
    and its excess over chance with a 95 % interval (``*_excess_low/high``).

    Chance is the rate the same probes reach when their identities are
    shuffled among the faces: a probe that carries no identity (a black box)
    still lands within the threshold of some identities and still has a
    nearest one. Its expectation is exact, no shuffle is drawn: for probe j,
    the share of faces whose identity lies within the threshold of j (re-id),
    and the share of faces of j's nearest identity (top-1). Only the excess
    over chance is information about the person.
    """
    probes = np.asarray(probes, dtype=np.float64)
    gallery = np.asarray(gallery, dtype=np.float64)
    own = np.asarray(own, dtype=np.int64)
    n = len(probes)
    if n == 0:
        return {"reid_rate": None, "top1_rate": None, "mean_distance": None, "reid_chance": None,
                "top1_chance": None, "reid_excess_low": None, "reid_excess_high": None,
                "top1_excess_low": None, "top1_excess_high": None}
    share = np.bincount(own, minlength=len(gallery)) / n  # how often each identity is a face's own
    own_d = np.linalg.norm(probes - gallery[own], axis=1) / scale
    hits = np.zeros(n, dtype=bool)
    reid_chance = np.zeros(n)
    top1_chance = np.zeros(n)
    chunk = max(1, int(2e7 // max(len(gallery), 1)))  # bounded memory for large splits
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        d = _euclidean(probes[start:stop], gallery) / scale
        reid_chance[start:stop] = (d < threshold) @ share
        top1_chance[start:stop] = share[d.argmin(axis=1)]
        d[np.arange(stop - start), own[start:stop]] = np.inf
        hits[start:stop] = own_d[start:stop] < d.min(axis=1)
    reid = own_d < threshold
    return {
        "reid_rate": float(np.mean(reid)),
        "top1_rate": float(np.mean(hits)),
        "mean_distance": float(np.mean(own_d)),
        "reid_chance": float(np.mean(reid_chance)),
        "top1_chance": float(np.mean(top1_chance)),
        **_excess_interval("reid", reid - reid_chance),
        **_excess_interval("top1", hits - top1_chance),
    }


def _excess_interval(name: str, per_face: np.ndarray) -> dict:
    """The 95 % normal interval of the mean per-face excess over chance (None for one face)."""
    n = len(per_face)
    if n < 2:
        return {f"{name}_excess_low": None, f"{name}_excess_high": None}
    mean = float(per_face.mean())
    half = 1.959964 * float(per_face.std(ddof=1)) / np.sqrt(n)
    return {f"{name}_excess_low": mean - half, f"{name}_excess_high": mean + half}


# --------------------------------------------------------------------------- #
# dlib
# --------------------------------------------------------------------------- #
class DlibDescriber:
    """dlib's 128-d face descriptors of boxed faces (landmarks placed inside each box)."""

    def __init__(self) -> None:
        import dlib

        with warnings.catch_warnings():
            # face_recognition_models imports the deprecated pkg_resources.
            warnings.simplefilter("ignore")
            import face_recognition_models as models

        self._predictor = dlib.shape_predictor(models.pose_predictor_model_location())
        self._encoder = dlib.face_recognition_model_v1(models.face_recognition_model_location())
        self._dlib = dlib

    def describe(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(n, 128) descriptors of an RGB uint8 image's x1, y1, x2, y2 boxes."""
        if len(boxes) == 0:
            return np.zeros((0, 128))
        image = np.ascontiguousarray(image)
        shapes = self._dlib.full_object_detections()
        for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.int64):
            rect = self._dlib.rectangle(int(x1), int(y1), int(x2) - 1, int(y2) - 1)
            shapes.append(self._predictor(image, rect))
        return np.array(self._encoder.compute_face_descriptor(image, shapes), dtype=np.float64)


def dlib_leakage(original_root: str | Path, anonymized_root: str | Path,
                 min_size: int = DEFAULT_MIN_SIZE, max_faces: int | None = None, seed: int = 0) -> dict:
    describer = DlibDescriber()
    originals, anonymized = [], []
    for pair in iter_image_pairs(original_root, anonymized_root, min_size, None, max_faces, seed):
        originals.append(describer.describe(pair.original, pair.boxes))
        anonymized.append(describer.describe(pair.anonymized, pair.boxes))
    gallery = np.concatenate(originals) if originals else np.zeros((0, 128))
    probes = np.concatenate(anonymized) if anonymized else np.zeros((0, 128))
    rates = identification_rates(probes, gallery, np.arange(len(probes)), DLIB_MATCH_DISTANCE)
    return {
        "reid_rate": rates["reid_rate"],
        "top1_rate": rates["top1_rate"],
        **{k: rates[k] for k in CHANCE_KEYS},
        "leakage_source": DLIB,
        "leakage_threshold": DLIB_MATCH_DISTANCE,
        "leakage_mean_distance": rates["mean_distance"],
        "n_leakage_faces": int(len(probes)),
    }


# --------------------------------------------------------------------------- #
# The synthetic set's learned recognizer
# --------------------------------------------------------------------------- #
def _recognizer(dim: int):
    import torch.nn as nn

    # Strided convolutions keep the spatial layout (where the eyes are matters
    # for identity) before one linear map to the identity vector.
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(64 * (RECOGNIZER_CROP // 8) ** 2, dim),
    )


def _as_input(crops: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float() / 255.0


@dataclass
class IdentityRecognizer:
    """A CNN from a face crop to a standardised identity vector (see the module docstring)."""

    model: object
    mean: np.ndarray  # per-component mean of the training identities' vectors
    std: np.ndarray  # and standard deviation (1 where constant)
    trained_on: str = ""  # what it learned from (recorded in every result)

    def standardize(self, vectors: np.ndarray) -> np.ndarray:
        return (np.asarray(vectors, dtype=np.float64) - self.mean) / self.std

    def describe(self, crops: np.ndarray) -> np.ndarray:
        """(n, D) standardised identity estimates of (n, 32, 32, 3) uint8 crops."""
        import torch

        if len(crops) == 0:
            return np.zeros((0, len(self.mean)))
        with torch.no_grad():
            return self.model(_as_input(crops)).double().numpy()


def train_identity_recognizer(crops: np.ndarray, vectors: np.ndarray, seed: int = 0,
                              steps: int = RECOGNIZER_STEPS) -> IdentityRecognizer:
    """Fit the recognizer: (n, 32, 32, 3) uint8 crops -> their (n, D) raw identity vectors."""
    import torch

    vectors = np.asarray(vectors, dtype=np.float64)
    unique = np.unique(vectors, axis=0)  # each identity once, however many photos it has
    mean, std = unique.mean(axis=0), unique.std(axis=0)
    std[std == 0] = 1.0  # a constant parameter tells identities apart by nothing
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _recognizer(vectors.shape[1])
        x = _as_input(crops)
        y = torch.from_numpy(((vectors - mean) / std).astype(np.float32))
        opt = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-4)
        gen = torch.Generator().manual_seed(seed)
        batch = min(64, len(x))
        for _ in range(steps):
            idx = torch.randint(len(x), (batch,), generator=gen)
            loss = torch.nn.functional.mse_loss(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return IdentityRecognizer(model, mean, std)


@dataclass
class IdentityFaces:
    """Recognizer-sized crops of faces with their identities."""

    crops: np.ndarray  # (n, 32, 32, 3) uint8
    identity: np.ndarray  # (n,) identity id
    vectors: dict[int, np.ndarray]  # identity id -> raw vector
    anonymized: np.ndarray | None = None  # (n, 32, 32, 3): the same faces anonymized

    def vector_rows(self) -> np.ndarray:
        return np.stack([self.vectors[int(i)] for i in self.identity]) if len(self.identity) else \
            np.zeros((0, 0))


def _require_vectors(split: Split) -> None:
    if split.identities is None or split.identity_vectors is None:
        raise InputError(split.root / "identities.json",
                         "no identities with vectors: the synthetic recognizer needs them",
                         hint="use a split made by `safefakes synth`, or --leakage dlib")


def load_identity_faces(root: str | Path, min_size: int = 8) -> IdentityFaces:
    """Every face of a split with identity vectors (e.g. the synthetic crops set), cropped."""
    split = Split.load(root)
    _require_vectors(split)
    crops, ids = [], []
    for im in split.images:
        keep = (im.boxes[:, 2] >= min_size) & (im.boxes[:, 3] >= min_size)
        if not keep.any():
            continue
        image = read_image(split.image_path(im.name))
        h, w = image.shape[:2]
        for i in np.flatnonzero(keep):
            box = clip_box(im.boxes[i], w, h)
            if box is not None:
                crops.append(crop_faces(image, np.array([box]), RECOGNIZER_CROP)[0])
                ids.append(int(split.identities[im.name][i]))
    return IdentityFaces(np.array(crops, dtype=np.uint8).reshape(-1, RECOGNIZER_CROP, RECOGNIZER_CROP, 3),
                         np.array(ids, dtype=np.int64), split.identity_vectors)


def collect_synthetic_faces(original_root: str | Path, anonymized_root: str | Path,
                            min_size: int = DEFAULT_MIN_SIZE, max_faces: int | None = None,
                            seed: int = 0) -> IdentityFaces:
    """The paired faces of an anonymized split, original and anonymized crops, with identities."""
    split = Split.load(original_root)
    _require_vectors(split)
    orig, anon, ids = [], [], []
    for pair in iter_image_pairs(original_root, anonymized_root, min_size, None, max_faces, seed):
        orig.append(crop_faces(pair.original, pair.boxes, RECOGNIZER_CROP))
        anon.append(crop_faces(pair.anonymized, pair.boxes, RECOGNIZER_CROP))
        ids.append(split.identities[pair.name][pair.face_indices])
    empty = np.zeros((0, RECOGNIZER_CROP, RECOGNIZER_CROP, 3), np.uint8)
    return IdentityFaces(np.concatenate(orig) if orig else empty,
                         np.concatenate(ids) if ids else np.zeros(0, np.int64),
                         split.identity_vectors,
                         np.concatenate(anon) if anon else empty)


def _no_result(result: dict, reason: str) -> dict:
    log.warning("identity leakage not measured: %s", reason)
    return {**result, "reid_rate": None, "top1_rate": None, **dict.fromkeys(CHANCE_KEYS), "leakage_threshold": None,
            "original_reid_rate": None, "original_top1_rate": None, "leakage_mean_distance": None,
            **dict.fromkeys(TRAIT_KEYS)}


def _match_distance(estimates: np.ndarray, gallery: np.ndarray, own: np.ndarray, scale: float) -> float:
    """The distance that lets ``SYNTHETIC_FALSE_MATCH_RATE`` of impostors through: each original's estimate
    against every identity but its own."""
    d = _euclidean(estimates, gallery) / scale
    impostor = d[np.arange(len(gallery))[None, :] != own[:, None]]
    return float(np.quantile(impostor, SYNTHETIC_FALSE_MATCH_RATE))


def trait_leakage(pred_orig: np.ndarray, pred_anon: np.ndarray, gallery: np.ndarray, own: np.ndarray) -> dict:
    """``reid_<group>_rate``, ``_chance``, ``_excess_low``, ``_excess_high`` for each of ``TRAIT_GROUPS``.

    Standardised estimates and gallery vectors (n, VECTOR_SIZE) and (m, VECTOR_SIZE); each group is
    re-identified on its own entries, with a match distance calibrated on the originals as the whole
    vector's is. None everywhere for vectors of another layout.
    """
    if gallery.shape[1] != VECTOR_SIZE:
        return dict.fromkeys(TRAIT_KEYS)
    out = {}
    for group, traits in TRAIT_GROUPS.items():
        cols = trait_columns(traits)
        scale = np.sqrt(len(cols))
        threshold = _match_distance(pred_orig[:, cols], gallery[:, cols], own, scale)
        rates = identification_rates(pred_anon[:, cols], gallery[:, cols], own, threshold, scale)
        out.update({f"reid_{group}_rate": rates["reid_rate"], f"reid_{group}_chance": rates["reid_chance"],
                    f"reid_{group}_excess_low": rates["reid_excess_low"],
                    f"reid_{group}_excess_high": rates["reid_excess_high"]})
    return out


def synthetic_leakage_from_faces(faces: IdentityFaces, training: IdentityFaces | None = None,
                                 seed: int = 0, steps: int = RECOGNIZER_STEPS,
                                 recognizer: IdentityRecognizer | None = None) -> dict:
    """Learned-recognizer leakage (see the module docstring).

    training: the faces the recognizer learns from (the synthetic crops set,
    people disjoint from ``faces``); None: cross-fitted on the originals of
    ``faces`` themselves, two folds of faces. recognizer: one already trained
    (``train_identity_recognizer``), to measure several anonymized splits of
    one dataset without retraining; training is then unused.
    """
    n = len(faces.identity)
    trained_apart = recognizer is not None or training is not None
    result = {"leakage_source": SYNTHETIC, "n_leakage_faces": int(n),
              "leakage_recognizer": "crops set" if trained_apart else "cross-fitted on the originals"}
    used = np.unique(faces.identity)
    if n < 2 or len(used) < 2:
        return _no_result(result, f"{n} faces of {len(used)} identities")
    if recognizer is None and training is not None and len(training.identity) < MIN_FACES_TO_TRAIN:
        return _no_result(result, f"{len(training.identity)} training faces (need {MIN_FACES_TO_TRAIN})")
    if not trained_apart and n < MIN_FACES_TO_TRAIN:
        return _no_result(result, f"{n} faces to cross-fit on (need {MIN_FACES_TO_TRAIN})")

    dim = len(next(iter(faces.vectors.values())))
    pred_orig, pred_anon = np.zeros((n, dim)), np.zeros((n, dim))
    if trained_apart:
        if recognizer is None:
            recognizer = train_identity_recognizer(training.crops, training.vector_rows(), seed, steps)
        pred_orig, pred_anon = recognizer.describe(faces.crops), recognizer.describe(faces.anonymized)
        standardize = recognizer.standardize
    else:
        fold = np.random.default_rng(seed).permutation(n) % 2
        targets = faces.vector_rows()
        for f in (0, 1):
            recognizer = train_identity_recognizer(faces.crops[fold != f], targets[fold != f], seed + f, steps)
            pred_orig[fold == f] = recognizer.describe(faces.crops[fold == f])
            pred_anon[fold == f] = recognizer.describe(faces.anonymized[fold == f])
        # Both folds standardise alike: over the identities of all faces.
        unique = np.unique(targets, axis=0)
        std = unique.std(axis=0)
        std[std == 0] = 1.0
        standardize = lambda v: (np.asarray(v, dtype=np.float64) - unique.mean(axis=0)) / std  # noqa: E731

    gallery = standardize(np.stack([faces.vectors[int(i)] for i in used]))
    own = np.searchsorted(used, faces.identity)
    scale = np.sqrt(dim)
    threshold = _match_distance(pred_orig, gallery, own, scale)
    anon_rates = identification_rates(pred_anon, gallery, own, threshold, scale)
    orig_rates = identification_rates(pred_orig, gallery, own, threshold, scale)
    return {
        **result,
        "reid_rate": anon_rates["reid_rate"],
        "top1_rate": anon_rates["top1_rate"],
        **{k: anon_rates[k] for k in CHANCE_KEYS},
        "leakage_threshold": threshold,
        "leakage_mean_distance": anon_rates["mean_distance"],
        "original_reid_rate": orig_rates["reid_rate"],
        "original_top1_rate": orig_rates["top1_rate"],
        "n_identities": int(len(used)),
        **trait_leakage(pred_orig, pred_anon, gallery, own),
    }


def train_recognizer_on_split(root: str | Path, seed: int = 0,
                              steps: int = RECOGNIZER_STEPS) -> IdentityRecognizer:
    """The recognizer learned from a split with identity vectors (the synthetic crops set).

    Train it once and pass it to ``compute_leakage`` for every anonymized split
    of a study: it depends only on the crops set, not on the anonymizer.
    """
    training = load_identity_faces(root)
    if len(training.identity) < MIN_FACES_TO_TRAIN:
        raise InputError(Path(root) / "annotations.txt",
                         f"{len(training.identity)} faces to learn identities from (need {MIN_FACES_TO_TRAIN})",
                         hint="use a larger crops set (`safefakes synth --crops N`)")
    recognizer = train_identity_recognizer(training.crops, training.vector_rows(), seed, steps)
    recognizer.trained_on = str(root)
    return recognizer


def save_recognizer(recognizer: IdentityRecognizer, path: str | Path) -> None:
    """Write a trained recognizer atomically (``load_recognizer`` reads it back)."""
    import torch

    state = {"format": RECOGNIZER_FORMAT, "dim": len(recognizer.mean), "crop": RECOGNIZER_CROP,
             "model": recognizer.model.state_dict(), "mean": recognizer.mean.tolist(),
             "std": recognizer.std.tolist(), "trained_on": recognizer.trained_on}
    with atomic_path(path) as tmp:
        # Through a file object: torch.save(obj, path) records the (temporary) file
        # name inside the archive, which would make every save's bytes differ.
        with open(tmp, "wb") as fh:
            torch.save(state, fh)


def load_recognizer(path: str | Path) -> IdentityRecognizer:
    """A recognizer written by ``save_recognizer``; a clear error for anything else."""
    import torch

    path = Path(path)
    hint = "train it again: `safefakes train-recognizer CROPS_SPLIT FILE`"
    if not path.is_file():
        raise InputError(path, "no such recognizer file", hint=hint)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise InputError(path, f"cannot read the recognizer: {exc}", hint=hint) from exc
    if not isinstance(state, dict) or state.get("format") != RECOGNIZER_FORMAT:
        raise InputError(path, f"not a {RECOGNIZER_FORMAT} file", hint=hint)
    if state["crop"] != RECOGNIZER_CROP:
        raise InputError(path, f"made for {state['crop']} px crops, this version uses {RECOGNIZER_CROP}",
                         hint=hint)
    model = _recognizer(int(state["dim"]))
    model.load_state_dict(state["model"])
    model.eval()
    return IdentityRecognizer(model, np.array(state["mean"], dtype=np.float64),
                              np.array(state["std"], dtype=np.float64), str(state["trained_on"]))


def find_recognizer_crops(original_root: str | Path) -> Path | None:
    """The synthetic generator's ``crops`` split next to ``original_root``, if it has vectors."""
    candidate = Path(original_root).resolve().parent / "crops"
    if (candidate / "annotations.txt").exists() and (candidate / "identities.json").exists():
        return candidate
    return None


def synthetic_leakage(original_root: str | Path, anonymized_root: str | Path,
                      min_size: int = DEFAULT_MIN_SIZE, seed: int = 0,
                      recognizer_crops: str | Path | None = None, steps: int = RECOGNIZER_STEPS,
                      max_faces: int | None = None,
                      recognizer: IdentityRecognizer | str | Path | None = None) -> dict:
    """recognizer: a trained one (or its file, see ``save_recognizer``); else it is trained
    here on recognizer_crops (default: a sibling ``crops`` folder when there is one, else
    cross-fitting on the originals)."""
    faces = collect_synthetic_faces(original_root, anonymized_root, min_size, max_faces, seed)
    if recognizer is not None:
        if not isinstance(recognizer, IdentityRecognizer):
            recognizer = load_recognizer(recognizer)
        result = synthetic_leakage_from_faces(faces, seed=seed, recognizer=recognizer)
        result["leakage_recognizer"] = recognizer.trained_on
        return result
    crops_root = recognizer_crops or find_recognizer_crops(original_root)
    training = load_identity_faces(crops_root) if crops_root else None
    result = synthetic_leakage_from_faces(faces, training, seed, steps)
    if crops_root:
        result["leakage_recognizer"] = str(crops_root)
    return result


def compute_leakage(original_root: str | Path, anonymized_root: str | Path,
                    min_size: int = DEFAULT_MIN_SIZE, source: str = "auto", seed: int = 0,
                    recognizer_crops: str | Path | None = None,
                    recognizer_steps: int = RECOGNIZER_STEPS, max_faces: int | None = None,
                    recognizer: IdentityRecognizer | str | Path | None = None) -> dict:
    """Identity leakage of an anonymized split: dlib, or the synthetic recognizer where the
    original split carries identity vectors (``source="auto"``). max_faces: a seeded sample
    of at most that many faces, the same one compute_image_metrics draws with the same seed.
    recognizer: a trained synthetic recognizer or its file (see ``synthetic_leakage``)."""
    if source == "auto":
        split = Split.load(original_root)
        has_vectors = split.identities is not None and split.identity_vectors is not None
        source = SYNTHETIC if has_vectors else DLIB
    if source == SYNTHETIC:
        return synthetic_leakage(original_root, anonymized_root, min_size, seed, recognizer_crops,
                                 recognizer_steps, max_faces, recognizer)
    if source == DLIB:
        return dlib_leakage(original_root, anonymized_root, min_size, max_faces, seed)
    raise ValueError(f"unknown leakage source {source!r}; choose auto, {DLIB} or {SYNTHETIC}")
