/**
 * Pure parts of `verify`: checksum files, glibc comparisons, which images a build claims to support, and the
 * pass/fail table. The task (tasks/verify.ts) runs the containers.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { OS_TARGETS, type OsTarget } from './catalog.ts';
import { VerifyError } from './errors.ts';

/** Compares dotted versions numerically: -1, 0, 1. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Checks `<tarball>.sha256` (sha256sum format). Missing: a VerifyError unless allowMissing, in which case the
 * result says so. A mismatch names the file and both digests.
 */
export async function checkChecksum(tarball: string, allowMissing: boolean): Promise<{ status: 'ok' | 'missing'; detail: string; sha256?: string }> {
  const sumFile = `${tarball}.sha256`;
  if (!existsSync(sumFile)) {
    if (allowMissing) return { status: 'missing', detail: `${basename(sumFile)} missing; not checked (--no-checksum)` };
    throw new VerifyError(`${basename(sumFile)} is missing beside ${tarball}`, {
      remediation: 'copy the .sha256 that came with the tarball next to it, or pass --no-checksum to skip the check',
    });
  }
  const line = readFileSync(sumFile, 'utf8').trim().split('\n')[0] ?? '';
  const m = /^([0-9a-f]{64})\s+\*?(.+)$/.exec(line);
  if (!m) {
    throw new VerifyError(`${basename(sumFile)} is not in sha256sum format`, { remediation: 'expected "<64 hex digits>  <file name>"' });
  }
  if (basename(m[2]!) !== basename(tarball)) {
    throw new VerifyError(`${basename(sumFile)} is for '${m[2]}', not ${basename(tarball)}`, { remediation: 'use the .sha256 that came with this tarball' });
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
    for (const s of r.steps) lines.push(`  ${s.ok === null ? 'skip' : s.ok ? 'ok  ' : 'FAIL'}  ${s.step.padEnd(w)}  ${s.detail}`);
  }
  return lines.join('\n');
}
