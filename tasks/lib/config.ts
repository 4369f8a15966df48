/**
 * Effective configuration: flags > environment > defaults. `doctor` prints it. Every environment variable the
 * tasks read as configuration (SLURM_FACTORY_HOME, SLURM_FACTORY_BUCKET, SOURCE_DATE_EPOCH) is read here.
 */
import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { ConfigurationError } from './errors.ts';
import { ensureUserDir, type UserPathSource } from './userdir.ts';

export const CACHE_SUBDIRS = ['buildcache', 'sourcecache', 'builds', 'mirrors', 'compilers', 'logs'] as const;
export type CacheSubdir = (typeof CACHE_SUBDIRS)[number];

export interface FactoryConfig {
  home: string;
  /** The bucket publish uploads to: --bucket, else SLURM_FACTORY_BUCKET (undefined: none given). */
  bucket?: string;
  /** SOURCE_DATE_EPOCH as the environment gives it (checked where a build uses it: sourceDateEpoch). */
  sourceDateEpoch?: string;
  /** Where each value came from: 'flag', 'environment' or 'default'. */
  sources: Record<string, 'flag' | 'environment' | 'default'>;
}

export function resolveConfig(
  flags: { home?: string; bucket?: string } = {},
  env: NodeJS.ProcessEnv = process.env,
): FactoryConfig {
  let home: string;
  let source: 'flag' | 'environment' | 'default';
  if (flags.home !== undefined) {
    home = flags.home;
    source = 'flag';
  } else if (env.SLURM_FACTORY_HOME) {
    home = env.SLURM_FACTORY_HOME;
    source = 'environment';
  } else {
    home = join(homedir(), '.slurm-factory');
    source = 'default';
  }
  const what = source === 'flag' ? '--home' : 'SLURM_FACTORY_HOME';
  if (home.trim() === '') {
    throw new ConfigurationError(`${what} is empty`, { remediation: 'unset it or give an absolute directory' });
  }
  // A relative home would put keys and caches wherever the command happens to run (often the working tree).
  if (!isAbsolute(home)) {
    throw new ConfigurationError(`${what} '${home}' is a relative path`, {
      remediation: `give an absolute path, e.g. ${what}=${join(homedir(), '.slurm-factory')}`,
    });
  }
  const sources: FactoryConfig['sources'] = { home: source };
  const config: FactoryConfig = { home, sources };
  const bucket = flags.bucket ?? (env.SLURM_FACTORY_BUCKET || undefined);
  if (bucket !== undefined) {
    config.bucket = bucket;
    sources.bucket = flags.bucket !== undefined ? 'flag' : 'environment';
  }
  if (env.SOURCE_DATE_EPOCH !== undefined && env.SOURCE_DATE_EPOCH !== '') {
    config.sourceDateEpoch = env.SOURCE_DATE_EPOCH;
    sources.sourceDateEpoch = 'environment';
  }
  return config;
}

/**
 * SOURCE_DATE_EPOCH for a build: the environment's if set (the reproducible-builds convention), else the
 * commit time of the checkout `repo` (runs git: a task asks once, before it builds its commands), else
 * undefined (the package stage then uses now).
 */
export function sourceDateEpoch(config: FactoryConfig, repo: string): number | undefined {
  const fromEnv = config.sourceDateEpoch;
  if (fromEnv !== undefined) {
    if (!/^\d+$/.test(fromEnv)) {
      throw new ConfigurationError(`SOURCE_DATE_EPOCH '${fromEnv}' is not a whole number of seconds`, {
        remediation: 'unset it, or set it to e.g. $(git log -1 --format=%ct)',
      });
    }
    return Number(fromEnv);
  }
  const r = spawnSync('git', ['-C', repo, 'log', '-1', '--format=%ct'], { encoding: 'utf8' });
  const t = Number(r.stdout.trim());
  return r.status === 0 && Number.isInteger(t) && t > 0 ? t : undefined;
}

/** How a problem with the home directory is reported: naming the home the user set, and the fix. */
export function homeSource(config: FactoryConfig): UserPathSource {
  const what = config.sources.home === 'flag' ? '--home' : 'SLURM_FACTORY_HOME';
  return {
    what,
    given: config.home,
    fix: `set ${what} to an absolute path of a writable directory on a real disk (default ~/.slurm-factory)`,
  };
}

// Paths are only computed here; a directory is created only by a function named ensure..., which a task calls
// when it is about to write there (never when it only prints a command or reads).

/** The path of one cache subdirectory (not created: see ensureCacheDir). */
export function cachePath(config: FactoryConfig, sub: CacheSubdir): string {
  return join(config.home, sub);
}

/** Creates one cache subdirectory (checked as the user's home: a clear error for a bad one) and returns it. */
export function ensureCacheDir(config: FactoryConfig, sub: CacheSubdir): string {
  const dir = cachePath(config, sub);
  ensureUserDir(dir, homeSource(config));
  return dir;
}

/**
 * The host copy of one toolchain's binary cache: buildcache/<cacheKey> (base image + GCC), like the BuildKit
 * cache mount it mirrors, so its index (the newest one merged in) lists every binary of that toolchain.
 */
export function hostBuildcachePath(config: FactoryConfig, cacheKey: string): string {
  return join(cachePath(config, 'buildcache'), cacheKey);
}

export function ensureHostBuildcacheDir(config: FactoryConfig, cacheKey: string): string {
  ensureCacheDir(config, 'buildcache');
  const dir = hostBuildcachePath(config, cacheKey);
  ensureUserDir(dir, homeSource(config));
  return dir;
}

/** The host caches a build reads through named contexts (paths; ensureHostCaches creates them). */
export function hostCacheContexts(
  config: FactoryConfig,
  cacheKey: string,
): Record<'host-buildcache' | 'host-sourcecache', string> {
  return {
    'host-buildcache': hostBuildcachePath(config, cacheKey),
    'host-sourcecache': cachePath(config, 'sourcecache'),
  };
}

/** Creates the host caches of hostCacheContexts, before a build reads them. */
export function ensureHostCaches(config: FactoryConfig, cacheKey: string): void {
  ensureHostBuildcacheDir(config, cacheKey);
  ensureCacheDir(config, 'sourcecache');
}

/** logs/<name>-<UTC timestamp>.log: where one build's full output goes (call ensureCacheDir(config, 'logs')). */
export function logFilePath(config: FactoryConfig, name: string): string {
  return join(cachePath(config, 'logs'), `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
}
