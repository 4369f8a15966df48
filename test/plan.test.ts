import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planBuild, resolveSlurm, osFromImage, packageInputs } from '../tasks/lib/plan.ts';
import { ConfigurationError } from '../tasks/lib/errors.ts';

test('defaults: Slurm 25.11 with GCC 13.4.0 on Ubuntu 24.04, compiler built by Spack', () => {
  const p = planBuild({ slurm: '25.11' });
  assert.is(p.slurm.release, '25.11.6');
  assert.is(p.gcc.version, '13.4.0');
  assert.is(p.gcc.source, 'spack');
  assert.is(p.os.name, 'ubuntu24.04');
  assert.is(p.baseImage, 'ubuntu:24.04');
  assert.is(p.imageTag, 'slurm-factory:25.11-gcc13.4.0');
  assert.is(p.compilerTag, 'slurm-factory:compiler-13.4.0');
  assert.is(p.artifacts.tarball, 'slurm-25.11-gcc13.4.0-software.tar.gz');
  assert.is(p.artifacts.sidecars.sha256, 'slurm-25.11-gcc13.4.0-software.tar.gz.sha256');
  assert.is(p.artifacts.mirrorDir, 'slurm-25.11-gcc13.4.0');
  assert.is(p.compilerArtifacts?.tarball, 'gcc-13.4.0-compiler.tar.gz');
  assert.is(p.moduleName, 'slurm/25.11-gcc13.4.0');
  assert.is(p.contextDir, 'dockerfiles/slurm-25.11-gcc13.4.0');
  assert.is(p.specs.compiler, 'gcc@13.4.0 +binutils languages=c,c++,fortran %gcc@13.3.0');
  assert.match(p.specs.slurm, /^slurm@25-11-6-1 .* sysconfdir=\/etc\/slurm %gcc@13\.4\.0$/);
});

test('an exact release resolves and says which one is built', () => {
  assert.is(resolveSlurm('25.11.6').release.spackVersion, '25-11-6-1');
  assert.match(resolveSlurm('24.11').note, /24\.11 -> 24\.11\.6 \(spack slurm@24-11-6-1\)/);
});

test('a GCC equal to the image compiler builds no compiler', () => {
  const p = planBuild({ slurm: '24.11', gcc: '8.5.0' });
  assert.is(p.os.name, 'rockylinux8');
  assert.is(p.gcc.source, 'system');
  assert.is(p.specs.compiler, null);
  assert.is(p.compilerArtifacts, null, "no compiler tarball for the image's own GCC");
  const q = planBuild({ slurm: '24.11', gcc: '14.2.0', os: 'debian13' });
  assert.is(q.gcc.source, 'system');
});

test('--gcc system uses the OS compiler version in every name', () => {
  const p = planBuild({ slurm: '25.05', gcc: 'system', os: 'debian12' });
  assert.is(p.gcc.version, '12.2.0');
  assert.is(p.gcc.source, 'system');
  assert.is(p.artifacts.tarball, 'slurm-25.05-gcc12.2.0-software.tar.gz');
});

test('GPU flavour: names, variants, and GPU SDKs kept out of the view', () => {
  const p = planBuild({ slurm: '25.11', gpu: true });
  assert.is(p.artifacts.tarball, 'slurm-25.11-gcc13.4.0-gpu-software.tar.gz');
  assert.is(p.moduleName, 'slurm/25.11-gcc13.4.0');
  assert.match(p.specs.slurm, /\+nvml/);
  assert.match(p.specs.slurm, /\+rsmi/);
  assert.ok(p.viewExclude.includes('cuda'));
  assert.not.match(planBuild({ slurm: '25.11' }).specs.slurm, /nvml/);
});

test('cache ids are keyed by base image + GCC, not by Slurm version', () => {
  const a = planBuild({ slurm: '24.11', gcc: '10.5.0' });
  const b = planBuild({ slurm: '25.11', gcc: '10.5.0' });
  const c = planBuild({ slurm: '25.11', gcc: '10.5.0', baseImage: 'registry.example.org/rockylinux:8' });
  assert.equal(a.cacheIds, b.cacheIds);
  assert.is.not(a.cacheIds.buildcache, c.cacheIds.buildcache);
  assert.is.not(a.cacheIds.buildcache, planBuild({ slurm: '25.11', gcc: '9.5.0' }).cacheIds.buildcache);
});

test('a base image names its OS, or --os must', () => {
  assert.is(osFromImage('registry.local/rockylinux:9')?.name, 'rockylinux9');
  assert.is(osFromImage('ubuntu:22.04')?.name, 'ubuntu22.04');
  assert.is(osFromImage('my-base:latest'), null);
  const p = planBuild({ slurm: '24.11', gcc: 'system', baseImage: 'slurm-factory-base:debian12', os: 'debian12' });
  assert.is(p.baseImage, 'slurm-factory-base:debian12');
  assert.is(p.os.family, 'debian');
  assert.throws(
    () => planBuild({ slurm: '24.11', baseImage: 'my-base:latest' }),
    (e: Error) =>
      e instanceof ConfigurationError && /cannot tell the distro of base image 'my-base:latest'/.test(e.message),
  );
});

test('bad values throw ConfigurationError naming the value and what is allowed', () => {
  const cases: [Parameters<typeof planBuild>[0], RegExp][] = [
    [{ slurm: '24.05' }, /Slurm 24\.05 is not in the catalog/],
    [{ slurm: '25.11.7' }, /25\.11\.7 is not in the catalog; the 25\.11 series builds 25\.11\.6/],
    [{ slurm: 'latest' }, /'latest' is not a version/],
    [{ slurm: '25.11', gcc: '6.5.0' }, /GCC '6\.5\.0' is not in the catalog/],
    [{ slurm: '25.11', os: 'centos7' }, /OS 'centos7' is not a known target/],
    [{ slurm: '25.11', jobs: 0 }, /--jobs '0'/],
    [{ slurm: '25.11', mirrors: ['ftp:/x'] }, /mirror 'ftp:\/x'/],
  ];
  for (const [opts, re] of cases) {
    try {
      planBuild(opts);
      assert.unreachable(`${JSON.stringify(opts)} should fail`);
    } catch (e) {
      assert.instance(e, ConfigurationError);
      assert.match((e as Error).message, re);
      assert.ok((e as ConfigurationError).remediation.length > 0);
    }
  }
});

test('packageInputs carries the plan facts the package stage needs', () => {
  const p = planBuild({ slurm: '23.11', gcc: '11.5.0' });
  const i = packageInputs(p);
  assert.is(i.slurmRelease, '23.11.11');
  assert.is(i.compilerSource, 'system');
  assert.is(i.osFamily, 'rhel');
  assert.is(i.cgroupDisabledSupported, false);
  assert.is(i.tarballName, p.artifacts.tarball);
});

test('planBuild is pure: the same options give equal plans', () => {
  assert.equal(
    planBuild({ slurm: '25.11', gcc: '12.5.0', gpu: true }),
    planBuild({ slurm: '25.11', gcc: '12.5.0', gpu: true }),
  );
});

test.run();
