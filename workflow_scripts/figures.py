"""Snakemake adapter: every study figure the run table supports (PNG and PDF)."""

from _logging import log_to

from safefakes.evaluation.tables import read_table
from safefakes.plots.study import draw_study_figures

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    drawn = draw_study_figures(read_table(snakemake.input[0]), snakemake.output[0])
    for name, paths in drawn.items():
        print(name, *map(str, paths))
