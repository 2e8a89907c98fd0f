"""The method side of a run: which anonymizer runs, and how it gets its keypoints."""

from __future__ import annotations

import json
from typing import Callable, Union

import numpy as np

from safefakes.anonymizers.base import Anonymizer

#: (image, image_name, boxes) -> (N, K, 3) keypoints or None; must be picklable for workers > 1.
KeypointProvider = Callable[[np.ndarray, str, np.ndarray], Union[np.ndarray, None]]
#: An anonymizer, or a picklable zero-argument factory (e.g. ``AnonymizerSpec``)
#: that each worker process calls once to build its own.
AnonymizerSource = Union[Anonymizer, Callable[[], Anonymizer]]


def resolve_anonymizer(anonymizer: AnonymizerSource) -> tuple[Anonymizer, AnonymizerSource | None]:
    if isinstance(anonymizer, Anonymizer):
        return anonymizer, None
    if callable(anonymizer):
        instance = anonymizer()
        if not isinstance(instance, Anonymizer):
            raise TypeError(f"the anonymizer factory returned {type(instance).__name__}, not an Anonymizer")
        return instance, anonymizer
    raise TypeError(f"expected an Anonymizer or a zero-argument factory, got {type(anonymizer).__name__}")


def describe_keypoints(instance: Anonymizer, provider, split_keypoints) -> str:
    if not instance.needs_keypoints:
        return "not needed"
    if provider is not None:
        describe = getattr(provider, "describe", None)
        if callable(describe):
            return json.dumps(describe(), sort_keys=True)
        name = getattr(provider, "__qualname__", type(provider).__name__)
        return f"provider {getattr(provider, '__module__', '?')}.{name}"
    return "split keypoints.json" if split_keypoints is not None else "none"
