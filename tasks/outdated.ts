import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { defineTask } from './lib/task.ts';
import { cachePath, resolveConfig } from './lib/config.ts';
import { ConfigurationError, SlurmFactoryError } from './lib/errors.ts';
import { findBuilds, keyRoot } from './lib/publish.ts';
import { sidecarOf } from './lib/artifacts.ts';
import { publishedBuilds } from './lib/published-builds.ts';
import { checkBucket } from './lib/s3-names.ts';
import { checkPrefix, checkUrl } from './publish.ts';
import { currencyReport, type BuiltTarball } from './lib/releases.ts';

export const SCHEDMD_GIT = 'https://github.com/SchedMD/slurm.git';
/** Exit code when a newer patch release exists or a build is behind: a scheduled job rebuilds on it. */
export const EXIT_BEHIND = 3;

/** Tag names of a git repository (URL or local directory), without cloning it. */
function listTags(source: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      ['ls-remote', '--tags', '--refs', source],
      {
        timeout: 60_000,
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
      },
      (err, stdout, stderr) => {
        if (err) {
          const why = (stderr || err.message).trim().split('\n').filter(Boolean).at(-1) ?? 'no answer';
          reject(
            new SlurmFactoryError(`cannot list the Slurm release tags of ${source}: ${why}`, {
              remediation: `give --from DIR with a local mirror (git clone --mirror ${SCHEDMD_GIT})`,
            }),
          );
          return;
        }
        resolve(
          stdout
            .split('\n')
            .map((l) => l.split('\t')[1] ?? '')
            .filter(Boolean),
        );
      },
    );
  });
}

/** Tarballs in the builds directory with the exact release their manifest records (others noted, skipped). */
function builtTarballs(dir: string, notes: string[]): BuiltTarball[] {
  const out: BuiltTarball[] = [];
  for (const b of findBuilds(dir)) {
    let release: unknown;
    try {
      release = (
        JSON.parse(readFileSync(sidecarOf(b.tarball, 'manifest'), 'utf8')) as { slurm?: { release?: unknown } }
      ).slurm?.release;
    } catch {
      /* reported below */
    }
    if (typeof release === 'string' && /^\d+\.\d+\.\d+$/.test(release))
      out.push({ file: basename(b.tarball), series: b.slurm, release });
    else notes.push(`${basename(b.tarball)}: no readable .manifest.json with slurm.release beside it; not compared`);
  }
  return out;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export const task = defineTask({
  name: 'outdated',
  summary: 'Compare the catalog and your builds with the Slurm releases upstream (exit 3 when behind)',
  usage: 'outdated [--from DIR|URL] [--builds DIR | --bucket B [--prefix P] [--endpoint URL] [--region R]] [--json]',
  example: 'npx zx Taskfile.ts outdated --from /srv/mirrors/slurm.git',
  positionals: [],
  options: {
    from: {
      type: 'string',
      arg: 'DIR|URL',
      help: [
        `git repository whose slurm-X-Y-Z-N tags are the releases (default ${SCHEDMD_GIT});`,
        'a local mirror (git clone --mirror) works offline',
      ],
    },
    builds: {
      type: 'string',
      arg: 'DIR',
      help: 'tarballs to check (default ~/.slurm-factory/builds; each needs its .manifest.json)',
    },
    bucket: {
      type: 'string',
      arg: 'B',
      help: [
        "check the tarballs published there instead (publish's layout: P/builds/{slurm}/{gcc}/,",
        'each with its .manifest.json); --prefix, --endpoint and --region as for publish',
      ],
    },
    prefix: { type: 'string', arg: 'P', help: 'key prefix in the bucket, as for publish' },
    endpoint: { type: 'string', arg: 'URL', help: 'S3-compatible endpoint, as for publish' },
    region: { type: 'string', arg: 'R', help: "the bucket's region, as for publish" },
    json: { type: 'boolean', help: 'the report as JSON' },
  },
  notes: `Exit code: 0 when every series builds its newest patch release and no build is older; 3 when a newer patch
release exists or a build is behind (a scheduled CI job can rebuild on it); a newer major series alone is
reported, not an error.`,
  async run({ opts }) {
    const from = opts.from ?? SCHEDMD_GIT;
    const url = /^[a-z][a-z0-9+.-]*:\/\/([^\s/@]+@)?[^\s/@]+(\/\S*)?$/i.exec(from);
    if (url?.[1]) {
      throw new ConfigurationError(`--from '${from}' carries credentials`, {
        remediation: 'give a URL without user:password (use a git credential helper)',
      });
    }
    if (!url && !isDirectory(from)) {
      throw new ConfigurationError(`--from '${from}' is neither a URL nor an existing directory`, {
        remediation: `give a git URL or a local clone, e.g. git clone --mirror ${SCHEDMD_GIT}`,
      });
    }
    if (opts.builds !== undefined && !isDirectory(opts.builds)) {
      throw new ConfigurationError(`--builds '${opts.builds}' is not a directory`, {
        remediation: 'give the directory that holds the tarballs',
      });
    }
    const bucket = opts.bucket === undefined ? undefined : checkBucket(opts.bucket);
    if (bucket === undefined) {
      for (const f of ['prefix', 'endpoint', 'region'] as const) {
        if (opts[f] !== undefined)
          throw new ConfigurationError(`--${f} needs --bucket`, {
            remediation: `pass --bucket NAME with --${f}, or leave --${f} out`,
          });
      }
    } else if (opts.builds !== undefined) {
      throw new ConfigurationError('--builds and --bucket were both given', {
        remediation: 'check either local builds (--builds) or a published bucket (--bucket)',
      });
    }
    const prefix = checkPrefix(opts.prefix);
    const endpoint = checkUrl('endpoint', opts.endpoint);
    const region = opts.region;
    if (region !== undefined && !/^[a-z0-9-]+$/.test(region)) {
      throw new ConfigurationError(`--region '${region}' is not a region name`, {
        remediation: 'e.g. --region us-east-1',
      });
    }
    const buildsDir =
      bucket !== undefined
        ? `s3://${bucket}/${keyRoot(prefix, 'builds')}`
        : (opts.builds ?? cachePath(resolveConfig(), 'builds'));
    const notes: string[] = [];
    const tags = await listTags(from);
    const builds =
      bucket !== undefined
        ? await publishedBuilds(
            { bucket, ...(region ? { region } : {}), ...(endpoint ? { endpoint } : {}) },
            prefix,
            notes,
          )
        : builtTarballs(buildsDir, notes);
    const report = currencyReport(tags, builds);
    if (opts.json) {
      console.log(JSON.stringify({ source: from, buildsDir, ...report, notes }, null, 2));
      return report.behind ? EXIT_BEHIND : 0;
    }
    const rows = [
      ['series', 'we build', 'newest upstream', 'recipe', 'status'],
      ...report.series.map((s) => [
        s.series,
        s.catalog,
        s.upstream ? s.upstream.release : '(no tag)',
        s.recipe,
        s.catalogBehind ? `behind: ${s.upstream!.release} is out (tag ${s.upstream!.tag})` : 'current',
      ]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    console.log(
      rows
        .map((r) =>
          r
            .map((c, i) => c.padEnd(widths[i]!))
            .join('  ')
            .trimEnd(),
        )
        .join('\n'),
    );
    for (const s of report.series) {
      for (const b of s.buildsBehind)
        console.log(
          `build behind: ${b.file} is ${b.release}; ${s.upstream && s.catalogBehind ? s.upstream.release : s.catalog} is out`,
        );
    }
    for (const r of report.newerSeries)
      console.log(`newer series upstream: ${r.series} (${r.release}); not in the catalog yet`);
    for (const n of notes) console.error(`note: ${n}`);
    console.log(
      report.behind
        ? 'outdated: a newer Slurm patch release exists or a build is behind (exit 3)'
        : 'outdated: current',
    );
    return report.behind ? EXIT_BEHIND : 0;
  },
});
