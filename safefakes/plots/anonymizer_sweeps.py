"""mAP against the anonymizer's training-set size (Fig. 7) and its training length (Fig. 9).

Only methods trained on data (the GANs) have more than one value along these
axes; each is a line, one panel per difficulty, with the detector trained on
the original data as a dashed reference.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from safefakes.data.wider import SUBSETS
from safefakes.evaluation.tables import METHOD, ORIGINAL
from safefakes.plots.style import (
    SUBSET_LABELS,
    color,
    count_ticks,
    label,
    main_setting,
    ordered_methods,
    original_rows,
    plt,
    save_figure,
)

FACES = "faces"
ANON_ITERS = "anon_iters"


def swept_methods(table: pd.DataFrame, column: str) -> list[str]:
    """Methods with at least two values of ``column``."""
    if column not in table.columns:
        return []
    values = table.dropna(subset=[column]).groupby(METHOD)[column].nunique()
    return ordered_methods(values[values >= 2].index)


def _plot_sweep(table: pd.DataFrame, column: str, xlabel: str, title: str, out_stem) -> list[Path]:
    methods = swept_methods(table, column)
    if not methods:
        raise ValueError(f"no method has two or more values of '{column}' in the table")
    runs = main_setting(table[table[METHOD].isin(methods)], vary=column)
    curves = runs.groupby([METHOD, column])[list(SUBSETS)].mean().reset_index()
    reference = main_setting(original_rows(table))
    fig, axes = plt.subplots(1, len(SUBSETS), figsize=(3.2 * len(SUBSETS), 3.0))
    for k, (ax, subset) in enumerate(zip(axes, SUBSETS)):
        for i, method in enumerate(methods):
            c = curves[curves[METHOD] == method].sort_values(column)
            ax.plot(c[column], c[subset], marker="o", markersize=3, color=color(method, i),
                    label=label(method))
        if len(reference):
            ax.axhline(reference[subset].mean(), color=color(ORIGINAL), linestyle="--", linewidth=1,
                       label=label(ORIGINAL))
        xs = curves[column].astype(float)
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
