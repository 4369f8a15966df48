import { defineTask } from './lib/task.ts';
import { DEFAULT_SLURM } from './lib/catalog.ts';
import {
  ensureCacheDir,
  ensureHostCaches,
  hostCacheContexts,
  logFilePath,
  resolveConfig,
  sourceDateEpoch,
} from './lib/config.ts';
import { BuildError, ConfigurationError } from './lib/errors.ts';
import { planBuild } from './lib/plan.ts';
import { repoRoot } from './lib/render.ts';
import { ensureBuildContext } from './lib/writer.ts';
import { buildxArgs, parseContexts, PROGRESS_MODES, shellQuote } from './lib/buildx.ts';
import { ARCH_OPTION, TARGET_OPTIONS } from './lib/plan-options.ts';
import { requireDocker } from './lib/docker.ts';
import { moveCompilerExport, runBuildx, withScratchDir } from './lib/build-run.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const task = defineTask({
  name: 'build-compiler',
  summary: 'Build only the compiler stage: GCC, gcc-runtime and binutils into the binary cache',
  usage: 'build-compiler <gcc> [--os N | --base-image I] [--arch A] [--jobs N] [--mirror URL] [--tarball] [--print]',
  example: 'npx zx Taskfile.ts build-compiler 10.5.0 --tarball',
  positionals: [{ name: 'gcc', help: "a catalog GCC that the base image does not already have (see 'list')" }],
  options: {
    os: { ...TARGET_OPTIONS.os, help: 'target distro (its glibc is the floor of everything built with this GCC)' },
    'base-image': { ...TARGET_OPTIONS['base-image'], help: 'build on this image; --os names its family' },
    arch: ARCH_OPTION,
    jobs: TARGET_OPTIONS.jobs,
    mirror: TARGET_OPTIONS.mirror,
    tarball: {
      type: 'boolean',
      help: 'also write ~/.slurm-factory/compilers/<gcc>/gcc-<gcc>-compiler.tar.gz (a Spack binary mirror)',
    },
    context: { type: 'list', arg: 'N=SRC', help: 'replace an input stage, as for build (repeatable)' },
    builder: { type: 'string', arg: 'NAME', help: 'any buildx builder' },
    progress: {
      type: 'choice',
      choices: PROGRESS_MODES,
      default: 'plain',
      noun: 'progress mode',
      help: 'auto, plain, tty or rawjson (default plain)',
    },
    print: { type: 'boolean', help: 'print the docker buildx command and build nothing' },
  },
  async run({ opts, pos }) {
    const plan = planBuild({
      slurm: DEFAULT_SLURM,
      gcc: pos.gcc,
      os: opts.os,
      baseImage: opts['base-image'],
      jobs: opts.jobs,
      mirrors: opts.mirror,
      arch: opts.arch,
    });
    if (plan.gcc.source === 'system') {
      throw new ConfigurationError(
        `GCC ${plan.gcc.version} is the system compiler of ${plan.os.name}: there is nothing to build`,
        {
          remediation: `build with it directly ('build <slurm> --gcc ${pos.gcc} --os ${plan.os.name}'), or pick another --os`,
        },
      );
    }
    const progress = opts.progress;
    const contexts = parseContexts(opts.context);
    if (!opts.print) await requireDocker(opts.builder);
    const config = resolveConfig();
    const epoch = sourceDateEpoch(config, repoRoot);
    const contextDir = join(repoRoot, plan.contextDir);
    ensureBuildContext(contextDir, plan);
    const compiler = plan.compilerArtifacts!;
    const outDir = join(config.home, compiler.dir);
    const tmp = opts.tarball ? join(config.home, 'compilers', `.tmp-${plan.gcc.version}-${process.pid}`) : undefined;
    const bx = buildxArgs({
      contextDir,
      dockerfile: join(contextDir, 'Dockerfile'),
      target: opts.tarball ? 'compiler-export' : 'compiler',
      exportDir: tmp,
      tag: tmp ? undefined : plan.compilerTag,
      contexts: { ...hostCacheContexts(config, plan.cacheKey), ...contexts },
      progress,
      builder: opts.builder,
      sourceDateEpoch: epoch,
      platform: plan.arch.platform,
    });
    if (opts.print) {
      console.log(`docker ${shellQuote(bx)}`);
      return 0;
    }
    ensureHostCaches(config, plan.cacheKey);
    ensureCacheDir(config, 'logs');
    const logPath = logFilePath(config, `compiler-${plan.gcc.version}`);
    return withScratchDir(tmp, async () => {
      await runBuildx(bx, logPath, { tty: progress === 'tty' });
      if (!tmp) {
        console.log(`built ${plan.compilerTag} (log: ${logPath})`);
        return 0;
      }
      const { tarball } = compiler;
      if (!existsSync(join(tmp, tarball)))
        throw new BuildError(`the export has no ${tarball}`, { remediation: `see ${logPath}` });
      moveCompilerExport(tmp, outDir, compiler);
      console.log(`wrote ${join(outDir, tarball)} (log: ${logPath})`);
      return 0;
    });
  },
});
