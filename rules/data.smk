# Detector splits and anonymizer crops: the synthetic dataset.


rule synthetic_dataset:
    output:
        train=directory(f"{RESULTS}/data/synthetic/train"),
        val=directory(f"{RESULTS}/data/synthetic/val"),
        crops=directory(f"{RESULTS}/data/synthetic/crops"),
    params:
        settings=config["data"]["synthetic"],
        code=code_version("data/synthetic", "data/wider", "data/split", "data/images"),
    log:
        f"{LOGS}/data/synthetic_dataset.log",
    benchmark:
        f"{BENCH}/data/synthetic_dataset.tsv"
    threads: 2
    script:
        "../workflow_scripts/synthetic_dataset.py"
