/**
 * Packing speed: scripts/package/pack-tarball.sh (sorted GNU tar, fixed mtime, numeric owners, gzip -n, sha256
 * while writing) against plain `tar -cf - view | gzip` on the same generated tree of a few hundred MB of mixed
 * files (incompressible "binaries", compressible text, many small files, hardlinks, symlinks). Goal: <= 1.5x.
 * One measured run of each, after a warm-up read of the tree so both start from a hot page cache.
 *
 *   node --import tsx bench/pack.bench.ts [MB]      # default 300
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const root = join(import.meta.dirname, '..');
const totalMB = Number(process.argv[2] ?? 300);
const work = mkdtempSync(join(tmpdir(), 'sf-pack-bench-'));

// A small deterministic PRNG for text, so the tree is the same shape every run.
let seed = 12345;
const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
const WORDS =
  'slurm job node partition cpu memory gres plugin cgroup step task account qos reservation license burst buffer'.split(
    ' ',
  );
function text(bytes: number): string {
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    const line = `#define SLURM_${WORDS[Math.floor(rand() * WORDS.length)]!.toUpperCase()}_${Math.floor(rand() * 1e6)} ${Math.floor(rand() * 1e9)} /* ${WORDS[Math.floor(rand() * WORDS.length)]} */\n`;
    parts.push(line);
    n += line.length;
  }
  return parts.join('');
}

function generate(view: string): { files: number; bytes: number } {
  let files = 0,
    bytes = 0;
  const put = (rel: string, content: string | Buffer) => {
    const p = join(view, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, content);
    files++;
    bytes += content.length;
  };
  const budget = totalMB * 1024 * 1024;
  // ~35% incompressible binaries (libraries and plugins), 1-4 MB each.
  for (let i = 0; bytes < budget * 0.35; i++)
    put(`lib/slurm/plugin_${i}.so`, randomBytes(1_048_576 + Math.floor(rand() * 3_145_728)));
  // ~55% compressible text (headers, man pages, configs), 20-200 KB each.
  for (let i = 0; bytes < budget * 0.9; i++)
    put(`include/slurm/sub${i % 40}/header_${i}.h`, text(20_000 + Math.floor(rand() * 180_000)));
  // The rest as many small files (1-4 KB), half text, half binary.
  for (let i = 0; bytes < budget; i++) {
    put(
      `share/small/d${i % 100}/f${i}`,
      i % 2 ? text(1024 + Math.floor(rand() * 3072)) : randomBytes(1024 + Math.floor(rand() * 3072)),
    );
  }
  mkdirSync(join(view, 'bin'), { recursive: true });
  for (let i = 0; i < 50; i++) {
    linkSync(join(view, `lib/slurm/plugin_${i % 10}.so`), join(view, `bin/tool_${i}`));
    symlinkSync(`../lib/slurm/plugin_${i % 10}.so`, join(view, `bin/link_${i}`));
  }
  return { files, bytes };
}

function timed(label: string, cmd: string, args: string[]): number {
  const t = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const s = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`${label} failed: ${r.stderr}`);
  return s;
}

try {
  const view = join(work, 'view');
  const t0 = performance.now();
  const { files, bytes } = generate(view);
  console.log(
    `generated ${files} files, ${(bytes / 1048576).toFixed(0)} MiB (+50 hardlinks, 50 symlinks) in ${((performance.now() - t0) / 1000).toFixed(1)} s under ${work}`,
  );
  const stage = join(work, 'stage');
  mkdirSync(stage);
  writeFileSync(join(stage, 'manifest.json'), '{}\n');

  timed('warm-up', 'tar', ['-cf', '/dev/null', '-C', work, 'view']); // page cache hot for both runs

  const plain = timed('tar | gzip', 'bash', [
    '-c',
    'set -o pipefail; tar -cf - -C "$1" view | gzip > "$2"',
    'bash',
    work,
    join(work, 'plain.tar.gz'),
  ]);
  const ours = timed('pack-tarball.sh', 'bash', [
    join(root, 'scripts/package/pack-tarball.sh'),
    '--view',
    view,
    '--stage',
    stage,
    '--out',
    join(work, 'ours.tar.gz'),
    '--mtime',
    '1700000000',
  ]);
  const size = (f: string) => (statSync(join(work, f)).size / 1048576).toFixed(1);
  console.log(`plain  tar -cf - view | gzip:            ${plain.toFixed(2)} s, ${size('plain.tar.gz')} MiB`);
  console.log(`ours   pack-tarball.sh (sorted, sha256):  ${ours.toFixed(2)} s, ${size('ours.tar.gz')} MiB`);
  console.log(
    `ratio ours/plain: ${(ours / plain).toFixed(2)} (goal <= 1.50) — one run each, ${files} files, ${(bytes / 1048576).toFixed(0)} MiB`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
