# Scores: WIDER FACE mAP of each run, image metrics and identity leakage of each anonymized split,
# the detector's view of each train split.


rule evaluate_map:
    input:
        predictions=f"{RUN}/predictions",
        split=data_dir("val"),
    output:
        scores=f"{RUN}/map.json",
        curves=f"{RUN}/pr_curves.png",
    log:
        f"{LOGS}/{RUN_NAME}/evaluate_map.log",
    benchmark:
        f"{BENCH}/{RUN_NAME}/evaluate_map.tsv"
    conda:
        "../envs/safefakes.yaml"
    params:
        code=script_code("evaluate_map.py"),
    script:
        "../workflow_scripts/evaluate_map.py"


rule identity_recognizer:
    input:
        crops=data_dir("crops"),
    output:
        f"{RESULTS}/leakage/recognizer.pt",
    log:
        f"{LOGS}/leakage/identity_recognizer.log",
    benchmark:
        f"{BENCH}/leakage/identity_recognizer.tsv"
    conda:
        "../envs/safefakes.yaml"
    threads: 2
    params:
        code=script_code("identity_recognizer.py"),
    script:
        "../workflow_scripts/identity_recognizer.py"


# The original faces' Inception features (FID, KID), computed once for every split.
rule reference_features:
    input:
        original=data_dir("train"),
    output:
        f"{RESULTS}/metrics/reference_features.npz",
    log:
        f"{LOGS}/metrics/reference_features.log",
    benchmark:
        f"{BENCH}/metrics/reference_features.tsv"
    conda:
        "../envs/safefakes.yaml"
    # One thread, as image_metrics: the same Inception sums in both jobs.
    threads: 1
    resources:
        gpu=1,
    params:
        settings=config["metrics"],
        code=script_code("reference_features.py"),
    script:
        "../workflow_scripts/reference_features.py"


rule image_metrics:
    input:
        unpack(leakage_inputs),
        original=data_dir("train"),
        reference=f"{RESULTS}/metrics/reference_features.npz",
        anonymized=f"{POINT}/train",
        audit=f"{POINT}/audit.json",
    output:
        f"{POINT}/image_metrics.json",
    log:
        f"{LOGS}/runs/anonymizer~{{anonymizer}}/faces~{{faces}}/anon_iters~{{anon_iters}}/image_metrics.log",
    benchmark:
        f"{BENCH}/runs/anonymizer~{{anonymizer}}/faces~{{faces}}/anon_iters~{{anon_iters}}/image_metrics.tsv"
    conda:
        "../envs/safefakes.yaml"
    # One thread a job: on a CPU two such jobs on 2 cores finish sooner than
    # one job on both (its image decoding, SSIM and leakage run on one core).
    threads: 1
    resources:
        gpu=1,
    params:
        settings=config["metrics"],
        code=script_code("image_metrics.py"),
    script:
        "../workflow_scripts/image_metrics.py"


# How many annotated faces the frozen detector still finds, by size, and their retention of the original's.
rule detector_view:
    input:
        unpack(detector_view_inputs),
    output:
        f"{POINT}/detector_view.json",
    log:
        f"{LOGS}/{POINT_NAME}/detector_view.log",
    benchmark:
        f"{BENCH}/{POINT_NAME}/detector_view.tsv"
    conda:
        "../envs/safefakes.yaml"
    threads: 1
    params:
        score=config["detector_view"]["score"],
        resamples=config["report"]["bootstrap_resamples"],
        seed=config["report"]["bootstrap_seed"],
        code=script_code("detector_view.py"),
    script:
        "../workflow_scripts/detector_view.py"
