"""Identities of the synthetic faces: a parameter vector per person.

An identity fixes what stays the same across every picture of one person:
skin tone, face shape, eye spacing and size, brows, nose, mouth, hair style
and colour. Pose, expression, lighting, blur and occlusion vary per picture
(see ``face.py``).

Every continuous parameter is stored *normalized* to [0, 1] over its range in
``RANGES``; the renderer maps it back to geometry. The hair style is a
category. ``identity_vector`` is therefore simply the normalized parameters
followed by a one-hot hair style, and ``identity_distance`` is their Euclidean
distance divided by the largest possible one: 0 means the same person, 1 the
most different pair the generator can draw. The metrics use it as the
synthetic set's stand-in for a face-recognition descriptor distance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# name -> (low, high) of the geometric or colour value that 0 and 1 map to.
# Face units: the face box spans y in [-1, 1] (forehead to chin); widths are
# fractions of the face half-width unless said otherwise.
RANGES: dict[str, tuple[float, float]] = {
    "skin_tone": (0.0, 1.0),       # dark .. light, along SKIN_PALETTE
    "skin_warmth": (-1.0, 1.0),    # olive/yellow .. pink/red
    "aspect": (0.68, 0.86),        # face half-width / half-height
    "jaw_square": (1.8, 3.4),      # superellipse exponent of the jaw: round .. square
    "eye_spacing": (0.38, 0.50),   # eye centre x, fraction of the half-width
    "eye_size": (0.19, 0.27),      # eye half-width, fraction of the half-width
    "eye_height": (-0.30, -0.18),  # eye centre y
    "brow_thickness": (0.045, 0.10),
    "brow_arch": (0.0, 0.10),
    "brow_gap": (0.13, 0.22),      # brow height above the eyes
    "nose_length": (0.12, 0.28),   # nose tip y
    "nose_width": (0.16, 0.26),    # nostril half-width, fraction of the half-width
    "mouth_width": (0.30, 0.44),   # mouth half-width, fraction of the half-width
    "mouth_height": (0.48, 0.58),  # mouth centre y
    "lip_thickness": (0.04, 0.08),
    "hair_colour": (0.0, 1.0),     # along HAIR_PALETTE
    "hair_volume": (1.0, 1.18),
    "iris_colour": (0.0, 1.0),     # along IRIS_PALETTE
}
CONTINUOUS = tuple(RANGES)
#: The traits a face box's surroundings show as well: skin (neck, ears) and hair. An anonymizer that paints
#: the box to fit its surroundings keeps them by design; the rest (``FACE_TRAITS``) it is meant to replace.
CONTEXT_TRAITS = ("skin_tone", "skin_warmth", "hair_colour", "hair_volume", "hair_style")
FACE_TRAITS = tuple(name for name in CONTINUOUS if name not in CONTEXT_TRAITS)
HAIR_STYLES = ("short", "long", "bald", "bangs", "curly")
# Bald is rarer than the rest, as in a crowd.
_HAIR_STYLE_P = np.array([0.3, 0.25, 0.08, 0.2, 0.17])

SKIN_PALETTE = np.array([
    (62, 40, 28), (105, 68, 46), (150, 102, 72), (192, 143, 110), (222, 180, 150), (240, 208, 188),
], dtype=np.float64)
HAIR_PALETTE = np.array([
    (22, 18, 16), (48, 32, 22), (90, 60, 36), (130, 70, 35), (196, 160, 98), (170, 168, 165),
], dtype=np.float64)
IRIS_PALETTE = np.array([(45, 28, 18), (90, 60, 35), (70, 100, 60), (70, 110, 150)], dtype=np.float64)

VECTOR_SIZE = len(CONTINUOUS) + len(HAIR_STYLES)
# The largest distance between two vectors: every continuous entry at opposite
# ends, and two different hair styles (one-hot vectors sqrt(2) apart).
_MAX_DISTANCE = float(np.sqrt(len(CONTINUOUS) + 2.0))


def _palette(palette: np.ndarray, t: float) -> np.ndarray:
    pos = float(np.clip(t, 0.0, 1.0)) * (len(palette) - 1)
    i = min(int(pos), len(palette) - 2)
    f = pos - i
    return palette[i] * (1 - f) + palette[i + 1] * f


@dataclass(frozen=True)
class Identity:
    """One synthetic person. ``u`` holds the normalized parameters (see RANGES)."""

    u: dict[str, float] = field(hash=False)
    hair_style: int

    def value(self, name: str) -> float:
        """The parameter in its own units (the renderer's view)."""
        lo, hi = RANGES[name]
        return lo + (hi - lo) * self.u[name]

    @property
    def skin_rgb(self) -> np.ndarray:
        base = _palette(SKIN_PALETTE, self.u["skin_tone"])
        warmth = self.value("skin_warmth")
        tint = np.array([12.0, -4.0, -2.0]) * warmth + np.array([0.0, 6.0, -8.0]) * (1 - abs(warmth))
        return np.clip(base + tint, 0, 255)

    @property
    def hair_rgb(self) -> np.ndarray:
        return _palette(HAIR_PALETTE, self.u["hair_colour"])

    @property
    def iris_rgb(self) -> np.ndarray:
        return _palette(IRIS_PALETTE, self.u["iris_colour"])

    @property
    def hair_style_name(self) -> str:
        return HAIR_STYLES[self.hair_style]


def sample_identity(rng: np.random.Generator) -> Identity:
    """Draw one person. Parameters are independent and uniform on their range."""
    u = {name: float(rng.random()) for name in CONTINUOUS}
    style = int(rng.choice(len(HAIR_STYLES), p=_HAIR_STYLE_P))
    return Identity(u, style)


def identity_vector(params: Identity) -> np.ndarray:
    """The normalized identity vector, length ``VECTOR_SIZE``.

    Entries 0..17 are the continuous parameters in ``CONTINUOUS`` order, each
    in [0, 1]; the last five are a one-hot of the hair style (``HAIR_STYLES``).
    """
    vec = np.zeros(VECTOR_SIZE, dtype=np.float64)
    vec[: len(CONTINUOUS)] = [params.u[n] for n in CONTINUOUS]
    vec[len(CONTINUOUS) + params.hair_style] = 1.0
    return vec


def trait_columns(traits: tuple[str, ...]) -> np.ndarray:
    """The entries of ``identity_vector`` that hold ``traits`` (names of ``CONTINUOUS`` or "hair_style")."""
    columns = []
    for name in traits:
        if name == "hair_style":
            columns.extend(range(len(CONTINUOUS), VECTOR_SIZE))
        else:
            columns.append(CONTINUOUS.index(name))
    return np.array(sorted(columns), dtype=np.int64)


def identity_distance(a: np.ndarray | Identity, b: np.ndarray | Identity) -> float:
    """How different two identities look, in [0, 1] (0: the same person).

    The Euclidean distance of the two ``identity_vector``s divided by the
    largest distance two vectors can have, sqrt(18 + 2).
    """
    va = identity_vector(a) if isinstance(a, Identity) else np.asarray(a, dtype=np.float64)
    vb = identity_vector(b) if isinstance(b, Identity) else np.asarray(b, dtype=np.float64)
    if va.shape != (VECTOR_SIZE,) or vb.shape != (VECTOR_SIZE,):
        raise ValueError(f"identity vectors must have shape ({VECTOR_SIZE},), got {va.shape} and {vb.shape}")
    return float(np.linalg.norm(va - vb) / _MAX_DISTANCE)
