"""Identity leakage against mAP: the trade-off a dataset owner chooses on.

Top left is best (little identity leaks, the detector keeps its accuracy);
the original data sits at full leakage. A dotted line runs from a method's
rate back to its measured chance level: only the part beyond it is a leak.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from safefakes.evaluation.summary import half_interval
from safefakes.evaluation.tables import MAP, METHOD, add_map_mean
from safefakes.plots.metric_scatter import METRIC_LABELS
from safefakes.plots.style import SUBSET_LABELS, color, label, main_setting, ordered_methods, plt, save_figure


def plot_leakage_vs_map(table: pd.DataFrame, out_stem: str | Path, leakage: str = "reid_rate",
                        target: str = MAP) -> list[Path]:
    """One point per method (its main setting, mean over seeds with its 95 % interval as a vertical
    bar); a horizontal bar reaches down to the recognizer's measured chance level when the table
    has it (a rate at chance is no leak)."""
    table = add_map_mean(table)
    if leakage not in table.columns or table[leakage].notna().sum() == 0:
        raise ValueError(f"the table has no '{leakage}' values")
    runs = main_setting(table.dropna(subset=[leakage]))
    chance = leakage.replace("_rate", "_chance")
    columns = [leakage, target] + ([chance] if chance in runs.columns else [])
    points = runs.groupby(METHOD)[columns].mean()
    halves = runs.groupby(METHOD)[target].agg(half_interval)
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    for i, method in enumerate(ordered_methods(points.index)):
        x, y = points.loc[method, leakage], points.loc[method, target]
        c = color(method, i)
        if np.isfinite(halves.get(method, np.nan)):
            ax.errorbar([x], [y], yerr=[halves[method]], color=c, capsize=2, linewidth=1, zorder=2)
        if chance in points.columns and np.isfinite(points.loc[method, chance]):
            ax.plot([points.loc[method, chance], x], [y, y], color=c, linestyle=":", linewidth=1, zorder=2)
        ax.scatter([x], [y], s=45, color=c, edgecolor="white", linewidth=0.6, zorder=3, label=label(method))
    ax.set_xlim(-0.05, 1.05)
    ax.set_xlabel(METRIC_LABELS.get(leakage, leakage) + "  (lower = more anonymous)")
    ax.set_ylabel(SUBSET_LABELS.get(target, target) + "  (higher = more useful)")
    # A legend, not labels at the points: methods often land close together.
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_title("Anonymity against usefulness (best: top left)")
    fig.tight_layout()
    return save_figure(fig, out_stem)
