/**
 * The catalog: the single source of truth for what slurm-factory can build. `list` prints it, the build plan
 * reads it, tests check it for consistency. Change versions here and nowhere else.
 */

export interface SlurmRelease {
  /** The series users type: `25.11`. */
  series: string;
  /** The exact upstream release that is built: `25.11.6`. */
  release: string;
  /** Spack's version name in the builtin `slurm` recipe: `25-11-6-1`. */
  spackVersion: string;
  /**
   * Where the recipe comes from: the pinned builtin repository, or `overlay`: the project's own repository
   * (spack/repos/spack_repo/slurm_factory), whose `slurm` extends the builtin one with +lua, accounting against
   * mariadb-c-client and glib only for sview. Its versions and checksums are the builtin ones.
   */
  recipe: 'builtin' | 'overlay';
  /** Slurm >= 24.05 accepts `CgroupPlugin=disabled`; 23.11 always initialises cgroups in slurmd. */
  cgroupDisabledSupported: boolean;
  /** End of SchedMD support, roughly 18 months after release (informational). */
  notes?: string;
}

export const SLURM_RELEASES: readonly SlurmRelease[] = [
  {
    series: '23.11',
    release: '23.11.11',
    spackVersion: '23-11-11-1',
    recipe: 'overlay',
    cgroupDisabledSupported: false,
    notes: 'oldest series with auth/slurm; out of SchedMD support',
  },
  { series: '24.11', release: '24.11.6', spackVersion: '24-11-6-1', recipe: 'overlay', cgroupDisabledSupported: true },
  { series: '25.05', release: '25.05.8', spackVersion: '25-05-8-1', recipe: 'overlay', cgroupDisabledSupported: true },
  { series: '25.11', release: '25.11.6', spackVersion: '25-11-6-1', recipe: 'overlay', cgroupDisabledSupported: true },
  { series: '26.05', release: '26.05.1', spackVersion: '26-05-1-1', recipe: 'overlay', cgroupDisabledSupported: true },
];

export const DEFAULT_SLURM = '25.11';

export type DistroFamily = 'debian' | 'rhel';

export interface OsTarget {
  /** Name used with --os. */
  name: string;
  /** Default image for the base stage (override with --base-image). */
  image: string;
  family: DistroFamily;
  /** glibc of the image: binaries built on it need at least this glibc. */
  glibc: string;
  /** The image's own GCC (`--gcc system` builds with it; a matching --gcc builds no compiler). */
  systemGcc: string;
  /** Package manager used in the base stage. */
  packageManager: 'apt' | 'dnf';
}

export const OS_TARGETS: readonly OsTarget[] = [
  {
    name: 'rockylinux8',
    image: 'rockylinux:8',
    family: 'rhel',
    glibc: '2.28',
    systemGcc: '8.5.0',
    packageManager: 'dnf',
  },
  {
    name: 'rockylinux9',
    image: 'rockylinux:9',
    family: 'rhel',
    glibc: '2.34',
    systemGcc: '11.5.0',
    packageManager: 'dnf',
  },
  {
    name: 'rockylinux10',
    image: 'rockylinux/rockylinux:10',
    family: 'rhel',
    glibc: '2.39',
    systemGcc: '14.3.1',
    packageManager: 'dnf',
  },
  {
    name: 'ubuntu22.04',
    image: 'ubuntu:22.04',
    family: 'debian',
    glibc: '2.35',
    systemGcc: '11.4.0',
    packageManager: 'apt',
  },
  {
    name: 'ubuntu24.04',
    image: 'ubuntu:24.04',
    family: 'debian',
    glibc: '2.39',
    systemGcc: '13.3.0',
    packageManager: 'apt',
  },
  { name: 'debian12', image: 'debian:12', family: 'debian', glibc: '2.36', systemGcc: '12.2.0', packageManager: 'apt' },
  { name: 'debian13', image: 'debian:13', family: 'debian', glibc: '2.41', systemGcc: '14.2.0', packageManager: 'apt' },
];

export interface GccToolchain {
  version: string;
  /** The OS whose image (and so whose glibc floor) this GCC builds on by default. */
  defaultOs: string;
  notes?: string;
}

/**
 * Each GCC builds, by default, on the image whose glibc is its intended floor: the glibc of the build image,
 * not the GCC version, decides the oldest distro a package runs on.
 * GCC 7.5.0 builds on Rocky Linux 8 (glibc 2.28): CentOS 7 (glibc 2.17) is end of life, its repositories
 * moved to vault, and current Slurm releases do not support it; GCC 7.5 stays available for sites that must
 * build with that compiler. A GCC older than the image's own (7.5.0 built by Rocky 8's 8.5.0) concretizes only
 * because the later stages see it as an external: builtin gcc's runtime_constraints propagate `gcc@:7.5.0` to
 * the dependencies of every node it compiles, and the reused install of gcc@7.5.0 itself was compiled by 8.5.0,
 * so the solver found no usable gcc@7.5.0 ('Cannot satisfy gcc@7.5.0 ... requirement for package c').
 */
export const GCC_TOOLCHAINS: readonly GccToolchain[] = [
  { version: '7.5.0', defaultOs: 'rockylinux8', notes: 'floor glibc 2.28 (CentOS 7 is EOL)' },
  { version: '8.5.0', defaultOs: 'rockylinux8', notes: "Rocky 8's system GCC: no compiler build" },
  { version: '9.5.0', defaultOs: 'rockylinux8' },
  { version: '10.5.0', defaultOs: 'rockylinux8' },
  { version: '11.5.0', defaultOs: 'rockylinux9', notes: "Rocky 9's system GCC: no compiler build" },
  { version: '12.5.0', defaultOs: 'debian12' },
  { version: '13.4.0', defaultOs: 'ubuntu24.04' },
  { version: '14.2.0', defaultOs: 'ubuntu24.04' },
];

export const DEFAULT_GCC = '13.4.0';
/** `--gcc system`: the base image's own compiler, no compiler bootstrap; builds on this OS unless --os says otherwise. */
export const SYSTEM_GCC_DEFAULT_OS = 'ubuntu24.04';

export const FLAVOURS = ['cpu', 'gpu'] as const;
export type Flavour = (typeof FLAVOURS)[number];

/**
 * The CPU architecture axis (`--arch`). Every catalog OS publishes both (Docker Hub's debian, ubuntu and
 * rockylinux images are multi-arch manifests, so the same reference is pulled per `platform`, and a distro
 * release has the same glibc on both: the glibc floors of OS_TARGETS hold per architecture).
 * - `spackTarget`: the generic Spack (archspec) target everything is compiled for (`granularity: generic`).
 *   x86_64 keeps `x86_64_v2` (SSE4.2/POPCNT, every x86-64 server CPU since 2009); `x86_64_v3` (AVX2) would
 *   exclude Atom-class and pre-Haswell nodes still found in clusters, for little gain in a daemon. aarch64 uses
 *   plain `aarch64` (Armv8.0-A): it runs on every 64-bit Arm server (Graviton 1's Cortex-A72, Ampere Altra's
 *   Neoverse N1, Graviton 3/4 and Grace's Neoverse V1/V2). `neoverse_n1`/`neoverse_v2` are not generic
 *   targets and would tie the package to one core family; `armv8.2a`+ would drop Graviton 1 and A72 boards,
 *   and their main gain, LSE atomics, GCC >= 10 already picks at run time (-moutline-atomics is its default).
 * - `gpu`: the GPU flavour's Slurm variants and Spack deps. aarch64 GPUs are NVIDIA (Grace Hopper, Jetson):
 *   NVML only; AMD ships no ROCm for Arm, so no `+rsmi` / rocm-smi-lib there.
 * - `suffix`: what artifact names, image tags and cache ids append; empty for x86_64 so its names never change.
 */
export interface ArchTarget {
  /** `--arch` value, also `uname -m` and the manifest's `arch`. */
  name: 'x86_64' | 'aarch64';
  /** Docker/BuildKit platform (`--platform`, bake `platforms`). */
  platform: 'linux/amd64' | 'linux/arm64';
  /** Debian's architecture name (dpkg), also the suffix of the test base images. */
  debianArch: 'amd64' | 'arm64';
  spackTarget: string;
  suffix: '' | '-aarch64';
  gpu: { variants: readonly string[]; deps: readonly string[]; plugins: readonly string[] };
  /** GitHub-hosted runner label for `ci-matrix` jobs of this architecture. */
  runner: string;
}

export const ARCHITECTURES: readonly ArchTarget[] = [
  {
    name: 'x86_64',
    platform: 'linux/amd64',
    debianArch: 'amd64',
    spackTarget: 'x86_64_v2',
    suffix: '',
    gpu: { variants: ['+nvml', '+rsmi'], deps: ['cuda', 'rocm-smi-lib'], plugins: ['gpu_nvml', 'gpu_rsmi'] },
    runner: 'ubuntu-24.04',
  },
  {
    name: 'aarch64',
    platform: 'linux/arm64',
    debianArch: 'arm64',
    spackTarget: 'aarch64',
    suffix: '-aarch64',
    gpu: { variants: ['+nvml'], deps: ['cuda'], plugins: ['gpu_nvml'] },
    runner: 'ubuntu-24.04-arm',
  },
];
export const DEFAULT_ARCH = 'x86_64';
export function archNameList(): string[] {
  return ARCHITECTURES.map((a) => a.name);
}
/** `--arch` accepts the catalog names and the Debian/Docker aliases (arm64, amd64). */
export function findArch(name: string): ArchTarget | undefined {
  const n = name.trim().toLowerCase();
  return ARCHITECTURES.find((a) => a.name === n || a.debianArch === n || a.platform === n);
}

/**
 * Spack itself and the builtin package repository, each pinned to a full commit hash: BuildKit fetches that
 * exact commit, so the hash is the checksum of the source (a moved tag cannot change what is built).
 * v1.0.0 is upstream's tag commit 73eaea13 ("Backports v1.0.0 (#50798)", 2025-07-20): independent public
 * scripts check out refs/tags/v1.0.0 of spack/spack and assert `git rev-parse HEAD` is this hash, and logs
 * show `spack -V` printing `1.0.0 (73eaea13f381...)`. Forks that can be mirrored here carry the same commit
 * under other hashes (history rewritten: v1.0.0 443f356b, v1.0.1 abdad7e6, v1.0.2 5efd8eea in one), so they
 * cannot vouch for upstream's v1.0.1+ commits; the pin stays at v1.0.0 until a later tag's upstream hash is
 * confirmed (`git ls-remote https://github.com/spack/spack 'refs/tags/v1.0.2^{}'`), then goes in `commit`.
 * Tried on 2026-11-29: bringing spack/spack itself onto the build machine was refused (its snapshot is 558,510,080
 * bytes, over the 524,288,000 limit); of the other mirrored repositories named spack, DaiYuANg/spack is an
 * unrelated project reusing the name (its v1.0.x tags are its own), Mu-L/spack and manuel-g-castro/spack have
 * no v1.0 tags and no object 73eaea13. Third-party pins of 73eaea13 as v1.0.0 are many; of a later tag, none.
 */
export const SPACK = {
  version: '1.0.0',
  tag: 'v1.0.0',
  gitUrl: 'https://github.com/spack/spack.git',
  commit: '73eaea13f381e3495299284856fd02a64e1d154c',
  packages: {
    gitUrl: 'https://github.com/spack/spack-packages.git',
    /** 2026-07-01 develop: slurm 23-11-11-1, 24-11-6-1, 25-05-8-1, 25-11-6-1, 26-05-1-1; repo.yaml api v2.2. */
    commit: '1e8cf059e35d55c4fe1142fed41785bedf6c7246',
    apiVersion: 'v2.2',
  },
  /** Generic target so packages run on any x86-64-v2 CPU (2009+), not only the build host's. */
  target: 'x86_64_v2',
  /** Spack relocates binary-cache installs only into prefixes no longer than the padded original. */
  paddedLength: 128,
} as const;

/**
 * Slurm's runtime dependencies, built by Spack in the `deps` stage: the same list for every Slurm version, so
 * that stage is shared by all versions on a toolchain. These are what the overlay `slurm` recipe depends on
 * with the variants the slurm stage enables: always curl, json-c, lz4, munge, openssl, zlib; +readline;
 * +hwloc; +pmix (pmix@:5); +restd (http-parser, libyaml, libjwt); +mariadb (mariadb-c-client: slurmdbd needs
 * the client library only, not the server the builtin recipe's `mariadb` pulls in); +cgroup (dbus); +pam
 * (linux-pam); +lua (lua). No glib: only sview (+gtk) uses it.
 */
export const RUNTIME_DEPS: readonly string[] = [
  'munge',
  'json-c',
  'curl',
  'openssl',
  'lz4',
  'zlib-ng',
  'readline',
  'hwloc',
  'pmix@:5',
  'http-parser',
  'libyaml',
  'libjwt',
  'mariadb-c-client',
  'dbus',
  'linux-pam',
  'lua',
];
/**
 * Variants of Slurm's dependencies that Slurm does not use and that would only fatten its DAG: required in
 * every environment (`packages: NAME: require:`), so the deps and slurm stages agree. hwloc's libxml2 (hwloc
 * reads and writes its XML topologies with its own minimal parser; Slurm uses none), curl's nghttp2 (Slurm's
 * HTTP clients, influxdb and elasticsearch, speak HTTP/1.1), expat's libbsd (arc4random for hash salts;
 * glibc's getrandom serves). The overlay recipes (spack/repos) drop what a variant cannot: dbus's glib, X11
 * and docs, linux-pam's libtirpc, mariadb-c-client's krb5, curl and pcre, munge's libgcrypt.
 */
export const PACKAGE_REQUIREMENTS: Readonly<Record<string, string>> = {
  hwloc: '~libxml2',
  curl: '~nghttp2',
  expat: '~libbsd',
};
/** Extra build dependencies of the GPU flavour (+nvml: cuda, +rsmi: rocm-smi-lib); kept out of the view. */
export const GPU_DEPS: readonly string[] = ['cuda', 'rocm-smi-lib'];

/** Variants of the slurm recipe the package is built with; GPU adds `+nvml +rsmi`; the overlay recipe adds `+lua`. */
export const SLURM_VARIANTS: readonly string[] = [
  '+pmix',
  '+hwloc',
  '+restd',
  '+cgroup',
  '+pam',
  '+readline',
  '+mariadb',
];
export const SLURM_OVERLAY_VARIANTS: readonly string[] = ['+lua'];
/** The project's own Spack repository, inside the image; listed before the builtin one when a release uses it. */
export const OVERLAY_REPO = {
  namespace: 'slurm_factory',
  path: '/opt/slurm-factory/spack-repos/spack_repo/slurm_factory',
} as const;
export const SLURM_GPU_VARIANTS: readonly string[] = ['+nvml', '+rsmi'];

export function slurmSeriesList(): string[] {
  return SLURM_RELEASES.map((r) => r.series);
}
export function gccVersionList(): string[] {
  return GCC_TOOLCHAINS.map((g) => g.version);
}
export function osNameList(): string[] {
  return OS_TARGETS.map((o) => o.name);
}
export function findOs(name: string): OsTarget | undefined {
  return OS_TARGETS.find((o) => o.name === name);
}

/**
 * Build-only tools: taken from the base image and registered in the spack stage as non-buildable externals
 * (`spack external find --not-buildable`), so they are never built from source and never reach the package.
 * Each is installed by BASE_PACKAGES for both families (Spack package name -> apt / dnf package):
 * cmake, python (python3), perl, meson, ninja (ninja-build), autoconf, automake, libtool, m4,
 * pkgconf (pkgconf / pkgconf-pkg-config), bison, flex, gmake (make).
 */
export const BUILD_TOOL_EXTERNALS: readonly string[] = [
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
];

/**
 * What the base stage installs: a host compiler, Spack's own requirements (python3, git, patch, archivers,
 * gnupg), and the package stage's tools (patchelf, file, binutils, Lmod to check the module); on apt, ccache
 * (Spack's config:ccache; a build-only tool, never in the package).
 */
export const BASE_PACKAGES: Record<'apt' | 'dnf', readonly string[]> = {
  apt: [
    'build-essential',
    'gfortran',
    'python3',
    'git',
    'curl',
    'ca-certificates',
    'patch',
    'file',
    'patchelf',
    'binutils',
    'unzip',
    'xz-utils',
    'bzip2',
    'zstd',
    'gnupg',
    'lmod',
    'procps',
    'findutils',
    'cmake',
    'perl',
    'meson',
    'ninja-build',
    'autoconf',
    'automake',
    'libtool',
    'm4',
    'pkgconf',
    'bison',
    'flex',
    'make',
    'ccache',
  ],
  dnf: [
    'gcc',
    'gcc-c++',
    'gcc-gfortran',
    'make',
    'python3',
    'git',
    'ca-certificates',
    'patch',
    'file',
    'patchelf',
    'binutils',
    'unzip',
    'xz',
    'bzip2',
    'zstd',
    'gnupg2',
    'Lmod',
    'procps-ng',
    'findutils',
    'diffutils',
    'which',
    'tar',
    'gzip',
    'cmake',
    'perl',
    'meson',
    'ninja-build',
    'autoconf',
    'automake',
    'libtool',
    'm4',
    'pkgconf-pkg-config',
    'bison',
    'flex',
  ],
};

/**
 * A file the package's view must contain, and the configure check that drops it when its library is missing
 * (what to look for in Spack's build log). `path` is relative to the view; a `*` matches any characters within
 * one name (the data_parser version moves with every Slurm release). `links`: the file must also link a
 * library whose soname starts with this.
 */
export interface RequiredPlugin {
  path: string;
  configure: string;
  links?: string;
}

/** Whether the builtin slurm recipe's dependencies (RUNTIME_DEPS) include Lua, which job_submit/lua needs. */
export const RECIPE_HAS_LUA = RUNTIME_DEPS.some((d) => /^lua(@|$|-)/.test(d));

/**
 * What every build of a flavour must contain (SLURM_VARIANTS and RUNTIME_DEPS above are why): the package stage
 * fails naming the first missing one and its configure check, and `verify` dlopens all of lib/slurm.
 */
export function requiredPlugins(flavour: Flavour, opts: { lua?: boolean; arch?: string } = {}): RequiredPlugin[] {
  const lua = opts.lua ?? RECIPE_HAS_LUA;
  const cpu: RequiredPlugin[] = [
    {
      path: 'lib/slurm/accounting_storage_mysql.so',
      configure: '--with-mysql_config (MariaDB/MySQL client, +mariadb)',
    },
    { path: 'lib/slurm/auth_jwt.so', configure: '--with-jwt (libjwt, +restd)' },
    { path: 'lib/slurm/auth_munge.so', configure: '--with-munge (munge)' },
    { path: 'lib/slurm/mpi_pmix*.so', configure: '--with-pmix (pmix, +pmix)' },
    { path: 'lib/slurm/cgroup_v2.so', configure: 'dbus-1 found by pkg-config (dbus, +cgroup)' },
    { path: 'lib/slurm/task_affinity.so', configure: 'sched_setaffinity (always on Linux)' },
    { path: 'sbin/slurmd', configure: '--with-hwloc (hwloc, +hwloc)', links: 'libhwloc.so' },
    { path: 'lib/slurm/serializer_json.so', configure: '--with-json (json-c)' },
    { path: 'lib/slurm/serializer_yaml.so', configure: '--with-yaml (libyaml, +restd)' },
    { path: 'sbin/slurmrestd', configure: '--enable-slurmrestd with --with-http-parser (http-parser, +restd)' },
    { path: 'lib/slurm/rest_auth_jwt.so', configure: '--enable-slurmrestd with --with-jwt (+restd)' },
    { path: 'lib/slurm/openapi_slurmctld.so', configure: '--enable-slurmrestd (+restd)' },
    { path: 'lib/slurm/openapi_slurmdbd.so', configure: '--enable-slurmrestd (+restd)' },
    { path: 'lib/slurm/data_parser_v0*.so', configure: '--enable-slurmrestd with --with-json (+restd)' },
    { path: 'sbin/slurmdbd', configure: '--with-mysql_config (+mariadb)' },
  ];
  if (lua) {
    cpu.push(
      { path: 'lib/slurm/job_submit_lua.so', configure: 'lua found by pkg-config (lua)' },
      { path: 'lib/slurm/cli_filter_lua.so', configure: 'lua found by pkg-config (lua)' },
    );
  }
  if (flavour === 'cpu') return cpu;
  const gpu = (findArch(opts.arch ?? DEFAULT_ARCH) ?? ARCHITECTURES[0]!).gpu.plugins;
  return [
    ...cpu,
    ...[
      { path: 'lib/slurm/gpu_nvml.so', configure: '--with-nvml (cuda, +nvml)' },
      { path: 'lib/slurm/gpu_rsmi.so', configure: '--with-rsmi (rocm-smi-lib, +rsmi)' },
    ].filter((p) => gpu.some((g) => p.path === `lib/slurm/${g}.so`)),
  ];
}
