"""Which cheap image metric predicts the expensive detector result? (the paper's Table II)

From the tidy per-run table, the Pearson and Spearman correlation of each
metric with mAP over three groups of anonymized datasets: all of them, the GAN
methods only and the conventional methods only, each with its number of runs.
The un-anonymized "original" runs are left out: their metrics are zero by
definition and would anchor every correlation. Which method is of which kind
is the caller's knowledge (the method registry): the judge does not depend on
the judged.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from safefakes.data.images import atomic_path, write_text_atomic
from safefakes.evaluation.tables import (
    GRID_COLUMNS,
    IMAGE_METRICS,
    LEAKAGE_METRICS,
    MAP,
    METHOD,
    ORIGINAL,
    SEED,
    VIEW_METRICS,
    add_map_mean,
)

#: "all" plus the method kinds that get their own column (the registry's kind names).
GROUPS = ("all", "gan", "conventional")
#: Fewest runs for which a correlation is reported (two points always correlate perfectly).
MIN_RUNS = 3
COLUMNS = ("metric", "target", "group", "n", "pearson", "pearson_low", "pearson_high", "pearson_p",
           "spearman", "spearman_p")
CONFIDENCE = 0.95
_GROUP_TITLES = {"all": "All", "gan": "GAN", "conventional": "Conventional"}


def final_detector_runs(table: pd.DataFrame, column: str = "det_iters") -> pd.DataFrame:
    """The runs of the longest detector training: one mAP per anonymized dataset.

    Shorter detector runs (the paper's Fig. 6 sweep) would count each dataset
    several times with the same metrics; tables without the column are kept whole.
    """
    if column not in table.columns:
        return table
    values = pd.to_numeric(table[column], errors="coerce")
    if values.notna().sum() == 0:
        return table
    return table[values == values.max()]


def _group_rows(table: pd.DataFrame, group: str, method_column: str,
                method_kinds: Mapping[str, str]) -> pd.DataFrame:
    methods = table[method_column].astype(str)
    keep = methods != ORIGINAL
    if group != "all":
        keep &= methods.map(lambda m: method_kinds.get(m)) == group
    return table[keep]


def pearson_interval(r: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Fisher's z interval of a Pearson r from n pairs: tanh(atanh(r) -+ z / sqrt(n - 3)).

    Needs n >= 4 (NaN otherwise); a perfect |r| = 1 has the degenerate interval (r, r).
    """
    if n < 4 or math.isnan(r):
        return math.nan, math.nan
    if abs(r) >= 1:
        return r, r
    z = math.atanh(r)
    half = float(stats.norm.ppf(0.5 + confidence / 2)) / math.sqrt(n - 3)
    return math.tanh(z - half), math.tanh(z + half)


def _pair(x: np.ndarray, y: np.ndarray) -> tuple[float, ...]:
    nan = (math.nan,) * 6
    if len(x) < MIN_RUNS or np.ptp(x) == 0 or np.ptp(y) == 0:
        return nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pearson = stats.pearsonr(x, y)
        spearman = stats.spearmanr(x, y)
    r = float(pearson.statistic)
    return (r, *pearson_interval(r, len(x)), float(pearson.pvalue),
            float(spearman.statistic), float(spearman.pvalue))


def seed_means(table: pd.DataFrame, target: str = MAP) -> pd.DataFrame:
    """One row per grid point: ``target`` averaged over its seeds (replicate runs).

    A grid point's image metrics do not depend on the detector's seed, so its
    replicates are one dataset, not several: counting them as points would
    inflate n. Tables without a seed column are returned as they are.
    """
    if SEED not in table.columns:
        return table
    point = [c for c in GRID_COLUMNS if c in table.columns and c != SEED]
    rest = [c for c in table.columns if c not in point and c not in (SEED, target, "run")]
    agg = {c: "first" for c in rest}
    agg[target] = "mean"
    return table.groupby(point, sort=False, dropna=False).agg(agg).reset_index()


def correlate(
    table: pd.DataFrame,
    method_kinds: Mapping[str, str],
    metrics: tuple[str, ...] | list[str] | None = None,
    target: str = MAP,
    method_column: str = METHOD,
) -> pd.DataFrame:
    """One row per metric and group: n, Pearson r with its 95 % interval and p, Spearman rho and p.

    method_kinds: method -> kind ("gan", "conventional", ...), e.g. the registry's
    ``method_kinds()``; a method of another or no kind counts in "all" only.
    Only the runs of the longest detector training count (``final_detector_runs``),
    and the seeds of a grid point count once, by their mean (``seed_means``): n is
    the number of anonymized datasets.
    metrics: default every image and leakage metric and the detector view's found rate
    (``view_recall_ge16``) present in the table.
    Runs without a value for the metric or the target are not counted in n.
    A group with fewer than three runs, or a constant column, gets NaN.
    """
    table = seed_means(final_detector_runs(add_map_mean(table)), target)
    if metrics is None:
        metrics = [m for m in (*IMAGE_METRICS, *LEAKAGE_METRICS, *VIEW_METRICS) if m in table.columns]
    missing = [c for c in (*metrics, target, method_column) if c not in table.columns]
    if missing:
        raise KeyError(f"the table has no column(s) {', '.join(missing)}")
    rows = []
    for metric in metrics:
        for group in GROUPS:
            sub = _group_rows(table, group, method_column, method_kinds)
            values = sub[[metric, target]].apply(pd.to_numeric, errors="coerce").dropna()
            x, y = values[metric].to_numpy(float), values[target].to_numpy(float)
            rows.append((metric, target, group, len(values), *_pair(x, y)))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _fmt(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:+.2f}"


def to_markdown(correlation: pd.DataFrame) -> str:
    """Table II's shape: one row per metric, Pearson and Spearman per group, n in the header."""
    parts = []
    for target, block in correlation.groupby("target", sort=False):
        n = {g: int(block[block.group == g].n.max()) for g in GROUPS}
        header = ["Metric"]
        for g in GROUPS:
            header += [f"{_GROUP_TITLES[g]} r [95 % CI] (n={n[g]})", f"{_GROUP_TITLES[g]} ρ"]
        lines = [f"Correlation with {target} (Pearson r with its Fisher-z 95 % interval, Spearman ρ; "
                 f"n = anonymized datasets, seeds averaged; – = fewer than {MIN_RUNS} datasets or a "
                 f"constant column; no interval below 4)", "",
                 "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for metric, rows in block.groupby("metric", sort=False):
            cells = [metric.upper() if len(metric) <= 5 else metric]
            for g in GROUPS:
                r = rows[rows.group == g].iloc[0]
                interval = ("" if math.isnan(r.pearson_low) else
                            f" [{_fmt(r.pearson_low)}, {_fmt(r.pearson_high)}]")
                cells += [_fmt(r.pearson) + interval, _fmt(r.spearman)]
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def write_correlation(correlation: pd.DataFrame, out_dir: str | Path) -> tuple[Path, Path]:
    """correlation.csv and correlation.md under out_dir."""
    out_dir = Path(out_dir)
    csv_path, md_path = out_dir / "correlation.csv", out_dir / "correlation.md"
    with atomic_path(csv_path) as tmp:
        correlation.to_csv(tmp, index=False)
    write_text_atomic(md_path, to_markdown(correlation))
    return csv_path, md_path
