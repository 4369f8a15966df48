#!/usr/bin/env bash
# Make a hardlinked Spack view relocatable in place: every ELF file gets a RUNPATH made only of $ORIGIN-relative
# directories inside the view, absolute symlinks into the install tree become relative, and pkg-config files
# refer to ${pcfiledir} instead of install prefixes.
set -euo pipefail
SF_TOOL=relocate-view
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/package/common.sh
. "$here/common.sh"

usage() {
  cat <<'EOF'
Usage: relocate-view.sh --view DIR [--specs FILE] [--report FILE] [--dry-run] [--verbose]

Rewrites, in place (the view's hardlinks into the install tree are followed: the install tree changes too):
  ELF RUNPATH  For every dynamic ELF file: each RUNPATH/RPATH entry that points into the view, into a Spack
               install prefix (a directory named <name>-<version>-<32-char hash>, or a "prefix" listed in
               --specs) or is $ORIGIN-relative is mapped to the same sub-directory of the view and written as
               $ORIGIN/<relative path>; entries that map to no directory of the view are dropped. Then every
               NEEDED library that exists in the view but is not on that path gets its directory added. The
               result is written with patchelf as DT_RUNPATH (an old DT_RPATH is converted). Files that
               share an inode but need different RUNPATHs are un-hardlinked first.
  symlinks     absolute symlink targets inside the view or an install prefix become relative.
  pkg-config   in */pkgconfig/*.pc, absolute paths into the view or an install prefix become ${pcfiledir}/...
Runs again without changing anything.

  --view DIR      the view (a symlink to it is resolved first)
  --specs FILE    `spack find --json` output; entries with a "prefix" field add exact install prefixes
  --report FILE   write key=value statistics (for manifest.json)
  --dry-run       print what would change, change nothing
  --verbose       print every change
  -h, --help      this help
EOF
}

view='' specs='' report='' dry_run=no verbose=no
while (($#)); do
  case $1 in
    --view) need_value "$1" "$#"; view=$2; shift 2 ;;
    --specs) need_value "$1" "$#"; specs=$2; shift 2 ;;
    --report) need_value "$1" "$#"; report=$2; shift 2 ;;
    --dry-run) dry_run=yes; shift ;;
    --verbose) verbose=yes; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
done
require_view "$view"
view=$REPLY
need_cmd patchelf 'apt-get install patchelf / dnf install patchelf'
need_cmd readelf 'binutils'

say() { [[ $verbose == no ]] || log "$@"; }

# Exact install prefixes from specs.json (longest first), when it has them (`spack find --json` has not).
prefixes=()
if [[ -n $specs ]]; then
  [[ -f $specs ]] || die "specs file '$specs' not found"
  while IFS= read -r p; do
    [[ -n $p ]] || continue
    norm_path "$p"
    prefixes+=("$REPLY")
  done < <(python3 "$here/manifest.py" prefixes --specs "$specs")
fi

# map_into_view ABS: the view path an absolute path corresponds to, into REPLY; false when it has none.
map_into_view() {
  norm_path "$1"
  local p=$REPLY pre
  if under "$view" "$p"; then REPLY=$p; return 0; fi
  for pre in "${prefixes[@]}"; do
    if under "$pre" "$p"; then
      norm_path "$view/${p#"$pre"}"
      return 0
    fi
  done
  if spack_subpath "$p"; then
    norm_path "$view/$REPLY"
    return 0
  fi
  return 1
}

# One sorted listing: path, type (f/l), device:inode, symlink target.
declare -a paths types inodes targets
while IFS=$'\t' read -r -d '' p t i l; do
  paths+=("$p") types+=("$t") inodes+=("$i") targets+=("$l")
done < <(find "$view" \( -type f -o -type l \) -printf '%p\t%y\t%D:%i\t%l\0' | sort -z)

n_symlinks_fixed=0 n_elf=0 n_static=0 n_patched=0 n_unchanged=0 n_unlinked=0 n_dropped=0 n_pc=0
compiled_plugin_dir=''

# 1. Absolute symlinks into the view or an install prefix become relative.
for idx in "${!paths[@]}"; do
  [[ ${types[idx]} == l && ${targets[idx]} == /* ]] || continue
  link=${paths[idx]}
  map_into_view "${targets[idx]}" || continue
  rel_path "${link%/*}" "$REPLY"
  say "symlink ${link#"$view"/}: ${targets[idx]} -> $REPLY"
  if [[ $dry_run == no ]]; then ln -sfn -- "$REPLY" "$link"; fi
  targets[idx]=$REPLY
  n_symlinks_fixed=$((n_symlinks_fixed + 1))
done

# 2. Where each shared-library file name lives in the view (files and symlinks to files), by sorted path.
declare -A libdir_of=()
for idx in "${!paths[@]}"; do
  p=${paths[idx]}
  name=${p##*/}
  [[ $name == *.so || $name == *.so.* ]] || continue
  [[ -z ${libdir_of[$name]:-} ]] || continue
  [[ -f $p ]] || continue # dangling symlink
  libdir_of[$name]=${p%/*}
done

# 3. RUNPATHs.
declare -A cache_dyn=() cache_needed=() cache_path=() patched_to=()
for idx in "${!paths[@]}"; do
  [[ ${types[idx]} == f ]] || continue
  f=${paths[idx]}
  is_elf "$f" || continue
  n_elf=$((n_elf + 1))
  ino=${inodes[idx]}
  if [[ -z ${cache_dyn[$ino]:-} ]]; then
    elf_dynamic "$f"
    cache_dyn[$ino]=$ELF_DYNAMIC
    old=$ELF_RUNPATH
    tag=RUNPATH
    if [[ -z $old && -n $ELF_RPATH ]]; then old=$ELF_RPATH tag=RPATH; fi
    cache_path[$ino]="$tag:$old"
    joined=''
    ((${#ELF_NEEDED[@]} == 0)) || printf -v joined '%s/' "${ELF_NEEDED[@]}" # '/' never occurs in a soname
    cache_needed[$ino]=${joined%/}
  fi
  if [[ ${cache_dyn[$ino]} == no ]]; then
    n_static=$((n_static + 1))
    continue
  fi
  tag=${cache_path[$ino]%%:*}
  old=${cache_path[$ino]#*:}
  dir=${f%/*}

  declare -a dirs=()
  IFS=: read -r -a entries <<<"$old"
  for e in "${entries[@]}"; do
    [[ -n $e ]] || continue
    if [[ $e == *"$ORIGIN_TOKEN"* || $e == *"\${ORIGIN}"* ]]; then
      expand_origin "$e" "$dir"
      target=$REPLY
      under "$view" "$target" || { say "${f#"$view"/}: drop $e (leaves the view)"; n_dropped=$((n_dropped + 1)); continue; }
    elif [[ $e == /* ]]; then
      if ! map_into_view "$e"; then
        say "${f#"$view"/}: drop $e (outside the view and every install prefix)"
        n_dropped=$((n_dropped + 1))
        continue
      fi
      target=$REPLY
      if [[ -z $compiled_plugin_dir && $e == */lib/slurm && $target == "$view/lib/slurm" ]]; then
        norm_path "$e"
        compiled_plugin_dir=$REPLY
      fi
    else
      say "${f#"$view"/}: drop $e (relative to the working directory)"
      n_dropped=$((n_dropped + 1))
      continue
    fi
    if [[ ! -d $target ]]; then
      say "${f#"$view"/}: drop $e (no ${target#"$view"/} in the view)"
      n_dropped=$((n_dropped + 1))
      continue
    fi
    dirs+=("$target")
  done
  IFS=/ read -r -a needed <<<"${cache_needed[$ino]}"
  for so in "${needed[@]}"; do
    [[ -n $so && $so != */* ]] || continue
    found=no
    for d in "${dirs[@]}"; do
      if [[ -e $d/$so ]]; then found=yes; break; fi
    done
    [[ $found == yes || -z ${libdir_of[$so]:-} ]] || dirs+=("${libdir_of[$so]}")
  done

  new=''
  declare -A seen=()
  for d in "${dirs[@]}"; do
    rel_path "$dir" "$d"
    if [[ $REPLY == . ]]; then e=$ORIGIN_TOKEN; else e="$ORIGIN_TOKEN/$REPLY"; fi
    [[ -z ${seen[$e]:-} ]] || continue
    seen[$e]=1
    new+="${new:+:}$e"
  done
  unset seen dirs

  if [[ -n ${patched_to[$ino]:-} ]]; then
    # Another path of this inode was patched already.
    [[ ${patched_to[$ino]} != "=$new" ]] || continue
    say "${f#"$view"/}: shares its inode with a file that needs another RUNPATH: copying it"
    if [[ $dry_run == no ]]; then
      cp -p -- "$f" "$f.sf-unlink.$$" && mv -f -- "$f.sf-unlink.$$" "$f"
    fi
    n_unlinked=$((n_unlinked + 1))
  elif [[ $new == "$old" && $tag == RUNPATH ]]; then
    patched_to[$ino]="=$new"
    n_unchanged=$((n_unchanged + 1))
    continue
  fi
  patched_to[$ino]="=$new"
  say "${f#"$view"/}: ${tag} '${old}' -> RUNPATH '${new}'"
  n_patched=$((n_patched + 1))
  [[ $dry_run == no ]] || continue
  if [[ -z $new ]]; then
    patchelf --remove-rpath "$f" || die "patchelf --remove-rpath failed on $f"
  else
    patchelf --set-rpath "$new" "$f" || die "patchelf --set-rpath failed on $f"
  fi
done

# 4. pkg-config files: install-tree paths become ${pcfiledir}-relative.
path_re='^([^/]*)(/[^[:space:]"'"'"',:;=()]+)(.*)$'
for idx in "${!paths[@]}"; do
  [[ ${types[idx]} == f ]] || continue
  pc=${paths[idx]}
  [[ $pc == */pkgconfig/*.pc ]] || continue
  changed=no
  pc_text=''
  while IFS= read -r line || [[ -n $line ]]; do
    rest=$line
    line=''
    while [[ $rest =~ $path_re ]]; do
      line+=${BASH_REMATCH[1]}
      abs=${BASH_REMATCH[2]}
      rest=${BASH_REMATCH[3]}
      if map_into_view "$abs"; then
        rel_path "${pc%/*}" "$REPLY"
        if [[ $REPLY == . ]]; then line+="\${pcfiledir}"; else line+="\${pcfiledir}/$REPLY"; fi
        changed=yes
      else
        line+=$abs
      fi
    done
    pc_text+="$line$rest"$'\n'
  done <"$pc"
  [[ $changed == yes ]] || continue
  say "pkg-config ${pc#"$view"/}: install paths -> \${pcfiledir}"
  n_pc=$((n_pc + 1))
  if [[ $dry_run == no ]]; then printf '%s' "$pc_text" >"$pc"; fi
done

log "ELF files: ${n_elf} (${n_static} without dynamic section), RUNPATH rewritten: ${n_patched}," \
  "already relative: ${n_unchanged}, un-hardlinked: ${n_unlinked}, entries dropped: ${n_dropped};" \
  "symlinks made relative: ${n_symlinks_fixed}; pkg-config files rewritten: ${n_pc}$([[ $dry_run == yes ]] && echo ' (dry run)')"

if [[ -n $report ]]; then
  {
    echo "elf_files=$n_elf"
    echo "elf_without_dynamic=$n_static"
    echo "runpath_rewritten=$n_patched"
    echo "runpath_unchanged=$n_unchanged"
    echo "unhardlinked=$n_unlinked"
    echo "entries_dropped=$n_dropped"
    echo "symlinks_relative=$n_symlinks_fixed"
    echo "pkgconfig_rewritten=$n_pc"
    echo "compiled_plugin_dir=$compiled_plugin_dir"
  } >"$report"
fi
