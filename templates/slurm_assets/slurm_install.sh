#!/usr/bin/env bash
# slurm_install.sh: set up a node for the relocatable Slurm this tarball holds (users, directories, keys,
# configs, systemd units, Lmod module). Idempotent; ships in <tarball>/data/slurm_assets/.
#
# It runs as root, so it never follows a link it did not make and writes only below the paths it was given:
# every path is checked (check_path) before anything changes, and again right before it is written; files
# are written to a temporary file in the same directory and renamed into place.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true # bash 5.2: '&' in ${x//a/b} replacements stays literal

PROG=slurm_install
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

# Build facts written by slurm-factory (KEY=VALUE lines; read, never sourced).
declare -A BUILD=([SLURM_RELEASE]=unknown [SLURM_SERIES]=unknown [GCC]=unknown [FLAVOUR]=cpu [MODULE_NAME]=''
  [CGROUP_DISABLED_SUPPORTED]=yes)
read_build_env() {
  local k v
  [[ -f $here/build.env ]] || return 0
  while IFS='=' read -r k v; do
    [[ $k =~ ^[A-Z_]+$ ]] && BUILD[$k]=$v
  done <"$here/build.env"
}

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
                        Also \$SLURM_INSTALL_PREFIX. May contain spaces (quoted in units and slurm.conf), not
                        any of : " ' \\ \$ \` # or control characters.
  --conf-dir DIR        config directory (default /etc/slurm). Not /etc/slurm: users need SLURM_CONF.
                        Never /, /tmp or another system or shared directory.
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
  --print-commands      only print the commands that start slurmdbd, slurmctld and slurmd (and with
                        --restd slurmrestd) the way the units do (one a line, for scripts and containers),
                        then exit
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
  --accounting          enable accounting through slurmdbd in slurm.conf (AccountingStorageType); on the
                        controller, once slurmdbd answers, registers the cluster (sacctmgr add cluster):
                        run it again after starting slurmdbd, until then it says so (sacct is empty for a
                        cluster that was never registered)
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
JWT, REST and Lua (the controller):
  --jwt                 AuthAltTypes=auth/jwt in slurm.conf and slurmdbd.conf, with jwt_hs256.key (SlurmUser,
                        0600, created once) for scontrol token and slurmrestd
  --restd               also a slurmrestd unit (implies --jwt): rest_auth/jwt only, on port 6820, run as the
                        user slurmrestd (created by --full-init; never root or SlurmUser), SLURM_JWT=daemon
  --job-submit-lua FILE the site's job_submit.lua (it must define slurm_job_submit): installed next to
                        slurm.conf (root, 0644; updated when FILE changes) and JobSubmitPlugins=lua set
Authentication is auth/slurm + cred/slurm (Slurm >= 23.11): no munge. To use MUNGE instead, see the
comments in slurm.conf.

Safety: it never follows a symbolic link it did not make. It refuses (exit 2, one line naming the path)
a config, key, unit or directory path that is a symbolic link, a hard-linked file, a parent directory not
owned by root or writable by group or others (group is fine for a directory it creates, as in Ubuntu's
/var/log), and under --root any symbolic link below DIR. It writes only below the config directory,
/etc/systemd/system, /var/spool/slurm*, /var/log/slurm, /var/lib/slurm, /run/slurm*, --lmod-dir, and
(configless) the compiled-in PluginDir link.
EOF
}

# Its own log/die: it ships alone in the tarball and runs on nodes that have nothing of slurm-factory (no
# scripts/package/common.sh), and its messages follow its own contract (prefix, --quiet, exit 1/2).
log() { [[ $QUIET == yes ]] || printf '%s: %s\n' "$PROG" "$*"; }
die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}
usage_error() {
  printf '%s: %s (see --help)\n' "$PROG" "$*" >&2
  exit 2
}
# refuse MESSAGE: a path this script must not touch; one line, exit 2, before anything was changed for it.
refuse() {
  printf '%s: refusing: %s\n' "$PROG" "$*" >&2
  exit 2
}

ROOT='' PREFIX=${SLURM_INSTALL_PREFIX:-} CONF_DIR=/etc/slurm
FULL_INIT=no CONTAINER=no SYSTEMD=yes DRY_RUN=no FORCE=no QUIET=no PRINT_COMMANDS=no ACCOUNTING=no
LMOD_DIR='' CLUSTER_NAME=cluster CONTROLLER='' NODE_NAME='' SLURM_USER=slurm PROCTRACK='' TASK_PLUGIN=''
DBD_HOST='' DB_HOST=localhost DB_NAME=slurm_acct_db DB_USER=slurm DB_PASSWORD_FILE=''
CONF_SERVER='' ENABLE_CONFIGLESS=no JWT=no RESTD=no JOB_SUBMIT_LUA=''
RESTD_USER=slurmrestd RESTD_LISTEN=:6820
UNIT_DIR=/etc/systemd/system

# ---------------------------------------------------------------------------------------------------------
# Options.
# ---------------------------------------------------------------------------------------------------------
# What each option that takes a value expects (the words of its error messages).
declare -A WANTS=(
  [--prefix]='a directory' [--conf-dir]='an absolute directory' [--root]='a directory'
  [--lmod-dir]='an absolute directory' [--cluster-name]='a name' [--controller]='a host name'
  [--node-name]='a node name' [--slurm-user]='a user name' [--proctrack]='a plugin (proctrack/...)'
  [--task-plugin]='a plugin list (task/...)' [--dbd-host]='a host name' [--db-host]='a host name'
  [--db-name]='a database name' [--db-user]='a database user' [--db-password-file]='a file'
  [--conf-server]='HOST or HOST:PORT' [--job-submit-lua]='a job_submit.lua file'
)
parse_args() {
  local opt val
  while (($#)); do
    opt=$1
    if [[ $opt == --*=* ]]; then
      val=${opt#*=} opt=${opt%%=*}
      set -- "$opt" "$val" "${@:2}"
    fi
    if [[ -n ${WANTS[$opt]:-} ]]; then
      (($# >= 2)) || usage_error "option $opt needs ${WANTS[$opt]}"
      val=$2
      shift 2
      [[ -n $val ]] || usage_error "$opt '' is empty: give it ${WANTS[$opt]}"
      [[ $val != -* ]] || usage_error "$opt '$val' is not ${WANTS[$opt]}: it looks like an option (give $opt its value first)"
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
        --job-submit-lua) JOB_SUBMIT_LUA=$val ;;
      esac
      continue
    fi
    case $opt in
      --full-init) FULL_INIT=yes ;;
      --container) CONTAINER=yes SYSTEMD=no ;;
      --no-systemd) SYSTEMD=no ;;
      --accounting) ACCOUNTING=yes ;;
      --jwt) JWT=yes ;;
      --restd) RESTD=yes JWT=yes ;;
      --enable-configless) ENABLE_CONFIGLESS=yes ;;
      --print-commands) PRINT_COMMANDS=yes ;;
      --dry-run) DRY_RUN=yes ;;
      --force) FORCE=yes ;;
      -q | --quiet) QUIET=yes ;;
      -h | --help) usage; exit 0 ;;
      *) usage_error "unknown argument '$1'" ;;
    esac
    shift
  done
}

# Directories no option may name: the config directory gets chowned/chmodded, --lmod-dir gets files.
SYSTEM_DIRS=' / /bin /boot /dev /dev/shm /etc /etc/systemd /etc/systemd/system /home /lib /lib32 /lib64 /libx32
  /media /mnt /opt /proc /root /run /run/lock /run/user /sbin /srv /sys /tmp /usr /usr/bin /usr/include /usr/lib
  /usr/lib32 /usr/lib64 /usr/libexec /usr/local /usr/local/bin /usr/local/etc /usr/local/lib /usr/local/sbin
  /usr/local/share /usr/sbin /usr/share /usr/src /var /var/cache /var/lib /var/local /var/lock /var/log
  /var/mail /var/opt /var/run /var/spool /var/tmp '
is_system_dir() { [[ $SYSTEM_DIRS == *[[:space:]]"$1"[[:space:]]* ]]; }
# Trees shared with other users or made up by the kernel: nothing of ours goes below them.
under_shared_tree() { [[ $1 =~ ^/(tmp|var/tmp|dev|proc|sys|run/user)(/|$) ]]; }

# check_path_value OPTION VALUE: a path that is written into units, slurm.conf and the module. Spaces are
# quoted there; these characters cannot be quoted safely in all three (systemd refuses ' in an executable
# name; slurm.conf has no escape for " and starts a comment at #).
check_path_value() {
  local opt=$1 val=$2
  [[ ! $val =~ [[:cntrl:]] ]] || usage_error "$opt '${val//[[:cntrl:]]/?}' contains a control character (newline, tab, ...): choose a path without one"
  [[ ! $val =~ [\"\'\\\$\`#] ]] ||
    usage_error "$opt '$val' contains one of \" ' \\ \$ \` #, which cannot be quoted safely in systemd units and slurm.conf: choose a path without them"
}
# normalize_abs OPTION VALUE -> VALUE without repeated or trailing slashes; refuses relative paths and . or ..
normalize_abs() {
  local opt=$1 val=$2 comp
  [[ $val == /* ]] || usage_error "$opt '$val' is not an absolute path: give the full path (starting with /)"
  while [[ $val == *//* ]]; do val=${val//\/\//\/}; done
  [[ $val == / ]] || val=${val%/}
  local -a comps
  IFS=/ read -r -a comps <<<"$val"
  for comp in "${comps[@]}"; do
    [[ $comp != . && $comp != .. ]] || usage_error "$opt '$2' contains a '$comp' component: give the path without . or .."
  done
  printf '%s\n' "$val"
}

# ---------------------------------------------------------------------------------------------------------
# Paths: PREFIX/CONF_DIR are what the installed system sees; host_path maps them under --root.
# ---------------------------------------------------------------------------------------------------------
host_path() { printf '%s%s' "$ROOT" "$1"; }

resolve_paths() {
  local v opt default_view
  if [[ -n $ROOT ]]; then
    [[ -d $ROOT ]] || usage_error "--root '$ROOT' is not a directory"
    ROOT=$(cd -- "$ROOT" && pwd -P)
    [[ $ROOT != / ]] || ROOT=''
  fi
  [[ -z $CONF_SERVER || $CONF_SERVER =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$ ]] ||
    usage_error "--conf-server '$CONF_SERVER' is not HOST or HOST:PORT (the slurmctld host this slurmd fetches its config from)"

  check_path_value --conf-dir "$CONF_DIR"
  CONF_DIR=$(normalize_abs --conf-dir "$CONF_DIR")
  if is_system_dir "$CONF_DIR" || under_shared_tree "$CONF_DIR"; then
    usage_error "--conf-dir '$CONF_DIR' is a system or shared directory: its owner and mode would be changed; give a directory of its own such as /etc/slurm"
  fi
  if [[ -n $LMOD_DIR ]]; then
    check_path_value --lmod-dir "$LMOD_DIR"
    LMOD_DIR=$(normalize_abs --lmod-dir "$LMOD_DIR")
    if is_system_dir "$LMOD_DIR" || under_shared_tree "$LMOD_DIR"; then
      usage_error "--lmod-dir '$LMOD_DIR' is a system or shared directory: give a module tree such as /opt/modulefiles"
    fi
  fi

  if [[ -z $PREFIX ]]; then
    default_view=$(cd "$here/../.." && pwd -P)/view
    if [[ -n $ROOT && $default_view == "$ROOT"/* ]]; then PREFIX=${default_view#"$ROOT"}; else PREFIX=$default_view; fi
  elif [[ $PREFIX != /* ]]; then
    [[ -z $ROOT ]] || usage_error "--prefix '$PREFIX' is relative: with --root give the path as the installed system sees it (starting with /)"
    local given=$PREFIX
    PREFIX=$(cd -- "$given" 2>/dev/null && pwd -P) || usage_error "--prefix '$given' does not exist (relative to $PWD)"
  fi
  check_path_value --prefix "$PREFIX"
  [[ $PREFIX != *:* ]] || usage_error "--prefix '$PREFIX' contains ':', which splits PluginDir= and PATH in two: choose a path without it"
  PREFIX=$(normalize_abs --prefix "$PREFIX")
  if [[ ! -e $(host_path "$PREFIX")/bin/scontrol && -e $(host_path "$PREFIX")/view/bin/scontrol ]]; then
    PREFIX=${PREFIX%/}/view
  fi
  [[ -e $(host_path "$PREFIX")/bin/scontrol ]] ||
    die "no Slurm at '$(host_path "$PREFIX")': bin/scontrol is missing (--prefix is the unpacked tarball's view/ directory)"
  [[ -e $(host_path "$PREFIX")/sbin/slurmstepd ]] || log "note: $PREFIX/sbin/slurmstepd is missing: this tree cannot run slurmd"

  PLUGIN_DIR=$PREFIX/lib/slurm
  SLURM_CONF_FILE=$CONF_DIR/slurm.conf
  if [[ -n $JOB_SUBMIT_LUA ]]; then
    [[ -z $CONF_SERVER ]] ||
      usage_error "--job-submit-lua is for the controller (slurmctld reads it): a --conf-server node has no slurm.conf of its own"
    [[ -f $JOB_SUBMIT_LUA && -r $JOB_SUBMIT_LUA ]] ||
      usage_error "--job-submit-lua '$JOB_SUBMIT_LUA' is not a readable file: give the site's job_submit.lua"
    grep -q 'function[[:space:]]\+slurm_job_submit' -- "$JOB_SUBMIT_LUA" ||
      usage_error "--job-submit-lua '$JOB_SUBMIT_LUA' defines no slurm_job_submit function: it is not a job_submit.lua"
    [[ -e $(host_path "$PLUGIN_DIR")/job_submit_lua.so ]] ||
      die "this build has no job_submit/lua plugin ($PLUGIN_DIR/job_submit_lua.so): it was built without Lua"
  fi
  # A PMIx shipped in the view finds its components and help files through PMIX_INSTALL_PREFIX (its compiled-in
  # prefix is the build's install tree); slurmd passes it on to slurmstepd, which loads PMIx for mpi/pmix.
  HAS_PMIX=no
  for v in "$(host_path "$PREFIX")"/lib/libpmix.so*; do
    if [[ -e $v ]]; then HAS_PMIX=yes; fi
  done
  # The commands that start the daemons the way the units do, shell-quoted (printf %q).
  local -a pmix_env=()
  [[ $HAS_PMIX == no ]] || pmix_env=("PMIX_INSTALL_PREFIX=$PREFIX")
  CTLD_CMD=$(shell_words "SLURM_CONF=$SLURM_CONF_FILE" "$PREFIX/sbin/slurmctld")
  # slurmrestd drops to its own user (-u/-g, as SchedMD's unit suggests); in a container it may not unshare
  # namespaces, which it does for hardening by default.
  local -a restd_env=()
  [[ $CONTAINER == no ]] || restd_env=('SLURMRESTD_SECURITY=disable_unshare_sysv,disable_unshare_files')
  RESTD_CMD=$(shell_words "${restd_env[@]}" SLURM_JWT=daemon "SLURM_CONF=$SLURM_CONF_FILE" "$PREFIX/sbin/slurmrestd" \
    -u "$RESTD_USER" -g "$RESTD_USER" -a rest_auth/jwt "$RESTD_LISTEN")
  DBD_CMD=$(shell_words "SLURM_CONF=$SLURM_CONF_FILE" "$PREFIX/sbin/slurmdbd")
  # slurmd reads SLURM_CONF, or with --conf-server fetches its config from slurmctld (configless).
  if [[ -n $CONF_SERVER ]]; then
    SLURMD_CMD=$(shell_words "${pmix_env[@]}" "$PREFIX/sbin/slurmd" --conf-server "$CONF_SERVER" -d "$PREFIX/sbin/slurmstepd")
  else
    SLURMD_CMD=$(shell_words "${pmix_env[@]}" "SLURM_CONF=$SLURM_CONF_FILE" "$PREFIX/sbin/slurmd" -d "$PREFIX/sbin/slurmstepd")
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
  for v in CLUSTER_NAME CONTROLLER NODE_NAME SLURM_USER DBD_HOST DB_HOST DB_NAME DB_USER PROCTRACK TASK_PLUGIN; do
    opt=--${v,,}
    [[ ${!v} =~ ^[A-Za-z0-9_.,/:-]+$ ]] ||
      usage_error "${opt//_/-} '${!v}' is not usable: only letters, digits and _ . , / : - (it goes into slurm.conf)"
  done
  SLURM_GROUP=$(primary_group "$SLURM_USER")
}

# shell_words [VAR=value...] WORD...: one shell command line, every word quoted with printf %q.
shell_words() {
  local out='' w leading=yes
  for w; do
    if [[ $leading == yes && $w =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then
      out+=" ${w%%=*}=$(printf '%q' "${w#*=}")"
    else
      leading=no
      out+=" $(printf '%q' "$w")"
    fi
  done
  printf '%s\n' "${out# }"
}

print_commands() {
  printf '%s\n' "$DBD_CMD" "$CTLD_CMD" "$SLURMD_CMD"
  [[ $RESTD == no ]] || printf '%s\n' "$RESTD_CMD"
}

# ---------------------------------------------------------------------------------------------------------
# Path safety. Every path this script creates, writes, chowns or chmods goes through check_path first (all
# of them in preflight, before the first change, and each again right before it is touched).
# ---------------------------------------------------------------------------------------------------------
declare -A SAFE_DIR=()
# dir_ok DIR WHAT [group]: DIR (existing, on the host) is owned by root (or by whoever runs this, for
# --dry-run) and not writable by group or others, so no other user can swap an entry in it between a check
# and a write. With "group", group-writable is accepted (never world-writable): for the parent of a directory
# this script creates, whose owner and mode are then set from inside it (in_dir), like Ubuntu's /var/log
# (root:syslog 0775).
dir_ok() {
  local dir=$1 what=$2 allow=${3:-} st uid mode forbidden=022
  [[ ${SAFE_DIR[$dir]:-} != strict && ${SAFE_DIR[$dir]:-} != "$allow-ok" ]] || return 0
  [[ $allow != group ]] || forbidden=002
  st=$(stat -L -c '%u %a' -- "$dir")
  uid=${st% *} mode=${st#* }
  ((uid == 0 || uid == EUID)) ||
    refuse "$what: directory $dir is owned by uid $uid, not root: another user could swap its entries (chown root it, or choose another path)"
  (((8#$mode & 8#$forbidden) == 0)) ||
    refuse "$what: directory $dir is writable by $([[ $allow == group ]] && echo others || echo 'group or others') (mode $mode): another user could swap its entries (chmod go-w it, or choose another path)"
  if (((8#$mode & 8#022) == 0)); then SAFE_DIR[$dir]=strict; else SAFE_DIR[$dir]=$allow-ok; fi
}

# check_parents SYSTEM_PATH [group]: every existing directory above SYSTEM_PATH is safe (dir_ok; "group":
# its immediate parent may be group-writable). Under --root no component below ROOT may be a symbolic link
# (an absolute one would lead out of the root). On a live system a link is followed only when it is
# root-owned in a safe directory (only root could have placed it, like /lib -> usr/lib), and then the
# directories it leads to are checked as well.
check_parents() {
  local sys=$1 allow=${2:-} parent cur=$ROOT comp deepest uid linked=no
  local -a comps
  parent=${sys%/*}
  deepest=${ROOT:-/}
  dir_ok "$deepest" "$sys" "$([[ -z $parent ]] && echo "$allow")"
  IFS=/ read -r -a comps <<<"$parent"
  for comp in "${comps[@]}"; do
    [[ -n $comp ]] || continue
    cur=$cur/$comp
    if [[ -L $cur ]]; then
      [[ -z $ROOT ]] || refuse "$cur is a symbolic link (to $(readlink -- "$cur")) inside --root $ROOT: it could lead out of the root (needed for $sys)"
      uid=$(stat -c %u -- "$cur")
      ((uid == 0)) || refuse "$sys: $cur is a symbolic link owned by uid $uid: only root-owned links are followed"
      [[ -e $cur ]] || refuse "$sys: $cur is a dangling symbolic link (to $(readlink -- "$cur"))"
      linked=yes
    fi
    [[ -e $cur ]] || break
    [[ -d $cur ]] || refuse "$sys: $cur exists and is not a directory"
    dir_ok "$cur" "$sys" "$([[ $cur == "$ROOT$parent" ]] && echo "$allow")"
    deepest=$cur
  done
  if [[ $linked == yes ]]; then
    local phys last
    phys=$(cd -P -- "$deepest" && pwd -P)
    last=''
    [[ $deepest != "$parent" ]] || last=$allow
    cur=''
    IFS=/ read -r -a comps <<<"$phys"
    for comp in "${comps[@]}"; do
      [[ -n $comp ]] || continue
      cur=$cur/$comp
      dir_ok "$cur" "$sys (through a link: $deepest is $phys)" "$([[ $cur == "$phys" ]] && echo "$last")"
    done
  fi
}

# check_path SYSTEM_PATH KIND: refuse (exit 2) unless SYSTEM_PATH may be written as KIND: file (a regular
# file or missing), dir (a directory or missing) or link (the compiled-in PluginDir: a link, a directory or
# missing). The path itself is never a symbolic link except for KIND link; a file has no other hard link.
check_path() {
  local sys=$1 kind=$2 path n
  path=$(host_path "$sys")
  check_parents "$sys" "$([[ $kind == dir ]] && echo group)"
  if [[ -L $path ]]; then
    [[ $kind == file ]] &&
      refuse "$path is a symbolic link (to $(readlink -- "$path")): it is not followed; remove it, then run this again"
    [[ $kind == link ]] ||
      refuse "$path is a symbolic link (to $(readlink -- "$path")): it is not followed; give the directory it leads to instead"
  elif [[ -e $path ]]; then
    case $kind in
      file)
        [[ -f $path ]] || refuse "$path exists and is not a regular file"
        n=$(stat -c %h -- "$path")
        ((n == 1)) || refuse "$path has $n hard links: changing it would change the other names too; remove it, then run this again"
        ;;
      dir | link) [[ -d $path ]] || refuse "$path exists and is not a directory" ;;
    esac
  fi
}

# check_compiled_plugin_dir: the build.env value is a Spack install's lib/slurm, never a system path.
check_compiled_plugin_dir() {
  local compiled=$1 base
  [[ $compiled =~ ^(/[A-Za-z0-9._+@=,-]+)+/lib/slurm$ && $compiled != *//* && ! $compiled =~ /\.\.?(/|$) ]] ||
    refuse "build.env COMPILED_PLUGIN_DIR '$compiled' is not an absolute <prefix>/lib/slurm path without . or ..: fix build.env (slurm-factory writes it)"
  base=${compiled%/lib/slurm}
  if is_system_dir "$base" || [[ $base =~ ^/(usr|etc|bin|sbin|lib|lib32|lib64|libx32|boot|dev|proc|sys|run|tmp|var/tmp)(/|$) ]]; then
    refuse "build.env COMPILED_PLUGIN_DIR '$compiled' is in a system directory: no link is made there; fix build.env (slurm-factory writes it)"
  fi
}
# check_compiled_link COMPILED: the path may be linked to this prefix: missing, a real directory (kept), or a
# link to this or another prefix's lib/slurm (repointed). Any other link is left alone: refused.
check_compiled_link() {
  local compiled=$1 path was
  check_compiled_plugin_dir "$compiled"
  check_path "$compiled" link
  path=$(host_path "$compiled")
  [[ -L $path ]] || return 0
  was=$(readlink -- "$path")
  [[ $was == "$PLUGIN_DIR" ]] || [[ $was =~ ^/.+/lib/slurm$ && ! $was =~ /\.\.?(/|$) ]] ||
    refuse "$path is a symbolic link to $was, not to another Slurm prefix's lib/slurm: it is left alone; remove it, then run this again"
}

# Every path this run may write, checked before the first change.
preflight() {
  local f
  check_path "$CONF_DIR" dir
  if [[ $FULL_INIT == yes ]]; then
    if [[ -n $ROOT && ( $SLURM_USER != root || $RESTD == yes ) ]]; then
      for f in passwd group shadow gshadow; do check_path "/etc/$f" file; done
    fi
    check_path /var/spool/slurmctld dir
    check_path /var/spool/slurmd dir
    check_path /var/log/slurm dir
    [[ $SLURM_USER == root ]] || check_path /var/lib/slurm dir
    check_path "$CONF_DIR/slurm.key" file
    check_path "$CONF_DIR/jwt_hs256.key" file
    check_path "$CONF_DIR/slurmdbd.conf" file
    check_path "$CONF_DIR/slurm_acct_db.sql" file
  fi
  if [[ $SYSTEMD == no ]]; then
    for f in /run/slurmctld /run/slurm /run/slurmdbd; do check_path "$f" dir; done
  fi
  if [[ -n $CONF_SERVER ]]; then
    local compiled=${BUILD[COMPILED_PLUGIN_DIR]:-}
    [[ -n $compiled ]] || die "build.env does not record the PluginDir Slurm was compiled with: configless slurmd cannot find its plugins (rebuild with a newer slurm-factory)"
    [[ $compiled == "$PLUGIN_DIR" ]] || check_compiled_link "$compiled"
  else
    check_path "$CONF_DIR/slurm.conf" file
    check_path "$CONF_DIR/cgroup.conf" file
  fi
  [[ $JWT == no ]] || check_path "$CONF_DIR/jwt_hs256.key" file
  [[ -z $JOB_SUBMIT_LUA ]] || check_path "$CONF_DIR/job_submit.lua" file
  if [[ $SYSTEMD == yes ]]; then
    for f in $(unit_names); do check_path "$UNIT_DIR/$f.service" file; done
  fi
  if [[ -n $LMOD_DIR ]]; then
    [[ ${BUILD[MODULE_NAME]} =~ ^[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*$ && ! ${BUILD[MODULE_NAME]} =~ (^|/)\.\.?(/|$) ]] ||
      die "build.env MODULE_NAME '${BUILD[MODULE_NAME]}' is not a module name like slurm/24.11: cannot install the module"
    check_path "$LMOD_DIR/${BUILD[MODULE_NAME]}.lua" file
  fi
}

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
  local db id
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
# append_line SYSTEM_FILE LINE: under --root, add an entry to an existing account database (checked first).
append_line() {
  check_path "$1" file
  printf '%s\n' "$2" >>"$(host_path "$1")"
}

ensure_user() { # ensure_user NAME [COMMENT]
  local user=$1 comment=${2:-Slurm workload manager}
  [[ $user != root ]] || return 0
  if [[ -z $(lookup group "$user") ]]; then
    change "create group $user (system)"
    if [[ $DRY_RUN == no ]]; then
      if [[ -n $ROOT ]]; then
        [[ -f $ROOT/etc/group ]] || die "$ROOT/etc/group is missing"
        local gid
        gid=$(free_system_id)
        append_line /etc/group "$user:x:$gid:"
        [[ ! -f $ROOT/etc/gshadow ]] || append_line /etc/gshadow "$user:!::"
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
        append_line /etc/passwd "$user:x:$uid:$gid:$comment:/var/lib/slurm:$shell"
        [[ ! -f $ROOT/etc/shadow ]] || append_line /etc/shadow "$user:!:::::::"
      else
        useradd --system --gid "$user" --home-dir /var/lib/slurm --no-create-home --shell "$shell" \
          --comment "$comment" "$user"
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
primary_group() { [[ $1 == root ]] && echo root || echo "$1"; }

# ---------------------------------------------------------------------------------------------------------
# Files and directories. Callers have run check_path on the path; only root can change it since.
# ---------------------------------------------------------------------------------------------------------
# fix_attrs PATH USER GROUP MODE [dir]: set owner and mode when they differ (logged as a change). A
# directory's are set from inside it (in_dir).
fix_attrs() {
  local path=$1 user=$2 group=$3 mode=$4 kind=${5:-file} want have
  want=$(owner_ids "$user" "$group")
  [[ -e $path && ! -L $path ]] || return 0
  have=$(stat -c '%u:%g' -- "$path")
  if [[ $have != "$want" ]]; then
    change "chown $user:$group ${path#"$ROOT"}"
    if [[ $DRY_RUN == no ]]; then
      if [[ $kind == file ]]; then chown -h -- "$want" "$path"; else in_dir "$path" chown -- "$want"; fi
    fi
  fi
  have=$(stat -c '%a' -- "$path")
  if ((8#$have != 8#$mode)); then
    change "chmod $mode ${path#"$ROOT"}"
    if [[ $DRY_RUN == no ]]; then
      if [[ $kind == file ]]; then chmod -- "$mode" "$path"; else in_dir "$path" chmod -- "$mode"; fi
    fi
  fi
}

# in_dir DIR COMMAND...: run COMMAND with "." as its last argument from inside DIR, once DIR is known to be
# the directory at that name (cd -P, then pwd -P): a link swapped in at DIR's name is refused, and a swap
# after that changes nothing, as "." is the directory itself, not a name.
in_dir() {
  local dir=$1 parent want rc=0
  shift
  parent=${dir%/*}
  want=$(cd -P -- "${parent:-/}" && pwd -P)
  want=${want%/}/${dir##*/}
  (cd -P -- "$dir" || exit 3; [[ $(pwd -P) == "$want" ]] || exit 3; "$@" .) || rc=$?
  ((rc != 3)) || refuse "$dir changed while it was set up (no longer the directory $want): run this again"
  ((rc == 0)) || exit "$rc"
}

ensure_dir() { # ensure_dir SYSTEM_PATH USER GROUP MODE
  local path
  check_path "$1" dir
  path=$(host_path "$1")
  if [[ ! -d $path ]]; then
    change "create directory $1 ($2:$3 $4)"
    [[ $DRY_RUN == yes ]] && return 0
    mkdir -p -- "$path"
  fi
  fix_attrs "$path" "$2" "$3" "$4" dir
}

# Temporary files in target directories, removed on exit if a write did not finish.
declare -a PENDING=()
cleanup() {
  local f
  for f in "${PENDING[@]}"; do [[ -z $f ]] || rm -f -- "$f"; done
  [[ -z ${work:-} ]] || rm -rf -- "$work"
}
# write_new SYSTEM_PATH USER GROUP MODE COMMAND...: COMMAND's output becomes SYSTEM_PATH, by way of a new
# temporary file in the same directory (owner and mode set there) renamed over it: a link swapped in at
# SYSTEM_PATH meanwhile is replaced, never followed.
write_new() {
  local sys=$1 user=$2 group=$3 mode=$4 path dir tmp
  shift 4
  path=$(host_path "$sys")
  dir=${path%/*}
  mkdir -p -- "$dir"
  tmp=$(mktemp -- "$dir/.${path##*/}.XXXXXX")
  PENDING+=("$tmp")
  "$@" >"$tmp"
  chown "$(owner_ids "$user" "$group")" -- "$tmp"
  chmod "$mode" -- "$tmp"
  mv -T -- "$tmp" "$path"
  PENDING=("${PENDING[@]/"$tmp"/}")
}

# install_file SYSTEM_PATH USER GROUP MODE POLICY SOURCE: POLICY keep (config: never overwrite unless
# --force) or replace (generated: rewrite when the content differs).
install_file() {
  local sys=$1 user=$2 group=$3 mode=$4 policy=$5 src=$6 path
  check_path "$sys" file
  path=$(host_path "$sys")
  if [[ -e $path ]]; then
    if [[ $(sha256sum <"$src") == "$(sha256sum <"$path")" ]]; then
      log "keep $sys (up to date)"
    elif [[ $policy == keep && $FORCE == no ]]; then
      log "keep $sys (exists and differs from the template; --force overwrites it)"
      return 0
    else
      change "update $sys"
      [[ $DRY_RUN == yes ]] || { write_new "$sys" "$user" "$group" "$mode" cat -- "$src"; return 0; }
    fi
    fix_attrs "$path" "$user" "$group" "$mode"
    return 0
  fi
  change "create $sys ($user:$group $mode)"
  [[ $DRY_RUN == yes ]] && return 0
  write_new "$sys" "$user" "$group" "$mode" cat -- "$src"
}

ensure_key() { # ensure_key SYSTEM_PATH USER BYTES: random key, created once, never replaced
  local sys=$1 user=$2 bytes=$3 path
  check_path "$sys" file
  path=$(host_path "$sys")
  if [[ -e $path ]]; then
    log "keep $sys (keys are never replaced)"
    fix_attrs "$path" "$user" "$(primary_group "$user")" 600
    return 0
  fi
  change "create $sys ($bytes random bytes, $user 0600)"
  [[ $DRY_RUN == yes ]] && return 0
  write_new "$sys" "$user" "$(primary_group "$user")" 600 head -c "$bytes" /dev/urandom
}

# Configless slurmd looks for its auth plugin in the PluginDir Slurm was compiled with (build.env
# COMPILED_PLUGIN_DIR, read from the build) before it has a config: make that path lead to this prefix.
install_compiled_plugin_link() {
  local compiled=${BUILD[COMPILED_PLUGIN_DIR]:-} path was tmp
  [[ -n $compiled ]] || die "build.env does not record the PluginDir Slurm was compiled with: configless slurmd cannot find its plugins (rebuild with a newer slurm-factory)"
  [[ $compiled != "$PLUGIN_DIR" ]] || { log "keep $compiled (Slurm is where it was compiled)"; return 0; }
  check_compiled_link "$compiled"
  path=$(host_path "$compiled")
  if [[ -L $path ]]; then
    was=$(readlink -- "$path")
    if [[ $was == "$PLUGIN_DIR" ]]; then
      log "keep $compiled -> $PLUGIN_DIR"
      return 0
    fi
    change "repoint $compiled -> $PLUGIN_DIR (was $was)"
  elif [[ -e $path ]]; then
    log "keep $compiled (a real directory: its plugins are used until slurmd has its config)"
    return 0
  else
    change "link $compiled -> $PLUGIN_DIR (the compiled-in PluginDir, for configless slurmd)"
  fi
  [[ $DRY_RUN == yes ]] && return 0
  mkdir -p -- "${path%/*}"
  # A new link beside it, renamed over it: the old link is replaced, never followed.
  tmp=${path%/*}/.slurm.$$.$RANDOM
  PENDING+=("$tmp")
  ln -s -- "$PLUGIN_DIR" "$tmp"
  mv -T -- "$tmp" "$path"
  PENDING=("${PENDING[@]/"$tmp"/}")
}

# ---------------------------------------------------------------------------------------------------------
# Templates: the one placeholder syntax of the node's files (slurm.conf, cgroup.conf, slurmdbd.conf, the SQL,
# the units). They ship verbatim: slurm-factory does not render them (Handlebars renders only build.env and
# README.md, which this script never renders); build facts come from build.env as @SLURM_RELEASE@ and tags.
# `#@TAG:` lines are kept (without the marker) only when TAG is active, `#@A+B:` only when A and B both are;
# @NAME@ is replaced.
# MODE conf (slurm.conf and friends): a setting whose value gains a space is written Key="value".
# MODE unit (systemd): % becomes %% outside comments; an ExecStart=/Environment= word that gains a space is
# double-quoted (systemd's quoting; ", \, ' and $ never reach here, see check_path_value).
# ---------------------------------------------------------------------------------------------------------
declare -A VARS=()
declare -A TAGS=()
# subst WORD UNIT(yes|no): REPLY is WORD with every @NAME@ replaced (%-escaped for units).
subst() {
  local key val
  REPLY=$1
  [[ $REPLY == *@* ]] || return 0
  for key in "${!VARS[@]}"; do
    val=${VARS[$key]}
    [[ $2 == no ]] || val=${val//%/%%}
    REPLY=${REPLY//"@${key}@"/"$val"}
  done
}
render() { # render TEMPLATE OUT MODE
  local template=$1 out=$2 mode=$3 line tag head value word quoted unit=no
  local -a words tags
  [[ $mode != unit ]] || unit=yes
  : >"$out"
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line =~ ^#@([a-z0-9+-]+):(.*)$ ]]; then
      line=${BASH_REMATCH[2]}
      IFS=+ read -r -a tags <<<"${BASH_REMATCH[1]}"
      for tag in "${tags[@]}"; do
        [[ -n ${TAGS[$tag]:-} ]] || continue 2
      done
    fi
    if [[ $mode == conf && $line =~ ^(#?[A-Za-z][A-Za-z0-9]*=)(.*)$ ]] ||
      [[ $mode == unit && $line =~ ^((Exec[A-Za-z]*|Environment)=)(.*)$ ]]; then
      head=${BASH_REMATCH[1]} value=${BASH_REMATCH[-1]}
      read -r -a words <<<"$value"
      quoted=''
      for word in "${words[@]}"; do
        subst "$word" "$unit"
        word=$REPLY
        if [[ $word == *' '* ]]; then
          if [[ $mode == conf && -n $quoted && $word == *=* ]]; then
            word="${word%%=*}=\"${word#*=}\"" # NodeName=a CPUs=1 ...: quote the value of Key=value
          else
            word="\"$word\""
          fi
        fi
        quoted+="${quoted:+ }$word"
      done
      line=$head$quoted
    elif [[ $mode == unit && $line != '#'* ]]; then
      subst "$line" yes
      line=$REPLY
    else
      subst "$line" no
      line=$REPLY
    fi
    [[ ! $line =~ @[A-Z][A-Z0-9_]*@ ]] || die "template $template uses ${BASH_REMATCH[0]}, which this installer does not set"
    printf '%s\n' "$line" >>"$out"
  done <"$template"
}

# ---------------------------------------------------------------------------------------------------------
# What gets installed.
# ---------------------------------------------------------------------------------------------------------
install_dirs() {
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
}

install_keys() {
  [[ $FULL_INIT == yes ]] && ensure_key "$CONF_DIR/slurm.key" "$SLURM_USER" 1024
  [[ $FULL_INIT == no && $JWT == no ]] || ensure_key "$CONF_DIR/jwt_hs256.key" "$SLURM_USER" 32
}

# Database password: --db-password-file, else the one slurmdbd.conf already has, else a new random one.
read_db_password() {
  local line dbd
  DB_PASSWORD=''
  [[ $FULL_INIT == yes ]] || return 0
  dbd=$(host_path "$CONF_DIR/slurmdbd.conf")
  if [[ -n $DB_PASSWORD_FILE ]]; then
    [[ -r $DB_PASSWORD_FILE ]] || die "cannot read --db-password-file '$DB_PASSWORD_FILE'"
    IFS= read -r DB_PASSWORD <"$DB_PASSWORD_FILE" || true
  elif [[ -f $dbd && ! -L $dbd && -r $dbd ]]; then
    while IFS= read -r line; do
      [[ $line == StoragePass=* ]] && DB_PASSWORD=${line#StoragePass=}
    done <"$dbd"
  fi
  if [[ -z $DB_PASSWORD ]]; then
    DB_PASSWORD=$(head -c 256 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 32)
  fi
  [[ $DB_PASSWORD =~ ^[A-Za-z0-9_.,:+=@%/-]+$ ]] ||
    die "the database password may only contain letters, digits and _.,:+=@%/- (it goes into SQL and slurmdbd.conf)"
}

set_template_vars() {
  VARS=(
    [PREFIX]=$PREFIX [PLUGIN_DIR]=$PLUGIN_DIR [CONF_DIR]=$CONF_DIR [SLURM_CONF]=$SLURM_CONF_FILE
    [SLURM_USER]=$SLURM_USER [SLURM_GROUP]=$SLURM_GROUP [CLUSTER_NAME]=$CLUSTER_NAME [CONTROLLER]=$CONTROLLER
    [NODE_NAME]=$NODE_NAME [CPUS]=$CPUS [REAL_MEMORY]=$REAL_MEMORY [PROCTRACK_TYPE]=$PROCTRACK
    [TASK_PLUGIN]=$TASK_PLUGIN [DBD_HOST]=$DBD_HOST [DB_HOST]=$DB_HOST [DB_NAME]=$DB_NAME [DB_USER]=$DB_USER
    [DB_PASSWORD]=$DB_PASSWORD [PROFILE]=$PROFILE [CONF_SERVER]=$CONF_SERVER
    [SLURM_RELEASE]=${BUILD[SLURM_RELEASE]} [SLURM_SERIES]=${BUILD[SLURM_SERIES]} [GCC]=${BUILD[GCC]}
    [FLAVOUR]=${BUILD[FLAVOUR]}
  )
  TAGS=([$PROFILE]=1)
  [[ ${BUILD[FLAVOUR]} != gpu ]] || TAGS[gpu]=1
  if [[ ${BUILD[CGROUP_DISABLED_SUPPORTED]} == yes ]]; then TAGS[cgroup-disabled]=1; else TAGS[cgroup-v2]=1; fi
  if [[ -n $CONF_SERVER ]]; then TAGS[configless]=1; else TAGS[conf-file]=1; fi
  if [[ $ENABLE_CONFIGLESS == yes ]]; then TAGS[configless-server]=1; else TAGS[no-configless-server]=1; fi
  [[ $HAS_PMIX == no ]] || TAGS[pmix]=1
  if [[ $ACCOUNTING == yes ]]; then TAGS[accounting]=1; else TAGS[no-accounting]=1; fi
  if [[ $JWT == yes ]]; then TAGS[jwt]=1; else TAGS[no-jwt]=1; fi
  if [[ -n $JOB_SUBMIT_LUA ]]; then TAGS[job-submit-lua]=1; else TAGS[no-job-submit-lua]=1; fi
  VARS[RESTD_USER]=$RESTD_USER
  VARS[RESTD_LISTEN]=$RESTD_LISTEN
}

node_resources() {
  local key value mem_kb=0
  CPUS=$(nproc 2>/dev/null || echo 1)
  while read -r key value _; do
    if [[ $key == MemTotal: ]]; then mem_kb=$value; break; fi
  done </proc/meminfo
  REAL_MEMORY=$((mem_kb * 95 / 100 / 1024)) # a little under slurmd's own measure: never "Low RealMemory"
  ((REAL_MEMORY > 0)) || REAL_MEMORY=1
}

# One install_* per asset; each renders its template into $work and installs the result.
install_slurm_conf() {
  render "$here/slurm/slurm.conf.template" "$work/slurm.conf" conf
  install_file "$CONF_DIR/slurm.conf" root root 644 keep "$work/slurm.conf"
}
install_cgroup_conf() {
  render "$here/slurm/cgroup.conf.template" "$work/cgroup.conf" conf
  install_file "$CONF_DIR/cgroup.conf" root root 644 keep "$work/cgroup.conf"
}
install_slurmdbd_conf() {
  render "$here/slurm/slurmdbd.conf.template" "$work/slurmdbd.conf" conf
  install_file "$CONF_DIR/slurmdbd.conf" "$SLURM_USER" "$SLURM_GROUP" 600 keep "$work/slurmdbd.conf"
}
install_acct_sql() {
  VARS[DB_CLIENT_HOST]=$([[ $DB_HOST == localhost || $DB_HOST == 127.0.0.1 ]] && echo localhost || echo '%')
  render "$here/mysql/slurm_acct_db.sql" "$work/slurm_acct_db.sql" text
  install_file "$CONF_DIR/slurm_acct_db.sql" root root 600 keep "$work/slurm_acct_db.sql"
}
install_configs() {
  if [[ -n $CONF_SERVER ]]; then
    log "configless: slurmd fetches slurm.conf and cgroup.conf from $CONF_SERVER (none rendered here)"
    install_compiled_plugin_link
  else
    install_slurm_conf
    install_cgroup_conf
  fi
  if [[ $FULL_INIT == yes ]]; then
    install_slurmdbd_conf
    install_acct_sql
  fi
  install_job_submit_lua
}
# The site's job_submit.lua, next to slurm.conf where job_submit/lua looks for it; FILE is the source of truth.
install_job_submit_lua() {
  [[ -n $JOB_SUBMIT_LUA ]] || return 0
  cp -- "$JOB_SUBMIT_LUA" "$work/job_submit.lua"
  install_file "$CONF_DIR/job_submit.lua" root root 644 replace "$work/job_submit.lua"
}

# --accounting on the controller: the cluster must be in the accounting database, or sacct shows nothing.
# Only slurmdbd can add it, so this waits for nothing: it asks once (bounded) and says what to do otherwise.
register_cluster() {
  local sacctmgr cluster='' line have
  [[ $ACCOUNTING == yes && -z $CONF_SERVER && -z $ROOT && $DRY_RUN == no ]] || return 0
  sacctmgr=$PREFIX/bin/sacctmgr
  [[ -x $sacctmgr ]] || { log "note: no $sacctmgr: register the cluster from a node that has it"; return 0; }
  while IFS= read -r line; do
    [[ $line =~ ^ClusterName=([A-Za-z0-9_.-]+) ]] && cluster=${BASH_REMATCH[1]}
  done <"$(host_path "$SLURM_CONF_FILE")"
  [[ -n $cluster ]] || die "$SLURM_CONF_FILE has no ClusterName: cannot register the cluster"
  if ! have=$(SLURM_CONF=$SLURM_CONF_FILE timeout 20 "$sacctmgr" -n -P show cluster format=cluster 2>&1); then
    log "slurmdbd does not answer yet (${have##*$'\n'}): start it, then run this again to register cluster $cluster"
    return 0
  fi
  if grep -qx -- "$cluster" <<<"$have"; then
    log "keep cluster $cluster (registered in the accounting database)"
    return 0
  fi
  change "register cluster $cluster in the accounting database (sacctmgr add cluster)"
  have=$(SLURM_CONF=$SLURM_CONF_FILE timeout 30 "$sacctmgr" -i add cluster "$cluster" 2>&1) ||
    die "sacctmgr add cluster $cluster failed: ${have//$'\n'/ }"
}

unit_names() {
  printf '%s\n' slurmctld slurmd slurmdbd
  [[ $RESTD == no ]] || printf '%s\n' slurmrestd
}

install_units() {
  local unit before units_changed=no
  [[ $SYSTEMD == yes ]] || return 0
  for unit in $(unit_names); do
    render "$here/defaults/$unit.service" "$work/$unit.service" unit
    before=$changes
    install_file "$UNIT_DIR/$unit.service" root root 644 replace "$work/$unit.service"
    ((changes == before)) || units_changed=yes
  done
  if [[ $units_changed == yes && $DRY_RUN == no && -z $ROOT && -d /run/systemd/system ]]; then
    systemctl daemon-reload
  fi
}

install_module() {
  local tree src line
  [[ -n $LMOD_DIR ]] || return 0
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
}

report() {
  if ((changes == 0)); then
    log "nothing to do: this node is set up"
  else
    log "$changes change(s)$([[ $DRY_RUN == yes ]] && echo ' would be made (dry run)')"
  fi
  [[ $QUIET == no && $DRY_RUN == no ]] || return 0
  if [[ $SYSTEMD == yes ]]; then
    log "next: copy $(printf '%q' "$CONF_DIR/slurm.key") from the controller to every node, then"
    log "      systemctl enable --now slurmctld (controller) / slurmd (compute nodes) / slurmdbd (accounting)"
  else
    log "start the daemons (no systemd):"
    [[ -n $CONF_SERVER ]] || log "  $CTLD_CMD"
    log "  $SLURMD_CMD"
    [[ $RESTD == no ]] || log "  $RESTD_CMD"
  fi
}

main() {
  umask 022 # directories made along the way (mkdir -p) are root's and not group/world-writable
  read_build_env
  parse_args "$@"
  resolve_paths
  if [[ $PRINT_COMMANDS == yes ]]; then
    print_commands
    exit 0
  fi
  if [[ $DRY_RUN == no && $EUID -ne 0 ]]; then
    die "run as root (or with --dry-run): it creates users and sets file owners"
  fi
  preflight
  node_resources
  work=$(mktemp -d "${TMPDIR:-/tmp}/slurm_install.XXXXXX")
  trap cleanup EXIT

  log "Slurm ${BUILD[SLURM_RELEASE]} at $PREFIX${ROOT:+ (root $ROOT)}; config $CONF_DIR; profile $PROFILE$([[ $FULL_INIT == yes ]] && echo ', full init')$([[ $DRY_RUN == yes ]] && echo ', dry run')"
  if [[ $FULL_INIT == yes ]]; then
    ensure_user "$SLURM_USER"
    [[ $RESTD == no ]] || ensure_user "$RESTD_USER" 'Slurm REST daemon'
  else
    [[ $SYSTEMD == yes || $SLURM_USER == root || -n $(lookup passwd "$SLURM_USER") ]] ||
      die "SlurmUser '$SLURM_USER' does not exist: run with --full-init (creates it) or choose --slurm-user root"
    [[ $JWT == no || $SLURM_USER == root || -n $(lookup passwd "$SLURM_USER") ]] ||
      die "SlurmUser '$SLURM_USER' does not exist, and --jwt makes a key owned by it: run with --full-init (creates it)"
    [[ $RESTD == no || -n $(lookup passwd "$RESTD_USER") ]] ||
      die "user '$RESTD_USER' for slurmrestd does not exist: run with --full-init (creates it)"
  fi
  install_dirs
  install_keys
  read_db_password
  set_template_vars
  install_configs
  install_units
  install_module
  register_cluster
  report
}

main "$@"
