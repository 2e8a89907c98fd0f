"""Snakemake adapter: config -> safefakes.data.synthetic.generate -> three split folders."""

from pathlib import Path

from _logging import log_to

from safefakes.data.synthetic import generate

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    settings = snakemake.params.settings
    out = Path(snakemake.output.train).parent
    summary = generate(
        out,
        seed=settings["seed"],
        train_images=settings["train_images"],
        val_images=settings["val_images"],
        crops=settings["crops"],
        image_size=tuple(settings["image_size"]),
        workers=snakemake.threads,
    )
    print(summary)
