#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine, for `make test-cluster`.
#
# The node is this host (`hostname -s`), with its real CPU count, 90% of its
# memory and one fake GPU (a gres backed by /dev/null: SLURM then sets
# CUDA_VISIBLE_DEVICES=0 in jobs that ask for --gpus=1, which is all the
# workflow's GPU rules need to prove they were scheduled as GPU jobs).
# Partitions: `cpu` (default) and `gpu`, both on that node.
#
# Nothing depends on systemd: the daemons are started by hand, their PIDs are
# recorded in $SAFEFAKES_SLURM_DIR/pids, and stop-cluster.sh stops exactly those.
# Idempotent: with the cluster already up, a second call only reports it.
#
# Usage: .ci/slurm/start-cluster.sh      (as root)
# Then:  export SLURM_CONF=$SAFEFAKES_SLURM_DIR/etc/slurm.conf   (also in $SAFEFAKES_SLURM_DIR/env)
set -euo pipefail

STATE=${SAFEFAKES_SLURM_DIR:-/tmp/safefakes-slurm}
CONF_DIR=$STATE/etc
CONF=$CONF_DIR/slurm.conf
PIDS=$STATE/pids
export SLURM_CONF=$CONF

log() { echo "[start-cluster] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root: slurmd must be root and the daemons are installed with apt"

alive() {  # alive PID NAME: is PID a running process called NAME?
  [[ -n ${1:-} && -r /proc/$1/comm ]] && [[ $(cat "/proc/$1/comm" 2>/dev/null) == "$2" ]]
}

recorded_pid() {  # recorded_pid NAME: the PID we recorded for NAME, if any
  if [[ -f $PIDS ]]; then awk -v n="$1" '$1 == n { print $2 }' "$PIDS" | tail -n 1; fi
}

node_state() {
  sinfo --noheader --nodes "$NODE" --format %t 2>/dev/null | head -n 1 | tr -d '*~#!%$@^-' || true
}

# --- 1. packages --------------------------------------------------------------
missing=()
for bin in slurmctld slurmd sbatch munged; do
  command -v "$bin" >/dev/null 2>&1 || [[ -x /usr/sbin/$bin ]] || missing+=("$bin")
done
if ((${#missing[@]})); then
  log "installing SLURM and munge (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi
export PATH=$PATH:/usr/sbin:/sbin
NODE=$(hostname -s)

# --- 2. already running? ------------------------------------------------------
ctld_pid=$(recorded_pid slurmctld)
slurmd_pid=$(recorded_pid slurmd)
if alive "$ctld_pid" slurmctld && alive "$slurmd_pid" slurmd && scontrol ping >/dev/null 2>&1; then
  state=$(node_state)
  if [[ $state == idle || $state == mix || $state == alloc ]]; then
    log "cluster already running (slurmctld $ctld_pid, slurmd $slurmd_pid, node $NODE $state)"
    echo "export SLURM_CONF=$CONF"
    exit 0
  fi
fi
if [[ -f $PIDS ]]; then
  # A half-up cluster from an earlier run: stop what it left, then start afresh.
  log "found a stale or partial cluster in $STATE; stopping it first"
  bash "$(dirname "$0")/stop-cluster.sh"
fi

# --- 3. configuration, in a folder of our own -----------------------------------
mkdir -p "$CONF_DIR" "$STATE/spool" "$STATE/state" "$STATE/log" "$STATE/run"
# Fresh controller state: jobs of an earlier cluster must not come back.
rm -rf "${STATE:?}/state/"* "${STATE:?}/spool/"*
chown slurm:slurm "$STATE/state" "$STATE/log" "$STATE/run"

# The node line as slurmd sees the hardware (CPUs, sockets, cores, threads),
# with RealMemory lowered to 90%: declaring more memory than the node has puts
# it in INVAL state; a cgroup limit below the physical memory counts too.
hw=$(slurmd -C | head -n 1)
mem_mb=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
for limit_file in /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes; do
  if [[ -r $limit_file ]]; then
    limit=$(cat "$limit_file")
    if [[ $limit =~ ^[0-9]+$ ]] && ((limit / 1048576 < mem_mb)); then
      mem_mb=$((limit / 1048576))
    fi
  fi
done
mem_mb=$((mem_mb * 9 / 10))
topology=$(grep -o 'CPUs=[0-9]* .*ThreadsPerCore=[0-9]*' <<<"$hw")
[[ -n $topology && $mem_mb -gt 0 ]] || die "could not read the node's hardware from 'slurmd -C': $hw"

tmp_conf=$(mktemp "$CONF_DIR/.slurm.conf.XXXXXX")
cat >"$tmp_conf" <<EOF
# Written by .ci/slurm/start-cluster.sh: a single-node CI cluster. Do not edit.
ClusterName=safefakes-ci
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
# No cgroups (containers often have none to give): processes tracked by
# parent pid, no task binding; enough for a CI cluster.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
# No slurmdbd: sacct does not answer, so the profile uses squeue for status.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=5
MpiDefault=none
ReturnToService=2
# squeue must still show finished jobs when the executor polls
# (the plugin wants MinJobAge >= 3 x its first status-check delay).
MinJobAge=600
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$NODE NodeAddr=127.0.0.1 $topology RealMemory=$mem_mb Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE Default=NO MaxTime=INFINITE State=UP
EOF
mv "$tmp_conf" "$CONF"

# A gres needs a device file, or the node goes INVAL; /dev/null stands in for
# the GPU, and AutoDetect=off keeps slurmd from looking for NVML.
cat >"$CONF_DIR/gres.conf.tmp" <<EOF
AutoDetect=off
NodeName=$NODE Name=gpu File=/dev/null
EOF
mv "$CONF_DIR/gres.conf.tmp" "$CONF_DIR/gres.conf"

# Read by slurmd only when a cgroup plugin is configured; none is (see
# ProctrackType/TaskPlugin), so this documents the choice and stays inert.
cat >"$CONF_DIR/cgroup.conf.tmp" <<EOF
# The CI cluster uses proctrack/linuxproc and task/none: no cgroup is created.
CgroupPlugin=autodetect
EOF
mv "$CONF_DIR/cgroup.conf.tmp" "$CONF_DIR/cgroup.conf"
chmod 644 "$CONF" "$CONF_DIR/gres.conf" "$CONF_DIR/cgroup.conf"
echo "export SLURM_CONF=$CONF" >"$STATE/env"
: >"$PIDS"

# Inside a job, the executor's jobstep runs `srun` with every SLURM_* variable
# but a few removed, SLURM_CONF included: srun then needs the config where a
# real cluster keeps it. Link it there, unless the machine has a SLURM config
# of its own, which we must not replace.
SYSTEM_CONF=/etc/slurm/slurm.conf
if [[ -L $SYSTEM_CONF || ! -e $SYSTEM_CONF ]]; then
  mkdir -p /etc/slurm
  ln -sfn "$CONF" "$SYSTEM_CONF"
  echo "link $SYSTEM_CONF" >>"$PIDS"
else
  die "$SYSTEM_CONF exists and is not ours; this script starts a throw-away cluster and will not replace it"
fi

# --- 4. munge -------------------------------------------------------------------
if [[ ! -s /etc/munge/munge.key ]]; then
  log "creating /etc/munge/munge.key"
  install -d -o munge -g munge -m 0700 /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge

if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "munged already running (not started by us; left alone)"
else
  rm -f /run/munge/munged.pid
  runuser -u munge -- munged --pid-file=/run/munge/munged.pid
  for _ in $(seq 50); do
    [[ -s /run/munge/munged.pid ]] && munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.1
  done
  munge_pid=$(cat /run/munge/munged.pid 2>/dev/null || true)
  alive "$munge_pid" munged || die "munged did not start; see /var/log/munge/munged.log"
  echo "munged $munge_pid" >>"$PIDS"
  log "munged started (pid $munge_pid)"
fi

# --- 5. slurmctld and slurmd --------------------------------------------------------
start_daemon() {  # start_daemon NAME PIDFILE COMMAND...
  local name=$1 pidfile=$2
  shift 2
  rm -f "$pidfile"
  "$@"
  local pid=""
  for _ in $(seq 100); do
    pid=$(cat "$pidfile" 2>/dev/null || true)
    alive "$pid" "$name" && break
    sleep 0.1
  done
  if ! alive "$pid" "$name"; then
    tail -n 20 "$STATE/log/$name.log" >&2 2>/dev/null || true
    die "$name did not start; see $STATE/log/$name.log"
  fi
  echo "$name $pid" >>"$PIDS"
  log "$name started (pid $pid)"
}
# -i: ignore (here: absent) saved state instead of refusing to start.
start_daemon slurmctld "$STATE/run/slurmctld.pid" slurmctld -i -f "$CONF"
start_daemon slurmd "$STATE/run/slurmd.pid" slurmd -f "$CONF"

# --- 6. wait for the node ---------------------------------------------------------
state=""
for _ in $(seq 60); do
  state=$(node_state)
  [[ $state == idle ]] && break
  sleep 0.5
done
if [[ $state != idle ]]; then
  sinfo -N -l >&2 || true
  scontrol show node "$NODE" >&2 || true
  tail -n 20 "$STATE/log/slurmd.log" >&2 || true
  die "node $NODE is '$state', not idle, after 30 s"
fi
log "node $NODE idle: $topology RealMemory=$mem_mb Gres=gpu:1; partitions cpu (default), gpu"
echo "export SLURM_CONF=$CONF"
