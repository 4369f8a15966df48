/**
 * Ctrl-C for long synchronous work. Taskfile.ts turns SIGINT into a flag (markInterrupted); a signal handler
 * only runs when the event loop does, so every long loop awaits `checkpoint()` between steps and before it
 * commits anything (the rename of an atomic write): the task then stops within one step, exit 130, with
 * nothing half-written.
 */
import { InterruptedError } from './errors.ts';

let flagged = false;
let abandoned = 0;
const waiters = new Set<() => void>();

export function markInterrupted(): void {
  flagged = true;
  for (const stop of waiters) stop();
  waiters.clear();
}

export function interrupted(): boolean {
  return flagged;
}

/** Lets pending signals be handled, then throws InterruptedError if Ctrl-C was pressed. */
export async function checkpoint(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (flagged) throw new InterruptedError();
}

/**
 * Waits for `work` (key generation, a probe) but gives up with InterruptedError as soon as Ctrl-C is pressed;
 * the task then exits 130 without waiting for the work to finish (it wrote nothing yet).
 */
export function interruptible<T>(work: Promise<T>): Promise<T> {
  if (flagged) return Promise.reject(new InterruptedError());
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const stop = (): void => {
      if (!settled) abandoned++;
      reject(new InterruptedError());
    };
    waiters.add(stop);
    work.then(
      (v) => {
        settled = true;
        if (!waiters.delete(stop)) abandoned--;
        resolve(v);
      },
      (e: unknown) => {
        settled = true;
        if (!waiters.delete(stop)) abandoned--;
        reject(e);
      },
    );
  });
}

/**
 * Whether work given up on by `interruptible` is still running. Node's process.exit waits for work on the
 * libuv thread pool (RSA key generation: seconds), so the caller then ends the process by the signal itself.
 */
export function abandonedWork(): boolean {
  return abandoned > 0;
}
