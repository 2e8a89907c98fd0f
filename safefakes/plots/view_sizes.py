"""The detector's view by face size: how much of the original's found rate each method keeps.

One line per method (its main setting): x the face-width bin, y the retention
of the frozen detector's found rate (method / original, ``view_retention_<bin>``),
with its paired-bootstrap 95 % interval. Where a line drops, faces of that size
stop being usable training data: a reader takes each method's minimum usable
face size from the first bin where its retention is high.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from safefakes.evaluation.detector_view import SIZE_BINS
from safefakes.evaluation.tables import METHOD, ORIGINAL
from safefakes.plots.style import color, label, main_setting, ordered_methods, plt, save_figure

BIN_LABELS = {"lt16": "< 16", "16to32": "16–32", "32to64": "32–64", "ge64": "≥ 64"}


def plot_view_retention_by_size(table: pd.DataFrame, out_stem: str | Path) -> list[Path]:
    """Retention of the found rate per face-width bin, one line per anonymization method."""
    columns = [f"view_retention_{b}" for b in SIZE_BINS]
    if not set(columns) <= set(table.columns):
        raise ValueError("the table has no detector view retention columns (view_retention_<bin>)")
    rows = table[table[METHOD].astype(str) != ORIGINAL].dropna(subset=columns, how="all")
    if rows.empty:
        raise ValueError("no anonymized split has a detector view with a retention")
    # One view per anonymized split: the seeds and detector lengths of a point repeat it.
    rows = main_setting(rows).drop_duplicates(subset=[METHOD])
    x = np.arange(len(SIZE_BINS))
    methods = ordered_methods(rows[METHOD])
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    for i, method in enumerate(methods):
        r = rows[rows[METHOD] == method].iloc[0]
        y = np.array([r[f"view_retention_{b}"] for b in SIZE_BINS], dtype=float)
        low = np.array([r.get(f"view_retention_{b}_low", np.nan) for b in SIZE_BINS], dtype=float)
        high = np.array([r.get(f"view_retention_{b}_high", np.nan) for b in SIZE_BINS], dtype=float)
        # Offsets keep the interval bars of neighbouring methods apart.
        shift = (i - (len(methods) - 1) / 2) * 0.04
        yerr = np.vstack([np.where(np.isfinite(low), y - low, 0), np.where(np.isfinite(high), high - y, 0)])
        ax.errorbar(x + shift, y, yerr=yerr, color=color(method, i), marker="o", markersize=4, capsize=2,
                    linewidth=1.2, label=label(method))
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle=":")
    ax.set_xticks(x, [BIN_LABELS[b] for b in SIZE_BINS])
    ax.set_xlabel("face width (px)")
    ax.set_ylabel("found rate / original's (95 % interval)")
    ax.set_ylim(bottom=0)
    ax.set_title("The original-trained detector's view of each anonymized split", fontsize=9)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    return save_figure(fig, out_stem)
