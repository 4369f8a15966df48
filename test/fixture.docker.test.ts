/**
 * The test images themselves (test/fixture.ts): the debootstrapped base images and the Slurm fixture, checked
 * for the properties other tests rely on: Slurm 24.11.5 runs, the view's binaries carry absolute RPATHs into
 * the padded /opt/spack-root install tree, the view is hardlinks of that tree, specs.json names every prefix,
 * only glibc resolves outside the tree, and a one-node cluster runs jobs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { needDocker, repoRoot, testIf } from './helpers.ts';

const dockerTest = testIf(test, [needDocker]);
let fixture = '';

/** Runs a bash script in a throwaway container of `image`. */
function inContainer(image: string, script: string, timeout = 120_000) {
  const r = spawnSync(
    'docker',
    ['run', '--rm', '--hostname', 'fixture', image, 'bash', '-c', `set -euo pipefail\n${script}`],
    { encoding: 'utf8', timeout },
  );
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

// Slurm 24.11's clients read a slurm.conf before their options, even for --version.
const clientConf = `printf 'ClusterName=t\\nSlurmctldHost=localhost\\nAuthType=auth/slurm\\nCredType=cred/slurm\\n' >/tmp/c.conf
export SLURM_CONF=/tmp/c.conf`;

test.before(async () => {
  if (needDocker()) return;
  const { ensureSlurmFixture } = await import('./fixture.ts');
  fixture = await ensureSlurmFixture();
});

dockerTest('base images: Debian 12 and 13, glibc label read from the rootfs, working apt sources', async () => {
  const { ensureBaseImage } = await import('./fixture.ts');
  for (const [name, version, glibc] of [
    ['debian12', '12', '2.36'],
    ['debian13', '13', '2.41'],
  ] as const) {
    const tag = await ensureBaseImage(name);
    assert.is(tag, `slurm-factory-base:${name}`);
    const labels = JSON.parse(
      spawnSync('docker', ['image', 'inspect', '-f', '{{json .Config.Labels}}', tag], { encoding: 'utf8' }).stdout,
    );
    assert.is(labels['org.slurm-factory.os'], name);
    assert.is(labels['org.slurm-factory.glibc'], glibc);
    const r = inContainer(
      tag,
      '. /etc/os-release; echo "$VERSION_ID"; getconf GNU_LIBC_VERSION; cat /etc/apt/sources.list.d/debian.sources',
    );
    assert.is(r.status, 0, r.stderr);
    const [id = '', lddLine = ''] = r.stdout.split('\n');
    assert.is(id, version);
    assert.ok(lddLine.endsWith(` ${glibc}`), lddLine);
    assert.match(r.stdout, /-updates/);
    assert.match(r.stdout, /-security/);
  }
});

dockerTest('the fixture image has the expected tag and the package-stage tools', () => {
  // build.sh computes the tag in bash; test/fixture.ts computes it in TypeScript: they must agree.
  const built = spawnSync('bash', [join(repoRoot, 'test/fixtures/debian-slurm/build.sh')], { encoding: 'utf8' });
  assert.is(built.status, 0, built.stderr);
  assert.is(built.stdout.trim(), fixture);
  assert.match(fixture, /^slurm-factory-fixture:slurm-24\.11\.5-debian12-[0-9a-f]{10}$/);
  const r = inContainer(
    fixture,
    'for t in bash patchelf file readelf python3 tar gzip gpg find sha256sum; do command -v $t >/dev/null || echo "missing $t"; done',
  );
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), '');
});

dockerTest('Slurm binaries in the view run and say 24.11.5', () => {
  const r = inContainer(
    fixture,
    `${clientConf}
V=/opt/slurm/view
$V/bin/sinfo --version; $V/bin/srun --version; $V/bin/sbatch --version; $V/bin/scontrol --version
$V/sbin/slurmctld -V; $V/sbin/slurmd -V`,
  );
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.is(lines.length, 6, r.stdout);
  for (const l of lines) assert.is(l, 'slurm 24.11.5');
});

dockerTest('specs.json: one spack-find-like entry per prefix, Slurm first, hashes of 32 base32 characters', () => {
  const r = inContainer(fixture, 'cat /opt/slurm-factory/specs.json');
  const ls = inContainer(fixture, 'ls -d /opt/spack-root/*/*/*/*/*/linux-x86_64/*');
  assert.is(r.status, 0, r.stderr);
  assert.is(ls.status, 0, ls.stderr);
  const json = r.stdout;
  const dirs = ls.stdout.trim().split('\n');
  const specs = JSON.parse(json) as { name: string; version: string; hash: string; prefix: string }[];
  const slurm = specs[0];
  assert.ok(slurm, 'specs.json is not empty');
  assert.is(slurm.name, 'slurm');
  assert.is(slurm.version, '24.11.5');
  // The production feature set, each library in its own prefix, plus each one's library closure (curl -> krb5 ...).
  const names = specs.map((s) => s.name);
  for (const n of [
    'slurm',
    'munge',
    'hwloc',
    'pmix',
    'libyaml',
    'http-parser',
    'libjwt',
    'jansson',
    'openssl',
    'libb64',
    'json-c',
    'lz4',
    'readline',
    'ncurses',
    'curl',
    'mariadb-c-client',
    'lua',
    'dbus',
    'numactl',
    'libevent',
    'zlib',
  ]) {
    assert.ok(names.includes(n), `a prefix for ${n}: ${names.join(' ')}`);
  }
  assert.ok(specs.length >= 40, `${specs.length} prefixes`);
  assert.is(new Set(names).size, names.length, 'one prefix per name');
  for (const s of specs) {
    assert.match(s.hash, /^[a-z2-7]{32}$/);
    assert.ok(s.prefix.endsWith(`/linux-x86_64/${s.name}-${s.version}-${s.hash}`), s.prefix);
    assert.ok(s.prefix.startsWith('/opt/spack-root/__spack_path_placeholder__/'), s.prefix);
  }
  assert.is(
    slurm.prefix.length - '/linux-x86_64/slurm-24.11.5-'.length - 32,
    128,
    'install root padded to 128 characters',
  );
  assert.equal(dirs.sort(), specs.map((s) => s.prefix).sort(), 'specs.json lists exactly the prefixes on disk');
});

dockerTest(
  'every RPATH in the view is absolute into /opt/spack-root; Slurm is lazy-bound; only glibc outside the tree',
  () => {
    const r = inContainer(
      fixture,
      `
P=$(python3 -c 'import json; print(json.load(open("/opt/slurm-factory/specs.json"))[0]["prefix"])')
n=0; slurm=0
while IFS= read -r -d '' f; do
  file -b "$f" | grep -q '^ELF' || continue
  n=$((n+1))
  rp=$(readelf -d "$f" | sed -n 's/.*(R\\(UN\\)\\{0,1\\}PATH).*\\[\\(.*\\)\\]/\\2/p')
  [ -n "$rp" ] || { echo "no rpath: $f"; continue; }
  IFS=: read -ra parts <<<"$rp"
  for p in "\${parts[@]}"; do case "$p" in /opt/spack-root/*) ;; *) echo "rpath outside the tree: $f: $p";; esac; done
  # Slurm's own files must bind lazily; the dependency libraries copied from Debian keep Debian's -z now.
  if [ "$f" -ef "$P/\${f#/opt/slurm/view/}" ]; then
    readelf -d "$f" | grep -Eq 'BIND_NOW|FLAGS.*[[:space:]]NOW' && echo "BIND_NOW: $f"; slurm=$((slurm+1))
  fi
  ldd "$f" | awk '/=>/ && $3 !~ /^\\/opt\\/spack-root\\// && $1 !~ /^(libc|libm|libdl|librt|libpthread|libresolv|libutil)\\.so/ {print "outside: " FILENAME " " $0}'
done < <(find /opt/slurm/view -type f -print0)
echo "slurm files $slurm"
echo "checked $n"`,
    );
    assert.is(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    const checked = Number(lines.pop()?.replace('checked ', ''));
    assert.ok(checked > 100, `ELF files checked: ${checked}`);
    const slurmFiles = Number(lines.pop()?.replace('slurm files ', ''));
    assert.ok(slurmFiles > 90, `Slurm ELF files checked for lazy binding: ${slurmFiles}`);
    assert.equal(lines, [], 'every ELF file in the view');
    const rp = inContainer(fixture, 'readelf -d /opt/slurm/view/sbin/slurmctld');
    assert.match(rp.stdout, /\(RPATH\).*\/opt\/spack-root\/.*\/slurm-24\.11\.5-[a-z2-7]{32}\/lib\/slurm/);
  },
);

dockerTest('view files are hardlinks of the install tree (same inode), .spack metadata left out', () => {
  const r = inContainer(
    fixture,
    `
total=0; unlinked=0
while IFS= read -r -d '' f; do
  total=$((total+1))
  [ "$(stat -c %h "$f")" -ge 2 ] || { unlinked=$((unlinked+1)); echo "not hardlinked: $f"; }
done < <(find /opt/slurm/view -type f -print0)
P=$(python3 -c 'import json; print(json.load(open("/opt/slurm-factory/specs.json"))[0]["prefix"])')
[ /opt/slurm/view/sbin/slurmctld -ef "$P/sbin/slurmctld" ] && echo same-inode
[ /opt/slurm/view/lib/slurm/auth_slurm.so -ef "$P/lib/slurm/auth_slurm.so" ] && echo same-inode
[ ! -e /opt/slurm/view/.spack ] && echo no-spack-dir
echo "total $total"`,
  );
  assert.is(r.status, 0, r.stderr);
  const out = r.stdout.trim().split('\n');
  assert.equal(
    out.filter((l) => l.startsWith('not hardlinked')),
    [],
  );
  assert.is(out.filter((l) => l === 'same-inode').length, 2);
  assert.ok(out.includes('no-spack-dir'));
  assert.ok(Number(out.at(-1)?.replace('total ', '')) > 400);
});

dockerTest('a one-node cluster (auth/slurm, no munge, no cgroups) runs srun and sbatch from the view', () => {
  const r = inContainer(
    fixture,
    `
V=/opt/slurm/view; export PATH=$V/bin:$V/sbin:$PATH
P=$(python3 -c 'import json; print(json.load(open("/opt/slurm-factory/specs.json"))[0]["prefix"])')
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurmctld
cat >/etc/slurm/slurm.conf <<CONF
ClusterName=test
SlurmctldHost=localhost
AuthType=auth/slurm
CredType=cred/slurm
SlurmUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
PluginDir=$V/lib/slurm
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
echo CgroupPlugin=disabled >/etc/slurm/cgroup.conf
dd if=/dev/urandom of=/etc/slurm/slurm.key bs=1024 count=1 status=none; chmod 600 /etc/slurm/slurm.key
slurmctld; slurmd -d "$P/sbin/slurmstepd"
for i in $(seq 60); do sinfo -h -o %T 2>/dev/null | grep -qx idle && break; sleep 1; done
scontrol ping
sinfo -h -o '%P %T %N'
srun -N1 hostname
printf '#!/bin/bash\\necho "batch $SLURM_JOB_ID on $(hostname)"\\n' >/tmp/job.sh
cd /tmp && sbatch --wait -o /tmp/job.out /tmp/job.sh >/dev/null && cat /tmp/job.out`,
    180_000,
  );
  assert.is(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /Slurmctld\(primary\) at \S+ is UP/);
  assert.match(r.stdout, /^debug\* idle localhost$/m);
  assert.match(r.stdout, /^fixture$/m);
  assert.match(r.stdout, /^batch \d+ on fixture$/m);
});

test.run();
