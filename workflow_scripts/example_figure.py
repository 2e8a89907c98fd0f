"""Snakemake adapter: one validation image under every method of the study, side by side (Fig. 1)."""

from pathlib import Path

import torch
from _logging import log_to

from safefakes.engine.examples import anonymize_example, choose_example_image
from safefakes.plots.examples import plot_image_panels

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    val = snakemake.input.val
    image_name = choose_example_image(val)
    panels = {}
    for method, block in snakemake.params.methods.items():
        options = dict(block.get("options", {}))
        keypoints = None
        if method in snakemake.input.keys():
            options.update(checkpoint=snakemake.input[method], device="auto")
            keypoints = (block["keypoints"], block.get("keypoint_weights"))
        panels[method] = anonymize_example(val, image_name, method, options, keypoints=keypoints,
                                           seed=snakemake.params.seed)
    out = Path(snakemake.output[0])
    plot_image_panels(panels, out.with_suffix(""), title=image_name)
    print(f"{image_name}: {', '.join(panels)} -> {out}")
