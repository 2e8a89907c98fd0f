#!/usr/bin/env bash
# Stop the CI cluster that start-cluster.sh started: cancel its jobs, stop the
# daemons whose PIDs it recorded (slurmd, slurmctld, and munged only if it was
# started by us), and verify that they are gone. Safe to call when nothing runs.
set -euo pipefail

STATE=${SAFEFAKES_SLURM_DIR:-/tmp/safefakes-slurm}
PIDS=$STATE/pids
export SLURM_CONF=$STATE/etc/slurm.conf
export PATH=$PATH:/usr/sbin:/sbin

log() { echo "[stop-cluster] $*" >&2; }

alive() {  # alive PID NAME: is PID a running process called NAME?
  [[ -n ${1:-} && -r /proc/$1/comm ]] && [[ $(cat "/proc/$1/comm" 2>/dev/null) == "$2" ]]
}

if [[ ! -f $PIDS ]]; then
  log "no cluster recorded in $STATE; nothing to stop"
  exit 0
fi

ctld_pid=$(awk '$1 == "slurmctld" { print $2 }' "$PIDS" | tail -n 1)
if alive "$ctld_pid" slurmctld && command -v squeue >/dev/null; then
  # Cancel the jobs first, so that no job step outlives its slurmd.
  jobs=$(squeue --noheader --states=PENDING,RUNNING,SUSPENDED,COMPLETING --format=%i 2>/dev/null || true)
  if [[ -n $jobs ]]; then
    log "cancelling jobs: $(echo $jobs)"
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null || true
    for _ in $(seq 40); do
      [[ -z $(squeue --noheader --states=PENDING,RUNNING,SUSPENDED,COMPLETING --format=%i 2>/dev/null || true) ]] && break
      sleep 0.5
    done
  fi
fi

# Job steps (slurmstepd) started by our slurmd: stopped with their jobs above;
# any left (e.g. a job in KillWait) is killed by pid before slurmd goes.
steps=()
for comm in /proc/[0-9]*/comm; do
  [[ $(cat "$comm" 2>/dev/null) == slurmstepd ]] && steps+=("$(basename "$(dirname "$comm")")")
done
if ((${#steps[@]})); then
  log "killing leftover job steps: ${steps[*]}"
  kill -KILL "${steps[@]}" 2>/dev/null || true
fi

failed=0
# Reverse start order: slurmd, slurmctld, then munged (which they use).
for name in slurmd slurmctld munged; do
  pid=$(awk -v n="$name" '$1 == n { print $2 }' "$PIDS" | tail -n 1)
  [[ -n $pid ]] || continue
  if ! alive "$pid" "$name"; then
    log "$name (pid $pid) already gone"
    continue
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    alive "$pid" "$name" || break
    sleep 0.2
  done
  if alive "$pid" "$name"; then
    log "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  if alive "$pid" "$name"; then
    log "ERROR: $name (pid $pid) is still running"
    failed=1
  else
    log "$name (pid $pid) stopped"
  fi
done

# The /etc/slurm/slurm.conf link that start-cluster.sh made (if it still points to us).
link=$(awk '$1 == "link" { print $2 }' "$PIDS" | tail -n 1)
if [[ -n $link && -L $link && $(readlink "$link") == "$SLURM_CONF" ]]; then
  rm -f "$link"
  log "removed $link"
fi

if ((failed)); then
  exit 1
fi
rm -f "$PIDS"
log "cluster stopped"
