"""What every figure shares: the Agg backend, method names and colours, and saving as PNG + PDF."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from safefakes.anonymizers.registry import METHODS, display_order, is_method, method_entry  # noqa: E402
from safefakes.data.images import atomic_path  # noqa: E402
from safefakes.data.wider_files import SUBSETS  # noqa: E402
from safefakes.evaluation.summary import half_interval  # noqa: E402
from safefakes.evaluation.tables import GRID_COLUMNS, METHOD, ORIGINAL, SEED  # noqa: E402

#: Method colours in the registry's display order (the reference, the GANs, the conventional methods).
PALETTE = ("#333333", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#ff7f0e", "#e377c2", "#7f7f7f")
SUBSET_LABELS = {"easy": "Easy", "medium": "Medium", "hard": "Hard", "map": "mAP (mean)"}
SUBSET_COLORS = {"easy": "#4c72b0", "medium": "#dd8452", "hard": "#c44e52"}
DPI = 150

plt.rcParams.update({
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "legend.frameon": False,
})


def label(method: str) -> str:
    return method_entry(method).label if is_method(method) else method


def color(method: str, fallback_index: int = 0) -> str:
    order = list(METHODS)
    if method in order and order.index(method) < len(PALETTE):
        return PALETTE[order.index(method)]
    return plt.get_cmap("tab10")(fallback_index % 10)


def ordered_methods(methods) -> list[str]:
    """Known methods in display order (each variant after its method), then unknown ones alphabetically."""
    return display_order(set(map(str, methods)))


def count_label(value: float) -> str:
    """7500 -> '7.5k', 4000000 -> '4M': iteration and face counts as people say them."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def count_ticks(ax, values) -> None:
    """Ticks at the grid values themselves (no minor ticks), labelled 7.5k, 15k, 60k."""
    from matplotlib.ticker import NullFormatter, NullLocator

    values = sorted({float(v) for v in values})
    ax.set_xticks(values, [count_label(v) for v in values])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def save_figure(fig, out_stem: str | Path) -> list[Path]:
    """Write ``<out_stem>.png`` and ``<out_stem>.pdf`` atomically and close the figure."""
    out_stem = Path(out_stem)
    paths = []
    for fmt in ("png", "pdf"):
        path = out_stem.with_name(f"{out_stem.name}.{fmt}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths


def main_setting(table: pd.DataFrame, vary: str | None = None) -> pd.DataFrame:
    """The rows of each method's fullest setting, letting ``vary`` range.

    For every grid column other than the method and ``vary``, each method keeps
    its largest value (most faces, longest training): the setting the paper's
    headline numbers use. A column a method does not have (NaN) is ignored.
    """
    keep = []
    for _, rows in table.groupby(METHOD, sort=False):
        for column in GRID_COLUMNS:
            # Seeds are replicates of a setting, not settings: all of them stay.
            if column in (METHOD, vary, SEED) or column not in rows.columns:
                continue
            values = pd.to_numeric(rows[column], errors="coerce")
            if values.notna().any():
                rows = rows[values == values.max()]
        keep.append(rows)
    return pd.concat(keep) if keep else table.iloc[0:0]


def original_rows(table: pd.DataFrame) -> pd.DataFrame:
    return table[table[METHOD].astype(str) == ORIGINAL]


def seed_curves(runs: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per method and value of ``column``: the mean of each subset over seeds and its
    95 % half interval (``<subset>_half``, NaN for a single seed)."""
    grouped = runs.groupby([METHOD, column])[list(SUBSETS)]
    means = grouped.mean()
    halves = grouped.agg(half_interval).add_suffix("_half")
    return means.join(halves).reset_index()


def error_bars(half) -> np.ndarray | None:
    """matplotlib's yerr from half intervals; None when no point has one."""
    values = np.nan_to_num(np.asarray(half, dtype=float))
    return values if values.any() else None
