/**
 * The rendered Lmod module, loaded by real Lmod (Debian's `lmod`) from an unpacked-tarball layout:
 * prefix from the tree the modulefile sits in, from SLURM_INSTALL_PREFIX, or from the fallback line that
 * slurm_install.sh --lmod-dir rewrites; unload restores the environment; a tree without bin/scontrol fails
 * with a clear message.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderPackageFiles } from '../tasks/lib/package-files.ts';
import { withTempDir, testIf, type Requirement } from './helpers.ts';
import { bash, sampleInputs, writePackageDir } from './spack-tree.ts';

const LMOD_INIT = ['/usr/share/lmod/lmod/init/bash', '/usr/share/lmod/lmod/init/profile'].find((p) => existsSync(p));
const needLmod: Requirement = () =>
  LMOD_INIT ? null : 'Lmod is not installed (apt-get install lmod, or scripts/install-test-deps.sh)';
const it = testIf(test, [needLmod]);

const inputs = sampleInputs({ series: '24.11' });
const MODULE = inputs.moduleName; // slurm/24.11-gcc12.2.0

/** An unpacked tarball: <root>/view/{bin/scontrol,sbin,...}, <root>/modules/<MODULE>.lua, <root>/data/slurm_assets. */
function unpacked(root: string, withScontrol = true): string {
  for (const d of ['view/bin', 'view/sbin', 'view/share/man', 'view/include', 'view/lib/pkgconfig'])
    mkdirSync(join(root, d), { recursive: true });
  if (withScontrol) {
    writeFileSync(join(root, 'view/bin/scontrol'), '#!/bin/sh\necho "slurm 24.11.5 from $0"\n');
    chmodSync(join(root, 'view/bin/scontrol'), 0o755);
  }
  writeFileSync(join(root, 'view/sbin/slurmstepd'), '');
  const pkg = join(root, '.pkg');
  writePackageDir(pkg, inputs);
  cpSync(join(pkg, 'assets/modules'), join(root, 'modules'), { recursive: true });
  cpSync(join(pkg, 'assets/data'), join(root, 'data'), { recursive: true });
  rmSync(pkg, { recursive: true });
  return root;
}

/** Runs a bash snippet with Lmod initialised and a clean, known environment; returns status and output. */
function lmod(script: string, env: Record<string, string> = {}) {
  const base: Record<string, string> = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    LANG: 'C',
    MANPATH: '/usr/share/man',
  };
  const r = spawnSync('bash', ['--noprofile', '--norc', '-c', `set -e\nsource ${LMOD_INIT}\n${script}`], {
    encoding: 'utf8',
    env: { ...base, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, output: `${r.stdout}${r.stderr}` };
}

const SHOW = `for v in PATH MANPATH SLURM_ROOT SLURM_INSTALL_PREFIX SLURM_CONF CPATH PKG_CONFIG_PATH CMAKE_PREFIX_PATH LD_LIBRARY_PATH; do echo "$v=\${!v-<unset>}"; done; echo "which=$(command -v scontrol || echo none)"`;

function vars(out: string, marker: string): Record<string, string> {
  const section = out.split(`--${marker}--\n`)[1]?.split('\n--')[0] ?? '';
  return Object.fromEntries(
    section
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

it('loads from the tree it sits in with no variable set; unload restores the environment', () => {
  withTempDir((tmp) => {
    const root = unpacked(join(tmp, 'site/slurm-24.11'));
    const view = join(root, 'view');
    const r = lmod(
      `echo --before--; ${SHOW}; module use ${root}/modules; module load ${MODULE}; echo --loaded--; ${SHOW}; scontrol; module unload ${MODULE}; echo --after--; ${SHOW}`,
    );
    assert.is(r.status, 0, r.output);
    const before = vars(r.stdout, 'before'),
      loaded = vars(r.stdout, 'loaded'),
      after = vars(r.stdout, 'after');
    assert.ok(loaded.PATH!.startsWith(`${view}/bin:${view}/sbin:`), loaded.PATH);
    assert.is(loaded.which, `${view}/bin/scontrol`);
    assert.is(loaded.SLURM_ROOT, view);
    assert.is(loaded.SLURM_INSTALL_PREFIX, view);
    assert.is(loaded.SLURM_CONF, '/etc/slurm/slurm.conf');
    assert.ok(loaded.MANPATH!.split(':').includes(`${view}/share/man`), loaded.MANPATH);
    assert.is(loaded.CPATH, `${view}/include`);
    assert.is(loaded.PKG_CONFIG_PATH, `${view}/lib/pkgconfig`);
    assert.is(loaded.CMAKE_PREFIX_PATH, view);
    assert.is(loaded.LD_LIBRARY_PATH, '<unset>', 'no LD_LIBRARY_PATH');
    assert.match(r.stdout, new RegExp(`slurm 24.11.5 from ${view}/bin/scontrol`));
    for (const v of [
      'PATH',
      'MANPATH',
      'SLURM_ROOT',
      'SLURM_INSTALL_PREFIX',
      'SLURM_CONF',
      'CPATH',
      'PKG_CONFIG_PATH',
      'CMAKE_PREFIX_PATH',
      'which',
    ]) {
      assert.is(after[v], before[v], `${v} after unload`);
    }
  });
});

it('SLURM_INSTALL_PREFIX wins (the view or the unpacked root), and survives unload; SLURM_CONF set by the user is kept', () => {
  withTempDir((tmp) => {
    const a = unpacked(join(tmp, 'a'));
    const b = unpacked(join(tmp, 'b'));
    for (const given of [join(b, 'view'), b]) {
      const r = lmod(
        `module use ${a}/modules; module load ${MODULE}; echo --loaded--; ${SHOW}; module unload ${MODULE}; echo --after--; ${SHOW}`,
        { SLURM_INSTALL_PREFIX: given, SLURM_CONF: '/srv/conf/slurm.conf' },
      );
      assert.is(r.status, 0, r.output);
      const loaded = vars(r.stdout, 'loaded'),
        after = vars(r.stdout, 'after');
      assert.is(loaded.SLURM_ROOT, join(b, 'view'), `given ${given}`);
      assert.is(loaded.which, join(b, 'view/bin/scontrol'));
      assert.is(loaded.SLURM_CONF, '/srv/conf/slurm.conf');
      assert.is(after.SLURM_INSTALL_PREFIX, given, "the user's value comes back after unload");
      assert.is(after.SLURM_CONF, '/srv/conf/slurm.conf');
      assert.is(after.SLURM_ROOT, '<unset>');
      assert.is(after.which, 'none');
    }
  });
});

it('a tree without bin/scontrol fails to load with a clear message', () => {
  withTempDir((tmp) => {
    const root = unpacked(join(tmp, 'broken'), false);
    const r = lmod(`module use ${root}/modules; module load ${MODULE}; echo loaded-anyway`);
    assert.is.not(r.status, 0, r.output);
    assert.not.match(r.stdout, /loaded-anyway/);
    const flat = (s: string) => s.replace(/\s+/g, ' '); // Lmod wraps its messages
    assert.match(flat(r.stderr), `no bin/scontrol found in ${root}/view or /opt/slurm/view.`);
    assert.match(flat(r.stderr), 'Set SLURM_INSTALL_PREFIX to the Slurm installation');
    const r2 = lmod(`module use ${root}/modules; module load ${MODULE}`, {
      SLURM_INSTALL_PREFIX: join(tmp, 'nowhere'),
    });
    assert.is.not(r2.status, 0);
    assert.match(flat(r2.stderr), `no bin/scontrol found in ${tmp}/nowhere or ${tmp}/nowhere/view.`);
  });
});

it('whatis and help name the version, GCC and flavour', () => {
  withTempDir((tmp) => {
    const root = unpacked(join(tmp, 't'));
    const r = lmod(`module use ${root}/modules; module whatis ${MODULE} 2>&1; module help ${MODULE} 2>&1`);
    assert.is(r.status, 0, r.output);
    assert.match(r.output, /Version: 24\.11\.5/);
    assert.match(r.output, /Compiler: GCC 12\.2\.0/);
    assert.match(r.output, /Flavour: cpu/);
    assert.match(r.output, new RegExp(`Installation prefix: ${root}/view`));
  });
});

it('GPU flavour help says the driver libraries come from the host', () => {
  const gpu = renderPackageFiles(
    sampleInputs({
      flavour: 'gpu',
      moduleName: 'slurm/24.11-gcc12.2.0',
      tarballName: 'slurm-24.11-gcc12.2.0-gpu-software.tar.gz',
    }),
  ).find((f) => f.path.startsWith('assets/modules/'))!;
  assert.match(String(gpu.content), /libnvidia-ml\.so/);
  const cpu = renderPackageFiles(inputs).find((f) => f.path.startsWith('assets/modules/'))!;
  assert.not.match(String(cpu.content), /libnvidia-ml/);
});

it('a copy installed by slurm_install.sh --lmod-dir loads from its rewritten fallback prefix', () => {
  withTempDir((tmp) => {
    // The real tree lives at <tmp>/srv/slurm; the scratch root maps the same path to it via a symlink, so the
    // prefix written into the copy exists on this host too.
    const real = unpacked(join(tmp, 'srv/slurm'));
    const root = join(tmp, 'root');
    mkdirSync(join(root, 'etc'), { recursive: true });
    writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
    writeFileSync(join(root, 'etc/group'), 'root:x:0:\n');
    mkdirSync(join(root, tmp, 'srv'), { recursive: true });
    symlinkSync(real, join(root, real));
    const install = bash(join(real, 'data/slurm_assets/slurm_install.sh'), [
      '--root',
      root,
      '--prefix',
      join(real, 'view'),
      '--lmod-dir',
      '/opt/lmod',
    ]);
    assert.is(install.status, 0, install.output);
    const copy = join(root, 'opt/lmod', `${MODULE}.lua`);
    assert.ok(existsSync(copy), install.output);
    const r = lmod(`module use ${root}/opt/lmod; module load ${MODULE}; echo --loaded--; ${SHOW}`);
    assert.is(r.status, 0, r.output);
    assert.is(vars(r.stdout, 'loaded').SLURM_ROOT, join(real, 'view'));
  });
});

test.run();
