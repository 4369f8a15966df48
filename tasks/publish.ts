import { defineTask } from './lib/task.ts';
import { resolveConfig } from './lib/config.ts';
import { checkBucket } from './lib/s3-names.ts';
import { ConfigurationError } from './lib/errors.ts';
import { homePublicKey, keyFingerprint, readKeyFile } from './lib/keys.ts';
import { unpackCompilerTarballs } from './lib/compilers.ts';
import { join, resolve } from 'node:path';

const MODES = ['all', 'slurm-only', 'none'] as const;
const PROGRESS = ['auto', 'tty', 'plain', 'none'] as const;

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
  try {
    url = new URL(u);
  } catch {
    throw new ConfigurationError(`--${flag} '${u}' is not a URL`, {
      remediation: `write it as http(s)://host[:port], e.g. --${flag} http://127.0.0.1:9000`,
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigurationError(`--${flag} '${u}' is not an http(s) URL`, {
      remediation: `write it as http(s)://host[:port]`,
    });
  }
  if (url.username || url.password) {
    throw new ConfigurationError(`--${flag} must not carry credentials`, {
      remediation:
        'give credentials through the AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a role)',
    });
  }
  return u.replace(/\/+$/, '');
}

function checkVersions(flag: string, vs: string[]): string[] {
  for (const v of vs) {
    if (!/^(\d+(\.\d+)*|system)$/.test(v)) {
      throw new ConfigurationError(`--${flag} '${v}' is not a version`, {
        remediation: flag === 'slurm' ? 'e.g. --slurm 25.11' : 'e.g. --gcc 13.4.0',
      });
    }
  }
  return vs;
}

export const task = defineTask({
  name: 'publish',
  summary: 'Upload Spack buildcaches and signed tarballs to S3 (or any S3-compatible store), index files last',
  usage:
    'publish [--bucket B] [--prefix P] [--endpoint URL] [--region R] [--buildcache all|slurm-only|none] [--tarballs] [--allow-unchecksummed] [--dry-run]',
  example: 'npx zx Taskfile.ts publish --bucket my-slurm-cache --tarballs --dry-run',
  positionals: [],
  options: {
    bucket: { type: 'string', arg: 'B', help: 'bucket (default $SLURM_FACTORY_BUCKET)' },
    prefix: { type: 'string', arg: 'P', help: 'key prefix inside the bucket (default: none)' },
    endpoint: {
      type: 'string',
      arg: 'URL',
      help: 'S3-compatible endpoint (MinIO, Ceph, moto...); path-style addressing',
    },
    region: { type: 'string', arg: 'R', help: 'region (default: the AWS chain, else us-east-1)' },
    buildcache: {
      type: 'choice',
      arg: 'M',
      choices: MODES,
      default: 'all',
      noun: 'mode',
      help: 'all (Slurm + compiler buildcaches, default), slurm-only, or none',
    },
    tarballs: {
      type: 'boolean',
      help: [
        'also the tarballs with .sha256, .manifest.json and .asc under builds/{slurm}/{gcc}/;',
        'before anything goes up, each must match its .sha256 and every .asc beside it must be a',
        'good signature by --public-key (default keys/signing.public.asc), or nothing is uploaded',
      ],
    },
    'allow-unchecksummed': { type: 'boolean', help: 'publish a tarball that has no .sha256 (default: refused)' },
    slurm: { type: 'csv', arg: 'S,..', help: 'only these Slurm series' },
    gcc: { type: 'csv', arg: 'G,..', help: 'only these GCC versions' },
    'public-key': {
      type: 'string',
      arg: 'FILE',
      help: 'also publish this armored public key as keys/<FINGERPRINT>.asc (and check the .asc with it)',
    },
    'public-url': {
      type: 'string',
      arg: 'URL',
      help: 'base of the public URLs printed at the end (e.g. a CDN in front of the bucket)',
    },
    jobs: { type: 'integer', min: 1, max: 64, default: 8, help: 'parallel uploads (default 8)' },
    retries: {
      type: 'integer',
      min: 0,
      max: 20,
      default: 5,
      help: 'retries of a request that failed for a passing reason (default 5)',
    },
    timeout: {
      type: 'integer',
      arg: 'SECONDS',
      min: 1,
      max: 3600,
      default: 60,
      help: 'seconds a request may wait for the store (default 60)',
    },
    progress: {
      type: 'choice',
      choices: PROGRESS,
      default: 'auto',
      noun: 'mode',
      help: 'auto, tty, plain or none (progress line on stderr)',
    },
    'dry-run': { type: 'boolean', help: 'list what would be uploaded and the byte total; upload nothing' },
  },
  notes: [
    'Credentials come from the standard AWS chain only (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE,',
    'SSO, instance or task roles) and are never printed. Objects already in the bucket with the same checksum are',
    'skipped; data goes first, manifests next and index files last, so no index points at a missing object.',
    'Layout: compilers/{gcc}/buildcache/  slurm/{slurm}/{gcc}[-gpu]/buildcache/ (from mirrors/<build>/)  builds/{slurm}/{gcc}/  keys/',
  ].join('\n'),
  async run({ opts }) {
    const config = resolveConfig({ bucket: opts.bucket });
    if (config.bucket === undefined) {
      throw new ConfigurationError("'publish' needs a bucket", {
        remediation: 'pass --bucket NAME or set SLURM_FACTORY_BUCKET',
      });
    }
    const bucket = checkBucket(config.bucket);
    const prefix = checkPrefix(opts.prefix);
    const endpoint = checkUrl('endpoint', opts.endpoint);
    const publicUrlBase = checkUrl('public-url', opts['public-url']);
    const region = opts.region;
    if (region !== undefined && !/^[a-z]{2}(-[a-z0-9]+)+-\d+$|^[a-z0-9-]+$/.test(region)) {
      throw new ConfigurationError(`--region '${region}' is not a region name`, {
        remediation: 'e.g. --region us-east-1',
      });
    }
    const mode = opts.buildcache;
    const { progress, jobs, retries, timeout } = opts;
    const slurm = checkVersions('slurm', opts.slurm);
    const gcc = checkVersions('gcc', opts.gcc);
    if (mode === 'none' && !opts.tarballs && opts['public-key'] === undefined) {
      throw new ConfigurationError('nothing to publish with --buildcache none', {
        remediation: 'add --tarballs (and/or --public-key FILE), or choose --buildcache all|slurm-only',
      });
    }
    if (opts['allow-unchecksummed'] && !opts.tarballs) {
      throw new ConfigurationError('--allow-unchecksummed applies to --tarballs only', {
        remediation: 'add --tarballs or drop --allow-unchecksummed',
      });
    }
    let publicKey: { path: string; fingerprint: string } | undefined;
    let publicKeyText: string | undefined;
    const publicKeyPath = opts['public-key'];
    if (publicKeyPath !== undefined) {
      publicKeyText = readKeyFile(publicKeyPath, '--public-key', 'public');
      publicKey = {
        path: resolve(publicKeyPath),
        fingerprint: await keyFingerprint(publicKeyText, '--public-key', publicKeyPath, 'public'),
      };
    }

    const lib = await import('./lib/publish.ts');
    const s3 = await import('./lib/publish-s3.ts');
    // Compiler buildcaches that exist only as build-compiler's tarball are unpacked for the upload.
    const compilers =
      mode === 'all'
        ? await unpackCompilerTarballs(
            config.home,
            [...lib.findBuilds(join(config.home, 'builds')).map((b) => b.gcc), ...gcc],
            gcc,
          )
        : { dirs: {}, cleanup: () => {} };
    try {
      const plan = lib.planPublish({
        home: config.home,
        prefix,
        buildcache: mode,
        tarballs: opts.tarballs,
        slurm,
        gcc,
        compilerDirs: compilers.dirs,
        ...(publicKey ? { publicKey } : {}),
      });
      // Every tarball must match its .sha256 and signatures before anything at all is uploaded.
      let expectSha256: Map<string, string> | undefined;
      if (plan.builds.length > 0) {
        let keyText = publicKeyText;
        let keyLabel = publicKey ? `--public-key ${opts['public-key']}` : undefined;
        const homeKey = keyText === undefined ? homePublicKey(config.home) : undefined;
        if (homeKey) {
          keyText = homeKey.text;
          keyLabel = homeKey.path;
        }
        const checked = await lib.checkTarballs(plan.builds, {
          allowUnchecksummed: opts['allow-unchecksummed'] === true,
          ...(keyText !== undefined ? { publicKeyArmored: keyText } : {}),
          ...(keyLabel ? { keyLabel } : {}),
        });
        plan.notes.push(...checked.notes);
        expectSha256 = checked.sha256;
      }
      // Notes come after the work (an error stays a single line).
      const notes = () => {
        for (const n of plan.notes) console.error(`note: ${n}`);
      };
      if (plan.objects.length === 0) {
        notes();
        console.log('nothing to publish');
        return 0;
      }
      const target = { bucket, ...(region ? { region } : {}), ...(endpoint ? { endpoint } : {}) };
      const where = `s3://${bucket}${prefix ? `/${prefix}` : ''}${endpoint ? ` at ${endpoint}` : ''}`;
      const r = await s3.executePublish(plan, target, {
        jobs,
        retries,
        timeoutMs: timeout * 1000,
        dryRun: opts['dry-run'],
        progress,
        ...(expectSha256 ? { expectSha256 } : {}),
      });
      notes();
      if (opts['dry-run']) {
        for (const o of r.wouldUpload)
          console.log(`would upload  ${o.key}  ${s3.formatBytes(o.size)}  ${o.contentType}`);
        console.log(
          `dry run: ${r.wouldUpload.length} objects, ${r.wouldUploadBytes} bytes (${s3.formatBytes(r.wouldUploadBytes)}) would be uploaded to ${where}; ${r.skipped} of ${r.checked} already there${r.remoteListed ? '' : ' (bucket not checked)'}`,
        );
        return 0;
      }
      console.log(
        `published ${where}: ${r.uploaded} objects uploaded (${r.bytesUploaded} bytes), ${r.skipped} already there, ${r.checked} checked in ${r.seconds.total.toFixed(1)} s`,
      );
      const t = { ...target, ...(publicUrlBase ? { publicUrl: publicUrlBase } : {}) };
      for (const g of plan.groups) {
        const url = s3.publicUrl(
          g.kind === 'keys' ? plan.objects.find((o) => o.group === g.name)!.key : g.root,
          t,
          r.region,
        );
        if (g.kind === 'slurm-buildcache' || g.kind === 'compiler-buildcache') {
          console.log(`  ${g.name}: spack mirror add --signed NAME ${url.replace(/\/$/, '')}`);
        } else {
          console.log(`  ${g.name}: ${url}`);
        }
      }
      return 0;
    } finally {
      compilers.cleanup();
    }
  },
});
