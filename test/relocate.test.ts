/**
 * Relocation with real tools: a Spack-like tree compiled with gcc (test/spack-tree.ts) is pruned, relocated
 * and audited by scripts/package/*.sh, moved to another prefix with the install tree deleted, and run.
 * ldd/readelf confirm that everything resolves inside the moved tree.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { needCommand, withTempDir, testIf } from './helpers.ts';
import { bash, buildSpackTree, packageScript, type SpackTree } from './spack-tree.ts';

const tools = [
  needCommand('gcc', 'apt-get install gcc libc6-dev'),
  needCommand('patchelf', 'apt-get install patchelf'),
  needCommand('readelf', 'apt-get install binutils'),
];
const it = testIf(test, tools);
const withPkgConfig = testIf(test, [...tools, needCommand('pkg-config', 'apt-get install pkgconf')]);

const ELF_FILES = [
  'bin/scontrol',
  'bin/scontrol-hardlink',
  'sbin/slurmd',
  'libexec/slurm/scontrol-deep',
  'lib/slurm/libslurmfull.so',
  'lib/slurm/plugin_a.so',
  'lib/libdep.so.1.0',
  'lib/libpmixlike.so.2',
];

function relocate(tree: SpackTree, extra: string[] = []) {
  const prune = bash(packageScript('prune-view.sh'), ['--view', tree.viewLink]);
  assert.is(prune.status, 0, prune.output);
  const r = bash(packageScript('relocate-view.sh'), ['--view', tree.viewLink, '--specs', tree.specsFile, ...extra]);
  assert.is(r.status, 0, r.output);
  return r;
}

function audit(view: string) {
  return bash(packageScript('audit-view.sh'), ['--view', view]);
}

/** Moves the real view to <root>/elsewhere/deep/prefix/view and deletes the install tree and build stage. */
function moveAway(tree: SpackTree, to = 'elsewhere/deep/prefix/view'): string {
  const dest = join(tree.root, to);
  mkdirSync(join(dest, '..'), { recursive: true });
  renameSync(tree.view, dest);
  rmSync(join(tree.root, 'spack-root'), { recursive: true, force: true });
  rmSync(join(tree.root, 'spack-stage'), { recursive: true, force: true });
  rmSync(join(tree.root, 'opt'), { recursive: true, force: true });
  return dest;
}

function run(file: string, args: string[]) {
  const env = { ...process.env };
  delete env.LD_LIBRARY_PATH;
  const r = spawnSync(file, args, { encoding: 'utf8', env });
  return { status: r.status, output: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

function dynamic(file: string): { runpath: string[]; rpath: string[]; needed: string[] } {
  const out = execFileSync('readelf', ['-dW', file], { encoding: 'utf8' });
  const grab = (tag: string) => [...out.matchAll(new RegExp(`\\(${tag}\\)[^\\[]*\\[(.*)\\]`, 'g'))].map((m) => m[1]!);
  return {
    runpath: grab('RUNPATH').flatMap((s) => s.split(':')),
    rpath: grab('RPATH').flatMap((s) => s.split(':')),
    needed: grab('NEEDED'),
  };
}

it('the relocated tree runs from another prefix after the install tree is deleted; ldd resolves inside it', () => {
  withTempDir((tmp) => {
    // Spaces and '&' in both locations: shell quoting and bash 5.2's patsub_replacement must not matter.
    const tree = buildSpackTree(join(tmp, 'build dir&1'));
    relocate(tree);
    const a = audit(tree.viewLink);
    assert.is(a.status, 0, a.output);
    const view = moveAway(tree, 'elsewhere/deep prefix&2/view');
    assert.not.ok(existsSync(tree.prefixes.slurm), 'install tree deleted');

    for (const exe of ['bin/scontrol', 'sbin/slurmd', 'libexec/slurm/scontrol-deep', 'bin/scontrol-hardlink']) {
      const r = run(join(view, exe), [join(view, 'lib/slurm')]);
      assert.is(r.status, 0, `${exe}: ${r.output}`);
      assert.is(r.stdout, tree.expectedOutput, exe);
    }
    for (const rel of ELF_FILES) {
      const f = join(view, rel);
      const d = dynamic(f);
      assert.equal(d.rpath, [], `${rel} has no DT_RPATH left`);
      // Leaf libraries (libdep, libpmixlike) need nothing from the view and get no RUNPATH.
      if (!rel.startsWith('lib/lib')) assert.ok(d.runpath.length > 0, `${rel} has a RUNPATH`);
      for (const e of d.runpath) assert.ok(e.startsWith('$ORIGIN'), `${rel}: RUNPATH entry ${e}`);
      const ldd = execFileSync('ldd', [f], { encoding: 'utf8' });
      assert.not.match(ldd, /not found/, `${rel}:\n${ldd}`);
      for (const m of ldd.matchAll(/^\s*(\S+) => (.+) \(0x[0-9a-f]+\)$/gm)) {
        const [, soname, path] = m;
        if (/^(libc|libm|libdl|libpthread|librt)\.so/.test(soname!)) continue;
        assert.ok(path!.startsWith(view + '/'), `${rel}: ${soname} resolves to ${path}, outside ${view}`);
      }
    }
    // The RUNPATHs are the expected relative ones.
    assert.equal(dynamic(join(view, 'bin/scontrol')).runpath, ['$ORIGIN/../lib/slurm']);
    assert.equal(dynamic(join(view, 'libexec/slurm/scontrol-deep')).runpath, ['$ORIGIN/../../lib/slurm']);
    assert.equal(dynamic(join(view, 'lib/slurm/libslurmfull.so')).runpath, ['$ORIGIN/..', '$ORIGIN']);
    // The plugin dlopens libpmixlike by bare name: its own RUNPATH must reach lib/.
    assert.ok(dynamic(join(view, 'lib/slurm/plugin_a.so')).runpath.includes('$ORIGIN/..'));
  });
});

it('control: without relocation the moved tree does not run', () => {
  withTempDir((tmp) => {
    const tree = buildSpackTree(tmp);
    const before = run(join(tree.viewLink, 'bin/scontrol'), [join(tree.viewLink, 'lib/slurm')]);
    assert.is(before.status, 0, `runs in place before moving: ${before.output}`);
    const view = moveAway(tree);
    const r = run(join(view, 'bin/scontrol'), [join(view, 'lib/slurm')]);
    assert.is.not(r.status, 0);
    assert.match(r.output, /libslurmfull\.so: cannot open shared object file/);
  });
});

it('hardlinks: same-directory links stay one inode, a link at another depth gets its own copy', () => {
  withTempDir((tmp) => {
    const tree = buildSpackTree(tmp);
    const r = relocate(tree);
    assert.match(r.stderr, /un-hardlinked: 1/);
    const ino = (rel: string) => statSync(join(tree.view, rel)).ino;
    assert.is(ino('bin/scontrol'), ino('bin/scontrol-hardlink'));
    assert.is.not(ino('bin/scontrol'), ino('libexec/slurm/scontrol-deep'));
    // The view is patched in place, so the install tree's hardlink of bin/scontrol carries the new RUNPATH.
    assert.is(statSync(join(tree.prefixes.slurm, 'bin/scontrol')).ino, ino('bin/scontrol'));
  });
});

it('symlinks become relative, pkg-config files use ${pcfiledir}, archives and docs are pruned', () => {
  withTempDir((tmp) => {
    const tree = buildSpackTree(tmp);
    relocate(tree);
    assert.is(readlinkSync(join(tree.view, 'bin/scontrol-abs-link')), 'scontrol');
    assert.is(readlinkSync(join(tree.view, 'lib/libdep.so.1')), 'libdep.so.1.0');
    for (const pc of ['dep.pc', 'slurm.pc']) {
      const text = readFileSync(join(tree.view, 'lib/pkgconfig', pc), 'utf8');
      assert.not.ok(text.includes(tmp), `${pc} still names the build tree:\n${text}`);
      assert.match(text, /^prefix=\$\{pcfiledir\}\/\.\.\/\.\.$/m);
    }
    assert.match(
      readFileSync(join(tree.view, 'lib/pkgconfig/slurm.pc'), 'utf8'),
      /-Wl,-rpath,\$\{pcfiledir\}\/\.\.\/slurm /,
    );
    for (const gone of ['lib/libdep.a', 'lib/libdep.la', 'share/doc'])
      assert.not.ok(existsSync(join(tree.view, gone)), gone);
    for (const kept of [
      'include/dep.h',
      'include/slurm/slurm.h',
      'lib/pkgconfig/slurm.pc',
      'share/man/man1/scontrol.1',
    ]) {
      assert.ok(existsSync(join(tree.view, kept)), kept);
    }
  });
});

withPkgConfig('pkg-config reports the moved prefix for slurm.pc', () => {
  withTempDir((tmp) => {
    const tree = buildSpackTree(tmp);
    relocate(tree);
    const view = moveAway(tree);
    const out = execFileSync('pkg-config', ['--cflags', '--libs', 'slurm'], {
      encoding: 'utf8',
      env: { ...process.env, PKG_CONFIG_PATH: join(view, 'lib/pkgconfig') },
    });
    assert.match(out, new RegExp(`-I${view}/lib/pkgconfig/\\.\\./\\.\\./include`));
    assert.match(out, new RegExp(`-L${view}/lib/pkgconfig/\\.\\./\\.\\./lib`));
  });
});

it('relocation is idempotent: a second run changes no byte', () => {
  withTempDir((tmp) => {
    const tree = buildSpackTree(tmp);
    relocate(tree);
    const snap = () =>
      ELF_FILES.concat(['lib/pkgconfig/dep.pc', 'lib/pkgconfig/slurm.pc'])
        .map((rel) => readFileSync(join(tree.view, rel)).toString('base64'))
        .join('\n');
    const first = snap();
    const again = relocate(tree);
    assert.match(again.stderr, /RUNPATH rewritten: 0,/);
    assert.match(again.stderr, /pkg-config files rewritten: 0/);
    assert.ok(snap() === first, 'files changed on the second run');
  });
});

it('the audit fails naming the file and entry: planted RPATH, unresolvable NEEDED, shipped NVML stub', () => {
  withTempDir((tmp) => {
    const tree = buildSpackTree(tmp);
    relocate(tree);
    assert.is(audit(tree.view).status, 0);

    const bad = `${tree.installRoot}/hwloc-2.11.1-abcdefghijklmnopqrstuvwxyz234567/lib`;
    execFileSync('patchelf', ['--set-rpath', `$ORIGIN:${bad}`, join(tree.view, 'lib/slurm/plugin_a.so')]);
    let r = audit(tree.view);
    assert.is(r.status, 1, r.output);
    assert.match(r.stderr, new RegExp(`FAIL lib/slurm/plugin_a\\.so: RUNPATH ${bad.replace(/[.]/g, '\\.')}: `));
    assert.match(
      r.stderr,
      /FAIL lib\/slurm\/plugin_a\.so: NEEDED libslurmfull\.so|FAIL lib\/slurm\/plugin_a\.so: RUNPATH/,
    );

    // Relocation repairs it (the hwloc dir maps to nothing in the view and is dropped).
    relocate(tree);
    assert.is(audit(tree.view).status, 0);

    execFileSync('patchelf', ['--add-needed', 'libmissing.so.3', join(tree.view, 'sbin/slurmd')]);
    r = audit(tree.view);
    assert.is(r.status, 1);
    assert.match(
      r.stderr,
      /FAIL sbin\/slurmd: NEEDED libmissing\.so\.3: not found on its RUNPATH \(\$ORIGIN\/\.\.\/lib\/slurm\)/,
    );
    execFileSync('patchelf', ['--remove-needed', 'libmissing.so.3', join(tree.view, 'sbin/slurmd')]);

    // Host GPU driver libraries may be NEEDED from outside the view ...
    execFileSync('patchelf', ['--add-needed', 'libnvidia-ml.so.1', join(tree.view, 'lib/slurm/plugin_a.so')]);
    r = audit(tree.view);
    assert.is(r.status, 0, r.output);
    // ... but never shipped: CUDA's NVML stub in lib/stubs fails the audit, and prune-view removes it.
    mkdirSync(join(tree.view, 'lib/stubs'));
    copyFileSync(join(tree.view, 'lib/libdep.so.1.0'), join(tree.view, 'lib/stubs/libnvidia-ml.so'));
    r = audit(tree.view);
    assert.is(r.status, 1);
    assert.match(r.stderr, /FAIL lib\/stubs\/libnvidia-ml\.so: shipped: libnvidia-ml\.so must come from the host/);
    const p = bash(packageScript('prune-view.sh'), ['--view', tree.view]);
    assert.match(p.stderr, /host-gpu-libs: 1 files/);
    assert.not.ok(existsSync(join(tree.view, 'lib/stubs')));
    assert.is(audit(tree.view).status, 0);

    // An absolute symlink into the install tree is named too.
    execFileSync('ln', ['-s', `${tree.prefixes.dep}/lib/libdep.so.1.0`, join(tree.view, 'lib/libdep-abs.so')]);
    r = audit(tree.view);
    assert.is(r.status, 1);
    assert.match(r.stderr, /FAIL lib\/libdep-abs\.so: symlink -> \S+: points into the Spack install tree/);
  });
});

/** Highest GLIBC_x.y over every ELF file, computed independently with objdump -T. */
function objdumpFloor(view: string): string {
  let best = [0, 0];
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(d, e.name)) : e.isFile() ? [join(d, e.name)] : [],
    );
  for (const f of walk(view)) {
    const r = spawnSync('objdump', ['-T', f], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    for (const m of r.stdout.matchAll(/GLIBC_(\d+)\.(\d+)/g)) {
      const v = [Number(m[1]), Number(m[2])];
      if (v[0]! > best[0]! || (v[0] === best[0] && v[1]! > best[1]!)) best = v;
    }
  }
  return best.join('.');
}

it('glibc floor: the highest GLIBC_x.y needed, and which file needs it', () => {
  withTempDir((tmp) => {
    const plain = buildSpackTree(join(tmp, 'plain'));
    const r1 = bash(packageScript('glibc-floor.sh'), ['--view', plain.viewLink]);
    assert.is(r1.status, 0, r1.output);
    assert.is(r1.stdout.trim(), objdumpFloor(plain.view));

    // arc4random appeared in glibc 2.36: a tree using it has floor 2.36, set by that binary.
    const host = execFileSync('ldd', ['--version'], { encoding: 'utf8' }).match(/(\d+\.\d+)\s*$/m)?.[1];
    if (host && Number(host.split('.')[1]) >= 36 && host.startsWith('2.')) {
      const newer = buildSpackTree(join(tmp, 'newer'), { needsGlibc236: true });
      const r2 = bash(packageScript('glibc-floor.sh'), ['--view', newer.viewLink, '--with-file']);
      assert.is(r2.stdout.trim(), '2.36 bin/scontrol');
      assert.is(objdumpFloor(newer.view), '2.36');
      assert.ok(r1.stdout.trim() !== '2.36', `plain tree floor ${r1.stdout.trim()} should be below 2.36`);
    } else {
      console.log(`NOTE glibc-floor: host glibc ${host} < 2.36, the arc4random case is not exercised`);
    }
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    assert.is(bash(packageScript('glibc-floor.sh'), ['--view', empty]).stdout.trim(), 'none');
  });
});

it('relocate-view --dry-run changes nothing', () => {
  withTempDir((tmp) => {
    const tree = buildSpackTree(tmp);
    const before = readFileSync(join(tree.view, 'bin/scontrol'));
    const r = bash(packageScript('relocate-view.sh'), ['--view', tree.viewLink, '--dry-run', '--verbose']);
    assert.is(r.status, 0, r.output);
    assert.match(r.stderr, /bin\/scontrol: RPATH '.*' -> RUNPATH '\$ORIGIN\/\.\.\/lib\/slurm'/);
    assert.ok(readFileSync(join(tree.view, 'bin/scontrol')).equals(before));
    assert.is(readlinkSync(join(tree.view, 'bin/scontrol-abs-link')), `${tree.prefixes.slurm}/bin/scontrol`);
  });
});

test.run();
