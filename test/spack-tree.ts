/**
 * Test fixture: a small Spack-like installation compiled with the real gcc. Three install prefixes in a padded
 * install tree (one, like an external or a custom projection, without a hash in its path: only specs.json's
 * "prefix" names it), binaries with absolute RPATHs into those prefixes (and into a build stage that no longer
 * exists), a Slurm-like `lib/slurm` with libslurmfull.so and a plugin that dlopens a library by bare name, and a
 * hardlinked view behind a symlink, as `spack env view` makes it. Sources are in test/fixtures/relocate/.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, linkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { renderPackageFiles } from '../tasks/lib/package-files.ts';
import type { PackageInputs } from '../tasks/lib/package-inputs.ts';
import { PACKAGE_SIDECARS, sidecarOf } from '../tasks/lib/artifacts.ts';
import { repoRoot } from './helpers.ts';

const src = join(repoRoot, 'test/fixtures/relocate');

/** A deterministic Spack-style hash: 32 characters of base32 (a-z, 2-7). */
export function spackHash(seed: string): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const bytes = createHash('sha256').update(seed).digest();
  let out = '';
  for (let i = 0; i < 32; i++) out += alphabet[bytes[i]! % 32];
  return out;
}

export interface SpackTree {
  root: string;
  installRoot: string;
  prefixes: { dep: string; pmix: string; slurm: string };
  /** The symlink `spack env view` creates (`<root>/opt/slurm/view`). */
  viewLink: string;
  /** The real view directory it points to. */
  view: string;
  specsFile: string;
  /** The same specs, each with its install prefix, as the slurm stage's scripts/spack/specs-json.py writes
   * them: what the package stage (its SBOM step) needs. specsFile is plain `spack find --json` (no prefixes). */
  packageSpecsFile: string;
  /** Expected output of `bin/scontrol <view>/lib/slurm`. */
  expectedOutput: string;
}

function gcc(args: string[]) {
  execFileSync('gcc', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function buildSpackTree(root: string, opts: { needsGlibc236?: boolean } = {}): SpackTree {
  const installRoot = join(
    root,
    'spack-root/__spack_path_placeholder__/__spack_path_placeholder__/__spack_p/linux-x86_64',
  );
  const h = { dep: spackHash('libdep'), slurm: spackHash('slurm'), pmix: spackHash('pmixlike'), gcc: spackHash('gcc') };
  const dep = join(installRoot, `libdep-1.0-${h.dep}`);
  const slurm = join(installRoot, `slurm-24-11-5-1-${h.slurm}`);
  const pmix = join(root, 'spack-root/custom/pmixlike');
  const stageDir = join(root, 'spack-stage/spack-stage-slurm-24-11-5-1/spack-build/src/.libs');
  for (const d of [
    `${dep}/lib/pkgconfig`,
    `${dep}/include`,
    `${dep}/share/doc/libdep`,
    `${pmix}/lib`,
    `${slurm}/bin`,
    `${slurm}/sbin`,
    `${slurm}/lib/slurm`,
    `${slurm}/lib/pkgconfig`,
    `${slurm}/include/slurm`,
    `${slurm}/share/man/man1`,
    `${slurm}/libexec/slurm`,
  ])
    mkdirSync(d, { recursive: true });

  // libdep: versioned soname, symlinks, header, pkg-config, static and libtool archives, docs.
  gcc(['-shared', '-fPIC', '-Wl,-soname,libdep.so.1', '-o', `${dep}/lib/libdep.so.1.0`, `${src}/dep.c`]);
  symlinkSync('libdep.so.1.0', `${dep}/lib/libdep.so.1`);
  symlinkSync('libdep.so.1', `${dep}/lib/libdep.so`);
  gcc(['-c', '-fPIC', '-o', `${root}/dep.o`, `${src}/dep.c`]);
  execFileSync('ar', ['rcs', `${dep}/lib/libdep.a`, `${root}/dep.o`]);
  writeFileSync(`${dep}/lib/libdep.la`, `libdir='${dep}/lib'\ndlname='libdep.so.1'\n`);
  copyFileSync(`${src}/dep.h`, `${dep}/include/dep.h`);
  writeFileSync(
    `${dep}/lib/pkgconfig/dep.pc`,
    `prefix=${dep}\nlibdir=\${prefix}/lib\nincludedir=\${prefix}/include\n\nName: dep\nDescription: test dependency\n` +
      `Version: 1.0\nLibs: -L\${libdir} -Wl,-rpath,${dep}/lib -ldep\nCflags: -I\${includedir}\n`,
  );
  writeFileSync(`${dep}/share/doc/libdep/README`, 'documentation that the package drops\n');

  // pmixlike: only dlopen'ed, in a prefix without a hash in its path.
  gcc(['-shared', '-fPIC', '-Wl,-soname,libpmixlike.so.2', '-o', `${pmix}/lib/libpmixlike.so.2`, `${src}/pmixlike.c`]);

  // Slurm: libslurmfull.so in lib/slurm with an absolute rpath to $libdir/slurm, a plugin, commands.
  gcc([
    '-shared',
    '-fPIC',
    '-o',
    `${slurm}/lib/slurm/libslurmfull.so`,
    `${src}/slurmfull.c`,
    `-I${dep}/include`,
    `-L${dep}/lib`,
    '-ldep',
    `-Wl,-rpath,${dep}/lib`,
    `-Wl,-rpath,${slurm}/lib/slurm`,
  ]);
  gcc([
    '-shared',
    '-fPIC',
    '-o',
    `${slurm}/lib/slurm/plugin_a.so`,
    `${src}/plugin.c`,
    `-L${slurm}/lib/slurm`,
    '-lslurmfull',
    `-Wl,-rpath,${slurm}/lib/slurm`,
    `-Wl,-rpath,${pmix}/lib`,
    '-ldl',
  ]);
  const define = opts.needsGlibc236 ? ['-DNEEDS_GLIBC_2_36'] : [];
  // scontrol carries an old-style DT_RPATH (Spack's wrapper can emit either) with a build-stage entry.
  gcc([
    ...define,
    '-o',
    `${slurm}/bin/scontrol`,
    `${src}/scontrol.c`,
    `-L${slurm}/lib/slurm`,
    '-lslurmfull',
    '-ldl',
    '-Wl,--disable-new-dtags',
    `-Wl,-rpath,${slurm}/lib/slurm`,
    `-Wl,-rpath,${stageDir}`,
  ]);
  gcc([
    '-o',
    `${slurm}/sbin/slurmd`,
    `${src}/scontrol.c`,
    `-L${slurm}/lib/slurm`,
    '-lslurmfull',
    '-ldl',
    `-Wl,-rpath,${slurm}/lib/slurm`,
  ]);
  linkSync(`${slurm}/bin/scontrol`, `${slurm}/bin/scontrol-hardlink`); // same directory: stays one inode
  linkSync(`${slurm}/bin/scontrol`, `${slurm}/libexec/slurm/scontrol-deep`); // other depth: needs its own copy
  symlinkSync(`${slurm}/bin/scontrol`, `${slurm}/bin/scontrol-abs-link`);
  writeFileSync(`${slurm}/include/slurm/slurm.h`, '#define SLURM_VERSION_STRING "24.11.5"\n');
  writeFileSync(
    `${slurm}/lib/pkgconfig/slurm.pc`,
    `prefix=${slurm}\nlibdir=\${prefix}/lib\nincludedir=\${prefix}/include\n\nName: slurm\nDescription: Slurm API\n` +
      `Version: 24.11.5\nLibs: -L\${libdir} -Wl,-rpath,${slurm}/lib/slurm -lslurmfull\nCflags: -I\${includedir}\n`,
  );
  writeFileSync(`${slurm}/share/man/man1/scontrol.1`, '.TH scontrol 1\n');

  // The view: hardlinks of every prefix merged, behind a symlink.
  const view = join(root, 'opt/slurm/._view', spackHash('view'));
  mkdirSync(view, { recursive: true });
  for (const p of [dep, pmix, slurm]) execFileSync('cp', ['-al', `${p}/.`, `${view}/`]);
  const viewLink = join(root, 'opt/slurm/view');
  symlinkSync(`._view/${spackHash('view')}`, viewLink);

  const specs = [
    {
      name: 'slurm',
      version: '24-11-5-1',
      hash: h.slurm,
      namespace: 'builtin',
      arch: { platform: 'linux', platform_os: 'debian12', target: { name: 'x86_64' } },
      dependencies: [
        { name: 'libdep', hash: h.dep, parameters: { deptypes: ['build', 'link'], virtuals: [] } },
        { name: 'gcc', hash: h.gcc, parameters: { deptypes: ['build'], virtuals: ['c', 'cxx'] } },
      ],
    },
    { name: 'libdep', version: '1.0', hash: h.dep, namespace: 'builtin' },
    { name: 'pmixlike', version: '2.0', hash: h.pmix, prefix: pmix },
    { name: 'gcc', version: '12.2.0', hash: h.gcc, external: { path: '/usr', module: null } },
  ];
  const specsFile = join(root, 'specs.json');
  writeFileSync(specsFile, JSON.stringify(specs, null, 2));
  const prefixOf: Record<string, string> = { [h.slurm]: slurm, [h.dep]: dep, [h.pmix]: pmix };
  const packageSpecsFile = join(root, 'specs-with-prefixes.json');
  writeFileSync(
    packageSpecsFile,
    JSON.stringify(
      specs.map((s) => (prefixOf[s.hash] ? { ...s, prefix: prefixOf[s.hash] } : s)),
      null,
      2,
    ),
  );
  return {
    root,
    installRoot,
    prefixes: { dep, pmix, slurm },
    viewLink,
    view,
    specsFile,
    packageSpecsFile,
    expectedOutput: 'version=24.11.5 dep=42\nplugin=4207\n',
  };
}

/** PackageInputs for the fixture's Slurm (24.11.5 here; `series: '23.11'` for the cgroup variant). */
export function sampleInputs(
  over: Partial<PackageInputs> & { series?: '23.11' | '24.11' | '25.11' } = {},
): PackageInputs {
  const series = over.series ?? '24.11';
  const release = { '23.11': '23.11.11', '24.11': '24.11.5', '25.11': '25.11.6' }[series];
  const { series: _ignored, ...rest } = over;
  const tarballName = over.tarballName ?? `slurm-${series}-gcc12.2.0-software.tar.gz`;
  return {
    slurmSeries: series,
    slurmRelease: release,
    slurmSpackVersion: `${release.replace(/\./g, '-')}-1`,
    gcc: '12.2.0',
    compilerSource: 'system',
    flavour: 'cpu',
    os: 'debian12',
    osFamily: 'debian',
    baseImage: 'debian:12',
    imageGlibc: '2.36',
    spackVersion: '1.0.2',
    spackCommit: '0123456789abcdef0123456789abcdef01234567',
    builtinRepoCommit: '1e8cf059e35d55c4fe1142fed41785bedf6c7246',
    tarballName,
    sidecars: Object.fromEntries(
      PACKAGE_SIDECARS.map((s) => [s, sidecarOf(tarballName, s)]),
    ) as PackageInputs['sidecars'],
    moduleName: `slurm/${series}-gcc12.2.0`,
    cgroupDisabledSupported: series !== '23.11',
    requiredPlugins: [],
    ...rest,
  };
}

/** Writes renderPackageFiles(inputs) under dir (the build context's package/ directory), with modes. */
export function writePackageDir(dir: string, inputs: PackageInputs): void {
  for (const f of renderPackageFiles(inputs)) {
    const p = join(dir, f.path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.content);
    chmodSync(p, f.mode);
  }
}

export const packageScript = (name: string) => join(repoRoot, 'scripts/package', name);

/**
 * Runs the package stage's package-view.sh on a fake Spack tree, as the Dockerfile's package stage does, with a
 * package directory written by writePackageDir and no signing key; never throws.
 */
export function runPackageView(o: {
  pkg: string;
  tree: SpackTree;
  out: string;
  gpgKey: string;
  args?: string[];
  env?: Record<string, string>;
}) {
  return bash(
    join(o.pkg, 'scripts/package-view.sh'),
    [
      '--build-info',
      join(o.pkg, 'build-info.json'),
      '--view',
      o.tree.viewLink,
      '--specs',
      o.tree.packageSpecsFile,
      '--assets',
      join(o.pkg, 'assets'),
      '--out',
      o.out,
      '--gpg-key',
      o.gpgKey,
      ...(o.args ?? []),
    ],
    { env: { SOURCE_DATE_EPOCH: '1700000000', SIGNING_KEY_FINGERPRINT: '', ...o.env } },
  );
}

/** Runs `bash script args...`, never throwing. */
export function bash(
  script: string,
  args: string[],
  opts: { env?: Record<string, string | undefined>; cwd?: string } = {},
) {
  const r = spawnSync('bash', [script, ...args], {
    encoding: 'utf8',
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    timeout: 600_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, output: `${r.stdout}${r.stderr}` };
}
