"""Prediction folders in the official layout: round trip and malformed input."""

from __future__ import annotations

import numpy as np
import pytest

from safefakes.data.wider_files import read_prediction, read_predictions, write_prediction, write_predictions
from safefakes.errors import InputError


def test_round_trip_sorted_by_score(tmp_path):
    dets = np.array([[1, 2, 3, 4, 0.2], [5, 6, 7, 8, 0.9], [9, 9, 9, 9, 0.5]])
    path = write_prediction(tmp_path, "0--Parade", "img_1", dets)
    assert path == tmp_path / "0--Parade" / "img_1.txt"
    lines = path.read_text().splitlines()
    assert lines[0] == "img_1" and lines[1] == "3"
    assert [float(ln.split()[4]) for ln in lines[2:]] == [0.9, 0.5, 0.2]
    name, back = read_prediction(path)
    assert name == "img_1"
    np.testing.assert_allclose(back, dets[[1, 2, 0]])


def test_folder_round_trip_and_empty_image(tmp_path):
    preds = {"0--A/x": np.array([[0, 0, 10, 10, 1.0]]), "1--B/y": np.zeros((0, 5))}
    write_predictions(tmp_path, preds)
    back = read_predictions(tmp_path)
    assert sorted(back) == ["0--A/x", "1--B/y"]
    assert back["1--B/y"].shape == (0, 5)


@pytest.mark.parametrize(
    "body, line, fragment",
    [
        ("a\n1\n1 2 3 4\n", 3, "expected 5 fields"),
        ("a\n1\n1 2 3 4 x\n", 3, "expected numbers"),
        ("a\n1\n1 2 3 4 nan\n", 3, "NaN or infinite"),
        ("a\n1\n1 2 3 4 inf\n", 3, "NaN or infinite"),
        ("a\n2\n1 2 3 4 0.5\n", 2, "count line says 2"),
        ("a\nmany\n", 2, "number of boxes"),
        ("a\n", 2, "count line"),
    ],
)
def test_malformed_prediction_lines(tmp_path, body, line, fragment):
    path = tmp_path / "ev" / "a.txt"
    path.parent.mkdir()
    path.write_text(body)
    with pytest.raises(InputError) as err:
        read_prediction(path)
    assert err.value.line == line
    assert fragment in str(err.value)
    assert f"a.txt:{line}" in str(err.value)
