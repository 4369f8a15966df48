/**
 * The rendered Dockerfile on a real BuildKit (Docker engine, buildx). No registry or GitHub here, so:
 * the base image is a debootstrap'ed Debian 12 (`--base-image`), and the `slurm` stage is replaced by a real
 * Slurm 24.11.5 built from Debian's source in a Spack-like layout (test/fixtures/debian-slurm), passed as a
 * named context exactly as an air-gapped site would pass a local input. Stages that need Spack from GitHub
 * cannot run here.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { dockerfileSteps, failedStage, stepsThatRan } from '../tasks/lib/buildx.ts';
import { needDocker, repoRoot, runCli, tempDir, testIf } from './helpers.ts';

const dockerTest = testIf(test, [needDocker]);
const home = tempDir('sf-pipeline-');
const env = { SLURM_FACTORY_HOME: join(home.path, 'home') };
let baseImage = '';
let fixture = '';

const common = () => ['--gcc', 'system', '--os', 'debian12', '--base-image', baseImage];
const withSlurm = () => ['--context', `slurm=docker-image://${fixture}`];

function build(args: string[]) {
  const r = runCli(['build', ...args], { env });
  return { ...r, steps: dockerfileSteps(r.stderr), ran: stepsThatRan(r.stderr) };
}

test.before(async () => {
  if (needDocker()) return;
  const { ensureBaseImage, ensureSlurmFixture } = await import('./fixture.ts');
  baseImage = await ensureBaseImage('debian12');
  fixture = await ensureSlurmFixture();
});
test.after(() => home.cleanup());

dockerTest('BuildKit parses every stage and builds the base stage', () => {
  const r = build(['24.11', ...common(), '--target', 'base']);
  assert.is(r.status, 0, r.stderr.slice(-3000));
  assert.match(r.stdout, /built stage 'base' as image slurm-factory:24\.11-gcc12\.2\.0-base/);
  const tools = spawnSync(
    'docker',
    [
      'run',
      '--rm',
      'slurm-factory:24.11-gcc12.2.0-base',
      'bash',
      '-c',
      'for t in gcc g++ gfortran make python3 git patch patchelf file readelf gpg xz bzip2 zstd tar; do command -v $t >/dev/null || echo missing $t; done; test -e /usr/share/lmod/lmod/init/bash || echo missing lmod',
    ],
    { encoding: 'utf8' },
  );
  assert.is(tools.status, 0, tools.stderr);
  assert.is(tools.stdout.trim(), '', 'base stage has every build tool');
});

dockerTest('an identical second build reports every step CACHED', () => {
  const r = build(['24.11', ...common(), '--target', 'base']);
  assert.is(r.status, 0, r.stderr.slice(-3000));
  assert.ok(
    r.steps.some((s) => s.cached && /RUN /.test(s.name)),
    'the RUN steps were read and reported CACHED',
  );
  const ran = r.ran.map((s) => s.name);
  assert.equal(ran, [], 'no step ran again');
});

dockerTest('a change of only the Slurm version leaves every step before the slurm stage CACHED', () => {
  const r = build(['25.11', ...common(), '--target', 'base']);
  assert.is(r.status, 0, r.stderr.slice(-3000));
  assert.ok(
    r.steps.some((s) => s.cached && /RUN /.test(s.name)),
    'the RUN steps were read and reported CACHED',
  );
  assert.equal(
    r.ran.map((s) => s.name),
    [],
  );
});

dockerTest('the package stage relocates and packs the Slurm view; the export writes only the artifacts', () => {
  const r = build(['24.11', ...common(), ...withSlurm()]);
  assert.is(r.status, 0, r.stderr.slice(-4000));
  const builds = join(env.SLURM_FACTORY_HOME, 'builds');
  const tarball = 'slurm-24.11-gcc12.2.0-software.tar.gz';
  assert.equal(
    readdirSync(builds).sort(),
    [
      tarball,
      `${tarball}.cdx.json`,
      `${tarball}.manifest.json`,
      `${tarball}.provenance.json`,
      `${tarball}.sha256`,
    ].sort(),
  );
  const sum = spawnSync('sha256sum', ['-c', `${tarball}.sha256`], { cwd: builds, encoding: 'utf8' });
  assert.is(sum.status, 0, sum.stdout + sum.stderr);
  const manifest = JSON.parse(readFileSync(join(builds, `${tarball}.manifest.json`), 'utf8'));
  assert.ok(JSON.stringify(manifest).includes('24.11'), 'manifest names the Slurm version');
  const list = spawnSync('tar', ['-tzf', join(builds, tarball)], { encoding: 'utf8' }).stdout.split('\n');
  assert.ok(
    list.some((p) => /^(\.\/)?view\/sbin\/slurmctld$/.test(p)),
    'view/sbin/slurmctld packed',
  );
  assert.ok(
    list.some((p) => /^(\.\/)?modules\/slurm\/24\.11-gcc12\.2\.0\.lua$/.test(p)),
    'module packed',
  );
  // The same build again: only cached steps, and the artifacts are byte-identical.
  const before = readFileSync(join(builds, tarball));
  const again = build(['24.11', ...common(), ...withSlurm()]);
  assert.is(again.status, 0);
  assert.equal(
    again.ran.map((s) => s.name),
    [],
  );
  assert.ok(before.equals(readFileSync(join(builds, tarball))));
});

dockerTest('another Slurm version re-runs only the Slurm-dependent package steps', () => {
  const r = build(['25.11', ...common(), ...withSlurm()]);
  assert.is(r.status, 0, r.stderr.slice(-4000));
  // BuildKit's cache outlives this test: on a machine that built 25.11 before, nothing runs at all.
  if (r.ran.length === 0) console.log('  (25.11 package steps were already in the BuildKit cache from an earlier run)');
  for (const s of r.ran)
    assert.ok(['package', 'export'].includes(s.stage!), `only package/export steps ran, not ${s.name}`);
  const manifest = JSON.parse(
    readFileSync(join(env.SLURM_FACTORY_HOME, 'builds', 'slurm-25.11-gcc12.2.0-software.tar.gz.manifest.json'), 'utf8'),
  );
  assert.ok(JSON.stringify(manifest).includes('"25.11'), 'the 25.11 package names its series');
});

dockerTest('a hand-edited Dockerfile is built as edited', () => {
  const ctx = join(home.path, 'edited');
  const rendered = runCli(['render', '24.11', ...common(), '--out', ctx], { env });
  assert.is(rendered.status, 0, rendered.stderr);
  const df = join(ctx, 'Dockerfile');
  const text = readFileSync(df, 'utf8');
  writeFileSync(
    df,
    text.replace(
      /^FROM scratch AS export$/m,
      'RUN echo edited-by-hand > /out/HAND-EDITED.txt\n\nFROM scratch AS export',
    ),
  );
  const r = build(['24.11', ...common(), ...withSlurm(), '--dockerfile', df, '--target', 'package']);
  assert.is(r.status, 0, r.stderr.slice(-3000));
  const out = spawnSync(
    'docker',
    ['run', '--rm', 'slurm-factory:24.11-gcc12.2.0-package', 'cat', '/out/HAND-EDITED.txt'],
    { encoding: 'utf8' },
  );
  assert.is(out.stdout.trim(), 'edited-by-hand');
  // render will not overwrite the edit
  const again = runCli(['render', '24.11', ...common(), '--out', ctx], { env });
  assert.is(again.status, 2);
  assert.match(readFileSync(df, 'utf8'), /edited-by-hand/);
});

dockerTest('a failing build names its stage and log, and leaves nothing in builds/', () => {
  const ctx = join(home.path, 'failing');
  const homeFail = join(home.path, 'home-fail');
  mkdirSync(homeFail);
  runCli(['render', '23.11', ...common(), '--out', ctx], { env });
  const df = join(ctx, 'Dockerfile');
  writeFileSync(
    df,
    readFileSync(df, 'utf8').replace(
      /^FROM scratch AS export$/m,
      'RUN echo breaking on purpose && false\n\nFROM scratch AS export',
    ),
  );
  const r = runCli(['build', '23.11', ...common(), ...withSlurm(), '--dockerfile', df], {
    env: { SLURM_FACTORY_HOME: homeFail },
  });
  assert.is(r.status, 1);
  assert.match(
    r.stderr,
    /error: build failed in stage 'package' \(docker exit 1\); full log: \S+\/logs\/slurm-23\.11-gcc12\.2\.0-\S+\.log/,
  );
  assert.is(failedStage(r.stderr), 'package');
  const builds = join(homeFail, 'builds');
  assert.equal(existsSync(builds) ? readdirSync(builds) : [], [], 'builds/ is empty');
  const logs = readdirSync(join(homeFail, 'logs'));
  assert.is(logs.length, 1);
  assert.match(readFileSync(join(homeFail, 'logs', logs[0]!), 'utf8'), /breaking on purpose/);
});

dockerTest('Ctrl-C during a build exits 130 and leaves nothing partial in builds/', async () => {
  const ctx = join(home.path, 'interrupted');
  const homeInt = join(home.path, 'home-int');
  runCli(['render', '23.11', ...common(), '--out', ctx], { env });
  const df = join(ctx, 'Dockerfile');
  // A step that takes a while, with a value no earlier build cached.
  writeFileSync(
    df,
    readFileSync(df, 'utf8').replace(
      /^FROM scratch AS export$/m,
      `RUN echo waiting-for-ctrl-c-${Date.now()} && sleep 120\n\nFROM scratch AS export`,
    ),
  );
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(repoRoot, 'Taskfile.ts'),
      'build',
      '23.11',
      ...common(),
      ...withSlurm(),
      '--dockerfile',
      df,
    ],
    { env: { ...process.env, SLURM_FACTORY_HOME: homeInt }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  const started = Date.now();
  while (!/\] RUN echo waiting-for-ctrl-c/.test(err) && Date.now() - started < 100_000) {
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.match(err, /\] RUN echo waiting-for-ctrl-c/, 'the slow step started');
  await new Promise((r) => setTimeout(r, 2000));
  const builds = join(homeInt, 'builds');
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  assert.is(code, 130);
  assert.ok(Date.now() - started < 110_000, 'stopped well before the step would have ended');
  assert.equal(readdirSync(builds), [], 'no tarball, no temp directory');
});

test.run();
