"""``original``: the identity, the study's un-anonymized baseline."""

from __future__ import annotations

from safefakes.anonymizers.base import AnonymizedImage, Anonymizer
from safefakes.anonymizers.face_region import as_boxes, check_image
from safefakes.data.anonymized import Status


class Original(Anonymizer):
    """The identity: the study's baseline trained on the un-anonymized images."""

    name = "original"
    identity = True  # the engine copies the input files byte for byte
    uses_rng = False

    def anonymize(self, image, boxes, keypoints=None, rng=None) -> AnonymizedImage:
        check_image(image)
        return AnonymizedImage(image.copy(), [Status.ORIGINAL] * len(as_boxes(boxes)))
