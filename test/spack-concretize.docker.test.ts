/**
 * The fast real-Spack lane: real Spack 1.0, the pinned builtin repository and clingo concretize the rendered
 * environments of a plan in stage order (compiler, deps, slurm) and fake-install them (`spack install --fake`:
 * every concretization, install-tree, view and buildcache step is Spack's own; only compiling is skipped). Then
 * the assertions that matter for the shipped package: the view holds Slurm's libraries and no build tool, every
 * node of Slurm's link/run closure is built by the requested GCC, the mirror gets Slurm's link/run closure and
 * nothing else, and the DAG stays small.
 *
 * Spack runs inside a Debian 13 container (Python 3.13). Give local copies (GitHub and PyPI are unreachable
 * here; /work/tools/SPACK.md on the dev machine says how they were made):
 *
 *   SLURM_FACTORY_TEST_SPACK=/path/to/spack                   a Spack v1.0.x tree
 *   SLURM_FACTORY_TEST_SPACK_PACKAGES=/path/to/spack-packages at the catalog's commit
 *   SLURM_FACTORY_TEST_CLINGO=/path/to/dir                    holds the `clingo` Python package for Python 3.13
 *   SLURM_FACTORY_TEST_SPACK_PLANS=25.11:13.4.0,25.11:10.5.0  optional: the plans (slurm:gcc), default the default
 *                                                             plan; `all` is every series x every GCC (hours)
 *
 * Without them every test here is skipped, and says so. Concretizing takes minutes per environment.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { needDocker, tempDir, testIf } from './helpers.ts';
import type { BuildPlan } from '../tasks/lib/plan.ts';
import {
  DBUS_SYSTEM_SOCKET,
  LANE_DOCKERFILE,
  LANE_IMAGE,
  MAX_SOURCE_NODES,
  dbusProblems,
  docker,
  mirrorProblems,
  needLane,
  nodeProblems,
  plansToRun,
  runLane,
  slurmClosure,
  sourceNodes,
  toolchainProblems,
  viewProblems,
  type LaneResult,
} from './spack-lane.ts';

const laneTest = testIf(test, [needLane, needDocker]);
const results = new Map<string, LaneResult>();
// SLURM_FACTORY_TEST_SPACK_KEEP=DIR keeps each run's rendered context and Spack's logs there.
const keep = process.env.SLURM_FACTORY_TEST_SPACK_KEEP;
const t = keep ? { path: keep, cleanup: () => {} } : tempDir('sf-lane-');
const plans = plansToRun();

test.before(async () => {
  if (needLane() || needDocker()) return;
  await (await import('./fixture.ts')).ensureBaseImage('debian13');
  const b = docker(['build', '-q', '-t', LANE_IMAGE, '-'], LANE_DOCKERFILE);
  if (b.status !== 0) throw new Error(`building ${LANE_IMAGE} failed: ${b.stderr}`);
});
test.after(() => t.cleanup());

function lane(plan: BuildPlan): LaneResult {
  let r = results.get(plan.id);
  if (!r) {
    r = runLane(plan, join(t.path, plan.id));
    results.set(plan.id, r);
    const slurm = r.envs.slurm;
    console.log(
      `${plan.id}: ${r.status}; slurm env ${slurm?.nodes.length ?? 0} nodes, ` +
        `${sourceNodes(r, plan).length} built from source, link/run closure ${slurm ? slurmClosure(slurm).length : 0}, ` +
        `view ${r.viewPackages.length} packages, mirror ${r.mirrorHashes.length} specs`,
    );
  }
  return r;
}

for (const plan of plans) {
  laneTest(`${plan.id}: every environment concretizes and fake-installs in stage order`, () => {
    const r = lane(plan);
    assert.is(r.status, 'OK', r.log);
  });

  laneTest(`${plan.id}: the view holds Slurm's libraries and no build-only tool`, () => {
    assert.equal(viewProblems(lane(plan), plan), []);
  });

  laneTest(`${plan.id}: every node of Slurm's link/run closure is built by GCC ${plan.gcc.version}`, () => {
    assert.equal(toolchainProblems(lane(plan), plan), []);
  });

  laneTest(`${plan.id}: the mirror gets exactly Slurm's link/run closure`, () => {
    assert.equal(mirrorProblems(lane(plan)), []);
  });

  laneTest(`${plan.id}: Slurm's libdbus talks to the host's system bus at ${DBUS_SYSTEM_SOCKET}`, () => {
    assert.equal(dbusProblems(lane(plan)), []);
  });

  laneTest(`${plan.id}: at most ${MAX_SOURCE_NODES} nodes built from source, no build-only tool among them`, () => {
    assert.equal(nodeProblems(lane(plan), plan), []);
  });
}

test.run();
