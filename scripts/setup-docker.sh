#!/usr/bin/env bash
# Install (if needed) and start a local Docker engine with buildx, for the tests and for developers.
#
# Debian bookworm's docker.io is too old for the BuildKit features the pipeline uses (named build contexts,
# cache mounts, rawjson progress), so the engine, CLI and buildx come from Debian's trixie suite, pinned at
# priority 100 so that nothing else is taken from trixie (lib/apt-trixie.sh).
#
# Usage: scripts/setup-docker.sh            # install if missing, start dockerd if not running, wait for it
#        scripts/setup-docker.sh --check    # exit 0 if an engine answers, 1 otherwise; changes nothing
# Runs as root: the daemon's log is a new file made by lib/safe-write.sh (a link or a second hard link at
# /var/log/dockerd.log, or an unsafe /var/log, is refused with one line and exit 2, never written through).
# Sourcing this file (the tests do) defines its functions and runs nothing.
set -euo pipefail

PROG=setup-docker
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/apt-trixie.sh
source "$here/lib/apt-trixie.sh"

DOCKERD_LOG=/var/log/dockerd.log

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }

engine_up() { docker info >/dev/null 2>&1; }

install_engine() {
  export DEBIAN_FRONTEND=noninteractive
  ensure_trixie_suite && log "added Debian trixie (pinned at priority 100)"
  log "apt-get update"
  apt-get update -qq
  log "installing docker.io docker-cli docker-buildx from trixie"
  apt-get install -y -qq --no-install-recommends \
    docker.io/trixie docker-cli/trixie docker-buildx/trixie \
    iptables ca-certificates >/dev/null
}

# new_log: an empty $DOCKERD_LOG of this run, made new (never a link followed, never truncated in place).
new_log() {
  sw_dir "${DOCKERD_LOG%/*}" "the dockerd log"
  sw_new_file "$DOCKERD_LOG" 0644 "the dockerd log"
}

start_engine() {
  log "starting dockerd (log: ${DOCKERD_LOG})"
  new_log
  # setsid: keep the daemon alive after the calling shell or test process exits. cd /: the daemon (and the git
  # BuildKit runs for git contexts) inherits the working directory; a clone that is later deleted would leave
  # every git fetch failing with "Unable to read current working directory".
  # exec: no shell stays behind holding the caller's stdout (a pipe CI would wait on for ever).
  (cd / && exec setsid /usr/sbin/dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null) &
  local _
  for _ in $(seq 1 60); do
    engine_up && return 0
    sleep 1
  done
  log "dockerd did not answer within 60 s; last log lines:"
  tail -n 20 "$DOCKERD_LOG" >&2 || true
  return 1
}

main() {
  if [[ "${1:-}" == "--check" ]]; then
    engine_up
    return
  fi
  if engine_up && docker buildx version >/dev/null 2>&1; then
    log "engine already running: $(docker version --format '{{.Server.Version}}' 2>/dev/null)"
    return 0
  fi
  if [[ $(id -u) -ne 0 ]]; then
    log "needs root to install and start dockerd (run it with sudo)"
    exit 2
  fi
  if ! command -v dockerd >/dev/null 2>&1 || [[ ! -x /usr/libexec/docker/cli-plugins/docker-buildx ]]; then
    install_engine
  fi
  engine_up || start_engine
  docker buildx version >/dev/null
  log "engine $(docker version --format '{{.Server.Version}}'), $(docker buildx version)"
}

# Sourced (by a test): only the functions.
[[ ${BASH_SOURCE[0]} != "$0" ]] || main "$@"
