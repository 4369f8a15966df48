/**
 * The pipeline on a real BuildKit, runnable stages only (base on a debootstrap Debian 12 image; the slurm stage
 * replaced by the Slurm fixture; package and export). Measured in one run:
 *   first build (BuildKit layer cache ignored with --no-cache; package-manager cache mounts kept),
 *   no-op rebuild (goal: <= 5% of the first build, 100% of steps CACHED),
 *   Slurm-version-only change (goal: only Slurm-dependent steps re-run).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { dockerfileSteps, stepsThatRan } from '../tasks/lib/buildx.ts';
import { needDocker } from '../test/helpers.ts';

const why = needDocker();
if (why) {
  console.log(`pipeline benchmark skipped: ${why}`);
  process.exit(0);
}
const { ensureBaseImage, ensureSlurmFixture } = await import('../test/fixture.ts');
const base = await ensureBaseImage('debian12');
const fixture = await ensureSlurmFixture();
const home = mkdtempSync(join(tmpdir(), 'sf-bench-'));
const root = join(import.meta.dirname, '..');
// One timestamp for every build of this run, new each run: the package steps are then this run's own, so the
// version-change measurement cannot hit layers an earlier run (or the test suite) left in the BuildKit cache.
const runEpoch = String(Math.floor(Date.now() / 1000));

function build(slurm: string, extra: string[] = []) {
  const t = performance.now();
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'Taskfile.ts',
      'build',
      slurm,
      '--gcc',
      'system',
      '--os',
      'debian12',
      '--base-image',
      base,
      '--context',
      `slurm=docker-image://${fixture}`,
      ...extra,
    ],
    { cwd: root, encoding: 'utf8', env: { ...process.env, SLURM_FACTORY_HOME: home, SOURCE_DATE_EPOCH: runEpoch } },
  );
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`build ${slurm} failed:\n${r.stderr.slice(-2000)}`);
  const steps = dockerfileSteps(r.stderr);
  return { ms, steps, cached: steps.filter((s) => s.cached).length, ran: stepsThatRan(r.stderr) };
}

try {
  // The base stage and the package/export path, as two targets of one Dockerfile.
  const firstBase = build('24.11', ['--target', 'base', '--no-cache']);
  const firstPkg = build('24.11', ['--no-cache']);
  const first = firstBase.ms + firstPkg.ms;
  const noopBase = build('24.11', ['--target', 'base']);
  const noopPkg = build('24.11');
  const noop = noopBase.ms + noopPkg.ms;
  const noopSteps = [...noopBase.steps, ...noopPkg.steps];
  const verBase = build('25.11', ['--target', 'base']);
  const verPkg = build('25.11');
  const version = verBase.ms + verPkg.ms;
  const verRan = [...verBase.ran, ...verPkg.ran];
  console.log(
    `first build:          ${(first / 1000).toFixed(1)} s (${firstBase.steps.length + firstPkg.steps.length} steps)`,
  );
  console.log(
    `no-op rebuild:        ${(noop / 1000).toFixed(1)} s; ${noopSteps.filter((s) => s.cached).length}/${noopSteps.filter((s) => !s.source).length} steps CACHED (FROM lines are image lookups, not steps); ratio ${((noop / first) * 100).toFixed(1)}% of first (goal <= 5%)`,
  );
  console.log(
    `Slurm version change: ${(version / 1000).toFixed(1)} s; ratio ${((version / first) * 100).toFixed(1)}% of first; re-ran ${verRan.length} steps: ${verRan.map((s) => s.name.split(' ').slice(0, 3).join(' ')).join('; ') || 'none'}`,
  );
  console.log(
    `Slurm-dependent only: ${verRan.every((s) => s.stage === 'package' || s.stage === 'export') ? 'yes' : 'NO'}`,
  );
} finally {
  rmSync(home, { recursive: true, force: true });
}
