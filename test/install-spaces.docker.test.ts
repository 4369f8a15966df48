/**
 * A real Slurm at a prefix with a space and a % in it: the fixture's Slurm 24.11.5 (test/fixtures/debian-slurm)
 * goes through the package stage, the tarball is unpacked at '/srv/site slurm%1' in a plain Debian container,
 * slurm_install.sh sets the node up with config directory '/etc/slurm conf', and slurmctld/slurmd started with
 * the shell-quoted commands it prints run a job: Slurm's own parser read PluginDir="..." with the space.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { needDocker, repoRoot, withTempDir, testIf, needImage } from './helpers.ts';
import { sampleInputs, writePackageDir } from './spack-tree.ts';
import { SLURM_FIXTURE_IMAGE } from './fixture.ts';

const FIXTURE = process.env.SLURM_FIXTURE_IMAGE || SLURM_FIXTURE_IMAGE;
const BASE = 'slurm-factory-base:debian12';
const it = testIf(test, [
  needDocker,
  needImage(FIXTURE, 'test/fixtures/debian-slurm/build.sh'),
  needImage(BASE, 'scripts/make-base-image.sh debian12'),
]);

const inputs = sampleInputs({ series: '24.11' });

function docker(args: string[], timeout = 300_000) {
  const r = spawnSync('docker', args, { encoding: 'utf8', timeout });
  return { status: r.status, output: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}
const section = (out: string, name: string) => out.split(`== ${name}\n`)[1]?.split(/\n== /)[0] ?? '';

it('real Slurm at a prefix with a space and %: quoted PluginDir, SLURM_CONF and start commands run a job', () => {
  withTempDir((tmp) => {
    const pkg = join(tmp, 'package'),
      out = join(tmp, 'out');
    writePackageDir(pkg, inputs);
    mkdirSync(out);
    chmodSync(out, 0o777);
    const packed = docker([
      'run',
      '--rm',
      '-e',
      'SOURCE_DATE_EPOCH=1700000000',
      '-v',
      `${pkg}:/opt/slurm-factory/package:ro`,
      '-v',
      `${out}:/out`,
      FIXTURE,
      'bash',
      '/opt/slurm-factory/package/scripts/package-view.sh',
      '--build-info',
      '/opt/slurm-factory/package/build-info.json',
      '--view',
      '/opt/slurm/view',
      '--specs',
      '/opt/slurm-factory/specs.json',
      '--assets',
      '/opt/slurm-factory/package/assets',
      '--out',
      '/out',
    ]);
    assert.is(packed.status, 0, packed.output);

    const script = join(repoRoot, 'test/fixtures/install/run-spaces.sh');
    const r = docker(
      [
        'run',
        '--rm',
        '--hostname',
        'node1',
        '-v',
        `${out}:/in:ro`,
        '-v',
        `${script}:/run-spaces.sh:ro`,
        BASE,
        'bash',
        '/run-spaces.sh',
        `/in/${inputs.tarballName}`,
      ],
      300_000,
    );
    assert.is(r.status, 0, r.output);
    const view = '/srv/site slurm%1/view';
    assert.is(section(r.stdout, 'conf').trim(), `PluginDir="${view}/lib/slurm"`);
    assert.equal(section(r.stdout, 'start').trim().split('\n'), [
      'SLURM_CONF=/etc/slurm\\ conf/slurm.conf /srv/site\\ slurm%1/view/sbin/slurmdbd',
      'SLURM_CONF=/etc/slurm\\ conf/slurm.conf /srv/site\\ slurm%1/view/sbin/slurmctld',
      // The fixture ships PMIx: slurmd gets its install prefix, quoted like every other path.
      'PMIX_INSTALL_PREFIX=/srv/site\\ slurm%1/view SLURM_CONF=/etc/slurm\\ conf/slurm.conf /srv/site\\ slurm%1/view/sbin/slurmd -d /srv/site\\ slurm%1/view/sbin/slurmstepd',
    ]);
    assert.match(section(r.stdout, 'sinfo'), /^debug\* up 1 idle node1$/m);
    assert.ok(
      section(r.stdout, 'sinfo').split('\n').includes(`PluginDir=${view}/lib/slurm`),
      section(r.stdout, 'sinfo'),
    );
    assert.match(section(r.stdout, 'srun'), /^node1$/m);
    assert.match(r.stdout, /== done/);
  });
});

test.run();
