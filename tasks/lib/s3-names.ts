/** Names S3 and AWS accept, checked before anything is sent or rendered (publish, ci-matrix). */
import { ConfigurationError } from './errors.ts';

export function checkBucket(b: string): string {
  // S3 bucket naming rules (lower case, digits, dots, hyphens; 3-63; starts and ends alphanumeric; not an IP).
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(b) || /\.\.|\.-|-\./.test(b) || /^\d+\.\d+\.\d+\.\d+$/.test(b)) {
    throw new ConfigurationError(`bucket '${b}' is not a valid S3 bucket name`, {
      remediation: 'use 3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit',
    });
  }
  return b;
}

/** An IAM role ARN, e.g. arn:aws:iam::123456789012:role/slurm-factory-publish. */
export function checkRoleArn(arn: string): string {
  if (!/^arn:aws(-[a-z]+)*:iam::\d{12}:role\/[\w+=,.@\/-]{1,512}$/.test(arn)) {
    throw new ConfigurationError(`--aws-role '${arn}' is not an IAM role ARN`, {
      remediation:
        'give the role GitHub assumes through OIDC, e.g. arn:aws:iam::123456789012:role/slurm-factory-publish',
    });
  }
  return arn;
}

/** An AWS region name, e.g. us-east-1. */
export function checkRegion(r: string, flag = '--region'): string {
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(r)) {
    throw new ConfigurationError(`${flag} '${r}' is not an AWS region name`, { remediation: `e.g. ${flag} us-east-1` });
  }
  return r;
}
