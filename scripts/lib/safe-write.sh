#!/usr/bin/env bash
# Sourced by the scripts that run as root on the build and CI machines (make-base-image.sh, setup-docker.sh,
# setup-attest-engine.sh, lib/apt-trixie.sh): write a file or make a directory without following a link that
# someone else could have made, and never through a directory another user could change.
#
# The rules are those of templates/slurm_assets/slurm_install.sh (check_parents, check_path, write_new), which
# ships alone in the tarball and so keeps its own copy:
#   - every existing directory above the target is owned by root (or whoever runs this) and is not writable by
#     group or others, so nobody else can swap an entry in it between a check and a write; an ancestor that is
#     world-writable but sticky (/tmp) is accepted, since the next component is then checked as root's own;
#     the target's own directory never may be;
#   - a symbolic link on the way is followed only when root owns it (only root could have put it there, like
#     /var/run -> /run), and the directories it leads to are checked too;
#   - the target itself is never a symbolic link (dangling or not), never anything but a regular file, and never
#     a file with a second hard link;
#   - a file is written to a new temporary file (mktemp) beside it and renamed over it (mv -T): a reader sees
#     the old content or the new, and a link swapped in meanwhile is replaced, never written through.
# Anything else is refused: one line naming the path, what is allowed and what to do, exit 2, nothing written.
# The caller may set PROG (the prefix of that line); the default is the script's name.

# sw_refuse MESSAGE: one line on stderr, exit 2.
sw_refuse() {
  printf '%s: refusing: %s\n' "${PROG:-${0##*/}}" "$*" >&2
  exit 2
}

# sw_dir_ok DIR WHAT [sticky]: DIR (an existing directory, no link) is owned by root or by whoever runs this
# and not writable by group or others; with "sticky", a world-writable directory with the sticky bit passes.
sw_dir_ok() {
  local dir=$1 what=$2 sticky=${3:-} st uid mode
  st=$(stat -L -c '%u %a' -- "$dir")
  uid=${st% *} mode=${st#* }
  ((uid == 0 || uid == EUID)) ||
    sw_refuse "$what: directory $dir is owned by uid $uid, not root: another user could swap its entries; chown root it or choose another path"
  if (((8#$mode & 8#022) != 0)); then
    [[ $sticky == sticky && $((8#$mode & 8#1000)) -ne 0 ]] ||
      sw_refuse "$what: directory $dir is writable by group or others (mode $mode): another user could swap its entries; chmod go-w it or choose another path"
  fi
}

# sw_check_parents PATH WHAT: every existing directory above PATH (which must be absolute) is safe, as above.
sw_check_parents() {
  local path=$1 what=$2 parent cur='' comp deepest=/ uid linked=no phys
  local -a comps
  [[ $path == /* ]] || sw_refuse "$what: '$path' is not an absolute path: give the full path (starting with /)"
  parent=${path%/*}
  IFS=/ read -r -a comps <<<"$parent"
  sw_dir_ok / "$what" sticky
  for comp in "${comps[@]}"; do
    [[ -n $comp ]] || continue
    [[ $comp != . && $comp != .. ]] || sw_refuse "$what: '$path' contains a '$comp' component: give the path without . or .."
    cur=$cur/$comp
    if [[ -L $cur ]]; then
      uid=$(stat -c %u -- "$cur")
      ((uid == 0 || uid == EUID)) ||
        sw_refuse "$what: $cur is a symbolic link owned by uid $uid (to $(readlink -- "$cur")): only root's links are followed; remove it or choose another path"
      [[ -e $cur ]] || sw_refuse "$what: $cur is a dangling symbolic link (to $(readlink -- "$cur")); remove it or choose another path"
      linked=yes
    fi
    [[ -e $cur ]] || break
    [[ -d $cur ]] || sw_refuse "$what: $cur exists and is not a directory; move it away or choose another path"
    sw_dir_ok "$cur" "$what" "$([[ $cur != "$parent" ]] && echo sticky)"
    deepest=$cur
  done
  if [[ $linked == yes ]]; then
    phys=$(cd -P -- "$deepest" && pwd -P)
    cur=''
    IFS=/ read -r -a comps <<<"$phys"
    for comp in "${comps[@]}"; do
      [[ -n $comp ]] || continue
      cur=$cur/$comp
      sw_dir_ok "$cur" "$what (through a link: $deepest is $phys)" "$([[ $cur != "$phys" || $deepest != "$parent" ]] && echo sticky)"
    done
  fi
}

# sw_check_file FILE WHAT: FILE may be (re)written: safe parents, and FILE is missing or a regular file with one
# name (not a link, not a directory, no second hard link).
sw_check_file() {
  local file=$1 what=$2 n
  sw_check_parents "$file" "$what"
  if [[ -L $file ]]; then
    sw_refuse "$what: $file is a symbolic link (to $(readlink -- "$file")): it is not followed; remove it and run this again"
  elif [[ -e $file ]]; then
    [[ -f $file ]] || sw_refuse "$what: $file exists and is not a regular file; move it away and run this again"
    n=$(stat -c %h -- "$file")
    ((n == 1)) || sw_refuse "$what: $file has $n hard links: writing it would change the other names too; remove it and run this again"
  fi
}

# sw_write FILE MODE WHAT: stdin becomes FILE (mode MODE) by way of a new temporary file beside it, renamed over
# it; refused (exit 2, nothing written) when sw_check_file refuses.
sw_write() {
  local file=$1 mode=$2 what=$3 tmp
  sw_check_file "$file" "$what"
  tmp=$(mktemp -- "${file%/*}/.${file##*/}.XXXXXX")
  if ! { cat >"$tmp" && chmod "$mode" -- "$tmp" && mv -T -f -- "$tmp" "$file"; }; then
    rm -f -- "$tmp"
    return 1
  fi
}

# sw_new_file FILE MODE WHAT: an empty FILE, made new (a log a daemon then appends to); as sw_write.
sw_new_file() {
  sw_write "$1" "$2" "$3" </dev/null
}

# sw_dir DIR WHAT: DIR is a directory that may hold what this script writes: not a link, owned by root, not
# writable by group or others, with safe parents. Created (mode 0755, umask 022) when missing.
sw_dir() {
  local dir=${1%/} what=$2
  if [[ -L $dir ]]; then
    sw_refuse "$what: $dir is a symbolic link (to $(readlink -- "$dir")): it is not followed; give a real directory owned by root"
  elif [[ -e $dir && ! -d $dir ]]; then
    sw_refuse "$what: $dir exists and is not a directory; move it away or give a directory owned by root"
  fi
  sw_check_parents "$dir/." "$what"
  if [[ ! -e $dir ]]; then
    (umask 022 && mkdir -p -- "$dir")
    # Again, now that it exists: someone else may have made a level of it first.
    sw_check_parents "$dir/." "$what"
  fi
}
