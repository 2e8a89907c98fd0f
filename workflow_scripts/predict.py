"""Snakemake adapter: run a trained detector on the untouched val split (official prediction layout)."""

import torch
from _logging import log_to

from safefakes.detector.predict import detect_split

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    s = snakemake.params.settings
    summary = detect_split(
        snakemake.input.model,
        snakemake.input.split,
        snakemake.output[0],
        flip=s["flip"],
        multiscale=s["multiscale"],
        score_threshold=s["score_threshold"],
        nms_iou=s["nms_iou"],
        max_boxes=s["max_boxes"],
    )
    print(summary)
