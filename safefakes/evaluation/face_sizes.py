"""The face size from which each method applies (the paper: about 14 px wide for DeepPrivacy, 50 px for
CIAGAN and Sun2018; the GANs leave faces under 10 px as they are).

Two views of the same question, one row per anonymized split and face-width bin:

* what the method did, from the split's ``manifest.csv``: the share of the bin's
  faces it painted (``anonymized``), covered with the whole image (full-image
  blur, ``whole_image``), left as they were (``left_as_is``: below its minimum
  size), blacked out (``blacked_out``: CIAGAN without landmarks), painted with
  its no-keypoints fallback (``fallback``), or anything else (``other``:
  degenerate or outside boxes, unreadable images);
* what the frozen original-trained detector sees, from the split's
  ``detector_view.json``: its found rate in the view's (coarser) width bin that
  holds the bin (``view_bin``), and that rate's retention of the original's,
  each with its bootstrap interval.

``paints_from_px`` is the lower edge of the smallest width bin in which the
method paints at least half of the faces (``anonymized`` or ``whole_image``);
``painted_share_from`` is the share it paints of all faces at least that wide.
A split without a manifest (another tool's) has no status shares.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from safefakes.data.anonymized import MANIFEST, Status, read_manifest
from safefakes.data.images import atomic_path, write_text_atomic
from safefakes.errors import InputError
from safefakes.evaluation.detector_view import SIZE_BINS

#: Face-width bin edges (px): fine where the paper's limits lie (10, 14, 50), and the detector view's
#: bins' edges (16, 32, 64) among them, so that every bin lies inside one of the view's bins.
WIDTH_EDGES = (0, 8, 10, 12, 14, 16, 20, 24, 32, 40, 50, 64, 96, 128, 256, math.inf)
#: Status share columns, and the manifest statuses each one counts.
STATUS_GROUPS = {
    "anonymized": frozenset({Status.ANONYMIZED}),
    "whole_image": frozenset({Status.WHOLE_IMAGE}),
    "left_as_is": frozenset({Status.TOO_SMALL}),
    "blacked_out": frozenset({Status.NO_LANDMARKS_BLACKED_OUT}),
    "fallback": frozenset({Status.NO_KEYPOINTS_FALLBACK}),
}
OTHER = "other"
STATUS_COLUMNS = (*STATUS_GROUPS, OTHER)
#: The statuses under which the method applied itself to the face.
APPLIED = ("anonymized", "whole_image")
#: A bin from which the method applies: it paints at least this share of the bin's faces.
APPLIES_SHARE = 0.5
POINT_COLUMNS = ("anonymizer", "faces", "anon_iters")
VIEW_NUMBERS = ("view_recall", "view_retention")
_VIEW_LABELS = {"lt16": "< 16 px", "16to32": "16-32 px", "32to64": "32-64 px", "ge64": ">= 64 px"}
_LETTERS = {"anonymized": "P", "whole_image": "W", "left_as_is": "L", "blacked_out": "B", "fallback": "F",
            OTHER: "O"}


@dataclass(frozen=True)
class SplitSizes:
    """One anonymized split of the study: its grid point, manifest (None: none) and detector view."""

    anonymizer: str
    faces: int
    anon_iters: int
    manifest: Path | None
    view: Path | None


def width_bin_label(low: float, high: float) -> str:
    return f">= {low:g}" if math.isinf(high) else f"{low:g}-{high:g}"


def _view_bin(low: float, high: float) -> str:
    for name, (vlo, vhi) in SIZE_BINS.items():
        if vlo <= low and high <= vhi:
            return name
    raise ValueError(f"width bin {low}-{high} lies across the detector view's bins {SIZE_BINS}")


def status_shares(widths: np.ndarray, statuses: Iterable[str],
                  edges: tuple[float, ...] = WIDTH_EDGES) -> pd.DataFrame:
    """Per width bin [edges[i], edges[i+1]): n_faces and the share of each of STATUS_COLUMNS (NaN: no face)."""
    widths = np.asarray(widths, dtype=np.float64)
    statuses = np.asarray(list(statuses), dtype=object)
    group = np.full(len(statuses), OTHER, dtype=object)
    for name, members in STATUS_GROUPS.items():
        group[np.isin(statuses, list(members))] = name
    rows = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (widths >= low) & (widths < high)
        n = int(inside.sum())
        row = {"width_bin": width_bin_label(low, high), "width_low": low,
               "width_high": None if math.isinf(high) else high, "n_faces": n}
        for name in STATUS_COLUMNS:
            row[name] = float((group[inside] == name).sum()) / n if n else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def paints_from(shares: pd.DataFrame, widths: np.ndarray | None = None,
                painted: np.ndarray | None = None) -> tuple[float, float]:
    """(the lower edge of the smallest bin in which at least APPLIES_SHARE of the faces are painted,
    the painted share of all faces at least that wide); NaN, NaN where no bin is.

    ``widths`` and ``painted`` (bool per face) give the second number; without them it is NaN.
    """
    applied = shares[list(APPLIED)].sum(axis=1, min_count=1)
    ok = shares[(shares["n_faces"] > 0) & (applied >= APPLIES_SHARE)]
    if ok.empty:
        return math.nan, math.nan
    low = float(ok["width_low"].iloc[0])
    if widths is None or painted is None:
        return low, math.nan
    above = np.asarray(widths, dtype=np.float64) >= low
    return low, float(np.asarray(painted, dtype=bool)[above].mean())


def _view_numbers(path: Path | None) -> dict[str, dict[str, float]]:
    """view bin -> view_recall[_low|_high], view_retention[_low|_high] (NaN where absent)."""
    blank = {f"{k}{s}": math.nan for k in VIEW_NUMBERS for s in ("", "_low", "_high")}
    out = {b: dict(blank) for b in SIZE_BINS}
    if path is None:
        return out
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(path, "detector_view.json not found", hint="run the detector_view rule first") from exc
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON: {exc.msg}", line=exc.lineno) from exc
    retention = (data.get("retention") or {}).get("recall") or {}
    for b in SIZE_BINS:
        for key, source in (("view_recall", data.get("recall", {})), ("view_retention", retention)):
            entry = source.get(b)
            if entry is None:
                continue
            for suffix, field in (("", "value"), ("_low", "low"), ("_high", "high")):
                value = entry.get(field)
                out[b][f"{key}{suffix}"] = math.nan if value is None else float(value)
    return out


def split_sizes(split: SplitSizes, edges: tuple[float, ...] = WIDTH_EDGES) -> pd.DataFrame:
    """The table's rows of one anonymized split."""
    if split.manifest is not None:
        rows = read_manifest(split.manifest)
        widths = np.array([r["w"] for r in rows], dtype=np.float64)
        statuses = [r["status"] for r in rows]
        shares = status_shares(widths, statuses, edges)
        applied = set().union(*(STATUS_GROUPS[g] for g in APPLIED))
        low, share_from = paints_from(shares, widths, np.array([s in applied for s in statuses], dtype=bool))
    else:
        shares = status_shares(np.zeros(0), [], edges)
        shares["n_faces"] = np.nan  # not recorded, rather than none
        low = share_from = math.nan
    view = _view_numbers(split.view)
    shares["view_bin"] = [_view_bin(lo, math.inf if pd.isna(hi) else hi)
                          for lo, hi in zip(shares["width_low"], shares["width_high"])]
    for column in next(iter(view.values())):
        shares[column] = [view[b][column] for b in shares["view_bin"]]
    shares["paints_from_px"] = low
    shares["painted_share_from"] = share_from
    for name, value in reversed(list(zip(POINT_COLUMNS, (split.anonymizer, split.faces, split.anon_iters)))):
        shares.insert(0, name, value)
    return shares


def face_size_table(splits: Iterable[SplitSizes], edges: tuple[float, ...] = WIDTH_EDGES) -> pd.DataFrame:
    """One row per anonymized split and face-width bin (see the module's docstring)."""
    parts = [split_sizes(s, edges) for s in splits]
    if not parts:
        raise ValueError("no anonymized split: the face-size table needs at least one")
    return pd.concat(parts, ignore_index=True)


def manifest_of(split_dir: str | Path) -> Path | None:
    """The split's manifest.csv, None when it has none (a split anonymized by another tool)."""
    path = Path(split_dir) / MANIFEST
    return path if path.is_file() else None


def _point_name(row) -> str:
    if int(row["faces"]) or int(row["anon_iters"]):
        return f"{row['anonymizer']} ({int(row['faces'])} faces, {int(row['anon_iters'])} images)"
    return str(row["anonymizer"])


def _interval(value: float, low: float, high: float) -> str:
    if pd.isna(value):
        return "–"
    if pd.isna(low) or pd.isna(high):
        return f"{value:.2f}"
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def _cell(row) -> str:
    if pd.isna(row["n_faces"]) or not row["n_faces"]:
        return "–"
    parts = [f"{_LETTERS[c]} {round(100 * row[c])}" for c in STATUS_COLUMNS if row[c] > 0]
    return " · ".join(parts)


def to_markdown(table: pd.DataFrame) -> str:
    """The applying size and the view's retention per split; below, the status shares per width bin."""
    points = table.drop_duplicates(subset=list(POINT_COLUMNS))
    view_bins = list(SIZE_BINS)
    header = ["split", "paints from (px)", "painted at >= that width",
              *[f"view retention {_VIEW_LABELS.get(b, b)} (95 % CI)" for b in view_bins]]
    lines = [f"Where each method applies: the smallest face-width bin in which it paints at least "
             f"{APPLIES_SHARE:.0%} of the faces (status anonymized, or the whole image for full-image blur), "
             "and the original-trained detector's found rate on the anonymized split as a share of the "
             "original's, by face width (detector_view.json).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, p in points.iterrows():
        rows = table[(table[list(POINT_COLUMNS)] == p[list(POINT_COLUMNS)]).all(axis=1)]
        cells = [_point_name(p), "–" if pd.isna(p["paints_from_px"]) else f"{p['paints_from_px']:g}",
                 "–" if pd.isna(p["painted_share_from"]) else f"{p['painted_share_from']:.0%}"]
        for b in view_bins:
            r = rows[rows["view_bin"] == b].iloc[0]
            cells.append(_interval(r["view_retention"], r["view_retention_low"], r["view_retention_high"]))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "What each method did to the faces of each width, in % of the bin's faces: P painted "
              "(anonymized), W whole image blurred, L left as is (too small), B blacked out, F no-keypoints "
              "fallback, O other (face_sizes.csv has every share).", ""]
    first = table[(table[list(POINT_COLUMNS)] == points.iloc[0][list(POINT_COLUMNS)]).all(axis=1)]
    header = ["width (px)", "faces", *[_point_name(p) for _, p in points.iterrows()]]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, label in enumerate(first["width_bin"]):
        counts = {int(n) for n in table[table["width_bin"] == label]["n_faces"].dropna()}
        if not any(counts):
            continue
        cells = [label, "/".join(str(n) for n in sorted(counts))]
        for _, p in points.iterrows():
            rows = table[(table[list(POINT_COLUMNS)] == p[list(POINT_COLUMNS)]).all(axis=1)]
            cells.append(_cell(rows.iloc[i]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_face_sizes(table: pd.DataFrame, csv_path: str | Path, markdown_path: str | Path) -> tuple[Path, Path]:
    with atomic_path(Path(csv_path)) as tmp:
        table.to_csv(tmp, index=False)
    write_text_atomic(Path(markdown_path), to_markdown(table))
    return Path(csv_path), Path(markdown_path)


__all__ = ["WIDTH_EDGES", "STATUS_GROUPS", "STATUS_COLUMNS", "APPLIED", "APPLIES_SHARE", "SplitSizes",
           "width_bin_label", "status_shares", "paints_from", "split_sizes", "face_size_table", "manifest_of",
           "to_markdown", "write_face_sizes"]
