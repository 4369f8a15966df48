import { defineTask } from './lib/task.ts';
import { ConfigurationError } from './lib/errors.ts';
import { checkBucket, checkRegion, checkRoleArn } from './lib/s3-names.ts';
import { planMatrix, renderCiWorkflow, type CiWorkflowOptions } from './lib/matrix.ts';
import { checkUserDir } from './lib/userdir.ts';
import { replaceUserFile } from './lib/writer.ts';
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** A five-field cron line as GitHub Actions reads it (minute hour day-of-month month day-of-week). */
export function checkCron(cron: string): string {
  const field = String.raw`(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*`;
  if (!new RegExp(`^${field}( ${field}){4}$`).test(cron)) {
    throw new ConfigurationError(`--schedule '${cron}' is not a five-field cron line`, {
      remediation: "e.g. --schedule '17 5 * * 1' (Mondays 05:17 UTC)",
    });
  }
  return cron;
}

function workflowOptions(
  s: Record<'schedule' | 'publish-bucket' | 'aws-role' | 'aws-region' | 'sign-secret', string | undefined>,
): CiWorkflowOptions {
  const o: CiWorkflowOptions = {};
  if (s.schedule !== undefined) o.schedule = checkCron(s.schedule);
  const pub = [s['publish-bucket'], s['aws-role'], s['aws-region']];
  if (pub.some((v) => v !== undefined)) {
    if (pub.some((v) => v === undefined)) {
      throw new ConfigurationError('--publish-bucket, --aws-role and --aws-region go together', {
        remediation: 'give all three (the workflow assumes the role through OIDC), or none',
      });
    }
    o.publish = {
      bucket: checkBucket(pub[0]!),
      role: checkRoleArn(pub[1]!),
      region: checkRegion(pub[2]!, '--aws-region'),
    };
  }
  if (s['sign-secret'] !== undefined) {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(s['sign-secret']) || s['sign-secret'].startsWith('GITHUB_')) {
      throw new ConfigurationError(`--sign-secret '${s['sign-secret']}' is not a GitHub secret name`, {
        remediation:
          'upper-case letters, digits and _, not starting with a digit or GITHUB_, e.g. --sign-secret SLURM_FACTORY_SIGNING_KEY',
      });
    }
    o.signSecret = s['sign-secret'];
  }
  return o;
}

export const task = defineTask({
  name: 'ci-matrix',
  summary: 'Write a GitHub Actions workflow with one build job per matrix entry',
  usage:
    'ci-matrix [--slurm LIST] [--gcc LIST] [--flavours cpu,gpu] [--arch x86_64,aarch64] [--schedule CRON] [--publish-bucket B --aws-role ARN --aws-region R] [--sign-secret NAME] [--out FILE]',
  example: 'npx zx Taskfile.ts ci-matrix --gcc 10.5.0,13.4.0 --out .github/workflows/slurm-matrix.yml',
  positionals: [],
  options: {
    slurm: { type: 'csv', help: 'Slurm versions (default: all)' },
    gcc: { type: 'csv', help: 'GCC toolchains (default 13.4.0)' },
    flavours: { type: 'csv', help: 'cpu, gpu (default cpu)' },
    arch: {
      type: 'csv',
      help: "x86_64, aarch64 (default x86_64); aarch64 jobs run on GitHub's Arm runners (ubuntu-24.04-arm)",
    },
    os: { type: 'string', arg: 'NAME', help: 'target distro for every entry' },
    schedule: {
      type: 'string',
      arg: 'CRON',
      help: [
        "also run on this schedule: a job runs 'outdated' and fails when a newer Slurm patch",
        'release is out (builds run on dispatch and tags, not on the schedule)',
      ],
    },
    'publish-bucket': {
      type: 'string',
      arg: 'B',
      help: "publish every build to this S3 bucket; credentials come from GitHub's OIDC token",
    },
    'aws-role': {
      type: 'string',
      arg: 'ARN',
      help: 'through this IAM role (id-token: write; no stored AWS keys); needs --aws-region R',
    },
    'aws-region': { type: 'string', arg: 'R', help: 'the region of the bucket and the role' },
    'sign-secret': {
      type: 'string',
      arg: 'NAME',
      help: [
        "repository secret with the ASCII-armored signing key: written to the runner's temp",
        'dir for the build step, passed to the build as a BuildKit secret, removed after',
      ],
    },
    out: { type: 'string', arg: 'FILE', help: 'write there (default: print)' },
  },
  async run({ opts }) {
    const workflow = workflowOptions(opts);
    const source = { what: '--out', given: opts.out, fix: 'give --out a file path in a writable directory' };
    if (opts.out !== undefined) {
      checkUserDir(dirname(resolve(opts.out)), source);
      if (statSync(resolve(opts.out), { throwIfNoEntry: false })?.isDirectory()) {
        throw new ConfigurationError(`--out '${opts.out}' is a directory`, {
          remediation: 'give the path of the workflow file, e.g. .github/workflows/slurm-matrix.yml',
        });
      }
    }
    const text = renderCiWorkflow(
      planMatrix({ slurm: opts.slurm, gcc: opts.gcc, flavours: opts.flavours, os: opts.os, arches: opts.arch }),
      workflow,
    );
    if (!opts.out) {
      process.stdout.write(text);
      return 0;
    }
    const out = resolve(opts.out);
    await replaceUserFile(out, text, source);
    console.log(`wrote ${out}`);
    return 0;
  },
});
