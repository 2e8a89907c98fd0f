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
    # Worked out from the paper's grid by hand:
    # 8 methods x 3 detector lengths = 24 runs, plus DeepPrivacy on 38k and 100k
    # faces (2) and at 0.8M, 4M, 10M images (3) at 60k iterations: 29 detectors.
    # GAN models: DeepPrivacy 3 sizes + 3 shorter lengths, CIAGAN, Sun2018 = 8.
    # Anonymized splits: 4 conventional + 8 GAN = 12, each audited and measured.
    assert counts == {
        "import_widerface": 2,
        "import_crop_set": 3,
        "train_anonymizer": 8,
        "anonymize_gan": 8,
        "anonymize_conventional": 4,
        "audit": 12,
        "image_metrics": 12,
        "train_detector": 29,
        "predict": 29,
        "evaluate_map": 29,
        "tables": 1,
        "summary": 1,
        "correlation": 1,
        "figures": 1,
        "example_figure": 1,
        "all": 1,
        "total": 142,
    }
    runs = set(re.findall(r"runs/(anonymizer~\w+/faces~\d+/anon_iters~\d+/det_iters~\d+/seed~\d+)/detector\.pt",
                          out))
    # The paper preset trains one seed per grid point.
    assert "anonymizer~deepprivacy/faces~38000/anon_iters~40000000/det_iters~60000/seed~0" in runs
    assert "anonymizer~deepprivacy/faces~1470000/anon_iters~800000/det_iters~60000/seed~0" in runs
    assert "anonymizer~blur/faces~0/anon_iters~0/det_iters~7500/seed~0" in runs
    assert len(runs) == 29
    # Fig. 9's lengths are one run: each longer DeepPrivacy training continues the next shorter one.
    trainings = planned_inputs(out, "train_anonymizer")
    model = str(tmp_path / "results/anonymizers/deepprivacy/faces~1470000/anon_iters~{}/model.pt")
    for shorter, longer in ((800000, 4000000), (4000000, 10000000), (10000000, 40000000)):
        assert model.format(shorter) in trainings[model.format(longer)]
    assert not any("model.pt" in i for i in trainings[model.format(800000)])
    assert not any("model.pt" in i for i in trainings[model.format(40000000).replace("1470000", "38000")])


def test_missing_paper_paths_are_named(tmp_path):
    proc = snakemake(tmp_path, "-n", "--configfile", str(REPO / "presets" / "paper.yaml"), check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "data.widerface.root" in text and "detector.backbone_weights" in text


def test_default_study_dry_run(tmp_path):
    out = snakemake(tmp_path, "-n").stdout
    counts = job_counts(out)
    assert counts["synthetic_dataset"] == counts["identity_recognizer"] == 1
    # 8 methods at 400 iterations with 3 seeds each, 2 of them also at 100 and 200
    # (seed 0), DeepPrivacy on 750 faces and for 2,750 images (seed 0): 24 + 4 + 1 + 1.
    assert counts["train_detector"] == counts["predict"] == counts["evaluate_map"] == 30
    runs = set(re.findall(r"runs/anonymizer~(\w+)/faces~\d+/anon_iters~\d+/det_iters~(\d+)/seed~(\d+)/detector\.pt",
                          out))
    for method in ("original", "blur", "blackout", "pixelate", "fullblur", "deepprivacy", "ciagan", "sun2018"):
        assert {(method, "400", s) for s in "012"} <= runs
    assert ("original", "100", "0") in runs and ("original", "100", "1") not in runs
    # The summary reads every run's predictions.
    summary = planned_inputs(out, "summary")["results/tables/summary.csv"]
    assert sum(p.endswith("/predictions") for p in summary) == 30
    # DeepPrivacy (1500 faces, 5500 and 2750 images; 750 faces), CIAGAN, Sun2018.
    assert counts["train_anonymizer"] == 5
    assert counts["audit"] == counts["image_metrics"] == 4 + 5
    model = "results/anonymizers/deepprivacy/faces~{}/anon_iters~{}/model.pt"
    trainings = planned_inputs(out, "train_anonymizer")
    assert model.format(1500, 2750) in trainings[model.format(1500, 5500)]
    assert not any("model.pt" in i for i in trainings[model.format(750, 5500)])


def test_seeds_expand_replicate_trainings(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["experiments"] = {"one": {"methods": ["original", "blur"], "det_iters": [50], "seeds": [3, 5]}}
    path = tmp_path / "seeds.yaml"
    path.write_text(yaml.safe_dump(config))
    out = snakemake(tmp_path, "-n", "--configfile", str(path)).stdout
    assert job_counts(out)["train_detector"] == 4
    runs = set(re.findall(r"anonymizer~(\w+)/faces~0/anon_iters~0/det_iters~50/seed~(\d+)/detector\.pt", out))
    assert runs == {("original", "3"), ("original", "5"), ("blur", "3"), ("blur", "5")}
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
