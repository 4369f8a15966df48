import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers.ts';

test('no task and help list every task with a purpose and an example', () => {
  for (const args of [[], ['help']]) {
    const r = runCli(args);
    assert.is(r.status, 0, r.stderr);
    for (const t of ['help', 'list', 'render', 'doctor', 'clean']) {
      assert.match(r.stdout, new RegExp(`^  ${t}\\s+\\S`, 'm'), `${t} listed`);
    }
    assert.match(r.stdout, /e\.g\. npx zx Taskfile\.ts render 25\.11/);
  }
});

test('help <task> and <task> --help show usage and options', () => {
  const a = runCli(['help', 'render']);
  const b = runCli(['render', '--help']);
  assert.is(a.status, 0);
  assert.is(a.stdout, b.stdout);
  assert.match(a.stdout, /usage: npx zx Taskfile\.ts render <slurm>/);
  assert.match(a.stdout, /--base-image IMG/);
});

// Each bad input: exit 2, one line on stderr naming the bad value and what to do, and nothing written.
const bad: [string[], RegExp][] = [
  [['render', '24.05'], /Slurm 24\.05 is not in the catalog; use one of 23\.11, 24\.11, 25\.05, 25\.11, 26\.05/],
  [['render', '25.10'], /Slurm 25\.10 is not in the catalog/], // stays a string: never 25.1
  [
    ['render', '25.11.7'],
    /Slurm 25\.11\.7 is not in the catalog; the 25\.11 series builds 25\.11\.6; use 25\.11 or 25\.11\.6/,
  ],
  [['render', '25.11', '--gcc', '6.5.0'], /GCC '6\.5\.0' is not in the catalog; use one of 7\.5\.0, .* or 'system'/],
  [['render', '25.11', '--os', 'centos7'], /OS 'centos7' is not a known target; use one of rockylinux8/],
  [['render', '25.11', '--bogus'], /unknown option --bogus for 'render'; allowed: .*--gcc VALUE/],
  [['render', '25.11', '26.05'], /unexpected argument '26\.05' for 'render'/],
  [['render', '25.11', '--jobs', 'abc'], /--jobs 'abc' is not a whole number/],
  [['render', '25.11', '--gcc'], /--gcc needs a value for 'render'/],
  [['render', '25.11', '--base-image', 'Bad Image!'], /base image 'Bad Image!' is not a valid image reference/],
  [
    ['render', '25.11', '--base-image', 'my-base:latest'],
    /cannot tell the distro of base image 'my-base:latest' from its name; add --os/,
  ],
  [['render', '25.11', '--gcc', '10.5.0', '--gcc', '11.5.0'], /--gcc was given 2 times/],
  [['render', '25.11', '--mirror', 'ftp:/nowhere'], /mirror 'ftp:\/nowhere' is not a URL/],
  [
    ['verify', '/etc/passwd', '--db-host', 'db1'],
    /--db-host 'db1' needs --full and a plain host name or address; e\.g\. --full --db-host/,
  ],
  [['verify', '/etc/passwd', '--full', '--db-host', 'db;rm'], /--db-host 'db;rm' needs --full and a plain host name/],
  [['frobnicate'], /unknown task 'frobnicate'; tasks: .*render/],
  [
    ['clean', 'everything', '--yes'],
    /cannot clean 'everything'; choose from buildcache, sourcecache, builds, mirrors, compilers, logs, all/,
  ],
];

for (const [args, message] of bad) {
  test(`bad input: ${args.join(' ')}`, () => {
    const home = tempDir();
    const out = join(home.path, 'out');
    try {
      const withOut = args[0] === 'render' ? [...args, '--out', out] : args;
      const r = runCli(withOut, { env: { SLURM_FACTORY_HOME: join(home.path, 'home') } });
      assert.is(r.status, 2, `exit code (stderr: ${r.stderr})`);
      const lines = r.stderr.trim().split('\n');
      assert.is(lines.length, 1, `one line: ${r.stderr}`);
      assert.match(lines[0]!, /^error: /);
      assert.match(lines[0]!, message);
      assert.is(r.stdout, '');
      assert.not.ok(existsSync(out), 'no output directory');
      assert.equal(readdirSync(home.path), [], 'nothing written anywhere under the temp dir');
    } finally {
      home.cleanup();
    }
  });
}

test('--verbose adds context but keeps the first line', () => {
  const r = runCli(['render', '24.05', '--verbose', '--out', '/nonexistent/never']);
  assert.is(r.status, 2);
  assert.match(r.stderr.split('\n')[0]!, /^error: Slurm 24\.05 is not in the catalog/);
});

test.run();
