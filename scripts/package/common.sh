# shellcheck shell=bash
# Globals set here (ELF_*, SPACK_PREFIX, REPLY) are read by the sourcing scripts; '$ORIGIN' is literal text.
# shellcheck disable=SC2034,SC2016
# Helpers shared by the package-stage scripts. Sourced, never run. Pure bash on purpose: the package stage may
# only rely on bash, coreutils, findutils, patchelf, file, binutils, python3, GNU tar, gzip and gnupg (no
# grep/sed/awk), and functions that return through REPLY avoid a fork per call on views with thousands of files.

export LC_ALL=C
shopt -u patsub_replacement 2>/dev/null || true # bash 5.2: '&' in ${x//a/b} replacements stays literal

: "${SF_TOOL:=package}"

log() { printf '%s: %s\n' "$SF_TOOL" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$SF_TOOL" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "$SF_TOOL" "$*" >&2
  exit 1
}
usage_error() {
  printf '%s: %s (see --help)\n' "$SF_TOOL" "$*" >&2
  exit 2
}

need_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not installed (${2:-install it})"
}

# Option parsing helper: `need_value OPTION "$#"` fails when an option that takes a value is last.
need_value() {
  (($2 >= 2)) || usage_error "option $1 needs a value"
}

# require_view VIEW: the --view argument, required and a directory, made absolute into REPLY.
require_view() {
  [[ -n $1 ]] || usage_error '--view is required'
  [[ -d $1 ]] || die "view '$1' is not a directory"
  REPLY=$(realpath -e -- "$1")
}

# norm_path PATH: lexically normalise an absolute path (collapse //, ., ..) into REPLY.
norm_path() {
  local part
  local -a parts kept=()
  IFS=/ read -r -a parts <<<"$1"
  for part in "${parts[@]}"; do
    case $part in
      '' | .) ;;
      ..) ((${#kept[@]} == 0)) || unset 'kept[-1]' ;;
      *) kept+=("$part") ;;
    esac
  done
  local IFS=/
  REPLY="/${kept[*]}"
}

# rel_path FROM_DIR TO_PATH: relative path from a directory to a path (both absolute, normalised) into REPLY.
rel_path() {
  local -a from to
  IFS=/ read -r -a from <<<"${1#/}"
  IFS=/ read -r -a to <<<"${2#/}"
  local i=0 n=${#from[@]} m=${#to[@]} up='' rest=''
  while ((i < n && i < m)) && [[ ${from[i]} == "${to[i]}" ]]; do ((i += 1)); done
  local j
  for ((j = i; j < n; j++)); do up+='../'; done
  for ((j = i; j < m; j++)); do rest+="${to[j]}/"; done
  REPLY="${up}${rest}"
  REPLY=${REPLY%/}
  [[ -n $REPLY ]] || REPLY=.
}

# under DIR PATH: true when PATH (normalised) is DIR or inside it.
under() {
  [[ $2 == "$1" || $2 == "$1"/* ]]
}

# is_elf FILE: the first four bytes are \x7fELF (no fork).
is_elf() {
  local magic=''
  IFS= read -r -d '' -n 4 magic <"$1" 2>/dev/null || true
  [[ $magic == $'\x7fELF' ]]
}

# elf_dynamic FILE: parse `readelf -dW` into ELF_DYNAMIC (yes/no), ELF_NEEDED (array), ELF_RUNPATH, ELF_RPATH,
# ELF_SONAME. ELF_RUNPATH/ELF_RPATH hold the raw colon-separated strings ('' when absent).
elf_dynamic() {
  local line re='\((NEEDED|RUNPATH|RPATH|SONAME)\)[^[]*\[(.*)\]$'
  ELF_DYNAMIC=no ELF_RUNPATH='' ELF_RPATH='' ELF_SONAME=''
  ELF_NEEDED=()
  while IFS= read -r line; do
    if [[ $line == *'Dynamic section at offset'* ]]; then
      ELF_DYNAMIC=yes
    elif [[ $line =~ $re ]]; then
      case ${BASH_REMATCH[1]} in
        NEEDED) ELF_NEEDED+=("${BASH_REMATCH[2]}") ;;
        RUNPATH) ELF_RUNPATH=${BASH_REMATCH[2]} ;;
        RPATH) ELF_RPATH=${BASH_REMATCH[2]} ;;
        SONAME) ELF_SONAME=${BASH_REMATCH[2]} ;;
      esac
    fi
  done < <(readelf -dW -- "$1" 2>/dev/null || true)
}

# expand_origin ENTRY DIR: $ORIGIN / ${ORIGIN} expanded against DIR, normalised, into REPLY.
expand_origin() {
  local e=$1
  e=${e//'${ORIGIN}'/"$2"}
  e=${e//'$ORIGIN'/"$2"}
  norm_path "$e"
}

ORIGIN_TOKEN='$ORIGIN'

# Spack install prefixes end in a `<name>-<version>-<32 base32 chars>` directory. Padded trees contain
# `__spack_path_placeholder__` components before it.
SPACK_HASH_COMPONENT_RE='^[A-Za-z0-9_.+-]+-[a-z2-7]{32}$'

# spack_subpath PATH: when PATH lies inside a Spack install prefix, the part after the prefix (maybe '') into
# REPLY and the prefix into SPACK_PREFIX; false otherwise.
spack_subpath() {
  local -a parts
  IFS=/ read -r -a parts <<<"${1#/}"
  local i n=${#parts[@]}
  for ((i = n - 1; i >= 0; i--)); do
    if [[ ${parts[i]} =~ $SPACK_HASH_COMPONENT_RE ]]; then
      local IFS=/
      SPACK_PREFIX="/${parts[*]:0:i+1}"
      REPLY="${parts[*]:i+1}"
      return 0
    fi
  done
  return 1
}

# compiled_plugin_dir VIEW: the PluginDir Slurm was compiled with (<its install prefix>/lib/slurm, a C string
# in libslurmfull/libslurm), or nothing. Strings with ':' are search paths, not the default.
compiled_plugin_dir() {
  local f m
  for f in "$1"/lib/slurm/libslurmfull.so "$1"/lib/libslurm.so; do
    [[ -f $f ]] || continue
    m=$(grep -aoE '/[[:print:]]*/slurm-[^/[:space:]:]+/lib/slurm' -- "$f" | grep -v ':' || true)
    if [[ -n $m ]]; then
      printf '%s\n' "${m%%$'\n'*}"
      return 0
    fi
  done
  return 0
}
