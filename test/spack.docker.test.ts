/**
 * The Spack stages for real, offline. The spack stage is built through the same named contexts an air-gapped
 * site uses, on the project's Debian 13 base stage (Python 3.13), and the deps and slurm environments the build
 * renders are then concretized by that stage's own Spack, as the deps and slurm stages do first:
 *
 *   SLURM_FACTORY_TEST_SPACK=/path/to/spack                 a Spack v1.0.x tree; offline, `spack bootstrap now`
 *                                                           needs clingo for Python 3.13 in its lib/spack/
 *                                                           (or a bootstrap mirror, below)
 *   SLURM_FACTORY_TEST_SPACK_PACKAGES=/path/to/spack-packages
 *   SLURM_FACTORY_TEST_BOOTSTRAP_MIRROR=/path/to/mirror     optional: `spack bootstrap mirror --binary-packages DIR`
 *   SLURM_FACTORY_TEST_SOURCE_MIRROR=/path/to/sources       optional: a Spack source mirror
 *   SLURM_FACTORY_TEST_SPACK_FULL=1                         also build the whole pipeline (compiles Slurm and its
 *                                                           dependencies: needs their sources, online or in the
 *                                                           source mirror; hours)
 *
 * Without them every test here is skipped, and says so.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { needDocker, repoRoot, tempDir, testIf, type Requirement } from './helpers.ts';
import { isBuildcache } from '../tasks/lib/publish.ts';
import { targetTag } from '../tasks/lib/buildx.ts';
import { planBuild } from '../tasks/lib/plan.ts';
import { renderBuildContext } from '../tasks/lib/render.ts';
import { writeBuildContext } from '../tasks/lib/writer.ts';
import { BUILD_ONLY, MAX_SOURCE_NODES } from './spack-lane.ts';

const needLocalSpack: Requirement = () => {
  const vars = ['SLURM_FACTORY_TEST_SPACK', 'SLURM_FACTORY_TEST_SPACK_PACKAGES'] as const;
  const missing = vars.filter((v) => !process.env[v]);
  if (missing.length > 0)
    return `needs a local Spack: set ${missing.join(', ')} (GitHub and PyPI are unreachable here)`;
  const given = [...vars, 'SLURM_FACTORY_TEST_BOOTSTRAP_MIRROR', 'SLURM_FACTORY_TEST_SOURCE_MIRROR'].filter(
    (v) => process.env[v],
  );
  const bad = given.filter((v) => !existsSync(process.env[v]!));
  if (bad.length > 0) return `${bad.map((v) => `${v}=${process.env[v]}`).join(', ')} does not exist`;
  const spack = process.env.SLURM_FACTORY_TEST_SPACK!;
  if (
    !process.env.SLURM_FACTORY_TEST_BOOTSTRAP_MIRROR &&
    !existsSync(join(spack, 'lib', 'spack', 'clingo', '__init__.py'))
  ) {
    return `offline, Spack needs clingo: put the clingo module for Python 3.13 into ${spack}/lib/spack/ or set SLURM_FACTORY_TEST_BOOTSTRAP_MIRROR`;
  }
  return null;
};
const needFull: Requirement = () =>
  process.env.SLURM_FACTORY_TEST_SPACK_FULL === '1'
    ? null
    : 'compiles the whole pipeline (hours, needs every source): set SLURM_FACTORY_TEST_SPACK_FULL=1';
const spackTest = testIf(test, [needLocalSpack, needDocker]);
const fullTest = testIf(test, [needLocalSpack, needDocker, needFull]);
const t = tempDir('sf-spack-');
const env = { SLURM_FACTORY_HOME: join(t.path, 'home') };
const contexts = () => [
  '--context',
  `spack-src=${process.env.SLURM_FACTORY_TEST_SPACK}`,
  '--context',
  `spack-packages-src=${process.env.SLURM_FACTORY_TEST_SPACK_PACKAGES}`,
  ...(process.env.SLURM_FACTORY_TEST_BOOTSTRAP_MIRROR
    ? ['--context', `spack-bootstrap-mirror=${process.env.SLURM_FACTORY_TEST_BOOTSTRAP_MIRROR}`]
    : []),
  ...(process.env.SLURM_FACTORY_TEST_SOURCE_MIRROR
    ? ['--context', `source-mirror=${process.env.SLURM_FACTORY_TEST_SOURCE_MIRROR}`]
    : []),
];
let base = '';
test.before(async () => {
  if (needLocalSpack() || needDocker()) return;
  base = await (await import('./fixture.ts')).ensureBaseImage('debian13');
});
test.after(() => t.cleanup());
const SERIES = '24.11';
/** The CLI as helpers.ts runs it, with room for Spack: the spack stage alone takes over 10 minutes on a busy machine. */
function runCli(args: string[], opts: { env?: Record<string, string> } = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'Taskfile.ts'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', ...opts.env },
    encoding: 'utf8',
    timeout: 4 * 3600_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
const plan = () => ['--gcc', 'system', '--os', 'debian13', '--base-image', base, ...contexts()];

interface Node {
  name: string;
  version: string;
  external: boolean;
  linkrun: boolean;
  root: boolean;
}

spackTest('the spack stage bootstraps offline and registers the build-only tools as externals', () => {
  const r = runCli(['build', SERIES, ...plan(), '--target', 'spack'], { env });
  assert.is(r.status, 0, r.stderr.slice(-3000));
  assert.match(r.stderr, /register-externals/);
  assert.match(r.stderr, /spack --version/);
});

spackTest(
  "the stage's own Spack concretizes the rendered deps and slurm environments: no build-only tool built",
  () => {
    // The same plan as the stage above; its rendered environments, concretized in that image as the deps and
    // slurm stages begin (`spack -e ENV concretize`), then read with the lane's dump-env.py.
    const p = planBuild({ slurm: SERIES, gcc: 'system', os: 'debian13', baseImage: base });
    const ctx = join(t.path, 'ctx');
    writeBuildContext(ctx, renderBuildContext(p));
    const envs = join(t.path, 'envs');
    for (const stage of ['deps', 'slurm']) cpSync(join(ctx, 'spack', stage), join(envs, stage), { recursive: true });
    const script = [
      'set -euo pipefail',
      'mkdir -p /var/cache/spack-buildcache /mnt/host-buildcache /mnt/host-sourcecache /mnt/source-mirror',
      'for stage in deps slurm; do',
      '  cp -a "/envs/$stage" "/opt/slurm-factory/envs/$stage"',
      '  spack -e "/opt/slurm-factory/envs/$stage" concretize >&2',
      '  spack -e "/opt/slurm-factory/envs/$stage" python /lane/dump-env.py > "/out/$stage.json"',
      'done',
    ].join('\n');
    const out = join(t.path, 'out');
    cpSync(join(repoRoot, 'test', 'fixtures', 'spack-lane'), join(t.path, 'lane'), { recursive: true });
    spawnSync('mkdir', ['-p', out]);
    const r = spawnSync(
      'docker',
      [
        'run',
        '--rm',
        '--network',
        'none',
        '-v',
        `${envs}:/envs:ro`,
        '-v',
        `${join(t.path, 'lane')}:/lane:ro`,
        '-v',
        `${out}:/out`,
        targetTag(p, 'spack'),
        'bash',
        '-c',
        `mkdir -p /opt/slurm-factory/envs\n${script}`,
      ],
      { encoding: 'utf8', timeout: 3_600_000, maxBuffer: 64 * 1024 * 1024 },
    );
    assert.is(r.status, 0, `concretizing failed: ${r.stderr.slice(-4000)}`);
    for (const stage of ['deps', 'slurm']) {
      const nodes = (JSON.parse(readFileSync(join(out, `${stage}.json`), 'utf8')) as { nodes: Node[] }).nodes;
      const built = nodes.filter((n) => !n.external);
      const tools = built
        .filter((n) => BUILD_ONLY.includes(n.name) && n.name !== 'compiler-wrapper')
        .map((n) => n.name);
      assert.equal(tools, [], `${stage}: build-only tools built from source`);
      // --gcc system builds no compiler: compiler-wrapper is the one toolchain node here.
      assert.ok(
        built.length - 1 <= MAX_SOURCE_NODES,
        `${stage}: ${built.length} nodes built from source: ${built
          .map((n) => n.name)
          .sort()
          .join(' ')}`,
      );
      if (stage === 'slurm') {
        const slurm = nodes.find((n) => n.root && n.name === 'slurm');
        assert.is(slurm?.version, p.slurm.spackVersion, "the root is the catalog's Slurm");
        assert.ok(
          nodes.some((n) => n.name === 'gcc' && n.external),
          "the image's GCC, as an external",
        );
      }
    }
  },
);

fullTest('the full pipeline builds Slurm with Spack and exports a relocatable tarball', () => {
  const r = runCli(['build', SERIES, ...plan(), '--jobs', '2'], { env });
  assert.is(r.status, 0, r.stderr.slice(-3000));
  const builds = join(env.SLURM_FACTORY_HOME, 'builds');
  assert.ok(readdirSync(builds).includes('slurm-24.11-gcc14.2.0-software.tar.gz'));
  const manifest = JSON.parse(
    readFileSync(join(builds, 'slurm-24.11-gcc14.2.0-software.tar.gz.manifest.json'), 'utf8'),
  );
  assert.is(manifest.slurm.spackVersion, '24-11-6-1');
  assert.ok(manifest.specs.some((s: { name: string }) => s.name === 'pmix'));
  assert.ok(
    readdirSync(join(env.SLURM_FACTORY_HOME, 'buildcache')).length > 0,
    'new binaries came back to the host buildcache',
  );
  const mirror = join(env.SLURM_FACTORY_HOME, 'mirrors', 'slurm-24.11-gcc14.2.0');
  assert.ok(isBuildcache(mirror), `the build's own Spack mirror is in ${mirror}`);
  assert.match(r.stdout, /Spack mirror of this build: /);
});

test.run();
