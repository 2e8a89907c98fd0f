"""mAP against detector training iterations, one line per anonymizer (the paper's Fig. 6)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from safefakes.data.wider_files import SUBSETS
from safefakes.evaluation.tables import METHOD, ORIGINAL
from safefakes.plots.style import (
    SUBSET_LABELS,
    color,
    count_ticks,
    error_bars,
    label,
    main_setting,
    ordered_methods,
    plt,
    save_figure,
    seed_curves,
)

DET_ITERS = "det_iters"


def plot_map_vs_detector_iterations(table: pd.DataFrame, out_stem: str | Path) -> list[Path]:
    """One panel per difficulty; x: detector training iterations; a line per anonymizer
    (mean over seeds, with its 95 % interval where a point has two or more)."""
    runs = main_setting(table, vary=DET_ITERS)
    curves = seed_curves(runs, DET_ITERS)
    fig, axes = plt.subplots(1, len(SUBSETS), figsize=(3.2 * len(SUBSETS), 3.0), sharex=True)
    for k, (ax, subset) in enumerate(zip(axes, SUBSETS)):
        for i, method in enumerate(ordered_methods(curves[METHOD])):
            c = curves[curves[METHOD] == method].sort_values(DET_ITERS)
            ax.errorbar(c[DET_ITERS], c[subset], yerr=error_bars(c[f"{subset}_half"]), marker="o",
                        markersize=3, capsize=2, color=color(method, i),
                        linestyle="--" if method == ORIGINAL else "-", label=label(method))
        ax.set_title(SUBSET_LABELS[subset])
        ax.set_xlabel("Detector training iterations")
        count_ticks(ax, curves[DET_ITERS])
        if k == 0:
            ax.set_ylabel("AP on the validation set")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 8), bbox_to_anchor=(0.5, -0.08))
    fig.tight_layout()
    return save_figure(fig, out_stem)
