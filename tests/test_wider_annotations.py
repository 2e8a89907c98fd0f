"""The WIDER annotation text format: quirks of the real files, round trips, errors."""

from __future__ import annotations

import numpy as np
import pytest

from safefakes.data.wider_files import (
    ImageFaces,
    format_annotations,
    parse_annotations,
    read_annotations,
    write_annotations,
)
from safefakes.errors import InputError

REAL_STYLE = (
    "0--Parade/0_Parade_marchingband_1_849.jpg\n"
    "1\n"
    "449 330 122 149 0 0 0 0 0 0 \n"
    "0--Parade/0_Parade_Parade_0_904.jpg\n"
    "0\n"
    "0 0 0 0 0 0 0 0 0 0 \n"
    "2--Demonstration/2_Demonstration_Political_Rally_2_444.jpg\n"
    "3\n"
    "361 98 263 339 0 0 0 0 0 0 \n"
    "10 20 0 5 2 0 1 0 0 0 \n"
    "30 40 -3 8 1 1 0 1 2 1 \n"
)


def test_real_quirks_parse(tmp_path):
    path = tmp_path / "wider_face_train_bbx_gt.txt"
    # Windows line ends, trailing spaces, a zero-face image with its line of zeros.
    path.write_bytes(REAL_STYLE.replace("\n", "\r\n").encode())
    images = read_annotations(path)
    assert [im.name for im in images] == [
        "0--Parade/0_Parade_marchingband_1_849.jpg",
        "0--Parade/0_Parade_Parade_0_904.jpg",
        "2--Demonstration/2_Demonstration_Political_Rally_2_444.jpg",
    ]
    assert [len(im) for im in images] == [1, 0, 3]
    assert images[0].boxes.tolist() == [[449, 330, 122, 149]]
    assert images[1].boxes.shape == (0, 4)
    demo = images[2]
    assert demo.event == "2--Demonstration"
    assert demo.stem == "2_Demonstration_Political_Rally_2_444"
    # Zero and negative widths are kept and flagged, not dropped.
    assert demo.degenerate.tolist() == [False, True, True]
    assert demo.invalid.tolist() == [False, False, True]
    assert demo.attribute("blur").tolist() == [0, 2, 1]
    assert demo.attribute("pose").tolist() == [0, 0, 1]


def test_round_trip(tmp_path):
    images = parse_annotations(REAL_STYLE)
    out = tmp_path / "a.txt"
    write_annotations(out, images)
    again = read_annotations(out)
    assert format_annotations(again) == format_annotations(images)
    for a, b in zip(images, again):
        assert a.name == b.name
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.attributes, b.attributes)
    # A zero-face image is written with its line of ten zeros, like the originals.
    assert "0--Parade/0_Parade_Parade_0_904.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n" in out.read_text()


def test_imagefaces_rejects_mismatched_attributes():
    with pytest.raises(ValueError):
        ImageFaces("e/a.jpg", np.zeros((2, 4)), np.zeros((1, 6)))


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("e/a.jpg\n1\n1 2 3 4 0 0 0 0 0\n", 3, "expected 10 fields"),
        ("e/a.jpg\n1\n1 2 x 4 0 0 0 0 0 0\n", 3, "expected integers"),
        ("e/a.jpg\none\n", 2, "face count"),
        ("e/a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n", 4, "file ends inside"),
        ("e/a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\ne/b.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n", 4, "only 1 face lines"),
        ("e/a.txt\n1\n1 2 3 4 0 0 0 0 0 0\n", 1, "image path"),
        ("e/a.jpg\n0\n1 0 0 0 0 0 0 0 0 0\n", 3, "line of zeros"),
        ("e/a.jpg\n-1\n", 2, "negative"),
        ("e/a.jpg\n1\n1 2 3 4 0 0 0 0 0 0\ne/a.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n", 4, "listed twice"),
        ("e/a.jpg\n", 2, "expected a face count"),
    ],
)
def test_parse_errors_name_file_and_line(tmp_path, text, line, fragment):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_annotations(path)
    assert err.value.line == line
    assert err.value.path == path
    assert fragment in str(err.value)
    assert f"bad.txt:{line}" in str(err.value)


def test_missing_annotation_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_annotations(tmp_path / "nope.txt")


def _both_parsers(text: str):
    """(result or error message) of parse_annotations and of the line-by-line parser alone."""
    from pathlib import Path

    from safefakes.data import wider_files

    def outcome(parse):
        try:
            return [(im.name, im.boxes.tolist(), im.attributes.tolist()) for im in parse()]
        except InputError as exc:
            return str(exc)

    lines = [ln.strip() for ln in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return (outcome(lambda: parse_annotations(text, "a.txt")),
            outcome(lambda: wider_files._parse_checked(lines, Path("a.txt"))))


def test_fast_path_takes_plain_files_and_agrees_with_the_checked_parser():
    from safefakes.data import wider_files

    lines = [ln.strip() for ln in REAL_STYLE.split("\n") if ln.strip()]
    assert wider_files._parse_plain(lines) is not None, "the real files' layout must take the fast path"
    fast, checked = _both_parsers(REAL_STYLE)
    assert fast == checked and len(fast) == 3


@pytest.mark.parametrize("line, replacement", [
    (3, "449 330 122 149 0 0 0 0 0 0 7"),      # 11 fields
    (3, "449\t330 122 149 0 0 0 0 0 0"),       # a tab: the checked parser accepts it
    (3, "449 330 122.0 149 0 0 0 0 0 0"),      # an integer written as a float: accepted
    (3, "449 330 12.5 149 0 0 0 0 0 0"),       # not an integer
    (3, "449 330 1e3 149 0 0 0 0 0 0"),
    (3, "449 330 x 149 0 0 0 0 0 0"),
    (3, "449  330 122 149 0 0 0 0 0 0"),       # two spaces: accepted
    (2, "2"),                                  # count says more faces than follow
    (2, "-1"),
    (5, "7"),                                  # zero-face image with a non-zero line... count 7
    (6, "0 0 0 0 1 0 0 0 0 0"),
    (7, "0--Parade/0_Parade_marchingband_1_849.jpg"),  # listed twice
    (1, "0--Parade/notes.txt"),
    (3, "449 330 122 149 0 0 0 0 0 99999999999999999999999"),
])
def test_fast_path_and_checked_parser_agree_on_odd_lines(line, replacement):
    rows = REAL_STYLE.split("\n")
    rows[line - 1] = replacement
    fast, checked = _both_parsers("\n".join(rows))
    assert fast == checked


@pytest.mark.parametrize("second", ["e/a.png", "e/a.JPG", "e/a.jpeg"])
def test_two_images_sharing_an_event_and_stem_are_refused_naming_both_lines(tmp_path, second):
    # Prediction files (<event>/<stem>.txt) and the ground truth are keyed by event/stem:
    # e/a.jpg and e/a.png would share one prediction file and one ground-truth key.
    path = tmp_path / "annotations.txt"
    path.write_text(f"e/a.jpg\n1\n1 2 3 4 0 0 0 0 0 0\ne/b.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n{second}\n1\n"
                    "5 6 7 8 0 0 0 0 0 0\n")
    with pytest.raises(InputError) as err:
        read_annotations(path)
    assert err.value.path == path and err.value.line == 7
    message = str(err.value)
    assert "'e/a.jpg' (line 1)" in message and f"{second!r} (line 7)" in message
    assert "event/stem 'e/a'" in message and "rename one of the two images" in message
    fast, checked = _both_parsers(path.read_text())
    assert fast == checked


def test_the_same_stem_in_two_events_is_fine():
    images = parse_annotations("e/a.jpg\n0\n0 0 0 0 0 0 0 0 0 0\nf/a.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n")
    assert [im.name for im in images] == ["e/a.jpg", "f/a.jpg"]
