# SafeFakes: what does face anonymization cost a face detector?
# Rules wire files (rules/), workflow_scripts/ adapt, safefakes/ computes.
from snakemake.utils import min_version, validate


min_version("9.0")


configfile: "config.yaml"


validate(config, "schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/data.smk"


rule all:
    input:
        study_targets(),
    default_target: True
