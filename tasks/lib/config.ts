/**
 * Effective configuration: flags > environment > defaults. `doctor` prints it.
 */
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { ConfigurationError } from './errors.ts';

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
  if (home.trim() === '') {
    throw new ConfigurationError(`SLURM_FACTORY_HOME is empty`, { remediation: 'unset it or give an absolute directory' });
  }
  if (!isAbsolute(home)) home = resolve(home);
  return { home, sources: { home: source } };
}

/** The path of one cache subdirectory, created on demand. */
export function cacheDir(config: FactoryConfig, sub: CacheSubdir, create = true): string {
  const dir = join(config.home, sub);
  if (create) mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * The host copy of one toolchain's binary cache: buildcache/<cacheKey> (base image + GCC), like the BuildKit
 * cache mount it mirrors, so its index (the newest one merged in) lists every binary of that toolchain.
 */
export function hostBuildcacheDir(config: FactoryConfig, cacheKey: string, create = true): string {
  const dir = join(cacheDir(config, 'buildcache', create), cacheKey);
  if (create) mkdirSync(dir, { recursive: true });
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
