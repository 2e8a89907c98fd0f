"""Snakemake adapter: a crop set for GAN training, cut from a split or imported (FDF, CelebA, PIPA)."""

from _logging import log_to

from safefakes.data import crops
from safefakes.importers.sources import ENTRY_OPTIONS, make_crop_set

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    out = snakemake.output[0]
    source = snakemake.wildcards.get("source", "widerface")
    entry = snakemake.params.entry
    options = {key: entry[key] for key in ENTRY_OPTIONS[source]}
    if source == "widerface":  # the detector's train split
        read = snakemake.input[0]
    else:  # a dataset as distributed, with the keypoints its GANs need
        read = entry["path"]
        options.update(keypoints=snakemake.wildcards.keypoints, keypoint_weights=snakemake.params.keypoint_weights)
    table = make_crop_set(source, read, out, workers=snakemake.threads, progress=True, **options)
    meta = crops.read_crop_source(out)
    print(f"{source}: {len(table)} face crops of {meta['found']} examined, dropped {meta['dropped']} -> {out}")
