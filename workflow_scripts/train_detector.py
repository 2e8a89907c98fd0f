"""Snakemake adapter: train DSFD on a (anonymized) train split for det_iters iterations."""

import shutil

import torch
from _logging import log_to

from safefakes.data.work_dir import prepare_work_dir
from safefakes.detector.config import DetectorTraining
from safefakes.detector.train import train_detector

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    # The same settings type that checked the config's detector block when the workflow parsed it.
    training = DetectorTraining.from_config(snakemake.params.settings, "detector")
    # The run path's seed~N: replicate trainings of one grid point differ only in it.
    config = training.config(seed=int(snakemake.wildcards.seed))
    # Checkpoints of an interrupted run are resumed only when they come from the same settings and code.
    work = prepare_work_dir(snakemake.params.work, {"config": config.to_dict(), "code": snakemake.params.code,
                                                    "split": str(snakemake.input.split)})
    checkpoint = train_detector(snakemake.input.split, work, config,
                                iterations=int(snakemake.wildcards.det_iters), resume=True, progress=False)
    shutil.copyfile(checkpoint, snakemake.output.model)
    shutil.copyfile(work / "losses.csv", snakemake.output.losses)
