/**
 * The template engine: the one Handlebars instance (strict: a variable the context lacks is an error; no HTML
 * escaping), its helpers, the stage partials, where every template lives, and the context object each template
 * gets. As in Spack's container writers, a template sees only the documented properties of its context, built
 * here from the plan: what a template can read is listed in one place, and a template that reads anything else
 * fails to render (the golden files in test/golden show every change to the output).
 *
 * The contexts keep the names the templates always used (`plan.gcc.version`, `env.stage`), so the templates
 * read as before; `plan` in a context is a copy of only the listed fields, never the BuildPlan itself.
 * Handlebars loads on first use: `help` imports every task and must not pay for it.
 */
import type HandlebarsNS from 'handlebars';
import { createRequire } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE_PACKAGES } from './catalog.ts';
import { SlurmFactoryError } from './errors.ts';
import type { BuildPlan } from './plan.ts';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const templatesDir = join(repoRoot, 'templates');

/** `s` as an HCL string literal: JSON's escapes, and `${` kept literal (`$${`), not interpolated by bake. */
export function hclString(s: string): string {
  return JSON.stringify(s).replace(/\$\{/g, '$${');
}

/** Every template, relative to templates/. */
export const TEMPLATE = {
  /** The build context's Dockerfile; it includes one partial per stage from `stages`. */
  dockerfile: 'Dockerfile.hbs',
  /** Stage partials (`{{> deps}}`), registered under their file name less `.hbs`. */
  stages: 'stages',
  /** One spack.yaml per Spack stage (compiler, deps, slurm). */
  spackYaml: 'spack/spack.yaml.hbs',
  /** Spack's site repos.yaml. */
  reposYaml: 'spack/repos.yaml.hbs',
  /** The spack stage's script that registers the image's build tools as externals. */
  registerExternals: 'spack/register-externals.sh.hbs',
  /** The Lmod module of the package. */
  module: 'module.lua.hbs',
  /** Assets shipped in the package: `*.hbs` rendered (suffix dropped), the rest copied. */
  slurmAssets: 'slurm_assets',
  /** docker-bake.hcl of a matrix build. */
  bakeFile: 'docker-bake.hcl.hbs',
} as const;

const lazyRequire = createRequire(import.meta.url);
let engine: typeof HandlebarsNS | null = null;
const compiled = new Map<string, (data: object) => string>();

/** The one Handlebars instance, with its helpers and the stage partials. */
function handlebars(): typeof HandlebarsNS {
  if (engine) return engine;
  const hb = (lazyRequire('handlebars') as typeof HandlebarsNS).create();
  /** `{{#if (eq a b)}}`: strict equality. */
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  /** `{{json v}}`: v as a JSON (and so YAML and HCL) string literal. */
  hb.registerHelper('json', (v: unknown) => JSON.stringify(v));
  /** `{{hcl v}}`: v as an HCL string literal (JSON's escapes, and `${` kept literal as `$${`). */
  hb.registerHelper('hcl', (v: unknown) => hclString(String(v)));
  // The block helpers note which way they went while a traced render runs (renderTemplateTraced).
  for (const name of ['if', 'unless', 'each'] as const) {
    const builtin = hb.helpers[name]!;
    hb.registerHelper(name, function (this: unknown, ...args: unknown[]) {
      if (trace) {
        const v = args[0];
        trace.push(
          Array.isArray(v) ? v.length : v !== null && typeof v === 'object' ? Object.keys(v).length : v ? 1 : 0,
        );
      }
      return (builtin as (...a: unknown[]) => unknown).apply(this, args);
    });
  }
  const stagesDir = join(templatesDir, TEMPLATE.stages);
  for (const f of readdirSync(stagesDir).filter((x) => x.endsWith('.hbs'))) {
    // Without its final newline, a partial can be used inside a line (`RUN {{> spack-mounts}}`).
    hb.registerPartial(basename(f, '.hbs'), readFileSync(join(stagesDir, f), 'utf8').replace(/\n$/, ''));
  }
  engine = hb;
  return hb;
}

/**
 * Compiles `text` (default: the file templates/`rel`) once per process; the function it returns renders a
 * context, and a failure names the template.
 */
export function compileTemplate<T extends object>(rel: string, text?: string): (data: T) => string {
  const known = compiled.get(rel);
  if (known) return known;
  const t = handlebars().compile(text ?? readFileSync(join(templatesDir, rel), 'utf8'), {
    strict: true,
    noEscape: true,
  });
  const render = (data: object): string => {
    try {
      return t(data);
    } catch (err) {
      throw new SlurmFactoryError(`template templates/${rel} failed to render: ${(err as Error).message}`, {
        remediation:
          'this is a bug in the template or in its context (tasks/lib/templates.ts); report it with the command you ran',
      });
    }
  };
  compiled.set(rel, render);
  return render;
}

export function renderTemplate<T extends object>(rel: string, data: T): string {
  return compileTemplate<T>(rel)(data);
}

let trace: number[] | null = null;
/**
 * renderTemplate, and the branches the render took: every `{{#if}}`, `{{#unless}}` and `{{#each}}` it met, in
 * order, as 1/0 (taken or not) or the number of items. Two renders with the same branches differ only in the
 * values put into the same template text.
 */
export function renderTemplateTraced<T extends object>(rel: string, data: T): { text: string; branches: string } {
  const render = compileTemplate<T>(rel);
  trace = [];
  try {
    const text = render(data);
    return { text, branches: trace.join(',') };
  } finally {
    trace = null;
  }
}

/** What templates/Dockerfile.hbs and its stage partials (templates/stages/*.hbs) read. */
export interface DockerfileContext {
  plan: {
    /** `slurm-25.11-gcc13.4.0[-gpu]`, named in the header. */
    id: string;
    /** The image tag prefix of `--target STAGE --load` examples (`slurm-factory:25.11-gcc13.4.0`). */
    imageTag: string;
    /** The release built (`25.11.6`) and Spack's name for it (`25-11-6-1`): the slurm stage. */
    slurm: { release: string; spackVersion: string };
    /** GCC of the build and whether the compiler stage builds it (`spack`) or it is the image's (`system`). */
    gcc: { version: string; source: 'spack' | 'system' };
    /** The image's own GCC: what builds GCC in the compiler stage. */
    systemGcc: string;
    flavour: string;
    /** `ARG BASE_IMAGE` default. */
    baseImage: string;
    /** Catalog OS name, glibc (the header's floor) and package manager (picks base-apt or base-dnf). */
    os: { name: string; glibc: string; packageManager: string };
    /** Spack's release and pinned commits (inputs stage), its generic target (spack stage). */
    spack: {
      version: string;
      tag: string;
      gitUrl: string;
      commit: string;
      target: string;
      packages: { gitUrl: string; commit: string };
    };
    /** Compile through ccache (apt distros): the spack stage's ENV and the stages' cache mount. */
    ccache: boolean;
    /** BuildKit cache-mount ids: distro packages, Spack sources, misc cache, binary cache. */
    cacheIds: BuildPlan['cacheIds'];
    /** Base image + GCC: the host buildcache directory the comments name. */
    cacheKey: string;
    /** The deps stage's specs (named in its comment). */
    specs: { deps: string[] };
    /** Names of what the export stage carries (the tarball, its side files). */
    artifacts: { tarball: string };
    /** Names of the compiler stage's tarball and its checksum (build-compiler --tarball); null for system GCC. */
    compilerArtifacts: { tarball: string; sha256: string } | null;
    /** Build tools the spack stage registers as externals (named in its comment). */
    buildTools: readonly string[];
    /** Extra binary mirrors the spack stage adds and trusts. */
    mirrors: { name: string; url: string }[];
    /** Set when the project's Spack repository is copied into the image (its fields are not read here). */
    overlayRepo: { namespace: string; path: string } | null;
  };
  /** Distro packages of the base stage, for the image's package manager. */
  packages: readonly string[];
}

export function dockerfileContext(p: BuildPlan): DockerfileContext {
  return {
    plan: {
      id: p.id,
      imageTag: p.imageTag,
      slurm: { release: p.slurm.release, spackVersion: p.slurm.spackVersion },
      gcc: { version: p.gcc.version, source: p.gcc.source },
      systemGcc: p.systemGcc,
      flavour: p.flavour,
      baseImage: p.baseImage,
      os: { name: p.os.name, glibc: p.os.glibc, packageManager: p.os.packageManager },
      spack: spackPins(p),
      ccache: p.ccache,
      cacheIds: { ...p.cacheIds },
      cacheKey: p.cacheKey,
      specs: { deps: [...p.specs.deps] },
      artifacts: { tarball: p.artifacts.tarball },
      compilerArtifacts: p.compilerArtifacts && {
        tarball: p.compilerArtifacts.tarball,
        sha256: p.compilerArtifacts.sha256,
      },
      buildTools: p.buildTools,
      mirrors: p.mirrors.map((m) => ({ name: m.name, url: m.url })),
      overlayRepo: p.overlayRepo ? { namespace: p.overlayRepo.namespace, path: p.overlayRepo.path } : null,
    },
    packages: BASE_PACKAGES[p.os.packageManager],
  };
}

function spackPins(p: BuildPlan): DockerfileContext['plan']['spack'] {
  const s = p.spack;
  return {
    version: s.version,
    tag: s.tag,
    gitUrl: s.gitUrl,
    commit: s.commit,
    target: s.target,
    packages: { gitUrl: s.packages.gitUrl, commit: s.packages.commit },
  };
}

/** One Spack environment: the stage it belongs to and how it differs from the others. */
export interface SpackEnvSpec {
  stage: 'compiler' | 'deps' | 'slurm';
  /** What the stage builds, for the file's first comment. */
  purpose: string;
  specs: string[];
  /** GCC this environment compiles with. */
  compiler: string;
  view: boolean;
  modules: boolean;
  /**
   * Where the compiler stage links the GCC it built (deps and slurm stages of a Spack-built toolchain): those
   * environments see that GCC as an external, not as a reusable install, so nothing built by the image's GCC
   * for the compiler (zstd, gettext, ncurses, ...) can be reused into Slurm's closure. Null otherwise.
   */
  toolchainPrefix: string | null;
  /**
   * Install tree and binary-cache subdirectory of this environment. The compiler stage keeps its own
   * (/opt/spack-compiler, buildcache `compiler/`): what the image's GCC builds for GCC (zstd, zlib-ng, ...) is
   * then neither installed nor cached where the deps and slurm stages look, so none of it is reused into
   * Slurm's closure (Spack 1.0 reuses installed specs regardless of the compiler the environment requires).
   */
  installRoot: string;
  cacheSubdir: string;
}

/** What templates/spack/spack.yaml.hbs reads: the environment, and these fields of the plan. */
export interface SpackYamlContext {
  env: SpackEnvSpec;
  plan: {
    /** Named in the first comment. */
    baseImage: string;
    /** Every spec's target, and the padded install-tree length binaries relocate into. */
    spack: { target: string; paddedLength: number };
    /** `config.build_jobs` when set (`--jobs`); null lets Spack use every CPU. */
    jobs: number | null;
    /** The image's own GCC, an external of every environment; and the OS name its comment gives. */
    systemGcc: string;
    os: { name: string };
    /** Base image + GCC: the host buildcache directory the comments name. */
    cacheKey: string;
    /** The project's Spack repository, listed before builtin; null when this release uses builtin's recipe. */
    overlayRepo: { namespace: string; path: string } | null;
    /** Extra binary mirrors (`--mirror`). */
    mirrors: { name: string; url: string }[];
    /** Packages kept out of the slurm stage's view. */
    /** config:ccache (apt distros). */
    ccache: boolean;
    viewExclude: string[];
    /** Variant requirements on Slurm's dependencies, one `packages:` entry each (catalog PACKAGE_REQUIREMENTS). */
    packageRequirements: Readonly<Record<string, string>>;
  };
}

export function spackYamlContext(p: BuildPlan, env: SpackEnvSpec): SpackYamlContext {
  return {
    env,
    plan: {
      baseImage: p.baseImage,
      spack: { target: p.spack.target, paddedLength: p.spack.paddedLength },
      jobs: p.jobs,
      systemGcc: p.systemGcc,
      os: { name: p.os.name },
      cacheKey: p.cacheKey,
      overlayRepo: p.overlayRepo ? { namespace: p.overlayRepo.namespace, path: p.overlayRepo.path } : null,
      mirrors: p.mirrors.map((m) => ({ name: m.name, url: m.url })),
      viewExclude: [...p.viewExclude],
      packageRequirements: { ...p.packageRequirements },
      ccache: p.ccache,
    },
  };
}

/** What templates/spack/repos.yaml.hbs reads: the pinned spack-packages commit (named in its comment). */
export interface ReposYamlContext {
  plan: { spack: { packages: { commit: string } } };
}

export function reposYamlContext(p: BuildPlan): ReposYamlContext {
  return { plan: { spack: { packages: { commit: p.spack.packages.commit } } } };
}

/** What templates/spack/register-externals.sh.hbs reads. */
export interface RegisterExternalsContext {
  plan: {
    /** The Spack packages to find on the image as non-buildable externals. */
    buildTools: readonly string[];
    /** Distro family and package manager, named in its comment. */
    os: { family: string; packageManager: string };
  };
}

export function registerExternalsContext(p: BuildPlan): RegisterExternalsContext {
  return { plan: { buildTools: p.buildTools, os: { family: p.os.family, packageManager: p.os.packageManager } } };
}

/** What templates/docker-bake.hcl.hbs reads (built by matrix.ts from the plans of a matrix). */
export interface BakeFileContext {
  /** Defaults of the BUILDS_DIR, BUILDCACHE_DIR, SOURCECACHE_DIR variables (host paths). */
  buildsDir: string;
  buildcacheDir: string;
  sourcecacheDir: string;
  /** Default of SOURCE_DATE_EPOCH (the checkout's commit time); empty lets the package stage use now. */
  sourceDateEpoch: string;
  /** One per toolchain (base image + GCC + flavour): its `_toolchain-<key>` base target and `deps-<key>` target. */
  toolchains: {
    /** Bake-safe toolchain name, e.g. `ubuntu-24-04-gcc13-4-0-cpu`. */
    key: string;
    gccVersion: string;
    gccSource: string;
    flavour: string;
    baseImage: string;
    /** Subdirectory of BUILDCACHE_DIR this toolchain reads (base image + GCC). */
    cacheKey: string;
    /** CPU architecture and its BuildKit platform (`platforms` of the toolchain's targets). */
    arch: string;
    platform: string;
    /** The build context its deps target builds from (the first of its plans; deps is the same in all). */
    context: string;
  }[];
  /** One export target per plan. */
  builds: {
    /** Bake target name (the plan id, bake-safe). */
    name: string;
    /** Plan id: the subdirectory of BUILDS_DIR it exports to. */
    id: string;
    /** Key of the toolchain it inherits from and takes its deps stage from. */
    toolchain: string;
    context: string;
    slurmRelease: string;
    gccVersion: string;
    flavour: string;
    arch: string;
    tarballName: string;
  }[];
  /** Groups (default, all, slurm-<series>, gcc-<version>, cpu, gpu) and their target names. */
  groups: { name: string; targets: string[] }[];
}
