"""Incremental reruns: a tiny study runs for real, then dry runs show what a change reruns.

Changing one anonymizer's config block or module reruns that anonymizer's
branch and the aggregates, nothing else (every method of the tiny study: the
original, blur and its variant blur_wide, blackout, DeepPrivacy); a change to the detector code reruns
every detector job; a change to a module that no rule's script imports runs
nothing; with nothing changed nothing runs. What a rule "runs" is the import
closure of its script (safefakes.code_version), computed, not listed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO

TINY = {
    "results": "results",
    "data": {"source": "synthetic",
             "synthetic": {"seed": 0, "train_images": 6, "val_images": 4, "crops": 40, "image_size": [96, 96]}},
    "crop_sets": [{"faces": 40, "source": "synthetic"}],
    "anonymizers": {
        "original": {},
        "blur": {"options": {"kernel": 15}},
        # A variant of blur (<method>_<variant>): blur's code, its own settings and branch.
        "blur_wide": {"options": {"kernel": 15, "mask_scale": 1.4}},
        "blackout": {"options": {}},
        "deepprivacy": {"faces": 40, "anon_iters": 32, "keypoints": "oracle-deepprivacy7",
                        "train": {"preset": "mini", "batch_size": 8}, "options": {}},
    },
    "detector": {"preset": "mini", "settings": {"batch_size": 2, "input_size": 64}, "allow_random_init": True},
    "metrics": {"allow_random_init": True, "max_faces": 4, "min_size": 8, "crop_size": 32},
    "experiments": {"methods": {"methods": ["original", "blur", "blur_wide", "blackout", "deepprivacy"],
                                "det_iters": [2], "seeds": [0, 1]}},
    "report": {"bootstrap_resamples": 200},
}
WORKFLOW = ("Snakefile", "rules", "workflow_scripts", "schemas", "report", "envs", "config.yaml", "safefakes")
# The paper's Figs. 5 and 8 and the face-size table: each reruns only with its own inputs.
PAPER = {"face_sizes", "detection_examples", "failure_cases"}
AGGREGATES = {"tables", "summary", "correlation", "figures", "example_figure", "all", *PAPER}


def _snakemake(workdir: Path, *args: str) -> str:
    cmd = [sys.executable, "-m", "snakemake", "-d", str(workdir), "--workflow-profile", "none",
           "--cores", "2", "--resources", "gpu=1", "--configfile", str(workdir / "tiny.yaml"), *args]
    proc = subprocess.run(cmd, cwd=workdir / "wf", capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("study")
    for name in WORKFLOW:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, work / "wf" / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (work / "wf").mkdir(exist_ok=True)
            shutil.copy(src, work / "wf" / name)
    (work / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    _snakemake(work, "-s", str(work / "wf" / "Snakefile"))
    return work


def planned_in(study: Path) -> set[tuple[str, str]]:
    out = _snakemake(study, "-n", "-s", str(study / "wf" / "Snakefile"))
    if "Nothing to be done" in out:
        return set()
    jobs = set()
    for block in re.split(r"\nrule ", out)[1:]:
        rule = block.split(":", 1)[0].strip()
        m = re.search(r"wildcards: (.*)", block)
        jobs.add((rule, m.group(1).strip() if m else ""))
    return jobs


def anonymizers_of(jobs: set[tuple[str, str]]) -> set[str]:
    """The anonymizers of the planned branch jobs (the aggregates have none)."""
    found = set()
    for rule, wildcards in jobs:
        m = re.search(r"(?:anonymizer|gan|conventional)=(\w+)", wildcards)
        if rule not in AGGREGATES:
            assert m, (rule, wildcards)
            found.add(m.group(1))
    return found


@pytest.mark.slow
def test_the_study_ran_and_nothing_reruns(study):
    results = study / "results"
    assert (results / "tables" / "map.csv").exists()
    assert (results / "tables" / "correlation.csv").exists()
    assert (results / "figures" / "methods_side_by_side.png").exists()
    # Two seeds of each method: one summary row per method, each method against the original.
    runs = pd.read_csv(results / "tables" / "map.csv")
    assert sorted(runs.seed) == [0] * 5 + [1] * 5
    summary = pd.read_csv(results / "tables" / "summary.csv").set_index("anonymizer")
    assert list(summary.n_seeds) == [2] * 5
    assert set(summary.index) == {"original", "deepprivacy", "blur", "blur_wide", "blackout"}
    for method in ("blur", "blur_wide", "blackout", "deepprivacy"):
        row = summary.loc[method]
        assert row.diff_low <= row["diff"] <= row.diff_high and row.n_resamples == 200
        means = runs[runs.anonymizer == method]["map"].mean() - runs[runs.anonymizer == "original"]["map"].mean()
        assert row["diff"] == pytest.approx(means, abs=1e-6)
    assert (results / "figures" / "study" / "map_difference_to_original.png").exists()
    assert planned_in(study) == set()


@pytest.mark.slow
def test_changing_one_anonymizer_config_reruns_its_branch_only(study):
    original = (study / "tiny.yaml").read_text()
    changed = yaml.safe_load(original)
    changed["anonymizers"]["blur"]["options"]["kernel"] = 21
    (study / "tiny.yaml").write_text(yaml.safe_dump(changed))
    try:
        jobs = planned_in(study)
    finally:
        (study / "tiny.yaml").write_text(original)
    rules = {r for r, _ in jobs}
    branch = {(r, w) for r, w in jobs if r not in AGGREGATES}
    assert rules - AGGREGATES == {"anonymize_conventional", "audit", "image_metrics", "train_detector",
                                  "predict", "evaluate_map", "view_predict", "detector_view"}
    assert anonymizers_of(branch) == {"blur"}, branch
    # The blurred split's statuses and view: the face sizes; Figs. 5 and 8 show no blur.
    assert AGGREGATES - {"detection_examples", "failure_cases"} <= rules
    assert not {"detection_examples", "failure_cases"} & rules


@pytest.mark.slow
def test_changing_one_anonymizer_module_reruns_its_branch_only(study):
    module = study / "wf" / "safefakes" / "anonymizers" / "gan" / "deepprivacy.py"
    text = module.read_text()
    module.write_text(text + "\n# a change to DeepPrivacy's code\n")
    try:
        jobs = planned_in(study)
    finally:
        module.write_text(text)
    rules = {r for r, _ in jobs}
    assert rules - AGGREGATES == {"train_anonymizer", "anonymize_gan", "audit", "image_metrics",
                                  "train_detector", "predict", "evaluate_map", "view_predict", "detector_view"}
    assert anonymizers_of(jobs) == {"deepprivacy"}
    assert PAPER <= rules


@pytest.mark.slow
def test_changing_a_variant_s_config_reruns_the_variant_only(study):
    original = (study / "tiny.yaml").read_text()
    changed = yaml.safe_load(original)
    changed["anonymizers"]["blur_wide"]["options"]["mask_scale"] = 1.6
    (study / "tiny.yaml").write_text(yaml.safe_dump(changed))
    try:
        jobs = planned_in(study)
    finally:
        (study / "tiny.yaml").write_text(original)
    assert anonymizers_of(jobs) == {"blur_wide"}
    assert {r for r, _ in jobs} - AGGREGATES == {"anonymize_conventional", "audit", "image_metrics",
                                                 "train_detector", "predict", "evaluate_map", "view_predict",
                                                 "detector_view"}


@pytest.mark.slow
@pytest.mark.parametrize(("module", "branches"), [
    ("safefakes/anonymizers/blackout.py", {"blackout"}),
    ("safefakes/anonymizers/blur.py", {"blur", "blur_wide"}),
    # The original is never anonymized: only the figure that shows every method runs it.
    ("safefakes/anonymizers/original.py", set()),
])
def test_changing_one_method_s_module_replans_that_method_only(study, module, branches):
    # One module per method: a change to blur's code reruns blur (and its variant), never blackout.
    jobs = _touch_and_plan(study, module)
    assert anonymizers_of(jobs) == branches, jobs
    assert "example_figure" in {r for r, _ in jobs}


@pytest.mark.slow
def test_changing_detector_code_reruns_every_detector_job(study):
    module = study / "wf" / "safefakes" / "detector" / "loss.py"
    text = module.read_text()
    module.write_text(text + "\n# a change to the detector's loss\n")
    try:
        jobs = planned_in(study)
    finally:
        module.write_text(text)
    by_rule: dict[str, set[str]] = {}
    for rule, wildcards in jobs:
        by_rule.setdefault(rule, set()).add(wildcards)
    assert set(by_rule) - AGGREGATES == {"train_detector", "predict", "evaluate_map", "view_predict",
                                         "detector_view"}
    assert len(by_rule["train_detector"]) == 10  # five methods, two seeds each
    # The view's frozen detector is the original's: every split's view is taken again.
    assert len(by_rule["view_predict"]) == len(by_rule["detector_view"]) == 5
    assert {w.rsplit("seed=", 1)[1] for w in by_rule["train_detector"]} == {"0", "1"}
    assert {"tables", "correlation", "figures", *PAPER} <= set(by_rule)


def _touch_and_plan(study: Path, relative: str) -> set[tuple[str, str]]:
    module = study / "wf" / relative
    text = module.read_text()
    module.write_text(text + "\n# a change\n")
    try:
        return planned_in(study)
    finally:
        module.write_text(text)


@pytest.mark.slow
def test_changing_a_shared_helper_of_the_blur_reruns_the_conventional_branch_only(study):
    # gaussian.py is imported by blur.py, not named by any rule: the computed closure finds it.
    # Blackout does not blur: its branch is not replanned.
    jobs = _touch_and_plan(study, "safefakes/anonymizers/gaussian.py")
    rules = {r for r, _ in jobs}
    assert rules - AGGREGATES == {"anonymize_conventional", "audit", "image_metrics", "train_detector",
                                  "predict", "evaluate_map", "view_predict", "detector_view"}
    assert anonymizers_of(jobs) == {"blur", "blur_wide"}, jobs
    assert rules & PAPER == {"face_sizes"}


@pytest.mark.slow
def test_changing_the_split_reader_reruns_the_detectors(study):
    # The detector reads splits with data/split.py (the hand-written lists of old missed it).
    jobs = _touch_and_plan(study, "safefakes/data/split.py")
    trained = {w for r, w in jobs if r == "train_detector"}
    assert len(trained) == 10, jobs  # five methods, two seeds each


@pytest.mark.slow
def test_the_detector_view_ran_and_reruns_only_when_its_inputs_change(study):
    point = study / "results" / "runs" / "anonymizer~{}" / "faces~{}" / "anon_iters~{}"
    blur = json.loads((Path(str(point).format("blur", 0, 0)) / "detector_view.json").read_text())
    assert blur["retention"] is not None and blur["n_faces"] > 0
    assert json.loads((Path(str(point).format("original", 0, 0)) / "detector_view.json").read_text())[
        "retention"] is None
    runs = pd.read_csv(study / "results" / "tables" / "map.csv")
    assert runs["view_recall_ge16"].notna().all()
    # A new found-rate threshold: the views are scored again, nothing is predicted again.
    original = (study / "tiny.yaml").read_text()
    changed = yaml.safe_load(original)
    changed["detector_view"] = {"score": 0.3}
    (study / "tiny.yaml").write_text(yaml.safe_dump(changed))
    try:
        jobs = planned_in(study)
    finally:
        (study / "tiny.yaml").write_text(original)
    rules = {r for r, _ in jobs}
    assert rules - AGGREGATES == {"detector_view"}
    assert len([w for r, w in jobs if r == "detector_view"]) == 5
    # The views' numbers feed the face sizes; Fig. 5 draws the detections at that score.
    assert rules & PAPER == {"face_sizes", "detection_examples"}
    # Its scoring code: the same; the prediction code (predict.py's closure): both view rules.
    assert {r for r, _ in _touch_and_plan(study, "safefakes/evaluation/detector_view.py")} - AGGREGATES == {
        "detector_view"}
    assert {r for r, _ in _touch_and_plan(study, "safefakes/detector/predict.py")} - AGGREGATES == {
        "predict", "evaluate_map", "view_predict", "detector_view"}


@pytest.mark.slow
def test_the_paper_outputs_ran_cheaply_and_rerun_with_their_own_code(study):
    results = study / "results"
    sizes = pd.read_csv(results / "tables" / "face_sizes.csv")
    assert set(sizes.anonymizer) == {"blur", "blur_wide", "blackout", "deepprivacy"}
    # The tiny study's blur paints every face; DeepPrivacy leaves the smallest as they are.
    assert (sizes[sizes.anonymizer.isin(["blur", "blur_wide", "blackout"])].paints_from_px == 0).all()
    assert sizes.groupby("anonymizer").n_faces.sum().nunique() == 1
    assert (results / "tables" / "face_sizes.md").read_text().startswith("Where each method applies")
    for name in ("detections_side_by_side", "failure_cases_deepprivacy"):
        for suffix in (".png", ".pdf"):
            assert (results / "figures" / f"{name}{suffix}").stat().st_size > 0
    # The tiny grid has no full-image blur: Fig. 5 shows DeepPrivacy's detector alone, its seed 0.
    log = (results / "logs" / "report" / "detection_examples.log").read_text()
    assert "deepprivacy -> " in log
    # Each a job of seconds (the benchmark files say how many).
    for rule in ("face_sizes", "detection_examples", "failure_cases_deepprivacy"):
        seconds = pd.read_csv(results / "benchmarks" / "report" / f"{rule}.tsv", sep="\t")["s"].iloc[0]
        print(f"{rule}: {seconds:.1f} s")
        assert seconds < 60
    for module, rule in (("safefakes/evaluation/face_sizes.py", "face_sizes"),
                         ("safefakes/plots/detections.py", "detection_examples"),
                         ("safefakes/plots/failure_cases.py", "failure_cases")):
        assert {r for r, _ in _touch_and_plan(study, module)} - {"all"} == {rule}


@pytest.mark.slow
def test_changing_a_module_no_rule_runs_plans_nothing(study):
    assert _touch_and_plan(study, "safefakes/commands/synth.py") == set()
