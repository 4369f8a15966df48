/**
 * The package stage on a real Slurm: package-view.sh runs inside the fixture image (Slurm 24.11.5 in a padded
 * Spack-like install tree with a hardlinked view, test/fixtures/debian-slurm), twice, giving byte-identical
 * artifacts; then the tarball is unpacked at another prefix in a plain Debian container that never had the
 * install tree, set up with the shipped slurm_install.sh --container, and slurmctld/slurmd run jobs.
 * The fixture's own Slurm is checked first (fixture-sanity.sh), so a broken fixture is named as such.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { needDocker, repoRoot, tempDir, testIf, type Requirement } from './helpers.ts';
import { sampleInputs, writePackageDir } from './spack-tree.ts';
import { SLURM_FIXTURE_IMAGE } from './fixture.ts';

/** SLURM_FIXTURE_IMAGE overrides the image (e.g. to compare two fixture builds). */
const FIXTURE = process.env.SLURM_FIXTURE_IMAGE || SLURM_FIXTURE_IMAGE;
const BASE = 'slurm-factory-base:debian12';
const needImage = (tag: string, how: string): Requirement => () =>
  spawnSync('docker', ['image', 'inspect', tag], { stdio: 'ignore' }).status === 0 ? null : `image ${tag} is missing (${how})`;
const it = testIf(test, [needDocker, needImage(FIXTURE, 'test/fixtures/debian-slurm/build.sh'), needImage(BASE, 'scripts/make-base-image.sh debian12')]);

const inputs = sampleInputs({ series: '24.11' });
const TARBALL = inputs.tarballName;

function docker(args: string[], timeout = 300_000) {
  const r = spawnSync('docker', args, { encoding: 'utf8', timeout });
  return { status: r.status, output: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

function packageInFixture(pkg: string, out: string) {
  chmodSync(out, 0o777);
  return docker(['run', '--rm', '-e', 'SOURCE_DATE_EPOCH=1700000000', '-v', `${pkg}:/opt/slurm-factory/package:ro`, '-v', `${out}:/out`,
    FIXTURE, 'bash', '/opt/slurm-factory/package/scripts/package-view.sh',
    '--build-info', '/opt/slurm-factory/package/build-info.json', '--view', '/opt/slurm/view',
    '--specs', '/opt/slurm-factory/specs.json', '--assets', '/opt/slurm-factory/package/assets', '--out', '/out']);
}

const section = (out: string, name: string) => out.split(`== ${name}\n`)[1]?.split(/\n== /)[0] ?? '';

it('real Slurm: relocated, packed reproducibly, and running jobs at another prefix without systemd', () => {
  // Attribute failures: the fixture's own, unrelocated Slurm must work before we blame the package stage.
  const sanityScript = join(repoRoot, 'test/fixtures/package/fixture-sanity.sh');
  const sanity = docker(['run', '--rm', '-v', `${sanityScript}:/sanity.sh:ro`, FIXTURE, 'bash', '/sanity.sh', '/opt/slurm/view'], 120_000);
  assert.is(sanity.status, 0, `the fixture image ${FIXTURE} is broken before any relocation (fix or rebuild ` +
    `test/fixtures/debian-slurm):\n${sanity.output.split('\n').slice(-10).join('\n')}`);

  const tmp = tempDir();
  try {
    const pkg = join(tmp.path, 'package');
    writePackageDir(pkg, inputs);
    const outs = [join(tmp.path, 'out1'), join(tmp.path, 'out2')];
    for (const out of outs) {
      spawnSync('mkdir', ['-p', out]);
      const r = packageInFixture(pkg, out);
      assert.is(r.status, 0, r.output);
      assert.match(r.output, /audit-view: passed: \d+ ELF files/);
    }
    for (const suffix of ['', '.sha256', '.manifest.json']) {
      assert.ok(readFileSync(join(outs[0]!, TARBALL + suffix)).equals(readFileSync(join(outs[1]!, TARBALL + suffix))),
        `${TARBALL}${suffix} differs between two packings of the same view`);
    }
    const manifest = JSON.parse(readFileSync(join(outs[0]!, `${TARBALL}.manifest.json`), 'utf8'));
    assert.is(manifest.slurm.release, '24.11.5');
    assert.match(manifest.glibc.floor, /^2\.\d+$/);
    assert.ok(manifest.specs.length >= 5, `specs: ${manifest.specs.map((s: { name: string }) => s.name)}`);
    // The PluginDir Slurm was compiled with, read from its library, for configless slurmd (slurm_install.sh).
    const env = spawnSync('tar', ['-xzOf', join(outs[0]!, TARBALL), 'data/slurm_assets/build.env'], { encoding: 'utf8' });
    assert.is(env.status, 0, env.stderr);
    assert.match(env.stdout, /^COMPILED_PLUGIN_DIR=\/opt\/spack-root\/\S+\/slurm-24\.11\.5-[a-z0-9]{32}\/lib\/slurm$/m);

    const script = join(repoRoot, 'test/fixtures/package/run-cluster.sh');
    const r = docker(['run', '--rm', '--hostname', 'node1', '-v', `${outs[0]}:/in:ro`, '-v', `${script}:/run-cluster.sh:ro`,
      BASE, 'bash', '/run-cluster.sh', `/in/${TARBALL}`], 300_000);
    assert.is(r.status, 0, r.output);
    const out = r.stdout;
    const view = '/srv/site/slurm-under-test/view';
    assert.match(section(out, 'install'), /create user slurm/);
    assert.match(section(out, 'reinstall'), /nothing to do: this node is set up/);
    const ldd = section(out, 'ldd');
    assert.ok(ldd.length > 0);
    assert.not.match(ldd, /not found/);
    assert.not.match(ldd, /spack-root|__spack_path_placeholder__/);
    assert.match(ldd, new RegExp(`libslurmfull\\.so => ${view}/sbin/\\.\\./lib/slurm/libslurmfull\\.so`));
    assert.match(section(out, 'sinfo'), /^debug\* up 1 idle node1$/m);
    assert.match(section(out, 'sinfo'), new RegExp(`^PluginDir=${view}/lib/slurm$`, 'm'));
    assert.match(section(out, 'srun'), /^node1$/m);
    assert.match(section(out, 'sbatch'), /^batch job on node1 as root$/m);
    assert.match(section(out, 'unprivileged'), /^nobody$/m);
    assert.match(out, /== done/);
  } finally {
    tmp.cleanup();
  }
});

test.run();
