"""Snakemake adapter: L1, L2, SSIM, LPIPS, FID, KID and identity leakage of one anonymized split."""

import json

import torch
from _logging import log_to

from safefakes.data.images import write_text_atomic
from safefakes.evaluation.image_metrics import compute_image_metrics
from safefakes.evaluation.leakage import compute_leakage
from safefakes.evaluation.reference_features import ReferenceFeatures
from safefakes.evaluation.settings import MetricsSettings

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    s = MetricsSettings.from_config(snakemake.params.settings, "metrics")
    original, anonymized = snakemake.input.original, snakemake.input.anonymized
    result = compute_image_metrics(
        original, anonymized,
        min_size=s.min_size, crop_size=s.crop_size,
        lpips_weights=s.lpips_weights, inception_weights=s.inception_weights,
        allow_random_init=s.allow_random_init, max_faces=s.max_faces,
        distribution_faces=s.distribution_faces,
        reference=ReferenceFeatures.load(snakemake.input.reference),
    )
    summary = dict(result.summary)
    # The same seed picks the same faces as the image metrics.
    # The synthetic set's recognizer is trained once by its own rule; real photos use dlib.
    summary.update(compute_leakage(original, anonymized, s.min_size, max_faces=s.max_faces,
                                   recognizer=snakemake.input.get("recognizer")))
    write_text_atomic(snakemake.output[0], json.dumps(summary, indent=2) + "\n")
    print(summary)
