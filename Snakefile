# SafeFakes: what does face anonymization cost a face detector?
# Rules wire files (rules/), workflow_scripts/ adapt, safefakes/ computes.
from snakemake.utils import min_version, validate

min_version("9.0")


# The embedded default study, unless the command line names a config of its own
# (--configfile presets/paper.yaml): the two are not merged key by key.
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/config.yaml"


validate(config, "schemas/config.schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"


wildcard_constraints:
    anonymizer="|".join([*METHODS, *GANS, *CONVENTIONAL, *EXTERNALS]),
    gan="|".join(GANS),
    conventional="|".join(CONVENTIONAL),
    external="|".join(EXTERNALS) or "(?!)",
    faces=r"\d+",
    anon_iters=r"\d+",
    det_iters=r"\d+",
    seed=r"\d+",
    split="train|val|crops",


include: "rules/data.smk"
include: "rules/anonymizers.smk"
include: "rules/detector.smk"
include: "rules/evaluation.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        f"{RESULTS}/tables/map.csv",
        f"{RESULTS}/tables/image_metrics.csv",
        f"{RESULTS}/tables/summary.csv",
        f"{RESULTS}/tables/correlation.csv",
        f"{RESULTS}/figures/study",
        f"{RESULTS}/figures/methods_side_by_side.png",
        # Figs. 5 and 8 and the face-size table, where the grid has their methods.
        paper_outputs(),
