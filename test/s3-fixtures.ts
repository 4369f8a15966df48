/**
 * Fixtures for publish tests and the publish benchmark:
 *  - a Spack 1.0 (layout v3) binary buildcache: content-addressed blobs/sha256/xx/<sha>, spec manifests under
 *    v3/manifests/spec/<name>/, the index manifest v3/manifests/index/index.manifest.json pointing at a database
 *    blob, key manifests and keys.manifest.json, v3/layout.json. Deterministic per package number, so a larger
 *    cache made in the same directory keeps every earlier object and adds new ones (and a new index).
 *  - the reader's view: from the index, follow every reference (index -> database -> spec manifests -> blobs,
 *    key index -> key manifests -> key blobs) and report what is missing.
 *  - a local moto_server (S3 protocol) on a free loopback port.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Requirement } from './helpers.ts';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Deterministic pseudo-random bytes (incompressible enough to look like a tarball). */
export function bytes(seed: string, n: number): Buffer {
  const out = Buffer.alloc(n);
  let block = createHash('sha256').update(seed).digest();
  for (let off = 0; off < n; off += block.length) {
    block.copy(out, off, 0, Math.min(block.length, n - off));
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

function writeBlob(root: string, data: Buffer): { checksum: string; size: number } {
  const checksum = sha256(data);
  const p = join(root, 'blobs', 'sha256', checksum.slice(0, 2), checksum);
  if (!existsSync(p)) {
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, data);
  }
  return { checksum, size: data.length };
}

function record(b: { checksum: string; size: number }, mediaType: string, compression: string) {
  return { contentLength: b.size, mediaType, compression, checksumAlgorithm: 'sha256', checksum: b.checksum };
}

function writeText(p: string, text: string) {
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, text);
}

export const SPEC_MEDIA = 'application/vnd.spack.spec.v5+json';
export const TARBALL_MEDIA = 'application/vnd.spack.install.v2.tar+gzip';
export const DB_MEDIA = 'application/vnd.spack.db.v8+json';
export const KEY_MEDIA = 'application/pgp-keys';
export const KEYINDEX_MEDIA = 'application/vnd.spack.keyindex.v1+json';
export const INDEX_KEY = 'v3/manifests/index/index.manifest.json';
export const KEYS_INDEX_KEY = 'v3/manifests/key/keys.manifest.json';

/** Packages 0..n-1: name, version, 32-character hash. */
export function pkg(i: number) {
  const hash = createHash('sha256').update(`pkg-${i}`).digest('hex').slice(0, 32);
  return { name: `pkg${i}`, version: `1.${i}`, hash };
}

/**
 * Writes a v3 buildcache of `packages` packages into dir (3 objects each) plus 7 objects of index, keys and
 * layout: 3n + 7 files. `clearsign` (an async function) signs the spec manifests like `spack buildcache push --key`.
 */
export async function makeBuildcache(
  dir: string,
  o: {
    packages: number;
    blobBytes: number;
    publicKey?: string;
    fingerprint?: string;
    clearsign?: (text: string) => Promise<string>;
  },
) {
  const installs: Record<string, unknown> = {};
  for (let i = 0; i < o.packages; i++) {
    const p = pkg(i);
    const tar = writeBlob(dir, bytes(`tar-${i}`, o.blobBytes));
    const spec = writeBlob(
      dir,
      gzipSync(
        JSON.stringify({
          spec: { _meta: { version: 5 }, nodes: [{ name: p.name, version: p.version, hash: p.hash }] },
        }),
        { level: 9 },
      ),
    );
    const manifest = JSON.stringify(
      { version: 3, data: [record(tar, TARBALL_MEDIA, 'gzip'), record(spec, SPEC_MEDIA, 'gzip')] },
      null,
      2,
    );
    const path = join(dir, 'v3', 'manifests', 'spec', p.name, `${p.name}-${p.version}-${p.hash}.spec.manifest.json`);
    if (!existsSync(path)) writeText(path, o.clearsign ? await o.clearsign(manifest) : manifest);
    installs[p.hash] = { spec: { name: p.name, version: p.version, hash: p.hash }, ref_count: 0, in_buildcache: true };
  }
  const db = writeBlob(dir, Buffer.from(JSON.stringify({ database: { version: '8', installs } })));
  writeText(join(dir, INDEX_KEY), JSON.stringify({ version: 3, data: [record(db, DB_MEDIA, 'none')] }));
  const fpr = o.fingerprint ?? 'ABCDEF0123456789ABCDEF0123456789ABCDEF01';
  const key = writeBlob(
    dir,
    Buffer.from(
      o.publicKey ?? `-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nfixture ${fpr}\n-----END PGP PUBLIC KEY BLOCK-----\n`,
    ),
  );
  writeText(
    join(dir, 'v3', 'manifests', 'key', `${fpr}.key.manifest.json`),
    JSON.stringify({ version: 3, data: [record(key, KEY_MEDIA, 'none')] }),
  );
  const keyIndex = writeBlob(dir, Buffer.from(JSON.stringify({ keys: { [fpr]: {} } })));
  writeText(
    join(dir, KEYS_INDEX_KEY),
    JSON.stringify({ version: 3, data: [record(keyIndex, KEYINDEX_MEDIA, 'none')] }),
  );
  writeText(join(dir, 'v3', 'layout.json'), JSON.stringify({ signing: 'gpg' }));
}

function manifestData(text: string): { checksum: string; checksumAlgorithm: string }[] {
  let body = text;
  if (text.startsWith('-----BEGIN PGP SIGNED MESSAGE-----')) {
    body = text.slice(text.indexOf('\n\n') + 2, text.indexOf('\n-----BEGIN PGP SIGNATURE-----'));
  }
  return (JSON.parse(body) as { data: { checksum: string; checksumAlgorithm: string }[] }).data;
}

const blobKey = (r: { checksum: string; checksumAlgorithm: string }) =>
  `blobs/${r.checksumAlgorithm}/${r.checksum.slice(0, 2)}/${r.checksum}`;

/**
 * What a Spack reader would find broken, starting from the indexes: every key referenced (directly or through
 * the database and the key index) that `get` cannot return. `get(rel)` returns the object under the mirror
 * root or null. Also returns the index manifest's text (null when there is none).
 */
export async function danglingReferences(
  get: (rel: string) => Promise<Buffer | null>,
): Promise<{ index: string | null; missing: string[]; checked: number }> {
  const missing: string[] = [];
  let checked = 0;
  const need = async (rel: string): Promise<Buffer | null> => {
    checked++;
    const b = await get(rel);
    if (!b) missing.push(rel);
    return b;
  };
  const index = await get(INDEX_KEY);
  if (index) {
    for (const r of manifestData(index.toString('utf8'))) {
      const db = await need(blobKey(r));
      if (!db) continue;
      const installs = (
        JSON.parse(db.toString('utf8')) as {
          database: { installs: Record<string, { spec: { name: string; version: string; hash: string } }> };
        }
      ).database.installs;
      for (const { spec } of Object.values(installs)) {
        const m = await need(
          `v3/manifests/spec/${spec.name}/${spec.name}-${spec.version}-${spec.hash}.spec.manifest.json`,
        );
        if (!m) continue;
        for (const b of manifestData(m.toString('utf8'))) {
          checked++;
          if (!(await get(blobKey(b)))) missing.push(blobKey(b));
        }
      }
    }
  }
  const keys = await get(KEYS_INDEX_KEY);
  if (keys) {
    for (const r of manifestData(keys.toString('utf8'))) {
      const ki = await need(blobKey(r));
      if (!ki) continue;
      for (const fpr of Object.keys((JSON.parse(ki.toString('utf8')) as { keys: Record<string, unknown> }).keys)) {
        const km = await need(`v3/manifests/key/${fpr}.key.manifest.json`);
        if (km) for (const b of manifestData(km.toString('utf8'))) await need(blobKey(b));
      }
    }
  }
  return { index: index ? index.toString('utf8') : null, missing, checked };
}

export function localGetter(root: string) {
  return async (rel: string) => (existsSync(join(root, rel)) ? readFileSync(join(root, rel)) : null);
}

/** A build tarball with .sha256 (sha256sum format) and .manifest.json beside it; returns the tarball path. */
export function makeBuild(
  buildsDir: string,
  o: { slurm: string; gcc: string; bytes: number; gpu?: boolean; arch?: 'aarch64'; seed?: string },
): string {
  mkdirSync(buildsDir, { recursive: true });
  const name = `slurm-${o.slurm}-gcc${o.gcc}${o.gpu ? '-gpu' : ''}${o.arch ? `-${o.arch}` : ''}-software.tar.gz`;
  const data = bytes(o.seed ?? name, o.bytes);
  const p = join(buildsDir, name);
  writeFileSync(p, data);
  writeFileSync(`${p}.sha256`, `${sha256(data)}  ${name}\n`);
  writeFileSync(
    `${p}.manifest.json`,
    JSON.stringify(
      {
        schema: 1,
        name,
        slurm: { series: o.slurm },
        gcc: { version: o.gcc, source: 'spack' },
        ...(o.arch ? { arch: o.arch, platform: 'linux/arm64' } : {}),
      },
      null,
      2,
    ) + '\n',
  );
  return p;
}

// ---------------------------------------------------------------------------------------------- moto_server

/** The moto_server that really runs: Debian's /usr/bin/moto_server first (a pyenv shim may shadow it). */
export function motoBinary(): string | null {
  for (const c of ['/usr/bin/moto_server', 'moto_server']) {
    const r = spawnSync(c, ['--help'], { encoding: 'utf8', timeout: 30_000 });
    if (r.status === 0 && /usage: moto_server/.test(r.stdout)) return c;
  }
  return null;
}

export const needWorkingMoto: Requirement = () =>
  motoBinary() ? null : 'moto_server is installed but does not start (apt-get install python3-moto python3-flask-cors)';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface Moto {
  endpoint: string;
  proc: ChildProcess;
  pid: number;
  stop(): Promise<void>;
}

/** Starts moto_server on a free 127.0.0.1 port and waits until it answers. */
export async function startMoto(): Promise<Moto> {
  const bin = motoBinary();
  if (!bin) throw new Error('no working moto_server');
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    // The request log goes to a file: a pipe nobody reads while a test blocks in spawnSync fills up and
    // stalls the server.
    const logPath = join(tmpdir(), `sf-moto-${process.pid}-${port}.log`);
    const logFd = openSync(logPath, 'w');
    const proc = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    const err = () => readFileSync(logPath, 'utf8').slice(-4000);
    const endpoint = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && proc.exitCode === null) {
      try {
        const r = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(1000) });
        if (r.ok) {
          return {
            endpoint,
            proc,
            pid: proc.pid!,
            stop: () =>
              new Promise<void>((resolve) => {
                if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
                proc.once('exit', () => {
                  rmSync(logPath, { force: true });
                  resolve();
                });
                try {
                  process.kill(proc.pid!, 'SIGCONT');
                } catch {
                  /* gone */
                }
                proc.kill('SIGTERM');
                setTimeout(() => {
                  if (proc.exitCode === null) proc.kill('SIGKILL');
                }, 5000).unref();
              }),
          };
        }
      } catch {
        /* not yet */
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    proc.kill('SIGKILL');
    const text = err();
    rmSync(logPath, { force: true });
    if (attempt === 2) throw new Error(`moto_server did not answer on ${endpoint}: ${text}`);
  }
  throw new Error('unreachable');
}

/** Environment for the CLI and SDK against moto: dummy credentials from the standard chain (env variables). */
export const MOTO_ENV = {
  AWS_ACCESS_KEY_ID: 'sf-test-access-key',
  AWS_SECRET_ACCESS_KEY: 'sf-test-secret-Zq8x1VbN',
  AWS_REGION: 'us-east-1',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  AWS_EC2_METADATA_DISABLED: 'true',
};

type S3Client = import('@aws-sdk/client-s3').S3Client;

/** Every object of `bucket` (under `prefix`), across pages: key -> ETag, size, last-modified time. */
export async function listObjects(
  client: S3Client,
  bucket: string,
  prefix?: string,
): Promise<Map<string, { etag: string; size: number; modified: number }>> {
  const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const out = new Map<string, { etag: string; size: number; modified: number }>();
  let token: string | undefined;
  do {
    const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const c of r.Contents ?? [])
      out.set(c.Key!, { etag: c.ETag!, size: c.Size!, modified: c.LastModified!.getTime() });
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** One object's bytes, content type and sha256 metadata, or null when there is no such key. */
export async function getObject(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<{ body: Buffer; contentType?: string; sha256meta?: string } | null> {
  const { GetObjectCommand } = await import('@aws-sdk/client-s3');
  try {
    const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return {
      body: Buffer.from(await r.Body!.transformToByteArray()),
      contentType: r.ContentType,
      sha256meta: r.Metadata?.sha256,
    };
  } catch (e) {
    if ((e as { name?: string }).name === 'NoSuchKey') return null;
    throw e;
  }
}
