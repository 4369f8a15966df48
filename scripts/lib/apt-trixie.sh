#!/usr/bin/env bash
# Sourced by install-test-deps.sh and setup-docker.sh: makes Debian trixie's packages installable by name on a
# bookworm host without upgrading anything. trixie is pinned at priority 100, so apt takes a package from it only
# when asked for it by name (`pkg/trixie`) or when bookworm has no package of that name (python3-moto). Never
# `apt-get -t trixie`: it would upgrade libc and systemd on the host.

TRIXIE_SOURCES=/etc/apt/sources.list.d/trixie.sources
TRIXIE_PIN=/etc/apt/preferences.d/trixie-pin

# ensure_trixie_suite: add the source and pin if either is missing; prints nothing when both are there.
# Returns 0 when it changed something (the caller must `apt-get update`), 1 when nothing was needed.
ensure_trixie_suite() {
  local changed=1
  if [[ ! -f "$TRIXIE_SOURCES" ]]; then
    cat >"$TRIXIE_SOURCES" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    changed=0
  fi
  if [[ ! -f "$TRIXIE_PIN" ]]; then
    cat >"$TRIXIE_PIN" <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
    changed=0
  fi
  return "$changed"
}
