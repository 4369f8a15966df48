#!/usr/bin/env bash
# Sourced by install-test-deps.sh and setup-docker.sh: makes Debian trixie's packages installable by name on a
# bookworm host without upgrading anything. trixie is pinned at priority 100, so apt takes a package from it only
# when asked for it by name (`pkg/trixie`) or when bookworm has no package of that name (python3-moto). Never
# `apt-get -t trixie`: it would upgrade libc and systemd on the host.

# Runs as root: both files are written by lib/safe-write.sh's sw_write (a new file renamed into place), so a link
# in their place (even a dangling one) is refused with one line and exit 2, never written through.

# shellcheck source=scripts/lib/safe-write.sh
source "$(dirname "${BASH_SOURCE[0]}")/safe-write.sh"

TRIXIE_SOURCES=/etc/apt/sources.list.d/trixie.sources
TRIXIE_PIN=/etc/apt/preferences.d/trixie-pin

trixie_sources() {
  cat <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
}

trixie_pin() {
  cat <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
}

# ensure_trixie_suite: add the source and pin if either is missing; prints nothing when both are there.
# Returns 0 when it changed something (the caller must `apt-get update`), 1 when nothing was needed.
# A link at either path is refused (exit 2); a write that fails stops the script (exit 1). (sw_write reads a
# process substitution, not a pipe: in a pipe it would run in a subshell, and its exit 2 would not stop us.)
ensure_trixie_suite() {
  local changed=1
  # Both checked before either is written: a refusal leaves neither half-done.
  sw_check_file "$TRIXIE_SOURCES" "the trixie apt source"
  sw_check_file "$TRIXIE_PIN" "the trixie apt pin"
  if [[ -L $TRIXIE_SOURCES || ! -f $TRIXIE_SOURCES ]]; then
    sw_write "$TRIXIE_SOURCES" 0644 "the trixie apt source" < <(trixie_sources) || {
      printf 'cannot write %s\n' "$TRIXIE_SOURCES" >&2
      exit 1
    }
    changed=0
  fi
  if [[ -L $TRIXIE_PIN || ! -f $TRIXIE_PIN ]]; then
    sw_write "$TRIXIE_PIN" 0644 "the trixie apt pin" < <(trixie_pin) || {
      printf 'cannot write %s\n' "$TRIXIE_PIN" >&2
      exit 1
    }
    changed=0
  fi
  return "$changed"
}
