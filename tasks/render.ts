import type { Task } from './lib/task.ts';
import { parseArgs } from './lib/args.ts';
import { DEFAULT_SLURM } from './lib/catalog.ts';
import { PLAN_ARGS, PLAN_ARGS_HELP, planOptions } from './lib/plan-options.ts';
import { planBuild } from './lib/plan.ts';
import { renderBuildContext, repoRoot } from './lib/render.ts';
import { writeBuildContext } from './lib/writer.ts';
import { checkpoint } from './lib/interrupt.ts';
import { checkUserDir } from './lib/userdir.ts';
import { isAbsolute, join, relative } from 'node:path';

export const task: Task = {
  name: 'render',
  summary: 'Write the build context (Dockerfile, spack.yaml files, package files) for one build',
  usage: 'render <slurm> [--gcc X] [--gpu] [--os N | --base-image I] [--out DIR] [--force]',
  example: 'npx zx Taskfile.ts render 25.11 --gcc 13.4.0',
  details: `${PLAN_ARGS_HELP}
  --out DIR          where to write (default dockerfiles/slurm-<slurm>-gcc<gcc>[-gpu]/)
  --force            replace files that were edited by hand`,
  async run(argv) {
    const args = parseArgs('render', argv, {
      string: [...PLAN_ARGS.string, 'out'], list: PLAN_ARGS.list, boolean: [...PLAN_ARGS.boolean, 'force'],
      positionals: ['slurm?'],
    });
    const plan = planBuild(planOptions(args.positionals.slurm ?? DEFAULT_SLURM, args));
    const out = args.strings.out ?? join(repoRoot, plan.contextDir);
    const dir = isAbsolute(out) ? out : join(process.cwd(), out);
    const source = { what: args.strings.out !== undefined ? '--out' : 'the output directory', given: out };
    // Before rendering: a bad --out is reported at once, not after the work.
    checkUserDir(dir, source);
    const files = renderBuildContext(plan);
    // Ctrl-C while rendering stops here, before anything is written.
    await checkpoint();
    writeBuildContext(dir, files, { force: args.flags.force, source });
    console.log(plan.resolvedSlurmNote);
    console.log(`GCC ${plan.gcc.version} (${plan.gcc.source === 'system' ? `the system compiler of ${plan.os.name}` : `built by Spack on ${plan.os.name}`}), base image ${plan.baseImage}, glibc floor ${plan.os.glibc}, ${plan.flavour}`);
    console.log(`wrote ${files.length} files to ${relative(process.cwd(), dir) || '.'}`);
    console.log(`build it: docker buildx build --target export --output type=local,dest=out ${relative(process.cwd(), dir) || '.'}`);
    return 0;
  },
};
