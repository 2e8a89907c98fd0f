"""Snakemake adapter: L1, L2, SSIM, LPIPS, FID, KID and identity leakage of one anonymized split."""

import torch
from _logging import log_to

from safefakes.evaluation.image_metrics import measure_split, write_metrics_json
from safefakes.evaluation.reference_features import ReferenceFeatures
from safefakes.evaluation.settings import MetricsSettings

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    # The synthetic set's recognizer is trained once by its own rule; real photos use dlib.
    summary = measure_split(snakemake.input.original, snakemake.input.anonymized,
                            MetricsSettings.from_config(snakemake.params.settings, "metrics"),
                            recognizer=snakemake.input.get("recognizer"),
                            reference=ReferenceFeatures.load(snakemake.input.reference)).summary
    write_metrics_json(summary, snakemake.output[0])
    print(summary)
