#!/usr/bin/env bash
# node-check.sh: run inside a fresh container by `npx zx Taskfile.ts verify`. Installs the tarball the way an
# admin would and proves a one-node Slurm cluster works from it, without systemd.
#
# Usage: node-check.sh TARBALL PREFIX MODULE [full]
#   TARBALL  the slurm-...-software.tar.gz (read-only bind mount)
#   PREFIX   where to unpack it (not /opt/slurm/view, on purpose: relocation is what is being checked)
#   MODULE   the module name from the manifest, e.g. slurm/24.11-gcc12.2.0
#   full     also run every other daemon: slurmdbd on Debian's MariaDB (sacct), slurmrestd with JWT (curl);
#            with NODE_CHECK_DB_HOST=HOST in the environment, slurmdbd uses the database there instead
#
# Prints one line per step: `STEP <name> ok|FAIL <detail>`, and stops at the first failure.
# Logs stay in /var/log/slurm for the caller to copy out.
set -uo pipefail

tarball=${1:?usage: node-check.sh TARBALL PREFIX MODULE}
prefix=${2:?usage: node-check.sh TARBALL PREFIX MODULE}
module_name=${3:?usage: node-check.sh TARBALL PREFIX MODULE}
full=${4:-}
work=$(mktemp -d)
# Every wait is bounded: a daemon that never answers is a failing row, not a hang.
WAIT=${NODE_CHECK_WAIT:-60}

step() { printf 'STEP %s %s %s\n' "$1" "$2" "${3:-}"; }
fail() { step "$1" FAIL "$2"; exit 1; }
run() { # run NAME CMD...: the command's output goes to the work log; its last line is the detail on failure
  local name=$1; shift
  if "$@" >"$work/$name.log" 2>&1; then return 0; fi
  fail "$name" "$(tail -n 3 "$work/$name.log" | tr '\n' ' ')"
}
# install_pkgs NAME DEBIAN-PACKAGES RPM-PACKAGES: from the distro, as an admin would (apt or dnf)
install_pkgs() {
  if command -v apt-get >/dev/null; then
    # shellcheck disable=SC2086 # package lists
    run "$1" bash -c "export DEBIAN_FRONTEND=noninteractive; { [[ -n \$(ls /var/lib/apt/lists 2>/dev/null | grep -v lock) ]] || apt-get update -qq; } && apt-get install -y -qq --no-install-recommends $2"
  else
    run "$1" bash -c "dnf install -y -q $3"
  fi
}
# pids_of NAME: live processes of that name, from /proc (minimal images have no procps: no pgrep, ps or
# pkill); zombies are left out (the container's init reaps nothing, so a daemonized parent stays a zombie).
pids_of() {
  local d comm state
  for d in /proc/[0-9]*; do
    comm=$(cat "$d/comm" 2>/dev/null) || continue
    [[ $comm == "$1" ]] || continue
    state=$(cut -d' ' -f3 "$d/stat" 2>/dev/null) || continue
    [[ $state == Z ]] || printf '%s\n' "${d#/proc/}"
  done
}
running() { [[ -n $(pids_of "$1") ]]; }
# A daemon's own last error line from its log (what the admin would look for).
daemon_error() { grep -E 'error|fatal|Error' "$1" 2>/dev/null | tail -n 1 | tr -d '\r'; }

# 1. unpack at a prefix that is not where anything was built
run unpack bash -c "mkdir -p '$prefix' && tar -xzf '$tarball' -C '$prefix'"
[[ -x "$prefix/view/sbin/slurmctld" ]] || fail unpack "no view/sbin/slurmctld under $prefix"
step unpack ok "$prefix ($(du -sh "$prefix" | cut -f1))"

# 2. the install script, for a container (no systemd, no cgroups). With full, everything the other daemons
# need comes from it too, so the script is what is tested: accounting (and the cluster's registration), JWT,
# slurmrestd (its user and start command) and the site's job_submit.lua: one rule that rejects with the
# site's message, one that sets a field.
installer="$prefix/data/slurm_assets/slurm_install.sh"
install_args=(--prefix "$prefix" --full-init --container --node-name "$(hostname -s)" --controller "$(hostname -s)" --enable-configless)
db_host=${NODE_CHECK_DB_HOST:-}
if [[ $full == full ]]; then
  install_args+=(--accounting --restd)
  [[ -z $db_host ]] || install_args+=(--db-host "$db_host")
  if [[ -e "$prefix/view/lib/slurm/job_submit_lua.so" ]]; then
    cat >"$work/site_job_submit.lua" <<'LUA'
function slurm_job_submit(job_desc, part_list, submit_uid)
  if job_desc.name == "verify-forbidden" then
    slurm.log_user("site rule: jobs named verify-forbidden are not allowed here")
    return slurm.ERROR
  end
  if job_desc.comment == nil then
    job_desc.comment = "checked-by-site-lua"
  end
  return slurm.SUCCESS
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
  return slurm.SUCCESS
end
LUA
    install_args+=(--job-submit-lua "$work/site_job_submit.lua")
  fi
fi
run install "$installer" "${install_args[@]}"
step install ok "$(grep -c . "$work/install.log") lines; $(grep -E '^(PluginDir|SlurmUser|AuthAltTypes|JobSubmitPlugins)=' /etc/slurm/slurm.conf | tr '\n' ' ')"

# 3. Lmod loads the module where the tree landed (Lmod comes from the distro, as on a real node)
if [[ ! -r /usr/share/lmod/lmod/init/bash && ! -r /usr/share/lmod/lmod/init/profile ]]; then
  if command -v apt-get >/dev/null; then
    run lmod-install bash -c 'export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends lmod'
  else
    run lmod-install bash -c 'dnf install -y -q epel-release && dnf install -y -q Lmod'
  fi
fi
lmod_init=/usr/share/lmod/lmod/init/bash
[[ -r $lmod_init ]] || lmod_init=/usr/share/lmod/lmod/init/profile
# shellcheck disable=SC1090
source "$lmod_init" >/dev/null 2>&1 || fail module "cannot source Lmod ($lmod_init)"
module use "$prefix/modules" 2>"$work/module.log" || fail module "$(cat "$work/module.log")"
module load "$module_name" 2>>"$work/module.log" || fail module "$(tail -n 3 "$work/module.log" | tr '\n' ' ')"
scontrol_path=$(command -v scontrol || true)
[[ "$scontrol_path" == "$prefix"/* ]] || fail module "scontrol is '$scontrol_path', not under $prefix"
[[ -z "${LD_LIBRARY_PATH:-}" ]] || fail module "the module set LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
step module ok "$module_name: scontrol=$scontrol_path, SLURM_CONF=${SLURM_CONF:-unset}"

# 3b. every plugin loads where the package landed: a missing library (or symbol) is named here, not found by
# the admin when a daemon first needs the plugin.
command -v python3 >/dev/null || install_pkgs python-install python3 python3
plugins_failed=no
python3 - "$prefix/view" >"$work/plugins.log" 2>&1 <<'PY' || plugins_failed=yes
import ctypes, os, sys
view = sys.argv[1]
d = os.path.join(view, "lib", "slurm")
# Symbols the daemons export to their plugins (sched/backfill uses slurmctld's job lists): such a plugin loads
# only inside its daemon, where the live steps below use it; any missing library is still found first.
daemons = {}
for n in ("slurmctld", "slurmd", "slurmdbd", "slurmstepd", "slurmrestd"):
    try:
        with open(os.path.join(view, "sbin", n), "rb") as f:
            daemons[n] = f.read()
    except OSError:
        pass
ctypes.CDLL(os.path.join(d, "libslurmfull.so"), mode=ctypes.RTLD_GLOBAL)
ok, deferred, bad = 0, [], []
for f in sorted(os.listdir(d)):
    if not f.endswith(".so") or f.startswith("lib"):
        continue
    try:
        ctypes.CDLL(os.path.join(d, f), mode=os.RTLD_LAZY | ctypes.RTLD_GLOBAL)
        ok += 1
    except OSError as e:
        msg = str(e).replace(d + "/", "")
        if not msg.startswith(f + ":"):  # a missing library: dlerror() names the library, not the plugin
            msg = "%s: %s" % (f, msg)
        sym = msg.split("undefined symbol: ", 1)[1].strip() if "undefined symbol: " in msg else None
        owner = [n for n, b in daemons.items() if sym and (sym.encode() + b"\0") in b]
        if owner:
            deferred.append("%s(%s from %s)" % (f, sym, owner[0]))
        else:
            bad.append(msg)
for b in bad:
    print("FAIL", b)
print("%d plugins load; %d need their daemon's symbols: %s" % (ok, len(deferred), " ".join(deferred) or "none"))
sys.exit(1 if bad else 0)
PY
[[ $plugins_failed == no ]] || fail plugins "$(grep '^FAIL' "$work/plugins.log" | cut -c6- | sed 's/$/; /' | tr -d '\n' | cut -c1-900)"
step plugins ok "$(tail -n 1 "$work/plugins.log")"

# 3c. (full) accounting: Debian's MariaDB in this container, set up the way the install script says
# (feed its slurm_acct_db.sql), then slurmdbd from the package, and the cluster registered.
if [[ $full == full && -n $db_host ]]; then
  step mariadb ok "external database at $db_host (not installed here)"
elif [[ $full == full ]]; then
  install_pkgs mariadb-install "mariadb-server mariadb-client" "mariadb-server mariadb"
  mkdir -p /run/mysqld && chown mysql: /run/mysqld 2>/dev/null
  t0=$SECONDS
  (mysqld_safe --skip-networking=0 --bind-address=127.0.0.1 >"$work/mysqld.log" 2>&1 &)
  for _ in $(seq 1 "$WAIT"); do mysqladmin ping >/dev/null 2>&1 && break; sleep 1; done
  mysqladmin ping >/dev/null 2>&1 || fail mariadb "not answering after ${WAIT}s: $(tail -n 2 "$work/mysqld.log" | tr '\n' ' ')"
  run mariadb-sql bash -c "mysql </etc/slurm/slurm_acct_db.sql"
  step mariadb ok "$(mysql -N -e 'select version()' 2>&1) up in $((SECONDS - t0)) s; slurm_acct_db.sql applied"
fi
if [[ -n $full ]]; then
  for f in slurm.conf slurmdbd.conf; do
    grep -q '^AuthAltTypes=auth/jwt' "/etc/slurm/$f" || fail jwt "slurm_install.sh --restd left no AuthAltTypes=auth/jwt in $f"
  done
fi
if [[ $full == full ]]; then
  t0=$SECONDS
  dbd_cmd=$("$installer" --prefix "$prefix" --container --print-commands | grep '/sbin/slurmdbd')
  bash -c "$dbd_cmd" >"$work/slurmdbd.log" 2>&1 || fail slurmdbd "'$dbd_cmd' exited $?: $(tail -n 2 "$work/slurmdbd.log" | tr '\n' ' ')"
  for _ in $(seq 1 "$WAIT"); do
    timeout 10 sacctmgr -n show cluster >"$work/sacctmgr.log" 2>&1 && break
    running slurmdbd || break
    sleep 1
  done
  timeout 10 sacctmgr -n show cluster >"$work/sacctmgr.log" 2>&1 ||
    fail slurmdbd "not answering (waited up to ${WAIT}s); slurmdbd.log: $(daemon_error /var/log/slurm/slurmdbd.log)"
  # The install script again, now that slurmdbd answers: it registers the cluster (and changes nothing else).
  cluster=$(grep -o '^ClusterName=.*' /etc/slurm/slurm.conf | cut -d= -f2)
  grep -q 'slurmdbd does not answer yet' "$work/install.log" ||
    fail register "the first slurm_install.sh run did not say the cluster waits for slurmdbd: $(tail -n 2 "$work/install.log" | tr '\n' ' ')"
  run register "$installer" "${install_args[@]}"
  registered=$(grep -o 'register cluster .* in the accounting database' "$work/register.log")
  [[ -n $registered ]] || fail register "slurm_install.sh --accounting did not register the cluster: $(tr '\n' ' ' <"$work/register.log")"
  timeout 10 sacctmgr -n -P show cluster format=cluster | grep -qx "$cluster" || fail register "cluster $cluster not registered"
  step slurmdbd ok "up in $((SECONDS - t0)) s; slurm_install.sh: $registered"
fi

# 4. start the daemons exactly as the installed units would (the install script prints those commands)
mapfile -t starts < <("$installer" --prefix "$prefix" --container --print-commands | grep -v slurmdbd)
((${#starts[@]} == 2)) || fail daemons "expected slurmctld and slurmd start commands, got: ${starts[*]}"
for cmd in "${starts[@]}"; do
  bash -c "$cmd" >>"$work/daemons.log" 2>&1 || fail daemons "'$cmd' exited $?: $(tail -n 2 "$work/daemons.log" | tr '\n' ' ')"
done
step daemons ok "${starts[*]}"

# 5. the controller answers
for _ in $(seq 1 30); do
  scontrol ping >"$work/ping.log" 2>&1 && grep -q 'is UP' "$work/ping.log" && break
  sleep 1
done
grep -q 'is UP' "$work/ping.log" || fail ping "$(tr '\n' ' ' <"$work/ping.log")"
step ping ok "$(grep -o 'Slurmctld(primary) at [^ ]* is UP' "$work/ping.log")"

# 6. the node is up
for _ in $(seq 1 30); do
  state=$(sinfo -h -N -o '%T' 2>"$work/sinfo.log" | head -n 1)
  [[ "$state" == idle* || "$state" == mixed* ]] && break
  sleep 1
done
[[ "$state" == idle* || "$state" == mixed* ]] || fail sinfo "node state '$state' $(tr '\n' ' ' <"$work/sinfo.log")"
step sinfo ok "$(sinfo -h -o '%P %a %D %T' | head -n 1)"

# 7. an interactive step
out=$(timeout 60 srun -N1 hostname 2>"$work/srun.log") || fail srun "$(tail -n 3 "$work/srun.log" | tr '\n' ' ')"
[[ "$out" == "$(hostname)" ]] || fail srun "printed '$out', expected '$(hostname)'"
step srun ok "srun -N1 hostname -> $out"

# 8. a batch job, waited for, whose output file is checked
cat >"$work/job.sh" <<'JOB'
#!/bin/bash
#SBATCH --job-name=verify
echo "verify-job on $(hostname) with $SLURM_JOB_NUM_NODES node"
JOB
cd "$work" || fail sbatch "cannot cd to $work"
jobout=$(timeout 120 sbatch --wait --parsable --output="$work/job-%j.out" "$work/job.sh" 2>"$work/sbatch.log") ||
  fail sbatch "$(tail -n 3 "$work/sbatch.log" | tr '\n' ' ')"
jobid=${jobout%%;*}
grep -q "^verify-job on $(hostname) with 1 node$" "$work/job-$jobid.out" 2>/dev/null ||
  fail sbatch "job $jobid output: $({ tr '\n' ' ' <"$work/job-$jobid.out"; } 2>&1)"
step sbatch ok "job $jobid wrote: $(cat "$work/job-$jobid.out")"

# 9. its final state, as the controller records it
jobstate=$(scontrol show job "$jobid" 2>&1 | grep -o 'JobState=[A-Z_]*' | head -n 1)
[[ "$jobstate" == JobState=COMPLETED ]] || fail job-state "job $jobid: ${jobstate:-not found}"
step job-state ok "job $jobid $jobstate"

# 9b. (full) the job in the accounting database, with its exit code
if [[ $full == full ]]; then
  for _ in $(seq 1 "$WAIT"); do
    acct=$(timeout 10 sacct -n -P -X -j "$jobid" -o JobID,State,ExitCode 2>"$work/sacct.log" | head -n 1)
    [[ $acct == "$jobid|COMPLETED|0:0" ]] && break
    sleep 1
  done
  [[ $acct == "$jobid|COMPLETED|0:0" ]] || fail sacct "sacct -j $jobid: '${acct}' $(tr '\n' ' ' <"$work/sacct.log")"
  step sacct ok "sacct -j $jobid -> $acct"
fi

# 9b'. (full) Lua: job_submit.lua rejects a job with the site's message and changes another's field
if [[ -n $full && -e /etc/slurm/job_submit.lua ]]; then
  if timeout 60 sbatch -J verify-forbidden --wrap=true >"$work/lua-reject.log" 2>&1; then
    fail lua "job_submit.lua let the forbidden job through: $(tr '\n' ' ' <"$work/lua-reject.log")"
  fi
  grep -q 'site rule: jobs named verify-forbidden are not allowed here' "$work/lua-reject.log" ||
    fail lua "rejected without the site's message: $(tr '\n' ' ' <"$work/lua-reject.log"); slurmctld.log: $(daemon_error /var/log/slurm/slurmctld.log)"
  luajob=$(timeout 60 sbatch --parsable -J verify-lua --wrap=true 2>"$work/lua.log") || fail lua "$(tr '\n' ' ' <"$work/lua.log")"
  luajob=${luajob%%;*}
  comment=$(scontrol show job "$luajob" 2>&1 | grep -o 'Comment=[^ ]*' | head -n 1)
  [[ $comment == Comment=checked-by-site-lua ]] || fail lua "job $luajob: ${comment:-no Comment} (job_submit.lua did not set it)"
  step lua ok "rejected: $(grep -o 'site rule:[^;]*' "$work/lua-reject.log" | head -n 1); job $luajob got $comment"
fi

# 9b''. (full) PMIx: a tiny PMIx client compiled here against the view's headers and library, started by
# srun --mpi=pmix on two tasks: each prints its rank and the job size it got from slurmstepd's PMIx server.
if [[ -n $full && -e "$prefix/view/include/pmix.h" ]]; then
  command -v cc >/dev/null || install_pkgs cc-install "gcc libc6-dev" "gcc glibc-devel"
  cat >"$work/pmix_client.c" <<'C'
#include <pmix.h>
#include <stdio.h>
int main(void) {
  pmix_proc_t me, job;
  pmix_value_t *val = NULL;
  int rc = PMIx_Init(&me, NULL, 0);
  if (rc != PMIX_SUCCESS) { fprintf(stderr, "PMIx_Init: %s\n", PMIx_Error_string(rc)); return 1; }
  PMIX_PROC_CONSTRUCT(&job);
  PMIX_LOAD_PROCID(&job, me.nspace, PMIX_RANK_WILDCARD);
  rc = PMIx_Get(&job, PMIX_JOB_SIZE, NULL, 0, &val);
  if (rc != PMIX_SUCCESS) { fprintf(stderr, "PMIx_Get(job size): %s\n", PMIx_Error_string(rc)); return 1; }
  printf("pmix rank %u of %u\n", me.rank, val->data.uint32);
  PMIx_Finalize(NULL, 0);
  return 0;
}
C
  run pmix-compile cc -o "$work/pmix_client" "$work/pmix_client.c" -I"$prefix/view/include" -L"$prefix/view/lib" -lpmix \
    -Wl,-rpath,"$prefix/view/lib"
  out=$(cd "$work" && PMIX_INSTALL_PREFIX="$prefix/view" timeout 120 srun --mpi=pmix --overcommit -n2 "$work/pmix_client" 2>"$work/pmix.log" | sort)
  [[ $out == $'pmix rank 0 of 2\npmix rank 1 of 2' ]] ||
    fail pmix "srun --mpi=pmix -n2 printed '${out//$'\n'/; }': $(tail -n 3 "$work/pmix.log" | tr '\n' ' ') $(daemon_error /var/log/slurm/slurmd.log)"
  step pmix ok "srun --mpi=pmix -n2: ${out//$'\n'/; }"
fi

# 9c. (full) REST: slurmrestd with rest_auth/jwt, run as an unprivileged user as SchedMD requires; a token from
# scontrol token; ping, diag and a job submitted over HTTP that completes; no token and a forged one refused.
if [[ -n $full ]]; then
  command -v curl >/dev/null || install_pkgs curl-install curl curl
  t0=$SECONDS
  parser=$(find "$prefix/view/lib/slurm" -name 'data_parser_v*.so' -printf '%f\n' | sed 's/^data_parser_\(.*\)\.so$/\1/' | sort -V | tail -n 1)
  api=http://127.0.0.1:6820/slurm/${parser//_/.}
  # SLURM_JWT=daemon: slurmrestd talks to slurmctld with the client's token (auth/jwt), not auth/slurm.
  # started as the install script says (its own user, rest_auth/jwt only, port 6820)
  restd_cmd=$("$installer" --prefix "$prefix" --container --restd --print-commands | grep '/sbin/slurmrestd ')
  [[ $restd_cmd == *' -u slurmrestd '* && $restd_cmd == *'rest_auth/jwt'* ]] || fail rest "unexpected slurmrestd command: $restd_cmd"
  (bash -c "$restd_cmd" >/var/log/slurm/slurmrestd.log 2>&1 &)
  for _ in $(seq 1 "$WAIT"); do
    sleep 1 # (first: setpriv and env are still exec'ing into slurmrestd)
    curl -s -o /dev/null --max-time 5 http://127.0.0.1:6820/ && break
    running slurmrestd || break
  done
  curl -s -o /dev/null --max-time 5 http://127.0.0.1:6820/ || fail rest "slurmrestd not listening after ${WAIT}s: $(daemon_error /var/log/slurm/slurmrestd.log)"
  token=$(timeout 30 scontrol token username=root lifespan=600 2>"$work/token.log" | sed -n 's/^SLURM_JWT=//p')
  [[ -n $token ]] || fail rest "scontrol token: $(tr '\n' ' ' <"$work/token.log")"
  body_head() { head -c 300 "$work/body" | tr -s '\n ' ' '; }
  get() { # get PATH [TOKEN]: HTTP status, then the body in $work/body
    local h=(-H "X-SLURM-USER-NAME: root")
    [[ -z ${2:-} ]] || h+=(-H "X-SLURM-USER-TOKEN: $2")
    curl -s --max-time 30 -o "$work/body" -w '%{http_code}' "${h[@]}" "$api/$1"
  }
  code=$(get ping "$token")
  if [[ $code != 200 ]] || ! grep -q '"pinged": *"UP"' "$work/body"; then fail rest "GET ping -> $code: $(body_head)"; fi
  code=$(get diag "$token")
  if [[ $code != 200 ]] || ! grep -q '"jobs_submitted"' "$work/body"; then fail rest "GET diag -> $code: $(body_head)"; fi
  body='{"job":{"name":"rest","current_working_directory":"/tmp","environment":["PATH=/usr/bin:/bin"],"script":"#!/bin/bash\necho rest-job"}}'
  code=$(curl -s --max-time 30 -o "$work/body" -w '%{http_code}' -H "X-SLURM-USER-NAME: root" -H "X-SLURM-USER-TOKEN: $token" \
    -H 'Content-Type: application/json' -X POST -d "$body" "$api/job/submit")
  restjob=$(grep -o '"job_id": *[0-9]*' "$work/body" | head -n 1 | grep -o '[0-9]*$')
  [[ $code == 200 && -n $restjob ]] || fail rest "POST job/submit -> $code: $(body_head)"
  for _ in $(seq 1 "$WAIT"); do
    rstate=$(scontrol show job "$restjob" 2>&1 | grep -o 'JobState=[A-Z_]*' | head -n 1)
    [[ $rstate == JobState=COMPLETED || $rstate == JobState=FAILED ]] && break
    sleep 1
  done
  [[ $rstate == JobState=COMPLETED ]] || fail rest "job $restjob submitted over REST: ${rstate:-not found}"
  # Refused. slurmrestd's rest_auth/jwt only passes a token through (src/slurmrestd/plugins/auth/jwt/jwt.c):
  # it refuses a request without one itself (401), but a token signed with another key reaches slurmctld,
  # which refuses the RPC; slurmrestd answers that with 511 and error 1007 (operations.c maps
  # SLURM_PROTOCOL_AUTHENTICATION_ERROR so). GET ping is no test of this: it reports reachability, "DOWN" with
  # HTTP 200, whoever asks. So: diag, and a job submission that must not create a job.
  code=$(curl -s --max-time 30 -o "$work/body" -w '%{http_code}' "$api/diag")
  [[ $code == 401 ]] || fail rest-auth "GET diag with no headers -> $code, not 401: $(body_head)"
  code=$(get diag)
  [[ $code == 401 ]] || fail rest-auth "GET diag with a user name and no token -> $code, not 401: $(body_head)"
  nocode=$code
  forged=$(python3 -c 'import sys,hmac,hashlib,base64
h,p,_=sys.argv[1].split(".")
s=base64.urlsafe_b64encode(hmac.new(b"not-the-cluster-key-0123456789ab",(h+"."+p).encode(),hashlib.sha256).digest()).rstrip(b"=").decode()
print(h+"."+p+"."+s)' "$token")
  refused() { # refused WHAT CODE: 511 with slurmctld's authentication error in the body
    if [[ $2 != 511 ]] || ! grep -q '"error_number": *1007' "$work/body"; then
      fail rest-auth "$1 with a forged token -> $2, not 511 with error 1007: $(body_head)"
    fi
  }
  code=$(get diag "$forged")
  refused "GET diag" "$code"
  forgedcode=$code
  code=$(curl -s --max-time 30 -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $forged" "$api/diag")
  refused "GET diag (Authorization: Bearer)" "$code"
  before=$(grep -c 'jwt_decode failure' /var/log/slurm/slurmctld.log)
  jobs_before=$(timeout 10 squeue -h -a -t all -o %i | wc -l)
  code=$(curl -s --max-time 30 -o "$work/body" -w '%{http_code}' -H "X-SLURM-USER-NAME: root" -H "X-SLURM-USER-TOKEN: $forged" \
    -H 'Content-Type: application/json' -X POST -d "$body" "$api/job/submit")
  refused "POST job/submit" "$code"
  (($(grep -c 'jwt_decode failure' /var/log/slurm/slurmctld.log) > before)) || fail rest-auth "slurmctld logged no 'jwt_decode failure' for the forged token: $(daemon_error /var/log/slurm/slurmctld.log)"
  [[ $(timeout 10 squeue -h -a -t all -o %i | wc -l) == "$jobs_before" ]] || fail rest-auth "a job was created with a forged token"
  ctld=$(grep 'jwt_decode failure' /var/log/slurm/slurmctld.log | tail -n 1 | sed 's/^\[[^]]*\] //')
  step rest ok "slurmrestd ${parser//_/.} up; token ping/diag 200; job $restjob via REST COMPLETED; $((SECONDS - t0)) s"
  step rest-auth ok "no token -> $nocode; forged token -> $forgedcode (diag, job/submit: no job); slurmctld: $ctld"
fi

# 10. configless: slurmd restarted the way a compute node runs it (slurm_install.sh --conf-server), with no
# slurm.conf of its own: it fetches the controller's, after finding its auth plugin through the compiled-in
# PluginDir that the install script links to this prefix.
old_slurmd=$(pids_of slurmd | tr '\n' ' ')
[[ -n $old_slurmd ]] || fail configless "no slurmd running to restart"
# shellcheck disable=SC2086 # pids
kill $old_slurmd
for _ in $(seq 1 30); do running slurmd || break; sleep 1; done
! running slurmd || fail configless "slurmd ($old_slurmd) did not stop"
controller=$(hostname -s)
run configless-install "$installer" --prefix "$prefix" --container --conf-server "$controller"
link=$(grep -o 'link [^ ]* -> [^ ]*' "$work/configless-install.log" | head -n 1)
slurmd_cmd=$("$installer" --prefix "$prefix" --container --conf-server "$controller" --print-commands | grep '/sbin/slurmd ')
[[ $slurmd_cmd == *"--conf-server $controller"* && $slurmd_cmd != *SLURM_CONF=* ]] || fail configless "unexpected slurmd command: $slurmd_cmd"
rm -rf /run/slurm/conf
env -u SLURM_CONF bash -c "$slurmd_cmd" >>"$work/configless.log" 2>&1 || fail configless "'$slurmd_cmd' exited $?: $(tail -n 2 "$work/configless.log" | tr '\n' ' ')"
for _ in $(seq 1 30); do
  state=$(sinfo -h -N -o '%T' 2>/dev/null | head -n 1)
  [[ -f /run/slurm/conf/slurm.conf && ( "$state" == idle* || "$state" == mixed* ) ]] && break
  sleep 1
done
[[ -f /run/slurm/conf/slurm.conf ]] || fail configless "slurmd cached no config in /run/slurm/conf: $(tail -n 3 /var/log/slurm/slurmd.log 2>/dev/null | tr '\n' ' ')"
out=$(timeout 60 srun -N1 hostname 2>"$work/configless-srun.log") || fail configless "srun: $(tail -n 3 "$work/configless-srun.log" | tr '\n' ' ')"
[[ "$out" == "$(hostname)" ]] || fail configless "srun printed '$out'"
new_slurmd=$(pids_of slurmd | tr '\n' ' ')
[[ -n $new_slurmd && $new_slurmd != "$old_slurmd" ]] || fail configless "slurmd is '$new_slurmd', not a new one (was $old_slurmd)"
step configless ok "slurmd --conf-server $controller (pid ${new_slurmd% }, was ${old_slurmd% }): config fetched into /run/slurm/conf; srun -> $out; ${link:-no link needed}"
