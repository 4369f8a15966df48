/**
 * The Spack stages (spack, compiler, deps, slurm) for real. They need Spack, its builtin package repository
 * and a bootstrap mirror, which cannot be downloaded here (no GitHub, no PyPI): give local copies and these
 * tests build the stages through the same named contexts an air-gapped site uses:
 *
 *   SLURM_FACTORY_TEST_SPACK=/path/to/spack                 a Spack v1.0.x checkout
 *   SLURM_FACTORY_TEST_SPACK_PACKAGES=/path/to/spack-packages
 *   SLURM_FACTORY_TEST_BOOTSTRAP_MIRROR=/path/to/mirror     `spack bootstrap mirror --binary-packages DIR`
 *   SLURM_FACTORY_TEST_SOURCE_MIRROR=/path/to/sources       optional: a source mirror, for machines without internet
 *
 * Without them every test here is skipped, and says so.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { needDocker, runCli, tempDir, testIf, type Requirement } from './helpers.ts';
import { isBuildcache } from '../tasks/lib/publish.ts';

const vars = ['SLURM_FACTORY_TEST_SPACK', 'SLURM_FACTORY_TEST_SPACK_PACKAGES', 'SLURM_FACTORY_TEST_BOOTSTRAP_MIRROR'] as const;
const needLocalSpack: Requirement = () => {
  const missing = vars.filter((v) => !process.env[v]);
  if (missing.length > 0) return `needs a local Spack: set ${missing.join(', ')} (GitHub and PyPI are unreachable here)`;
  const bad = vars.filter((v) => !existsSync(process.env[v]!));
  return bad.length > 0 ? `${bad.map((v) => `${v}=${process.env[v]}`).join(', ')} does not exist` : null;
};
const spackTest = testIf(test, [needLocalSpack, needDocker]);
const t = tempDir('sf-spack-');
const env = { SLURM_FACTORY_HOME: join(t.path, 'home') };
const contexts = () => [
  '--context', `spack-src=${process.env.SLURM_FACTORY_TEST_SPACK}`,
  '--context', `spack-packages-src=${process.env.SLURM_FACTORY_TEST_SPACK_PACKAGES}`,
  '--context', `spack-bootstrap-mirror=${process.env.SLURM_FACTORY_TEST_BOOTSTRAP_MIRROR}`,
  ...(process.env.SLURM_FACTORY_TEST_SOURCE_MIRROR ? ['--context', `source-mirror=${process.env.SLURM_FACTORY_TEST_SOURCE_MIRROR}`] : []),
];
let base = '';
test.before(async () => {
  if (needLocalSpack() || needDocker()) return;
  base = await (await import('./fixture.ts')).ensureBaseImage('debian12');
});
test.after(() => t.cleanup());
const plan = () => ['--gcc', 'system', '--os', 'debian12', '--base-image', base, ...contexts()];

// Concretizing every environment against real Spack, without a bootstrap mirror, is the fast lane's job
// (spack-concretize.docker.test.ts); this one builds the spack stage as an air-gapped site does.
spackTest('the spack stage bootstraps from the local mirror and registers the build-only tools as externals', () => {
  const r = runCli(['build', '24.11', ...plan(), '--target', 'spack'], { env });
  assert.is(r.status, 0, r.stderr.slice(-3000));
  assert.match(r.stderr, /register-externals/);
  assert.match(r.stderr, /spack --version/);
});

spackTest('the full pipeline builds Slurm with Spack and exports a relocatable tarball', () => {
  const r = runCli(['build', '24.11', ...plan(), '--jobs', '2'], { env });
  assert.is(r.status, 0, r.stderr.slice(-3000));
  const builds = join(env.SLURM_FACTORY_HOME, 'builds');
  assert.ok(readdirSync(builds).includes('slurm-24.11-gcc12.2.0-software.tar.gz'));
  const manifest = JSON.parse(readFileSync(join(builds, 'slurm-24.11-gcc12.2.0-software.tar.gz.manifest.json'), 'utf8'));
  assert.is(manifest.slurm.spackVersion, '24-11-6-1');
  assert.ok(manifest.specs.some((s: { name: string }) => s.name === 'pmix'));
  assert.ok(readdirSync(join(env.SLURM_FACTORY_HOME, 'buildcache')).length > 0, 'new binaries came back to the host buildcache');
  const mirror = join(env.SLURM_FACTORY_HOME, 'mirrors', 'slurm-24.11-gcc12.2.0');
  assert.ok(isBuildcache(mirror), `the build's own Spack mirror is in ${mirror}`);
  assert.match(r.stdout, /Spack mirror of this build: /);
});

test.run();
