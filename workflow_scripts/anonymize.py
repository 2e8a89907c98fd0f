"""Snakemake adapter: anonymize the detector's train split with one method (conventional or GAN)."""

import torch
from _logging import log_to

from safefakes.anonymizers.apply import anonymize_split
from safefakes.anonymizers.registry import AnonymizerSpec

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    params = snakemake.params
    options = dict(params.options)
    keypoints = None
    is_gan = "model" in snakemake.input.keys()
    if is_gan:
        from safefakes.keypoints.provider import make_keypoint_provider

        # The device follows CUDA_VISIBLE_DEVICES as the scheduler sets it.
        options.update(checkpoint=snakemake.input.model, device="auto")
        keypoints = make_keypoint_provider(params.keypoints, split=snakemake.input.split,
                                           weights=params.keypoint_weights)
    engine = params.engine
    # A GAN runs in this process on all the job's threads (torch parallelises
    # each batch); conventional methods run a process per thread.
    workers = 1 if is_gan else snakemake.threads
    report = anonymize_split(
        snakemake.input.split,
        snakemake.output.split,
        AnonymizerSpec(params.method, options),
        seed=engine["seed"],
        workers=workers,
        jpeg_quality=engine["jpeg_quality"],
        jpeg_subsampling=engine["jpeg_subsampling"],
        keypoints=keypoints,
        progress=False,
    )
    print(report)
