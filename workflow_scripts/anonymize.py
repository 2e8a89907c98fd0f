"""Snakemake adapter: anonymize the detector's train split with one conventional method."""

from _logging import log_to

from safefakes.anonymizers.registry import AnonymizerSpec
from safefakes.engine.settings import AnonymizeSettings
from safefakes.engine.split import anonymize_split

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    engine = AnonymizeSettings.from_config(snakemake.params.engine, "anonymize")
    # One process per thread of the job.
    report = anonymize_split(
        snakemake.input.split,
        snakemake.output.split,
        AnonymizerSpec(snakemake.params.method, dict(snakemake.params.options)),
        seed=engine.seed,
        workers=snakemake.threads,
        jpeg_quality=engine.jpeg_quality,
        jpeg_subsampling=engine.jpeg_subsampling,
        progress=False,
    )
    print(report)
