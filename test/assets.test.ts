/**
 * The shipped Slurm assets: rendering (templates per Slurm version and flavour), shellcheck on every shipped
 * script, and slurm_install.sh run for real, into a scratch root (--root) and inside a Debian container:
 * expected files, owners and modes, a non-default prefix everywhere it matters, and a second run that
 * changes nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { renderPackageFiles } from '../tasks/lib/package-files.ts';
import { needCommand, needDocker, repoRoot, withTempDir, testIf } from './helpers.ts';
import { scratchRoot, unpacked } from './install-tree.ts';
import { bash, sampleInputs, writePackageDir } from './spack-tree.ts';

const asRoot = testIf(test, [
  () => (process.getuid?.() === 0 ? null : 'slurm_install.sh sets owners: run the tests as root'),
]);
const withShellcheck = testIf(test, [needCommand('shellcheck', 'apt-get install shellcheck')]);
const BASE_IMAGE = 'slurm-factory-base:debian12';
// With an engine, make the image (debootstrap, cached) rather than skip: this file runs before the Docker suites.
if (!needDocker()) await (await import('./fixture.ts')).ensureBaseImage('debian12');
const withImage = testIf(test, [
  needDocker,
  () =>
    spawnSync('docker', ['image', 'inspect', BASE_IMAGE], { stdio: 'ignore' }).status === 0
      ? null
      : `image ${BASE_IMAGE} is missing (scripts/make-base-image.sh debian12)`,
]);

const asset = (inputs: ReturnType<typeof sampleInputs>, rel: string) =>
  String(renderPackageFiles(inputs).find((f) => f.path === `assets/data/slurm_assets/${rel}`)?.content ?? '');

/** Every path under dir with type, owner, mode, mtime and content hash. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const p = join(dir, rel);
    const st = lstatSync(p);
    let what = '';
    if (st.isSymbolicLink()) what = `-> ${readlinkSync(p)}`;
    else if (st.isFile()) what = createHash('sha256').update(readFileSync(p)).digest('hex');
    out.set(rel || '.', `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs} ${what}`);
    if (st.isDirectory()) for (const e of readdirSync(p).sort()) walk(rel ? `${rel}/${e}` : e);
  };
  walk('');
  return out;
}

function passwdEntry(root: string, user: string) {
  const line = readFileSync(join(root, 'etc/passwd'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  if (!line) return null;
  const [, , uid, gid, , home, shell] = line.split(':');
  return { uid: Number(uid), gid: Number(gid), home, shell };
}

function attrs(path: string) {
  const st = lstatSync(path);
  return { mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid };
}

const confLines = (text: string) => text.split('\n').filter((l) => l && !l.startsWith('#'));

test('renderPackageFiles is deterministic and complete; build-info.json is the sorted inputs', () => {
  const inputs = sampleInputs();
  const a = renderPackageFiles(inputs),
    b = renderPackageFiles({ ...inputs });
  assert.equal(
    a.map((f) => [f.path, String(f.content), f.mode]),
    b.map((f) => [f.path, String(f.content), f.mode]),
  );
  const paths = a.map((f) => f.path);
  for (const p of [
    'scripts/package-view.sh',
    'scripts/relocate-view.sh',
    'scripts/audit-view.sh',
    'scripts/glibc-floor.sh',
    'scripts/pack-tarball.sh',
    'scripts/manifest.py',
    'build-info.json',
    'assets/modules/slurm/24.11-gcc12.2.0.lua',
    'assets/data/slurm_assets/slurm_install.sh',
    'assets/data/slurm_assets/defaults/slurmd.service',
    'assets/data/slurm_assets/defaults/slurmctld.service',
    'assets/data/slurm_assets/defaults/slurmdbd.service',
    'assets/data/slurm_assets/slurm/slurm.conf.template',
    'assets/data/slurm_assets/slurm/slurmdbd.conf.template',
    'assets/data/slurm_assets/slurm/cgroup.conf.template',
    'assets/data/slurm_assets/mysql/slurm_acct_db.sql',
    'assets/data/slurm_assets/README.md',
    'assets/data/slurm_assets/build.env',
  ]) {
    assert.ok(paths.includes(p), `missing ${p}`);
  }
  assert.equal([...paths].sort(), paths, 'path order');
  for (const f of a) {
    assert.not.match(String(f.content), /\{\{|\}\}/, `${f.path} has Handlebars left in it`);
    assert.not.ok(f.path.endsWith('.hbs'), f.path);
    assert.is(f.mode, /\.(sh|py)$/.test(f.path) ? 0o755 : 0o644, f.path);
    if (f.path.startsWith('scripts/')) {
      assert.is(
        String(f.content),
        readFileSync(join(repoRoot, 'scripts/package', f.path.slice('scripts/'.length)), 'utf8'),
      );
    }
  }
  const info = String(a.find((f) => f.path === 'build-info.json')!.content);
  assert.equal(JSON.parse(info), inputs);
  assert.equal(Object.keys(JSON.parse(info)), Object.keys(inputs).sort());
  assert.throws(() => renderPackageFiles({ ...inputs, moduleName: '../../etc/x' }), /moduleName/);
});

test("node templates ship verbatim in the installer's one syntax; build facts are in build.env", () => {
  const v24 = sampleInputs({ series: '24.11' }),
    v23 = sampleInputs({ series: '23.11' });
  // slurm_install.sh is their only renderer: the same bytes for every Slurm version and flavour.
  const gpu = sampleInputs({ flavour: 'gpu', tarballName: 'slurm-24.11-gcc12.2.0-gpu-software.tar.gz' });
  for (const rel of [
    'slurm/cgroup.conf.template',
    'slurm/slurm.conf.template',
    'slurm/slurmdbd.conf.template',
    'defaults/slurmd.service',
    'defaults/slurmctld.service',
    'defaults/slurmdbd.service',
    'mysql/slurm_acct_db.sql',
  ]) {
    const text = asset(v24, rel);
    assert.is(text, readFileSync(join(repoRoot, 'templates/slurm_assets', rel), 'utf8'), rel);
    assert.is(asset(v23, rel), text, rel);
    assert.is(asset(gpu, rel), text, rel);
  }
  assert.match(asset(v24, 'build.env'), /^SLURM_RELEASE=24\.11\.5$/m);
  assert.match(asset(v24, 'build.env'), /^CGROUP_DISABLED_SUPPORTED=yes$/m);
  assert.match(asset(v23, 'build.env'), /^CGROUP_DISABLED_SUPPORTED=no$/m);
  assert.match(asset(gpu, 'build.env'), /^FLAVOUR=gpu$/m);
  const cg = asset(v24, 'slurm/cgroup.conf.template');
  assert.match(cg, /^#@container\+cgroup-disabled:CgroupPlugin=disabled$/m);
  assert.match(cg, /^#@container\+cgroup-v2:CgroupPlugin=cgroup\/v2$/m);
  const slurmd = asset(v24, 'defaults/slurmd.service');
  assert.match(
    slurmd,
    /^#@conf-file:ExecStart=@PREFIX@\/sbin\/slurmd --systemd -d @PREFIX@\/sbin\/slurmstepd \$SLURMD_OPTIONS$/m,
  );
  assert.match(
    slurmd,
    /^#@configless:ExecStart=@PREFIX@\/sbin\/slurmd --systemd --conf-server @CONF_SERVER@ -d @PREFIX@\/sbin\/slurmstepd \$SLURMD_OPTIONS$/m,
  );
  assert.match(slurmd, /^Type=notify$/m);
  assert.match(slurmd, /^Delegate=yes$/m);
  assert.match(slurmd, /^LimitNOFILE=131072$/m);
  assert.match(asset(v24, 'defaults/slurmctld.service'), /^Environment=SLURM_CONF=@SLURM_CONF@$/m);
  assert.not.match(asset(v24, 'mysql/slurm_acct_db.sql'), /IDENTIFIED BY '(?!@DB_PASSWORD@')/, 'no fixed password');
});

asRoot('slurm_install.sh renders the build facts: Slurm release and series, GCC, flavour (GresTypes for GPU)', () => {
  withTempDir((tmp) => {
    for (const [series, flavour] of [
      ['24.11', 'cpu'],
      ['23.11', 'gpu'],
    ] as const) {
      const { root, installer } = scratchRoot(join(tmp, `${series}-${flavour}`), series);
      const env = join(installer, '..', 'build.env');
      writeFileSync(env, readFileSync(env, 'utf8').replace(/^FLAVOUR=.*$/m, `FLAVOUR=${flavour}`));
      const r = bash(installer, ['--root', root, '--full-init', '--container', '--slurm-user', 'root']);
      assert.is(r.status, 0, r.output);
      const conf = readFileSync(join(root, 'etc/slurm/slurm.conf'), 'utf8');
      const release = series === '24.11' ? '24.11.5' : '23.11.11';
      assert.match(
        conf,
        new RegExp(`^# slurm\\.conf for Slurm ${release.replace(/\./g, '\\.')} \\(GCC 12\\.2\\.0, ${flavour}\\)`, 'm'),
      );
      assert.match(conf, new RegExp(`slurm-${release.replace(/\./g, '\\.')}/slurm\\.conf\\.html`));
      if (flavour === 'gpu') assert.match(conf, /^GresTypes=gpu$/m);
      else assert.not.match(conf, /GresTypes/);
      assert.match(
        readFileSync(join(root, 'etc/slurm/cgroup.conf'), 'utf8'),
        new RegExp(`^# Slurm ${series.replace('.', '\\.')} `, 'm'),
      );
      for (const f of ['slurm.conf', 'cgroup.conf', 'slurmdbd.conf']) {
        assert.not.match(readFileSync(join(root, 'etc/slurm', f), 'utf8'), /@[A-Z_]+@|\{\{|#@/, f);
      }
    }
  });
});

withShellcheck('every shipped script is shellcheck-clean and parses', () => {
  withTempDir((tmp) => {
    writePackageDir(tmp, sampleInputs());
    const scripts = [
      ...readdirSync(join(tmp, 'scripts'))
        .filter((f) => f.endsWith('.sh'))
        .map((f) => join(tmp, 'scripts', f)),
      join(tmp, 'assets/data/slurm_assets/slurm_install.sh'),
    ];
    assert.ok(scripts.length >= 8, scripts.join(' '));
    // cwd = repo: the `# shellcheck source=scripts/package/common.sh` directives resolve there.
    const r = spawnSync('shellcheck', ['-x', ...scripts], { cwd: repoRoot, encoding: 'utf8' });
    assert.is(r.status, 0, `${r.stdout}${r.stderr}`);
    for (const s of scripts) {
      const n = spawnSync('bash', ['-n', s], { encoding: 'utf8' });
      assert.is(n.status, 0, `${s}: ${n.stderr}`);
      if (s.endsWith('/common.sh')) continue; // sourced by the others, not a command
      const h = spawnSync('bash', [s, '--help'], { encoding: 'utf8' });
      assert.is(h.status, 0, `${s} --help: ${h.stderr}`);
      assert.match(h.stdout, /^Usage: /m, `${s} --help`);
    }
    const py = spawnSync('python3', [join(tmp, 'scripts/manifest.py'), '--help'], { encoding: 'utf8' });
    assert.is(py.status, 0, py.stderr);
  });
});

test('slurm_install.sh --help documents every option', () => {
  withTempDir((tmp) => {
    const { installer } = scratchRoot(tmp);
    const r = bash(installer, ['--help']);
    assert.is(r.status, 0);
    for (const opt of [
      '--prefix',
      '--full-init',
      '--dry-run',
      '--force',
      '--container',
      '--no-systemd',
      '--root',
      '--lmod-dir',
      '--print-commands',
      '--proctrack',
      '--task-plugin',
      '--slurm-user',
      '--accounting',
      '--db-password-file',
      '--conf-dir',
    ]) {
      assert.ok(r.stdout.includes(opt), `--help lacks ${opt}`);
    }
    assert.match(r.stdout, /Slurm 24\.11\.5 \(GCC 12\.2\.0, cpu\)/);
    const bad = bash(installer, ['--bogus']);
    assert.is(bad.status, 2);
    assert.match(bad.stderr, /unknown argument '--bogus'/);
  });
});

asRoot(
  'configless: --enable-configless on the controller; --conf-server links the compiled-in PluginDir and runs slurmd without a local config',
  () => {
    withTempDir((tmp) => {
      const { root, installer } = scratchRoot(tmp);
      const ctl = bash(installer, ['--root', root, '--full-init', '--enable-configless']);
      assert.is(ctl.status, 0, ctl.output);
      assert.ok(
        confLines(readFileSync(join(root, 'etc/slurm/slurm.conf'), 'utf8')).includes(
          'SlurmctldParameters=enable_configless',
        ),
      );

      const node = scratchRoot(join(tmp, 'node'));
      const compiled =
        '/opt/spack-root/__spack_path_placeholder__/linux-x86_64/slurm-24.11.5-abcdefghijklmnopqrstuvwxyz234567/lib/slurm';
      const buildEnv = join(node.root, 'srv/site/slurm-24.11/data/slurm_assets/build.env');
      writeFileSync(buildEnv, `${readFileSync(buildEnv, 'utf8')}COMPILED_PLUGIN_DIR=${compiled}\n`);
      const r = bash(node.installer, ['--root', node.root, '--full-init', '--conf-server', 'head1:6817']);
      assert.is(r.status, 0, r.output);
      assert.is(
        readlinkSync(join(node.root, compiled)),
        `${node.prefix}/lib/slurm`,
        'the compiled-in PluginDir leads to this prefix',
      );
      assert.match(r.stdout, /configless: slurmd fetches slurm\.conf and cgroup\.conf from head1:6817/);
      assert.not.ok(existsSync(join(node.root, 'etc/slurm/slurm.conf')), 'no local slurm.conf on a configless node');
      assert.ok(existsSync(join(node.root, 'etc/slurm/slurm.key')), "the key is still local (copy the controller's)");
      const unit = readFileSync(join(node.root, 'etc/systemd/system/slurmd.service'), 'utf8');
      assert.match(
        unit,
        new RegExp(
          `^ExecStart=${node.prefix}/sbin/slurmd --systemd --conf-server head1:6817 -d ${node.prefix}/sbin/slurmstepd \\$SLURMD_OPTIONS$`,
          'm',
        ),
      );
      assert.not.match(unit, /SLURM_CONF/, 'slurmd must not be pointed at a local file');
      const cmds = bash(node.installer, ['--root', node.root, '--conf-server', 'head1:6817', '--print-commands']);
      assert.ok(
        cmds.stdout
          .split('\n')
          .includes(`${node.prefix}/sbin/slurmd --conf-server head1:6817 -d ${node.prefix}/sbin/slurmstepd`),
        cmds.stdout,
      );
      // Again: nothing changes. A link left pointing elsewhere (an older prefix) is repointed.
      const again = bash(node.installer, ['--root', node.root, '--full-init', '--conf-server', 'head1:6817']);
      assert.match(again.stdout, /nothing to do: this node is set up/);
      rmSync(join(node.root, compiled));
      symlinkSync('/old/prefix/lib/slurm', join(node.root, compiled));
      const repoint = bash(node.installer, ['--root', node.root, '--conf-server', 'head1:6817']);
      assert.match(repoint.stdout, /repoint .*slurm-24\.11\.5-\w+\/lib\/slurm -> .* \(was \/old\/prefix\/lib\/slurm\)/);
      assert.is(readlinkSync(join(node.root, compiled)), `${node.prefix}/lib/slurm`);
      // A tree packed before the record existed says what to do instead of failing later.
      const noRecord = scratchRoot(join(tmp, 'old'));
      const old = bash(noRecord.installer, ['--root', noRecord.root, '--conf-server', 'head1']);
      assert.is(old.status, 1);
      assert.match(old.stderr, /build\.env does not record the PluginDir Slurm was compiled with/);
    });
  },
);

test('--conf-server takes HOST or HOST:PORT and names a bad value', () => {
  withTempDir((tmp) => {
    const { root, installer } = scratchRoot(tmp);
    for (const bad of ['head1:', 'head 1', '-x', 'host:port']) {
      const r = bash(installer, ['--root', root, '--conf-server', bad, '--dry-run']);
      assert.is(r.status, 2, `${bad}: ${r.output}`);
      assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(r.stderr.includes(`--conf-server '${bad}' is not HOST or HOST:PORT`), r.stderr);
    }
  });
});

asRoot('--dry-run lists what it would do and changes nothing', () => {
  withTempDir((tmp) => {
    const { root, installer } = scratchRoot(tmp);
    const before = snapshot(root);
    const r = bash(installer, ['--root', root, '--full-init', '--dry-run']);
    assert.is(r.status, 0, r.output);
    for (const what of [
      'would create group slurm',
      'would create user slurm',
      'would create /etc/slurm/slurm.conf',
      'would create /etc/slurm/slurm.key',
      'would create /etc/systemd/system/slurmd.service',
      'would create directory /var/spool/slurmctld',
    ]) {
      assert.ok(r.stdout.includes(what), `missing "${what}" in:\n${r.stdout}`);
    }
    assert.equal([...snapshot(root)], [...before]);
  });
});

asRoot(
  '--full-init into a scratch root: users, dirs, keys, configs and units for a non-default prefix; a second run changes nothing',
  () => {
    withTempDir((tmp) => {
      const { root, prefix, installer } = scratchRoot(tmp);
      const r = bash(installer, [
        '--root',
        root,
        '--full-init',
        '--cluster-name',
        'lab',
        '--controller',
        'head1',
        '--node-name',
        'node1',
      ]);
      assert.is(r.status, 0, r.output);
      const slurm = passwdEntry(root, 'slurm');
      assert.ok(slurm, 'slurm user created');
      assert.ok(slurm!.uid < 1000 && slurm!.uid >= 100, `system uid ${slurm!.uid}`);
      assert.match(readFileSync(join(root, 'etc/group'), 'utf8'), new RegExp(`^slurm:x:${slurm!.gid}:$`, 'm'));
      assert.match(readFileSync(join(root, 'etc/shadow'), 'utf8'), /^slurm:!:/m);
      assert.match(slurm!.shell!, /nologin|false/);

      const expect: [string, string, 'root' | 'slurm'][] = [
        ['etc/slurm', '755', 'root'],
        ['etc/slurm/slurm.conf', '644', 'root'],
        ['etc/slurm/cgroup.conf', '644', 'root'],
        ['etc/slurm/slurm.key', '600', 'slurm'],
        ['etc/slurm/jwt_hs256.key', '600', 'slurm'],
        ['etc/slurm/slurmdbd.conf', '600', 'slurm'],
        ['etc/slurm/slurm_acct_db.sql', '600', 'root'],
        ['var/spool/slurmctld', '700', 'slurm'],
        ['var/spool/slurmd', '755', 'root'],
        ['var/log/slurm', '755', 'slurm'],
        ['etc/systemd/system/slurmd.service', '644', 'root'],
        ['etc/systemd/system/slurmctld.service', '644', 'root'],
        ['etc/systemd/system/slurmdbd.service', '644', 'root'],
      ];
      for (const [rel, mode, owner] of expect) {
        const a = attrs(join(root, rel));
        const id = owner === 'root' ? 0 : slurm!.uid,
          gid = owner === 'root' ? 0 : slurm!.gid;
        assert.equal(a, { mode, uid: id, gid }, rel);
      }
      assert.is(lstatSync(join(root, 'etc/slurm/slurm.key')).size, 1024);
      assert.is(lstatSync(join(root, 'etc/slurm/jwt_hs256.key')).size, 32);
      assert.not.ok(existsSync(join(root, 'run/slurmctld')), 'systemd makes runtime dirs');

      const conf = confLines(readFileSync(join(root, 'etc/slurm/slurm.conf'), 'utf8'));
      for (const l of [
        `PluginDir=${prefix}/lib/slurm`,
        'AuthType=auth/slurm',
        'CredType=cred/slurm',
        'ClusterName=lab',
        'SlurmctldHost=head1',
        'SlurmUser=slurm',
        'ProctrackType=proctrack/cgroup',
        'TaskPlugin=task/cgroup,task/affinity',
      ]) {
        assert.ok(conf.includes(l), `slurm.conf lacks ${l}:\n${conf.join('\n')}`);
      }
      assert.ok(
        conf.some((l) => /^NodeName=node1 CPUs=\d+ RealMemory=\d+ State=UNKNOWN$/.test(l)),
        conf.join('\n'),
      );
      assert.not.ok(
        conf.some((l) => l.startsWith('AccountingStorageType')),
        'no accounting unless --accounting',
      );
      assert.ok(
        confLines(readFileSync(join(root, 'etc/slurm/cgroup.conf'), 'utf8')).includes('CgroupPlugin=autodetect'),
      );

      const dbd = confLines(readFileSync(join(root, 'etc/slurm/slurmdbd.conf'), 'utf8'));
      assert.ok(dbd.includes(`PluginDir=${prefix}/lib/slurm`), dbd.join('\n'));
      const pass = dbd.find((l) => l.startsWith('StoragePass='))!.slice('StoragePass='.length);
      assert.match(pass, /^[A-Za-z0-9]{32}$/);
      const sql = readFileSync(join(root, 'etc/slurm/slurm_acct_db.sql'), 'utf8');
      assert.ok(sql.includes(`CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '${pass}';`), sql);
      assert.ok(sql.includes('CREATE DATABASE IF NOT EXISTS `slurm_acct_db`;'), sql);

      const unit = readFileSync(join(root, 'etc/systemd/system/slurmd.service'), 'utf8');
      assert.match(
        unit,
        new RegExp(`^ExecStart=${prefix}/sbin/slurmd --systemd -d ${prefix}/sbin/slurmstepd \\$SLURMD_OPTIONS$`, 'm'),
      );
      assert.match(unit, /^Environment=SLURM_CONF=\/etc\/slurm\/slurm\.conf$/m);
      assert.not.match(unit, /PMIX/, 'no PMIx in this tree, no PMIX_INSTALL_PREFIX');
      const ctld = readFileSync(join(root, 'etc/systemd/system/slurmctld.service'), 'utf8');
      assert.match(ctld, new RegExp(`^ExecStart=${prefix}/sbin/slurmctld --systemd `, 'm'));
      assert.match(ctld, /^User=slurm$/m);
      assert.not.match(unit + ctld, /@[A-Z_]+@/);

      // Second run: nothing changes, not even an mtime.
      const before = snapshot(root);
      const again = bash(installer, [
        '--root',
        root,
        '--full-init',
        '--cluster-name',
        'lab',
        '--controller',
        'head1',
        '--node-name',
        'node1',
      ]);
      assert.is(again.status, 0, again.output);
      assert.match(again.stdout, /nothing to do: this node is set up/);
      assert.equal([...snapshot(root)], [...before]);

      // A second, independent install gets its own random password and keys.
      const other = scratchRoot(join(tmp, 'other'));
      assert.is(bash(other.installer, ['--root', other.root, '--full-init']).status, 0);
      const pass2 = confLines(readFileSync(join(other.root, 'etc/slurm/slurmdbd.conf'), 'utf8')).find((l) =>
        l.startsWith('StoragePass='),
      );
      assert.is.not(pass2, `StoragePass=${pass}`);
      assert.not.ok(
        readFileSync(join(other.root, 'etc/slurm/slurm.key')).equals(readFileSync(join(root, 'etc/slurm/slurm.key'))),
      );
    });
  },
);

asRoot('existing configs are kept unless --force; keys are never replaced; wrong modes are repaired', () => {
  withTempDir((tmp) => {
    const { root, installer } = scratchRoot(tmp);
    assert.is(bash(installer, ['--root', root, '--full-init']).status, 0);
    const confPath = join(root, 'etc/slurm/slurm.conf');
    const original = readFileSync(confPath, 'utf8');
    const key = readFileSync(join(root, 'etc/slurm/slurm.key'));
    writeFileSync(confPath, original + 'SlurmctldDebug=debug\n');
    chmodSync(join(root, 'etc/slurm/slurm.key'), 0o644);

    const keep = bash(installer, ['--root', root, '--full-init']);
    assert.is(keep.status, 0, keep.output);
    assert.match(
      keep.stdout,
      /keep \/etc\/slurm\/slurm\.conf \(exists and differs from the template; --force overwrites it\)/,
    );
    assert.match(keep.stdout, /chmod 600 \/etc\/slurm\/slurm\.key/);
    assert.match(readFileSync(confPath, 'utf8'), /SlurmctldDebug=debug/);
    assert.is(attrs(join(root, 'etc/slurm/slurm.key')).mode, '600');

    const force = bash(installer, ['--root', root, '--full-init', '--force']);
    assert.is(force.status, 0, force.output);
    assert.match(force.stdout, /update \/etc\/slurm\/slurm\.conf/);
    assert.is(readFileSync(confPath, 'utf8'), original);
    assert.ok(readFileSync(join(root, 'etc/slurm/slurm.key')).equals(key), 'slurm.key kept under --force');
  });
});

asRoot('--container: linuxproc, task/none, cgroup per Slurm version, no units, runtime dirs; --print-commands', () => {
  withTempDir((tmp) => {
    for (const series of ['24.11', '23.11'] as const) {
      const { root, prefix, installer } = scratchRoot(join(tmp, series), series);
      const r = bash(installer, ['--root', root, '--full-init', '--container', '--slurm-user', 'root']);
      assert.is(r.status, 0, r.output);
      assert.is(passwdEntry(root, 'slurm'), null, 'no slurm user with --slurm-user root');
      const conf = confLines(readFileSync(join(root, 'etc/slurm/slurm.conf'), 'utf8'));
      for (const l of [
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'SlurmUser=root',
        `PluginDir=${prefix}/lib/slurm`,
      ]) {
        assert.ok(conf.includes(l), `${series}: slurm.conf lacks ${l}`);
      }
      const cg = confLines(readFileSync(join(root, 'etc/slurm/cgroup.conf'), 'utf8'));
      assert.equal(
        cg,
        series === '24.11' ? ['CgroupPlugin=disabled'] : ['CgroupPlugin=cgroup/v2', 'IgnoreSystemd=yes'],
        series,
      );
      assert.not.ok(existsSync(join(root, 'etc/systemd')), 'no units in a container');
      for (const d of ['run/slurmctld', 'run/slurm', 'run/slurmdbd'])
        assert.equal(attrs(join(root, d)), { mode: '755', uid: 0, gid: 0 }, d);
      assert.is(attrs(join(root, 'etc/slurm/slurm.key')).uid, 0);
      assert.match(
        r.stdout,
        new RegExp(`SLURM_CONF=/etc/slurm/slurm.conf ${prefix}/sbin/slurmd -d ${prefix}/sbin/slurmstepd`),
      );
      const again = bash(installer, ['--root', root, '--full-init', '--container', '--slurm-user', 'root']);
      assert.match(again.stdout, /nothing to do/);
    }
    const { root, prefix, installer } = scratchRoot(join(tmp, 'cmds'));
    const p = bash(installer, ['--root', root, '--print-commands']);
    assert.is(p.status, 0, p.output);
    assert.equal(p.stdout.trim().split('\n'), [
      `SLURM_CONF=/etc/slurm/slurm.conf ${prefix}/sbin/slurmdbd`,
      `SLURM_CONF=/etc/slurm/slurm.conf ${prefix}/sbin/slurmctld`,
      `SLURM_CONF=/etc/slurm/slurm.conf ${prefix}/sbin/slurmd -d ${prefix}/sbin/slurmstepd`,
    ]);
    // Runtime dirs for a SlurmUser that does not exist: a clear refusal.
    const noUser = bash(installer, ['--root', root, '--no-systemd']);
    assert.is(noUser.status, 1);
    assert.match(noUser.stderr, /SlurmUser 'slurm' does not exist: run with --full-init/);
  });
});

asRoot('--accounting, --db-password-file, --prefix given as the unpack directory, --proctrack override', () => {
  withTempDir((tmp) => {
    const { root, prefix, installer } = scratchRoot(tmp);
    writeFileSync(join(tmp, 'dbpass'), 'S3cret-from-vault\n');
    const r = bash(installer, [
      '--root',
      root,
      '--full-init',
      '--accounting',
      '--db-password-file',
      join(tmp, 'dbpass'),
      '--prefix',
      prefix.replace(/\/view$/, ''),
      '--proctrack',
      'proctrack/linuxproc',
      '--db-host',
      'db1',
      '--dbd-host',
      'dbd1',
    ]);
    assert.is(r.status, 0, r.output);
    const conf = confLines(readFileSync(join(root, 'etc/slurm/slurm.conf'), 'utf8'));
    assert.ok(conf.includes('AccountingStorageType=accounting_storage/slurmdbd'));
    assert.ok(conf.includes('AccountingStorageHost=dbd1'));
    assert.ok(conf.includes(`PluginDir=${prefix}/lib/slurm`), 'the unpack dir resolves to its view');
    assert.ok(conf.includes('ProctrackType=proctrack/linuxproc'));
    const dbd = confLines(readFileSync(join(root, 'etc/slurm/slurmdbd.conf'), 'utf8'));
    assert.ok(
      dbd.includes('StoragePass=S3cret-from-vault') && dbd.includes('StorageHost=db1') && dbd.includes('DbdHost=dbd1'),
      dbd.join('\n'),
    );
    assert.match(
      readFileSync(join(root, 'etc/slurm/slurm_acct_db.sql'), 'utf8'),
      /'slurm'@'%' IDENTIFIED BY 'S3cret-from-vault'/,
    );
    const missing = bash(installer, ['--root', root, '--prefix', '/nowhere']);
    assert.is(missing.status, 1);
    assert.match(missing.stderr, /no Slurm at '.*\/nowhere': bin\/scontrol is missing/);
  });
});

asRoot(
  '--jwt, --restd, --job-submit-lua: AuthAltTypes in both configs, the key, a slurmrestd unit and user, the site script',
  () => {
    withTempDir((tmp) => {
      const { root, prefix, installer } = scratchRoot(tmp);
      writeFileSync(join(root, prefix, 'lib/slurm/job_submit_lua.so'), '');
      const site = join(tmp, 'site.lua');
      const lua = 'function slurm_job_submit(job_desc, part_list, submit_uid)\n  return slurm.SUCCESS\nend\n';
      writeFileSync(site, lua);
      const args = ['--root', root, '--full-init', '--accounting', '--restd', '--job-submit-lua', site];
      const r = bash(installer, args);
      assert.is(r.status, 0, r.output);
      const conf = confLines(readFileSync(join(root, 'etc/slurm/slurm.conf'), 'utf8'));
      const dbd = confLines(readFileSync(join(root, 'etc/slurm/slurmdbd.conf'), 'utf8'));
      for (const c of [conf, dbd]) {
        assert.ok(
          c.includes('AuthAltTypes=auth/jwt') && c.includes('AuthAltParameters=jwt_key=/etc/slurm/jwt_hs256.key'),
          c.join('\n'),
        );
      }
      assert.ok(conf.includes('JobSubmitPlugins=lua'), conf.join('\n'));
      assert.is(readFileSync(join(root, 'etc/slurm/job_submit.lua'), 'utf8'), lua);
      assert.equal(attrs(join(root, 'etc/slurm/job_submit.lua')), { mode: '644', uid: 0, gid: 0 });
      const slurm = passwdEntry(root, 'slurm')!,
        restd = passwdEntry(root, 'slurmrestd')!;
      assert.ok(restd && restd.uid !== slurm.uid && restd.uid < 1000, 'a system user of its own for slurmrestd');
      assert.equal(attrs(join(root, 'etc/slurm/jwt_hs256.key')), { mode: '600', uid: slurm.uid, gid: slurm.gid });
      const unit = readFileSync(join(root, 'etc/systemd/system/slurmrestd.service'), 'utf8');
      assert.match(
        unit,
        new RegExp(`^ExecStart=${prefix}/sbin/slurmrestd -a rest_auth/jwt \\$SLURMRESTD_OPTIONS :6820$`, 'm'),
      );
      for (const l of [
        'User=slurmrestd',
        'Group=slurmrestd',
        'Environment=SLURM_JWT=daemon',
        'Environment=SLURM_CONF=/etc/slurm/slurm.conf',
      ]) {
        assert.ok(unit.split('\n').includes(l), `slurmrestd.service lacks ${l}`);
      }
      assert.match(r.stdout, /create \/etc\/slurm\/job_submit\.lua \(root:root 644\)/);
      assert.not.match(r.stdout, /register cluster/, 'no cluster registration under --root');
      const cmds = bash(installer, [...args, '--print-commands'])
        .stdout.trim()
        .split('\n');
      assert.is(
        cmds[3],
        `SLURM_JWT=daemon SLURM_CONF=/etc/slurm/slurm.conf ${prefix}/sbin/slurmrestd -u slurmrestd -g slurmrestd -a rest_auth/jwt :6820`,
      );
      // idempotent; the site's file is the source of truth
      assert.match(bash(installer, args).stdout, /nothing to do/);
      writeFileSync(site, lua + '-- v2\n');
      const again = bash(installer, args);
      assert.match(again.stdout, /update \/etc\/slurm\/job_submit\.lua/);
      assert.is(readFileSync(join(root, 'etc/slurm/job_submit.lua'), 'utf8'), lua + '-- v2\n');

      // Without the switches: commented out, no key unless --full-init, no unit.
      const plain = scratchRoot(join(tmp, 'plain'));
      const noUser = bash(plain.installer, ['--root', plain.root, '--jwt']);
      assert.is(noUser.status, 1);
      assert.match(
        noUser.stderr,
        /SlurmUser 'slurm' does not exist, and --jwt makes a key owned by it: run with --full-init/,
      );
      const p = bash(plain.installer, ['--root', plain.root, '--jwt', '--slurm-user', 'root']);
      assert.is(p.status, 0, p.output);
      assert.ok(
        existsSync(join(plain.root, 'etc/slurm/jwt_hs256.key')) && !existsSync(join(plain.root, 'etc/slurm/slurm.key')),
        '--jwt makes only its key',
      );
      const plain2 = scratchRoot(join(tmp, 'plain2'));
      assert.is(bash(plain2.installer, ['--root', plain2.root, '--full-init']).status, 0);
      const c2 = confLines(readFileSync(join(plain2.root, 'etc/slurm/slurm.conf'), 'utf8'));
      assert.not.ok(
        c2.some((l) => l.startsWith('AuthAltTypes') || l.startsWith('JobSubmitPlugins')),
        c2.join('\n'),
      );
      assert.not.ok(existsSync(join(plain2.root, 'etc/systemd/system/slurmrestd.service')));

      // A file that is no job_submit.lua, a missing one, a build without Lua: one line each.
      writeFileSync(join(tmp, 'notes.txt'), 'root:x:0:0\n');
      const bad = bash(installer, ['--root', root, '--job-submit-lua', join(tmp, 'notes.txt')]);
      assert.is(bad.status, 2);
      assert.match(
        bad.stderr.trim(),
        /^slurm_install: --job-submit-lua '.*notes\.txt' defines no slurm_job_submit function: it is not a job_submit\.lua \(see --help\)$/,
      );
      const missing = bash(installer, ['--root', root, '--job-submit-lua', join(tmp, 'nope.lua')]);
      assert.is(missing.status, 2);
      assert.match(missing.stderr, /--job-submit-lua '.*nope\.lua' is not a readable file/);
      const noLua = bash(plain2.installer, ['--root', plain2.root, '--job-submit-lua', site]);
      assert.is(noLua.status, 1);
      assert.match(noLua.stderr, /this build has no job_submit\/lua plugin .*: it was built without Lua/);
      const cs = bash(installer, ['--root', root, '--conf-server', 'head1', '--job-submit-lua', site]);
      assert.is(cs.status, 2);
      assert.match(cs.stderr, /--job-submit-lua is for the controller/);
    });
  },
);

asRoot('a tree that ships PMIx: slurmd gets PMIX_INSTALL_PREFIX in its unit and start command', () => {
  withTempDir((tmp) => {
    const { root, prefix, installer } = scratchRoot(tmp);
    writeFileSync(join(root, prefix, 'lib/libpmix.so.2'), '');
    const r = bash(installer, ['--root', root]);
    assert.is(r.status, 0, r.output);
    const unit = readFileSync(join(root, 'etc/systemd/system/slurmd.service'), 'utf8');
    assert.match(unit, new RegExp(`^Environment=PMIX_INSTALL_PREFIX=${prefix}$`, 'm'));
    assert.not.match(readFileSync(join(root, 'etc/systemd/system/slurmctld.service'), 'utf8'), /PMIX/);
    const cmds = bash(installer, ['--root', root, '--print-commands']).stdout.trim().split('\n');
    assert.is(
      cmds[2],
      `PMIX_INSTALL_PREFIX=${prefix} SLURM_CONF=/etc/slurm/slurm.conf ${prefix}/sbin/slurmd -d ${prefix}/sbin/slurmstepd`,
    );
    assert.is(cmds[1], `SLURM_CONF=/etc/slurm/slurm.conf ${prefix}/sbin/slurmctld`);
  });
});

withImage('on a real Debian system (container): useradd, owners, units, and a second run that changes nothing', () => {
  withTempDir((tmp) => {
    const tree = join(tmp, 'slurm');
    unpacked(tree);
    const script = [
      'set -euo pipefail',
      'cp -a /in /opt/site-slurm',
      'I=/opt/site-slurm/data/slurm_assets/slurm_install.sh',
      'bash $I --full-init',
      'echo "--- second"',
      'bash $I --full-init',
      'echo "--- state"',
      'getent passwd slurm',
      'stat -c "%n %a %U:%G" /etc/slurm/slurm.key /etc/slurm/slurmdbd.conf /var/spool/slurmctld /var/log/slurm /etc/systemd/system/slurmd.service',
      'grep -E "^(PluginDir|SlurmctldHost)=" /etc/slurm/slurm.conf',
      'grep ^ExecStart= /etc/systemd/system/slurmd.service',
    ].join('\n');
    const r = spawnSync(
      'docker',
      ['run', '--rm', '--hostname', 'ctr1', '-v', `${tree}:/in:ro`, BASE_IMAGE, 'bash', '-c', script],
      { encoding: 'utf8', timeout: 120_000 },
    );
    const out = `${r.stdout}${r.stderr}`;
    assert.is(r.status, 0, out);
    const [first, rest] = r.stdout.split('--- second\n');
    const [second, state] = rest!.split('--- state\n');
    assert.match(first!, /create user slurm/);
    assert.match(second!, /nothing to do: this node is set up/);
    assert.not.match(second!, /^slurm_install: (create|update|chown|chmod) /m);
    assert.match(state!, /^slurm:x:\d{3}:\d{3}:Slurm workload manager:\/var\/lib\/slurm:\/usr\/sbin\/nologin$/m);
    assert.match(state!, /\/etc\/slurm\/slurm\.key 600 slurm:slurm/);
    assert.match(state!, /\/etc\/slurm\/slurmdbd\.conf 600 slurm:slurm/);
    assert.match(state!, /\/var\/spool\/slurmctld 700 slurm:slurm/);
    assert.match(state!, /\/etc\/systemd\/system\/slurmd\.service 644 root:root/);
    assert.match(state!, /^PluginDir=\/opt\/site-slurm\/view\/lib\/slurm$/m);
    assert.match(state!, /^SlurmctldHost=ctr1$/m);
    assert.match(
      state!,
      /^ExecStart=\/opt\/site-slurm\/view\/sbin\/slurmd --systemd -d \/opt\/site-slurm\/view\/sbin\/slurmstepd/m,
    );
  });
});

test.run();
