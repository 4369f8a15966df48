/**
 * Effective configuration: flags > environment > defaults. `doctor` prints it.
 */
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { ConfigurationError } from './errors.ts';
import { ensureUserDir, type UserPathSource } from './userdir.ts';

export const CACHE_SUBDIRS = ['buildcache', 'sourcecache', 'builds', 'mirrors', 'compilers', 'logs'] as const;
export type CacheSubdir = (typeof CACHE_SUBDIRS)[number];

export interface FactoryConfig {
  home: string;
  /** Where each value came from: 'flag', 'environment' or 'default'. */
  sources: Record<string, 'flag' | 'environment' | 'default'>;
}

export function resolveConfig(flags: { home?: string } = {}, env: NodeJS.ProcessEnv = process.env): FactoryConfig {
  let home: string;
  let source: 'flag' | 'environment' | 'default';
  if (flags.home !== undefined) { home = flags.home; source = 'flag'; }
  else if (env.SLURM_FACTORY_HOME) { home = env.SLURM_FACTORY_HOME; source = 'environment'; }
  else { home = join(homedir(), '.slurm-factory'); source = 'default'; }
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
  return { home, sources: { home: source } };
}

/** How a problem with the home directory is reported: naming the home the user set, and the fix. */
export function homeSource(config: FactoryConfig): UserPathSource {
  const what = config.sources.home === 'flag' ? '--home' : 'SLURM_FACTORY_HOME';
  return {
    what, given: config.home,
    fix: `set ${what} to an absolute path of a writable directory on a real disk (default ~/.slurm-factory)`,
  };
}

/** The path of one cache subdirectory, created on demand. */
export function cacheDir(config: FactoryConfig, sub: CacheSubdir, create = true): string {
  const dir = join(config.home, sub);
  if (create) ensureUserDir(dir, homeSource(config));
  return dir;
}

/**
 * The host copy of one toolchain's binary cache: buildcache/<cacheKey> (base image + GCC), like the BuildKit
 * cache mount it mirrors, so its index (the newest one merged in) lists every binary of that toolchain.
 */
export function hostBuildcacheDir(config: FactoryConfig, cacheKey: string, create = true): string {
  const dir = join(cacheDir(config, 'buildcache', create), cacheKey);
  if (create) ensureUserDir(dir, homeSource(config));
  return dir;
}

/** The host caches a build reads through named contexts (created unless only printing the command). */
export function hostCacheContexts(config: FactoryConfig, cacheKey: string, create: boolean): Record<'host-buildcache' | 'host-sourcecache', string> {
  return { 'host-buildcache': hostBuildcacheDir(config, cacheKey, create), 'host-sourcecache': cacheDir(config, 'sourcecache', create) };
}

/** logs/<name>-<UTC timestamp>.log: where one build's full output goes. */
export function logFile(config: FactoryConfig, name: string): string {
  return join(cacheDir(config, 'logs'), `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
}
