"""The WIDER FACE evaluator: agreement with the official algorithm, exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from safefakes.data.wider_files import (
    SUBSETS,
    GroundTruth,
    GroundTruthImage,
    read_predictions,
    write_ground_truth,
    write_prediction,
    write_predictions,
)
from safefakes.errors import InputError
from safefakes.evaluation.wider_ap import (
    EqualScoresWarning,
    average_precision,
    evaluate,
    evaluate_folder,
    first_reached_threshold,
    score_thresholds,
)

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- #
# A literal, loop-by-loop reading of the official eval_tools (the reference).
# --------------------------------------------------------------------------- #
def _literal_iou(d, g):
    iw = min(d[2], g[2]) - max(d[0], g[0]) + 1
    if iw <= 0:
        return 0.0
    ih = min(d[3], g[3]) - max(d[1], g[1]) + 1
    if ih <= 0:
        return 0.0
    ua = (d[2] - d[0] + 1) * (d[3] - d[1] + 1) + (g[2] - g[0] + 1) * (g[3] - g[1] + 1) - iw * ih
    return iw * ih / ua


def _literal_voc_ap(rec, prec):
    mrec = [0.0, *rec, 1.0]
    mpre = [0.0, *prec, 0.0]
    for i in range(len(mpre) - 1, 0, -1):
        a, b = mpre[i - 1], mpre[i]
        mpre[i - 1] = b if np.isnan(a) else (a if np.isnan(b) else max(a, b))  # MATLAB max skips NaN
    return float(np.sum([(mrec[i + 1] - mrec[i]) * mpre[i + 1]
                         for i in range(len(mrec) - 1) if mrec[i + 1] != mrec[i]]))


def literal_evaluate(gt: GroundTruth, preds: dict, thresh_num: int = 1000):
    sorted_preds = {}
    for key, d in preds.items():
        d = np.asarray(d, dtype=np.float64).reshape(-1, 5)
        order = sorted(range(len(d)), key=lambda k: -d[k, 4])  # Python's sort is stable
        sorted_preds[key] = d[order].copy()
    all_scores = [s for d in sorted_preds.values() for s in d[:, 4]]
    lo, hi = min(all_scores), max(all_scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        for d in sorted_preds.values():
            d[:, 4] = (d[:, 4] - lo) / (hi - lo)
    aps, curves = {}, {}
    for subset in SUBSETS:
        pr = np.zeros((thresh_num, 2))
        count_face = 0
        for im in gt.images:
            keep = im.kept[subset]
            count_face += len(keep)
            d = sorted_preds.get(im.key)
            if d is None or len(d) == 0 or len(im.boxes) == 0:
                continue
            ignore = np.zeros(len(im.boxes))
            ignore[keep] = 1
            dx = d.copy()
            dx[:, 2] += dx[:, 0]
            dx[:, 3] += dx[:, 1]
            gx = np.asarray(im.boxes, dtype=np.float64).copy()
            gx[:, 2] += gx[:, 0]
            gx[:, 3] += gx[:, 1]
            recall_list = np.zeros(len(gx))
            proposal = np.ones(len(dx))
            pred_recall = np.zeros(len(dx))
            for h in range(len(dx)):
                ious = [_literal_iou(dx[h], g) for g in gx]
                best = int(np.argmax(ious))
                if ious[best] >= 0.5:
                    if ignore[best] == 0:
                        recall_list[best] = -1
                        proposal[h] = -1
                    elif recall_list[best] == 0:
                        recall_list[best] = 1
                pred_recall[h] = np.sum(recall_list == 1)
            for t in range(thresh_num):
                thresh = 1 - (t + 1) / thresh_num
                r = np.where(d[:, 4] >= thresh)[0]
                if len(r):
                    r = r[-1]
                    pr[t, 0] += np.sum(proposal[: r + 1] == 1)
                    pr[t, 1] += pred_recall[r]
        with np.errstate(invalid="ignore", divide="ignore"):
            prec = pr[:, 1] / pr[:, 0]
            rec = pr[:, 1] / count_face
        curves[subset] = (prec, rec)
        aps[subset] = _literal_voc_ap(list(rec), list(prec))
    return aps, curves


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #
def one_image_gt(boxes, kept=None, event="0--E", stem="img"):
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    all_idx = np.arange(len(boxes))
    kept = kept or {}
    return GroundTruth([event], [GroundTruthImage(event, stem, boxes,
                                                  {s: np.asarray(kept.get(s, all_idx)) for s in SUBSETS})])


def random_gt_and_preds(seed: int, n_images: int = 12):
    """Crowded, overlapping, duplicated boxes; tied scores; missing and empty predictions."""
    rng = np.random.default_rng(seed)
    images, preds = [], {}
    for i in range(n_images):
        n = int(rng.integers(0, 9)) if i else 0  # image 0 has no ground-truth box at all
        xy = rng.integers(0, 120, size=(n, 2))
        wh = rng.integers(4, 40, size=(n, 2))
        boxes = np.column_stack([xy, wh]).astype(np.float64)
        if n >= 3:
            boxes[2] = boxes[1]  # a duplicate face: ties in IoU go to the first box
        if n >= 5:
            boxes[4, 2] = -1  # a negative width, as in the real ground truth
        kept = {s: np.flatnonzero(rng.random(n) < p) for s, p in zip(SUBSETS, (0.4, 0.6, 0.9))}
        event = f"{i % 3}--Ev"
        images.append(GroundTruthImage(event, f"img_{i}", boxes, kept))
        if i % 5 == 4:
            continue  # missing prediction
        dets = []
        for b in boxes:
            for _ in range(int(rng.integers(0, 3))):
                jitter = rng.normal(0, 2.5, size=4)
                dets.append([*(b + jitter), 0])
        for _ in range(int(rng.integers(0, 5))):
            dets.append([*rng.uniform(0, 120, 2), *rng.uniform(2, 40, 2), 0])
        dets = np.asarray(dets, dtype=np.float64).reshape(-1, 5)
        dets[:, 4] = np.round(rng.random(len(dets)), 1)  # many equal scores
        preds[f"{event}/img_{i}"] = dets
    images.sort(key=lambda im: im.event)
    return GroundTruth(sorted({im.event for im in images}), images), preds


# --------------------------------------------------------------------------- #
# Hand-checked cases
# --------------------------------------------------------------------------- #
def test_thresholds_are_the_official_ones():
    t = score_thresholds()
    assert len(t) == 1000
    assert t[0] == 1 - 1 / 1000 and t[499] == 0.5 and t[-1] == 0.0
    assert all(t[k] == 1 - (k + 1) / 1000 for k in range(1000))


def test_first_reached_threshold_is_exact():
    t = score_thresholds()
    rng = np.random.default_rng(0)
    # random scores, every threshold value itself and its float neighbours, the ends, NaN
    s = np.concatenate([rng.random(5000), t, np.nextafter(t, 2), np.nextafter(t, -1), [0.0, 1.0, np.nan]])
    expected = np.array([sum(1 for th in t if not v >= th) if v == v else 1000 for v in s[:50]])
    got = first_reached_threshold(s, t)
    assert np.array_equal(got[:50], expected)
    # the index of the first threshold reached: all later (lower) ones are reached too
    reached = s[:, None] >= t[None, :]
    assert np.array_equal(got, np.where(reached.any(axis=1), reached.argmax(axis=1), 1000))
    assert got[-3:].tolist() == [999, 0, 1000]


def test_one_image_known_pr_points():
    # Two faces; a false positive scores highest, then one hit per face.
    gt = one_image_gt([[10, 10, 20, 20], [100, 100, 30, 30]])
    dets = np.array([[300, 300, 20, 20, 1.0], [10, 10, 20, 20, 0.5], [101, 99, 30, 30, 0.0]])
    r = evaluate(gt, {"0--E/img": dets})
    c = r.curves["hard"]
    # thresholds 0.999..0.501: only the false positive
    assert np.all(c.precision[:499] == 0) and np.all(c.recall[:499] == 0)
    # 0.500 (the normalised score of the middle box, exactly) .. 0.001: one hit of two proposals
    assert np.all(c.precision[499:999] == 0.5) and np.all(c.recall[499:999] == 0.5)
    # 0.000: everything
    assert c.precision[999] == pytest.approx(2 / 3) and c.recall[999] == 1.0
    # VOC: both recall steps of 0.5 take the running-max precision 2/3.
    assert r.aps == pytest.approx({"easy": 2 / 3, "medium": 2 / 3, "hard": 2 / 3}, abs=1e-15)
    assert c.n_faces == 2 and r.n_missing == 0 and r.n_detections == 3


def test_iou_uses_plus_one_and_x2_is_x_plus_w():
    # gt [0,0,8,8] -> x1y1x2y2 [0,0,8,8], +1 size 9x9. A detection shifted by 3:
    # intersection 6x9 = 54, union 81 + 81 - 54 = 108 -> IoU exactly 0.5, a hit.
    # Without the +1 (5x8 / 88) or with x2 = x + w - 1 (5x9 / 99) it would be a miss.
    gt = one_image_gt([[0, 0, 8, 8]])
    far = [50, 50, 9, 9, 0.0]
    hit = evaluate(gt, {"0--E/img": np.array([[3, 0, 8, 8, 1.0], far])})
    miss = evaluate(gt, {"0--E/img": np.array([[4, 0, 8, 8, 1.0], far])})  # 5x9 / 117 = 0.38
    assert hit.aps["hard"] == 1.0
    assert miss.aps["hard"] == 0.0


def test_second_detection_of_a_face_is_a_false_positive():
    gt = one_image_gt([[10, 10, 20, 20]])
    dets = np.array([[10, 10, 20, 20, 1.0], [11, 10, 20, 20, 0.0]])
    c = evaluate(gt, {"0--E/img": dets}).curves["easy"]
    assert np.all(c.precision[:999] == 1.0)
    assert c.precision[999] == 0.5 and c.recall[999] == 1.0


def test_detections_on_non_kept_faces_are_neither_tp_nor_fp():
    # Face 1 is small: kept in hard only. The top detection sits on it.
    gt = one_image_gt([[10, 10, 60, 60], [200, 200, 12, 12]],
                      kept={"easy": [0], "medium": [0], "hard": [0, 1]})
    dets = np.array([[200, 200, 12, 12, 1.0], [10, 10, 60, 60, 0.5], [400, 400, 30, 30, 0.0]])
    r = evaluate(gt, {"0--E/img": dets})
    easy, hard = r.curves["easy"], r.curves["hard"]
    # easy: above 0.5 nothing is proposed (precision undefined, no false positive counted)
    assert np.all(np.isnan(easy.precision[:499])) and np.all(easy.recall[:499] == 0)
    assert np.all(easy.precision[499:999] == 1.0) and np.all(easy.recall[499:999] == 1.0)
    assert easy.precision[999] == 0.5
    assert r.aps["easy"] == 1.0
    # hard: the same detection is a true positive
    assert np.all(hard.precision[:499] == 1.0) and np.all(hard.recall[:499] == 0.5)
    assert np.all(hard.recall[499:] == 1.0) and hard.precision[999] == pytest.approx(2 / 3)
    # The same detection at a middle score: the easy curve equals the one without it.
    mid = np.array([[10, 10, 60, 60, 1.0], [200, 200, 12, 12, 0.5], [400, 400, 30, 30, 0.0]])
    with_it = evaluate(gt, {"0--E/img": mid}).curves["easy"]
    without = evaluate(gt, {"0--E/img": mid[[0, 2]]}).curves["easy"]
    np.testing.assert_array_equal(with_it.precision, without.precision)
    np.testing.assert_array_equal(with_it.recall, without.recall)


def test_best_box_first_on_ties_decides_ignore():
    # Two identical ground-truth boxes; only the second is kept. The detection's
    # best box is the first (ignored), so it is no proposal and no match.
    gt = one_image_gt([[10, 10, 20, 20], [10, 10, 20, 20], [80, 80, 20, 20]],
                      kept={s: [1, 2] for s in SUBSETS})
    dets = np.array([[10, 10, 20, 20, 1.0], [80, 80, 20, 20, 0.0]])
    c = evaluate(gt, {"0--E/img": dets}).curves["easy"]
    assert np.all(np.isnan(c.precision[:999]))
    assert c.precision[999] == 1.0 and c.recall[999] == 0.5


def test_average_precision_voc():
    assert average_precision(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == pytest.approx(0.75)
    # running max from the right lifts the early low precision
    assert average_precision(np.array([0.5, 1.0]), np.array([0.2, 0.8])) == pytest.approx(0.8)
    assert average_precision(np.array([0.0, 0.0]), np.array([np.nan, np.nan])) == 0.0


# --------------------------------------------------------------------------- #
# Agreement with the literal reference, and invariances
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_literal_reference(seed):
    gt, preds = random_gt_and_preds(seed)
    r = evaluate(gt, preds)
    lit_aps, lit_curves = literal_evaluate(gt, preds)
    assert r.n_missing == sum(1 for im in gt.images if im.key not in preds) > 0
    for s in SUBSETS:
        assert r.aps[s] == pytest.approx(lit_aps[s], abs=1e-12)
        np.testing.assert_array_equal(r.curves[s].precision, lit_curves[s][0])
        np.testing.assert_array_equal(r.curves[s].recall, lit_curves[s][1])
    assert 0 < r.aps["hard"] < 1


def test_perfect_predictions_give_one():
    rng = np.random.default_rng(5)
    images = []
    for i in range(6):
        # A grid of non-overlapping faces of several sizes.
        boxes = np.array([[40 * k, 40 * (i % 2), int(rng.integers(5, 35)), int(rng.integers(5, 35))]
                          for k in range(1 + i)], dtype=np.float64)
        h = boxes[:, 3]
        kept = {"easy": np.flatnonzero(h > 25), "medium": np.flatnonzero(h > 15), "hard": np.arange(len(h))}
        images.append(GroundTruthImage("0--E", f"im{i}", boxes, kept))
    gt = GroundTruth(["0--E"], images)
    preds = {im.key: np.column_stack([im.boxes, rng.random(len(im.boxes))]) for im in images}
    assert evaluate(gt, preds).aps == {"easy": 1.0, "medium": 1.0, "hard": 1.0}


def test_shuffled_order_and_rescaled_scores_give_same_aps():
    gt, preds = random_gt_and_preds(7)
    rng = np.random.default_rng(1)
    # Continuous scores: rescaling then moves no score across a threshold.
    preds = {k: np.column_stack([v[:, :4], rng.random(len(v))]) for k, v in preds.items()}
    base = evaluate(gt, preds).aps
    shuffled = {k: v[rng.permutation(len(v))] for k, v in preds.items()}
    assert evaluate(gt, shuffled).aps == base
    rescaled = {k: np.column_stack([v[:, :4], 4.0 * v[:, 4] - 3.0]) for k, v in preds.items()}
    assert evaluate(gt, rescaled).aps == pytest.approx(base, abs=1e-12)
    assert 0 < base["hard"] < 1


def test_equal_scores_give_zero_and_warn():
    gt, preds = random_gt_and_preds(3)
    flat = {k: np.column_stack([v[:, :4], np.full(len(v), 0.7)]) for k, v in preds.items()}
    with pytest.warns(EqualScoresWarning, match="divides by zero"):
        r = evaluate(gt, flat)
    assert r.aps == {"easy": 0.0, "medium": 0.0, "hard": 0.0}
    lit, _ = literal_evaluate(gt, flat)
    assert lit == {"easy": 0.0, "medium": 0.0, "hard": 0.0}


def test_inputs_not_modified_and_unknown_images_rejected():
    gt, preds = random_gt_and_preds(4)
    before = {k: v.copy() for k, v in preds.items()}
    boxes_before = [im.boxes.copy() for im in gt.images]
    evaluate(gt, preds)
    for k in preds:
        np.testing.assert_array_equal(preds[k], before[k])
    for im, b in zip(gt.images, boxes_before):
        np.testing.assert_array_equal(im.boxes, b)
    with pytest.raises(ValueError, match="not in the ground truth: 9--X/nope"):
        evaluate(gt, {**preds, "9--X/nope": np.zeros((0, 5))})


# --------------------------------------------------------------------------- #
# The real WIDER FACE val ground truth
# --------------------------------------------------------------------------- #
def test_real_val_ground_truth_boxes_as_predictions(wider_val_gt_dir):
    from safefakes.data.wider_files import read_ground_truth

    gt = read_ground_truth(wider_val_gt_dir)
    assert len(gt.images) == 3226 and gt.n_faces == 39708
    preds = {im.key: np.column_stack([im.boxes, np.linspace(1, 0.5, len(im.boxes))]) for im in gt.images}
    aps = evaluate(gt, preds).aps
    assert {s: round(v, 6) for s, v in aps.items()} == {"easy": 0.999921, "medium": 0.999952, "hard": 0.999908}
    assert all(v < 1.0 for v in aps.values())


# --------------------------------------------------------------------------- #
# Folders: the loader API and bad input
# --------------------------------------------------------------------------- #
@pytest.fixture()
def folders(tmp_path):
    gt, preds = random_gt_and_preds(11)
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    write_ground_truth(gt_dir, gt)
    # Files carry 1-decimal boxes: keep the boxes on that grid so memory and files agree.
    preds = {k: np.column_stack([np.round(v[:, :4], 1).clip(min=0), v[:, 4]]) for k, v in preds.items()}
    write_predictions(pred_dir, preds)
    return gt, preds, gt_dir, pred_dir


def test_folder_evaluation_counts_missing_files(folders):
    gt, preds, gt_dir, pred_dir = folders
    r = evaluate_folder(pred_dir, gt_dir)
    expected_missing = sorted(im.key for im in gt.images if im.key not in preds)
    assert sorted(r.missing) == expected_missing and r.n_missing == len(expected_missing) > 0
    lit, _ = literal_evaluate(gt, read_predictions(pred_dir))
    assert r.aps == pytest.approx(lit, abs=1e-12)


def test_split_folder_as_ground_truth(tmp_path):
    from safefakes.data.split import Split
    from safefakes.data.wider_files import ImageFaces

    # A val split folder carries the four .mat files; subsets from the height proxy.
    faces = [
        ImageFaces("0--Parade/a.jpg", [[10, 10, 60, 70], [100, 10, 20, 25], [200, 10, 8, 9]]),
        ImageFaces("1--Handshaking/b.jpg", [[5, 5, 40, 45]], [[0, 0, 0, 1, 0, 0]]),  # invalid: kept nowhere
        ImageFaces("1--Handshaking/c.jpg", [[30, 30, 12, 14], [300, 40, 35, 40]]),
    ]
    split = Split(tmp_path / "val", faces)
    split.save_metadata(with_mat=True)
    preds = {f"{im.event}/{im.stem}": np.column_stack([im.boxes, np.linspace(0.9, 0.2, len(im))])
             for im in faces}
    write_predictions(tmp_path / "pred", preds)
    r = evaluate_folder(tmp_path / "pred", tmp_path / "val")
    assert r.aps == {"easy": 1.0, "medium": 1.0, "hard": 1.0}
    # kept: easy h > 50: 1; medium h > 30: 2; hard h > 10: 4 (the 9 px face and the invalid one are out)
    assert [r.curves[s].n_faces for s in SUBSETS] == [1, 2, 4]


def test_empty_or_flat_prediction_folder_is_an_error(folders, tmp_path):
    _, _, gt_dir, _ = folders
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no prediction files") as err:
        evaluate_folder(tmp_path / "empty", gt_dir)
    assert err.value.path == tmp_path / "empty"
    # Files written straight into the folder instead of per event
    (tmp_path / "empty" / "img_1.txt").write_text("img_1\n0\n")
    with pytest.raises(InputError, match="directly in the folder \\(img_1.txt"):
        evaluate_folder(tmp_path / "empty", gt_dir)


def test_folder_prediction_for_unknown_image(folders):
    _, _, gt_dir, pred_dir = folders
    write_prediction(pred_dir, "0--Ev", "not_in_gt", np.array([[1, 1, 5, 5, 0.3]]))
    with pytest.raises(InputError, match="not in the ground truth") as err:
        evaluate_folder(pred_dir, gt_dir)
    assert err.value.path == pred_dir / "0--Ev" / "not_in_gt.txt"


@pytest.mark.parametrize(
    "body, line, fragment",
    [
        ("img_1\n1\n1 2 3 4\n", 3, "expected 5 fields"),
        ("img_1\n1\n1 2 3 4 high\n", 3, "expected numbers"),
        ("img_1\n2\n1 2 3 4 0.5\n1 2 3 4 nan\n", 4, "NaN or infinite"),
        ("img_1\n1\n1 2 3 4 -inf\n", 3, "NaN or infinite"),
        ("img_1\n3\n1 2 3 4 0.5\n", 2, "count line says 3"),
    ],
)
def test_folder_malformed_prediction_names_file_and_line(folders, body, line, fragment):
    _, _, gt_dir, pred_dir = folders
    bad = pred_dir / "1--Ev" / "img_1.txt"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text(body)
    with pytest.raises(InputError) as err:
        evaluate_folder(pred_dir, gt_dir)
    assert err.value.path == bad and err.value.line == line
    assert fragment in str(err.value) and f"img_1.txt:{line}" in str(err.value)


def test_folder_mat_of_wrong_structure(folders, tmp_path):
    _, _, gt_dir, pred_dir = folders
    scipy.io.savemat(gt_dir / "wider_face_val.mat", {"boxes": np.zeros((3, 4))})
    with pytest.raises(InputError, match="missing variable") as err:
        evaluate_folder(pred_dir, gt_dir)
    assert err.value.path.name == "wider_face_val.mat"
    with pytest.raises(InputError, match="ground-truth folder not found"):
        evaluate_folder(pred_dir, tmp_path / "nowhere")


def test_folder_gt_list_out_of_range(tmp_path):
    gt = one_image_gt([[10, 10, 20, 20]])
    write_ground_truth(tmp_path / "gt", gt)
    mat = scipy.io.loadmat(tmp_path / "gt" / "wider_hard_val.mat")
    mat["gt_list"][0, 0][0, 0] = np.array([[5.0]])
    scipy.io.savemat(tmp_path / "gt" / "wider_hard_val.mat",
                     {k: v for k, v in mat.items() if not k.startswith("__")})
    write_prediction(tmp_path / "pred", "0--E", "img", np.array([[10, 10, 20, 20, 1.0]]))
    with pytest.raises(InputError, match="out of range") as err:
        evaluate_folder(tmp_path / "pred", tmp_path / "gt")
    assert err.value.path.name == "wider_hard_val.mat"


# --------------------------------------------------------------------------- #
# The command line
# --------------------------------------------------------------------------- #
def test_cli_last_line_is_json_and_files_written(folders, tmp_path, capsys):
    from safefakes.cli import main

    _, preds, gt_dir, pred_dir = folders
    out_json, out_png = tmp_path / "out" / "map.json", tmp_path / "out" / "pr.png"
    rc = main(["evaluate", str(pred_dir), "--gt", str(gt_dir), "--json", str(out_json), "--plot", str(out_png)])
    assert rc == 0
    stdout = capsys.readouterr().out.strip().splitlines()
    last = json.loads(stdout[-1])
    assert list(last) == ["easy", "medium", "hard"]
    assert last == pytest.approx(evaluate_folder(pred_dir, gt_dir).aps, abs=1e-15)
    saved = json.loads(out_json.read_text())
    assert {k: saved[k] for k in last} == last
    # predictions without a detect_info.json: the machine that made them is unknown, said so
    assert saved["machine"] is None
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(out_png) as im:
        assert im.size[0] > im.size[1] > 200  # three panels side by side


def test_cli_bad_input_exits_2_with_file_and_line(folders, capsys):
    from safefakes.cli import main

    _, _, gt_dir, pred_dir = folders
    bad = pred_dir / "1--Ev" / "img_1.txt"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text("img_1\n1\n1 2 3 4 nan\n")
    assert main(["evaluate", str(pred_dir), "--gt", str(gt_dir)]) == 2
    assert "img_1.txt:3" in capsys.readouterr().err


def test_cli_warns_on_equal_scores_and_does_not_import_torch(tmp_path):
    gt = one_image_gt([[10, 10, 20, 20], [60, 60, 20, 20]])
    write_ground_truth(tmp_path / "gt", gt)
    write_prediction(tmp_path / "pred", "0--E", "img", np.array([[10, 10, 20, 20, 0.9], [60, 60, 20, 20, 0.9]]))
    code = ("import sys\nfrom safefakes.cli import main\n"
            f"rc = main(['evaluate', {str(tmp_path / 'pred')!r}, '--gt', {str(tmp_path / 'gt')!r}])\n"
            "print('torch loaded:', any(m == 'torch' or m.startswith('torch.') for m in sys.modules), "
            "file=sys.stderr)\nsys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "torch loaded: False" in proc.stderr
    assert "divides by zero" in proc.stderr  # logged for the user, not only a Python warning
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"easy": 0.0, "medium": 0.0, "hard": 0.0}
