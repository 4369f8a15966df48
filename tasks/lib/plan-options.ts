/** The options every task that makes a BuildPlan shares (render, build, build-compiler, bake). */
import type { ArgSpec, ParsedArgs } from './args.ts';
import { ConfigurationError } from './errors.ts';
import type { BuildOptions } from './plan.ts';

export const PLAN_ARGS = {
  string: ['gcc', 'os', 'base-image', 'jobs', 'arch'],
  list: ['mirror'],
  boolean: ['gpu'],
} as const satisfies ArgSpec;

export const PLAN_ARGS_HELP = `
  --gcc X            GCC toolchain from the catalog, or 'system' for the base image's own (default 13.4.0)
  --gpu              GPU flavour: Slurm with NVML and RSMI support (drivers come from the host; aarch64: NVML only)
  --arch A           CPU architecture: x86_64 (default) or aarch64 (arm64; emulated on an x86_64 builder)
  --os NAME          target distro (ubuntu22.04, ubuntu24.04, rockylinux8/9/10, debian12/13); its glibc is the floor
  --base-image IMG   build on this image instead (internal registry, local image); --os names its family
  --jobs N           parallel compile jobs inside the build (default: every CPU of the builder)
  --mirror URL       extra Spack binary mirror, signatures checked (repeatable)`;

export function planOptions(slurm: string, args: ParsedArgs): BuildOptions {
  const jobsText = args.strings.jobs;
  let jobs: number | undefined;
  if (jobsText !== undefined) {
    if (!/^\d+$/.test(jobsText)) {
      throw new ConfigurationError(`--jobs '${jobsText}' is not a whole number`, {
        remediation: 'give the number of parallel compile jobs, e.g. --jobs 8',
      });
    }
    jobs = Number(jobsText);
  }
  return {
    slurm,
    gcc: args.strings.gcc,
    gpu: args.flags.gpu,
    os: args.strings.os,
    baseImage: args.strings['base-image'],
    jobs,
    mirrors: args.lists.mirror,
    arch: args.strings.arch,
  };
}
