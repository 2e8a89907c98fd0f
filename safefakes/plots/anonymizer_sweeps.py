"""mAP against the anonymizer's training-set size (Fig. 7) and its training length (Fig. 9).

Only methods trained on data (the GANs) have more than one value along these
axes; each is a line (mean over seeds, with its 95 % interval where a point
has two or more), one panel per difficulty, with the detector trained on the
original data as a dashed reference and its interval as a band.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from safefakes.data.wider import SUBSETS
from safefakes.evaluation.summary import half_interval
from safefakes.evaluation.tables import METHOD, ORIGINAL
from safefakes.plots.style import (
    SUBSET_LABELS,
    color,
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
    curves = seed_curves(runs, column)
    reference = main_setting(original_rows(table))
    fig, axes = plt.subplots(1, len(SUBSETS), figsize=(3.2 * len(SUBSETS), 3.0))
    for k, (ax, subset) in enumerate(zip(axes, SUBSETS)):
        for i, method in enumerate(methods):
            c = curves[curves[METHOD] == method].sort_values(column)
            ax.errorbar(c[column], c[subset], yerr=error_bars(c[f"{subset}_half"]), marker="o",
                        markersize=3, capsize=2, color=color(method, i), label=label(method))
        if len(reference):
            mean = reference[subset].mean()
            ax.axhline(mean, color=color(ORIGINAL), linestyle="--", linewidth=1, label=label(ORIGINAL))
            band = half_interval(reference[subset])
            if np.isfinite(band):
                ax.axhspan(mean - band, mean + band, color=color(ORIGINAL), alpha=0.12, linewidth=0)
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
