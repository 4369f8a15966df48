/**
 * End to end, with real tools: a real Slurm (test/fixtures/debian-slurm, Debian's 24.11.5 source in a
 * Spack-like tree) goes through the project's real package stage, signed with a key passed as a BuildKit
 * secret, then `verify` installs it in a *different* distro (built on Debian 12, run on Debian 13) and runs a
 * live one-node cluster. Then the ways a tarball must be refused.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gpgHome, needCommand, needDocker, repoRoot, runCli, tempDir, testIf } from './helpers.ts';
import { scanImageForKey } from './key-scan.ts';
import { HOSTILE, NAME as hostileName, packTree, packageTree } from './hostile-tarballs.ts';

const dockerTest = testIf(test, [needDocker, needCommand('gpg', 'apt-get install gnupg')]);
const t = tempDir('sf-verify-');
const env = { SLURM_FACTORY_HOME: join(t.path, 'home') };
const builds = join(env.SLURM_FACTORY_HOME, 'builds');
const name = 'slurm-24.11-gcc12.2.0-software.tar.gz';
const keys = { a: join(t.path, 'key-a'), b: join(t.path, 'key-b') };
let base12 = '',
  base13 = '',
  base11 = '',
  fixture = '';

/**
 * The sf-verify-* containers and networks the engine has now. A run's own must be gone when it ends; others may
 * be there from before (a verify killed with its machine, as when a CI run is stopped), so a test compares
 * against what was there when it started.
 */
function verifyLeftovers(): { containers: string[]; networks: string[] } {
  const ls = (args: string[], field: string) =>
    spawnSync('docker', [...args, '--filter', 'name=sf-verify-', '--format', `{{.${field}}}`], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean)
      .sort();
  return { containers: ls(['ps', '-a'], 'Names'), networks: ls(['network', 'ls'], 'Name') };
}
const addedSince = (before: string[], now: string[]) => now.filter((n) => !before.includes(n));

test.before(async () => {
  if (needDocker()) return;
  const { ensureBaseImage, ensureSlurmFixture } = await import('./fixture.ts');
  base12 = await ensureBaseImage('debian12');
  base13 = await ensureBaseImage('debian13');
  base11 = await ensureBaseImage('debian11');
  fixture = await ensureSlurmFixture();
  for (const [who, dir] of Object.entries(keys)) {
    const k = runCli(['keygen', '--name', `verify test ${who}`, '--out', dir], { env });
    if (k.status !== 0) throw new Error(`keygen failed: ${k.stderr}`);
  }
});
test.after(() => t.cleanup());

dockerTest('a signed build: the key reaches the package stage only as a secret, and gpg accepts the signatures', () => {
  const r = runCli(
    [
      'build',
      '24.11',
      '--gcc',
      'system',
      '--os',
      'debian12',
      '--base-image',
      base12,
      '--context',
      `slurm=docker-image://${fixture}`,
      '--sign-key',
      join(keys.a, 'signing.private.asc'),
    ],
    { env },
  );
  assert.is(r.status, 0, r.stderr.slice(-3000));
  assert.equal(
    readdirSync(builds).sort(),
    [
      name,
      `${name}.asc`,
      `${name}.manifest.json`,
      `${name}.sha256`,
      `${name}.sha256.asc`,
      `${name}.cdx.json`,
      `${name}.provenance.json`,
      `${name}.provenance.json.asc`,
    ].sort(),
  );
  const gpg = gpgHome(join(t.path, 'gnupg'), join(keys.a, 'signing.public.asc'));
  for (const f of [name, `${name}.sha256`, `${name}.provenance.json`]) {
    const v = gpg('--verify', join(builds, `${f}.asc`), join(builds, f));
    assert.is(v.status, 0, `gpg --verify ${f}: ${v.stderr}`);
    assert.match(v.stderr, /Good signature/);
  }
});

dockerTest(
  "the build's SBOM is valid CycloneDX 1.6 and its provenance names the tarball's sha256sum, the context, Spack and the base image",
  async () => {
    const { cyclonedxErrors } = await import('./cyclonedx.ts');
    assert.is(await cyclonedxErrors(readFileSync(join(builds, `${name}.cdx.json`), 'utf8')), null);
    const st = JSON.parse(readFileSync(join(builds, `${name}.provenance.json`), 'utf8'));
    const sum = spawnSync('sha256sum', [join(builds, name)], { encoding: 'utf8' }).stdout.split(' ')[0];
    assert.equal(st.subject, [{ name, digest: { sha256: sum } }]);
    const deps = st.predicate.buildDefinition.resolvedDependencies;
    const id = spawnSync('docker', ['image', 'inspect', '--format', '{{.Id}}', base12], {
      encoding: 'utf8',
    }).stdout.trim();
    assert.ok(
      deps.some((d: any) => d.name === 'base-image' && `sha256:${d.digest?.sha256}` === id),
      JSON.stringify(deps.find((d: any) => d.name === 'base-image')),
    );
    assert.ok(deps.some((d: any) => d.name === 'context:Dockerfile'));
    assert.ok(deps.some((d: any) => d.name === 'context:package/scripts/sbom.py'));
    assert.ok(deps.some((d: any) => d.digest?.gitCommit && d.uri.includes('spack-packages')));
    const plan = st.predicate.buildDefinition.externalParameters.plan;
    assert.is(plan.requestedSlurm, '24.11');
    assert.match(plan.slurmRelease, /^24\.11\.\d+$/);
    assert.is(plan.baseImage, base12);
    assert.match(plan.planSha256, /^[0-9a-f]{64}$/);
  },
);

dockerTest('provenance that describes another tarball fails verify, naming both checksums', () => {
  const d = copyOf([name, `${name}.sha256`, `${name}.provenance.json`]);
  const p = join(d, `${name}.provenance.json`);
  const st = JSON.parse(readFileSync(p, 'utf8'));
  st.subject[0].digest.sha256 = '0'.repeat(64);
  writeFileSync(p, JSON.stringify(st));
  const r = runCli(['verify', join(d, name), '--image', base13], { env });
  assert.is(r.status, 1);
  assert.match(
    r.stderr.trim(),
    /^error: slurm-24\.11-gcc12\.2\.0-software\.tar\.gz\.provenance\.json does not describe this tarball: its subject is sha256 0{64}, the tarball's sha256 is [0-9a-f]{64}/,
  );
});

dockerTest('no key material in the package image: docker history, image config, or any layer', async () => {
  const r = runCli(
    [
      'build',
      '24.11',
      '--gcc',
      'system',
      '--os',
      'debian12',
      '--base-image',
      base12,
      '--context',
      `slurm=docker-image://${fixture}`,
      '--sign-key',
      join(keys.a, 'signing.private.asc'),
      '--target',
      'package',
    ],
    { env },
  );
  assert.is(r.status, 0, r.stderr.slice(-3000));
  const image = 'slurm-factory:24.11-gcc12.2.0-package';
  const scan = await scanImageForKey(
    image,
    readFileSync(join(keys.a, 'signing.private.asc'), 'utf8'),
    join(t.path, 'scan'),
  );
  assert.ok(scan.needles >= 3 && scan.secretNeedles >= 1, `key material to look for (${scan.needles})`);
  assert.match(scan.history, /package-view\.sh/, 'history is readable');
  assert.ok(scan.layers >= 3, `layers were read (${scan.layers})`);
  assert.equal(scan.found, [], 'no key material anywhere in the image');
  const { history, config } = scan;
  // The fingerprint is public: it is a build argument so a signed build is its own cache entry.
  assert.match(history + config, /SIGNING_KEY_FINGERPRINT/);
});

dockerTest('verify: a live one-node cluster on Debian 13 from a tarball built on Debian 12', () => {
  const before = verifyLeftovers();
  const r = runCli(['verify', join(builds, name), '--key', join(keys.a, 'signing.public.asc'), '--image', base13], {
    env,
  });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /ok {4}checksum: sha256 [0-9a-f]{16}… matches/);
  assert.match(r.stdout, /ok {4}signature: good signature by [0-9A-F]{40}/);
  assert.match(r.stdout, /ok {4}provenance: subject sha256 [0-9a-f]{16}\.\.\. matches/);
  assert.match(r.stdout, /ok {4}provenance signature: good signature by [0-9A-F]{40}/);
  assert.match(r.stdout, /ok {4}sbom: \d+ ELF files, each in one of \d+ components/);
  assert.match(r.stdout, /^PASS {2}slurm-factory-base:debian13$/m);
  for (const step of [
    'glibc',
    'unpack',
    'install',
    'module',
    'plugins',
    'daemons',
    'ping',
    'sinfo',
    'srun',
    'sbatch',
    'job-state',
    'configless',
  ]) {
    assert.match(r.stdout, new RegExp(`^  ok {4}${step} `, 'm'), `step ${step} ok`);
  }
  // Every plugin of the production feature set loads on Debian 13 (those using slurmctld's own symbols are
  // loaded by the live daemons below).
  const plugins = /plugins +(\d+) plugins load; (\d+) need their daemon's symbols/.exec(r.stdout);
  assert.ok(plugins && Number(plugins[1]) >= 80, `plugins loaded: ${plugins?.[0]}`);
  for (const step of ['mariadb', 'slurmdbd', 'sacct', 'rest', 'cluster \\S+'])
    assert.not.match(r.stdout, new RegExp(`^  \\S+ +${step} `, 'm'), 'quick mode');
  assert.match(r.stdout, /module +slurm\/24\.11-gcc12\.2\.0: scontrol=\/shared\/apps\/slurm\/view\/bin\/scontrol/);
  assert.match(r.stdout, /srun -N1 hostname -> slurm-verify/);
  assert.match(r.stdout, /job-state +job \d+ JobState=COMPLETED/);
  // A compute node without slurm.conf: the compiled-in PluginDir (the fixture's install tree, absent here) is
  // linked to the prefix, and slurmd fetches its config from slurmctld.
  assert.match(
    r.stdout,
    /configless +slurmd --conf-server slurm-verify \(pid \d+, was \d+\): config fetched into \/run\/slurm\/conf; srun -> slurm-verify; link \/opt\/spack-root\/\S+\/slurm-24\.11\.5-[a-z0-9]+\/lib\/slurm -> \/shared\/apps\/slurm\/view\/lib\/slurm/,
  );
  assert.equal(addedSince(before.containers, verifyLeftovers().containers), [], 'containers removed');
});

dockerTest(
  'verify --full: slurmdbd on MariaDB with sacct, slurmrestd with JWT, Lua, PMIx, then three nodes, on Debian 13',
  () => {
    const before = verifyLeftovers();
    const t0 = Date.now();
    const r = runCli(['verify', join(builds, name), '--full', '--image', base13], { env });
    console.log(`  verify --full: ${Math.round((Date.now() - t0) / 1000)} s`);
    assert.is(r.status, 0, r.stdout + r.stderr);
    for (const step of [
      'plugins',
      'mariadb',
      'slurmdbd',
      'daemons',
      'sbatch',
      'job-state',
      'sacct',
      'lua',
      'pmix',
      'rest',
      'rest-auth',
      'configless',
    ]) {
      assert.match(r.stdout, new RegExp(`^  ok {4}${step} `, 'm'), `step ${step} ok`);
    }
    assert.match(r.stdout, /mariadb +\S*MariaDB.* up in \d+ s; slurm_acct_db\.sql applied/);
    // set up by slurm_install.sh (--accounting --restd --job-submit-lua), not by the check: the script is tested
    assert.match(
      r.stdout,
      /install +\d+ lines; SlurmUser=slurm PluginDir=\S+ AuthAltTypes=auth\/jwt JobSubmitPlugins=lua/,
    );
    assert.match(r.stdout, /slurmdbd +up in \d+ s; slurm_install\.sh: register cluster \S+ in the accounting database/);
    assert.match(r.stdout, /sacct +sacct -j (\d+) -> \1\|COMPLETED\|0:0/);
    assert.match(
      r.stdout,
      /lua +rejected: site rule: jobs named verify-forbidden are not allowed here; job \d+ got Comment=checked-by-site-lua/,
    );
    assert.match(r.stdout, /pmix +srun --mpi=pmix -n2: pmix rank 0 of 2; pmix rank 1 of 2/);
    assert.match(r.stdout, /rest +slurmrestd v0\.0\.\d+ up; token ping\/diag 200; job \d+ via REST COMPLETED/);
    // No token: slurmrestd refuses (401). A forged token (right claims, signed with another key): slurmrestd's
    // rest_auth/jwt passes it through, slurmctld refuses it, slurmrestd answers 511 with error 1007; a job
    // submitted with it is not created. (GET ping answers 200 "DOWN" to anyone: it is no test of auth.)
    assert.match(
      r.stdout,
      /rest-auth +no token -> 401; forged token -> 511 \(diag, job\/submit: no job\); slurmctld: error: auth_p_verify: jwt_decode failure/,
    );
    assert.match(r.stdout, /^PASS {2}slurm-factory-base:debian13$/m);
    // Several nodes: a controller and two configless compute containers on a private network.
    assert.match(r.stdout, /^PASS {2}slurm-factory-base:debian13 \(controller \+ 2 configless compute containers\)$/m);
    assert.match(r.stdout, /cluster install-slurm-c1 +compute: /);
    assert.match(r.stdout, /cluster srun-N2 +slurm-c1 slurm-c2$/m);
    assert.match(r.stdout, /cluster not-responding +slurm-c2: \S*(\*|down\S*) after \d+ s/);
    assert.match(
      r.stdout,
      /cluster restart +slurm-c2 killed, seen not responding, restarted, IDLE again, srun -N2 on both: \d+ s; cluster total \d+ s/,
    );
    const part = /several-node check (\d+) s/.exec(r.stdout);
    console.log(`  verify --full: several-node part ${part?.[1]} s`);
    const after = verifyLeftovers();
    assert.equal(addedSince(before.networks, after.networks), [], 'network removed');
    assert.equal(addedSince(before.containers, after.containers), [], 'containers removed');
  },
);

dockerTest('verify --full: slurmdbd pointed at a stopped database fails with its own error line, bounded', () => {
  const t0 = Date.now();
  const r = runCli(['verify', join(builds, name), '--full', '--db-host', '127.0.0.1', '--image', base13], { env });
  const secs = Math.round((Date.now() - t0) / 1000);
  console.log(`  verify --full with no database: ${secs} s`);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /ok {4}mariadb +external database at 127\.0\.0\.1/);
  // slurmdbd's own log line, e.g. "error: mysql_real_connect failed: 2002 Can't connect to server on '127.0.0.1'"
  assert.match(
    r.stdout,
    /FAIL {2}slurmdbd +not answering \(waited up to \d+s\); slurmdbd\.log: .*(mysql|connect)/i,
    r.stdout,
  );
  assert.not.match(r.stdout, /ok {4}daemons/, 'stopped at the first failure');
  assert.ok(secs < 400, `bounded (${secs} s)`);
});

dockerTest('a plugin whose library is missing from the view is reported by name with dlerror()', () => {
  // accounting_storage/mysql links the MariaDB client library (mpi/pmix would not do: it dlopens libpmix)
  const d = join(t.path, 'no-mariadb');
  const tree = join(d, 'tree');
  mkdirSync(tree, { recursive: true });
  const x = spawnSync('tar', ['-xzf', join(builds, name), '-C', tree]);
  assert.is(x.status, 0, String(x.stderr));
  const manifest = JSON.parse(readFileSync(join(tree, 'manifest.json'), 'utf8'));
  const mysql = manifest.plugins.plugins.find((p: { file: string }) => p.file === 'accounting_storage_mysql.so');
  assert.ok(mysql?.links.includes('libmariadb.so.3'), 'the manifest records what the plugin links');
  const removed = readdirSync(join(tree, 'view/lib')).filter((f) => f.startsWith('libmariadb.so'));
  assert.ok(removed.length > 0, 'the view ships libmariadb');
  for (const f of removed) spawnSync('rm', ['-f', join(tree, 'view/lib', f)]);
  const c = spawnSync('tar', ['-czf', join(d, name), '-C', tree, '.']);
  assert.is(c.status, 0, String(c.stderr));
  const r = runCli(['verify', join(d, name), '--no-checksum', '--image', base13], { env });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(
    r.stdout,
    /FAIL {2}plugins +accounting_storage_mysql\.so: libmariadb\.so\.3: cannot open shared object file/,
  );
  assert.not.match(r.stdout, /ok {4}daemons/, 'stopped before starting anything');
});

function copyOf(files: string[]): string {
  const d = join(t.path, `copy-${Math.random().toString(36).slice(2)}`);
  mkdirSync(d);
  for (const f of files) copyFileSync(join(builds, f), join(d, f));
  return d;
}

dockerTest('a changed byte fails the checksum, naming the file', () => {
  const d = copyOf([name, `${name}.sha256`]);
  const buf = readFileSync(join(d, name));
  const at = Math.floor(buf.length / 2);
  buf[at] = buf[at]! ^ 0xff;
  writeFileSync(join(d, name), buf);
  const r = runCli(['verify', join(d, name), '--image', base13], { env });
  assert.is(r.status, 1);
  assert.match(
    r.stderr.trim(),
    new RegExp(
      `^error: ${name.replace(/\./g, '\\.')} does not match its checksum \\(expected [0-9a-f]{64}, got [0-9a-f]{64}\\); the file was changed`,
    ),
  );
});

dockerTest('a signature checked with another key fails, naming the file', () => {
  const r = runCli(['verify', join(builds, name), '--key', join(keys.b, 'signing.public.asc'), '--image', base13], {
    env,
  });
  assert.is(r.status, 1);
  assert.match(r.stderr, new RegExp(`${name.replace(/\./g, '\\.')}`));
  assert.match(
    r.stderr.trim(),
    /^error: slurm-24\.11-gcc12\.2\.0-software\.tar\.gz was signed by key [0-9A-F]{16}, which is not the given key; /,
  );
});

dockerTest('a missing .sha256 stops verify unless --no-checksum', () => {
  const d = copyOf([name]);
  const r = runCli(['verify', join(d, name), '--image', base13], { env });
  assert.is(r.status, 1);
  assert.match(
    r.stderr.trim(),
    new RegExp(`^error: ${name.replace(/\./g, '\\.')}\\.sha256 is missing beside .*; .*--no-checksum`),
  );
});

dockerTest('an image whose glibc is older than the floor is refused early with both numbers', () => {
  const d = copyOf([name]);
  const r = runCli(['verify', join(d, name), '--no-checksum', '--image', base11], { env });
  assert.is(r.status, 1);
  assert.match(r.stdout, /skip {2}checksum: .*missing; not checked \(--no-checksum\)/);
  assert.match(
    r.stdout,
    /FAIL {2}glibc +slurm-factory-base:debian11 has glibc 2\.31, older than the package's floor 2\.3\d/,
  );
  assert.not.match(r.stdout, /unpack/, 'nothing was started');
  assert.ok(existsSync(join(d, name)));
});

// ------------------------------------------------------------------------------ hostile tarballs, on the host

/** Container events for `image` between two times (docker events is the engine's own record). */
function containerEvents(image: string, since: number): string[] {
  const r = spawnSync(
    'docker',
    [
      'events',
      '--since',
      String(since),
      '--until',
      String(Math.ceil(Date.now() / 1000) + 1),
      '--filter',
      'type=container',
      '--filter',
      `image=${image}`,
      '--format',
      '{{.Action}} {{.Actor.Attributes.name}}',
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`docker events: ${r.stderr}`);
  return r.stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '');
}

dockerTest('hostile tarballs are refused on the host with one line and exit 2; no container is started', () => {
  // A tag of its own, so the engine's event log shows any container verify would run from it.
  const tripwire = `sf-verify-tripwire-${process.pid}:latest`;
  assert.is(spawnSync('docker', ['tag', base13, tripwire]).status, 0);
  try {
    // The tripwire works: a container from it shows up in the events.
    const since0 = Math.floor(Date.now() / 1000) - 1;
    assert.is(spawnSync('docker', ['run', '--rm', '--entrypoint', 'true', tripwire]).status, 0);
    assert.ok(
      containerEvents(tripwire, since0).some((e) => e.startsWith('create')),
      'docker events records a container',
    );

    const cases = [...HOSTILE.map((h) => ({ name: h.name, make: h.make, says: h.says }))];
    for (const h of cases) {
      const d = join(t.path, `hostile-${cases.indexOf(h)}`);
      mkdirSync(d);
      const tarball = join(d, hostileName);
      h.make(d, tarball);
      const since = Math.floor(Date.now() / 1000) - 1;
      const r = runCli(['verify', tarball, '--no-checksum', '--image', tripwire], { env });
      assert.is(r.status, 2, `${h.name}: ${r.stdout}${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.is(lines.length, 1, `${h.name}: ${r.stderr}`);
      assert.ok(lines[0]!.startsWith(`error: ${hostileName}: `), lines[0]);
      assert.match(lines[0]!, h.says, h.name);
      assert.is(r.stdout, '', `${h.name}: no image step`);
      assert.equal(containerEvents(tripwire, since), [], `${h.name}: no container started`);
    }
  } finally {
    spawnSync('docker', ['rmi', tripwire], { stdio: 'ignore' });
  }
});

dockerTest('logs copied out of a failed check keep only regular files: no symlink to a host path, no device', () => {
  const leftovers = verifyLeftovers();
  // An installer that leaves links to host paths, a fifo and a device in the logs and config, then fails, so
  // verify copies /var/log/slurm and /etc/slurm/*.conf out of the container.
  const installer = `#!/bin/bash
mkdir -p /var/log/slurm/sub /etc/slurm
echo 'controller log' > /var/log/slurm/slurmctld.log
echo nested > /var/log/slurm/sub/nested.log
ln -s /etc/shadow /var/log/slurm/shadow
ln -s /etc /var/log/slurm/etc-dir
ln -s /etc/shadow /var/log/slurm/sub/deep-shadow
mkfifo /var/log/slurm/fifo
mknod /var/log/slurm/null c 1 3
echo ClusterName=hostile > /etc/slurm/slurm.conf
ln -s /etc/shadow /etc/slurm/cgroup.conf
echo secret > /etc/slurm/slurm.key
echo 'this installer fails on purpose' >&2
exit 1
`;
  const d = join(t.path, 'hostile-installer');
  mkdirSync(d);
  const tarball = packTree(packageTree(d, installer), join(d, hostileName));
  const home = join(t.path, 'logs-home');
  const before = existsSync('/etc/shadow') ? lstatSync('/etc/shadow').mtimeMs : 0;
  const r = runCli(['verify', tarball, '--no-checksum', '--image', base13], { env: { SLURM_FACTORY_HOME: home } });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^ {2}FAIL {2}install +/m);
  assert.match(r.stdout, /logs +daemon logs and config kept in /);
  const logs = readdirSync(join(home, 'logs'));
  assert.is(logs.length, 1, logs.join(', '));
  assert.match(logs[0]!, /^verify-slurm-24\.11-gcc12\.2\.0-software-slurm-factory-base-debian13-\d+$/);
  const dir = join(home, 'logs', logs[0]!);
  const found = (readdirSync(dir, { recursive: true }) as string[]).sort().map((p) => {
    const st = lstatSync(join(dir, p));
    return `${p} ${st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other'}`;
  });
  assert.equal(found, [
    'etc-slurm dir',
    'etc-slurm/slurm.conf file',
    'slurm dir',
    'slurm/slurmctld.log file',
    'slurm/sub dir',
    'slurm/sub/nested.log file',
  ]);
  assert.is(readFileSync(join(dir, 'slurm', 'slurmctld.log'), 'utf8'), 'controller log\n');
  assert.is(readFileSync(join(dir, 'etc-slurm', 'slurm.conf'), 'utf8'), 'ClusterName=hostile\n');
  assert.match(r.stdout, /left out \d+ \(/);
  assert.equal(readdirSync(home).sort(), ['logs'], 'nothing written in the home but the verify log directory');
  if (before) assert.is(lstatSync('/etc/shadow').mtimeMs, before);
  assert.equal(addedSince(leftovers.containers, verifyLeftovers().containers), [], 'containers removed');
});

test.run();
