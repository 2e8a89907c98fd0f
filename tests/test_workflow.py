"""The Snakemake workflow: configs validate, the paper grid plans the right jobs, lint and format."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--workflow-profile", "none",
           "--cores", "1", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run."""
    counts = {}
    block = output.split("Job stats:", 1)[1]
    for line in block.splitlines()[3:]:
        m = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    return counts


def planned_inputs(output: str, rule: str) -> dict[str, list[str]]:
    """For each planned job of ``rule`` in a dry run: its first output -> its inputs."""
    jobs = {}
    for block in output.split("\nrule ")[1:]:
        if not block.startswith(f"{rule}:"):
            continue
        fields = dict(re.findall(r"^\s+(input|output): (.*)$", block, flags=re.MULTILINE))
        jobs[fields["output"].split(", ")[0]] = fields.get("input", "").split(", ")
    return jobs


def _fake_paper_tree(root: Path) -> dict:
    """Every folder and weights file the paper preset names, as empty stand-ins."""
    wider = root / "widerface"
    for sub in ("WIDER_train/images", "WIDER_val/images", "wider_face_split", "eval_tools/ground_truth"):
        (wider / sub).mkdir(parents=True)
    for name in ("pipa", "fdf", "celeba"):
        (root / name).mkdir()
    weights = root / "weights"
    weights.mkdir()
    config = yaml.safe_load((REPO / "presets" / "paper.yaml").read_text())
    config["results"] = str(root / "results")
    config["data"]["widerface"]["root"] = str(wider)
    for entry in config["crop_sets"]:
        entry["path"] = str(root / entry["source"])
    for section, key in (("detector", "backbone_weights"), ("metrics", "lpips_weights"),
                         ("metrics", "inception_weights")):
        path = weights / Path(config[section][key]).name
        path.touch()
        config[section][key] = str(path)
    kp = weights / Path(config["anonymizers"]["deepprivacy"]["keypoint_weights"]).name
    kp.touch()
    config["anonymizers"]["deepprivacy"]["keypoint_weights"] = str(kp)
    return config


def test_paper_preset_plans_the_paper_grid(tmp_path):
    config = _fake_paper_tree(tmp_path)
    cfg_path = tmp_path / "paper.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    out = snakemake(tmp_path, "-n", "--configfile", str(cfg_path)).stdout
    counts = job_counts(out)
    # Worked out from the paper's grid by hand (Sec. IV), by experiment:
    detector = "anonymizer~{}/faces~{}/anon_iters~{}/det_iters~{}"
    methods = ["original", "blur", "blackout", "pixelate", "fullblur", "deepprivacy", "ciagan", "sun2018"]
    default = {"deepprivacy": (1471253, 40000000), "ciagan": (36000, 3600000), "sun2018": (15000, 2000000)}
    point = lambda m: default.get(m, (0, 0))  # noqa: E731
    fig4 = {detector.format(m, *point(m), 60000) for m in methods}
    fig6 = {detector.format(m, *point(m), d) for m in methods for d in (7500, 15000, 60000)}
    # Fig. 7: each face set trained for 4M images; Fig. 9: 1.47M faces for 0.8M to 40M images.
    fig7 = {detector.format("deepprivacy", f, 4000000, 60000) for f in (38000, 100000, 1471253)}
    fig9 = {detector.format("deepprivacy", 1471253, a, 60000) for a in (800000, 4000000, 10000000, 40000000)}
    # The paper's Sun2018 with a blurred box as input, beside the plain method (a variant).
    variant = {detector.format("sun2018_blurred", *default["sun2018"], 60000)}
    assert (len(fig4), len(fig6), len(fig7), len(fig9)) == (8, 24, 3, 4)
    runs = set(re.findall(r"runs/(anonymizer~\w+/faces~\d+/anon_iters~\d+/det_iters~\d+)/seed~0/detector\.pt", out))
    for experiment in (fig4, fig6, fig7, fig9):
        assert experiment <= runs
    # 24 + 3 (Fig. 7) + 2 (Fig. 9's 0.8M and 10M; its 4M is Fig. 7's, its 40M Fig. 4's) + the variant = 30.
    assert runs == fig4 | fig6 | fig7 | fig9 | variant and len(runs) == 30
    gan = "results/anonymizers/{}/faces~{}/anon_iters~{}/model.pt"
    trainings = planned_inputs(out, "train_anonymizer")
    models = {m.removeprefix(str(tmp_path) + "/") for m in trainings}
    fig7_models = {gan.format("deepprivacy", f, 4000000) for f in (38000, 100000, 1471253)}
    fig9_models = {gan.format("deepprivacy", 1471253, a) for a in (800000, 4000000, 10000000, 40000000)}
    others = {gan.format(m, *default[m.partition("_")[0]]) for m in ("ciagan", "sun2018", "sun2018_blurred")}
    assert models == fig7_models | fig9_models | others and len(models) == 9
    # GAN models: DeepPrivacy 3 sizes at 4M + 3 other lengths, CIAGAN, Sun2018 and its variant = 9.
    # Anonymized splits: 4 conventional + 9 GAN = 13, each audited and measured.
    # Crop sets: PIPA with DeepPrivacy's points and with dlib's, FDF, CelebA = 4 imports.
    assert counts == {
        "import_widerface": 2,
        "import_crop_set": 4,
        "train_anonymizer": 9,
        "anonymize_gan": 9,
        "anonymize_conventional": 4,
        "audit": 13,
        "image_metrics": 13,
        "reference_features": 1,
        "train_detector": 30,
        "predict": 30,
        "evaluate_map": 30,
        "view_predict": 14,
        "detector_view": 14,
        "tables": 1,
        "summary": 1,
        "correlation": 1,
        "figures": 1,
        "example_figure": 1,
        "face_sizes": 1,
        "detection_examples": 1,
        "failure_cases": 1,
        "all": 1,
        "total": 182,
    }
    # Fig. 5: the full-image-blur and DeepPrivacy detectors of Fig. 4 (60k iterations, seed 0); Fig. 8:
    # DeepPrivacy's default model's split through the view; the face sizes: every anonymized split.
    results = str(tmp_path / "results")
    fig5 = planned_inputs(out, "detection_examples")[f"{results}/figures/detections_side_by_side.png"]
    assert fig5 == [f"{results}/data/widerface/val",
                    f"{results}/runs/{detector.format('fullblur', 0, 0, 60000)}/seed~0/predictions",
                    f"{results}/runs/{detector.format('deepprivacy', *default['deepprivacy'], 60000)}"
                    "/seed~0/predictions"]
    dp_point = f"{results}/runs/anonymizer~deepprivacy/faces~1471253/anon_iters~40000000"
    fig8 = planned_inputs(out, "failure_cases")[f"{results}/figures/failure_cases_deepprivacy.png"]
    assert fig8 == [f"{dp_point}/train", f"{dp_point}/view_predictions", f"{results}/data/widerface/train",
                    f"{results}/runs/anonymizer~original/faces~0/anon_iters~0/view_predictions"]
    sizes = planned_inputs(out, "face_sizes")[f"{results}/tables/face_sizes.csv"]
    assert sum(i.endswith("/train") for i in sizes) == sum(i.endswith("/detector_view.json") for i in sizes) == 13
    # The detector view: the original's 60k-iteration detector (seed 0) on the 13 anonymized
    # train splits and the original, each anonymized split's view against the original's.
    frozen = str(tmp_path / "results/runs/anonymizer~original/faces~0/anon_iters~0/det_iters~60000/seed~0/detector.pt")
    view_runs = planned_inputs(out, "view_predict")
    assert all(frozen in inputs for inputs in view_runs.values()) and len(view_runs) == 14
    views = planned_inputs(out, "detector_view")
    original_view = str(tmp_path / "results/runs/anonymizer~original/faces~0/anon_iters~0/view_predictions")
    assert sum(original_view in inputs for inputs in views.values()) == 14
    # The paper preset trains one seed per grid point.
    # Fig. 9's lengths are one run: each longer DeepPrivacy training continues the next shorter one.
    model = str(tmp_path / "results/anonymizers/deepprivacy/faces~1471253/anon_iters~{}/model.pt")
    for shorter, longer in ((800000, 4000000), (4000000, 10000000), (10000000, 40000000)):
        assert model.format(shorter) in trainings[model.format(longer)]
    assert not any("model.pt" in i for i in trainings[model.format(800000)])
    assert not any("model.pt" in i for i in trainings[model.format(4000000).replace("1471253", "38000")])


def test_missing_paper_paths_are_named(tmp_path):
    proc = snakemake(tmp_path, "-n", "--configfile", str(REPO / "presets" / "paper.yaml"), check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "data.widerface.root" in text and "detector.backbone_weights" in text


def test_default_study_dry_run(tmp_path):
    out = snakemake(tmp_path, "-n").stdout
    counts = job_counts(out)
    assert counts["synthetic_dataset"] == counts["identity_recognizer"] == 1
    # The original faces' Inception features: once, for every split's FID and KID.
    assert counts["reference_features"] == 1
    metric_inputs = planned_inputs(out, "image_metrics")
    assert len(metric_inputs) == 9
    assert all("results/metrics/reference_features.npz" in inputs for inputs in metric_inputs.values())
    # 8 methods at 250 iterations with 3 seeds each, 2 of them also at 50 and 100
    # (seed 0), DeepPrivacy on 750 faces and for 2,750 images (seed 0): 24 + 4 + 1 + 1.
    assert counts["train_detector"] == counts["predict"] == counts["evaluate_map"] == 30
    runs = set(re.findall(r"runs/anonymizer~(\w+)/faces~\d+/anon_iters~\d+/det_iters~(\d+)/seed~(\d+)/detector\.pt",
                          out))
    for method in ("original", "blur", "blackout", "pixelate", "fullblur", "deepprivacy", "ciagan", "sun2018"):
        assert {(method, "250", s) for s in "012"} <= runs
    assert ("original", "50", "0") in runs and ("original", "50", "1") not in runs
    # The summary reads every run's predictions.
    summary = planned_inputs(out, "summary")["results/tables/summary.csv"]
    assert sum(p.endswith("/predictions") for p in summary) == 30
    # The detector view: the original's 250-iteration seed-0 detector on the 9 anonymized splits
    # and the original; every anonymized split's view names the original's as its reference.
    views = planned_inputs(out, "detector_view")
    assert counts["view_predict"] == counts["detector_view"] == 10
    frozen = "results/runs/anonymizer~original/faces~0/anon_iters~0/det_iters~250/seed~0/detector.pt"
    assert all(frozen in inputs for inputs in planned_inputs(out, "view_predict").values())
    point = "results/runs/anonymizer~{}/faces~{}/anon_iters~{}"
    assert views[f"{point.format('blur', 0, 0)}/detector_view.json"] == [
        f"{point.format('blur', 0, 0)}/view_predictions", f"{point.format('blur', 0, 0)}/train",
        f"{point.format('original', 0, 0)}/view_predictions", "results/data/synthetic/train"]
    assert views[f"{point.format('original', 0, 0)}/detector_view.json"] == [
        f"{point.format('original', 0, 0)}/view_predictions", "results/data/synthetic/train"]
    assert f"{point.format('original', 0, 0)}/detector_view.json" in planned_inputs(out, "tables")[
        "results/tables/map.csv"]
    # DeepPrivacy (1500 faces, 11000 and 5500 images; 750 faces), CIAGAN, Sun2018.
    assert counts["train_anonymizer"] == 5
    assert counts["audit"] == counts["image_metrics"] == 4 + 5
    model = "results/anonymizers/deepprivacy/faces~{}/anon_iters~{}/model.pt"
    trainings = planned_inputs(out, "train_anonymizer")
    assert model.format(1500, 5500) in trainings[model.format(1500, 11000)]
    assert not any("model.pt" in i for i in trainings[model.format(750, 11000)])
    # Figs. 5 and 8 and the face-size table: one cheap job each, on outputs the study has anyway.
    assert counts["detection_examples"] == counts["failure_cases"] == counts["face_sizes"] == 1
    run = "results/runs/anonymizer~{}/faces~{}/anon_iters~{}/det_iters~250/seed~0/predictions"
    assert planned_inputs(out, "detection_examples")["results/figures/detections_side_by_side.png"] == [
        "results/data/synthetic/val", run.format("fullblur", 0, 0), run.format("deepprivacy", 1500, 11000)]
    dp = point.format("deepprivacy", 1500, 11000)
    assert planned_inputs(out, "failure_cases")["results/figures/failure_cases_deepprivacy.png"] == [
        f"{dp}/train", f"{dp}/view_predictions", "results/data/synthetic/train",
        f"{point.format('original', 0, 0)}/view_predictions"]
    sizes = planned_inputs(out, "face_sizes")["results/tables/face_sizes.csv"]
    assert len(sizes) == 2 * 9 and f"{point.format('ciagan', 1500, 6000)}/detector_view.json" in sizes


@pytest.mark.parametrize("methods, drawn", [
    (["original", "deepprivacy"], {"detections": ["deepprivacy"], "failures": True}),
    (["original", "fullblur"], {"detections": ["fullblur"], "failures": False}),
    (["original", "blur"], {"detections": [], "failures": False}),
])
def test_figures_5_and_8_draw_the_methods_the_grid_has(tmp_path, methods, drawn):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["experiments"] = {"one": {"methods": methods, "det_iters": [50, 100]},
                             "two": {"methods": methods[1:], "det_iters": [200], "seeds": [1]}}
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(config))
    out = snakemake(tmp_path, "-n", "--configfile", str(path)).stdout
    counts = job_counts(out)
    assert counts["face_sizes"] == 1
    fig5 = planned_inputs(out, "detection_examples")
    if drawn["detections"]:
        inputs = fig5["results/figures/detections_side_by_side.png"]
        # Its own longest length, at the lowest seed the grid trains there.
        assert [i.split("/")[2] for i in inputs[1:]] == [f"anonymizer~{m}" for m in drawn["detections"]]
        assert all("det_iters~200/seed~1/predictions" in i for i in inputs[1:])
    else:
        assert "detection_examples" not in counts
    assert ("failure_cases" in counts) == drawn["failures"]


def test_the_detector_view_can_use_a_named_checkpoint(tmp_path):
    checkpoint = tmp_path / "pretrained.pt"
    checkpoint.touch()
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["detector_view"] = {"checkpoint": str(checkpoint)}
    path = tmp_path / "view.yaml"
    path.write_text(yaml.safe_dump(config))
    out = snakemake(tmp_path, "-n", "--configfile", str(path)).stdout
    assert all(str(checkpoint) in inputs for inputs in planned_inputs(out, "view_predict").values())
    config["detector_view"] = {"checkpoint": str(tmp_path / "missing.pt")}
    path.write_text(yaml.safe_dump(config))
    proc = snakemake(tmp_path, "-n", "--configfile", str(path), check=False)
    assert proc.returncode != 0 and "detector_view.checkpoint" in proc.stdout + proc.stderr


def test_seeds_expand_replicate_trainings(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["experiments"] = {"one": {"methods": ["original", "blur"], "det_iters": [50], "seeds": [3, 5]}}
    path = tmp_path / "seeds.yaml"
    path.write_text(yaml.safe_dump(config))
    out = snakemake(tmp_path, "-n", "--configfile", str(path)).stdout
    assert job_counts(out)["train_detector"] == 4
    runs = set(re.findall(r"anonymizer~(\w+)/faces~0/anon_iters~0/det_iters~50/seed~(\d+)/detector\.pt", out))
    assert runs == {("original", "3"), ("original", "5"), ("blur", "3"), ("blur", "5")}
    # The detector view looks through the original's lowest seed: no extra training for it.
    frozen = "results/runs/anonymizer~original/faces~0/anon_iters~0/det_iters~50/seed~3/detector.pt"
    assert all(frozen in inputs for inputs in planned_inputs(out, "view_predict").values())
    # The seed reaches the detector's training as a wildcard of its run folder.
    assert re.search(r"wildcards: anonymizer=blur, faces=0, anon_iters=0, det_iters=50, seed=5", out)


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"detector": {"preset": "huge"}}, "huge"),
        ({"anonymize": {"jpeg_quality": 400}}, "jpeg_quality"),
        ({"detectr": {}}, "detectr"),
    ],
)
def test_bad_config_is_named(tmp_path, change, fragment):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(change)
    cfg_path = tmp_path / "bad.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    proc = snakemake(tmp_path, "-n", "--configfile", str(cfg_path), check=False)
    assert proc.returncode != 0
    assert fragment in proc.stdout + proc.stderr


def test_experiment_asking_for_an_unknown_crop_set(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["experiments"]["training_size"]["faces"] = [123]
    cfg_path = tmp_path / "bad.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    proc = snakemake(tmp_path, "-n", "--configfile", str(cfg_path), check=False)
    assert proc.returncode != 0
    assert "no crop_sets entry with faces: 123" in proc.stdout + proc.stderr


def test_lint_is_clean():
    proc = subprocess.run([*SNAKEMAKE, "--lint", "--workflow-profile", "none"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr


def test_snakefmt_check():
    snakefmt = shutil.which("snakefmt", path=str(Path(sys.executable).parent))
    assert snakefmt, "snakefmt is a dev dependency (pip install -e .[dev])"
    files = [str(REPO / "Snakefile"), *map(str, sorted((REPO / "rules").glob("*.smk")))]
    proc = subprocess.run([snakefmt, "--check", *files], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_split_of_another_tool_is_one_more_method(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    (tmp_path / "theirs" / "images").mkdir(parents=True)  # the other tool's output (checked before any job)
    config["external_splits"] = {"othertool": {"path": str(tmp_path / "theirs")}}
    config["experiments"]["methods"]["methods"].append("othertool")
    cfg_path = tmp_path / "ext.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    out = snakemake(tmp_path, "-n", "--configfile", str(cfg_path)).stdout
    counts = job_counts(out)
    assert counts["import_external_split"] == 1
    assert counts["audit"] == counts["image_metrics"] == 4 + 5 + 1
    # The default study's 30 detectors, and the new method at the three seeds of its experiment.
    assert counts["train_detector"] == 30 + 3
    point = "results/runs/anonymizer~othertool/faces~0/anon_iters~0"
    assert planned_inputs(out, "import_external_split")[f"{point}/train"] == ["results/data/synthetic/train"]
    assert f"{point}/audit.json" in planned_inputs(out, "train_detector")[f"{point}/det_iters~250/seed~0/detector.pt"]


@pytest.mark.parametrize("externals, method, fragment", [
    ({"blur": {"path": "x"}}, "blur", "external_splits.blur: the name of a method"),
    ({}, "othertool", "external_splits"),
])
def test_external_split_names_are_checked(tmp_path, externals, method, fragment):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["external_splits"] = externals
    config["experiments"]["ext"] = {"methods": [method], "det_iters": [400]}
    cfg_path = tmp_path / "ext.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    proc = snakemake(tmp_path, "-n", "--configfile", str(cfg_path), check=False)
    assert proc.returncode != 0 and fragment in proc.stdout + proc.stderr
