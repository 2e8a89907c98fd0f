"""Snakemake adapter: WIDER FACE AP (easy, medium, hard) of one run's predictions, and the machines behind them."""

import json

from _logging import log_to

from safefakes.data.images import write_text_atomic
from safefakes.evaluation.wider_ap import evaluate_folder, scores_record
from safefakes.plots.pr_curves import plot_pr_curves

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    result = evaluate_folder(snakemake.input.predictions, snakemake.input.split)
    # The APs and the machine records of the predictions' detect_info.json (see scores_record).
    write_text_atomic(snakemake.output.scores, json.dumps(scores_record(result, snakemake.input.predictions)) + "\n")
    w = snakemake.wildcards
    plot_pr_curves(snakemake.output.curves, result, label=w.anonymizer,
                   title=f"{w.anonymizer}, faces {w.faces}, anonymizer {w.anon_iters}, "
                         f"detector {w.det_iters}, seed {w.seed}")
    print(result.to_json())
