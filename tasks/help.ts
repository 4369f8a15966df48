import { defineTask, type Task } from './lib/task.ts';
import { COMMON_OPTIONS, formatOptions, optionLabel } from './lib/args.ts';
import { ConfigurationError } from './lib/errors.ts';
import { loadTasks } from './lib/registry.ts';

/** One task's help, written from its declaration: summary, usage, positionals and options, notes, example. */
export function taskHelp(t: Task): string {
  const parts = [`${t.name}: ${t.summary}`, `usage: npx zx Taskfile.ts ${t.usage}`];
  const options = formatOptions(t.options, t.positionals);
  if (options !== '') parts.push(options);
  if (t.notes) parts.push(t.notes.replace(/^\n+|\n+$/g, ''));
  parts.push(`example: ${t.example}`);
  return `${parts.join('\n\n')}\n`;
}

export const task = defineTask({
  name: 'help',
  summary: 'List every task, or show one task in detail',
  usage: 'help [TASK]',
  example: 'npx zx Taskfile.ts help build',
  positionals: [{ name: 'task', arg: 'TASK', help: 'the task to show (default: list every task)', optional: true }],
  options: {},
  async run({ pos }) {
    const tasks = await loadTasks();
    const wanted = pos.task;
    if (wanted) {
      const t = tasks.find((x) => x.name === wanted);
      if (!t) {
        throw new ConfigurationError(`unknown task '${wanted}'`, {
          remediation: `tasks: ${tasks.map((x) => x.name).join(', ')}`,
        });
      }
      process.stdout.write(taskHelp(t));
      return 0;
    }
    const common = Object.entries(COMMON_OPTIONS)
      .map(([n, s]) => optionLabel(n, s))
      .join(' and ');
    console.log('slurm-factory: relocatable, signed Slurm packages built by Spack in Docker\n');
    console.log(
      `usage: npx zx Taskfile.ts <task> [args]   (every task takes ${common}: its options, the error's context)\n`,
    );
    const width = Math.max(...tasks.map((t) => t.name.length));
    for (const t of tasks) {
      console.log(`  ${t.name.padEnd(width)}  ${t.summary}`);
      console.log(`  ${' '.repeat(width)}  e.g. ${t.example}`);
    }
    return 0;
  },
});
