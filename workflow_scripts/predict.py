"""Snakemake adapter: run a trained detector on the untouched val split (official prediction layout)."""

import torch
from _logging import log_to

from safefakes.detector.config import PredictSettings
from safefakes.detector.predict import detect_split

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    # The predict block (for the detector's view, with its own multiscale / flip), through its settings type.
    settings = PredictSettings.from_config(snakemake.params.settings, "predict")
    summary = detect_split(snakemake.input.model, snakemake.input.split, snakemake.output[0], **settings.kwargs())
    print(summary)
