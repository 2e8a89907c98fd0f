"""Every study figure drawn from a small tidy table, as PNG and PDF."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from builders import blur, make_anonymized, make_identity_split
from PIL import Image

from safefakes.evaluation.tables import read_table, write_table
from safefakes.plots.anonymizer_sweeps import (
    plot_map_vs_anonymizer_iterations,
    plot_map_vs_training_faces,
    sweep_rows,
    swept_methods,
)
from safefakes.plots.examples import plot_method_examples
from safefakes.plots.leakage import plot_leakage_vs_map
from safefakes.plots.map_bars import plot_map_by_method
from safefakes.plots.metric_scatter import plot_metrics_vs_map
from safefakes.plots.study import FIGURES, draw_study_figures
from safefakes.plots.style import main_setting
from safefakes.plots.training_curves import plot_map_vs_detector_iterations

# Final mAP (easy, medium, hard) and metrics per method, shaped like the paper's results.
METHODS = {
    #             easy  medium hard   l1    l2     ssim  lpips  fid   reid
    "original":    (0.93, 0.91, 0.80, 0.0,  0.0,   1.0,  0.0,   0.0,  0.95),
    "deepprivacy": (0.91, 0.89, 0.77, 0.12, 0.030, 0.55, 0.20,  8.0,  0.10),
    "ciagan":      (0.88, 0.85, 0.70, 0.15, 0.045, 0.45, 0.28,  15.0, 0.05),
    "sun2018":     (0.86, 0.83, 0.68, 0.14, 0.040, 0.48, 0.25,  20.0, 0.08),
    "fullblur":    (0.90, 0.87, 0.72, 0.05, 0.006, 0.80, 0.30,  40.0, 0.30),
    "blur":        (0.70, 0.60, 0.40, 0.06, 0.008, 0.75, 0.35,  60.0, 0.40),
    "pixelate":    (0.65, 0.55, 0.35, 0.08, 0.012, 0.60, 0.45,  80.0, 0.20),
    "blackout":    (0.50, 0.40, 0.25, 0.40, 0.200, 0.05, 0.70,  150., 0.00),
}
DET_ITERS = (7500, 15000, 60000)


def tidy_table() -> pd.DataFrame:
    rows = []
    gan = ("deepprivacy", "ciagan", "sun2018")
    for method, (e, m, h, l1, l2, ssim, lp, fid, reid) in METHODS.items():
        metrics = dict(l1=l1, l2=l2, ssim=ssim, lpips=lp, fid=fid, reid_rate=reid, top1_rate=reid / 2)
        # The detector view's retention by face width (none for the original): it grows with the face.
        for k, b in enumerate(("lt16", "16to32", "32to64", "ge64")):
            kept = np.nan if method == "original" else min(1.0, (1 - l1) * (0.4 + 0.2 * k))
            metrics.update({f"view_retention_{b}": kept, f"view_retention_{b}_low": kept - 0.05,
                            f"view_retention_{b}_high": kept + 0.05})
        grid_faces = (1000, 10000, 38000) if method == "deepprivacy" else (38000,)
        grid_anon = (100000, 1000000, 4000000) if method in ("deepprivacy", "ciagan") else (4000000,)
        for det in DET_ITERS:
            for faces in grid_faces:
                for anon in grid_anon:
                    if (faces != 38000 and anon != 4000000) or (det != 60000 and (faces, anon) != (38000, 4000000)):
                        continue  # the sweeps vary one thing at a time
                    drop = 0.06 * (DET_ITERS.index(det) != 2) + 0.03 * (det == 7500) \
                        + 0.05 * (faces == 1000) + 0.02 * (faces == 10000) \
                        + 0.06 * (anon == 100000) + 0.02 * (anon == 1000000)
                    row = {"anonymizer": method, "det_iters": det,
                           "faces": faces if method in gan else np.nan,
                           "anon_iters": anon if method in gan else np.nan,
                           "easy": e - drop, "medium": m - drop, "hard": h - 1.3 * drop, **metrics}
                    rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("table") / "runs.csv"
    write_table(tidy_table(), path)
    return read_table(path)  # through the CSV, as the command reads it


def check_written(paths, stem) -> None:
    assert [p.name for p in paths] == [f"{stem}.png", f"{stem}.pdf"]
    with Image.open(paths[0]) as png:
        assert png.size[0] > 300 and png.size[1] > 200
        # not a blank canvas
        assert np.asarray(png.convert("L")).std() > 5
    assert paths[1].read_bytes().startswith(b"%PDF")


def test_main_setting_keeps_the_fullest_runs(table):
    main = main_setting(table)
    assert len(main) == len(METHODS)  # one run per method
    assert (main.det_iters == 60000).all()
    gan = main[main.anonymizer.isin(["deepprivacy", "ciagan"])]
    assert (gan.faces == 38000).all() and (gan.anon_iters == 4000000).all()
    sweep = main_setting(table, vary="det_iters")
    assert sorted(sweep[sweep.anonymizer == "blur"].det_iters) == list(DET_ITERS)


def test_map_bars(table, tmp_path):
    check_written(plot_map_by_method(table, tmp_path / "bars"), "bars")


def test_detector_iteration_curves(table, tmp_path):
    check_written(plot_map_vs_detector_iterations(table, tmp_path / "curves"), "curves")


def test_anonymizer_sweeps(table, tmp_path):
    assert swept_methods(table, "faces") == ["deepprivacy"]
    assert swept_methods(table, "anon_iters") == ["deepprivacy", "ciagan"]
    check_written(plot_map_vs_training_faces(table, tmp_path / "faces"), "faces")
    check_written(plot_map_vs_anonymizer_iterations(table, tmp_path / "iters"), "iters")
    with pytest.raises(ValueError, match="faces"):
        plot_map_vs_training_faces(table[table.anonymizer != "deepprivacy"], tmp_path / "none")


def paper_grid_table() -> pd.DataFrame:
    """DeepPrivacy as the paper's grid has it: Fig. 7's sizes at 4M images, Fig. 9's lengths on
    1.47M faces, the 1.47M / 40M reference model; blur and the original at 60k iterations."""
    rows = [{"anonymizer": "original", "det_iters": 60000, "faces": np.nan, "anon_iters": np.nan},
            {"anonymizer": "blur", "det_iters": 60000, "faces": np.nan, "anon_iters": np.nan}]
    dp = [(38000, 4000000), (100000, 4000000), (1470000, 4000000),
          (1470000, 800000), (1470000, 10000000), (1470000, 40000000)]
    rows += [{"anonymizer": "deepprivacy", "det_iters": 60000, "faces": f, "anon_iters": a} for f, a in dp]
    table = pd.DataFrame(rows)
    for k, subset in enumerate(("easy", "medium", "hard")):
        table[subset] = 0.9 - 0.1 * k - 0.001 * np.arange(len(table))
    return table


def test_sweeps_follow_the_axis_with_most_points_and_mark_the_main_model(tmp_path):
    table = paper_grid_table()
    line, extra = sweep_rows(table, "faces")
    # Fig. 7: the three sizes at 4M images, not the 40M main setting's one point.
    assert sorted(zip(line.faces, line.anon_iters)) == [(38000, 4000000), (100000, 4000000), (1470000, 4000000)]
    assert list(zip(extra.faces, extra.anon_iters)) == [(1470000, 40000000)]
    line, extra = sweep_rows(table, "anon_iters")
    # Fig. 9: the four lengths on 1.47M faces; the main model is on that line.
    assert sorted(line.anon_iters) == [800000, 4000000, 10000000, 40000000]
    assert (line.faces == 1470000).all() and len(extra) == 0
    check_written(plot_map_vs_training_faces(table, tmp_path / "fig7"), "fig7")
    check_written(plot_map_vs_anonymizer_iterations(table, tmp_path / "fig9"), "fig9")


def test_metric_scatter_and_leakage(table, tmp_path):
    check_written(plot_metrics_vs_map(table, tmp_path / "scatter"), "scatter")
    check_written(plot_leakage_vs_map(table, tmp_path / "leak"), "leak")
    with pytest.raises(ValueError, match="reid_rate"):
        plot_leakage_vs_map(table.drop(columns="reid_rate"), tmp_path / "none")


def test_all_figures_and_the_command(table, tmp_path):
    drawn = draw_study_figures(table, tmp_path / "all")
    assert set(drawn) == set(FIGURES)

    from builders import run_command

    from safefakes.commands import tables as tables_command

    # One detector length only: that figure is skipped, the others still drawn.
    csv = tmp_path / "t.csv"
    write_table(table[table.det_iters == 60000], csv)
    assert run_command(tables_command, ["figures", str(csv), "--out", str(tmp_path / "cmd")]) == 0
    written = {p.name for p in (tmp_path / "cmd").iterdir()}
    assert "map_by_method.pdf" in written and "metrics_vs_map.png" in written
    assert not any(name.startswith("map_vs_detector_iterations") for name in written)


def test_method_examples(tmp_path):
    original = make_identity_split(tmp_path / "orig", n_images=1, faces_per_image=2)
    name = original.images[0].name
    splits = {"original": original.root,
              "blur": make_anonymized(original, tmp_path / "blur", blur(21), "blur"),
              "blackout": make_anonymized(original, tmp_path / "black", lambda c, n: c * 0, "blackout")}
    check_written(plot_method_examples(splits, name, tmp_path / "fig1"), "fig1")
    check_written(plot_method_examples(splits, name, tmp_path / "fig1z", crop_to_faces=True), "fig1z")
    from safefakes.errors import InputError

    with pytest.raises(InputError, match="no image"):
        plot_method_examples(splits, "0--X/missing.jpg", tmp_path / "x")
