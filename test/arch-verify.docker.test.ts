/**
 * The architecture axis on the x86_64 path (issue 17), with the x86 fixture: an x86_64 build runs BuildKit with
 * --platform linux/amd64 and records arch x86_64 in its manifest; `verify` refuses an --arch the package was
 * not built for, and fails an image that does not run as the package's platform (an arm64 image, which this
 * host runs only under emulation) at its `arch` step, before any cluster starts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { needArm64Emulation, needDocker, runCli, tempDir, testIf } from './helpers.ts';

const dockerTest = testIf(test, [needDocker]);
const armTest = testIf(test, [needDocker, needArm64Emulation]);
const home = tempDir('sf-arch-verify-');
const env = { SLURM_FACTORY_HOME: join(home.path, 'home') };
const tarballName = 'slurm-24.11-gcc12.2.0-software.tar.gz';
const tarball = () => join(env.SLURM_FACTORY_HOME, 'builds', tarballName);
let arm13 = '';

test.before(async () => {
  if (needDocker()) return;
  const { ensureBaseImage, ensureSlurmFixture } = await import('./fixture.ts');
  const base = await ensureBaseImage('debian12');
  const fixture = await ensureSlurmFixture();
  if (!needArm64Emulation()) arm13 = await ensureBaseImage('debian13', 'arm64');
  const r = runCli(
    [
      'build',
      '24.11',
      '--gcc',
      'system',
      '--os',
      'debian12',
      '--base-image',
      base,
      '--context',
      `slurm=docker-image://${fixture}`,
    ],
    { env },
  );
  if (r.status !== 0) throw new Error(`x86_64 build failed:\n${r.stderr.slice(-3000)}`);
});
test.after(() => home.cleanup());

dockerTest('an x86_64 build: buildx --platform linux/amd64, manifest arch x86_64, names without an arch suffix', () => {
  const manifest = JSON.parse(readFileSync(`${tarball()}.manifest.json`, 'utf8'));
  assert.is(manifest.arch, 'x86_64');
  assert.is(manifest.platform, 'linux/amd64');
  const logs = join(env.SLURM_FACTORY_HOME, 'logs');
  const log = readFileSync(
    join(
      logs,
      readdirSync(logs).find((f) => f.startsWith('slurm-24.11-gcc12.2.0-'))!,
    ),
    'utf8',
  );
  assert.match(log, /--platform linux\/amd64/);
  // elf-arch.py's count, recorded in the manifest (a log shows it only when BuildKit did not reuse the stage).
  assert.ok(manifest.elfFiles > 100, `the package stage checked ${manifest.elfFiles} ELF files, all x86_64`);
});

dockerTest('verify --arch aarch64 on an x86_64 package: one line, exit 2, no container', () => {
  const r = runCli(['verify', tarball(), '--arch', 'aarch64', '--image', 'slurm-factory-base:debian13'], { env });
  assert.is(r.status, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /--arch aarch64 does not match the package, which is built for x86_64/);
  assert.not.match(r.stdout, /PASS|FAIL/);
});

armTest('verify fails an arm64 image for an x86_64 package at its arch step, before the cluster', () => {
  const r = runCli(['verify', tarball(), '--image', arm13], { env });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /x86_64 \(linux\/amd64\)/);
  assert.match(r.stdout, new RegExp(`^ {2}FAIL {2}arch +${arm13} does not run as linux/amd64: `, 'm'));
  assert.not.match(r.stdout, /^ {2}ok {4}daemons/m, 'no cluster was started');
  assert.match(r.stdout, /0 of 1 images passed/);
});

test.run();
