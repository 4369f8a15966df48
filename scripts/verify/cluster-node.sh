#!/usr/bin/env bash
# cluster-node.sh: one node of the several-node check of `npx zx Taskfile.ts verify --full`, run inside its
# container by the task (tasks/lib/verify-cluster.ts), which orders the calls across the containers.
#
# Usage: cluster-node.sh TARBALL PREFIX ACTION [ARGS...]
#   install controller COMPUTE,...  unpack; slurm_install.sh --full-init --container --enable-configless with
#                                   the compute nodes as its NodeName list (the controller runs no slurmd)
#   install compute CONTROLLER      unpack; slurm_install.sh --full-init --container --conf-server CONTROLLER
#                                   (the controller's slurm.key is already in /etc/slurm: it is never replaced)
#   start slurmctld|slurmd          the daemon, started with the command slurm_install.sh --print-commands gives
#   idle NODE,... [SECONDS]         wait (bounded: SECONDS, default NODE_CHECK_WAIT) until every NODE is idle
#   not-responding NODE             a batch job for NODE makes slurmctld try it; wait (bounded) for NODE to be
#                                   marked not responding (sinfo '*') or down
#   srun N                          srun -N N hostname, the hosts it printed (sorted, one line)
#
# Prints `STEP <name> ok|FAIL <detail>` lines; exits 1 after a FAIL. Every wait is bounded (NODE_CHECK_WAIT).
set -uo pipefail

tarball=${1:?usage: cluster-node.sh TARBALL PREFIX ACTION [ARGS...]}
prefix=${2:?usage: cluster-node.sh TARBALL PREFIX ACTION [ARGS...]}
action=${3:?usage: cluster-node.sh TARBALL PREFIX ACTION [ARGS...]}
shift 3
WAIT=${NODE_CHECK_WAIT:-60}
installer=$prefix/data/slurm_assets/slurm_install.sh
export SLURM_CONF=/etc/slurm/slurm.conf
bin=$prefix/view/bin

step() { printf 'STEP %s %s %s\n' "$1" "$2" "${3:-}"; }
fail() {
  step "$1" FAIL "$2"
  exit 1
}
one_line() { tail -n "${2:-3}" "$1" 2>/dev/null | tr '\n' ' '; }

# states NODE,...: "name state" pairs from sinfo, one line
states() { "$bin/sinfo" -h -N -n "$1" -o '%N %T' 2>&1 | sort -u | tr '\n' ' '; }

install_node() {
  local role=$1 arg=$2 name log=/tmp/cluster-install.log
  name=$(hostname -s)
  { mkdir -p "$prefix" && tar -xzf "$tarball" -C "$prefix"; } || fail "install-$name" "cannot unpack $tarball into $prefix"
  if [[ $role == controller ]]; then
    "$installer" --prefix "$prefix" --full-init --container --enable-configless --controller "$name" \
      --node-name "$arg" >"$log" 2>&1 || fail "install-$name" "$(one_line "$log")"
  else
    "$installer" --prefix "$prefix" --full-init --container --conf-server "$arg" >"$log" 2>&1 ||
      fail "install-$name" "$(one_line "$log")"
    [[ ! -e /etc/slurm/slurm.conf ]] || fail "install-$name" "a configless node got a slurm.conf"
  fi
  step "install-$name" ok "$role: $(grep -c . "$log") lines, $(grep -o 'keep /etc/slurm/slurm.key[^)]*)' "$log" || echo 'new slurm.key')"
}

start_daemon() {
  local daemon=$1 cmd name log
  name=$(hostname -s)
  log=/tmp/start-$daemon.log
  if [[ $daemon == slurmd ]]; then
    # what the unit runs on a configless node: --conf-server, no slurm.conf
    cmd=$("$installer" --prefix "$prefix" --container --conf-server "${CONTROLLER:?CONTROLLER is the slurmctld host}" --print-commands | grep '/sbin/slurmd ')
    rm -rf /run/slurm/conf
    env -u SLURM_CONF bash -c "$cmd" >"$log" 2>&1 || fail "start-$name" "'$cmd' exited $?: $(one_line "$log")"
  else
    cmd=$("$installer" --prefix "$prefix" --container --print-commands | grep '/sbin/slurmctld')
    bash -c "$cmd" >"$log" 2>&1 || fail "start-$name" "'$cmd' exited $?: $(one_line "$log")"
  fi
  step "start-$name" ok "$daemon: $cmd"
}

# all_idle NODE,...: every NODE is idle (sinfo; "idle*" is not)
all_idle() {
  local want got=0 word
  want=$(tr ',' '\n' <<<"$1" | grep -c .)
  for word in $(states "$1"); do [[ $word != idle ]] || got=$((got + 1)); done
  ((got == want))
}

wait_idle() {
  local nodes=$1 wait=${2:-$WAIT} t0=$SECONDS
  for _ in $(seq 1 "$wait"); do
    all_idle "$nodes" && break
    sleep 1
  done
  all_idle "$nodes" ||
    fail idle "not all of $nodes idle after ${wait}s: $(states "$nodes"); slurmctld.log: $(grep -E 'error|fatal' /var/log/slurm/slurmctld.log | tail -n 1)"
  step idle ok "$(states "$nodes")($((SECONDS - t0)) s)"
}

not_responding() {
  local node=$1 t0=$SECONDS s=''
  # Only an attempt to reach it tells slurmctld a node is gone (before SlurmdTimeout): a batch job for it.
  "$bin/sbatch" -w "$node" -N1 -o /dev/null --wrap true >/tmp/probe.log 2>&1 || fail not-responding "sbatch -w $node: $(one_line /tmp/probe.log)"
  for _ in $(seq 1 "$WAIT"); do
    s=$("$bin/sinfo" -h -N -n "$node" -o '%T' 2>&1 | head -n 1)
    [[ $s == *'*' || $s == down* ]] && break
    sleep 1
  done
  [[ $s == *'*' || $s == down* ]] || fail not-responding "$node still '$s' after ${WAIT}s"
  step not-responding ok "$node: $s after $((SECONDS - t0)) s"
}

srun_hosts() {
  local n=$1 out
  out=$(cd /tmp && timeout 60 "$bin/srun" -N "$n" hostname 2>/tmp/srun.log | sort | tr '\n' ' ') ||
    fail "srun-N$n" "$(one_line /tmp/srun.log)"
  step "srun-N$n" ok "${out% }"
}

main() {
  case $action in
    install) install_node "${1:?role}" "${2:?controller or compute list}" ;;
    start) start_daemon "${1:?daemon}" ;;
    idle) wait_idle "${1:?nodes}" "${2:-}" ;;
    not-responding) not_responding "${1:?node}" ;;
    srun) srun_hosts "${1:?N}" ;;
    *) fail usage "unknown action '$action'" ;;
  esac
}

main "$@"
