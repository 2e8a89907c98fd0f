"""Each anonymized grid point's mAP minus the original's, with its 95 % interval over seeds and validation images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from safefakes.evaluation.tables import METHOD
from safefakes.plots.style import color, count_label, label, ordered_methods, plt, save_figure

SETTING_COLUMNS = ("faces", "anon_iters", "det_iters")


def _point_label(row: pd.Series, varying: list[str]) -> str:
    parts = [label(row[METHOD])]
    for column in varying:
        parts.append(f"{column} {count_label(float(row[column]))}")
    return ", ".join(parts)


def plot_map_differences(summary: pd.DataFrame, out_stem: str | Path) -> list[Path]:
    """One row per anonymized grid point: the difference (dot) and its interval (bar).

    Filled dots: the interval excludes 0 (a finding); open dots: it does not;
    a cross without a bar: no interval (one seed on a side, see
    ``evaluation.bootstrap``).
    """
    rows = summary.dropna(subset=["diff"])
    if rows.empty:
        raise ValueError("the summary has no difference to the original (no original run at a matching length)")
    order = {m: i for i, m in enumerate(ordered_methods(rows[METHOD]))}
    rows = rows.assign(_order=rows[METHOD].map(order)).sort_values(
        ["_order", *[c for c in SETTING_COLUMNS if c in rows.columns]])
    # A setting column enters the labels only where it varies within some method.
    varying = [c for c in SETTING_COLUMNS if c in rows.columns
               and (rows.groupby(METHOD)[c].nunique() > 1).any()]
    fig, ax = plt.subplots(figsize=(5.2, 0.32 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    for yi, (_, r) in zip(y, rows.iterrows()):
        c = color(r[METHOD], order[r[METHOD]])
        if pd.isna(r["diff_low"]) or pd.isna(r["diff_high"]):
            ax.plot(r["diff"], yi, marker="x", color=c, markersize=5, linestyle="none")
            continue
        # Read back from summary.csv the flag is True, False or empty (no interval): only True fills.
        excludes = r["diff_excludes_zero"]
        filled = not pd.isna(excludes) and str(excludes).lower() in ("true", "1", "1.0")
        ax.errorbar(r["diff"], yi, xerr=[[r["diff"] - r["diff_low"]], [r["diff_high"] - r["diff"]]],
                    fmt="o", color=c, markerfacecolor=c if filled else "white", capsize=2, markersize=5)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, [_point_label(r, varying) for _, r in rows.iterrows()])
    ax.set_xlabel("mAP − original's mAP (95 % interval over seeds and images)")
    ax.set_title("Cost of anonymization (filled: interval excludes 0; x: one seed, no interval)", fontsize=9)
    ax.grid(axis="y", visible=False)
    return save_figure(fig, out_stem)
