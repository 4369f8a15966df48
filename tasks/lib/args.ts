/**
 * Argument parsing shared by every task: minimist with explicit string/boolean options so versions stay
 * strings (`25.10` must not become the number 25.1), and strict checks so an unknown flag, a missing value or
 * an extra positional is a ConfigurationError naming the bad input.
 */
import minimist from 'minimist';
import { ConfigurationError } from './errors.ts';

export interface ArgSpec {
  /** Options that take a value (always parsed as strings). */
  string?: readonly string[];
  /** Options that take a value and may repeat (`--mirror a --mirror b`). */
  list?: readonly string[];
  /** Like `list`, and each value is also split at commas (`--slurm 24.11,25.11`). */
  csv?: readonly string[];
  /** Flags without value. */
  boolean?: readonly string[];
  /** Short aliases, e.g. { h: 'help' }. */
  alias?: Record<string, string>;
  /** Names of positional arguments, in order; a name ending in `?` is optional, `...` collects the rest. */
  positionals?: readonly string[];
}

export interface ParsedArgs {
  positionals: Record<string, string | undefined>;
  rest: string[];
  strings: Record<string, string | undefined>;
  lists: Record<string, string[]>;
  flags: Record<string, boolean>;
}

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

export function parseArgs(task: string, argv: readonly string[], spec: ArgSpec): ParsedArgs {
  const stringOpts = [...(spec.string ?? []), ...(spec.list ?? []), ...(spec.csv ?? [])];
  const boolOpts = ['help', 'verbose', ...(spec.boolean ?? [])];
  const known = new Set([...stringOpts, ...boolOpts, ...Object.keys(spec.alias ?? {})]);
  const unknown: string[] = [];
  // minimist reads `--jobs -1` as the flag -1 (then "unknown option -1"): a value that looks like a negative
  // number is glued to its option (`--jobs=-1`), so the task can say the value is wrong and what is allowed.
  const aliasOf = spec.alias ?? {};
  const glued: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--?([^=]+)$/.exec(a);
    const name = m ? (aliasOf[m[1]!] ?? m[1]!) : undefined;
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
    alias: { h: 'help', ...(spec.alias ?? {}) },
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

  const strings: Record<string, string | undefined> = {};
  for (const name of spec.string ?? []) {
    const v = parsed[name] as unknown;
    if (Array.isArray(v)) {
      throw new ConfigurationError(`--${name} was given ${v.length} times ('${v.join("', '")}') for '${task}'`, {
        remediation: `give --${name} once`,
      });
    }
    if (v === undefined) continue;
    checkValue(task, `--${name}`, String(v));
    strings[name] = String(v);
  }
  const lists: Record<string, string[]> = {};
  for (const name of [...(spec.list ?? []), ...(spec.csv ?? [])]) {
    const v = parsed[name] as unknown;
    const values = v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)];
    for (const x of values) checkValue(task, `--${name}`, x);
    if ((spec.csv ?? []).includes(name)) {
      const items = values.flatMap((x) => x.split(',')).map((x) => x.trim());
      // `--slurm ,` or `--slurm 24.11,,25.11` is a typo, not "every version".
      if (items.some((x) => x === '')) {
        throw new ConfigurationError(`--${name} '${values.join(',')}' has an empty item for '${task}'`, {
          remediation: `write --${name} A,B without empty items`,
        });
      }
      lists[name] = items;
    } else {
      lists[name] = values;
    }
  }
  const flags: Record<string, boolean> = {};
  for (const name of boolOpts) {
    // minimist reads --no-X as "X is false": a flag named no-cache arrives as cache === false.
    flags[name] = Boolean(parsed[name]) || (name.startsWith('no-') && parsed[name.slice(3)] === false);
  }

  const given = (parsed._ as unknown[]).map(String);
  for (const g of given) checkValue(task, 'an argument', g);
  const positionals: Record<string, string | undefined> = {};
  const names = spec.positionals ?? [];
  let rest: string[] = [];
  let i = 0;
  for (const raw of names) {
    if (raw.endsWith('...')) {
      rest = given.slice(i);
      i = given.length;
      if (!raw.endsWith('?...') && rest.length === 0 && !flags.help) {
        throw new ConfigurationError(`missing <${raw.replace(/\??\.\.\.$/, '')}> for '${task}'`, {
          remediation: `see 'npx zx Taskfile.ts help ${task}'`,
        });
      }
      break;
    }
    const optional = raw.endsWith('?');
    const name = optional ? raw.slice(0, -1) : raw;
    if (i < given.length) positionals[name] = given[i++];
    else if (!optional && !flags.help) {
      throw new ConfigurationError(`missing <${name}> for '${task}'`, {
        remediation: `see 'npx zx Taskfile.ts help ${task}'`,
      });
    }
  }
  if (i < given.length) {
    throw new ConfigurationError(`unexpected argument '${given[i]}' for '${task}'`, {
      remediation: `'${task}' takes ${names.length === 0 ? 'no positional arguments' : names.map((n) => `<${n}>`).join(' ')}`,
    });
  }
  return { positionals, rest, strings, lists, flags };
}
