/**
 * The CLI on hostile ground: paths on /proc, /sys or a read-only disk, a file where a directory should be, a
 * relative SLURM_FACTORY_HOME, negative numbers, Ctrl-C in the middle of a matrix, the script run from another
 * directory. Each case runs the real CLI in a child process with a timeout, so a regression that spins (Node's
 * recursive mkdir on procfs) fails instead of hanging the suite.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { editedFiles } from '../tasks/lib/writer.ts';
import { repoRoot, tempDir, withTempDir, testIf } from './helpers.ts';

/** tsx by absolute path: the CLI runs with any working directory. */
const tsxLoader = import.meta.resolve('tsx');
const taskfile = join(repoRoot, 'Taskfile.ts');
/** The environment without npm's NODE_OPTIONS (`--import tsx`, which resolves from the working directory). */
function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', ...extra };
  delete env.NODE_OPTIONS;
  return env;
}

function cli(
  args: string[],
  o: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; script?: string; pre?: string[] } = {},
) {
  const r = spawnSync(process.execPath, ['--import', tsxLoader, ...(o.pre ?? []), o.script ?? taskfile, ...args], {
    cwd: o.cwd ?? repoRoot,
    env: baseEnv(o.env),
    encoding: 'utf8',
    timeout: o.timeoutMs ?? 30_000,
    killSignal: 'SIGKILL',
  });
  return {
    status: r.status ?? -1,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    timedOut: r.error !== undefined || r.signal === 'SIGKILL',
  };
}

/** Exit 2 and exactly one line `error: ...` that names `given` and no internal temp path. */
function assertOneLine(r: ReturnType<typeof cli>, given: string, why: RegExp) {
  assert.not.ok(r.timedOut, `finished in time (stderr: ${r.stderr})`);
  assert.is(r.status, 2, `exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.trim().split('\n');
  assert.is(lines.length, 1, `one line: ${r.stderr}`);
  assert.match(lines[0]!, /^error: /);
  assert.ok(lines[0]!.includes(`'${given}'`), `names the path the user gave (${given}): ${lines[0]}`);
  assert.match(lines[0]!, why);
  assert.not.match(lines[0]!, /\.tmp-|\.old-/, 'no internal temp path');
  assert.not.match(r.stderr, /^\s+at /m, 'no stack trace');
}

const noEngine = (t: string) => ({ DOCKER_HOST: `unix://${t}/no-engine.sock` });

test('a path on /proc or /sys fails at once with one line instead of spinning', () => {
  withTempDir((t) => {
    const home = { SLURM_FACTORY_HOME: join(t, 'home') };
    const cases: [string[], Record<string, string>, string][] = [
      [['render', '25.11', '--out', '/proc/x'], home, '/proc/x'],
      [['render', '25.11', '--out', '/proc/self/fd/x/y'], home, '/proc/self/fd/x/y'],
      [['render', '25.11', '--out', '/sys/x'], home, '/sys/x'],
      [['keygen', '--name', 'x'], { SLURM_FACTORY_HOME: '/proc/1/x' }, '/proc/1/x'],
      [['keygen', '--name', 'x', '--out', '/sys/kernel/x'], home, '/sys/kernel/x'],
      [['ci-matrix', '--slurm', '25.11', '--out', '/proc/x/w.yml'], home, '/proc/x/w.yml'],
      [['bake', '--slurm', '25.11', '--render-only', '--file', '/proc/x/b.hcl'], home, '/proc/x/b.hcl'],
    ];
    for (const [args, env, given] of cases) {
      const r = cli(args, { env, cwd: t, timeoutMs: 20_000 });
      assertOneLine(r, given, /\/(proc|sys) is a virtual filesystem/);
    }
    // doctor does not die: it prints its table with failing rows.
    const d = cli(['doctor'], { env: { SLURM_FACTORY_HOME: '/proc/1/x', ...noEngine(t) }, cwd: t, timeoutMs: 30_000 });
    assert.not.ok(d.timedOut, 'doctor finished');
    assert.is(d.status, 1, d.stderr);
    assert.match(d.stdout, /^FAIL {2}cache logs\/ +SLURM_FACTORY_HOME '\/proc\/1\/x': \/proc is a virtual filesystem/m);
    assert.match(d.stdout, /^FAIL {2}free disk /m);
    assert.is(d.stderr, '');
    assert.equal(readdirSync(t), [], 'nothing written');
  });
});

test('a file where a directory should be: one line naming the path, exit 2, nothing written', () => {
  withTempDir((t) => {
    const file = join(t, 'file');
    writeFileSync(file, 'x');
    const home = { SLURM_FACTORY_HOME: join(t, 'home') };
    const cases: [string[], Record<string, string>, string, RegExp][] = [
      [['render', '25.11', '--out', join(file, 'ctx')], home, join(file, 'ctx'), /file is a file, not a directory/],
      [['render', '25.11', '--out', file], home, file, /is a file, not a directory/],
      [['keygen', '--name', 'x', '--out', file], home, file, /is a file, not a directory/],
      [
        ['keygen', '--name', 'x'],
        { SLURM_FACTORY_HOME: file },
        file,
        /SLURM_FACTORY_HOME .*is a file, not a directory; set SLURM_FACTORY_HOME/,
      ],
      [
        ['ci-matrix', '--slurm', '25.11', '--out', join(file, 'w.yml')],
        home,
        join(file, 'w.yml'),
        /is a file, not a directory/,
      ],
      [
        ['bake', '--slurm', '25.11', '--render-only', '--file', join(file, 'b.hcl')],
        home,
        join(file, 'b.hcl'),
        /is a file, not a directory/,
      ],
    ];
    for (const [args, env, given, why] of cases) {
      assertOneLine(cli(args, { env, cwd: t }), given, why);
      assert.equal(readdirSync(t), ['file'], `${args.join(' ')}: nothing written`);
    }
    // doctor prints its table with a failing row for each cache directory, and the free disk it can see.
    const d = cli(['doctor'], { env: { SLURM_FACTORY_HOME: file, ...noEngine(t) }, cwd: t });
    assert.is(d.status, 1, d.stderr);
    assert.match(
      d.stdout,
      new RegExp(`^FAIL {2}cache builds/ +SLURM_FACTORY_HOME '${file}': ${file} is a file, not a directory`, 'm'),
    );
    assert.match(d.stdout, /^(ok  |FAIL) {2}free disk +\d+\.\d GiB at /m);
    // A home under /sys: statfs of a missing path used to kill doctor (ENOENT) before it printed anything.
    const s = cli(['doctor'], { env: { SLURM_FACTORY_HOME: '/sys/no/such/home', ...noEngine(t) }, cwd: t });
    assert.is(s.status, 1, s.stderr);
    assert.match(s.stdout, /^SLURM_FACTORY_HOME = \/sys\/no\/such\/home \(environment\)$/m);
    assert.match(
      s.stdout,
      /^FAIL {2}cache logs\/ +SLURM_FACTORY_HOME '\/sys\/no\/such\/home': \/sys is a virtual filesystem/m,
    );
    assert.is(s.stderr, '');
    assert.equal(readdirSync(t), ['file']);
  });
});

/** A read-only filesystem (tmpfs mounted ro): root ignores mode bits, so chmod cannot stand in for it. */
const roMount = (): string | null => {
  if (process.getuid?.() !== 0) return 'needs root to mount a read-only tmpfs';
  return withTempDir((t) => {
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', t]);
    if (r.status !== 0) return `cannot mount a tmpfs here (${String(r.stderr).trim()})`;
    spawnSync('umount', [t]);
    return null;
  });
};

testIf(test, [roMount])('a read-only disk: render, keygen and doctor say so in one line or one row', () => {
  const t = tempDir();
  const ro = join(t.path, 'ro');
  mkdirSync(ro);
  assert.is(spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]).status, 0);
  try {
    assertOneLine(
      cli(['render', '25.11', '--out', join(ro, 'ctx')], { cwd: t.path }),
      join(ro, 'ctx'),
      /is not writable: read-only filesystem \(EROFS\)/,
    );
    assertOneLine(
      cli(['keygen', '--name', 'x'], { env: { SLURM_FACTORY_HOME: join(ro, 'home') }, cwd: t.path }),
      join(ro, 'home'),
      /read-only filesystem/,
    );
    const d = cli(['doctor'], { env: { SLURM_FACTORY_HOME: join(ro, 'home'), ...noEngine(t.path) }, cwd: t.path });
    assert.is(d.status, 1, d.stderr);
    assert.match(
      d.stdout,
      /^FAIL {2}cache logs\/ +SLURM_FACTORY_HOME '\S+\/ro\/home': \S+\/ro is not writable: read-only filesystem/m,
    );
    assert.equal(readdirSync(ro), []);
  } finally {
    spawnSync('umount', [ro]);
    t.cleanup();
  }
});

test("render --out . (the working directory) is refused instead of replacing the shell's directory", () => {
  withTempDir((t) => {
    const inode = statSync(t).ino;
    for (const out of ['.', t]) {
      assertOneLine(
        cli(['render', '25.11', '--out', out], { cwd: t }),
        out,
        /is, or holds, the working directory; .*give a subdirectory/,
      );
    }
    const sub = join(t, 'sub');
    mkdirSync(sub);
    assertOneLine(cli(['render', '25.11', '--out', t], { cwd: sub }), t, /holds, the working directory/);
    assert.is(statSync(t).ino, inode, 'the directory is still the same one');
    assert.equal(readdirSync(t), ['sub']);
  });
});

test('a relative SLURM_FACTORY_HOME is refused instead of landing keys in the working directory', () => {
  withTempDir((t) => {
    const r = cli(['keygen', '--name', 'x'], { env: { SLURM_FACTORY_HOME: 'rel-home' }, cwd: t });
    assertOneLine(r, 'rel-home', /SLURM_FACTORY_HOME 'rel-home' is a relative path; give an absolute path/);
    assert.equal(readdirSync(t), [], 'no rel-home/keys in the working directory');
  });
});

test('bake finds the engine down before writing the bake file', () => {
  withTempDir((t) => {
    const file = join(t, 'out', 'docker-bake.hcl');
    const r = cli(['bake', '--slurm', '25.11', '--file', file], {
      env: { SLURM_FACTORY_HOME: join(t, 'home'), ...noEngine(t) },
      cwd: t,
    });
    assert.is(r.status, 2, r.stderr);
    assert.match(r.stderr, /^error: the Docker engine does not answer/);
    assert.is(r.stderr.trim().split('\n').length, 1);
    assert.equal(readdirSync(t), [], 'no bake file, no home');
  });
});

test('a negative number is an invalid value, not an unknown option', () => {
  withTempDir((t) => {
    const env = { SLURM_FACTORY_HOME: join(t, 'home') };
    const cases: [string[], RegExp][] = [
      [
        ['render', '25.11', '--jobs', '-1', '--out', join(t, 'ctx')],
        /^error: --jobs '-1' is not a whole number.*e\.g\. --jobs 8/,
      ],
      [['bake', '--jobs', '-1', '--render-only'], /^error: --jobs '-1' is not a whole number from 1 to 1024/],
      [
        ['publish', '--bucket', 'some-bucket', '--retries', '-3'],
        /^error: --retries '-3' is not a whole number from 0 to 20/,
      ],
      [['keygen', '--name', 'x', '--expires', '-30'], /^error: --expires '-30' is not a whole number of days/],
    ];
    for (const [args, why] of cases) {
      const r = cli(args, { env, cwd: t });
      assert.is(r.status, 2, r.stderr);
      assert.match(r.stderr, why);
      assert.not.match(r.stderr, /unknown option/);
    }
    assert.equal(readdirSync(t), []);
  });
});

test('Taskfile.ts runs from another directory, directly or through zx and a symlink', () => {
  withTempDir((t) => {
    const direct = cli(['help'], { cwd: t });
    assert.is(direct.status, 0, direct.stderr);
    assert.match(direct.stdout, /^usage: npx zx Taskfile\.ts <task>/m);
    const link = join(t, 'tasks.ts');
    symlinkSync(taskfile, link);
    const zx = join(repoRoot, 'node_modules', 'zx', 'build', 'cli.js');
    for (const script of [taskfile, link]) {
      const r = cli(['help', 'render'], { cwd: t, pre: [zx], script });
      assert.is(r.status, 0, `${script}: ${r.stderr}`);
      assert.match(r.stdout, /^usage: npx zx Taskfile\.ts render /m);
      const bad = cli(['render', '24.05'], { cwd: t, pre: [zx], script });
      assert.is(bad.status, 2);
      assert.match(bad.stderr, /^error: Slurm 24\.05 is not in the catalog/);
    }
  });
});

test('bin/slurm-factory.mjs runs every task from any directory with plain node; without npm ci, one line', () => {
  withTempDir((t) => {
    const launcher = join(repoRoot, 'bin', 'slurm-factory.mjs');
    const run = (file: string, args: string[]) =>
      spawnSync(process.execPath, [file, ...args], {
        cwd: t,
        encoding: 'utf8',
        env: { ...process.env, NODE_OPTIONS: '', SLURM_FACTORY_HOME: join(t, 'home') },
      });
    const help = run(launcher, ['help', 'render']);
    assert.is(help.status, 0, help.stderr);
    assert.match(help.stdout, /^usage: npx zx Taskfile\.ts render /m);
    const bad = run(launcher, ['render', '24.05']);
    assert.is(bad.status, 2);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.match(bad.stderr, /^error: Slurm 24\.05 is not in the catalog/);
    // A checkout without node_modules: the launcher says what to run instead of a stack trace.
    const bare = join(t, 'bare');
    mkdirSync(join(bare, 'bin'), { recursive: true });
    cpSync(launcher, join(bare, 'bin', 'slurm-factory.mjs'));
    const none = run(join(bare, 'bin', 'slurm-factory.mjs'), ['help']);
    assert.is(none.status, 2);
    assert.match(none.stderr.trim(), /^error: .*bare has no node_modules\/tsx; run 'npm ci' in .*bare first$/);
  });
});

/** A copy of the project (code, templates, scripts; node_modules linked) so a matrix render writes only there. */
function projectCopy(dir: string): string {
  for (const f of ['Taskfile.ts', 'package.json', 'package-lock.json', 'tsconfig.json'])
    cpSync(join(repoRoot, f), join(dir, f));
  for (const d of ['tasks', 'templates', 'scripts', 'spack'])
    cpSync(join(repoRoot, d), join(dir, d), { recursive: true });
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

test('Ctrl-C during bake --render-only of the whole matrix: exit 130 within a second, nothing half-written', async () => {
  await withTempDir(async (t) => {
    const root = projectCopy(t);
    const out = join(root, 'dockerfiles');
    const bakeFile = join(out, 'docker-bake.hcl');
    const child = spawn(
      process.execPath,
      [
        '--import',
        tsxLoader,
        join(root, 'Taskfile.ts'),
        'bake',
        '--render-only',
        '--gcc',
        '7.5.0,8.5.0,9.5.0,10.5.0,11.5.0,12.5.0,13.4.0,14.2.0',
        '--flavours',
        'cpu,gpu',
      ],
      {
        cwd: root,
        env: baseEnv({ SLURM_FACTORY_HOME: join(t, 'home') }),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<{ code: number | null; signal: string | null; at: number }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
    );
    // Wait until the render is under way (a few contexts written), then press Ctrl-C.
    const started = Date.now();
    const contexts = () => (existsSync(out) ? readdirSync(out).filter((n) => n.startsWith('slurm-')) : []);
    while (contexts().length < 3 && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 10));
    assert.ok(contexts().length >= 3, `the render started (stderr: ${stderr})`);
    const sentAt = Date.now();
    child.kill('SIGINT');
    const timeout = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const r = await exited;
    clearTimeout(timeout);
    const ms = r.at - sentAt;
    console.log(`  Ctrl-C after ${contexts().length} of 80 contexts: exited ${r.code ?? r.signal} after ${ms} ms`);
    assert.is(r.code, 130, `exit code (stderr: ${stderr})`);
    assert.ok(ms < 1000, `stopped within a second (${ms} ms)`);
    assert.match(stderr, /interrupted/);
    assert.not.ok(existsSync(bakeFile), 'no bake file for a matrix that was not rendered');
    const names = readdirSync(out);
    assert.equal(
      names.filter((n) => n.startsWith('.') || n.includes('.tmp-')),
      [],
      'no temp directories left',
    );
    assert.ok(contexts().length < 80, 'stopped before the end');
    for (const n of contexts()) assert.equal(editedFiles(join(out, n)), [], `${n} is complete`);
  });
});

test('Ctrl-C while keygen makes an RSA key: stops at once, no key files', async () => {
  // Ctrl-C goes the moment keygen says it is generating. A fast machine can still finish a key before the
  // signal lands: such a try proves nothing, so it is run again (at most 5 tries), never counted as a pass.
  for (let attempt = 1; ; attempt++) {
    const outcome = await withTempDir(async (t) => {
      const keys = join(t, 'keys');
      const child = spawn(
        process.execPath,
        ['--import', tsxLoader, taskfile, 'keygen', '--name', 'x', '--type', 'rsa', '--out', keys],
        { cwd: t, env: baseEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      let exitedAt = 0;
      const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
        child.on('exit', (code, signal) => {
          exitedAt = Date.now();
          resolve({ code, signal });
        }),
      );
      const generating = new Promise<void>((resolve) =>
        child.stderr.on('data', (d) => {
          stderr += d;
          if (/generating/.test(stderr)) resolve();
        }),
      );
      await Promise.race([generating, exited]);
      if (exitedAt !== 0) return { raced: false, stderr, code: (await exited).code, signal: null, ms: 0, keys };
      const sentAt = Date.now();
      child.kill('SIGINT');
      const r = await exited;
      // Exit 0 with the key written means keygen was done before the signal arrived.
      if (r.code === 0 && existsSync(keys)) return { raced: true, stderr, code: 0, signal: null, ms: 0, keys };
      return {
        raced: false,
        stderr,
        code: r.code,
        signal: r.signal,
        ms: exitedAt - sentAt,
        keys,
        gone: !existsSync(keys),
      };
    });
    if (outcome.raced && attempt < 5) {
      console.log(`  keygen: finished before Ctrl-C landed (try ${attempt}); again`);
      continue;
    }
    console.log(`  keygen: exited ${outcome.code ?? outcome.signal} ${outcome.ms} ms after Ctrl-C (try ${attempt})`);
    assert.not.ok(outcome.raced, 'keygen finished before Ctrl-C in 5 tries: the interruption was never exercised');
    // Either exit 130 or death by SIGINT (what a shell reports as 130).
    assert.ok(
      outcome.code === 130 || outcome.signal === 'SIGINT',
      `exit 130 (got ${outcome.code ?? outcome.signal}; stderr: ${outcome.stderr})`,
    );
    assert.ok(outcome.ms < 1000, `stopped within a second (${outcome.ms} ms)`);
    assert.match(outcome.stderr, /interrupted/);
    assert.ok(outcome.gone, 'no key directory');
    return;
  }
});

test.run();
