"""Snakemake adapter: a crop set for GAN training, cut from a split or imported (FDF, CelebA, PIPA)."""

from _logging import log_to

from safefakes.data import crops
from safefakes.importers import import_celeba, import_fdf, import_pipa

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    out = snakemake.output[0]
    source = snakemake.wildcards.get("source", "widerface")
    entry = snakemake.params.entry
    run = {"workers": snakemake.threads, "progress": True}
    if source == "widerface":
        table = crops.build_crop_set(snakemake.input[0], out, min_size=entry["min_size"], **run)
    elif source == "fdf":
        table = import_fdf(entry["path"], out, subsets=entry["subsets"], keypoints=snakemake.wildcards.keypoints,
                           keypoint_weights=snakemake.params.keypoint_weights, **run)
    elif source == "celeba":
        table = import_celeba(entry["path"], out, keypoints=snakemake.wildcards.keypoints,
                              keypoint_weights=snakemake.params.keypoint_weights,
                              min_identity_images=entry["min_identity_images"],
                              max_identities=entry["max_identities"], **run)
    else:
        table = import_pipa(entry["path"], out, keypoints=snakemake.wildcards.keypoints,
                            keypoint_weights=snakemake.params.keypoint_weights, min_size=entry["min_size"], **run)
    meta = crops.read_crop_source(out)
    print(f"{source}: {len(table)} face crops of {meta['found']} examined, dropped {meta['dropped']} -> {out}")
