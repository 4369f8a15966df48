#!/usr/bin/env bash
# Print the glibc floor of a tree: the highest GLIBC_x.y symbol version any of its ELF files needs.
set -euo pipefail
SF_TOOL=glibc-floor
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/package/common.sh
. "$here/common.sh"

usage() {
  cat <<'EOF'
Usage: glibc-floor.sh --view DIR [--with-file] [--verbose]

Reads the version-needs section (.gnu.version_r) of every ELF file under DIR and prints the highest GLIBC_x.y
version needed, e.g. `2.34`: the oldest glibc the tree runs on. GLIBC_ABI_DT_RELR (packed relative
relocations) counts as 2.36, the release that introduced it. Prints `none` when no file needs glibc.

  --view DIR    the tree to scan
  --with-file   print `<floor> <file>`: also the first file (relative to DIR) that needs the floor
  --verbose     list, on stderr, how many files need each glibc version
  -h, --help    this help
EOF
}

view='' with_file=no verbose=no
while (($#)); do
  case $1 in
    --view) need_value "$1" "$#"; view=$2; shift 2 ;;
    --with-file) with_file=yes; shift ;;
    --verbose) verbose=yes; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
done
require_view "$view"
view=$REPLY
need_cmd readelf 'binutils'

# version_gt A B: true when dotted version A > B (numeric per component).
version_gt() {
  local -a a b
  IFS=. read -r -a a <<<"$1"
  IFS=. read -r -a b <<<"$2"
  local i n=$((${#a[@]} > ${#b[@]} ? ${#a[@]} : ${#b[@]}))
  for ((i = 0; i < n; i++)); do
    local x=${a[i]:-0} y=${b[i]:-0}
    ((10#$x == 10#$y)) || { ((10#$x > 10#$y)); return; }
  done
  return 1
}

elves=()
while IFS= read -r -d '' f; do
  is_elf "$f" && elves+=("$f")
done < <(find "$view" -type f -print0 | sort -z)

floor='' floor_file=''
declare -A per_version=()
# scan FILE...: readelf prints a `File: NAME` header only when given several files.
scan() {
  local current=$1 line in_needs=no v seen_here=''
  while IFS= read -r line; do
    if [[ $line == 'File: '* ]]; then
      current=${line#File: } in_needs=no seen_here=''
    elif [[ $line == 'Version needs section'* ]]; then
      in_needs=yes
    elif [[ $line == 'Version '*section* ]]; then
      in_needs=no
    elif [[ $in_needs == yes && $line =~ Name:\ GLIBC_([0-9][0-9.]*|ABI_DT_RELR)[[:space:]] ]]; then
      v=${BASH_REMATCH[1]}
      [[ $v != ABI_DT_RELR ]] || v=2.36
      if [[ " $seen_here " != *" $v "* ]]; then
        seen_here+=" $v"
        per_version[$v]=$((${per_version[$v]:-0} + 1))
      fi
      if [[ -z $floor ]] || version_gt "$v" "$floor"; then
        floor=$v floor_file=${current#"$view"/}
      fi
    fi
  done < <(readelf -VW -- "$@" 2>/dev/null || true)
}
batch=200
for ((i = 0; i < ${#elves[@]}; i += batch)); do
  scan "${elves[@]:i:batch}"
done

if [[ $verbose == yes ]]; then
  for v in "${!per_version[@]}"; do log "GLIBC_$v needed by ${per_version[$v]} file(s)"; done
  log "${#elves[@]} ELF files scanned"
fi
if [[ -z $floor ]]; then
  echo none
elif [[ $with_file == yes ]]; then
  echo "$floor $floor_file"
else
  echo "$floor"
fi
