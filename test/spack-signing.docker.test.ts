/**
 * Spack's signed buildcache, for real: scripts/spack/push-buildcache.sh run by a real Spack with the mounts the
 * slurm stage gives it (the key only as the BuildKit secret gpg-key, SPACK_GNUPGHOME on a tmpfs), then a fresh
 * Spack that trusts the keys published in that mirror installs from it, and refuses it untrusted or tampered.
 * The Dockerfile and the one-file package it builds are in test/fixtures/spack-signing. Spack 1.0's buildcache
 * layout (v3): each spec has a clearsigned manifest (v3/manifests/spec/...) listing its blobs by checksum (the
 * spec itself is a gzip blob); the published keys are uncompressed blobs.
 *
 * Spack cannot be downloaded here (no GitHub, no PyPI), so these tests need local copies; they run offline on
 * the project's Debian 13 base stage (Python 3.13):
 *   SLURM_FACTORY_TEST_SPACK=/path/to/spack                   a Spack 1.0 tree; with the clingo Python module
 *                                                             for Python 3.13 in lib/spack/ (or see _CLINGO)
 *   SLURM_FACTORY_TEST_SPACK_PACKAGES=/path/to/spack-packages  its builtin package repository
 *   SLURM_FACTORY_TEST_SOURCE_MIRROR=/path/to/sources         a Spack source mirror with compiler-wrapper 1.1.0
 *                                                             (Spack 1.0 builds it from source for every package)
 *   SLURM_FACTORY_TEST_BOOTSTRAP_MIRROR=/path/to/mirror       optional: `spack bootstrap mirror --binary-packages`
 *   SLURM_FACTORY_TEST_CLINGO=/path/to/dir                    optional: a directory with the clingo Python
 *                                                             module, used instead of bootstrapping it
 * Without them every test here is skipped, and says so.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gpgHome, needCommand, needDocker, repoRoot, runCli, tempDir, testIf, type Requirement } from './helpers.ts';
import { scanImageForKey } from './key-scan.ts';
import { MOTO_ENV, getObject, listObjects, needWorkingMoto, startMoto } from './s3-fixtures.ts';
import { walkFiles } from '../tasks/lib/publish.ts';
import { publicKeyOf } from '../tasks/lib/signing.ts';

const required = [
  'SLURM_FACTORY_TEST_SPACK',
  'SLURM_FACTORY_TEST_SPACK_PACKAGES',
  'SLURM_FACTORY_TEST_SOURCE_MIRROR',
] as const;
const optional = ['SLURM_FACTORY_TEST_BOOTSTRAP_MIRROR', 'SLURM_FACTORY_TEST_CLINGO'] as const;
const needLocalSpack: Requirement = () => {
  const missing = required.filter((v) => !process.env[v]);
  if (missing.length > 0) {
    return `needs a local Spack 1.0, its packages and a source mirror with compiler-wrapper: set ${missing.join(', ')} (GitHub and PyPI are unreachable here)`;
  }
  const spack = process.env.SLURM_FACTORY_TEST_SPACK!;
  if (!existsSync(join(spack, 'bin', 'spack'))) return `SLURM_FACTORY_TEST_SPACK=${spack} has no bin/spack`;
  const packages = process.env.SLURM_FACTORY_TEST_SPACK_PACKAGES!;
  if (!existsSync(join(packages, 'repos', 'spack_repo', 'builtin'))) {
    return `SLURM_FACTORY_TEST_SPACK_PACKAGES=${packages} has no repos/spack_repo/builtin`;
  }
  if (!existsSync(process.env.SLURM_FACTORY_TEST_SOURCE_MIRROR!)) {
    return `SLURM_FACTORY_TEST_SOURCE_MIRROR=${process.env.SLURM_FACTORY_TEST_SOURCE_MIRROR} does not exist`;
  }
  const bad = optional.filter((v) => process.env[v] && !existsSync(process.env[v]!));
  return bad.length > 0 ? `${bad.map((v) => `${v}=${process.env[v]}`).join(', ')} does not exist` : null;
};
const spackTest = testIf(test, [
  needLocalSpack,
  needDocker,
  needCommand('gpg', 'apt-get install gnupg'),
  needCommand('moto_server', 'apt-get install python3-moto python3-flask-cors'),
  needWorkingMoto,
]);

const t = tempDir('sf-spack-signing-');
const env = { SLURM_FACTORY_HOME: join(t.path, 'home') };
const context = join(t.path, 'context');
const keys = { a: join(t.path, 'key-a') };
// Each export holds local/ (pushed to the mirror named local-buildcache) and published/ (pushed to a file:// URL,
// as the slurm stage pushes the build's own mirror).
const outputs = { signed: join(t.path, 'export-signed'), unsigned: join(t.path, 'export-unsigned') };
const mirrors = { signed: join(outputs.signed, 'published') };
const producerImage = 'slurm-factory-test:spack-signing-producer';
let baseStage = '';
let fingerprint = '';

test.before(async () => {
  if (needLocalSpack() || needDocker()) return;
  const base = await (await import('./fixture.ts')).ensureBaseImage('debian13');
  // The project's own base stage (build tools, gnupg, patchelf) is what the Spack stages run on; Debian 13's
  // Python 3.13 is the one the local clingo module is built for.
  const r = runCli(
    ['build', '24.11', '--gcc', 'system', '--os', 'debian13', '--base-image', base, '--target', 'base'],
    { env },
  );
  if (r.status !== 0) throw new Error(`base stage: ${r.stderr.slice(-2000)}`);
  baseStage = 'slurm-factory:24.11-gcc14.2.0-base';
  cpSync(join(repoRoot, 'test/fixtures/spack-signing'), context, { recursive: true });
  cpSync(join(repoRoot, 'scripts/spack/push-buildcache.sh'), join(context, 'push-buildcache.sh'));
  for (const [who, dir] of Object.entries(keys)) {
    const k = runCli(['keygen', '--name', `spack signing test ${who}`, '--out', dir], { env });
    if (k.status !== 0) throw new Error(`keygen failed: ${k.stderr}`);
  }
  fingerprint = (await publicKeyOf(readFileSync(join(keys.a, 'signing.private.asc'), 'utf8'))).fingerprint;
});
test.after(() => t.cleanup());

interface BuildOptions {
  sign?: boolean;
  mirror?: string;
  output?: string;
  tag?: string;
  rerun?: boolean;
}

/** `docker buildx build` of one target of the fixture Dockerfile; the log is plain progress. */
function buildTarget(target: string, o: BuildOptions = {}) {
  const ctx = (name: string, dir: string | undefined) => (dir ? ['--build-context', `${name}=${dir}`] : []);
  const args = [
    'buildx',
    'build',
    '--progress',
    'plain',
    '--target',
    target,
    '--build-arg',
    `BASE_IMAGE=${baseStage}`,
    ...ctx('spack-src', process.env.SLURM_FACTORY_TEST_SPACK),
    ...ctx('spack-packages-src', process.env.SLURM_FACTORY_TEST_SPACK_PACKAGES),
    ...ctx('spack-bootstrap-mirror', process.env.SLURM_FACTORY_TEST_BOOTSTRAP_MIRROR),
    ...ctx('clingo', process.env.SLURM_FACTORY_TEST_CLINGO),
    ...ctx('source-mirror', process.env.SLURM_FACTORY_TEST_SOURCE_MIRROR),
    ...ctx('published-mirror', o.mirror),
    ...(o.sign
      ? [
          '--secret',
          `id=gpg-key,src=${join(keys.a, 'signing.private.asc')}`,
          '--build-arg',
          `SIGNING_KEY_FINGERPRINT=${fingerprint}`,
        ]
      : []),
    ...(o.rerun ? ['--no-cache-filter', target] : []),
    ...(o.output ? ['--output', `type=local,dest=${o.output}`] : []),
    ...(o.tag ? ['--load', '--tag', o.tag] : []),
    context,
  ];
  const r = spawnSync('docker', args, { encoding: 'utf8', timeout: 4 * 3600_000, maxBuffer: 256 * 1024 * 1024 });
  return { status: r.status ?? -1, log: `${r.stdout}${r.stderr}` };
}

const filesOf = (dir: string) => walkFiles(dir).map((rel) => ({ rel, text: readFileSync(join(dir, rel), 'latin1') }));
const clearsigned = (dir: string) =>
  filesOf(dir).filter((f) => f.text.startsWith('-----BEGIN PGP SIGNED MESSAGE-----'));

spackTest('unsigned is the default: without the secret the mirror has packages and no signature', () => {
  const r = buildTarget('mirror', { output: outputs.unsigned });
  assert.is(r.status, 0, r.log.slice(-4000));
  for (const dir of ['local', 'published'].map((d) => join(outputs.unsigned, d))) {
    const files = filesOf(dir);
    assert.ok(
      files.some((f) => /sf-hello/.test(f.rel) || /sf-hello/.test(f.text)),
      `sf-hello was pushed to ${dir}: ${files.map((f) => f.rel).join(', ')}`,
    );
    assert.ok(
      files.some((f) => /gcc-runtime/.test(f.rel) || /gcc-runtime/.test(f.text)),
      `its link dependency gcc-runtime too`,
    );
    assert.equal(
      clearsigned(dir).map((f) => f.rel),
      [],
      'no signed metadata',
    );
    assert.not.ok(
      files.some((f) => f.text.includes('BEGIN PGP PUBLIC KEY BLOCK')),
      'no key published',
    );
  }
});

spackTest(
  'signed: clearsigned metadata that gpg verifies with the project key, and the public key in the mirror',
  async () => {
    const r = buildTarget('mirror', { sign: true, output: outputs.signed });
    assert.is(r.status, 0, r.log.slice(-4000));
    const gpg = gpgHome(join(t.path, 'gnupg-a'), join(keys.a, 'signing.public.asc'));
    const openpgp = await import('openpgp');
    for (const dir of ['local', 'published'].map((d) => join(outputs.signed, d))) {
      const signed = clearsigned(dir);
      assert.ok(signed.length >= 2, `signed spec metadata for sf-hello and gcc-runtime in ${dir}`);
      for (const f of signed) {
        const v = gpg('--verify', join(dir, f.rel));
        assert.is(v.status, 0, `gpg --verify ${f.rel}: ${v.stderr}`);
        assert.match(v.stdout, new RegExp(`VALIDSIG ${fingerprint}`), f.rel);
      }
      const published = filesOf(dir).filter((f) => f.text.includes('BEGIN PGP PUBLIC KEY BLOCK'));
      assert.ok(published.length >= 1, `a public key is published in ${dir}`);
      const fingerprints = await Promise.all(
        published.map(async (f) => (await openpgp.readKey({ armoredKey: f.text })).getFingerprint().toUpperCase()),
      );
      assert.ok(fingerprints.includes(fingerprint), `published keys ${fingerprints.join(', ')} include ${fingerprint}`);
      assert.not.ok(
        filesOf(dir).some((f) => f.text.includes('PRIVATE KEY')),
        `no private key in ${dir}`,
      );
    }
  },
);

spackTest('a fresh Spack trusts the published key and installs from the signed mirror', () => {
  const r = buildTarget('consumer', { mirror: mirrors.signed, rerun: true });
  assert.is(r.status, 0, r.log.slice(-4000));
  assert.match(r.log, /hello from sf-hello/, 'the installed program runs, relocated');
});

spackTest('untrusted: without the published key trusted, Spack refuses the signed binaries', () => {
  const r = buildTarget('untrusted', { mirror: mirrors.signed, rerun: true });
  assert.is.not(r.status, 0, 'the install must fail');
  // Spack 1.0 verifies each spec manifest with gpg, whose refusal it passes on.
  assert.match(r.log, /No public key/, `Spack refused it for want of a trusted key: ${r.log.slice(-3000)}`);
  assert.not.match(r.log, /hello from sf-hello/);
});

spackTest('tampered: one changed character in a signed spec manifest is refused', () => {
  const tampered = join(t.path, 'mirror-tampered');
  cpSync(mirrors.signed, tampered, { recursive: true });
  const [manifest] = clearsigned(tampered).filter(
    (f) => /sf-hello/.test(f.rel) && /\.spec\.manifest\.json$/.test(f.rel),
  );
  assert.ok(
    manifest,
    `a signed sf-hello spec manifest to change: ${clearsigned(tampered)
      .map((f) => f.rel)
      .join(', ')}`,
  );
  // The first blob checksum the manifest lists (the spec's or the archive's): its last hex digit changed.
  const changed = manifest.text.replace(
    /("checksum": ?"[0-9a-f]{63})([0-9a-f])"/,
    (_m, head: string, last: string) => `${head}${last === '0' ? '1' : '0'}"`,
  );
  assert.is.not(changed, manifest.text, 'a checksum was found and changed');
  assert.is(changed.length, manifest.text.length, 'one character, not more');
  writeFileSync(join(tampered, manifest.rel), changed, 'latin1');
  assert.is.not(
    gpgHome(join(t.path, 'gnupg-t'), join(keys.a, 'signing.public.asc'))('--verify', join(tampered, manifest.rel))
      .status,
    0,
    'gpg refuses it too',
  );
  const r = buildTarget('consumer', { mirror: tampered, rerun: true });
  assert.is.not(r.status, 0, 'the install must fail');
  assert.match(r.log, /BAD signature/, `Spack refused it for its signature: ${r.log.slice(-3000)}`);
  assert.not.match(r.log, /hello from sf-hello/);
});

spackTest(
  'published: the signed mirror through `publish` to S3 and back is still one a fresh Spack installs from',
  async () => {
    // The publish task's own layout and upload order, against a real S3-protocol server; then every object
    // under slurm/24.11/14.2.0/buildcache/ is read back and given to a fresh Spack as its mirror.
    const moto = await startMoto();
    Object.assign(process.env, MOTO_ENV);
    const s3 = await import('@aws-sdk/client-s3');
    const client = new s3.S3Client({ endpoint: moto.endpoint, forcePathStyle: true, region: 'us-east-1' });
    try {
      const home = join(t.path, 'home-publish');
      cpSync(mirrors.signed, join(home, 'mirrors', 'slurm-24.11-gcc14.2.0'), { recursive: true });
      await client.send(new s3.CreateBucketCommand({ Bucket: 'sf-signing' }));
      const p = runCli(
        [
          'publish',
          '--bucket',
          'sf-signing',
          '--endpoint',
          moto.endpoint,
          '--slurm',
          '24.11',
          '--gcc',
          '14.2.0',
          '--buildcache',
          'slurm-only',
          '--progress',
          'none',
        ],
        { env: { SLURM_FACTORY_HOME: home, ...MOTO_ENV } },
      );
      assert.is(p.status, 0, p.stdout + p.stderr);
      const root = 'slurm/24.11/14.2.0/buildcache/';
      const fetched = join(t.path, 'mirror-fetched');
      for (const key of (await listObjects(client, 'sf-signing', root)).keys()) {
        const dest = join(fetched, key.slice(root.length));
        mkdirSync(join(dest, '..'), { recursive: true });
        writeFileSync(dest, (await getObject(client, 'sf-signing', key))!.body);
      }
      assert.equal(
        walkFiles(fetched),
        walkFiles(mirrors.signed),
        'every file of the mirror, and nothing else, was published',
      );
      const r = buildTarget('consumer', { mirror: fetched, rerun: true });
      assert.is(r.status, 0, r.log.slice(-4000));
      assert.match(r.log, /hello from sf-hello/);
    } finally {
      client.destroy();
      await moto.stop();
    }
  },
);

spackTest('no key material in the producer image: docker history, image config, or any layer', async () => {
  const r = buildTarget('producer', { sign: true, tag: producerImage });
  assert.is(r.status, 0, r.log.slice(-4000));
  const scan = await scanImageForKey(
    producerImage,
    readFileSync(join(keys.a, 'signing.private.asc'), 'utf8'),
    join(t.path, 'scan'),
  );
  assert.ok(scan.needles >= 3 && scan.secretNeedles >= 1, `key material to look for (${scan.needles})`);
  assert.match(scan.history, /push-buildcache/, 'history is readable');
  assert.ok(scan.layers >= 3, `layers were read (${scan.layers})`);
  assert.equal(scan.found, [], 'no key material anywhere in the image');
  spawnSync('docker', ['image', 'rm', producerImage], { stdio: 'ignore' });
});

test.run();
