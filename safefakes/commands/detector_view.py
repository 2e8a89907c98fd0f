"""``safefakes detector-view SPLIT --detector CHECKPOINT``: does a frozen detector still find the faces?

Runs the checkpoint on the split (and on ``--reference``, the original split it
anonymizes), then prints the found rate (score >= --score, IoU >= 0.5) over all
faces, over faces >= 16 px and per face-width bin, the AP over all faces, and,
with a reference, each as a retention (split / reference), every number with
its bootstrap 95 % interval. The last line printed is the view as one JSON
object; ``--out`` also writes it to a file.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import tempfile
from pathlib import Path

from safefakes.evaluation.detector_view import ViewSettings
from safefakes.evaluation.settings import DetectorViewSettings

log = logging.getLogger("safefakes.detector_view")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "detector-view",
        help="how many annotated faces of a split a frozen detector still finds",
        description="Run a trained DSFD (e.g. one trained on the original train split) on an anonymized "
                    "split and report its found rate by face size and its AP over all annotated faces; "
                    "with --reference (the original split), also each number as a retention. A cheap "
                    "predictor of what training a detector on the split would cost.",
    )
    p.add_argument("split", metavar="SPLIT", type=Path, help="split folder (images/ + annotations.txt)")
    p.add_argument("--detector", metavar="CHECKPOINT", type=Path, required=True,
                   help="detector checkpoint (detector.pt of the study, or checkpoint.pt of train-detector)")
    p.add_argument("--reference", metavar="ORIGINAL_SPLIT", type=Path, default=None,
                   help="the original split that SPLIT anonymizes (same image names and boxes)")
    p.add_argument("--out", metavar="FILE.json", type=Path, default=None, help="also write the view here")
    p.add_argument("--predictions", metavar="DIR", type=Path, default=None,
                   help="keep the predictions in DIR/split and DIR/reference (default: a temporary folder)")
    p.add_argument("--score", type=float, default=DetectorViewSettings.score,
                   help=f"score a detection needs to find a face (default {DetectorViewSettings.score})")
    p.add_argument("--resamples", type=resample_count, default=ViewSettings.resamples,
                   help=f"bootstrap resamples over images (default {ViewSettings.resamples})")
    p.add_argument("--seed", type=int, default=ViewSettings.seed,
                   help=f"seed of the bootstrap (default {ViewSettings.seed})")
    p.add_argument("--multiscale", action="store_true", help="DSFD's multi-scale test (slower)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    p.set_defaults(func=run)


def resample_count(text: str) -> int:
    """An argparse type: bootstrap resamples, 1 or more (0 gave intervals of nothing, -5 a traceback)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of resamples, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: give 1 or more (default {ViewSettings.resamples})")
    return value


def _cell(estimate) -> str:
    if estimate is None or math.isnan(estimate.value):
        return "–"
    if math.isnan(estimate.low):
        return f"{estimate.value:.3f}"
    return f"{estimate.value:.3f} [{estimate.low:.3f}, {estimate.high:.3f}]"


def format_table(result) -> str:
    """One row per face set: faces, found rate and, with a reference, retention."""
    from safefakes.evaluation.detector_view import FACE_SETS

    names = {"all": "all faces", "ge16": ">= 16 px", "lt16": "< 16 px", "16to32": "16-32 px",
             "32to64": "32-64 px", "ge64": ">= 64 px", "painted_ge16": "painted"}
    retention = result.retention or {}
    header = f"{'faces':<10} {'n':>6}  {'found (score >= ' + format(result.settings.score, 'g') + ')':<26}"
    header += "  retention" if result.retention else ""
    lines = [header]
    rows = [(names[k], result.recall[k], retention.get(k)) for k in FACE_SETS]
    rows.append(("AP (all)", result.ap, retention.get("ap")))
    for name, estimate, kept in rows:
        line = f"{name:<10} {estimate.n:>6}  {_cell(estimate):<26}"
        if result.retention:
            line += f"  {_cell(kept)}"
        lines.append(line)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from safefakes.detector.predict import detect_split
    from safefakes.evaluation.detector_view import view_folders, write_view

    # The flags through the study's settings types: the same checks as a config's detector_view block.
    view = DetectorViewSettings.from_args(args, checkpoint=str(args.detector), multiscale=args.multiscale)
    settings = ViewSettings(score=view.score, resamples=args.resamples, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="safefakes-view-") as tmp:
        root = args.predictions or Path(tmp)
        split_preds = root / "split"
        detect_split(args.detector, args.split, split_preds, multiscale=args.multiscale, device=args.device)
        ref_preds = None
        if args.reference is not None:
            ref_preds = root / "reference"
            detect_split(args.detector, args.reference, ref_preds, multiscale=args.multiscale, device=args.device)
        result = view_folders(args.split, split_preds, args.reference, ref_preds, settings=settings)
    print(f"images: {result.n_images}  faces: {result.n_faces}  detector: {args.detector}")
    print(format_table(result))
    if args.out:
        write_view(result, args.out)
        log.info("wrote %s", args.out)
    print(json.dumps(result.to_dict(), allow_nan=False), flush=True)
    return 0
