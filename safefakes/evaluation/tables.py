"""The tidy per-run table: one row per run, one column per grid dimension and per score.

A run folder names its grid point in Snakemake's Paramspace style, e.g.
``results/runs/anonymizer~deepprivacy/faces~38000/anon_iters~4000000/det_iters~60000/seed~0/``
and holds ``map.json`` ``{easy, medium, hard}``. The anonymized split's
``image_metrics.json`` (l1, l2, ssim, lpips, fid, reid_rate, ...) belongs to a
grid point without the detector's training length (the metrics do not depend
on it), and is joined to every run whose point it matches; so is the split's
``detector_view.json`` (the frozen detector's found rate and AP, as ``view_*``
columns: ``detector_view.view_columns``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from safefakes.data.images import atomic_path
from safefakes.data.wider_files import SUBSETS
from safefakes.errors import InputError
from safefakes.evaluation.detector_view import HEADLINE_COLUMN, VIEW_JSON, view_columns

MAP_JSON = "map.json"
IMAGE_METRICS_JSON = "image_metrics.json"
METHOD = "anonymizer"
#: Grid dimensions of the study, in the order the run folders nest them (seed: the
#: detector's, one replicate training of a grid point).
SEED = "seed"
GRID_COLUMNS = (METHOD, "faces", "anon_iters", "det_iters", SEED)
#: The mean of the three difficulties, the paper's single "mAP".
MAP = "map"
MAP_COLUMNS = (*SUBSETS, MAP)
IMAGE_METRICS = ("l1", "l2", "ssim", "lpips", "fid", "kid")
LEAKAGE_METRICS = ("reid_rate", "top1_rate")
#: The detector view's numbers correlated with mAP by default (found rate of faces >= 16 px).
VIEW_METRICS = (HEADLINE_COLUMN,)
ORIGINAL = "original"


def _value(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def grid_point(run_dir: str | Path, root: str | Path) -> dict:
    """``key~value`` folder names between root and run_dir, as a dict (numbers parsed)."""
    point = {}
    for part in Path(run_dir).resolve().relative_to(Path(root).resolve()).parts:
        if "~" in part:
            key, value = part.split("~", 1)
            point[key] = _value(value)
    return point


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON: {exc.msg}", line=exc.lineno) from exc
    if not isinstance(data, dict):
        raise InputError(path, "expected a JSON object")
    return data


def _scalars(data: dict) -> dict:
    return {k: v for k, v in data.items() if v is None or isinstance(v, (int, float, str, bool))}


def add_map_mean(table: pd.DataFrame) -> pd.DataFrame:
    """A copy with the ``map`` column (mean over easy, medium, hard) when it is missing."""
    table = table.copy()
    if MAP not in table.columns and all(s in table.columns for s in SUBSETS):
        table[MAP] = table[list(SUBSETS)].astype(float).mean(axis=1)
    return table


def _view_values(path: Path) -> dict:
    try:
        return view_columns(_read_json(path))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(path, f"not a detector view ({type(exc).__name__}: {exc})",
                         hint="detector_view.json is written by the detector_view rule or `safefakes detector-view`"
                         ) from exc


def runs_table(map_files: list[str | Path], metric_files: list[str | Path], root: str | Path,
               view_files: list[str | Path] = ()) -> pd.DataFrame:
    """The tidy table of exactly these runs (their ``map.json``) with these splits' image metrics
    and detector views.

    A run gets the metrics of the ``image_metrics.json`` (and the ``view_*`` columns
    of the ``detector_view.json``) whose grid point (its folders below ``root``)
    matches the run's on every key it names; the most specific one wins. A file
    that no run matches is an error.
    """
    root = Path(root)
    metrics = []
    for path in map(Path, metric_files):
        metrics.append((grid_point(path.parent, root), _scalars(_read_json(path)), path))
    for path in map(Path, view_files):
        metrics.append((grid_point(path.parent, root), _view_values(path), path))
    used: set[Path] = set()
    rows = []
    for map_path in map(Path, map_files):
        run_dir = map_path.parent
        scores = _read_json(map_path)
        missing = [s for s in SUBSETS if s not in scores]
        if missing:
            raise InputError(map_path, f"missing {', '.join(missing)}",
                             hint="map.json holds {easy, medium, hard} from `safefakes evaluate`")
        point = grid_point(run_dir, root)
        row: dict = dict(point)
        # null: the subset has no kept face in this val split (AP undefined).
        row.update({s: math.nan if scores[s] is None else float(scores[s]) for s in SUBSETS})
        matching = [(len(p), values, path) for p, values, path in metrics
                    if all(point.get(k) == v for k, v in p.items())]
        # The most specific file of each kind (image metrics, detector view).
        # In the order the files were given (image metrics, then views): a set's order changes with the
        # process's string hashing, and with it the table's columns.
        for kind in dict.fromkeys(path.name for _, _, path in matching):
            _, values, path = max((m for m in matching if m[2].name == kind), key=lambda m: m[0])
            used.add(path)
            row.update({k: v for k, v in values.items() if k not in row})
        row["run"] = run_dir.relative_to(root).as_posix()
        rows.append(row)
    unused = sorted(str(path) for _, _, path in metrics if path not in used)
    if unused:
        raise InputError(unused[0], "image metrics or detector view of a split that no run of the table trained on",
                         hint="give the map.json of the runs on that split, or leave the file out")
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table = add_map_mean(table)
    first = [c for c in GRID_COLUMNS if c in table.columns] + list(MAP_COLUMNS)
    return table[first + [c for c in table.columns if c not in first]]


def collect_runs(root: str | Path) -> pd.DataFrame:
    """The tidy table of every run (a folder with map.json) under root, with the image metrics
    and detector views found there."""
    root = Path(root)
    return runs_table(sorted(root.rglob(MAP_JSON)), sorted(root.rglob(IMAGE_METRICS_JSON)), root,
                      sorted(root.rglob(VIEW_JSON)))


def per_split_metrics(table: pd.DataFrame) -> pd.DataFrame:
    """One row per anonymized split (grid point without det_iters and seed): its image metrics and leakage."""
    point = [c for c in GRID_COLUMNS if c in table.columns and c not in ("det_iters", SEED)]
    scores = {*MAP_COLUMNS, "det_iters", SEED, "run"}
    columns = point + [c for c in table.columns if c not in scores and c not in point]
    rows = table[table[METHOD] != ORIGINAL]
    return rows[columns].drop_duplicates(subset=point).reset_index(drop=True)


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """A tidy table CSV, checked for the columns every figure needs."""
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(path, "table not found", hint="make it with `safefakes collect RUNS_DIR`") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(path, f"not a CSV table: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not a CSV table: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except IsADirectoryError:
        raise InputError(path, "a folder, not a table", hint="give the CSV `safefakes collect` wrote") from None
    if METHOD not in table.columns:
        raise InputError(path, f"no '{METHOD}' column", line=1,
                         hint="a tidy run table has one row per run and an 'anonymizer' column")
    table = add_map_mean(table)
    if MAP not in table.columns:
        raise InputError(path, "no mAP columns (easy, medium, hard or map)", line=1)
    return table
