"""Each image metric against mAP, one panel per metric, with the correlation written on it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from safefakes.anonymizers.registry import method_kinds
from safefakes.evaluation.correlation import correlate, final_detector_runs, seed_means
from safefakes.evaluation.summary import half_interval
from safefakes.evaluation.tables import GRID_COLUMNS, IMAGE_METRICS, MAP, METHOD, ORIGINAL, SEED, add_map_mean
from safefakes.plots.style import SUBSET_LABELS, color, label, ordered_methods, plt, save_figure

METRIC_LABELS = {"l1": "L1", "l2": "L2", "ssim": "SSIM", "lpips": "LPIPS", "fid": "FID", "kid": "KID",
                 "reid_rate": "Re-identification rate", "top1_rate": "Top-1 identification rate"}
_GROUP_SHORT = {"all": "all", "gan": "GAN", "conventional": "conv."}


def _fmt(r: float) -> str:
    return "–" if math.isnan(r) else f"{r:+.2f}"


def correlation_note(correlation: pd.DataFrame, metric: str) -> str:
    """Three lines, one per group: Pearson r, Spearman rho and n."""
    lines = []
    for _, row in correlation[correlation.metric == metric].iterrows():
        lines.append(f"{_GROUP_SHORT[row.group]}: r {_fmt(row.pearson)}, ρ {_fmt(row.spearman)} (n={row.n})")
    return "\n".join(lines)


def plot_metrics_vs_map(table: pd.DataFrame, out_stem: str | Path, metrics: list[str] | None = None,
                        target: str = MAP) -> list[Path]:
    """A scatter per metric (anonymized runs, coloured by method) with r and rho per group.

    Like the correlation table, only runs of the longest detector training are used.
    """
    table = add_map_mean(table)
    if metrics is None:
        metrics = [m for m in IMAGE_METRICS if m in table.columns and table[m].notna().any()]
    if not metrics:
        raise ValueError("the table has none of the image metric columns")
    runs = final_detector_runs(table)
    corr = correlate(runs, method_kinds(runs.get("method", ())), metrics, target)
    runs = runs[runs[METHOD].astype(str) != ORIGINAL]
    # One point per anonymized dataset, as Table II counts them: the mean over its seeds,
    # with the 95 % interval over seeds as a vertical bar.
    points = seed_means(runs, target)
    point = [c for c in GRID_COLUMNS if c in runs.columns and c != SEED]
    if SEED in runs.columns:
        halves = runs.groupby(point, sort=False, dropna=False)[target].agg(half_interval).reset_index(drop=True)
    else:
        halves = pd.Series(np.nan, index=range(len(points)))
    runs = points.assign(_half=halves.to_numpy())
    cols = min(len(metrics), 3)
    nrows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.4 * cols, 3.3 * nrows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        for i, method in enumerate(ordered_methods(runs[METHOD])):
            r = runs[runs[METHOD] == method]
            bars = r["_half"].to_numpy(float)
            if np.isfinite(bars).any():
                ax.errorbar(r[metric], r[target], yerr=np.nan_to_num(bars), fmt="none", ecolor=color(method, i),
                            capsize=2, linewidth=0.8, zorder=2)
            ax.scatter(r[metric], r[target], s=26, color=color(method, i), label=label(method),
                       edgecolor="white", linewidth=0.5, zorder=3)
        # Above the panel, where it can hide no point.
        ax.set_title(correlation_note(corr, metric), fontsize=7, loc="left", family="monospace")
        ax.set_xlabel(METRIC_LABELS.get(metric, metric))
        ax.set_ylabel(SUBSET_LABELS.get(target, target))
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 7), bbox_to_anchor=(0.5, -0.06))
    fig.tight_layout()
    return save_figure(fig, out_stem)
