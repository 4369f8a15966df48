#!/usr/bin/env bash
# Build a minimal Debian base image for the Docker tests without any container registry:
# debootstrap (minbase) from Debian's mirror, then `docker import`.
#
# Usage: scripts/make-base-image.sh debian11|debian12|debian13 [--arch amd64|arm64]
#   (debian11, glibc 2.31, is the 'too old' distro of the verify tests)
#
#   - does nothing if the image slurm-factory-base:<name> (arm64: slurm-factory-base:<name>-arm64) already exists;
#   - --arch arm64 (or aarch64) debootstraps Debian's arm64 packages and imports the image as linux/arm64; the
#     second stage of debootstrap runs arm64 binaries, so it needs qemu-user-static registered with binfmt_misc
#     (scripts/setup-arm64.sh). amd64 (x86_64) is the default and keeps the old tag;
#   - the debootstrapped rootfs is cached as ${SLURM_FACTORY_CACHE:-/var/cache/slurm-factory}/rootfs-<suite>.tar
#     (arm64: rootfs-<suite>-arm64.tar), so a rerun on the same machine (e.g. after `docker image rm`) skips debootstrap;
#   - apt sources inside: main + <suite>-updates + <suite>-security (deb822, /etc/apt/sources.list.d/debian.sources),
#     checked with `apt-get update` in the rootfs before the tarball is cached;
#   - the image gets CMD ["/bin/bash"] and labels org.slurm-factory.os, .suite, .glibc (read from the rootfs).
#
# Hidden entry point (for test/base-image-hardening.docker.test.ts):
#   scripts/make-base-image.sh --finish-rootfs DIR debian11|debian12|debian13 [--arch amd64|arm64]
#   runs only what follows debootstrap on the root filesystem DIR (apt sources, policy-rc.d, the apt-get update
#   check, the cleanup), then caches DIR as the rootfs tarball; no debootstrap, no docker import. DIR is changed.
#   Sourcing the script defines its functions and runs nothing (test/root-scripts-hardening.test.ts does).
#
# Runs as root, so it never follows a link it did not make: every write and delete inside the rootfs is done by
# the rootfs' own tools under `chroot`, so an absolute link in it (etc/resolv.conf -> /run/...) resolves inside
# the rootfs, never on the host; the cache directory must be a real directory owned by root and not writable by
# group or others (lib/safe-write.sh), and the tarball is written to a new temporary file there and renamed.
# Bad input (an unknown name or architecture, a mirror that is not a plain http(s) URL, an unsafe cache) gets one
# line naming the value, what is allowed and what to do, exit 2, before anything is written.
#
# Needs root (debootstrap, chroot) and a Docker engine. Installs debootstrap with apt-get if it is missing.
# MIRROR overrides the Debian mirror (default http://deb.debian.org/debian), SECURITY_MIRROR the security one.
set -Eeuo pipefail

PROG=make-base-image
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/safe-write.sh
source "$here/lib/safe-write.sh"

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
usage_error() {
  printf '%s: %s\n' "$PROG" "$*" >&2
  exit 2
}
trap 'log "failed (exit $?) at line ${LINENO}: ${BASH_COMMAND}"' ERR

NAME='' SUITE='' ARCH=amd64 SUFFIX='' FINISH_DIR='' IMAGE='' MIRROR_URL='' SECURITY_URL='' CACHE='' TARBALL=''
CLEANUP=()
# mounted_under DIR: 0 when something is mounted at or below DIR (a /proc or /dev that debootstrap or a chroot
# left mounted); DIR resolved as /proc/self/mountinfo gives mount points (field 5): the physical path.
mounted_under() {
  local dir point
  dir=$(cd -P -- "$1" && pwd -P) || return 1
  while read -r _ _ _ _ point _; do
    [[ $point != "$dir" && $point != "$dir"/* ]] || return 0
  done </proc/self/mountinfo
  return 1
}
# cleanup: removes this run's temporary files and directories; rm never descends into another filesystem, and a
# directory with anything still mounted below it is left (and named) rather than emptied through the mount.
cleanup() {
  local p
  for p in "${CLEANUP[@]}"; do
    [[ -n $p ]] || continue
    if [[ -d $p && ! -L $p ]] && mounted_under "$p"; then
      log "left ${p}: something is still mounted below it (umount it, then remove it)"
      continue
    fi
    rm -rf --one-file-system -- "$p"
  done
}
trap cleanup EXIT

parse_args() {
  if [[ ${1:-} == --finish-rootfs ]]; then
    FINISH_DIR=${2:-}
    [[ -n $FINISH_DIR ]] || usage_error "--finish-rootfs needs a directory: --finish-rootfs DIR debian12 [--arch amd64|arm64]"
    shift 2
  fi
  NAME=${1:-}
  case "$NAME" in
    debian11) SUITE=bullseye ;;
    debian12) SUITE=bookworm ;;
    debian13) SUITE=trixie ;;
    *) usage_error "unknown image name '${NAME}': use debian11, debian12 or debian13 ($0 debian12 [--arch amd64|arm64])" ;;
  esac
  local arch=amd64
  case "${2:-}" in
    '') ;;
    --arch) arch=${3:-} ;;
    --arch=*) arch=${2#--arch=} ;;
    *) usage_error "unknown argument '${2}': the only option is --arch amd64|arm64 ($0 ${NAME} [--arch amd64|arm64])" ;;
  esac
  case "$arch" in
    amd64 | x86_64) ARCH=amd64 ;;
    arm64 | aarch64) ARCH=arm64 ;;
    *) usage_error "unknown architecture '${arch}': use amd64 (x86_64) or arm64 (aarch64)" ;;
  esac
  # The x86_64 names stay as they were; arm64 images and rootfs tarballs carry the architecture.
  [[ $ARCH == amd64 ]] || SUFFIX="-${ARCH}"
  IMAGE="slurm-factory-base:${NAME}${SUFFIX}"
  MIRROR_URL=${MIRROR:-http://deb.debian.org/debian}
  SECURITY_URL=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
  check_url MIRROR "$MIRROR_URL"
  check_url SECURITY_MIRROR "$SECURITY_URL"
  MIRROR_URL=${MIRROR_URL%/} SECURITY_URL=${SECURITY_URL%/}
  CACHE=${SLURM_FACTORY_CACHE:-/var/cache/slurm-factory}
  CACHE=${CACHE%/}
  TARBALL="${CACHE}/rootfs-${SUITE}${SUFFIX}.tar"
}

# check_url VARIABLE VALUE: a plain http(s) URL (it goes into apt's sources and an image label as it is).
check_url() {
  local var=$1 url=$2
  [[ $url =~ ^https?://[A-Za-z0-9._~:/@%+-]+$ ]] ||
    usage_error "${var} '${url//[[:cntrl:]]/?}' is not a plain http(s) URL: give one such as http://deb.debian.org/debian (letters, digits and ._~:/@%+- only)"
}

# check_cache: the cache directory (if it exists) and the cached tarball (if it exists) are safe to use; creates
# nothing (the directory is made only when a rootfs is cached).
check_cache() {
  local what="the cache SLURM_FACTORY_CACHE='${CACHE}'"
  [[ $CACHE == /* ]] || usage_error "SLURM_FACTORY_CACHE '${CACHE}' is not an absolute path: give the full path of a directory owned by root"
  if [[ -L $CACHE ]]; then
    sw_refuse "$what is a symbolic link (to $(readlink -- "$CACHE")): it is not followed; give a real directory owned by root, not writable by group or others"
  elif [[ -e $CACHE && ! -d $CACHE ]]; then
    sw_refuse "$what exists and is not a directory; move it away or give a directory owned by root"
  fi
  sw_check_parents "$CACHE/." "$what"
  sw_check_file "$TARBALL" "the cached rootfs"
}

# in_root ROOT COMMAND...: COMMAND run by the rootfs' own tools, so its paths (and links) resolve inside ROOT.
in_root() {
  local root=$1
  shift
  chroot "$root" "$@"
}

# put_in_root ROOT PATH MODE: stdin becomes PATH inside ROOT, as a new regular file renamed over whatever was
# at PATH (a link there is replaced, never followed; its directory resolves inside ROOT).
put_in_root() {
  local root=$1 path=$2 mode=$3
  # shellcheck disable=SC2016 # expanded by the rootfs' sh, not here
  in_root "$root" /bin/sh -c 'set -e
    t=$(mktemp "$(dirname "$1")/.make-base-image.XXXXXX")
    trap '\''rm -f "$t"'\'' EXIT
    cat >"$t"
    chmod "$2" "$t"
    mv -T -f "$t" "$1"
    trap - EXIT' sh "$path" "$mode"
}

sources() {
  cat <<SOURCES
Types: deb
URIs: ${MIRROR_URL}
Suites: ${SUITE} ${SUITE}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${SECURITY_URL}
Suites: ${SUITE}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
}

# finish_rootfs ROOT WORK: apt sources, container conventions, the apt-get update check, and no package lists,
# logs or host files left; WORK (host side, this script's own) holds the logs.
finish_rootfs() {
  local root=$1 work=$2
  [[ -x $root/bin/sh || -L $root/bin/sh ]] || die "${root} has no /bin/sh: it is not a root filesystem"
  log "writing apt sources: ${SUITE}, ${SUITE}-updates, ${SUITE}-security (main)"
  in_root "$root" rm -f /etc/apt/sources.list
  sources | put_in_root "$root" /etc/apt/sources.list.d/debian.sources 0644

  # Container conventions (as Debian's official images): no daemons started by package scripts.
  printf '#!/bin/sh\nexit 101\n' | put_in_root "$root" /usr/sbin/policy-rc.d 0755

  log "checking the apt sources: apt-get update in the rootfs"
  # shellcheck disable=SC2094 # the host's resolv.conf is read; the rootfs' /etc/resolv.conf is written
  put_in_root "$root" /etc/resolv.conf 0644 </etc/resolv.conf
  in_root "$root" apt-get update >"${work}/apt-update.log" 2>&1 ||
    {
      cat "${work}/apt-update.log" >&2
      die "apt-get update failed inside the ${SUITE} rootfs"
    }
  if grep -E '^(W|E|Err):' "${work}/apt-update.log" >&2; then
    die "apt-get update inside the ${SUITE} rootfs reported the problems above"
  fi
  grep -E '^(Get|Hit):' "${work}/apt-update.log" | sed 's/^/  /' >&2 || true

  # Leave no package lists, downloaded .debs, logs or host files in the image (globs expanded inside ROOT).
  in_root "$root" apt-get clean
  # shellcheck disable=SC2016 # expanded by the rootfs' sh
  in_root "$root" /bin/sh -c 'rm -rf /var/lib/apt/lists/* /var/log/*.log /var/log/apt/* /tmp/* \
    /var/cache/debconf/*-old /var/lib/dpkg/*-old'
  put_in_root "$root" /etc/resolv.conf 0644 </dev/null
  printf '%s\n' localhost | put_in_root "$root" /etc/hostname 0644
}

# cache_rootfs ROOT: ROOT as the cached tarball, by way of a new temporary file in the cache renamed over it.
cache_rootfs() {
  local root=$1 partial
  log "caching rootfs as ${TARBALL}"
  sw_check_file "$TARBALL" "the cached rootfs"
  partial=$(mktemp "${CACHE}/.rootfs-${SUITE}${SUFFIX}.tar.XXXXXX")
  CLEANUP+=("$partial")
  tar --numeric-owner --xattrs --one-file-system -C "$root" -cf "$partial" .
  chmod 0644 "$partial"
  mv -T -f "$partial" "$TARBALL"
}

need_root() {
  [[ $(id -u) -eq 0 ]] || usage_error "$1 needs root (run: sudo $0 ${NAME} --arch ${ARCH})"
}

# debootstrap_rootfs: debootstrap into a new directory in the cache, finish it, cache it.
debootstrap_rootfs() {
  need_root debootstrap
  if [[ $ARCH != "$(dpkg --print-architecture)" ]] && ! "$here/setup-arm64.sh" --check; then
    die "debootstrap --arch ${ARCH} runs ${ARCH} binaries: register qemu-user-static first (sudo scripts/setup-arm64.sh)"
  fi
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg work root t0
  if ! command -v debootstrap >/dev/null 2>&1 || [[ ! -s "$keyring" ]]; then
    log "installing debootstrap and debian-archive-keyring with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap debian-archive-keyring >/dev/null
  fi
  sw_dir "$CACHE" "the cache SLURM_FACTORY_CACHE='${CACHE}'"
  work=$(mktemp -d "${CACHE}/debootstrap-${SUITE}${SUFFIX}.XXXXXX")
  CLEANUP+=("$work")
  root="${work}/rootfs"

  log "debootstrap --arch ${ARCH} --variant=minbase ${SUITE} from ${MIRROR_URL} (a minute or two; arm64 under emulation longer)"
  t0=$SECONDS
  debootstrap --arch "$ARCH" --variant=minbase --components=main --keyring="$keyring" "$SUITE" "$root" "$MIRROR_URL" >"${work}/debootstrap.log" 2>&1 ||
    {
      tail -n 30 "${work}/debootstrap.log" >&2
      die "debootstrap ${SUITE} failed (log above)"
    }
  log "debootstrap done in $((SECONDS - t0)) s"
  finish_rootfs "$root" "$work"
  cache_rootfs "$root"
}

# finish_given DIR: the hidden entry point (see the header).
finish_given() {
  local dir=${1%/} work
  need_root "--finish-rootfs (chroot)"
  [[ ! -L $dir && -d $dir ]] ||
    usage_error "--finish-rootfs '$1' is not a directory (a link is not followed): give the root filesystem to finish"
  dir=$(cd -P -- "$dir" && pwd -P)
  [[ $dir != / ]] || usage_error "--finish-rootfs '$1' is the host's own root: give an unpacked root filesystem"
  sw_dir "$CACHE" "the cache SLURM_FACTORY_CACHE='${CACHE}'"
  work=$(mktemp -d "${CACHE}/finish-${SUITE}${SUFFIX}.XXXXXX")
  CLEANUP+=("$work")
  finish_rootfs "$dir" "$work"
  cache_rootfs "$dir"
}

# import_image: docker import of the cached tarball, labelled with what it holds; then a smoke run.
import_image() {
  local libc6 glibc version_id
  # glibc version: libc6's Version in the rootfs' dpkg status, upstream part only (2.36-9+deb12u10 -> 2.36).
  # (awk reads to the end: an early exit would kill tar with SIGPIPE under pipefail.)
  libc6=$(tar -xOf "$TARBALL" ./var/lib/dpkg/status |
    awk '/^Package: /{p=($2=="libc6")} p && /^Version: / && !v {v=$2} END{print v}')
  [[ -n "$libc6" ]] || die "cannot read libc6's version from ${TARBALL}"
  glibc=${libc6%%-*}
  version_id=$(tar -xOf "$TARBALL" ./etc/os-release | sed -n 's/^VERSION_ID="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p')
  [[ -n "$version_id" ]] || version_id=${NAME#debian}

  log "docker import -> ${IMAGE} (os=${NAME} debian ${version_id}, linux/${ARCH}, glibc ${glibc})"
  docker import --platform "linux/${ARCH}" \
    --change 'CMD ["/bin/bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL org.slurm-factory.os=${NAME} org.slurm-factory.suite=${SUITE} org.slurm-factory.os-version=${version_id} org.slurm-factory.glibc=${glibc} org.slurm-factory.arch=${ARCH} org.slurm-factory.libc6=${libc6} org.slurm-factory.mirror=${MIRROR_URL}" \
    "$TARBALL" "$IMAGE" >/dev/null

  # shellcheck disable=SC2016 # expanded in the container
  docker run --rm --platform "linux/${ARCH}" "$IMAGE" bash -c 'test -x /usr/bin/apt-get && . /etc/os-release && echo "$PRETTY_NAME $(uname -m)"' >&2 ||
    die "the imported image ${IMAGE} does not run"
}

main() {
  parse_args "$@"
  check_cache
  if [[ -n $FINISH_DIR ]]; then
    finish_given "$FINISH_DIR"
    return 0
  fi
  command -v docker >/dev/null 2>&1 || die "no docker client (run scripts/setup-docker.sh as root)"
  docker info >/dev/null 2>&1 || die "no Docker engine answers 'docker info' (run scripts/setup-docker.sh as root)"
  if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "image ${IMAGE} exists; nothing to do"
    return 0
  fi
  local started=$SECONDS
  if [[ -s "$TARBALL" ]]; then
    log "using cached rootfs ${TARBALL} (delete it to debootstrap again)"
  else
    debootstrap_rootfs
  fi
  import_image
  log "built ${IMAGE} in $((SECONDS - started)) s"
}

# Sourced (by a test): only the functions.
[[ ${BASH_SOURCE[0]} != "$0" ]] || main "$@"
