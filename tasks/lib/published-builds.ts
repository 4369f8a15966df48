/**
 * The builds a bucket holds, as `publish` lays them out: <prefix>/builds/{slurm}/{gcc}/<tarball>.manifest.json
 * beside each tarball. `outdated --bucket` reads them (one listing, then each small manifest) to say which
 * published tarballs are older than the newest Slurm patch release.
 */
import { keyRoot } from './publish.ts';
import { describeS3Error, makeClient, type S3Target } from './publish-s3.ts';
import { parseTarballName, sidecarOf } from './artifacts.ts';
import type { BuiltTarball } from './releases.ts';

/**
 * Published tarballs with the release their manifest records. A tarball whose manifest is missing or names no
 * release is noted and left out (as for local builds). S3 errors become one line naming the bucket.
 */
export async function publishedBuilds(t: S3Target, prefix: string, notes: string[]): Promise<BuiltTarball[]> {
  const { client, s3 } = await makeClient(t, { jobs: 4, timeoutMs: 30_000 });
  const root = keyRoot(prefix, 'builds');
  const keys: string[] = [];
  try {
    let token: string | undefined;
    do {
      const r = await client.send(
        new s3.ListObjectsV2Command({ Bucket: t.bucket, Prefix: root, ContinuationToken: token }),
      );
      for (const o of r.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    const out: BuiltTarball[] = [];
    const present = new Set(keys);
    for (const key of keys.filter((k) => k.endsWith('-software.tar.gz')).sort()) {
      const file = `s3://${t.bucket}/${key}`;
      const mkey = sidecarOf(key, 'manifest');
      if (!present.has(mkey) || !parseTarballName(key.split('/').pop()!)) {
        notes.push(`${file}: no .manifest.json beside it; not compared`);
        continue;
      }
      const got = await client.send(new s3.GetObjectCommand({ Bucket: t.bucket, Key: mkey }));
      let manifest: { slurm?: { series?: unknown; release?: unknown } } | undefined;
      try {
        manifest = JSON.parse(await got.Body!.transformToString());
      } catch {
        manifest = undefined;
      }
      const release = manifest?.slurm?.release;
      if (typeof release === 'string' && /^\d+\.\d+\.\d+$/.test(release)) {
        out.push({ file, series: release.split('.').slice(0, 2).join('.'), release });
      } else {
        notes.push(`${file}: its .manifest.json names no slurm.release; not compared`);
      }
    }
    return out;
  } catch (err) {
    throw describeS3Error(err, `listing ${root}`, t);
  } finally {
    client.destroy();
  }
}
