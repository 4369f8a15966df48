/**
 * Shared test helpers. Tests drive real tools; when a tool or service is absent, the test is registered with
 * uvu's `test.skip` and the reason is printed on its own line (`SKIP <name>: <reason>`), so a skipped test is
 * never silent and never counted as passed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'uvu';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Returns the reason a requirement is missing, or null when it is met. */
export type Requirement = () => string | null;

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export const needCommand =
  (cmd: string, installHint: string): Requirement =>
  () =>
    hasCommand(cmd) ? null : `'${cmd}' is not installed (${installHint})`;

/** A Docker image that must already exist (built by `how`, which the skip line names). */
export const needImage =
  (tag: string, how: string): Requirement =>
  () =>
    spawnSync('docker', ['image', 'inspect', tag], { stdio: 'ignore' }).status === 0
      ? null
      : `image ${tag} is missing (${how})`;

export const needDocker: Requirement = () => {
  if (!hasCommand('docker')) return 'no docker client (run scripts/setup-docker.sh as root)';
  if (spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 }).status !== 0)
    return 'no Docker engine answers `docker info` (run scripts/setup-docker.sh as root)';
  if (spawnSync('docker', ['buildx', 'version'], { stdio: 'ignore' }).status !== 0)
    return 'docker buildx is missing (run scripts/setup-docker.sh as root)';
  return null;
};

/**
 * `testIf(test, [requirements...])` returns a function with the signature of `test`: it registers the test
 * normally when every requirement is met, otherwise registers it skipped and prints why.
 */
export function testIf(suite: Test, requirements: Requirement[]) {
  let reason: string | null = null;
  for (const r of requirements) {
    reason = r();
    if (reason) break;
  }
  return (name: string, fn: Parameters<Test>[1]) => {
    if (reason) {
      console.log(`SKIP ${name}: ${reason}`);
      suite.skip(name, fn);
    } else {
      suite(name, fn);
    }
  };
}

export function tempDir(prefix = 'sf-test-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Runs `fn` with a fresh temporary directory and removes it afterwards, also when `fn` throws or rejects. */
export function withTempDir<T>(fn: (dir: string) => T, prefix = 'sf-test-'): T {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  let result: T;
  try {
    result = fn(dir);
  } catch (err) {
    cleanup();
    throw err;
  }
  if (result instanceof Promise) return result.finally(cleanup) as T;
  cleanup();
  return result;
}

/** Runs the CLI exactly as a user does (`node Taskfile.ts` with tsx), returning status and output. */
export function runCli(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'Taskfile.ts'), ...args], {
    cwd: opts.cwd ?? repoRoot,
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', ...opts.env },
    encoding: 'utf8',
    timeout: 600_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function sh(cmd: string, opts: { cwd?: string; env?: Record<string, string> } = {}): string {
  return execFileSync('bash', ['-c', cmd], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, encoding: 'utf8' });
}

/**
 * A throwaway GnuPG home at `home` (created, mode 700) with `publicKeys` imported. The runner adds --homedir,
 * --batch and --status-fd 1 (machine-readable status such as VALIDSIG on stdout; gpg's own words on stderr).
 */
export function gpgHome(home: string, ...publicKeys: string[]) {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const gpg = (...args: string[]) =>
    spawnSync('gpg', ['--homedir', home, '--batch', '--status-fd', '1', ...args], { encoding: 'utf8' });
  for (const k of publicKeys) {
    const r = gpg('--import', k);
    if (r.status !== 0) throw new Error(`gpg --import ${k}: ${r.stderr}`);
  }
  return gpg;
}

/** arm64 binaries run here (binfmt_misc + qemu-user-static, registered by scripts/setup-arm64.sh). */
export const needArm64Emulation: Requirement = () =>
  spawnSync('bash', [join(repoRoot, 'scripts/setup-arm64.sh'), '--check'], { stdio: 'ignore' }).status === 0
    ? null
    : 'arm64 binaries do not run here (no qemu-aarch64 in binfmt_misc): run scripts/setup-arm64.sh as root';
