/**
 * Key files are read in one place (tasks/lib/keys.ts): every task that takes a key file names a missing one, a
 * directory and a key of the wrong kind with the same one line (option, path, what is wrong, what to do), exit 2,
 * before it does any work.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, withTempDir } from './helpers.ts';

test('sign, build, verify and publish refuse a bad key file with the same line', () => {
  withTempDir((t) => {
    const env = { SLURM_FACTORY_HOME: join(t, 'home') };
    const kg = runCli(['keygen', '--name', 'keys test', '--out', join(t, 'keys')], { env });
    assert.is(kg.status, 0, kg.stderr);
    const priv = join(t, 'keys', 'signing.private.asc');
    const pub = join(t, 'keys', 'signing.public.asc');
    const file = join(t, 'data.txt');
    writeFileSync(file, 'data\n');
    mkdirSync(join(t, 'adir'));
    const tasks: { kind: 'private' | 'public'; wrong: string; args: (key: string) => string[] }[] = [
      { kind: 'private', wrong: pub, args: (k) => ['sign', file, '--key', k] },
      { kind: 'private', wrong: pub, args: (k) => ['build', '25.11', '--sign-key', k, '--print'] },
      { kind: 'public', wrong: priv, args: (k) => ['verify', file, '--key', k] },
      {
        kind: 'public',
        wrong: priv,
        args: (k) => ['publish', '--bucket', 'ok-bucket', '--buildcache', 'none', '--public-key', k, '--dry-run'],
      },
    ];
    for (const task of tasks) {
      const flag = task.args('K').find((a, i, all) => all[i + 1] === 'K')!;
      const cases: [string, RegExp][] = [
        [join(t, 'missing.asc'), new RegExp(`^error: ${flag} '[^']*missing\\.asc' does not exist; give `)],
        [join(t, 'adir'), new RegExp(`^error: ${flag} '[^']*adir' is not a file; give `)],
        [task.wrong, new RegExp(`^error: ${flag} '[^']*' is not an ASCII-armored OpenPGP ${task.kind} key; export `)],
      ];
      for (const [key, message] of cases) {
        const r = runCli(task.args(key), { env });
        const what = `${task.args(key).join(' ')}`;
        assert.is(r.status, 2, `${what}: ${r.stderr}`);
        assert.is(r.stderr.trim().split('\n').length, 1, `${what}: one line: ${r.stderr}`);
        assert.match(r.stderr, message, what);
      }
    }
  });
});

test.run();
