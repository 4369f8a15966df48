/**
 * The command line's core, shared by Taskfile.ts (the process) and in-process callers: find the task, run it,
 * turn every error into one line on stderr and an exit code (2 usage/configuration, 1 failure, 130 interrupted).
 */
import { InterruptedError, SlurmFactoryError } from './errors.ts';
import { parseOptions } from './args.ts';
import { loadTask, taskNames } from './registry.ts';
import type { Task } from './task.ts';

/** One line on stderr, whatever the values in it hold: control characters (a newline in a path) are escaped. */
export function printError(line: string): void {
  console.error(
    line.replace(/[\x00-\x1f\x7f]/g, (c) =>
      c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
    ),
  );
}

/**
 * Runs one command line (the words after `Taskfile.ts`) and returns its exit code; every error becomes one
 * line on stderr. The arguments are parsed against the task's declared options before its `run` starts.
 * No process-wide effects (no exit, no signal handlers), so tests can call it in-process.
 */
export async function runTask(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose');
  const [name, ...rest] = argv;
  const wanted = !name || name === '--help' || name === '-h' ? 'help' : name;
  let task: Task | undefined;
  try {
    task = await loadTask(wanted);
    if (!task) {
      printError(`error: unknown task '${wanted}'; tasks: ${taskNames().join(', ')}; run 'npx zx Taskfile.ts help'`);
      return 2;
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      const help = (await import('../help.ts')).task;
      return (await help.run(parseOptions(help.name, [task.name], help.options, help.positionals))) ?? 0;
    }
    return (await task.run(parseOptions(task.name, rest, task.options, task.positionals))) ?? 0;
  } catch (err) {
    // The SIGINT handler already said so; the task stopped at a safe point.
    if (err instanceof InterruptedError) return err.exitCode;
    if (err instanceof SlurmFactoryError) {
      printError(`error: ${err.oneLine()}`);
      if (verbose && Object.keys(err.context).length > 0) console.error(JSON.stringify(err.context, null, 2));
      return err.exitCode;
    }
    const e = err as Error;
    printError(`error: ${task ? `'${task.name}' failed: ` : ''}${e?.message ?? String(err)}`);
    if (verbose && e?.stack) console.error(e.stack);
    return 1;
  }
}
