/**
 * The TypeScript tasks when they run as root (CI does): nothing they write or delete follows a link they did
 * not make. Each case plants a real link (to a victim file or directory outside the target, dangling, or a
 * loop) where a task writes, removes or merges, runs the real task or library function, and checks the
 * victim with snap() (type, mode, owner, size, mtime, content). The temporary names of atomic writes are
 * predictable (the pid of this process), so a link is planted exactly there.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { runCli, withTempDir } from './helpers.ts';
import { snap } from './snap.ts';
import { replaceUserFile, siblingPath, writeBuildContext } from '../tasks/lib/writer.ts';
import { mergeInto, moveArtifacts, moveCompilerExport, runBuildx } from '../tasks/lib/build-run.ts';
import { buildArtifacts } from '../tasks/lib/artifacts.ts';
import { compilerTarball, unpackCompilerTarballs } from '../tasks/lib/compilers.ts';
import { runTask } from '../tasks/lib/cli.ts';
import { newLogDir } from '../tasks/lib/verify-image.ts';

function victimDir(path: string): string {
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'big'), Buffer.alloc(3 * 2 ** 20, 1), { mode: 0o600 });
  return path;
}
function victimFile(path: string): string {
  writeFileSync(path, 'victim: must stay as it is\n', { mode: 0o600 });
  return path;
}
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

// ---------------------------------------------------------------------------------------------------------
// clean
// ---------------------------------------------------------------------------------------------------------
test('clean: links inside a cache directory (to a big directory elsewhere, a loop) are neither sized nor followed', () => {
  withTempDir((t) => {
    const home = join(t, 'home');
    const v = victimDir(join(t, 'victim'));
    mkdirSync(join(home, 'logs'), { recursive: true });
    writeFileSync(join(home, 'logs', 'own.log'), 'x');
    symlinkSync(v, join(home, 'logs', 'elsewhere'));
    symlinkSync('..', join(home, 'logs', 'loop'));
    const before = snap(v, join(v, 'big'));
    const env = { SLURM_FACTORY_HOME: home };
    const dry = runCli(['clean', 'logs', '--dry-run'], { env });
    assert.is(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /^would remove .*\/logs \(0\.0 MiB\)$/m, 'the 3 MiB behind the link are not counted');
    const yes = runCli(['clean', 'logs', '--yes'], { env });
    assert.is(yes.status, 0, yes.stderr);
    assert.equal(readdirSync(home), []);
    assert.is(snap(v, join(v, 'big')), before);
  });
});

test('clean: a cache directory that is itself a link is removed as a link; what it points to stays', () => {
  withTempDir((t) => {
    const home = join(t, 'home');
    mkdirSync(home);
    const v = victimDir(join(t, 'victim'));
    symlinkSync(v, join(home, 'builds'));
    const before = snap(v, join(v, 'big'));
    const r = runCli(['clean', 'builds', '--yes'], { env: { SLURM_FACTORY_HOME: home } });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^removing .*\/builds \(a symbolic link to .*\/victim: only the link is removed\)$/m);
    assert.equal(readdirSync(home), []);
    assert.is(snap(v, join(v, 'big')), before);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Atomic writes: the temporary name beside the target
// ---------------------------------------------------------------------------------------------------------
/** The temporary name siblingPath will give `target` next (it counts up per process). */
function nextSibling(target: string): string {
  const m = /^(.*-)(\d+)$/.exec(siblingPath(target, 'tmp'))!;
  return `${m[1]}${Number(m[2]) + 1}`;
}

test('replaceUserFile: a link at its temporary name is not written through, and does not become the file', async () => {
  await withTempDir(async (t) => {
    const v = victimFile(join(t, 'victim'));
    mkdirSync(join(t, 'out'));
    const file = join(t, 'out', 'workflow.yml');
    symlinkSync(v, nextSibling(file));
    const before = snap(v);
    const err = await rejection(replaceUserFile(file, 'new content\n', { what: '--file' }));
    assert.match(err.message, /^cannot write --file '.*workflow\.yml': something else is in the way \(EEXIST\)$/);
    assert.is(snap(v), before);
    assert.is(lstatSync(file, { throwIfNoEntry: false }), undefined, 'no file, and no link put in its place');
  });
});

test('writeBuildContext: a link at its temporary directory name is not written into', () => {
  withTempDir((t) => {
    const v = join(t, 'victim');
    mkdirSync(v);
    const ctx = join(t, 'ctx');
    symlinkSync(v, nextSibling(ctx));
    assert.throws(
      () => writeBuildContext(ctx, [{ path: 'Dockerfile', content: 'FROM scratch\n', mode: 0o644 }]),
      /something else is in the way \(EEXIST\)/,
    );
    assert.equal(readdirSync(v), []);
    assert.is(lstatSync(ctx, { throwIfNoEntry: false }), undefined);
  });
});

test('keygen: a link at the private key temporary name gets no key, and is not renamed into place', async () => {
  await withTempDir(async (t) => {
    const out = join(t, 'keys');
    mkdirSync(out, { mode: 0o700 });
    const v = victimFile(join(t, 'victim'));
    symlinkSync(v, join(out, `signing.private.asc.tmp-${process.pid}`));
    const before = snap(v);
    const code = await runTask(['keygen', '--name', 'Hardening Test', '--out', out]);
    assert.is(code, 2);
    assert.is(snap(v), before, 'the private key went through the link');
    assert.not.match(readFileSync(v, 'utf8'), /PRIVATE KEY/);
    for (const f of ['signing.private.asc', 'signing.public.asc', 'signing.revocation.asc'])
      assert.is(lstatSync(join(out, f), { throwIfNoEntry: false }), undefined, `${f} was written`);
  });
});

test("verify's log directory: a link at its name is refused, not filled", () => {
  withTempDir((t) => {
    const v = join(t, 'victim-dir');
    mkdirSync(v);
    mkdirSync(join(t, 'logs'));
    const dir = join(t, 'logs', 'verify-slurm-debian-13-1765000000000');
    symlinkSync(v, dir);
    assert.throws(() => newLogDir(dir), /EEXIST/);
    assert.equal(readdirSync(v), []);
    newLogDir(join(t, 'logs', 'fresh'));
    assert.is(lstatSync(join(t, 'logs', 'fresh')).mode & 0o777, 0o700);
  });
});

// ---------------------------------------------------------------------------------------------------------
// build's export: moveArtifacts and mergeInto
// ---------------------------------------------------------------------------------------------------------
const artifacts = buildArtifacts({ slurm: '25.11', gcc: '13.4.0', gpu: false });
const TARBALL = 'slurm-25.11-gcc13.4.0-software.tar.gz';

function exportTree(t: string) {
  const dirs = { builds: join(t, 'builds'), buildcache: join(t, 'buildcache'), mirrors: join(t, 'mirrors') };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  const exp = join(t, 'export');
  mkdirSync(exp);
  for (const f of [TARBALL, `${TARBALL}.sha256`, `${TARBALL}.manifest.json`]) writeFileSync(join(exp, f), f);
  return { dirs, exp };
}

test('moveArtifacts: a provenance.json that links to a host file is refused before it is chmod-ed; nothing moves', () => {
  withTempDir((t) => {
    const { dirs, exp } = exportTree(t);
    const v = victimFile(join(t, 'shadow'));
    symlinkSync(v, join(exp, 'provenance.json'));
    const before = snap(v);
    assert.throws(
      () => moveArtifacts(exp, dirs, artifacts),
      /the export's provenance\.json is a symbolic link to .*shadow, not a regular file: nothing was moved/,
    );
    assert.is(snap(v), before, 'the host file was chmod-ed through the link');
    assert.equal(readdirSync(dirs.builds), []);
  });
});

test('moveArtifacts: a tarball or sidecar that is a link, or a mirror that is a link, is refused; builds/ stays empty', () => {
  withTempDir((t) => {
    const v = victimFile(join(t, 'victim'));
    const vd = join(t, 'victim-dir');
    mkdirSync(vd);
    const cases: [string, string, RegExp][] = [
      [TARBALL, v, /the export's slurm-.*\.tar\.gz is a symbolic link to .*victim, not a regular file/],
      [`${TARBALL}.sha256`, v, /\.sha256 is a symbolic link to .*victim, not a regular file/],
      ['mirror', vd, /the export's mirror is a symbolic link to .*victim-dir, not a directory/],
    ];
    for (const [i, [name, target, message]] of cases.entries()) {
      const { dirs, exp } = exportTree(join(t, String(i)));
      rmSync(join(exp, name), { force: true });
      symlinkSync(target, join(exp, name));
      const before = snap(v, vd);
      assert.throws(() => moveArtifacts(exp, dirs, artifacts), message);
      assert.equal(readdirSync(dirs.builds), [], name);
      assert.equal(readdirSync(dirs.mirrors), [], name);
      assert.is(snap(v, vd), before);
    }
  });
});

test('moveCompilerExport: a compiler tarball or checksum that is a link is refused; nothing reaches compilers/', () => {
  withTempDir((t) => {
    const v = victimFile(join(t, 'victim'));
    const c = { tarball: 'gcc-13.4.0-compiler.tar.gz', sha256: 'gcc-13.4.0-compiler.tar.gz.sha256' };
    for (const linked of [c.tarball, c.sha256]) {
      const exp = join(t, `export-${linked}`);
      mkdirSync(exp);
      for (const f of [c.tarball, c.sha256]) writeFileSync(join(exp, f), f);
      rmSync(join(exp, linked));
      symlinkSync(v, join(exp, linked));
      const out = join(t, `out-${linked}`);
      assert.throws(
        () => moveCompilerExport(exp, out, c),
        /is a symbolic link to .*victim, not a regular file: nothing was moved/,
      );
      assert.is(lstatSync(out, { throwIfNoEntry: false }), undefined);
    }
  });
});

test("moveArtifacts: the build's mirror place being a link is refused before anything moves; its target stays", () => {
  withTempDir((t) => {
    const { dirs, exp } = exportTree(t);
    mkdirSync(join(exp, 'mirror', 'v3'), { recursive: true });
    writeFileSync(join(exp, 'mirror', 'v3', 'index.json'), '{}');
    const v = join(t, 'victim-dir');
    mkdirSync(v);
    writeFileSync(join(v, 'keep'), 'keep');
    symlinkSync(v, join(dirs.mirrors, 'slurm-25.11-gcc13.4.0'));
    const before = snap(v, join(v, 'keep'));
    assert.throws(
      () => moveArtifacts(exp, dirs, artifacts),
      /slurm-25\.11-gcc13\.4\.0 is a symbolic link to .*victim-dir, not a directory: nothing was moved/,
    );
    assert.is(snap(v, join(v, 'keep')), before);
    assert.equal(readdirSync(dirs.builds), [], 'the sidecars moved before the mirror failed');
  });
});

test('runBuildx: a link at the log path is not written through; the command still runs', async () => {
  await withTempDir(async (t) => {
    const v = victimFile(join(t, 'victim'));
    const log = join(t, 'build-25.11.log');
    symlinkSync(v, log);
    const before = snap(v);
    const r = await runBuildx(['--version'], log, { echo: false });
    assert.match(r.log, /Docker version/);
    assert.is(snap(v), before, 'the build log went through the link');
  });
});

test('mergeInto: a link in the export is not moved; a link in the host buildcache is not entered', () => {
  withTempDir((t) => {
    const v = join(t, 'victim-dir');
    mkdirSync(v);
    const from = join(t, 'export-buildcache');
    mkdirSync(join(from, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(from, 'blobs', 'sha256', 'aa1'), 'blob');
    symlinkSync('/etc/shadow', join(from, 'blobs', 'evil'));
    const to = join(t, 'buildcache');
    mkdirSync(join(to, 'blobs'), { recursive: true });
    symlinkSync(v, join(to, 'blobs', 'sha256'));
    const moved = mergeInto(from, to);
    assert.equal(moved, []);
    assert.equal(readdirSync(v), [], 'a blob was merged through the link');
    assert.equal(readdirSync(join(to, 'blobs')), ['sha256'], 'the export link was merged into the buildcache');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Compiler tarballs unpacked for publish
// ---------------------------------------------------------------------------------------------------------
test('unpackCompilerTarballs: a link at the scratch directory name is refused; its target gets nothing', async () => {
  await withTempDir(async (t) => {
    const home = join(t, 'home');
    const src = join(t, 'src');
    mkdirSync(join(src, 'build_cache'), { recursive: true });
    writeFileSync(join(src, 'build_cache', 'index.json'), '{}\n');
    mkdirSync(join(home, 'compilers', '13.4.0'), { recursive: true });
    await tar.c({ gzip: true, file: compilerTarball(home, '13.4.0'), cwd: src }, ['build_cache']);
    const v = join(t, 'victim-dir');
    mkdirSync(v);
    symlinkSync(v, join(home, 'compilers', '13.4.0', `.publish-${process.pid}`));
    const err = await rejection(unpackCompilerTarballs(home, ['13.4.0']));
    assert.match(err.message, /EEXIST/);
    assert.equal(readdirSync(v), []);
  });
});

test('unpackCompilerTarballs: an archive whose links lead outside writes nothing outside (node-tar refuses)', async () => {
  await withTempDir(async (t) => {
    const home = join(t, 'home');
    mkdirSync(join(home, 'compilers', '13.4.0'), { recursive: true });
    const vd = join(t, 'victim-dir');
    mkdirSync(vd);
    const vf = victimFile(join(t, 'victim'));
    // Entries: build_cache -> victim-dir (absolute link), build_cache/index.json through it; a hard link to the
    // victim file, then a file of that name; a relative link out and a file of its name.
    const py = String.raw`
import io, sys, tarfile
t = tarfile.open(sys.argv[1], 'w:gz')
def add(name, typ, link='', data=b''):
    i = tarfile.TarInfo(name); i.type = typ; i.linkname = link; i.mode = 0o644
    i.size = len(data) if typ == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if typ == tarfile.REGTYPE else None)
add('build_cache', tarfile.SYMTYPE, sys.argv[2])
add('build_cache/index.json', tarfile.REGTYPE, data=b'through the link\n')
add('h', tarfile.LNKTYPE, sys.argv[3])
add('h', tarfile.REGTYPE, data=b'through the hard link\n')
add('r', tarfile.SYMTYPE, '../../../../victim')
add('r', tarfile.REGTYPE, data=b'through the relative link\n')
t.close()`;
    const made = spawnSync('python3', ['-c', py, compilerTarball(home, '13.4.0'), vd, vf], { encoding: 'utf8' });
    assert.is(made.status, 0, made.stderr);
    const before = snap(vd, vf);
    const r = await unpackCompilerTarballs(home, ['13.4.0']).catch((e: Error) => e);
    if (!(r instanceof Error)) r.cleanup();
    assert.is(snap(vd, vf), before);
  });
});

test.run();
