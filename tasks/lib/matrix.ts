/**
 * Matrix builds: the list of BuildPlans for Slurm versions x GCC toolchains x flavours, the docker-bake.hcl
 * that builds them (templates/docker-bake.hcl.hbs: the shared stages, base ... deps, once per toolchain, in a
 * base target its builds inherit), and the GitHub Actions workflow that builds them one job per entry.
 */
import { DEFAULT_ARCH, DEFAULT_GCC, FLAVOURS, slurmSeriesList, type Flavour } from './catalog.ts';
import { ConfigurationError } from './errors.ts';
import { planBuild, type BuildOptions, type BuildPlan } from './plan.ts';
import { TEMPLATE, renderTemplate, type BakeFileContext } from './templates.ts';
import { createRequire } from 'node:module';

export interface MatrixOptions {
  slurm?: string[];
  gcc?: string[];
  flavours?: string[];
  os?: string;
  baseImage?: string;
  jobs?: number;
  mirrors?: string[];
  /** CPU architectures (x86_64, aarch64); default x86_64. */
  arches?: string[];
}

export function planMatrix(o: MatrixOptions): BuildPlan[] {
  const slurm = o.slurm && o.slurm.length > 0 ? o.slurm : slurmSeriesList();
  const gcc = o.gcc && o.gcc.length > 0 ? o.gcc : [DEFAULT_GCC];
  const flavours = o.flavours && o.flavours.length > 0 ? o.flavours : ['cpu'];
  for (const f of flavours) {
    if (!(FLAVOURS as readonly string[]).includes(f)) {
      throw new ConfigurationError(`flavour '${f}' is not known`, {
        remediation: `use ${FLAVOURS.join(' or ')} (e.g. --flavours cpu,gpu)`,
      });
    }
  }
  const arches = o.arches && o.arches.length > 0 ? o.arches : [DEFAULT_ARCH];
  const plans: BuildPlan[] = [];
  const seen = new Set<string>();
  for (const a of arches)
    for (const g of gcc)
      for (const s of slurm)
        for (const f of flavours as Flavour[]) {
          const opts: BuildOptions = {
            slurm: s,
            gcc: g,
            gpu: f === 'gpu',
            os: o.os,
            baseImage: o.baseImage,
            jobs: o.jobs,
            mirrors: o.mirrors,
            arch: a,
          };
          const p = planBuild(opts);
          if (seen.has(p.id)) continue;
          seen.add(p.id);
          plans.push(p);
        }
  return plans;
}

/** Bake target and group names allow only letters, digits, `_` and `-`. */
export function bakeName(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]+/g, '-');
}

/** The toolchain a plan's shared stages belong to: base image + GCC + flavour (GPU deps differ); cacheKey carries the arch. */
export function toolchainKey(p: BuildPlan): string {
  return bakeName(`${p.cacheKey}-${p.flavour}`);
}

export interface BakeFileOptions {
  /** Path of each plan's build context as the bake file names it (relative to the repository root, where bake runs). */
  contextOf: (p: BuildPlan) => string;
  buildsDir: string;
  buildcacheDir: string;
  sourcecacheDir: string;
  /** Timestamps of the packages (commit time of the checkout); empty lets the package stage use now. */
  sourceDateEpoch?: number;
}

/** The context of templates/docker-bake.hcl.hbs for a matrix. */
export function bakeFileContext(plans: BuildPlan[], o: BakeFileOptions): BakeFileContext {
  const toolchains = new Map<string, BuildPlan>();
  for (const p of plans) if (!toolchains.has(toolchainKey(p))) toolchains.set(toolchainKey(p), p);
  const groups = new Map<string, string[]>();
  const add = (g: string, t: string) => {
    const l = groups.get(g) ?? [];
    if (!l.includes(t)) l.push(t);
    groups.set(g, l);
  };
  for (const p of plans) {
    const t = bakeName(p.id);
    add('default', t);
    add('all', t);
    add(bakeName(`slurm-${p.slurm.series}`), t);
    add(bakeName(`gcc-${p.gcc.version}`), t);
    add(p.flavour, t);
    add(p.arch.name, t);
  }
  return {
    buildsDir: o.buildsDir,
    buildcacheDir: o.buildcacheDir,
    sourcecacheDir: o.sourcecacheDir,
    sourceDateEpoch: o.sourceDateEpoch === undefined ? '' : String(o.sourceDateEpoch),
    toolchains: [...toolchains].map(([key, p]) => ({
      key,
      gccVersion: p.gcc.version,
      gccSource: p.gcc.source,
      flavour: p.flavour,
      baseImage: p.baseImage,
      cacheKey: p.cacheKey,
      context: o.contextOf(p),
      arch: p.arch.name,
      platform: p.arch.platform,
    })),
    builds: plans.map((p) => ({
      name: bakeName(p.id),
      id: p.id,
      toolchain: toolchainKey(p),
      context: o.contextOf(p),
      slurmRelease: p.slurm.release,
      gccVersion: p.gcc.version,
      flavour: p.flavour,
      arch: p.arch.name,
      tarballName: p.artifacts.tarball,
    })),
    groups: [...groups].map(([name, targets]) => ({ name, targets })),
  };
}

/** Renders docker-bake.hcl: readable by hand, runnable with `docker buildx bake -f dockerfiles/docker-bake.hcl`. */
export function renderBakeFile(plans: BuildPlan[], o: BakeFileOptions): string {
  return renderTemplate(TEMPLATE.bakeFile, bakeFileContext(plans, o));
}

export interface CiWorkflowOptions {
  /** Cron line: add a scheduled run whose only job is `outdated` (fails when a newer patch release is out). */
  schedule?: string;
  /** Publish each build to this bucket with credentials from GitHub's OIDC token (never long-lived keys). */
  publish?: { bucket: string; role: string; region: string };
  /** Name of the repository secret holding the ASCII-armored signing key; the build gets it as a BuildKit secret. */
  signSecret?: string;
}

/** The file the signing key is written to on the runner, only for the build step's lifetime. */
const KEY_FILE = '${{ runner.temp }}/slurm-factory-signing.asc';

/** A GitHub Actions workflow with one job per matrix entry, from the same catalog as bake. */
export function renderCiWorkflow(plans: BuildPlan[], o: CiWorkflowOptions = {}): string {
  const include = plans.map((p) => ({
    id: p.id,
    slurm: p.slurm.series,
    gcc: p.gcc.requested === 'system' ? 'system' : p.gcc.version,
    flavour: p.flavour,
    os: p.os.name,
    arch: p.arch.name,
    // aarch64 jobs run natively on GitHub's Arm runners (no emulation for a Spack build of hours).
    runner: p.arch.runner,
    // Layers are shared by every Slurm version on one toolchain.
    cache_scope: toolchainKey(p),
  }));
  // New objects each time: shared ones would be written as YAML anchors.
  const setup = (buildx: boolean) => [
    { uses: 'actions/checkout@v4' },
    { uses: 'actions/setup-node@v4', with: { 'node-version': 20 } },
    ...(buildx ? [{ uses: 'docker/setup-buildx-action@v3' }] : []),
    { run: 'npm ci' },
  ];
  const steps: object[] = setup(true);
  if (o.signSecret) {
    steps.push({
      name: 'signing key (from the secret store, for the build step only)',
      env: { SIGNING_KEY: `\${{ secrets.${o.signSecret} }}` },
      run: `umask 077 && printf '%s\\n' "$SIGNING_KEY" > "${KEY_FILE}"`,
    });
  }
  steps.push({
    name: 'build',
    run: [
      'npx zx Taskfile.ts build ${{ matrix.slurm }} --gcc ${{ matrix.gcc }} --os ${{ matrix.os }} --arch ${{ matrix.arch }}',
      "${{ matrix.flavour == 'gpu' && '--gpu' || '' }}",
      ...(o.signSecret ? [`--sign-key "${KEY_FILE}"`] : []),
      '--cache-from type=gha,scope=${{ matrix.cache_scope }}',
      '--cache-to type=gha,mode=max,scope=${{ matrix.cache_scope }}',
    ].join(' \\\n  '),
  });
  if (o.signSecret) steps.push({ name: 'remove the signing key', if: 'always()', run: `rm -f "${KEY_FILE}"` });
  if (o.publish) {
    steps.push({
      name: 'AWS credentials through OIDC (no stored keys)',
      uses: 'aws-actions/configure-aws-credentials@v4',
      with: {
        'role-to-assume': o.publish.role,
        'aws-region': o.publish.region,
        'role-session-name': 'slurm-factory-${{ github.run_id }}',
      },
    });
    steps.push({
      name: 'publish',
      run: `npx zx Taskfile.ts publish --bucket ${o.publish.bucket} --region ${o.publish.region} --tarballs --slurm \${{ matrix.slurm }} --gcc \${{ matrix.gcc }}`,
    });
  }
  steps.push({
    uses: 'actions/upload-artifact@v4',
    with: { name: '${{ matrix.id }}', path: '~/.slurm-factory/builds/' },
  });

  const jobs: Record<string, object> = {};
  if (o.schedule) {
    jobs.currency = {
      name: 'Slurm releases upstream vs the catalog',
      if: "github.event_name == 'schedule'",
      'runs-on': 'ubuntu-24.04',
      steps: [
        ...setup(false),
        {
          name: 'outdated (exit 3: a newer Slurm patch release is out; update tasks/lib/catalog.ts and push to rebuild)',
          run: 'npx zx Taskfile.ts outdated',
        },
      ],
    };
  }
  jobs.build = {
    name: '${{ matrix.id }}',
    ...(o.schedule ? { if: "github.event_name != 'schedule'" } : {}),
    'runs-on': '${{ matrix.runner }}',
    'timeout-minutes': 360,
    ...(o.publish ? { permissions: { contents: 'read', 'id-token': 'write' } } : {}),
    strategy: { 'fail-fast': false, matrix: { include } },
    steps,
  };
  const workflow = {
    name: 'slurm-factory matrix',
    on: { workflow_dispatch: {}, push: { tags: ['v*'] }, ...(o.schedule ? { schedule: [{ cron: o.schedule }] } : {}) },
    permissions: { contents: 'read' },
    jobs,
  };
  const YAML = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return `# Generated by slurm-factory: npx zx Taskfile.ts ci-matrix. One job per matrix entry; BuildKit layers are\n# cached per toolchain in the GitHub Actions cache, so Slurm versions on one GCC share them.\n${YAML.stringify(workflow, { lineWidth: 0 })}`;
}
