"""Snakemake adapter: the tidy tables (map.csv per run, image_metrics.csv per anonymized split)."""

from pathlib import Path

from _logging import log_to

from safefakes.evaluation.tables import collect_runs, per_split_metrics, select_runs, write_table

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    root = Path(snakemake.params.runs_root)
    runs = [Path(p).parent.relative_to(root).as_posix() for p in snakemake.input.maps]
    table = select_runs(collect_runs(root), runs)
    write_table(table, snakemake.output.map_table)
    metrics = per_split_metrics(table)
    write_table(metrics, snakemake.output.metrics_table)
    print(f"{len(table)} runs, {len(metrics)} anonymized splits")
