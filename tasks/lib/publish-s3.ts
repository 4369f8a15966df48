/**
 * `publish`, the S3 executor: puts a PublishPlan (publish.ts) into a bucket, phase by phase, skipping what is
 * already there.
 *
 * Skipping: one ListObjectsV2 per destination root gives size and ETag of what is there. An object is skipped
 * when its size matches and its ETag equals the local MD5 (single PUT) or the local multipart ETag (same part
 * size); otherwise a HEAD compares our `x-amz-meta-sha256`. Re-publishing nothing new uploads nothing.
 *
 * Phases are uploaded strictly one after the other: a phase starts only when every object of the previous one
 * is in the bucket, so a reader never sees an index (or a manifest) that points at a missing object, even when
 * a publish dies half-way. Every request (list, HEAD, upload) goes through one retry helper (withRetries).
 *
 * Credentials come only from the AWS SDK's default chain (environment, shared files, SSO, instance roles); they
 * are never read, logged or printed here.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { ConfigurationError, SlurmFactoryError, VerifyError } from './errors.ts';
import { orderForUpload, type PlannedObject, type PublishPlan } from './publish.ts';

const MIB = 1024 * 1024;
/** Files at least this big go up as multipart uploads of PART_SIZE parts. */
const DEFAULT_MULTIPART_THRESHOLD = 16 * MIB;
const DEFAULT_PART_SIZE = 16 * MIB;

interface LocalHash {
  md5: string;
  sha256: string;
  /** ETag S3 gives a multipart upload of this file with DEFAULT/given part size; undefined below the threshold. */
  multipartEtag?: string;
}

/** MD5, SHA-256 and (for big files) the multipart ETag, in one read. */
export async function hashFile(
  path: string,
  partSize = DEFAULT_PART_SIZE,
  multipartThreshold = DEFAULT_MULTIPART_THRESHOLD,
): Promise<LocalHash> {
  const size = statSync(path).size;
  const md5 = createHash('md5');
  const sha = createHash('sha256');
  const multipart = size >= multipartThreshold;
  const partDigests: Buffer[] = [];
  let part = createHash('md5');
  let inPart = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 * MIB })) {
    const buf = chunk as Buffer;
    md5.update(buf);
    sha.update(buf);
    if (!multipart) continue;
    let off = 0;
    while (off < buf.length) {
      const take = Math.min(partSize - inPart, buf.length - off);
      part.update(buf.subarray(off, off + take));
      inPart += take;
      off += take;
      if (inPart === partSize) {
        partDigests.push(part.digest());
        part = createHash('md5');
        inPart = 0;
      }
    }
  }
  if (multipart && inPart > 0) partDigests.push(part.digest());
  const out: LocalHash = { md5: md5.digest('hex'), sha256: sha.digest('hex') };
  if (multipart)
    out.multipartEtag = `${createHash('md5').update(Buffer.concat(partDigests)).digest('hex')}-${partDigests.length}`;
  return out;
}

interface RemoteObject {
  size: number;
  etag: string;
}

type Decision = 'upload' | 'skip' | 'head';

/**
 * Whether an object must go up, judged from the listing: 'skip' when size and ETag prove the same bytes are
 * there, 'upload' when it is absent or differs in size, 'head' when only its sha256 metadata can tell.
 */
export function decide(local: { size: number }, hash: LocalHash, remote: RemoteObject | undefined): Decision {
  if (!remote) return 'upload';
  if (remote.size !== local.size) return 'upload';
  const etag = remote.etag.replace(/"/g, '').toLowerCase();
  if (etag === hash.md5 || (hash.multipartEtag !== undefined && etag === hash.multipartEtag)) return 'skip';
  return 'head';
}

export interface S3Target {
  bucket: string;
  region?: string;
  endpoint?: string;
}

interface ExecuteOptions {
  jobs: number;
  retries: number;
  timeoutMs: number;
  dryRun: boolean;
  multipartThreshold?: number;
  partSize?: number;
  /** First retry delay; doubles each attempt (with jitter), capped at 20 s. */
  backoffMs?: number;
  /** Where warnings go (default stderr). */
  log?: (line: string) => void;
  progress?: 'auto' | 'tty' | 'plain' | 'none';
  /** SHA-256 each file had when it was checked (checkTarballs); a file that differs now stops the publish. */
  expectSha256?: ReadonlyMap<string, string>;
}

interface PublishResult {
  checked: number;
  skipped: number;
  uploaded: number;
  bytesUploaded: number;
  /** Objects (and bytes) a dry run would upload. */
  wouldUpload: PlannedObject[];
  wouldUploadBytes: number;
  remoteListed: boolean;
  /** The region the client signed for. */
  region: string;
  seconds: { check: number; upload: number; total: number };
}

type S3Module = typeof import('@aws-sdk/client-s3');

export async function makeClient(t: S3Target, o: Pick<ExecuteOptions, 'jobs' | 'timeoutMs'>) {
  // The SDK warns on Node 20 about releases after January 2027; that is not this run's business.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const s3: S3Module = await import('@aws-sdk/client-s3');
  const create = (region: string | undefined) =>
    new s3.S3Client({
      ...(region ? { region } : {}),
      ...(t.endpoint ? { endpoint: t.endpoint, forcePathStyle: true } : {}),
      // Retries are ours (with backoff and a clear final error); one attempt per SDK call.
      maxAttempts: 1,
      // S3-compatible stores differ in support for the newer flexible checksums; Content-MD5 is universal.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: Math.min(o.timeoutMs, 10_000),
        // --timeout is an idle limit: a big part on a slow link may take long, a silent server may not.
        socketTimeout: o.timeoutMs,
        httpAgent: { keepAlive: true, maxSockets: Math.max(4, o.jobs * 2) },
        httpsAgent: { keepAlive: true, maxSockets: Math.max(4, o.jobs * 2) },
      },
    });
  let client = create(t.region);
  let region = t.region;
  if (!region) {
    // Region from the chain (AWS_REGION, profile); none at all: us-east-1, S3's default.
    try {
      region = await client.config.region();
    } catch {
      region = undefined;
    }
    if (!region) {
      client.destroy();
      region = 'us-east-1';
      client = create(region);
    }
  }
  return { client, s3, region };
}

/** Turns SDK errors into one line; never includes credentials (the SDK's messages do not carry them). */
export function describeS3Error(err: unknown, what: string, t: S3Target): SlurmFactoryError {
  const e = err as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const name = e?.name ?? 'Error';
  const status = e?.$metadata?.httpStatusCode;
  const where = `s3://${t.bucket}${t.endpoint ? ` at ${t.endpoint}` : ''}`;
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(e?.message ?? '')) {
    return new ConfigurationError(`no AWS credentials found for ${where}`, {
      remediation:
        'set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE (with ~/.aws/credentials or SSO), or run where an instance/task role applies',
    });
  }
  if (name === 'NoSuchBucket' || (status === 404 && what.startsWith('list'))) {
    return new ConfigurationError(`bucket '${t.bucket}' does not exist${t.endpoint ? ` at ${t.endpoint}` : ''}`, {
      remediation: 'create it first (e.g. aws s3 mb) or fix --bucket/--endpoint',
    });
  }
  if (name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || status === 403) {
    return new SlurmFactoryError(`access denied to ${where} while ${what} (${name})`, {
      remediation:
        'check the credentials in the AWS chain and that they allow s3:ListBucket, s3:GetObject and s3:PutObject on the bucket',
    });
  }
  const code = e?.code ? ` ${e.code}` : '';
  return new SlurmFactoryError(
    `${what} failed against ${where}: ${name}${code}${status ? ` (HTTP ${status})` : ''}: ${e?.message ?? String(err)}`.replace(
      /\s+/g,
      ' ',
    ),
    {
      remediation:
        'check --endpoint/--region and the network, then rerun publish (objects already uploaded are skipped)',
    },
  );
}

function isRetryable(err: unknown): boolean {
  const e = err as { name?: string; code?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  if (e?.name === 'CredentialsProviderError') return false;
  if (status !== undefined)
    return status >= 500 || status === 429 || status === 408 || e?.name === 'RequestTimeout' || e?.name === 'SlowDown';
  // No HTTP status: the request never got an answer (refused, reset, timed out).
  return true;
}

function backoffDelay(attempt: number, baseMs: number): number {
  const exp = Math.min(20_000, baseMs * 2 ** attempt);
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs fn over items with at most n at once; stops starting new ones once `stop()` is true. */
async function pool<T>(
  items: readonly T[],
  n: number,
  fn: (item: T) => Promise<void>,
  stop: () => boolean = () => false,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !stop()) {
      const item = items[next++]!;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < MIB) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * MIB) return `${(n / MIB).toFixed(1)} MiB`;
  return `${(n / 1024 / MIB).toFixed(2)} GiB`;
}

class Progress {
  private last = 0;
  private readonly started = Date.now();
  private readonly mode: 'tty' | 'plain' | 'none';
  private shown = false;
  constructor(
    private readonly totalObjects: number,
    private readonly totalBytes: number,
    mode: ExecuteOptions['progress'],
  ) {
    this.mode = mode === undefined || mode === 'auto' ? (process.stderr.isTTY ? 'tty' : 'plain') : mode;
  }
  update(objects: number, bytes: number, force = false): void {
    if (this.mode === 'none') return;
    const now = Date.now();
    const every = this.mode === 'tty' ? 200 : 5000;
    if (!force && now - this.last < every) return;
    if (this.mode === 'plain' && !force && now - this.started < 5000) return;
    this.last = now;
    const secs = (now - this.started) / 1000;
    const rate = secs > 0 ? bytes / secs : 0;
    const line = `publish: ${objects}/${this.totalObjects} objects, ${formatBytes(bytes)}/${formatBytes(this.totalBytes)}, ${formatBytes(rate)}/s`;
    if (this.mode === 'tty') {
      process.stderr.write(`\r\x1b[K${line}`);
      this.shown = true;
    } else process.stderr.write(`${line}\n`);
  }
  done(): void {
    if (this.mode === 'tty' && this.shown) process.stderr.write('\r\x1b[K');
  }
}

/**
 * Checks every planned object against the bucket and uploads what is missing or different, phase by phase.
 * Throws a SlurmFactoryError naming the object when one cannot be uploaded after the retries; nothing of a
 * later phase (no manifest, no index) is uploaded then.
 */
export async function executePublish(plan: PublishPlan, t: S3Target, o: ExecuteOptions): Promise<PublishResult> {
  const t0 = Date.now();
  const log = o.log ?? ((l: string) => console.error(l));
  const partSize = o.partSize ?? DEFAULT_PART_SIZE;
  const threshold = o.multipartThreshold ?? DEFAULT_MULTIPART_THRESHOLD;
  const retry: RetryPolicy = { retries: o.retries, backoffMs: o.backoffMs ?? 500 };
  const { client, s3, region } = await makeClient(t, o);
  try {
    // 1. What is there: one listing per group root, while the local files are hashed.
    const remote = new Map<string, RemoteObject>();
    let remoteListed = true;
    const listRoot = async (root: string) => {
      let token: string | undefined;
      do {
        const r = await withRetries(
          () => client.send(new s3.ListObjectsV2Command({ Bucket: t.bucket, Prefix: root, ContinuationToken: token })),
          retry,
        );
        for (const c of r.Contents ?? []) if (c.Key) remote.set(c.Key, { size: c.Size ?? -1, etag: c.ETag ?? '' });
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    };
    const hashes = new Map<string, LocalHash>();
    const hashing = pool([...new Set(plan.objects.map((x) => x.path))], Math.max(2, o.jobs), async (p) => {
      hashes.set(p, await hashFile(p, partSize, threshold));
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const roots = [...new Set(plan.groups.map((g) => g.root))];
    try {
      await pool(roots, o.jobs, listRoot);
    } catch (err) {
      const e = describeS3Error(err, 'listing the bucket', t);
      if (!o.dryRun) throw e;
      remoteListed = false;
      remote.clear();
      log(`warning: ${e.message}; the dry run lists every object as if the bucket were empty`);
    }
    const hashError = await hashing;
    if (hashError) throw hashError;
    for (const [path, want] of o.expectSha256 ?? []) {
      const got = hashes.get(path)?.sha256;
      if (got !== undefined && got !== want) {
        throw new VerifyError(
          `${basename(path)} changed while publish was running (sha256 ${got} now, ${want} when checked)`,
          {
            remediation: 'let whatever writes it finish, then rerun publish; nothing was uploaded',
          },
        );
      }
    }

    // 2. Decide, with a HEAD where the listing cannot tell.
    const toUpload: PlannedObject[] = [];
    const needHead: PlannedObject[] = [];
    for (const obj of plan.objects) {
      const d = decide(obj, hashes.get(obj.path)!, remote.get(obj.key));
      if (d === 'upload') toUpload.push(obj);
      else if (d === 'head') needHead.push(obj);
    }
    await pool(needHead, o.jobs, async (obj) => {
      const h = await withRetries(
        () => client.send(new s3.HeadObjectCommand({ Bucket: t.bucket, Key: obj.key })),
        retry,
        (err) => describeS3Error(err, `checking ${obj.key}`, t),
      );
      if (h.Metadata?.sha256 !== hashes.get(obj.path)!.sha256) toUpload.push(obj);
    });
    const ordered = orderForUpload(toUpload);
    const tCheck = Date.now();
    const wouldUploadBytes = ordered.reduce((s, x) => s + x.size, 0);
    const base: PublishResult = {
      checked: plan.objects.length,
      skipped: plan.objects.length - ordered.length,
      uploaded: 0,
      bytesUploaded: 0,
      wouldUpload: ordered,
      wouldUploadBytes,
      remoteListed,
      region,
      seconds: { check: (tCheck - t0) / 1000, upload: 0, total: 0 },
    };
    if (o.dryRun || ordered.length === 0) {
      base.seconds.total = (Date.now() - t0) / 1000;
      return base;
    }

    // 3. Upload, phase by phase; a failed phase stops everything after it.
    const progress = new Progress(ordered.length, wouldUploadBytes, o.progress);
    let uploaded = 0;
    let bytes = 0;
    let failure: SlurmFactoryError | undefined;
    let interrupted = false;
    const onSigint = () => {
      interrupted = true;
    };
    process.once('SIGINT', onSigint);
    try {
      for (const phase of [0, 1, 2, 3] as const) {
        const items = ordered.filter((x) => x.phase === phase);
        await pool(
          items,
          o.jobs,
          async (obj) => {
            try {
              await uploadOne(client, s3, t, obj, hashes.get(obj.path)!, { partSize, threshold, jobs: o.jobs }, retry);
              uploaded++;
              bytes += obj.size;
              progress.update(uploaded, bytes);
            } catch (err) {
              failure ??= err instanceof SlurmFactoryError ? err : describeS3Error(err, `uploading ${obj.key}`, t);
            }
          },
          () => failure !== undefined || interrupted,
        );
        if (failure || interrupted) break;
      }
    } finally {
      process.removeListener('SIGINT', onSigint);
      progress.update(uploaded, bytes, true);
      progress.done();
    }
    if (failure || interrupted) {
      const left = ordered.length - uploaded;
      const why = failure ? failure.message : 'interrupted';
      throw new SlurmFactoryError(
        `publish stopped: ${why}; ${uploaded} of ${ordered.length} objects uploaded, ${left} not, and no index or manifest that would point at a missing object was uploaded`,
        {
          remediation: failure?.remediation || 'rerun publish: objects already uploaded are skipped',
          context: { uploaded, remaining: left },
        },
      );
    }
    const tEnd = Date.now();
    return {
      ...base,
      uploaded,
      bytesUploaded: bytes,
      seconds: { check: base.seconds.check, upload: (tEnd - tCheck) / 1000, total: (tEnd - t0) / 1000 },
    };
  } finally {
    client.destroy();
  }
}

interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** First retry delay; doubles each attempt (with jitter), capped at 20 s. */
  backoffMs: number;
}

/**
 * The one retry loop: runs fn until it succeeds, its error is not retryable, or the retries are spent; then
 * throws `giveUp(err, attempts)` (or err itself).
 */
async function withRetries<T>(
  fn: () => Promise<T>,
  p: RetryPolicy,
  giveUp?: (err: unknown, attempts: number) => unknown,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= p.retries || !isRetryable(err)) throw giveUp ? giveUp(err, attempt + 1) : err;
      await sleep(backoffDelay(attempt, p.backoffMs));
    }
  }
}

/** One PUT (or multipart upload) of obj, its ETag checked against the local digest; retried as a whole. */
async function uploadOne(
  client: InstanceType<S3Module['S3Client']>,
  s3: S3Module,
  t: S3Target,
  obj: PlannedObject,
  hash: LocalHash,
  mp: { partSize: number; threshold: number; jobs: number },
  retry: RetryPolicy,
): Promise<void> {
  const common = {
    Bucket: t.bucket,
    Key: obj.key,
    ContentType: obj.contentType,
    CacheControl: obj.cacheControl,
    Metadata: { sha256: hash.sha256 },
  };
  const once = async () => {
    let etag: string | undefined;
    if (obj.size < mp.threshold) {
      const body = readFileSync(obj.path);
      const r = await client.send(
        new s3.PutObjectCommand({ ...common, Body: body, ContentMD5: Buffer.from(hash.md5, 'hex').toString('base64') }),
      );
      etag = r.ETag;
    } else {
      const { Upload } = await import('@aws-sdk/lib-storage');
      const up = new Upload({
        client,
        params: { ...common, Body: createReadStream(obj.path) },
        partSize: mp.partSize,
        queueSize: Math.max(1, Math.min(2, mp.jobs)),
        leavePartsOnError: false,
      });
      etag = (await up.done()).ETag;
    }
    const got = (etag ?? '').replace(/"/g, '').toLowerCase();
    const want = obj.size < mp.threshold ? hash.md5 : hash.multipartEtag;
    if (got !== '' && got !== want) {
      throw Object.assign(
        new Error(`the store reports ETag ${got} for ${obj.key}, expected ${want}: the upload was corrupted`),
        { name: 'ChecksumMismatch' },
      );
    }
  };
  await withRetries(once, retry, (err, attempts) =>
    describeS3Error(err, `uploading ${obj.key} (attempt ${attempts} of ${retry.retries + 1})`, t),
  );
}

/** Public HTTPS URL of a key: --public-url base, or path-style on --endpoint, or virtual-hosted AWS S3. */
export function publicUrl(key: string, t: S3Target & { publicUrl?: string }, region: string): string {
  const enc = key.split('/').map(encodeURIComponent).join('/');
  if (t.publicUrl) return `${t.publicUrl.replace(/\/+$/, '')}/${enc}`;
  if (t.endpoint) return `${t.endpoint.replace(/\/+$/, '')}/${t.bucket}/${enc}`;
  return `https://${t.bucket}.s3.${region}.amazonaws.com/${enc}`;
}
