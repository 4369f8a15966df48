/**
 * `outdated`: the catalog and local builds against Slurm release tags, read with real `git ls-remote` from a
 * local repository whose tags each test makes (a newer patch release, none, a newer major only, a stale build).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SLURM_RELEASES } from '../tasks/lib/catalog.ts';
import { compareVersions, currencyReport, newestBySeries, parseSlurmTag } from '../tasks/lib/releases.ts';
import { needCommand, runCli, sh, tempDir, withTempDir, testIf } from './helpers.ts';
import { makeBuild, MOTO_ENV, needWorkingMoto, startMoto } from './s3-fixtures.ts';

const withGit = testIf(test, [needCommand('git', 'apt-get install git')]);

/** Where the catalog says a series' recipe comes from (the report's recipe column). */
const recipe = (series: string) => SLURM_RELEASES.find((r) => r.series === series)!.recipe;
/** The catalog's own releases as SchedMD tags them. */
const catalogTags = SLURM_RELEASES.map((r) => `slurm-${r.spackVersion}`);

/** A git repository at <dir>/slurm.git with one commit and the given tags. */
function tagRepo(dir: string, tags: string[]): string {
  const repo = join(dir, 'slurm.git');
  mkdirSync(repo);
  sh(
    `git init -q . && git -c user.name=t -c user.email=t@e commit -q --allow-empty -m r && git tag ${tags.join(' && git tag ')}`,
    { cwd: repo },
  );
  return repo;
}

function run(args: string[], home: string) {
  return runCli(['outdated', ...args], { env: { SLURM_FACTORY_HOME: home } });
}

test('parseSlurmTag: releases only, series and release from the tag', () => {
  assert.equal(parseSlurmTag('refs/tags/slurm-25-11-6-1'), {
    series: '25.11',
    release: '25.11.6',
    tagRevision: 1,
    tag: 'slurm-25-11-6-1',
  });
  assert.equal(parseSlurmTag('slurm-23-02-7-2')?.release, '23.02.7');
  assert.is(parseSlurmTag('slurm-25-11-0-0rc1'), null);
  assert.is(parseSlurmTag('slurm-25.11.6'), null);
  assert.is(parseSlurmTag('v1.0.0'), null);
});

test('newestBySeries: numeric order (25.11.10 > 25.11.9) and the highest re-tag', () => {
  const n = newestBySeries(['slurm-25-11-9-1', 'slurm-25-11-10-1', 'slurm-25-11-10-2', 'slurm-24-11-6-1']);
  assert.is(n.get('25.11')?.tag, 'slurm-25-11-10-2');
  assert.is(n.get('24.11')?.release, '24.11.6');
  assert.is(compareVersions('25.11.10', '25.11.9'), 1);
});

test('currencyReport: a build older than the catalog release is behind even when the catalog is current', () => {
  const r = currencyReport(catalogTags, [{ file: 'x.tar.gz', series: '25.11', release: '25.11.5' }]);
  assert.ok(r.behind);
  assert.is(r.series.find((s) => s.series === '25.11')!.buildsBehind.length, 1);
  assert.not.ok(r.series.some((s) => s.catalogBehind));
});

withGit('outdated: every series current -> exit 0 (pre-release and other tags ignored)', () => {
  withTempDir((t) => {
    const repo = tagRepo(t, [...catalogTags, 'slurm-25-11-0-0rc1', 'slurm-99-01-0-0rc1', 'v9.9']);
    const r = run(['--from', repo], t);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^outdated: current$/m);
    assert.match(r.stdout, new RegExp(`^25\\.11\\s+25\\.11\\.6\\s+25\\.11\\.6\\s+${recipe('25.11')}\\s+current$`, 'm'));
  });
});

withGit('outdated: a newer patch release -> exit 3 naming the series, the release and the tag', () => {
  withTempDir((t) => {
    const repo = tagRepo(t, [...catalogTags, 'slurm-25-11-7-1']);
    const r = run(['--from', repo], t);
    assert.is(r.status, 3, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `^25\\.11\\s+25\\.11\\.6\\s+25\\.11\\.7\\s+${recipe('25.11')}\\s+behind: 25\\.11\\.7 is out \\(tag slurm-25-11-7-1\\)$`,
        'm',
      ),
    );
    assert.match(r.stdout, new RegExp(`^24\\.11\\s+24\\.11\\.6\\s+24\\.11\\.6\\s+${recipe('24.11')}\\s+current$`, 'm'));
    const j = JSON.parse(run(['--from', repo, '--json'], t).stdout);
    assert.equal(
      j.series.filter((s: { catalogBehind: boolean }) => s.catalogBehind).map((s: { series: string }) => s.series),
      ['25.11'],
    );
  });
});

withGit('outdated: only a newer major series upstream -> reported, exit 0', () => {
  withTempDir((t) => {
    const repo = tagRepo(t, [...catalogTags, 'slurm-26-11-0-1', 'slurm-26-11-1-1']);
    const r = run(['--from', repo], t);
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^newer series upstream: 26\.11 \(26\.11\.1\); not in the catalog yet$/m);
  });
});

withGit('outdated: a build in ~/.slurm-factory/builds older than the newest release -> exit 3 naming it', () => {
  withTempDir((t) => {
    const repo = tagRepo(t, [...catalogTags, 'slurm-24-11-7-1']);
    const builds = join(t, 'builds');
    mkdirSync(builds);
    const stale = 'slurm-24.11-gcc13.4.0-software.tar.gz';
    writeFileSync(join(builds, stale), 'x');
    writeFileSync(
      join(builds, `${stale}.manifest.json`),
      JSON.stringify({ slurm: { series: '24.11', release: '24.11.6' } }),
    );
    const fresh = 'slurm-25.11-gcc13.4.0-software.tar.gz';
    writeFileSync(join(builds, fresh), 'x');
    writeFileSync(
      join(builds, `${fresh}.manifest.json`),
      JSON.stringify({ slurm: { series: '25.11', release: '25.11.6' } }),
    );
    writeFileSync(join(builds, 'slurm-23.11-gcc13.4.0-software.tar.gz'), 'no manifest');
    const r = run(['--from', repo], t);
    assert.is(r.status, 3, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`^build behind: ${stale.replace(/\./g, '\\.')} is 24\\.11\\.6; 24\\.11\\.7 is out$`, 'm'),
    );
    assert.not.match(r.stdout, /build behind: slurm-25\.11/);
    assert.match(r.stderr, /^note: slurm-23\.11-gcc13\.4\.0-software\.tar\.gz: no readable \.manifest\.json/m);
  });
});

withGit('outdated: an unreachable source is one line naming it and the fix, exit 1; bad --from exit 2', () => {
  withTempDir((t) => {
    const r = run(['--from', 'http://127.0.0.1:9/slurm.git'], t);
    assert.is(r.status, 1);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, r.stderr);
    assert.match(
      lines[0]!,
      /^error: cannot list the Slurm release tags of http:\/\/127\.0\.0\.1:9\/slurm\.git: .*; give --from DIR with a local mirror/,
    );
    for (const [args, line] of [
      [
        ['--from', join(t, 'missing.git')],
        /^error: --from '.*missing\.git' is neither a URL nor an existing directory; /,
      ],
      [['--from', 'https://u:pw@example.org/s.git'], /^error: --from '.*' carries credentials; /],
      [['--builds', join(t, 'nope')], /^error: --builds '.*nope' is not a directory; /],
    ] as const) {
      const bad = run([...args], t);
      assert.is(bad.status, 2, bad.stderr);
      assert.is(bad.stderr.trim().split('\n').length, 1);
      assert.match(bad.stderr, line);
    }
  });
});

const withGitAndMoto = testIf(test, [
  needCommand('git', 'apt-get install git'),
  needCommand('moto_server', 'apt-get install python3-moto python3-flask-cors'),
  needWorkingMoto,
]);

withGitAndMoto(
  'outdated --bucket: the tarballs publish put in a bucket (moto_server), one behind -> exit 3 naming its key',
  async () => {
    const t = tempDir();
    const moto = await startMoto();
    try {
      const home = join(t.path, 'home');
      const builds = join(home, 'builds');
      // Two builds as build leaves them, their manifests naming the exact release, published by the real task.
      for (const [series, release] of [
        ['24.11', '24.11.6'],
        ['25.11', '25.11.6'],
      ] as const) {
        const tarball = makeBuild(builds, { slurm: series, gcc: '13.4.0', bytes: 2000 });
        const m = JSON.parse(readFileSync(`${tarball}.manifest.json`, 'utf8'));
        writeFileSync(`${tarball}.manifest.json`, JSON.stringify({ ...m, slurm: { series, release } }));
      }
      const env = { SLURM_FACTORY_HOME: join(t.path, 'elsewhere'), ...MOTO_ENV };
      const bucket = 'sf-outdated-test';
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
      const s3 = await import('@aws-sdk/client-s3');
      const client = new s3.S3Client({
        endpoint: moto.endpoint,
        forcePathStyle: true,
        region: 'us-east-1',
        credentials: { accessKeyId: MOTO_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: MOTO_ENV.AWS_SECRET_ACCESS_KEY },
      });
      await client.send(new s3.CreateBucketCommand({ Bucket: bucket }));
      client.destroy();
      const pub = runCli(
        [
          'publish',
          '--bucket',
          bucket,
          '--endpoint',
          moto.endpoint,
          '--prefix',
          'site',
          '--tarballs',
          '--buildcache',
          'none',
          '--progress',
          'none',
        ],
        { env: { ...env, SLURM_FACTORY_HOME: home } },
      );
      assert.is(pub.status, 0, pub.stderr);

      for (const d of ['a', 'b', 'c']) mkdirSync(join(t.path, d));
      const where = ['--bucket', bucket, '--prefix', 'site', '--endpoint', moto.endpoint];
      const behind = runCli(
        ['outdated', '--from', tagRepo(join(t.path, 'a'), [...catalogTags, 'slurm-24-11-7-1']), ...where],
        { env },
      );
      assert.is(behind.status, 3, behind.stdout + behind.stderr);
      assert.match(
        behind.stdout,
        new RegExp(
          `^build behind: s3://${bucket}/site/builds/24\\.11/13\\.4\\.0/slurm-24\\.11-gcc13\\.4\\.0-software\\.tar\\.gz is 24\\.11\\.6; 24\\.11\\.7 is out$`,
          'm',
        ),
      );
      assert.not.match(behind.stdout, /build behind: .*slurm-25\.11/);
      const current = runCli(['outdated', '--from', tagRepo(join(t.path, 'b'), catalogTags), ...where, '--json'], {
        env,
      });
      assert.is(current.status, 0, current.stdout + current.stderr);
      assert.is(JSON.parse(current.stdout).buildsDir, `s3://${bucket}/site/builds/`);
      // A bucket that is not there is one line naming it.
      const missing = runCli(
        [
          'outdated',
          '--from',
          tagRepo(join(t.path, 'c'), catalogTags),
          '--bucket',
          'no-such-bucket',
          '--endpoint',
          moto.endpoint,
        ],
        { env },
      );
      assert.is(missing.status, 2, missing.stderr);
      assert.match(missing.stderr, /^error: bucket 'no-such-bucket' does not exist at http:\/\/127\.0\.0\.1:\d+; /);
      assert.is(missing.stderr.trim().split('\n').length, 1, missing.stderr);
      for (const [args, line] of [
        [['--prefix', 'x'], /^error: --prefix needs --bucket; /],
        [['--bucket', bucket, '--builds', builds], /^error: --builds and --bucket were both given; /],
        [['--bucket', 'Not_A_Bucket'], /^error: bucket 'Not_A_Bucket' is not a valid S3 bucket name/],
      ] as const) {
        const bad = runCli(['outdated', ...args], { env });
        assert.is(bad.status, 2, bad.stderr);
        assert.match(bad.stderr, line);
      }
    } finally {
      await moto.stop();
      t.cleanup();
    }
  },
);

test.run();
