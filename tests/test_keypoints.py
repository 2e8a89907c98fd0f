"""Keypoint sources on known inputs: dlib on the astronaut, layouts, the oracle, providers."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest
import torch
from skimage import data as skdata

from safefakes.data.split import Split
from safefakes.data.wider_files import ImageFaces
from safefakes.errors import InputError, MissingWeightsError
from safefakes.keypoints import convert_keypoints, make_keypoint_provider, stack_keypoints
from safefakes.keypoints.deepprivacy7 import CONFIG_KEY, DeepPrivacy7Detector, build_keypoint_rcnn, match_people
from safefakes.keypoints.dlib68 import detect_landmarks, landmarks_in_box
from safefakes.keypoints.oracle import MIN_FACE_SIZE, oracle_keypoints

torch.set_num_threads(1)

# Read off the image by eye (skimage.data.astronaut, 512 x 512): the face box,
# the pupils (image left / image right) and the nose tip.
ASTRONAUT_BOX = np.array([172, 70, 95, 100])
PUPIL_IMAGE_LEFT = (202, 101)
PUPIL_IMAGE_RIGHT = (247, 104)
NOSE_TIP = (225, 122)


@pytest.fixture(scope="module")
def astronaut():
    return skdata.astronaut()


def test_dlib68_on_the_astronaut(astronaut):
    kp = landmarks_in_box(astronaut, ASTRONAUT_BOX)
    assert kp.shape == (68, 3) and (kp[:, 2] == 1).all()
    assert kp[36:42, :2].mean(0) == pytest.approx(PUPIL_IMAGE_LEFT, abs=6)
    assert kp[42:48, :2].mean(0) == pytest.approx(PUPIL_IMAGE_RIGHT, abs=6)
    assert kp[30, :2] == pytest.approx(NOSE_TIP, abs=8)
    # jaw runs from the image left to the image right, the chin below the mouth
    assert kp[0, 0] < kp[8, 0] < kp[16, 0] and kp[8, 1] > kp[57, 1]
    assert not np.shares_memory(kp, astronaut)


def test_dlib68_reports_faces_it_cannot_find(astronaut):
    # a box on the background, and the face shrunk to ~24 px: no landmarks
    small = cv2.resize(astronaut, (128, 128), interpolation=cv2.INTER_AREA)
    out = detect_landmarks(small, np.array([ASTRONAUT_BOX // 4, [5, 5, 20, 20]]))
    assert out == [None, None]
    assert detect_landmarks(astronaut, np.array([[400, 10, 60, 60]])) == [None]


def test_deepprivacy7_from_dlib_on_the_astronaut(astronaut):
    det = DeepPrivacy7Detector(weights=None)
    assert det.source == "dlib68-fallback"
    (kp,) = det(astronaut, ASTRONAUT_BOX[None])
    assert kp.shape == (7, 3)
    assert kp[0, :2] == pytest.approx(NOSE_TIP, abs=8)
    # COCO 'left eye' is the subject's left: on the image's right
    assert kp[1, :2] == pytest.approx(PUPIL_IMAGE_RIGHT, abs=6)
    assert kp[2, :2] == pytest.approx(PUPIL_IMAGE_LEFT, abs=6)
    assert kp[3, 0] > kp[1, 0] and kp[4, 0] < kp[2, 0]  # ears outside the eyes
    assert (kp[5:, 2] == 0).all()  # no shoulders from dlib


def test_keypoint_rcnn_weights_missing_or_wrong(tmp_path):
    with pytest.raises(MissingWeightsError) as err:
        build_keypoint_rcnn(tmp_path / "nope.pth")
    assert "nope.pth" in str(err.value) and CONFIG_KEY in str(err.value) and "download.pytorch.org" in str(err.value)
    with pytest.raises(MissingWeightsError):
        DeepPrivacy7Detector(weights=None, allow_dlib_fallback=False)
    with pytest.raises(MissingWeightsError):
        make_keypoint_provider("deepprivacy7", weights=tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"w": torch.zeros(1)}, bad)
    with pytest.raises(InputError, match="not keypointrcnn"):
        build_keypoint_rcnn(bad)


def test_match_people_follows_deepprivacys_wider_rules():
    people = np.zeros((4, 17, 3))
    people[0, :5] = [[15, 15, 1]] * 5  # nose and eyes inside box A
    people[1, :5] = [[65, 65, 0]] * 5  # inside box B; keypoint visibility is not asked
    people[1, 3:5] = [[500, 500, 1]] * 2  # ears far outside: only nose and eyes count
    people[2, :3] = [[14, 14, 1], [16, 16, 1], [40, 40, 1]]  # one eye outside box A
    people[3, :3] = [[10, 10, 1], [20, 20, 1], [15, 15, 1]]  # on box A's edges
    people[:, 5:7] = [[100, 100, 1], [120, 100, 1]]
    boxes = np.array([[10, 10, 10, 10], [60, 60, 10, 10], [200, 200, 5, 5], [10, 10, 10, 10]])
    out = match_people(boxes, people, np.array([0.5, 0.8, 0.99, 0.9]))
    # Box A: person 3 (score 0.9, on the edges) before person 0 (0.5); person 2 has an eye outside.
    assert out[0][0].tolist() == [10, 10, 1]
    assert out[1][0].tolist() == [65, 65, 1] and out[1][3].tolist() == [500, 500, 1]
    assert out[2] is None
    # The same box again: person 3 is taken, so the next free one (person 0) serves it.
    assert out[3][0].tolist() == [15, 15, 1]
    assert all(o is None or (o.shape == (7, 3) and (o[:, 2] == 1).all()) for o in out)
    assert match_people(boxes[:1], np.zeros((0, 17, 3)), np.zeros(0)) == [None]


def test_layout_conversions():
    kp = np.zeros((72, 3))
    kp[:, 2] = 1
    kp[30, :2] = [50, 60]
    kp[36:42, :2] = [40, 50]
    kp[42:48, :2] = [60, 50]
    kp[68:72, :2] = [[80, 55], [20, 55], [90, 100], [10, 100]]
    dp7 = convert_keypoints(kp, "synthetic72", "deepprivacy7")
    assert dp7[:, :2].tolist() == [[50, 60], [60, 50], [40, 50], [80, 55], [20, 55], [90, 100], [10, 100]]
    d68 = convert_keypoints(kp, "synthetic72", "dlib68")
    assert d68.shape == (68, 3)
    from68 = convert_keypoints(d68, "dlib68", "deepprivacy7")
    assert from68[:3, :2].tolist() == dp7[:3, :2].tolist() and (from68[5:, 2] == 0).all()
    c5 = np.array([[69, 109, 1], [106, 113, 1], [77, 142, 1], [73, 152, 1], [108, 154, 1]], float)
    assert convert_keypoints(c5, "celeba5", "deepprivacy7")[:3, :2].tolist() == [[77, 142], [106, 113], [69, 109]]
    with pytest.raises(ValueError):
        convert_keypoints(np.zeros((7, 3)), "deepprivacy7", "dlib68")


def test_oracle_respects_each_sources_minimum_face_size():
    assert MIN_FACE_SIZE == {"dlib68": 50, "deepprivacy7": 10}
    boxes = np.array([[0, 0, 60, 70], [0, 0, 30, 40], [0, 0, 8, 9]])
    kps = np.ones((3, 72, 3))
    dlib = oracle_keypoints(kps, boxes, "dlib68")
    dp7 = oracle_keypoints(kps, boxes, "deepprivacy7")
    assert dlib[0].shape == (68, 3) and dlib[1] is None and dlib[2] is None
    assert dp7[0].shape == (7, 3) and dp7[1].shape == (7, 3) and dp7[2] is None
    kps[0, :, 2] = 0  # all hidden
    assert oracle_keypoints(kps, boxes, "deepprivacy7")[0] is None


def test_oracle_provider_reads_the_split(tmp_path):
    root = tmp_path / "split"
    kps = np.ones((2, 72, 3))
    kps[:, :, :2] = 33.0
    Split(root, [ImageFaces("e/a.jpg", np.array([[10, 10, 60, 60], [0, 0, 20, 20]]))],
          {"e/a.jpg": kps}, "synthetic72").save_metadata()
    provider = make_keypoint_provider("oracle-dlib68", split=root)
    out = provider(np.zeros((100, 100, 3), np.uint8), "e/a.jpg", np.array([[10, 10, 60, 60], [0, 0, 20, 20]]))
    assert out.shape == (2, 68, 3)
    assert (out[0, :, 2] == 1).all() and (out[0, :, 0] == 33).all() and (out[1, :, 2] == 0).all()
    clone = pickle.loads(pickle.dumps(provider))  # workers get their own copy
    assert np.array_equal(clone(np.zeros((100, 100, 3), np.uint8), "e/a.jpg", np.array([[10, 10, 60, 60]]))[0], out[0])
    assert provider.describe()["layout"] == "dlib68"
    with pytest.raises(InputError, match="keypoints.json"):
        Split(tmp_path / "nokp", [ImageFaces("e/a.jpg", np.array([[0, 0, 5, 5]]))]).save_metadata()
        make_keypoint_provider("oracle-deepprivacy7", split=tmp_path / "nokp")
    with pytest.raises(ValueError):
        make_keypoint_provider("magic")


def test_dlib_provider_on_the_astronaut(astronaut):
    provider = make_keypoint_provider("dlib68")
    out = provider(astronaut, "astronaut.png", np.array([ASTRONAUT_BOX, [400, 10, 60, 60]]))
    assert out.shape == (2, 68, 3) and (out[0, :, 2] == 1).all() and (out[1, :, 2] == 0).all()
    assert stack_keypoints([None, np.ones((7, 3))], 7)[:, 0, 2].tolist() == [0, 1]


@pytest.mark.slow
def test_keypoint_rcnn_loads_a_checkpoint_and_runs(tmp_path):
    """The real loading and matching code on a checkpoint made here (random weights, nothing downloaded)."""
    from torchvision.models.detection import keypointrcnn_resnet50_fpn

    torch.manual_seed(0)
    path = tmp_path / "krcnn.pth"
    state = keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None).state_dict()
    # The COCO file holds frozen batch norms: no num_batches_tracked entries.
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    torch.save(state, path)
    det = DeepPrivacy7Detector(weights=path, device="cpu", min_score=0.0)
    assert det.source == "keypointrcnn"
    assert {m.eps for m in det.model.modules() if isinstance(m, torch.nn.BatchNorm2d)} == {0.0}
    det.model.transform.min_size, det.model.transform.max_size = (64,), 64  # keep the test fast
    out = det(np.zeros((64, 64, 3), np.uint8), np.array([[10, 10, 30, 30], [40, 40, 10, 10]]))
    assert len(out) == 2 and all(kp is None or kp.shape == (7, 3) for kp in out)
