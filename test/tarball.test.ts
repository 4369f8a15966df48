/**
 * package-view.sh end to end on a Spack-like tree compiled with gcc: the tarball's layout and members,
 * manifest fields, the .sha256, a byte-identical repack, hardlinks, running from the unpacked tarball, and
 * signing with a throwaway key (real gpg).
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
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gpgHome, needCommand, withTempDir, testIf } from './helpers.ts';
import { cyclonedxErrors } from './cyclonedx.ts';
import {
  bash,
  buildSpackTree,
  packageScript,
  sampleInputs,
  writePackageDir,
  type SpackTree,
  runPackageView,
} from './spack-tree.ts';

const tools = [
  needCommand('gcc', 'apt-get install gcc libc6-dev'),
  needCommand('patchelf', 'apt-get install patchelf'),
  needCommand('readelf', 'apt-get install binutils'),
  needCommand('python3', 'apt-get install python3'),
];
const it = testIf(test, tools);
const withGpg = testIf(test, [...tools, needCommand('gpg', 'apt-get install gnupg')]);

const EPOCH = 1700000000; // 2023-11-14T22:13:20Z
const inputs = sampleInputs({ series: '24.11' });
const TARBALL = inputs.tarballName;

interface Packaged {
  tree: SpackTree;
  pkg: string;
  out: string;
  tarball: string;
  log: string;
}

function packageTree(
  base: string,
  opts: { env?: Record<string, string>; args?: string[]; out?: string; tree?: SpackTree } = {},
): Packaged & { status: number } {
  const tree = opts.tree ?? buildSpackTree(join(base, 'tree'));
  const pkg = join(base, 'package');
  if (!existsSync(pkg)) writePackageDir(pkg, inputs);
  const out = opts.out ?? join(base, 'out');
  const r = runPackageView({
    pkg,
    tree,
    out,
    gpgKey: join(base, 'no-such-key'),
    args: opts.args,
    env: { SOURCE_DATE_EPOCH: String(EPOCH), ...opts.env },
  });
  return { tree, pkg, out, tarball: join(out, TARBALL), log: r.output, status: r.status };
}

interface Member {
  type: string;
  mode: string;
  owner: string;
  size: number;
  time: string;
  name: string;
  link?: string;
  hardlink?: string;
}

function members(tarball: string): Member[] {
  const out = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvzf', tarball], {
    encoding: 'utf8',
    env: { ...process.env, TZ: 'UTC' },
  });
  return out
    .trim()
    .split('\n')
    .map((line) => {
      const m = /^(\S)(\S{9}) (\S+)\s+(\d+) (\S+ \S+) (.*)$/.exec(line);
      if (!m) throw new Error(`unparsed tar line: ${line}`);
      let name = m[6]!,
        link: string | undefined,
        hardlink: string | undefined;
      if (m[1] === 'l') [name, link] = name.split(' -> ') as [string, string];
      if (m[1] === 'h') [name, hardlink] = name.split(' link to ') as [string, string];
      return {
        type: m[1]!,
        mode: m[2]!,
        owner: m[3]!,
        size: Number(m[4]),
        time: m[5]!,
        name: name.replace(/\/$/, ''),
        link,
        hardlink,
      };
    });
}

it('layout, members, manifest and .sha256 of the tarball', async () => {
  await withTempDir(async (tmp) => {
    const p = packageTree(tmp);
    assert.is(p.status, 0, p.log);
    assert.equal(readdirSync(p.out).sort(), [
      TARBALL,
      `${TARBALL}.cdx.json`,
      `${TARBALL}.manifest.json`,
      `${TARBALL}.sha256`,
    ]);
    assert.match(p.log, /unsigned: no signing key/);

    const list = members(p.tarball);
    const names = list.map((m) => m.name);
    assert.equal([...new Set(names.map((n) => n.split('/')[0]))].sort(), [
      'data',
      'manifest.json',
      'modules',
      'sbom.cdx.json',
      'view',
    ]);
    for (const n of [
      'view/bin/scontrol',
      'view/sbin/slurmd',
      'view/lib/slurm/libslurmfull.so',
      'view/lib/slurm/plugin_a.so',
      'view/include/slurm/slurm.h',
      'view/lib/pkgconfig/slurm.pc',
      'modules/slurm/24.11-gcc12.2.0.lua',
      'data/slurm_assets/slurm_install.sh',
      'data/slurm_assets/defaults/slurmd.service',
      'data/slurm_assets/slurm/slurm.conf.template',
      'data/slurm_assets/slurm/slurmdbd.conf.template',
      'data/slurm_assets/slurm/cgroup.conf.template',
      'data/slurm_assets/mysql/slurm_acct_db.sql',
      'manifest.json',
    ]) {
      assert.ok(names.includes(n), `missing ${n}`);
    }
    for (const n of names) {
      assert.not.match(n, /\.(a|la)$|^view\/share\/doc|^view\/\.spack/, `${n} should have been pruned`);
      assert.not.ok(n.startsWith('/') || n.startsWith('./') || n.includes('._view'), n);
    }
    for (const m of list) {
      assert.is(m.owner, '0/0', `${m.name} owner`);
      assert.is(m.time, '2023-11-14 22:13:20', `${m.name} mtime`);
    }
    assert.is(list.find((m) => m.name === 'data/slurm_assets/slurm_install.sh')!.mode, 'rwxr-xr-x');
    assert.is(list.find((m) => m.name === 'manifest.json')!.mode, 'rw-r--r--');
    // Sorted: within every directory, entries appear in byte order.
    const seen = new Map<string, string>();
    for (const n of names) {
      const parent = n.includes('/') ? n.slice(0, n.lastIndexOf('/')) : '';
      const prev = seen.get(parent);
      assert.ok(prev === undefined || prev < n, `${n} after ${prev}`);
      seen.set(parent, n);
    }
    // Hardlinks stay hardlinks; the symlink is relative.
    assert.is(list.find((m) => m.name === 'view/bin/scontrol-hardlink')?.hardlink, 'view/bin/scontrol');
    assert.is(list.find((m) => m.name === 'view/bin/scontrol-abs-link')?.link, 'scontrol');

    // .sha256: sha256sum format with the bare file name, and valid.
    const sum = readFileSync(`${p.tarball}.sha256`, 'utf8');
    assert.match(sum, new RegExp(`^[0-9a-f]{64}  ${TARBALL.replace(/\./g, '\\.')}\\n$`));
    const check = spawnSync('sha256sum', ['-c', `${TARBALL}.sha256`], { cwd: p.out, encoding: 'utf8' });
    assert.is(check.status, 0, check.stdout + check.stderr);

    // manifest.json inside = the .manifest.json beside it; fields.
    const inner = execFileSync('tar', ['-xOzf', p.tarball, 'manifest.json'], { encoding: 'utf8' });
    assert.is(readFileSync(`${p.tarball}.manifest.json`, 'utf8'), inner);
    const man = JSON.parse(inner);
    assert.is(man.schema, 1);
    assert.is(man.name, TARBALL);
    assert.equal(man.slurm, {
      series: '24.11',
      release: '24.11.5',
      spackVersion: '24-11-5-1',
      hash: JSON.parse(readFileSync(p.tree.specsFile, 'utf8'))[0].hash,
    });
    assert.equal(man.gcc, { version: '12.2.0', source: 'system' });
    assert.is(man.flavour, 'cpu');
    assert.is(man.baseImage, 'debian:12');
    assert.equal(man.spack, {
      version: inputs.spackVersion,
      commit: inputs.spackCommit,
      builtinRepoCommit: inputs.builtinRepoCommit,
    });
    assert.is(man.buildTime, '2023-11-14T22:13:20Z');
    assert.is(man.sourceDateEpoch, EPOCH);
    const floor = bash(packageScript('glibc-floor.sh'), ['--view', p.tree.viewLink, '--with-file'])
      .stdout.trim()
      .split(' ');
    assert.equal([man.glibc.floor, man.glibc.floorSetBy], [floor[0], `view/${floor[1]}`]);
    assert.is(man.glibc.buildImage, '2.36');
    assert.is(man.layout.module, 'modules/slurm/24.11-gcc12.2.0.lua');
    const specs = JSON.parse(readFileSync(p.tree.specsFile, 'utf8')) as {
      name: string;
      hash: string;
      version: string;
    }[];
    assert.equal(
      man.specs.map((s: { name: string; hash: string; version: string }) => `${s.name}@${s.version}/${s.hash}`).sort(),
      specs.map((s) => `${s.name}@${s.version}/${s.hash}`).sort(),
    );
    assert.is(man.specs.find((s: { name: string }) => s.name === 'slurm').compiler, 'gcc@12.2.0');
    assert.equal(man.relocation, { elfFiles: 8, elfWithoutDynamicSection: 0, runpath: '$ORIGIN-relative' });

    // The SBOM (inside = beside): each ELF file under the component whose prefix it came from; an external
    // (gcc, not in the view) and build-only deps are components too, with scope excluded.
    const sbomText = execFileSync('tar', ['-xOzf', p.tarball, 'sbom.cdx.json'], { encoding: 'utf8' });
    assert.is(readFileSync(`${p.tarball}.cdx.json`, 'utf8'), sbomText);
    assert.is(await cyclonedxErrors(sbomText), null);
    const bom = JSON.parse(sbomText);
    const where = Object.fromEntries(
      bom.components.map((c: { name: string; scope: string; evidence?: { occurrences: { location: string }[] } }) => [
        c.name,
        [c.scope, (c.evidence?.occurrences ?? []).map((o) => o.location)],
      ]),
    );
    assert.equal(where, {
      slurm: [
        'required',
        [
          'view/bin/scontrol',
          'view/bin/scontrol-hardlink',
          'view/lib/slurm/libslurmfull.so',
          'view/lib/slurm/plugin_a.so',
          'view/libexec/slurm/scontrol-deep',
          'view/sbin/slurmd',
        ],
      ],
      libdep: ['required', ['view/lib/libdep.so.1.0']],
      pmixlike: ['required', ['view/lib/libpmixlike.so.2']],
      gcc: ['excluded', []],
      glibc: ['required', []],
    });
  });
});

it("the side files take the names build-info.json gives (the plan's artifacts record), none spelled by the script", () => {
  withTempDir((tmp) => {
    const sidecars = { ...inputs.sidecars, sha256: 'sum.txt', manifest: 'about.json', sbom: 'bom.json' };
    writePackageDir(join(tmp, 'package'), { ...inputs, sidecars });
    const p = packageTree(tmp);
    assert.is(p.status, 0, p.log);
    assert.equal(readdirSync(p.out).sort(), [TARBALL, 'about.json', 'bom.json', 'sum.txt'].sort());
    assert.match(
      readFileSync(join(p.out, 'sum.txt'), 'utf8'),
      new RegExp(`^[0-9a-f]{64}  ${TARBALL.replace(/\./g, '\\.')}\n$`),
    );
    assert.is(
      readFileSync(join(p.out, 'about.json'), 'utf8'),
      execFileSync('tar', ['-xzOf', p.tarball, 'manifest.json'], { encoding: 'utf8' }),
    );
  });
});

it('the unpacked tarball runs at another prefix, hardlinks intact, with the build tree gone', () => {
  withTempDir((tmp) => {
    const p = packageTree(tmp);
    assert.is(p.status, 0, p.log);
    rmSync(p.tree.root, { recursive: true, force: true });
    const dest = join(tmp, 'site/apps/slurm/24.11');
    mkdirSync(dest, { recursive: true });
    execFileSync('tar', ['-xzf', p.tarball, '-C', dest]);
    const view = join(dest, 'view');
    const env = { ...process.env };
    delete env.LD_LIBRARY_PATH;
    const out = execFileSync(join(view, 'bin/scontrol'), [join(view, 'lib/slurm')], { encoding: 'utf8', env });
    assert.is(out, p.tree.expectedOutput);
    assert.is(statSync(join(view, 'bin/scontrol')).ino, statSync(join(view, 'bin/scontrol-hardlink')).ino);
    assert.is(statSync(join(view, 'bin/scontrol')).nlink, 2);
    // The shipped installer works from the unpacked tree.
    const help = bash(join(dest, 'data/slurm_assets/slurm_install.sh'), ['--print-commands']);
    assert.is(help.status, 0, help.output);
    assert.match(help.stdout, new RegExp(`${view}/sbin/slurmd -d ${view}/sbin/slurmstepd`));
  });
});

it('packing the same view twice gives byte-identical files, whatever the mtimes, umask and work dir', () => {
  withTempDir((tmp) => {
    const first = packageTree(tmp, { out: join(tmp, 'out1') });
    assert.is(first.status, 0, first.log);
    // Disturb everything packing must not depend on: mtimes/atimes and the working directory.
    const touch = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) touch(p);
        else if (e.isFile()) utimesSync(p, new Date(), new Date(Date.now() + 1e6));
      }
    };
    touch(first.tree.view);
    const second = packageTree(tmp, { tree: first.tree, out: join(tmp, 'out2'), args: ['--work', join(tmp, 'w2')] });
    assert.is(second.status, 0, second.log);
    assert.match(second.log, /RUNPATH rewritten: 0,/, 'the second run found the view relocated already');
    for (const suffix of ['', '.sha256', '.manifest.json', '.cdx.json']) {
      const a = readFileSync(join(tmp, 'out1', TARBALL + suffix));
      const b = readFileSync(join(tmp, 'out2', TARBALL + suffix));
      assert.ok(a.equals(b), `${TARBALL}${suffix} differs between two packings`);
    }
    // pack-tarball.sh alone, from another directory with another umask: same bytes again.
    const stage = join(tmp, 'stage');
    mkdirSync(stage);
    writeFileSync(join(stage, 'manifest.json'), '{}\n');
    const pack = (out: string, umask: string) =>
      spawnSync(
        'bash',
        [
          '-c',
          `umask ${umask}; exec bash "$0" "$@"`,
          packageScript('pack-tarball.sh'),
          '--view',
          first.tree.viewLink,
          '--stage',
          stage,
          '--out',
          out,
          '--mtime',
          '42',
        ],
        { encoding: 'utf8', cwd: umask === '022' ? tmp : '/' },
      );
    const p1 = pack(join(tmp, 'a.tar.gz'), '022'),
      p2 = pack(join(tmp, 'b.tar.gz'), '077');
    assert.is(p1.status, 0, p1.stderr);
    assert.is(p2.status, 0, p2.stderr);
    assert.ok(readFileSync(join(tmp, 'a.tar.gz')).equals(readFileSync(join(tmp, 'b.tar.gz'))));
    // And it is a real difference detector: another mtime gives another file.
    const p3 = spawnSync('bash', [
      packageScript('pack-tarball.sh'),
      '--view',
      first.tree.viewLink,
      '--stage',
      stage,
      '--out',
      join(tmp, 'c.tar.gz'),
      '--mtime',
      '43',
    ]);
    assert.is(p3.status, 0);
    assert.not.ok(readFileSync(join(tmp, 'a.tar.gz')).equals(readFileSync(join(tmp, 'c.tar.gz'))));
  });
});

it('a view that fails the audit produces no tarball', () => {
  withTempDir((tmp) => {
    const tree = buildSpackTree(join(tmp, 'tree'));
    // A NEEDED library that exists nowhere in the view cannot be relocated away.
    execFileSync('patchelf', ['--add-needed', 'libhwloc.so.15', join(tree.view, 'sbin/slurmd')]);
    const p = packageTree(tmp, { tree });
    assert.is(p.status, 1, p.log);
    assert.match(p.log, /FAIL sbin\/slurmd: NEEDED libhwloc\.so\.15/);
    assert.match(p.log, /the view is not relocatable/);
    assert.not.ok(existsSync(join(p.out, TARBALL)));
  });
});

it('an ELF file whose package is missing from the specs fails the SBOM step, naming it; no tarball', () => {
  withTempDir((tmp) => {
    const tree = buildSpackTree(join(tmp, 'tree'));
    const specs = JSON.parse(readFileSync(tree.packageSpecsFile, 'utf8')) as { name: string }[];
    writeFileSync(tree.packageSpecsFile, JSON.stringify(specs.filter((s) => s.name !== 'libdep')));
    const p = packageTree(tmp, { tree });
    assert.is(p.status, 1, p.log);
    assert.match(
      p.log,
      /sbom: error: the SBOM cannot cover the view: 1 ELF file\(s\) of the view belong to no package in the specs \(no listed install prefix holds them\): view\/lib\/libdep\.so\.1\.0 /,
    );
    assert.not.ok(existsSync(join(p.out, TARBALL)));
    assert.not.ok(existsSync(join(p.out, `${TARBALL}.cdx.json`)));
  });
});

/** A throwaway signing key: returns its fingerprint and files with the secret and public key. */
function makeKey(dir: string) {
  const home = join(dir, 'g');
  mkdirSync(home, { mode: 0o700 });
  const gpg = (args: string[]) =>
    execFileSync('gpg', ['--homedir', home, '--batch', ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  gpg(['--passphrase', '', '--quick-gen-key', 'slurm-factory test <test@example.invalid>', 'ed25519', 'sign', 'never']);
  const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(gpg(['--with-colons', '--list-secret-keys']))![1]!;
  writeFileSync(join(dir, 'secret.asc'), gpg(['--armor', '--export-secret-keys', fpr]));
  writeFileSync(join(dir, 'public.asc'), gpg(['--armor', '--export', fpr]));
  spawnSync('gpgconf', ['--homedir', home, '--kill', 'all']);
  rmSync(home, { recursive: true, force: true });
  return { fpr, secret: join(dir, 'secret.asc'), pub: join(dir, 'public.asc') };
}

function verify(dir: string, pub: string, sig: string, file: string) {
  const home = join(dir, `v${Math.random().toString(36).slice(2, 8)}`);
  const r = gpgHome(home, pub)('--verify', sig, file);
  spawnSync('gpgconf', ['--homedir', home, '--kill', 'all']);
  return r.status;
}

withGpg('signing: detached .asc for the tarball and its .sha256, no key material left anywhere', () => {
  withTempDir((tmp) => {
    const key = makeKey(tmp);
    const shmBefore = existsSync('/dev/shm') ? readdirSync('/dev/shm').filter((f) => f.startsWith('sf-gpg.')) : [];
    const p = packageTree(tmp, {
      args: ['--gpg-key', key.secret],
      env: { SIGNING_KEY_FINGERPRINT: key.fpr.toLowerCase().replace(/(.{4})/g, '$1 ') },
    });
    assert.is(p.status, 0, p.log);
    assert.equal(
      readdirSync(p.out).sort(),
      [
        TARBALL,
        `${TARBALL}.asc`,
        `${TARBALL}.cdx.json`,
        `${TARBALL}.manifest.json`,
        `${TARBALL}.sha256`,
        `${TARBALL}.sha256.asc`,
      ].sort(),
    );
    for (const f of [TARBALL, `${TARBALL}.sha256`]) {
      assert.match(readFileSync(join(p.out, `${f}.asc`), 'utf8'), /^-----BEGIN PGP SIGNATURE-----/);
      assert.is(verify(tmp, key.pub, join(p.out, `${f}.asc`), join(p.out, f)), 0, `${f}.asc verifies`);
    }
    const tampered = join(tmp, 'tampered.tar.gz');
    copyFileSync(p.tarball, tampered);
    writeFileSync(tampered, Buffer.concat([readFileSync(tampered), Buffer.from('x')]));
    assert.is.not(verify(tmp, key.pub, `${p.tarball}.asc`, tampered), 0, 'a changed tarball fails verification');

    const secretLines = readFileSync(key.secret, 'utf8')
      .split('\n')
      .filter((l) => l.length > 20 && !l.startsWith('-----'));
    for (const f of readdirSync(p.out)) {
      const text = readFileSync(join(p.out, f)).toString('latin1');
      assert.not.match(text, /PRIVATE KEY/, f);
      for (const l of secretLines) assert.not.ok(text.includes(l), `${f} contains key material`);
    }
    for (const l of secretLines) assert.not.ok(p.log.includes(l), 'the log contains key material');
    assert.not.match(p.log, /PRIVATE KEY/);
    const shmAfter = existsSync('/dev/shm') ? readdirSync('/dev/shm').filter((f) => f.startsWith('sf-gpg.')) : [];
    assert.equal(shmAfter, shmBefore, 'the throwaway GNUPGHOME is gone');

    // A fingerprint that does not match the key: no signature, a clear error.
    const wrong = packageTree(tmp, {
      out: join(tmp, 'out-wrong'),
      tree: p.tree,
      args: ['--gpg-key', key.secret],
      env: { SIGNING_KEY_FINGERPRINT: 'AAAA'.repeat(10) },
    });
    assert.is(wrong.status, 1);
    assert.match(wrong.log, /has no secret key or subkey with fingerprint A{40}/);
    assert.not.ok(existsSync(join(tmp, 'out-wrong', `${TARBALL}.asc`)));
    // A key without a fingerprint to check it against is refused.
    const unchecked = packageTree(tmp, {
      out: join(tmp, 'out-unchecked'),
      tree: p.tree,
      args: ['--gpg-key', key.secret],
    });
    assert.is(unchecked.status, 1);
    assert.match(unchecked.log, /SIGNING_KEY_FINGERPRINT is not set: refusing to sign/);
  });
});

test.run();
