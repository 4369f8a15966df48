/**
 * artifacts.ts: the one record of artifact names and its inverse parsers, round-tripped over the whole catalog
 * matrix (every Slurm series x GCC (and system) x OS x flavour the plan accepts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GCC_TOOLCHAINS, OS_TARGETS, SLURM_RELEASES } from '../tasks/lib/catalog.ts';
import { planBuild } from '../tasks/lib/plan.ts';
import {
  BUILD_SIDECARS,
  PACKAGE_SIDECARS,
  PUBLISHED_SIDECARS,
  SIDECAR_SUFFIXES,
  SIGNED_BY,
  buildArtifacts,
  compilerArtifacts,
  parseBuildId,
  parseCompilerTarballName,
  parseSidecarName,
  parseTarballName,
  type Sidecar,
} from '../tasks/lib/artifacts.ts';

function* catalogPlans() {
  for (const r of SLURM_RELEASES) {
    for (const gcc of [...GCC_TOOLCHAINS.map((g) => g.version), 'system']) {
      for (const os of OS_TARGETS) {
        for (const gpu of [false, true]) yield planBuild({ slurm: r.series, gcc, os: os.name, gpu });
      }
    }
  }
}

test('every plan of the catalog matrix: names parse back to the fields that made them, and back again', () => {
  let n = 0;
  const seen = new Set<string>();
  for (const p of catalogPlans()) {
    const a = p.artifacts;
    const key = { slurm: p.slurm.series, gcc: p.gcc.version, gpu: p.flavour === 'gpu' };
    assert.equal(parseTarballName(a.tarball), key, a.tarball);
    assert.equal(parseBuildId(a.mirrorDir), key, a.mirrorDir);
    assert.equal(buildArtifacts(parseTarballName(a.tarball)!), a, `record of ${a.tarball}`);
    assert.is(a.id, p.id, 'the plan id is the build id');
    for (const [s, name] of Object.entries(a.sidecars) as [Sidecar, string][]) {
      assert.equal(parseSidecarName(name), { ...key, tarball: a.tarball, sidecar: s }, name);
      assert.is(parseTarballName(name), null, `${name} is not a tarball`);
    }
    assert.is(parseSidecarName(a.tarball), null, 'the tarball is not a side file');
    if (p.compilerArtifacts) {
      assert.equal(parseCompilerTarballName(p.compilerArtifacts.tarball), { gcc: p.gcc.version });
      assert.equal(compilerArtifacts(p.gcc.version), p.compilerArtifacts);
      assert.is(p.compilerArtifacts.dir, `compilers/${p.gcc.version}`);
    } else {
      assert.is(p.gcc.source, 'system');
    }
    seen.add(a.tarball);
    n++;
  }
  assert.is(n, SLURM_RELEASES.length * (GCC_TOOLCHAINS.length + 1) * OS_TARGETS.length * 2);
  // Distinct builds get distinct names (the OS is not in the name: one toolchain per GCC version).
  const keys = new Set([...catalogPlans()].map((p) => `${p.slurm.series}/${p.gcc.version}/${p.flavour}`));
  assert.is(seen.size, keys.size);
});

test('exact example names, CPU and GPU', () => {
  const a = buildArtifacts({ slurm: '25.11', gcc: '13.4.0', gpu: true });
  assert.is(a.tarball, 'slurm-25.11-gcc13.4.0-gpu-software.tar.gz');
  assert.is(a.mirrorDir, 'slurm-25.11-gcc13.4.0-gpu');
  assert.equal(a.sidecars, {
    sha256: `${a.tarball}.sha256`,
    manifest: `${a.tarball}.manifest.json`,
    sbom: `${a.tarball}.cdx.json`,
    signature: `${a.tarball}.asc`,
    sha256Signature: `${a.tarball}.sha256.asc`,
    manifestSignature: `${a.tarball}.manifest.json.asc`,
    provenance: `${a.tarball}.provenance.json`,
    provenanceSignature: `${a.tarball}.provenance.json.asc`,
    buildkitProvenance: `${a.tarball}.buildkit-provenance.json`,
    buildkitProvenanceSignature: `${a.tarball}.buildkit-provenance.json.asc`,
  });
  assert.equal(compilerArtifacts('10.5.0'), {
    gcc: '10.5.0',
    dir: 'compilers/10.5.0',
    tarball: 'gcc-10.5.0-compiler.tar.gz',
    sha256: 'gcc-10.5.0-compiler.tar.gz.sha256',
  });
});

test('names that are not ours parse to null', () => {
  for (const n of [
    'slurm-25.11-gcc13.4.0-software.tar',
    'slurm-25.11-gcc13.4.0-software.tar.gz.tmp',
    'slurm-25-gcc13.4.0-software.tar.gz',
    'slurm-25.11-gcc13.4.0-cpu-software.tar.gz',
    'xslurm-25.11-gcc13.4.0-software.tar.gz',
    'slurm-25.11-gccx-software.tar.gz',
    'slurm-25.11-gcc13.4.0-software.tar.gz.sig',
    '',
  ]) {
    assert.is(parseTarballName(n), null, n);
    assert.is(parseSidecarName(n), null, n);
  }
  for (const n of ['slurm-25.11-gcc13.4.0-software', 'slurm-25.11-gcc13.4.0-', 'slurm-25.11', '.publish-1'])
    assert.is(parseBuildId(n), null, n);
  for (const n of ['gcc-system-compiler.tar.gz', 'gcc-13.4.0-compiler.tar', 'gcc-13.4.0-compiler.tar.gz.sha256']) {
    assert.is(parseCompilerTarballName(n), null, n);
  }
  // Read back, `system` and an exact release are accepted (older builds, hand-made names).
  assert.equal(parseTarballName('slurm-25.11.6-gccsystem-software.tar.gz'), {
    slurm: '25.11.6',
    gcc: 'system',
    gpu: false,
  });
});

test('a key that is not a version never becomes a name', () => {
  assert.throws(() => buildArtifacts({ slurm: '25.11/../x', gcc: '13.4.0', gpu: false }), /not a version/);
  assert.throws(() => buildArtifacts({ slurm: '25.11', gcc: '13.4.0 ', gpu: false }), /not a version/);
  assert.throws(() => compilerArtifacts('system'), /not a version/);
});

test('the side-file lists are subsets of one record; every signature names a file that exists in it', () => {
  const all = Object.keys(SIDECAR_SUFFIXES);
  for (const list of [BUILD_SIDECARS, PACKAGE_SIDECARS, PUBLISHED_SIDECARS])
    for (const s of list) assert.ok(all.includes(s), s);
  for (const [sig, over] of Object.entries(SIGNED_BY)) {
    assert.ok(all.includes(sig));
    assert.ok(over === 'tarball' || all.includes(over), `${sig} signs ${over}`);
    assert.is(
      SIDECAR_SUFFIXES[sig as Sidecar],
      `${over === 'tarball' ? '' : SIDECAR_SUFFIXES[over as Sidecar]}.asc`,
      `${sig} is <signed file>.asc`,
    );
  }
  // BuildKit's provenance is published (and checked) like the project's statement, with its signature.
  for (const s of ['buildkitProvenance', 'buildkitProvenanceSignature'])
    assert.ok((PUBLISHED_SIDECARS as readonly string[]).includes(s), s);
});

test.run();
