/**
 * `publish`: what goes where in the bucket, in which order, and the S3 executor.
 *
 * Planning (no network): the local artifacts under SLURM_FACTORY_HOME become a list of objects, each with its
 * S3 key, content type, cache policy and *phase*. Phases are uploaded strictly one after the other:
 *
 *   0 data       content that others point at: Spack blobs (blobs/sha256/..), .spack files, tarballs
 *   1 metadata   what points at data: Spack spec/key manifests, layout.json, .sha256/.asc/.manifest.json
 *   2 index      anything named index (v3/manifests/index/*, keys.manifest.json, index.json, _pgp/index.json)
 *   3 index-hash index.json.hash and other *.hash beside an index (readers poll these first)
 *
 * A phase starts only when every object of the previous one is in the bucket, so a reader never sees an index
 * (or a manifest) that points at a missing object, even when a publish dies half-way.
 *
 * Skipping: one ListObjectsV2 per destination root gives size and ETag of what is there. An object is skipped
 * when its size matches and its ETag equals the local MD5 (single PUT) or the local multipart ETag (same part
 * size); otherwise a HEAD compares our `x-amz-meta-sha256`. Re-publishing nothing new uploads nothing.
 *
 * Credentials come only from the AWS SDK's default chain (environment, shared files, SSO, instance roles); they
 * are never read, logged or printed here.
 *
 * S3 layout under the optional prefix:
 *   compilers/{gcc}/buildcache/...        Spack buildcache of the GCC toolchain
 *   slurm/{slurm}/{gcc}/buildcache/...    Spack buildcache with Slurm and its dependencies
 *   builds/{slurm}/{gcc}/<tarball>{,.sha256,.manifest.json,.asc,.sha256.asc}
 *   keys/<FINGERPRINT>.asc                the public key that signed the tarballs (--public-key)
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import { ConfigurationError, SlurmFactoryError, VerifyError } from './errors.ts';

export const BUILDCACHE_MODES = ['all', 'slurm-only', 'none'] as const;
export type BuildcacheMode = (typeof BUILDCACHE_MODES)[number];

export const PHASES = ['data', 'metadata', 'index', 'index-hash'] as const;
export type Phase = 0 | 1 | 2 | 3;

export const MIB = 1024 * 1024;
/** Files at least this big go up as multipart uploads of PART_SIZE parts. */
export const DEFAULT_MULTIPART_THRESHOLD = 16 * MIB;
export const DEFAULT_PART_SIZE = 16 * MIB;

export interface PlannedObject {
  /** Full S3 key (prefix included). */
  key: string;
  /** Local file. */
  path: string;
  size: number;
  contentType: string;
  cacheControl: string;
  phase: Phase;
  /** Which publication it belongs to, e.g. `slurm 25.11 gcc 13.4.0 buildcache`. */
  group: string;
}

export interface PublishGroup {
  name: string;
  kind: 'compiler-buildcache' | 'slurm-buildcache' | 'builds' | 'keys';
  /** S3 key prefix of the group, ending in '/'. */
  root: string;
  localRoot: string;
  objects: number;
  bytes: number;
}

export interface PublishPlan {
  objects: PlannedObject[];
  groups: PublishGroup[];
  notes: string[];
  /** The build tarballs in the plan (--tarballs), for checkTarballs before anything goes up. */
  builds: LocalBuild[];
}

export interface LocalBuild {
  slurm: string;
  gcc: string;
  gpu: boolean;
  tarball: string;
  /** Tarball and the sidecars that exist beside it. */
  files: string[];
}

// ------------------------------------------------------------------------------------------------ naming

const TARBALL_RE = /^slurm-(\d+\.\d+(?:\.\d+)?)-gcc(\d+(?:\.\d+)*|system)(-gpu)?-software\.tar\.gz$/;
export const SIDECARS = ['.sha256', '.manifest.json', '.asc', '.sha256.asc', '.manifest.json.asc', '.cdx.json', '.provenance.json', '.provenance.json.asc', '.buildkit-provenance.json', '.buildkit-provenance.json.asc'] as const;
const VERSION_RE = /^\d+(?:\.\d+)*$/;

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

/**
 * Slurm series and GCC version of a build: from its manifest when that has them (`slurm.series`, `gcc.version`,
 * or flat `slurmSeries`/`gcc` strings), otherwise from the file name. The manifest is read defensively: a missing
 * or unreadable one falls back to the name.
 */
export function buildIdentity(tarballPath: string): { slurm: string; gcc: string; gpu: boolean } | null {
  const m = TARBALL_RE.exec(basename(tarballPath));
  if (!m) return null;
  let slurm = m[1]!;
  let gcc = m[2]!;
  const gpu = Boolean(m[3]);
  try {
    const j = JSON.parse(readFileSync(`${tarballPath}.manifest.json`, 'utf8')) as Record<string, unknown>;
    const s = j.slurm as Record<string, unknown> | string | undefined;
    const g = j.gcc as Record<string, unknown> | string | undefined;
    const series = typeof s === 'object' && s ? str(s.series) : str(j.slurmSeries) ?? str(s);
    const gv = typeof g === 'object' && g ? str(g.version) : str(g);
    if (series && VERSION_RE.test(series)) slurm = series;
    if (gv && (VERSION_RE.test(gv) || gv === 'system')) gcc = gv;
  } catch { /* the name is enough */ }
  return { slurm, gcc, gpu };
}

export interface BuildMirror { slurm: string; gcc: string; gpu: boolean; dir: string }

/** The per-build Spack mirrors in `mirrorsDir` (named like their tarball, less -software.tar.gz). */
export function findBuildMirrors(mirrorsDir: string): BuildMirror[] {
  if (!existsSync(mirrorsDir)) return [];
  const out: BuildMirror[] = [];
  for (const e of readdirSync(mirrorsDir, { withFileTypes: true })) {
    const m = e.isDirectory() ? TARBALL_RE.exec(`${e.name}-software.tar.gz`) : null;
    if (m) out.push({ slurm: m[1]!, gcc: m[2]!, gpu: Boolean(m[3]), dir: join(mirrorsDir, e.name) });
  }
  return out.sort((a, b) => (a.dir < b.dir ? -1 : 1));
}

export function findBuilds(buildsDir: string): LocalBuild[] {
  if (!existsSync(buildsDir)) return [];
  const out: LocalBuild[] = [];
  for (const name of readdirSync(buildsDir).sort()) {
    if (!TARBALL_RE.test(name)) continue;
    const tarball = join(buildsDir, name);
    if (!statSync(tarball).isFile()) continue;
    const id = buildIdentity(tarball)!;
    const files = [tarball, ...SIDECARS.map((s) => tarball + s).filter((f) => existsSync(f))];
    out.push({ ...id, tarball, files });
  }
  return out;
}

/** True when `dir` looks like a Spack binary buildcache (layout v3 or the older build_cache/). */
export function isBuildcache(dir: string): boolean {
  return ['v3', 'blobs', 'build_cache'].some((d) => existsSync(join(dir, d)));
}

/** Every regular file under dir, relative with '/' separators, sorted; skips hidden and temporary files. */
export function walkFiles(dir: string): string[] {
  const out: string[] = [];
  const rec = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.') || /\.tmp(-|$)|\.part$|\.lock$/.test(e.name)) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) rec(p);
      else if (e.isFile()) out.push(relative(dir, p).split(sep).join('/'));
    }
  };
  if (existsSync(dir)) rec(dir);
  return out.sort();
}

// ------------------------------------------------------------------------------------------ classification

/** True for anything named index (Spack v3 index manifests, keys.manifest.json, v2 index.json and its hash). */
export function isIndexPath(rel: string): boolean {
  const name = rel.split('/').pop() ?? rel;
  return /^index([.-]|$)/.test(name) || name === 'keys.manifest.json' || /(^|\/)manifests\/index\//.test(rel);
}

export function phaseOf(rel: string): Phase {
  const name = rel.split('/').pop() ?? rel;
  if (isIndexPath(rel)) return name.endsWith('.hash') ? 3 : 2;
  if (/(^|\/)blobs\//.test(rel) || /\.(spack|tar\.gz|tgz|tar\.xz|tar\.zst|tar\.bz2|tar)$/.test(name)) return 0;
  return 1;
}

/** Content type of a buildcache or build file; `blobTypes` maps blob checksums to the media types of their manifests. */
export function contentTypeOf(rel: string, blobTypes: ReadonlyMap<string, string> = new Map(), firstBytes?: string): string {
  const name = rel.split('/').pop() ?? rel;
  if (/(^|\/)blobs\//.test(rel)) return blobTypes.get(name) ?? 'application/octet-stream';
  if (/\.(tar\.gz|tgz)$/.test(name)) return 'application/gzip';
  if (name.endsWith('.tar.xz')) return 'application/x-xz';
  if (name.endsWith('.tar.zst')) return 'application/zstd';
  if (name.endsWith('.tar')) return 'application/x-tar';
  if (/\.(sha256|hash|txt|lua|md)$/.test(name)) return 'text/plain; charset=utf-8';
  if (/\.(asc|sig)$/.test(name)) {
    return firstBytes?.startsWith('-----BEGIN PGP PUBLIC KEY') ? 'application/pgp-keys' : 'application/pgp-signature';
  }
  if (/\.(pub|key|gpg)$/.test(name)) return 'application/pgp-keys';
  if (name.endsWith('.cdx.json')) return 'application/vnd.cyclonedx+json';
  if (/[.-]provenance\.json$/.test(name)) return 'application/vnd.in-toto+json';
  if (name.endsWith('.json')) {
    // Spack's signed manifests are clearsigned JSON: text, not parseable JSON.
    return firstBytes?.startsWith('-----BEGIN PGP SIGNED MESSAGE') ? 'text/plain; charset=utf-8' : 'application/json';
  }
  if (name.endsWith('.spack')) return 'application/octet-stream';
  return 'application/octet-stream';
}

export function cacheControlOf(rel: string): string {
  if (isIndexPath(rel) || rel.endsWith('layout.json')) return 'no-cache';
  // Content-addressed: the name is the checksum, so it never changes.
  if (/(^|\/)blobs\/sha256\//.test(rel)) return 'public, max-age=31536000, immutable';
  return 'public, max-age=3600';
}

/** The JSON inside a Spack manifest, clearsigned or not; null when it is neither. */
export function manifestJson(text: string): unknown {
  let body = text;
  if (text.startsWith('-----BEGIN PGP SIGNED MESSAGE-----')) {
    const start = text.indexOf('\n\n');
    const end = text.indexOf('\n-----BEGIN PGP SIGNATURE-----');
    if (start < 0 || end < 0) return null;
    body = text.slice(start + 2, end).split('\n').map((l) => (l.startsWith('- ') ? l.slice(2) : l)).join('\n');
  }
  try { return JSON.parse(body); } catch { return null; }
}

export interface BlobRecord { checksum: string; checksumAlgorithm: string; mediaType: string; contentLength?: number }

/** Blob records of a Spack v3 manifest (spec, key, index); [] when it has none. */
export function manifestBlobs(text: string): BlobRecord[] {
  const j = manifestJson(text) as { data?: unknown } | null;
  if (!j || !Array.isArray(j.data)) return [];
  const out: BlobRecord[] = [];
  for (const r of j.data as Record<string, unknown>[]) {
    const checksum = str(r.checksum);
    if (!checksum) continue;
    out.push({
      checksum, checksumAlgorithm: str(r.checksumAlgorithm) ?? 'sha256', mediaType: str(r.mediaType) ?? 'application/octet-stream',
      ...(typeof r.contentLength === 'number' ? { contentLength: r.contentLength } : {}),
    });
  }
  return out;
}

export function blobPath(r: BlobRecord): string {
  return `blobs/${r.checksumAlgorithm}/${r.checksum.slice(0, 2)}/${r.checksum}`;
}

function head(path: string, n = 64): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got).toString('latin1');
  } finally {
    closeSync(fd);
  }
}

/**
 * Objects of one local buildcache under `root` (an S3 key prefix ending in '/'). Throws when a manifest points
 * at a blob the local cache does not have: publishing it would put a dangling reference in the bucket.
 */
export function planBuildcache(localRoot: string, root: string, group: string): PlannedObject[] {
  const files = walkFiles(localRoot);
  const present = new Set(files);
  const blobTypes = new Map<string, string>();
  for (const rel of files) {
    if (!rel.endsWith('.manifest.json') || !/(^|\/)v\d+\/manifests\//.test(rel)) continue;
    for (const b of manifestBlobs(readFileSync(join(localRoot, rel), 'utf8'))) {
      blobTypes.set(b.checksum, b.mediaType);
      if (!present.has(blobPath(b))) {
        throw new SlurmFactoryError(`the local buildcache ${localRoot} is inconsistent: ${rel} points at ${blobPath(b)}, which is missing`, {
          remediation: 'rebuild so the blob is pushed again (or remove the stale manifest and run `spack buildcache update-index`); nothing was published',
        });
      }
    }
  }
  return files.map((rel) => {
    const path = join(localRoot, rel);
    const size = statSync(path).size;
    const needsSniff = /\.(json|asc|sig)$/.test(rel) && !/(^|\/)blobs\//.test(rel);
    return {
      key: root + rel, path, size,
      contentType: contentTypeOf(rel, blobTypes, needsSniff ? head(path) : undefined),
      cacheControl: cacheControlOf(rel), phase: phaseOf(rel), group,
    };
  });
}

// ------------------------------------------------------------------------------------------------ planning

export interface PlanOptions {
  home: string;
  /** Normalized key prefix without leading or trailing '/', '' for the bucket root. */
  prefix: string;
  buildcache: BuildcacheMode;
  tarballs: boolean;
  /** Only these Slurm series / GCC versions (empty: all found). */
  slurm?: string[];
  gcc?: string[];
  /** Local directories holding compiler buildcaches, by GCC version (extracted tarballs); default compilers/{gcc}. */
  compilerDirs?: Record<string, string>;
  /** Public key to publish as keys/<fingerprint>.asc. */
  publicKey?: { path: string; fingerprint: string };
}

export function keyRoot(prefix: string, ...parts: string[]): string {
  return [prefix, ...parts].filter((p) => p !== '').join('/') + '/';
}

/** Where a local compiler buildcache for `gcc` is: compilers/{gcc}/buildcache, or compilers/{gcc} itself. */
export function compilerBuildcacheDir(home: string, gcc: string): string | null {
  for (const d of [join(home, 'compilers', gcc, 'buildcache'), join(home, 'compilers', gcc)]) {
    if (existsSync(d) && isBuildcache(d)) return d;
  }
  return null;
}

export function planPublish(o: PlanOptions): PublishPlan {
  const notes: string[] = [];
  const groups: PublishGroup[] = [];
  const objects: PlannedObject[] = [];
  const add = (g: Omit<PublishGroup, 'objects' | 'bytes'>, objs: PlannedObject[]) => {
    groups.push({ ...g, objects: objs.length, bytes: objs.reduce((s, x) => s + x.size, 0) });
    objects.push(...objs);
  };
  const slurmFilter = o.slurm ?? [];
  const gccFilter = o.gcc ?? [];
  const wanted = (x: { slurm: string; gcc: string }) =>
    (slurmFilter.length === 0 || slurmFilter.includes(x.slurm)) && (gccFilter.length === 0 || gccFilter.includes(x.gcc));
  const builds = findBuilds(join(o.home, 'builds')).filter(wanted);

  if (o.buildcache !== 'none') {
    // Each build exported its own self-contained mirror (Slurm and its link/run dependencies, with its own
    // index) into mirrors/<build>; it is published as slurm/{slurm}/{gcc}[-gpu]/buildcache.
    const mirrors = findBuildMirrors(join(o.home, 'mirrors')).filter(wanted);
    const compilersOnly = o.buildcache === 'all' && gccFilter.some((g) => o.compilerDirs?.[g] ?? compilerBuildcacheDir(o.home, g));
    if (mirrors.length === 0 && !compilersOnly) {
      throw new ConfigurationError(`no build mirrors in ${join(o.home, 'mirrors')}${slurmFilter.length + gccFilter.length > 0 ? ' match --slurm/--gcc' : ''} to publish as slurm/{slurm}/{gcc}/buildcache`, {
        remediation: "build first ('npx zx Taskfile.ts build 25.11': each build writes mirrors/<build>), or pass --buildcache none",
      });
    }
    for (const m of mirrors) {
      if (!isBuildcache(m.dir)) {
        notes.push(`${m.dir} holds no Spack binaries; slurm ${m.slurm} gcc ${m.gcc} buildcache skipped`);
        continue;
      }
      const root = keyRoot(o.prefix, 'slurm', m.slurm, `${m.gcc}${m.gpu ? '-gpu' : ''}`, 'buildcache');
      const name = `slurm ${m.slurm} gcc ${m.gcc}${m.gpu ? ' gpu' : ''} buildcache`;
      add({ name, kind: 'slurm-buildcache', root, localRoot: m.dir }, planBuildcache(m.dir, root, name));
    }
    if (o.buildcache === 'all') {
      const gccs = [...new Set([...mirrors.map((m) => m.gcc), ...builds.map((b) => b.gcc), ...gccFilter])].filter((g) => g !== 'system');
      for (const gcc of gccs.sort()) {
        const dir = o.compilerDirs?.[gcc] ?? compilerBuildcacheDir(o.home, gcc);
        if (!dir) {
          notes.push(`no compiler buildcache for GCC ${gcc} in ${join(o.home, 'compilers', gcc)}; skipped`);
          continue;
        }
        const root = keyRoot(o.prefix, 'compilers', gcc, 'buildcache');
        const name = `compiler gcc ${gcc} buildcache`;
        add({ name, kind: 'compiler-buildcache', root, localRoot: dir }, planBuildcache(dir, root, name));
      }
    }
  }

  if (o.tarballs) {
    if (builds.length === 0) {
      throw new ConfigurationError(`--tarballs: no build tarballs in ${join(o.home, 'builds')}${slurmFilter.length + gccFilter.length > 0 ? ' match --slurm/--gcc' : ''}`, {
        remediation: "build one first ('npx zx Taskfile.ts build 25.11') or drop --tarballs",
      });
    }
    const byDir = new Map<string, LocalBuild[]>();
    for (const b of builds) byDir.set(`${b.slurm}/${b.gcc}`, [...(byDir.get(`${b.slurm}/${b.gcc}`) ?? []), b]);
    for (const [dir, bs] of byDir) {
      const root = keyRoot(o.prefix, 'builds', ...dir.split('/'));
      const name = `builds ${dir.replace('/', ' gcc ')}`;
      const objs: PlannedObject[] = bs.flatMap((b) => {
        return b.files.map((f) => {
          const rel = basename(f);
          return {
            key: root + rel, path: f, size: statSync(f).size,
            contentType: contentTypeOf(rel, new Map(), /\.(json|asc)$/.test(rel) ? head(f) : undefined),
            cacheControl: cacheControlOf(rel), phase: phaseOf(rel), group: name,
          };
        });
      });
      add({ name, kind: 'builds', root, localRoot: join(o.home, 'builds') }, objs);
    }
  }

  if (o.publicKey) {
    const root = keyRoot(o.prefix, 'keys');
    add({ name: 'public key', kind: 'keys', root, localRoot: o.publicKey.path }, [{
      key: `${root}${o.publicKey.fingerprint}.asc`, path: o.publicKey.path, size: statSync(o.publicKey.path).size,
      contentType: 'application/pgp-keys', cacheControl: 'public, max-age=3600', phase: 1, group: 'public key',
    }]);
  }

  return { objects: orderForUpload(objects), groups, notes, builds: o.tarballs ? builds : [] };
}

// ------------------------------------------------------------------------------------- tarball integrity

export interface TarballCheckOptions {
  /** Armored public key(s) the .asc signatures must verify with; `keyLabel` names where it came from. */
  publicKeyArmored?: string;
  keyLabel?: string;
  /** Publish a tarball without .sha256 (a note instead of an error). */
  allowUnchecksummed: boolean;
}

export interface TarballCheckResult {
  /** SHA-256 of every file whose content was checked (tarballs, their .sha256 and signed sidecars), by path. */
  sha256: Map<string, string>;
  notes: string[];
}

/** The signatures publish checks, each over the file it sits beside. */
const SIGNED_SIDECARS = [['.asc', ''], ['.sha256.asc', '.sha256'], ['.manifest.json.asc', '.manifest.json'], ['.provenance.json.asc', '.provenance.json'], ['.buildkit-provenance.json.asc', '.buildkit-provenance.json']] as const;

/**
 * Checks the build tarballs of a plan before anything is uploaded: each must match its `.sha256` (sha256sum
 * format, naming the tarball), and each signature beside it (`.asc` over the tarball, `.sha256.asc`,
 * `.manifest.json.asc`, `.provenance.json.asc`) must be a good signature by the given key, and each provenance
 * (`.provenance.json`, `.buildkit-provenance.json`) must name the tarball's sha256. The first failure is thrown, naming the file
 * and what does not match: VerifyError (exit 1) when content contradicts its checksum or signature,
 * ConfigurationError (exit 2) for a missing .sha256 (unless allowUnchecksummed) or a signature with no key to
 * check it against. Returns the checked digests, so the upload can refuse a file that changes afterwards.
 */
export async function checkTarballs(builds: readonly LocalBuild[], o: TarballCheckOptions): Promise<TarballCheckResult> {
  const sums = new Map<string, string>();
  const notes: string[] = [];
  const refuse = 'nothing was uploaded';
  const { checkChecksum, sha256File } = await import('./verify.ts');
  for (const b of builds) {
    const name = basename(b.tarball);
    if (!existsSync(`${b.tarball}.sha256`)) {
      if (!o.allowUnchecksummed) {
        throw new ConfigurationError(`${name} has no ${name}.sha256 beside it in ${join(b.tarball, '..')}`, {
          remediation: `write one (cd builds && sha256sum ${name} > ${name}.sha256) or pass --allow-unchecksummed to publish it without; ${refuse}`,
        });
      }
      notes.push(`${name} has no .sha256 beside it; published without (--allow-unchecksummed)`);
    } else {
      try {
        sums.set(b.tarball, (await checkChecksum(b.tarball, false)).sha256!);
      } catch (err) {
        if (!(err instanceof VerifyError)) throw err;
        throw new VerifyError(err.message, { remediation: `rebuild it, or restore the file that changed; ${refuse}`, context: err.context });
      }
    }
    for (const [sig, over] of SIGNED_SIDECARS) {
      const sigPath = b.tarball + sig;
      if (!existsSync(sigPath)) continue;
      const signed = b.tarball + over;
      if (!existsSync(signed)) {
        throw new VerifyError(`${basename(sigPath)} signs ${basename(signed)}, which is missing`, { remediation: `restore it or remove the stray signature; ${refuse}` });
      }
      if (o.publicKeyArmored === undefined) {
        throw new ConfigurationError(`${basename(sigPath)} cannot be checked: no public key to verify it with`, {
          remediation: `pass --public-key FILE (the armored public key that signed it, e.g. keys/signing.public.asc); ${refuse}`,
        });
      }
      const { verifyFile } = await import('./signing.ts');
      try {
        await verifyFile(signed, sigPath, o.publicKeyArmored);
      } catch (err) {
        if (!(err instanceof VerifyError)) throw err;
        const by = o.keyLabel ? ` (checked with ${o.keyLabel})` : '';
        throw new VerifyError(`${err.message}${by}`, { remediation: `re-sign it with the project key (npx zx Taskfile.ts sign ...) or restore the file; ${refuse}`, context: err.context });
      }
    }
    // Provenance (the project's statement, BuildKit's) must describe this tarball: a stale one is not published.
    const { BUILDKIT_PROVENANCE, checkBuildkitProvenance, checkProvenanceSubject } = await import('./provenance.ts');
    for (const [suffix, check] of [['.provenance.json', checkProvenanceSubject], [BUILDKIT_PROVENANCE, checkBuildkitProvenance]] as const) {
      if (!existsSync(b.tarball + suffix)) continue;
      try {
        await check(b.tarball);
      } catch (err) {
        if (!(err instanceof VerifyError)) throw err;
        throw new VerifyError(err.message, { remediation: `rebuild it, or remove the stale ${basename(b.tarball + suffix)}; ${refuse}`, context: err.context });
      }
    }
    for (const f of b.files) if (!sums.has(f)) sums.set(f, await sha256File(f));
  }
  return { sha256: sums, notes };
}

/** Upload order: by phase (data, metadata, index, index hash), then by key. */
export function orderForUpload(objects: readonly PlannedObject[]): PlannedObject[] {
  return [...objects].sort((a, b) => a.phase - b.phase || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

// ------------------------------------------------------------------------------------------------ checksums

export interface LocalHash {
  md5: string;
  sha256: string;
  /** ETag S3 gives a multipart upload of this file with DEFAULT/given part size; undefined below the threshold. */
  multipartEtag?: string;
}

/** MD5, SHA-256 and (for big files) the multipart ETag, in one read. */
export async function hashFile(path: string, partSize = DEFAULT_PART_SIZE, multipartThreshold = DEFAULT_MULTIPART_THRESHOLD): Promise<LocalHash> {
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
      if (inPart === partSize) { partDigests.push(part.digest()); part = createHash('md5'); inPart = 0; }
    }
  }
  if (multipart && inPart > 0) partDigests.push(part.digest());
  const out: LocalHash = { md5: md5.digest('hex'), sha256: sha.digest('hex') };
  if (multipart) out.multipartEtag = `${createHash('md5').update(Buffer.concat(partDigests)).digest('hex')}-${partDigests.length}`;
  return out;
}

export interface RemoteObject { size: number; etag: string }

export type Decision = 'upload' | 'skip' | 'head';

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

// ------------------------------------------------------------------------------------------------ executor

export interface S3Target {
  bucket: string;
  region?: string;
  endpoint?: string;
}

export interface ExecuteOptions {
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

export interface PublishResult {
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
  const create = (region: string | undefined) => new s3.S3Client({
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
    try { region = await client.config.region(); } catch { region = undefined; }
    if (!region) { client.destroy(); region = 'us-east-1'; client = create(region); }
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
      remediation: 'set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE (with ~/.aws/credentials or SSO), or run where an instance/task role applies',
    });
  }
  if (name === 'NoSuchBucket' || status === 404 && what.startsWith('list')) {
    return new ConfigurationError(`bucket '${t.bucket}' does not exist${t.endpoint ? ` at ${t.endpoint}` : ''}`, {
      remediation: 'create it first (e.g. aws s3 mb) or fix --bucket/--endpoint',
    });
  }
  if (name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || status === 403) {
    return new SlurmFactoryError(`access denied to ${where} while ${what} (${name})`, {
      remediation: 'check the credentials in the AWS chain and that they allow s3:ListBucket, s3:GetObject and s3:PutObject on the bucket',
    });
  }
  const code = e?.code ? ` ${e.code}` : '';
  return new SlurmFactoryError(`${what} failed against ${where}: ${name}${code}${status ? ` (HTTP ${status})` : ''}: ${e?.message ?? String(err)}`.replace(/\s+/g, ' '), {
    remediation: 'check --endpoint/--region and the network, then rerun publish (objects already uploaded are skipped)',
  });
}

export function isRetryable(err: unknown): boolean {
  const e = err as { name?: string; code?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  if (e?.name === 'CredentialsProviderError') return false;
  if (status !== undefined) return status >= 500 || status === 429 || status === 408 || e?.name === 'RequestTimeout' || e?.name === 'SlowDown';
  // No HTTP status: the request never got an answer (refused, reset, timed out).
  return true;
}

export function backoffDelay(attempt: number, baseMs: number): number {
  const exp = Math.min(20_000, baseMs * 2 ** attempt);
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs fn over items with at most n at once; stops starting new ones once `stop()` is true. */
export async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>, stop: () => boolean = () => false): Promise<void> {
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
  constructor(private readonly totalObjects: number, private readonly totalBytes: number, mode: ExecuteOptions['progress']) {
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
    if (this.mode === 'tty') { process.stderr.write(`\r\x1b[K${line}`); this.shown = true; }
    else process.stderr.write(`${line}\n`);
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
  const backoffMs = o.backoffMs ?? 500;
  const { client, s3, region } = await makeClient(t, o);
  try {
    // 1. What is there: one listing per group root, while the local files are hashed.
    const remote = new Map<string, RemoteObject>();
    let remoteListed = true;
    const listRoot = async (root: string) => {
      let token: string | undefined;
      do {
        const r = await withRetries(() => client.send(new s3.ListObjectsV2Command({ Bucket: t.bucket, Prefix: root, ContinuationToken: token })), o.retries, backoffMs);
        for (const c of r.Contents ?? []) if (c.Key) remote.set(c.Key, { size: c.Size ?? -1, etag: c.ETag ?? '' });
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    };
    const hashes = new Map<string, LocalHash>();
    const hashing = pool([...new Set(plan.objects.map((x) => x.path))], Math.max(2, o.jobs), async (p) => {
      hashes.set(p, await hashFile(p, partSize, threshold));
    }).then(() => undefined, (e: unknown) => e);
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
        throw new VerifyError(`${basename(path)} changed while publish was running (sha256 ${got} now, ${want} when checked)`, {
          remediation: 'let whatever writes it finish, then rerun publish; nothing was uploaded',
        });
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
      const h = await withRetries(() => client.send(new s3.HeadObjectCommand({ Bucket: t.bucket, Key: obj.key })), o.retries, backoffMs)
        .catch((err) => { throw describeS3Error(err, `checking ${obj.key}`, t); });
      if (h.Metadata?.sha256 !== hashes.get(obj.path)!.sha256) toUpload.push(obj);
    });
    const ordered = orderForUpload(toUpload);
    const tCheck = Date.now();
    const wouldUploadBytes = ordered.reduce((s, x) => s + x.size, 0);
    const base: PublishResult = {
      checked: plan.objects.length, skipped: plan.objects.length - ordered.length, uploaded: 0, bytesUploaded: 0,
      wouldUpload: ordered, wouldUploadBytes, remoteListed, region,
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
    const onSigint = () => { interrupted = true; };
    process.once('SIGINT', onSigint);
    try {
      for (const phase of [0, 1, 2, 3] as const) {
        const items = ordered.filter((x) => x.phase === phase);
        await pool(items, o.jobs, async (obj) => {
          try {
            await uploadOne(client, s3, t, obj, hashes.get(obj.path)!, { partSize, threshold, jobs: o.jobs }, o.retries, backoffMs);
            uploaded++;
            bytes += obj.size;
            progress.update(uploaded, bytes);
          } catch (err) {
            failure ??= err instanceof SlurmFactoryError ? err : describeS3Error(err, `uploading ${obj.key}`, t);
          }
        }, () => failure !== undefined || interrupted);
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
      throw new SlurmFactoryError(`publish stopped: ${why}; ${uploaded} of ${ordered.length} objects uploaded, ${left} not, and no index or manifest that would point at a missing object was uploaded`, {
        remediation: failure?.remediation || 'rerun publish: objects already uploaded are skipped',
        context: { uploaded, remaining: left },
      });
    }
    const tEnd = Date.now();
    return { ...base, uploaded, bytesUploaded: bytes, seconds: { check: base.seconds.check, upload: (tEnd - tCheck) / 1000, total: (tEnd - t0) / 1000 } };
  } finally {
    client.destroy();
  }
}

async function withRetries<T>(fn: () => Promise<T>, retries: number, backoffMs: number): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= retries || !isRetryable(err)) throw err;
      await sleep(backoffDelay(attempt, backoffMs));
    }
  }
}

async function uploadOne(
  client: InstanceType<S3Module['S3Client']>, s3: S3Module, t: S3Target, obj: PlannedObject, hash: LocalHash,
  mp: { partSize: number; threshold: number; jobs: number }, retries: number, backoffMs: number,
): Promise<void> {
  const common = {
    Bucket: t.bucket, Key: obj.key, ContentType: obj.contentType, CacheControl: obj.cacheControl,
    Metadata: { sha256: hash.sha256 },
  };
  for (let attempt = 0; ; attempt++) {
    try {
      let etag: string | undefined;
      if (obj.size < mp.threshold) {
        const body = readFileSync(obj.path);
        const r = await client.send(new s3.PutObjectCommand({ ...common, Body: body, ContentMD5: Buffer.from(hash.md5, 'hex').toString('base64') }));
        etag = r.ETag;
      } else {
        const { Upload } = await import('@aws-sdk/lib-storage');
        const up = new Upload({
          client, params: { ...common, Body: createReadStream(obj.path) },
          partSize: mp.partSize, queueSize: Math.max(1, Math.min(2, mp.jobs)), leavePartsOnError: false,
        });
        etag = (await up.done()).ETag;
      }
      const got = (etag ?? '').replace(/"/g, '').toLowerCase();
      const want = obj.size < mp.threshold ? hash.md5 : hash.multipartEtag;
      if (got !== '' && got !== want) {
        throw Object.assign(new Error(`the store reports ETag ${got} for ${obj.key}, expected ${want}: the upload was corrupted`), { name: 'ChecksumMismatch' });
      }
      return;
    } catch (err) {
      if (attempt >= retries || !isRetryable(err)) {
        const e = describeS3Error(err, `uploading ${obj.key} (attempt ${attempt + 1} of ${retries + 1})`, t);
        throw e;
      }
      await sleep(backoffDelay(attempt, backoffMs));
    }
  }
}

/** Public HTTPS URL of a key: --public-url base, or path-style on --endpoint, or virtual-hosted AWS S3. */
export function publicUrl(key: string, t: S3Target & { publicUrl?: string }, region: string): string {
  const enc = key.split('/').map(encodeURIComponent).join('/');
  if (t.publicUrl) return `${t.publicUrl.replace(/\/+$/, '')}/${enc}`;
  if (t.endpoint) return `${t.endpoint.replace(/\/+$/, '')}/${t.bucket}/${enc}`;
  return `https://${t.bucket}.s3.${region}.amazonaws.com/${enc}`;
}
