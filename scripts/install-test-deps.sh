#!/usr/bin/env bash
# Install the real tools the test suite drives (all from Debian's mirror), then the Docker engine.
# Idempotent; CI runs it on a fresh machine as root. Developers can run it once with sudo.
# Then arm64 emulation (setup-arm64.sh: binfmt_misc, qemu-user-static) for the aarch64 tests.
# --no-docker: the Debian packages only (how test/ci-deps.docker.test.ts proves it in a clean Debian 12 root).
# Works on a Debian 12 machine that never saw trixie: python3-moto exists only in trixie, so the trixie suite
# (pinned at 100, see lib/apt-trixie.sh) is added before the first apt-get install.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/apt-trixie.sh
source "$here/lib/apt-trixie.sh"

log() { printf 'install-test-deps: %s\n' "$*" >&2; }

PACKAGES=(
  patchelf      # relocation
  shellcheck    # every shipped script is shellcheck-clean
  lmod          # the rendered modulefile, loaded by real Lmod
  gnupg         # signatures checked by real gpg --verify
  python3-moto python3-flask-cors  # moto_server (S3 protocol on loopback; trixie only); it dies without flask_cors
  debootstrap debian-archive-keyring  # base images for Docker tests (no registry here)
  iproute2      # the bridge of the second, attestation-capable engine (setup-attest-engine.sh)
  file binutils gcc libc6-dev make tar gzip xz-utils curl ca-certificates pkgconf python3
)

missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$p"
  done
}

main() {
  local with_docker=yes
  case ${1:-} in
    '') ;;
    --no-docker) with_docker=no ;;
    *) log "unknown argument '$1' (usage: install-test-deps.sh [--no-docker])"; exit 2 ;;
  esac
  local missing=()
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} > 0)); then
    if [[ $(id -u) -ne 0 ]]; then
      log "missing: ${missing[*]}; run as root (sudo $0)"
      exit 2
    fi
    export DEBIAN_FRONTEND=noninteractive
    # debian-archive-keyring signs the trixie source; bookworm's base system has it, a minimal root may not.
    if [[ ! -f /usr/share/keyrings/debian-archive-keyring.gpg ]]; then
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends debian-archive-keyring >/dev/null
    fi
    ensure_trixie_suite && log "added Debian trixie (pinned at priority 100)"
    log "installing: ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  [[ $with_docker == no ]] || "$here/setup-docker.sh"
  # arm64 under emulation (binfmt_misc + qemu-user-static) for the aarch64 tests; a machine where it cannot
  # (no binfmt_misc) still gets the rest, and those tests skip naming setup-arm64.sh.
  [[ $with_docker == no ]] || "$here/setup-arm64.sh" || log "arm64 emulation unavailable: the aarch64 tests will skip"
}

main "$@"
