/**
 * What a task file in tasks/ exports. Taskfile.ts discovers tasks by listing tasks/*.ts, so adding a task is
 * adding one file. A task declares its options and positionals once (tasks/lib/args.ts): the command line is
 * parsed against them before `run` sees typed values, and `help` is written from them. Keep a task file's
 * top-level imports light (help imports every task); load heavy libraries (AWS SDK, openpgp) inside `run`.
 */
import type { OptionSpecs, ParsedOptions, PositionalSpec } from './args.ts';

export interface TaskDefinition<O extends OptionSpecs, P extends readonly PositionalSpec[]> {
  /** The word after `Taskfile.ts`. */
  name: string;
  /** One line: what it does. */
  summary: string;
  /** Synopsis, e.g. `build <slurm> [--gcc X] [--gpu]`; every option in it is declared in `options`. */
  usage: string;
  /** One runnable example. */
  example: string;
  /** Positional arguments, in order. */
  positionals: P;
  /** Options with their types and help text. */
  options: O;
  /** Help after the options: how it works, exit codes, how to check the result. */
  notes?: string;
  /** Runs with the parsed, typed command line; returns the exit code (default 0). */
  run(args: ParsedOptions<O, P>): Promise<number | void>;
}

/** A task as the registry and the CLI see it (its option types erased). */
export interface Task {
  name: string;
  summary: string;
  usage: string;
  example: string;
  positionals: readonly PositionalSpec[];
  options: OptionSpecs;
  notes?: string;
  run(args: ParsedOptions<OptionSpecs, readonly PositionalSpec[]>): Promise<number | void>;
}

/** Declares a task; `run`'s argument is typed from `options` and `positionals`. */
export function defineTask<const O extends OptionSpecs, const P extends readonly PositionalSpec[]>(
  t: TaskDefinition<O, P>,
): Task {
  return t as unknown as Task;
}
