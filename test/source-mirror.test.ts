/**
 * The Debian source-mirror builder (test/fixtures/source-mirror/build-mirror.ts), run for real against Debian's
 * mirror (deb.debian.org, which CI reaches): it downloads a few small orig tarballs, checks them against the
 * recipes' sha256 and lays them out as Spack reads a source mirror. The tests that need the network skip,
 * loudly, when the mirror does not answer; the bad-input tests run everywhere.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
  openSync,
  readSync,
  closeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { needCommand, repoRoot, tempDir, testIf, type Requirement } from './helpers.ts';
import { loadSources, mirrorPaths, type SourcesFile } from './fixtures/source-mirror/sources.ts';
import { parse as parseYaml } from 'yaml';

const dir = join(repoRoot, 'test/fixtures/source-mirror');
const builder = join(dir, 'build-mirror.ts');
const sourcesFile = join(dir, 'sources.json');
const DEBIAN = 'http://deb.debian.org/debian';

const needDebian: Requirement = () => {
  const r = spawnSync('curl', ['-fsS', '-o', '/dev/null', '--max-time', '20', `${DEBIAN}/dists/bookworm/Release`], {
    encoding: 'utf8',
  });
  return r.status === 0
    ? null
    : `Debian's mirror ${DEBIAN} does not answer (${(r.stderr || r.error?.message || '').trim()}): the builder cannot download`;
};
const needCurl = needCommand('curl', 'apt-get install curl');
const netTest = testIf(test, [needCurl, needCommand('sha256sum', 'coreutils'), needDebian]);

const t = tempDir('sf-source-mirror-');
test.after(() => t.cleanup());
const cache = join(t.path, 'cache');

function build(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', builder, ...args], { encoding: 'utf8', timeout: 600_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
function write(name: string, text: string): string {
  const p = join(t.path, name);
  writeFileSync(p, text);
  return p;
}
const sha256sum = (file: string) => spawnSync('sha256sum', [file], { encoding: 'utf8' }).stdout.split(/\s+/)[0]!;
const data: SourcesFile = loadSources(sourcesFile);
const entry = (name: string, version: string) => {
  const v = data.packages[name]?.versions.find((x) => x.version === version);
  if (!v) throw new Error(`${name}@${version} is not in sources.json`);
  return v;
};
/** Row of the printed table for name@version. */
const row = (out: string, name: string, version: string) =>
  out
    .split('\n')
    .find((l) => new RegExp(`^${name.replace(/[+.]/g, '\\$&')}\\s+${version.replace(/[.]/g, '\\.')}\\s`).test(l)) ?? '';

// Small archives (about 1 MB together) that bookworm or trixie carry byte for byte.
const SMALL = [
  ['lz4', '1.9.4'],
  ['lz4', '1.10.0'],
  ['jansson', '2.14'],
  ['http-parser', '2.9.4'],
  ['libaio', '0.3.113'],
] as const;

/** Checks one archive in the mirror the way Spack reads it: the digest file and the alias link to it. */
function assertMirrored(mirror: string, name: string, version: string) {
  const v = entry(name, version);
  const p = mirrorPaths(name, version, v.sha256, v.extension);
  const digest = join(mirror, p.digest);
  assert.ok(lstatSync(digest).isFile(), `${p.digest} is a regular file`);
  assert.is(sha256sum(digest), v.sha256, `sha256sum of ${p.digest}`);
  const alias = join(mirror, p.alias);
  assert.ok(lstatSync(alias).isSymbolicLink(), `${p.alias} is a symlink, as spack mirror create writes it`);
  assert.not.ok(
    readlinkSync(alias).startsWith('/'),
    'the alias link is relative, so the mirror works wherever it is mounted',
  );
  assert.is(realpathSync(alias), realpathSync(digest), `${p.alias} points at ${p.digest}`);
}

netTest('builds a Spack source mirror from Debian for a few small specs, every archive checked with sha256sum', () => {
  const specs = write('small.txt', `# small archives\n${SMALL.map(([n, v]) => `${n}@${v}`).join('\n')}\n`);
  const mirror = join(t.path, 'mirror');
  const r = build(['--cache', cache, specs, mirror]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  for (const [n, v] of SMALL) {
    assert.match(row(r.stdout, n, v), /\smirrored$/, `${n}@${v} row: ${r.stdout}`);
    assertMirrored(mirror, n, v);
  }
  // The recipe's own checksum of lz4 1.9.4 (spack-packages 1e8cf059, packages/lz4/package.py), not only the data file's.
  assert.is(
    sha256sum(join(mirror, 'lz4/lz4-1.9.4.tar.gz')),
    '0b0e3aa07c8c063ddf40b082bdf7e37a1562bda40a0ff5272957f3e987e0e54b',
  );
  // Spack 1.0's content-addressed path (mirrors/layout.py + URLFetchStrategy.mirror_id), spelled out.
  assert.ok(
    lstatSync(
      join(mirror, '_source-cache/archive/0b/0b0e3aa07c8c063ddf40b082bdf7e37a1562bda40a0ff5272957f3e987e0e54b.tar.gz'),
    ).isFile(),
  );
  assert.is(
    readlinkSync(join(mirror, 'lz4/lz4-1.9.4.tar.gz')),
    '../_source-cache/archive/0b/0b0e3aa07c8c063ddf40b082bdf7e37a1562bda40a0ff5272957f3e987e0e54b.tar.gz',
  );
  assert.equal(readdirSync(mirror).sort(), [
    '.slurm-factory-source-mirror.json',
    '_source-cache',
    'http-parser',
    'jansson',
    'libaio',
    'lz4',
  ]);
  assert.equal(
    readdirSync(t.path).filter((f) => f.includes('.tmp-') || f.includes('.old-')),
    [],
    'no temporary directory is left next to the mirror',
  );
  // Every archive is a real gzip tarball of the upstream project.
  const list = spawnSync('tar', ['-tzf', join(mirror, 'jansson/jansson-2.14.tar.gz')], { encoding: 'utf8' });
  assert.is(list.status, 0, list.stderr);
  assert.match(list.stdout, /^jansson-2\.14\/src\/jansson\.h$/m);
});

netTest('a second run uses the download cache (no network) and replaces the mirror it wrote before', () => {
  const specs = write('two.txt', 'lz4@1.9.4\njansson@2.14\n');
  const mirror = join(t.path, 'mirror');
  // Port 9 (discard) refuses connections: anything not already in the cache would fail to download.
  const r = build(['--cache', cache, '--debian', 'http://127.0.0.1:9/debian', specs, mirror]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assertMirrored(mirror, 'lz4', '1.9.4');
  assertMirrored(mirror, 'jansson', '2.14');
  assert.not.ok(existsSync(join(mirror, 'http-parser')), 'the old mirror was replaced, not merged into');
});

netTest('an interrupted download is resumed from its partial file and checked', () => {
  const v = entry('http-parser', '2.9.4');
  const fresh = join(t.path, 'cache-resume');
  mkdirSync(fresh);
  // The first 20000 bytes of the real archive, as an interrupted curl leaves them.
  const whole = join(cache, `${v.sha256}.${v.extension}`);
  const buf = Buffer.alloc(20000);
  const fd = openSync(whole, 'r');
  readSync(fd, buf, 0, buf.length, 0);
  closeSync(fd);
  writeFileSync(join(fresh, `${v.sha256}.${v.extension}.part`), buf);
  const r = build(['--cache', fresh, write('hp.txt', 'http-parser@2.9.4\n'), join(t.path, 'mirror-resume')]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assertMirrored(join(t.path, 'mirror-resume'), 'http-parser', '2.9.4');
  assert.equal(readdirSync(fresh), [`${v.sha256}.${v.extension}`], 'the partial file became the cached archive');
});

netTest('an archive whose sha256 is not the recorded one is refused and nothing is laid out for it', () => {
  const bad = JSON.parse(readFileSync(sourcesFile, 'utf8')) as SourcesFile;
  const wrong = 'ab'.repeat(32);
  bad.packages.jansson!.versions.find((x) => x.version === '2.14')!.sha256 = wrong;
  const badSources = write('bad-sources.json', JSON.stringify(bad));
  const badCache = join(t.path, 'cache-bad');
  const mirror = join(t.path, 'mirror-bad');
  const r = build([
    '--sources',
    badSources,
    '--cache',
    badCache,
    write('bad.txt', 'jansson@2.14\nlz4@1.9.4\n'),
    mirror,
  ]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(
    row(r.stdout, 'jansson', '2.14'),
    /checksum mismatch: refused: .* has sha256 c739578bf6b764aa0752db9a2fdadcfe921c78f1228c7ec0bb47fa804c55d17b, the recipe's is abab/,
  );
  assert.not.ok(existsSync(join(mirror, 'jansson')), 'no alias for the refused archive');
  assert.not.ok(existsSync(join(mirror, '_source-cache/archive/ab')), 'no digest path for the refused archive');
  assert.not.ok(
    existsSync(join(mirror, '_source-cache/archive/c7')),
    'the real archive is not laid out under another name',
  );
  assert.equal(
    readdirSync(badCache).filter((f) => f.includes('abab') || f.includes('c739578b')),
    [],
    'nothing of it stays in the cache',
  );
  assertMirrored(mirror, 'lz4', '1.9.4');
});

netTest('a download that fails is reported, and the rest is still mirrored', () => {
  const bad = JSON.parse(readFileSync(sourcesFile, 'utf8')) as SourcesFile;
  bad.packages.jansson!.versions.find((x) => x.version === '2.14')!.pool =
    'pool/main/j/jansson/jansson_0.0.0-missing.orig.tar.gz';
  bad.packages.jansson!.versions.find((x) => x.version === '2.14')!.sha256 = 'cd'.repeat(32);
  const r = build([
    '--sources',
    write('missing-sources.json', JSON.stringify(bad)),
    '--cache',
    cache,
    write('missing.txt', 'jansson@2.14\nlz4@1.9.4\n'),
    join(t.path, 'mirror-missing'),
  ]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(row(r.stdout, 'jansson', '2.14'), /download failed: curl exit 22: .*404.*jansson_0\.0\.0-missing/);
  assertMirrored(join(t.path, 'mirror-missing'), 'lz4', '1.9.4');
});

netTest(
  'a spack.lock is read: its concrete specs are mirrored, externals skipped, unmatched ones listed (exit 3)',
  () => {
    const node = (name: string, version: string, extra: Record<string, unknown> = {}) => ({
      name,
      version,
      arch: { platform: 'linux', platform_os: 'debian12', target: 'x86_64_v2' },
      namespace: 'builtin',
      parameters: {},
      ...extra,
    });
    const lock = {
      _meta: { 'file-type': 'spack-lockfile', 'lockfile-version': 6, specfile_version: 5 },
      spack: { version: '1.0.0', type: 'git', commit: '73eaea13f381e3495299284856fd02a64e1d154c' },
      roots: [{ hash: 'aaaa', spec: 'lz4' }],
      concrete_specs: {
        aaaa: node('lz4', '1.9.4'),
        bbbb: node('http-parser', '2.9.4'),
        cccc: node('gcc', '12.2.0', { external: { path: '/usr', module: null, extra_attributes: {} } }),
        dddd: node('gcc-runtime', '12.2.0'),
        eeee: node('json-c', '0.18'),
        ffff: node('zlib-ng', '2.2.4'),
      },
    };
    const mirror = join(t.path, 'mirror-lock');
    const r = build(['--cache', cache, write('spack.lock', JSON.stringify(lock, null, 1)), mirror]);
    assert.is(r.status, 3, r.stdout + r.stderr);
    assertMirrored(mirror, 'lz4', '1.9.4');
    assertMirrored(mirror, 'http-parser', '2.9.4');
    assert.match(row(r.stdout, 'gcc-runtime', '12.2.0'), /no source needed/);
    assert.match(
      row(r.stdout, 'json-c', '0.18'),
      /no Debian match: trixie: Debian repack: json-c_0\.18\+ds\.orig\.tar\.xz/,
    );
    assert.match(row(r.stdout, 'zlib-ng', '2.2.4'), /no Debian match: no Debian source package zlib-ng/);
    assert.is(row(r.stdout, 'gcc', '12.2.0'), '', 'the external gcc is not downloaded');
    assert.match(r.stdout, /2 mirrored, 2 without a Debian match, 0 failed/);
  },
);

netTest('--all mirrors every version the data file lists (here a data file cut down to lz4 and jansson)', () => {
  const full = JSON.parse(readFileSync(sourcesFile, 'utf8')) as SourcesFile;
  const cut = { ...full, packages: { lz4: full.packages.lz4!, jansson: full.packages.jansson! } };
  const mirror = join(t.path, 'mirror-all');
  const r = build(['--sources', write('cut-sources.json', JSON.stringify(cut)), '--cache', cache, '--all', mirror]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  for (const [n, v] of [
    ['lz4', '1.9.4'],
    ['lz4', '1.10.0'],
    ['jansson', '2.14'],
  ] as const)
    assertMirrored(mirror, n, v);
  assert.match(r.stdout, /^3 mirrored, 0 without a Debian match, 0 failed/m);
});

// Bad input: one line naming the value, exit 2, nothing written. No network needed.
const badInput: Array<[string, () => string[], RegExp]> = [
  [
    'a spec line that is not name@version',
    () => [write('bad-line.txt', 'lz4@1.9.4\nlz4 1.9.4\n'), join(t.path, 'out-1')],
    /line 2: 'lz4 1\.9\.4' is not name@version/,
  ],
  [
    'a JSON file without concrete_specs',
    () => [write('bad.lock', '{"roots": []}'), join(t.path, 'out-2')],
    /is JSON without 'concrete_specs'/,
  ],
  [
    'a missing specs file',
    () => [join(t.path, 'nope.txt'), join(t.path, 'out-3')],
    /specs file '.*nope\.txt' cannot be read \(ENOENT\)/,
  ],
  [
    'an output directory this script did not write',
    () => {
      mkdirSync(join(t.path, 'foreign'), { recursive: true });
      writeFileSync(join(t.path, 'foreign', 'keep.txt'), 'mine');
      return [write('ok.txt', 'lz4@1.9.4\n'), join(t.path, 'foreign')];
    },
    /output '.*foreign' is a non-empty directory this script did not write/,
  ],
  [
    'an output path that is a symlink',
    () => {
      mkdirSync(join(t.path, 'elsewhere'), { recursive: true });
      if (!existsSync(join(t.path, 'link-out'))) symlinkSync(join(t.path, 'elsewhere'), join(t.path, 'link-out'));
      return [write('ok.txt', 'lz4@1.9.4\n'), join(t.path, 'link-out')];
    },
    /output '.*link-out' is a symbolic link/,
  ],
  ['an unknown option', () => ['--mirror', 'x', 'a', 'b'], /unknown option '--mirror'/],
  [
    '--all with a specs file too',
    () => ['--all', write('ok.txt', 'lz4@1.9.4\n'), join(t.path, 'out-8')],
    /expected only OUT with --all, got 2 argument/,
  ],
  [
    'a sources file with a pool path outside pool/',
    () => {
      const bad = JSON.parse(readFileSync(sourcesFile, 'utf8')) as SourcesFile;
      bad.packages.lz4!.versions[0]!.pool = 'pool/../../etc/passwd';
      return [
        '--sources',
        write('evil-sources.json', JSON.stringify(bad)),
        write('ok.txt', 'lz4@1.9.4\n'),
        join(t.path, 'out-7'),
      ];
    },
    /pool path 'pool\/\.\.\/\.\.\/etc\/passwd' is not a path under pool\//,
  ],
];
for (const [name, args, message] of badInput) {
  test(`bad input exits 2 with one line and writes nothing: ${name}`, () => {
    const before = new Set(readdirSync(t.path));
    const a = args();
    const made = new Set(readdirSync(t.path));
    const r = build(['--cache', join(t.path, 'cache-unused'), ...a]);
    assert.is(r.status, 2, r.stdout + r.stderr);
    assert.is(r.stdout, '');
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, message);
    const after = readdirSync(t.path).filter((f) => !made.has(f) && !before.has(f) && f !== 'cache-unused');
    assert.equal(after, [], 'nothing new next to the output');
    if (name.includes('did not write')) assert.equal(readdirSync(join(t.path, 'foreign')), ['keep.txt']);
  });
}

test('the data file matches what the build reads: extensions Spack derives, pool paths, the slurm test-only version', () => {
  // munge 0.5.15 is a GitHub release .tar.xz; Spack names its mirror file after the URL's extension.
  assert.equal(mirrorPaths('munge', '0.5.15', entry('munge', '0.5.15').sha256, entry('munge', '0.5.15').extension), {
    digest: '_source-cache/archive/3f/3f979df117a34c74db8fe2835521044bdeb08e3b7d0f168ca97c3547f51da9ba.tar.xz',
    alias: 'munge/munge-0.5.15.tar.xz',
  });
  const slurm = entry('slurm', '24-11-5-1');
  assert.is(slurm.sha256, 'e1a5547edd212c38b5e3230a284133f777b32746551f094aaa81cc4af375e332');
  assert.is(slurm.inRecipe, false, 'the pinned recipe does not list 24-11-5-1: only a test-only repository can use it');
  for (const [name, p] of Object.entries(data.packages)) {
    for (const v of p.versions)
      assert.is(
        dirname(v.pool).split('/').slice(-1)[0],
        v.debianSource,
        `${name}@${v.version}: ${v.pool} is in its source package's pool directory`,
      );
  }
});

test('preferences.ts writes a test-only packages.yaml preferring the in-recipe versions Debian carries, newest first', () => {
  const out = join(t.path, 'prefs', 'packages.yaml');
  mkdirSync(dirname(out), { recursive: true });
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(dir, 'preferences.ts'), out], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const y = parseYaml(readFileSync(out, 'utf8')) as { packages: Record<string, { version: string[] }> };
  assert.equal(y.packages.lz4, { version: ['1.10.0', '1.9.4'] });
  assert.equal(y.packages.glib, { version: ['2.84.4', '2.74.6', '2.74.0'] });
  assert.equal(y.packages.autoconf, { version: ['2.71'] }, 'a version YAML could read as a number stays a string');
  assert.not.ok(y.packages.slurm?.version.includes('24-11-5-1'), 'a version the recipe does not list is not preferred');
  assert.is(y.packages['json-c'], undefined, 'a package without a Debian match gets no preference');
  const bad = spawnSync(process.execPath, ['--import', 'tsx', join(dir, 'preferences.ts')], { encoding: 'utf8' });
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /^preferences: expected one output file/);
});

test.run();
