/**
 * The test-only Spack scope of the real build (test/fixtures/real-build/scope.ts): the version lines it writes
 * into a copied recipe, the preferences it writes into a copied Spack tree, and the data file it reads. Runs
 * everywhere: no Spack needed (the recipe tree is a small one made here, in spack-packages' layout).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { tempDir } from './helpers.ts';
import {
  addVersion,
  apply,
  combinedSources,
  addBuilderLines,
  addLines,
  dropDependencies,
  dropDownloads,
  dropMethod,
  loadTestVersions,
  recipePath,
  scopeYaml,
} from './fixtures/real-build/scope.ts';
import { loadSources } from './fixtures/source-mirror/sources.ts';

const t = tempDir('sf-rb-scope-');
test.after(() => t.cleanup());

const RECIPE = [
  'class Curl(AutotoolsPackage):',
  '    url = "https://curl.haxx.se/download/curl-7.60.0.tar.bz2"',
  '    version("8.15.0", sha256="' + 'a'.repeat(64) + '")',
  '    version("8.14.1", sha256="' + 'b'.repeat(64) + '")',
  '    depends_on("c", type="build")',
  '',
].join('\n');

test('addVersion replaces the declaration of a version the recipe lists, keeping its indentation', () => {
  const out = addVersion(
    RECIPE,
    '8.14.1',
    'c'.repeat(64),
    'http://deb.debian.org/debian/pool/main/c/curl/curl_8.14.1.orig.tar.gz',
  );
  assert.ok(
    out.includes(
      `    version("8.14.1", sha256="${'c'.repeat(64)}", url="http://deb.debian.org/debian/pool/main/c/curl/curl_8.14.1.orig.tar.gz")\n`,
    ),
  );
  assert.not.ok(out.includes('b'.repeat(64)), 'the old checksum of 8.14.1 is gone');
  assert.ok(out.includes('a'.repeat(64)), 'other versions stay');
  assert.is(out.split('\n').length, RECIPE.split('\n').length);
});

test('addVersion inserts a version the recipe lacks before the first declaration, and refuses a recipe without any', () => {
  const out = addVersion(RECIPE, '8.14.0', 'd'.repeat(64), 'http://x/curl-8.14.0.tar.gz');
  const lines = out.split('\n');
  assert.is(lines[2], `    version("8.14.0", sha256="${'d'.repeat(64)}", url="http://x/curl-8.14.0.tar.gz")`);
  assert.is(lines[3], RECIPE.split('\n')[2]);
  // A version that only shares a prefix ("8.14") is another version: added, not replaced.
  assert.ok(addVersion(RECIPE, '8.14', 'e'.repeat(64), 'http://x/y.tar.gz').includes('b'.repeat(64)));
  assert.throws(() => addVersion('class X:\n    pass\n', '1.0', 'f'.repeat(64), 'http://x'), /declares no version/);
});

test('dropDependencies removes exactly the named single-line depends_on, and refuses one the recipe lacks', () => {
  const r = [
    'class Dbus:',
    '    depends_on("glib")',
    '    depends_on("glib-networking")',
    '    depends_on("libsm", when="+x")',
    '    depends_on("expat")',
    '',
  ].join('\n');
  const out = dropDependencies(r, ['glib', 'libsm']);
  assert.is(out, ['class Dbus:', '    depends_on("glib-networking")', '    depends_on("expat")', ''].join('\n'));
  assert.throws(() => dropDependencies(r, ['xproto']), /no single-line depends_on\("xproto"\)/);
});

test('dropDownloads turns downloading patch()/resource() calls into pass, also inside a loop, and keeps local patches', () => {
  const r = [
    'class Readline:',
    '    patch("local.patch", when="@1")',
    '    for ver, num in [("8.2", "001")]:',
    '        patch(',
    '            f"https://ftpmirror.gnu.org/readline/readline-{ver}-patches/readline{num}",',
    '            sha256="ab(c)",',
    '            level=0,',
    '        )',
    '    resource(',
    '        name="luarocks",',
    '        url="https://luarocks.github.io/x.tar.gz",',
    '    )',
    '    patch("https://github.com/x/y/commit/z.patch?full_index=1", sha256="0")',
    '',
  ].join('\n');
  const out = dropDownloads(r);
  assert.is(out.dropped, 3);
  assert.is(
    out.text,
    [
      'class Readline:',
      '    patch("local.patch", when="@1")',
      '    for ver, num in [("8.2", "001")]:',
      '        pass',
      '    pass',
      '    pass',
      '',
    ].join('\n'),
  );
});

test('dropMethod removes a method with its decorators and body, nothing else, and refuses a missing one', () => {
  const r = [
    'class Lua:',
    '    @run_after("install")',
    '    def add_luarocks(self):',
    '        with x():',
    '',
    '            make("install")',
    '',
    '    def append_paths(self):',
    '        pass',
    '',
  ].join('\n');
  assert.is(
    dropMethod(r, 'add_luarocks'),
    ['class Lua:', '    def append_paths(self):', '        pass', ''].join('\n'),
  );
  assert.throws(() => dropMethod(r, 'nothing'), /no method nothing\(\)/);
});

test('addLines puts class-body lines before the first version(), at its indentation, and refuses a recipe without one', () => {
  const out = addLines(RECIPE, [
    'depends_on("autoconf", type="build")',
    '@property',
    'def configure_directory(self):',
    '    return "x"',
  ]);
  const lines = out.split('\n');
  assert.equal(lines.slice(2, 6), [
    '    depends_on("autoconf", type="build")',
    '    @property',
    '    def configure_directory(self):',
    '        return "x"',
  ]);
  assert.is(lines[6], RECIPE.split('\n')[2]);
  assert.throws(() => addLines('class X:\n    pass\n', ['x = 1']), /declares no version/);
});

test('addBuilderLines puts lines at the top of the named builder class body, nowhere else, and refuses a missing class', () => {
  // Spack 1.0: a recipe with its own AutotoolsBuilder takes configure_directory from that class (expat's case).
  const recipe = [
    'class Expat(AutotoolsPackage, CMakePackage):',
    '    version("2.5.0", sha256="' + 'a'.repeat(64) + '")',
    '',
    'class AutotoolsBuilder(autotools.AutotoolsBuilder):',
    '    def configure_args(self):',
    '        return []',
    '',
    'class CMakeBuilder(cmake.CMakeBuilder):',
    '    def cmake_args(self):',
    '        return []',
    '',
  ].join('\n');
  const out = addBuilderLines(recipe, 'AutotoolsBuilder', [
    '@property',
    'def configure_directory(self):',
    '    return "x"',
  ]);
  assert.equal(out.split('\n').slice(3, 8), [
    'class AutotoolsBuilder(autotools.AutotoolsBuilder):',
    '    @property',
    '    def configure_directory(self):',
    '        return "x"',
    '    def configure_args(self):',
  ]);
  assert.is(out.replace('    @property\n    def configure_directory(self):\n        return "x"\n', ''), recipe);
  assert.throws(() => addBuilderLines(recipe, 'MesonBuilder', ['x = 1']), /no class MesonBuilder/);
  // The data: expat's configure_directory is on its builder, not on the package class (where Spack 1.0 ignores it).
  const tv = loadTestVersions();
  assert.ok(tv.builderLines?.expat?.AutotoolsBuilder?.some((l) => /def configure_directory/.test(l)));
  assert.not.ok(tv.addLines.expat!.some((l) => /configure_directory/.test(l)));
});

test("test-versions.json: every Debian entry is in sources.json's unmatched list with the same sha256; repacks are labelled", () => {
  const tv = loadTestVersions();
  const sources = loadSources(join(import.meta.dirname, 'fixtures/source-mirror/sources.json'));
  assert.ok(tv.versions.length > 0);
  for (const v of tv.versions) {
    if (!sources.packages[v.name]) {
      assert.ok(v.why.includes('not in sources.json'), `${v.name}: not in sources.json, and its entry does not say so`);
      continue;
    }
    const u = sources.packages[v.name]?.unmatched.find((x) => x.sha256 === v.sha256 && x.suite === v.debian.suite);
    assert.ok(u, `${v.name}@${v.version}: sha256 not among sources.json's unmatched Debian origs`);
    assert.is(u!.upstreamVersion, v.version, `${v.name}: Debian's orig holds ${u!.upstreamVersion}`);
    assert.is(v.origin === 'debian-repack', u!.repack, `${v.name}: origin ${v.origin} but repack=${u!.repack}`);
    assert.ok(v.debian.pool.endsWith(`/${u!.orig}`), `${v.name}: pool ${v.debian.pool} is not ${u!.orig}`);
  }
});

test("scopeYaml prefers the test versions first, then Debian's byte-identical ones, and sets the two variants", () => {
  const tv = loadTestVersions();
  const y = parseYaml(scopeYaml(tv)) as { packages: Record<string, { version?: string[]; variants?: string }> };
  assert.is(y.packages.openssl?.version?.[0], '3.5.7');
  assert.equal(y.packages.munge?.version, ['0.5.16'], 'munge 0.5.15 (404 on the mirror) is not preferred');
  assert.is(y.packages.readline?.version?.[0], '8.2', 'a byte-identical Debian version stays preferred');
  assert.is(y.packages.openssl?.variants, 'certs=system');
  assert.is(y.packages.hwloc?.variants, '~pci');
  // libjwt: Debian's 1.17.2 orig lacks libjwt/base64.{c,h} (the real build stopped at jwt.c there); the local
  // git archive of v1.15.3 is byte-identical to the recipe's own archive.
  assert.equal(y.packages.libjwt?.version, ['1.15.3']);
  assert.not.ok(
    tv.versions.some((v) => v.name === 'libjwt'),
    'no Debian libjwt: its orig has no base64.{c,h}',
  );
  assert.ok(tv.local.some((v) => v.name === 'libjwt' && v.inRecipe && v.origin === 'git-archive-identical'));
  for (const name of Object.keys(tv.variants)) assert.ok(tv.variantsWhy[name], `${name}: a variant without a reason`);
});

test('combinedSources adds the Debian test versions as in-recipe and leaves the local ones to addLocal', () => {
  const tv = loadTestVersions();
  const c = combinedSources(tv);
  const ossl = c.packages.openssl!.versions.find((v) => v.version === '3.5.7');
  assert.ok(ossl?.inRecipe);
  assert.is(ossl!.pool, 'pool/main/o/openssl/openssl_3.5.7.orig.tar.gz');
  assert.not.ok(c.packages.slurm!.versions.some((v) => v.version === '24-11-6-1'));
});

test('apply copies the trees, never touches the originals, and refuses a directory that is not a Spack tree', () => {
  const spack = join(t.path, 'spack');
  const pkgs = join(t.path, 'pkgs');
  mkdirSync(join(spack, 'bin'), { recursive: true });
  writeFileSync(join(spack, 'bin', 'spack'), '#!/bin/sh\n');
  mkdirSync(join(spack, 'etc', 'spack', 'defaults'), { recursive: true });
  const include = 'include:\n  - path: base\n';
  writeFileSync(join(spack, 'etc', 'spack', 'defaults', 'include.yaml'), include);
  const tv = loadTestVersions();
  const names = new Set(
    [...tv.versions, ...tv.local]
      .map((v) => v.name)
      .concat(Object.keys(tv.dropDependencies), tv.dropDownloads, Object.keys(tv.builderLines ?? {})),
  );
  for (const name of names) {
    const f = recipePath(pkgs, name);
    mkdirSync(join(f, '..'), { recursive: true });
    const deps = (tv.dropDependencies[name] ?? []).map((d) => `    depends_on("${d}")\n`).join('');
    const methods = (tv.dropMethods[name] ?? [])
      .map((m) => `    @run_after("install")\n    def ${m}(self):\n        pass\n`)
      .join('');
    const builders = Object.keys(tv.builderLines?.[name] ?? {})
      .map((c) => `\nclass ${c}(base.${c}):\n    def configure_args(self):\n        return []\n`)
      .join('');
    writeFileSync(
      f,
      `class P:\n    version("0.0.1", sha256="${'0'.repeat(64)}")\n${deps}    patch("https://x.org/a.patch", sha256="1")\n${methods}${builders}`,
    );
  }
  const out = join(t.path, 'out');
  const r = apply({ spack, spackPackages: pkgs, out });
  assert.equal(r, { mirrorStatus: null, problems: [] });
  assert.is(
    readFileSync(join(spack, 'etc', 'spack', 'defaults', 'include.yaml'), 'utf8'),
    include,
    'the original Spack tree is untouched',
  );
  assert.ok(
    readFileSync(join(out, 'spack', 'etc', 'spack', 'defaults', 'include.yaml'), 'utf8').includes(
      '- path: slurm-factory-test',
    ),
  );
  assert.ok(existsSync(join(out, 'spack', 'etc', 'spack', 'defaults', 'slurm-factory-test', 'packages.yaml')));
  assert.ok(readFileSync(recipePath(join(out, 'spack-packages'), 'openssl'), 'utf8').includes('version("3.5.7"'));
  assert.not.ok(
    readFileSync(recipePath(pkgs, 'openssl'), 'utf8').includes('3.5.7'),
    'the original recipe is untouched',
  );
  assert.not.ok(
    readFileSync(recipePath(join(out, 'spack-packages'), 'slurm'), 'utf8').includes('24-11-6-1'),
    'an in-recipe local version is not rewritten',
  );
  assert.not.ok(readFileSync(recipePath(join(out, 'spack-packages'), 'dbus'), 'utf8').includes('depends_on("glib")'));
  assert.not.ok(readFileSync(recipePath(join(out, 'spack-packages'), 'readline'), 'utf8').includes('https://'));
  assert.ok(
    readFileSync(recipePath(pkgs, 'readline'), 'utf8').includes('https://'),
    'the original recipe keeps its patch',
  );
  assert.not.ok(readFileSync(recipePath(join(out, 'spack-packages'), 'lua'), 'utf8').includes('add_luarocks'));
  assert.match(
    readFileSync(recipePath(join(out, 'spack-packages'), 'expat'), 'utf8'),
    /class AutotoolsBuilder\(base\.AutotoolsBuilder\):\n    @property\n    def configure_directory\(self\):\n        return join_path\(self\.pkg\.stage\.source_path, "expat"\)\n/,
  );
  assert.throws(() => apply({ spack: pkgs, spackPackages: pkgs, out }), /not a Spack tree/);
});

test.run();
