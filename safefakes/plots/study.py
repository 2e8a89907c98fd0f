"""Every figure the tidy run table supports, under one folder (names fixed for the report)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from safefakes.plots.anonymizer_sweeps import plot_map_vs_anonymizer_iterations, plot_map_vs_training_faces
from safefakes.plots.leakage import plot_leakage_vs_map
from safefakes.plots.map_bars import plot_map_by_method
from safefakes.plots.map_differences import plot_map_differences
from safefakes.plots.metric_scatter import plot_metrics_vs_map
from safefakes.plots.training_curves import DET_ITERS, plot_map_vs_detector_iterations
from safefakes.plots.view_sizes import plot_view_retention_by_size

log = logging.getLogger(__name__)

#: File stem -> (what it shows, function).
FIGURES = {
    "map_by_method": ("mAP per anonymizer and difficulty (Fig. 4)", plot_map_by_method),
    "map_vs_detector_iterations": ("mAP against detector training iterations (Fig. 6)",
                                   plot_map_vs_detector_iterations),
    "map_vs_training_faces": ("mAP against the anonymizer's training-set size (Fig. 7)",
                              plot_map_vs_training_faces),
    "map_vs_anonymizer_iterations": ("mAP against the anonymizer's training length (Fig. 9)",
                                     plot_map_vs_anonymizer_iterations),
    "metrics_vs_map": ("each image metric against mAP, with correlations (Table II)", plot_metrics_vs_map),
    "leakage_vs_map": ("re-identification rate against mAP", plot_leakage_vs_map),
    "view_retention_by_size": ("the frozen detector's found rate by face size, as a retention of the original's",
                               plot_view_retention_by_size),
}


#: The difference of every anonymized grid point to the original, from the summary table.
DIFFERENCES = "map_difference_to_original"


def _skip_reason(name: str, table: pd.DataFrame) -> str | None:
    if name == "map_vs_detector_iterations" and (
            DET_ITERS not in table.columns or table[DET_ITERS].nunique() < 2):
        return "fewer than two detector training lengths"
    return None


def draw_study_figures(table: pd.DataFrame, out_dir: str | Path,
                       summary: pd.DataFrame | None = None) -> dict[str, list[Path]]:
    """Draw each figure of FIGURES the table has data for; log the ones it has not.

    With the summary table (``evaluation.summary``), also ``map_difference_to_original``.
    """
    out_dir = Path(out_dir)
    drawn = {}
    if summary is not None:
        try:
            drawn[DIFFERENCES] = plot_map_differences(summary, out_dir / DIFFERENCES)
        except ValueError as exc:
            log.info("skipped %s: %s", DIFFERENCES, exc)
    for name, (what, plot) in FIGURES.items():
        reason = _skip_reason(name, table)
        if reason is None:
            try:
                drawn[name] = plot(table, out_dir / name)
                continue
            except ValueError as exc:  # the plot's own "no data for this figure"
                reason = str(exc)
        log.info("skipped %s (%s): %s", name, what, reason)
    return drawn
