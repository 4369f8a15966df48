/**
 * The real build, offline (issue 13): the project's own Dockerfile, unmodified, compiles Slurm and its runtime
 * closure with real Spack through spack -> deps -> slurm -> package -> export, then `verify` runs the tarball as
 * a live one-node cluster on Debian 13. Plan: `build 24.11 --gcc system --os debian13 --base-image
 * slurm-factory-base:debian13` (Slurm 24.11.6, Debian 13's GCC 14.2.0).
 *
 * Everything outside the project reaches the build only as named contexts: a Spack tree (spack-src), the pinned
 * spack-packages (spack-packages-src), both as copies with the test-only scope of test/fixtures/real-build/
 * applied, and a source mirror (source-mirror) built from Debian's orig tarballs (test/fixtures/source-mirror/)
 * plus six local archives. Give them as paths (GitHub is unreachable in CI, so CI skips, saying which to set):
 *
 *   SLURM_FACTORY_TEST_REAL_SPACK=/path/to/spack     a Spack v1.0.0 tree in which Debian 13's python3 can
 *                                                    `import clingo` (clingo 5.6.x and _cffi_backend for
 *                                                    Python 3.13 under lib/spack/): `spack bootstrap now`
 *                                                    then finds the solver without any network
 *   SLURM_FACTORY_TEST_SPACK_PACKAGES=/path          spack-packages at the catalog's commit
 *   SLURM_FACTORY_TEST_REAL_SOURCES=/path            compiler-wrapper-1.1.0.tar.gz, zlib-ng-2.2.2.tar.gz,
 *                                                    slurm-24-11-6-1.tar.gz, libjwt-1.15.3.tar.gz,
 *                                                    mariadb-c-client-3.4.1.tar.gz, pmix-4.2.2.tar.gz
 *                                                    (test/fixtures/real-build/test-versions.json: `make`)
 *   SLURM_FACTORY_TEST_REAL_WORK=/path               optional: where the copies, mirror and download cache go
 *                                                    (default a temporary directory); kept, so a rerun reuses
 *                                                    the downloads
 *
 * Hours on a small machine (the deps stage compiles ~30 packages). SLURM_FACTORY_HOME is a directory under the
 * work directory, so the test's tarball, logs and binary cache never mix with the user's.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needDocker, repoRoot, tempDir, testIf, type Requirement } from './helpers.ts';
import { apply } from './fixtures/real-build/scope.ts';

const ENV = {
  spack: 'SLURM_FACTORY_TEST_REAL_SPACK',
  packages: 'SLURM_FACTORY_TEST_SPACK_PACKAGES',
  sources: 'SLURM_FACTORY_TEST_REAL_SOURCES',
} as const;

const needInputs: Requirement = () => {
  const missing = Object.values(ENV).filter((k) => !process.env[k] || !existsSync(process.env[k]!));
  return missing.length === 0
    ? null
    : `set ${missing.join(', ')} to local copies (a Spack v1.0.0 tree whose lib/spack holds clingo for Python 3.13, ` +
        'spack-packages at the catalog commit, the six archives test/fixtures/real-build/test-versions.json lists)';
};
const realTest = testIf(test, [needInputs, needDocker]);

const own = process.env.SLURM_FACTORY_TEST_REAL_WORK;
const tmp = own ? null : tempDir('sf-real-build-');
const work = own ?? tmp!.path;
test.after(() => tmp?.cleanup());

const PLAN = ['24.11', '--gcc', 'system', '--os', 'debian13', '--base-image', 'slurm-factory-base:debian13'];
const TARBALL = 'slurm-24.11-gcc14.2.0-software.tar.gz';
const home = join(work, 'home');
const state: { build?: number; seconds?: number } = {};

function cli(args: string[], log: string): { status: number; seconds: number } {
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'Taskfile.ts'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, SLURM_FACTORY_HOME: home, FORCE_COLOR: '0', NO_COLOR: '1' },
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    timeout: 12 * 3600_000,
  });
  writeFileSync(join(work, log), `${r.stdout}\n${r.stderr}`);
  return { status: r.status ?? -1, seconds: Math.round((Date.now() - started) / 1000) };
}

realTest('the test scope and the source mirror are made from the given trees and Debian', () => {
  mkdirSync(home, { recursive: true });
  const r = apply({
    spack: process.env[ENV.spack]!,
    spackPackages: process.env[ENV.packages]!,
    out: join(work, 'scope'),
    lock: 'all',
    localSources: process.env[ENV.sources]!,
    cache: join(work, 'debian-cache'),
  });
  assert.equal(r.problems, [], 'every local archive is there with its checksum');
  // 0: all mirrored; 1: some Debian download failed (munge 0.5.15, py-packaging 23.0 and re2c 3.0 404 here: not
  // in the closure). The build below is what proves the mirror is complete.
  assert.ok(r.mirrorStatus === 0 || r.mirrorStatus === 1, `build-mirror exit ${r.mirrorStatus}`);
});

realTest('the unmodified Dockerfile compiles Slurm and its closure offline and exports a tarball', async () => {
  await (await import('./fixture.ts')).ensureBaseImage('debian13');
  const s = join(work, 'scope');
  const b = cli(
    [
      'build',
      ...PLAN,
      '--jobs',
      String(Math.max(1, Number(process.env.SLURM_FACTORY_TEST_REAL_JOBS ?? 2))),
      '--context',
      `spack-src=${s}/spack`,
      '--context',
      `spack-packages-src=${s}/spack-packages`,
      '--context',
      `source-mirror=${s}/source-mirror`,
    ],
    'build.log',
  );
  state.build = b.status;
  state.seconds = b.seconds;
  console.log(`real build: exit ${b.status} after ${b.seconds} s (log ${join(work, 'build.log')})`);
  assert.is(b.status, 0, `build failed; see ${join(work, 'build.log')} and ${join(home, 'logs')}`);
  const builds = join(home, 'builds');
  assert.ok(readdirSync(builds).includes(TARBALL), `no ${TARBALL} in ${builds}`);
  const list = spawnSync('tar', ['-tzf', join(builds, TARBALL)], { encoding: 'utf8', maxBuffer: 1 << 28 });
  for (const want of [
    'sbin/slurmctld',
    'sbin/slurmd',
    'bin/srun',
    'lib/slurm/select_cons_tres.so',
    'lib/slurm/mpi_pmix.so',
  ]) {
    assert.ok(
      list.stdout.split('\n').some((l) => l.endsWith(want)),
      `the tarball has no ${want}`,
    );
  }
  // Compiled, not fake-installed: the daemons and plugins are ELF objects GCC 14.2.0 (Debian 13's) made, linked
  // against the Spack-built closure ($ORIGIN-relative after relocation), and the manifest names the Spack
  // installations they came from (slurm@24-11-6-1 and its runtime closure, each with its hash).
  const x = join(work, 'unpacked');
  mkdirSync(x, { recursive: true });
  assert.is(spawnSync('tar', ['-xzf', join(builds, TARBALL), '-C', x]).status, 0);
  const root =
    readdirSync(x).length === 1 && existsSync(join(x, readdirSync(x)[0]!, 'view')) ? join(x, readdirSync(x)[0]!) : x;
  for (const f of ['view/sbin/slurmctld', 'view/sbin/slurmd', 'view/bin/srun', 'view/lib/slurm/mpi_pmix.so']) {
    const head = readFileSync(join(root, f)).subarray(0, 4);
    assert.equal([...head], [0x7f, 0x45, 0x4c, 0x46], `${f} is an ELF file`);
    const comment = spawnSync('readelf', ['-p', '.comment', join(root, f)], { encoding: 'utf8' }).stdout;
    assert.match(comment, /GCC: \(Debian 14\.2\.0/, `${f} was compiled by the base image's GCC 14.2.0`);
    const dyn = spawnSync('readelf', ['-d', join(root, f)], { encoding: 'utf8' }).stdout;
    assert.match(dyn, /RUNPATH.*\$ORIGIN/, `${f} finds the closure through $ORIGIN`);
    assert.not.match(dyn, /spack-root|__spack_path_placeholder__/, `${f} keeps no Spack install path`);
  }
  const manifest = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8')) as {
    slurm: { spackVersion: string; hash: string | null };
    specs: { name: string; hash?: string }[];
  };
  assert.is(manifest.slurm.spackVersion, '24-11-6-1');
  assert.match(manifest.slurm.hash ?? '', /^[a-z0-9]{32}$/);
  const names = new Set(manifest.specs.map((e) => e.name));
  for (const dep of ['munge', 'pmix', 'hwloc', 'libjwt', 'json-c', 'openssl', 'lua'])
    assert.ok(names.has(dep), `the manifest lists the Spack-built ${dep}`);
});

realTest('verify runs the Spack-built Slurm as a live one-node cluster on Debian 13', () => {
  assert.is(state.build, 0, 'the build did not succeed');
  const v = cli(['verify', join(home, 'builds', TARBALL), '--image', 'slurm-factory-base:debian13'], 'verify.log');
  console.log(`verify: exit ${v.status} after ${v.seconds} s (log ${join(work, 'verify.log')})`);
  assert.is(v.status, 0, `verify failed; see ${join(work, 'verify.log')}`);
});

test.run();
