import { defineTask } from './lib/task.ts';
import { CACHE_SUBDIRS, resolveConfig, type CacheSubdir } from './lib/config.ts';
import { ConfigurationError } from './lib/errors.ts';
import { lstatSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Bytes under `path`, never following a link (lstat): a link inside a cache directory counts as itself, so a
 * link to a big directory elsewhere is not reported as removable and a link loop cannot stop the task (rmSync
 * removes links, never what they point to).
 */
function size(path: string): number {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, e) => sum + size(join(path, e)), 0);
}

/** How a target is shown: a cache directory that is itself a link is removed as a link only. */
function describe(path: string): string {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return `${path} (a symbolic link to ${readlinkSync(path)}: only the link is removed)`;
  return `${path} (${(size(path) / 2 ** 20).toFixed(1)} MiB)`;
}

export const task = defineTask({
  name: 'clean',
  summary: 'Remove chosen cache directories under SLURM_FACTORY_HOME',
  usage: 'clean <buildcache|sourcecache|builds|compilers|logs|all ...> [--dry-run] [--yes]',
  example: 'npx zx Taskfile.ts clean logs builds --dry-run',
  positionals: [
    { name: 'what', arg: '<what ...>', help: `what to remove: ${[...CACHE_SUBDIRS, 'all'].join(', ')}`, rest: true },
  ],
  options: {
    'dry-run': { type: 'boolean', help: 'say what would be removed and how big it is' },
    yes: { type: 'boolean', help: 'remove without asking (needed when not on a terminal)' },
  },
  async run({ opts, rest }) {
    const allowed = [...CACHE_SUBDIRS, 'all'];
    for (const w of rest) {
      if (!allowed.includes(w)) {
        throw new ConfigurationError(`cannot clean '${w}'`, { remediation: `choose from ${allowed.join(', ')}` });
      }
    }
    const subs: CacheSubdir[] = rest.includes('all') ? [...CACHE_SUBDIRS] : (rest as CacheSubdir[]);
    const config = resolveConfig();
    const targets = subs.map((s) => join(config.home, s)).filter((p) => lstatSync(p, { throwIfNoEntry: false }));
    if (targets.length === 0) {
      console.log('nothing to remove');
      return 0;
    }
    for (const t of targets) console.log(`${opts['dry-run'] ? 'would remove' : 'removing'} ${describe(t)}`);
    if (opts['dry-run']) return 0;
    if (!opts.yes) {
      if (!process.stdin.isTTY) {
        throw new ConfigurationError('clean needs confirmation', {
          remediation: 'pass --yes (or --dry-run to only look)',
        });
      }
      const { question } = await import('zx');
      const answer = await question('remove these? [y/N] ');
      if (!/^y(es)?$/i.test(answer.trim())) {
        console.log('nothing removed');
        return 1;
      }
    }
    for (const t of targets) rmSync(t, { recursive: true, force: true });
    return 0;
  },
});
