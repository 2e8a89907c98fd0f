"""The paper's Fig. 5 (detections side by side), Fig. 8 (failure cases) and the face-size table, on tiny
hand-made splits, manifests, predictions and detector views whose answers are known by construction."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
from builders import blur, make_anonymized, make_split

from safefakes.data.anonymized import Status
from safefakes.data.images import read_image
from safefakes.data.split import Split
from safefakes.data.wider_files import write_predictions
from safefakes.errors import InputError
from safefakes.evaluation import face_sizes as fs
from safefakes.evaluation.failure_cases import lowest_scored_faces
from safefakes.plots import detections as det_plot
from safefakes.plots import failure_cases as fail_plot

# --------------------------------------------------------------------------- #
# The face-size table
# --------------------------------------------------------------------------- #

# (width, status) of every face of the hand-made manifest.
FACES = [(6, Status.TOO_SMALL), (7, Status.TOO_SMALL), (9, Status.TOO_SMALL),
         (11, Status.ANONYMIZED), (11, Status.TOO_SMALL),
         (13, Status.ANONYMIZED), (13, Status.ANONYMIZED), (13, Status.NO_LANDMARKS_BLACKED_OUT),
         (15, Status.NO_KEYPOINTS_FALLBACK), (18, Status.ANONYMIZED), (70, Status.ANONYMIZED),
         (300, Status.ANONYMIZED)]


def _manifest(path, faces=FACES):
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "face_index", "x", "y", "w", "h", "method", "status"])
        for k, (w, status) in enumerate(faces):
            writer.writerow(["0--Test/a.jpg", k, 0, 0, w, w, "test", status])
    return path


def _view(path):
    def est(v):
        return {"value": v, "low": v - 0.1, "high": v + 0.1, "n": 3}
    recall = {b: est(0.5) for b in ("all", "ge16", "lt16", "16to32", "32to64", "ge64", "painted_ge16")}
    recall["lt16"] = est(0.25)
    retention = {b: est(0.9) for b in recall}
    retention["lt16"] = est(0.4)
    retention["ge64"] = {"value": None, "low": None, "high": None, "n": 0}
    path.write_text(json.dumps({"recall": recall, "retention": {"ap": est(0.8), "recall": retention}}))
    return path


def test_face_size_table_by_hand(tmp_path):
    split = fs.SplitSizes("test", 10, 20, _manifest(tmp_path / "manifest.csv"), _view(tmp_path / "view.json"))
    table = fs.face_size_table([split]).set_index("width_bin")
    assert list(table.index) == ["0-8", "8-10", "10-12", "12-14", "14-16", "16-20", "20-24", "24-32", "32-40",
                                 "40-50", "50-64", "64-96", "96-128", "128-256", ">= 256"]
    assert table["n_faces"].tolist() == [2, 1, 2, 3, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1]
    assert table.loc["0-8", "left_as_is"] == 1.0 and table.loc["0-8", "anonymized"] == 0.0
    assert table.loc["10-12", ["anonymized", "left_as_is"]].tolist() == [0.5, 0.5]
    assert table.loc["12-14", "anonymized"] == pytest.approx(2 / 3)
    assert table.loc["12-14", "blacked_out"] == pytest.approx(1 / 3)
    assert table.loc["14-16", "fallback"] == 1.0 and table.loc["14-16", "anonymized"] == 0.0
    assert np.isnan(table.loc["20-24", "anonymized"])  # no face in the bin
    shares = table.loc[table["n_faces"] > 0, list(fs.STATUS_COLUMNS)]
    assert np.allclose(shares.sum(axis=1), 1.0)
    # 10-12 is the first bin with at least half painted; of the 9 faces >= 10 px it paints 6.
    assert (table["paints_from_px"] == 10).all()
    assert table["painted_share_from"].iloc[0] == pytest.approx(6 / 9)
    # The view's numbers of the view bin that holds each bin.
    assert table.loc["12-14", "view_bin"] == "lt16" and table.loc["12-14", "view_retention"] == 0.4
    assert table.loc["12-14", "view_recall"] == 0.25 and table.loc["12-14", "view_recall_low"] == pytest.approx(0.15)
    assert table.loc["16-20", "view_bin"] == "16to32" and table.loc["16-20", "view_retention"] == 0.9
    assert table.loc[">= 256", "view_bin"] == "ge64" and np.isnan(table.loc[">= 256", "view_retention"])
    assert (table[["anonymizer", "faces", "anon_iters"]] == ["test", 10, 20]).all().all()

    csv_path, md_path = fs.write_face_sizes(table.reset_index(), tmp_path / "t.csv", tmp_path / "t.md")
    assert len(pd.read_csv(csv_path)) == 15
    md = md_path.read_text()
    assert "| test (10 faces, 20 images) | 10 | 67% | 0.40 [0.30, 0.50] | 0.90 [0.80, 1.00] |" in md
    assert "| 12-14 | 3 | P 67 · B 33 |" in md and "| 14-16 | 1 | F 100 |" in md
    assert "| 20-24 |" not in md  # empty bins are left out of the readable table


def test_face_size_table_without_a_manifest_and_a_method_that_never_paints(tmp_path):
    never = _manifest(tmp_path / "never.csv", [(w, Status.TOO_SMALL) for w in (5, 30, 80)])
    table = fs.face_size_table([fs.SplitSizes("theirs", 0, 0, None, _view(tmp_path / "v.json")),
                                fs.SplitSizes("lazy", 0, 0, never, None)])
    theirs, lazy = table[table.anonymizer == "theirs"], table[table.anonymizer == "lazy"]
    assert theirs["n_faces"].isna().all() and theirs["anonymized"].isna().all()
    assert theirs["view_retention"].notna().any()
    assert lazy["paints_from_px"].isna().all() and lazy["view_recall"].isna().all()
    md = fs.to_markdown(table)
    assert "| theirs | – | – |" in md and "| lazy | – | – |" in md


def test_face_size_table_needs_a_split():
    with pytest.raises(ValueError, match="at least one"):
        fs.face_size_table([])


# --------------------------------------------------------------------------- #
# Fig. 8: the failure cases
# --------------------------------------------------------------------------- #

STREET, PARTY = "0--Street/s_0.jpg", "1--Party/p_0.jpg"
BOXES = {STREET: [(5, 5, 30, 30), (45, 5, 12, 12), (70, 5, 36, 36), (115, 40, 30, 30)],
         PARTY: [(5, 5, 20, 24), (40, 5, 24, 24), (80, 20, 36, 36)]}


def _on(box, score):
    return [*box, score]


@pytest.fixture()
def failure_study(tmp_path):
    original = make_split(tmp_path / "original", BOXES)
    anonymized = make_anonymized(original, tmp_path / "anonymized", blur(5), method="deepprivacy",
                                 statuses={(STREET, 2): Status.NO_LANDMARKS_BLACKED_OUT,
                                           (PARTY, 2): Status.NO_KEYPOINTS_FALLBACK})
    s, p = BOXES[STREET], BOXES[PARTY]
    # The anonymized split: s#0 0.9 (and a weaker 0.2 on it), s#1 0.01 but 12 px wide, s#2 blacked out
    # and unseen, s#3 unseen; p#0 0.3, p#1 unseen, p#2 painted by the fallback, 0.05; a 0.99 on no face.
    write_predictions(tmp_path / "pred", {
        "0--Street/s_0": np.array([_on(s[0], 0.9), _on((s[0][0] + 1, *s[0][1:]), 0.2), _on(s[1], 0.01),
                                   [60, 60, 20, 20, 0.99]]),
        "1--Party/p_0": np.array([_on(p[0], 0.3), _on(p[2], 0.05)]),
    })
    # The same detector on the original: s#3 0.4, p#1 0.8 (the two zeros above: p#1 first).
    write_predictions(tmp_path / "ref", {
        "0--Street/s_0": np.array([_on(s[0], 0.95), _on(s[3], 0.4)]),
        "1--Party/p_0": np.array([_on(p[0], 0.7), _on(p[1], 0.8)]),
    })
    return tmp_path, original.root, anonymized


def test_failure_cases_are_the_lowest_scored_painted_faces(failure_study):
    tmp, original, anonymized = failure_study
    cases = lowest_scored_faces(anonymized, tmp / "pred", original, tmp / "ref")
    # Painted (status anonymized) and >= 16 px: s#0, s#3, p#0, p#1; lowest first, ties by the original's score.
    assert [(c.image, c.face_index, c.score) for c in cases] == [
        (PARTY, 1, 0.0), (STREET, 3, 0.0), (PARTY, 0, 0.3), (STREET, 0, 0.9)]
    assert [c.original_score for c in cases] == [0.8, 0.4, 0.7, 0.95]
    assert cases[0].box == BOXES[PARTY][1]
    # Without the original's predictions, ties go by image name; n limits the list.
    bare = lowest_scored_faces(anonymized, tmp / "pred", n=2)
    assert [(c.image, c.face_index, c.original_score) for c in bare] == [(STREET, 3, None), (PARTY, 1, None)]
    # A lower width limit lets the 12 px face in, scored 0.01.
    assert lowest_scored_faces(anonymized, tmp / "pred", min_width=10, n=3)[2].face_index == 1


def test_failure_cases_refuse_a_split_without_manifest_or_another_original(failure_study, tmp_path):
    tmp, original, anonymized = failure_study
    with pytest.raises(InputError, match="manifest.csv missing"):
        lowest_scored_faces(original, tmp / "ref")
    other = make_split(tmp_path / "other", {STREET: BOXES[STREET]})
    with pytest.raises(InputError, match="other images or boxes"):
        lowest_scored_faces(anonymized, tmp / "pred", other.root, tmp / "ref")
    with pytest.raises(InputError, match="prediction folder not found"):
        lowest_scored_faces(anonymized, tmp / "nowhere")


def _capture(monkeypatch, module):
    figures = []

    def keep(fig, out_stem):
        figures.append(fig)
        return [out_stem]
    monkeypatch.setattr(module, "save_figure", keep)
    return figures


def test_failure_case_figure_shows_each_face_and_its_scores(failure_study, monkeypatch):
    tmp, original, anonymized = failure_study
    cases = lowest_scored_faces(anonymized, tmp / "pred", original, tmp / "ref")
    paths = fail_plot.plot_failure_cases(cases, original, anonymized, tmp / "fig8")
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    figures = _capture(monkeypatch, fail_plot)
    fail_plot.plot_failure_cases(cases, original, anonymized, tmp / "again")
    axes = [ax for ax in figures[0].axes if ax.images]
    assert len(axes) == 2 * len(cases)
    for k, case in enumerate(cases):
        left, right = axes[2 * k], axes[2 * k + 1]
        assert left.get_title() == f"original: {case.original_score:.2f}"
        assert right.get_title() == f"DeepPrivacy: {case.score:.2f}"
        for ax, root in ((left, original), (right, anonymized)):
            image = read_image(Split.load(root).image_path(case.image))
            want, _ = fail_plot.face_crop(image, case.box)
            assert np.array_equal(np.asarray(ax.images[0].get_array()), want)


def test_face_crop_pads_outside_the_image():
    image = np.full((20, 20, 3), 200, np.uint8)
    crop, (bx, by, bw, bh) = fail_plot.face_crop(image, (0, 0, 10, 10), context=2.0)
    assert crop.shape == (20, 20, 3) and (bx, by, bw, bh) == (5, 5, 10, 10)
    assert (crop[:5] == 0).all() and (crop[5:, 5:] == 200).all()


def test_no_failure_case_draws_a_note_not_an_error(tmp_path, monkeypatch):
    paths = fail_plot.plot_failure_cases([], tmp_path / "x", tmp_path / "y", tmp_path / "fig8")
    assert all(p.is_file() for p in paths)
    figures = _capture(monkeypatch, fail_plot)
    fail_plot.plot_failure_cases([], tmp_path / "x", tmp_path / "y", tmp_path / "again")
    assert "no failure case" in figures[0].axes[0].texts[0].get_text()


# --------------------------------------------------------------------------- #
# Fig. 5: detections side by side
# --------------------------------------------------------------------------- #

VAL = {"0--A/a_0.jpg": [(5, 5, 10, 10)], "0--A/a_1.jpg": [(10, 10, 30, 30), (60, 10, 30, 30)],
       "1--B/b_0.jpg": [(5, 5, 30, 30)], "2--C/c_0.jpg": [(5, 5, 30, 30)], "3--D/d_0.jpg": [(20, 20, 24, 24)]}


def test_detection_images_come_from_distinct_events_spread_evenly(tmp_path):
    split = make_split(tmp_path / "val", VAL)
    # Four events, three images: A, C, D (the spread), A's first image with a face >= 16 px.
    assert det_plot.choose_detection_images(split) == ["0--A/a_1.jpg", "2--C/c_0.jpg", "3--D/d_0.jpg"]
    assert det_plot.choose_detection_images(split, n=9) == ["0--A/a_1.jpg", "1--B/b_0.jpg", "2--C/c_0.jpg",
                                                            "3--D/d_0.jpg"]


def test_detection_figure_draws_each_detector_on_the_same_images(tmp_path, monkeypatch):
    make_split(tmp_path / "val", VAL)
    a = VAL["0--A/a_1.jpg"]
    write_predictions(tmp_path / "fullblur", {
        "0--A/a_1": np.array([_on(a[0], 0.9), [100, 60, 20, 20, 0.6], _on(a[1], 0.3)]),
        "2--C/c_0": np.array([_on(VAL["2--C/c_0.jpg"][0], 0.55)]),
    })
    write_predictions(tmp_path / "deepprivacy", {"0--A/a_1": np.array([_on(a[0], 0.8), _on(a[1], 0.7)])})
    predictions = {"fullblur": tmp_path / "fullblur", "deepprivacy": tmp_path / "deepprivacy"}
    paths = det_plot.plot_detections(tmp_path / "val", predictions, tmp_path / "fig5")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 0 for p in paths)
    figures = _capture(monkeypatch, det_plot)
    det_plot.plot_detections(tmp_path / "val", predictions, tmp_path / "again", titles={"fullblur": "FB 250"})
    axes = np.array(figures[0].axes).reshape(3, 2)
    assert [ax.get_title() for ax in axes[0]] == ["DeepPrivacy", "FB 250"]
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["0--A/a_1.jpg", "2--C/c_0.jpg", "3--D/d_0.jpg"]
    labels = [[ax.get_xlabel() for ax in row] for row in axes]
    assert labels == [["2 of 2 faces found, 2 detections (top score 0.80)",
                       "1 of 2 faces found, 2 detections (top score 0.90)"],
                      ["0 of 1 faces found, 0 detections (no detection)",
                       "1 of 1 faces found, 1 detections (top score 0.55)"],
                      ["0 of 1 faces found, 0 detections (no detection)",
                       "0 of 1 faces found, 0 detections (no detection)"]]

    def red(ax):
        return sum(1 for p in ax.patches if p.get_edgecolor()[:3] == pytest.approx((0.839, 0.153, 0.157), abs=0.01))
    # Only the detections scored >= 0.5 are drawn: fullblur's 0.3 is not.
    assert red(axes[0, 1]) == 2 and red(axes[0, 0]) == 2 and red(axes[2, 1]) == 0
    assert "0.5" in figures[0]._suptitle.get_text()


def test_detection_figure_errors_are_clear(tmp_path):
    make_split(tmp_path / "val", VAL)
    with pytest.raises(ValueError, match="no detector"):
        det_plot.plot_detections(tmp_path / "val", {}, tmp_path / "x")
    with pytest.raises(InputError, match="prediction folder not found"):
        det_plot.plot_detections(tmp_path / "val", {"blur": tmp_path / "none"}, tmp_path / "x")
    with pytest.raises(InputError, match="no image"):
        det_plot.plot_detections(tmp_path / "val", {"blur": tmp_path}, tmp_path / "x", images=["9--Z/z.jpg"])


# --------------------------------------------------------------------------- #
# The paper run's check lists the new files
# --------------------------------------------------------------------------- #

def test_the_paper_run_check_wants_figures_5_and_8_and_the_face_sizes(tmp_path):
    from paper.check_paper_run import check_paper_outputs

    results = tmp_path / "results"
    for name in ("detections_side_by_side", "failure_cases_deepprivacy"):
        for suffix in (".png", ".pdf"):
            (results / "figures").mkdir(parents=True, exist_ok=True)
            (results / "figures" / f"{name}{suffix}").write_bytes(b"x")
    log = results / "logs" / "report" / "detection_examples.log"
    log.parent.mkdir(parents=True)
    log.write_text("fullblur, deepprivacy -> results/figures/detections_side_by_side.png\n")
    for point in ("anonymizer~blur/faces~0/anon_iters~0", "anonymizer~deepprivacy/faces~8/anon_iters~4"):
        (results / "runs" / point / "train").mkdir(parents=True)
    (results / "tables").mkdir()
    pd.DataFrame({"anonymizer": ["blur", "deepprivacy"], "faces": [0, 8], "anon_iters": [0, 4]}).to_csv(
        results / "tables" / "face_sizes.csv", index=False)
    (results / "tables" / "face_sizes.md").write_text("x")
    assert check_paper_outputs(results) == []
    log.write_text("deepprivacy -> results/figures/detections_side_by_side.png\n")
    (results / "figures" / "failure_cases_deepprivacy.pdf").unlink()
    (results / "runs" / "anonymizer~ciagan/faces~7/anon_iters~2/train").mkdir(parents=True)
    problems = check_paper_outputs(results)
    assert len(problems) == 3 and "failure_cases_deepprivacy.pdf" in problems[0]
    assert "both" in problems[1] and "ciagan" in problems[2]
