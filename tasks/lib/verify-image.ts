/**
 * One image of `verify`: the container must run as the package's architecture and have a glibc at least its
 * floor; then scripts/verify/node-check.sh unpacks the tarball at the prefix and runs the one-node cluster
 * (every daemon with --full). A failing check copies the daemon logs and *.conf files out (regular files only:
 * what the container left is untrusted). The per-image Docker steps, moved out of tasks/verify.ts.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { compareVersions, copyRegularFiles, parseGlibcVersion } from './verify.ts';

/**
 * A new directory for a failed run's logs (mode 0700), its parent made as needed: the last level is created
 * without `recursive`, so anything already at that name (a link to a directory elsewhere above all) fails with
 * EEXIST instead of receiving the files.
 */
export function newLogDir(dir: string): void {
  mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
  mkdirSync(dir, { mode: 0o700 });
}

export interface VerifyStep {
  step: string;
  ok: boolean | null;
  detail: string;
}

export interface ImageCheck {
  image: string;
  /** BuildKit/Docker platform (linux/amd64, linux/arm64) and the `uname -m` it must report. */
  platform: string;
  arch: string;
  floor: string;
  tarball: string;
  /** scripts/verify/node-check.sh on the host. */
  script: string;
  prefix: string;
  moduleName: string;
  dbHost?: string;
  full: boolean;
  logsRoot: string;
  /** The container's name. */
  name: string;
  /** Keep the container (the caller prints how to enter it). */
  keep: boolean;
}

/** Runs the checks on one image; `container` is the kept container's name, or null when none is left. */
export async function verifyImage(o: ImageCheck): Promise<{ steps: VerifyStep[]; container: string | null }> {
  const { $ } = await import('zx');
  const q = $({ quiet: true, nothrow: true });
  const steps: VerifyStep[] = [];
  const u = await q`docker run --rm --platform ${o.platform} --entrypoint uname ${o.image} -m`;
  if (u.exitCode !== 0 || u.stdout.trim() !== o.arch) {
    const why = u.exitCode !== 0 ? (u.stderr || u.stdout).trim().split('\n').pop() : `it runs as ${u.stdout.trim()}`;
    steps.push({
      step: 'arch',
      ok: false,
      detail: `${o.image} does not run as ${o.platform}: ${why}${/exec format/i.test(why ?? '') ? ' (no emulation: run scripts/setup-arm64.sh as root)' : ''}`,
    });
    return { steps, container: null };
  }
  steps.push({ step: 'arch', ok: true, detail: `${o.image} runs as ${o.platform} (uname -m: ${o.arch})` });
  const g = await q`docker run --rm --platform ${o.platform} --entrypoint getconf ${o.image} GNU_LIBC_VERSION`;
  const glibc = g.exitCode === 0 ? parseGlibcVersion(g.stdout) : null;
  if (!glibc) {
    steps.push({
      step: 'glibc',
      ok: false,
      detail: `cannot run ${o.image}: ${(g.stderr || g.stdout).trim().split('\n').pop()}`,
    });
    return { steps, container: null };
  }
  if (compareVersions(glibc, o.floor) < 0) {
    steps.push({
      step: 'glibc',
      ok: false,
      detail: `${o.image} has glibc ${glibc}, older than the package's floor ${o.floor}: build with an older base image (--os)`,
    });
    return { steps, container: null };
  }
  steps.push({ step: 'glibc', ok: true, detail: `${o.image} has glibc ${glibc} >= floor ${o.floor}` });
  const name = o.name;
  const started =
    await q`docker run -d --platform ${o.platform} --name ${name} --hostname slurm-verify --entrypoint sleep -v ${o.tarball}:/tmp/package.tar.gz:ro -v ${o.script}:/usr/local/bin/node-check.sh:ro ${o.image} infinity`;
  if (started.exitCode !== 0) {
    steps.push({ step: 'container', ok: false, detail: started.stderr.trim().split('\n').pop() ?? '' });
    return { steps, container: null };
  }
  try {
    const envArgs = o.dbHost ? ['-e', `NODE_CHECK_DB_HOST=${o.dbHost}`] : [];
    const r =
      await q`docker exec ${envArgs} ${name} bash /usr/local/bin/node-check.sh /tmp/package.tar.gz ${o.prefix} ${o.moduleName} ${o.full ? 'full' : ''}`;
    for (const line of r.stdout.split('\n')) {
      const m = /^STEP (\S+) (ok|FAIL) ?(.*)$/.exec(line);
      if (m) steps.push({ step: m[1]!, ok: m[2] === 'ok', detail: m[3]! });
    }
    if (r.exitCode !== 0 && !steps.some((s) => s.ok === false)) {
      steps.push({
        step: 'node-check',
        ok: false,
        detail: `exited ${r.exitCode}: ${(r.stderr || r.stdout).trim().split('\n').pop()}`,
      });
    }
    if (steps.some((s) => s.ok === false)) {
      const dir = join(
        o.logsRoot,
        `verify-${basename(o.tarball, '.tar.gz')}-${o.image.replace(/[^A-Za-z0-9.]+/g, '-')}-${Date.now()}`,
      );
      newLogDir(dir);
      // What the container left is untrusted: only its regular files come out (never a symlink, device or
      // fifo, nothing written through a link), read from docker cp's archive stream.
      const copyOut = async (src: string, sub: string, keep?: (rel: string) => boolean) => {
        const into = join(dir, sub);
        mkdirSync(into, { mode: 0o700 });
        const p = spawn('docker', ['cp', `${name}:${src}`, '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let err = '';
        p.stderr.on('data', (d: Buffer) => {
          err += d.toString();
        });
        const exited = new Promise<number>((res) => p.on('close', (c) => res(c ?? 1)));
        const r = await copyRegularFiles(p.stdout, into, keep).catch((e: Error) => {
          p.stdout.unpipe();
          p.stdout.resume(); // let docker cp finish writing into nowhere
          return { files: 0, skipped: [`unreadable archive (${e.message})`], removed: [] as string[] };
        });
        if ((await exited) !== 0) return `${src}: not copied (${err.trim().split('\n').pop()})`;
        const dropped = [...r.skipped, ...r.removed];
        return `${src}: ${r.files} files${dropped.length > 0 ? `, left out ${dropped.length} (${dropped.slice(0, 3).join(', ')}${dropped.length > 3 ? ', ...' : ''})` : ''}`;
      };
      const logs = await copyOut('/var/log/slurm', 'slurm');
      // The configuration, but never its keys (slurm.key, jwt_hs256.key) or the accounting SQL.
      const confs = await copyOut('/etc/slurm', 'etc-slurm', (rel) => /^[\w.-]+\.conf$/.test(rel));
      steps.push({ step: 'logs', ok: null, detail: `daemon logs and config kept in ${dir} (${logs}; ${confs})` });
    }
  } finally {
    if (!o.keep) await q`docker rm -f ${name}`;
  }
  return { steps, container: o.keep ? o.name : null };
}
