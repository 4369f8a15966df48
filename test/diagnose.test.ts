/**
 * diagnose() on logs captured from real failed builds (test/fixtures/diagnose/, see its README), the one line a
 * failed build ends with, and the quoting of the command a user can rerun by hand.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { diagnose, processOutput, FULL_DISK_BYTES } from '../tasks/lib/diagnose.ts';
import { failedStage, shellQuote } from '../tasks/lib/buildx.ts';
import { buildFailure, exportDest } from '../tasks/lib/build-run.ts';
import { repoRoot } from './helpers.ts';

const fixture = (name: string) => readFileSync(join(repoRoot, 'test/fixtures/diagnose', `${name}.log`), 'utf8');

const CASES: [name: string, rule: string, stage: string | null, cause: RegExp, fix: RegExp][] = [
  [
    'base-image-unreachable',
    'base-image',
    'base',
    /^image 'nonexistent:latest' is not in the local image store and cannot be pulled: its registry is unreachable \(lookup registry-1\.docker\.io on \S+: no such host\)$/,
    /--base-image IMAGE .*'scripts\/make-base-image\.sh debian12'/,
  ],
  [
    'registry-not-found',
    'base-image',
    'base',
    /^image '127\.0\.0\.1:\d+\/nonexistent:latest' .*cannot be pulled: the registry has no such image$/,
    /--base-image IMAGE/,
  ],
  [
    'registry-denied',
    'base-image',
    'base',
    /cannot be pulled: the registry denies it: no such repository, or it needs a login$/,
    /docker login/,
  ],
  [
    'registry-refused',
    'base-image',
    'base',
    /its registry is unreachable \(dial tcp 127\.0\.0\.1:1: connect: connection refused\)$/,
    /make-base-image\.sh/,
  ],
  [
    'git-input',
    'git-input',
    'spack-src',
    /^input stages spack-src, spack-packages-src could not clone from github\.com \(Could not resolve host: github\.com\)$/,
    /^give local checkouts at the pinned commits: --context spack-src=DIR --context spack-packages-src=DIR$/,
  ],
  [
    'missing-context',
    'missing-context',
    null,
    /^named context 'spack-src' is directory '\/tmp\/dx\/missing-dir', which does not exist$/,
    /--context spack-src=DIR/,
  ],
  [
    'spack-checksum',
    'spack-checksum',
    'deps',
    /^the source of munge@0\.5\.15 does not match its recipe's sha256 checksum \(expected aaaaaaaaaaaa\.\.\., got 3ada39121a46\.\.\.\)/,
    /--context source-mirror=DIR/,
  ],
  [
    'spack-fetch',
    'spack-fetch',
    'deps',
    /^Spack could not download the source of munge@0\.5\.15 /,
    /--context source-mirror=DIR/,
  ],
  [
    'sigkill',
    'out-of-memory',
    'deps',
    /^a build step was killed by SIGKILL \(exit code 137\), as the kernel's out-of-memory killer does$/,
    /--jobs 2/,
  ],
  ['gcc-killed', 'out-of-memory', 'base', /^the compiler's cc1 was killed \(SIGKILL\)/, /--jobs 2/],
  [
    'exec-format',
    'foreign-arch',
    null,
    /^the builder cannot run programs of the build's platform \(exec \/bin\/sh: exec format error\)$/,
    /scripts\/setup-arm64\.sh/,
  ],
  [
    'enospc-step',
    'disk-full',
    'deps',
    /^a disk filled up \(head: error writing 'standard output': No space left on device\)$/,
    /npx zx Taskfile\.ts clean builds logs --dry-run/,
  ],
];

for (const [name, rule, stage, cause, fix] of CASES) {
  test(`${name}: ${rule}`, () => {
    const log = fixture(name);
    const d = diagnose(log);
    assert.ok(d, 'diagnosed');
    assert.is(d.rule, rule);
    assert.match(d.cause, cause, d.cause);
    assert.match(d.fix, fix, d.fix);
    assert.is(failedStage(log), stage);
  });
}

test('an export onto a full disk: only the measured free space tells, since buildx says EOF', () => {
  const log = fixture('enospc-export');
  assert.not.match(log, /space/i);
  assert.is(diagnose(log), null, 'no free-space figure: no guess');
  assert.is(
    diagnose(log, { exportDir: '/big', exportFreeBytes: 100 * 2 ** 30 }),
    null,
    'a disk with room: not the cause',
  );
  const d = diagnose(log, { exportDir: '/mnt/tiny/out', exportFreeBytes: 0 });
  assert.is(d?.rule, 'disk-full');
  assert.is(d?.cause, 'the export to /mnt/tiny/out stopped with its disk full (0 KiB free)');
  assert.match(d!.fix, /SLURM_FACTORY_HOME at a bigger disk/);
  assert.is(diagnose(log, { exportFreeBytes: FULL_DISK_BYTES - 1 })?.rule, 'disk-full');
  // A step that failed on its own, on a nearly full disk, is not blamed on the disk.
  assert.is(diagnose(fixture('plain-failure'), { exportDir: '/x', exportFreeBytes: 0 }), null);
});

test('a failure none of the rules knows gets no diagnosis', () => {
  assert.is(diagnose(fixture('plain-failure')), null);
  assert.is(diagnose(''), null);
});

test("the RUN's own text is not read as its output", () => {
  // The checksum fixture's RUN prints Spack's message; its text, echoed by BuildKit, holds `$PWD` unexpanded.
  const out = processOutput(fixture('spack-checksum'));
  assert.not.match(out, /\$PWD/);
  assert.match(out, /checksum failed for \/tmp\/s\/spack-stage-munge-/);
  const onlyCommand = `#7 [deps 1/1] RUN echo "sha256 checksum failed for x; exit code: 137; No space left on device"
#7 ERROR: process "/bin/sh -c echo \\"sha256 checksum failed for x; exit code: 137\\" && false" did not complete successfully: exit code: 1
------
 > [deps 1/1] RUN echo "sha256 checksum failed for x; exit code: 137; No space left on device":
------
Dockerfile:3
   3 | >>> RUN echo "sha256 checksum failed for x; exit code: 137; No space left on device"
ERROR: failed to solve: process "/bin/sh -c echo \\"sha256 checksum failed for x; exit code: 137\\" && false" did not complete successfully: exit code: 1
`;
  assert.is(diagnose(onlyCommand), null);
});

test('rules are ordered: a full disk or a killed process explains the errors that follow it', () => {
  const both = `${fixture('spack-checksum')}\n#9 0.1 tar: write error: No space left on device\n`;
  assert.is(diagnose(both)?.rule, 'disk-full');
  assert.is(diagnose(`${fixture('spack-fetch')}\n${fixture('sigkill')}`)?.rule, 'out-of-memory');
});

test('Spack texts from its source: FetchError variants, bootstrap failure', () => {
  assert.match(
    diagnose(
      '#12 9.1 ==> Error: FetchError: All fetchers failed for spack-stage-lz4-1.10.0-abcdefghijklmnopqrstuvwxyz012345\n',
    )!.cause,
    /source of lz4@1\.10\.0 /,
  );
  const boot = diagnose(
    '#9 3.2 ==> Error: cannot bootstrap the "clingo" Python module from spec "clingo-bootstrap@spack+python" due to the following failures:\n',
  );
  assert.is(boot?.rule, 'spack-bootstrap');
  assert.match(boot!.fix, /--context spack-bootstrap-mirror=DIR/);
  assert.match(
    diagnose(
      '#9 3.2 ==> Error: cannot bootstrap any of the patchelf executables from spec "patchelf@0.13.1:0.13.99"\n',
    )!.cause,
    /could not bootstrap patchelf /,
  );
  assert.is(failedStage('  28 | >>> FROM --platform=linux/amd64 ${BASE_IMAGE} AS base\n'), 'base');
});

test("a failed build's one line names the stage, the cause, the fix and the log", () => {
  const e = buildFailure(fixture('sigkill'), 1, '/home/u/.slurm-factory/logs/x.log', 'docker buildx build .');
  assert.is(
    e.oneLine(),
    "build failed in stage 'deps' (docker exit 1): a build step was killed by SIGKILL (exit code 137), as the kernel's out-of-memory killer does; " +
      'run fewer compile jobs at once (--jobs 2, say) or give the builder more memory, then rerun: finished steps are cached; full log: /home/u/.slurm-factory/logs/x.log',
  );
  assert.not.match(e.oneLine(), /\n/);
  assert.is(e.context.diagnosis, 'out-of-memory');
  assert.is(e.context.command, 'docker buildx build .');
  const plain = buildFailure(fixture('plain-failure'), 1, '/l.log', 'docker x');
  assert.match(plain.message, /^build failed in stage 'deps' \(docker exit 1\); full log: \/l\.log$/);
  assert.is(plain.remediation, 'read the log (its last lines are above); rerun resumes from the cache');
  assert.not.match(plain.oneLine(), /\n/);
  assert.is((plain.context.lastLines as string[]).length, 15);
  const interrupted = buildFailure(fixture('sigkill'), 130, '/l.log', 'docker x');
  assert.is(interrupted.exitCode, 130);
  assert.is(interrupted.context.diagnosis, undefined, 'Ctrl-C is not diagnosed');
  const noLog = buildFailure(
    fixture('sigkill'),
    1,
    '/l.log',
    'docker x',
    {},
    new Error('ENOSPC: no space left on device, write'),
  );
  assert.match(
    noLog.oneLine(),
    /killed by SIGKILL .*; full log: \/l\.log \(incomplete: ENOSPC: no space left on device, write\)$/,
  );
});

test('exportDest reads --output type=local,dest=DIR', () => {
  assert.is(exportDest(['buildx', 'build', '--output', 'type=local,dest=/a b/c', '.']), '/a b/c');
  assert.is(exportDest(['buildx', 'build', '--load', '.']), undefined);
});

test("shellQuote: a path with a space and a ' round-trips through bash -c", () => {
  const args = [
    'buildx',
    'build',
    '--file',
    "/home/o'brien/my builds/Dockerfile",
    '--build-arg',
    'X=$HOME `id` "q" *',
    '',
    'a\nb',
    "'",
    '--output',
    'type=local,dest=/tmp/x y',
  ];
  const r = spawnSync('bash', ['-c', `printf '%s\\0' ${shellQuote(args)}`], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.equal(r.stdout.split('\0').slice(0, -1), args);
  assert.is(
    shellQuote(['buildx', '--progress', 'plain', 'type=local,dest=/tmp/x']),
    'buildx --progress plain type=local,dest=/tmp/x',
    'plain words stay bare',
  );
});

test.run();
