import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DEFAULT_GCC,
  DEFAULT_SLURM,
  GCC_TOOLCHAINS,
  OS_TARGETS,
  SLURM_RELEASES,
  SPACK,
  SYSTEM_GCC_DEFAULT_OS,
  findOs,
} from '../tasks/lib/catalog.ts';
import { runCli } from './helpers.ts';

test('every Slurm series maps to a Spack version of the form MAJ-MIN-PATCH-1 matching its release', () => {
  assert.equal(
    SLURM_RELEASES.map((r) => r.series),
    ['23.11', '24.11', '25.05', '25.11', '26.05'],
  );
  for (const r of SLURM_RELEASES) {
    assert.ok(r.release.startsWith(`${r.series}.`), `${r.release} is in series ${r.series}`);
    assert.is(r.spackVersion, `${r.release.replace(/\./g, '-')}-1`, `spack version of ${r.release}`);
  }
  assert.ok(SLURM_RELEASES.some((r) => r.series === DEFAULT_SLURM));
});

test('only 23.11 lacks CgroupPlugin=disabled', () => {
  for (const r of SLURM_RELEASES) assert.is(r.cgroupDisabledSupported, r.series !== '23.11', r.series);
});

test('every GCC has a default OS with an image and a glibc, and the glibc floors rise with the GCC', () => {
  assert.equal(
    GCC_TOOLCHAINS.map((g) => g.version),
    ['7.5.0', '8.5.0', '9.5.0', '10.5.0', '11.5.0', '12.5.0', '13.4.0', '14.2.0'],
  );
  let last = 0;
  for (const g of GCC_TOOLCHAINS) {
    const os = findOs(g.defaultOs);
    assert.ok(os, `${g.version}: os ${g.defaultOs} exists`);
    assert.match(os!.image, /^[a-z0-9./-]+:[0-9.]+$/);
    assert.match(os!.glibc, /^2\.\d+$/);
    const minor = Number(os!.glibc.split('.')[1]);
    assert.ok(minor >= last, `glibc floor of ${g.version} does not go down`);
    last = minor;
  }
  assert.ok(GCC_TOOLCHAINS.some((g) => g.version === DEFAULT_GCC));
  assert.ok(findOs(SYSTEM_GCC_DEFAULT_OS));
});

test('the intended floors: Rocky 8 for 8.5-10.5, Rocky 9 for 11.5, Debian 12 for 12.5, Ubuntu 24.04 for 13.4/14.2', () => {
  const osOf = (v: string) => GCC_TOOLCHAINS.find((g) => g.version === v)!.defaultOs;
  assert.equal(['8.5.0', '9.5.0', '10.5.0'].map(osOf), ['rockylinux8', 'rockylinux8', 'rockylinux8']);
  assert.is(osOf('11.5.0'), 'rockylinux9');
  assert.is(osOf('12.5.0'), 'debian12');
  assert.is(osOf('13.4.0'), 'ubuntu24.04');
  assert.is(osOf('14.2.0'), 'ubuntu24.04');
});

test('OS targets: unique names, apt for the Debian family, dnf for RHEL', () => {
  assert.is(new Set(OS_TARGETS.map((o) => o.name)).size, OS_TARGETS.length);
  for (const o of OS_TARGETS) assert.is(o.packageManager, o.family === 'debian' ? 'apt' : 'dnf', o.name);
});

test('Spack and its package repository are pinned to full commit hashes', () => {
  assert.match(SPACK.tag, /^v1\.0\.\d+$/);
  assert.is(SPACK.version, SPACK.tag.slice(1));
  assert.match(SPACK.commit, /^[0-9a-f]{40}$/);
  assert.match(SPACK.packages.commit, /^[0-9a-f]{40}$/);
  assert.is(SPACK.paddedLength, 128);
});

test('list --json prints the catalog the code uses', () => {
  const r = runCli(['list', '--json']);
  assert.is(r.status, 0, r.stderr);
  const c = JSON.parse(r.stdout);
  assert.equal(
    c.slurm.map((s: { series: string }) => s.series),
    SLURM_RELEASES.map((s) => s.series),
  );
  assert.is(c.slurm.find((s: { default: boolean }) => s.default).series, DEFAULT_SLURM);
  assert.is(c.gcc.find((g: { version: string }) => g.version === '8.5.0').buildsCompiler, false);
  assert.is(c.gcc.find((g: { version: string }) => g.version === '10.5.0').buildsCompiler, true);
  assert.is(c.spack.packages.commit, SPACK.packages.commit);
});

test('list prints readable tables', () => {
  const r = runCli(['list']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /25\.11\s+25\.11\.6\s+slurm@25-11-6-1\s+slurm_factory \(overlay\)\s+\(default\)/);
  assert.match(
    r.stdout,
    /recipe slurm_factory: spack\/repos, the builtin recipe plus \+lua, accounting against mariadb-c-client/,
  );
  assert.match(r.stdout, /10\.5\.0\s+rockylinux8\s+rockylinux:8\s+2\.28\s+built by Spack/);
});

test.run();
