"""mAP against the anonymizer's training-set size (Fig. 7) and its training length (Fig. 9).

Only methods trained on data (the GANs) have more than one value along these
axes; each is a line (mean over seeds, with its 95 % interval where a point
has two or more), one panel per difficulty, with the detector trained on the
original data as a dashed reference and its interval as a band.

A sweep need not run at the method's main setting: the paper trains Fig. 7's
three face sets for 4M images each, while its reference DeepPrivacy (1.47M
faces, 40M images) is the model of the other figures. So a line holds the
runs at the value of the other anonymizer axis where the method has the most
points (ties: the larger value), and the main setting, when it is not on the
line, is drawn as one marked point beside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from safefakes.data.wider_files import SUBSETS
from safefakes.evaluation.summary import half_interval
from safefakes.evaluation.tables import METHOD, ORIGINAL
from safefakes.plots.style import (
    SUBSET_LABELS,
    color,
    count_label,
    count_ticks,
    error_bars,
    label,
    main_setting,
    ordered_methods,
    original_rows,
    plt,
    save_figure,
    seed_curves,
)

FACES = "faces"
ANON_ITERS = "anon_iters"
UNITS = {FACES: "faces", ANON_ITERS: "images"}  # legend words for a point off the line


def swept_methods(table: pd.DataFrame, column: str) -> list[str]:
    """Methods with at least two values of ``column``."""
    if column not in table.columns:
        return []
    values = table.dropna(subset=[column]).groupby(METHOD)[column].nunique()
    return ordered_methods(values[values >= 2].index)


def sweep_rows(table: pd.DataFrame, column: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the runs of each swept method's line along ``column``, its main-setting runs off that line).

    The line fixes the other anonymizer axis (faces <-> anon_iters) at the value
    with the most distinct values of ``column`` (ties: the larger), and every
    other grid column at the method's largest value.
    """
    other = ANON_ITERS if column == FACES else FACES
    lines, extras = [], []
    for method in swept_methods(table, column):
        rows = table[table[METHOD] == method]
        if other in rows.columns and rows[other].notna().any():
            counts = rows.dropna(subset=[column]).groupby(other)[column].nunique()
            best = max(counts.index, key=lambda v: (counts[v], v))
            on_line = rows[rows[other] == best]
        else:
            on_line = rows
        line = main_setting(on_line, vary=column)
        main = main_setting(rows)
        lines.append(line)
        extras.append(main[~main.index.isin(line.index)])
    empty = table.iloc[0:0]
    return (pd.concat(lines) if lines else empty), (pd.concat(extras) if extras else empty)


def _plot_sweep(table: pd.DataFrame, column: str, xlabel: str, title: str, out_stem) -> list[Path]:
    methods = swept_methods(table, column)
    if not methods:
        raise ValueError(f"no method has two or more values of '{column}' in the table")
    runs, mains = sweep_rows(table, column)
    other = ANON_ITERS if column == FACES else FACES
    curves = seed_curves(runs, column)
    points = mains.groupby([METHOD, column, other])[list(SUBSETS)].mean().reset_index()
    reference = main_setting(original_rows(table))
    fig, axes = plt.subplots(1, len(SUBSETS), figsize=(3.2 * len(SUBSETS), 3.0))
    for k, (ax, subset) in enumerate(zip(axes, SUBSETS)):
        for i, method in enumerate(methods):
            c = curves[curves[METHOD] == method].sort_values(column)
            ax.errorbar(c[column], c[subset], yerr=error_bars(c[f"{subset}_half"]), marker="o",
                        markersize=3, capsize=2, color=color(method, i), label=label(method))
            for _, p in points[points[METHOD] == method].iterrows():
                ax.plot([p[column]], [p[subset]], marker="*", markersize=9, linestyle="none",
                        color=color(method, i),
                        label=f"{label(method)}, {count_label(p[other])} {UNITS[other]}")
        if len(reference):
            mean = reference[subset].mean()
            ax.axhline(mean, color=color(ORIGINAL), linestyle="--", linewidth=1, label=label(ORIGINAL))
            band = half_interval(reference[subset])
            if np.isfinite(band):
                ax.axhspan(mean - band, mean + band, color=color(ORIGINAL), alpha=0.12, linewidth=0)
        xs = pd.concat([curves[column], points[column]]).astype(float)
        if xs.min() > 0 and xs.max() / xs.min() >= 20:
            ax.set_xscale("log")
        count_ticks(ax, xs)
        ax.set_title(SUBSET_LABELS[subset])
        ax.set_xlabel(xlabel)
        if k == 0:
            ax.set_ylabel("AP on the validation set")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 8), bbox_to_anchor=(0.5, -0.08))
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, out_stem)


def plot_map_vs_training_faces(table: pd.DataFrame, out_stem: str | Path) -> list[Path]:
    """Fig. 7: mAP against the number of faces the anonymizer was trained on."""
    return _plot_sweep(table, FACES, "Anonymizer training faces", "Anonymizer training-set size", out_stem)


def plot_map_vs_anonymizer_iterations(table: pd.DataFrame, out_stem: str | Path) -> list[Path]:
    """Fig. 9: mAP against the anonymizer's training length."""
    return _plot_sweep(table, ANON_ITERS, "Anonymizer training iterations", "Anonymizer training length",
                       out_stem)
