/**
 * tasks/lib modules are libraries: importing one changes nothing about the process (no signal handlers, no
 * environment writes, no directories), a function asked for a path only computes it, configuration comes from
 * resolveConfig, and the modules that build a command as data run nothing while doing so.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cachePath,
  ensureCacheDir,
  ensureHostCaches,
  hostBuildcachePath,
  hostCacheContexts,
  logFilePath,
  resolveConfig,
  sourceDateEpoch,
} from '../tasks/lib/config.ts';
import { onInterrupt } from '../tasks/lib/build-run.ts';
import { repoRoot, withTempDir } from './helpers.ts';

const libDir = join(repoRoot, 'tasks', 'lib');
const libModules = readdirSync(libDir)
  .filter((f) => f.endsWith('.ts'))
  .sort();

test('importing every tasks/lib module installs no signal handler, writes no environment variable, creates nothing', () => {
  withTempDir((t) => {
    const script = `
      const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'exit', 'beforeExit'];
      const count = () => Object.fromEntries(signals.map((s) => [s, process.listenerCount(s)]));
      const before = { listeners: count(), env: { ...process.env } };
      for (const f of ${JSON.stringify(libModules)}) await import(${JSON.stringify(`${libDir}/`)} + f);
      const after = { listeners: count(), env: { ...process.env } };
      console.log(JSON.stringify({ before, after }));
    `;
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: t, SLURM_FACTORY_HOME: join(t, 'home') };
    delete env.NODE_OPTIONS; // npm's `--import tsx` resolves from the cwd, a temp dir here
    const r = spawnSync(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', script],
      {
        cwd: t,
        encoding: 'utf8',
        env,
      },
    );
    assert.is(r.status, 0, r.stderr);
    const { before, after } = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      before: Record<string, object>;
      after: Record<string, object>;
    };
    assert.equal(after.listeners, before.listeners, 'process listeners after importing tasks/lib');
    assert.equal(after.env, before.env, 'process.env after importing tasks/lib');
    assert.equal(readdirSync(t), [], 'nothing created in the home or the working directory');
  });
});

test('a SIGINT listener is installed only while work to undo is registered', () => {
  const base = process.listenerCount('SIGINT');
  const forget = onInterrupt(() => {});
  assert.is(process.listenerCount('SIGINT'), base + 1);
  forget();
  assert.is(process.listenerCount('SIGINT'), base);
});

test('asking for a cache path creates nothing; ensure... creates it', () => {
  withTempDir((t) => {
    const config = resolveConfig({ home: join(t, 'home') });
    const paths = [
      cachePath(config, 'builds'),
      hostBuildcachePath(config, 'key'),
      ...Object.values(hostCacheContexts(config, 'key')),
      logFilePath(config, 'x'),
    ];
    for (const p of paths) assert.ok(p.startsWith(join(t, 'home')), p);
    assert.equal(readdirSync(t), [], 'paths only');
    ensureHostCaches(config, 'key');
    assert.ok(existsSync(join(t, 'home', 'buildcache', 'key')));
    assert.ok(existsSync(join(t, 'home', 'sourcecache')));
    assert.is(ensureCacheDir(config, 'logs'), join(t, 'home', 'logs'));
    assert.ok(existsSync(join(t, 'home', 'logs')));
  });
});

test('resolveConfig reads the environment: bucket (flag first) and SOURCE_DATE_EPOCH, checked where it is used', () => {
  const env = { SLURM_FACTORY_HOME: '/srv/sf', SLURM_FACTORY_BUCKET: 'env-bucket', SOURCE_DATE_EPOCH: '1700000000' };
  const c = resolveConfig({}, env);
  assert.is(c.bucket, 'env-bucket');
  assert.is(c.sources.bucket, 'environment');
  assert.is(resolveConfig({ bucket: 'flag-bucket' }, env).bucket, 'flag-bucket');
  assert.is(resolveConfig({ bucket: 'flag-bucket' }, env).sources.bucket, 'flag');
  assert.is(resolveConfig({}, { ...env, SLURM_FACTORY_BUCKET: '' }).bucket, undefined, 'empty is unset');
  assert.is(sourceDateEpoch(c, repoRoot), 1700000000);
  assert.throws(
    () => sourceDateEpoch(resolveConfig({}, { ...env, SOURCE_DATE_EPOCH: 'yesterday' }), repoRoot),
    /SOURCE_DATE_EPOCH 'yesterday' is not a whole number/,
  );
});

test('modules that build commands or files as data import no child_process and read no environment', () => {
  for (const f of ['buildx.ts', 'matrix.ts', 'plan.ts', 'plan-options.ts', 'args.ts']) {
    const text = readFileSync(join(libDir, f), 'utf8');
    assert.not.match(text, /from 'node:child_process'/, `${f} runs no process`);
    assert.not.match(text, /process\.env/, `${f} reads no environment (resolveConfig does)`);
  }
});

test.run();
