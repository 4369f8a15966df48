/**
 * Docker images the tests build on, made without any registry:
 *   ensureBaseImage('debian12' | 'debian13')  slurm-factory-base:<name>, debootstrap + docker import
 *                                             (scripts/make-base-image.sh; rootfs cached for reruns)
 *   ensureSlurmFixture()                      slurm-factory-fixture:slurm-24.11.5-debian12-REV, a real Slurm in a
 *                                             Spack-like layout (test/fixtures/debian-slurm, ~15 min first time)
 * Both do nothing when the image exists. The scripts' progress goes to this process's stderr; a failure
 * rejects with the script's exit code. Callers check `needDocker` first.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './helpers.ts';

export type BaseImageName = 'debian11' | 'debian12' | 'debian13';

export const SLURM_FIXTURE_VERSION = '24.11.5';
/** A hash of the fixture's Dockerfile and scripts, as build.sh computes it: a changed fixture is a new tag. */
function fixtureRevision(): string {
  const dir = join(repoRoot, 'test/fixtures/debian-slurm');
  const files = [
    'Dockerfile',
    ...readdirSync(dir)
      .filter((f) => f.endsWith('.sh'))
      .sort(),
  ];
  const h = createHash('sha256');
  for (const f of files) h.update(readFileSync(join(dir, f)));
  return h.digest('hex').slice(0, 10);
}
export const SLURM_FIXTURE_IMAGE = `slurm-factory-fixture:slurm-${SLURM_FIXTURE_VERSION}-debian12-${fixtureRevision()}`;
export const baseImageTag = (name: BaseImageName, arch: 'amd64' | 'arm64' = 'amd64') =>
  `slurm-factory-base:${name}${arch === 'arm64' ? '-arm64' : ''}`;

/**
 * The arm64 fixture (test/fixtures/debian-slurm-arm64): the same Slurm cross-compiled for aarch64. Its tag hashes
 * both directories, as its build.sh does (it reuses the x86 fixture's scripts unchanged).
 */
function arm64FixtureRevision(): string {
  const h = createHash('sha256');
  for (const sub of ['debian-slurm-arm64', 'debian-slurm']) {
    const dir = join(repoRoot, 'test/fixtures', sub);
    for (const f of [
      'Dockerfile',
      ...readdirSync(dir)
        .filter((f) => f.endsWith('.sh'))
        .sort(),
    ])
      h.update(readFileSync(join(dir, f)));
  }
  return h.digest('hex').slice(0, 10);
}
export const SLURM_ARM64_FIXTURE_IMAGE = `slurm-factory-fixture:slurm-${SLURM_FIXTURE_VERSION}-debian12-arm64-${arm64FixtureRevision()}`;

/** Where the fixture image keeps things (see test/fixtures/debian-slurm/README.md). */
export const fixtureLayout = {
  view: '/opt/slurm/view',
  specs: '/opt/slurm-factory/specs.json',
  installRoot: '/opt/spack-root',
  sysconfdir: '/etc/slurm',
} as const;

export function imageExists(tag: string): boolean {
  return spawnSync('docker', ['image', 'inspect', tag], { stdio: 'ignore' }).status === 0;
}

/**
 * Runs one of the image scripts under an exclusive lock on the script file itself (flock(1), read-only: nothing
 * is created or written for it), so two test processes that want an image at once, such as a suite and
 * test/prepare-images.ts, build it once: the second waits, then the script finds the image and does nothing.
 */
function runScript(script: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const path = join(repoRoot, script);
    const child = spawn('flock', ['--exclusive', path, 'bash', path, ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${script} ${args.join(' ')} exited with ${code} (its output is above)`)),
    );
  });
}

const pending = new Map<string, Promise<string>>();
function once(tag: string, make: () => Promise<void>): Promise<string> {
  if (imageExists(tag)) return Promise.resolve(tag);
  let p = pending.get(tag);
  if (!p) {
    p = make().then(() => {
      if (!imageExists(tag)) throw new Error(`${tag} is still missing after building it`);
      return tag;
    });
    p.catch(() => pending.delete(tag));
    pending.set(tag, p);
  }
  return p;
}

export function ensureBaseImage(name: BaseImageName, arch: 'amd64' | 'arm64' = 'amd64'): Promise<string> {
  if (name !== 'debian11' && name !== 'debian12' && name !== 'debian13')
    return Promise.reject(new Error(`no base image recipe for '${name}'`));
  return once(baseImageTag(name, arch), () =>
    runScript('scripts/make-base-image.sh', arch === 'amd64' ? [name] : [name, '--arch', arch]),
  );
}

/** The arm64 Slurm fixture (~15-20 min the first time: a cross compile); needs arm64 emulation (needArm64Emulation). */
export function ensureArm64SlurmFixture(): Promise<string> {
  return once(SLURM_ARM64_FIXTURE_IMAGE, () => runScript('test/fixtures/debian-slurm-arm64/build.sh', []));
}

export function ensureSlurmFixture(): Promise<string> {
  return once(SLURM_FIXTURE_IMAGE, () => runScript('test/fixtures/debian-slurm/build.sh', []));
}
