"""Snakemake adapter: a split anonymized by another tool, checked and copied into its run folder."""

from _logging import log_to

from safefakes.importers.external import import_external_split

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    n = import_external_split(snakemake.input.original, snakemake.params.path, snakemake.output.split)
    print(f"imported {n} images from {snakemake.params.path}")
