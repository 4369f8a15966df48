/**
 * The architecture axis (issue 17) without Docker: plan, rendered context, buildx command, bake file, CI
 * workflow, and the package stage's ELF architecture check (scripts/package/elf-arch.py) on real files.
 * The end-to-end proof under emulation is test/aarch64.docker.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { ARCHITECTURES, requiredPlugins } from '../tasks/lib/catalog.ts';
import { ConfigurationError } from '../tasks/lib/errors.ts';
import { planBuild, packageInputs } from '../tasks/lib/plan.ts';
import { planMatrix, renderBakeFile, renderCiWorkflow } from '../tasks/lib/matrix.ts';
import { renderBuildContext, renderArgs } from '../tasks/lib/render.ts';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { needCommand, repoRoot, runCli, withTempDir, testIf } from './helpers.ts';
import { bash, buildSpackTree, sampleInputs, writePackageDir, runPackageView } from './spack-tree.ts';

test('x86_64 stays the default and keeps every name it had', () => {
  const p = planBuild({ slurm: '25.11', gcc: '13.4.0' });
  assert.is(p.arch.name, 'x86_64');
  assert.is(p.arch.platform, 'linux/amd64');
  assert.is(p.spack.target, 'x86_64_v2');
  assert.is(p.id, 'slurm-25.11-gcc13.4.0');
  assert.is(p.artifacts.tarball, 'slurm-25.11-gcc13.4.0-software.tar.gz');
  assert.is(p.imageTag, 'slurm-factory:25.11-gcc13.4.0');
  assert.is(p.compilerTag, 'slurm-factory:compiler-13.4.0');
  assert.is(p.cacheKey, 'ubuntu-24.04-gcc13.4.0');
  assert.is(p.cacheIds.buildcache, 'slurm-factory-buildcache-ubuntu-24.04-gcc13.4.0');
  assert.equal(planBuild({ slurm: '25.11', gcc: '13.4.0', arch: 'x86_64' }), p, '--arch x86_64 is the same plan');
  assert.not.ok(renderArgs(p).includes('--arch'), 'x86_64 render headers unchanged');
});

test('--arch aarch64: names, image tags, cache ids and binary caches carry the architecture; Spack target aarch64', () => {
  const p = planBuild({ slurm: '25.11', gcc: '13.4.0', arch: 'aarch64' });
  assert.is(p.arch.platform, 'linux/arm64');
  assert.is(p.spack.target, 'aarch64');
  assert.is(p.id, 'slurm-25.11-gcc13.4.0-aarch64');
  assert.is(p.artifacts.tarball, 'slurm-25.11-gcc13.4.0-aarch64-software.tar.gz');
  assert.is(p.imageTag, 'slurm-factory:25.11-gcc13.4.0-aarch64');
  assert.is(p.compilerTag, 'slurm-factory:compiler-13.4.0-aarch64');
  assert.is(p.contextDir, 'dockerfiles/slurm-25.11-gcc13.4.0-aarch64');
  const x86 = planBuild({ slurm: '25.11', gcc: '13.4.0' });
  for (const k of Object.keys(p.cacheIds) as (keyof typeof p.cacheIds)[]) {
    if (k === 'spackSources') assert.is(p.cacheIds[k], x86.cacheIds[k], 'source archives are architecture-independent');
    else assert.is.not(p.cacheIds[k], x86.cacheIds[k], `${k} is keyed by architecture`);
  }
  assert.is(p.cacheKey, 'ubuntu-24.04-aarch64-gcc13.4.0', 'the host binary cache directory too');
  assert.is(p.baseImage, 'ubuntu:24.04', 'the same multi-arch image, pulled for linux/arm64');
  assert.is(p.os.glibc, '2.39', 'same distro release, same glibc floor');
  // Debian/Docker spellings are aliases.
  assert.is(planBuild({ slurm: '25.11', arch: 'arm64' }).id, planBuild({ slurm: '25.11', arch: 'aarch64' }).id);
  assert.is(planBuild({ slurm: '25.11', arch: 'amd64' }).id, 'slurm-25.11-gcc13.4.0');
  assert.ok(renderArgs(p).join(' ').includes('--arch aarch64'));
});

test('an unknown --arch is one line naming the value and the choices, exit 2', () => {
  assert.throws(
    () => planBuild({ slurm: '25.11', arch: 'sparc64' }),
    (e: unknown) => e instanceof ConfigurationError && /architecture 'sparc64' is not a known target/.test(e.message),
  );
  const r = runCli(['render', '25.11', '--arch', 'ppc64le', '--out', '/nonexistent-never-written']);
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /architecture 'ppc64le' is not a known target.*x86_64, aarch64/);
  assert.is(r.stderr.trim().split('\n').length, 1);
});

test('GPU on aarch64 is NVML only: cuda, +nvml, gpu_nvml required; no ROCm anywhere', () => {
  const arm = planBuild({ slurm: '25.11', gpu: true, arch: 'aarch64' });
  assert.is(arm.id, 'slurm-25.11-gcc13.4.0-gpu-aarch64');
  assert.ok(arm.specs.deps.includes('cuda'));
  assert.not.ok(arm.specs.deps.includes('rocm-smi-lib'));
  assert.match(arm.specs.slurm, /\+nvml/);
  assert.not.match(arm.specs.slurm, /\+rsmi/);
  const paths = packageInputs(arm).requiredPlugins.map((r) => r.path);
  assert.ok(paths.includes('lib/slurm/gpu_nvml.so'));
  assert.not.ok(paths.includes('lib/slurm/gpu_rsmi.so'));
  assert.ok(
    paths.includes('sbin/slurmd') && paths.includes('lib/slurm/auth_munge.so'),
    'the CPU plugins stay required',
  );
  assert.is(paths.length, requiredPlugins('gpu').length - 1, 'exactly one fewer than x86_64 GPU: gpu_rsmi');
  assert.equal(arm.viewExclude, ['cuda', 'gcc']);
  // x86_64 GPU unchanged: NVML and RSMI.
  const x86 = planBuild({ slurm: '25.11', gpu: true });
  assert.match(x86.specs.slurm, /\+nvml \+rsmi/);
  assert.ok(requiredPlugins('gpu').some((r) => r.path === 'lib/slurm/gpu_rsmi.so'));
  assert.equal(
    ARCHITECTURES.map((a) => a.name),
    ['x86_64', 'aarch64'],
  );
});

test('rendered context: spack.yaml requires target=aarch64, build-info.json carries arch', () => {
  const files = new Map(
    renderBuildContext(planBuild({ slurm: '25.11', gcc: '13.4.0', arch: 'aarch64' })).map((f) => [
      f.path,
      String(f.content),
    ]),
  );
  for (const stage of ['compiler', 'deps', 'slurm']) {
    const y = YAML.parse(files.get(`spack/${stage}/spack.yaml`)!);
    assert.equal(y.spack.packages.all.require, ['target=aarch64'], stage);
    assert.is(y.spack.concretizer.targets.granularity, 'generic');
  }
  const info = JSON.parse(files.get('package/build-info.json')!);
  assert.is(info.arch, 'aarch64');
  assert.is(info.tarballName, 'slurm-25.11-gcc13.4.0-aarch64-software.tar.gz');
  assert.match(files.get('Dockerfile')!, /render 25\.11 --gcc 13\.4\.0 --arch aarch64/);
  const x86 = new Map(
    renderBuildContext(planBuild({ slurm: '25.11', gcc: '13.4.0' })).map((f) => [f.path, String(f.content)]),
  );
  assert.equal(YAML.parse(x86.get('spack/deps/spack.yaml')!).spack.packages.all.require, ['target=x86_64_v2']);
  assert.is(JSON.parse(x86.get('package/build-info.json')!).arch, 'x86_64');
});

test('build --print: buildx runs with --platform of the plan', () => {
  const arm = runCli(['build', '25.11', '--arch', 'aarch64', '--print']);
  assert.is(arm.status, 0, arm.stderr);
  assert.match(arm.stdout, /--platform linux\/arm64/);
  const x86 = runCli(['build', '25.11', '--print']);
  assert.is(x86.status, 0, x86.stderr);
  assert.match(x86.stdout, /--platform linux\/amd64/);
});

test('bake: one target per architecture with its platforms, per-arch toolchains and an arch group', () => {
  const plans = planMatrix({ slurm: ['25.11'], gcc: ['13.4.0'], arches: ['x86_64', 'aarch64'] });
  assert.equal(
    plans.map((p) => p.id),
    ['slurm-25.11-gcc13.4.0', 'slurm-25.11-gcc13.4.0-aarch64'],
  );
  const hcl = renderBakeFile(plans, {
    contextOf: (p) => p.contextDir,
    buildsDir: '/b',
    buildcacheDir: '/bc',
    sourcecacheDir: '/sc',
  });
  const block = (name: string) => {
    const i = hcl.indexOf(`target "${name}" {\n`);
    return i < 0 ? '' : hcl.slice(i, hcl.indexOf('\n}\n', i));
  };
  // Each target inherits its toolchain's base target, which says the platform and the host buildcache once.
  const tc = '_toolchain-ubuntu-24-04-aarch64-gcc13-4-0-cpu';
  assert.match(block(tc), /platforms = \["linux\/arm64"\]/);
  assert.match(block(tc), /host-buildcache = "\$\{BUILDCACHE_DIR\}\/ubuntu-24\.04-aarch64-gcc13\.4\.0"/);
  for (const t of ['slurm-25-11-gcc13-4-0-aarch64', 'deps-ubuntu-24-04-aarch64-gcc13-4-0-cpu']) {
    assert.match(block(t), new RegExp(`inherits += \\["${tc}"\\]`), t);
  }
  assert.match(block('slurm-25-11-gcc13-4-0-aarch64'), /deps += "target:deps-ubuntu-24-04-aarch64-gcc13-4-0-cpu"/);
  assert.match(block('_toolchain-ubuntu-24-04-gcc13-4-0-cpu'), /platforms = \["linux\/amd64"\]/);
  assert.match(block('slurm-25-11-gcc13-4-0'), /inherits += \["_toolchain-ubuntu-24-04-gcc13-4-0-cpu"\]/);
  assert.match(hcl, /group "aarch64" \{\n {2}targets = \["slurm-25-11-gcc13-4-0-aarch64"\]/);
  assert.match(hcl, /group "x86_64" \{\n {2}targets = \["slurm-25-11-gcc13-4-0"\]/);
});

test('ci-matrix --arch x86_64,aarch64: aarch64 jobs on Arm runners, build with --arch; valid workflow', async () => {
  const r = runCli(['ci-matrix', '--slurm', '25.11', '--arch', 'x86_64,aarch64']);
  assert.is(r.status, 0, r.stderr);
  const wf = YAML.parse(r.stdout);
  const include = wf.jobs.build.strategy.matrix.include as { id: string; arch: string; runner: string }[];
  assert.equal(
    include.map((i) => [i.id, i.arch, i.runner]),
    [
      ['slurm-25.11-gcc13.4.0', 'x86_64', 'ubuntu-24.04'],
      ['slurm-25.11-gcc13.4.0-aarch64', 'aarch64', 'ubuntu-24.04-arm'],
    ],
  );
  assert.is(wf.jobs.build['runs-on'], '${{ matrix.runner }}');
  assert.match(
    wf.jobs.build.steps.find((s: { name?: string }) => s.name === 'build').run,
    /--arch \$\{\{ matrix\.arch \}\}/,
  );
  const { validateWorkflow } = (await import('@action-validator/core'))
    .default as typeof import('@action-validator/core');
  assert.equal(validateWorkflow(r.stdout).errors, []);
  assert.equal(
    renderCiWorkflow(planMatrix({ slurm: ['25.11'] })).includes('ubuntu-24.04-arm'),
    false,
    'x86-only matrices stay on x86 runners',
  );
});

/** A file that starts with a real ELF header for machine `m` (the check reads headers only). */
function elfHeader(path: string, machine: number, cls = 2) {
  const h = Buffer.alloc(64);
  h.write('\x7fELF', 0, 'latin1');
  h[4] = cls;
  h[5] = 1;
  h[6] = 1;
  h.writeUInt16LE(3, 16); // ET_DYN
  h.writeUInt16LE(machine, 18);
  writeFileSync(path, h);
}

test('elf-arch.py: passes a view of the right architecture, fails naming every foreign ELF file', () => {
  withTempDir((t) => {
    const view = join(t, 'view');
    mkdirSync(join(view, 'lib/slurm'), { recursive: true });
    mkdirSync(join(view, 'sbin'));
    copyFileSync('/bin/true', join(view, 'sbin/true-x86')); // a real x86_64 executable of this host
    writeFileSync(join(view, 'README'), 'not an ELF file\n');
    const run = (arch: string) =>
      spawnSync('python3', [join(repoRoot, 'scripts/package/elf-arch.py'), '--view', view, '--arch', arch], {
        encoding: 'utf8',
      });
    let r = run('x86_64');
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stderr, /all 1 ELF files are x86_64/);
    r = run('aarch64');
    assert.is(r.status, 1);
    assert.match(r.stdout, /^FAIL sbin\/true-x86: x86_64 64-bit LSB, not aarch64$/m);
    // An aarch64 view with one stray x86 plugin and one 32-bit Arm file: both named.
    elfHeader(join(view, 'lib/slurm/auth_slurm.so'), 183);
    elfHeader(join(view, 'lib/slurm/arm32.so'), 40, 1);
    r = run('aarch64');
    assert.is(r.status, 1);
    assert.match(r.stdout, /^FAIL lib\/slurm\/arm32\.so: ARM \(32-bit\) 32-bit LSB, not aarch64$/m);
    assert.match(r.stdout, /^FAIL sbin\/true-x86: /m);
    assert.not.match(r.stdout, /auth_slurm/);
    assert.match(r.stderr, /2 of 3 ELF files are not aarch64/);
    r = run('mips');
    assert.is(r.status, 1);
    assert.match(r.stderr, /unknown architecture 'mips': use one of aarch64, x86_64/);
  }, 'sf-elf-arch-');
});

const withPackageTools = testIf(test, [
  needCommand('gcc', 'apt-get install gcc'),
  needCommand('patchelf', 'apt-get install patchelf'),
  needCommand('readelf', 'apt-get install binutils'),
  needCommand('python3', 'apt-get install python3'),
]);

withPackageTools(
  'the real package stage: an x86_64 view packs as arch x86_64; declared aarch64 it fails, naming the files',
  () => {
    withTempDir((tmp) => {
      const pack = (name: string, arch?: 'x86_64' | 'aarch64') => {
        const tree = buildSpackTree(join(tmp, `tree-${name}`)); // the stage changes its view in place
        const inputs = { ...sampleInputs({ requiredPlugins: [] }), ...(arch ? { arch } : {}) };
        const pkg = join(tmp, `package-${name}`);
        writePackageDir(pkg, inputs);
        const out = join(tmp, `out-${name}`);
        const r = runPackageView({ pkg, tree, out, gpgKey: join(tmp, 'no-key') });
        return { ...r, tarball: join(out, inputs.tarballName) };
      };
      const old = pack('no-arch'); // a build-info from before the axis: x86_64
      assert.is(old.status, 0, old.output);
      assert.match(old.output, /elf-arch: all \d+ ELF files are x86_64/);
      const manifest = JSON.parse(execFileSync('tar', ['-xzOf', old.tarball, 'manifest.json'], { encoding: 'utf8' }));
      assert.is(manifest.arch, 'x86_64');
      assert.is(manifest.platform, 'linux/amd64');
      const checked = Number(/elf-arch: all (\d+) ELF files/.exec(old.output)![1]);
      assert.is(manifest.elfFiles, checked, 'the manifest records how many ELF files elf-arch.py checked');
      const arm = pack('aarch64', 'aarch64');
      assert.is(arm.status, 1, arm.output);
      assert.match(arm.output, /^FAIL sbin\/slurmd: x86_64 64-bit LSB, not aarch64$/m);
      assert.match(arm.output, /^FAIL lib\/slurm\/plugin_a\.so: x86_64 64-bit LSB, not aarch64$/m);
      assert.match(arm.output, /elf-arch: error: 8 of 8 ELF files are not aarch64 64-bit LSB/);
      assert.not.ok(existsSync(arm.tarball), 'no tarball is written');
    }, 'sf-arch-pkg-');
  },
);

test.run();
