/**
 * BuildPlan: a pure function from catalog + options to everything later steps need (names, tags, stage list,
 * cache ids, Spack specs). Rendering, building, baking and packaging read the plan; none of them go back to
 * the catalog or re-derive a name.
 */
import {
  DEFAULT_GCC,
  DEFAULT_SLURM,
  GCC_TOOLCHAINS,
  OS_TARGETS,
  SLURM_RELEASES,
  SPACK,
  SYSTEM_GCC_DEFAULT_OS,
  BUILD_TOOL_EXTERNALS,
  OVERLAY_REPO,
  PACKAGE_REQUIREMENTS,
  RUNTIME_DEPS,
  SLURM_OVERLAY_VARIANTS,
  SLURM_VARIANTS,
  findOs,
  requiredPlugins,
  gccVersionList,
  osNameList,
  slurmSeriesList,
  DEFAULT_ARCH,
  archNameList,
  findArch,
  type ArchTarget,
  type Flavour,
  type OsTarget,
  type SlurmRelease,
} from './catalog.ts';
import {
  PACKAGE_SIDECARS,
  buildArtifacts,
  compilerArtifacts,
  type BuildArtifacts,
  type CompilerArtifacts,
} from './artifacts.ts';
import { ConfigurationError } from './errors.ts';
import type { PackageInputs } from './package-inputs.ts';

export interface BuildOptions {
  /** `25.11` or an exact `25.11.6`. */
  slurm: string;
  /** A catalog GCC version or `system`. */
  gcc?: string;
  gpu?: boolean;
  /** A catalog OS name (`--os`). */
  os?: string;
  /** Any image reference (`--base-image`); `os` then names its family and glibc. */
  baseImage?: string;
  /** Spack build jobs (`--jobs`); unset lets Spack use every CPU of the builder. */
  jobs?: number;
  /** Extra Spack binary mirrors (`--mirror`). */
  mirrors?: string[];
  /** CPU architecture (`--arch`): x86_64 (default) or aarch64 (arm64). */
  arch?: string;
}

/** Stage names, in pipeline order. The outside-input stages come first and can be replaced by named contexts. */
export const INPUT_STAGES = [
  'spack-src',
  'spack-packages-src',
  'spack-bootstrap-mirror',
  'source-mirror',
  'host-buildcache',
  'host-sourcecache',
] as const;
export const PIPELINE_STAGES = ['base', 'spack', 'compiler', 'deps', 'slurm', 'package', 'export'] as const;
export type PipelineStage = (typeof PIPELINE_STAGES)[number];

export interface BuildPlan {
  slurm: SlurmRelease;
  /** What the user typed, and the sentence saying which exact release that means. */
  requestedSlurm: string;
  resolvedSlurmNote: string;
  gcc: {
    version: string;
    /** `spack`: built in the compiler stage; `system`: the base image's own GCC. */
    source: 'spack' | 'system';
    requested: string;
  };
  /** The base image's own GCC version, used to build GCC (or everything, when source is system). */
  systemGcc: string;
  flavour: Flavour;
  /** The CPU architecture everything is built for: BuildKit `--platform`, Spack target, name suffix. */
  arch: ArchTarget;
  os: OsTarget;
  baseImage: string;
  baseImageOverridden: boolean;
  /** `slurm-25.11-gcc13.4.0[-gpu]`: the id of this build (context dir, bake target, log file). */
  id: string;
  imageTag: string;
  compilerTag: string;
  /** Every name the build leaves behind: tarball, side files, its mirror directory (artifacts.ts). */
  artifacts: BuildArtifacts;
  /** The compiler tarball of `build-compiler --tarball`; null when GCC is the image's own. */
  compilerArtifacts: CompilerArtifacts | null;
  moduleName: string;
  contextDir: string;
  stages: readonly string[];
  /** BuildKit cache-mount ids. Spack's padded install path is not part of the spec hash, so binaries are keyed by base image + GCC. */
  cacheIds: {
    packages: string;
    packageLists: string;
    spackSources: string;
    spackMisc: string;
    buildcache: string;
    ccache: string;
  };
  /** Compile through ccache (config:ccache): only where the distro's own repositories ship it (apt; EL has it in EPEL). */
  ccache: boolean;
  cacheKey: string;
  /** The pinned Spack, with `target` the generic target of `arch` (x86_64_v2 or aarch64). */
  spack: Omit<typeof SPACK, 'target'> & { target: string };
  specs: {
    compiler: string | null;
    deps: string[];
    slurm: string;
  };
  /** Packages built for the build but kept out of the view (GPU SDKs must come from the host driver). */
  viewExclude: string[];
  jobs: number | null;
  mirrors: { name: string; url: string }[];
  /** Spack packages taken from the base image as non-buildable externals (registered in the spack stage). */
  buildTools: readonly string[];
  /** The project's own package repository, when this release's recipe comes from it; null for builtin. */
  overlayRepo: typeof OVERLAY_REPO | null;
  /** Variant requirements on Slurm's dependencies, in every environment (catalog PACKAGE_REQUIREMENTS). */
  packageRequirements: Readonly<Record<string, string>>;
}

/** Accepts `25.11` or `25.11.6`; anything else is a ConfigurationError naming what is allowed. */
export function resolveSlurm(input: string): { release: SlurmRelease; note: string } {
  const allowed = slurmSeriesList();
  const m = /^(\d{2})\.(\d{2})(?:\.(\d+))?$/.exec(input.trim());
  if (!m) {
    throw new ConfigurationError(`Slurm version '${input}' is not a version like 25.11 or 25.11.6`, {
      remediation: `use one of ${allowed.join(', ')} (see 'npx zx Taskfile.ts list')`,
    });
  }
  const series = `${m[1]}.${m[2]}`;
  const release = SLURM_RELEASES.find((r) => r.series === series);
  if (!release) {
    throw new ConfigurationError(`Slurm ${series} is not in the catalog`, {
      remediation: `use one of ${allowed.join(', ')} (see 'npx zx Taskfile.ts list')`,
    });
  }
  if (m[3] !== undefined && `${series}.${m[3]}` !== release.release) {
    throw new ConfigurationError(
      `Slurm ${input} is not in the catalog; the ${series} series builds ${release.release}`,
      {
        remediation: `use ${series} or ${release.release}`,
      },
    );
  }
  return {
    release,
    note: `Slurm ${input} -> ${release.release} (spack slurm@${release.spackVersion})`,
  };
}

const IMAGE_REF = /^[a-z0-9]+(?:[._\/:@-][A-Za-z0-9_.\/:@-]*)?$/;

/** Guess the catalog OS of a base image from its name (`rockylinux:9` -> rockylinux9); null when unknown. */
export function osFromImage(image: string): OsTarget | null {
  const exact = OS_TARGETS.find((o) => o.image === image);
  if (exact) return exact;
  const m = /(?:^|\/)(ubuntu|debian|rockylinux)[:_-]?v?(\d+(?:\.\d+)?)/.exec(image);
  if (!m) return null;
  return findOs(`${m[1]}${m[2]}`) ?? null;
}

function sanitize(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

export function planBuild(opts: BuildOptions): BuildPlan {
  const { release, note } = resolveSlurm(opts.slurm ?? DEFAULT_SLURM);
  const requestedGcc = (opts.gcc ?? DEFAULT_GCC).trim();
  const gccEntry = GCC_TOOLCHAINS.find((g) => g.version === requestedGcc);
  if (!gccEntry && requestedGcc !== 'system') {
    throw new ConfigurationError(`GCC '${requestedGcc}' is not in the catalog`, {
      remediation: `use one of ${gccVersionList().join(', ')} or 'system' (see 'npx zx Taskfile.ts list')`,
    });
  }

  if (opts.os !== undefined && !findOs(opts.os)) {
    throw new ConfigurationError(`OS '${opts.os}' is not a known target`, {
      remediation: `use one of ${osNameList().join(', ')}, or --base-image IMAGE with --os naming its family`,
    });
  }
  if (opts.baseImage !== undefined && !IMAGE_REF.test(opts.baseImage)) {
    throw new ConfigurationError(`base image '${opts.baseImage}' is not a valid image reference`, {
      remediation: 'give a reference such as registry.example.org/rockylinux:9 or ubuntu:24.04',
    });
  }

  let os: OsTarget;
  if (opts.os !== undefined) {
    os = findOs(opts.os)!;
  } else if (opts.baseImage !== undefined) {
    const guessed = osFromImage(opts.baseImage);
    if (!guessed) {
      throw new ConfigurationError(`cannot tell the distro of base image '${opts.baseImage}' from its name`, {
        remediation: `add --os with one of ${osNameList().join(', ')} to name its family, glibc and system GCC`,
      });
    }
    os = guessed;
  } else {
    os = findOs(gccEntry ? gccEntry.defaultOs : SYSTEM_GCC_DEFAULT_OS)!;
  }

  const gccVersion = requestedGcc === 'system' ? os.systemGcc : requestedGcc;
  const source: 'spack' | 'system' = gccVersion === os.systemGcc ? 'system' : 'spack';

  if (opts.jobs !== undefined && (!Number.isInteger(opts.jobs) || opts.jobs < 1 || opts.jobs > 1024)) {
    throw new ConfigurationError(`--jobs '${opts.jobs}' is not a whole number from 1 to 1024`, {
      remediation: 'give the number of parallel compile jobs, e.g. --jobs 8, or leave it out to use every CPU',
    });
  }
  const mirrors = (opts.mirrors ?? []).map((url, i) => {
    if (!/^(https?|s3|file|oci):\/\/\S+$/.test(url) && !url.startsWith('/')) {
      throw new ConfigurationError(`mirror '${url}' is not a URL or absolute path`, {
        remediation: 'give an https://, s3://, oci:// or file:// URL of a Spack binary mirror',
      });
    }
    return { name: `mirror${i + 1}`, url };
  });

  const arch = findArch(opts.arch ?? DEFAULT_ARCH);
  if (!arch) {
    throw new ConfigurationError(`architecture '${opts.arch}' is not a known target`, {
      remediation: `use one of ${archNameList().join(', ')} (arm64 and amd64 are accepted as aliases)`,
    });
  }
  const flavour: Flavour = opts.gpu ? 'gpu' : 'cpu';
  // x86_64 names are what they always were; aarch64 appends -aarch64 to names, tags and cache ids.
  const suffix = (flavour === 'gpu' ? '-gpu' : '') + arch.suffix;
  const baseImage = opts.baseImage ?? os.image;
  const artifacts = buildArtifacts({
    slurm: release.series,
    gcc: gccVersion,
    gpu: flavour === 'gpu',
    ...(arch.suffix ? { arch: arch.name } : {}),
  });
  const id = artifacts.id;
  const imageKey = sanitize(baseImage) + arch.suffix;
  const cacheKey = `${imageKey}-gcc${gccVersion}`;
  const gpuDeps = flavour === 'gpu' ? arch.gpu.deps : [];

  const compilerSpec =
    source === 'spack' ? `gcc@${gccVersion} +binutils languages=c,c++,fortran %gcc@${os.systemGcc}` : null;
  const deps = [...RUNTIME_DEPS, ...gpuDeps];
  const variants = [
    ...SLURM_VARIANTS,
    ...(release.recipe === 'overlay' ? SLURM_OVERLAY_VARIANTS : []),
    ...(flavour === 'gpu' ? arch.gpu.variants : []),
  ];
  const slurmSpec = `slurm@${release.spackVersion} ${variants.join(' ')} sysconfdir=/etc/slurm %gcc@${gccVersion}`;

  return {
    slurm: release,
    requestedSlurm: opts.slurm,
    resolvedSlurmNote: note,
    gcc: { version: gccVersion, source, requested: requestedGcc },
    systemGcc: os.systemGcc,
    flavour,
    arch,
    os,
    baseImage,
    baseImageOverridden: opts.baseImage !== undefined,
    id,
    imageTag: `slurm-factory:${release.series}-gcc${gccVersion}${suffix}`,
    compilerTag: `slurm-factory:compiler-${gccVersion}${arch.suffix}`,
    artifacts,
    compilerArtifacts: source === 'spack' ? compilerArtifacts(gccVersion, arch.suffix ? arch.name : undefined) : null,
    moduleName: `slurm/${release.series}-gcc${gccVersion}`,
    contextDir: `dockerfiles/${id}`,
    stages: [...INPUT_STAGES, ...PIPELINE_STAGES],
    cacheIds: {
      packages: `slurm-factory-${os.packageManager}-${imageKey}`,
      packageLists: `slurm-factory-${os.packageManager}-lists-${imageKey}`,
      spackSources: 'slurm-factory-spack-sources',
      spackMisc: `slurm-factory-spack-misc-${cacheKey}`,
      buildcache: `slurm-factory-buildcache-${cacheKey}`,
      ccache: `slurm-factory-ccache-${cacheKey}`,
    },
    ccache: os.packageManager === 'apt',
    cacheKey,
    spack: { ...SPACK, target: arch.spackTarget },
    specs: { compiler: compilerSpec, deps, slurm: slurmSpec },
    viewExclude: flavour === 'gpu' ? [...gpuDeps, 'gcc'] : ['gcc'],
    jobs: opts.jobs ?? null,
    mirrors,
    buildTools: BUILD_TOOL_EXTERNALS,
    overlayRepo: release.recipe === 'overlay' ? OVERLAY_REPO : null,
    packageRequirements: PACKAGE_REQUIREMENTS,
  };
}

/** The build facts the package stage needs (build-info.json, module, assets). */
export function packageInputs(plan: BuildPlan): PackageInputs {
  return {
    slurmSeries: plan.slurm.series,
    slurmRelease: plan.slurm.release,
    slurmSpackVersion: plan.slurm.spackVersion,
    gcc: plan.gcc.version,
    compilerSource: plan.gcc.source,
    flavour: plan.flavour,
    os: plan.os.name,
    osFamily: plan.os.family,
    baseImage: plan.baseImage,
    imageGlibc: plan.os.glibc,
    spackVersion: plan.spack.version,
    spackCommit: plan.spack.commit,
    builtinRepoCommit: plan.spack.packages.commit,
    tarballName: plan.artifacts.tarball,
    sidecars: Object.fromEntries(
      PACKAGE_SIDECARS.map((s) => [s, plan.artifacts.sidecars[s]]),
    ) as PackageInputs['sidecars'],
    moduleName: plan.moduleName,
    cgroupDisabledSupported: plan.slurm.cgroupDisabledSupported,
    requiredPlugins: requiredPlugins(plan.flavour, { arch: plan.arch.name }),
    arch: plan.arch.name,
  };
}
