"""``safefakes collect | summary | correlate | figures | example-figure``: the study's tables and figures."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("collect", help="gather map.json and image_metrics.json of every run into one CSV",
                              description="One row per run folder (a folder with map.json) under RUNS_DIR; "
                                          "key~value folder names become columns.")
    p.add_argument("runs", metavar="RUNS_DIR")
    p.add_argument("--out", required=True, metavar="TABLE.csv")
    p.set_defaults(func=run_collect)

    p = subparsers.add_parser("summary", help="per grid point: mean and 95 %% interval over seeds, and the "
                                              "difference to the original with its 95 %% interval over seeds "
                                              "and validation images",
                              description="Reads the run table (safefakes collect), each run's predictions "
                                          "under RUNS_DIR and the validation ground truth; writes "
                                          "summary.csv and summary.md.")
    p.add_argument("table", metavar="TABLE.csv")
    p.add_argument("runs", metavar="RUNS_DIR", help="the folder the table was collected from")
    p.add_argument("--gt", required=True, metavar="GT_DIR",
                   help="folder with the four wider_*_val.mat files (the validation split)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--resamples", type=int, default=1000,
                   help="resamples of the paired bootstrap over validation images (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap's draws (default 0)")
    p.set_defaults(func=run_summary)

    p = subparsers.add_parser("correlate", help="Pearson and Spearman of each metric with mAP (Table II)",
                              description="Correlate each metric with mAP over all anonymized runs, GAN "
                                          "methods only and conventional methods only; writes "
                                          "correlation.csv and correlation.md.")
    p.add_argument("table", metavar="TABLE.csv")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--target", default="map", help="mAP column: map (mean), easy, medium or hard")
    p.add_argument("--metric", action="append", dest="metrics", metavar="NAME",
                   help="a metric column (repeatable; default every image and leakage metric present)")
    p.set_defaults(func=run_correlate)

    p = subparsers.add_parser("figures", help="draw every figure the run table supports (PNG and PDF)")
    p.add_argument("table", metavar="TABLE.csv")
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=run_figures)

    p = subparsers.add_parser("example-figure", help="one image under every method, side by side (Fig. 1)")
    p.add_argument("image", metavar="IMAGE_NAME", help="as in annotations.txt, e.g. 0--Parade/0_Parade_1.jpg")
    p.add_argument("--split", action="append", required=True, metavar="METHOD=DIR",
                   help="a method and the split folder it produced (repeat for each method)")
    p.add_argument("--out", required=True, metavar="STEM", help="writes STEM.png and STEM.pdf")
    p.add_argument("--crop-to-faces", action="store_true", help="zoom to the region around the faces")
    p.set_defaults(func=run_example)


def run_collect(args: argparse.Namespace) -> int:
    from safefakes.evaluation.tables import collect_runs, write_table

    table = collect_runs(args.runs)
    if table.empty:
        log.warning("no map.json under %s", args.runs)
    write_table(table, args.out)
    log.info("%d runs -> %s", len(table), args.out)
    return 0


def run_summary(args: argparse.Namespace) -> int:
    from safefakes.evaluation.summary import summary_table, to_markdown, write_summary
    from safefakes.evaluation.tables import read_table

    summary = summary_table(read_table(args.table), args.runs, args.gt, n_resamples=args.resamples,
                            seed=args.seed)
    out = Path(args.out)
    write_summary(summary, out / "summary.csv", out / "summary.md")
    print(to_markdown(summary), end="")
    return 0


def run_correlate(args: argparse.Namespace) -> int:
    from safefakes.anonymizers.registry import method_kinds
    from safefakes.errors import InputError
    from safefakes.evaluation.correlation import correlate, to_markdown, write_correlation
    from safefakes.evaluation.tables import read_table

    table = read_table(args.table)
    try:
        corr = correlate(table, method_kinds(table.get("method", ())), args.metrics, args.target)
    except KeyError as exc:
        raise InputError(args.table, str(exc.args[0]), line=1) from None
    write_correlation(corr, args.out)
    print(to_markdown(corr), end="")
    return 0


def run_figures(args: argparse.Namespace) -> int:
    from safefakes.evaluation.tables import read_table
    from safefakes.plots.study import draw_study_figures

    drawn = draw_study_figures(read_table(args.table), args.out)
    for paths in drawn.values():
        for path in paths:
            print(path)
    return 0


def run_example(args: argparse.Namespace) -> int:
    from safefakes.errors import SafeFakesError
    from safefakes.plots.examples import plot_method_examples

    splits = {}
    for item in args.split:
        method, sep, folder = item.partition("=")
        if not sep or not method or not folder:
            raise SafeFakesError(f"--split {item!r}: expected METHOD=DIR, e.g. blur=results/anon/blur/val")
        splits[method] = Path(folder)
    for path in plot_method_examples(splits, args.image, args.out, crop_to_faces=args.crop_to_faces):
        print(path)
    return 0
