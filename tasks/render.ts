import { defineTask } from './lib/task.ts';
import { DEFAULT_SLURM } from './lib/catalog.ts';
import { PLAN_OPTIONS, planOptions } from './lib/plan-options.ts';
import { planBuild } from './lib/plan.ts';
import { renderBuildContext, repoRoot } from './lib/render.ts';
import { writeBuildContext } from './lib/writer.ts';
import { checkpoint } from './lib/interrupt.ts';
import { checkUserDir } from './lib/userdir.ts';
import { isAbsolute, join, relative } from 'node:path';

export const task = defineTask({
  name: 'render',
  summary: 'Write the build context (Dockerfile, spack.yaml files, package files) for one build',
  usage: 'render <slurm> [--gcc X] [--gpu] [--os N | --base-image I] [--out DIR] [--force]',
  example: 'npx zx Taskfile.ts render 25.11 --gcc 13.4.0',
  positionals: [
    { name: 'slurm', help: `Slurm series or release from the catalog (default ${DEFAULT_SLURM})`, optional: true },
  ],
  options: {
    ...PLAN_OPTIONS,
    out: { type: 'string', arg: 'DIR', help: 'where to write (default dockerfiles/slurm-<slurm>-gcc<gcc>[-gpu]/)' },
    force: { type: 'boolean', help: 'replace files that were edited by hand' },
  },
  async run({ opts, pos }) {
    const plan = planBuild(planOptions(pos.slurm ?? DEFAULT_SLURM, opts));
    const out = opts.out ?? join(repoRoot, plan.contextDir);
    const dir = isAbsolute(out) ? out : join(process.cwd(), out);
    const source = { what: opts.out !== undefined ? '--out' : 'the output directory', given: out };
    // Before rendering: a bad --out is reported at once, not after the work.
    checkUserDir(dir, source);
    const files = renderBuildContext(plan);
    // Ctrl-C while rendering stops here, before anything is written.
    await checkpoint();
    writeBuildContext(dir, files, { force: opts.force, source });
    console.log(plan.resolvedSlurmNote);
    console.log(
      `GCC ${plan.gcc.version} (${plan.gcc.source === 'system' ? `the system compiler of ${plan.os.name}` : `built by Spack on ${plan.os.name}`}), base image ${plan.baseImage}, glibc floor ${plan.os.glibc}, ${plan.flavour}`,
    );
    console.log(`wrote ${files.length} files to ${relative(process.cwd(), dir) || '.'}`);
    console.log(
      `build it: docker buildx build --target export --output type=local,dest=out ${relative(process.cwd(), dir) || '.'}`,
    );
    return 0;
  },
});
