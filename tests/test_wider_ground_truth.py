"""The official val .mat ground truth: the real counts, writing our own, bad files."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from safefakes.data.split import height_proxy_subsets
from safefakes.data.wider_files import (
    SUBSETS,
    GroundTruth,
    GroundTruthImage,
    ImageFaces,
    read_ground_truth,
    write_ground_truth,
)
from safefakes.errors import InputError


def test_real_val_ground_truth_counts(wider_val_gt_dir):
    gt = read_ground_truth(wider_val_gt_dir)
    assert len(gt.events) == 61
    assert len(gt.images) == 3226
    assert gt.n_faces == 39708
    assert [gt.n_kept(s) for s in SUBSETS] == [7211, 13319, 31958]
    first = gt.images[0]
    assert first.event == "0--Parade" and first.stem == "0_Parade_marchingband_1_465"
    assert first.attributes is not None and first.attributes.shape == (len(first.boxes), 6)


def test_height_proxy_agrees_with_official_lists(wider_val_gt_dir):
    gt = read_ground_truth(wider_val_gt_dir)
    agree = {s: 0 for s in SUBSETS}
    total = 0
    for im in gt.images:
        faces = ImageFaces(f"{im.event}/{im.stem}.jpg", im.boxes, im.attributes)
        proxy = height_proxy_subsets(faces)
        for s in SUBSETS:
            a = np.zeros(len(faces), bool)
            a[proxy[s]] = True
            b = np.zeros(len(faces), bool)
            b[im.kept[s]] = True
            agree[s] += int((a == b).sum())
        total += len(faces)
    rates = {s: round(100 * agree[s] / total, 1) for s in SUBSETS}
    assert rates == {"easy": 99.8, "medium": 99.4, "hard": 98.0}


def _tiny_gt() -> GroundTruth:
    return GroundTruth(
        events=["0--A", "1--B"],
        images=[
            GroundTruthImage("0--A", "a1", np.array([[1, 2, 30, 40], [5, 6, 7, 8]], float),
                             {"easy": np.array([]), "medium": np.array([0]), "hard": np.array([0, 1])},
                             np.array([[0, 0, 0, 0, 0, 0], [2, 1, 0, 1, 2, 1]])),
            GroundTruthImage("0--A", "a2", np.zeros((0, 4)),
                             {s: np.array([], int) for s in SUBSETS}, np.zeros((0, 6), int)),
            GroundTruthImage("1--B", "b1", np.array([[10, 10, 60, 60]], float),
                             {s: np.array([0]) for s in SUBSETS}, np.zeros((1, 6), int)),
        ],
    )


def test_write_then_read_round_trip(tmp_path):
    write_ground_truth(tmp_path, _tiny_gt())
    back = read_ground_truth(tmp_path)
    assert back.events == ["0--A", "1--B"]
    assert [im.key for im in back.images] == ["0--A/a1", "0--A/a2", "1--B/b1"]
    np.testing.assert_array_equal(back.images[0].boxes, [[1, 2, 30, 40], [5, 6, 7, 8]])
    assert back.images[0].kept["hard"].tolist() == [0, 1]
    assert back.images[0].kept["easy"].tolist() == []
    assert back.images[0].attributes[1].tolist() == [2, 1, 0, 1, 2, 1]
    assert back.images[1].boxes.shape == (0, 4)
    # The files carry the official 1-based indices, as MATLAB reads them.
    raw = scipy.io.loadmat(str(tmp_path / "wider_hard_val.mat"))
    assert np.asarray(raw["gt_list"][0, 0][0, 0]).ravel().tolist() == [1, 2]


def test_wrong_structure_is_named(tmp_path):
    write_ground_truth(tmp_path, _tiny_gt())
    scipy.io.savemat(str(tmp_path / "wider_easy_val.mat"), {"something": np.zeros(3)})
    with pytest.raises(InputError, match=r"wider_easy_val.mat.*missing variable"):
        read_ground_truth(tmp_path)


def test_out_of_range_index_is_named(tmp_path):
    gt = _tiny_gt()
    gt.images[2].kept["medium"] = np.array([3])
    write_ground_truth(tmp_path, gt)
    with pytest.raises(InputError, match=r"wider_medium_val.mat.*1-based"):
        read_ground_truth(tmp_path)


def test_missing_files(tmp_path):
    with pytest.raises(InputError, match="folder not found"):
        read_ground_truth(tmp_path / "nope")
    with pytest.raises(InputError, match="wider_face_val.mat.*not found"):
        read_ground_truth(tmp_path)
