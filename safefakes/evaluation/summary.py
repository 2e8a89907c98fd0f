"""The summary table: per grid point, the mean of its replicate runs with a 95 % interval, and its
difference to the original data with a 95 % interval over seeds and validation images.

``map.csv`` holds one row per run (a grid point trained with one detector
seed). Here the rows of a grid point become one: the number of seeds, the
mean, standard deviation and 95 % t-interval over seeds of AP easy, medium,
hard and mAP, and, for an anonymized point, ``diff`` = its mAP minus the
original's at the same detector length, with its 95 % interval (``bootstrap.py``:
Welch's t over the seeds, the validation images' share of the variance from a
paired bootstrap; ``diff_df`` its degrees of freedom, ``diff_se_images`` and
``diff_se_seeds`` the two parts of its standard error) and whether that
interval excludes 0. Only such a difference is a finding. With one seed on
either side there is no interval: ``diff_low``, ``diff_high`` are NaN and
``diff_excludes_zero`` is empty.

``machine`` names the machines of a point's runs (from each run's
``map.json``, ``safefakes.machine``): a seed trains the same detector only on
the same kind of CPU with the same torch and thread count.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from safefakes.data.images import atomic_path, write_text_atomic
from safefakes.data.wider_files import SUBSETS, read_ground_truth, read_predictions
from safefakes.errors import InputError
from safefakes.evaluation.bootstrap import (
    CONFIDENCE,
    INTERVAL_METHOD,
    N_RESAMPLES,
    RunResampler,
    paired_difference,
    resample_weights,
)
from safefakes.evaluation.tables import GRID_COLUMNS, MAP, MAP_COLUMNS, MAP_JSON, METHOD, ORIGINAL, SEED
from safefakes.machine import MACHINE, describe_machine

DET_ITERS = "det_iters"
PREDICTIONS = "predictions"
DIFF_COLUMNS = ("diff", "diff_low", "diff_high", "diff_excludes_zero", "n_resamples", "n_reference_seeds",
                "diff_df", "diff_se_images", "diff_se_seeds", "diff_method")
MACHINE_COLUMN = "machine"
#: Between the distinct machines of one grid point in the ``machine`` column.
MACHINE_SEPARATOR = " | "


def mean_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float, float, float]:
    """(mean, standard deviation, low, high) of replicate values: Student's t interval of the mean.

    One value has no spread: its deviation and interval are NaN.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return (math.nan,) * 4
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan, math.nan
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(x) - 1)) * std / math.sqrt(len(x))
    return mean, std, mean - half, mean + half


def half_interval(values) -> float:
    """Half the width of ``mean_interval``'s 95 % interval (NaN for fewer than two values): error bars."""
    mean, _, low, high = mean_interval(values)
    return (high - low) / 2


def point_columns(table: pd.DataFrame) -> list[str]:
    """The grid columns that name a grid point (every grid column but the seed)."""
    return [c for c in GRID_COLUMNS if c in table.columns and c != SEED]


def summarize_seeds(table: pd.DataFrame, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """One row per grid point: n_seeds and, per score, ``<score>``, ``_std``, ``_low``, ``_high``."""
    point = point_columns(table)
    rows = []
    for key, runs in table.groupby(point, sort=True):
        row = dict(zip(point, key if isinstance(key, tuple) else (key,)))
        row["n_seeds"] = int(runs[SEED].nunique()) if SEED in runs.columns else len(runs)
        for score in MAP_COLUMNS:
            mean, std, low, high = mean_interval(runs[score], confidence)
            row.update({score: mean, f"{score}_std": std, f"{score}_low": low, f"{score}_high": high})
        rows.append(row)
    return pd.DataFrame(rows)


def _reference_runs(table: pd.DataFrame, det_iters) -> pd.DataFrame:
    rows = table[table[METHOD] == ORIGINAL]
    if DET_ITERS in table.columns:
        rows = rows[rows[DET_ITERS] == det_iters]
    return rows


def compare_with_original(table: pd.DataFrame, runs_root: str | Path, gt_dir: str | Path,
                          n_resamples: int = N_RESAMPLES, seed: int = 0,
                          confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per anonymized grid point: its mAP minus the original's (same detector length), with its interval.

    Each run's predictions are read from ``runs_root/<run>/predictions``. Every
    comparison uses the same image draws (one generator seeded by ``seed``), so
    the table is reproducible. A point whose detector length has no original
    run gets NaN; one with a single seed on either side gets its difference
    without an interval (``bootstrap.paired_difference``).
    """
    runs_root = Path(runs_root)
    gt = read_ground_truth(gt_dir)
    rng = np.random.default_rng(seed)
    weights = resample_weights(len(gt.images), n_resamples, rng)
    full = np.ones((1, len(gt.images)), dtype=np.int64)
    cache: dict[str, tuple[np.ndarray, float]] = {}

    def samples(run: str) -> tuple[np.ndarray, float]:
        if run not in cache:
            folder = runs_root / run / PREDICTIONS
            if not folder.is_dir():
                raise InputError(folder, "prediction folder not found",
                                 hint="the summary reads each run's predictions; run `safefakes detect` first")
            resampler = RunResampler(gt, read_predictions(folder))
            cache[run] = (resampler.map_samples(weights), float(resampler.map_samples(full)[0]))
        return cache[run]

    point = point_columns(table)
    rows = []
    for key, runs in table[table[METHOD] != ORIGINAL].groupby(point, sort=True):
        row = dict(zip(point, key if isinstance(key, tuple) else (key,)))
        reference = _reference_runs(table, row.get(DET_ITERS))
        if reference.empty:
            row.update(dict.fromkeys(DIFF_COLUMNS, math.nan))
            rows.append(row)
            continue
        method_samples = [samples(r) for r in runs["run"]]
        reference_samples = [samples(r) for r in reference["run"]]
        diff = paired_difference([s for s, _ in method_samples], [s for s, _ in reference_samples],
                                 [f for _, f in method_samples], [f for _, f in reference_samples], confidence)
        # No interval, no verdict: empty, not False, where either side has one seed.
        row.update(diff=diff.difference, diff_low=diff.low, diff_high=diff.high,
                   diff_excludes_zero=diff.excludes_zero if diff.has_interval else None,
                   n_resamples=diff.n_resamples, n_reference_seeds=diff.n_reference_seeds, diff_df=diff.df,
                   diff_se_images=diff.se_images, diff_se_seeds=diff.se_seeds, diff_method=INTERVAL_METHOD)
        rows.append(row)
    return pd.DataFrame(rows, columns=[*point, *DIFF_COLUMNS])


def run_machine(map_path: str | Path) -> str:
    """One line naming the machines of a run's ``map.json`` ("unknown" where it records none).

    The training machine decides the weights; the predicting one is named too
    where it differs.
    """
    path = Path(map_path)
    try:
        record = json.loads(path.read_text(encoding="utf-8")).get(MACHINE)
    except FileNotFoundError:
        raise InputError(path, "map.json not found", hint="the summary reads each run's map.json; "
                         "run `safefakes evaluate --json` first") from None
    except (json.JSONDecodeError, AttributeError) as exc:
        raise InputError(path, f"not a map.json object ({exc})") from exc
    if not isinstance(record, dict):
        return describe_machine(None)
    train, predict = record.get("train"), record.get("predict")
    if not predict or predict == train:
        return describe_machine(train)
    return f"trained on {describe_machine(train)}; predicted on {describe_machine(predict)}"


def machines(table: pd.DataFrame, runs_root: str | Path) -> pd.DataFrame:
    """Per grid point, the distinct machines of its runs (``MACHINE_SEPARATOR`` between them)."""
    point = point_columns(table)
    rows = []
    for key, runs in table.groupby(point, sort=True):
        row = dict(zip(point, key if isinstance(key, tuple) else (key,)))
        names = [run_machine(Path(runs_root) / run / MAP_JSON) for run in runs["run"]]
        row[MACHINE_COLUMN] = MACHINE_SEPARATOR.join(dict.fromkeys(names))
        rows.append(row)
    return pd.DataFrame(rows, columns=[*point, MACHINE_COLUMN])


def summary_table(table: pd.DataFrame, runs_root: str | Path, gt_dir: str | Path,
                  n_resamples: int = N_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """``summarize_seeds`` joined with ``compare_with_original`` (empty diff columns for the original)
    and with the runs' ``machines``."""
    if "run" not in table.columns:
        raise ValueError("the run table has no 'run' column (made by `safefakes collect`)")
    summary = summarize_seeds(table)
    diffs = compare_with_original(table, runs_root, gt_dir, n_resamples, seed)
    point = point_columns(table)
    return summary.merge(diffs, on=point, how="left").merge(machines(table, runs_root), on=point, how="left")


def _fmt_interval(mean: float, low: float, high: float) -> str:
    if math.isnan(mean):
        return "–"
    if math.isnan(low):
        return f"{mean:.3f}"
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def _fmt_difference(r: pd.Series) -> str:
    if pd.isna(r.get("diff")):
        return "–"
    if pd.isna(r.get("diff_low")):
        seeds = f"{int(r['n_seeds'])} vs {int(r['n_reference_seeds'])} seeds" if "n_reference_seeds" in r else "1 seed"
        return f"{r['diff']:+.3f} (no interval: {seeds})"
    return f"{r['diff']:+.3f} [{r['diff_low']:+.3f}, {r['diff_high']:+.3f}]"


def to_markdown(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table: mAP with its interval over seeds, difference to the original;
    below it, the machines the runs came from."""
    point = [c for c in point_columns(summary)]
    header = [*point, "seeds", "mAP (95 % CI over seeds)", "− original (95 % CI, seeds and images)", "excludes 0"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, r in summary.iterrows():
        excludes = "–" if pd.isna(r.get("diff_excludes_zero")) else ("yes" if bool(r["diff_excludes_zero"]) else "no")
        cells = [str(r[c]) for c in point] + [str(int(r["n_seeds"])),
                                              _fmt_interval(r[MAP], r[f"{MAP}_low"], r[f"{MAP}_high"]),
                                              _fmt_difference(r), excludes]
        lines.append("| " + " | ".join(cells) + " |")
    if MACHINE_COLUMN in summary.columns:
        counts: dict[str, int] = {}
        for value in summary[MACHINE_COLUMN].dropna():
            for name in str(value).split(MACHINE_SEPARATOR):
                counts[name] = counts.get(name, 0) + 1
        lines += ["", "Machines (a seed trains the same detector only on the same kind of CPU, with the same "
                      "torch and thread count):"]
        lines += [f"- {name}: {n} grid point{'' if n == 1 else 's'}" for name, n in counts.items()]
    return "\n".join(lines) + "\n"


def write_summary(summary: pd.DataFrame, csv_path: str | Path, markdown_path: str | Path) -> None:
    with atomic_path(Path(csv_path)) as tmp:
        summary.to_csv(tmp, index=False)
    write_text_atomic(Path(markdown_path), to_markdown(summary))


__all__ = ["mean_interval", "half_interval", "summarize_seeds", "compare_with_original", "run_machine", "machines",
           "summary_table", "to_markdown", "write_summary", "DIFF_COLUMNS", "MACHINE_COLUMN", "SUBSETS"]
