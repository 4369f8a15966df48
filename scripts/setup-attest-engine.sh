#!/usr/bin/env bash
# A second, private Docker engine whose image store is containerd's, so BuildKit writes its own SLSA provenance
# (`--provenance=mode=max` -> provenance.json beside the exported files). The default engine's overlay2 store
# refuses attestations ("Attestation is not supported for the docker driver"), and switching it to the
# containerd store would hide every image it holds; this engine is separate and changes nothing of the first:
#
#   its own --data-root, --exec-root (and so its own managed containerd), --pidfile, socket, containerd
#   namespaces, and bridge (sf-attest0, 172.31.250.1/24, created here); it touches no iptables rules, so its
#   build containers reach no network (the package stage needs none). Images come from the default engine
#   (--load: docker save | docker load), since a second store does not see the first's.
#
# Usage (root): scripts/setup-attest-engine.sh                start if not running; prints its DOCKER_HOST
#               scripts/setup-attest-engine.sh --load IMG...  also copy images from the default engine
#               scripts/setup-attest-engine.sh --check        exit 0 if it answers, 1 otherwise
#               scripts/setup-attest-engine.sh --stop         stop it (the pid in its pidfile only)
# Then: DOCKER_HOST=unix:///run/slurm-factory-attest/docker.sock npx zx Taskfile.ts build ...
#   or: npx zx Taskfile.ts build ... --builder slurm-factory-attest   (a docker context of that name is made)
# Runs as root and follows no link it did not make: its directories and daemon.json refuse a link in their place,
# and the log it appends to is checked first by lib/safe-write.sh (no link, no second hard link, /var/log not
# writable by others). Sourcing this file (the tests do) defines its functions and runs nothing.
set -euo pipefail

PROG=setup-attest-engine
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/safe-write.sh
source "$here/lib/safe-write.sh"

STATE=/var/lib/slurm-factory-attest
RUNDIR=/run/slurm-factory-attest
SOCKET=$RUNDIR/docker.sock
HOST=unix://$SOCKET
PIDFILE=$RUNDIR/dockerd.pid
LOGFILE=/var/log/slurm-factory-attest-dockerd.log
BRIDGE=sf-attest0
BRIDGE_ADDR=172.31.250.1/24
CONTEXT=slurm-factory-attest

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "$*"; exit "${2:-1}"; }

engine_up() { [[ -S $SOCKET ]] && docker -H "$HOST" info >/dev/null 2>&1; }

# A directory this script owns: created if absent; a link or a non-directory in its place is refused.
own_dir() {
  local dir=$1
  if [[ -L $dir || (-e $dir && ! -d $dir) ]]; then
    die "$dir exists and is not a plain directory; move it away and rerun"
  fi
  install -d -m 0700 "$dir"
}

write_config() {
  local config=$STATE/daemon.json tmp
  [[ ! -L $config ]] || die "$config is a symbolic link; remove it and rerun"
  tmp=$(mktemp "$STATE/daemon.json.XXXXXX")
  printf '%s\n' '{"features": {"containerd-snapshotter": true}}' >"$tmp"
  chmod 0644 "$tmp"
  mv -T -f "$tmp" "$config"
}

# check_log: the log is appended to across runs, so it is checked (not a link, one name, in a directory only
# root can change) before the daemon opens it; refused with one line and exit 2 otherwise.
check_log() {
  sw_check_file "$LOGFILE" "the second dockerd's log"
}

ensure_bridge() {
  command -v ip >/dev/null 2>&1 || die "the ip command is missing (apt-get install iproute2)"
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_ADDR" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
}

start_engine() {
  [[ $(id -u) -eq 0 ]] || die "needs root to start a dockerd (run it with sudo)" 2
  if ! command -v dockerd >/dev/null 2>&1; then
    "$here/setup-docker.sh"
  fi
  own_dir "$STATE"
  own_dir "$RUNDIR"
  write_config
  ensure_bridge
  check_log
  log "starting a second dockerd with the containerd image store (socket $SOCKET, log $LOGFILE)"
  # setsid and cd /: as setup-docker.sh, the daemon outlives the caller and holds no deleted directory.
  (cd / && exec setsid /usr/sbin/dockerd \
    --config-file "$STATE/daemon.json" \
    --data-root "$STATE/docker" \
    --exec-root "$RUNDIR/exec" \
    --pidfile "$PIDFILE" \
    -H "$HOST" \
    --containerd-namespace sf-attest \
    --containerd-plugins-namespace sf-attest-plugins \
    --bridge "$BRIDGE" \
    --iptables=false --ip6tables=false \
    >>"$LOGFILE" 2>&1 </dev/null) &
  local _
  for _ in $(seq 1 60); do
    engine_up && return 0
    sleep 1
  done
  log "the second dockerd did not answer within 60 s; last log lines:"
  tail -n 20 "$LOGFILE" >&2 || true
  return 1
}

ensure_context() {
  docker context inspect "$CONTEXT" >/dev/null 2>&1 ||
    docker context create "$CONTEXT" --description 'slurm-factory: containerd image store (attestations)' \
      --docker "host=$HOST" >/dev/null
}

# Copies images from the default engine (whatever DOCKER_HOST named when this was called, else its socket).
load_images() {
  local img
  for img in "$@"; do
    if docker -H "$HOST" image inspect "$img" >/dev/null 2>&1; then
      continue
    fi
    docker image inspect "$img" >/dev/null 2>&1 || die "image '$img' is not in the default engine; build it first"
    log "copying $img from the default engine"
    docker save "$img" | docker -H "$HOST" load >/dev/null
  done
}

stop_engine() {
  [[ -f $PIDFILE && ! -L $PIDFILE ]] || { log "not running (no $PIDFILE)"; return 0; }
  local pid _
  pid=$(<"$PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] || die "$PIDFILE holds '$pid', not a process id"
  [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */dockerd ]] || { log "process $pid is not a dockerd; nothing stopped"; return 0; }
  kill "$pid"
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  ! kill -0 "$pid" 2>/dev/null || die "dockerd $pid did not stop within 30 s"
  log "stopped dockerd $pid"
}

main() {
  local images=()
  case ${1:-} in
    --check) engine_up; return ;;
    --stop) stop_engine; return ;;
    --load) shift; images=("$@") ;;
    '') ;;
    *) die "unknown argument '$1' (usage: setup-attest-engine.sh [--load IMAGE... | --check | --stop])" 2 ;;
  esac
  # The default engine must not be this one, else --load would copy an image onto itself.
  unset DOCKER_CONTEXT
  [[ ${DOCKER_HOST:-} != "$HOST" ]] || unset DOCKER_HOST
  engine_up || start_engine
  ensure_context
  ((${#images[@]} == 0)) || load_images "${images[@]}"
  printf '%s\n' "$HOST"
}

# Sourced (by a test): only the functions.
[[ ${BASH_SOURCE[0]} != "$0" ]] || main "$@"
