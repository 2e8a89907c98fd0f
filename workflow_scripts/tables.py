"""Snakemake adapter: the tidy per-run tables (map.csv, image_metrics.csv) of the requested runs."""

from pathlib import Path

from _logging import log_to

from safefakes.evaluation.tables import collect_runs, write_table

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    root = Path(snakemake.params.runs_root)
    table = collect_runs(root)
    # Only the runs this configuration asks for: older runs may still lie under results/runs.
    wanted = {Path(p).parent.relative_to(root).as_posix() for p in snakemake.input.maps}
    table = table[table["run"].isin(wanted)].reset_index(drop=True)
    missing = wanted - set(table["run"])
    if missing:
        raise SystemExit(f"map.json not collected for: {', '.join(sorted(missing))}")
    write_table(table, snakemake.output.map_table)
    point_columns = ["anonymizer", "faces", "anon_iters"]
    metric_columns = [c for c in table.columns if c not in (*point_columns, "det_iters", "run",
                                                            "easy", "medium", "hard", "map")]
    per_split = (table[table["anonymizer"] != "original"][point_columns + metric_columns]
                 .drop_duplicates(subset=point_columns).reset_index(drop=True))
    write_table(per_split, snakemake.output.metrics_table)
    print(f"{len(table)} runs, {len(per_split)} anonymized splits")
