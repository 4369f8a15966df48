#!/usr/bin/env -S npx zx
/**
 * slurm-factory entry point: `npx zx Taskfile.ts <task> [args]`.
 * Each task lives in its own file in tasks/ and exports `task` (see tasks/lib/task.ts); this file finds it,
 * runs it, and turns errors into one clear line and an exit code (2 usage/configuration, 1 failure,
 * 130 interrupted).
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InterruptedError, SlurmFactoryError } from './tasks/lib/errors.ts';
import { abandonedWork, markInterrupted } from './tasks/lib/interrupt.ts';
import { loadTask, taskNames } from './tasks/lib/registry.ts';
import type { Task } from './tasks/lib/task.ts';

/** The arguments after this script's path, whether run by zx, tsx or node --import tsx. */
function scriptArgs(): string[] {
  const self = fileURLToPath(import.meta.url);
  const real = (p: string): string => { try { return realpathSync(p); } catch { return resolve(p); } };
  // Compared by real path too: the script may be run through a symlink or from another directory.
  const i = process.argv.findIndex((a, idx) => idx > 0 && (resolve(a) === self || real(a) === real(self)));
  return process.argv.slice(i >= 0 ? i + 1 : 2);
}

/** One line on stderr, whatever the values in it hold: control characters (a newline in a path) are escaped. */
function printError(line: string): void {
  console.error(line.replace(/[\x00-\x1f\x7f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)));
}

async function main(argv: string[]): Promise<number> {
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
      const help = (await import('./tasks/help.ts')).task;
      return (await help.run([task.name])) ?? 0;
    }
    return (await task.run(rest)) ?? 0;
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

// Ctrl-C sets a flag that long tasks check at safe points (tasks/lib/interrupt.ts): they stop within one step,
// before committing anything, and exit 130. A second Ctrl-C exits at once.
let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) {
    process.removeAllListeners('SIGINT');
    process.kill(process.pid, 'SIGINT');
    return;
  }
  interrupted = true;
  markInterrupted();
  console.error('\ninterrupted: stopping at the next safe point, nothing half-written is kept (Ctrl-C again to force)');
  process.exitCode = 130;
});

const code = await main(scriptArgs());
if (interrupted && abandonedWork()) {
  // process.exit would wait for the abandoned thread-pool work (seconds for an RSA key): die by the signal
  // instead, as an interrupted Unix program does (the shell sees 130 either way).
  process.removeAllListeners('SIGINT');
  process.kill(process.pid, 'SIGINT');
}
process.exit(interrupted ? 130 : code);
