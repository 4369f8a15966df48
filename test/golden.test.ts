/**
 * Golden files: the whole rendered Dockerfile and every spack.yaml of three plans, and the bake file of a small
 * matrix, compared byte for byte with the copies committed under test/golden/, so any change to a template, the catalog or the plan shows
 * as a readable diff in review (as hpccm's tests compare the whole rendered text).
 *
 * A mismatch fails with a unified diff (golden -> rendered). When the change is intended, regenerate them and
 * commit the diff together with the change that caused it:
 *
 *   UPDATE_GOLDEN=1 npm test -- golden
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DEFAULT_SLURM } from '../tasks/lib/catalog.ts';
import { planMatrix, renderBakeFile } from '../tasks/lib/matrix.ts';
import { planBuild, type BuildOptions } from '../tasks/lib/plan.ts';
import { renderBuildContext } from '../tasks/lib/render.ts';
import { repoRoot } from './helpers.ts';

const goldenDir = join(repoRoot, 'test', 'golden');
const update = process.env.UPDATE_GOLDEN === '1';

/** The plans with golden files: the default build, its GPU flavour, and the image's own GCC on Rocky Linux 8. */
const PLANS: Record<string, BuildOptions> = {
  default: { slurm: DEFAULT_SLURM },
  gpu: { slurm: DEFAULT_SLURM, gpu: true },
  'rockylinux8-system-gcc': { slurm: DEFAULT_SLURM, gcc: 'system', os: 'rockylinux8' },
};

/** The files of a context that have golden copies: the Dockerfile and each stage's spack.yaml. */
const GOLDEN = (path: string) => path === 'Dockerfile' || /^spack\/[a-z]+\/spack\.yaml$/.test(path);

/** `diff -u` of the golden file against the rendered text (GNU diffutils, part of every Debian system). */
function unifiedDiff(goldenPath: string, rendered: string, label: string): string {
  const r = spawnSync('diff', ['-u', '--label', `golden/${label}`, '--label', `rendered/${label}`, goldenPath, '-'], {
    input: rendered,
    encoding: 'utf8',
  });
  return r.stdout || r.stderr || `(diff exited ${r.status})`;
}

/** Files under `dir`, relative, sorted. */
function filesUnder(dir: string, prefix = ''): string[] {
  if (!existsSync(join(dir, prefix))) return [];
  return readdirSync(join(dir, prefix), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(dir, join(prefix, e.name)) : [join(prefix, e.name)]))
    .sort();
}

for (const [name, opts] of Object.entries(PLANS)) {
  test(`golden: the ${name} plan's Dockerfile and spack.yaml files are byte for byte the committed ones`, () => {
    const dir = join(goldenDir, name);
    const rendered = renderBuildContext(planBuild(opts)).filter((f) => GOLDEN(f.path));
    if (update) {
      rmSync(dir, { recursive: true, force: true });
      for (const f of rendered) {
        mkdirSync(dirname(join(dir, f.path)), { recursive: true });
        writeFileSync(join(dir, f.path), f.content);
      }
      console.log(`UPDATED test/golden/${name}: ${rendered.map((f) => f.path).join(', ')}`);
    }
    // The same set of files: a stage that appears or disappears is a change too.
    assert.equal(
      filesUnder(dir),
      rendered.map((f) => f.path).sort(),
      `files of test/golden/${name} (regenerate: UPDATE_GOLDEN=1 npm test -- golden)`,
    );
    const mismatches: string[] = [];
    for (const f of rendered) {
      const goldenPath = join(dir, f.path);
      if (!readFileSync(goldenPath).equals(Buffer.from(f.content))) {
        mismatches.push(unifiedDiff(goldenPath, f.content.toString(), `${name}/${f.path}`));
      }
    }
    if (mismatches.length > 0) {
      console.log(mismatches.join('\n'));
      assert.unreachable(
        `test/golden/${name} differs from the render (diff above); if intended: UPDATE_GOLDEN=1 npm test -- golden`,
      );
    }
  });
}

test('golden: the bake file of a two-Slurm, two-GCC, CPU and GPU matrix is byte for byte the committed one', () => {
  const plans = planMatrix({ slurm: ['24.11', '25.11'], gcc: ['10.5.0', '13.4.0'], flavours: ['cpu', 'gpu'] });
  const text = renderBakeFile(plans, {
    contextOf: (p) => p.contextDir,
    buildsDir: '/home/user/.slurm-factory/builds',
    buildcacheDir: '/home/user/.slurm-factory/buildcache',
    sourcecacheDir: '/home/user/.slurm-factory/sourcecache',
    sourceDateEpoch: 1767225600,
  });
  const path = join(goldenDir, 'bake', 'docker-bake.hcl');
  if (update) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    console.log('UPDATED test/golden/bake/docker-bake.hcl');
  }
  if (!existsSync(path) || readFileSync(path, 'utf8') !== text) {
    if (existsSync(path)) console.log(unifiedDiff(path, text, 'bake/docker-bake.hcl'));
    assert.unreachable(
      'test/golden/bake/docker-bake.hcl differs from the render (diff above); if intended: UPDATE_GOLDEN=1 npm test -- golden',
    );
  }
});

test('golden: a changed template shows as a unified diff naming the line', () => {
  const dir = join(goldenDir, 'default');
  const text = readFileSync(join(dir, 'Dockerfile'), 'utf8');
  const diff = unifiedDiff(join(dir, 'Dockerfile'), text.replace('FROM ', 'FROM  '), 'default/Dockerfile');
  assert.match(diff, /^--- golden\/default\/Dockerfile\n\+\+\+ rendered\/default\/Dockerfile\n@@ /);
  assert.match(diff, /^-FROM .*\n\+FROM  /m);
});

test.run();
