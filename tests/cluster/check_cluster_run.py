"""Check that Snakemake runs went through SLURM as the profiles say.

Used by tests/cluster/run_cluster_test.sh after it ran, on the CI cluster,
the probe workflow (tests/cluster/Snakefile) and a target of the study, and the
same study target locally. Reads each run's Snakemake log, asks the cluster
(`squeue`, `scontrol`) about every job the log says it submitted, and fails
with a message naming the job when:

- a job that Snakemake did not run locally has no SLURM job id in the log, or
  SLURM does not know that job, or the job ran for another rule or workflow run;
- a job whose rule asked for a GPU (`gpu=N` in its resources) was not sent to
  the GPU partition with a GPU request, or a CPU job was;
- one of the study's GPU rules (STUDY_GPU_RULES: every rule of rules/*.smk that
  declares `gpu=1`) did not run on SLURM as a completed GPU job: the study
  target must exercise each of them, not only the GPU jobs it happens to hold;
- a job did not complete, other than the one the harness cancelled;
- the probe's files do not show SLURM's GPU device and the partition, its two
  GPU jobs overlapped (the global `gpu` resource must serialise them), or the
  cancelled first attempt was not followed by a retry that passed;
- the study's results on SLURM differ (bytes) from the local run's, except for
  the records listed in VOLATILE_DIRS and NORMALISED, each with its reason.

Prints the number of SLURM jobs per run. Needs SLURM_CONF (or /etc/slurm) set
to the CI cluster.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import io
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

RULE_RE = re.compile(r"^(local)?rule (\S+):\s*$")
JOBID_RE = re.compile(r"^\s+jobid: (\d+)\s*$")
RESOURCES_RE = re.compile(r"^\s+resources: (.*)$")
SUBMIT_RE = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)(?: \(log: (.*)\))?")
RUN_ID_RE = re.compile(r"SLURM run ID: (\S+)")
RESTART_RE = re.compile(r"Trying to restart job (\d+)\.")
# The study's GPU rules: each must run on SLURM as a GPU job in the study target
# (tests/cluster/test_cluster_checks.py keeps this equal to the rules of rules/*.smk
# that declare `gpu=1`, and to the profiles' set-resources).
STUDY_GPU_RULES = frozenset({"train_anonymizer", "anonymize_gan", "train_detector", "predict", "reference_features",
                             "image_metrics", "view_predict"})


class CheckError(Exception):
    """A check failed; the message says which job and what was wrong."""


@dataclass
class JobBlock:
    """One `rule NAME:` block of a Snakemake log: a job start (or restart)."""

    rule: str
    local: bool
    jobid: int | None = None
    resources: dict[str, str] = field(default_factory=dict)

    @property
    def gpus(self) -> int:
        value = self.resources.get("gpu", "0")
        return int(value) if value.isdigit() else 0


@dataclass
class Submission:
    rule: str
    snakemake_jobid: int
    slurm_jobid: str
    gpus: int
    slurm_log: str | None = None


@dataclass
class RunLog:
    run_id: str | None
    blocks: list[JobBlock]
    submissions: list[Submission]
    restarted: set[int]


def parse_resources(text: str) -> dict[str, str]:
    """`a=1, b=x` (the log's resources line) -> {"a": "1", "b": "x"}."""
    out = {}
    for item in text.split(", "):
        key, sep, value = item.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def parse_log(text: str) -> RunLog:
    """The job starts, SLURM submissions and restarts of a Snakemake log."""
    run_id = None
    blocks: list[JobBlock] = []
    latest: dict[int, JobBlock] = {}
    submissions: list[Submission] = []
    restarted: set[int] = set()
    current: JobBlock | None = None
    for line in text.splitlines():
        if m := RULE_RE.match(line):
            current = JobBlock(rule=m.group(2), local=bool(m.group(1)))
            blocks.append(current)
            continue
        if current is not None and (m := JOBID_RE.match(line)):
            current.jobid = int(m.group(1))
            latest[current.jobid] = current
            continue
        if current is not None and (m := RESOURCES_RE.match(line)):
            current.resources = parse_resources(m.group(1))
            continue
        if m := SUBMIT_RE.search(line):
            jobid = int(m.group(1))
            if jobid not in latest:
                raise CheckError(f"the log submits Snakemake job {jobid} before it names its rule: {line.strip()}")
            block = latest[jobid]
            submissions.append(Submission(block.rule, jobid, m.group(2), block.gpus, m.group(3)))
        elif m := RUN_ID_RE.search(line):
            run_id = m.group(1)
        elif m := RESTART_RE.search(line):
            restarted.add(int(m.group(1)))
    return RunLog(run_id, blocks, submissions, restarted)


def gpu_and_cpu_partitions(partition_file: Path) -> tuple[set[str], set[str]]:
    """Partition names of the profile's partition file, split by max_gpu > 0."""
    spec = yaml.safe_load(partition_file.read_text())["partitions"]
    gpu = {name for name, limits in spec.items() if (limits or {}).get("max_gpu", 0) > 0}
    return gpu, set(spec) - gpu


def slurm_jobs(run_id: str) -> dict[str, dict[str, str]]:
    """squeue's view of every job of one Snakemake run (its job name is the run id)."""
    out = subprocess.run(
        ["squeue", "--noheader", "--states=all", "--name", run_id, "--format=%i|%P|%T|%k"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    jobs = {}
    for line in out.splitlines():
        if line.strip():
            job_id, partition, state, comment = (part.strip() for part in line.split("|", 3))
            jobs[job_id] = {"partition": partition, "state": state, "comment": comment}
    for job_id, info in jobs.items():
        shown = subprocess.run(["scontrol", "show", "job", job_id], check=True, capture_output=True, text=True).stdout
        for key in ("TresPerJob", "SubmitTime", "EndTime"):
            m = re.search(rf"\b{key}=(\S*)", shown)
            info[key] = m.group(1) if m else ""
        info["tres_per_job"] = info.pop("TresPerJob")
    return jobs


def check_run(
    name: str,
    log_path: Path,
    gpu_partitions: set[str],
    cpu_partitions: set[str],
    cancelled: set[str] = frozenset(),
    check_job_logs: bool = True,
) -> tuple[RunLog, dict[str, dict[str, str]]]:
    """Every non-local job of the run went to SLURM, to the right partition, and completed."""
    log = parse_log(log_path.read_text())
    if log.run_id is None:
        raise CheckError(f"{name}: no 'SLURM run ID' in {log_path}: the run did not use the slurm executor")
    remote_blocks = [b for b in log.blocks if not b.local]
    if not remote_blocks:
        raise CheckError(f"{name}: the log {log_path} shows no job that ran on the cluster")
    if len(remote_blocks) != len(log.submissions):
        raise CheckError(
            f"{name}: {len(remote_blocks)} job starts but {len(log.submissions)} SLURM submissions in {log_path}: "
            "some job did not run as a SLURM job"
        )
    jobs = slurm_jobs(log.run_id)
    submitted = {s.slurm_jobid for s in log.submissions}
    if set(jobs) != submitted:
        raise CheckError(
            f"{name}: SLURM knows jobs {sorted(jobs, key=int)} of run {log.run_id}, "
            f"the log submitted {sorted(submitted, key=int)}"
        )
    for sub in log.submissions:
        job = jobs[sub.slurm_jobid]
        where = f"{name}: SLURM job {sub.slurm_jobid} (rule {sub.rule}, Snakemake job {sub.snakemake_jobid})"
        if job["comment"] != f"rule_{sub.rule}" and not job["comment"].startswith(f"rule_{sub.rule}_wildcards_"):
            raise CheckError(f"{where} carries the comment {job['comment']!r}: it is not that rule's job")
        asked_gpu = "gpu" in job["tres_per_job"]
        if sub.gpus > 0:
            if job["partition"] not in gpu_partitions or not asked_gpu:
                raise CheckError(
                    f"{where} declares gpu={sub.gpus} but ran in partition {job['partition']!r} "
                    f"with TresPerJob={job['tres_per_job']!r}; "
                    f"expected one of {sorted(gpu_partitions)} and a gpu request"
                )
        elif job["partition"] not in cpu_partitions or asked_gpu:
            raise CheckError(
                f"{where} needs no GPU but ran in partition {job['partition']!r} with TresPerJob="
                f"{job['tres_per_job']!r}; expected one of {sorted(cpu_partitions)} and no gpu request"
            )
        expected = "CANCELLED" if sub.slurm_jobid in cancelled else "COMPLETED"
        if job["state"] != expected:
            raise CheckError(f"{where} ended {job['state']}, expected {expected}")
        # The job's own output (Snakemake inside the allocation), written by slurmstepd.
        if expected == "COMPLETED" and check_job_logs:
            if not sub.slurm_log or not Path(sub.slurm_log).is_file() or not Path(sub.slurm_log).stat().st_size:
                raise CheckError(f"{where} left no SLURM job log ({sub.slurm_log})")
    return log, jobs


def check_gpu_rules(
    name: str, log: RunLog, jobs: dict, gpu_partitions: set[str], expected: set[str]
) -> dict[str, list[str]]:
    """Each rule of `expected` ran on SLURM as a completed job with a GPU request in a GPU partition.

    check_run already rejects a misplaced job; this makes sure that the run held
    every expected GPU rule at all (a target that lost one would pass check_run).
    Returns rule -> its SLURM job ids.
    """
    found: dict[str, list[str]] = {}
    for sub in log.submissions:
        job = jobs.get(sub.slurm_jobid, {})
        if (
            sub.rule in expected
            and sub.gpus > 0
            and job.get("partition") in gpu_partitions
            and "gpu" in job.get("tres_per_job", "")
            and job.get("state") == "COMPLETED"
        ):
            found.setdefault(sub.rule, []).append(sub.slurm_jobid)
    missing = sorted(set(expected) - set(found))
    if missing:
        ran = sorted({s.rule for s in log.submissions})
        raise CheckError(
            f"{name}: GPU rule(s) {missing} did not run as a completed SLURM job with a GPU request "
            f"in {sorted(gpu_partitions)}; the run submitted rules {ran}: "
            "the study target must include every GPU rule"
        )
    return found


def read_fields(path: Path) -> dict[str, str]:
    """A probe file's `key=value` lines."""
    if not path.exists():
        raise CheckError(f"{path} is missing: the probe workflow did not finish")
    return dict(line.split("=", 1) for line in path.read_text().split() if "=" in line)


def check_probe(workdir: Path, log: RunLog, jobs: dict, cancelled_job: str, gpu_partitions: set[str]) -> None:
    """The probe jobs saw what SLURM gives a GPU job, a CPU job, and a retried job."""
    by_rule: dict[str, list[Submission]] = {}
    for sub in log.submissions:
        by_rule.setdefault(sub.rule, []).append(sub)

    gpu_subs = by_rule.get("gpu_probe", [])
    gpu_files = sorted((workdir / "probe").glob("gpu_*.txt"))
    if len(gpu_subs) != 2 or len(gpu_files) != 2:
        raise CheckError(f"expected 2 gpu_probe jobs and files, got {len(gpu_subs)} jobs and {len(gpu_files)} files")
    for path in gpu_files:
        gpu = read_fields(path)
        if gpu.get("job") not in {sub.slurm_jobid for sub in gpu_subs}:
            raise CheckError(f"{path} was written by job {gpu.get('job')}, not by a gpu_probe job of the log")
        if gpu.get("cuda") in (None, "", "unset") or gpu.get("partition") not in gpu_partitions:
            raise CheckError(f"a gpu=1 job saw {gpu}: expected CUDA_VISIBLE_DEVICES set by SLURM in a GPU partition")
    # The profile's global `gpu` resource (1 on the CI cluster): Snakemake must
    # hold the second GPU job back until the first ended, not leave it to SLURM.
    first, second = sorted(gpu_subs, key=lambda sub: jobs[sub.slurm_jobid]["SubmitTime"])
    if jobs[second.slurm_jobid]["SubmitTime"] < jobs[first.slurm_jobid]["EndTime"]:
        raise CheckError(
            f"GPU job {second.slurm_jobid} was submitted at {jobs[second.slurm_jobid]['SubmitTime']}, before GPU job "
            f"{first.slurm_jobid} ended at {jobs[first.slurm_jobid]['EndTime']}: "
            "the global gpu resource did not cap them"
        )

    cpu = read_fields(workdir / "probe" / "cpu.txt")
    if cpu.get("job") != by_rule["cpu_probe"][-1].slurm_jobid or cpu.get("cuda") != "unset":
        raise CheckError(f"the CPU job saw {cpu}: expected its own SLURM job id and no CUDA_VISIBLE_DEVICES")

    retried = read_fields(workdir / "probe" / "retried.txt")
    attempts = by_rule.get("killed_then_retried", [])
    if len(attempts) != 2:
        raise CheckError(f"killed_then_retried was submitted {len(attempts)} times, "
                         "expected 2 (cancelled, then retried)")
    first, second = attempts
    if first.slurm_jobid != cancelled_job or jobs[first.slurm_jobid]["state"] != "CANCELLED":
        raise CheckError(
            f"the first attempt of killed_then_retried is SLURM job {first.slurm_jobid} "
            f"({jobs[first.slurm_jobid]['state']}); the harness cancelled job {cancelled_job}"
        )
    if first.snakemake_jobid not in log.restarted:
        raise CheckError("the log does not show Snakemake restarting the cancelled job ('Trying to restart job')")
    if retried != {"attempt": "2", "job": second.slurm_jobid, "first_attempt_job": cancelled_job}:
        raise CheckError(
            f"probe/retried.txt says {retried}; expected attempt 2 in job {second.slurm_jobid} "
            f"after the cancelled job {cancelled_job}"
        )


# ---- SLURM results vs local results ---------------------------------------------------
# Two correct runs of the same job write the same bytes, except for records of
# the run itself. Those are listed here, each with its reason; every other file
# under results/ must be equal byte for byte. The two runs use the same folder
# (run_cluster_test.sh), so absolute paths recorded in results (the GAN's crop
# source) are equal and need no entry here.

# Top-level folders of results/ left out entirely.
VOLATILE_DIRS = {
    "logs": "job logs: timings, progress and warnings of one run",
    "benchmarks": "Snakemake benchmark TSVs: measured wall time, memory and I/O of one run",
}


@dataclass(frozen=True)
class Normalisation:
    """Result files (globs relative to results/) compared after removing `fields`."""

    patterns: tuple[str, ...]
    kind: str  # "csv" (fields: column names), "json" (top-level keys), "torch" (key paths, "*": every list item)
    fields: tuple[str, ...]
    reason: str

    def matches(self, rel: str) -> bool:
        return any(fnmatch.fnmatchcase(rel, pattern) for pattern in self.patterns)


GAN_DIR = "anonymizers/*/faces~*/anon_iters~*"
DET_DIR = "runs/anonymizer~*/faces~*/anon_iters~*/det_iters~*/seed~*"
# Training checkpoints (.pt) hold wall-time fields, so they are compared by
# their loaded contents (tensors by dtype, shape and bytes), less the fields
# listed. Every other .pt must be equal byte for byte: safefakes writes torch
# archives through a file object, so no temporary file name ends up inside.
NORMALISED = (
    Normalisation(
        (f"{GAN_DIR}/losses.csv", f"{GAN_DIR}/work/losses.csv", f"{DET_DIR}/detector_losses.csv",
         f"{DET_DIR}/detector_work/losses.csv"),
        "csv", ("seconds",),
        "training loss logs: their `seconds` column is the wall time since training started",
    ),
    Normalisation(
        (f"{DET_DIR}/detector_work/train_info.json",),
        "json", ("seconds",),
        "the detector's training record: `seconds` is its wall time",
    ),
    Normalisation(
        (f"{GAN_DIR}/model.pt", f"{GAN_DIR}/work/checkpoint.pt"),
        "torch", ("losses.*.seconds",),
        "GAN checkpoints: they embed the loss log with its wall-time column",
    ),
    Normalisation(
        (f"{DET_DIR}/detector.pt", f"{DET_DIR}/detector_work/checkpoint.pt"),
        "torch", ("seconds",),
        "detector checkpoints: `seconds` is the training wall time",
    ),
)


def _drop_columns(data: bytes, columns: tuple[str, ...]) -> bytes:
    rows = list(csv.reader(io.StringIO(data.decode())))
    if not rows:
        return data
    keep = [i for i, name in enumerate(rows[0]) if name not in columns]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[row[i] for i in keep if i < len(row)] for row in rows])
    return out.getvalue().encode()


def _drop_keys(data: bytes, keys: tuple[str, ...]) -> bytes:
    obj = json.loads(data)
    for key in keys:
        obj.pop(key, None)
    return json.dumps(obj, sort_keys=True).encode()


def _drop_path(obj, path: list[str]) -> None:
    """Remove the item at a dotted key path; "*" walks every item of a list or tuple."""
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(obj, (list, tuple)) and rest:
            for item in obj:
                _drop_path(item, rest)
        return
    if not isinstance(obj, dict) or head not in obj:
        return
    if rest:
        _drop_path(obj[head], rest)
    else:
        del obj[head]


def _digest_object(obj, digest) -> None:
    """Feed a loaded checkpoint to `digest` canonically: tensors and arrays by dtype, shape and bytes."""
    import numpy as np
    import torch

    if isinstance(obj, dict):
        digest.update(b"{")
        for key in sorted(obj, key=repr):
            digest.update(repr(key).encode() + b":")
            _digest_object(obj[key], digest)
        digest.update(b"}")
    elif isinstance(obj, (list, tuple)):
        digest.update(b"[" if isinstance(obj, list) else b"(")
        for item in obj:
            _digest_object(item, digest)
            digest.update(b",")
        digest.update(b"]")
    elif isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        digest.update(f"tensor:{t.dtype}:{tuple(t.shape)}:".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, np.ndarray):
        digest.update(f"array:{obj.dtype.str}:{obj.shape}:".encode())
        digest.update(np.ascontiguousarray(obj).tobytes())
    else:
        digest.update(f"{type(obj).__name__}:{obj!r}".encode())


def _torch_digest(path: Path, key_paths: tuple[str, ...]) -> bytes:
    import torch

    obj = torch.load(path, map_location="cpu", weights_only=False)  # our own run's file
    for key_path in key_paths:
        _drop_path(obj, key_path.split("."))
    digest = hashlib.sha256()
    _digest_object(obj, digest)
    return digest.digest()


def normalised_bytes(path: Path, rule: Normalisation) -> bytes:
    """What of `path` is compared under `rule`."""
    if rule.kind == "csv":
        return _drop_columns(path.read_bytes(), rule.fields)
    if rule.kind == "json":
        return _drop_keys(path.read_bytes(), rule.fields)
    if rule.kind == "torch":
        return _torch_digest(path, rule.fields)
    raise ValueError(f"unknown normalisation kind {rule.kind!r}")


def result_files(root: Path) -> dict[str, Path]:
    """Every file under root by relative path, without VOLATILE_DIRS."""
    return {
        rel.as_posix(): path
        for path in sorted(root.rglob("*"))
        if path.is_file() and (rel := path.relative_to(root)).parts[0] not in VOLATILE_DIRS
    }


@dataclass
class Comparison:
    identical: list[str] = field(default_factory=list)  # equal byte for byte
    normalised: dict[str, list[str]] = field(default_factory=dict)  # reason -> files equal only once normalised


def check_same_results(slurm_results: Path, local_results: Path) -> Comparison:
    """The SLURM run's results equal the local run's, file by file (see NORMALISED)."""
    on_slurm, local = result_files(slurm_results), result_files(local_results)
    if not local:
        raise CheckError(f"the local run left no results in {local_results}")
    only_slurm, only_local = sorted(set(on_slurm) - set(local)), sorted(set(local) - set(on_slurm))
    if only_slurm or only_local:
        raise CheckError(f"results differ in files: only on SLURM {only_slurm[:5]}, only local {only_local[:5]}")
    result, differing = Comparison(), []
    for rel in sorted(local):
        if local[rel].read_bytes() == on_slurm[rel].read_bytes():
            result.identical.append(rel)
            continue
        rule = next((r for r in NORMALISED if r.matches(rel)), None)
        if rule is not None and normalised_bytes(local[rel], rule) == normalised_bytes(on_slurm[rel], rule):
            result.normalised.setdefault(rule.reason, []).append(rel)
        else:
            differing.append(rel + (f" (even without {', '.join(rule.fields)})" if rule else ""))
    if differing:
        raise CheckError(f"{len(differing)} of {len(local)} result files differ between SLURM and local: "
                         f"{differing[:5]}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partitions", type=Path, required=True, help="the profile's partition file")
    parser.add_argument("--probe-dir", type=Path, required=True, help="workdir of the probe workflow run")
    parser.add_argument("--probe-log", type=Path, required=True)
    parser.add_argument("--cancelled-job", required=True, help="SLURM id of the job the harness cancelled")
    parser.add_argument("--study-log", type=Path, required=True, help="log of the study target on SLURM")
    parser.add_argument("--study-results", type=Path, required=True, help="results folder of the SLURM run")
    parser.add_argument("--local-results", type=Path, required=True, help="results folder of the local run")
    parser.add_argument(
        "--gpu-rules", default=" ".join(sorted(STUDY_GPU_RULES)),
        help="rules that must each run as a SLURM GPU job in the study target (default: %(default)s)",
    )  # fmt: skip
    args = parser.parse_args(argv)

    try:
        gpu_parts, cpu_parts = gpu_and_cpu_partitions(args.partitions)
        probe_log, probe_jobs = check_run("probe", args.probe_log, gpu_parts, cpu_parts, {args.cancelled_job})
        check_probe(args.probe_dir, probe_log, probe_jobs, args.cancelled_job, gpu_parts)
        study_log, study_jobs = check_run("study", args.study_log, gpu_parts, cpu_parts)
        gpu_jobs = check_gpu_rules("study", study_log, study_jobs, gpu_parts, set(args.gpu_rules.split()))
        same = check_same_results(args.study_results, args.local_results)
    except CheckError as error:
        print(f"FAIL: {error}", file=sys.stderr)
        return 1

    def rules(log: RunLog) -> str:
        counts: dict[str, int] = {}
        for sub in log.submissions:
            counts[sub.rule] = counts.get(sub.rule, 0) + 1
        return ", ".join(f"{rule} x{n}" for rule, n in sorted(counts.items()))

    def n_gpu(log: RunLog) -> int:
        return sum(1 for s in log.submissions if s.gpus > 0)

    print(
        f"probe: {len(probe_jobs)} SLURM jobs, {n_gpu(probe_log)} with a GPU request ({rules(probe_log)}); "
        f"GPU jobs one at a time; job {args.cancelled_job} cancelled mid-run and retried"
    )
    print(f"study: {len(study_jobs)} SLURM jobs, {n_gpu(study_log)} with a GPU request ({rules(study_log)})")
    print(
        "study: every GPU rule ran as a SLURM GPU job in partition(s) "
        f"{sorted(gpu_parts)}: " + ", ".join(f"{rule} (job {'/'.join(ids)})" for rule, ids in sorted(gpu_jobs.items()))
    )
    n_same = len(same.identical) + sum(len(files) for files in same.normalised.values())
    print(f"study: {n_same} result files equal to the local run's, {len(same.identical)} of them byte for byte")
    for reason, files in same.normalised.items():
        print(f"  equal once normalised ({reason}): {', '.join(files)}")
    print(f"  not compared: {', '.join(f'{d}/ ({why})' for d, why in VOLATILE_DIRS.items())}")
    print(
        f"SLURM jobs in all: {len(probe_jobs) + len(study_jobs)}, "
        f"of which {n_gpu(probe_log) + n_gpu(study_log)} with a GPU request"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
