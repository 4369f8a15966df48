/**
 * `publish`, the layout: what goes where in the bucket and in which order, from the local artifacts under
 * SLURM_FACTORY_HOME; no network. publish-s3.ts executes the plan.
 *
 * Each local file becomes an object with its S3 key, content type, cache policy and *phase*; the executor
 * uploads phases strictly one after the other:
 *
 *   0 data       content that others point at: Spack blobs (blobs/sha256/..), .spack files, tarballs
 *   1 metadata   what points at data: Spack spec/key manifests, layout.json, .sha256/.asc/.manifest.json
 *   2 index      anything named index (v3/manifests/index/*, keys.manifest.json, index.json, _pgp/index.json)
 *   3 index-hash index.json.hash and other *.hash beside an index (readers poll these first)
 *
 * S3 layout under the optional prefix:
 *   compilers/{gcc}/buildcache/...        Spack buildcache of the GCC toolchain
 *   slurm/{slurm}/{gcc}[-gpu][-aarch64]/buildcache/ Spack buildcache with Slurm and its dependencies (mirrors/<build id>)
 *   builds/{slurm}/{gcc}/<tarball>{,<side files>}   (artifacts.ts PUBLISHED_SIDECARS)
 *   keys/<FINGERPRINT>.asc                the public key that signed the tarballs (--public-key)
 *
 * Before anything goes up, checkTarballs checks each tarball against its .sha256 and signatures.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import { ConfigurationError, SlurmFactoryError, VerifyError } from './errors.ts';
import { PUBLISHED_SIDECARS, SIGNED_BY, archSuffix, parseBuildId, parseTarballName, sidecarOf } from './artifacts.ts';

type BuildcacheMode = 'all' | 'slurm-only' | 'none';
/** 0 data, 1 metadata, 2 index, 3 index hash (see above). */
type Phase = 0 | 1 | 2 | 3;

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

interface PublishGroup {
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

interface LocalBuild {
  slurm: string;
  gcc: string;
  gpu: boolean;
  tarball: string;
  /** Tarball and the sidecars that exist beside it. */
  files: string[];
}

// ------------------------------------------------------------------------------------------------ naming

const VERSION_RE = /^\d+(?:\.\d+)*$/;

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

/**
 * Slurm series and GCC version of a build: from its manifest when that has them (`slurm.series`, `gcc.version`,
 * or flat `slurmSeries`/`gcc` strings), otherwise from the file name. The manifest is read defensively: a missing
 * or unreadable one falls back to the name.
 */
function buildIdentity(tarballPath: string): { slurm: string; gcc: string; gpu: boolean } | null {
  const k = parseTarballName(basename(tarballPath));
  if (!k) return null;
  let { slurm, gcc } = k;
  const { gpu } = k;
  try {
    const j = JSON.parse(readFileSync(sidecarOf(tarballPath, 'manifest'), 'utf8')) as Record<string, unknown>;
    const s = j.slurm as Record<string, unknown> | string | undefined;
    const g = j.gcc as Record<string, unknown> | string | undefined;
    const series = typeof s === 'object' && s ? str(s.series) : (str(j.slurmSeries) ?? str(s));
    const gv = typeof g === 'object' && g ? str(g.version) : str(g);
    if (series && VERSION_RE.test(series)) slurm = series;
    if (gv && (VERSION_RE.test(gv) || gv === 'system')) gcc = gv;
  } catch {
    /* the name is enough */
  }
  return { slurm, gcc, gpu };
}

interface BuildMirror {
  slurm: string;
  gcc: string;
  gpu: boolean;
  arch?: string;
  dir: string;
}

/** The per-build Spack mirrors in `mirrorsDir` (each named by its build id). */
function findBuildMirrors(mirrorsDir: string): BuildMirror[] {
  if (!existsSync(mirrorsDir)) return [];
  const out: BuildMirror[] = [];
  for (const e of readdirSync(mirrorsDir, { withFileTypes: true })) {
    const k = e.isDirectory() ? parseBuildId(e.name) : null;
    if (k) out.push({ ...k, dir: join(mirrorsDir, e.name) });
  }
  return out.sort((a, b) => (a.dir < b.dir ? -1 : 1));
}

export function findBuilds(buildsDir: string): LocalBuild[] {
  if (!existsSync(buildsDir)) return [];
  const out: LocalBuild[] = [];
  for (const name of readdirSync(buildsDir).sort()) {
    if (!parseTarballName(name)) continue;
    const tarball = join(buildsDir, name);
    if (!statSync(tarball).isFile()) continue;
    const id = buildIdentity(tarball)!;
    const files = [tarball, ...PUBLISHED_SIDECARS.map((s) => sidecarOf(tarball, s)).filter((f) => existsSync(f))];
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
export function contentTypeOf(
  rel: string,
  blobTypes: ReadonlyMap<string, string> = new Map(),
  firstBytes?: string,
): string {
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

function cacheControlOf(rel: string): string {
  if (isIndexPath(rel) || rel.endsWith('layout.json')) return 'no-cache';
  // Content-addressed: the name is the checksum, so it never changes.
  if (/(^|\/)blobs\/sha256\//.test(rel)) return 'public, max-age=31536000, immutable';
  return 'public, max-age=3600';
}

/** The JSON inside a Spack manifest, clearsigned or not; null when it is neither. */
function manifestJson(text: string): unknown {
  let body = text;
  if (text.startsWith('-----BEGIN PGP SIGNED MESSAGE-----')) {
    const start = text.indexOf('\n\n');
    const end = text.indexOf('\n-----BEGIN PGP SIGNATURE-----');
    if (start < 0 || end < 0) return null;
    body = text
      .slice(start + 2, end)
      .split('\n')
      .map((l) => (l.startsWith('- ') ? l.slice(2) : l))
      .join('\n');
  }
  try {
    return JSON.parse(body);
  } catch {
    return null;
  }
}

interface BlobRecord {
  checksum: string;
  checksumAlgorithm: string;
  mediaType: string;
  contentLength?: number;
}

/** Blob records of a Spack v3 manifest (spec, key, index); [] when it has none. */
export function manifestBlobs(text: string): BlobRecord[] {
  const j = manifestJson(text) as { data?: unknown } | null;
  if (!j || !Array.isArray(j.data)) return [];
  const out: BlobRecord[] = [];
  for (const r of j.data as Record<string, unknown>[]) {
    const checksum = str(r.checksum);
    if (!checksum) continue;
    out.push({
      checksum,
      checksumAlgorithm: str(r.checksumAlgorithm) ?? 'sha256',
      mediaType: str(r.mediaType) ?? 'application/octet-stream',
      ...(typeof r.contentLength === 'number' ? { contentLength: r.contentLength } : {}),
    });
  }
  return out;
}

function blobPath(r: BlobRecord): string {
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
        throw new SlurmFactoryError(
          `the local buildcache ${localRoot} is inconsistent: ${rel} points at ${blobPath(b)}, which is missing`,
          {
            remediation:
              'rebuild so the blob is pushed again (or remove the stale manifest and run `spack buildcache update-index`); nothing was published',
          },
        );
      }
    }
  }
  return files.map((rel) => {
    const path = join(localRoot, rel);
    const size = statSync(path).size;
    const needsSniff = /\.(json|asc|sig)$/.test(rel) && !/(^|\/)blobs\//.test(rel);
    return {
      key: root + rel,
      path,
      size,
      contentType: contentTypeOf(rel, blobTypes, needsSniff ? head(path) : undefined),
      cacheControl: cacheControlOf(rel),
      phase: phaseOf(rel),
      group,
    };
  });
}

// ------------------------------------------------------------------------------------------------ planning

interface PlanOptions {
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
    (slurmFilter.length === 0 || slurmFilter.includes(x.slurm)) &&
    (gccFilter.length === 0 || gccFilter.includes(x.gcc));
  const builds = findBuilds(join(o.home, 'builds')).filter(wanted);

  if (o.buildcache !== 'none') {
    // Each build exported its own self-contained mirror (Slurm and its link/run dependencies, with its own
    // index) into mirrors/<build>; it is published as slurm/{slurm}/{gcc}[-gpu][-aarch64]/buildcache.
    const mirrors = findBuildMirrors(join(o.home, 'mirrors')).filter(wanted);
    const compilersOnly =
      o.buildcache === 'all' && gccFilter.some((g) => o.compilerDirs?.[g] ?? compilerBuildcacheDir(o.home, g));
    if (mirrors.length === 0 && !compilersOnly) {
      throw new ConfigurationError(
        `no build mirrors in ${join(o.home, 'mirrors')}${slurmFilter.length + gccFilter.length > 0 ? ' match --slurm/--gcc' : ''} to publish as slurm/{slurm}/{gcc}/buildcache`,
        {
          remediation:
            "build first ('npx zx Taskfile.ts build 25.11': each build writes mirrors/<build>), or pass --buildcache none",
        },
      );
    }
    for (const m of mirrors) {
      if (!isBuildcache(m.dir)) {
        notes.push(`${m.dir} holds no Spack binaries; slurm ${m.slurm} gcc ${m.gcc} buildcache skipped`);
        continue;
      }
      const root = keyRoot(
        o.prefix,
        'slurm',
        m.slurm,
        `${m.gcc}${m.gpu ? '-gpu' : ''}${archSuffix(m.arch)}`,
        'buildcache',
      );
      const name = `slurm ${m.slurm} gcc ${m.gcc}${m.gpu ? ' gpu' : ''}${m.arch ? ` ${m.arch}` : ''} buildcache`;
      add({ name, kind: 'slurm-buildcache', root, localRoot: m.dir }, planBuildcache(m.dir, root, name));
    }
    if (o.buildcache === 'all') {
      const gccs = [...new Set([...mirrors.map((m) => m.gcc), ...builds.map((b) => b.gcc), ...gccFilter])].filter(
        (g) => g !== 'system',
      );
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
      throw new ConfigurationError(
        `--tarballs: no build tarballs in ${join(o.home, 'builds')}${slurmFilter.length + gccFilter.length > 0 ? ' match --slurm/--gcc' : ''}`,
        {
          remediation: "build one first ('npx zx Taskfile.ts build 25.11') or drop --tarballs",
        },
      );
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
            key: root + rel,
            path: f,
            size: statSync(f).size,
            contentType: contentTypeOf(rel, new Map(), /\.(json|asc)$/.test(rel) ? head(f) : undefined),
            cacheControl: cacheControlOf(rel),
            phase: phaseOf(rel),
            group: name,
          };
        });
      });
      add({ name, kind: 'builds', root, localRoot: join(o.home, 'builds') }, objs);
    }
  }

  if (o.publicKey) {
    const root = keyRoot(o.prefix, 'keys');
    add({ name: 'public key', kind: 'keys', root, localRoot: o.publicKey.path }, [
      {
        key: `${root}${o.publicKey.fingerprint}.asc`,
        path: o.publicKey.path,
        size: statSync(o.publicKey.path).size,
        contentType: 'application/pgp-keys',
        cacheControl: 'public, max-age=3600',
        phase: 1,
        group: 'public key',
      },
    ]);
  }

  return { objects: orderForUpload(objects), groups, notes, builds: o.tarballs ? builds : [] };
}

// ------------------------------------------------------------------------------------- tarball integrity

interface TarballCheckOptions {
  /** Armored public key(s) the .asc signatures must verify with; `keyLabel` names where it came from. */
  publicKeyArmored?: string;
  keyLabel?: string;
  /** Publish a tarball without .sha256 (a note instead of an error). */
  allowUnchecksummed: boolean;
}

interface TarballCheckResult {
  /** SHA-256 of every file whose content was checked (tarballs, their .sha256 and signed sidecars), by path. */
  sha256: Map<string, string>;
  notes: string[];
}

/** The signatures publish checks (every one beside a tarball), each over the file SIGNED_BY names. */
const CHECKED_SIGNATURES = Object.keys(SIGNED_BY) as (keyof typeof SIGNED_BY)[];

/**
 * Checks the build tarballs of a plan before anything is uploaded: each must match its `.sha256` (sha256sum
 * format, naming the tarball), and each signature beside it (`.asc` over the tarball, `.sha256.asc`,
 * `.manifest.json.asc`, `.provenance.json.asc`, `.buildkit-provenance.json.asc`: artifacts.ts SIGNED_BY) must be
 * a good signature by the given key, and each provenance (`.provenance.json`, `.buildkit-provenance.json`) must
 * name the tarball's sha256. The first failure is thrown, naming the file and what does not match: VerifyError
 * (exit 1) when content contradicts its checksum or signature, ConfigurationError (exit 2) for a missing .sha256
 * (unless allowUnchecksummed) or a signature with no key to check it against. Returns the checked digests, so the
 * upload can refuse a file that changes afterwards.
 */
export async function checkTarballs(
  builds: readonly LocalBuild[],
  o: TarballCheckOptions,
): Promise<TarballCheckResult> {
  const sums = new Map<string, string>();
  const notes: string[] = [];
  const refuse = 'nothing was uploaded';
  const { checkChecksum, sha256File } = await import('./verify.ts');
  for (const b of builds) {
    const name = basename(b.tarball);
    const sumFile = sidecarOf(b.tarball, 'sha256');
    if (!existsSync(sumFile)) {
      if (!o.allowUnchecksummed) {
        throw new ConfigurationError(`${name} has no ${basename(sumFile)} beside it in ${join(b.tarball, '..')}`, {
          remediation: `write one (cd builds && sha256sum ${name} > ${basename(sumFile)}) or pass --allow-unchecksummed to publish it without; ${refuse}`,
        });
      }
      notes.push(`${name} has no .sha256 beside it; published without (--allow-unchecksummed)`);
    } else {
      try {
        sums.set(b.tarball, (await checkChecksum(b.tarball, false)).sha256!);
      } catch (err) {
        if (!(err instanceof VerifyError)) throw err;
        throw new VerifyError(err.message, {
          remediation: `rebuild it, or restore the file that changed; ${refuse}`,
          context: err.context,
        });
      }
    }
    for (const sig of CHECKED_SIGNATURES) {
      const sigPath = sidecarOf(b.tarball, sig);
      if (!existsSync(sigPath)) continue;
      const over = SIGNED_BY[sig];
      const signed = over === 'tarball' ? b.tarball : sidecarOf(b.tarball, over);
      if (!existsSync(signed)) {
        throw new VerifyError(`${basename(sigPath)} signs ${basename(signed)}, which is missing`, {
          remediation: `restore it or remove the stray signature; ${refuse}`,
        });
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
        throw new VerifyError(`${err.message}${by}`, {
          remediation: `re-sign it with the project key (npx zx Taskfile.ts sign ...) or restore the file; ${refuse}`,
          context: err.context,
        });
      }
    }
    // Provenance (the project's statement, BuildKit's) must describe this tarball: a stale one is not published.
    const { checkBuildkitProvenance, checkProvenanceSubject } = await import('./provenance.ts');
    for (const [sidecar, check] of [
      ['provenance', checkProvenanceSubject],
      ['buildkitProvenance', checkBuildkitProvenance],
    ] as const) {
      const file = sidecarOf(b.tarball, sidecar);
      if (!existsSync(file)) continue;
      try {
        await check(b.tarball);
      } catch (err) {
        if (!(err instanceof VerifyError)) throw err;
        throw new VerifyError(err.message, {
          remediation: `rebuild it, or remove the stale ${basename(file)}; ${refuse}`,
          context: err.context,
        });
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
