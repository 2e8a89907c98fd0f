"""Snakemake adapter: a crop set for GAN training, cut from a split or imported (FDF, CelebA, PIPA)."""

from _logging import log_to

from safefakes.data import crops

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    out = snakemake.output[0]
    source = snakemake.wildcards.get("source", "widerface")
    min_size = snakemake.params.min_size
    if source == "widerface":
        split = crops.build_crop_set(snakemake.input[0], out, min_size=min_size)
    elif source == "fdf":
        split = crops.import_fdf(snakemake.params.path, out)
    elif source == "celeba":
        split = crops.import_celeba(snakemake.params.path, out)
    else:
        split = crops.import_pipa(snakemake.params.path, out, min_size=min_size)
    print(f"{source}: {split.n_faces} face crops -> {out}")
