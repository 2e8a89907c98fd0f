"""Snakemake adapter: anonymize the detector's train split with a trained GAN anonymizer."""

import torch
from _logging import log_to

from safefakes.anonymizers.registry import AnonymizerSpec
from safefakes.engine.settings import AnonymizeSettings
from safefakes.engine.split import anonymize_split
from safefakes.keypoints.provider import make_keypoint_provider

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    # The GAN runs in this process on all the job's threads (torch parallelises
    # each batch); the device follows CUDA_VISIBLE_DEVICES as the scheduler sets it.
    torch.set_num_threads(snakemake.threads)
    params = snakemake.params
    options = dict(params.options, checkpoint=snakemake.input.model, device="auto")
    keypoints = make_keypoint_provider(params.keypoints, split=snakemake.input.split,
                                       weights=params.keypoint_weights)
    engine = AnonymizeSettings.from_config(snakemake.params.engine, "anonymize")
    report = anonymize_split(
        snakemake.input.split,
        snakemake.output.split,
        AnonymizerSpec(params.method, options),
        seed=engine.seed,
        workers=1,
        jpeg_quality=engine.jpeg_quality,
        jpeg_subsampling=engine.jpeg_subsampling,
        keypoints=keypoints,
        progress=False,
    )
    print(report)
