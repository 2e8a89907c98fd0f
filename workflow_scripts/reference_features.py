"""Snakemake adapter: the original train split's Inception features, shared by every image_metrics job."""

import torch
from _logging import log_to

from safefakes.evaluation.reference_features import compute_reference_features
from safefakes.evaluation.settings import MetricsSettings

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    s = MetricsSettings.from_config(snakemake.params.settings, "metrics")
    reference = compute_reference_features(
        snakemake.input.original,
        min_size=s.min_size, crop_size=s.crop_size,
        inception_weights=s.inception_weights, allow_random_init=s.allow_random_init,
        max_faces=s.max_faces, distribution_faces=s.distribution_faces,
    )
    reference.save(snakemake.output[0])
    print(reference.info)
