"""Correlation of metrics with mAP (Table II) and the tidy run table it reads."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from builders import run_command
from scipy import stats

from safefakes.anonymizers.registry import method_kinds
from safefakes.commands import tables as tables_command
from safefakes.errors import InputError
from safefakes.evaluation.correlation import (
    correlate,
    final_detector_runs,
    to_markdown,
    write_correlation,
)
from safefakes.evaluation.tables import collect_runs, grid_point, read_table, runs_table, write_table

# A hand-made table: 3 GAN runs, 4 conventional, the original, and one method of neither group.
TABLE = pd.DataFrame({
    "anonymizer": ["original", "deepprivacy", "ciagan", "sun2018", "blur", "blackout", "pixelate",
                   "fullblur", "mystery"],
    "map":        [0.91, 0.88, 0.80, 0.83, 0.60, 0.40, 0.55, 0.86, 0.70],
    "lpips":      [0.00, 0.20, 0.31, 0.25, 0.35, 0.72, 0.45, 0.30, 0.50],
    "fid":        [0.0, 9.0, 25.0, 14.0, 60.0, 150.0, 80.0, 20.0, 33.0],
})


def scipy_pair(rows: pd.DataFrame, metric: str) -> tuple[float, float]:
    return (stats.pearsonr(rows[metric], rows["map"]).statistic,
            stats.spearmanr(rows[metric], rows["map"]).statistic)


def test_agrees_with_scipy_per_group():
    corr = correlate(TABLE, method_kinds(), ["lpips", "fid"])
    assert list(corr.columns) == ["metric", "target", "group", "n", "pearson", "pearson_low", "pearson_high",
                                  "pearson_p", "spearman", "spearman_p"]
    picks = {
        "all": TABLE.iloc[1:],  # everything but the original, the unknown method included
        "gan": TABLE.iloc[1:4],
        "conventional": TABLE.iloc[4:8],
    }
    for metric in ("lpips", "fid"):
        for group, rows in picks.items():
            row = corr[(corr.metric == metric) & (corr.group == group)].iloc[0]
            assert row.n == len(rows)
            pearson, spearman = scipy_pair(rows, metric)
            assert row.pearson == pytest.approx(pearson)
            assert row.spearman == pytest.approx(spearman)
            # scipy's own Fisher-z interval (n >= 4; the 3 GAN runs have none).
            if len(rows) >= 4:
                ci = stats.pearsonr(rows[metric], rows["map"]).confidence_interval(0.95)
                assert (row.pearson_low, row.pearson_high) == (pytest.approx(ci.low), pytest.approx(ci.high))
            else:
                assert math.isnan(row.pearson_low)
    # LPIPS rises as mAP falls: strongly negative over all runs.
    assert corr[(corr.metric == "lpips") & (corr.group == "all")].pearson.iloc[0] < -0.8


def test_the_registry_gives_the_groups():
    kinds = method_kinds()
    assert [kinds[m] for m in ("deepprivacy", "ciagan", "sun2018")] == ["gan"] * 3
    assert [kinds[m] for m in ("blur", "blackout", "pixelate", "fullblur")] == ["conventional"] * 4
    assert kinds["original"] == "reference" and "mystery" not in kinds


def test_missing_values_small_groups_and_constant_columns_give_nan():
    table = TABLE.copy()
    table.loc[table.anonymizer == "ciagan", "lpips"] = np.nan
    table["flat"] = 1.0
    corr = correlate(table, method_kinds(), ["lpips", "flat"])
    gan = corr[(corr.metric == "lpips") & (corr.group == "gan")].iloc[0]
    assert gan.n == 2 and math.isnan(gan.pearson) and math.isnan(gan.spearman)
    assert corr[corr.metric == "flat"].pearson.isna().all()
    with pytest.raises(KeyError, match="ssim"):
        correlate(TABLE, method_kinds(), ["ssim"])


def test_only_the_longest_detector_training_counts():
    long = TABLE.assign(det_iters=60000)
    short = TABLE.assign(det_iters=7500, map=TABLE["map"][::-1].to_numpy())  # would flip the sign
    both = pd.concat([long, short], ignore_index=True)
    assert len(final_detector_runs(both)) == len(TABLE)
    pd.testing.assert_frame_equal(correlate(both, method_kinds(), ["lpips"]),
                                  correlate(long, method_kinds(), ["lpips"]))


def test_markdown_and_files(tmp_path):
    corr = correlate(TABLE, method_kinds(), ["lpips", "fid"])
    md = to_markdown(corr)
    lines = md.splitlines()
    header = next(line for line in lines if line.startswith("| Metric"))
    assert "All r [95 % CI] (n=8)" in header and "GAN r [95 % CI] (n=3)" in header
    assert "Conventional r [95 % CI] (n=4)" in header
    lpips_row = next(line for line in lines if line.startswith("| LPIPS"))
    expected = stats.pearsonr(TABLE.lpips[1:], TABLE["map"][1:]).statistic
    assert lpips_row.split("|")[2].strip().startswith(f"{expected:+.2f} [")
    csv_path, md_path = write_correlation(corr, tmp_path / "out")
    assert pd.read_csv(csv_path).shape == (6, 10)
    assert md_path.read_text() == md


def test_collect_runs_from_paramspace_folders(tmp_path):
    root = tmp_path / "runs"
    anon = root / "anonymizer~deepprivacy" / "faces~38000" / "anon_iters~4000000"
    for det, value in ((7500, 0.5), (60000, 0.8)):
        run = anon / f"det_iters~{det}"
        run.mkdir(parents=True)
        (run / "map.json").write_text(json.dumps({"easy": value, "medium": value - 0.1, "hard": value - 0.3}))
    (anon / "image_metrics.json").write_text(json.dumps(
        {"l1": 0.1, "lpips": 0.2, "fid": 9.5, "reid_rate": 0.05, "backbone_weights": "random-init",
         "backbone_files": {"fid_inception": "random-init"}}))
    blur = root / "anonymizer~blur" / "det_iters~60000"
    blur.mkdir(parents=True)
    (blur / "map.json").write_text(json.dumps({"easy": 0.6, "medium": 0.5, "hard": 0.2}))
    table = collect_runs(root)
    assert list(table.columns[:8]) == ["anonymizer", "faces", "anon_iters", "det_iters",
                                       "easy", "medium", "hard", "map"]
    assert len(table) == 3
    dp = table[(table.anonymizer == "deepprivacy") & (table.det_iters == 60000)].iloc[0]
    assert dp.faces == 38000 and dp.lpips == 0.2 and dp.backbone_weights == "random-init"
    assert dp["map"] == pytest.approx((0.8 + 0.7 + 0.5) / 3)
    assert "backbone_files" not in table.columns  # nested values stay in the json
    assert math.isnan(table[table.anonymizer == "blur"].lpips.iloc[0])
    assert grid_point(anon, root) == {"anonymizer": "deepprivacy", "faces": 38000, "anon_iters": 4000000}

    (blur / "map.json").write_text(json.dumps({"easy": 0.6}))
    with pytest.raises(InputError, match="medium, hard"):
        collect_runs(root)


def test_collect_and_correlate_commands(tmp_path):
    path = tmp_path / "table.csv"
    write_table(TABLE, path)
    assert run_command(tables_command, ["correlate", str(path), "--out", str(tmp_path / "c"),
                                        "--metric", "lpips"]) == 0
    corr = pd.read_csv(tmp_path / "c" / "correlation.csv")
    assert list(corr.metric.unique()) == ["lpips"] and len(corr) == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("method,map\nblur,0.5\n")
    with pytest.raises(InputError, match="anonymizer"):
        read_table(bad)
    assert run_command(tables_command, ["collect", str(tmp_path / "none"), "--out", str(tmp_path / "e.csv")]) == 0


def test_runs_table_reads_the_files_it_is_given_and_nothing_else(tmp_path):
    root = tmp_path / "runs"
    point = root / "anonymizer~blur" / "faces~0" / "anon_iters~0"
    for det, value in ((100, 0.3), (400, 0.6)):
        (point / f"det_iters~{det}").mkdir(parents=True)
        (point / f"det_iters~{det}" / "map.json").write_text(
            json.dumps({"easy": value, "medium": value, "hard": value}))
    (point / "image_metrics.json").write_text(json.dumps({"l1": 0.25}))
    # A stale run of an earlier configuration under the same root: not asked for, not read.
    stale = root / "anonymizer~pixelate" / "faces~0" / "anon_iters~0" / "det_iters~400"
    stale.mkdir(parents=True)
    (stale / "map.json").write_text("not json")
    table = runs_table([point / "det_iters~400" / "map.json"], [point / "image_metrics.json"], root)
    assert list(table["run"]) == ["anonymizer~blur/faces~0/anon_iters~0/det_iters~400"]
    assert table.loc[0, "l1"] == 0.25 and table.loc[0, "map"] == pytest.approx(0.6)
    # Metrics of a split no listed run trained on: an error naming the file.
    other = root / "anonymizer~blackout" / "faces~0" / "anon_iters~0"
    other.mkdir(parents=True)
    (other / "image_metrics.json").write_text(json.dumps({"l1": 0.9}))
    with pytest.raises(InputError, match="anonymizer~blackout"):
        runs_table([point / "det_iters~400" / "map.json"],
                   [point / "image_metrics.json", other / "image_metrics.json"], root)


def test_per_split_metrics():
    from safefakes.evaluation.tables import per_split_metrics

    table = pd.DataFrame({
        "anonymizer": ["original", "blur", "blur", "deepprivacy"],
        "faces": [0, 0, 0, 300], "anon_iters": [0, 0, 0, 4000], "det_iters": [600, 150, 600, 600],
        "easy": [0.9, 0.2, 0.3, 0.8], "medium": [0.9, 0.2, 0.3, 0.8], "hard": [0.9, 0.2, 0.3, 0.8],
        "map": [0.9, 0.2, 0.3, 0.8], "l1": [None, 0.1, 0.1, 0.2], "run": ["o", "b150", "b600", "d"],
    })
    per_split = per_split_metrics(table)
    # One row per anonymized split, the original excluded, no detector columns.
    assert list(per_split["anonymizer"]) == ["blur", "deepprivacy"]
    assert list(per_split.columns) == ["anonymizer", "faces", "anon_iters", "l1"]


def test_collect_runs_reads_an_undefined_ap_as_nan(tmp_path):
    import json
    import math

    from safefakes.evaluation.tables import collect_runs

    run = tmp_path / "anonymizer~blur" / "faces~0" / "anon_iters~0" / "det_iters~5"
    run.mkdir(parents=True)
    # A val split without easy faces: the evaluator writes null for easy.
    (run / "map.json").write_text(json.dumps({"easy": None, "medium": 0.5, "hard": 0.25}))
    table = collect_runs(tmp_path)
    assert math.isnan(table.loc[0, "easy"]) and table.loc[0, "hard"] == 0.25
    assert table.loc[0, "det_iters"] == 5


def test_the_run_table_has_one_column_order_whatever_the_string_hashing(tmp_path):
    """Image metrics, then the detector view's columns: the order does not follow a set's (PYTHONHASHSEED)."""
    import os
    import subprocess
    import sys

    root = tmp_path / "runs"
    point = root / "anonymizer~blur" / "faces~0" / "anon_iters~0"
    (point / "det_iters~2").mkdir(parents=True)
    (point / "det_iters~2" / "map.json").write_text(json.dumps({"easy": 0.1, "medium": 0.2, "hard": 0.3}))
    (point / "image_metrics.json").write_text(json.dumps({"l1": 0.25, "fid": 3.0}))
    (point / "detector_view.json").write_text("{}")
    script = (
        "import sys; from pathlib import Path; from safefakes.evaluation import tables\n"
        "tables._view_values = lambda path: {'view_ap': 0.5}\n"
        "p = Path(sys.argv[1]) / 'anonymizer~blur' / 'faces~0' / 'anon_iters~0'\n"
        "t = tables.runs_table([p / 'det_iters~2' / 'map.json'], [p / 'image_metrics.json'], sys.argv[1],"
        " [p / 'detector_view.json'])\n"
        "print(','.join(t.columns))\n")
    orders = set()
    for seed in ("0", "1", "2", "3", "4", "5"):
        out = subprocess.run([sys.executable, "-c", script, str(root)], capture_output=True, text=True, check=True,
                             cwd=tmp_path,
                             env={**os.environ, "PYTHONHASHSEED": seed})
        orders.add(out.stdout.strip())
    assert len(orders) == 1, orders
    columns = orders.pop().split(",")
    assert columns.index("l1") < columns.index("fid") < columns.index("view_ap") < columns.index("run")
