/**
 * tasks/lib/compilers.ts: build-compiler's tarball unpacked for publish, checked against its .sha256, and every
 * scratch directory removed by cleanup, or at once when a later tarball fails.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { compilerTarball, unpackCompilerTarballs } from '../tasks/lib/compilers.ts';
import { withTempDir } from './helpers.ts';

/** A compiler tarball as build-compiler writes it: a Spack binary mirror (build_cache/) packed in one file. */
async function packCompiler(home: string, gcc: string, withSum: boolean): Promise<string> {
  const src = join(home, `src-${gcc}`);
  mkdirSync(join(src, 'build_cache'), { recursive: true });
  writeFileSync(join(src, 'build_cache', 'index.json'), '{}\n');
  const file = compilerTarball(home, gcc);
  mkdirSync(join(home, 'compilers', gcc), { recursive: true });
  await tar.c({ gzip: true, file, cwd: src }, ['build_cache']);
  if (withSum)
    writeFileSync(
      `${file}.sha256`,
      `${createHash('sha256').update(readFileSync(file)).digest('hex')}  gcc-${gcc}-compiler.tar.gz\n`,
    );
  return file;
}

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new assert.Assertion({
    message: 'expected a rejection',
    operator: 'rejects',
    expects: 'rejection',
    actual: 'resolved',
    generated: false,
  });
}

const scratch = (home: string, gcc: string) =>
  readdirSync(join(home, 'compilers', gcc)).filter((n) => n.startsWith('.publish-'));

test('unpacks only what has no buildcache directory, honours the filter, and cleans up', async () => {
  await withTempDir(async (t) => {
    await packCompiler(t, '10.5.0', true);
    await packCompiler(t, '11.5.0', false);
    const u = await unpackCompilerTarballs(t, ['10.5.0', 'system', '11.5.0', '10.5.0'], ['10.5.0']);
    assert.equal(Object.keys(u.dirs), ['10.5.0']);
    assert.ok(existsSync(join(u.dirs['10.5.0']!, 'build_cache', 'index.json')));
    assert.equal(scratch(t, '11.5.0'), [], 'filtered out: not unpacked');
    u.cleanup();
    assert.equal(scratch(t, '10.5.0'), []);
  });
});

test('a tarball that does not match its .sha256 or cannot be unpacked fails, leaving no scratch directory', async () => {
  await withTempDir(async (t) => {
    await packCompiler(t, '10.5.0', true);
    const bad = await packCompiler(t, '11.5.0', false);
    writeFileSync(bad, 'not a tarball\n');
    await rejection(unpackCompilerTarballs(t, ['10.5.0', '11.5.0']));
    assert.equal(scratch(t, '10.5.0'), [], 'the first, good one removed again');
    assert.equal(scratch(t, '11.5.0'), []);
    writeFileSync(`${bad}.sha256`, `${'0'.repeat(64)}  x\n`);
    assert.match((await rejection(unpackCompilerTarballs(t, ['11.5.0']))).message, /sha256|checksum/i);
    assert.equal(scratch(t, '11.5.0'), []);
  });
});

test.run();
