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
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needDocker, repoRoot, tempDir, testIf, type Requirement } from './helpers.ts';
import { BASE_PACKAGES, DEFAULT_GCC, DEFAULT_SLURM, GCC_TOOLCHAINS, SLURM_RELEASES } from '../tasks/lib/catalog.ts';
import { planBuild, type BuildPlan } from '../tasks/lib/plan.ts';
import { renderBuildContext, writeBuildContext } from '../tasks/lib/render.ts';

const vars = ['SLURM_FACTORY_TEST_SPACK', 'SLURM_FACTORY_TEST_SPACK_PACKAGES', 'SLURM_FACTORY_TEST_CLINGO'] as const;
const needLane: Requirement = () => {
  const missing = vars.filter((v) => !process.env[v]);
  if (missing.length > 0) {
    return `needs a local Spack 1.0, spack-packages and clingo for Python 3.13: set ${missing.join(', ')}`;
  }
  const checks: [string, string][] = [
    [join(process.env.SLURM_FACTORY_TEST_SPACK!, 'bin', 'spack'), 'SLURM_FACTORY_TEST_SPACK'],
    [join(process.env.SLURM_FACTORY_TEST_SPACK_PACKAGES!, 'repos', 'spack_repo', 'builtin', 'repo.yaml'), 'SLURM_FACTORY_TEST_SPACK_PACKAGES'],
    [join(process.env.SLURM_FACTORY_TEST_CLINGO!, 'clingo', '__init__.py'), 'SLURM_FACTORY_TEST_CLINGO'],
  ];
  const bad = checks.filter(([p]) => !existsSync(p));
  return bad.length > 0 ? bad.map(([p, v]) => `${v}: ${p} does not exist`).join('; ') : null;
};
const laneTest = testIf(test, [needLane, needDocker]);

/** Tools that are needed only to build: none of them may reach the view, the mirror or Slurm's closure. */
export const BUILD_ONLY = [
  'cmake', 'python', 'perl', 'meson', 'ninja', 'autoconf', 'automake', 'libtool', 'm4', 'pkgconf', 'bison', 'flex',
  'gmake', 'compiler-wrapper', 'gcc',
];
/** Packages whose libraries Slurm's ELF files load (slurm +pmix +hwloc +restd +cgroup +pam +readline +mariadb). */
const VIEW_LIBRARIES = [
  'slurm', 'munge', 'hwloc', 'pmix', 'libjwt', 'libyaml', 'http-parser', 'json-c', 'curl', 'openssl', 'lz4', 'zlib-ng',
  'readline', 'dbus', 'linux-pam', 'gcc-runtime',
];
/** Goal of issue 12: nodes built from source for the slurm environment, excluding the toolchain's own DAG. */
const MAX_SOURCE_NODES = 40;

const LANE_IMAGE = 'slurm-factory-spack-lane:debian13';
/** The base stage's apt packages (so `register-externals` finds the same build tools) plus clingo's needs. */
const LANE_DOCKERFILE = `FROM slurm-factory-base:debian13
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
    ${BASE_PACKAGES.apt.join(' ')} python3-cffi-backend liblua5.4-0 >/dev/null && rm -rf /var/lib/apt/lists/*
`;

interface LaneNode {
  name: string; version: string; hash: string; external: boolean; installed: boolean; compilers: string[];
  linkrun: boolean; root: boolean;
}
interface LaneEnv { roots: string[]; nodes: LaneNode[] }
export interface LaneResult {
  status: string;
  log: string;
  envs: Record<string, LaneEnv>;
  viewPackages: string[];
  mirrorHashes: string[];
}

function plansToRun(): BuildPlan[] {
  const want = process.env.SLURM_FACTORY_TEST_SPACK_PLANS?.trim();
  if (!want) return [planBuild({ slurm: DEFAULT_SLURM, gcc: DEFAULT_GCC })];
  if (want === 'all') {
    return SLURM_RELEASES.flatMap((r) => GCC_TOOLCHAINS.map((g) => planBuild({ slurm: r.series, gcc: g.version })));
  }
  return want.split(',').map((p) => {
    const [slurm = '', gcc] = p.split(':');
    return planBuild({ slurm, gcc });
  });
}

function docker(args: string[], input?: string) {
  return spawnSync('docker', args, { encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024, timeout: 4 * 3600_000 });
}

/** Renders `plan` as the build does and runs its Spack stages in the lane container; returns what they left. */
export function runLane(plan: BuildPlan, workDir: string): LaneResult {
  const ctx = join(workDir, 'ctx');
  const out = join(workDir, 'out');
  writeBuildContext(ctx, renderBuildContext(plan));
  mkdirSync(out, { recursive: true });
  const r = docker([
    'run', '--rm',
    '-v', `${process.env.SLURM_FACTORY_TEST_SPACK}:/src/spack:ro`,
    '-v', `${process.env.SLURM_FACTORY_TEST_SPACK_PACKAGES}:/opt/spack-packages:ro`,
    '-v', `${process.env.SLURM_FACTORY_TEST_CLINGO}:/opt/clingo:ro`,
    '-v', `${join(repoRoot, 'test', 'fixtures', 'spack-lane')}:/lane:ro`,
    '-v', `${ctx}:/ctx:ro`,
    '-v', `${out}:/out`,
    LANE_IMAGE, 'bash', '/lane/run-stages.sh',
  ]);
  writeFileSync(join(out, 'lane.log'), `${r.stdout}\n${r.stderr}`);
  const read = (f: string) => (existsSync(join(out, f)) ? readFileSync(join(out, f), 'utf8') : '');
  const envs: Record<string, LaneEnv> = {};
  for (const stage of ['compiler', 'deps', 'slurm']) {
    const text = read(`${stage}.nodes.json`);
    if (text) envs[stage] = JSON.parse(text) as LaneEnv;
  }
  // `buildcache list --long` prints `<hash7> <name>@<version>...`; the mirror's spec files name the full hash.
  const mirrorHashes = read('mirror.files').split('\n').filter(Boolean)
    .map((f) => /-([a-z0-9]{32})\.spec\.(?:manifest\.)?json/.exec(f)?.[1] ?? '').filter(Boolean).sort();
  return {
    status: read('status').trim() || `container exited ${r.status}`,
    log: `${r.stderr}`.slice(-4000),
    envs,
    viewPackages: read('view.packages').split('\n').filter(Boolean).sort(),
    mirrorHashes,
  };
}

/** Slurm's link/run closure (without externals): what the view and the mirror must hold. */
export function slurmClosure(env: LaneEnv): LaneNode[] {
  return env.nodes.filter((n) => n.linkrun && !n.external);
}

/** Nodes built from source for the slurm environment: not external, not the toolchain's own DAG. */
export function sourceNodes(result: LaneResult, plan: BuildPlan): LaneNode[] {
  const toolchain = new Set((result.envs.compiler?.nodes ?? []).map((n) => n.hash));
  return (result.envs.slurm?.nodes ?? []).filter((n) => !n.external && !toolchain.has(n.hash)
    && !(plan.gcc.source === 'spack' && n.name === 'gcc'));
}

const results = new Map<string, LaneResult>();
const t = tempDir('sf-lane-');
const plans = needLane() ? [] : plansToRun();

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
    console.log(`${plan.id}: ${r.status}; slurm env ${slurm?.nodes.length ?? 0} nodes, ` +
      `${sourceNodes(r, plan).length} built from source, link/run closure ${slurm ? slurmClosure(slurm).length : 0}, ` +
      `view ${r.viewPackages.length} packages, mirror ${r.mirrorHashes.length} specs`);
  }
  return r;
}

for (const plan of plans) {
  laneTest(`${plan.id}: every environment concretizes and fake-installs in stage order`, () => {
    const r = lane(plan);
    assert.is(r.status, 'OK', r.log);
  });

  laneTest(`${plan.id}: the view holds Slurm's libraries and no build-only tool`, () => {
    const r = lane(plan);
    const missing = VIEW_LIBRARIES.filter((p) => !r.viewPackages.includes(p));
    assert.equal(missing, [], `view lacks ${missing.join(', ')}; it holds: ${r.viewPackages.join(' ')}`);
    const tools = r.viewPackages.filter((p) => BUILD_ONLY.includes(p));
    assert.equal(tools, [], `build-only tools in the view: ${tools.join(', ')}`);
  });

  laneTest(`${plan.id}: every node of Slurm's link/run closure is built by GCC ${plan.gcc.version}`, () => {
    const r = lane(plan);
    const closure = slurmClosure(r.envs.slurm!);
    const want = `gcc@${plan.gcc.version}`;
    const other = closure.filter((n) => n.compilers.some((c) => c !== want)).map((n) => `${n.name} (${n.compilers.join(',')})`);
    assert.equal(other, [], `built with another compiler: ${other.join('; ')}`);
    const runtimes = [...new Set(closure.filter((n) => n.name === 'gcc-runtime').map((n) => n.version))];
    assert.equal(runtimes, [plan.gcc.version], `gcc-runtime versions in the closure: ${runtimes.join(', ')}`);
  });

  laneTest(`${plan.id}: the mirror gets exactly Slurm's link/run closure`, () => {
    const r = lane(plan);
    const closure = slurmClosure(r.envs.slurm!);
    const names = new Map(r.envs.slurm!.nodes.map((n) => [n.hash, n.name]));
    const want = closure.map((n) => n.hash).sort();
    const extra = r.mirrorHashes.filter((h) => !want.includes(h)).map((h) => names.get(h) ?? h);
    const lacking = want.filter((h) => !r.mirrorHashes.includes(h)).map((h) => names.get(h) ?? h);
    assert.equal(extra, [], `pushed beyond the closure: ${extra.join(', ')}`);
    assert.equal(lacking, [], `closure not pushed: ${lacking.join(', ')}`);
  });

  laneTest(`${plan.id}: at most ${MAX_SOURCE_NODES} nodes built from source, no build-only tool among them`, () => {
    const r = lane(plan);
    const built = sourceNodes(r, plan);
    const tools = built.filter((n) => BUILD_ONLY.includes(n.name) && n.name !== 'compiler-wrapper' && n.name !== 'gcc');
    assert.equal(tools.map((n) => n.name), [], `build-only tools built from source: ${tools.map((n) => n.name).join(', ')}`);
    assert.ok(built.length <= MAX_SOURCE_NODES,
      `${built.length} nodes built from source: ${built.map((n) => n.name).sort().join(' ')}`);
  });
}

test.run();
