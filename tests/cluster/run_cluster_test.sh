#!/usr/bin/env bash
# `make test-cluster`: run the workflow through the real SLURM executor plugin
# on a one-node SLURM cluster started on this machine, and check it.
#
#  1. start the cluster (.ci/slurm/start-cluster.sh; stopped again on any exit);
#  2. run the probe workflow (tests/cluster/Snakefile) on it: a CPU job, two
#     gpu=1 jobs, and a job that this script cancels (scancel) mid-run, which
#     the profile's `retries` must resubmit;
#  3. run STUDY_TARGETS on the cluster, with tests/cluster/study.yaml: by
#     default the mAP, the image metrics and the detector view of one
#     DeepPrivacy grid point (faces~8/anon_iters~8/det_iters~2/seed~0), i.e.
#     synthetic_dataset, identity_recognizer, train_anonymizer, anonymize_gan,
#     audit, reference_features, image_metrics, train_detector (DeepPrivacy's
#     and the original's, the view's frozen detector), predict, evaluate_map,
#     view_predict (on the DeepPrivacy split and the original) and
#     detector_view: 14 SLURM jobs, among them every GPU rule of the study
#     (9 GPU jobs);
#  4. check (check_cluster_run.py) that every job ran as a SLURM job, GPU jobs
#     with a GPU request in the GPU partition, that each of the study's GPU
#     rules ran as such a job, that the cancelled job was retried, and that the
#     SLURM results equal the local ones byte for byte (but for logs/, benchmarks/,
#     and the files that the checker's NORMALISED lists with its reasons:
#     wall-time fields, unseeded RNG states, torch archive names);
#  5. stop the cluster and check that its daemons are gone.
# Both Snakemake runs on SLURM use the site profile plus the CI override:
#   --profile profiles/slurm --profile profiles/slurm-ci --workflow-profile none
# each wrapped in `timeout -s INT` (the plugin ignores SIGTERM).
# The local run of STUDY_TARGETS that step 4 compares with runs from the start,
# alongside steps 2 and 3 (they mostly wait for SLURM's status polls), in
# $WORK/study-local mounted (private mount namespace) on $WORK/study, the SLURM
# run's folder: both runs see the same absolute paths, which results record.
# Needs root (the cluster's daemons, the mount); takes about 5 minutes on 2 CPU cores.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)

# ---- The study target run on the cluster: change it here. ------------------------
# Rule names or paths relative to the run's folder (e.g. results/runs/...), run
# with tests/cluster/study.yaml instead of config.yaml. It should contain every
# GPU rule of the study, at the smallest size that still runs them; the checker
# fails unless each of its STUDY_GPU_RULES ran as a SLURM GPU job.
POINT=results/runs/anonymizer~deepprivacy/faces~8/anon_iters~8
STUDY_TARGETS=${STUDY_TARGETS:-"$POINT/det_iters~2/seed~0/map.json $POINT/image_metrics.json $POINT/detector_view.json"}
STUDY_CONFIG=${STUDY_CONFIG:-$REPO/tests/cluster/study.yaml}
# -----------------------------------------------------------------------------------
STUDY_SNAKEFILE=${STUDY_SNAKEFILE:-$REPO/Snakefile}
WORK=${CLUSTER_TEST_DIR:-/tmp/safefakes-cluster-test}
RUN_TIMEOUT=${CLUSTER_TEST_RUN_TIMEOUT:-420}  # seconds, per Snakemake run
PROFILES=(--profile "$REPO/profiles/slurm" --profile "$REPO/profiles/slurm-ci" --workflow-profile none)
PARTITIONS=$REPO/profiles/slurm/partitions.yaml

# The jobs run `python -m snakemake` with the interpreter of this Snakemake.
export PATH=$REPO/.venv/bin:$PATH
# The fake GPU must come from SLURM, not from this shell's environment
# (sbatch --export=ALL passes it on).
unset CUDA_VISIBLE_DEVICES SLURM_JOB_ID SLURM_JOBID
export SAFEFAKES_SLURM_DIR=${SAFEFAKES_SLURM_DIR:-/tmp/safefakes-slurm}

log() { echo "[test-cluster] $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

t0=$(date +%s)
cluster_up=0
probe_pid=""
local_pid=""
stop_run() {  # stop_run PID: a background Snakemake run still going when this script exits early
  local pid=$1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  local child
  child=$(pgrep -P "$pid" || true)  # snakemake under `exec timeout`, or timeout (which passes the signal on)
  # SIGINT: the plugin ignores SIGTERM; on SIGINT it cancels its jobs.
  kill -INT $child 2>/dev/null || true
  for _ in $(seq 60); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  kill -KILL $child "$pid" 2>/dev/null || true
}
stop_cluster() {
  local rc=$?
  stop_run "$probe_pid"
  stop_run "$local_pid"
  if ((cluster_up)); then
    bash "$REPO/.ci/slurm/stop-cluster.sh" || rc=1
  fi
  exit $rc
}
trap stop_cluster EXIT
trap 'exit 130' INT TERM

cluster_up=1
bash "$REPO/.ci/slurm/start-cluster.sh" >/dev/null
export SLURM_CONF=$SAFEFAKES_SLURM_DIR/etc/slurm.conf
cp "$SAFEFAKES_SLURM_DIR/pids" "$SAFEFAKES_SLURM_DIR/pids.test"

rm -rf "$WORK"
mkdir -p "$WORK/probe" "$WORK/study" "$WORK/study-local"
# STUDY_CONFIG is a complete config: a --configfile replaces config.yaml.
read -r -a targets <<<"$STUDY_TARGETS"

# ---- the study target locally, in the background: the reference of step 4 ----------
# In a mount namespace of its own where $WORK/study is $WORK/study-local: the
# SLURM run (step 3) uses $WORK/study, so both record the same paths (e.g. the
# GAN's crop folder), and each writes its own folder.
log "study target locally, in the background: ${targets[*]}"
t_local=$(date +%s)
(
  rc=0
  unshare --mount --propagation private -- \
    bash -c 'mount --bind "$1" "$2" && cd "$2" && shift 2 && exec "$@"' _ "$WORK/study-local" "$WORK/study" \
    timeout -s INT -k 30 "$RUN_TIMEOUT" snakemake "${targets[@]}" -s "$STUDY_SNAKEFILE" --workflow-profile none \
    --cores 2 --resources gpu=1 --configfile "$STUDY_CONFIG" || rc=$?
  date +%s >"$WORK/study-local.end"
  exit $rc
) >"$WORK/study-local.log" 2>&1 &
local_pid=$!

# ---- 2. the probe workflow, with one job cancelled mid-run ----------------------------
log "probe workflow on SLURM"
t_probe=$(date +%s)
(
  cd "$WORK/probe"
  exec timeout -s INT -k 30 "$RUN_TIMEOUT" snakemake -s "$REPO/tests/cluster/Snakefile" "${PROFILES[@]}"
) >"$WORK/probe.log" 2>&1 &
probe_pid=$!

# The first attempt of killed_then_retried writes its SLURM job id, then waits.
marker=$WORK/probe/probe/first_attempt.jobid
cancelled=""
for _ in $(seq $((RUN_TIMEOUT * 2))); do
  if [[ -s $marker ]]; then
    job=$(cat "$marker")
    if [[ $(squeue --noheader --jobs "$job" --format %T 2>/dev/null) == RUNNING ]]; then
      scancel "$job"
      cancelled=$job
      log "cancelled SLURM job $job (killed_then_retried, attempt 1) mid-run"
      break
    fi
  fi
  kill -0 "$probe_pid" 2>/dev/null || break
  sleep 0.5
done
probe_rc=0
wait "$probe_pid" || probe_rc=$?
probe_pid=""
t_probe=$(($(date +%s) - t_probe))
if ((probe_rc)); then
  tail -n 40 "$WORK/probe.log" >&2
  fail "the probe workflow failed on SLURM (exit $probe_rc); log: $WORK/probe.log"
fi
[[ -n $cancelled ]] || fail "never saw the first attempt of killed_then_retried running; log: $WORK/probe.log"

# ---- 3. the study target on SLURM --------------------------------------------------
log "study target on SLURM: ${targets[*]}"
t_study=$(date +%s)
study_rc=0
(
  cd "$WORK/study"
  timeout -s INT -k 30 "$RUN_TIMEOUT" snakemake "${targets[@]}" -s "$STUDY_SNAKEFILE" "${PROFILES[@]}" \
    --configfile "$STUDY_CONFIG"
) >"$WORK/study-slurm.log" 2>&1 || study_rc=$?
t_study=$(($(date +%s) - t_study))
if ((study_rc)); then
  tail -n 40 "$WORK/study-slurm.log" >&2
  fail "the study target failed on SLURM (exit $study_rc); log: $WORK/study-slurm.log"
fi

local_rc=0
wait "$local_pid" || local_rc=$?
local_pid=""
t_local=$(($(cat "$WORK/study-local.end" 2>/dev/null || date +%s) - t_local))
if ((local_rc)); then
  tail -n 40 "$WORK/study-local.log" >&2
  fail "the local run of the study target failed (exit $local_rc); log: $WORK/study-local.log"
fi

# ---- 4. what SLURM and the logs say ------------------------------------------------
python "$REPO/tests/cluster/check_cluster_run.py" \
  --partitions "$PARTITIONS" \
  --probe-dir "$WORK/probe" --probe-log "$WORK/probe.log" --cancelled-job "$cancelled" \
  --study-log "$WORK/study-slurm.log" \
  --study-results "$WORK/study/results" --local-results "$WORK/study-local/results"

# ---- 5. stop the cluster; its daemons must be gone ------------------------------------
cluster_up=0
bash "$REPO/.ci/slurm/stop-cluster.sh"
stopped=()
while read -r name pid; do
  [[ $name == link ]] && continue
  if [[ -r /proc/$pid/comm && $(cat "/proc/$pid/comm") == "$name" ]]; then
    fail "$name (pid $pid) is still running after stop-cluster.sh"
  fi
  stopped+=("$name $pid")
done <"$SAFEFAKES_SLURM_DIR/pids.test"
rm -f "$SAFEFAKES_SLURM_DIR/pids.test"
log "daemons gone: $(IFS=,; echo "${stopped[*]}")"

log "PASS in $(($(date +%s) - t0)) s (probe on SLURM ${t_probe} s, then study target on SLURM ${t_study} s; alongside, study target locally ${t_local} s)"
