"""Snakemake adapter: train the synthetic identity recognizer once for every leakage measurement."""

import torch
from _logging import log_to

from safefakes.evaluation.leakage import save_recognizer, train_recognizer_on_split

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    save_recognizer(train_recognizer_on_split(snakemake.input.crops), snakemake.output[0])
