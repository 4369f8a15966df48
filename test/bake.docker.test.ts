/**
 * `bake` on a real engine: a two-entry matrix (Slurm 24.11 and 25.11) sharing one toolchain, on the
 * debootstrap Debian 12 image. The shared runnable stage (base) is built once; the Slurm-dependent stages
 * are built per target, with the slurm stage replaced by the Slurm fixture as an air-gapped site would.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { dockerfileSteps, stepsThatRan } from '../tasks/lib/buildx.ts';
import { needDocker, runCli, tempDir, testIf } from './helpers.ts';

const dockerTest = testIf(test, [needDocker]);
const home = tempDir('sf-bake-');
const env = { SLURM_FACTORY_HOME: join(home.path, 'home') };
let base = '';
let fixture = '';
const matrix = () => [
  '--slurm',
  '24.11,25.11',
  '--gcc',
  'system',
  '--os',
  'debian12',
  '--base-image',
  base,
  '--file',
  join(home.path, 'docker-bake.hcl'),
];

test.before(async () => {
  if (needDocker()) return;
  const { ensureBaseImage, ensureSlurmFixture } = await import('./fixture.ts');
  base = await ensureBaseImage('debian12');
  fixture = await ensureSlurmFixture();
});
test.after(() => home.cleanup());

dockerTest('the shared base stage is built once for both targets, and CACHED for the second', () => {
  const first = runCli(
    ['bake', ...matrix(), '--set', '*.target=base', '--set', '*.output=type=cacheonly', 'slurm-24-11-gcc12-2-0'],
    { env },
  );
  assert.is(first.status, 0, first.stderr.slice(-3000));
  const both = runCli(['bake', ...matrix(), '--set', '*.target=base', '--set', '*.output=type=cacheonly', 'default'], {
    env,
  });
  assert.is(both.status, 0, both.stderr.slice(-3000));
  const steps = dockerfileSteps(both.stderr).filter((s) => s.stage === 'base');
  assert.ok(steps.length >= 1, 'base steps seen');
  // One vertex per base step although two targets need it: BuildKit shares the identical step.
  const runs = steps.filter((s) => /RUN /.test(s.name));
  assert.is(runs.length, 1, `base RUN appears once: ${runs.map((s) => s.name.slice(0, 60)).join(' | ')}`);
  assert.equal(
    steps.filter((s) => !s.cached && !s.source).map((s) => s.name),
    [],
    'every shared step CACHED',
  );
});

dockerTest('both targets export their tarballs into builds/', () => {
  // Spack cannot run here: the linked deps target (which bake builds eagerly) stops at base, and the slurm
  // stage is the fixture. With Spack, deps-* builds GCC and the dependencies once for both targets.
  const r = runCli(
    ['bake', ...matrix(), '--set', `*.contexts.slurm=docker-image://${fixture}`, '--set', 'deps-*.target=base'],
    { env },
  );
  assert.is(r.status, 0, r.stderr.slice(-3000));
  for (const t of ['slurm-24.11-gcc12.2.0-software.tar.gz', 'slurm-25.11-gcc12.2.0-software.tar.gz']) {
    assert.ok(existsSync(join(env.SLURM_FACTORY_HOME, 'builds', t)), `${t} written`);
    assert.ok(existsSync(join(env.SLURM_FACTORY_HOME, 'builds', `${t}.sha256`)), `${t}.sha256 written`);
  }
  const ran = stepsThatRan(r.stderr);
  for (const s of ran)
    assert.ok(s.stage === 'package' || s.stage === 'export', `only package/export steps ran: ${s.name}`);
});

test.run();
