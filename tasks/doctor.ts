import { defineTask } from './lib/task.ts';
import { CACHE_SUBDIRS, ensureCacheDir, resolveConfig } from './lib/config.ts';
import { dockerStatus } from './lib/docker.ts';
import { SlurmFactoryError } from './lib/errors.ts';
import { checkpoint, interruptible } from './lib/interrupt.ts';
import { accessSync, constants, existsSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** Free GiB on the filesystem that holds `dir`, or where it would be created (its nearest existing parent). */
function freeGiB(dir: string): { gib: number; at: string } {
  let at = dir;
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  const fs = statfsSync(at);
  return { gib: (fs.bavail * fs.bsize) / 2 ** 30, at };
}

export const task = defineTask({
  name: 'doctor',
  summary: 'Check Docker, buildx, BuildKit features, disk and cache directories; print the effective config',
  usage: 'doctor [--builder NAME]',
  example: 'npx zx Taskfile.ts doctor',
  positionals: [],
  options: { builder: { type: 'string', arg: 'NAME', help: 'check this buildx builder instead of the current one' } },
  async run({ opts }) {
    const { $ } = await import('zx');
    const config = resolveConfig();
    const lines: [string, boolean, string][] = [];
    const s = await interruptible(dockerStatus(opts.builder));
    await checkpoint();
    lines.push(['docker client', s.client !== null, s.client ?? 'missing']);
    lines.push(['docker engine', s.engine !== null, s.engine ?? 'not reachable']);
    lines.push(['buildx', s.buildx !== null, s.buildx ?? 'missing']);
    lines.push(['builder', s.builder !== null, `${s.builder ?? '?'} (BuildKit ${s.buildkit ?? '?'})`]);
    if (s.engine && s.buildx) {
      // A real probe: a named context replaces a stage, as the pipeline's outside inputs do.
      const dir = mkdtempSync(join(tmpdir(), 'sf-doctor-'));
      try {
        writeFileSync(
          join(dir, 'Dockerfile'),
          'FROM scratch AS probe-input\nCOPY default.txt /value.txt\nFROM scratch\nCOPY --from=probe-input /value.txt /value.txt\n',
        );
        writeFileSync(join(dir, 'default.txt'), 'default\n');
        const given = mkdtempSync(join(tmpdir(), 'sf-doctor-ctx-'));
        writeFileSync(join(given, 'value.txt'), 'named-context\n');
        const out = join(dir, 'out');
        const r = await interruptible(
          $({
            quiet: true,
            nothrow: true,
          })`docker buildx build ${opts.builder ? ['--builder', opts.builder] : []} --build-context probe-input=${given} --output type=local,dest=${out} ${dir}`,
        );
        let ok = false;
        try {
          ok =
            r.exitCode === 0 &&
            (await import('node:fs')).readFileSync(join(out, 'value.txt'), 'utf8') === 'named-context\n';
        } catch {
          ok = false;
        }
        lines.push([
          'named build contexts',
          ok,
          ok ? 'a named context replaced a stage' : `probe failed: ${r.stderr.trim().split('\n').pop()}`,
        ]);
        rmSync(given, { recursive: true, force: true });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      await checkpoint();
    }
    for (const sub of CACHE_SUBDIRS) {
      let ok = true;
      let note = '';
      // A home that cannot hold the caches (a file, read-only, /proc) is a failing row, not a crash.
      try {
        const d = ensureCacheDir(config, sub);
        accessSync(d, constants.W_OK);
        note = d;
      } catch (e) {
        ok = false;
        note =
          e instanceof SlurmFactoryError
            ? e.oneLine()
            : `${(e as Error).message} (set SLURM_FACTORY_HOME to a writable directory)`;
      }
      lines.push([`cache ${sub}/`, ok, note]);
    }
    try {
      const free = freeGiB(config.home);
      lines.push([
        'free disk',
        free.gib >= 30,
        `${free.gib.toFixed(1)} GiB at ${free.at}${free.gib < 30 ? ' (a full build needs about 30 GiB: free space or move SLURM_FACTORY_HOME)' : ''}`,
      ]);
    } catch (e) {
      lines.push([
        'free disk',
        false,
        `cannot tell for ${config.home}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (set SLURM_FACTORY_HOME to a writable directory)`,
      ]);
    }

    console.log(`SLURM_FACTORY_HOME = ${config.home} (${config.sources.home})`);
    if (config.bucket !== undefined) console.log(`SLURM_FACTORY_BUCKET = ${config.bucket} (publish's default bucket)`);
    if (config.sourceDateEpoch !== undefined)
      console.log(`SOURCE_DATE_EPOCH = ${config.sourceDateEpoch} (builds use it for every timestamp)`);
    for (const [what, ok, note] of lines) console.log(`${ok ? 'ok  ' : 'FAIL'}  ${what.padEnd(22)} ${note}`);
    for (const p of s.problems) console.log(`fix: ${p.what}: ${p.fix}`);
    return lines.every(([, ok]) => ok) ? 0 : 1;
  },
});
