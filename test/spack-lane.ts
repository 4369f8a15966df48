/**
 * The fast real-Spack lane's machinery (test/spack-concretize.docker.test.ts runs it): render a plan, run its
 * Spack stages in a Debian 13 container with real Spack and clingo (test/fixtures/spack-lane/run-stages.sh),
 * read what they left, and the checks, as pure functions returning the problems found.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, type Requirement } from './helpers.ts';
import { BASE_PACKAGES, DEFAULT_GCC, DEFAULT_SLURM, GCC_TOOLCHAINS, SLURM_RELEASES } from '../tasks/lib/catalog.ts';
import { planBuild, type BuildPlan } from '../tasks/lib/plan.ts';
import { renderBuildContext } from '../tasks/lib/render.ts';
import { writeBuildContext } from '../tasks/lib/writer.ts';

const vars = ['SLURM_FACTORY_TEST_SPACK', 'SLURM_FACTORY_TEST_SPACK_PACKAGES', 'SLURM_FACTORY_TEST_CLINGO'] as const;
export const needLane: Requirement = () => {
  const missing = vars.filter((v) => !process.env[v]);
  if (missing.length > 0) {
    return `needs a local Spack 1.0, spack-packages and clingo for Python 3.13: set ${missing.join(', ')}`;
  }
  const checks: [string, string][] = [
    [join(process.env.SLURM_FACTORY_TEST_SPACK!, 'bin', 'spack'), 'SLURM_FACTORY_TEST_SPACK'],
    [
      join(process.env.SLURM_FACTORY_TEST_SPACK_PACKAGES!, 'repos', 'spack_repo', 'builtin', 'repo.yaml'),
      'SLURM_FACTORY_TEST_SPACK_PACKAGES',
    ],
    [join(process.env.SLURM_FACTORY_TEST_CLINGO!, 'clingo', '__init__.py'), 'SLURM_FACTORY_TEST_CLINGO'],
  ];
  const bad = checks.filter(([p]) => !existsSync(p));
  return bad.length > 0 ? bad.map(([p, v]) => `${v}: ${p} does not exist`).join('; ') : null;
};

/** Tools that are needed only to build: none of them may reach the view, the mirror or Slurm's closure. */
export const BUILD_ONLY = [
  'cmake',
  'python',
  'perl',
  'meson',
  'ninja',
  'autoconf',
  'automake',
  'libtool',
  'm4',
  'pkgconf',
  'bison',
  'flex',
  'gmake',
  'compiler-wrapper',
  'gcc',
];
/** Packages whose libraries Slurm's ELF files load (slurm +pmix +hwloc +restd +cgroup +pam +readline +mariadb). */
const VIEW_LIBRARIES = [
  'slurm',
  'munge',
  'hwloc',
  'pmix',
  'libjwt',
  'libyaml',
  'http-parser',
  'json-c',
  'curl',
  'openssl',
  'lz4',
  'zlib-ng',
  'readline',
  'dbus',
  'linux-pam',
  'gcc-runtime',
];
/** Goal of issue 12: nodes built from source for the slurm environment, excluding the toolchain's own DAG. */
export const MAX_SOURCE_NODES = 40;

export const LANE_IMAGE = 'slurm-factory-spack-lane:debian13';
/** The base stage's apt packages (so `register-externals` finds the same build tools) plus clingo's needs. */
export const LANE_DOCKERFILE = `FROM slurm-factory-base:debian13
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
    ${BASE_PACKAGES.apt.join(' ')} python3-cffi-backend liblua5.4-0 >/dev/null && rm -rf /var/lib/apt/lists/*
`;

interface LaneNode {
  name: string;
  version: string;
  variants?: string;
  hash: string;
  external: boolean;
  installed: boolean;
  compilers: string[];
  linkrun: boolean;
  root: boolean;
}
interface LaneEnv {
  roots: string[];
  nodes: LaneNode[];
}
export interface LaneResult {
  status: string;
  log: string;
  envs: Record<string, LaneEnv>;
  viewPackages: string[];
  mirrorHashes: string[];
}

export function plansToRun(): BuildPlan[] {
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

export function docker(args: string[], input?: string) {
  return spawnSync('docker', args, { encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024, timeout: 4 * 3600_000 });
}

/** Renders `plan` as the build does and runs its Spack stages in the lane container; returns what they left. */
export function runLane(plan: BuildPlan, workDir: string): LaneResult {
  const ctx = join(workDir, 'ctx');
  const out = join(workDir, 'out');
  writeBuildContext(ctx, renderBuildContext(plan));
  mkdirSync(out, { recursive: true });
  const r = docker([
    'run',
    '--rm',
    '-v',
    `${process.env.SLURM_FACTORY_TEST_SPACK}:/src/spack:ro`,
    '-v',
    `${process.env.SLURM_FACTORY_TEST_SPACK_PACKAGES}:/opt/spack-packages:ro`,
    '-v',
    `${process.env.SLURM_FACTORY_TEST_CLINGO}:/opt/clingo:ro`,
    '-v',
    `${join(repoRoot, 'test', 'fixtures', 'spack-lane')}:/lane:ro`,
    '-v',
    `${ctx}:/ctx:ro`,
    '-v',
    `${out}:/out`,
    LANE_IMAGE,
    'bash',
    '/lane/run-stages.sh',
  ]);
  writeFileSync(join(out, 'lane.log'), `${r.stdout}\n${r.stderr}`);
  return readLane(out, `container exited ${r.status}: ${r.stderr.slice(-4000)}`);
}

/** What a lane run left in `out` (run-stages.sh's files). */
export function readLane(out: string, log = ''): LaneResult {
  const read = (f: string) => (existsSync(join(out, f)) ? readFileSync(join(out, f), 'utf8') : '');
  const envs: Record<string, LaneEnv> = {};
  for (const stage of ['compiler', 'deps', 'slurm']) {
    const text = read(`${stage}.nodes.json`);
    if (text) envs[stage] = JSON.parse(text) as LaneEnv;
  }
  // The mirror's spec files name each pushed spec by its full hash.
  const mirrorHashes = read('mirror.files')
    .split('\n')
    .filter(Boolean)
    .map((f) => /-([a-z0-9]{32})\.spec\.(?:manifest\.)?json/.exec(f)?.[1] ?? '')
    .filter(Boolean)
    .sort();
  return {
    status: read('status').trim() || 'no status',
    log,
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
  return (result.envs.slurm?.nodes ?? []).filter(
    (n) => !n.external && !toolchain.has(n.hash) && !(plan.gcc.source === 'spack' && n.name === 'gcc'),
  );
}

/** The view holds Slurm's libraries and no build-only tool: the problems found, none when right. */
export function viewProblems(r: LaneResult, plan: BuildPlan): string[] {
  const want = [...VIEW_LIBRARIES, ...(plan.overlayRepo ? ['lua', 'mariadb-c-client'] : [])];
  const missing = want.filter((p) => !r.viewPackages.includes(p));
  const tools = r.viewPackages.filter((p) => BUILD_ONLY.includes(p));
  return [
    ...(missing.length ? [`view lacks ${missing.join(', ')}; it holds: ${r.viewPackages.join(' ')}`] : []),
    ...(tools.length ? [`build-only tools in the view: ${tools.join(', ')}`] : []),
  ];
}

/** Every node of Slurm's link/run closure is built by the plan's GCC, with one gcc-runtime. */
export function toolchainProblems(r: LaneResult, plan: BuildPlan): string[] {
  const closure = slurmClosure(r.envs.slurm ?? { roots: [], nodes: [] });
  const want = `gcc@${plan.gcc.version}`;
  const other = closure
    .filter((n) => n.compilers.some((c) => c !== want))
    .map((n) => `${n.name} (${n.compilers.join(',')})`);
  const runtimes = [...new Set(closure.filter((n) => n.name === 'gcc-runtime').map((n) => n.version))];
  return [
    ...(other.length
      ? [`${other.length} of ${closure.length} closure nodes built with another compiler: ${other.join('; ')}`]
      : []),
    ...(runtimes.length !== 1 || runtimes[0] !== plan.gcc.version
      ? [`gcc-runtime versions in the closure: ${runtimes.join(', ')}`]
      : []),
  ];
}

/** The mirror holds exactly Slurm's link/run closure. */
export function mirrorProblems(r: LaneResult): string[] {
  const env = r.envs.slurm ?? { roots: [], nodes: [] };
  const names = new Map(env.nodes.map((n) => [n.hash, n.name]));
  const want = slurmClosure(env)
    .map((n) => n.hash)
    .sort();
  const extra = r.mirrorHashes.filter((h) => !want.includes(h)).map((h) => names.get(h) ?? h);
  const lacking = want.filter((h) => !r.mirrorHashes.includes(h)).map((h) => names.get(h) ?? h);
  return [
    ...(extra.length
      ? [`${r.mirrorHashes.length} pushed, ${extra.length} beyond the closure: ${extra.sort().join(', ')}`]
      : []),
    ...(lacking.length ? [`closure not pushed: ${lacking.join(', ')}`] : []),
  ];
}

/** libdbus in Slurm's closure finds the host's system bus (not PREFIX/var/run/..., where no host has one). */
export const DBUS_SYSTEM_SOCKET = '/var/run/dbus/system_bus_socket';
export function dbusProblems(r: LaneResult): string[] {
  const dbus = slurmClosure(r.envs.slurm ?? { roots: [], nodes: [] }).filter((n) => n.name === 'dbus');
  if (dbus.length !== 1) return [`${dbus.length} dbus nodes in Slurm's closure`];
  return (dbus[0]!.variants ?? '').includes(`system-socket=${DBUS_SYSTEM_SOCKET}`)
    ? []
    : [`dbus ${dbus[0]!.variants ?? '(no variants recorded)'}: its system bus is not ${DBUS_SYSTEM_SOCKET}`];
}

/** At most MAX_SOURCE_NODES nodes built from source for the slurm environment, no build-only tool among them. */
export function nodeProblems(r: LaneResult, plan: BuildPlan): string[] {
  const built = sourceNodes(r, plan);
  const tools = built.filter((n) => BUILD_ONLY.includes(n.name) && n.name !== 'compiler-wrapper' && n.name !== 'gcc');
  return [
    ...(tools.length
      ? [
          `build-only tools built from source: ${tools
            .map((n) => n.name)
            .sort()
            .join(', ')}`,
        ]
      : []),
    ...(built.length > MAX_SOURCE_NODES
      ? [
          `${built.length} nodes built from source: ${built
            .map((n) => n.name)
            .sort()
            .join(' ')}`,
        ]
      : []),
  ];
}
