/**
 * Pure parts of `verify`: checksum files, glibc comparisons, which images a build claims to support, and the
 * pass/fail table. The task (tasks/verify.ts) runs the containers.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as tar from 'tar';
import { OS_TARGETS, type OsTarget } from './catalog.ts';
import { VerifyError } from './errors.ts';
import { sidecarOf } from './artifacts.ts';
import { compareVersions } from './releases.ts';

export { compareVersions };

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Checks `<tarball>.sha256` (sha256sum format). Missing: a VerifyError unless allowMissing, in which case the
 * result says so. A mismatch names the file and both digests.
 */
export async function checkChecksum(
  tarball: string,
  allowMissing: boolean,
): Promise<{ status: 'ok' | 'missing'; detail: string; sha256?: string }> {
  const sumFile = sidecarOf(tarball, 'sha256');
  if (!existsSync(sumFile)) {
    if (allowMissing) return { status: 'missing', detail: `${basename(sumFile)} missing; not checked (--no-checksum)` };
    throw new VerifyError(`${basename(sumFile)} is missing beside ${tarball}`, {
      remediation: 'copy the .sha256 that came with the tarball next to it, or pass --no-checksum to skip the check',
    });
  }
  const line = readFileSync(sumFile, 'utf8').trim().split('\n')[0] ?? '';
  const m = /^([0-9a-f]{64})\s+\*?(.+)$/.exec(line);
  if (!m) {
    throw new VerifyError(`${basename(sumFile)} is not in sha256sum format`, {
      remediation: 'expected "<64 hex digits>  <file name>"',
    });
  }
  if (basename(m[2]!) !== basename(tarball)) {
    throw new VerifyError(`${basename(sumFile)} is for '${m[2]}', not ${basename(tarball)}`, {
      remediation: 'use the .sha256 that came with this tarball',
    });
  }
  const actual = await sha256File(tarball);
  if (actual !== m[1]) {
    throw new VerifyError(`${basename(tarball)} does not match its checksum (expected ${m[1]}, got ${actual})`, {
      remediation: 'the file was changed or truncated: download it again',
    });
  }
  return { status: 'ok', detail: `sha256 ${actual.slice(0, 16)}… matches`, sha256: actual };
}

/** The catalog images a package with this glibc floor should run on (same or newer glibc). */
export function supportedTargets(glibcFloor: string): OsTarget[] {
  return OS_TARGETS.filter((o) => compareVersions(o.glibc, glibcFloor) >= 0);
}

/** Reads a glibc version from `ldd --version` or `getconf GNU_LIBC_VERSION` output. */
export function parseGlibcVersion(text: string): string | null {
  const m = /(?:glibc|GLIBC|GNU libc)[^\n]*?(\d+\.\d+)/.exec(text) ?? /\b(2\.\d+)\b/.exec(text);
  return m ? m[1]! : null;
}

export type StepResult = { step: string; ok: boolean | null; detail: string };

export function resultTable(rows: { image: string; steps: StepResult[] }[]): string {
  const lines: string[] = [];
  const w = Math.max(12, ...rows.flatMap((r) => r.steps.map((s) => s.step.length)));
  for (const r of rows) {
    const ok = r.steps.every((s) => s.ok !== false);
    lines.push(`${ok ? 'PASS' : 'FAIL'}  ${r.image}`);
    for (const s of r.steps)
      lines.push(`  ${s.ok === null ? 'skip' : s.ok ? 'ok  ' : 'FAIL'}  ${s.step.padEnd(w)}  ${s.detail}`);
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------------------------- tarball members

/** What the member list of a package tarball says, once every member was found safe to unpack. */
export interface TarballInspection {
  /** manifest.json parsed (null when it is not JSON). */
  manifest: any;
  members: number;
}

const REGULAR = new Set(['File', 'OldFile', 'ContiguousFile']);
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Symlink expansions allowed in all (a crafted chain could otherwise make the resolution exponential). */
const MAX_LINK_STEPS = 200_000;

/** Member path as components, without '.' and empty parts ('./view/bin/' -> ['view', 'bin']). */
function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * Where a symlink target lands when resolved from directory `dir` inside the tree, following the archive's
 * own symlinks like the kernel would after unpacking; null when it leaves the tree or loops.
 */
function resolveInTree(
  dir: string[],
  target: string,
  links: ReadonlyMap<string, string>,
  budget: { steps: number },
  depth = 0,
): string[] | null {
  if (target.startsWith('/') || depth > 40) return null;
  let stack = [...dir];
  for (const c of target.split('/')) {
    if (c === '' || c === '.') continue;
    if (--budget.steps < 0) return null;
    if (c === '..') {
      if (stack.length === 0) return null;
      stack.pop();
      continue;
    }
    stack.push(c);
    const next = links.get(stack.join('/'));
    if (next !== undefined) {
      const r = resolveInTree(stack.slice(0, -1), next, links, budget, depth + 1);
      if (r === null) return null;
      stack = r;
    }
  }
  return stack;
}

/**
 * Reads the member list of a package tarball on the host (streaming, nothing written to disk) and refuses,
 * before anything unpacks it, what could reach outside the directory it is unpacked into or is not a package:
 * a file that is not gzip or not a readable tar; members with '..' components or absolute paths; symlinks that
 * are absolute or resolve (through the archive's own symlinks) outside the tree or in a loop; hardlinks to
 * anything but an earlier regular file of the archive (pack-tarball.sh keeps the view's hardlinks); device,
 * fifo and other special members; no view/ or no top-level manifest.json. Throws one VerifyError (exit 2)
 * naming the tarball and the member.
 */
export async function inspectTarball(tarball: string): Promise<TarballInspection> {
  const name = basename(tarball);
  const refuse = (what: string) =>
    new VerifyError(`${name}: ${what}`, {
      exitCode: 2,
      remediation: 'refused before anything was unpacked; verify only tarballs made by slurm-factory (pack-tarball.sh)',
    });
  const magic = Buffer.alloc(2);
  const fd = fs.openSync(tarball, 'r');
  let got: number;
  try {
    got = fs.readSync(fd, magic, 0, 2, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (got < 2 || magic[0] !== 0x1f || magic[1] !== 0x8b) {
    throw refuse(
      got === 0
        ? "the file is empty, not a gzip'ed tar"
        : `not a gzip file (its first bytes are ${magic.subarray(0, got).toString('hex')}; gzip starts with 1f8b)`,
    );
  }

  const types = new Map<string, string>();
  const links = new Map<string, string>();
  const rawNames = new Map<string, string>();
  let bad: VerifyError | undefined;
  let manifest: Buffer[] | undefined;
  let manifestBytes = 0;
  let members = 0;
  let hasView = false;
  try {
    await tar.t({
      file: tarball,
      strict: true,
      onReadEntry: (entry) => {
        members++;
        if (bad) return;
        const raw = entry.path;
        const parts = components(raw);
        const path = parts.join('/');
        if (raw.startsWith('/')) {
          bad = refuse(`member '${raw}' has an absolute path`);
          return;
        }
        if (raw.split('/').includes('..')) {
          bad = refuse(`member '${raw}' has a '..' component`);
          return;
        }
        if (parts.length === 0 && entry.type !== 'Directory') {
          bad = refuse(`member '${raw}' (${entry.type}) has no name`);
          return;
        }
        if (parts[0] === 'view') hasView = true;
        const link = entry.linkpath ?? '';
        if (entry.type === 'SymbolicLink') {
          if (link.startsWith('/')) {
            bad = refuse(`member '${raw}' is a symlink to the absolute path '${link}'`);
            return;
          }
          links.set(path, link);
          rawNames.set(path, raw);
        } else if (entry.type === 'Link') {
          const target = components(link).join('/');
          if (link.startsWith('/') || link.split('/').includes('..') || !REGULAR.has(types.get(target) ?? '')) {
            bad = refuse(
              `member '${raw}' is a hardlink to '${link}', which is not an earlier regular file of the tarball`,
            );
            return;
          }
        } else if (!REGULAR.has(entry.type) && entry.type !== 'Directory') {
          bad = refuse(
            `member '${raw}' is a ${entry.type} (only files, directories and links inside the tree are allowed)`,
          );
          return;
        }
        types.set(path, entry.type);
        if (path === 'manifest.json' && REGULAR.has(entry.type)) {
          manifest = [];
          entry.on('data', (d: Buffer) => {
            manifestBytes += d.length;
            if (manifestBytes <= MAX_MANIFEST_BYTES) manifest!.push(d);
          });
        }
      },
    });
  } catch (err) {
    if (bad) throw bad;
    const e = err as { code?: string; message?: string };
    throw refuse(`not a readable gzip'ed tar (${[e.code, e.message].filter(Boolean).join(': ')})`);
  }
  if (bad) throw bad;
  const budget = { steps: MAX_LINK_STEPS };
  for (const [path, target] of links) {
    if (resolveInTree(components(path).slice(0, -1), target, links, budget) === null) {
      throw refuse(
        budget.steps < 0
          ? `its symlinks take more than ${MAX_LINK_STEPS} steps to resolve (at '${rawNames.get(path)}')`
          : `member '${rawNames.get(path)}' is a symlink to '${target}', which resolves outside the tarball's tree (or loops)`,
      );
    }
  }
  if (!hasView) throw refuse('no view/ directory: not a slurm-factory package');
  if (manifest === undefined) throw refuse('no manifest.json at the top of the tarball: not a slurm-factory package');
  if (manifestBytes > MAX_MANIFEST_BYTES)
    throw refuse(`manifest.json is ${manifestBytes} bytes, more than a manifest can be`);
  let parsed: any = null;
  try {
    parsed = JSON.parse(Buffer.concat(manifest).toString('utf8'));
  } catch {
    parsed = null;
  }
  return { manifest: parsed, members };
}

// ------------------------------------------------------------------------------------- logs out of containers

export interface CopyResult {
  files: number;
  bytes: number;
  skipped: string[];
  removed: string[];
}

/** Creates dest/parts... one directory at a time, refusing anything on the way that is not a real directory. */
function mkdirInside(dest: string, parts: readonly string[]): string {
  let p = dest;
  for (const c of parts) {
    p = join(p, c);
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!st) fs.mkdirSync(p, { mode: 0o700 });
    else if (!st.isDirectory()) throw new Error(`${p} exists and is not a directory`);
  }
  return p;
}

/**
 * Unpacks only the regular files (and the directories holding them) of a tar stream into `dest`, an existing
 * directory: the first path component (docker cp names the archive root after the source) is dropped,
 * members with absolute paths or '..' are skipped, as are symlinks, hardlinks, devices and fifos, and every
 * file is created with O_CREAT|O_EXCL|O_NOFOLLOW, so nothing is written through a link or outside `dest`.
 * `keep(rel)` chooses files by their path below the root; at most `maxBytes` are written. Then `dest` is
 * walked (without following links) and anything that is not a regular file or directory is removed.
 */
export async function copyRegularFiles(
  source: NodeJS.ReadableStream,
  dest: string,
  keep: (rel: string) => boolean = () => true,
  maxBytes = 256 * 1024 * 1024,
): Promise<CopyResult> {
  // No await before the pipe below: Node discards a child's unread stdout when the child exits.
  const st = fs.lstatSync(dest, { throwIfNoEntry: false });
  if (!st?.isDirectory()) throw new Error(`${dest} is not a directory`);
  const out: CopyResult = { files: 0, bytes: 0, skipped: [], removed: [] };
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const parser = tar.t({
    strict: true,
    onReadEntry: (entry) => {
      const raw = entry.path;
      const parts = components(raw).slice(1);
      const rel = parts.join('/');
      if (raw.startsWith('/') || raw.split('/').includes('..')) {
        out.skipped.push(`${raw} (unsafe path)`);
        return;
      }
      if (parts.length === 0) return;
      if (entry.type === 'Directory') return; // made on demand for the files it holds
      if (!REGULAR.has(entry.type)) {
        out.skipped.push(`${rel} (${entry.type})`);
        return;
      }
      if (!keep(rel)) return;
      if (out.bytes + entry.size > maxBytes) {
        out.skipped.push(`${rel} (over ${maxBytes} bytes in all)`);
        return;
      }
      let fd: number;
      try {
        fd = fs.openSync(
          join(mkdirInside(dest, parts.slice(0, -1)), parts.at(-1)!),
          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
          0o600,
        );
      } catch (err) {
        out.skipped.push(`${rel} (${(err as Error).message})`);
        return;
      }
      out.files++;
      entry.on('data', (d: Buffer) => {
        fs.writeSync(fd, d);
        out.bytes += d.length;
      });
      entry.on('end', () => fs.closeSync(fd));
    },
  });
  await new Promise<void>((resolve, reject) => {
    parser.on('end', () => resolve());
    parser.on('error', reject);
    source.on('error', reject);
    source.pipe(parser as unknown as NodeJS.WritableStream);
  });
  // Then check: only regular files and directories may be left.
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (!e.isFile()) {
        fs.rmSync(p, { force: true });
        out.removed.push(p);
      }
    }
  };
  walk(dest);
  return out;
}
