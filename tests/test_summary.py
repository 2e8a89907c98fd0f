"""The summary table: replicate seeds of a grid point, their interval, the difference to the original."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from test_bootstrap import two_image_case
from test_image_metrics import run_command

from safefakes.anonymizers.registry import method_kinds
from safefakes.commands import tables as tables_command
from safefakes.data.wider_files import write_ground_truth, write_predictions
from safefakes.errors import InputError
from safefakes.evaluation.correlation import correlate, pearson_interval
from safefakes.evaluation.correlation import to_markdown as correlation_markdown
from safefakes.evaluation.summary import (
    compare_with_original,
    mean_interval,
    run_machine,
    summarize_seeds,
    summary_table,
    to_markdown,
    write_summary,
)
from safefakes.evaluation.tables import collect_runs, write_table
from safefakes.plots.study import DIFFERENCES, draw_study_figures

# t(0.975, 2) = 4.302653, by hand from a t table.
T_975_2 = 4.302653


def test_mean_interval_by_hand():
    mean, std, low, high = mean_interval([0.5, 0.6, 0.7])
    half = T_975_2 * 0.1 / math.sqrt(3)  # 0.248414
    assert mean == pytest.approx(0.6) and std == pytest.approx(0.1)
    assert (low, high) == (pytest.approx(0.6 - half, abs=1e-6), pytest.approx(0.6 + half, abs=1e-6))
    assert low == pytest.approx(0.351586, abs=1e-6)
    one = mean_interval([0.4])
    assert one[0] == 0.4 and all(math.isnan(v) for v in one[1:])
    assert all(math.isnan(v) for v in mean_interval([]))


def run_table() -> pd.DataFrame:
    rows = []
    for seed, value in enumerate((0.5, 0.6, 0.7)):
        rows.append({"anonymizer": "blur", "faces": 0, "anon_iters": 0, "det_iters": 400, "seed": seed,
                     "easy": value, "medium": value, "hard": value, "map": value})
    rows.append({"anonymizer": "original", "faces": 0, "anon_iters": 0, "det_iters": 400, "seed": 0,
                 "easy": 0.9, "medium": 0.8, "hard": 0.7, "map": 0.8})
    return pd.DataFrame(rows)


def test_summarize_seeds_is_one_row_per_grid_point():
    summary = summarize_seeds(run_table())
    assert list(summary.anonymizer) == ["blur", "original"]
    blur = summary.iloc[0]
    assert blur.n_seeds == 3 and "seed" not in summary.columns
    assert blur["map"] == pytest.approx(0.6) and blur["map_std"] == pytest.approx(0.1)
    assert blur["map_high"] == pytest.approx(0.6 + T_975_2 * 0.1 / math.sqrt(3), abs=1e-6)
    original = summary.iloc[1]
    assert original.n_seeds == 1 and original["easy"] == 0.9 and math.isnan(original["map_low"])


MACHINE = {"cpu": "Test CPU", "cpu_capability": "AVX2", "architecture": "x86_64", "torch": "2.0",
           "threads": 1, "device": "cpu"}


def write_runs(root, gt_dir, seeds=(0,)):
    """The two-image case of test_bootstrap as a study's folders: 'blur' finds one face of two.

    Every seed of a method predicts the same boxes (no seed spread).
    """
    gt, good, weak = two_image_case()
    write_ground_truth(gt_dir, gt)
    for method, preds in (("original", good), ("blur", weak)):
        for seed in seeds:
            run = root / f"anonymizer~{method}" / "faces~0" / "anon_iters~0" / "det_iters~400" / f"seed~{seed}"
            write_predictions(run / "predictions", preds)
            value = 1.0 if method == "original" else 0.5
            (run / "map.json").write_text(json.dumps({"easy": value, "medium": value, "hard": value,
                                                      "machine": {"train": MACHINE, "predict": MACHINE}}))


def test_summary_from_run_folders(tmp_path):
    root, gt_dir = tmp_path / "runs", tmp_path / "val"
    write_runs(root, gt_dir, seeds=(0, 1))
    table = collect_runs(root)
    assert list(table.seed) == [0, 1, 0, 1]
    # The machine record stays out of the run table: its columns are the grid and the scores.
    assert list(table.columns) == ["anonymizer", "faces", "anon_iters", "det_iters", "seed", "easy", "medium",
                                   "hard", "map", "run"]
    summary = summary_table(table, root, gt_dir, n_resamples=2000, seed=1)
    blur = summary[summary.anonymizer == "blur"].iloc[0]
    # test_bootstrap's case: weak - good is -1/2 on the full set, image variance 1/8; the seeds
    # agree, so the interval is -1/2 +- 1.96 sqrt(1/8) (about [-1.19, +0.19]).
    assert blur["diff"] == pytest.approx(-0.5)
    assert blur.diff_se_images == pytest.approx(math.sqrt(1 / 8), rel=0.05) and blur.diff_se_seeds == 0.0
    assert blur.diff_df == math.inf
    half = 1.959964 * blur.diff_se_images
    assert (blur.diff_low, blur.diff_high) == (pytest.approx(-0.5 - half), pytest.approx(-0.5 + half))
    assert not blur.diff_excludes_zero and blur.n_resamples == 2000 and blur.n_reference_seeds == 2
    assert blur.diff_method.startswith("welch-t")
    assert blur.machine == "Test CPU, AVX2, torch 2.0, 1 thread, cpu"
    assert math.isnan(summary[summary.anonymizer == "original"].iloc[0]["diff"])
    # Same seed, same table.
    again = summary_table(table, root, gt_dir, n_resamples=2000, seed=1)
    pd.testing.assert_frame_equal(summary, again)

    write_summary(summary, tmp_path / "summary.csv", tmp_path / "summary.md")
    assert pd.read_csv(tmp_path / "summary.csv").shape == summary.shape
    md = (tmp_path / "summary.md").read_text()
    assert (f"| blur | 0 | 0 | 400 | 2 | 0.500 [0.500, 0.500] | -0.500 [{-0.5 - half:+.3f}, {-0.5 + half:+.3f}] "
            "| no |") in md
    assert "- Test CPU, AVX2, torch 2.0, 1 thread, cpu: 2 grid points" in md
    assert md == to_markdown(summary)

    # The command computes the same table from the collected CSV.
    write_table(table, tmp_path / "map.csv")
    assert run_command(tables_command, ["summary", str(tmp_path / "map.csv"), str(root), "--gt", str(gt_dir),
                                        "--out", str(tmp_path / "cli"), "--resamples", "2000", "--seed", "1"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "cli" / "summary.csv"), pd.read_csv(tmp_path / "summary.csv"))

    figures = draw_study_figures(table, tmp_path / "figures", summary=summary)
    assert (tmp_path / "figures" / f"{DIFFERENCES}.png").stat().st_size > 0
    assert DIFFERENCES in figures


def test_one_seed_a_side_gives_a_difference_without_interval(tmp_path):
    root, gt_dir = tmp_path / "runs", tmp_path / "val"
    write_runs(root, gt_dir)
    table = collect_runs(root)
    summary = summary_table(table, root, gt_dir, n_resamples=500, seed=1)
    blur = summary[summary.anonymizer == "blur"].iloc[0]
    assert blur["diff"] == pytest.approx(-0.5)
    assert math.isnan(blur.diff_low) and math.isnan(blur.diff_high) and math.isnan(blur.diff_df)
    assert blur.diff_excludes_zero is None
    md = to_markdown(summary)
    assert "| blur | 0 | 0 | 400 | 1 | 0.500 | -0.500 (no interval: 1 vs 1 seeds) | – |" in md
    # Through the CSV (empty flag) the figure still draws: a cross, no bar.
    write_summary(summary, tmp_path / "summary.csv", tmp_path / "summary.md")
    figures = draw_study_figures(table, tmp_path / "figures", summary=pd.read_csv(tmp_path / "summary.csv"))
    assert DIFFERENCES in figures


def test_a_run_without_machine_record_is_unknown(tmp_path):
    root, gt_dir = tmp_path / "runs", tmp_path / "val"
    write_runs(root, gt_dir)
    run = root / "anonymizer~blur" / "faces~0" / "anon_iters~0" / "det_iters~400" / "seed~0" / "map.json"
    run.write_text(json.dumps({"easy": 0.5, "medium": 0.5, "hard": 0.5}))
    assert run_machine(run) == "unknown"
    other = dict(MACHINE, cpu_capability="AVX512", threads=2)
    run.write_text(json.dumps({"easy": 0.5, "medium": 0.5, "hard": 0.5,
                               "machine": {"train": MACHINE, "predict": other}}))
    assert run_machine(run) == ("trained on Test CPU, AVX2, torch 2.0, 1 thread, cpu; "
                                "predicted on Test CPU, AVX512, torch 2.0, 2 threads, cpu")


def test_missing_predictions_are_named(tmp_path):
    root, gt_dir = tmp_path / "runs", tmp_path / "val"
    write_runs(root, gt_dir)
    table = collect_runs(root)
    missing = root / "anonymizer~blur" / "faces~0" / "anon_iters~0" / "det_iters~400" / "seed~0" / "predictions"
    for f in sorted(missing.rglob("*"), reverse=True):
        f.rmdir() if f.is_dir() else f.unlink()
    missing.rmdir()
    with pytest.raises(InputError, match="prediction folder not found"):
        compare_with_original(table, root, gt_dir, n_resamples=100)


def test_no_original_at_that_length_gives_nan(tmp_path):
    root, gt_dir = tmp_path / "runs", tmp_path / "val"
    write_runs(root, gt_dir)
    table = collect_runs(root)
    table.loc[table.anonymizer == "original", "det_iters"] = 100
    diffs = compare_with_original(table, root, gt_dir, n_resamples=100)
    assert len(diffs) == 1 and math.isnan(diffs.iloc[0]["diff"])


def test_pearson_interval_by_hand():
    # r = 0.5, n = 28: z = atanh(0.5) = 0.549306, se = 1/5, 1.959964 se = 0.391993.
    low, high = pearson_interval(0.5, 28)
    assert low == pytest.approx(math.tanh(0.549306 - 0.391993), abs=1e-5)  # 0.15603
    assert high == pytest.approx(math.tanh(0.549306 + 0.391993), abs=1e-5)  # 0.73580
    assert all(math.isnan(v) for v in pearson_interval(0.5, 3))


def test_table_two_counts_a_grid_point_once():
    # Three seeds of each method: n counts methods, and r is that of the seed means.
    rows = []
    maps = {"blur": (0.5, 0.6, 0.7), "blackout": (0.1, 0.2, 0.3), "pixelate": (0.7, 0.8, 0.9),
            "fullblur": (0.3, 0.4, 0.5)}
    lpips = {"blur": 0.3, "blackout": 0.7, "pixelate": 0.1, "fullblur": 0.5}
    for method, values in maps.items():
        for seed, value in enumerate(values):
            rows.append({"anonymizer": method, "det_iters": 400, "seed": seed, "easy": value,
                         "medium": value, "hard": value, "lpips": lpips[method], "run": f"{method}/{seed}"})
    corr = correlate(pd.DataFrame(rows), method_kinds(), metrics=["lpips"])
    conv = corr[corr.group == "conventional"].iloc[0]
    assert conv.n == 4
    # Seed means 0.6, 0.2, 0.8, 0.4 against 0.3, 0.7, 0.1, 0.5: exactly r = -1.
    assert conv.pearson == pytest.approx(-1.0)
    assert "r [95 % CI] (n=4)" in correlation_markdown(corr)
    assert np.isfinite(conv.pearson_low)


def test_figures_from_a_table_with_seeds(tmp_path):
    # Three seeds of four methods, two detector lengths for two of them: every figure draws.
    rows = []
    rng = np.random.default_rng(0)
    for method, level in (("original", 0.8), ("blur", 0.4), ("pixelate", 0.6), ("deepprivacy", 0.7)):
        lengths = (100, 400) if method in ("original", "deepprivacy") else (400,)
        for det in lengths:
            for seed in range(3):
                value = level * det / 400 + rng.normal(0, 0.02)
                rows.append({"anonymizer": method, "faces": 1500 if method == "deepprivacy" else 0,
                             "anon_iters": 5500 if method == "deepprivacy" else 0, "det_iters": det,
                             "seed": seed, "easy": value, "medium": value, "hard": value,
                             "lpips": {"original": 0, "blur": 0.5, "pixelate": 0.3, "deepprivacy": 0.2}[method],
                             "reid_rate": {"original": 1, "blur": 0.1, "pixelate": 0.4, "deepprivacy": 0.1}[method],
                             "reid_chance": 0.1})
    drawn = draw_study_figures(pd.DataFrame(rows), tmp_path)
    assert {"map_by_method", "map_vs_detector_iterations", "metrics_vs_map", "leakage_vs_map"} <= set(drawn)
    for paths in drawn.values():
        assert all(p.stat().st_size > 0 for p in paths)
