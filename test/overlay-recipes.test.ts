/**
 * The project's own Spack recipes (spack/repos/spack_repo/slurm_factory), loaded by python3 against a stub of
 * the builtin recipe they extend and of `spack.package`: what they hand to the build, without Spack. Runs
 * everywhere python3 is.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needCommand, repoRoot, testIf, withTempDir } from './helpers.ts';

const it = testIf(test, [needCommand('python3', 'apt-get install python3')]);
const OVERLAY = join(repoRoot, 'spack', 'repos', 'spack_repo', 'slurm_factory', 'packages');

/** A stub tree: spack_repo.builtin.packages.<name>.package with `base` as its source, and an empty spack.package. */
function stubTree(dir: string, name: string, base: string): void {
  for (const d of [
    'spack',
    'spack_repo',
    'spack_repo/builtin',
    'spack_repo/builtin/packages',
    `spack_repo/builtin/packages/${name}`,
  ]) {
    mkdirSync(join(dir, d), { recursive: true });
    writeFileSync(join(dir, d, '__init__.py'), '');
  }
  writeFileSync(join(dir, 'spack', 'package.py'), '');
  writeFileSync(join(dir, 'spack_repo', 'builtin', 'packages', name, 'package.py'), base);
}

it('munge: OpenSSL flags from the spec (lib64 included), no --with-openssl-prefix, libgcrypt dropped', () => {
  // The first real build stopped here: with --with-openssl-prefix=P, MUNGE 0.5.16's configure looks for P/lib
  // only, and Spack's OpenSSL 3 installs into P/lib64 on x86_64 ("unable to locate cryptographic library").
  const out = withTempDir((dir) => {
    stubTree(
      dir,
      'munge',
      [
        'class Munge:',
        '    dependencies = {"": {"openssl": 1, "libgcrypt": 1}, "@0.5.11": {"libgcrypt": 1}}',
        '    def configure_args(self):',
        '        return ["--localstatedir=/var"]',
        '',
      ].join('\n'),
    );
    const probe = [
      'import importlib.util, json, sys',
      `sys.path.insert(0, ${JSON.stringify(dir)})`,
      `spec = importlib.util.spec_from_file_location("m", ${JSON.stringify(join(OVERLAY, 'munge', 'package.py'))})`,
      'm = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)',
      'class NS:',
      '    def __init__(self, **kw): self.__dict__.update(kw)',
      'ssl = NS(prefix=NS(include="/opt/ssl/include"), libs=NS(search_flags="-L/opt/ssl/lib64"))',
      'p = m.Munge(); p.spec = {"openssl": ssl}',
      'print(json.dumps({"args": p.configure_args(), "deps": {str(k): sorted(v) for k, v in m.Munge.dependencies.items()}}))',
    ].join('\n');
    return JSON.parse(execFileSync('python3', ['-c', probe], { encoding: 'utf8' })) as {
      args: string[];
      deps: Record<string, string[]>;
    };
  }, 'sf-overlay-');
  assert.equal(out.args, [
    '--localstatedir=/var',
    '--with-crypto-lib=openssl',
    '--without-openssl-prefix',
    'OPENSSL_CFLAGS=-I/opt/ssl/include',
    'OPENSSL_LIBS=-L/opt/ssl/lib64 -lcrypto',
    'LIBCRYPTO_CFLAGS=-I/opt/ssl/include',
    'LIBCRYPTO_LIBS=-L/opt/ssl/lib64 -lcrypto',
  ]);
  assert.not.ok(out.args.some((a) => a.startsWith('--with-openssl-prefix=')));
  assert.equal(out.deps, { '': ['openssl'], '@0.5.11': ['libgcrypt'] }, 'only the unconditional libgcrypt goes');
});

it('slurm: +restd tells configure where libyaml is (serializer_yaml), +lua and the client-only accounting', () => {
  // The real build's package stage refused the view without lib/slurm/serializer_yaml.so: the builtin recipe
  // depends on libyaml for +restd but passes no --with-yaml, and Slurm's x_ac_yaml looks in /usr, /usr/local only.
  const run = (variants: string[]) =>
    withTempDir((dir) => {
      stubTree(
        dir,
        'slurm',
        [
          'class Slurm:',
          '    dependencies = {"": {"glib": 1, "json-c": 1}, "+mariadb": {"mariadb": 1}}',
          '    def configure_args(self):',
          '        return ["--with-json=/j"]',
          '',
        ].join('\n'),
      );
      writeFileSync(join(dir, 'spack', 'package.py'), 'def variant(*a, **k): pass\ndef depends_on(*a, **k): pass\n');
      const probe = [
        'import importlib.util, json, sys',
        `sys.path.insert(0, ${JSON.stringify(dir)})`,
        `spec = importlib.util.spec_from_file_location("m", ${JSON.stringify(join(OVERLAY, 'slurm', 'package.py'))})`,
        'm = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)',
        'class NS:',
        '    def __init__(self, **kw): self.__dict__.update(kw)',
        `on = set(${JSON.stringify(variants)})`,
        'class Spec(dict):',
        '    def satisfies(self, v): return v in on',
        'p = m.Slurm()',
        'p.spec = Spec({"libyaml": NS(prefix="/opt/yaml"), "mariadb-c-client": NS(prefix=NS(bin="/opt/mdb/bin"))})',
        'print(json.dumps(p.configure_args()))',
      ].join('\n');
      return JSON.parse(execFileSync('python3', ['-c', probe], { encoding: 'utf8' })) as string[];
    }, 'sf-overlay-');
  assert.equal(run(['+restd', '+lua', '+mariadb']), [
    '--with-json=/j',
    '--with-lua',
    '--with-yaml=/opt/yaml',
    '--with-mysql_config=/opt/mdb/bin',
  ]);
  assert.equal(run([]), ['--with-json=/j', '--without-lua', '--without-mysql_config']);
});

test.run();
