/**
 * The plugin manifest: the catalog states the plugins each flavour must ship, the plan carries them into
 * build-info.json, and package-view.sh (plugin-manifest.py) records every plugin of view/lib/slurm with the
 * libraries it links in manifest.json, or fails naming a required one that is missing and the configure check
 * that dropped it. Runs the real package stage on a gcc-built Spack-like tree.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { requiredPlugins } from '../tasks/lib/catalog.ts';
import { packageInputs, planBuild } from '../tasks/lib/plan.ts';
import { needCommand, withTempDir, testIf } from './helpers.ts';
import { bash, buildSpackTree, sampleInputs, writePackageDir, runPackageView } from './spack-tree.ts';
import type { PackageInputs } from '../tasks/lib/package-inputs.ts';

const it = testIf(test, [
  needCommand('gcc', 'apt-get install gcc libc6-dev'),
  needCommand('patchelf', 'apt-get install patchelf'),
  needCommand('readelf', 'apt-get install binutils'),
  needCommand('python3', 'apt-get install python3'),
]);

test('the catalog: CPU needs accounting, JWT, munge, PMIx, cgroup/v2, hwloc, REST; GPU adds nvml and rsmi', () => {
  const cpu = requiredPlugins('cpu', { lua: false }).map((p) => p.path);
  for (const p of [
    'lib/slurm/accounting_storage_mysql.so',
    'lib/slurm/auth_jwt.so',
    'lib/slurm/mpi_pmix*.so',
    'lib/slurm/cgroup_v2.so',
    'lib/slurm/task_affinity.so',
    'sbin/slurmd',
    'sbin/slurmrestd',
    'sbin/slurmdbd',
    'lib/slurm/openapi_slurmctld.so',
    'lib/slurm/data_parser_v0*.so',
    'lib/slurm/rest_auth_jwt.so',
  ]) {
    assert.ok(cpu.includes(p), p);
  }
  assert.not.ok(cpu.some((p) => /gpu_|_lua/.test(p)));
  assert.equal(
    requiredPlugins('cpu').find((p) => p.path === 'lib/slurm/mpi_pmix*.so')?.configure,
    '--with-pmix (pmix, +pmix)',
  );
  assert.equal(requiredPlugins('cpu').find((p) => p.path === 'sbin/slurmd')?.links, 'libhwloc.so');
  const lua = requiredPlugins('cpu', { lua: true }).map((p) => p.path);
  assert.ok(lua.includes('lib/slurm/job_submit_lua.so') && lua.includes('lib/slurm/cli_filter_lua.so'));
  const gpu = requiredPlugins('gpu', { lua: false }).map((p) => p.path);
  assert.equal(gpu, [...cpu, 'lib/slurm/gpu_nvml.so', 'lib/slurm/gpu_rsmi.so']);
});

test("the plan puts the flavour's list into build-info.json", () => {
  assert.equal(packageInputs(planBuild({ slurm: '25.11', gcc: '12.5.0' })).requiredPlugins, requiredPlugins('cpu'));
  assert.equal(
    packageInputs(planBuild({ slurm: '25.11', gcc: '12.5.0', gpu: true })).requiredPlugins,
    requiredPlugins('gpu'),
  );
});

function pack(base: string, inputs: PackageInputs) {
  const tree = buildSpackTree(join(base, 'tree'));
  const pkg = join(base, 'package');
  writePackageDir(pkg, inputs);
  const out = join(base, 'out');
  const r = runPackageView({ pkg, tree, out, gpgKey: join(base, 'no-such-key') });
  return { ...r, tarball: join(out, inputs.tarballName) };
}

it('manifest.json lists every plugin with the libraries it links', () => {
  withTempDir((tmp) => {
    const inputs = sampleInputs({
      requiredPlugins: [
        { path: 'lib/slurm/plugin_a.so', configure: '--with-a' },
        { path: 'lib/slurm/plugin_*.so', configure: '--with-any' },
        { path: 'sbin/slurmd', configure: '--with-dep', links: 'libslurmfull' },
      ],
    });
    const r = pack(tmp, inputs);
    assert.is(r.status, 0, r.output);
    assert.match(r.output, /plugin-manifest: 1 plugins in lib\/slurm; all 3 required files present/);
    const manifest = JSON.parse(execFileSync('tar', ['-xzOf', r.tarball, 'manifest.json'], { encoding: 'utf8' }));
    assert.equal(manifest.plugins.dir, 'view/lib/slurm');
    assert.equal(manifest.plugins.required, ['lib/slurm/plugin_a.so', 'lib/slurm/plugin_*.so', 'sbin/slurmd']);
    assert.equal(
      manifest.plugins.plugins.map((p: { file: string }) => p.file),
      ['plugin_a.so'],
      'libslurmfull.so is a library, not a plugin',
    );
    const a = manifest.plugins.plugins[0];
    assert.is(a.name, 'plugin/a');
    assert.ok(a.links.includes('libslurmfull.so') && a.links.includes('libc.so.6'), a.links.join(' '));
  });
});

it('a required plugin the build lacks fails the package stage, naming it and its configure check', () => {
  withTempDir((tmp) => {
    const inputs = sampleInputs({
      requiredPlugins: [
        { path: 'lib/slurm/plugin_a.so', configure: '--with-a' },
        ...requiredPlugins('cpu', { lua: false }).filter(
          (p) => p.path === 'lib/slurm/mpi_pmix*.so' || p.path === 'sbin/slurmd',
        ),
      ],
    });
    const r = pack(tmp, inputs);
    assert.is(r.status, 1, r.output);
    assert.match(
      r.output,
      /plugin-manifest: error: lib\/slurm\/mpi_pmix\*\.so is missing \(dropped when Slurm's configure lacks --with-pmix \(pmix, \+pmix\)\)/,
    );
    assert.match(
      r.output,
      /plugin-manifest: error: sbin\/slurmd does not link libhwloc\.so\* \(dropped when Slurm's configure lacks --with-hwloc \(hwloc, \+hwloc\)\)/,
    );
    assert.match(r.output, /2 of 3 required plugin files missing from the view/);
    assert.not.ok(existsSync(r.tarball), 'no tarball is written');
  });
});

test.run();
