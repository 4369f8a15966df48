/**
 * What the `package` stage needs to know about a build, written into the build context as
 * `package/build-info.json` and used to render the module and Slurm assets. Derived from the BuildPlan.
 */
import type { PACKAGE_SIDECARS } from './artifacts.ts';

export interface PackageInputs {
  /** `25.11` */
  slurmSeries: string;
  /** `25.11.6`: the exact upstream release the catalog builds. */
  slurmRelease: string;
  /** `25-11-6-1`: Spack's version name. */
  slurmSpackVersion: string;
  /** `13.4.0`: the GCC that builds everything (the system GCC's version for `--gcc system`). */
  gcc: string;
  /** `spack`: GCC bootstrapped by Spack in the compiler stage; `system`: the base image's own GCC. */
  compilerSource: 'spack' | 'system';
  flavour: 'cpu' | 'gpu';
  /** Target OS name from the catalog, e.g. `ubuntu24.04`. */
  os: string;
  osFamily: 'debian' | 'rhel';
  /** The image the build stages start from. */
  baseImage: string;
  /** glibc of that image as the catalog knows it (the package stage measures the real floor). */
  imageGlibc: string;
  spackVersion: string;
  spackCommit: string;
  builtinRepoCommit: string;
  /** `slurm-25.11-gcc13.4.0-software.tar.gz` */
  tarballName: string;
  /** Names of the side files the package stage writes beside the tarball (artifacts.ts PACKAGE_SIDECARS). */
  sidecars: Record<(typeof PACKAGE_SIDECARS)[number], string>;
  /** `slurm/25.11-gcc13.4.0` (the modulefile is `modules/<moduleName>.lua`). */
  moduleName: string;
  /** Slurm >= 24.05 accepts `CgroupPlugin=disabled`. */
  cgroupDisabledSupported: boolean;
  /** Files the view must contain (catalog `requiredPlugins`): the package stage's plugin manifest checks them. */
  requiredPlugins: { path: string; configure: string; links?: string }[];
  /** `x86_64` or `aarch64`: the package stage checks every ELF file is built for it; the manifest records it (absent: x86_64). */
  arch?: 'x86_64' | 'aarch64';
}
