"""Scenes of the synthetic set: cluttered backgrounds, distractors, faces, crops.

A scene is a background (gradient, low-frequency colour noise, rectangles,
circles, lines, stripes), face-sized *distractors* that are not faces
(skin-coloured ellipses and blobs without eyes or mouth, backs of heads, dark
rectangles), and 1-8 faces whose heights are log-uniform like WIDER FACE's.
Faces are placed so that heads do not overlap and no head sits on a nearer
(larger) person's body; bodies may overlap. Occluders cover parts of some
faces. Everything random comes from the one generator passed
in, so a scene depends only on its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from safefakes.data.synthetic.face import (
    LEFT_SHOULDER,
    N_KEYPOINTS,
    RIGHT_SHOULDER,
    Placement,
    Pose,
    _composite,
    _Layer,
    draw_head,
    draw_torso,
    face_box,
    head_extent,
)
from safefakes.data.synthetic.identity import HAIR_PALETTE, SKIN_PALETTE, Identity

# Event folders, as in WIDER FACE ("0--Parade"); each has its own palette.
EVENTS = ("0--Street", "1--Meeting", "2--Party", "3--Sports", "4--Market", "5--Concert")
_EVENT_COLOURS = (
    [(120, 120, 125), (80, 85, 95), (160, 155, 150), (60, 60, 70)],
    [(200, 190, 170), (140, 110, 80), (90, 110, 140), (230, 230, 225)],
    [(70, 30, 60), (140, 40, 50), (40, 30, 80), (200, 120, 40)],
    [(60, 130, 60), (40, 90, 150), (200, 200, 190), (180, 60, 40)],
    [(200, 80, 40), (60, 140, 180), (220, 190, 60), (120, 60, 140)],
    [(20, 20, 35), (60, 20, 90), (10, 60, 90), (230, 200, 120)],
)
MIN_FACE = 6.0  # smallest face height in pixels
MAX_FACES = 8
# WIDER's occlusion label: 1 partial (up to 30 % of the box), 2 heavy.
_HEAVY_OCCLUSION = 0.30
_EXTREME = np.radians(45)


@dataclass
class FaceRecord:
    """One rendered face: what annotations.txt, keypoints.json and identities.json hold."""

    box: np.ndarray         # (4,) int64 x, y, w, h
    attributes: np.ndarray  # (6,) int64 blur expression illumination invalid occlusion pose
    keypoints: np.ndarray   # (72, 3) x, y, visible
    identity: int


# --------------------------------------------------------------------------- #
# Background and distractors
# --------------------------------------------------------------------------- #
def _colour(rng: np.random.Generator, palette: list, jitter: float = 35.0) -> np.ndarray:
    base = np.asarray(palette[rng.integers(len(palette))], dtype=np.float64)
    return np.clip(base + rng.normal(0, jitter, 3), 0, 255)


def background(rng: np.random.Generator, width: int, height: int, event: int = 0,
               clutter: float = 1.0) -> np.ndarray:
    """A cluttered RGB uint8 background in the event's palette."""
    pal = _EVENT_COLOURS[event % len(_EVENT_COLOURS)]
    c1, c2 = _colour(rng, pal), _colour(rng, pal)
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    t = (xx * np.cos(ang) + yy * np.sin(ang)) / max(width, height)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = c1[None, None] * (1 - t[..., None]) + c2[None, None] * t[..., None]
    gy, gx = rng.integers(3, 8, size=2)
    noise = cv2.resize(rng.normal(0, 22, (gy, gx, 3)).astype(np.float32), (width, height),
                       interpolation=cv2.INTER_CUBIC)
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    n_shapes = int(rng.integers(4, 13) * clutter)
    for _ in range(n_shapes):
        _shape(img, rng, pal)
    return img


def _shape(img: np.ndarray, rng: np.random.Generator, pal: list) -> None:
    H, W = img.shape[:2]
    col = tuple(int(v) for v in _colour(rng, pal, 50))
    kind = rng.choice(["rect", "rect", "circle", "line", "poly", "stripes"])
    cx, cy = rng.uniform(-0.1, 1.1) * W, rng.uniform(-0.1, 1.1) * H
    size = np.exp(rng.uniform(np.log(4), np.log(0.6 * max(W, H))))
    overlay = img.copy()
    if kind == "rect":
        w, h = size * rng.uniform(0.3, 1.5), size * rng.uniform(0.3, 1.5)
        cv2.rectangle(overlay, (int(cx - w / 2), int(cy - h / 2)), (int(cx + w / 2), int(cy + h / 2)), col, -1)
    elif kind == "circle":
        cv2.circle(overlay, (int(cx * 16), int(cy * 16)), int(size / 2 * 16), col, -1, cv2.LINE_AA, 4)
    elif kind == "line":
        ang = rng.uniform(0, np.pi)
        d = np.array([np.cos(ang), np.sin(ang)]) * size
        p1 = np.round((np.array([cx, cy]) - d) * 16).astype(int)
        p2 = np.round((np.array([cx, cy]) + d) * 16).astype(int)
        cv2.line(overlay, tuple(p1), tuple(p2), col, int(rng.integers(1, 4)), cv2.LINE_AA, 4)
    elif kind == "poly":
        k = int(rng.integers(3, 7))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        r = size / 2 * rng.uniform(0.5, 1.0, k)
        pts = np.stack([cx + r * np.cos(ang), cy + r * np.sin(ang)], 1)
        cv2.fillPoly(overlay, [np.round(pts * 16).astype(np.int32)], col, cv2.LINE_AA, 4)
    else:
        w, h = size * rng.uniform(0.5, 1.5), size * rng.uniform(0.5, 1.5)
        step = rng.uniform(2, 6)
        col2 = tuple(int(v) for v in _colour(rng, pal, 50))
        x0, y0 = int(cx - w / 2), int(cy - h / 2)
        cv2.rectangle(overlay, (x0, y0), (int(x0 + w), int(y0 + h)), col, -1)
        for k in range(int(h / step)):
            y = int(y0 + k * step)
            cv2.line(overlay, (x0, y), (int(x0 + w), y), col2, 1, cv2.LINE_AA)
    alpha = rng.uniform(0.5, 1.0)
    cv2.addWeighted(overlay, alpha, img, 1 - alpha, 0, dst=img)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(max(hi, lo * 1.01)))))


def draw_distractor(img: np.ndarray, rng: np.random.Generator, height: float) -> None:
    """A face-sized thing that is not a face: it has the colours and outline, never the eyes and mouth."""
    H, W = img.shape[:2]
    s = height / 2
    cx, cy = rng.uniform(0, W), rng.uniform(0, H)
    kind = rng.choice(["skin", "back_of_head", "skin_body", "blob", "dark_box", "dark_box"])
    skin = SKIN_PALETTE[rng.integers(len(SKIN_PALETTE))] + rng.normal(0, 10, 3)
    hair = HAIR_PALETTE[rng.integers(len(HAIR_PALETTE))] + rng.normal(0, 8, 3)
    a = rng.uniform(0.65, 0.9)
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    x0, y0 = cx - 3.2 * a * s, cy - 1.8 * s
    reg_w, reg_h = 6.4 * a * s, 5.0 * s
    ix0, iy0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
    ix1, iy1 = min(int(np.ceil(x0 + reg_w)), W), min(int(np.ceil(y0 + reg_h)), H)
    if ix1 <= ix0 or iy1 <= iy0:
        return
    layer = _Layer(ix0, iy0, ix1 - ix0, iy1 - iy0, 3)

    def at(p: np.ndarray) -> np.ndarray:
        return p * s + (cx, cy)

    if kind in ("skin_body", "back_of_head"):
        body = np.array([[-0.5, 1.2], [-1.6, 1.5], [-2.5, 1.8], [-2.9, 2.4], [-3.0, 3.2],
                         [3.0, 3.2], [2.9, 2.4], [2.5, 1.8], [1.6, 1.5], [0.5, 1.2]]) * (a, 1)
        layer.fill(at(np.array([[-0.4 * a, 0.4], [0.4 * a, 0.4], [0.45 * a, 1.4], [-0.45 * a, 1.4]])), skin * 0.8)
        layer.fill(at(body), rng.uniform(20, 230, 3))
    if kind == "back_of_head":
        for side in (-1, 1):
            layer.fill(at(np.stack([side * 1.02 * a + 0.1 * a * np.cos(t), -0.1 + 0.2 * np.sin(t)], 1)), skin)
        layer.fill(at(np.stack([1.05 * a * np.cos(t), -0.3 + 1.1 * np.sin(t)], 1)), hair)
    elif kind in ("skin", "skin_body"):
        if rng.random() < 0.5:
            layer.fill(at(np.stack([1.07 * a * np.cos(t), -0.55 + 0.98 * np.sin(t)], 1)), hair)
        layer.fill(at(np.stack([a * np.cos(t), np.sin(t)], 1)), skin)
    elif kind == "blob":
        r = 1 + sum(rng.uniform(-0.15, 0.15) * np.sin(k * t + rng.uniform(0, 6.28)) for k in (2, 3, 5))
        layer.fill(at(np.stack([a * r * np.cos(t), r * np.sin(t)], 1)), skin)
    else:
        w, h = a * rng.uniform(0.8, 1.3), rng.uniform(0.8, 1.2)
        dark = rng.uniform(0, 35) * np.ones(3)
        layer.fill(at(np.array([[-w, -h], [w, -h], [w, h], [-w, h]])), dark)
    rgb, alpha = layer.downsampled()
    # The same rounded shading, lighting and blur as the faces get, so that
    # none of them tells a face from a distractor.
    soft = cv2.GaussianBlur(alpha, (0, 0), max(0.4, 0.22 * a * s))
    shade = 1.0 - 0.28 * alpha * (1 - np.clip(soft, 0, 1))
    rgb = rgb * (shade * rng.uniform(0.6, 1.2))[..., None]
    if rng.random() < 0.4:
        sig = rng.uniform(0.012, 0.06) * height
        if sig >= 0.2:
            rgb = cv2.GaussianBlur(rgb, (0, 0), sig)
            alpha = cv2.GaussianBlur(alpha, (0, 0), sig)
    rgb = np.minimum(rgb, alpha[..., None] * 255.0)
    _composite(img, layer.x0, layer.y0, rgb, alpha)


# --------------------------------------------------------------------------- #
# Per-face variation and its WIDER labels
# --------------------------------------------------------------------------- #
def sample_pose(rng: np.random.Generator, crop: bool = False) -> tuple[Pose, dict[str, int]]:
    """A random pose/expression/lighting/blur and the WIDER labels it earns."""
    # Beyond ~55 degrees this head model loses the far eye; WIDER's profiles are rare too.
    yaw = float(np.clip(rng.normal(0, 0.38), -np.radians(55), np.radians(55)))
    if crop:
        yaw = float(np.clip(yaw, -np.radians(50), np.radians(50)))
    roll = float(np.clip(rng.normal(0, 0.13), -0.45, 0.45))
    if not crop and rng.random() < 0.06:
        roll = float(rng.choice([-1, 1]) * rng.uniform(0.55, 0.8))
    expressive = rng.random() < 0.25
    if expressive:
        smile, mouth = (rng.uniform(0.6, 1.0), rng.uniform(0.0, 0.4)) if rng.random() < 0.5 \
            else (rng.uniform(0.0, 0.6), rng.uniform(0.55, 1.0))
    else:
        smile = rng.uniform(0, 0.5)
        mouth = 0.0 if rng.random() < 0.75 else rng.uniform(0.0, 0.35)
    eye_open = 0.35 if rng.random() < 0.05 else rng.uniform(0.6, 1.0)
    gaze = (float(rng.uniform(-0.6, 0.6)), float(rng.uniform(-0.4, 0.4)))
    extreme_light = rng.random() < (0.12 if crop else 0.2)
    if extreme_light:
        mode = rng.integers(3)
        gain = rng.uniform(0.35, 0.55) if mode == 0 else rng.uniform(1.35, 1.6) if mode == 1 else rng.uniform(0.8, 1.1)
        strength = rng.uniform(0.55, 0.8) if mode == 2 else rng.uniform(0, 0.3)
    else:
        gain, strength = rng.uniform(0.8, 1.15), rng.uniform(0, 0.35)
    blur_label = 0 if crop else int(rng.choice(3, p=[0.55, 0.3, 0.15]))
    # sigma as a fraction of the face height: "heavy" still leaves a face shape.
    blur = (0.0, rng.uniform(0.012, 0.028), rng.uniform(0.035, 0.06))[blur_label]
    clothing = tuple(int(v) for v in rng.uniform(15, 235, 3))
    pose = Pose(yaw, roll, float(smile), float(mouth), float(eye_open), gaze, float(gain),
                float(rng.uniform(0, 2 * np.pi)), float(strength), float(blur), clothing)
    labels = {
        "blur": blur_label,
        "expression": int(expressive),
        "illumination": int(extreme_light),
        "pose": int(abs(yaw) > _EXTREME or abs(roll) > np.radians(30)),
    }
    return pose, labels


def _occlude(img: np.ndarray, rng: np.random.Generator, box: np.ndarray) -> np.ndarray:
    """Draw an occluder over part of ``box``; return its coverage mask (H, W) in [0, 1]."""
    H, W = img.shape[:2]
    x, y, w, h = box
    kind = rng.choice(["side", "bottom", "hand", "band"])
    t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    if kind == "side":
        f = rng.uniform(0.15, 0.7)
        left = rng.random() < 0.5
        xa, xb = (x - 0.3 * w, x + f * w) if left else (x + (1 - f) * w, x + 1.3 * w)
        poly = np.array([[xa, y - 0.3 * h], [xb, y - 0.3 * h], [xb, y + 1.4 * h], [xa, y + 1.4 * h]])
        colour = rng.uniform(0, 255, 3)
    elif kind == "bottom":
        f = rng.uniform(0.2, 0.6)
        poly = np.array([[x - 0.3 * w, y + (1 - f) * h], [x + 1.3 * w, y + (1 - f) * h + rng.normal(0, 0.1 * h)],
                         [x + 1.3 * w, y + 1.3 * h], [x - 0.3 * w, y + 1.3 * h]])
        colour = rng.uniform(0, 255, 3)
    elif kind == "hand":
        c = np.array([x + rng.uniform(0.1, 0.9) * w, y + rng.uniform(0.4, 1.0) * h])
        r = np.array([rng.uniform(0.2, 0.4) * w, rng.uniform(0.2, 0.35) * h])
        poly = c + np.stack([r[0] * np.cos(t), r[1] * np.sin(t)], 1)
        colour = SKIN_PALETTE[rng.integers(len(SKIN_PALETTE))] * 0.95
    else:
        # Sunglasses / a mask band: a dark strip across the eyes.
        yc = y + rng.uniform(0.25, 0.4) * h
        bh = rng.uniform(0.12, 0.22) * h
        poly = np.array([[x - 0.05 * w, yc - bh / 2], [x + 1.05 * w, yc - bh / 2],
                         [x + 1.05 * w, yc + bh / 2], [x - 0.05 * w, yc + bh / 2]])
        colour = rng.uniform(0, 40, 3)
    reg_lo = np.maximum(np.floor(poly.min(0)).astype(int), 0)
    reg_hi = np.minimum(np.ceil(poly.max(0)).astype(int), (W, H))
    mask = np.zeros((H, W), dtype=np.float32)
    if np.any(reg_hi <= reg_lo):
        return mask
    layer = _Layer(int(reg_lo[0]), int(reg_lo[1]), int(reg_hi[0] - reg_lo[0]), int(reg_hi[1] - reg_lo[1]), 4)
    layer.fill(poly, colour)
    rgb, alpha = layer.downsampled()
    _composite(img, layer.x0, layer.y0, rgb, alpha)
    mask[layer.y0:layer.y0 + layer.h, layer.x0:layer.x0 + layer.w] = alpha
    return mask


def _int_box(box: np.ndarray, W: int, H: int) -> np.ndarray:
    x0, y0 = np.clip(np.round(box[:2]), 0, (W, H))
    x1, y1 = np.clip(np.round(box[:2] + box[2:]), 0, (W, H))
    return np.array([x0, y0, max(x1 - x0, 1), max(y1 - y0, 1)], dtype=np.int64)


def _body_rect(identity: Identity, place: Placement) -> tuple[float, float, float, float]:
    """Pixel rectangle of the shoulders and chest (see ``face.torso_points``)."""
    a = identity.value("aspect")
    s = place.scale
    return (place.cx - 2.9 * a * s, place.cy + 1.45 * s, place.cx + 2.9 * a * s, place.cy + 7.5 * s)


def _overlaps(r: tuple, others: list[tuple]) -> bool:
    return any(r[0] < o[2] and o[0] < r[2] and r[1] < o[3] and o[1] < r[3] for o in others)


def _finish(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Sensor noise, so that flat synthetic colours do not give faces away.
    noise = rng.normal(0, 2.0, img.shape).astype(np.float32)
    return np.clip(img.astype(np.float32) + noise, 0, 255).round().astype(np.uint8)


# --------------------------------------------------------------------------- #
# A detection scene and a training crop
# --------------------------------------------------------------------------- #
def render_scene(
    rng: np.random.Generator,
    size: tuple[int, int],
    identities: list[tuple[int, Identity]],
    event: int = 0,
) -> tuple[np.ndarray, list[FaceRecord]]:
    """One detection image (W, H) = ``size`` with 1-8 faces drawn from ``identities``.

    ``identities`` is the pool of (id, Identity) to choose the people from;
    faces within one image are different people.
    """
    W, H = size
    img = background(rng, W, H, event)
    max_face = max(H / 3.0, MIN_FACE * 1.5)
    for _ in range(int(rng.integers(2, 7))):
        draw_distractor(img, rng, _log_uniform(rng, MIN_FACE, max_face))

    n = int(rng.integers(1, MAX_FACES + 1))
    heights = sorted((_log_uniform(rng, MIN_FACE, max_face) for _ in range(n)), reverse=True)
    people = rng.choice(len(identities), size=min(n, len(identities)), replace=False)
    # Largest (nearest) first. A head may neither overlap another head nor
    # sit on the body of a nearer person, so bodies never hide faces.
    placed: list[tuple] = []  # (identity id, Identity, Pose, labels, Placement)
    heads: list[tuple] = []
    bodies: list[tuple] = []
    for height, k in zip(heights, people):
        ident_id, ident = identities[int(k)]
        pose, labels = sample_pose(rng)
        s = height / 2
        for _attempt in range(25):
            place = Placement(rng.uniform(0, W), rng.uniform(0, H), s)
            b = face_box(ident, pose, place)
            if b[0] < 0.5 or b[1] < 0.5 or b[0] + b[2] > W - 0.5 or b[1] + b[3] > H - 0.5:
                continue
            head = head_extent(ident, place)
            if _overlaps(head, heads) or _overlaps(head, bodies):
                continue
            heads.append(head)
            bodies.append(_body_rect(ident, place))
            placed.append((ident_id, ident, pose, labels, place))
            break
    if not placed:
        # Always one face: the smallest size fits anywhere on an empty scene.
        ident_id, ident = identities[int(people[0])]
        pose, labels = sample_pose(rng)
        place = Placement(W / 2, H / 2, MIN_FACE / 2)
        heads.append(head_extent(ident, place))
        bodies.append(_body_rect(ident, place))
        placed.append((ident_id, ident, pose, labels, place))

    # Far (small) people first, each body then head, so nearer people cover farther ones.
    drawn = {}
    for i in reversed(range(len(placed))):
        _, ident, pose, _, place = placed[i]
        shoulders = draw_torso(img, ident, pose, place)
        box_f, kp70 = draw_head(img, ident, pose, place)
        drawn[i] = (box_f, kp70, shoulders)
    # Occluders go on last; one may also reach a neighbour's face.
    occluded = np.zeros((H, W), dtype=np.float32)
    for i in range(len(placed)):
        if rng.random() < 0.22:
            np.maximum(occluded, _occlude(img, rng, drawn[i][0]), out=occluded)

    records: list[FaceRecord] = []
    for i, (ident_id, _ident, _pose, labels, _place) in enumerate(placed):
        box_f, kp70, shoulders = drawn[i]
        box = _int_box(box_f, W, H)
        kp = np.zeros((N_KEYPOINTS, 3))
        kp[:70] = kp70
        kp[LEFT_SHOULDER, :2], kp[RIGHT_SHOULDER, :2] = shoulders
        kp[[LEFT_SHOULDER, RIGHT_SHOULDER], 2] = 1.0
        # A shoulder under a nearer person (placed earlier, drawn later) is hidden.
        for j in (LEFT_SHOULDER, RIGHT_SHOULDER):
            px, py = kp[j, :2]
            if any(o[0] <= px <= o[2] and o[1] <= py <= o[3] for o in heads[:i] + bodies[:i]):
                kp[j, 2] = 0.0
        x, y, w, h = box
        cover = float(occluded[y:y + h, x:x + w].mean())
        occlusion = 0 if cover < 0.02 else 1 if cover <= _HEAVY_OCCLUSION else 2
        xi = np.clip(np.round(kp[:, 0]).astype(int), 0, W - 1)
        yi = np.clip(np.round(kp[:, 1]).astype(int), 0, H - 1)
        kp[occluded[yi, xi] > 0.5, 2] = 0.0
        outside = (kp[:, 0] < 0) | (kp[:, 0] > W - 1) | (kp[:, 1] < 0) | (kp[:, 1] > H - 1)
        kp[outside, 2] = 0.0
        attrs = np.array([labels["blur"], labels["expression"], labels["illumination"], 0,
                          occlusion, labels["pose"]], dtype=np.int64)
        records.append(FaceRecord(box, attrs, kp, ident_id))
    return _finish(img, rng), records


# DeepPrivacy expands the face box by this fraction of its larger side on every side.
CROP_EXPANSION = 0.35


def render_crop(
    rng: np.random.Generator, crop_size: int, identity: Identity, identity_id: int
) -> tuple[np.ndarray, FaceRecord]:
    """One square training crop of one face, with room for a DeepPrivacy-style crop.

    The face box expanded by ``CROP_EXPANSION`` of its larger side on each
    side and made square lies inside the crop.
    """
    size = int(crop_size)
    img = background(rng, size, size, int(rng.integers(len(EVENTS))), clutter=0.6)
    pose, labels = sample_pose(rng, crop=True)
    # Face height as a fraction of the crop: the expanded square (1.7 x the
    # larger side) must fit, with some room to jitter the position.
    scale = size * rng.uniform(0.40, 0.50) / 2
    b0 = face_box(identity, pose, Placement(0.0, 0.0, scale))
    side = max(b0[2], b0[3]) * (1 + 2 * CROP_EXPANSION)
    if side > size - 1:
        scale *= (size - 1) / side
        b0 = face_box(identity, pose, Placement(0.0, 0.0, scale))
        side = max(b0[2], b0[3]) * (1 + 2 * CROP_EXPANSION)
    centre = b0[:2] + b0[2:] / 2
    slack = max((size - side) / 2 - 0.5, 0.0)
    target = size / 2 + rng.uniform(-slack, slack, 2)
    place = Placement(target[0] - centre[0], target[1] - centre[1], scale)
    shoulders = draw_torso(img, identity, pose, place)
    box_f, kp70 = draw_head(img, identity, pose, place)
    kp = np.zeros((N_KEYPOINTS, 3))
    kp[:70] = kp70
    kp[LEFT_SHOULDER, :2], kp[RIGHT_SHOULDER, :2] = shoulders
    kp[[LEFT_SHOULDER, RIGHT_SHOULDER], 2] = 1.0
    outside = (kp[:, 0] < 0) | (kp[:, 0] > size - 1) | (kp[:, 1] < 0) | (kp[:, 1] > size - 1)
    kp[outside, 2] = 0.0
    attrs = np.array([0, labels["expression"], labels["illumination"], 0, 0, labels["pose"]], dtype=np.int64)
    return _finish(img, rng), FaceRecord(_int_box(box_f, size, size), attrs, kp, identity_id)
