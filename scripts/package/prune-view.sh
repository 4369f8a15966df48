#!/usr/bin/env bash
# Remove from a Spack view what the package must not ship, by explicit rules only (see --help).
set -euo pipefail
SF_TOOL=prune-view
# shellcheck source=scripts/package/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  cat <<'EOF'
Usage: prune-view.sh --view DIR [--dry-run]

Deletes, inside the view, exactly these and nothing else (each rule is logged with a count and size):
  static-archives   *.a under lib/ and lib64/ (any depth): nothing links Slurm statically
  libtool-archives  *.la under lib/ and lib64/: they hold absolute install-tree paths
  docs              share/doc, share/info, share/gtk-doc (man pages stay: the module sets MANPATH)
  host-gpu-libs     libnvidia-ml.so*, libcuda.so*, librocm_smi64.so* anywhere, and lib*/**/stubs/ directories:
                    Slurm dlopens NVML/ROCm SMI by bare name and must find the host driver's copies; CUDA's
                    NVML stub on the search path makes Slurm detect 0 GPUs
  spack-metadata    .spack/ at the view root (Spack's view bookkeeping)
include/ and lib/pkgconfig are always kept (SPANK plugins such as pyxis build against them).

  --view DIR   the view to prune (in place)
  --dry-run    list what would be deleted, delete nothing
  -h, --help   this help
EOF
}

view='' dry_run=no
while (($#)); do
  case $1 in
    --view) need_value "$1" "$#"; view=$2; shift 2 ;;
    --dry-run) dry_run=yes; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
done
require_view "$view"
view=$REPLY

total=0
# prune RULE FIND-ARGS...: delete what `find FIND-ARGS -print0` lists (whole directories when it lists one).
prune() {
  local rule=$1 path bytes=0 count=0 size
  shift
  local -a hits=()
  while IFS= read -r -d '' path; do hits+=("$path"); done < <(find "$@" -print0 2>/dev/null | sort -z)
  ((${#hits[@]})) || return 0
  for path in "${hits[@]}"; do
    [[ -e $path || -L $path ]] || continue # inside a directory deleted by an earlier hit
    if [[ -d $path && ! -L $path ]]; then
      size=$(du -sb -- "$path" | { read -r s _ && echo "$s"; })
      count=$((count + $(find "$path" \( -type f -o -type l \) -printf . | wc -c)))
    else
      size=$(stat -c %s -- "$path")
      count=$((count + 1))
    fi
    bytes=$((bytes + size))
    if [[ $dry_run == yes ]]; then
      log "would delete (${rule}) ${path#"$view"/}"
    else
      rm -rf -- "$path"
    fi
  done
  total=$((total + count))
  log "${rule}: ${count} files, $((bytes / 1024)) KiB$([[ $dry_run == yes ]] && echo ' (dry run)')"
}

libdirs=()
for d in lib lib64; do
  if [[ -d $view/$d ]]; then libdirs+=("$view/$d"); fi
done

if ((${#libdirs[@]})); then
  prune static-archives "${libdirs[@]}" -name '*.a' \( -type f -o -type l \)
  prune libtool-archives "${libdirs[@]}" -name '*.la' \( -type f -o -type l \)
  prune host-gpu-libs "${libdirs[@]}" -type d -name stubs -prune
fi
docs=()
for d in share/doc share/info share/gtk-doc; do
  if [[ -d $view/$d ]]; then docs+=("$view/$d"); fi
done
((${#docs[@]} == 0)) || prune docs "${docs[@]}" -maxdepth 0
prune host-gpu-libs "$view" \( -name 'libnvidia-ml.so*' -o -name 'libcuda.so*' -o -name 'librocm_smi64.so*' \) \( -type f -o -type l \)
[[ ! -d $view/.spack ]] || prune spack-metadata "$view/.spack" -maxdepth 0

log "done: ${total} files $([[ $dry_run == yes ]] && echo 'would be' || echo was) removed"
