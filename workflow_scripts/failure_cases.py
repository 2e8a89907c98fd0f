"""Snakemake adapter: the painted faces the frozen original-trained detector scores lowest (Fig. 8)."""

from pathlib import Path

from _logging import log_to

from safefakes.evaluation.failure_cases import lowest_scored_faces
from safefakes.plots.failure_cases import plot_failure_cases

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    inputs = snakemake.input
    cases = lowest_scored_faces(inputs.split, inputs.predictions, inputs.original, inputs.original_predictions)
    out = Path(snakemake.output.png)
    plot_failure_cases(cases, inputs.original, inputs.split, out.with_suffix(""), method=snakemake.params.method)
    for case in cases:
        print(case)
