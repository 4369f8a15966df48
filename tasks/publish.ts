import type { Task } from './lib/task.ts';
import { parseArgs } from './lib/args.ts';
import { resolveConfig } from './lib/config.ts';
import { checkBucket } from './lib/s3-names.ts';
import { ConfigurationError } from './lib/errors.ts';
import { compilerArtifacts } from './lib/artifacts.ts';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const MODES = ['all', 'slurm-only', 'none'] as const;
const PROGRESS = ['auto', 'tty', 'plain', 'none'] as const;

function wholeNumber(flag: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  if (raw === undefined) return dflt;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigurationError(`--${flag} '${raw}' is not a whole number from ${min} to ${max}`, { remediation: `e.g. --${flag} ${dflt}` });
  }
  return Number(raw);
}

export function checkPrefix(p: string | undefined): string {
  if (p === undefined) return '';
  const norm = p.replace(/^\/+|\/+$/g, '');
  const badSegment = norm !== '' && norm.split('/').some((s) => s === '' || s === '.' || s === '..');
  if (badSegment || /[\\\x00-\x1f\x7f]/.test(norm)) {
    throw new ConfigurationError(`--prefix '${p}' is not a usable key prefix`, {
      remediation: "use path segments without empty, '.' or '..' parts, e.g. --prefix cache/v1",
    });
  }
  return norm;
}

export function checkUrl(flag: string, u: string | undefined): string | undefined {
  if (u === undefined) return undefined;
  let url: URL;
  try { url = new URL(u); } catch {
    throw new ConfigurationError(`--${flag} '${u}' is not a URL`, { remediation: `write it as http(s)://host[:port], e.g. --${flag} http://127.0.0.1:9000` });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigurationError(`--${flag} '${u}' is not an http(s) URL`, { remediation: `write it as http(s)://host[:port]` });
  }
  if (url.username || url.password) {
    throw new ConfigurationError(`--${flag} must not carry credentials`, { remediation: 'give credentials through the AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a role)' });
  }
  return u.replace(/\/+$/, '');
}

function checkVersions(flag: string, vs: string[]): string[] {
  for (const v of vs) {
    if (!/^(\d+(\.\d+)*|system)$/.test(v)) {
      throw new ConfigurationError(`--${flag} '${v}' is not a version`, { remediation: flag === 'slurm' ? 'e.g. --slurm 25.11' : 'e.g. --gcc 13.4.0' });
    }
  }
  return vs;
}

export const task: Task = {
  name: 'publish',
  summary: 'Upload Spack buildcaches and signed tarballs to S3 (or any S3-compatible store), index files last',
  usage: 'publish [--bucket B] [--prefix P] [--endpoint URL] [--region R] [--buildcache all|slurm-only|none] [--tarballs] [--allow-unchecksummed] [--dry-run]',
  example: 'npx zx Taskfile.ts publish --bucket my-slurm-cache --tarballs --dry-run',
  details: [
    '  --bucket B          bucket (default $SLURM_FACTORY_BUCKET)',
    '  --prefix P          key prefix inside the bucket (default: none)',
    '  --endpoint URL      S3-compatible endpoint (MinIO, Ceph, moto...); path-style addressing',
    '  --region R          region (default: the AWS chain, else us-east-1)',
    '  --buildcache M      all (Slurm + compiler buildcaches, default), slurm-only, or none',
    '  --tarballs          also the tarballs with .sha256, .manifest.json and .asc under builds/{slurm}/{gcc}/;',
    '                      before anything goes up, each must match its .sha256 and every .asc beside it must be a',
    '                      good signature by --public-key (default keys/signing.public.asc), or nothing is uploaded',
    '  --allow-unchecksummed  publish a tarball that has no .sha256 (default: refused)',
    '  --slurm S,..        only these Slurm series; --gcc G,.. only these GCC versions',
    '  --public-key FILE   also publish this armored public key as keys/<FINGERPRINT>.asc (and check the .asc with it)',
    '  --public-url URL    base of the public URLs printed at the end (e.g. a CDN in front of the bucket)',
    '  --jobs N            parallel uploads (default 8); --retries N (default 5); --timeout SECONDS (default 60)',
    '  --progress MODE     auto, tty, plain or none (progress line on stderr)',
    '  --dry-run           list what would be uploaded and the byte total; upload nothing',
    'Credentials come from the standard AWS chain only (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE,',
    'SSO, instance or task roles) and are never printed. Objects already in the bucket with the same checksum are',
    'skipped; data goes first, manifests next and index files last, so no index points at a missing object.',
    'Layout: compilers/{gcc}/buildcache/  slurm/{slurm}/{gcc}[-gpu]/buildcache/ (from mirrors/<build>/)  builds/{slurm}/{gcc}/  keys/',
  ].join('\n'),
  async run(argv) {
    const args = parseArgs('publish', argv, {
      string: ['bucket', 'prefix', 'endpoint', 'region', 'buildcache', 'jobs', 'retries', 'timeout', 'public-key', 'public-url', 'progress'],
      csv: ['slurm', 'gcc'],
      boolean: ['tarballs', 'dry-run', 'allow-unchecksummed'],
    });
    const bucketRaw = args.strings.bucket ?? process.env.SLURM_FACTORY_BUCKET;
    if (bucketRaw === undefined || bucketRaw === '') {
      throw new ConfigurationError("'publish' needs a bucket", { remediation: 'pass --bucket NAME or set SLURM_FACTORY_BUCKET' });
    }
    const bucket = checkBucket(bucketRaw);
    const prefix = checkPrefix(args.strings.prefix);
    const endpoint = checkUrl('endpoint', args.strings.endpoint);
    const publicUrlBase = checkUrl('public-url', args.strings['public-url']);
    const region = args.strings.region;
    if (region !== undefined && !/^[a-z]{2}(-[a-z0-9]+)+-\d+$|^[a-z0-9-]+$/.test(region)) {
      throw new ConfigurationError(`--region '${region}' is not a region name`, { remediation: 'e.g. --region us-east-1' });
    }
    const mode = args.strings.buildcache ?? 'all';
    if (!(MODES as readonly string[]).includes(mode)) {
      throw new ConfigurationError(`--buildcache '${mode}' is not a mode`, { remediation: `use one of ${MODES.join(', ')}` });
    }
    const progress = args.strings.progress ?? 'auto';
    if (!(PROGRESS as readonly string[]).includes(progress)) {
      throw new ConfigurationError(`--progress '${progress}' is not a mode`, { remediation: `use one of ${PROGRESS.join(', ')}` });
    }
    const jobs = wholeNumber('jobs', args.strings.jobs, 8, 1, 64);
    const retries = wholeNumber('retries', args.strings.retries, 5, 0, 20);
    const timeout = wholeNumber('timeout', args.strings.timeout, 60, 1, 3600);
    const slurm = checkVersions('slurm', args.lists.slurm ?? []);
    const gcc = checkVersions('gcc', args.lists.gcc ?? []);
    if (mode === 'none' && !args.flags.tarballs && args.strings['public-key'] === undefined) {
      throw new ConfigurationError('nothing to publish with --buildcache none', { remediation: 'add --tarballs (and/or --public-key FILE), or choose --buildcache all|slurm-only' });
    }
    if (args.flags['allow-unchecksummed'] && !args.flags.tarballs) {
      throw new ConfigurationError('--allow-unchecksummed applies to --tarballs only', { remediation: 'add --tarballs or drop --allow-unchecksummed' });
    }
    let publicKey: { path: string; fingerprint: string } | undefined;
    let publicKeyText: string | undefined;
    if (args.strings['public-key'] !== undefined) {
      const path = resolve(args.strings['public-key']);
      if (!statSync(path, { throwIfNoEntry: false })?.isFile()) {
        throw new ConfigurationError(`--public-key '${args.strings['public-key']}' does not exist`, { remediation: 'give the armored public key file (keygen writes signing.public.asc)' });
      }
      const { readFileSync } = await import('node:fs');
      const text = readFileSync(path, 'utf8');
      if (!text.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')) {
        throw new ConfigurationError(`--public-key '${args.strings['public-key']}' is not an ASCII-armored OpenPGP public key`, {
          remediation: "export it with 'gpg --armor --export FPR' (never publish the private key)",
        });
      }
      const openpgp = await import('openpgp');
      const key = await openpgp.readKey({ armoredKey: text }).catch(() => {
        throw new ConfigurationError(`--public-key '${args.strings['public-key']}' cannot be read as an OpenPGP key`, { remediation: "export it again with 'gpg --armor --export FPR'" });
      });
      publicKey = { path, fingerprint: key.getFingerprint().toUpperCase() };
      publicKeyText = text;
    }

    const config = resolveConfig();
    const lib = await import('./lib/publish.ts');
    const s3 = await import('./lib/publish-s3.ts');
    const extracted: string[] = [];
    try {
      // Compiler buildcaches that exist only as build-compiler's tarball are unpacked for the upload.
      const compilerDirs: Record<string, string> = {};
      if (mode === 'all') {
        const gccs = new Set([...lib.findBuilds(join(config.home, 'builds')).map((b) => b.gcc), ...gcc]);
        for (const g of gccs) {
          if (g === 'system' || lib.compilerBuildcacheDir(config.home, g)) continue;
          if (gcc.length > 0 && !gcc.includes(g)) continue;
          const ca = compilerArtifacts(g);
          const tarball = join(config.home, ca.dir, ca.tarball);
          if (!existsSync(tarball)) continue;
          if (existsSync(join(config.home, ca.dir, ca.sha256))) {
            const { checkChecksum } = await import('./lib/verify.ts');
            await checkChecksum(tarball, false);
          }
          const dir = join(config.home, ca.dir, `.publish-${process.pid}`);
          extracted.push(dir);
          mkdirSync(dir, { recursive: true });
          const tar = await import('tar');
          await tar.x({ file: tarball, cwd: dir, strict: true });
          if (lib.isBuildcache(dir)) compilerDirs[g] = dir;
        }
      }

      const plan = lib.planPublish({
        home: config.home, prefix, buildcache: mode as 'all' | 'slurm-only' | 'none', tarballs: args.flags.tarballs === true,
        slurm, gcc, compilerDirs, ...(publicKey ? { publicKey } : {}),
      });
      // Every tarball must match its .sha256 and signatures before anything at all is uploaded.
      let expectSha256: Map<string, string> | undefined;
      if (plan.builds.length > 0) {
        let keyText = publicKeyText;
        let keyLabel = publicKey ? `--public-key ${args.strings['public-key']}` : undefined;
        const homeKey = join(config.home, 'keys', 'signing.public.asc');
        if (keyText === undefined && statSync(homeKey, { throwIfNoEntry: false })?.isFile()) {
          keyText = (await import('node:fs')).readFileSync(homeKey, 'utf8');
          keyLabel = homeKey;
        }
        const checked = await lib.checkTarballs(plan.builds, {
          allowUnchecksummed: args.flags['allow-unchecksummed'] === true,
          ...(keyText !== undefined ? { publicKeyArmored: keyText } : {}), ...(keyLabel ? { keyLabel } : {}),
        });
        plan.notes.push(...checked.notes);
        expectSha256 = checked.sha256;
      }
      // Notes come after the work (an error stays a single line).
      const notes = () => { for (const n of plan.notes) console.error(`note: ${n}`); };
      if (plan.objects.length === 0) {
        notes();
        console.log('nothing to publish');
        return 0;
      }
      const target = { bucket, ...(region ? { region } : {}), ...(endpoint ? { endpoint } : {}) };
      const where = `s3://${bucket}${prefix ? `/${prefix}` : ''}${endpoint ? ` at ${endpoint}` : ''}`;
      const r = await s3.executePublish(plan, target, {
        jobs, retries, timeoutMs: timeout * 1000, dryRun: args.flags['dry-run'] === true, progress: progress as 'auto',
        ...(expectSha256 ? { expectSha256 } : {}),
      });
      notes();
      if (args.flags['dry-run']) {
        for (const o of r.wouldUpload) console.log(`would upload  ${o.key}  ${s3.formatBytes(o.size)}  ${o.contentType}`);
        console.log(`dry run: ${r.wouldUpload.length} objects, ${r.wouldUploadBytes} bytes (${s3.formatBytes(r.wouldUploadBytes)}) would be uploaded to ${where}; ${r.skipped} of ${r.checked} already there${r.remoteListed ? '' : ' (bucket not checked)'}`);
        return 0;
      }
      console.log(`published ${where}: ${r.uploaded} objects uploaded (${r.bytesUploaded} bytes), ${r.skipped} already there, ${r.checked} checked in ${r.seconds.total.toFixed(1)} s`);
      const t = { ...target, ...(publicUrlBase ? { publicUrl: publicUrlBase } : {}) };
      for (const g of plan.groups) {
        const url = s3.publicUrl(g.kind === 'keys' ? plan.objects.find((o) => o.group === g.name)!.key : g.root, t, r.region);
        if (g.kind === 'slurm-buildcache' || g.kind === 'compiler-buildcache') {
          console.log(`  ${g.name}: spack mirror add --signed NAME ${url.replace(/\/$/, '')}`);
        } else {
          console.log(`  ${g.name}: ${url}`);
        }
      }
      return 0;
    } finally {
      for (const d of extracted) rmSync(d, { recursive: true, force: true });
    }
  },
};
