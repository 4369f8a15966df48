#!/usr/bin/env bash
# Make this x86_64 machine run linux/arm64 containers under emulation (the aarch64 tests, issue 17):
#   1. mount binfmt_misc at /proc/sys/fs/binfmt_misc if it is not mounted;
#   2. install Debian's qemu-user-static (static interpreters, so they work inside any container's root);
#   3. register qemu-aarch64 with the kernel from the package's own /usr/lib/binfmt.d/qemu-aarch64.conf, with
#      the F flag (the kernel opens the interpreter once, at registration, so containers need no copy of it).
# The package's postinst registers nothing where systemd-binfmt/binfmt-support do not run (a container, CI
# machines without systemd), hence step 3.
#
# Usage: scripts/setup-arm64.sh            # set up (root), then check that an arm64 binary runs
#        scripts/setup-arm64.sh --check    # exit 0 when arm64 binaries run here, 1 otherwise; changes nothing
# A machine where this cannot work (no root, a kernel without binfmt_misc, a read-only /proc) gets one line
# saying why, exit 1; the arm64 tests then skip, naming this script.
set -euo pipefail

log() { printf 'setup-arm64: %s\n' "$*" >&2; }

BINFMT=/proc/sys/fs/binfmt_misc
CONF=/usr/lib/binfmt.d/qemu-aarch64.conf
INTERPRETER=/usr/libexec/qemu-binfmt/aarch64-binfmt-P

# 0 when the kernel hands aarch64 ELF files to a registered, enabled interpreter with the F flag.
registered() {
  [[ -r "$BINFMT/qemu-aarch64" ]] || return 1
  grep -qx 'enabled' "$BINFMT/qemu-aarch64" && grep -q '^flags: .*F' "$BINFMT/qemu-aarch64"
}

mount_binfmt() {
  [[ -e "$BINFMT/register" ]] && return 0
  log "mounting binfmt_misc at ${BINFMT}"
  mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null || {
    log "cannot mount binfmt_misc at ${BINFMT} (kernel without binfmt_misc, or no privilege): arm64 tests will skip"
    return 1
  }
}

install_qemu() {
  [[ -x "$INTERPRETER" && -r "$CONF" ]] && return 0
  log "installing qemu-user-static from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
  [[ -x "$INTERPRETER" && -r "$CONF" ]] || { log "qemu-user-static has no ${INTERPRETER} or ${CONF}"; return 1; }
}

# The package's line is ':qemu-aarch64:M::<magic>:<mask>:<interpreter>:<flags>' (Debian's flags: OPF); F is
# required (added if a future file lacks it). A stale entry (disabled, or without F) is removed first.
register() {
  local line
  line=$(grep -v '^#' "$CONF" | grep -m1 '^:qemu-aarch64:') || { log "no qemu-aarch64 line in ${CONF}"; return 1; }
  [[ ${line##*:} == *F* ]] || line="${line}F"
  if [[ -e "$BINFMT/qemu-aarch64" ]] && ! registered; then
    log "removing a stale qemu-aarch64 registration"
    printf '%s' -1 >"$BINFMT/qemu-aarch64"
  fi
  registered && return 0
  log "registering ${INTERPRETER} for aarch64 ELF files (flags ${line##*:})"
  printf '%s' "$line" >"$BINFMT/register"
}

main() {
  case ${1:-} in
    --check)
      registered
      return
      ;;
    '') ;;
    *) log "unknown argument '$1' (usage: setup-arm64.sh [--check])"; exit 2 ;;
  esac
  if registered; then
    log "qemu-aarch64 already registered: $(sed -n 's/^interpreter //p' "$BINFMT/qemu-aarch64")"
    return 0
  fi
  if [[ $(id -u) -ne 0 ]]; then
    log "needs root to mount binfmt_misc and register qemu-aarch64 (run it with sudo); arm64 tests will skip"
    exit 1
  fi
  mount_binfmt || exit 1
  install_qemu || exit 1
  register || exit 1
  registered || { log "qemu-aarch64 is not registered after writing ${BINFMT}/register"; exit 1; }
  log "aarch64 ELF files now run under $(readlink -f "$INTERPRETER")"
}

main "$@"
