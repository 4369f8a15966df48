import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildxArgs, dockerfileSteps, failedStage, parseContexts, readPlainProgress } from '../tasks/lib/buildx.ts';
import { needDocker, runCli, withTempDir, testIf } from './helpers.ts';

test('--print prints the exact buildx command and builds nothing', () => {
  withTempDir((t) => {
    const env = { SLURM_FACTORY_HOME: join(t, 'home') };
    const r = runCli(
      [
        'build',
        '25.11',
        '--gcc',
        '10.5.0',
        '--print',
        '--context',
        'spack-src=/srv/spack',
        '--shm-size',
        '2g',
        '--cache-to',
        'type=local,dest=/tmp/c',
        '--builder',
        'remote1',
      ],
      { env },
    );
    assert.is(r.status, 0, r.stderr);
    const line = r.stdout.trim();
    assert.match(
      line,
      /^docker buildx build --builder remote1 --file \S+\/dockerfiles\/slurm-25\.11-gcc10\.5\.0\/Dockerfile --target export /,
    );
    assert.match(line, /--build-context spack-src=\/srv\/spack/);
    assert.match(line, /--build-context host-buildcache=\S+\/home\/buildcache\/[a-z0-9.-]+-gcc[0-9.]+ /);
    assert.match(line, /--shm-size 2g/);
    assert.not.match(line, /--no-cache/);
    assert.match(line, /--build-arg SOURCE_DATE_EPOCH=\d{10} /, 'timestamps from the commit time');
    const pinned = runCli(['build', '25.11', '--print'], { env: { ...env, SOURCE_DATE_EPOCH: '1700000000' } });
    assert.match(pinned.stdout, /--build-arg SOURCE_DATE_EPOCH=1700000000 /);
    const bad = runCli(['build', '25.11', '--print'], { env: { ...env, SOURCE_DATE_EPOCH: 'yesterday' } });
    assert.is(bad.status, 2);
    assert.match(bad.stderr, /SOURCE_DATE_EPOCH 'yesterday' is not a whole number/);
    const noCache = runCli(['build', '25.11', '--no-cache', '--print'], { env });
    assert.match(noCache.stdout, / --no-cache /, '--no-cache reaches buildx (minimist reads it as cache=false)');
    assert.match(line, /--cache-to type=local,dest=\/tmp\/c/);
    assert.match(line, /--output type=local,dest=\S+\/builds\/\.tmp-slurm-25\.11-gcc10\.5\.0-\d+ /);
    assert.not.ok(existsSync(join(t, 'home', 'builds')), 'nothing built or created');
  });
});

test('a stopped engine is a DockerError with the fix, exit 2, before any work', () => {
  withTempDir((t) => {
    const r = runCli(['build', '25.11'], {
      env: { SLURM_FACTORY_HOME: join(t, 'home'), DOCKER_HOST: `unix://${t}/no-docker.sock` },
    });
    assert.is(r.status, 2, r.stderr);
    assert.match(
      r.stderr.trim(),
      /^error: the Docker engine does not answer; start dockerd \(as root: scripts\/setup-docker\.sh\), or set DOCKER_HOST$/,
    );
    assert.equal(readdirSync(t), [], 'nothing written');
  });
});

test('no docker client on PATH: a DockerError naming the fix, exit 2, nothing written', () => {
  withTempDir((t) => {
    const bin = join(t, 'bin');
    mkdirSync(bin);
    const r = runCli(['build', '25.11'], { env: { SLURM_FACTORY_HOME: join(t, 'home'), PATH: bin } });
    assert.is(r.status, 2, r.stderr);
    assert.match(
      r.stderr.trim(),
      /^error: no docker client on PATH; install Docker \(as root: scripts\/setup-docker\.sh\)$/,
    );
    assert.equal(readdirSync(t), ['bin'], 'nothing written');
  });
});

testIf(test, [needDocker])('a docker client without the buildx plugin: the fix names the plugin, exit 2', () => {
  withTempDir((t) => {
    // The real client and engine, with only the buildx plugin taken away (as on a host without docker-buildx).
    const bin = join(t, 'bin');
    mkdirSync(bin);
    const real = execFileSync('sh', ['-c', 'command -v docker'], { encoding: 'utf8' }).trim();
    writeFileSync(
      join(bin, 'docker'),
      `#!/bin/sh\nif [ "$1" = buildx ]; then echo "docker: 'buildx' is not a docker command." >&2; exit 1; fi\nexec ${real} "$@"\n`,
      { mode: 0o755 },
    );
    const r = runCli(['build', '25.11'], {
      env: { SLURM_FACTORY_HOME: join(t, 'home'), PATH: `${bin}:${process.env.PATH}` },
    });
    assert.is(r.status, 2, r.stderr);
    assert.match(
      r.stderr.trim(),
      /^error: docker buildx is missing; install the buildx plugin \(Debian: docker-buildx; or scripts\/setup-docker\.sh\)$/,
    );
  });
});

test('bad build flags are configuration errors', () => {
  const cases: [string[], RegExp][] = [
    [
      ['--target', 'everything'],
      /--target 'everything' is not a stage; use one of base, spack, compiler, deps, slurm, package, export/,
    ],
    [['--progress', 'fancy'], /--progress 'fancy' is not a progress mode/],
    [['--shm-size', 'lots'], /--shm-size 'lots' is not a size/],
    [['--context', 'spack'], /--context 'spack' is not NAME=SOURCE/],
    [['--context', 'nonstage=/x'], /--context names stage 'nonstage', which the Dockerfile does not have/],
    [['--sign-key', '/nonexistent/key.asc'], /--sign-key '\/nonexistent\/key\.asc' does not exist/],
    [['--dockerfile', '/nonexistent/Dockerfile'], /--dockerfile '\/nonexistent\/Dockerfile' is not a file/],
  ];
  for (const [flags, re] of cases) {
    const r = runCli(['build', '25.11', ...flags, '--print']);
    assert.is(r.status, 2, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});

test('buildx arguments: secrets for keys, never build args', () => {
  const a = buildxArgs({
    contextDir: '/ctx',
    dockerfile: '/ctx/Dockerfile',
    target: 'export',
    exportDir: '/out',
    contexts: { b: '/b', a: '/a' },
    signKeyFile: '/keys/private.asc',
    signingFingerprint: 'ABCD',
  });
  const s = a.join(' ');
  assert.match(s, /--secret id=gpg-key,src=\/keys\/private\.asc/);
  assert.match(s, /--build-arg SIGNING_KEY_FINGERPRINT=ABCD/);
  assert.not.match(s, /--build-arg [^ ]*private/);
  assert.ok(s.indexOf('a=/a') < s.indexOf('b=/b'), 'contexts sorted: stable commands');
  assert.equal(parseContexts(['slurm=docker-image://x:1']), { slurm: 'docker-image://x:1' });
});

const SAMPLE = `#1 [internal] load build definition from Dockerfile
#1 DONE 0.0s

#5 [base 1/2] FROM docker.io/library/debian:12
#5 CACHED

#6 [base 2/2] RUN apt-get update
#6 CACHED

#9 [package 2/3] RUN bash /opt/slurm-factory/package/scripts/package-view.sh
#9 0.201 relocating
#9 ERROR: process "/bin/sh -c bash ..." did not complete successfully: exit code: 1
------
 > [package 2/3] RUN bash /opt/slurm-factory/package/scripts/package-view.sh:
------
ERROR: failed to solve: process "/bin/sh -c bash" did not complete successfully: exit code: 1
`;

test('plain progress: cached steps, steps that ran, and the failed stage', () => {
  const steps = dockerfileSteps(SAMPLE);
  assert.equal(
    steps.map((s) => [s.stage, s.cached, s.error]),
    [
      ['base', true, false],
      ['base', true, false],
      ['package', false, true],
    ],
  );
  assert.is(failedStage(SAMPLE), 'package');
  assert.is(failedStage('#3 [internal] load\n#3 DONE\n'), null);
  assert.is(readPlainProgress(SAMPLE).length, 4);
  // bake prefixes steps with the target name
  const baked = dockerfileSteps(
    '#16 [slurm-25-11-gcc12-2-0 base 2/2] RUN apt-get update\n#16 CACHED\n#2 [slurm-24-11-gcc12-2-0 internal] load build definition\n',
  );
  assert.equal(
    baked.map((s) => [s.stage, s.cached]),
    [['base', true]],
  );
});

test.run();
