"""Snakemake adapter: the detector's view of one train split (and its retention of the original's)."""

from _logging import log_to

from safefakes.evaluation.detector_view import ViewSettings, view_folders, write_view
from safefakes.evaluation.settings import DetectorViewSettings

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    p, inputs = snakemake.params, snakemake.input
    # detector_view.score through the settings type that checked it when the workflow parsed the config.
    view = DetectorViewSettings.from_config({"score": p.score}, "detector_view")
    settings = ViewSettings(score=view.score, resamples=p.resamples, seed=p.seed)
    # The original's own view has no reference (its retention would be 1 by definition).
    result = view_folders(inputs.split, inputs.predictions, getattr(inputs, "reference_split", None),
                          getattr(inputs, "reference_predictions", None), settings=settings)
    write_view(result, snakemake.output[0])
    print(result.to_dict())
