"""Snakemake adapter: the summary table (mean and 95 % interval over seeds; the difference to the original
with its 95 % interval over seeds and validation images; the machines of the runs)."""

from pathlib import Path

from _logging import log_to

from safefakes.evaluation.summary import summary_table, write_summary
from safefakes.evaluation.tables import read_table

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    runs_root = Path(snakemake.params.runs_root)
    summary = summary_table(read_table(snakemake.input.table), runs_root, snakemake.input.split,
                            n_resamples=snakemake.params.resamples, seed=snakemake.params.seed)
    write_summary(summary, snakemake.output.csv, snakemake.output.markdown)
    print(Path(snakemake.output.markdown).read_text())
