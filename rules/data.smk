# The detector's splits (synthetic or real WIDER FACE) and the anonymizers' crop sets.


rule synthetic_dataset:
    output:
        train=directory(f"{RESULTS}/data/synthetic/train"),
        val=directory(f"{RESULTS}/data/synthetic/val"),
        crops=directory(f"{RESULTS}/data/synthetic/crops"),
    log:
        f"{LOGS}/data/synthetic_dataset.log",
    benchmark:
        f"{BENCH}/data/synthetic_dataset.tsv"
    conda:
        "../envs/safefakes.yaml"
    threads: 2
    params:
        settings=config["data"]["synthetic"],
        code=script_code("synthetic_dataset.py"),
    script:
        "../workflow_scripts/synthetic_dataset.py"


rule import_widerface:
    output:
        directory(f"{RESULTS}/data/widerface/{{split}}"),
    log:
        f"{LOGS}/data/import_widerface_{{split}}.log",
    benchmark:
        f"{BENCH}/data/import_widerface_{{split}}.tsv"
    wildcard_constraints:
        split="train|val",
    conda:
        "../envs/safefakes.yaml"
    params:
        root=config["data"]["widerface"]["root"],
        code=script_code("import_widerface.py"),
    script:
        "../workflow_scripts/import_widerface.py"
