#!/usr/bin/env bash
# Pack a view plus a staging directory into one reproducible .tar.gz and its .sha256.
set -euo pipefail
SF_TOOL=pack-tarball
# shellcheck source=scripts/package/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  cat <<'EOF'
Usage: pack-tarball.sh --view DIR --stage DIR --out FILE [--sum FILE] [--mtime EPOCH] [--level 1-9]

Writes FILE, a gzip'ed GNU tar whose root holds `view/` (the contents of --view, whatever that directory is
called) and every top-level entry of --stage (e.g. manifest.json, modules/, data/), and its checksum (--sum) in
`sha256sum` format (the file name only, so `sha256sum -c` works next to it).
Reproducible: members sorted by name, every mtime EPOCH, uid/gid 0 with no user/group names, hardlinks kept
as hardlinks, gzip without name or timestamp. The same inputs give byte-identical files.

  --view DIR      the tree that becomes view/ (a symlink is resolved)
  --stage DIR     the other top-level entries (must not contain view)
  --out FILE      the .tar.gz to write (written to a temporary name, then renamed)
  --sum FILE      where its checksum goes (default FILE.sha256; the caller passes the name from build-info.json)
  --mtime EPOCH   timestamp of every member; default $SOURCE_DATE_EPOCH (required if that is unset)
  --level N       gzip level (default 6, gzip's own default)
  -h, --help      this help
EOF
}

view='' stage='' out='' sum_file='' mtime=${SOURCE_DATE_EPOCH:-} level=6
while (($#)); do
  case $1 in
    --view) need_value "$1" "$#"; view=$2; shift 2 ;;
    --stage) need_value "$1" "$#"; stage=$2; shift 2 ;;
    --out) need_value "$1" "$#"; out=$2; shift 2 ;;
    --sum) need_value "$1" "$#"; sum_file=$2; shift 2 ;;
    --mtime) need_value "$1" "$#"; mtime=$2; shift 2 ;;
    --level) need_value "$1" "$#"; level=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
done
[[ -n $view && -n $stage && -n $out ]] || usage_error '--view, --stage and --out are required'
[[ -d $view ]] || die "view '$view' is not a directory"
[[ -d $stage ]] || die "stage '$stage' is not a directory"
[[ $mtime =~ ^[0-9]+$ ]] || usage_error "--mtime (or SOURCE_DATE_EPOCH) must be seconds since the epoch, got '${mtime}'"
[[ $level =~ ^[1-9]$ ]] || usage_error "--level must be 1-9, got '$level'"
need_cmd tar 'GNU tar'
need_cmd gzip 'gzip'
tar --version 2>/dev/null | { IFS= read -r first && [[ $first == *'GNU tar'* ]]; } || die 'tar is not GNU tar (needed for --sort=name)'

view=$(realpath -e -- "$view")
stage=$(realpath -e -- "$stage")
out_dir=$(dirname -- "$out")
[[ -d $out_dir ]] || die "output directory '$out_dir' does not exist"
out="$(realpath -e -- "$out_dir")/${out##*/}"
[[ -n $sum_file ]] || sum_file="$out.sha256"

top=()
while IFS= read -r -d '' e; do
  e=${e##*/}
  [[ $e != view ]] || die "stage '$stage' must not contain 'view': the view comes from --view"
  top+=("$e")
done < <(find "$stage" -mindepth 1 -maxdepth 1 -print0 | sort -z)

view_parent=${view%/*}
[[ -n $view_parent ]] || view_parent=/
view_base=${view##*/}
transform=()
if [[ $view_base != view ]]; then
  for e in "${top[@]}"; do
    [[ $e != "$view_base" ]] || die "stage entry '$e' has the view directory's name"
  done
  re=$view_base
  for c in \\ . '[' ']' '*' '^' '$' '|'; do re=${re//"$c"/\\$c}; done
  # Rename the view's top directory; hardlink targets follow (h), symlink targets are left alone (S).
  transform=("--transform=s|^${re}\(/\|\$\)|view\1|S")
fi

tmp="$out.tmp.$$"
trap 'rm -f -- "$tmp"' EXIT
start=$SECONDS
tar --create --file=- --format=gnu --sort=name --mtime="@$mtime" \
  --owner=0 --group=0 --numeric-owner "${transform[@]}" \
  -C "$stage" "${top[@]}" -C "$view_parent" "$view_base" |
  gzip -n -"$level" >"$tmp"
# Hashing the written file (hot in the page cache) costs less than a tee into sha256sum competing with gzip.
sum=$(sha256sum <"$tmp")
sum=${sum%% *}
[[ $sum =~ ^[0-9a-f]{64}$ ]] || die "could not checksum $out"
mv -f -- "$tmp" "$out"
trap - EXIT
printf '%s  %s\n' "$sum" "${out##*/}" >"$sum_file"
log "wrote ${out} ($(stat -c %s -- "$out") bytes, sha256 ${sum}) in $((SECONDS - start)) s"
