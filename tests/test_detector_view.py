"""The detector's view: a frozen detector's found rate, AP and retention on a hand-made split.

Three images, one face each, and predictions written by hand in the official layout:

* a.jpg: a face 30 px wide (bin 16-32), detected at its box with score 0.9;
* b.jpg: a face 40 px wide (bin 32-64), blacked out: no detection on it, only a
  false positive elsewhere at score 0.6;
* c.jpg: a face 12 px wide (bin < 16), shrunk below 16 px: detected at its box,
  but with score 0.4, under the found-rate threshold 0.5.

The original split (same names and boxes) has all three found (0.9, 0.8, 0.7).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from builders import make_face_split, plain_config

from safefakes import cli
from safefakes.data.images import write_image
from safefakes.data.split import Split
from safefakes.data.wider_files import ImageFaces, write_prediction
from safefakes.detector.train import train_detector
from safefakes.errors import InputError
from safefakes.evaluation.detector_view import (
    FACE_SETS,
    ViewSettings,
    face_set_masks,
    view_columns,
    view_folders,
    write_view,
)

BOXES = {"e/a.jpg": (10, 10, 30, 30), "e/b.jpg": (5, 5, 40, 40), "e/c.jpg": (2, 2, 12, 12)}
ANONYMIZED = {
    "a": [(10, 10, 30, 30, 0.9)],
    "b": [(50, 50, 10, 10, 0.6)],
    "c": [(2, 2, 12, 12, 0.4)],
}
ORIGINAL = {
    "a": [(10, 10, 30, 30, 0.9)],
    "b": [(5, 5, 40, 40, 0.8)],
    "c": [(2, 2, 12, 12, 0.7)],
}


def write_split(root, boxes=BOXES):
    rng = np.random.default_rng(0)
    images = []
    for name, box in boxes.items():
        write_image(root / "images" / name, (rng.random((64, 64, 3)) * 255).astype(np.uint8))
        images.append(ImageFaces(name, np.array([box])))
    Split(root, images).save_metadata()
    return root


def write_preds(root, detections):
    for stem, dets in detections.items():
        write_prediction(root, "e", stem, np.array(dets, dtype=np.float64).reshape(-1, 5))
    return root


@pytest.fixture
def folders(tmp_path):
    return {
        "split": write_split(tmp_path / "anonymized"),
        "preds": write_preds(tmp_path / "anonymized_preds", ANONYMIZED),
        "original": write_split(tmp_path / "original"),
        "original_preds": write_preds(tmp_path / "original_preds", ORIGINAL),
    }


SETTINGS = ViewSettings(resamples=300, seed=0)


def test_numbers_equal_the_hand_computed_ones(folders):
    result = view_folders(folders["split"], folders["preds"], folders["original"], folders["original_preds"],
                          settings=SETTINGS)
    assert (result.n_images, result.n_faces, result.n_missing) == (3, 3, 0)
    # AP, official protocol: scores normalised to a 1.0, b 0.4, c 0.0. Above 0.4 one match of one
    # proposal (recall 1/3, precision 1); from 0.4 the false positive (precision 1/2); at 0.0 the
    # tiny face (recall 2/3, precision 2/3). VOC AP: 1/3 * 1 + 1/3 * 2/3 = 5/9.
    assert result.ap.value == pytest.approx(5 / 9)
    # Found at score >= 0.5: a only.
    expected = {"all": 1 / 3, "ge16": 1 / 2, "lt16": 0.0, "16to32": 1.0, "32to64": 0.0}
    for key, value in expected.items():
        assert result.recall[key].value == pytest.approx(value), key
    # Without a manifest every face is the split's own ("painted" = all faces >= 16 px).
    faces = {"all": 3, "ge16": 2, "lt16": 1, "16to32": 1, "32to64": 1, "ge64": 0, "painted_ge16": 2}
    assert {k: e.n for k, e in result.recall.items()} == faces
    # No face of 64 px or more: NaN, not a crash.
    assert math.isnan(result.recall["ge64"].value) and math.isnan(result.recall["ge64"].low)
    # The original finds every face (AP 1), so each retention equals the method's own number.
    assert result.retention["ap"].value == pytest.approx(5 / 9)
    for key, value in expected.items():
        assert result.retention[key].value == pytest.approx(value), key
    assert math.isnan(result.retention["ge64"].value)


def test_intervals_bracket_the_values_and_are_paired(folders):
    result = view_folders(folders["split"], folders["preds"], folders["original"], folders["original_preds"],
                          settings=SETTINGS)
    for e in (result.ap, *result.recall.values(), *result.retention.values()):
        if not math.isnan(e.value):
            assert e.low <= e.value + 1e-12 and e.value <= e.high + 1e-12
    # One face a bin: a resample finds it always (a) or never (b, c), on both sides alike.
    assert (result.recall["16to32"].low, result.recall["16to32"].high) == (1.0, 1.0)
    assert (result.recall["lt16"].low, result.recall["lt16"].high) == (0.0, 0.0)
    assert (result.retention["16to32"].low, result.retention["16to32"].high) == (1.0, 1.0)
    # Seeded: the same numbers again.
    again = view_folders(folders["split"], folders["preds"], folders["original"], folders["original_preds"],
                         settings=SETTINGS)
    assert again.to_dict() == result.to_dict()


def test_without_a_reference_there_is_no_retention(folders):
    result = view_folders(folders["split"], folders["preds"], settings=SETTINGS)
    assert result.retention is None
    assert result.recall["ge16"].value == pytest.approx(0.5)


def test_json_and_table_columns(folders, tmp_path):
    result = view_folders(folders["split"], folders["preds"], folders["original"], folders["original_preds"],
                          settings=SETTINGS)
    path = write_view(result, tmp_path / "out" / "detector_view.json")
    data = json.loads(path.read_text())
    assert data["recall"]["ge64"] == {"value": None, "low": None, "high": None, "n": 0}
    assert data["recall"]["16to32"]["n"] == 1 and data["score_threshold"] == 0.5
    assert data["bootstrap"] == {"resamples": 300, "seed": 0, "confidence": 0.95}
    assert data["size_bins_px"]["ge64"] == [64, None]
    columns = view_columns(data)
    assert columns["view_recall_ge16"] == pytest.approx(0.5)
    assert columns["view_faces_lt16"] == 1
    assert columns["view_retention_ap"] == pytest.approx(5 / 9)
    assert math.isnan(columns["view_recall_ge64"])
    assert {f"view_retention_{k}_high" for k in FACE_SETS} <= set(columns)


def test_face_sets_bin_by_box_width():
    masks = face_set_masks(np.array([0, 15, 16, 31, 32, 63, 64, 500]))
    assert masks.tolist() == [
        [True, False, True, False, False, False, False],
        [True, False, True, False, False, False, False],
        [True, True, False, True, False, False, True],
        [True, True, False, True, False, False, True],
        [True, True, False, False, True, False, True],
        [True, True, False, False, True, False, True],
        [True, True, False, False, False, True, True],
        [True, True, False, False, False, True, True],
    ]
    painted = face_set_masks(np.array([20, 20, 10]), painted=np.array([True, False, True]))
    assert painted[:, FACE_SETS.index("painted_ge16")].tolist() == [True, False, False]


def test_the_painted_set_leaves_out_the_faces_the_method_blacked_out(folders):
    # As CIAGAN writes it: a painted, b blacked out (no landmarks), c too small to matter.
    rows = ["image,face_index,x,y,w,h,method,status",
            "e/a.jpg,0,10,10,30,30,ciagan,anonymized",
            "e/b.jpg,0,5,5,40,40,ciagan,no_landmarks_blacked_out",
            "e/c.jpg,0,2,2,12,12,ciagan,anonymized"]
    (folders["split"] / "manifest.csv").write_text("\n".join(rows) + "\n")
    result = view_folders(folders["split"], folders["preds"], folders["original"], folders["original_preds"],
                          settings=SETTINGS)
    painted = result.recall["painted_ge16"]
    assert (painted.n, painted.value) == (1, 1.0)  # a, found; b is not counted
    assert result.recall["ge16"].value == pytest.approx(1 / 2)  # b still counts among all faces
    assert result.retention["painted_ge16"].value == pytest.approx(1.0)  # the original finds a too


def test_a_reference_with_other_boxes_is_named(folders, tmp_path):
    other = write_split(tmp_path / "other", {**BOXES, "e/a.jpg": (11, 10, 30, 30)})
    with pytest.raises(InputError, match="annotations.txt.*other boxes in e/a"):
        view_folders(folders["split"], folders["preds"], other, folders["original_preds"], settings=SETTINGS)


def test_predictions_of_another_split_are_named(folders, tmp_path):
    preds = write_preds(tmp_path / "stray", {"zzz": [(1, 1, 5, 5, 0.9)]})
    with pytest.raises(InputError, match="not in .*e/zzz"):
        view_folders(folders["split"], preds, settings=SETTINGS)
    with pytest.raises(InputError, match="prediction folder not found"):
        view_folders(folders["split"], tmp_path / "nowhere", settings=SETTINGS)


def test_an_empty_split_gives_nan_not_a_crash(tmp_path):
    root = tmp_path / "empty"
    Split(root, []).save_metadata()
    (tmp_path / "preds").mkdir()
    result = view_folders(root, tmp_path / "preds", root, tmp_path / "preds", settings=SETTINGS)
    assert result.n_faces == 0 and math.isnan(result.ap.value) and math.isnan(result.retention["all"].value)


# --------------------------------------------------------------------------- #
# The command: a tiny detector checkpoint on a tiny synthetic split
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def tiny_detector(tmp_path_factory):
    root = tmp_path_factory.mktemp("view_cli")
    split = make_face_split(root / "train", [[(4, 6, 20), (34, 30, 26)], [(40, 4, 16)], [(8, 30, 28), (44, 44, 14)]],
                            size=64, with_mat=False)
    config = plain_config(input_size=48, batch_size=2, warmup_iterations=1, checkpoint_every=100)
    return split, train_detector(split, root / "run", config, iterations=2, progress=False)


def test_command_predicts_prints_and_writes_the_view(tiny_detector, tmp_path, capsys):
    split, checkpoint = tiny_detector
    out = tmp_path / "view.json"
    code = cli.main(["detector-view", str(split), "--detector", str(checkpoint), "--reference", str(split),
                     "--out", str(out), "--predictions", str(tmp_path / "preds"), "--resamples", "100",
                     "--device", "cpu"])
    assert code == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("images: 3  faces: 5")
    assert any(line.startswith(">= 16 px") for line in printed) and "retention" in printed[1]
    written = json.loads(out.read_text())
    assert json.loads(printed[-1]) == written
    assert written["n_faces"] == 5 and written["recall"]["lt16"]["n"] == 1 and written["recall"]["ge16"]["n"] == 4
    # The same numbers as the library's on the kept predictions; the split is its own reference,
    # so every defined retention is exactly 1.
    again = view_folders(split, tmp_path / "preds" / "split", split, tmp_path / "preds" / "reference",
                         settings=ViewSettings(resamples=100))
    assert again.to_dict() == written
    for entry in (written["retention"]["ap"], *written["retention"]["recall"].values()):
        assert entry["value"] in (None, 1.0)


def test_command_names_a_missing_checkpoint(tiny_detector, tmp_path, capsys):
    split, _ = tiny_detector
    code = cli.main(["detector-view", str(split), "--detector", str(tmp_path / "none.pt")])
    err = capsys.readouterr().err
    assert code == 2 and "none.pt" in err and "train-detector" in err


# --------------------------------------------------------------------------- #
# Tables and Table II
# --------------------------------------------------------------------------- #
def test_views_join_the_run_table_and_correlate_with_map(folders, tmp_path):
    from safefakes.evaluation.correlation import correlate
    from safefakes.evaluation.tables import collect_runs, per_split_metrics

    root = tmp_path / "runs"
    result = view_folders(folders["split"], folders["preds"], folders["original"], folders["original_preds"],
                          settings=SETTINGS)
    own = view_folders(folders["original"], folders["original_preds"], settings=SETTINGS)
    methods = {"original": 0.9, "blur": 0.5, "blackout": 0.3, "pixelate": 0.4, "fullblur": 0.8}
    for method, ap in methods.items():
        point = root / f"anonymizer~{method}" / "faces~0" / "anon_iters~0"
        (point / "det_iters~10" / "seed~0").mkdir(parents=True)
        (point / "det_iters~10" / "seed~0" / "map.json").write_text(
            json.dumps({"easy": ap, "medium": ap, "hard": ap}))
        data = (own if method == "original" else result).to_dict()
        # A found rate that follows the method's mAP, so that Table II has something to find.
        data["recall"]["ge16"]["value"] = ap
        (point / "detector_view.json").write_text(json.dumps(data))
    table = collect_runs(root).set_index("anonymizer")
    assert table.loc["blur", "view_recall_ge16"] == 0.5
    assert table.loc["blur", "view_retention_16to32"] == pytest.approx(1.0)
    assert table.loc["blur", "view_faces_ge16"] == 2
    assert math.isnan(table.loc["original", "view_retention_ge16"])  # the original has no retention
    assert "view_recall_ge16" in per_split_metrics(table.reset_index()).columns
    corr = correlate(table.reset_index(), {"blur": "conventional", "blackout": "conventional",
                                           "pixelate": "conventional", "fullblur": "conventional"})
    row = corr[(corr.metric == "view_recall_ge16") & (corr.group == "all")].iloc[0]
    assert row.n == 4 and row.pearson == pytest.approx(1.0)


def test_the_retention_by_size_figure_draws_one_line_per_method(tmp_path):
    from safefakes.plots.study import draw_study_figures
    from safefakes.plots.view_sizes import plot_view_retention_by_size

    rows = []
    for method, base in (("original", math.nan), ("blur", 0.2), ("deepprivacy", 0.9)):
        row = {"anonymizer": method, "faces": 0, "anon_iters": 0, "det_iters": 10, "seed": 0,
               "easy": 0.5, "medium": 0.5, "hard": 0.5}
        for k, b in enumerate(("lt16", "16to32", "32to64", "ge64")):
            value = base * (1 + k) / 4
            row.update({f"view_retention_{b}": value, f"view_retention_{b}_low": value - 0.05,
                        f"view_retention_{b}_high": value + 0.05})
        rows.append(row)
    table = pd.DataFrame(rows)
    paths = plot_view_retention_by_size(table, tmp_path / "view")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 0 for p in paths)
    assert "view_retention_by_size" in draw_study_figures(table, tmp_path / "study")
    with pytest.raises(ValueError, match="no detector view"):
        plot_view_retention_by_size(table.drop(columns=["view_retention_lt16"]), tmp_path / "none")


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_resamples_below_one_are_refused_naming_the_flag(capsys, value):
    """Issue 28 sweep: --resamples 0 ran (rc 0, intervals of no resample), -5 ended in a traceback."""
    with pytest.raises(SystemExit):
        cli.main(["detector-view", "split", "--detector", "d.pt", "--resamples", value])
    err = capsys.readouterr().err
    assert "argument --resamples:" in err and "Traceback" not in err, err
