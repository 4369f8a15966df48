import type { Task } from './lib/task.ts';
import { parseArgs } from './lib/args.ts';
import { ConfigurationError } from './lib/errors.ts';
import { loadTasks } from './lib/registry.ts';

export const task: Task = {
  name: 'help',
  summary: 'List every task, or show one task in detail',
  usage: 'help [TASK]',
  example: 'npx zx Taskfile.ts help build',
  async run(argv) {
    const { positionals } = parseArgs('help', argv, { positionals: ['task?'] });
    const tasks = await loadTasks();
    const wanted = positionals.task;
    if (wanted) {
      const t = tasks.find((x) => x.name === wanted);
      if (!t) {
        throw new ConfigurationError(`unknown task '${wanted}'`, { remediation: `tasks: ${tasks.map((x) => x.name).join(', ')}` });
      }
      console.log(`${t.name}: ${t.summary}\n\nusage: npx zx Taskfile.ts ${t.usage}\n`);
      if (t.details) console.log(t.details.replace(/^\n+|\n+$/g, '') + '\n');
      console.log(`example: ${t.example}`);
      return 0;
    }
    console.log('slurm-factory: relocatable, signed Slurm packages built by Spack in Docker\n');
    console.log('usage: npx zx Taskfile.ts <task> [args]   (add --help to any task for its options)\n');
    const width = Math.max(...tasks.map((t) => t.name.length));
    for (const t of tasks) {
      console.log(`  ${t.name.padEnd(width)}  ${t.summary}`);
      console.log(`  ${' '.repeat(width)}  e.g. ${t.example}`);
    }
    return 0;
  },
};
