#!/usr/bin/env -S npx zx
/**
 * slurm-factory entry point: `npx zx Taskfile.ts <task> [args]`.
 * Each task lives in its own file in tasks/ and exports `task` with its declared options (see tasks/lib/task.ts);
 * tasks/lib/cli.ts finds it, parses the arguments against those options (tasks/lib/args.ts), runs it, and turns
 * errors into one clear line and an exit code (2 usage/configuration, 1 failure, 130 interrupted). This file
 * adds what belongs to the process: its arguments, Ctrl-C, the exit.
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { abandonedWork, markInterrupted } from './tasks/lib/interrupt.ts';

/** The arguments after this script's path, whether run by zx, tsx or node --import tsx. */
function scriptArgs(): string[] {
  const self = fileURLToPath(import.meta.url);
  const real = (p: string): string => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  // Compared by real path too: the script may be run through a symlink or from another directory.
  const i = process.argv.findIndex((a, idx) => idx > 0 && (resolve(a) === self || real(a) === real(self)));
  return process.argv.slice(i >= 0 ? i + 1 : 2);
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

// Loaded after the handler is in place, so a Ctrl-C during start-up is already a clean stop.
const { runTask } = await import('./tasks/lib/cli.ts');
const code = await runTask(scriptArgs());
if (interrupted && abandonedWork()) {
  // process.exit would wait for the abandoned thread-pool work (seconds for an RSA key): die by the signal
  // instead, as an interrupted Unix program does (the shell sees 130 either way).
  process.removeAllListeners('SIGINT');
  process.kill(process.pid, 'SIGINT');
}
process.exit(interrupted ? 130 : code);
