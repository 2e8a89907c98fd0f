"""Snakemake adapter: Table II, each metric's correlation with mAP (all, GAN, conventional)."""

from pathlib import Path

from _logging import log_to

from safefakes.evaluation.correlation import correlate, write_correlation
from safefakes.evaluation.tables import read_table

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    table = read_table(snakemake.input[0])
    metrics = [m for m in snakemake.params.metrics if m in table.columns]
    result = correlate(table, metrics=metrics)
    csv_path, md_path = write_correlation(result, Path(snakemake.output.csv).parent)
    assert str(csv_path) == snakemake.output.csv and str(md_path) == snakemake.output.markdown
    print(md_path.read_text())
