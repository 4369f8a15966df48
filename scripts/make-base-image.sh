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
# Needs root (debootstrap, chroot) and a Docker engine. Installs debootstrap with apt-get if it is missing.
# MIRROR overrides the Debian mirror (default http://deb.debian.org/debian).
set -euo pipefail

log() { printf 'make-base-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
trap 'log "failed (exit $?) at line ${LINENO}: ${BASH_COMMAND}"' ERR

name=${1:-}
case "$name" in
  debian11) suite=bullseye ;;
  debian12) suite=bookworm ;;
  debian13) suite=trixie ;;
  *) die "usage: $0 debian11|debian12|debian13 [--arch amd64|arm64] (got '${name}')" ;;
esac
arch=amd64
case "${2:-}" in
  '') ;;
  --arch) arch=${3:-} ;;
  --arch=*) arch=${2#--arch=} ;;
  *) die "usage: $0 ${name} [--arch amd64|arm64] (got '${2}')" ;;
esac
case "$arch" in
  amd64|x86_64) arch=amd64 ;;
  arm64|aarch64) arch=arm64 ;;
  *) die "unknown architecture '${arch}': use amd64 (x86_64) or arm64 (aarch64)" ;;
esac
# The x86_64 names stay as they were; arm64 images and rootfs tarballs carry the architecture.
suffix=""
[[ $arch == amd64 ]] || suffix="-${arch}"

image="slurm-factory-base:${name}${suffix}"
mirror=${MIRROR:-http://deb.debian.org/debian}
security_mirror=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
cache=${SLURM_FACTORY_CACHE:-/var/cache/slurm-factory}
tarball="${cache}/rootfs-${suite}${suffix}.tar"

command -v docker >/dev/null 2>&1 || die "no docker client (run scripts/setup-docker.sh as root)"
docker info >/dev/null 2>&1 || die "no Docker engine answers 'docker info' (run scripts/setup-docker.sh as root)"

if docker image inspect "$image" >/dev/null 2>&1; then
  log "image ${image} exists; nothing to do"
  exit 0
fi

started=$SECONDS

if [[ -s "$tarball" ]]; then
  log "using cached rootfs ${tarball} (delete it to debootstrap again)"
else
  [[ $(id -u) -eq 0 ]] || die "debootstrap needs root (run: sudo $0 ${name} --arch ${arch})"
  if [[ $arch != "$(dpkg --print-architecture)" ]] && ! "$(dirname "${BASH_SOURCE[0]}")/setup-arm64.sh" --check; then
    die "debootstrap --arch ${arch} runs ${arch} binaries: register qemu-user-static first (sudo scripts/setup-arm64.sh)"
  fi
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  if ! command -v debootstrap >/dev/null 2>&1 || [[ ! -s "$keyring" ]]; then
    log "installing debootstrap and debian-archive-keyring with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap debian-archive-keyring >/dev/null
  fi
  mkdir -p "$cache"
  work=$(mktemp -d "${cache}/debootstrap-${suite}${suffix}.XXXXXX")
  # shellcheck disable=SC2064 # expand $work now: the trap must remove this directory
  trap "rm -rf '${work}'" EXIT
  root="${work}/rootfs"

  log "debootstrap --arch ${arch} --variant=minbase ${suite} from ${mirror} (a minute or two; arm64 under emulation longer)"
  t0=$SECONDS
  debootstrap --arch "$arch" --variant=minbase --components=main --keyring="$keyring" "$suite" "$root" "$mirror" >"${work}/debootstrap.log" 2>&1 \
    || { tail -n 30 "${work}/debootstrap.log" >&2; die "debootstrap ${suite} failed (log above)"; }
  log "debootstrap done in $((SECONDS - t0)) s"

  log "writing apt sources: ${suite}, ${suite}-updates, ${suite}-security (main)"
  rm -f "${root}/etc/apt/sources.list"
  cat >"${root}/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: ${mirror}
Suites: ${suite} ${suite}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${security_mirror}
Suites: ${suite}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES

  # Container conventions (as Debian's official images): no daemons started by package scripts.
  printf '#!/bin/sh\nexit 101\n' >"${root}/usr/sbin/policy-rc.d"
  chmod 755 "${root}/usr/sbin/policy-rc.d"

  log "checking the apt sources: apt-get update in the rootfs"
  cp -L /etc/resolv.conf "${root}/etc/resolv.conf"
  chroot "$root" apt-get update >"${work}/apt-update.log" 2>&1 \
    || { cat "${work}/apt-update.log" >&2; die "apt-get update failed inside the ${suite} rootfs"; }
  if grep -E '^(W|E|Err):' "${work}/apt-update.log" >&2; then
    die "apt-get update inside the ${suite} rootfs reported the problems above"
  fi
  grep -E '^(Get|Hit):' "${work}/apt-update.log" | sed 's/^/  /' >&2 || true

  # Leave no package lists, downloaded .debs, logs or host files in the image.
  chroot "$root" apt-get clean
  rm -rf "${root}"/var/lib/apt/lists/* "${root}"/var/log/*.log "${root}"/var/log/apt/* "${root}"/tmp/* \
    "${root}"/var/cache/debconf/*-old "${root}"/var/lib/dpkg/*-old
  : >"${root}/etc/resolv.conf"
  printf '%s\n' "localhost" >"${root}/etc/hostname"

  log "caching rootfs as ${tarball}"
  tar --numeric-owner --xattrs --one-file-system -C "$root" -cf "${tarball}.partial" .
  mv "${tarball}.partial" "$tarball"
  rm -rf "$work"
  trap - EXIT
fi

# glibc version: libc6's Version in the rootfs' dpkg status, upstream part only (2.36-9+deb12u10 -> 2.36).
# (awk reads to the end: an early exit would kill tar with SIGPIPE under pipefail.)
libc6=$(tar -xOf "$tarball" ./var/lib/dpkg/status \
  | awk '/^Package: /{p=($2=="libc6")} p && /^Version: / && !v {v=$2} END{print v}')
[[ -n "$libc6" ]] || die "cannot read libc6's version from ${tarball}"
glibc=${libc6%%-*}
version_id=$(tar -xOf "$tarball" ./etc/os-release | sed -n 's/^VERSION_ID="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p')
[[ -n "$version_id" ]] || version_id=${name#debian}

log "docker import -> ${image} (os=${name} debian ${version_id}, linux/${arch}, glibc ${glibc})"
docker import --platform "linux/${arch}" \
  --change 'CMD ["/bin/bash"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "LABEL org.slurm-factory.os=${name} org.slurm-factory.suite=${suite} org.slurm-factory.os-version=${version_id} org.slurm-factory.glibc=${glibc} org.slurm-factory.arch=${arch} org.slurm-factory.libc6=${libc6} org.slurm-factory.mirror=${mirror}" \
  "$tarball" "$image" >/dev/null

docker run --rm --platform "linux/${arch}" "$image" bash -c 'test -x /usr/bin/apt-get && . /etc/os-release && echo "$PRETTY_NAME $(uname -m)"' >&2 \
  || die "the imported image ${image} does not run"
log "built ${image} in $((SECONDS - started)) s"
