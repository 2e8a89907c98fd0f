"""Snakemake adapter: Table II, each metric's correlation with mAP (all, GAN, conventional)."""

from pathlib import Path

from _logging import log_to

from safefakes.anonymizers.registry import method_kinds
from safefakes.evaluation.correlation import correlate, write_correlation
from safefakes.evaluation.tables import read_table

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    table = read_table(snakemake.input[0])
    metrics = [m for m in snakemake.params.metrics if m in table.columns]
    result = correlate(table, method_kinds(table.get("method", ())), metrics=metrics)
    # Writes correlation.csv and correlation.md, the rule's two outputs, side by side.
    write_correlation(result, Path(snakemake.output.csv).parent)
    print(Path(snakemake.output.markdown).read_text())
