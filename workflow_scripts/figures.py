"""Snakemake adapter: every study figure the run table supports (PNG and PDF)."""

import pandas as pd
from _logging import log_to

from safefakes.evaluation.tables import read_table
from safefakes.plots.study import draw_study_figures

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    summary = pd.read_csv(snakemake.input.summary)
    drawn = draw_study_figures(read_table(snakemake.input.table), snakemake.output[0], summary=summary)
    for name, paths in drawn.items():
        print(name, *map(str, paths))
