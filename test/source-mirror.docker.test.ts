/**
 * A mirror from the Debian source-mirror builder, given to BuildKit exactly as `build --context
 * source-mirror=DIR` gives it: a named context replacing the `source-mirror` stage, bind-mounted with the
 * mount line of templates/stages/spack-mounts.hbs at the path spack.yaml.hbs names as the mirror URL. Inside
 * the build, both paths Spack tries must resolve to the archive with the recipe's checksum (the alias is a
 * relative symlink and must still resolve there). Needs Docker and Debian's mirror; skips loudly without them.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needCommand, needDocker, repoRoot, tempDir, testIf, type Requirement } from './helpers.ts';
import { loadSources, mirrorPaths } from './fixtures/source-mirror/sources.ts';

const needDebian: Requirement = () => {
  const r = spawnSync(
    'curl',
    ['-fsS', '-o', '/dev/null', '--max-time', '20', 'http://deb.debian.org/debian/dists/bookworm/Release'],
    { encoding: 'utf8' },
  );
  return r.status === 0
    ? null
    : `Debian's mirror does not answer (${(r.stderr || '').trim()}): the builder cannot download`;
};
const dockerTest = testIf(test, [needCommand('curl', 'apt-get install curl'), needDocker, needDebian]);
const t = tempDir('sf-source-mirror-docker-');
test.after(() => t.cleanup());

let base = '';
test.before(async () => {
  if (needDocker() || needDebian()) return;
  base = await (await import('./fixture.ts')).ensureBaseImage('debian12');
});

dockerTest(
  'the mirror, as the source-mirror named context, resolves inside a build where spack.yaml points Spack',
  () => {
    const specs = [
      ['lz4', '1.9.4'],
      ['jansson', '2.14'],
      ['http-parser', '2.9.4'],
    ] as const;
    writeFileSync(join(t.path, 'specs.txt'), specs.map(([n, v]) => `${n}@${v}`).join('\n'));
    const mirror = join(t.path, 'mirror');
    const b = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(repoRoot, 'test/fixtures/source-mirror/build-mirror.ts'),
        '--cache',
        join(t.path, 'cache'),
        join(t.path, 'specs.txt'),
        mirror,
      ],
      { encoding: 'utf8', timeout: 600_000 },
    );
    assert.is(b.status, 0, b.stdout + b.stderr);

    // The mount and the mirror URL, taken from the templates the real build renders.
    const mount = /--mount=type=bind,from=source-mirror,target=(\S+)/.exec(
      readFileSync(join(repoRoot, 'templates/stages/spack-mounts.hbs'), 'utf8'),
    );
    assert.ok(mount, 'spack-mounts.hbs bind-mounts the source-mirror stage');
    const yaml = readFileSync(join(repoRoot, 'templates/spack/spack.yaml.hbs'), 'utf8');
    const url = /source-mirror:\n\s+url: file:\/\/(\S+)/.exec(yaml);
    assert.ok(url, 'spack.yaml.hbs has the source-mirror mirror');
    assert.is(url![1], mount![1], 'Spack reads the mirror where the stage mounts it');
    const inputs = readFileSync(join(repoRoot, 'templates/stages/inputs.hbs'), 'utf8');
    assert.match(inputs, /^FROM scratch AS source-mirror$/m, 'source-mirror is a stage a named context replaces');

    const data = loadSources(join(repoRoot, 'test/fixtures/source-mirror/sources.json'));
    const checks = specs.flatMap(([n, v]) => {
      const e = data.packages[n]!.versions.find((x) => x.version === v)!;
      const p = mirrorPaths(n, v, e.sha256, e.extension);
      return [`${e.sha256}  ${url![1]}/${p.digest}`, `${e.sha256}  ${url![1]}/${p.alias}`];
    });
    const ctx = join(t.path, 'ctx');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'checks.txt'), `${checks.join('\n')}\n`);
    writeFileSync(
      join(ctx, 'Dockerfile'),
      [
        'ARG BASE_IMAGE',
        'FROM scratch AS source-mirror',
        'COPY checks.txt /.slurm-factory-empty',
        'FROM ${BASE_IMAGE} AS check',
        'COPY checks.txt /checks.txt',
        `RUN ${mount![0]} \\`,
        '    sha256sum -c /checks.txt > /result.txt 2>&1; echo "exit $?" >> /result.txt; find -L ' +
          mount![1] +
          ' -type f | sort >> /result.txt',
        'FROM scratch',
        'COPY --from=check /result.txt /',
        '',
      ].join('\n'),
    );
    const out = join(t.path, 'out');
    const r = spawnSync(
      'docker',
      [
        'buildx',
        'build',
        '--progress',
        'plain',
        '--build-arg',
        `BASE_IMAGE=${base}`,
        '--build-context',
        `source-mirror=${mirror}`,
        '--output',
        `type=local,dest=${out}`,
        ctx,
      ],
      { encoding: 'utf8', timeout: 900_000 },
    );
    assert.is(r.status, 0, `${r.stdout}${r.stderr}`.slice(-3000));
    const result = readFileSync(join(out, 'result.txt'), 'utf8');
    assert.match(result, /^exit 0$/m, result);
    assert.is(result.split('\n').filter((l) => l.endsWith(': OK')).length, 6, result);
    assert.not.match(result, /\.slurm-factory-empty/, 'the named context replaced the empty default stage');
  },
);

test.run();
