# Aggregates: tidy tables, the correlation table (paper Table II) and the study's figures.


rule tables:
    input:
        maps=all_map_files(),
        metrics=all_metric_files(),
        views=all_view_files(),
    output:
        map_table=report(
            f"{RESULTS}/tables/map.csv",
            caption="../report/map_table.rst",
            category="Tables",
        ),
        metrics_table=report(
            f"{RESULTS}/tables/image_metrics.csv",
            caption="../report/image_metrics_table.rst",
            category="Tables",
        ),
    log:
        f"{LOGS}/report/tables.log",
    benchmark:
        f"{BENCH}/report/tables.tsv"
    conda:
        "../envs/safefakes.yaml"
    params:
        # The folder above the grid-point levels of the run paths.
        runs_root=lambda w, input: str(Path(input.maps[0]).parents[RUN.count("~")]),
        code=script_code("tables.py"),
    script:
        "../workflow_scripts/tables.py"


rule summary:
    input:
        table=f"{RESULTS}/tables/map.csv",
        predictions=all_prediction_dirs(),
        split=data_dir("val"),
    output:
        csv=report(
            f"{RESULTS}/tables/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
        ),
        markdown=f"{RESULTS}/tables/summary.md",
    log:
        f"{LOGS}/report/summary.log",
    benchmark:
        f"{BENCH}/report/summary.tsv"
    conda:
        "../envs/safefakes.yaml"
    params:
        runs_root=lambda w, input: str(
            Path(input.predictions[0]).parents[RUN.count("~")]
        ),
        resamples=config["report"]["bootstrap_resamples"],
        seed=config["report"]["bootstrap_seed"],
        code=script_code("summary.py"),
    script:
        "../workflow_scripts/summary.py"


rule correlation:
    input:
        f"{RESULTS}/tables/map.csv",
    output:
        csv=report(
            f"{RESULTS}/tables/correlation.csv",
            caption="../report/correlation.rst",
            category="Tables",
        ),
        markdown=f"{RESULTS}/tables/correlation.md",
    log:
        f"{LOGS}/report/correlation.log",
    benchmark:
        f"{BENCH}/report/correlation.tsv"
    conda:
        "../envs/safefakes.yaml"
    params:
        metrics=config["report"]["metrics"],
        code=script_code("correlation.py"),
    script:
        "../workflow_scripts/correlation.py"


rule figures:
    input:
        table=f"{RESULTS}/tables/map.csv",
        summary=f"{RESULTS}/tables/summary.csv",
    output:
        report(
            directory(f"{RESULTS}/figures/study"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
    log:
        f"{LOGS}/report/figures.log",
    benchmark:
        f"{BENCH}/report/figures.tsv"
    conda:
        "../envs/safefakes.yaml"
    params:
        code=script_code("figures.py"),
    script:
        "../workflow_scripts/figures.py"


rule example_figure:
    input:
        unpack(lambda w: {"val": data_dir("val"), **example_models()}),
    output:
        report(
            f"{RESULTS}/figures/methods_side_by_side.png",
            caption="../report/methods_side_by_side.rst",
            category="Figures",
        ),
    log:
        f"{LOGS}/report/example_figure.log",
    benchmark:
        f"{BENCH}/report/example_figure.tsv"
    conda:
        "../envs/safefakes.yaml"
    params:
        methods=example_methods(),
        seed=config["anonymize"]["seed"],
        code=script_code(
            "example_figure.py",
            *sorted(
                {m for method in example_methods() for m in method_modules(method)}
            ),
        ),
    script:
        "../workflow_scripts/example_figure.py"


# Where each method applies: statuses by face width (manifests) and the detector view by width.
rule face_sizes:
    input:
        splits=[f"{point_dir(*p)}/train" for p in anonymized_points()],
        views=[f"{point_dir(*p)}/detector_view.json" for p in anonymized_points()],
    output:
        csv=report(
            f"{RESULTS}/tables/face_sizes.csv",
            caption="../report/face_sizes.rst",
            category="Tables",
        ),
        markdown=f"{RESULTS}/tables/face_sizes.md",
    log:
        f"{LOGS}/report/face_sizes.log",
    benchmark:
        f"{BENCH}/report/face_sizes.tsv"
    conda:
        "../envs/safefakes.yaml"
    params:
        points=[list(p) for p in anonymized_points()],
        code=script_code("face_sizes.py"),
    script:
        "../workflow_scripts/face_sizes.py"


# Fig. 5: the full-image-blur and DeepPrivacy detectors on the same val images.
rule detection_examples:
    input:
        unpack(detection_inputs),
    output:
        png=report(
            f"{RESULTS}/figures/detections_side_by_side.png",
            caption="../report/detections_side_by_side.rst",
            category="Figures",
        ),
        pdf=f"{RESULTS}/figures/detections_side_by_side.pdf",
    log:
        f"{LOGS}/report/detection_examples.log",
    benchmark:
        f"{BENCH}/report/detection_examples.tsv"
    conda:
        "../envs/safefakes.yaml"
    params:
        runs=detection_runs(),
        score=config["detector_view"]["score"],
        code=script_code("detection_examples.py"),
    script:
        "../workflow_scripts/detection_examples.py"


# Fig. 8: the painted faces of DeepPrivacy's split that the frozen original-trained detector scores lowest.
rule failure_cases:
    input:
        unpack(failure_inputs),
    output:
        png=report(
            f"{RESULTS}/figures/failure_cases_{{method}}.png",
            caption="../report/failure_cases.rst",
            category="Figures",
        ),
        pdf=f"{RESULTS}/figures/failure_cases_{{method}}.pdf",
    log:
        f"{LOGS}/report/failure_cases_{{method}}.log",
    benchmark:
        f"{BENCH}/report/failure_cases_{{method}}.tsv"
    wildcard_constraints:
        method=FAILURE_METHOD,
    conda:
        "../envs/safefakes.yaml"
    params:
        method=FAILURE_METHOD,
        code=script_code("failure_cases.py"),
    script:
        "../workflow_scripts/failure_cases.py"
