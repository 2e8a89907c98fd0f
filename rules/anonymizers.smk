# Crop sets, GAN training, anonymization of the detector's train split (or the import
# of one anonymized by another tool), and its audit.


rule widerface_crop_set:
    input:
        data_dir("train"),
    output:
        directory(f"{RESULTS}/crops/widerface"),
    log:
        f"{LOGS}/crops/widerface.log",
    benchmark:
        f"{BENCH}/crops/widerface.tsv"
    conda:
        "../envs/safefakes.yaml"
    threads: 4
    params:
        entry=lambda w: crop_source("widerface"),
        code=script_code("crop_set.py"),
    script:
        "../workflow_scripts/crop_set.py"


rule import_crop_set:
    output:
        directory(f"{RESULTS}/crops/{{source}}~{{keypoints}}"),
    log:
        f"{LOGS}/crops/{{source}}~{{keypoints}}.log",
    benchmark:
        f"{BENCH}/crops/{{source}}~{{keypoints}}.tsv"
    wildcard_constraints:
        source="fdf|celeba|pipa",
        keypoints="|".join(KEYPOINT_LAYOUTS),
    conda:
        "../envs/safefakes.yaml"
    threads: 8
    params:
        entry=lambda w: crop_source(w.source),
        keypoint_weights=lambda w: import_keypoint_weights(w.keypoints),
        code=script_code("crop_set.py"),
    script:
        "../workflow_scripts/crop_set.py"


rule train_anonymizer:
    input:
        unpack(gan_training_inputs),
    output:
        model=protected(f"{GAN_MODEL}/model.pt"),
        samples=report(
            f"{GAN_MODEL}/samples.png",
            caption="../report/gan_samples.rst",
            category="Anonymizers",
            subcategory="{gan}",
            labels={
                "method": "{gan}",
                "faces": "{faces}",
                "images shown": "{anon_iters}",
            },
        ),
        losses=f"{GAN_MODEL}/losses.csv",
    log:
        f"{LOGS}/anonymizers/{{gan}}/faces~{{faces}}/anon_iters~{{anon_iters}}/train.log",
    benchmark:
        f"{BENCH}/anonymizers/{{gan}}/faces~{{faces}}/anon_iters~{{anon_iters}}/train.tsv"
    # The GAN chain (train, anonymize, then its detectors) is the study's
    # longest path: start it before the jobs that can fill the cores meanwhile.
    priority: 1
    conda:
        "../envs/safefakes.yaml"
    # One thread, as the detector jobs: a mini GAN trains in 29.3 s on one
    # thread and 23.6 s on two (for 1.55 times the CPU), so two single-thread
    # jobs side by side do more on 2 cores, and a run is bit-identical on any
    # machine. The paper presets' loader workers are processes of their own;
    # the SLURM profile gives them CPUs (cpus_per_task).
    threads: 1
    resources:
        gpu=1,
    params:
        settings=lambda w: method_config(w.gan),
        work=gan_work_dir,
        code=lambda w: script_code("train_anonymizer.py", *method_modules(w.gan)),
    script:
        "../workflow_scripts/train_anonymizer.py"


rule anonymize_conventional:
    input:
        split=data_dir("train"),
    output:
        split=directory(
            f"{RESULTS}/runs/anonymizer~{{conventional}}/faces~0/anon_iters~0/train"
        ),
    log:
        f"{LOGS}/runs/anonymizer~{{conventional}}/anonymize.log",
    benchmark:
        f"{BENCH}/runs/anonymizer~{{conventional}}/anonymize.tsv"
    conda:
        "../envs/safefakes.yaml"
    threads: 1
    params:
        method=lambda w: w.conventional,
        options=lambda w: method_config(w.conventional).get("options", {}),
        engine=config["anonymize"],
        code=lambda w: script_code("anonymize.py", *method_modules(w.conventional)),
    script:
        "../workflow_scripts/anonymize.py"


rule anonymize_gan:
    input:
        split=data_dir("train"),
        model=gan_model("{gan}", "{faces}", "{anon_iters}"),
    output:
        split=directory(
            f"{RESULTS}/runs/anonymizer~{{gan}}/faces~{{faces}}/anon_iters~{{anon_iters}}/train"
        ),
    log:
        f"{LOGS}/runs/anonymizer~{{gan}}/faces~{{faces}}/anon_iters~{{anon_iters}}/anonymize.log",
    benchmark:
        f"{BENCH}/runs/anonymizer~{{gan}}/faces~{{faces}}/anon_iters~{{anon_iters}}/anonymize.tsv"
    priority: 1
    conda:
        "../envs/safefakes.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        method=lambda w: w.gan,
        options=lambda w: method_config(w.gan).get("options", {}),
        keypoints=lambda w: method_config(w.gan)["keypoints"],
        keypoint_weights=lambda w: method_config(w.gan).get("keypoint_weights"),
        engine=config["anonymize"],
        code=lambda w: script_code("anonymize_gan.py", *method_modules(w.gan)),
    script:
        "../workflow_scripts/anonymize_gan.py"


rule import_external_split:
    input:
        original=data_dir("train"),
    output:
        split=directory(
            f"{RESULTS}/runs/anonymizer~{{external}}/faces~0/anon_iters~0/train"
        ),
    log:
        f"{LOGS}/runs/anonymizer~{{external}}/import.log",
    benchmark:
        f"{BENCH}/runs/anonymizer~{{external}}/import.tsv"
    conda:
        "../envs/safefakes.yaml"
    params:
        path=lambda w: config["external_splits"][w.external]["path"],
        code=script_code("import_external.py"),
    script:
        "../workflow_scripts/import_external.py"


rule audit:
    input:
        original=data_dir("train"),
        anonymized=f"{POINT}/train",
    output:
        f"{POINT}/audit.json",
    log:
        f"{LOGS}/runs/anonymizer~{{anonymizer}}/faces~{{faces}}/anon_iters~{{anon_iters}}/audit.log",
    benchmark:
        f"{BENCH}/runs/anonymizer~{{anonymizer}}/faces~{{faces}}/anon_iters~{{anon_iters}}/audit.tsv"
    conda:
        "../envs/safefakes.yaml"
    params:
        settings=config["audit"],
        code=script_code("audit.py"),
    script:
        "../workflow_scripts/audit.py"
