"""The Split type: loading a folder, sidecars, subsets, ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from safefakes.data.split import Split
from safefakes.data.wider_files import ImageFaces, read_ground_truth
from safefakes.errors import InputError


def _split(tmp_path) -> Split:
    images = [
        ImageFaces("0--A/one.jpg", [[0, 0, 60, 60], [10, 10, 35, 35], [70, 5, 12, 12], [1, 1, 8, 8]],
                   [[0] * 6, [0] * 6, [0] * 6, [0, 0, 0, 0, 0, 0]]),
        ImageFaces("1--B/two.jpg", [[5, 5, 70, 80]], [[0, 0, 0, 1, 0, 0]]),  # invalid
        ImageFaces("1--B/none.jpg", np.zeros((0, 4))),
    ]
    kp = {"0--A/one.jpg": np.ones((4, 2, 3)), "1--B/two.jpg": np.ones((1, 2, 3)),
          "1--B/none.jpg": np.zeros((0, 2, 3))}
    ids = {"0--A/one.jpg": np.array([3, 4, 5, 6]), "1--B/two.jpg": np.array([3]),
           "1--B/none.jpg": np.array([], int)}
    return Split(tmp_path, images, kp, "toy2", ids, {3: np.array([0.5, 1.0])})


def test_height_proxy_subsets(tmp_path):
    sub = _split(tmp_path).subsets()
    assert sub["0--A/one.jpg"]["easy"].tolist() == [0]
    assert sub["0--A/one.jpg"]["medium"].tolist() == [0, 1]
    assert sub["0--A/one.jpg"]["hard"].tolist() == [0, 1, 2]  # 8 px is not > 10
    # Invalid faces are never kept.
    assert all(len(sub["1--B/two.jpg"][s]) == 0 for s in ("easy", "medium", "hard"))


def test_save_and_load_with_sidecars_and_mat(tmp_path):
    split = _split(tmp_path)
    split.save_metadata(with_mat=True)
    back = Split.load(tmp_path)
    assert [im.name for im in back.images] == [im.name for im in split.images]
    assert back.keypoint_layout == "toy2"
    assert back.keypoints["0--A/one.jpg"].shape == (4, 2, 3)
    assert back.identities["0--A/one.jpg"].tolist() == [3, 4, 5, 6]
    np.testing.assert_allclose(back.identity_vectors[3], [0.5, 1.0])
    assert back.ground_truth is not None
    gt = read_ground_truth(tmp_path)
    assert gt.n_faces == 5 and gt.n_kept("hard") == 3
    # Official lists, once present, drive the subsets.
    assert back.subsets()["0--A/one.jpg"]["medium"].tolist() == [0, 1]
    assert back.image_path("0--A/one.jpg") == tmp_path / "images" / "0--A" / "one.jpg"


def test_not_a_split(tmp_path):
    with pytest.raises(InputError, match="annotations.txt missing"):
        Split.load(tmp_path)
    with pytest.raises(InputError, match="split folder not found"):
        Split.load(tmp_path / "absent")


def test_sidecar_errors_name_file(tmp_path):
    split = _split(tmp_path)
    split.save_metadata()
    (tmp_path / "keypoints.json").write_text('{"layout": "x", "faces": {"0--A/one.jpg": [[[1, 2, 1]]]}}')
    with pytest.raises(InputError, match=r"keypoints.json.*expected \(4, K, 3\)"):
        Split.load(tmp_path)
    (tmp_path / "keypoints.json").write_text('{"layout": "x",\n "faces": {')
    with pytest.raises(InputError, match=r"keypoints.json:2"):
        Split.load(tmp_path)
    (tmp_path / "keypoints.json").unlink()
    (tmp_path / "identities.json").write_text(json.dumps({"faces": {"9--Z/ghost.jpg": []}}))
    with pytest.raises(InputError, match=r"identities.json.*ghost"):
        Split.load(tmp_path)
