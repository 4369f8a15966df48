/**
 * Task options are declared once (tasks/lib/args.ts): the help a task prints and what its parser accepts both
 * come from that declaration. These tests read every task's declaration, its generated help and its parser's
 * own answer to an unknown option, and check that the three agree.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { COMMON_OPTIONS, optionLabel, parseOptions } from '../tasks/lib/args.ts';
import { ConfigurationError } from '../tasks/lib/errors.ts';
import { loadTasks } from '../tasks/lib/registry.ts';
import { taskHelp } from '../tasks/help.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, withTempDir } from './helpers.ts';

const tasks = await loadTasks();

test('every task is declared: options and positionals with help text', () => {
  assert.ok(tasks.length >= 14, `tasks found: ${tasks.map((t) => t.name).join(', ')}`);
  for (const t of tasks) {
    for (const [name, spec] of Object.entries(t.options)) {
      assert.ok(/^[a-z][a-z0-9-]*$/.test(name), `${t.name}: option name '${name}'`);
      assert.ok(String(spec.help).trim() !== '', `${t.name} --${name} has help`);
      assert.not.ok(
        name in COMMON_OPTIONS,
        `${t.name} --${name} is one of every task's options; do not declare it again`,
      );
    }
    for (const p of t.positionals) assert.ok(String(p.help).trim() !== '', `${t.name} <${p.name}> has help`);
  }
});

test("every declared option appears in its task's help, and the help's option list holds no undeclared option", () => {
  for (const t of tasks) {
    const help = taskHelp(t);
    const declared = Object.keys(t.options);
    for (const [name, spec] of Object.entries(t.options)) {
      assert.match(
        help,
        new RegExp(`^  ${optionLabel(name, spec).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}  `, 'm'),
        `${t.name}: --${name} in its help`,
      );
    }
    // Option rows: lines that start with an option; each names exactly one declared option, once.
    const rows = [...help.matchAll(/^ {2}--([a-z][a-z0-9-]*)/gm)].map((m) => m[1]!);
    assert.equal([...rows].sort(), [...declared].sort(), `${t.name}: help rows are the declared options`);
    // The synopsis names only options the task accepts.
    const usage = /^usage: (.*)$/m.exec(help)![1]!;
    for (const m of usage.matchAll(/--([a-z][a-z0-9-]*)/g)) {
      assert.ok(
        declared.includes(m[1]!) || m[1]! in COMMON_OPTIONS,
        `${t.name}: usage names --${m[1]}, which it does not declare`,
      );
    }
  }
});

test("the parser accepts exactly the declared options (its 'allowed' list is the declaration)", () => {
  for (const t of tasks) {
    let message = '';
    try {
      parseOptions(t.name, ['--surely-not-an-option'], t.options, t.positionals);
    } catch (e) {
      assert.instance(e, ConfigurationError);
      message = (e as ConfigurationError).oneLine();
    }
    const allowed = /allowed: (.*?); see /.exec(message);
    assert.ok(allowed, `${t.name}: ${message}`);
    const names = allowed![1]!
      .split(', ')
      .map((a) => a.replace(/^--/, '').replace(/ VALUE$/, ''))
      .sort();
    assert.equal(names, [...Object.keys(t.options), ...Object.keys(COMMON_OPTIONS)].sort(), `${t.name}: allowed list`);
  }
});

test('parsed values are typed: integers as numbers with their defaults, choices checked, lists always arrays', () => {
  const publish = tasks.find((t) => t.name === 'publish')!;
  const a = parseOptions(
    'publish',
    ['--jobs', '3', '--slurm', '24.11,25.11'],
    publish.options,
    publish.positionals,
  ).opts;
  assert.is(a.jobs, 3);
  assert.is(a.retries, 5, 'declared default');
  assert.is(a.buildcache, 'all', 'declared default');
  assert.equal(a.slurm, ['24.11', '25.11']);
  assert.equal(a.gcc, []);
  assert.is(a.tarballs, false);
  assert.throws(
    () => parseOptions('publish', ['--buildcache', 'some'], publish.options, publish.positionals),
    /--buildcache 'some' is not a mode/,
  );
});

test('build-compiler takes --jobs and --mirror as build does, and its help says so', () => {
  const help = runCli(['help', 'build-compiler']);
  assert.is(help.status, 0, help.stderr);
  assert.match(help.stdout, /^ {2}--jobs N +parallel compile jobs/m);
  assert.match(help.stdout, /^ {2}--mirror URL +extra Spack binary mirror/m);
  // They reach the compiler stage's Spack environment, as for build.
  withTempDir((t) => {
    const r = runCli(
      ['build-compiler', '10.5.0', '--jobs', '3', '--mirror', 'https://mirror.example.org/cache', '--print'],
      { env: { SLURM_FACTORY_HOME: join(t, 'home') } },
    );
    assert.is(r.status, 0, r.stderr);
    const context = /--file (\S+)\/Dockerfile /.exec(r.stdout)![1]!;
    const env = readFileSync(join(context, 'spack', 'compiler', 'spack.yaml'), 'utf8');
    assert.match(env, /^ +build_jobs: 3$/m);
    assert.match(env, /url: "https:\/\/mirror\.example\.org\/cache"/);
  });
  const bad = runCli(['build-compiler', '10.5.0', '--jobs', '0', '--print']);
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /^error: --jobs '0' is not a whole number from 1 to 1024/);
});

test('overall help names the options every task takes', () => {
  const r = runCli(['help']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /every task takes --help and --verbose/);
});

test.run();
