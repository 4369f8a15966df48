#!/usr/bin/env bash
# node-check.sh: run inside a fresh container by `npx zx Taskfile.ts verify`. Installs the tarball the way an
# admin would and proves a one-node Slurm cluster works from it, without systemd.
#
# Usage: node-check.sh TARBALL PREFIX MODULE
#   TARBALL  the slurm-...-software.tar.gz (read-only bind mount)
#   PREFIX   where to unpack it (not /opt/slurm/view, on purpose: relocation is what is being checked)
#   MODULE   the module name from the manifest, e.g. slurm/24.11-gcc12.2.0
#
# Prints one line per step: `STEP <name> ok|FAIL <detail>`, and stops at the first failure.
# Logs stay in /var/log/slurm for the caller to copy out.
set -uo pipefail

tarball=${1:?usage: node-check.sh TARBALL PREFIX MODULE}
prefix=${2:?usage: node-check.sh TARBALL PREFIX MODULE}
module_name=${3:?usage: node-check.sh TARBALL PREFIX MODULE}
work=$(mktemp -d)

step() { printf 'STEP %s %s %s\n' "$1" "$2" "${3:-}"; }
fail() { step "$1" FAIL "$2"; exit 1; }
run() { # run NAME CMD...: the command's output goes to the work log; its last line is the detail on failure
  local name=$1; shift
  if "$@" >"$work/$name.log" 2>&1; then return 0; fi
  fail "$name" "$(tail -n 3 "$work/$name.log" | tr '\n' ' ')"
}

# 1. unpack at a prefix that is not where anything was built
run unpack bash -c "mkdir -p '$prefix' && tar -xzf '$tarball' -C '$prefix'"
[[ -x "$prefix/view/sbin/slurmctld" ]] || fail unpack "no view/sbin/slurmctld under $prefix"
step unpack ok "$prefix ($(du -sh "$prefix" | cut -f1))"

# 2. the install script, for a container (no systemd, no cgroups)
installer="$prefix/data/slurm_assets/slurm_install.sh"
run install "$installer" --prefix "$prefix" --full-init --container --node-name "$(hostname -s)" --controller "$(hostname -s)" \
  --enable-configless
step install ok "$(grep -c . "$work/install.log") lines; $(grep -E '^(PluginDir|SlurmUser)=' /etc/slurm/slurm.conf | tr '\n' ' ')"

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

# 10. configless: slurmd restarted the way a compute node runs it (slurm_install.sh --conf-server), with no
# slurm.conf of its own: it fetches the controller's, after finding its auth plugin through the compiled-in
# PluginDir that the install script links to this prefix.
pkill -x slurmd
for _ in $(seq 1 30); do pgrep -x slurmd >/dev/null || break; sleep 1; done
! pgrep -x slurmd >/dev/null || fail configless "slurmd did not stop"
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
step configless ok "slurmd --conf-server $controller: config fetched into /run/slurm/conf; srun -> $out; ${link:-no link needed}"
