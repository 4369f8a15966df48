/**
 * moveArtifacts: how an export reaches ~/.slurm-factory (builds/, mirrors/<build>, buildcache/), on real
 * directories.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withTempDir } from './helpers.ts';
import { buildMirrorDir, moveArtifacts } from '../tasks/lib/build-run.ts';
import { buildArtifacts } from '../tasks/lib/artifacts.ts';

const artifacts = buildArtifacts({ slurm: '25.11', gcc: '13.4.0', gpu: false });
const name = 'slurm-25.11-gcc13.4.0-software.tar.gz';

function write(path: string, text: string) {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

test('an export lands whole: sidecars and tarball in builds/, its mirror replaces the old one, binaries merged', () => {
  withTempDir((t) => {
    const dirs = { builds: join(t, 'builds'), buildcache: join(t, 'buildcache'), mirrors: join(t, 'mirrors') };
    const exp = join(t, 'export');
    for (const f of [name, `${name}.sha256`, `${name}.manifest.json`]) write(join(exp, f), `new ${f}`);
    write(join(exp, 'mirror', 'v3', 'manifests', 'index', 'index.manifest.json'), 'new index');
    write(join(exp, 'buildcache', 'blobs', 'sha256', 'aa', 'aa1'), 'blob');
    write(join(exp, 'buildcache', 'blobs', 'sha256', 'bb', 'bb1'), 'kept');
    // What an earlier build of the same name left: a signature this build lacks, and a mirror with more in it.
    write(join(dirs.builds, `${name}.asc`), 'old signature');
    write(join(dirs.mirrors, 'slurm-25.11-gcc13.4.0', 'v3', 'manifests', 'spec', 'old.spec.manifest.json'), 'old');
    write(join(dirs.buildcache, 'blobs', 'sha256', 'bb', 'bb1'), 'kept');

    const added = moveArtifacts(exp, dirs, artifacts);
    assert.is(added, 1, 'one new binary merged, the one already there kept');
    assert.equal(readdirSync(dirs.builds).sort(), [name, `${name}.manifest.json`, `${name}.sha256`]);
    assert.is(readFileSync(join(dirs.builds, name), 'utf8'), `new ${name}`);
    const mirror = buildMirrorDir(dirs.mirrors, artifacts);
    assert.is(mirror, join(dirs.mirrors, 'slurm-25.11-gcc13.4.0'));
    assert.is(readFileSync(join(mirror, 'v3', 'manifests', 'index', 'index.manifest.json'), 'utf8'), 'new index');
    assert.not.ok(
      existsSync(join(mirror, 'v3', 'manifests', 'spec', 'old.spec.manifest.json')),
      'the old mirror is replaced, not merged',
    );
    assert.equal(readdirSync(dirs.mirrors), ['slurm-25.11-gcc13.4.0'], 'no leftover directory');
    assert.ok(existsSync(join(dirs.buildcache, 'blobs', 'sha256', 'aa', 'aa1')));
  });
});

test("supply-chain sidecars: the SBOM moves with the tarball, an earlier build's provenance is removed, BuildKit's is renamed", () => {
  withTempDir((t) => {
    const dirs = { builds: join(t, 'builds'), buildcache: join(t, 'buildcache'), mirrors: join(t, 'mirrors') };
    const exp = join(t, 'export');
    for (const f of [name, `${name}.sha256`, `${name}.manifest.json`, `${name}.cdx.json`, 'provenance.json'])
      write(join(exp, f), `new ${f}`);
    for (const f of [`${name}.provenance.json`, `${name}.provenance.json.asc`, `${name}.buildkit-provenance.json.asc`])
      write(join(dirs.builds, f), 'from an earlier build');
    writeFileSync(join(exp, 'provenance.json'), 'new provenance.json', { mode: 0o600 });
    moveArtifacts(exp, dirs, artifacts);
    // BuildKit writes it 0600; beside the tarball it is as readable as every other sidecar.
    assert.is(statSync(join(dirs.builds, `${name}.buildkit-provenance.json`)).mode & 0o777, 0o644);
    assert.equal(readdirSync(dirs.builds).sort(), [
      name,
      `${name}.buildkit-provenance.json`,
      `${name}.cdx.json`,
      `${name}.manifest.json`,
      `${name}.sha256`,
    ]);
    assert.is(readFileSync(join(dirs.builds, `${name}.cdx.json`), 'utf8'), `new ${name}.cdx.json`);
    assert.is(readFileSync(join(dirs.builds, `${name}.buildkit-provenance.json`), 'utf8'), 'new provenance.json');
  });
});

test('a rebuild removes every side file of the earlier build it does not bring, a hand-made manifest signature too', () => {
  withTempDir((t) => {
    const dirs = { builds: join(t, 'builds'), buildcache: join(t, 'buildcache'), mirrors: join(t, 'mirrors') };
    const exp = join(t, 'export');
    for (const f of [name, `${name}.sha256`, `${name}.manifest.json`]) write(join(exp, f), `new ${f}`);
    // `sign` run by hand on the earlier build's manifest: over the new manifest it is a bad signature, and
    // publish would refuse the new build for it.
    for (const s of Object.values(artifacts.sidecars)) write(join(dirs.builds, s), 'from an earlier build');
    moveArtifacts(exp, dirs, artifacts);
    assert.equal(readdirSync(dirs.builds).sort(), [name, `${name}.manifest.json`, `${name}.sha256`]);
  });
});

test('the GPU build has its own mirror beside the CPU one', () => {
  assert.is(
    buildMirrorDir('/m', buildArtifacts({ slurm: '25.11', gcc: '13.4.0', gpu: true })),
    '/m/slurm-25.11-gcc13.4.0-gpu',
  );
});

test.run();
