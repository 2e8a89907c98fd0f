"""The synthetic head: geometry with landmarks, and an antialiased renderer.

Keypoint layout ``synthetic72`` (``LAYOUT``): 72 points, each ``[x, y, visible]``
in image pixels.

* 0-67: the 68 dlib / iBUG-300W landmarks, in dlib's order and meaning:
  jaw 0-16 (from the image-left end of the jaw, over the chin at 8, to the
  image-right end), right brow 17-21 and left brow 22-26 (each listed from
  image left to image right), nose bridge 27-30 (top to tip, 30 the tip),
  lower nose 31-35, right eye 36-41 and left eye 42-47 (each starting at its
  image-left corner, going over the upper lid and back along the lower lid),
  outer lips 48-59 and inner lips 60-67 (starting at the image-left corner,
  upper lip first).
* 68 left ear, 69 right ear, 70 left shoulder, 71 right shoulder.

"Left" and "right" are the person's own, as in dlib and COCO: in a frontal
face the left eye, ear and shoulder appear on the image's right. DeepPrivacy's
seven points follow directly: nose ``NOSE_TIP``, the means of ``LEFT_EYE`` and
``RIGHT_EYE``, ``LEFT_EAR``, ``RIGHT_EAR``, ``LEFT_SHOULDER``, ``RIGHT_SHOULDER``.

``visible`` is 0 where the point is hidden by the head itself (the far side
under yaw), by an occluder, or lies outside the image; the scene sets the last
two (``scene.py``).

Geometry lives in *face units*: the face box spans y in [-1, 1] from forehead
to chin, x in [-a, a] with ``a`` the identity's aspect. Every row of the head
is an ellipse in the x-z plane (z towards the camera), so a yaw rotation moves
the features sideways, foreshortens the far side and shifts the chin with the
nose, while the skull behind the face shifts the other way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import cv2
import numpy as np

from safefakes.data.synthetic.identity import Identity

LAYOUT = "synthetic72"
N_KEYPOINTS = 72
JAW = slice(0, 17)
CHIN = 8
RIGHT_BROW = slice(17, 22)
LEFT_BROW = slice(22, 27)
NOSE_BRIDGE = slice(27, 31)
NOSE_BOTTOM = slice(31, 36)
NOSE = slice(27, 36)
NOSE_TIP = 30
RIGHT_EYE = slice(36, 42)
LEFT_EYE = slice(42, 48)
OUTER_LIPS = slice(48, 60)
INNER_LIPS = slice(60, 68)
MOUTH = slice(48, 68)
DLIB68 = slice(0, 68)
LEFT_EAR = 68
RIGHT_EAR = 69
LEFT_SHOULDER = 70
RIGHT_SHOULDER = 71
# One name per index, for plots and error messages.
KEYPOINT_NAMES: tuple[str, ...] = (
    *(f"jaw_{i}" for i in range(17)),
    *(f"right_brow_{i}" for i in range(5)),
    *(f"left_brow_{i}" for i in range(5)),
    *(f"nose_bridge_{i}" for i in range(4)),
    *(f"nose_bottom_{i}" for i in range(5)),
    *(f"right_eye_{i}" for i in range(6)),
    *(f"left_eye_{i}" for i in range(6)),
    *(f"outer_lips_{i}" for i in range(12)),
    *(f"inner_lips_{i}" for i in range(8)),
    "left_ear", "right_ear", "left_shoulder", "right_shoulder",
)

# Depth of the head's cross-section relative to its width.
_DEPTH = 0.9
# Rows of the face outline where the widest point (cheekbones) sits.
_CHEEK_Y = -0.1
_SHIFT = 4  # cv2 sub-pixel bits
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class Pose:
    """What varies between pictures of one person."""

    yaw: float = 0.0           # radians; > 0 turns the face towards the image's right
    roll: float = 0.0          # radians; in-plane rotation about the neck
    smile: float = 0.0         # 0..1, corners of the mouth up, mouth wider
    mouth_open: float = 0.0    # 0..1
    eye_open: float = 1.0      # 0.35..1
    gaze: tuple[float, float] = (0.0, 0.0)  # iris offset, fraction of the eye size
    light_gain: float = 1.0    # overall brightness factor
    light_angle: float = 0.0   # direction the light comes from (radians, image plane)
    light_strength: float = 0.0  # 0..1 strength of the brightness gradient across the head
    blur: float = 0.0          # gaussian sigma as a fraction of the face height
    clothing: tuple[int, int, int] = (60, 80, 120)


@dataclass(frozen=True)
class Placement:
    """Where the face goes: the pixel of the face-unit origin and pixels per face unit."""

    cx: float
    cy: float
    scale: float  # half the face height in pixels


# --------------------------------------------------------------------------- #
# Geometry in face units
# --------------------------------------------------------------------------- #
class HeadModel:
    """Face-unit geometry of one identity in one pose (after yaw, before roll)."""

    def __init__(self, identity: Identity, pose: Pose) -> None:
        self.id = identity
        self.pose = pose
        self.a = identity.value("aspect")
        self.sin = float(np.sin(pose.yaw))
        self.cos = float(np.cos(pose.yaw))
        # Landmarks and drawing ask for the same parts: compute each once.
        self._memo: dict = {}

    def _once(self, key: tuple, make: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    # -- the head's shape ----------------------------------------------------
    def half_width(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        a = self.a
        # np.maximum/np.minimum: np.clip's overhead dominates on these small arrays.
        top = a * np.sqrt(np.maximum(1 - ((y - _CHEEK_Y) / (1 + _CHEEK_Y)) ** 2, 0))
        u = np.minimum(np.maximum((y - _CHEEK_Y) / (1 - _CHEEK_Y), 0), 1)
        n = self.id.value("jaw_square")
        bottom = a * (1 - u**n) ** (1 / n)
        return np.where(y < _CHEEK_Y, top, bottom)

    def _front(self, y: np.ndarray) -> np.ndarray:
        # The front of the face is nearly flat in depth; the chin sits a little back.
        return _DEPTH * self.a * (1 - 0.25 * np.minimum(np.maximum(y, 0), 1) ** 2)

    def _section(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: half-width w, half-depth d and depth centre zc of the cross-section."""
        w = self.half_width(y)
        d = _DEPTH * w
        zc = self._front(y) - d
        return w, d, zc

    def surface(self, x: np.ndarray, y: np.ndarray, lift: np.ndarray | float = 0.0) -> np.ndarray:
        """3-D points on the face surface above frontal (x, y), raised by ``lift``."""
        x = np.asarray(x, dtype=np.float64)
        y = np.broadcast_to(np.asarray(y, dtype=np.float64), x.shape)
        w, d, zc = self._section(y)
        r = np.minimum(np.maximum(x / np.maximum(w, 1e-6), -1), 1)
        z = zc + d * np.sqrt(1 - r**2) + lift
        return np.stack([x, y, z], axis=-1)

    def project(self, p: np.ndarray) -> np.ndarray:
        """Yaw rotation, orthographic: 3-D points -> 2-D (x', y)."""
        x, y, z = p[..., 0], p[..., 1], p[..., 2]
        return np.stack([x * self.cos + z * self.sin, y], axis=-1)

    def facing(self, p: np.ndarray) -> np.ndarray:
        """True where a surface point faces the camera after the yaw."""
        x, y = p[..., 0], p[..., 1]
        w, d, zc = self._section(y)
        nx = x / np.maximum(w, 1e-6) ** 2
        nz = (p[..., 2] - zc) / np.maximum(d, 1e-6) ** 2
        return (-nx * self.sin + nz * self.cos) > -0.05

    def silhouette(self, y: np.ndarray, side: np.ndarray) -> np.ndarray:
        """x' of the head's outline at rows y, side -1 (image left) or +1."""
        w, d, zc = self._section(y)
        ext = np.sqrt((w * self.cos) ** 2 + (d * self.sin) ** 2)
        return zc * self.sin + side * ext

    def outline(self, n: int = 48) -> np.ndarray:
        """The face outline (forehead to chin), closed polygon in 2-D face units."""
        y = -np.cos(np.linspace(0, np.pi, n))
        left = np.stack([self.silhouette(y, -1), y], axis=1)
        right = np.stack([self.silhouette(y[::-1], 1), y[::-1]], axis=1)
        return np.concatenate([left, right[1:-1]])

    # -- landmarks -----------------------------------------------------------
    def jaw(self) -> tuple[np.ndarray, np.ndarray]:
        """17 jaw points on the outline (2-D) and their visibility."""
        y0 = self.id.value("eye_height") + 0.04
        y = y0 + (1 - y0) * (1 - np.cos(np.linspace(0, np.pi / 2, 60)))
        # Arc length along the frontal contour: left side down, right side up.
        xs = np.concatenate([-self.half_width(y), self.half_width(y[::-1])[1:]])
        ys = np.concatenate([y, y[::-1][1:]])
        seg = np.hypot(np.diff(xs), np.diff(ys))
        s = np.concatenate([[0], np.cumsum(seg)])
        t = np.linspace(0, s[-1], 17)
        jy = np.interp(t, s, ys)
        side = np.where(np.arange(17) < 8, -1.0, 1.0)
        side[8] = 0.0
        w = np.maximum(self.half_width(jy), 1e-6)
        frac = np.abs(np.interp(t, s, xs)) / w
        # Map the frontal contour onto the yawed outline at the same fraction.
        w_, d_, zc_ = self._section(jy)
        ext = np.sqrt((w_ * self.cos) ** 2 + (d_ * self.sin) ** 2)
        jx = zc_ * self.sin + side * frac * ext
        visible = np.ones(17, dtype=bool)
        if abs(self.pose.yaw) > np.radians(32):
            far = side == np.sign(self.pose.yaw)
            visible[far & (np.abs(np.arange(17) - 8) > 1)] = False
        return np.stack([jx, jy], axis=1), visible

    def eye(self, side: int) -> dict[str, np.ndarray]:
        """One eye (side -1: image left, the person's right) as 3-D curves."""
        return self._once(("eye", side), lambda: self._eye(side))

    def _eye(self, side: int) -> dict[str, np.ndarray]:
        ident, pose = self.id, self.pose
        cx = side * ident.value("eye_spacing") * self.a
        cy = ident.value("eye_height")
        ew = ident.value("eye_size") * self.a
        eh = ew * 0.42 * pose.eye_open
        t = np.linspace(0, np.pi, 15)
        x = cx - ew * np.cos(t)
        # The upper lid peaks towards the inner corner, the lower lid is flatter.
        upper = cy - eh * np.sin(t) ** 0.8 * (1 + 0.12 * side * np.cos(t))
        lower = cy + eh * 0.75 * np.sin(t) ** 1.2
        lift = -0.05 * self.a
        return {
            "x": x, "upper": upper, "lower": lower, "cx": np.float64(cx), "cy": np.float64(cy),
            "ew": np.float64(ew), "eh": np.float64(eh), "lift": np.float64(lift),
        }

    def eye_landmarks(self, eye: dict, side: int) -> np.ndarray:
        """Six dlib eye points in 3-D (image-left corner, upper lid, right corner, lower lid)."""
        cx, cy, ew = eye["cx"], eye["cy"], eye["ew"]
        xs = cx + ew * np.array([-1, -1 / 3, 1 / 3, 1, 1 / 3, -1 / 3])
        ys = np.empty(6)
        ys[[0, 3]] = cy
        ys[1:3] = np.interp(xs[1:3], eye["x"], eye["upper"])
        ys[4:6] = np.interp(xs[4:6], eye["x"], eye["lower"])
        return self.surface(xs, ys, eye["lift"])

    def brow(self, side: int) -> np.ndarray:
        """Five brow points in 3-D, image left to right."""
        return self._once(("brow", side), lambda: self._brow(side))

    def _brow(self, side: int) -> np.ndarray:
        ident = self.id
        cx = side * ident.value("eye_spacing") * self.a
        ew = ident.value("eye_size") * self.a
        base = ident.value("eye_height") - ident.value("brow_gap")
        # The outer end reaches further out than the inner end.
        xs = cx + ew * (np.linspace(-1.25, 1.15, 5) if side < 0 else np.linspace(-1.15, 1.25, 5))
        # Arched: highest a little outside the middle.
        rel = (xs - cx) / ew
        ys = base - ident.value("brow_arch") * (1 - ((rel - 0.25 * side) / 1.3) ** 2)
        if self.pose.smile > 0.6:
            ys = ys - 0.03 * (self.pose.smile - 0.6)
        return self.surface(xs, ys, 0.02 * self.a)

    def nose(self) -> np.ndarray:
        """Nine nose points 27-35 in 3-D."""
        return self._once(("nose",), self._nose)

    def _nose(self) -> np.ndarray:
        ident = self.id
        top = ident.value("eye_height") - 0.02
        tip = ident.value("nose_length")
        nw = ident.value("nose_width") * self.a
        by = np.linspace(top, tip, 4)
        bridge = self.surface(np.zeros(4), by, np.linspace(0.06, 0.34, 4) * self.a)
        bx = nw * np.array([-1, -0.5, 0, 0.5, 1])
        bottom_y = tip + np.array([0.05, 0.075, 0.085, 0.075, 0.05])
        bottom = self.surface(bx, bottom_y, np.array([0.1, 0.17, 0.2, 0.17, 0.1]) * self.a)
        return np.concatenate([bridge, bottom])

    def mouth(self) -> dict[str, np.ndarray]:
        """Lip curves and the 20 dlib mouth points, in 3-D."""
        return self._once(("mouth",), self._mouth)

    def _mouth(self) -> dict[str, np.ndarray]:
        ident, pose = self.id, self.pose
        mw = ident.value("mouth_width") * self.a * (1 + 0.15 * pose.smile)
        my = ident.value("mouth_height")
        lip = ident.value("lip_thickness")
        opening = 0.16 * pose.mouth_open
        lift = 0.03 * self.a

        def curves(s: np.ndarray) -> dict[str, np.ndarray]:
            root = np.sqrt(np.clip(1 - s**2, 0, 1))
            mid = my + 0.015 - pose.smile * 0.08 * s**2 - 0.015 * root  # corners lift when smiling
            ui = mid - opening * 0.35 * root
            li = mid + opening * 0.65 * root
            uo = ui - lip * 0.9 * (0.3 + 0.7 * root) + lip * 0.3 * np.exp(-(s / 0.18) ** 2)
            lo = li + lip * 1.15 * (0.3 + 0.7 * root)
            return {"mid": mid, "ui": ui, "li": li, "uo": uo, "lo": lo}

        s = np.linspace(-1, 1, 25)
        c = curves(s)
        x = s * mw
        out = {k: self.surface(x, v, lift) for k, v in c.items()}

        # dlib's mouth: outer lips 48-59 from the image-left corner over the
        # upper lip and back along the lower; inner lips 60-67 the same way.
        marks = [(-1, "mid"), (-0.6, "uo"), (-0.25, "uo"), (0, "uo"), (0.25, "uo"), (0.6, "uo"),
                 (1, "mid"), (0.6, "lo"), (0.25, "lo"), (0, "lo"), (-0.25, "lo"), (-0.6, "lo"),
                 (-0.88, "mid"), (-0.4, "ui"), (0, "ui"), (0.4, "ui"), (0.88, "mid"),
                 (0.4, "li"), (0, "li"), (-0.4, "li")]
        ss = np.array([m[0] for m in marks], dtype=np.float64)
        cs = curves(ss)
        ys = np.array([cs[key][i] for i, (_, key) in enumerate(marks)])
        out["landmarks"] = self.surface(ss * mw, ys, lift)
        return out

    def ear(self, side: int) -> np.ndarray:
        y = self.id.value("eye_height") + 0.16
        # Deep behind the face: in a three-quarter view the near ear sits on the
        # side of the skull, and the far one hides behind the face.
        return np.array([side * 1.04 * self.a, y, -0.55 * self.a])

    def landmarks(self) -> tuple[np.ndarray, np.ndarray]:
        """The 70 head points (dlib 68 and the ears) in 2-D face units, and visibility."""
        jaw, jaw_vis = self.jaw()
        brows = np.concatenate([self.brow(-1), self.brow(1)])
        nose = self.nose()
        eyes = np.concatenate([self.eye_landmarks(self.eye(-1), -1), self.eye_landmarks(self.eye(1), 1)])
        mouth = self.mouth()["landmarks"]
        surf = np.concatenate([brows, nose, eyes, mouth])
        vis = self.facing(surf)
        # The nose sticks out of the surface: it hides only in near-profile.
        vis[10:19] = abs(self.pose.yaw) < np.radians(75)
        pts2 = self.project(surf)
        # Points past the far silhouette are behind the head.
        far = np.sign(self.pose.yaw)
        if far != 0:
            edge = self.silhouette(pts2[:, 1], far)
            vis &= (pts2[:, 0] - edge) * far < 0.0
        ears = self.project(np.stack([self.ear(1), self.ear(-1)]))  # left ear = image right
        ear_vis = np.array([True, True])
        if abs(self.pose.yaw) > np.radians(20):
            # The far ear is behind the head.
            ear_vis[0 if self.pose.yaw > 0 else 1] = False
        return (np.concatenate([jaw, pts2, ears]), np.concatenate([jaw_vis, vis, ear_vis]))


# --------------------------------------------------------------------------- #
# Rasterizing
# --------------------------------------------------------------------------- #
class _Layer:
    """An RGB + alpha patch, supersampled ``s`` times, over a pixel region of the image."""

    def __init__(self, x0: int, y0: int, w: int, h: int, s: int) -> None:
        self.x0, self.y0, self.w, self.h, self.s = x0, y0, w, h, s
        self.rgb = np.zeros((h * s, w * s, 3), dtype=np.uint8)  # premultiplied by alpha
        self.alpha = np.zeros((h * s, w * s), dtype=np.uint8)

    def pts(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        rel = (xy - (self.x0, self.y0)) * self.s * _ONE
        return np.round(rel).astype(np.int32)

    def fill(self, xy: np.ndarray, colour: np.ndarray, target: np.ndarray | None = None) -> None:
        col = (255,) if colour is None else tuple(int(v) for v in np.clip(colour, 0, 255))
        if target is None:
            cv2.fillPoly(self.rgb, [self.pts(xy)], col, cv2.LINE_AA, _SHIFT)
            cv2.fillPoly(self.alpha, [self.pts(xy)], 255, cv2.LINE_AA, _SHIFT)
        else:
            cv2.fillPoly(target, [self.pts(xy)], col if target.ndim == 3 else 255, cv2.LINE_AA, _SHIFT)

    def line(self, xy: np.ndarray, colour: np.ndarray, width_px: float, target: np.ndarray) -> None:
        col = tuple(int(v) for v in np.clip(colour, 0, 255))
        thick = max(1, int(round(width_px * self.s)))
        cv2.polylines(target, [self.pts(xy)], False, col, thick, cv2.LINE_AA, _SHIFT)

    def downsampled(self) -> tuple[np.ndarray, np.ndarray]:
        """Final-resolution premultiplied RGB (float) and alpha in [0, 1]."""
        if self.s == 1:
            rgb, alpha = self.rgb, self.alpha
        else:
            rgb = cv2.resize(self.rgb, (self.w, self.h), interpolation=cv2.INTER_AREA)
            alpha = cv2.resize(self.alpha, (self.w, self.h), interpolation=cv2.INTER_AREA)
        return rgb.astype(np.float32), alpha.astype(np.float32) / 255.0


def _region(image: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int] | None:
    H, W = image.shape[:2]
    ix0, iy0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
    ix1, iy1 = min(int(np.ceil(x1)), W), min(int(np.ceil(y1)), H)
    if ix1 <= ix0 or iy1 <= iy0:
        return None
    return ix0, iy0, ix1 - ix0, iy1 - iy0


def supersampling(scale: float) -> int:
    """Supersampling factor: small faces get more, so their eyes and mouth stay antialiased."""
    return int(np.clip(np.ceil(70.0 / max(scale, 1.0)), 3, 12))


def _composite(image: np.ndarray, x0: int, y0: int, rgb: np.ndarray, alpha: np.ndarray) -> None:
    h, w = alpha.shape
    roi = image[y0:y0 + h, x0:x0 + w].astype(np.float32)
    out = roi * (1 - alpha[..., None]) + rgb
    image[y0:y0 + h, x0:x0 + w] = np.clip(np.round(out), 0, 255).astype(np.uint8)


def _mix(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return np.asarray(a, dtype=np.float64) * (1 - t) + np.asarray(b, dtype=np.float64) * t


class _Transform:
    """Face units (after yaw) -> image pixels: roll about the neck, scale, translate."""

    PIVOT = np.array([0.0, 0.9])

    def __init__(self, place: Placement, roll: float) -> None:
        self.place = place
        c, s = np.cos(roll), np.sin(roll)
        self.R = np.array([[c, -s], [s, c]])

    def __call__(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64).reshape(-1, 2)
        q = (p - self.PIVOT) @ self.R.T + self.PIVOT
        return q * self.place.scale + (self.place.cx, self.place.cy)


def head_extent(identity: Identity, place: Placement) -> tuple[float, float, float, float]:
    """Pixel rectangle x0, y0, x1, y1 that the head (hair and ears included) may cover."""
    a = identity.value("aspect")
    r = 1.55 * a * identity.value("hair_volume") + 0.1
    s = place.scale
    # Curly hair reaches y = -1.95, long hair 1.35 (see draw_head).
    return (place.cx - r * s, place.cy - 2.0 * s, place.cx + r * s, place.cy + 1.4 * s)


def face_box(identity: Identity, pose: Pose, place: Placement) -> np.ndarray:
    """The face box (x, y, w, h, floats) ``draw_head`` will report, without drawing."""
    outline = _Transform(place, pose.roll)(HeadModel(identity, pose).outline())
    lo, hi = outline.min(0), outline.max(0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])


def torso_points(identity: Identity, pose: Pose, bottom: float = 6.0) -> dict[str, np.ndarray]:
    """Neck and clothing polygons and the two shoulder points, in face units (not rolled)."""
    a = identity.value("aspect")
    body = np.cos(0.4 * pose.yaw)  # the body turns less than the head
    shift = -0.15 * a * np.sin(pose.yaw)
    neck_w = 0.43 * a
    neck = np.array([[-neck_w, 0.3], [neck_w, 0.3], [neck_w * 1.1, 1.75], [-neck_w * 1.1, 1.75]])
    neck[:, 0] += shift
    bottom = float(np.clip(bottom, 3.2, 7.5))
    half = np.array([[0.5, 1.5], [1.5, 1.62], [2.3, 1.8], [2.75, 2.15], [2.95, 2.7],
                     [2.95, bottom - 0.6], [2.6, bottom]])
    right = np.stack([half[:, 0] * a * body, half[:, 1]], axis=1)
    left = right[::-1] * (-1, 1)
    collar_x = np.linspace(-0.5, 0.5, 9) * a * body
    collar = np.stack([collar_x, 1.5 + 0.22 * (1 - (collar_x / (0.5 * a * body)) ** 2)], axis=1)
    cloth = np.concatenate([left, collar, right])
    cloth[:, 0] += shift * 0.5
    shoulders = np.array([[2.35 * a * body, 1.84], [-2.35 * a * body, 1.84]]) + (shift * 0.5, 0)
    return {"neck": neck, "cloth": cloth, "collar": collar + (shift * 0.5, 0), "shoulders": shoulders}


def draw_torso(image: np.ndarray, identity: Identity, pose: Pose, place: Placement) -> np.ndarray:
    """Draw neck and shoulders in place; returns the two shoulder points (left, right) in pixels."""
    s = place.scale
    # The bust reaches the bottom of the image, or ends at the waist when that
    # is further than about three face heights (a long column reads as a post).
    parts = torso_points(identity, pose, bottom=(image.shape[0] - place.cy) / s + 1.0)

    def px(p: np.ndarray) -> np.ndarray:
        return np.asarray(p) * s + (place.cx, place.cy)

    shoulders = px(parts["shoulders"])
    cloth = px(parts["cloth"])
    neck = px(parts["neck"])
    allp = np.concatenate([cloth, neck])
    reg = _region(image, *allp.min(0), *allp.max(0))
    if reg is None:
        return shoulders
    ss = max(2, min(supersampling(s), 6))
    layer = _Layer(*reg, ss)
    skin = identity.skin_rgb * 0.82 * pose.light_gain
    layer.fill(neck, skin)
    cloth_rgb = np.asarray(pose.clothing, dtype=np.float64) * pose.light_gain
    layer.fill(cloth, cloth_rgb)
    # A darker collar edge so the torso reads as clothing, not a flat blob.
    collar = px(parts["collar"])
    layer.line(collar, cloth_rgb * 0.6, max(0.5, 0.06 * s), layer.rgb)
    rgb, alpha = layer.downsampled()
    _composite(image, reg[0], reg[1], rgb, alpha)
    return shoulders


def draw_head(
    image: np.ndarray, identity: Identity, pose: Pose, place: Placement
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one head in place on ``image`` (uint8 RGB).

    Returns the face box (x, y, w, h, floats, in pixels) and the 70 head
    keypoints (x, y, visible) of the ``synthetic72`` layout (points 0-69;
    the shoulders come from ``draw_torso``). Visibility here covers
    self-occlusion only.
    """
    model = HeadModel(identity, pose)
    T = _Transform(place, pose.roll)
    a = model.a
    s = place.scale
    ident = identity
    skin = ident.skin_rgb
    hair = ident.hair_rgb
    style = ident.hair_style_name
    vol = ident.value("hair_volume")

    outline = T(model.outline())
    x0, y0, x1, y1 = head_extent(identity, place)
    # Roll moves things: pad the region by the rotation of the extent.
    pad = 0.6 * s * abs(np.sin(pose.roll))
    reg = _region(image, x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    box = np.array([*outline.min(0), *(outline.max(0) - outline.min(0))])
    kp2, vis = model.landmarks()
    keypoints = np.concatenate([T(kp2), vis[:, None].astype(np.float64)], axis=1)
    if reg is None:
        return box, keypoints
    S = supersampling(s)
    layer = _Layer(*reg, S)
    px_unit = s  # pixels per face unit, for line widths

    # -- hair behind the head and the skull -----------------------------------
    back = -0.3 * a * model.sin  # the back of the skull shifts against the yaw
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    if style == "long":
        # A rounded superellipse behind the head, down to the shoulders; its top is under the skull.
        hw = 1.16 * a * vol
        c, sn = np.cos(t), np.sin(t)
        xs = back + hw * np.sign(c) * np.abs(c) ** (2 / 2.6)
        ys = 0.3 + 1.05 * np.sign(sn) * np.abs(sn) ** (2 / 2.6)
        layer.fill(T(np.stack([xs, ys], axis=1)), hair * 0.85)
    skull_r = 1.07 * a * (vol if style != "bald" else 1.0)
    skull_ry = 0.98 * (vol if style != "bald" else 1.0)
    radius = np.ones_like(t)
    if style == "curly":
        skull_r *= 1.18
        skull_ry *= 1.12
        radius = 1 + 0.05 * np.sin(11 * t)
    skull = np.stack([back + skull_r * radius * np.cos(t), -0.55 + skull_ry * radius * np.sin(t)], axis=1)
    far_ear_first = []
    near_ear_after = []
    for side in (-1, 1):
        far = np.sign(pose.yaw) == side and abs(pose.yaw) > np.radians(8)
        (far_ear_first if (far or abs(pose.yaw) < np.radians(35)) else near_ear_after).append(side)
    for side in far_ear_first:
        _draw_ear(layer, model, T, side, skin)
    layer.fill(T(skull), skin if style == "bald" else hair)

    # -- the face ------------------------------------------------------------
    layer.fill(outline, skin)
    face_mask = np.zeros_like(layer.alpha)
    layer.fill(outline, None, face_mask)
    for side in near_ear_after:
        _draw_ear(layer, model, T, side, skin)

    feat = layer.rgb.copy()
    _draw_features(layer, feat, model, T, px_unit)
    # Hair over the top of the forehead: a hairline, or bangs.
    if style != "bald":
        line_y = -0.55 if style == "bangs" else -0.86
        xs = np.linspace(-1.2 * a, 1.2 * a, 25)
        wave = 0.05 * np.sin(xs / a * (9 if style == "curly" else 3))
        ys = line_y - 0.12 * (xs / a) ** 2 + (wave if style in ("bangs", "curly") else 0.0)
        cap = model.surface(xs, ys, 0.02 * a)
        cap2 = model.project(cap)
        top = np.stack([cap2[::-1, 0], np.full(25, -1.3)], axis=1)
        layer.fill(T(np.concatenate([cap2, top])), hair, feat)
    m = face_mask[..., None].astype(np.uint16)
    layer.rgb = ((layer.rgb.astype(np.uint16) * (255 - m) + feat.astype(np.uint16) * m + 127) // 255).astype(np.uint8)

    rgb, alpha = layer.downsampled()
    fmask = cv2.resize(face_mask, (layer.w, layer.h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    # Rounded look: skin darkens towards the outline.
    sigma = max(0.4, 0.22 * a * s)
    soft = cv2.GaussianBlur(fmask, (0, 0), sigma)
    shade = 1.0 - 0.28 * fmask * (1 - np.clip(soft, 0, 1))
    # Lighting: a brightness gradient across the head, times an overall gain.
    yy, xx = np.mgrid[0:layer.h, 0:layer.w].astype(np.float32)
    dx, dy = np.cos(pose.light_angle), np.sin(pose.light_angle)
    proj = ((xx + layer.x0 - place.cx) * dx + (yy + layer.y0 - place.cy) * dy) / (1.3 * s)
    light = pose.light_gain * (1 + pose.light_strength * np.clip(proj, -1, 1))
    rgb = rgb * (shade * light)[..., None]
    if pose.blur > 0:
        sig = pose.blur * 2 * s
        if sig >= 0.2:
            rgb = cv2.GaussianBlur(rgb, (0, 0), sig)
            alpha = cv2.GaussianBlur(alpha, (0, 0), sig)
    rgb = np.minimum(rgb, alpha[..., None] * 255.0)
    _composite(image, layer.x0, layer.y0, rgb, alpha)
    return box, keypoints


def _draw_ear(layer: _Layer, model: HeadModel, T: _Transform, side: int, skin: np.ndarray) -> None:
    a = model.a
    c = model.project(model.ear(side)[None])[0]
    half_w = a * (0.09 + 0.13 * abs(model.sin))
    t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    ear = np.stack([c[0] + half_w * np.cos(t), c[1] + 0.2 * np.sin(t)], axis=1)
    layer.fill(T(ear), skin * 0.92)
    inner = np.stack([c[0] + 0.5 * half_w * np.cos(t), c[1] + 0.1 * np.sin(t)], axis=1)
    layer.fill(T(inner), skin * 0.72)


def _draw_features(layer: _Layer, target: np.ndarray, model: HeadModel, T: _Transform, px_unit: float) -> None:
    """Brows, eyes, nose and mouth onto ``target`` (clipped to the face later)."""
    ident, pose = model.id, model.pose
    a = model.a
    skin = ident.skin_rgb
    dark_hair = ident.hair_rgb if ident.hair_style_name != "bald" else np.array([60.0, 45, 35])
    # Small faces: features keep a minimum size in pixels so they still read as eyes and a mouth.
    min_px = 0.6

    # Brows
    brow_col = _mix(dark_hair, skin, 0.25) * 0.85
    for side in (-1, 1):
        b = model.brow(side)
        keep = model.facing(b)
        if keep.sum() >= 2:
            width = max(min_px * 0.8, ident.value("brow_thickness") * px_unit)
            layer.line(T(model.project(b[keep])), brow_col, width, target)

    # Eyes
    for side in (-1, 1):
        e = model.eye(side)
        up = model.surface(e["x"], e["upper"], e["lift"])
        lo = model.surface(e["x"], e["lower"], e["lift"])
        if model.facing(model.surface(np.array([e["cx"]]), np.array([e["cy"]]))).sum() == 0:
            continue
        shape = np.concatenate([model.project(up), model.project(lo[::-1])[1:-1]])
        # Socket shadow around the eye, then the white, iris, pupil and lid line.
        ring = np.concatenate([model.project(model.surface(e["x"], e["upper"] - 0.05, e["lift"])),
                               model.project(model.surface(e["x"][::-1], e["lower"][::-1] + 0.03, e["lift"]))])
        layer.fill(T(ring), skin * 0.8, target)
        white = np.array([232.0, 226, 220]) if px_unit * a * 0.2 > 2.5 else skin * 0.55 + 60
        layer.fill(T(shape), white, target)
        r = 0.62 * e["ew"] * 0.75
        ic = np.array([e["cx"] + pose.gaze[0] * e["ew"] * 0.35, e["cy"] + pose.gaze[1] * e["eh"] * 0.3])
        tt = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        ix = ic[0] + r * np.cos(tt)
        iy = ic[1] + r * np.sin(tt)
        # Clip the iris to the lids (a cheap polygon intersection).
        ix = np.clip(ix, e["x"][0], e["x"][-1])
        iy = np.clip(iy, np.interp(ix, e["x"], e["upper"]), np.interp(ix, e["x"], e["lower"]))
        iris = model.project(model.surface(ix, iy, e["lift"]))
        layer.fill(T(iris), ident.iris_rgb, target)
        py = np.clip(ic[1] + 0.45 * r * np.sin(tt), np.interp(ic[0] + 0.45 * r * np.cos(tt), e["x"], e["upper"]),
                     np.interp(ic[0] + 0.45 * r * np.cos(tt), e["x"], e["lower"]))
        pupil = model.project(model.surface(ic[0] + 0.45 * r * np.cos(tt), py, e["lift"]))
        layer.fill(T(pupil), np.array([12.0, 10, 10]), target)
        lid_w = max(min_px, 0.045 * a * px_unit)
        layer.line(T(model.project(up)), np.array([25.0, 18, 16]), lid_w, target)

    # Nose: a shaded side line, the tip and the nostrils.
    n3 = model.nose()
    n2 = model.project(n3)
    shade_side = -1 if np.cos(pose.light_angle) > 0 else 1
    side_line = np.concatenate([n2[0:4] + (shade_side * 0.05 * a, 0), n2[[5 + shade_side * 1 + 1]]])
    layer.line(T(side_line), skin * 0.72, max(0.4, 0.04 * a * px_unit), target)
    layer.line(T(n2[4:9]), skin * 0.6, max(0.5, 0.045 * a * px_unit), target)
    for k in (5, 7):
        c = n2[k]
        tt = np.linspace(0, 2 * np.pi, 12, endpoint=False)
        rr = ident.value("nose_width") * a * 0.28
        nostril = np.stack([c[0] + rr * np.cos(tt) * (0.6 + 0.4 * model.cos), c[1] - 0.012 + 0.5 * rr * np.sin(tt)], 1)
        layer.fill(T(nostril), skin * 0.35, target)

    # Mouth
    mo = model.mouth()
    lip_col = _mix(skin, np.array([170.0, 60, 70]), 0.45) * 0.9
    outer = np.concatenate([model.project(mo["uo"]), model.project(mo["lo"][::-1])])
    if model.facing(mo["mid"][12:13]).all() or abs(pose.yaw) < np.radians(60):
        layer.fill(T(outer), lip_col, target)
        if pose.mouth_open > 0.15:
            inner = np.concatenate([model.project(mo["ui"]), model.project(mo["li"][::-1])])
            layer.fill(T(inner), np.array([55.0, 18, 22]), target)
            teeth = model.project(model.surface(
                mo["ui"][:, 0], mo["ui"][:, 1] + 0.35 * (mo["li"][:, 1] - mo["ui"][:, 1]), 0.03 * a))
            layer.fill(T(np.concatenate([model.project(mo["ui"][4:-4]), teeth[4:-4][::-1]])),
                       np.array([235.0, 232, 220]), target)
        layer.line(T(model.project(mo["mid"])), lip_col * 0.45, max(min_px, 0.03 * a * px_unit), target)
