#!/usr/bin/env bash
# Fail, listing file and entry, when anything in a relocated view still depends on a path outside it.
set -euo pipefail
SF_TOOL=audit-view
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/package/common.sh
. "$here/common.sh"

usage() {
  cat <<'EOF'
Usage: audit-view.sh --view DIR [--allow-host REGEX]... [--quiet]

Checks every file of a relocated view and exits 1 listing each problem as `FAIL <file>: <entry>: <why>`:
  - every RUNPATH/RPATH entry of every ELF file is $ORIGIN-relative and stays inside the view (no absolute
    paths: not the install tree, not a build stage, not a padding placeholder, not the view's own location),
    and is no CUDA `stubs` directory;
  - every NEEDED library resolves through that file's own RUNPATH to a file inside the view, except glibc's
    own libraries (libc, libm, libdl, libpthread, librt, libresolv, libutil, libmvec, libanl, ld-linux*,
    ld64) and GPU driver libraries that must come from the host (libcuda, libnvidia-ml, librocm_smi64);
  - the view ships none of those host libraries (no NVML stub, no ROCm SMI, no libc);
  - symlinks stay inside the view.
Warnings (no failure): dangling symlinks, absolute symlinks to system paths, text files that still mention
an install prefix.

  --view DIR           the view
  --allow-host REGEX   also accept NEEDED sonames matching this bash regex from the host (repeatable)
  --quiet              print only failures and the summary
  -h, --help           this help
EOF
}

view='' quiet=no
allow_host=('^libcuda\.so(\.[0-9]+)*$' '^libnvidia-ml\.so(\.[0-9]+)*$' '^librocm_smi64\.so(\.[0-9]+)*$')
glibc_re='^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libresolv\.so\.2|libutil\.so\.1|libmvec\.so\.1|libanl\.so\.1|ld-linux[-a-z0-9_.]*\.so\.[0-9]+|ld64\.so\.[0-9]+|linux-vdso\.so\.1)$'
while (($#)); do
  case $1 in
    --view) need_value "$1" "$#"; view=$2; shift 2 ;;
    --allow-host) need_value "$1" "$#"; allow_host+=("$2"); shift 2 ;;
    --quiet) quiet=yes; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
done
require_view "$view"
view=$REPLY
need_cmd readelf 'binutils'

failures=0 warnings=0
fail() {
  printf 'FAIL %s\n' "$*" >&2
  failures=$((failures + 1))
}
note() {
  warnings=$((warnings + 1))
  [[ $quiet == yes ]] || printf 'WARN %s\n' "$*" >&2
}
host_allowed() {
  local re
  for re in "${allow_host[@]}"; do [[ $1 =~ $re ]] && return 0; done
  return 1
}

declare -a paths types targets
while IFS=$'\t' read -r -d '' p t l; do
  paths+=("$p") types+=("$t") targets+=("$l")
done < <(find "$view" \( -type f -o -type l \) -printf '%p\t%y\t%l\0' | sort -z)

n_elf=0 n_checked=0
text_hits=0
for idx in "${!paths[@]}"; do
  p=${paths[idx]}
  rel=${p#"$view"/}
  name=${p##*/}

  # Host-only libraries must not be shipped, whatever their form.
  if [[ $name =~ $glibc_re ]] || host_allowed "$name"; then
    fail "$rel: shipped: $name must come from the host, never from the view"
  fi

  if [[ ${types[idx]} == l ]]; then
    t=${targets[idx]}
    if [[ $t == /* ]]; then
      norm_path "$t"
      if under "$view" "$REPLY"; then
        fail "$rel: symlink -> $t: absolute path to the view's build location"
      elif spack_subpath "$REPLY" || [[ $t == *__spack_path_placeholder__* ]]; then
        fail "$rel: symlink -> $t: points into the Spack install tree"
      else
        note "$rel: symlink -> $t: absolute system path"
      fi
    else
      norm_path "${p%/*}/$t"
      if ! under "$view" "$REPLY"; then
        fail "$rel: symlink -> $t: leaves the view"
      elif [[ ! -e $p ]]; then
        note "$rel: symlink -> $t: dangling"
      fi
    fi
    continue
  fi

  if ! is_elf "$p"; then
    # Text files that still name an install prefix keep working only on the build host.
    case $rel in
      bin/* | sbin/* | libexec/* | etc/* | lib*/pkgconfig/* | lib*/cmake/* | share/pkgconfig/*) ;;
      *) continue ;;
    esac
    if ((text_hits < 20)) && [[ $(stat -c %s -- "$p") -lt 262144 ]]; then
      content=''
      IFS= read -r -d '' content <"$p" || true
      if [[ $content == *__spack_path_placeholder__* || $content =~ /[^[:space:]]*-[a-z2-7]{32}/ ]]; then
        note "$rel: text file mentions a Spack install prefix (works only where that path exists)"
        text_hits=$((text_hits + 1))
      fi
    fi
    continue
  fi

  n_elf=$((n_elf + 1))
  elf_dynamic "$p"
  [[ $ELF_DYNAMIC == yes ]] || continue
  n_checked=$((n_checked + 1))
  dir=${p%/*}
  search=$ELF_RUNPATH
  tag=RUNPATH
  if [[ -z $search && -n $ELF_RPATH ]]; then search=$ELF_RPATH tag=RPATH; fi
  [[ -z $ELF_RUNPATH || -z $ELF_RPATH ]] || fail "$rel: RPATH '$ELF_RPATH': stale DT_RPATH beside DT_RUNPATH"
  dirs=()
  IFS=: read -r -a entries <<<"$search"
  for e in "${entries[@]}"; do
    [[ -n $e ]] || continue
    if [[ $e != "$ORIGIN_TOKEN"* && $e != "\${ORIGIN}"* ]]; then
      if [[ $e == *__spack_path_placeholder__* ]]; then
        fail "$rel: $tag $e: Spack padding placeholder"
      elif [[ $e == /* ]] && spack_subpath "$e"; then
        fail "$rel: $tag $e: points into the Spack install tree"
      else
        fail "$rel: $tag $e: not \$ORIGIN-relative (breaks when the tree moves)"
      fi
      continue
    fi
    expand_origin "$e" "$dir"
    if ! under "$view" "$REPLY"; then
      fail "$rel: $tag $e: leaves the view"
      continue
    fi
    [[ $REPLY != */stubs && $REPLY != */stubs/* ]] || fail "$rel: $tag $e: a stubs directory (CUDA's NVML stub hides the driver)"
    dirs+=("$REPLY")
  done
  for so in "${ELF_NEEDED[@]}"; do
    if [[ $so == */* ]]; then
      fail "$rel: NEEDED $so: a path, not a soname"
      continue
    fi
    found=''
    for d in "${dirs[@]}"; do
      if [[ -e $d/$so ]]; then found=$d/$so; break; fi
    done
    if [[ -n $found ]]; then
      continue
    elif [[ $so =~ $glibc_re ]]; then
      continue
    elif host_allowed "$so"; then
      continue
    elif [[ -n $search ]]; then
      fail "$rel: NEEDED $so: not found on its $tag ($search); it would come from outside the view"
    else
      fail "$rel: NEEDED $so: no RUNPATH; it would come from outside the view"
    fi
  done
done

if ((failures > 0)); then
  printf '%s: FAILED: %d problem(s) in %s (%d ELF files, %d dynamic)\n' "$SF_TOOL" "$failures" "$view" "$n_elf" "$n_checked" >&2
  exit 1
fi
log "passed: ${n_elf} ELF files (${n_checked} dynamic) resolve inside the view; ${warnings} warning(s)"
