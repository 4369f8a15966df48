/**
 * aarch64 end to end under emulation (issue 17): no Arm hardware here, so arm64 containers run through
 * qemu-user-static registered with binfmt_misc (scripts/setup-arm64.sh). The chain CI runs:
 *   cross-built fixture (test/fixtures/debian-slurm-arm64: the x86 fixture's Slurm, cross-compiled)
 *   -> `build --arch aarch64`: the real package stage in the arm64 fixture container (relocation, audit,
 *      glibc floor, plugin manifest, SBOM, every ELF file checked aarch64)
 *   -> a tarball named ...-aarch64-software.tar.gz whose ELF files are all aarch64 (read here, on the host)
 *   -> `verify`, which reads the architecture from the manifest and runs slurmctld, slurmd, srun and sbatch in
 *      an arm64 Debian 13 container. The emulated verify time is printed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, openSync, readSync, closeSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { needArm64Emulation, needDocker, repoRoot, tempDir, testIf } from './helpers.ts';

const armTest = testIf(test, [needDocker, needArm64Emulation]);
const home = tempDir('sf-aarch64-');
const env = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', SLURM_FACTORY_HOME: join(home.path, 'home') };
let base12 = '';
let base13 = '';
let fixture = '';
const tarballName = 'slurm-24.11-gcc12.2.0-aarch64-software.tar.gz';

/** The CLI with a longer timeout than runCli's: the package stage and verify run emulated. */
function cli(args: string[], timeout = 1_800_000) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'Taskfile.ts'), ...args], {
    cwd: repoRoot,
    env,
    encoding: 'utf8',
    timeout,
  });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** e_machine of every ELF file under dir (regular files only): path -> machine. */
function elfMachines(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size >= 20) {
        const fd = openSync(p, 'r');
        const h = Buffer.alloc(20);
        readSync(fd, h, 0, 20, 0);
        closeSync(fd);
        if (h.readUInt32BE(0) === 0x7f454c46)
          out.set(p.slice(dir.length + 1), h[5] === 1 ? h.readUInt16LE(18) : h.readUInt16BE(18));
      }
    }
  };
  walk(dir);
  return out;
}

test.before(async () => {
  if (needDocker() || needArm64Emulation()) return;
  const { ensureBaseImage, ensureArm64SlurmFixture } = await import('./fixture.ts');
  base12 = await ensureBaseImage('debian12', 'arm64');
  base13 = await ensureBaseImage('debian13', 'arm64');
  fixture = await ensureArm64SlurmFixture();
});
test.after(() => home.cleanup());

armTest('arm64 base images: Debian 12 and 13 imported as linux/arm64, running as aarch64 under emulation', () => {
  for (const [tag, glibc] of [
    [base12, '2.36'],
    [base13, '2.41'],
  ] as const) {
    assert.match(tag, /^slurm-factory-base:debian1[23]-arm64$/);
    const inspect = JSON.parse(
      spawnSync('docker', ['image', 'inspect', '-f', '{{json .}}', tag], { encoding: 'utf8' }).stdout,
    );
    assert.is(inspect.Architecture, 'arm64', `${tag} is an arm64 image`);
    assert.is(inspect.Config.Labels['org.slurm-factory.arch'], 'arm64');
    assert.is(inspect.Config.Labels['org.slurm-factory.glibc'], glibc);
    const r = spawnSync(
      'docker',
      ['run', '--rm', '--platform', 'linux/arm64', tag, 'sh', '-c', 'uname -m; getconf GNU_LIBC_VERSION'],
      { encoding: 'utf8' },
    );
    assert.is(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n'), ['aarch64', `glibc ${glibc}`]);
  }
});

armTest('the cross-built fixture: every ELF file of the install tree is aarch64, and its slurmctld runs', () => {
  assert.match(fixture, /^slurm-factory-fixture:slurm-24\.11\.5-debian12-arm64-[0-9a-f]{10}$/);
  const r = spawnSync(
    'docker',
    [
      'run',
      '--rm',
      '--platform',
      'linux/arm64',
      fixture,
      'bash',
      '-c',
      `set -euo pipefail
    uname -m
    /opt/slurm/view/sbin/slurmctld -V
    find /opt/spack-root -type f -print0 | xargs -0 file -N -F '|' | awk -F'|' '/ ELF /{n++; if ($2 !~ /ARM aarch64/) bad++} END{print n+0, bad+0}'
    python3 -c 'import json; s=json.load(open("/opt/slurm-factory/specs.json")); print(sorted({x["arch"]["target"] for x in s}))'`,
    ],
    { encoding: 'utf8', timeout: 600_000 },
  );
  assert.is(r.status, 0, r.stderr);
  const [machine, version, counts, targets] = r.stdout.trim().split('\n');
  assert.is(machine, 'aarch64');
  assert.is(version, 'slurm 24.11.5');
  const [elves, bad] = counts!.split(' ').map(Number);
  assert.ok(
    elves! >= 150,
    `${elves} ELF files (89 plugins, the daemons and clients, 53 prefixes' libraries: 193 when written)`,
  );
  assert.is(bad, 0, 'no ELF file of another architecture');
  assert.is(targets, "['aarch64']");
});

armTest(
  'build --arch aarch64: the package stage runs in the arm64 container; every ELF file in the tarball is aarch64',
  () => {
    const t0 = Date.now();
    const r = cli([
      'build',
      '24.11',
      '--arch',
      'aarch64',
      '--gcc',
      'system',
      '--os',
      'debian12',
      '--base-image',
      base12,
      '--context',
      `slurm=docker-image://${fixture}`,
    ]);
    const seconds = Math.round((Date.now() - t0) / 1000);
    assert.is(r.status, 0, r.stderr.slice(-4000));
    console.log(`  build --arch aarch64 (package stage emulated): ${seconds} s`);
    const builds = join(env.SLURM_FACTORY_HOME, 'builds');
    assert.ok(
      readdirSync(builds).includes(tarballName),
      `names carry the architecture: ${readdirSync(builds).join(', ')}`,
    );
    const manifest = JSON.parse(readFileSync(join(builds, `${tarballName}.manifest.json`), 'utf8'));
    assert.is(manifest.arch, 'aarch64');
    assert.is(manifest.platform, 'linux/arm64');
    assert.ok(
      manifest.specs.every((s: { arch?: string }) => s.arch?.endsWith('-aarch64')),
      'every spec was built for aarch64',
    );
    const logs = readdirSync(join(env.SLURM_FACTORY_HOME, 'logs')).filter((f) =>
      f.startsWith('slurm-24.11-gcc12.2.0-aarch64'),
    );
    assert.ok(logs.length > 0, 'a build log');
    const log = readFileSync(join(env.SLURM_FACTORY_HOME, 'logs', logs[0]!), 'utf8');
    assert.match(log, /--platform linux\/arm64/);
    // And on the host, from the tarball itself.
    const x = join(home.path, 'unpacked');
    const un = spawnSync('bash', ['-c', `mkdir -p "$1" && tar -xzf "$2" -C "$1"`, '_', x, join(builds, tarballName)], {
      encoding: 'utf8',
    });
    assert.is(un.status, 0, un.stderr);
    const machines = elfMachines(x);
    assert.ok(machines.size > 100, `${machines.size} ELF files in the tarball`);
    // The package stage said so itself (elf-arch.py, inside the arm64 container): the manifest records how many
    // ELF files it checked, the same whether this run executed the stage or BuildKit reused its layer.
    assert.is(manifest.elfFiles, machines.size, 'the package stage checked every ELF file the tarball holds');
    const foreign = [...machines].filter(([, m]) => m !== 183);
    assert.equal(foreign, [], 'every ELF file is EM_AARCH64 (183)');
    assert.ok(machines.has('view/sbin/slurmctld') && machines.has('view/lib/slurm/auth_slurm.so'));
    assert.ok(statSync(join(builds, tarballName)).size > 1_000_000);
  },
);

armTest('verify reads the architecture from the manifest and runs the cluster in an arm64 Debian 13 container', () => {
  const tarball = join(env.SLURM_FACTORY_HOME, 'builds', tarballName);
  const wrong = cli(['verify', tarball, '--arch', 'x86_64', '--image', base13]);
  assert.is(wrong.status, 2, wrong.stderr);
  assert.match(wrong.stderr, /--arch x86_64 does not match the package, which is built for aarch64/);
  const t0 = Date.now();
  const r = cli(['verify', tarball, '--image', base13]);
  const seconds = Math.round((Date.now() - t0) / 1000);
  console.log(`  verify under emulation (arm64 Debian 13 on x86_64): ${seconds} s`);
  assert.is(r.status, 0, r.stdout + r.stderr.slice(-3000));
  assert.match(r.stdout, /aarch64 \(linux\/arm64\)/);
  assert.match(
    r.stdout,
    /^ {2}ok {4}arch +slurm-factory-base:debian13-arm64 runs as linux\/arm64 \(uname -m: aarch64\)$/m,
  );
  assert.match(r.stdout, /^ {2}ok {4}daemons +.*sbin\/slurmctld.*sbin\/slurmd/m, 'slurmctld and slurmd started');
  assert.match(r.stdout, /^ {2}ok {4}srun +srun -N1 hostname -> \S+/m);
  assert.match(r.stdout, /^ {2}ok {4}sbatch +job \d+ wrote: /m);
  assert.match(r.stdout, /^PASS {2}slurm-factory-base:debian13-arm64$/m);
  assert.match(r.stdout, /1 of 1 images passed/);
});

test.run();
