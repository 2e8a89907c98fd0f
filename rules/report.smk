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
