"""The three WIDER FACE precision-recall curves, in the style of the official ``wider_plot``.

One panel per subset (easy, medium, hard): recall on x, precision on y, both
0..1, a box and a grid, bold serif axes, one thick line per method in hsv
colours, and legend entries ``<method>-<AP>`` ordered by AP, best first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from safefakes.data.images import atomic_path
from safefakes.data.wider_files import SUBSETS
from safefakes.evaluation.wider_ap import WiderEvaluation

TITLES = {"easy": "Easy", "medium": "Medium", "hard": "Hard"}


def plot_pr_curves(path: str | Path, results: Mapping[str, WiderEvaluation] | WiderEvaluation,
                   label: str = "predictions", title: str | None = None) -> Path:
    """Draw the easy / medium / hard PR curves of one or more evaluations into ``path``.

    ``results`` maps a method name to its evaluation; a single evaluation is
    drawn under ``label``. The format follows the file suffix (png, pdf, svg).
    The file is written atomically.
    """
    # The object-oriented API keeps pyplot's global state (and a GUI backend) out.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import hsv_to_rgb
    from matplotlib.figure import Figure

    path = Path(path)
    if isinstance(results, WiderEvaluation):
        results = {label: results}
    if not results:
        raise ValueError("plot_pr_curves needs at least one evaluation")
    fmt = path.suffix.lstrip(".").lower() or "png"
    names = list(results)
    # wider_plot colours the methods with hsv(model_num).
    colours = [hsv_to_rgb((k / len(names), 1.0, 0.9)) for k in range(len(names))]
    font = {"family": "serif", "weight": "bold"}

    fig = Figure(figsize=(15, 5), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(SUBSETS))
    for ax, subset in zip(axes, SUBSETS):
        # Best method first in the legend, as the official plots rank them.
        ranked = sorted(names, key=lambda n: _sort_key(results[n].curves[subset].ap))
        for name in ranked:
            curve = results[name].curves[subset]
            ap = curve.ap
            text = f"{name}-{ap:.3f}" if np.isfinite(ap) else f"{name}-n/a"
            ax.plot(curve.recall, curve.precision, linewidth=3, color=colours[names.index(name)], label=text)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("Recall", fontdict=font)
        ax.set_ylabel("Precision", fontdict=font)
        ax.set_title(TITLES[subset], fontdict=font)
        ax.grid(True, linestyle=":")
        for spine in ax.spines.values():
            spine.set_linewidth(2)
        ax.tick_params(width=2)
        ax.legend(loc="lower left", prop={"family": "serif", "weight": "bold", "size": 9})
    if title:
        fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt)
    return path


def _sort_key(ap: float) -> float:
    return -ap if np.isfinite(ap) else np.inf


__all__ = ["plot_pr_curves"]
