/**
 * `outdated`: the catalog and local builds against Slurm release tags, read with real `git ls-remote` from a
 * local repository whose tags each test makes (a newer patch release, none, a newer major only, a stale build).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SLURM_RELEASES } from '../tasks/lib/catalog.ts';
import { compareVersions, currencyReport, newestBySeries, parseSlurmTag } from '../tasks/lib/releases.ts';
import { needCommand, runCli, sh, tempDir, testIf } from './helpers.ts';

const withGit = testIf(test, [needCommand('git', 'apt-get install git')]);

/** The catalog's own releases as SchedMD tags them. */
const catalogTags = SLURM_RELEASES.map((r) => `slurm-${r.spackVersion}`);

/** A git repository at <dir>/slurm.git with one commit and the given tags. */
function tagRepo(dir: string, tags: string[]): string {
  const repo = join(dir, 'slurm.git');
  mkdirSync(repo);
  sh(`git init -q . && git -c user.name=t -c user.email=t@e commit -q --allow-empty -m r && git tag ${tags.join(' && git tag ')}`,
    { cwd: repo });
  return repo;
}

function run(args: string[], home: string) {
  return runCli(['outdated', ...args], { env: { SLURM_FACTORY_HOME: home } });
}

test('parseSlurmTag: releases only, series and release from the tag', () => {
  assert.equal(parseSlurmTag('refs/tags/slurm-25-11-6-1'), { series: '25.11', release: '25.11.6', tagRevision: 1, tag: 'slurm-25-11-6-1' });
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
  const t = tempDir();
  try {
    const repo = tagRepo(t.path, [...catalogTags, 'slurm-25-11-0-0rc1', 'slurm-99-01-0-0rc1', 'v9.9']);
    const r = run(['--from', repo], t.path);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^outdated: current$/m);
    assert.match(r.stdout, /^25\.11\s+25\.11\.6\s+25\.11\.6\s+builtin\s+current$/m);
  } finally { t.cleanup(); }
});

withGit('outdated: a newer patch release -> exit 3 naming the series, the release and the tag', () => {
  const t = tempDir();
  try {
    const repo = tagRepo(t.path, [...catalogTags, 'slurm-25-11-7-1']);
    const r = run(['--from', repo], t.path);
    assert.is(r.status, 3, r.stdout + r.stderr);
    assert.match(r.stdout, /^25\.11\s+25\.11\.6\s+25\.11\.7\s+builtin\s+behind: 25\.11\.7 is out \(tag slurm-25-11-7-1\)$/m);
    assert.match(r.stdout, /^24\.11\s+24\.11\.6\s+24\.11\.6\s+builtin\s+current$/m);
    const j = JSON.parse(run(['--from', repo, '--json'], t.path).stdout);
    assert.equal(j.series.filter((s: { catalogBehind: boolean }) => s.catalogBehind).map((s: { series: string }) => s.series), ['25.11']);
  } finally { t.cleanup(); }
});

withGit('outdated: only a newer major series upstream -> reported, exit 0', () => {
  const t = tempDir();
  try {
    const repo = tagRepo(t.path, [...catalogTags, 'slurm-26-11-0-1', 'slurm-26-11-1-1']);
    const r = run(['--from', repo], t.path);
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^newer series upstream: 26\.11 \(26\.11\.1\); not in the catalog yet$/m);
  } finally { t.cleanup(); }
});

withGit('outdated: a build in ~/.slurm-factory/builds older than the newest release -> exit 3 naming it', () => {
  const t = tempDir();
  try {
    const repo = tagRepo(t.path, [...catalogTags, 'slurm-24-11-7-1']);
    const builds = join(t.path, 'builds');
    mkdirSync(builds);
    const stale = 'slurm-24.11-gcc13.4.0-software.tar.gz';
    writeFileSync(join(builds, stale), 'x');
    writeFileSync(join(builds, `${stale}.manifest.json`), JSON.stringify({ slurm: { series: '24.11', release: '24.11.6' } }));
    const fresh = 'slurm-25.11-gcc13.4.0-software.tar.gz';
    writeFileSync(join(builds, fresh), 'x');
    writeFileSync(join(builds, `${fresh}.manifest.json`), JSON.stringify({ slurm: { series: '25.11', release: '25.11.6' } }));
    writeFileSync(join(builds, 'slurm-23.11-gcc13.4.0-software.tar.gz'), 'no manifest');
    const r = run(['--from', repo], t.path);
    assert.is(r.status, 3, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^build behind: ${stale.replace(/\./g, '\\.')} is 24\\.11\\.6; 24\\.11\\.7 is out$`, 'm'));
    assert.not.match(r.stdout, /build behind: slurm-25\.11/);
    assert.match(r.stderr, /^note: slurm-23\.11-gcc13\.4\.0-software\.tar\.gz: no readable \.manifest\.json/m);
  } finally { t.cleanup(); }
});

withGit('outdated: an unreachable source is one line naming it and the fix, exit 1; bad --from exit 2', () => {
  const t = tempDir();
  try {
    const r = run(['--from', 'http://127.0.0.1:9/slurm.git'], t.path);
    assert.is(r.status, 1);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^error: cannot list the Slurm release tags of http:\/\/127\.0\.0\.1:9\/slurm\.git: .*; give --from DIR with a local mirror/);
    for (const [args, line] of [
      [['--from', join(t.path, 'missing.git')], /^error: --from '.*missing\.git' is neither a URL nor an existing directory; /],
      [['--from', 'https://u:pw@example.org/s.git'], /^error: --from '.*' carries credentials; /],
      [['--builds', join(t.path, 'nope')], /^error: --builds '.*nope' is not a directory; /],
    ] as const) {
      const bad = run([...args], t.path);
      assert.is(bad.status, 2, bad.stderr);
      assert.is(bad.stderr.trim().split('\n').length, 1);
      assert.match(bad.stderr, line);
    }
  } finally { t.cleanup(); }
});

test.run();
