/** The options every task that makes a BuildPlan shares (render, build, build-compiler, bake), declared once. */
import type { OptionSpecs, OptionValues } from './args.ts';
import type { BuildOptions } from './plan.ts';

/** What chooses the toolchain and target: every task that plans a build takes these. */
export const TARGET_OPTIONS = {
  os: {
    type: 'string',
    arg: 'NAME',
    help: 'target distro (ubuntu22.04, ubuntu24.04, rockylinux8/9/10, debian12/13); its glibc is the floor',
  },
  'base-image': {
    type: 'string',
    arg: 'IMG',
    help: 'build on this image instead (internal registry, local image); --os names its family',
  },
  jobs: {
    type: 'integer',
    min: 1,
    max: 1024,
    help: 'parallel compile jobs inside the build (default: every CPU of the builder)',
    hint: 'give the number of parallel compile jobs, e.g. --jobs 8, or leave it out to use every CPU',
  },
  mirror: { type: 'list', arg: 'URL', help: 'extra Spack binary mirror, signatures checked (repeatable)' },
} as const satisfies OptionSpecs;

/** The architecture of one build (bake and ci-matrix take a list instead). */
export const ARCH_OPTION = {
  type: 'string',
  arg: 'A',
  help: 'CPU architecture: x86_64 (default) or aarch64 (arm64; emulated on an x86_64 builder)',
} as const;

/** The plan options of one build: the toolchain, the flavour and the target. */
export const PLAN_OPTIONS = {
  gcc: {
    type: 'string',
    arg: 'X',
    help: "GCC toolchain from the catalog, or 'system' for the base image's own (default 13.4.0)",
  },
  gpu: {
    type: 'boolean',
    help: 'GPU flavour: Slurm with NVML and RSMI support (drivers come from the host; aarch64: NVML only)',
  },
  arch: ARCH_OPTION,
  ...TARGET_OPTIONS,
} as const satisfies OptionSpecs;

export function planOptions(slurm: string, o: OptionValues<typeof PLAN_OPTIONS>): BuildOptions {
  return {
    slurm,
    gcc: o.gcc,
    gpu: o.gpu,
    os: o.os,
    baseImage: o['base-image'],
    jobs: o.jobs,
    mirrors: o.mirror,
    arch: o.arch,
  };
}
