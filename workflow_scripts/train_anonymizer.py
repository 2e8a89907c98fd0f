"""Snakemake adapter: train one GAN anonymizer on `faces` crops for `anon_iters` images shown."""

import shutil

import torch
from _logging import log_to

from safefakes.anonymizers.gan.settings import GanTraining
from safefakes.anonymizers.gan.train import train_gan
from safefakes.data.work_dir import prepare_work_dir

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    w = snakemake.wildcards
    # The same settings type that checked the GAN's train block when the workflow parsed the config.
    training = GanTraining.from_config(snakemake.params.settings.get("train"), f"anonymizers.{w.gan}.train",
                                       method=w.gan)
    train, preset = dict(training.overrides), training.preset
    # Checkpoints of an interrupted run are resumed only when they come from the same settings and code.
    work = prepare_work_dir(snakemake.params.work, {"train": train, "preset": preset, "code": snakemake.params.code,
                                                    "crops": str(snakemake.input.crops)})
    # A shorter run of the same GAN on the same faces, when the study has one, is continued.
    result = train_gan(w.gan, snakemake.input.crops, work, faces=int(w.faces), images=int(w.anon_iters),
                       preset=preset, overrides=train, device="auto", resume=True, progress=False,
                       start_from=snakemake.input.get("start"))
    shutil.copyfile(result.checkpoint, snakemake.output.model)
    shutil.copyfile(result.samples, snakemake.output.samples)
    shutil.copyfile(result.losses, snakemake.output.losses)
