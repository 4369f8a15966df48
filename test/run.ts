/**
 * Test runner: runs every test/*.test.ts file in its own Node process (uvu suites), streams its output, and
 * closes with one line `N passed, N failed, N skipped` summed over all files. A file that dies without uvu's
 * summary counts as one failure. Exit code 1 when anything failed.
 *
 *   npm test                   # everything (Docker tests skip, loudly, when no engine answers)
 *   npm test -- relocate       # only files whose name contains "relocate"
 *   npm run test:unit          # only files that need neither Docker nor network services
 *
 * Files are run in name order; files named `*.docker.test.ts` need a Docker engine and run last. When any of
 * those is selected and an engine answers, test/prepare-images.ts builds the images they use in the background
 * from the start (overlapping the unit tests) and the first Docker suite waits for it;
 * SLURM_FACTORY_TEST_PREPARE=0 turns that off.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const onlyUnit = args.includes('--only-unit');
const filters = args.filter((a) => !a.startsWith('--'));

const files = readdirSync(here)
  .filter((f) => f.endsWith('.test.ts'))
  .filter((f) => !onlyUnit || !f.endsWith('.docker.test.ts'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort((a, b) => Number(a.endsWith('.docker.test.ts')) - Number(b.endsWith('.docker.test.ts')) || a.localeCompare(b));

const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

function runFile(file: string): Promise<{ passed: number; failed: number; skipped: number; seconds: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, file)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      process.stdout.write(d);
    });
    child.stderr.on('data', (d) => process.stderr.write(d));
    child.on('close', (code) => {
      const text = strip(out);
      const num = (label: string) => {
        const all = [...text.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'gm'))];
        return all.reduce((sum, m) => sum + Number(m[1]), 0);
      };
      const seen = /^\s*Total:\s+\d+/m.test(text);
      const total = num('Total');
      const passed = num('Passed');
      const skipped = num('Skipped');
      let failed = total - passed;
      if (!seen || (code !== 0 && failed === 0)) {
        console.log(`FAIL ${file}: exited ${code} ${seen ? 'after its summary' : 'without a uvu summary'}`);
        failed += 1;
      }
      resolve({ passed, failed, skipped, seconds: (Date.now() - started) / 1000 });
    });
  });
}

/** The image builds, started now when Docker suites will run (see the header). */
async function startPrepare(): Promise<(() => Promise<void>) | null> {
  if (process.env.SLURM_FACTORY_TEST_PREPARE === '0' || !files.some((f) => f.endsWith('.docker.test.ts'))) return null;
  const { needDocker } = await import('./helpers.ts');
  if (needDocker()) return null; // the Docker suites skip, each saying why
  const { prepareImages, summary } = await import('./prepare-images.ts');
  const started = Date.now();
  console.log("[prepare] building the Docker suites' images in the background (test/prepare-images.ts)");
  const done = prepareImages((line) => console.log(`[prepare] ${line}`));
  return async () => {
    const r = await done;
    const waited = Math.round((Date.now() - started) / 1000);
    console.log(`[prepare] ${summary(r)} (the Docker suites start ${waited} s after the run began)`);
  };
}
const prepared = await startPrepare();

let passed = 0,
  failed = 0,
  skipped = 0;
const timings: string[] = [];
let waitedForImages = false;
for (const file of files) {
  if (prepared && !waitedForImages && file.endsWith('.docker.test.ts')) {
    waitedForImages = true;
    await prepared();
  }
  console.log(`\n=== ${file}`);
  const r = await runFile(file);
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
  timings.push(
    `${file.padEnd(36)} ${String(r.passed).padStart(3)} passed ${String(r.failed).padStart(3)} failed ${String(r.skipped).padStart(3)} skipped ${r.seconds.toFixed(1).padStart(7)} s`,
  );
}
console.log('\n' + timings.join('\n'));
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
