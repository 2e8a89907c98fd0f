#!/usr/bin/env bash
# `make test-paper`: the scale-reduced paper run.
#
#  1. write the fixtures (tests/paper/build_fixtures.py): a tiny WIDER FACE tree,
#     FDF, CelebA and PIPA, and the four pretrained weight files, in their real
#     layouts, seeded; kept when already built by the same code;
#  2. run `snakemake --configfile presets/paper.yaml tests/paper/overrides.yaml`
#     from an empty results folder (every rule of the paper DAG runs);
#  3. check what the jobs ran on and with (tests/paper/check_paper_run.py).
# Budget: 15 minutes on 2 CPU cores (PAPER_TEST_TIMEOUT, seconds, caps the run).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
WORK=build/paper-test  # the overrides' paths point here (relative to the repository)
TIMEOUT=${PAPER_TEST_TIMEOUT:-1500}

log() { echo "[test-paper] $*" >&2; }
t0=$(date +%s)
log "fixtures -> $WORK/fixtures"
"$PYTHON" tests/paper/build_fixtures.py "$WORK/fixtures"
rm -rf "$WORK/results"
log "snakemake: presets/paper.yaml + tests/paper/overrides.yaml (log: $WORK/snakemake.log)"
set +e
# No GPU here: the jobs run on the CPU; gpu=1 serialises the network jobs as on one GPU.
timeout -s INT "$TIMEOUT" "$PYTHON" -m snakemake --configfile presets/paper.yaml tests/paper/overrides.yaml \
    --cores 2 --resources gpu=1 --profile profiles/default >"$WORK/snakemake.log" 2>&1
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
  tail -n 60 "$WORK/snakemake.log" >&2
  log "FAIL: snakemake exited $rc"
  exit 1
fi
"$PYTHON" tests/paper/check_paper_run.py "$WORK/results" "$WORK/fixtures"
log "passed in $(( $(date +%s) - t0 )) s"
