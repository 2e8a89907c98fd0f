"""The SLURM profiles and the checks of `make test-cluster`, without a cluster.

`make test-cluster` (tests/cluster/run_cluster_test.sh) runs the real thing;
these tests keep its checker honest (it must fail on the faults it is there to
catch) and the profiles loadable by Snakemake, in the ordinary `make test`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import check_cluster_run as ccr
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GPU_RULES = {"train_anonymizer", "anonymize_gan", "train_detector", "predict", "reference_features", "image_metrics",
             "view_predict"}

# Lines as snakemake 9.27 and snakemake-executor-plugin-slurm 2.8.0 print them.
LOG = """\
Building DAG of jobs...
SLURM run ID: 1a2b-run
[Thu Nov 26 09:17:23 2026]
rule killed_then_retried:
    output: probe/retried.txt
    jobid: 3
    reason: Missing output files: probe/retried.txt
    resources: tmpdir=<TBD>, mem_mb=1000, runtime=30, cpus_per_task=1, attempt_number=1

[Thu Nov 26 09:17:23 2026]
rule gpu_probe:
    output: probe/gpu_1.txt
    jobid: 2
    wildcards: n=1
    resources: tmpdir=<TBD>, mem_mb=1000, runtime=30, cpus_per_task=1, gpu=1
Auto-selected partition 'gpu' for job gpu_probe with score 0.250
Job 2 has been submitted with SLURM jobid 1 (log: /w/.snakemake/slurm_logs/rule_gpu_probe/1.log).
Job 3 has been submitted with SLURM jobid 2 (log: /w/.snakemake/slurm_logs/rule_killed_then_retried/2.log).
Error in rule killed_then_retried:
    message: SLURM-job '2' failed, SLURM status is: 'CANCELLED'.
    jobid: 3
Trying to restart job 3.
[Thu Nov 26 09:17:40 2026]
rule killed_then_retried:
    output: probe/retried.txt
    jobid: 3
    resources: tmpdir=<TBD>, mem_mb=1000, runtime=30, cpus_per_task=1, attempt_number=2
Job 3 has been submitted with SLURM jobid 4 (log: /w/.snakemake/slurm_logs/rule_killed_then_retried/4.log).
[Thu Nov 26 09:17:41 2026]
rule gpu_probe:
    output: probe/gpu_2.txt
    jobid: 5
    wildcards: n=2
    resources: tmpdir=<TBD>, mem_mb=1000, runtime=30, cpus_per_task=1, gpu=1
Job 5 has been submitted with SLURM jobid 5 (log: /w/.snakemake/slurm_logs/rule_gpu_probe/n_2/5.log).
[Thu Nov 26 09:17:53 2026]
localrule all:
    input: probe/gpu_1.txt, probe/gpu_2.txt, probe/retried.txt
    jobid: 0
    resources: tmpdir=/tmp, mem_mb=1000
"""


def squeue_view(**changes: dict) -> dict[str, dict[str, str]]:
    """What squeue/scontrol would say about the jobs of LOG on a correct run."""
    def job(partition, state, comment, tres, submit, end):
        return {"partition": partition, "state": state, "comment": comment, "tres_per_job": tres,
                "SubmitTime": f"2026-11-26T09:{submit}", "EndTime": f"2026-11-26T09:{end}"}  # fmt: skip

    jobs = {
        "1": job("gpu", "COMPLETED", "rule_gpu_probe_wildcards_1", "gres:gpu:1", "17:23", "17:30"),
        "2": job("cpu", "CANCELLED", "rule_killed_then_retried", "", "17:23", "17:35"),
        "4": job("cpu", "COMPLETED", "rule_killed_then_retried", "", "17:40", "17:45"),
        "5": job("gpu", "COMPLETED", "rule_gpu_probe_wildcards_2", "gres:gpu:1", "17:41", "17:48"),
    }
    for job_id, fields in changes.items():
        jobs[job_id].update(fields)
    return jobs


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "run.log"
    path.write_text(LOG)
    return path


def test_parse_log_maps_each_submission_to_its_rule_and_gpu_request():
    log = ccr.parse_log(LOG)
    assert log.run_id == "1a2b-run"
    assert [(s.rule, s.snakemake_jobid, s.slurm_jobid, s.gpus) for s in log.submissions] == [
        ("gpu_probe", 2, "1", 1),
        ("killed_then_retried", 3, "2", 0),
        ("killed_then_retried", 3, "4", 0),
        ("gpu_probe", 5, "5", 1),
    ]
    assert log.restarted == {3}
    assert [(b.rule, b.local) for b in log.blocks][-1] == ("all", True)


def test_check_run_accepts_a_correct_run(log_file, monkeypatch):
    monkeypatch.setattr(ccr, "slurm_jobs", lambda run_id: squeue_view())
    log, jobs = ccr.check_run("probe", log_file, {"gpu"}, {"cpu"}, cancelled={"2"}, check_job_logs=False)
    assert len(log.submissions) == 4 and set(jobs) == {"1", "2", "4", "5"}


@pytest.mark.parametrize(
    ("changes", "cancelled", "message"),
    [
        ({"1": {"partition": "cpu"}}, {"2"}, "declares gpu=1"),
        ({"1": {"tres_per_job": ""}}, {"2"}, "declares gpu=1"),
        ({"4": {"partition": "gpu", "tres_per_job": "gres:gpu:1"}}, {"2"}, "needs no GPU"),
        ({"4": {"state": "FAILED"}}, {"2"}, "ended FAILED"),
        ({}, set(), "ended CANCELLED, expected COMPLETED"),
        ({"1": {"comment": "rule_cpu_probe"}}, {"2"}, "not that rule's job"),
    ],
)
def test_check_run_rejects_wrong_placement_and_states(log_file, monkeypatch, changes, cancelled, message):
    monkeypatch.setattr(ccr, "slurm_jobs", lambda run_id: squeue_view(**changes))
    with pytest.raises(ccr.CheckError, match=message):
        ccr.check_run("probe", log_file, {"gpu"}, {"cpu"}, cancelled=cancelled, check_job_logs=False)


def test_check_run_wants_each_completed_job_s_slurm_log(tmp_path, monkeypatch):
    logs = {job_id: tmp_path / f"{job_id}.log" for job_id in ("1", "4", "5")}
    text = LOG
    for job_id, path in logs.items():
        path.write_text("Select jobs to execute...\n")
        text = re.sub(rf"(SLURM jobid {job_id}) \(log: [^)]*\)", rf"\1 (log: {path})", text)
    log_path = tmp_path / "run.log"
    log_path.write_text(text)
    monkeypatch.setattr(ccr, "slurm_jobs", lambda run_id: squeue_view())
    ccr.check_run("probe", log_path, {"gpu"}, {"cpu"}, cancelled={"2"})
    logs["5"].write_text("")
    with pytest.raises(ccr.CheckError, match="SLURM job 5 .* left no SLURM job log"):
        ccr.check_run("probe", log_path, {"gpu"}, {"cpu"}, cancelled={"2"})


def test_check_run_rejects_a_job_that_did_not_go_through_slurm(tmp_path, monkeypatch):
    # A job start without a submission: Snakemake ran it some other way.
    path = tmp_path / "run.log"
    path.write_text(LOG.replace("Job 2 has been submitted with SLURM jobid 1", "Job 2 ran here"))
    monkeypatch.setattr(ccr, "slurm_jobs", lambda run_id: squeue_view())
    with pytest.raises(ccr.CheckError, match="some job did not run as a SLURM job"):
        ccr.check_run("probe", path, {"gpu"}, {"cpu"}, cancelled={"2"}, check_job_logs=False)


def test_check_run_rejects_a_local_run(tmp_path):
    path = tmp_path / "run.log"
    path.write_text(LOG.replace("SLURM run ID: 1a2b-run\n", ""))
    with pytest.raises(ccr.CheckError, match="did not use the slurm executor"):
        ccr.check_run("probe", path, {"gpu"}, {"cpu"})


def write_probe(workdir: Path, gpu_jobs=("1", "5"), cuda="0", retried_job="4") -> Path:
    probe = workdir / "probe"
    probe.mkdir(parents=True)
    (probe / "cpu.txt").write_text("job=3\npartition=cpu\ncuda=unset\n")
    for n, job_id in enumerate(gpu_jobs, start=1):
        (probe / f"gpu_{n}.txt").write_text(f"job={job_id}\npartition=gpu\ncuda={cuda}\n")
    (probe / "retried.txt").write_text(f"attempt=2\njob={retried_job}\nfirst_attempt_job=2\n")
    return workdir


def probe_log_with_cpu_job() -> ccr.RunLog:
    """LOG plus the probe's CPU job (SLURM job 3)."""
    log = ccr.parse_log(LOG)
    log.submissions.append(ccr.Submission("cpu_probe", 1, "3", 0))
    return log


def test_check_probe_accepts_a_correct_probe_run(tmp_path):
    ccr.check_probe(write_probe(tmp_path), probe_log_with_cpu_job(), squeue_view(), "2", {"gpu"})


@pytest.mark.parametrize(
    ("probe", "changes", "cancelled", "message"),
    [
        ({"cuda": "unset"}, {}, "2", "expected CUDA_VISIBLE_DEVICES set by SLURM"),
        ({"gpu_jobs": ("1", "9")}, {}, "2", "not by a gpu_probe job"),
        ({}, {"5": {"SubmitTime": "2026-11-26T09:17:24"}}, "2", "the global gpu resource did not cap them"),
        ({}, {}, "3", "the harness cancelled job 3"),
        ({"retried_job": "7"}, {}, "2", "expected attempt 2 in job 4"),
    ],
)
def test_check_probe_rejects_what_it_must(tmp_path, probe, changes, cancelled, message):
    with pytest.raises(ccr.CheckError, match=message):
        ccr.check_probe(write_probe(tmp_path, **probe), probe_log_with_cpu_job(), squeue_view(**changes), cancelled,
                        {"gpu"})


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_check_same_results_compares_bytes_but_not_logs(tmp_path):
    local = write_tree(tmp_path / "local", {"data/a.txt": b"1", "logs/x.log": b"local"})
    slurm = write_tree(tmp_path / "slurm", {"data/a.txt": b"1", "logs/x.log": b"slurm", "benchmarks/b.tsv": b"t"})
    same = ccr.check_same_results(slurm, local)
    assert same.identical == ["data/a.txt"] and same.normalised == {}
    (slurm / "data" / "a.txt").write_bytes(b"2")
    with pytest.raises(ccr.CheckError, match="1 of 1 result files differ"):
        ccr.check_same_results(slurm, local)
    (slurm / "data" / "a.txt").write_bytes(b"1")
    (slurm / "data" / "extra.txt").write_bytes(b"")
    with pytest.raises(ccr.CheckError, match="only on SLURM"):
        ccr.check_same_results(slurm, local)


GAN = "anonymizers/deepprivacy/faces~8/anon_iters~8"
DET = "runs/anonymizer~deepprivacy/faces~8/anon_iters~8/det_iters~2/seed~0"


def test_check_same_results_ignores_only_the_listed_timing_fields(tmp_path):
    losses = "iteration,loss,seconds\n1,0.5,{}\n"
    info = '{{"iterations": {}, "seconds": {}}}\n'
    local = write_tree(tmp_path / "local", {
        f"{DET}/detector_losses.csv": losses.format("6.117").encode(),
        f"{DET}/detector_work/train_info.json": info.format(2, 6.68).encode(),
        f"{DET}/map.json": b'{"hard": 0.1}',
    })  # fmt: skip
    slurm = write_tree(tmp_path / "slurm", {
        f"{DET}/detector_losses.csv": losses.format("3.257").encode(),
        f"{DET}/detector_work/train_info.json": info.format(2, 3.89).encode(),
        f"{DET}/map.json": b'{"hard": 0.1}',
    })  # fmt: skip
    same = ccr.check_same_results(slurm, local)
    assert same.identical == [f"{DET}/map.json"]
    assert sorted(f for files in same.normalised.values() for f in files) == [
        f"{DET}/detector_losses.csv", f"{DET}/detector_work/train_info.json"
    ]
    # Any other field still counts.
    (slurm / DET / "detector_losses.csv").write_text("iteration,loss,seconds\n1,0.6,3.257\n")
    with pytest.raises(ccr.CheckError, match=r"detector_losses.csv \(even without seconds\)"):
        ccr.check_same_results(slurm, local)
    (slurm / DET / "detector_losses.csv").write_text(losses.format("3.257"))
    (slurm / DET / "detector_work" / "train_info.json").write_text(info.format(3, 3.89))
    with pytest.raises(ccr.CheckError, match="train_info.json"):
        ccr.check_same_results(slurm, local)
    # A timing field outside the listed files is a difference.
    (slurm / DET / "detector_work" / "train_info.json").write_text(info.format(2, 3.89))
    (slurm / DET / "map.json").write_bytes(b'{"hard": 0.1, "seconds": 1}')
    (local / DET / "map.json").write_bytes(b'{"hard": 0.1, "seconds": 2}')
    with pytest.raises(ccr.CheckError, match="map.json"):
        ccr.check_same_results(slurm, local)


def save(obj, path: Path) -> None:
    """As safefakes does: torch.save through a file object (no file name inside the archive)."""
    torch = pytest.importorskip("torch")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        torch.save(obj, fh)


def test_check_same_results_compares_torch_files_by_content(tmp_path):
    torch = pytest.importorskip("torch")
    import numpy as np

    def detector(seconds, weight):
        return {"model": {"w": torch.tensor([weight, 2.0])}, "seconds": seconds, "iteration": 2,
                "rng": {"torch": torch.tensor([1, 2], dtype=torch.uint8)}}

    def gan(seconds):
        return {"generator": {"w": torch.ones(2)}, "losses": [{"step": 1, "seconds": seconds}],
                "source": {"path": "/w/study/results/data/synthetic/crops"}}  # fmt: skip

    def recognizer(weight=0.0):
        return {"model": {"w": torch.zeros(3) + weight}, "mean": np.arange(3.0), "trained_on": "crops"}

    for root, seconds in ((tmp_path / "local", 6.6), (tmp_path / "slurm", 3.8)):
        save(detector(seconds, 1.0), root / DET / "detector.pt")
        save(gan(seconds), root / GAN / "model.pt")
        save(recognizer(), root / "leakage" / "recognizer.pt")
    local, slurm = tmp_path / "local", tmp_path / "slurm"
    same = ccr.check_same_results(slurm, local)
    assert same.identical == ["leakage/recognizer.pt"]  # no timing inside: equal byte for byte
    assert sorted(f for files in same.normalised.values() for f in files) == [f"{GAN}/model.pt", f"{DET}/detector.pt"]
    # A weight, the seeded torch generator, or a field not listed still counts.
    save(detector(3.8, 1.5), slurm / DET / "detector.pt")
    with pytest.raises(ccr.CheckError, match="detector.pt"):
        ccr.check_same_results(slurm, local)
    bad = detector(3.8, 1.0)
    bad["rng"]["torch"] = torch.tensor([1, 3], dtype=torch.uint8)
    save(bad, slurm / DET / "detector.pt")
    with pytest.raises(ccr.CheckError, match="detector.pt"):
        ccr.check_same_results(slurm, local)
    save(recognizer(0.5), slurm / "leakage" / "recognizer.pt")
    with pytest.raises(ccr.CheckError, match="recognizer.pt"):
        ccr.check_same_results(slurm, local)
    save(recognizer(), slurm / "leakage" / "recognizer.pt")
    save(detector(3.8, 1.0), slurm / DET / "detector.pt")
    moved = gan(3.8)
    moved["source"]["path"] = "/elsewhere/results/data/synthetic/crops"
    save(moved, slurm / GAN / "model.pt")
    with pytest.raises(ccr.CheckError, match="model.pt"):
        ccr.check_same_results(slurm, local)


def squeue_view_study(**changes: dict) -> dict[str, dict[str, str]]:
    jobs = {
        str(i): {"partition": "gpu", "state": "COMPLETED", "tres_per_job": "gres:gpu:1"}
        for i, _ in enumerate(sorted(GPU_RULES), start=1)
    }
    for job_id, fields in changes.items():
        jobs[job_id].update(fields)
    return jobs


def study_log(rules=None, gpus=1) -> ccr.RunLog:
    rules = tuple(sorted(GPU_RULES)) if rules is None else rules
    subs = [ccr.Submission(rule, 10 + i, str(i), gpus) for i, rule in enumerate(rules, start=1)]
    return ccr.RunLog("run", [], subs, set())


def test_check_gpu_rules_wants_every_gpu_rule_as_a_slurm_gpu_job():
    found = ccr.check_gpu_rules("study", study_log(), squeue_view_study(), {"gpu"}, set(GPU_RULES))
    assert set(found) == GPU_RULES and all(len(ids) == 1 for ids in found.values())


@pytest.mark.parametrize(
    ("log", "changes", "missing"),
    [
        # A target without one of the GPU rules: no "GPU job that happened to run" passes for it.
        (study_log(rules=sorted(GPU_RULES - {"predict"})), {}, "predict"),
        # The rule ran, but not as a GPU job (its declaration lost, or placed elsewhere).
        (study_log(gpus=0), {}, "anonymize_gan"),
        (study_log(), {"5": {"partition": "cpu"}}, sorted(GPU_RULES)[4]),
        (study_log(), {"1": {"tres_per_job": ""}}, sorted(GPU_RULES)[0]),
        (study_log(), {"2": {"state": "FAILED"}}, sorted(GPU_RULES)[1]),
    ],
)
def test_check_gpu_rules_rejects_a_missing_gpu_rule(log, changes, missing):
    with pytest.raises(ccr.CheckError, match=f"GPU rule\\(s\\) .*'{missing}'.* did not run"):
        ccr.check_gpu_rules("study", log, squeue_view_study(**changes), {"gpu"}, set(GPU_RULES))


def test_study_gpu_rules_are_the_rules_that_declare_a_gpu():
    # Every rule of the study whose resources ask for a GPU, read from rules/*.smk.
    declared = set()
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"^(?=rule |localrule )", smk.read_text(), flags=re.M):
            m = re.match(r"(?:local)?rule (\w+):", block)
            if m and re.search(r"^\s+resources:(?:\n\s{8}.*)*?\n\s{8}gpu=\d", block, flags=re.M):
                declared.add(m.group(1))
    assert declared == GPU_RULES == ccr.STUDY_GPU_RULES


def test_partition_file_routes_gpu_jobs_to_a_gpu_partition():
    gpu, cpu = ccr.gpu_and_cpu_partitions(REPO / "profiles" / "slurm" / "partitions.yaml")
    assert gpu == {"gpu"} and cpu == {"cpu"}


def test_site_profile_gives_every_gpu_rule_a_gpu_and_retries():
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["retries"] >= 1
    assert profile["resources"]["gpu"] >= 1
    assert profile["slurm-partition-config"] == "partitions.yaml"
    # A default partition would send GPU jobs to it too, bypassing the partition file.
    assert "slurm_partition" not in profile["default-resources"]
    assert set(profile["set-resources"]) == GPU_RULES
    assert all(res["gpu"] == 1 for res in profile["set-resources"].values())
    ci = yaml.safe_load((REPO / "profiles" / "slurm-ci" / "config.yaml").read_text())
    assert ci["slurm-status-command"] == "squeue"
    assert set(ci["set-resources"]) == GPU_RULES


def test_snakemake_loads_both_profiles(tmp_path):
    # A dry run resolves every profile key; a misspelt key or a bad resource fails here.
    proc = subprocess.run(
        [
            sys.executable, "-m", "snakemake", "-n",
            "-s", str(REPO / "tests" / "cluster" / "Snakefile"),
            "--profile", str(REPO / "profiles" / "slurm"),
            "--profile", str(REPO / "profiles" / "slurm-ci"),
            "--workflow-profile", "none",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    # The CI override's resources won; the gpu=1 rule kept its GPU request.
    assert "mem_mb=1000" in out and "runtime=30" in out
    assert "gpu=1" in out
