/**
 * The TypeScript is formatted by prettier (.prettierrc.json: 120 columns, single quotes), so a diff shows what
 * changed and not how someone's editor wraps lines. `npm run format` rewrites; this runs the same check.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './helpers.ts';

test('prettier --check: every TypeScript file is formatted (npm run format fixes it)', () => {
  const r = spawnSync('npm', ['run', '-s', 'format:check'], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  assert.is(r.status, 0, `${r.stdout}${r.stderr}\nrun 'npm run format' and commit the result`);
});

test('the formatter is the one the check runs: 120 columns, from the project config', () => {
  const cfg = JSON.parse(readFileSync(join(repoRoot, '.prettierrc.json'), 'utf8'));
  assert.is(cfg.printWidth, 120);
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
  assert.match(pkg.scripts['format:check'], /^prettier --check /);
  assert.is(
    pkg.scripts['format:check'].replace('--check', '--write'),
    pkg.scripts.format,
    'format and format:check cover the same files',
  );
});

test.run();
