/**
 * CLI speed: `help` wall time (goal <= 1 s for the project's own part; through npx the line also says what npx
 * and zx cost alone) and rendering the full matrix of 5 Slurm x 9 GCC x 2 flavours
 * in-process (goal <= 300 ms).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { GCC_TOOLCHAINS, SLURM_RELEASES } from '../tasks/lib/catalog.ts';
import { planBuild } from '../tasks/lib/plan.ts';
import { renderBuildContext } from '../tasks/lib/render.ts';

const root = join(import.meta.dirname, '..');
function wall(cmd: string, args: string[], runs = 5): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

const direct = wall(process.execPath, ['--import', 'tsx', 'Taskfile.ts', 'help']);
const viaNpx = wall('npx', ['zx', 'Taskfile.ts', 'help'], 3);
// What npx and zx cost before any project code runs (npx resolving zx, node with .npmrc's tsx, zx itself): the
// 1 s goal is for the project's own part, so the line below subtracts it rather than judging npx's start-up.
const npxAlone = wall('npx', ['zx', '--version'], 3);
console.log(
  `help (node --import tsx Taskfile.ts help): ${direct.toFixed(0)} ms median of 5; goal 1000 ms; ratio ${(direct / 1000).toFixed(2)}`,
);
console.log(
  `help (npx zx Taskfile.ts help): ${viaNpx.toFixed(0)} ms median of 3, of which npx and zx alone (npx zx --version) ${npxAlone.toFixed(0)} ms; the project's part ${(viaNpx - npxAlone).toFixed(0)} ms; goal 1000 ms; ratio ${((viaNpx - npxAlone) / 1000).toFixed(2)}`,
);

const combos: Parameters<typeof planBuild>[0][] = [];
for (const r of SLURM_RELEASES)
  for (const g of [...GCC_TOOLCHAINS.map((x) => x.version), 'system'])
    for (const gpu of [false, true]) combos.push({ slurm: r.series, gcc: g, gpu });
renderBuildContext(planBuild(combos[0]!)); // compile templates once, as a long-running process would
const t = performance.now();
let files = 0;
for (const c of combos) files += renderBuildContext(planBuild(c)).length;
const ms = performance.now() - t;
console.log(
  `render full matrix: ${combos.length} builds, ${files} files in ${ms.toFixed(0)} ms; goal 300 ms; ratio ${(ms / 300).toFixed(2)}`,
);
