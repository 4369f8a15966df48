/**
 * publish: planning (pure, always runs) and real uploads to a moto_server (S3 protocol) on loopback that this
 * file starts and stops. Skips loudly without moto_server.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gpgHome, needCommand, repoRoot, runCli, withTempDir, testIf } from './helpers.ts';
import { writeProvenance } from '../tasks/lib/provenance.ts';
import {
  DB_MEDIA,
  INDEX_KEY,
  KEYS_INDEX_KEY,
  MOTO_ENV,
  SPEC_MEDIA,
  TARBALL_MEDIA,
  danglingReferences,
  getObject as getS3Object,
  listObjects,
  localGetter,
  makeBuild,
  makeBuildcache,
  needWorkingMoto,
  startMoto,
  type Moto,
} from './s3-fixtures.ts';
import {
  checkTarballs,
  contentTypeOf,
  isIndexPath,
  phaseOf,
  planBuildcache,
  planPublish,
} from '../tasks/lib/publish.ts';
import { decide, executePublish, hashFile } from '../tasks/lib/publish-s3.ts';
import { generateKey, signFile, type GeneratedKey } from '../tasks/lib/signing.ts';

Object.assign(process.env, { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** One signing key pair for the whole file (generated once), like keygen's. */
let projectKey: Promise<GeneratedKey> | undefined;
const signingKey = () => (projectKey ??= generateKey({ name: 'publish test project key' }));

/**
 * A SLURM_FACTORY_HOME with one build (signed, its public key where keygen puts it: keys/signing.public.asc),
 * a v3 buildcache and a compiler buildcache.
 */
async function makeHome(root: string, packages = 20) {
  const home = join(root, 'home');
  const tarball = makeBuild(join(home, 'builds'), { slurm: '25.11', gcc: '13.4.0', bytes: 300_000 });
  const key = await signingKey();
  await signFile(tarball, key.privateKey);
  mkdirSync(join(home, 'keys'), { recursive: true });
  writeFileSync(join(home, 'keys', 'signing.public.asc'), key.publicKey);
  await makeBuildcache(join(home, 'mirrors', 'slurm-25.11-gcc13.4.0'), { packages, blobBytes: 4096 });
  await makeBuildcache(join(home, 'compilers', '13.4.0', 'buildcache'), { packages: 3, blobBytes: 2048 });
  return home;
}

// ------------------------------------------------------------------------------------------- planning (pure)

test('classification: blobs are data, manifests metadata, anything named index last; content types', () => {
  assert.is(phaseOf('blobs/sha256/ab/abcd'), 0);
  assert.is(phaseOf('slurm-25.11-gcc13.4.0-software.tar.gz'), 0);
  assert.is(phaseOf('build_cache/linux/x.spack'), 0);
  assert.is(phaseOf('v3/manifests/spec/zlib/zlib-1.3-abc.spec.manifest.json'), 1);
  assert.is(phaseOf('slurm-25.11-gcc13.4.0-software.tar.gz.sha256'), 1);
  assert.is(phaseOf('v3/layout.json'), 1);
  for (const p of [
    INDEX_KEY,
    KEYS_INDEX_KEY,
    'build_cache/index.json',
    'build_cache/_pgp/index.json',
    'v3/manifests/index/view/index.manifest.json',
  ]) {
    assert.ok(isIndexPath(p), p);
    assert.is(phaseOf(p), 2, p);
  }
  assert.is(phaseOf('build_cache/index.json.hash'), 3);
  assert.not.ok(isIndexPath('blobs/sha256/in/index-like-but-a-blob') && phaseOf('blobs/sha256/in/x') !== 0);
  assert.is(contentTypeOf('x.tar.gz'), 'application/gzip');
  assert.is(contentTypeOf('x.tar.gz.sha256'), 'text/plain; charset=utf-8');
  assert.is(contentTypeOf('x.tar.gz.asc', new Map(), '-----BEGIN PGP SIGNATURE'), 'application/pgp-signature');
  assert.is(contentTypeOf('keys/ABC.asc', new Map(), '-----BEGIN PGP PUBLIC KEY BLOCK'), 'application/pgp-keys');
  assert.is(contentTypeOf('x.manifest.json', new Map(), '{'), 'application/json');
  assert.is(
    contentTypeOf('a.spec.manifest.json', new Map(), '-----BEGIN PGP SIGNED MESSAGE-----'),
    'text/plain; charset=utf-8',
  );
  assert.is(contentTypeOf('blobs/sha256/ab/abc', new Map([['abc', SPEC_MEDIA]])), SPEC_MEDIA);
  assert.is(contentTypeOf('blobs/sha256/ab/unknown'), 'application/octet-stream');
});

test('plan: S3 layout, blob media types from the manifests, every index after everything it can point at', async () => {
  await withTempDir(async (t) => {
    const home = await makeHome(t);
    const plan = planPublish({ home, prefix: 'cache/v1', buildcache: 'all', tarballs: true });
    const keys = plan.objects.map((o) => o.key);
    const local = (dir: string) =>
      readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
    const bc = plan.objects.filter((o) => o.key.startsWith('cache/v1/slurm/25.11/13.4.0/buildcache/'));
    assert.is(
      bc.length,
      local(join(home, 'mirrors', 'slurm-25.11-gcc13.4.0')),
      "the build's own mirror under slurm/25.11/13.4.0/buildcache/",
    );
    assert.is(
      plan.objects.filter((o) => o.key.startsWith('cache/v1/compilers/13.4.0/buildcache/')).length,
      local(join(home, 'compilers', '13.4.0', 'buildcache')),
    );
    for (const f of ['', '.sha256', '.manifest.json', '.asc'])
      assert.ok(keys.includes(`cache/v1/builds/25.11/13.4.0/slurm-25.11-gcc13.4.0-software.tar.gz${f}`), f);
    assert.ok(keys.includes(`cache/v1/slurm/25.11/13.4.0/buildcache/${INDEX_KEY}`));
    // Order: the last non-index object comes before the first index object.
    const lastPlain = Math.max(...plan.objects.map((o, i) => (isIndexPath(o.key) ? -1 : i)));
    const firstIndex = plan.objects.findIndex((o) => isIndexPath(o.key));
    assert.ok(firstIndex > lastPlain, `index first at ${firstIndex}, last other at ${lastPlain}`);
    // And every blob comes before every manifest.
    const lastBlob = Math.max(...plan.objects.map((o, i) => (o.key.includes('/blobs/') ? i : -1)));
    const firstManifest = plan.objects.findIndex((o) => o.key.includes('/v3/manifests/'));
    assert.ok(lastBlob < firstManifest);
    const types = new Set(bc.filter((o) => o.key.includes('/blobs/')).map((o) => o.contentType));
    assert.equal(
      [...types].sort(),
      [DB_MEDIA, 'application/pgp-keys', 'application/vnd.spack.keyindex.v1+json', TARBALL_MEDIA, SPEC_MEDIA].sort(),
    );
    assert.is(plan.objects.find((o) => o.key.endsWith('.tar.gz'))!.contentType, 'application/gzip');
    assert.is(plan.objects.find((o) => o.key.endsWith(INDEX_KEY))!.cacheControl, 'no-cache');

    const slurmOnly = planPublish({ home, prefix: '', buildcache: 'slurm-only', tarballs: false });
    assert.ok(slurmOnly.objects.every((o) => o.key.startsWith('slurm/25.11/13.4.0/buildcache/')));
  });
});

test("plan: each build's own mirror goes to its own slurm/{slurm}/{gcc}[-gpu] root with its own index; the merged cache never", async () => {
  await withTempDir(async (t) => {
    const home = join(t, 'home');
    const mirrors = {
      cpu: 'slurm-25.11-gcc13.4.0',
      gpu: 'slurm-25.11-gcc13.4.0-gpu',
      other: 'slurm-24.11-gcc10.5.0',
      empty: 'slurm-24.11-gcc13.4.0',
    };
    await makeBuildcache(join(home, 'mirrors', mirrors.cpu), { packages: 2, blobBytes: 100 });
    await makeBuildcache(join(home, 'mirrors', mirrors.gpu), { packages: 3, blobBytes: 100 });
    await makeBuildcache(join(home, 'mirrors', mirrors.other), { packages: 4, blobBytes: 100 });
    mkdirSync(join(home, 'mirrors', mirrors.empty), { recursive: true });
    await makeBuildcache(join(home, 'buildcache'), { packages: 9, blobBytes: 100 });
    const plan = planPublish({ home, prefix: '', buildcache: 'slurm-only', tarballs: false });
    const roots = new Map(plan.groups.map((g) => [g.root, g.localRoot]));
    assert.equal([...roots.keys()].sort(), [
      'slurm/24.11/10.5.0/buildcache/',
      'slurm/25.11/13.4.0-gpu/buildcache/',
      'slurm/25.11/13.4.0/buildcache/',
    ]);
    assert.is(roots.get('slurm/25.11/13.4.0-gpu/buildcache/'), join(home, 'mirrors', mirrors.gpu));
    for (const [root, local] of roots) {
      assert.is(
        plan.objects.filter((o) => o.key.startsWith(root)).length,
        readdirSync(local!, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length,
        root,
      );
      assert.is(
        readFileSync(plan.objects.find((o) => o.key === root + INDEX_KEY)!.path, 'utf8'),
        readFileSync(join(local!, INDEX_KEY), 'utf8'),
        `${root} has its own index`,
      );
    }
    assert.ok(
      plan.objects.every((o) => !o.path.startsWith(join(home, 'buildcache'))),
      'nothing from the merged host buildcache',
    );
    assert.ok(
      plan.notes.some((n) => n.includes(mirrors.empty) && /no Spack binaries/.test(n)),
      plan.notes.join('; '),
    );
    const filtered = planPublish({ home, prefix: '', buildcache: 'slurm-only', tarballs: false, slurm: ['24.11'] });
    assert.equal(
      filtered.groups.map((g) => g.root),
      ['slurm/24.11/10.5.0/buildcache/'],
    );
  });
});

test('plan refuses a local buildcache whose manifest points at a missing blob', async () => {
  await withTempDir(async (t) => {
    const dir = join(t, 'bc');
    await makeBuildcache(dir, { packages: 2, blobBytes: 100 });
    const blobs = readdirSync(join(dir, 'blobs', 'sha256'), { recursive: true, withFileTypes: true }).filter((e) =>
      e.isFile(),
    );
    const { rmSync } = await import('node:fs');
    rmSync(join(blobs[0]!.parentPath, blobs[0]!.name));
    assert.throws(
      () => planBuildcache(dir, 'x/', 'g'),
      /inconsistent: .* points at blobs\/sha256\/.*, which is missing/,
    );
  });
});

test('skip decision: same size and MD5 ETag skips, other size uploads, foreign ETag asks HEAD', async () => {
  await withTempDir(async (t) => {
    const p = join(t, 'f');
    writeFileSync(p, 'hello');
    const h = await hashFile(p);
    assert.is(h.md5, '5d41402abc4b2a76b9719d911017c592');
    assert.is(decide({ size: 5 }, h, { size: 5, etag: '"5d41402abc4b2a76b9719d911017c592"' }), 'skip');
    assert.is(decide({ size: 5 }, h, undefined), 'upload');
    assert.is(decide({ size: 5 }, h, { size: 6, etag: '"5d41402abc4b2a76b9719d911017c592"' }), 'upload');
    assert.is(decide({ size: 5 }, h, { size: 5, etag: '"0123456789abcdef0123456789abcdef-2"' }), 'head');
  });
});

// Bad input: exit 2, one line naming the value, nothing written, no network needed.
const bad: [string[], RegExp][] = [
  [['publish'], /'publish' needs a bucket; pass --bucket NAME or set SLURM_FACTORY_BUCKET/],
  [['publish', '--bucket', 'Bad_Bucket'], /bucket 'Bad_Bucket' is not a valid S3 bucket name/],
  [
    ['publish', '--bucket', 'ok-bucket', '--buildcache', 'some'],
    /--buildcache 'some' is not a mode; use one of all, slurm-only, none/,
  ],
  [['publish', '--bucket', 'ok-bucket', '--jobs', '0'], /--jobs '0' is not a whole number from 1 to 64/],
  [['publish', '--bucket', 'ok-bucket', '--endpoint', 'ftp://x'], /--endpoint 'ftp:\/\/x' is not an http\(s\) URL/],
  [
    ['publish', '--bucket', 'ok-bucket', '--endpoint', 'http://AKIA:secret@127.0.0.1:1'],
    /--endpoint must not carry credentials/,
  ],
  [['publish', '--bucket', 'ok-bucket', '--prefix', 'a/../b'], /--prefix 'a\/\.\.\/b' is not a usable key prefix/],
  [['publish', '--bucket', 'ok-bucket', '--slurm', '25.x'], /--slurm '25\.x' is not a version/],
  [
    ['publish', '--bucket', 'ok-bucket'],
    /no build mirrors in .*mirrors to publish as slurm\/\{slurm\}\/\{gcc\}\/buildcache; build first/,
  ],
  [['publish', '--bucket', 'ok-bucket', '--buildcache', 'none'], /nothing to publish with --buildcache none/],
  [
    ['publish', '--bucket', 'ok-bucket', '--public-key', '/nonexistent.asc', '--buildcache', 'none'],
    /--public-key '\/nonexistent\.asc' does not exist/,
  ],
  [['publish', '--bucket', 'ok-bucket', '--allow-unchecksummed'], /--allow-unchecksummed applies to --tarballs only/],
];
for (const [args, message] of bad) {
  test(`bad input: ${args.join(' ')}`, () => {
    withTempDir((t) => {
      const r = runCli(args, { env: { SLURM_FACTORY_HOME: join(t, 'home'), SLURM_FACTORY_BUCKET: '' } });
      assert.is(r.status, 2, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.is(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /^error: /);
      assert.match(lines[0]!, message);
      assert.is(r.stdout, '');
      assert.equal(readdirSync(t), [], 'nothing written');
    });
  });
}

// --------------------------------------------------------------------------------------- against moto_server

const withMoto = testIf(test, [
  needCommand('moto_server', 'apt-get install python3-moto python3-flask-cors'),
  needWorkingMoto,
]);

let moto: Moto | undefined;
type S3 = typeof import('@aws-sdk/client-s3');
let s3: S3;
let client: InstanceType<S3['S3Client']>;

async function server(): Promise<Moto> {
  if (!moto) {
    moto = await startMoto();
    Object.assign(process.env, MOTO_ENV);
    s3 = await import('@aws-sdk/client-s3');
    client = new s3.S3Client({
      endpoint: moto.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      maxAttempts: 1,
      requestHandler: { socketTimeout: 5000 },
    });
  }
  return moto;
}
test.after(async () => {
  client?.destroy();
  await moto?.stop();
});

let bucketNo = 0;
async function newBucket(): Promise<string> {
  const b = `sf-test-${process.pid}-${++bucketNo}`;
  await client.send(new s3.CreateBucketCommand({ Bucket: b }));
  return b;
}

const listAll = (bucket: string) => listObjects(client, bucket);
const getObject = (bucket: string, key: string) => getS3Object(client, bucket, key);

const remoteGetter = (bucket: string, root: string) => async (rel: string) =>
  (await getObject(bucket, root + rel))?.body ?? null;

function publishCli(home: string, bucket: string, extra: string[] = []) {
  return runCli(['publish', '--bucket', bucket, '--endpoint', moto!.endpoint, '--progress', 'none', ...extra], {
    env: { SLURM_FACTORY_HOME: home, ...MOTO_ENV },
  });
}

withMoto('publish puts every object with its checksum and content type; a second publish uploads nothing', async () => {
  await server();
  await withTempDir(async (t) => {
    const home = await makeHome(t);
    const bucket = await newBucket();
    const r = publishCli(home, bucket, ['--tarballs', '--prefix', 'pub']);
    assert.is(r.status, 0, r.stderr);
    const plan = planPublish({ home, prefix: 'pub', buildcache: 'all', tarballs: true });
    assert.match(
      r.stdout,
      new RegExp(
        `: ${plan.objects.length} objects uploaded \\(${plan.objects.reduce((s, o) => s + o.size, 0)} bytes\\), 0 already there`,
      ),
    );
    assert.match(
      r.stdout,
      /slurm 25\.11 gcc 13\.4\.0 buildcache: spack mirror add --signed NAME http:\/\/127\.0\.0\.1:\d+\/sf-test-[\d-]+\/pub\/slurm\/25\.11\/13\.4\.0\/buildcache/,
    );
    assert.not.match(r.stdout + r.stderr, new RegExp(MOTO_ENV.AWS_SECRET_ACCESS_KEY), 'credentials never printed');
    const remote = await listAll(bucket);
    assert.is(remote.size, plan.objects.length, 'exactly the planned objects');
    for (const o of plan.objects) {
      const got = await getObject(bucket, o.key);
      assert.ok(got, `${o.key} present`);
      assert.is(sha256(got!.body), sha256(readFileSync(o.path)), `${o.key} checksum`);
      assert.is(got!.sha256meta, sha256(readFileSync(o.path)), `${o.key} sha256 metadata`);
      assert.is(got!.contentType, o.contentType, `${o.key} content type`);
    }
    const blobType = (await getObject(bucket, plan.objects.find((o) => o.contentType === TARBALL_MEDIA)!.key))!
      .contentType;
    assert.is(blobType, TARBALL_MEDIA);
    const reader = await danglingReferences(remoteGetter(bucket, 'pub/slurm/25.11/13.4.0/buildcache/'));
    assert.ok(reader.index, 'index published');
    assert.equal(reader.missing, []);
    assert.ok(reader.checked > 60, `followed ${reader.checked} references`);

    const again = publishCli(home, bucket, ['--tarballs', '--prefix', 'pub']);
    assert.is(again.status, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`: 0 objects uploaded \\(0 bytes\\), ${plan.objects.length} already there`));
    const after = await listAll(bucket);
    for (const [k, v] of remote) assert.is(after.get(k)!.modified, v.modified, `${k} not rewritten`);

    // One changed file: exactly that one goes up.
    appendFileSync(join(home, 'builds', 'slurm-25.11-gcc13.4.0-software.tar.gz.manifest.json'), '\n');
    const third = publishCli(home, bucket, ['--tarballs', '--prefix', 'pub']);
    assert.is(third.status, 0, third.stderr);
    assert.match(third.stdout, /: 1 objects uploaded/);
  });
});

withMoto('--dry-run lists what would go up with the byte total and uploads nothing', async () => {
  await server();
  await withTempDir(async (t) => {
    const home = await makeHome(t);
    const bucket = await newBucket();
    assert.is(publishCli(home, bucket, ['--buildcache', 'slurm-only']).status, 0);
    const before = await listAll(bucket);
    await signFile(
      makeBuild(join(home, 'builds'), { slurm: '25.11', gcc: '13.4.0', bytes: 300_000, seed: 'changed' }),
      (await signingKey()).privateKey,
    );
    const r = publishCli(home, bucket, ['--tarballs', '--dry-run']);
    assert.is(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    const would = lines.filter((l) => l.startsWith('would upload'));
    const plan = planPublish({ home, prefix: '', buildcache: 'all', tarballs: true });
    const expected = plan.objects.filter((o) => !before.has(o.key));
    assert.equal(would.map((l) => l.split(/\s+/)[2]).sort(), expected.map((o) => o.key).sort());
    assert.match(
      lines.at(-1)!,
      new RegExp(
        `dry run: ${expected.length} objects, ${expected.reduce((s, o) => s + o.size, 0)} bytes .* would be uploaded`,
      ),
    );
    const after = await listAll(bucket);
    assert.equal([...after.keys()].sort(), [...before.keys()].sort(), 'nothing uploaded');
  });
});

withMoto(
  'an aarch64 build beside the x86_64 one: its own mirror root and tarball names, checked and published',
  async () => {
    await server();
    await withTempDir(async (t) => {
      const home = await makeHome(t, 3);
      const key = await signingKey();
      const arm = makeBuild(join(home, 'builds'), { slurm: '25.11', gcc: '13.4.0', bytes: 200_000, arch: 'aarch64' });
      await signFile(arm, key.privateKey);
      await makeBuildcache(join(home, 'mirrors', 'slurm-25.11-gcc13.4.0-aarch64'), { packages: 4, blobBytes: 1024 });
      const bucket = await newBucket();
      const r = publishCli(home, bucket, ['--tarballs', '--buildcache', 'slurm-only']);
      assert.is(r.status, 0, r.stderr);
      const lines = r.stdout.split('\n').map((l) => l.trim());
      const mirrorLine = (arch: string) =>
        lines.find((l) => l.startsWith(`slurm 25.11 gcc 13.4.0${arch} buildcache: spack mirror add`)) ?? '';
      assert.match(mirrorLine(' aarch64'), /\/slurm\/25\.11\/13\.4\.0-aarch64\/buildcache$/, r.stdout);
      assert.match(mirrorLine(''), /\/slurm\/25\.11\/13\.4\.0\/buildcache$/, r.stdout);
      const remote = await listAll(bucket);
      const armName = 'slurm-25.11-gcc13.4.0-aarch64-software.tar.gz';
      for (const f of [armName, `${armName}.sha256`, `${armName}.manifest.json`, `${armName}.asc`]) {
        const got = await getObject(bucket, `builds/25.11/13.4.0/${f}`);
        assert.ok(got, `builds/25.11/13.4.0/${f} published`);
        assert.is(sha256(got!.body), sha256(readFileSync(join(home, 'builds', f))), `${f} checksum`);
      }
      assert.ok(remote.has('builds/25.11/13.4.0/slurm-25.11-gcc13.4.0-software.tar.gz'), 'the x86_64 tarball too');
      const armIndex = [...remote.keys()].filter((k) => k.startsWith('slurm/25.11/13.4.0-aarch64/buildcache/'));
      const x86Index = [...remote.keys()].filter((k) => k.startsWith('slurm/25.11/13.4.0/buildcache/'));
      assert.ok(
        armIndex.includes(`slurm/25.11/13.4.0-aarch64/buildcache/${INDEX_KEY}`),
        'the aarch64 mirror has its index',
      );
      assert.ok(x86Index.includes(`slurm/25.11/13.4.0/buildcache/${INDEX_KEY}`), 'the x86_64 mirror keeps its own');
      const armReader = await danglingReferences(remoteGetter(bucket, 'slurm/25.11/13.4.0-aarch64/buildcache/'));
      assert.equal(armReader.missing, [], 'every blob the aarch64 index points at is there');
      // The manifests do not mix: each index lists only its own mirror's specs.
      const specsOf = (keys: string[]) => keys.filter((k) => k.includes('/v3/manifests/spec/')).length;
      assert.is(specsOf(armIndex), 4);
      assert.is(specsOf(x86Index), 3);
      // A tampered aarch64 tarball is refused like any other, naming it.
      flipByte(arm);
      const empty = await newBucket();
      const bad = publishCli(home, empty, ['--tarballs', '--buildcache', 'none']);
      assert.is(bad.status, 1, bad.stdout + bad.stderr);
      assert.match(
        bad.stderr,
        /^error: slurm-25\.11-gcc13\.4\.0-aarch64-software\.tar\.gz does not match its checksum/,
      );
      assert.is((await listAll(empty)).size, 0, 'nothing uploaded');
    });
  },
);

/** Flips one byte of a file in place (the middle one by default). */
function flipByte(path: string, at?: number) {
  const buf = readFileSync(path);
  const i = at ?? Math.floor(buf.length / 2);
  buf[i] = buf[i]! ^ 0x01;
  writeFileSync(path, buf);
}

/** Key, size and modification time of every object, to prove a refused publish changed nothing. */
const snapshot = async (bucket: string) => JSON.stringify([...(await listAll(bucket))].sort());

withMoto(
  '--tarballs: a tarball that contradicts its .sha256 or .asc is refused before anything goes up (dry run too)',
  async () => {
    await server();
    await withTempDir(async (t) => {
      const home = await makeHome(t, 3);
      const tarball = join(home, 'builds', 'slurm-25.11-gcc13.4.0-software.tar.gz');
      const name = 'slurm-25\\.11-gcc13\\.4\\.0-software\\.tar\\.gz';
      const published = await newBucket();
      const good = publishCli(home, published, ['--tarballs']);
      assert.is(good.status, 0, good.stderr);
      assert.ok(
        (await listAll(published)).has('builds/25.11/13.4.0/slurm-25.11-gcc13.4.0-software.tar.gz.asc'),
        'the untouched set publishes',
      );
      const before = await snapshot(published);
      const original = readFileSync(tarball);
      const refused = async (args: string[], status: number, message: RegExp) => {
        const empty = await newBucket();
        for (const dry of [[], ['--dry-run']]) {
          const r = publishCli(home, empty, ['--tarballs', ...args, ...dry]);
          assert.is(r.status, status, `${args.join(' ')} ${dry.join(' ')}: ${r.stdout}${r.stderr}`);
          const lines = r.stderr.trim().split('\n');
          assert.is(lines.length, 1, r.stderr);
          assert.match(lines[0]!, message);
          assert.match(lines[0]!, /nothing was uploaded/);
          assert.not.match(r.stdout, /would upload|published/);
        }
        assert.is((await listAll(empty)).size, 0, 'a new bucket stays empty');
        const again = publishCli(home, published, ['--tarballs', ...args]);
        assert.is(again.status, status);
        assert.is(await snapshot(published), before, 'the published bucket is unchanged');
      };

      // One byte flipped in the tarball: its .sha256 says otherwise.
      flipByte(tarball);
      await refused(
        [],
        1,
        new RegExp(`^error: ${name} does not match its checksum \\(expected [0-9a-f]{64}, got [0-9a-f]{64}\\)`),
      );
      // The .sha256 rewritten to match the flipped tarball: the signature still says otherwise.
      writeFileSync(`${tarball}.sha256`, `${sha256(readFileSync(tarball))}  slurm-25.11-gcc13.4.0-software.tar.gz\n`);
      await refused(
        [],
        1,
        new RegExp(`^error: bad signature on ${name} \\(${name}\\.asc does not match its contents\\)`),
      );
      writeFileSync(tarball, original);
      writeFileSync(`${tarball}.sha256`, `${sha256(original)}  slurm-25.11-gcc13.4.0-software.tar.gz\n`);

      // A tampered .asc: one byte flipped in the armor, or a good signature over other bytes, or another key's.
      const asc = readFileSync(`${tarball}.asc`);
      flipByte(`${tarball}.asc`, asc.indexOf('\n\n') + 10);
      await refused(
        [],
        1,
        new RegExp(`^error: (bad signature on ${name}|${name}\\.asc is not an ASCII-armored OpenPGP signature)`),
      );
      const other = join(t, 'other.bin');
      writeFileSync(other, original.subarray(1));
      await signFile(other, (await signingKey()).privateKey);
      writeFileSync(`${tarball}.asc`, readFileSync(`${other}.asc`));
      await refused(
        [],
        1,
        new RegExp(
          `^error: bad signature on ${name} \\(${name}\\.asc does not match its contents\\) \\(checked with .*keys/signing\\.public\\.asc\\)`,
        ),
      );
      const stranger = await generateKey({ name: 'not the project' });
      await signFile(tarball, stranger.privateKey);
      await refused([], 1, new RegExp(`^error: ${name} was signed by key [0-9A-F]{16}, which is not the given key`));
      // The signature over the .sha256 is checked too.
      await signFile(tarball, (await signingKey()).privateKey);
      await signFile(`${tarball}.sha256`, stranger.privateKey);
      await refused(
        [],
        1,
        new RegExp(`^error: ${name}\\.sha256 was signed by key [0-9A-F]{16}, which is not the given key`),
      );
      rmSync(`${tarball}.sha256.asc`);
      await signFile(tarball, stranger.privateKey);
      // --public-key is the key the signatures are checked with (and published).
      writeFileSync(join(t, 'stranger.asc'), stranger.publicKey);
      const viaFlag = publishCli(home, await newBucket(), [
        '--tarballs',
        '--public-key',
        join(t, 'stranger.asc'),
        '--dry-run',
      ]);
      assert.is(viaFlag.status, 0, viaFlag.stderr);
      assert.match(viaFlag.stdout, new RegExp(`would upload  keys/${stranger.fingerprint}\\.asc`));
      // A signature with no key at all to check it against.
      rmSync(join(home, 'keys'), { recursive: true });
      await refused(
        [],
        2,
        new RegExp(`^error: ${name}\\.asc cannot be checked: no public key to verify it with; pass --public-key FILE`),
      );
      await signFile(tarball, (await signingKey()).privateKey);
      mkdirSync(join(home, 'keys'));
      writeFileSync(join(home, 'keys', 'signing.public.asc'), (await signingKey()).publicKey);

      // No .sha256: refused unless --allow-unchecksummed.
      rmSync(`${tarball}.sha256`);
      await refused(
        [],
        2,
        new RegExp(`^error: ${name} has no ${name}\\.sha256 beside it in .*builds; .*--allow-unchecksummed`),
      );
      const bucket = await newBucket();
      const allowed = publishCli(home, bucket, ['--tarballs', '--allow-unchecksummed']);
      assert.is(allowed.status, 0, allowed.stderr);
      assert.match(
        allowed.stderr,
        new RegExp(`note: ${name} has no \\.sha256 beside it; published without \\(--allow-unchecksummed\\)`),
      );
      const got = await getObject(bucket, 'builds/25.11/13.4.0/slurm-25.11-gcc13.4.0-software.tar.gz');
      assert.is(sha256(got!.body), sha256(original));
      assert.not.ok((await listAll(bucket)).has('builds/25.11/13.4.0/slurm-25.11-gcc13.4.0-software.tar.gz.sha256'));
    });
  },
);

withMoto(
  'a tarball that changes after it was checked is not uploaded (executePublish compares what it hashes)',
  async () => {
    await server();
    await withTempDir(async (t) => {
      const home = join(t, 'home');
      const tarball = makeBuild(join(home, 'builds'), { slurm: '24.11', gcc: '12.5.0', bytes: 5000 });
      const plan = planPublish({ home, prefix: '', buildcache: 'none', tarballs: true });
      const checked = await checkTarballs(plan.builds, { allowUnchecksummed: false });
      assert.is(checked.sha256.get(tarball), sha256(readFileSync(tarball)));
      flipByte(tarball);
      const bucket = await newBucket();
      const opts = {
        jobs: 2,
        retries: 0,
        timeoutMs: 20_000,
        dryRun: false,
        progress: 'none' as const,
        expectSha256: checked.sha256,
      };
      try {
        await executePublish(plan, { bucket, endpoint: moto!.endpoint }, opts);
        assert.unreachable('a changed tarball must not be uploaded');
      } catch (e) {
        assert.match(
          (e as Error).message,
          /^slurm-24\.11-gcc12\.5\.0-software\.tar\.gz changed while publish was running/,
        );
      }
      assert.is((await listAll(bucket)).size, 0);
    });
  },
);

withMoto(
  "compiler buildcache from build-compiler's tarball (checked, unpacked, cleaned up) and the public key",
  async () => {
    await server();
    await withTempDir(async (t) => {
      const home = join(t, 'home');
      makeBuild(join(home, 'builds'), { slurm: '25.11', gcc: '13.4.0', bytes: 1000 });
      await makeBuildcache(join(home, 'mirrors', 'slurm-25.11-gcc13.4.0'), { packages: 2, blobBytes: 100 });
      const mirror = join(t, 'compiler-mirror');
      await makeBuildcache(mirror, { packages: 4, blobBytes: 500 });
      const cdir = join(home, 'compilers', '13.4.0');
      mkdirSync(cdir, { recursive: true });
      const tarball = join(cdir, 'gcc-13.4.0-compiler.tar.gz');
      const tar = await import('tar');
      await tar.c({ gzip: true, file: tarball, cwd: mirror }, ['.']);
      writeFileSync(`${tarball}.sha256`, `${sha256(readFileSync(tarball))}  gcc-13.4.0-compiler.tar.gz\n`);
      const key = await generateKey({ name: 'publish test' });
      writeFileSync(join(t, 'pub.asc'), key.publicKey);
      writeFileSync(join(t, 'priv.asc'), key.privateKey);

      // A private key is never published.
      const priv = publishCli(home, 'ok-bucket', ['--public-key', join(t, 'priv.asc')]);
      assert.is(priv.status, 2);
      assert.match(
        priv.stderr,
        /^error: --public-key '.*priv\.asc' is not an ASCII-armored OpenPGP public key; .*never publish the private key/,
      );

      const bucket = await newBucket();
      const r = publishCli(home, bucket, ['--public-key', join(t, 'pub.asc')]);
      assert.is(r.status, 0, r.stderr);
      assert.equal(
        readdirSync(cdir).sort(),
        ['gcc-13.4.0-compiler.tar.gz', 'gcc-13.4.0-compiler.tar.gz.sha256'],
        'unpacked copy removed',
      );
      const remote = await listAll(bucket);
      const compilerKeys = [...remote.keys()].filter((k) => k.startsWith('compilers/13.4.0/buildcache/'));
      assert.is(compilerKeys.length, 3 * 4 + 7);
      const reader = await danglingReferences(remoteGetter(bucket, 'compilers/13.4.0/buildcache/'));
      assert.equal(reader.missing, []);
      assert.is(reader.index, readFileSync(join(mirror, INDEX_KEY), 'utf8'));
      const pub = await getObject(bucket, `keys/${key.fingerprint}.asc`);
      assert.is(pub!.body.toString('utf8'), key.publicKey);
      assert.is(pub!.contentType, 'application/pgp-keys');
      assert.match(
        r.stdout,
        new RegExp(`public key: http://127\\.0\\.0\\.1:\\d+/${bucket}/keys/${key.fingerprint}\\.asc`),
      );

      // A compiler tarball that does not match its checksum is refused before anything is uploaded.
      appendFileSync(tarball, 'x');
      const other = await newBucket();
      const bad = publishCli(home, other);
      assert.is(bad.status, 1);
      assert.match(bad.stderr, /^error: gcc-13\.4\.0-compiler\.tar\.gz does not match its checksum/);
      assert.is((await listAll(other)).size, 0);
    });
  },
);

withMoto('a missing bucket is one line and exit 2, without the credentials', async () => {
  await server();
  await withTempDir(async (t) => {
    const home = await makeHome(t, 2);
    const r = publishCli(home, 'sf-no-such-bucket');
    assert.is(r.status, 2, r.stderr);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(
      r.stderr,
      /^error: bucket 'sf-no-such-bucket' does not exist at http:\/\/127\.0\.0\.1:\d+; create it first/,
    );
    assert.not.match(r.stderr, /sf-test-secret|sf-test-access/);
  });
});

withMoto('multipart uploads: ETag matches the local multipart ETag, so the next run skips without a HEAD', async () => {
  await server();
  await withTempDir(async (t) => {
    const home = join(t, 'home');
    makeBuild(join(home, 'builds'), { slurm: '24.11', gcc: '12.5.0', bytes: 12 * 1024 * 1024 + 7 });
    const bucket = await newBucket();
    const plan = planPublish({ home, prefix: '', buildcache: 'none', tarballs: true });
    const opts = {
      jobs: 4,
      retries: 1,
      timeoutMs: 20_000,
      dryRun: false,
      multipartThreshold: 5 * 1024 * 1024,
      partSize: 5 * 1024 * 1024,
      progress: 'none' as const,
    };
    const target = { bucket, endpoint: moto!.endpoint };
    const r1 = await executePublish(plan, target, opts);
    assert.is(r1.uploaded, plan.objects.length);
    const tar = plan.objects.find((o) => o.key.endsWith('.tar.gz'))!;
    const remote = (await listAll(bucket)).get(tar.key)!;
    const h = await hashFile(tar.path, opts.partSize, opts.multipartThreshold);
    assert.is(remote.etag.replace(/"/g, ''), h.multipartEtag);
    assert.match(h.multipartEtag!, /-3$/);
    assert.is(decide(tar, h, remote), 'skip');
    assert.is(sha256((await getObject(bucket, tar.key))!.body), h.sha256);
    const r2 = await executePublish(plan, target, opts);
    assert.is(r2.uploaded, 0);
    assert.is(r2.skipped, plan.objects.length);
  });
});

withMoto(
  'a server that stalls for a moment: timed-out requests are retried with backoff and the publish completes',
  async () => {
    const m = await server();
    await withTempDir(async (t) => {
      const home = join(t, 'home');
      makeBuild(join(home, 'builds'), { slurm: '25.11', gcc: '13.4.0', bytes: 1000 });
      await makeBuildcache(join(home, 'mirrors', 'slurm-25.11-gcc13.4.0'), { packages: 200, blobBytes: 8192 });
      const bucket = await newBucket();
      const plan = planPublish({ home, prefix: '', buildcache: 'slurm-only', tarballs: false });
      const run = executePublish(
        plan,
        { bucket, endpoint: m.endpoint },
        { jobs: 4, retries: 6, timeoutMs: 1000, backoffMs: 300, dryRun: false, progress: 'none' },
      );
      run.catch(() => {}); // awaited below; a rejection while polling must not crash the file
      let seen = 0;
      while (seen < 30) {
        await new Promise((r) => setTimeout(r, 10));
        seen = (await listAll(bucket)).size;
      }
      process.kill(m.pid, 'SIGSTOP');
      await new Promise((r) => setTimeout(r, 2500));
      process.kill(m.pid, 'SIGCONT');
      const r = await run;
      assert.ok(seen < plan.objects.length, `stalled mid-publish (${seen} of ${plan.objects.length})`);
      assert.is(r.uploaded, plan.objects.length);
      const remote = await listAll(bucket);
      for (const o of plan.objects) assert.ok(remote.has(o.key), o.key);
      assert.equal((await danglingReferences(remoteGetter(bucket, 'slurm/25.11/13.4.0/buildcache/'))).missing, []);
    });
  },
);

withMoto(
  'stopping the server mid-publish leaves no index pointing at a missing object; a rerun completes',
  async () => {
    const m = await server();
    await withTempDir(async (t) => {
      const home = join(t, 'home');
      makeBuild(join(home, 'builds'), { slurm: '25.11', gcc: '13.4.0', bytes: 1000 });
      const bc = join(home, 'mirrors', 'slurm-25.11-gcc13.4.0');
      await makeBuildcache(bc, { packages: 10, blobBytes: 2048 });
      const bucket = await newBucket();
      const root = 'slurm/25.11/13.4.0/buildcache/';
      assert.is(publishCli(home, bucket, ['--buildcache', 'slurm-only']).status, 0);
      const v1Index = readFileSync(join(bc, INDEX_KEY), 'utf8');
      const v1Count = (await listAll(bucket)).size;

      // v2: 300 more packages (900 new objects) and a new index.
      await makeBuildcache(bc, { packages: 310, blobBytes: 16 * 1024 });
      const v2Index = readFileSync(join(bc, INDEX_KEY), 'utf8');
      assert.is.not(v2Index, v1Index);
      const v2Plan = planPublish({ home, prefix: '', buildcache: 'slurm-only', tarballs: false });

      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          join(repoRoot, 'Taskfile.ts'),
          'publish',
          '--bucket',
          bucket,
          '--endpoint',
          m.endpoint,
          '--buildcache',
          'slurm-only',
          '--jobs',
          '2',
          '--timeout',
          '2',
          '--retries',
          '1',
          '--progress',
          'plain',
        ],
        { env: { ...process.env, ...MOTO_ENV, SLURM_FACTORY_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.stderr.on('data', (d) => {
        out += d;
      });
      const exited = new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));

      // Stop (SIGSTOP) the server once the upload is under way, then let the publish run into its timeouts.
      let seen = v1Count;
      const deadline = Date.now() + 60_000;
      while (seen < v1Count + 20 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        seen = (await listAll(bucket)).size;
      }
      process.kill(m.pid, 'SIGSTOP');
      let code: number;
      try {
        code = await exited;
      } finally {
        process.kill(m.pid, 'SIGCONT');
      }
      assert.is.not(code, 0, `publish must fail while the server is stopped:\n${out}`);
      assert.match(
        out,
        /error: publish stopped: .*no index or manifest that would point at a missing object was uploaded; /,
      );
      assert.not.match(out, /sf-test-secret/);

      const mid = await listAll(bucket);
      assert.ok(
        mid.size > v1Count && mid.size < v1Count + 900,
        `stopped mid-publish (${mid.size - v1Count} of 900 new objects there)`,
      );
      const reader = await danglingReferences(remoteGetter(bucket, root));
      assert.is(reader.index, v1Index, 'the index is still the complete earlier one');
      assert.equal(reader.missing, [], 'no index points at a missing object');
      for (const k of mid.keys()) {
        if (k.includes('/v3/manifests/spec/')) {
          const local = v2Plan.objects.find((o) => o.key === k)!;
          const m2 = (await import('../tasks/lib/publish.ts')).manifestBlobs(readFileSync(local.path, 'utf8'));
          for (const b of m2)
            assert.ok(
              mid.has(`${root}blobs/sha256/${b.checksum.slice(0, 2)}/${b.checksum}`),
              `${k} points at a present blob`,
            );
        }
      }

      const rerun = publishCli(home, bucket, ['--buildcache', 'slurm-only']);
      assert.is(rerun.status, 0, rerun.stderr);
      const final = await listAll(bucket);
      for (const o of v2Plan.objects) assert.ok(final.has(o.key), `${o.key} present after the rerun`);
      const done = await danglingReferences(remoteGetter(bucket, root));
      assert.is(done.index, v2Index);
      assert.equal(done.missing, []);
      assert.equal(await danglingReferences(localGetter(bc)).then((x) => x.missing), []);
    });
  },
);

withMoto(
  'SBOM and signed provenance go up beside the tarball (after it, before any index); what comes back checks with sha256sum and gpg --verify',
  async () => {
    await server();
    await withTempDir(async (t) => {
      const home = await makeHome(t, 3);
      const tarball = join(home, 'builds', 'slurm-25.11-gcc13.4.0-software.tar.gz');
      writeFileSync(
        `${tarball}.cdx.json`,
        JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.6', version: 1, components: [] }) + '\n',
      );
      const ctx = join(t, 'context');
      mkdirSync(ctx, { recursive: true });
      writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\n');
      // Signed with the project key, like the tarball: publish checks every signature against it.
      const key = await signingKey();
      await writeProvenance(
        {
          tarball,
          contextDir: ctx,
          plan: { id: '25.11-gcc13.4.0' },
          baseImage: { name: 'base-image', uri: 'docker-image://x' },
          buildInfo: {
            spackVersion: '1.0.0',
            spackCommit: 'a'.repeat(40),
            builtinRepoCommit: 'b'.repeat(40),
            baseImage: 'x',
          },
        },
        key.privateKey,
      );
      // BuildKit's statement as it lands beside a tarball (test/attest.docker.test.ts makes a real one): subjects
      // are the exported files with their sha256.
      const tarballSum = spawnSync('sha256sum', [tarball], { encoding: 'utf8' }).stdout.split(' ')[0];
      const buildkitStatement = (sha: string) =>
        JSON.stringify({
          _type: 'https://in-toto.io/Statement/v0.1',
          predicateType: 'https://slsa.dev/provenance/v0.2',
          subject: [{ name: 'slurm-25.11-gcc13.4.0-software.tar.gz', digest: { sha256: sha } }],
          predicate: { buildType: 'https://mobyproject.org/buildkit@v1', materials: [] },
        });
      writeFileSync(`${tarball}.buildkit-provenance.json`, buildkitStatement(tarballSum!));
      const plan = planPublish({ home, prefix: 'pub', buildcache: 'none', tarballs: true });
      const base = 'pub/builds/25.11/13.4.0/slurm-25.11-gcc13.4.0-software.tar.gz';
      const at = (suffix: string) => plan.objects.findIndex((o) => o.key === base + suffix);
      for (const suffix of ['.cdx.json', '.provenance.json', '.provenance.json.asc', '.buildkit-provenance.json']) {
        assert.ok(at(suffix) > at(''), `${suffix} planned after the tarball (${at(suffix)} vs ${at('')})`);
      }
      const firstIndex = plan.objects.findIndex((o) => isIndexPath(o.key));
      assert.ok(firstIndex === -1 || firstIndex > at('.provenance.json.asc'));

      // A provenance that does not describe the tarball, or whose signature is not the project's, is not published.
      writeFileSync(`${tarball}.buildkit-provenance.json`, buildkitStatement('0'.repeat(64)));
      const stale = publishCli(home, await newBucket(), ['--tarballs', '--prefix', 'pub', '--buildcache', 'none']);
      assert.is(stale.status, 1, stale.stderr);
      assert.match(
        stale.stderr,
        /^error: slurm-25\.11-gcc13\.4\.0-software\.tar\.gz\.buildkit-provenance\.json does not describe this tarball: its subject .* has sha256 0{64}.*; nothing was uploaded/m,
      );
      writeFileSync(`${tarball}.buildkit-provenance.json`, buildkitStatement(tarballSum!));
      await signFile(`${tarball}.buildkit-provenance.json`, key.privateKey);
      const provAsc = readFileSync(`${tarball}.provenance.json.asc`);
      await signFile(`${tarball}.provenance.json`, (await generateKey({ name: 'not the project' })).privateKey);
      const foreign = publishCli(home, await newBucket(), ['--tarballs', '--prefix', 'pub', '--buildcache', 'none']);
      assert.is(foreign.status, 1, foreign.stderr);
      assert.match(
        foreign.stderr,
        /^error: slurm-25\.11-gcc13\.4\.0-software\.tar\.gz\.provenance\.json was signed by key [0-9A-F]+, which is not the given key/m,
      );
      writeFileSync(`${tarball}.provenance.json.asc`, provAsc);

      const bucket = await newBucket();
      const r = publishCli(home, bucket, ['--tarballs', '--prefix', 'pub', '--buildcache', 'none']);
      assert.is(r.status, 0, r.stderr);
      const down = join(t, 'down');
      mkdirSync(down);
      const types: Record<string, string> = {};
      for (const suffix of [
        '',
        '.cdx.json',
        '.provenance.json',
        '.provenance.json.asc',
        '.buildkit-provenance.json',
        '.buildkit-provenance.json.asc',
      ]) {
        const got = await getObject(bucket, base + suffix);
        assert.ok(got, `${base}${suffix} uploaded`);
        assert.ok(got!.body.equals(readFileSync(tarball + suffix)), `${suffix} bytes`);
        types[suffix] = got!.contentType ?? '';
        writeFileSync(join(down, `slurm-25.11-gcc13.4.0-software.tar.gz${suffix}`), got!.body);
      }
      assert.is(types['.cdx.json'], 'application/vnd.cyclonedx+json');
      assert.is(types['.provenance.json'], 'application/vnd.in-toto+json');
      assert.is(types['.provenance.json.asc'], 'application/pgp-signature');
      assert.is(types['.buildkit-provenance.json'], 'application/vnd.in-toto+json');
      assert.is(types['.buildkit-provenance.json.asc'], 'application/pgp-signature');
      const dl = join(down, 'slurm-25.11-gcc13.4.0-software.tar.gz');
      const st = JSON.parse(readFileSync(`${dl}.provenance.json`, 'utf8'));
      const sum = spawnSync('sha256sum', [dl], { encoding: 'utf8' }).stdout.split(' ')[0];
      assert.is(st.subject[0].digest.sha256, sum);
      writeFileSync(join(t, 'pub.asc'), key.publicKey);
      const gpg = gpgHome(join(t, 'gnupg'), join(t, 'pub.asc'));
      const v = gpg('--verify', `${dl}.provenance.json.asc`, `${dl}.provenance.json`);
      assert.is(v.status, 0, v.stderr);
      assert.match(v.stdout, new RegExp(`VALIDSIG ${key.fingerprint}`));

      // A provenance signature by another key is refused like any other signature beside the tarball.
      const stranger = await generateKey({ name: 'not the project' });
      await signFile(`${tarball}.provenance.json`, stranger.privateKey);
      const empty = await newBucket();
      const refused = publishCli(home, empty, ['--tarballs', '--buildcache', 'none']);
      assert.is(refused.status, 1, refused.stdout + refused.stderr);
      assert.match(
        refused.stderr,
        /^error: slurm-25\.11-gcc13\.4\.0-software\.tar\.gz\.provenance\.json was signed by key [0-9A-F]{16}, which is not the given key.*nothing was uploaded/,
      );
      assert.is((await listAll(empty)).size, 0, 'nothing went up');
    });
  },
);

test.run();
