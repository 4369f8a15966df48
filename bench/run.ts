/**
 * Benchmarks: `npm run bench [-- NAME]` runs every bench/*.bench.ts (or those whose name contains NAME), each
 * in its own process. Each prints what it measured in this run and the ratio against its goal; benchmarks
 * report, they do not fail the test suite.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
let failed = 0;
for (const f of files) {
  console.log(`\n=== ${f}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, f)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`${f} exited ${r.status}`);
  }
}
process.exitCode = failed > 0 ? 1 : 0;
