/**
 * Runs many command lines in one process for test/cli-fuzz.test.ts: the same runTask that Taskfile.ts calls,
 * each case with its own working directory and SLURM_FACTORY_HOME, its stdout and stderr captured. One
 * result line (JSON) is appended per case as soon as it ends, so a case that hangs is named by the parent.
 *
 *   node --import tsx test/cli-fuzz-runner.ts CASES.json RESULTS.jsonl
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { runTask } from '../tasks/lib/cli.ts';

interface RunnerCase {
  id: number;
  args: string[];
  cwd: string;
  env: Record<string, string>;
}

const [casesFile, resultsFile] = process.argv.slice(2);
if (!casesFile || !resultsFile) {
  console.error('usage: cli-fuzz-runner.ts CASES.json RESULTS.jsonl');
  process.exit(2);
}
const cases = JSON.parse(readFileSync(casesFile, 'utf8')) as RunnerCase[];
const out = process.stdout.write.bind(process.stdout);
const err = process.stderr.write.bind(process.stderr);
const home = process.cwd();

for (const c of cases) {
  let stdout = '';
  let stderr = '';
  const capture = (append: (s: string) => void) =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      append(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const cb = rest.find((x) => typeof x === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture((s) => {
    stdout += s;
  });
  process.stderr.write = capture((s) => {
    stderr += s;
  });
  const saved = Object.fromEntries(Object.keys(c.env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, c.env);
  process.chdir(c.cwd);
  let code: number;
  try {
    code = await runTask(c.args);
  } catch (e) {
    // runTask never throws; if it does, that is a failure the parent reports (with the stack it would print).
    code = -1;
    stderr += `runTask threw: ${(e as Error)?.stack ?? String(e)}`;
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.chdir(home);
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  appendFileSync(resultsFile, `${JSON.stringify({ id: c.id, code, stdout, stderr })}\n`);
}
