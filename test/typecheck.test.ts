import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot, testIf, needCommand } from './helpers.ts';

test('tsc --noEmit is clean in strict mode', () => {
  const r = spawnSync(
    process.execPath,
    [join(repoRoot, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', repoRoot],
    { encoding: 'utf8' },
  );
  assert.is(r.status, 0, `tsc reported:\n${r.stdout}${r.stderr}`);
});

const withShellcheck = testIf(test, [
  needCommand('shellcheck', 'apt-get install shellcheck, or scripts/install-test-deps.sh'),
]);
withShellcheck('every shell script in the repository is shellcheck-clean', () => {
  const files = spawnSync('git', ['ls-files', '*.sh', '.ci/run', 'test/fixtures/**/*.sh'], {
    cwd: repoRoot,
    encoding: 'utf8',
  })
    .stdout.split('\n')
    .filter(Boolean);
  assert.ok(files.length >= 3, `found scripts: ${files.join(', ')}`);
  const r = spawnSync('shellcheck', ['-x', ...files], { cwd: repoRoot, encoding: 'utf8' });
  assert.is(r.status, 0, `shellcheck:\n${r.stdout}${r.stderr}`);
});

test.run();
