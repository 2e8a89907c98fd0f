"""Snakemake adapter: the tidy tables (map.csv per run, image_metrics.csv per anonymized split), with the
detector view's columns (view_*)."""

from _logging import log_to

from safefakes.evaluation.tables import per_split_metrics, runs_table, write_table

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    table = runs_table(snakemake.input.maps, snakemake.input.metrics, snakemake.params.runs_root,
                       snakemake.input.views)
    write_table(table, snakemake.output.map_table)
    metrics = per_split_metrics(table)
    write_table(metrics, snakemake.output.metrics_table)
    print(f"{len(table)} runs, {len(metrics)} anonymized splits")
