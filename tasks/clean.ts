import { defineTask } from './lib/task.ts';
import { CACHE_SUBDIRS, resolveConfig, type CacheSubdir } from './lib/config.ts';
import { ConfigurationError } from './lib/errors.ts';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

function size(path: string): number {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, e) => sum + size(join(path, e)), 0);
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
    const targets = subs.map((s) => join(config.home, s)).filter((p) => existsSync(p));
    if (targets.length === 0) {
      console.log('nothing to remove');
      return 0;
    }
    for (const t of targets)
      console.log(`${opts['dry-run'] ? 'would remove' : 'removing'} ${t} (${(size(t) / 2 ** 20).toFixed(1)} MiB)`);
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
