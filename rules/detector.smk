# DSFD: trained on each (anonymized) train split, run on the untouched val split;
# the detector view's frozen detector run on each train split.


rule train_detector:
    input:
        unpack(detector_inputs),
    output:
        model=protected(f"{RUN}/detector.pt"),
        losses=f"{RUN}/detector_losses.csv",
    log:
        f"{LOGS}/{RUN_NAME}/train_detector.log",
    benchmark:
        f"{BENCH}/{RUN_NAME}/train_detector.tsv"
    conda:
        "../envs/safefakes.yaml"
    threads: config["detector"]["threads"]
    resources:
        gpu=1,
    params:
        settings=config["detector"],
        work=detector_work_dir,
        code=script_code("train_detector.py"),
    script:
        "../workflow_scripts/train_detector.py"


rule predict:
    input:
        model=f"{RUN}/detector.pt",
        split=data_dir("val"),
    output:
        directory(f"{RUN}/predictions"),
    log:
        f"{LOGS}/{RUN_NAME}/predict.log",
    benchmark:
        f"{BENCH}/{RUN_NAME}/predict.tsv"
    conda:
        "../envs/safefakes.yaml"
    threads: config["detector"]["threads"]
    resources:
        gpu=1,
    params:
        settings=config["predict"],
        code=script_code("predict.py"),
    script:
        "../workflow_scripts/predict.py"


# The detector's view: one frozen detector (view_detector) on every anonymized
# train split and the original, with the predict rule's script and settings.
rule view_predict:
    input:
        unpack(detector_inputs),
        model=view_detector(),
    output:
        directory(f"{POINT}/view_predictions"),
    log:
        f"{LOGS}/{POINT_NAME}/view_predict.log",
    benchmark:
        f"{BENCH}/{POINT_NAME}/view_predict.tsv"
    conda:
        "../envs/safefakes.yaml"
    threads: config["detector"]["threads"]
    resources:
        gpu=1,
    params:
        # The predict settings, with the view's own test where detector_view sets one.
        settings={
            **config["predict"],
            **{
                k: v
                for k, v in config["detector_view"].items()
                if k in ("multiscale", "flip") and v is not None
            },
        },
        code=script_code("predict.py"),
    script:
        "../workflow_scripts/predict.py"
