"""Facial keypoints: dlib's 68 landmarks, DeepPrivacy's seven points, the synthetic set's oracle.

Every source returns, per face box, a (K, 3) array of x, y (image pixels) and
visible, or None where it found nothing; ``provider.make_keypoint_provider``
selects one by name for the dataset engine.
"""

from safefakes.keypoints.layouts import SIZES, convert_keypoints
from safefakes.keypoints.provider import PROVIDERS, KeypointProvider, make_keypoint_provider, stack_keypoints

__all__ = ["SIZES", "PROVIDERS", "KeypointProvider", "convert_keypoints", "make_keypoint_provider", "stack_keypoints"]
