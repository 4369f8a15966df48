#!/usr/bin/env bash
# Install the real tools the test suite drives (all from Debian's mirror), then the Docker engine.
# Idempotent; CI runs it on a fresh machine as root. Developers can run it once with sudo.
set -euo pipefail

log() { printf 'install-test-deps: %s\n' "$*" >&2; }

packages=(
  patchelf      # relocation
  shellcheck    # every shipped script is shellcheck-clean
  lmod          # the rendered modulefile, loaded by real Lmod
  gnupg         # signatures checked by real gpg --verify
  python3-moto python3-flask-cors  # moto_server (S3 protocol on loopback); it crashes without flask_cors
  debootstrap debian-archive-keyring  # base images for Docker tests (no registry here)
  file binutils gcc libc6-dev make tar gzip xz-utils curl ca-certificates pkgconf python3
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing: ${missing[*]}; run as root (sudo $0)"
    exit 2
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
"$here/setup-docker.sh"
