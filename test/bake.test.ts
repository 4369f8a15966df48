import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { planMatrix, renderBakeFile, bakeName } from '../tasks/lib/matrix.ts';
import { hasCommand, repoRoot, runCli, tempDir, testIf } from './helpers.ts';

const needBuildx = () => (hasCommand('docker') && spawnSync('docker', ['buildx', 'version']).status === 0 ? null : 'docker buildx is not installed (scripts/setup-docker.sh)');
const withBuildx = testIf(test, [needBuildx]);

test('the matrix is Slurm x GCC x flavour, deduplicated, in a stable order', () => {
  const plans = planMatrix({ slurm: ['24.11', '25.11', '25.11.6'], gcc: ['10.5.0', '13.4.0'], flavours: ['cpu', 'gpu'] });
  assert.is(plans.length, 8);
  assert.is(plans[0]!.id, 'slurm-24.11-gcc10.5.0');
  assert.is(planMatrix({}).length, 5, 'default: every Slurm version, default GCC, cpu');
  assert.throws(() => planMatrix({ flavours: ['tpu'] }), /flavour 'tpu' is not known/);
});

test('the bake file links each Slurm target to one shared deps target per toolchain', () => {
  const plans = planMatrix({ slurm: ['24.11', '25.11'], gcc: ['13.4.0'] });
  const hcl = renderBakeFile(plans, { contextOf: (p) => p.contextDir, buildsDir: '/b', buildcacheDir: '/bc', sourcecacheDir: '/sc' });
  const depsTargets = [...hcl.matchAll(/^target "(deps-[^"]+)"/gm)].map((m) => m[1]);
  assert.is(depsTargets.length, 1, 'one toolchain');
  assert.is([...hcl.matchAll(new RegExp(`deps += "target:${depsTargets[0]}"`, 'g'))].length, 2, 'both Slurm targets use it');
  assert.is(bakeName('slurm-25.11-gcc13.4.0'), 'slurm-25-11-gcc13-4-0');
});

withBuildx('real `docker buildx bake --print` accepts the generated file: targets, groups and --set', () => {
  const t = tempDir();
  try {
    const file = join(t.path, 'docker-bake.hcl');
    const r = runCli(['bake', '--slurm', '24.11,25.11', '--gcc', '10.5.0,13.4.0', '--flavours', 'cpu,gpu', '--file', file,
      '--set', '*.args.BASE_IMAGE=registry.site/base:1', '--print', 'all'], { env: { SLURM_FACTORY_HOME: join(t.path, 'home') } });
    assert.is(r.status, 0, r.stderr);
    const printed = JSON.parse(r.stdout);
    const combos = Object.keys(printed.target).filter((n) => n.startsWith('slurm-'));
    assert.is(combos.length, 8, `targets: ${Object.keys(printed.target).join(', ')}`);
    for (const n of combos) {
      assert.is(printed.target[n].target, 'export');
      assert.is(printed.target[n].args.BASE_IMAGE, 'registry.site/base:1', '--set reached the target');
      assert.match(printed.target[n].contexts.deps, /^target:deps-/);
      // Each toolchain reads its own host buildcache, the one its builds write back to.
      const gcc = /gcc(\d+-\d+-\d+)/.exec(n)![1]!.replace(/-/g, '.');
      const hostCache: string = printed.target[n].contexts['host-buildcache'];
      assert.ok(hostCache.startsWith(`${join(t.path, 'home', 'buildcache')}/`) && hostCache.endsWith(`-gcc${gcc}`), hostCache);
      assert.match(printed.target[n].output[0], new RegExp(`dest=${join(t.path, 'home', 'builds')}/slurm-`));
    }
    const hcl = readFileSync(file, 'utf8');
    const group = (g: string) => {
      const m = new RegExp(`group "${g}" \\{\\n  targets = \\[([^\\]]*)\\]`).exec(hcl);
      return m ? m[1]!.split(', ').map((x) => JSON.parse(x)) : [];
    };
    assert.is(group('default').length, 8);
    assert.equal(group('slurm-24-11').sort(), ['slurm-24-11-gcc10-5-0', 'slurm-24-11-gcc10-5-0-gpu', 'slurm-24-11-gcc13-4-0', 'slurm-24-11-gcc13-4-0-gpu']);
    assert.equal(group('gcc-13-4-0').sort(), ['slurm-24-11-gcc13-4-0', 'slurm-24-11-gcc13-4-0-gpu', 'slurm-25-11-gcc13-4-0', 'slurm-25-11-gcc13-4-0-gpu']);
    assert.is(group('gpu').length, 4);
    assert.ok(group('gpu').every((n: string) => n.endsWith('-gpu')));
    assert.is(group('cpu').length, 4);
    // The file runs by hand too: one group, printed by buildx itself.
    const byHand = spawnSync('docker', ['buildx', 'bake', '-f', file, '--print', 'gcc-10-5-0'], { cwd: repoRoot, encoding: 'utf8' });
    assert.is(byHand.status, 0, byHand.stderr);
    assert.equal(Object.keys(JSON.parse(byHand.stdout).target).filter((n) => n.startsWith('slurm-')).sort(),
      ['slurm-24-11-gcc10-5-0', 'slurm-24-11-gcc10-5-0-gpu', 'slurm-25-11-gcc10-5-0', 'slurm-25-11-gcc10-5-0-gpu']);
  } finally { t.cleanup(); }
});

test('ci-matrix writes a workflow with one job per matrix entry', () => {
  const r = runCli(['ci-matrix', '--slurm', '24.11,25.11', '--gcc', '10.5.0,13.4.0', '--flavours', 'cpu,gpu']);
  assert.is(r.status, 0, r.stderr);
  const wf = YAML.parse(r.stdout);
  const include = wf.jobs.build.strategy.matrix.include;
  assert.is(include.length, 8);
  assert.equal(include[0], { id: 'slurm-24.11-gcc10.5.0', slurm: '24.11', gcc: '10.5.0', flavour: 'cpu', os: 'rockylinux8', cache_scope: 'rockylinux-8-gcc10-5-0-cpu' });
  assert.match(wf.jobs.build.steps.find((s: { name?: string }) => s.name === 'build').run, /npx zx Taskfile\.ts build \$\{\{ matrix\.slurm \}\} --gcc \$\{\{ matrix\.gcc \}\}/);
});

test('build-compiler: the exact buildx call, and clean errors for bad values', () => {
  const t = tempDir();
  try {
    const env = { SLURM_FACTORY_HOME: join(t.path, 'home') };
    const r = runCli(['build-compiler', '10.5.0', '--tarball', '--print'], { env });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^docker buildx build --file \S+\/dockerfiles\/slurm-25\.11-gcc10\.5\.0\/Dockerfile --target compiler-export .*--output type=local,dest=\S+\/compilers\/\.tmp-10\.5\.0-\d+ /);
    const tag = runCli(['build-compiler', '13.4.0', '--print'], { env });
    assert.match(tag.stdout, /--target compiler .*--load --tag slurm-factory:compiler-13\.4\.0 /);
    const bad: [string[], RegExp][] = [
      [['build-compiler', '6.1.0'], /GCC '6\.1\.0' is not in the catalog/],
      [['build-compiler', '10.5.0', '--os', 'solaris'], /OS 'solaris' is not a known target/],
      [['build-compiler', '8.5.0'], /GCC 8\.5\.0 is the system compiler of rockylinux8: there is nothing to build/],
      [['build-compiler'], /missing <gcc> for 'build-compiler'/],
    ];
    for (const [args, re] of bad) {
      const b = runCli([...args, '--print'], { env });
      assert.is(b.status, 2, `${args.join(' ')}: ${b.stderr}`);
      assert.match(b.stderr, re);
    }
  } finally { t.cleanup(); }
});

test.run();
