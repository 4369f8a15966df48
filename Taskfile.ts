#!/usr/bin/env -S npx zx
/**
 * slurm-factory entry point: `npx zx Taskfile.ts <task> [args]`.
 * Each task lives in its own file in tasks/ and exports `task` (see tasks/lib/task.ts); this file finds it,
 * runs it, and turns errors into one clear line and an exit code (2 usage/configuration, 1 failure,
 * 130 interrupted).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SlurmFactoryError } from './tasks/lib/errors.ts';
import { loadTask, taskNames } from './tasks/lib/registry.ts';
import type { Task } from './tasks/lib/task.ts';

/** The arguments after this script's path, whether run by zx, tsx or node --import tsx. */
function scriptArgs(): string[] {
  const self = fileURLToPath(import.meta.url);
  const i = process.argv.findIndex((a, idx) => idx > 0 && resolve(a) === self);
  return process.argv.slice(i >= 0 ? i + 1 : 2);
}

async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose');
  const [name, ...rest] = argv;
  const wanted = !name || name === '--help' || name === '-h' ? 'help' : name;
  let task: Task | undefined;
  try {
    task = await loadTask(wanted);
    if (!task) {
      console.error(`error: unknown task '${wanted}'; tasks: ${taskNames().join(', ')}; run 'npx zx Taskfile.ts help'`);
      return 2;
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      const help = (await import('./tasks/help.ts')).task;
      return (await help.run([task.name])) ?? 0;
    }
    return (await task.run(rest)) ?? 0;
  } catch (err) {
    if (err instanceof SlurmFactoryError) {
      console.error(`error: ${err.oneLine()}`);
      if (verbose && Object.keys(err.context).length > 0) console.error(JSON.stringify(err.context, null, 2));
      return err.exitCode;
    }
    const e = err as Error;
    console.error(`error: ${task ? `'${task.name}' failed: ` : ''}${e?.message ?? String(err)}`);
    if (verbose && e?.stack) console.error(e.stack);
    return 1;
  }
}

let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  console.error('\ninterrupted: cleaning up (Ctrl-C again to force)');
  process.exitCode = 130;
});

const code = await main(scriptArgs());
process.exit(interrupted ? 130 : code);
