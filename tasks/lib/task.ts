/**
 * What a task file in tasks/ exports. Taskfile.ts discovers tasks by listing tasks/*.ts, so adding a task is
 * adding one file. Keep a task file's top-level imports light (help imports every task); load heavy libraries
 * (AWS SDK, openpgp) inside `run`.
 */
export interface Task {
  /** The word after `Taskfile.ts`. */
  name: string;
  /** One line: what it does. */
  summary: string;
  /** Synopsis, e.g. `build <slurm> [--gcc X] [--gpu]`. */
  usage: string;
  /** One runnable example. */
  example: string;
  /** Longer help: options, one per line. */
  details?: string;
  /** Runs with the raw arguments after the task name; returns the exit code (default 0). */
  run(argv: string[]): Promise<number | void>;
}
