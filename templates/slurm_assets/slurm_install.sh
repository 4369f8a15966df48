#!/usr/bin/env bash
# slurm_install.sh: set up a node for the relocatable Slurm this tarball holds (users, directories, keys,
# configs, systemd units, Lmod module). Idempotent; ships in <tarball>/data/slurm_assets/.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true # bash 5.2: '&' in ${x//a/b} replacements stays literal

PROG=slurm_install
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

# Build facts written by slurm-factory (KEY=VALUE lines; read, never sourced).
declare -A BUILD=([SLURM_RELEASE]=unknown [SLURM_SERIES]=unknown [GCC]=unknown [FLAVOUR]=cpu [MODULE_NAME]='')
if [[ -f $here/build.env ]]; then
  while IFS='=' read -r k v; do
    [[ $k =~ ^[A-Z_]+$ ]] && BUILD[$k]=$v
  done <"$here/build.env"
fi

usage() {
  cat <<EOF
Usage: slurm_install.sh [OPTIONS]

Sets up this node for Slurm ${BUILD[SLURM_RELEASE]} (GCC ${BUILD[GCC]}, ${BUILD[FLAVOUR]}) from the unpacked tarball.
Safe to run again: it only creates what is missing, never overwrites an existing config file unless --force,
never regenerates a key, and says what it did (or would do, with --dry-run) line by line.

Always (every node):
  - renders slurm.conf and cgroup.conf into the config directory (only when missing, unless --force)
  - installs systemd units slurmctld/slurmd/slurmdbd.service for this prefix (SLURM_CONF set,
    slurmd -d <prefix>/sbin/slurmstepd); rewritten when the prefix changes; not with --no-systemd
  - with --lmod-dir: copies the module into an Lmod tree, pointing at this prefix
With --full-init (first setup of a node) also:
  - the SlurmUser user and group (system account, no login)
  - /var/spool/slurmctld (SlurmUser, 0700), /var/spool/slurmd (root, 0755), /var/log/slurm (SlurmUser, 0755)
  - slurm.key for auth/slurm and cred/slurm (1024 random bytes, SlurmUser, 0600; copy the controller's to
    every node) and jwt_hs256.key for auth/jwt (SlurmUser, 0600)
  - slurmdbd.conf (SlurmUser, 0600) and slurm_acct_db.sql (root, 0600) sharing one random database password
    (or --db-password-file); feed the SQL to MariaDB/MySQL as root: mysql < /etc/slurm/slurm_acct_db.sql
Without systemd (--no-systemd or --container) also /run/slurmctld, /run/slurm and /run/slurmdbd.

Where:
  --prefix DIR          the Slurm installation: the unpacked tarball's view/ directory, or the directory the
                        tarball was unpacked into (then DIR/view). Default: the view next to this script.
                        Also \$SLURM_INSTALL_PREFIX.
  --conf-dir DIR        config directory (default /etc/slurm). Not /etc/slurm: users need SLURM_CONF.
  --root DIR            act on a scratch root (an image being built, a test): every system path is taken
                        under DIR, users/groups go into DIR/etc/passwd and DIR/etc/group, nothing is
                        started or reloaded. --prefix is the path as the installed system sees it.
What:
  --full-init           also create users, directories, keys and the accounting config (see above)
  --container           setup for a container without systemd or cgroup access: ProctrackType=
                        proctrack/linuxproc, TaskPlugin=task/none, cgroup.conf for containers
                        (CgroupPlugin=disabled on Slurm >= 24.05; 23.11 needs cgroup/v2 with
                        IgnoreSystemd=yes and a privileged container), implies --no-systemd
  --no-systemd          install no systemd units; start the daemons as --print-commands shows
  --lmod-dir DIR        install the module as DIR/${BUILD[MODULE_NAME]:-slurm/<name>}.lua
  --print-commands      only print the commands that start slurmdbd, slurmctld and slurmd the way the
                        units do (one a line, for scripts and containers), then exit
Configless (slurmd fetches slurm.conf, cgroup.conf, ... from slurmctld; https://slurm.schedmd.com/configless_slurm.html):
  --enable-configless   controller: SlurmctldParameters=enable_configless in the rendered slurm.conf
  --conf-server HOST[:PORT]
                        compute node: slurmd runs with --conf-server HOST (unit and --print-commands) and no
                        slurm.conf or cgroup.conf is rendered here. slurmd reads nothing before it has fetched
                        its config, so it looks for its auth plugin in the PluginDir Slurm was compiled with;
                        this creates that directory as a symlink to <prefix>/lib/slurm when it is missing
slurm.conf values (used when a file is rendered):
  --cluster-name NAME   ClusterName (default: cluster)
  --controller HOST     SlurmctldHost (default: this host's short name)
  --node-name NAME      the one NodeName line, with this host's CPUs and memory (default: this host)
  --slurm-user NAME     SlurmUser (default: slurm; root is fine for a test cluster)
  --proctrack TYPE      ProctrackType (default proctrack/cgroup; --container: proctrack/linuxproc)
  --task-plugin LIST    TaskPlugin (default task/cgroup,task/affinity; --container: task/none)
  --accounting          enable accounting through slurmdbd in slurm.conf (AccountingStorageType)
  --dbd-host HOST       slurmdbd host (default: the controller)
  --db-host HOST        MariaDB/MySQL host (default: localhost)
  --db-name NAME        database (default: slurm_acct_db)
  --db-user NAME        database user (default: slurm)
  --db-password-file F  database password (default: reuse the one in slurmdbd.conf, else a random one)
General:
  --dry-run             print what would change; change nothing
  --force               overwrite existing config files with freshly rendered ones (keys are never replaced)
  -q, --quiet           print only changes and errors
  -h, --help            this help

Starting without systemd (what --print-commands prints for the default paths):
  SLURM_CONF=/etc/slurm/slurm.conf <prefix>/sbin/slurmctld
  [PMIX_INSTALL_PREFIX=<prefix>] SLURM_CONF=/etc/slurm/slurm.conf <prefix>/sbin/slurmd -d <prefix>/sbin/slurmstepd
  (PMIX_INSTALL_PREFIX when the tree ships PMIx: its compiled-in prefix is the build's install tree;
  with --conf-server HOST the slurmd line is <prefix>/sbin/slurmd --conf-server HOST -d ..., no SLURM_CONF)
Authentication is auth/slurm + cred/slurm (Slurm >= 23.11): no munge. To use MUNGE instead, see the
comments in slurm.conf.
EOF
}

log() { [[ $QUIET == yes ]] || printf '%s: %s\n' "$PROG" "$*"; }
die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}
usage_error() {
  printf '%s: %s (see --help)\n' "$PROG" "$*" >&2
  exit 2
}

ROOT='' PREFIX=${SLURM_INSTALL_PREFIX:-} CONF_DIR=/etc/slurm
FULL_INIT=no CONTAINER=no SYSTEMD=yes DRY_RUN=no FORCE=no QUIET=no PRINT_COMMANDS=no ACCOUNTING=no
LMOD_DIR='' CLUSTER_NAME=cluster CONTROLLER='' NODE_NAME='' SLURM_USER=slurm PROCTRACK='' TASK_PLUGIN=''
DBD_HOST='' DB_HOST=localhost DB_NAME=slurm_acct_db DB_USER=slurm DB_PASSWORD_FILE=''
CONF_SERVER='' ENABLE_CONFIGLESS=no

while (($#)); do
  opt=$1 val=''
  if [[ $opt == --*=* ]]; then
    val=${opt#*=} opt=${opt%%=*}
    set -- "$opt" "$val" "${@:2}"
  fi
  case $opt in
    --prefix | --conf-dir | --root | --lmod-dir | --cluster-name | --controller | --node-name | --slurm-user | \
      --proctrack | --task-plugin | --dbd-host | --db-host | --db-name | --db-user | --db-password-file | \
      --conf-server)
      (($# >= 2)) || usage_error "option $opt needs a value"
      val=$2
      shift 2
      case $opt in
        --prefix) PREFIX=$val ;;
        --conf-dir) CONF_DIR=$val ;;
        --root) ROOT=$val ;;
        --lmod-dir) LMOD_DIR=$val ;;
        --cluster-name) CLUSTER_NAME=$val ;;
        --controller) CONTROLLER=$val ;;
        --node-name) NODE_NAME=$val ;;
        --slurm-user) SLURM_USER=$val ;;
        --proctrack) PROCTRACK=$val ;;
        --task-plugin) TASK_PLUGIN=$val ;;
        --dbd-host) DBD_HOST=$val ;;
        --db-host) DB_HOST=$val ;;
        --db-name) DB_NAME=$val ;;
        --db-user) DB_USER=$val ;;
        --db-password-file) DB_PASSWORD_FILE=$val ;;
        --conf-server) CONF_SERVER=$val ;;
      esac
      ;;
    --full-init) FULL_INIT=yes; shift ;;
    --container) CONTAINER=yes SYSTEMD=no; shift ;;
    --no-systemd) SYSTEMD=no; shift ;;
    --accounting) ACCOUNTING=yes; shift ;;
    --enable-configless) ENABLE_CONFIGLESS=yes; shift ;;
    --print-commands) PRINT_COMMANDS=yes; shift ;;
    --dry-run) DRY_RUN=yes; shift ;;
    --force) FORCE=yes; shift ;;
    -q | --quiet) QUIET=yes; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
done

# ---------------------------------------------------------------------------------------------------------
# Paths: PREFIX/CONF_DIR are what the installed system sees; host_path maps them under --root.
# ---------------------------------------------------------------------------------------------------------
if [[ -n $ROOT ]]; then
  [[ -d $ROOT ]] || die "--root '$ROOT' is not a directory"
  ROOT=$(cd "$ROOT" && pwd -P)
  [[ $ROOT != / ]] || ROOT=''
fi
host_path() { printf '%s%s' "$ROOT" "$1"; }

[[ -z $CONF_SERVER || $CONF_SERVER =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$ ]] ||
  usage_error "--conf-server '$CONF_SERVER' is not HOST or HOST:PORT (the slurmctld host this slurmd fetches its config from)"
for v in CONF_DIR LMOD_DIR; do
  [[ -z ${!v} || ${!v} == /* ]] || usage_error "--${v,,} must be an absolute path"
done
CONF_DIR=${CONF_DIR%/}
if [[ -z $PREFIX ]]; then
  default_view=$(cd "$here/../.." && pwd -P)/view
  if [[ -n $ROOT && $default_view == "$ROOT"/* ]]; then PREFIX=${default_view#"$ROOT"}; else PREFIX=$default_view; fi
fi
[[ $PREFIX == /* ]] || PREFIX=$(cd "$PREFIX" 2>/dev/null && pwd -P) || die "--prefix '$PREFIX' does not exist"
PREFIX=${PREFIX%/}
if [[ ! -e $(host_path "$PREFIX")/bin/scontrol && -e $(host_path "$PREFIX")/view/bin/scontrol ]]; then
  PREFIX=$PREFIX/view
fi
[[ -e $(host_path "$PREFIX")/bin/scontrol ]] ||
  die "no Slurm at '$(host_path "$PREFIX")': bin/scontrol is missing (--prefix is the unpacked tarball's view/ directory)"
[[ -e $(host_path "$PREFIX")/sbin/slurmstepd ]] || log "note: $PREFIX/sbin/slurmstepd is missing: this tree cannot run slurmd"

PLUGIN_DIR=$PREFIX/lib/slurm
SLURM_CONF_FILE=$CONF_DIR/slurm.conf
# A PMIx shipped in the view finds its components and help files through PMIX_INSTALL_PREFIX (its compiled-in
# prefix is the build's install tree); slurmd passes it on to slurmstepd, which loads PMIx for mpi/pmix.
HAS_PMIX=no
for f in "$(host_path "$PREFIX")"/lib/libpmix.so*; do
  if [[ -e $f ]]; then HAS_PMIX=yes; fi
done
SLURMD_ENV=''
[[ $HAS_PMIX == no ]] || SLURMD_ENV="PMIX_INSTALL_PREFIX=$PREFIX "
# slurmd reads SLURM_CONF, or with --conf-server fetches its config from slurmctld (configless).
if [[ -n $CONF_SERVER ]]; then
  SLURMD_CMD="${SLURMD_ENV}$PREFIX/sbin/slurmd --conf-server $CONF_SERVER -d $PREFIX/sbin/slurmstepd"
else
  SLURMD_CMD="${SLURMD_ENV}SLURM_CONF=$SLURM_CONF_FILE $PREFIX/sbin/slurmd -d $PREFIX/sbin/slurmstepd"
fi

if [[ $PRINT_COMMANDS == yes ]]; then
  printf 'SLURM_CONF=%s %s/sbin/slurmdbd\n' "$SLURM_CONF_FILE" "$PREFIX"
  printf 'SLURM_CONF=%s %s/sbin/slurmctld\n' "$SLURM_CONF_FILE" "$PREFIX"
  printf '%s\n' "$SLURMD_CMD"
  exit 0
fi

if [[ $DRY_RUN == no && $(id -u) -ne 0 ]]; then
  die "run as root (or with --dry-run): it creates users and sets file owners"
fi

short_host=$(uname -n)
short_host=${short_host%%.*}
[[ -n $CONTROLLER ]] || CONTROLLER=$short_host
[[ -n $NODE_NAME ]] || NODE_NAME=$short_host
[[ -n $DBD_HOST ]] || DBD_HOST=$CONTROLLER
if [[ $CONTAINER == yes ]]; then
  PROFILE=container
  [[ -n $PROCTRACK ]] || PROCTRACK=proctrack/linuxproc
  [[ -n $TASK_PLUGIN ]] || TASK_PLUGIN=task/none
else
  PROFILE=host
  [[ -n $PROCTRACK ]] || PROCTRACK=proctrack/cgroup
  [[ -n $TASK_PLUGIN ]] || TASK_PLUGIN=task/cgroup,task/affinity
fi
CPUS=$(nproc 2>/dev/null || echo 1)
mem_kb=0
while read -r key value _; do
  if [[ $key == MemTotal: ]]; then mem_kb=$value; break; fi
done </proc/meminfo
REAL_MEMORY=$((mem_kb * 95 / 100 / 1024)) # a little under slurmd's own measure: never "Low RealMemory"
((REAL_MEMORY > 0)) || REAL_MEMORY=1
for v in CLUSTER_NAME CONTROLLER NODE_NAME SLURM_USER DBD_HOST DB_HOST DB_NAME DB_USER PROCTRACK TASK_PLUGIN; do
  [[ ${!v} =~ ^[A-Za-z0-9_.,/:-]+$ ]] || usage_error "unusable value for ${v,,}: '${!v}'"
done

changes=0
change() {
  changes=$((changes + 1))
  if [[ $DRY_RUN == yes ]]; then
    printf '%s: would %s\n' "$PROG" "$*"
  else
    printf '%s: %s\n' "$PROG" "$*"
  fi
}

# ---------------------------------------------------------------------------------------------------------
# Users and groups (via useradd/groupadd on a live system; by editing DIR/etc/* under --root).
# ---------------------------------------------------------------------------------------------------------
# lookup DB NAME: the entry's line (passwd/group), empty when absent.
lookup() {
  local db=$1 name=$2 line
  if [[ -n $ROOT ]]; then
    [[ -f $ROOT/etc/$db ]] || return 0
    while IFS= read -r line; do
      if [[ $line == "$name":* ]]; then
        printf '%s\n' "$line"
        return 0
      fi
    done <"$ROOT/etc/$db"
    return 0
  else
    getent "$db" "$name" || true
  fi
}
id_of() { # id_of DB NAME -> numeric id (field 3), empty when absent
  local line
  line=$(lookup "$1" "$2")
  [[ -n $line ]] || return 0
  IFS=: read -r _ _ id _ <<<"$line"
  printf '%s\n' "$id"
}
free_system_id() { # the highest id below 1000 free in both passwd and group of the root
  local -A used=()
  local db line id
  for db in passwd group; do
    [[ -f $ROOT/etc/$db ]] || continue
    while IFS=: read -r _ _ id _; do used[$id]=1; done <"$ROOT/etc/$db"
  done
  for ((id = 999; id >= 100; id--)); do
    [[ -n ${used[$id]:-} ]] || { echo "$id"; return 0; }
  done
  die "no free system uid/gid in $ROOT/etc/passwd"
}
nologin_shell() {
  local s
  for s in /usr/sbin/nologin /sbin/nologin /bin/false; do
    [[ -x $(host_path "$s") ]] && { echo "$s"; return; }
  done
  echo /bin/false
}

ensure_user() {
  local user=$1
  [[ $user != root ]] || return 0
  if [[ -z $(lookup group "$user") ]]; then
    change "create group $user (system)"
    if [[ $DRY_RUN == no ]]; then
      if [[ -n $ROOT ]]; then
        [[ -f $ROOT/etc/group ]] || die "$ROOT/etc/group is missing"
        local gid
        gid=$(free_system_id)
        printf '%s:x:%s:\n' "$user" "$gid" >>"$ROOT/etc/group"
        [[ ! -f $ROOT/etc/gshadow ]] || printf '%s:!::\n' "$user" >>"$ROOT/etc/gshadow"
      else
        groupadd --system "$user"
      fi
    fi
  fi
  if [[ -z $(lookup passwd "$user") ]]; then
    local shell
    shell=$(nologin_shell)
    change "create user $user (system, home /var/lib/slurm, shell $shell)"
    if [[ $DRY_RUN == no ]]; then
      if [[ -n $ROOT ]]; then
        [[ -f $ROOT/etc/passwd ]] || die "$ROOT/etc/passwd is missing"
        local uid gid
        gid=$(id_of group "$user")
        uid=$(free_system_id)
        printf '%s:x:%s:%s:Slurm workload manager:/var/lib/slurm:%s\n' "$user" "$uid" "$gid" "$shell" >>"$ROOT/etc/passwd"
        [[ ! -f $ROOT/etc/shadow ]] || printf '%s:!:::::::\n' "$user" >>"$ROOT/etc/shadow"
      else
        useradd --system --gid "$user" --home-dir /var/lib/slurm --no-create-home --shell "$shell" \
          --comment 'Slurm workload manager' "$user"
      fi
    fi
  fi
}

# owner_ids USER GROUP -> "uid:gid" (numeric, from the root's databases), or the names when not there yet.
owner_ids() {
  local u g
  u=$(id_of passwd "$1")
  g=$(id_of group "$2")
  printf '%s:%s\n' "${u:-$1}" "${g:-$2}"
}

# ---------------------------------------------------------------------------------------------------------
# Files and directories.
# ---------------------------------------------------------------------------------------------------------
# fix_attrs PATH USER GROUP MODE: set owner and mode when they differ (logged as a change).
fix_attrs() {
  local path=$1 user=$2 group=$3 mode=$4 want have
  want=$(owner_ids "$user" "$group")
  [[ -e $path ]] || return 0
  have=$(stat -c '%u:%g' -- "$path")
  if [[ $have != "$want" ]]; then
    change "chown $user:$group ${path#"$ROOT"}"
    [[ $DRY_RUN == yes ]] || chown "$want" -- "$path"
  fi
  have=$(stat -c '%a' -- "$path")
  if ((8#$have != 8#$mode)); then
    change "chmod $mode ${path#"$ROOT"}"
    [[ $DRY_RUN == yes ]] || chmod "$mode" -- "$path"
  fi
}

ensure_dir() { # ensure_dir SYSTEM_PATH USER GROUP MODE
  local path
  path=$(host_path "$1")
  if [[ ! -d $path ]]; then
    change "create directory $1 ($2:$3 $4)"
    [[ $DRY_RUN == yes ]] && return 0
    mkdir -p -- "$path"
  fi
  fix_attrs "$path" "$2" "$3" "$4"
}

# install_file SYSTEM_PATH USER GROUP MODE POLICY SOURCE: POLICY keep (config: never overwrite unless
# --force) or replace (generated: rewrite when the content differs).
install_file() {
  local sys=$1 user=$2 group=$3 mode=$4 policy=$5 src=$6 path
  path=$(host_path "$sys")
  if [[ -e $path ]]; then
    if [[ $(sha256sum <"$src") == "$(sha256sum <"$path")" ]]; then
      log "keep $sys (up to date)"
    elif [[ $policy == keep && $FORCE == no ]]; then
      log "keep $sys (exists and differs from the template; --force overwrites it)"
      return 0
    else
      change "update $sys"
      [[ $DRY_RUN == yes ]] || cat -- "$src" >"$path"
    fi
    fix_attrs "$path" "$user" "$group" "$mode"
    return 0
  fi
  change "create $sys ($user:$group $mode)"
  [[ $DRY_RUN == yes ]] && return 0
  mkdir -p -- "$(dirname -- "$path")"
  (umask 077 && cat -- "$src" >"$path")
  chown "$(owner_ids "$user" "$group")" -- "$path"
  chmod "$mode" -- "$path"
}

ensure_key() { # ensure_key SYSTEM_PATH USER BYTES: random key, created once, never replaced
  local sys=$1 user=$2 bytes=$3 path
  path=$(host_path "$sys")
  if [[ -e $path ]]; then
    log "keep $sys (keys are never replaced)"
    fix_attrs "$path" "$user" "$(primary_group "$user")" 600
    return 0
  fi
  change "create $sys ($bytes random bytes, $user 0600)"
  [[ $DRY_RUN == yes ]] && return 0
  mkdir -p -- "$(dirname -- "$path")"
  (umask 077 && head -c "$bytes" /dev/urandom >"$path")
  chown "$(owner_ids "$user" "$(primary_group "$user")")" -- "$path"
  chmod 600 -- "$path"
}
primary_group() { [[ $1 == root ]] && echo root || echo "$1"; }

# Configless slurmd looks for its auth plugin in the PluginDir Slurm was compiled with (build.env
# COMPILED_PLUGIN_DIR, read from the build) before it has a config: make that path lead to this prefix.
ensure_compiled_plugin_dir() {
  local compiled=${BUILD[COMPILED_PLUGIN_DIR]:-} path
  [[ -n $compiled ]] || die "build.env does not record the PluginDir Slurm was compiled with: configless slurmd cannot find its plugins (rebuild with a newer slurm-factory)"
  [[ $compiled != "$PLUGIN_DIR" ]] || { log "keep $compiled (Slurm is where it was compiled)"; return 0; }
  path=$(host_path "$compiled")
  if [[ -L $path ]]; then
    if [[ $(readlink -- "$path") == "$PLUGIN_DIR" ]]; then
      log "keep $compiled -> $PLUGIN_DIR"
      return 0
    fi
    change "repoint $compiled -> $PLUGIN_DIR (was $(readlink -- "$path"))"
    [[ $DRY_RUN == yes ]] || ln -sfn -- "$PLUGIN_DIR" "$path"
  elif [[ -e $path ]]; then
    log "keep $compiled (a real directory: its plugins are used until slurmd has its config)"
  else
    change "link $compiled -> $PLUGIN_DIR (the compiled-in PluginDir, for configless slurmd)"
    [[ $DRY_RUN == yes ]] && return 0
    mkdir -p -- "$(dirname -- "$path")"
    ln -s -- "$PLUGIN_DIR" "$path"
  fi
}

# ---------------------------------------------------------------------------------------------------------
# Templates: `#@TAG:` lines are kept (without the marker) only when TAG is active; @NAME@ is replaced.
# ---------------------------------------------------------------------------------------------------------
declare -A VARS=()
declare -A TAGS=()
render() { # render TEMPLATE OUT
  local line tag key
  : >"$2"
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line =~ ^#@([a-z-]+):(.*)$ ]]; then
      tag=${BASH_REMATCH[1]}
      [[ -n ${TAGS[$tag]:-} ]] || continue
      line=${BASH_REMATCH[2]}
    fi
    for key in "${!VARS[@]}"; do
      line=${line//"@${key}@"/"${VARS[$key]}"}
    done
    [[ ! $line =~ @[A-Z][A-Z0-9_]*@ ]] || die "template $1 uses ${BASH_REMATCH[0]}, which this installer does not set"
    printf '%s\n' "$line" >>"$2"
  done <"$1"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/slurm_install.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

log "Slurm ${BUILD[SLURM_RELEASE]} at $PREFIX${ROOT:+ (root $ROOT)}; config $CONF_DIR; profile $PROFILE$([[ $FULL_INIT == yes ]] && echo ', full init')$([[ $DRY_RUN == yes ]] && echo ', dry run')"

SLURM_GROUP=$(primary_group "$SLURM_USER")
if [[ $FULL_INIT == yes ]]; then
  ensure_user "$SLURM_USER"
elif [[ $SYSTEMD == no && $SLURM_USER != root && -z $(lookup passwd "$SLURM_USER") ]]; then
  die "SlurmUser '$SLURM_USER' does not exist: run with --full-init (creates it) or choose --slurm-user root"
fi

ensure_dir "$CONF_DIR" root root 755
if [[ $FULL_INIT == yes ]]; then
  ensure_dir /var/spool/slurmctld "$SLURM_USER" "$SLURM_GROUP" 700
  ensure_dir /var/spool/slurmd root root 755
  ensure_dir /var/log/slurm "$SLURM_USER" "$SLURM_GROUP" 755
  [[ $SLURM_USER == root ]] || ensure_dir /var/lib/slurm "$SLURM_USER" "$SLURM_GROUP" 755
fi
if [[ $SYSTEMD == no ]]; then
  # systemd's RuntimeDirectory= makes these; without it they must exist before the daemons start.
  ensure_dir /run/slurmctld "$SLURM_USER" "$SLURM_GROUP" 755
  ensure_dir /run/slurm root root 755
  ensure_dir /run/slurmdbd "$SLURM_USER" "$SLURM_GROUP" 755
fi

if [[ $FULL_INIT == yes ]]; then
  ensure_key "$CONF_DIR/slurm.key" "$SLURM_USER" 1024
  ensure_key "$CONF_DIR/jwt_hs256.key" "$SLURM_USER" 32
fi

# Database password: --db-password-file, else the one slurmdbd.conf already has, else a new random one.
DB_PASSWORD=''
if [[ $FULL_INIT == yes ]]; then
  if [[ -n $DB_PASSWORD_FILE ]]; then
    [[ -r $DB_PASSWORD_FILE ]] || die "cannot read --db-password-file '$DB_PASSWORD_FILE'"
    IFS= read -r DB_PASSWORD <"$DB_PASSWORD_FILE" || true
  elif [[ -r $(host_path "$CONF_DIR/slurmdbd.conf") ]]; then
    while IFS= read -r line; do
      [[ $line == StoragePass=* ]] && DB_PASSWORD=${line#StoragePass=}
    done <"$(host_path "$CONF_DIR/slurmdbd.conf")"
  fi
  if [[ -z $DB_PASSWORD ]]; then
    DB_PASSWORD=$(head -c 256 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 32)
  fi
  [[ $DB_PASSWORD =~ ^[A-Za-z0-9_.,:+=@%/-]+$ ]] ||
    die "the database password may only contain letters, digits and _.,:+=@%/- (it goes into SQL and slurmdbd.conf)"
fi

VARS=(
  [PREFIX]=$PREFIX [PLUGIN_DIR]=$PLUGIN_DIR [CONF_DIR]=$CONF_DIR [SLURM_CONF]=$SLURM_CONF_FILE
  [SLURM_USER]=$SLURM_USER [SLURM_GROUP]=$SLURM_GROUP [CLUSTER_NAME]=$CLUSTER_NAME [CONTROLLER]=$CONTROLLER
  [NODE_NAME]=$NODE_NAME [CPUS]=$CPUS [REAL_MEMORY]=$REAL_MEMORY [PROCTRACK_TYPE]=$PROCTRACK
  [TASK_PLUGIN]=$TASK_PLUGIN [DBD_HOST]=$DBD_HOST [DB_HOST]=$DB_HOST [DB_NAME]=$DB_NAME [DB_USER]=$DB_USER
  [DB_PASSWORD]=$DB_PASSWORD [PROFILE]=$PROFILE [CONF_SERVER]=$CONF_SERVER
)
TAGS=([$PROFILE]=1)
if [[ -n $CONF_SERVER ]]; then TAGS[configless]=1; else TAGS[conf-file]=1; fi
if [[ $ENABLE_CONFIGLESS == yes ]]; then TAGS[configless-server]=1; else TAGS[no-configless-server]=1; fi
[[ $HAS_PMIX == no ]] || TAGS[pmix]=1
if [[ $ACCOUNTING == yes ]]; then TAGS[accounting]=1; else TAGS[no-accounting]=1; fi

if [[ -n $CONF_SERVER ]]; then
  log "configless: slurmd fetches slurm.conf and cgroup.conf from $CONF_SERVER (none rendered here)"
  ensure_compiled_plugin_dir
else
  render "$here/slurm/slurm.conf.template" "$work/slurm.conf"
  install_file "$CONF_DIR/slurm.conf" root root 644 keep "$work/slurm.conf"
  render "$here/slurm/cgroup.conf.template" "$work/cgroup.conf"
  install_file "$CONF_DIR/cgroup.conf" root root 644 keep "$work/cgroup.conf"
fi
if [[ $FULL_INIT == yes ]]; then
  render "$here/slurm/slurmdbd.conf.template" "$work/slurmdbd.conf"
  install_file "$CONF_DIR/slurmdbd.conf" "$SLURM_USER" "$SLURM_GROUP" 600 keep "$work/slurmdbd.conf"
  VARS[DB_CLIENT_HOST]=$([[ $DB_HOST == localhost || $DB_HOST == 127.0.0.1 ]] && echo localhost || echo '%')
  render "$here/mysql/slurm_acct_db.sql" "$work/slurm_acct_db.sql"
  install_file "$CONF_DIR/slurm_acct_db.sql" root root 600 keep "$work/slurm_acct_db.sql"
fi

units_changed=no
if [[ $SYSTEMD == yes ]]; then
  for unit in slurmctld slurmd slurmdbd; do
    render "$here/defaults/$unit.service" "$work/$unit.service"
    before=$changes
    install_file "/etc/systemd/system/$unit.service" root root 644 replace "$work/$unit.service"
    ((changes == before)) || units_changed=yes
  done
  if [[ $units_changed == yes && $DRY_RUN == no && -z $ROOT && -d /run/systemd/system ]]; then
    systemctl daemon-reload
  fi
fi

if [[ -n $LMOD_DIR ]]; then
  [[ -n ${BUILD[MODULE_NAME]} ]] || die "build.env names no module: cannot install one"
  tree=$(cd "$here/../.." && pwd -P)
  src="$tree/modules/${BUILD[MODULE_NAME]}.lua"
  [[ -f $src ]] || die "module file $src is missing"
  : >"$work/module.lua"
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line == *'-- slurm-factory:fallback-prefix'* ]]; then
      line="local fallback_prefix = \"$PREFIX\" -- slurm-factory:fallback-prefix (set by slurm_install.sh)"
    fi
    printf '%s\n' "$line" >>"$work/module.lua"
  done <"$src"
  install_file "$LMOD_DIR/${BUILD[MODULE_NAME]}.lua" root root 644 replace "$work/module.lua"
fi

if ((changes == 0)); then
  log "nothing to do: this node is set up"
else
  log "$changes change(s)$([[ $DRY_RUN == yes ]] && echo ' would be made (dry run)')"
fi
if [[ $QUIET == no && $DRY_RUN == no ]]; then
  if [[ $SYSTEMD == yes ]]; then
    log "next: copy $CONF_DIR/slurm.key from the controller to every node, then"
    log "      systemctl enable --now slurmctld (controller) / slurmd (compute nodes) / slurmdbd (accounting)"
  else
    log "start the daemons (no systemd):"
    [[ -n $CONF_SERVER ]] || log "  SLURM_CONF=$SLURM_CONF_FILE $PREFIX/sbin/slurmctld"
    log "  $SLURMD_CMD"
  fi
fi
