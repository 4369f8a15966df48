/**
 * The `docker buildx build` call for a plan, as data (so --print shows exactly what runs and tests can read
 * it), plus reading BuildKit's plain progress output: which stage failed, and which steps were cached.
 */
import type { BuildPlan } from './plan.ts';
import { ConfigurationError } from './errors.ts';
import { PIPELINE_STAGES, INPUT_STAGES } from './plan.ts';

export interface BuildxOptions {
  contextDir: string;
  dockerfile: string;
  target: string;
  /** For target `export`: where --output type=local writes. */
  exportDir?: string;
  /** Image tag for other targets (loaded into the engine). */
  tag?: string;
  /** Named contexts: name -> directory or docker-image://, target: ... */
  contexts: Record<string, string>;
  signKeyFile?: string;
  signingFingerprint?: string;
  noCache?: boolean;
  shmSize?: string;
  progress?: string;
  builder?: string;
  cacheFrom?: string[];
  cacheTo?: string[];
  /** Extra --build-arg values. */
  buildArgs?: Record<string, string>;
  /** Seconds since the epoch for every timestamp the package stage writes. */
  sourceDateEpoch?: number;
  /** BuildKit platform of every stage (the plan's architecture): linux/amd64 or linux/arm64. */
  platform?: string;
}

/** The --progress values of build and build-compiler (declared as their choices). */
export const PROGRESS_MODES = ['auto', 'plain', 'tty', 'rawjson'] as const;

export function buildxArgs(o: BuildxOptions): string[] {
  const a = ['buildx', 'build'];
  if (o.builder) a.push('--builder', o.builder);
  a.push('--file', o.dockerfile, '--target', o.target);
  if (o.platform) a.push('--platform', o.platform);
  const args = {
    ...(o.buildArgs ?? {}),
    ...(o.sourceDateEpoch !== undefined ? { SOURCE_DATE_EPOCH: String(o.sourceDateEpoch) } : {}),
  };
  for (const [k, v] of Object.entries(args).sort()) a.push('--build-arg', `${k}=${v}`);
  for (const [k, v] of Object.entries(o.contexts).sort()) a.push('--build-context', `${k}=${v}`);
  if (o.signKeyFile) {
    // The private key is a secret mount: never a build argument, an ENV or a file in a layer.
    a.push('--secret', `id=gpg-key,src=${o.signKeyFile}`);
    a.push('--build-arg', `SIGNING_KEY_FINGERPRINT=${o.signingFingerprint ?? ''}`);
  }
  if (o.noCache) a.push('--no-cache');
  if (o.shmSize) a.push('--shm-size', o.shmSize);
  for (const c of o.cacheFrom ?? []) a.push('--cache-from', c);
  for (const c of o.cacheTo ?? []) a.push('--cache-to', c);
  a.push('--progress', o.progress ?? 'plain');
  if (o.exportDir) a.push('--output', `type=local,dest=${o.exportDir}`);
  else if (o.tag) a.push('--load', '--tag', o.tag);
  a.push(o.contextDir);
  return a;
}

/** Quote for a POSIX shell, so `--print` output can be pasted. */
export function shellQuote(args: string[]): string {
  return args.map((x) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(x) ? x : `'${x.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export const STAGE_NAMES: readonly string[] = [...INPUT_STAGES, ...PIPELINE_STAGES];

/** The tag a non-export target is loaded as. */
export function targetTag(plan: BuildPlan, target: string): string {
  if (target === 'compiler') return plan.compilerTag;
  if (target === 'slurm') return plan.imageTag;
  return `${plan.imageTag}-${target}`;
}

/** `NAME=VALUE` from --context; VALUE is a directory, docker-image://, target: or a URL. */
export function parseContexts(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const m = /^([a-z][a-z0-9-]*)=(.+)$/.exec(v);
    if (!m) {
      throw new ConfigurationError(`--context '${v}' is not NAME=SOURCE`, {
        remediation: `write e.g. --context spack-src=/srv/spack; stage names: ${STAGE_NAMES.join(', ')}`,
      });
    }
    if (!STAGE_NAMES.includes(m[1]!)) {
      throw new ConfigurationError(`--context names stage '${m[1]}', which the Dockerfile does not have`, {
        remediation: `use one of ${STAGE_NAMES.join(', ')}`,
      });
    }
    out[m[1]!] = m[2]!;
  }
  return out;
}

const STEP = /^\[(?:[A-Za-z0-9_-]+ )?([a-z0-9-]+) \d+\/\d+\]/;

export interface StepStatus {
  /** Vertex number in BuildKit's plain output (`#12`). */
  id: number;
  /** `[deps 2/3] RUN ...` */
  name: string;
  stage: string | null;
  cached: boolean;
  error: boolean;
  /** A `FROM` step: resolving an image is not work BuildKit caches or redoes. */
  source: boolean;
}

/**
 * Reads BuildKit's `--progress=plain` output into steps. A step is CACHED when BuildKit printed
 * `#N CACHED`; it ran when it printed `#N DONE` without that.
 */
export function readPlainProgress(log: string): StepStatus[] {
  const steps = new Map<number, StepStatus>();
  for (const line of log.split('\n')) {
    const m = /^#(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const id = Number(m[1]);
    const rest = m[2]!;
    let s = steps.get(id);
    if (!s) {
      // `[stage n/m] ...`, or with bake `[target stage n/m] ...`
      const stage = STEP.exec(rest)?.[1] ?? null;
      s = { id, name: rest, stage, cached: false, error: false, source: /^\[[^\]]+\] FROM /.test(rest) };
      steps.set(id, s);
    }
    if (rest === 'CACHED') s.cached = true;
    if (rest.startsWith('ERROR')) s.error = true;
  }
  return [...steps.values()];
}

/** Steps that did work in this build: not CACHED, and not an image resolution. */
export function stepsThatRan(log: string): StepStatus[] {
  return dockerfileSteps(log).filter((s) => !s.cached && !s.source);
}

/** The Dockerfile steps (`[stage n/m] INSTRUCTION`) of a build, in order. */
export function dockerfileSteps(log: string): StepStatus[] {
  return readPlainProgress(log).filter((s) => s.stage !== null);
}

/** The stage whose step failed, from plain progress output; null if none can be told. */
export function failedStage(log: string): string | null {
  const failed = readPlainProgress(log).filter((s) => s.error && s.stage);
  if (failed.length > 0) return failed[failed.length - 1]!.stage;
  const m = [...log.matchAll(/^\s*>\s*\[(?:[A-Za-z0-9_-]+ )?([a-z0-9-]+) \d+\/\d+\]/gm)].pop();
  if (m) return m[1]!;
  // An image that cannot be resolved fails before any step: BuildKit quotes the FROM line of its stage.
  const from = [...log.matchAll(/^\s*\d+ \| >>> FROM (?:--\S+ )*\S+ AS ([A-Za-z0-9_-]+)\s*$/gim)].pop();
  return from ? from[1]!.toLowerCase() : null;
}
