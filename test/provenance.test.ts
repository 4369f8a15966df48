/**
 * Provenance and SBOM checks (tasks/lib/provenance.ts) on a small real tarball: view/ with real ELF files
 * copied from this machine, packed with GNU tar. The statement's subject is checked with the real `sha256sum`,
 * its signature with the real `gpg --verify`; verify's checks must reject a changed tarball, a foreign
 * signature and an SBOM that misses or doubles an ELF file.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gpgHome, needCommand, needDocker, withTempDir, testIf } from './helpers.ts';
import {
  attestationSupport,
  buildkitProvenanceNote,
  checkBuildkitProvenance,
  checkProvenanceSubject,
  checkSbomCoverage,
  detectAttestationSupport,
  provenanceStatement,
  verifySupplyChain,
  writeProvenance,
} from '../tasks/lib/provenance.ts';
import { generateKey } from '../tasks/lib/signing.ts';

const it = testIf(test, [needCommand('gpg', 'apt-get install gnupg'), needCommand('sha256sum', 'coreutils')]);

const TARBALL = 'slurm-24.11-gcc12.2.0-software.tar.gz';
const buildInfo = {
  spackVersion: '1.0.0',
  spackCommit: '73eaea13f381e3495299284856fd02a64e1d154c',
  builtinRepoCommit: '1e8cf059e35d55c4fe1142fed41785bedf6c7246',
  baseImage: 'slurm-factory-base:debian12',
};

/** A tarball with view/bin/true and view/lib/x.so (real ELF), view/share/doc.txt, and an SBOM (inside and beside). */
function makeTarball(dir: string, sbomOccurrences: string[][]) {
  const stage = join(dir, 'stage');
  mkdirSync(join(stage, 'view', 'bin'), { recursive: true });
  mkdirSync(join(stage, 'view', 'lib'), { recursive: true });
  mkdirSync(join(stage, 'view', 'share'), { recursive: true });
  copyFileSync('/bin/true', join(stage, 'view', 'bin', 'true'));
  copyFileSync('/bin/false', join(stage, 'view', 'lib', 'x.so'));
  writeFileSync(join(stage, 'view', 'share', 'doc.txt'), 'not an ELF file\n');
  const bom = {
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    version: 1,
    components: sbomOccurrences.map((occ, i) => ({
      type: 'library',
      name: `pkg${i}`,
      version: '1',
      ...(occ.length ? { evidence: { occurrences: occ.map((location) => ({ location })) } } : {}),
      externalReferences: [
        {
          type: 'source-distribution',
          url: `https://example.org/pkg${i}-1.tar.gz`,
          hashes: [{ alg: 'SHA-256', content: 'a'.repeat(64) }],
        },
      ],
    })),
  };
  writeFileSync(join(stage, 'sbom.cdx.json'), JSON.stringify(bom));
  const tarball = join(dir, TARBALL);
  const r = spawnSync('tar', ['-czf', tarball, '-C', stage, 'sbom.cdx.json', 'view'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  copyFileSync(join(stage, 'sbom.cdx.json'), `${tarball}.cdx.json`);
  const ctx = join(dir, 'context');
  mkdirSync(join(ctx, 'package', 'scripts'), { recursive: true });
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\n');
  writeFileSync(join(ctx, 'package', 'scripts', 'package-view.sh'), '#!/bin/bash\n');
  writeFileSync(join(ctx, 'package', 'build-info.json'), JSON.stringify(buildInfo));
  return { tarball, ctx };
}

/** Awaits fn and asserts it throws an error whose message matches re (or satisfies a predicate). */
async function rejects(fn: () => Promise<unknown>, re: RegExp | ((e: Error) => boolean)) {
  try {
    await fn();
  } catch (e) {
    const ok = typeof re === 'function' ? re(e as Error) : re.test((e as Error).message);
    assert.ok(ok, `unexpected error: ${(e as Error).message}`);
    return;
  }
  assert.unreachable('expected an error');
}

const GOOD = [['view/bin/true'], ['view/lib/x.so']];

it('provenance: an in-toto v1 SLSA statement whose subject is the sha256sum of the tarball, signed so gpg --verify accepts it', async () => {
  await withTempDir(async (t) => {
    const { tarball, ctx } = makeTarball(t, GOOD);
    const key = await generateKey({ name: 'Provenance Test' });
    const written = await writeProvenance(
      {
        tarball,
        contextDir: ctx,
        plan: { id: '24.11-gcc12.2.0' },
        baseImage: {
          name: 'base-image',
          uri: 'docker-image://slurm-factory-base:debian12',
          digest: { sha256: 'b'.repeat(64) },
        },
      },
      key.privateKey,
    );
    assert.equal(written, [`${tarball}.provenance.json`, `${tarball}.provenance.json.asc`]);
    const st = JSON.parse(readFileSync(`${tarball}.provenance.json`, 'utf8'));
    assert.is(st._type, 'https://in-toto.io/Statement/v1');
    assert.is(st.predicateType, 'https://slsa.dev/provenance/v1');
    const sum = spawnSync('sha256sum', [tarball], { encoding: 'utf8' }).stdout.split(' ')[0];
    assert.equal(st.subject, [{ name: TARBALL, digest: { sha256: sum } }]);
    const deps = st.predicate.buildDefinition.resolvedDependencies;
    const dockerfileSum = spawnSync('sha256sum', [join(ctx, 'Dockerfile')], { encoding: 'utf8' }).stdout.split(' ')[0];
    assert.ok(deps.some((d: any) => d.name === 'context:Dockerfile' && d.digest.sha256 === dockerfileSum));
    assert.ok(deps.some((d: any) => d.name === 'context:package/scripts/package-view.sh'));
    assert.ok(
      deps.some(
        (d: any) =>
          d.uri === `git+https://github.com/spack/spack.git@${buildInfo.spackCommit}` &&
          d.digest.gitCommit === buildInfo.spackCommit,
      ),
    );
    assert.ok(deps.some((d: any) => d.digest?.gitCommit === buildInfo.builtinRepoCommit));
    assert.ok(deps.some((d: any) => d.name === 'base-image' && d.digest.sha256 === 'b'.repeat(64)));
    assert.ok(
      deps.some(
        (d: any) =>
          d.name === 'source:pkg0@1' &&
          d.uri === 'https://example.org/pkg0-1.tar.gz' &&
          d.digest.sha256 === 'a'.repeat(64),
      ),
    );
    assert.equal(st.predicate.buildDefinition.externalParameters.plan, { id: '24.11-gcc12.2.0' });

    writeFileSync(join(t, 'pub.asc'), key.publicKey);
    const gpg = gpgHome(join(t, 'gnupg'), join(t, 'pub.asc'));
    const v = gpg('--verify', `${tarball}.provenance.json.asc`, `${tarball}.provenance.json`);
    assert.is(v.status, 0, v.stderr);
    assert.match(v.stdout, new RegExp(`VALIDSIG ${key.fingerprint}`));

    // verify's steps pass on the untouched files...
    const lines = await verifySupplyChain(tarball, key.publicKey);
    assert.equal(
      lines.map((l) => [l.step, l.ok]),
      [
        ['provenance', true],
        ['provenance signature', true],
        ['sbom', true],
      ],
    );
    assert.match(lines[2]!.detail, /^2 ELF files, each in one of 2 components$/);
    // ...a signature by another key is refused...
    const other = await generateKey({ name: 'Someone Else' });
    await rejects(
      () => verifySupplyChain(tarball, other.publicKey),
      /was signed by key [0-9A-F]+, which is not the given key/,
    );
    // ...and a changed provenance fails both gpg and verify.
    appendFileSync(`${tarball}.provenance.json`, ' ');
    assert.is.not(gpg('--verify', `${tarball}.provenance.json.asc`, `${tarball}.provenance.json`).status, 0);
    await rejects(() => verifySupplyChain(tarball, key.publicKey), /bad signature on .*\.provenance\.json/);
  });
});

it('provenance: a link at the statement temporary name (pid-predictable) is not written through', async () => {
  await withTempDir(async (t) => {
    const { tarball, ctx } = makeTarball(t, GOOD);
    const victim = join(t, 'victim');
    writeFileSync(victim, 'victim\n', { mode: 0o600 });
    symlinkSync(victim, `${tarball}.provenance.json.tmp-${process.pid}`);
    await rejects(
      () => writeProvenance({ tarball, contextDir: ctx, plan: {}, baseImage: { name: 'base-image' } }),
      /EEXIST/,
    );
    assert.is(readFileSync(victim, 'utf8'), 'victim\n');
    assert.is(lstatSync(`${tarball}.provenance.json`, { throwIfNoEntry: false }), undefined);
  });
});

it('provenance: a tarball replaced after the statement was written fails the subject check, naming both checksums', async () => {
  await withTempDir(async (t) => {
    const { tarball, ctx } = makeTarball(t, GOOD);
    await writeProvenance({ tarball, contextDir: ctx, plan: {}, baseImage: { name: 'base-image' } });
    assert.match(await checkProvenanceSubject(tarball), /^subject sha256 [0-9a-f]{16}\.\.\. matches$/);
    const before = JSON.parse(readFileSync(`${tarball}.provenance.json`, 'utf8')).subject[0].digest.sha256;
    appendFileSync(tarball, Buffer.from([0]));
    const after = spawnSync('sha256sum', [tarball], { encoding: 'utf8' }).stdout.split(' ')[0];
    await rejects(
      () => checkProvenanceSubject(tarball),
      new RegExp(`its subject is sha256 ${before}, the tarball's sha256 is ${after}`),
    );
  });
});

it('sbom coverage: an ELF file in no component, or in two, fails naming it; non-ELF files need no component', async () => {
  for (const [occ, re] of [
    [[['view/bin/true'], []], /not in any component: view\/lib\/x\.so$/],
    [
      [['view/bin/true', 'view/lib/x.so'], ['view/lib/x.so']],
      /in several components: view\/lib\/x\.so \(pkg0@1, pkg1@1\)/,
    ],
  ] as const) {
    await withTempDir(async (t) => {
      const { tarball } = makeTarball(t, occ as unknown as string[][]);
      await rejects(
        () => checkSbomCoverage(tarball),
        (e: Error) => re.test(e.message),
      );
    });
  }
});

test('a tarball without any SBOM (made before SBOMs) is reported as a skip, not a pass', async () => {
  await withTempDir(async (t) => {
    const { tarball } = makeTarball(t, GOOD);
    const stage = join(t, 'stage');
    const r = spawnSync('tar', ['-czf', tarball, '-C', stage, 'view'], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    rmSync(`${tarball}.cdx.json`);
    assert.is(await checkSbomCoverage(tarball), null);
    const lines = await verifySupplyChain(tarball);
    assert.equal(
      lines.map((l) => [l.step, l.ok]),
      [
        ['provenance', null],
        ['sbom', null],
      ],
    );
    // The copy beside it counts when the tarball has none inside.
    copyFileSync(join(stage, 'sbom.cdx.json'), `${tarball}.cdx.json`);
    assert.match((await checkSbomCoverage(tarball))!, /^2 ELF files/);
  });
});

it("with a key, BuildKit's provenance beside the tarball is signed too (gpg --verify), and verify checks that signature", async () => {
  await withTempDir(async (t) => {
    const { tarball, ctx } = makeTarball(t, GOOD);
    const sum = spawnSync('sha256sum', [tarball], { encoding: 'utf8' }).stdout.split(' ')[0]!;
    const bk = `${tarball}.buildkit-provenance.json`;
    writeFileSync(
      bk,
      JSON.stringify({
        _type: 'https://in-toto.io/Statement/v0.1',
        predicateType: 'https://slsa.dev/provenance/v0.2',
        subject: [{ name: TARBALL, digest: { sha256: sum } }],
        predicate: { materials: [] },
      }),
    );
    const key = await generateKey({ name: 'BuildKit provenance signer' });
    const written = await writeProvenance(
      { tarball, contextDir: ctx, plan: {}, baseImage: { name: 'base-image' } },
      key.privateKey,
    );
    assert.equal(written, [`${tarball}.provenance.json`, `${tarball}.provenance.json.asc`, `${bk}.asc`]);
    writeFileSync(join(t, 'pub.asc'), key.publicKey);
    const gpg = gpgHome(join(t, 'gnupg'), join(t, 'pub.asc'));
    const v = gpg('--verify', `${bk}.asc`, bk);
    assert.is(v.status, 0, v.stderr);
    assert.match(v.stdout, new RegExp(`VALIDSIG ${key.fingerprint}`));
    assert.equal(
      (await verifySupplyChain(tarball, key.publicKey)).map((l) => l.step),
      ['provenance', 'provenance signature', 'buildkit provenance', 'buildkit provenance signature', 'sbom'],
    );
    appendFileSync(bk, ' ');
    await rejects(() => verifySupplyChain(tarball, key.publicKey), /bad signature on .*\.buildkit-provenance\.json/);
    // Rewritten without a key: no signature of either statement is left behind.
    await writeProvenance({ tarball, contextDir: ctx, plan: {}, baseImage: { name: 'base-image' } });
    assert.not.ok(existsSync(`${bk}.asc`) || existsSync(`${tarball}.provenance.json.asc`));
  });
});

test('statement without a key: no .asc, and a stale one from an earlier build is removed', async () => {
  await withTempDir(async (t) => {
    const { tarball, ctx } = makeTarball(t, GOOD);
    writeFileSync(`${tarball}.provenance.json.asc`, 'stale');
    const st = await provenanceStatement({ tarball, contextDir: ctx, plan: {}, baseImage: { name: 'base-image' } });
    assert.ok(st.subject);
    assert.equal(await writeProvenance({ tarball, contextDir: ctx, plan: {}, baseImage: { name: 'base-image' } }), [
      `${tarball}.provenance.json`,
    ]);
    assert.not.ok(spawnSync('test', ['-e', `${tarball}.provenance.json.asc`]).status === 0);
  });
});

test('attestation support: the docker driver needs the containerd image store; other drivers have it', () => {
  const docker = 'Name:          default\nDriver:        docker\nLast Activity: 2026-11-29\n';
  assert.is(attestationSupport(docker, '[["Backing Filesystem","extfs"]]').supported, false);
  assert.match(attestationSupport(docker, '[["Backing Filesystem","extfs"]]').reason, /containerd-snapshotter/);
  assert.is(attestationSupport(docker, '[["driver-type","io.containerd.snapshotter.v1"]]').supported, true);
  assert.is(attestationSupport('Name: b\nDriver:        docker-container\n', '').supported, true);
  assert.is(attestationSupport('garbage', '').supported, false);
});

test('build and bake say plainly whether BuildKit provenance is written, and why not', () => {
  assert.match(
    buildkitProvenanceNote({ supported: true, reason: 'buildx driver docker-container' }),
    /^BuildKit provenance: requested \(--provenance=mode=max; buildx driver docker-container\); written as <tarball>\.buildkit-provenance\.json$/,
  );
  assert.match(
    buildkitProvenanceNote(attestationSupport('Driver: docker\n', '')),
    /^BuildKit provenance: not written, the builder does not support attestations: the docker driver without the containerd image store .*; the project statement \(\.provenance\.json\) is written all the same$/,
  );
});

it("BuildKit provenance beside a tarball: its subject must be the tarball's sha256sum; another type, subject or digest fails naming it", async () => {
  await withTempDir(async (t) => {
    const { tarball } = makeTarball(t, GOOD);
    const sum = spawnSync('sha256sum', [tarball], { encoding: 'utf8' }).stdout.split(' ')[0]!;
    // The shape BuildKit 0.13 writes (test/attest.docker.test.ts checks a real one): in-toto v0.1, SLSA v0.2.
    const write = (o: Record<string, unknown>) =>
      writeFileSync(
        `${tarball}.buildkit-provenance.json`,
        JSON.stringify({
          _type: 'https://in-toto.io/Statement/v0.1',
          predicateType: 'https://slsa.dev/provenance/v0.2',
          subject: [
            { name: `${TARBALL}.sha256`, digest: { sha256: 'c'.repeat(64) } },
            { name: TARBALL, digest: { sha256: sum } },
          ],
          predicate: { materials: [{ uri: 'pkg:docker/x', digest: { sha256: 'd'.repeat(64) } }] },
          ...o,
        }),
      );
    write({});
    assert.is(
      await checkBuildkitProvenance(tarball),
      `SLSA v0.2 by BuildKit, subject sha256 ${sum.slice(0, 16)}... matches; 1 materials`,
    );
    assert.equal(
      (await verifySupplyChain(tarball)).map((l) => [l.step, l.ok]),
      [
        ['provenance', null],
        ['buildkit provenance', true],
        ['sbom', true],
      ],
    );
    write({ subject: [{ name: TARBALL, digest: { sha256: 'e'.repeat(64) } }] });
    await rejects(
      () => checkBuildkitProvenance(tarball),
      new RegExp(`its subject ${TARBALL.replace(/\./g, '\\.')} has sha256 e{64}, the tarball's sha256 is ${sum}`),
    );
    write({ subject: [{ name: 'other.tar.gz', digest: { sha256: sum } }] });
    await rejects(
      () => checkBuildkitProvenance(tarball),
      /no subject is named slurm-24\.11-gcc12\.2\.0-software\.tar\.gz/,
    );
    write({ predicateType: 'https://spdx.dev/Document' });
    await rejects(
      () => checkBuildkitProvenance(tarball),
      /is not an in-toto statement with SLSA provenance \(it says _type 'https:\/\/in-toto\.io\/Statement\/v0\.1', predicateType 'https:\/\/spdx\.dev\/Document'\)/,
    );
    writeFileSync(`${tarball}.buildkit-provenance.json`, '{');
    await rejects(() => verifySupplyChain(tarball), /buildkit-provenance\.json is not JSON/);
  });
});

testIf(test, [needDocker])('attestation support on this engine agrees with what buildx itself does', () => {
  const d = detectAttestationSupport();
  withTempDir((t) => {
    const probe = spawnSync(
      'docker',
      ['buildx', 'build', '--provenance=mode=max', '--output', `type=local,dest=${join(t, 'out')}`, '-'],
      {
        input: 'FROM scratch\nLABEL probe=1\n',
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    const refused = /Attestation is not supported/i.test(probe.stderr);
    assert.ok(refused || probe.status === 0, `the probe build failed otherwise: ${probe.stderr}`);
    assert.is(
      d.supported,
      !refused,
      `detect says ${JSON.stringify(d)}, buildx says: ${probe.stderr.trim().split('\n').pop()}`,
    );
  });
});

test.run();
