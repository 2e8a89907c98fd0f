"""Snakemake adapter: the official WIDER FACE folders -> one split folder."""

from _logging import log_to

from safefakes.importers.widerface import import_split

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    n = import_split(snakemake.params.root, snakemake.wildcards.split, snakemake.output[0])
    print(f"imported {n} images of WIDER FACE {snakemake.wildcards.split}")
