"""Keypoint providers for the dataset engine, chosen by name in the config.

A provider is a picklable callable ``(image, image_name, boxes) -> (N, K, 3)``
(x, y, visible in image pixels, in the provider's ``layout``); a face where
the source found nothing has all points at visible 0, which the GAN
anonymizers run with empty keypoint maps (``no_keypoints_fallback``).
``per_face`` gives the same as a list with ``None`` for those faces.

* ``dlib68``: dlib's 68 landmarks (``keypoints.dlib68``);
* ``deepprivacy7``: the seven DeepPrivacy points (Keypoint R-CNN with
  ``weights``, else the dlib-derived face points);
* ``oracle-dlib68`` / ``oracle-deepprivacy7``: the synthetic set's own points
  (needs ``split``), limited like the real source (``keypoints.oracle``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from safefakes.errors import InputError
from safefakes.keypoints.layouts import SIZES

PROVIDERS = ("dlib68", "deepprivacy7", "oracle-dlib68", "oracle-deepprivacy7")
LAYOUT = {"dlib68": "dlib68", "deepprivacy7": "deepprivacy7",
          "oracle-dlib68": "dlib68", "oracle-deepprivacy7": "deepprivacy7"}


class KeypointProvider:
    """One named keypoint source; heavy models load on first use (so it pickles to workers cheaply)."""

    def __init__(self, name: str, *, split=None, weights: str | Path | None = None, device: str = "auto") -> None:
        if name not in PROVIDERS:
            raise ValueError(f"unknown keypoint provider {name!r}; choose from {', '.join(PROVIDERS)}")
        self.name = name
        self.layout = LAYOUT[name]
        self.weights = str(weights) if weights else None
        self.device = device
        self._table = None
        self._source_layout = None
        self._detector = None
        if name.startswith("oracle-"):
            from safefakes.data.split import Split

            if split is None:
                raise ValueError(f"the {name} keypoint provider needs the split that holds keypoints.json")
            if not isinstance(split, Split):
                split = Split.load(split)
            if split.keypoints is None:
                raise InputError(split.root / "keypoints.json", f"the {name} keypoints need this file",
                                 hint="generate the split with `safefakes synth`, which writes the oracle points, "
                                      "or choose the dlib68 / deepprivacy7 provider")
            self._table = split.keypoints
            self._source_layout = split.keypoint_layout or "synthetic72"
        elif name == "deepprivacy7" and self.weights and not Path(self.weights).is_file():
            from safefakes.keypoints.deepprivacy7 import build_keypoint_rcnn

            build_keypoint_rcnn(self.weights)  # raises MissingWeightsError now, not in a worker

    def describe(self) -> dict:
        source = self.name
        if self.name == "deepprivacy7":
            source = "keypointrcnn" if self.weights else "dlib68-fallback"
        return {"provider": self.name, "layout": self.layout, "source": source, "weights": self.weights}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_detector"] = None  # rebuilt in each worker
        return state

    def per_face(self, image: np.ndarray, image_name: str, boxes: np.ndarray) -> list[np.ndarray | None]:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if self.name == "dlib68":
            from safefakes.keypoints.dlib68 import detect_landmarks

            return detect_landmarks(image, boxes)
        if self.name == "deepprivacy7":
            if self._detector is None:
                from safefakes.keypoints.deepprivacy7 import DeepPrivacy7Detector

                self._detector = DeepPrivacy7Detector(self.weights, device=self.device)
            return self._detector(image, boxes)
        from safefakes.keypoints.oracle import oracle_keypoints

        return oracle_keypoints(self._table.get(image_name), boxes, self.layout, self._source_layout)

    def __call__(self, image: np.ndarray, image_name: str, boxes: np.ndarray) -> np.ndarray:
        return stack_keypoints(self.per_face(image, image_name, boxes), SIZES[self.layout])


def make_keypoint_provider(name: str, *, split=None, weights: str | Path | None = None,
                           device: str = "auto") -> KeypointProvider:
    """The provider called ``name``; ``split`` (a ``Split`` or its folder) for the oracle ones."""
    return KeypointProvider(name, split=split, weights=weights, device=device)


def stack_keypoints(faces: list, n_points: int) -> np.ndarray:
    """A per-face list (arrays or None) as one (N, K, 3) array; faces without points get visible 0."""
    out = np.zeros((len(faces), n_points, 3), dtype=np.float64)
    for i, kp in enumerate(faces):
        if kp is not None:
            out[i] = kp
    return out
