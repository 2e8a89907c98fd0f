"""mAP per anonymizer and difficulty, grouped bars, the original data as reference (the paper's Fig. 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from safefakes.data.wider_files import SUBSETS
from safefakes.evaluation.summary import half_interval
from safefakes.evaluation.tables import METHOD, ORIGINAL
from safefakes.plots.style import SUBSET_COLORS, SUBSET_LABELS, label, main_setting, ordered_methods, plt, save_figure


def plot_map_by_method(table: pd.DataFrame, out_stem: str | Path) -> list[Path]:
    """Bars: one group per anonymizer, one bar per difficulty (mean over the replicate runs,
    seeds, with its 95 % interval as error bars); dashed lines: the detector trained on the
    original data, its interval as a shaded band."""
    runs = main_setting(table)
    scores = runs.groupby(METHOD)[list(SUBSETS)].agg(["mean", half_interval])
    methods = [m for m in ordered_methods(scores.index) if m != ORIGINAL]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(methods) + 1.5), 3.2))
    x = np.arange(len(methods))
    width = 0.8 / len(SUBSETS)
    for k, subset in enumerate(SUBSETS):
        mean = scores.loc[methods, (subset, "mean")].to_numpy(float)
        half = np.nan_to_num(scores.loc[methods, (subset, "half_interval")].to_numpy(float))
        bars = ax.bar(x + (k - 1) * width, mean, width, yerr=half if half.any() else None,
                      color=SUBSET_COLORS[subset], label=SUBSET_LABELS[subset], capsize=2)
        ax.bar_label(bars, fmt="%.2f" if np.nanmax(mean) <= 1 else "%.1f", fontsize=6, padding=1)
        if ORIGINAL in scores.index:
            reference = scores.loc[ORIGINAL, (subset, "mean")]
            ax.axhline(reference, color=SUBSET_COLORS[subset], linestyle="--", linewidth=1)
            band = scores.loc[ORIGINAL, (subset, "half_interval")]
            if np.isfinite(band):
                ax.axhspan(reference - band, reference + band, color=SUBSET_COLORS[subset], alpha=0.12,
                           linewidth=0)
    if ORIGINAL in scores.index:
        ax.plot([], [], color="black", linestyle="--", linewidth=1, label="Original data")
    ax.set_xticks(x, [label(m) for m in methods], rotation=20, ha="right")
    ax.set_ylabel("AP on the validation set")
    ax.set_title("Detector trained on anonymized data")
    ax.grid(axis="x", visible=False)
    top = np.nanmax(scores.xs("mean", axis=1, level=1).to_numpy(float)
                    + np.nan_to_num(scores.xs("half_interval", axis=1, level=1).to_numpy(float)))
    ax.set_ylim(0, top * 1.15)  # room for the bar labels
    ax.legend(ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    return save_figure(fig, out_stem)
