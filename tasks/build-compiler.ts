import type { Task } from './lib/task.ts';
import { parseArgs } from './lib/args.ts';
import { DEFAULT_SLURM } from './lib/catalog.ts';
import { hostCacheContexts, logFile, resolveConfig } from './lib/config.ts';
import { BuildError, ConfigurationError } from './lib/errors.ts';
import { planBuild } from './lib/plan.ts';
import { ensureBuildContext, repoRoot } from './lib/render.ts';
import { buildxArgs, parseContexts, progressMode, shellQuote, sourceDateEpoch } from './lib/buildx.ts';
import { requireDocker } from './lib/docker.ts';
import { runBuildx, withScratchDir } from './lib/build-run.ts';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';

export const task: Task = {
  name: 'build-compiler',
  summary: 'Build only the compiler stage: GCC, gcc-runtime and binutils into the binary cache',
  usage: 'build-compiler <gcc> [--os N | --base-image I] [--tarball] [--print]',
  example: 'npx zx Taskfile.ts build-compiler 10.5.0 --tarball',
  details: `  <gcc>              a catalog GCC that the base image does not already have (see 'list')
  --os NAME          target distro (its glibc is the floor of everything built with this GCC)
  --base-image IMG   build on this image; --os names its family
  --tarball          also write ~/.slurm-factory/compilers/<gcc>/gcc-<gcc>-compiler.tar.gz (a Spack binary mirror)
  --context N=SRC    replace an input stage, as for build (repeatable)
  --builder NAME     any buildx builder
  --progress MODE    auto, plain, tty or rawjson (default plain)
  --print            print the docker buildx command and build nothing`,
  async run(argv) {
    const args = parseArgs('build-compiler', argv, {
      string: ['os', 'base-image', 'builder', 'progress'], list: ['context'], boolean: ['tarball', 'print'],
      positionals: ['gcc'],
    });
    const plan = planBuild({ slurm: DEFAULT_SLURM, gcc: args.positionals.gcc, os: args.strings.os, baseImage: args.strings['base-image'] });
    if (plan.gcc.source === 'system') {
      throw new ConfigurationError(`GCC ${plan.gcc.version} is the system compiler of ${plan.os.name}: there is nothing to build`, {
        remediation: `build with it directly ('build <slurm> --gcc ${args.positionals.gcc} --os ${plan.os.name}'), or pick another --os`,
      });
    }
    const progress = progressMode(args.strings.progress);
    const contexts = parseContexts(args.lists.context ?? []);
    if (!args.flags.print) await requireDocker(args.strings.builder);
    const config = resolveConfig();
    const contextDir = join(repoRoot, plan.contextDir);
    ensureBuildContext(contextDir, plan);
    const outDir = join(config.home, 'compilers', plan.gcc.version + plan.arch.suffix);
    const tmp = args.flags.tarball ? join(config.home, 'compilers', `.tmp-${plan.gcc.version}-${process.pid}`) : undefined;
    const bx = buildxArgs({
      contextDir, dockerfile: join(contextDir, 'Dockerfile'),
      target: args.flags.tarball ? 'compiler-export' : 'compiler',
      exportDir: tmp, tag: tmp ? undefined : plan.compilerTag,
      contexts: { ...hostCacheContexts(config, plan.cacheKey, !args.flags.print), ...contexts },
      progress, builder: args.strings.builder, sourceDateEpoch: sourceDateEpoch(repoRoot), platform: plan.arch.platform,
    });
    if (args.flags.print) {
      console.log(`docker ${shellQuote(bx)}`);
      return 0;
    }
    const logPath = logFile(config, `compiler-${plan.gcc.version}`);
    return withScratchDir(tmp, async () => {
      await runBuildx(bx, logPath, { tty: progress === 'tty' });
      if (!tmp) {
        console.log(`built ${plan.compilerTag} (log: ${logPath})`);
        return 0;
      }
      const name = `gcc-${plan.gcc.version}-compiler.tar.gz`;
      if (!existsSync(join(tmp, name))) throw new BuildError(`the export has no ${name}`, { remediation: `see ${logPath}` });
      mkdirSync(outDir, { recursive: true });
      renameSync(join(tmp, `${name}.sha256`), join(outDir, `${name}.sha256`));
      renameSync(join(tmp, name), join(outDir, name));
      console.log(`wrote ${join(outDir, name)} (log: ${logPath})`);
      return 0;
    });
  },
};
