#!/usr/bin/env bash
# slurm-local.sh start|stop|status — a single-node Slurm cluster on this machine (controller and
# compute node on localhost), for testing `effiseg sweep --executor slurm` against the real
# scheduler. Debian 12's slurm-wlm 22.05 and munge; needs root.
#
#   start   installs slurmctld, slurmd, slurm-client and munge with apt-get where they are
#           missing, creates the munge key, writes /etc/slurm/slurm.conf for this machine's
#           CPUs and memory (`slurmd -C`), starts munged, slurmctld and slurmd, and waits until
#           the node accepts jobs. Idempotent: what already runs is left alone.
#   stop    stops the three daemons (by the pids in their pid files).
#   status  sinfo's view; exit 0 when this script's cluster is up (never for another Slurm, so
#           tests cannot submit to a real cluster by mistake).
#
# It never touches a Slurm it did not configure: an existing /etc/slurm/slurm.conf without this
# script's marker line stops it with a message. No cgroups (proctrack/linuxproc, task/none), so
# it runs in containers; no accounting database (sacct is unavailable, squeue works).
# Exit codes: 0 done, 1 failure, 2 usage, 3 cannot run here (not root, no apt-get).
set -euo pipefail

MARKER="# written by effiseg scripts/slurm-local.sh"
CONF=/etc/slurm/slurm.conf
RUN=/run/effiseg-slurm
LOGS=/var/log/slurm
PACKAGES=(slurmctld slurmd slurm-client munge)

say() { echo "slurm-local: $*"; }
cannot() { say "$*" >&2; exit 3; }

installed() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null &&
    command -v munged >/dev/null
}

install_packages() {
  installed && return 0
  command -v apt-get >/dev/null || cannot "Slurm is not installed and there is no apt-get to install it"
  local start=$SECONDS
  say "installing ${PACKAGES[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
  installed || { say "apt-get finished but the Slurm commands are still missing" >&2; exit 1; }
  say "installed in $((SECONDS - start)) s"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_munge() {
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    say "created /etc/munge/munge.key"
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  if pid_alive /run/munge/munged.pid; then
    return 0
  fi
  runuser -u munge -- /usr/sbin/munged
  say "munged started"
}

write_config() {
  if [ -f "$CONF" ] && ! grep -qF "$MARKER" "$CONF"; then
    say "$CONF exists and was not written by this script: leaving this machine's Slurm alone" >&2
    exit 1
  fi
  local host cpus memory node
  host=$(hostname -s)
  # slurmd -C: this machine as Slurm sees it (CPUs, sockets, cores, threads, RealMemory)
  node=$(slurmd -C | head -n 1)
  cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$node")
  memory=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
  [ -n "$cpus" ] && [ -n "$memory" ] || { say "cannot read CPUs/RealMemory from 'slurmd -C': $node" >&2; exit 1; }
  mkdir -p /etc/slurm "$LOGS" /var/spool/slurmctld /var/spool/slurmd "$RUN"
  cat >"$CONF.new" <<EOF
$MARKER
# A single-node cluster for tests: controller and compute node are this machine ($host).
ClusterName=effiseg-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=$((memory / cpus))
MinJobAge=600
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$CONF.new" "$CONF"
  CONF_HOST=$host
}

wait_for_node() {
  local i state
  for i in $(seq 1 60); do
    state=$(sinfo -h -n "$CONF_HOST" -o %T 2>/dev/null | head -n 1 || true)
    case "$state" in
      idle*|mixed*|allocated*|completing*) say "node $CONF_HOST is $state"; return 0 ;;
      down*|drain*) scontrol update nodename="$CONF_HOST" state=resume 2>/dev/null || true ;;
    esac
    sleep 0.5
  done
  say "node $CONF_HOST did not come up (state '${state:-unknown}'); see $LOGS/slurmctld.log and $LOGS/slurmd.log" >&2
  exit 1
}

start() {
  [ "$(id -u)" = 0 ] || cannot "needs root (it installs packages and starts system daemons)"
  install_packages
  start_munge
  write_config
  if ! pid_alive "$RUN/slurmctld.pid"; then
    slurmctld
    say "slurmctld started"
  fi
  if ! pid_alive "$RUN/slurmd.pid"; then
    slurmd
    say "slurmd started"
  fi
  wait_for_node
}

stop_daemon() {
  local name=$1 pidfile=$2 pid i
  pid_alive "$pidfile" || return 0
  pid=$(cat "$pidfile")
  kill "$pid"
  for i in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || { say "$name stopped"; return 0; }
    sleep 0.25
  done
  say "$name (pid $pid) did not stop" >&2
  return 1
}

stop() {
  [ "$(id -u)" = 0 ] || cannot "needs root"
  stop_daemon slurmd "$RUN/slurmd.pid"
  stop_daemon slurmctld "$RUN/slurmctld.pid"
  stop_daemon munged /run/munge/munged.pid
}

status() {
  command -v sinfo >/dev/null || { say "Slurm is not installed"; return 1; }
  # only the cluster this script made counts: tests must not submit to a real one
  grep -qsF "$MARKER" "$CONF" || { say "$CONF was not written by this script"; return 1; }
  sinfo -h -o "%P %a %D %T %C" 2>/dev/null || { say "slurmctld does not answer"; return 1; }
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
