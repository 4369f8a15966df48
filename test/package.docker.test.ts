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
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needDocker, repoRoot, withTempDir, testIf, needImage } from './helpers.ts';
import { sampleInputs, writePackageDir } from './spack-tree.ts';
import { SLURM_FIXTURE_IMAGE } from './fixture.ts';
import { cyclonedxErrors } from './cyclonedx.ts';

/** SLURM_FIXTURE_IMAGE overrides the image (e.g. to compare two fixture builds). */
const FIXTURE = process.env.SLURM_FIXTURE_IMAGE || SLURM_FIXTURE_IMAGE;
const BASE = 'slurm-factory-base:debian12';
const it = testIf(test, [
  needDocker,
  needImage(FIXTURE, 'test/fixtures/debian-slurm/build.sh'),
  needImage(BASE, 'scripts/make-base-image.sh debian12'),
]);

const inputs = sampleInputs({ series: '24.11' });
const TARBALL = inputs.tarballName;

function docker(args: string[], timeout = 300_000) {
  const r = spawnSync('docker', args, { encoding: 'utf8', timeout });
  return { status: r.status, output: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

/** The package stage in the fixture; `specs` replaces the fixture's specs.json (mounted over it). */
function packageInFixture(pkg: string, out: string, specs?: string) {
  chmodSync(out, 0o777);
  return docker([
    'run',
    '--rm',
    '-e',
    'SOURCE_DATE_EPOCH=1700000000',
    '-v',
    `${pkg}:/opt/slurm-factory/package:ro`,
    '-v',
    `${out}:/out`,
    ...(specs ? ['-v', `${specs}:/opt/slurm-factory/specs.json:ro`] : []),
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
}

/** Regular ELF files under view/ in a tarball, by reading every member's first bytes with GNU tar. */
function elfFilesIn(tarball: string, tmp: string): string[] {
  const dir = join(tmp, `unpacked-${Math.random().toString(36).slice(2)}`);
  spawnSync('mkdir', ['-p', dir]);
  const x = spawnSync('tar', ['-xzf', tarball, '-C', dir, 'view'], { encoding: 'utf8' });
  assert.is(x.status, 0, x.stderr);
  const r = spawnSync(
    'bash',
    [
      '-c',
      'cd "$1" && find view -type f -print0 | while IFS= read -r -d "" f; do [[ $(head -c4 "$f" | od -An -c | tr -d " ") == 177ELF ]] && echo "$f"; done | sort',
      '_',
      dir,
    ],
    { encoding: 'utf8' },
  );
  assert.is(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

const section = (out: string, name: string) => out.split(`== ${name}\n`)[1]?.split(/\n== /)[0] ?? '';

it('real Slurm: relocated, packed reproducibly, and running jobs at another prefix without systemd', async () => {
  // Attribute failures: the fixture's own, unrelocated Slurm must work before we blame the package stage.
  const sanityScript = join(repoRoot, 'test/fixtures/package/fixture-sanity.sh');
  const sanity = docker(
    ['run', '--rm', '-v', `${sanityScript}:/sanity.sh:ro`, FIXTURE, 'bash', '/sanity.sh', '/opt/slurm/view'],
    120_000,
  );
  assert.is(
    sanity.status,
    0,
    `the fixture image ${FIXTURE} is broken before any relocation (fix or rebuild ` +
      `test/fixtures/debian-slurm):\n${sanity.output.split('\n').slice(-10).join('\n')}`,
  );

  await withTempDir(async (tmp) => {
    const pkg = join(tmp, 'package');
    writePackageDir(pkg, inputs);
    const outs = [join(tmp, 'out1'), join(tmp, 'out2')];
    for (const out of outs) {
      spawnSync('mkdir', ['-p', out]);
      const r = packageInFixture(pkg, out);
      assert.is(r.status, 0, r.output);
      assert.match(r.output, /audit-view: passed: \d+ ELF files/);
    }
    for (const suffix of ['', '.sha256', '.manifest.json', '.cdx.json']) {
      assert.ok(
        readFileSync(join(outs[0]!, TARBALL + suffix)).equals(readFileSync(join(outs[1]!, TARBALL + suffix))),
        `${TARBALL}${suffix} differs between two packings of the same view`,
      );
    }
    const manifest = JSON.parse(readFileSync(join(outs[0]!, `${TARBALL}.manifest.json`), 'utf8'));
    assert.is(manifest.slurm.release, '24.11.5');
    assert.match(manifest.glibc.floor, /^2\.\d+$/);
    assert.ok(manifest.specs.length >= 5, `specs: ${manifest.specs.map((s: { name: string }) => s.name)}`);

    // The SBOM: valid CycloneDX 1.6 (the official schema), the same inside the tarball and beside it, one
    // component per spec with its Spack purl, glibc at the floor, and every ELF file of view/ in exactly one
    // component's occurrences.
    const sbomText = readFileSync(join(outs[0]!, `${TARBALL}.cdx.json`), 'utf8');
    assert.is(await cyclonedxErrors(sbomText), null);
    const inside = spawnSync('tar', ['-xzOf', join(outs[0]!, TARBALL), 'sbom.cdx.json'], { encoding: 'utf8' });
    assert.is(inside.stdout, sbomText);
    const sbom = JSON.parse(sbomText);
    const slurm = sbom.components.find((c: { name: string }) => c.name === 'slurm');
    assert.is(slurm.purl, `pkg:spack/slurm@24.11.5?sha=${manifest.slurm.hash}`);
    assert.is(sbom.components.find((c: { name: string }) => c.name === 'glibc').version, manifest.glibc.floor);
    assert.is(sbom.components.length, manifest.specs.length + 1);
    const slurmDeps = sbom.dependencies.find((d: { ref: string }) => d.ref === slurm.purl).dependsOn;
    for (const dep of ['json-c', 'libjwt'])
      assert.ok(
        slurmDeps.some((r: string) => r.startsWith(`pkg:spack/${dep}@`)),
        `slurm -> ${dep}: ${slurmDeps}`,
      );
    const covered = sbom.components
      .flatMap((c: { evidence?: { occurrences: { location: string }[] } }) =>
        (c.evidence?.occurrences ?? []).map((o) => o.location),
      )
      .sort();
    const elves = elfFilesIn(join(outs[0]!, TARBALL), tmp);
    assert.ok(elves.includes('view/sbin/slurmctld'), elves.join(' '));
    assert.equal(covered, elves);
    // The PluginDir Slurm was compiled with, read from its library, for configless slurmd (slurm_install.sh).
    const env = spawnSync('tar', ['-xzOf', join(outs[0]!, TARBALL), 'data/slurm_assets/build.env'], {
      encoding: 'utf8',
    });
    assert.is(env.status, 0, env.stderr);
    assert.match(env.stdout, /^COMPILED_PLUGIN_DIR=\/opt\/spack-root\/\S+\/slurm-24\.11\.5-[a-z0-9]{32}\/lib\/slurm$/m);

    const script = join(repoRoot, 'test/fixtures/package/run-cluster.sh');
    const r = docker(
      [
        'run',
        '--rm',
        '--hostname',
        'node1',
        '-v',
        `${outs[0]}:/in:ro`,
        '-v',
        `${script}:/run-cluster.sh:ro`,
        BASE,
        'bash',
        '/run-cluster.sh',
        `/in/${TARBALL}`,
      ],
      300_000,
    );
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
  });
});

it('SBOM: licenses and sources from the specs are recorded; an ELF file whose package is missing from the specs fails the stage, named', async () => {
  await withTempDir(async (tmp) => {
    const pkg = join(tmp, 'package');
    writePackageDir(pkg, inputs);
    const specs = JSON.parse(docker(['run', '--rm', FIXTURE, 'cat', '/opt/slurm-factory/specs.json']).stdout);
    const slurm = specs.find((s: { name: string }) => s.name === 'slurm');
    slurm.licenses = ['GPL-2.0-or-later'];
    // The fixture's Slurm source (test/fixtures/debian-slurm/Dockerfile pins this checksum).
    const sha = 'e1a5547edd212c38b5e3230a284133f777b32746551f094aaa81cc4af375e332';
    slurm.sources = [
      { url: 'http://deb.debian.org/debian/pool/main/s/slurm-wlm/slurm-wlm_24.11.5.orig.tar.gz', sha256: sha },
    ];
    const withLicense = join(tmp, 'specs-license.json');
    writeFileSync(withLicense, JSON.stringify(specs));
    const ok = join(tmp, 'ok');
    spawnSync('mkdir', ['-p', ok]);
    const r = packageInFixture(pkg, ok, withLicense);
    assert.is(r.status, 0, r.output);
    const sbomText = readFileSync(join(ok, `${TARBALL}.cdx.json`), 'utf8');
    assert.is(await cyclonedxErrors(sbomText), null);
    const c = JSON.parse(sbomText).components.find((x: { name: string }) => x.name === 'slurm');
    assert.equal(c.licenses, [{ expression: 'GPL-2.0-or-later' }]);
    assert.equal(c.externalReferences, [
      { type: 'source-distribution', url: slurm.sources[0].url, hashes: [{ alg: 'SHA-256', content: sha }] },
    ]);

    const without = join(tmp, 'specs-without-json-c.json');
    writeFileSync(without, JSON.stringify(specs.filter((s: { name: string }) => s.name !== 'json-c')));
    const bad = join(tmp, 'bad');
    spawnSync('mkdir', ['-p', bad]);
    const f = packageInFixture(pkg, bad, without);
    assert.is.not(f.status, 0, f.output);
    assert.match(f.output, /sbom: error: .*belong to no package in the specs.*view\/lib\/libjson-c\.so\.5[.\d]*/);
    assert.not.ok(existsSync(join(bad, TARBALL)), 'no tarball after a failed SBOM');
  });
});

test.run();
