"""The conventional methods' defaults hide real faces from dlib's recognizer.

On every real sample photo (tests/sample_photos.py), the faces are
anonymized with each conventional method's defaults, in the boxes that dlib's
CNN finds and in those that anonymize-images' default detector (CenterFace)
finds; dlib's 128-d descriptor of each face dlib's CNN finds (landmarks placed
in its box) must then lie at least dlib's match distance (0.6) from the
original's. The controls show that the check can fail: a re-encoded copy and
the study's fixed 31-tap box blur of Grace Hopper's large face are still
recognised.
"""

from __future__ import annotations

import numpy as np
import pytest

from safefakes.anonymizers.registry import build_anonymizer, methods_of_kind
from safefakes.audit.photos import box_iou
from safefakes.data.images import decode_image, encode_image
from safefakes.evaluation.leakage import DLIB_MATCH_DISTANCE, DlibDescriber
from safefakes.photos.face_finder import DEFAULT_DETECTOR, FaceFinder, find_faces
from tests.sample_photos import SAMPLE_PHOTOS, sample_photo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def describer() -> DlibDescriber:
    return DlibDescriber()


@pytest.fixture(scope="module")
def photos() -> dict:
    """name -> (image, boxes xywh, x1y1x2y2 boxes) of the faces dlib's CNN finds."""
    out = {}
    for name in SAMPLE_PHOTOS:
        image = sample_photo(name)
        boxes, _ = find_faces(image, "cnn", 0.0, 0)
        out[name] = (image, boxes, np.c_[boxes[:, :2], boxes[:, :2] + boxes[:, 2:]])
    return out


def distances(describer, photo, anonymized: np.ndarray) -> np.ndarray:
    image, _, corners = photo
    return np.linalg.norm(describer.describe(anonymized, corners) - describer.describe(image, corners), axis=1)


def test_dlib_finds_one_face_in_each_sample_photo(photos):
    assert {name: len(boxes) for name, (_, boxes, _) in photos.items()} == {name: 1 for name in SAMPLE_PHOTOS}


@pytest.fixture(scope="module", params=sorted({"cnn", DEFAULT_DETECTOR}))
def detected(request, photos) -> tuple[str, dict]:
    """(detector, name -> the boxes it finds): the faces a run with that detector anonymizes."""
    if request.param == "cnn":
        return "cnn", {name: photo[1] for name, photo in photos.items()}
    weights = request.getfixturevalue("centerface_weights") if request.param == "centerface" else None
    finder = FaceFinder(request.param, weights=None if weights is None else str(weights))
    found = {name: finder(photo[0])[0] for name, photo in photos.items()}
    for name, boxes in found.items():  # else the check below would be vacuous
        assert len(boxes) == 1 and box_iou(boxes, photos[name][1])[0, 0] > 0.5, (request.param, name, boxes)
    return request.param, found


@pytest.mark.parametrize("method", methods_of_kind("conventional"))
def test_no_face_is_re_identified_after_a_default(method, photos, detected, describer):
    assert method in {"blur", "blackout", "pixelate", "fullblur"}
    anonymizer = build_anonymizer(method)
    detector, found = detected
    for name, photo in photos.items():
        # Through the JPEG an output file would be, as a user gets it.
        out = decode_image(encode_image(anonymizer.anonymize(photo[0], found[name]).image, ".jpg"))
        d = distances(describer, photo, out)
        assert (d >= DLIB_MATCH_DISTANCE).all(), \
            f"{method} defaults in {detector}'s boxes: dlib still matches {name} (distance {d})"


def test_the_check_catches_a_recognisable_face(photos, describer):
    for name, photo in photos.items():
        reencoded = decode_image(encode_image(photo[0], ".jpg", quality=75))
        assert (distances(describer, photo, reencoded) < 0.2).all(), name
    hopper = photos["grace_hopper"]
    paper_blur = build_anonymizer("blur", kernel=31, region="box", mask_scale=1.0)
    assert (distances(describer, hopper, paper_blur.anonymize(hopper[0], hopper[1]).image) < DLIB_MATCH_DISTANCE).all()
