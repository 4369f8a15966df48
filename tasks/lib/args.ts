/**
 * Task options, declared once: each task lists its options (type, placeholder, help text) next to its `run`;
 * this module parses a command line against that declaration into typed values, and writes the task's help
 * from the same declaration, so what a task accepts and what its help says cannot drift apart.
 *
 * Parsing is minimist with explicit string/boolean options so versions stay strings (`25.10` must not become
 * the number 25.1), and strict checks so an unknown flag, a missing value, a bad number or choice, or an extra
 * positional is a ConfigurationError naming the bad input (one line, exit 2).
 */
import minimist from 'minimist';
import { ConfigurationError } from './errors.ts';

/**
 * One option. `string`: one value; `list`: repeatable (`--mirror a --mirror b`); `csv`: repeatable and split at
 * commas (`--slurm 24.11,25.11`); `boolean`: a flag; `integer`: a whole number in [min, max]; `choice`: one of
 * `choices`.
 */
export type OptionSpec =
  | { type: 'string' | 'list' | 'csv'; arg?: string; help: Help }
  | { type: 'boolean'; help: Help }
  | {
      type: 'integer';
      arg?: string;
      help: Help;
      min: number;
      max: number;
      default?: number;
      /** What the number counts, in the error ("a whole number of days"); default "a whole number". */
      what?: string;
      hint?: string;
    }
  | {
      type: 'choice';
      arg?: string;
      help: Help;
      choices: readonly string[];
      default?: string;
      /** What a value is, in the error ("is not a stage"). */
      noun: string;
    };

/** Help text: one line, or several (continuation lines are indented under the first). */
export type Help = string | readonly string[];

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** A positional argument: `optional` may be left out, `rest` collects every remaining argument. */
export interface PositionalSpec {
  readonly name: string;
  /** Its label in help (default `<name>`). */
  readonly arg?: string;
  readonly help: Help;
  readonly optional?: boolean;
  readonly rest?: boolean;
}

/** The typed value of one option, as `run` receives it. */
export type OptionValue<S extends OptionSpec> = S extends { type: 'boolean' }
  ? boolean
  : S extends { type: 'list' | 'csv' }
    ? string[]
    : S extends { type: 'integer'; default: number }
      ? number
      : S extends { type: 'integer' }
        ? number | undefined
        : S extends { type: 'choice'; choices: readonly (infer C)[]; default: string }
          ? C
          : S extends { type: 'choice'; choices: readonly (infer C)[] }
            ? C | undefined
            : string | undefined;

export type OptionValues<O extends OptionSpecs> = { -readonly [K in keyof O]: OptionValue<O[K]> };

/** Positionals by name (`rest` ones are in `rest`); required ones are always set. */
export type PositionalValues<P extends readonly PositionalSpec[]> = {
  [S in P[number] as S['rest'] extends true ? never : S['name']]: S['optional'] extends true
    ? string | undefined
    : string;
};

export interface ParsedOptions<O extends OptionSpecs, P extends readonly PositionalSpec[]> {
  opts: OptionValues<O>;
  pos: PositionalValues<P>;
  /** The arguments a `rest` positional collected (empty otherwise). */
  rest: string[];
}

/** Options every task takes; Taskfile's `help` names them once, not per task. */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', help: "show the task's options and an example" },
  verbose: { type: 'boolean', help: 'on an error, also print its context (and the stack of an unexpected one)' },
} as const satisfies OptionSpecs;

/** No option value or argument is longer than this (PATH_MAX): anything longer is a mistake, not a name. */
export const MAX_VALUE_LENGTH = 4096;

/** A value no option accepts: blank, holding control characters, or absurdly long. `label` is `--name` or `<name>`. */
function checkValue(task: string, label: string, v: string): void {
  if (v.trim() === '') {
    const flag = label.startsWith('--');
    throw new ConfigurationError(flag ? `${label} needs a value for '${task}'` : `${label} is empty for '${task}'`, {
      remediation: flag ? `write ${label} VALUE` : `see 'npx zx Taskfile.ts help ${task}'`,
    });
  }
  const ctl = /[\x00-\x1f\x7f]/.exec(v);
  if (ctl) {
    const code = `\\x${ctl[0].charCodeAt(0).toString(16).padStart(2, '0')}`;
    throw new ConfigurationError(`${label} '${v}' holds the control character ${code} for '${task}'`, {
      remediation: 'give the value without control characters (a stray newline or escape in the command?)',
    });
  }
  if (v.length > MAX_VALUE_LENGTH) {
    throw new ConfigurationError(`${label} '${v.slice(0, 40)}...' is ${v.length} characters long for '${task}'`, {
      remediation: `no value is longer than ${MAX_VALUE_LENGTH} characters; check the command`,
    });
  }
}

function integerValue(name: string, spec: Extract<OptionSpec, { type: 'integer' }>, raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < spec.min || Number(raw) > spec.max) {
    throw new ConfigurationError(
      `--${name} '${raw}' is not ${spec.what ?? 'a whole number'} from ${spec.min} to ${spec.max}`,
      {
        remediation: spec.hint ?? `e.g. --${name} ${spec.default ?? spec.min}`,
      },
    );
  }
  return Number(raw);
}

function choiceValue(name: string, spec: Extract<OptionSpec, { type: 'choice' }>, raw: string): string {
  if (!spec.choices.includes(raw)) {
    throw new ConfigurationError(`--${name} '${raw}' is not a ${spec.noun}`, {
      remediation: `use one of ${spec.choices.join(', ')}`,
    });
  }
  return raw;
}

const takesValue = (s: OptionSpec): boolean => s.type !== 'boolean';

/**
 * Parses the arguments after the task name against the task's declared options and positionals; every
 * problem is a ConfigurationError naming the bad input, what is allowed and what to do.
 */
export function parseOptions<const O extends OptionSpecs, const P extends readonly PositionalSpec[]>(
  task: string,
  argv: readonly string[],
  options: O,
  positionals: P,
): ParsedOptions<O, P> {
  const all: Record<string, OptionSpec> = { ...COMMON_OPTIONS, ...options };
  const stringOpts = Object.keys(options).filter((n) => takesValue(options[n]!));
  const boolOpts = Object.keys(all).filter((n) => !takesValue(all[n]!));
  const known = new Set([...stringOpts, ...boolOpts, 'h']);
  const unknown: string[] = [];
  // minimist reads `--jobs -1` as the flag -1 (then "unknown option -1"): a value that looks like a negative
  // number is glued to its option (`--jobs=-1`), so the task can say the value is wrong and what is allowed.
  const glued: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--?([^=]+)$/.exec(a);
    const name = m ? (m[1] === 'h' ? 'help' : m[1]!) : undefined;
    const next = argv[i + 1];
    const withValue = /^--([^=]+)=/.exec(a);
    if (withValue && boolOpts.includes(withValue[1]!)) {
      throw new ConfigurationError(`--${withValue[1]} takes no value ('${a}') for '${task}'`, {
        remediation: `write --${withValue[1]} alone to turn it on, or leave it out`,
      });
    }
    if (name !== undefined && stringOpts.includes(name) && next !== undefined && /^-[\d.]/.test(next)) {
      glued.push(`${a}=${next}`);
      i++;
    } else {
      glued.push(a);
    }
  }
  const parsed = minimist(glued, {
    // '_' too: positionals stay strings, so a version like 25.10 is never read as the number 25.1.
    string: [...stringOpts, '_'],
    boolean: boolOpts,
    alias: { h: 'help' },
    '--': false,
    unknown: (arg) => {
      if (arg.startsWith('-')) {
        const name = arg.replace(/^-+/, '').split('=')[0]!;
        if (!known.has(name) && !(name.startsWith('no-') && boolOpts.includes(name.slice(3)))) unknown.push(arg);
      }
      return true;
    },
  });
  if (unknown.length > 0) {
    const allowed = [...stringOpts.map((o) => `--${o} VALUE`), ...boolOpts.map((o) => `--${o}`)].join(', ');
    throw new ConfigurationError(`unknown option ${unknown[0]} for '${task}'`, {
      remediation: `allowed: ${allowed}; see 'npx zx Taskfile.ts help ${task}'`,
    });
  }

  const opts: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(options)) {
    const v = parsed[name] as unknown;
    if (spec.type === 'boolean') {
      // minimist reads --no-X as "X is false": a flag named no-cache arrives as cache === false.
      opts[name] = Boolean(v) || (name.startsWith('no-') && parsed[name.slice(3)] === false);
      continue;
    }
    const values = v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)];
    if (spec.type === 'list' || spec.type === 'csv') {
      for (const x of values) checkValue(task, `--${name}`, x);
      if (spec.type === 'list') {
        opts[name] = values;
        continue;
      }
      const items = values.flatMap((x) => x.split(',')).map((x) => x.trim());
      // `--slurm ,` or `--slurm 24.11,,25.11` is a typo, not "every version".
      if (items.some((x) => x === '')) {
        throw new ConfigurationError(`--${name} '${values.join(',')}' has an empty item for '${task}'`, {
          remediation: `write --${name} A,B without empty items`,
        });
      }
      opts[name] = items;
      continue;
    }
    if (values.length > 1) {
      throw new ConfigurationError(
        `--${name} was given ${values.length} times ('${values.join("', '")}') for '${task}'`,
        {
          remediation: `give --${name} once`,
        },
      );
    }
    const raw = values[0];
    if (raw !== undefined) checkValue(task, `--${name}`, raw);
    if (spec.type === 'integer') opts[name] = raw === undefined ? spec.default : integerValue(name, spec, raw);
    else if (spec.type === 'choice') opts[name] = raw === undefined ? spec.default : choiceValue(name, spec, raw);
    else opts[name] = raw;
  }
  const help = Boolean(parsed.help);

  const given = (parsed._ as unknown[]).map(String);
  for (const g of given) checkValue(task, 'an argument', g);
  const pos: Record<string, string | undefined> = {};
  let rest: string[] = [];
  let i = 0;
  for (const p of positionals) {
    if (p.rest) {
      rest = given.slice(i);
      i = given.length;
      if (!p.optional && rest.length === 0 && !help) {
        throw new ConfigurationError(`missing <${p.name}> for '${task}'`, {
          remediation: `see 'npx zx Taskfile.ts help ${task}'`,
        });
      }
      break;
    }
    if (i < given.length) pos[p.name] = given[i++];
    else if (!p.optional && !help) {
      throw new ConfigurationError(`missing <${p.name}> for '${task}'`, {
        remediation: `see 'npx zx Taskfile.ts help ${task}'`,
      });
    }
  }
  if (i < given.length) {
    throw new ConfigurationError(`unexpected argument '${given[i]}' for '${task}'`, {
      remediation: `'${task}' takes ${positionals.length === 0 ? 'no positional arguments' : positionals.map(positionalLabel).join(' ')}`,
    });
  }
  return { opts: opts as OptionValues<O>, pos: pos as PositionalValues<P>, rest };
}

/** How the old spec spelled positionals in "takes ..." (kept word for word): `<slurm?>`, `<files...>`. */
function positionalLabel(p: PositionalSpec): string {
  return `<${p.name}${p.optional ? '?' : ''}${p.rest ? '...' : ''}>`;
}

/** `--name ARG` of one option in help. */
export function optionLabel(name: string, spec: OptionSpec): string {
  if (spec.type === 'boolean') return `--${name}`;
  const arg =
    spec.arg ??
    (spec.type === 'csv' ? 'LIST' : spec.type === 'integer' ? 'N' : spec.type === 'choice' ? 'MODE' : 'VALUE');
  return `--${name} ${arg}`;
}

const helpLines = (help: Help): string[] => (typeof help === 'string' ? [help] : [...help]);

/** Positionals, then options, as help lines: the label, then its help text aligned in a column. */
export function formatOptions(options: OptionSpecs, positionals: readonly PositionalSpec[]): string {
  const rows: [string, string[]][] = [
    ...positionals.map((p): [string, string[]] => [p.arg ?? `<${p.name}>`, helpLines(p.help)]),
    ...Object.entries(options).map(([name, spec]): [string, string[]] => [
      optionLabel(name, spec),
      helpLines(spec.help),
    ]),
  ];
  const width = Math.max(17, ...rows.map(([label]) => label.length));
  return rows
    .flatMap(([label, [first, ...more]]) => [
      `  ${label.padEnd(width)}  ${first ?? ''}`.trimEnd(),
      ...more.map((l) => `  ${' '.repeat(width)}  ${l}`),
    ])
    .join('\n');
}
