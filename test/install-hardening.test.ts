/**
 * slurm_install.sh runs as root on every node: it must never follow a link it did not make, never touch a
 * system or shared directory, and write only below the paths it was given. The link and directory cases run
 * the real script as root in a throwaway Debian container with something planted first, and check that the
 * script refuses with one line naming the path (exit 2), wrote nothing, and left the link's target as it was
 * (type, mode, owner, size, mtime, content). Quoting of a prefix with spaces is checked with systemd's own
 * parser (systemd-analyze verify), Slurm-style Key="a b" and the shell (printf %q).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needCommand, needDocker, withTempDir, testIf } from './helpers.ts';
import { scratchRoot, unpacked } from './install-tree.ts';
import { bash } from './spack-tree.ts';

const BASE_IMAGE = 'slurm-factory-base:debian12';
if (!needDocker()) await (await import('./fixture.ts')).ensureBaseImage('debian12');
const withImage = testIf(test, [
  needDocker,
  () =>
    spawnSync('docker', ['image', 'inspect', BASE_IMAGE], { stdio: 'ignore' }).status === 0
      ? null
      : `image ${BASE_IMAGE} is missing (scripts/make-base-image.sh debian12)`,
]);
const asRoot = testIf(test, [
  () => (process.getuid?.() === 0 ? null : 'slurm_install.sh sets owners: run the tests as root'),
]);
const withSystemdAnalyze = testIf(test, [
  () => (process.getuid?.() === 0 ? null : 'run the tests as root'),
  needCommand('systemd-analyze', 'apt-get install systemd'),
]);

/**
 * Runs `body` as root in a fresh container with the tarball unpacked at /opt/site-slurm ($I is the installer).
 * Shell helpers: `snap NAME PATH...` prints each path's type, mode, owner, size, mtime and content hash (or
 * link target) as section NAME; `inst NAME ARGS...` runs the installer, sections NAME.rc/.stderr/.stdout.
 */
function inDebian(body: string): Map<string, string> {
  return withTempDir((tmp) => {
    const tree = join(tmp, 'slurm');
    unpacked(tree);
    const script = String.raw`set -uo pipefail
cp -a /in /opt/site-slurm
I=/opt/site-slurm/data/slurm_assets/slurm_install.sh
snap() {
  local name=$1 p; shift; echo "==$name=="
  for p; do
    if [ -L "$p" ]; then echo "$p -> $(readlink "$p") $(stat -c '%u:%g' "$p")"
    elif [ -f "$p" ]; then echo "$p $(stat -c '%F %a %u:%g %s %Y' "$p") $(sha256sum <"$p" | cut -c1-16)"
    elif [ -e "$p" ]; then echo "$p $(stat -c '%F %a %u:%g %Y' "$p") [$(ls -A "$p" | tr '\n' ' ')]"
    else echo "$p absent"; fi
  done
}
inst() {
  local name=$1 rc; shift
  bash "$I" "$@" >/root/inst.out 2>/root/inst.err; rc=$?
  echo "==$name.rc=="; echo "$rc"; echo "==$name.stderr=="; cat /root/inst.err; echo "==$name.stdout=="; cat /root/inst.out
}
${body}`;
    const r = spawnSync(
      'docker',
      [
        'run',
        '--rm',
        '--network',
        'none',
        '--hostname',
        'ctr1',
        '-v',
        `${tree}:/in:ro`,
        BASE_IMAGE,
        'bash',
        '-c',
        script,
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    assert.is(r.status, 0, `container: ${r.stdout}${r.stderr}`);
    const out = new Map<string, string>();
    let cur = '';
    for (const line of r.stdout.replace(/\n$/, '').split('\n')) {
      const h = /^==(\S+)==$/.exec(line);
      if (h) out.set((cur = h[1]!), '');
      else if (cur) out.set(cur, `${out.get(cur)}${line}\n`);
    }
    out.set('all', r.stdout);
    return out;
  });
}

/** The run NAME was refused: exit 2, one line on stderr naming `path`, nothing printed or done before it. */
function assertRefused(out: Map<string, string>, name: string, path: string, why?: RegExp) {
  const all = out.get('all');
  assert.is(out.get(`${name}.rc`)?.trim(), '2', `${name}: exit status\n${all}`);
  const err = out.get(`${name}.stderr`)!.trim();
  assert.is(err.split('\n').length, 1, `${name}: one line on stderr:\n${err}`);
  assert.ok(err.includes(path), `${name}: the message names ${path}: ${err}`);
  if (why) assert.match(err, why, `${name}: ${err}`);
  assert.is(out.get(`${name}.stdout`), '', `${name}: nothing done before the refusal:\n${all}`);
}

withImage(
  'a planted slurm.key -> /etc/passwd (or a hard link to /etc/shadow) is refused; the target keeps owner, mode and content',
  () => {
    const out = inDebian(`
mkdir -p /etc/slurm && ln -s /etc/passwd /etc/slurm/slurm.key
snap before /etc/passwd /etc/slurm/slurm.key
inst key --full-init
snap after /etc/passwd /etc/slurm/slurm.key
echo ==users==; getent passwd slurm || echo no-slurm-user
rm /etc/slurm/slurm.key && ln /etc/shadow /etc/slurm/jwt_hs256.key
snap before2 /etc/shadow
inst hard --full-init
snap after2 /etc/shadow`);
    assertRefused(out, 'key', '/etc/slurm/slurm.key', /symbolic link \(to \/etc\/passwd\)/);
    assert.is(out.get('after'), out.get('before'));
    assert.match(out.get('before')!, /^\/etc\/passwd regular file 644 0:0 /m);
    assert.is(out.get('users')!.trim(), 'no-slurm-user', 'no user created before the refusal');
    assertRefused(out, 'hard', '/etc/slurm/jwt_hs256.key', /has 2 hard links/);
    assert.is(out.get('after2'), out.get('before2'));
  },
);

withImage(
  '--jwt, --job-submit-lua, --restd: a planted key, job_submit.lua or slurmrestd.service link is refused; targets untouched',
  () => {
    const out = inDebian(`
touch /opt/site-slurm/view/lib/slurm/job_submit_lua.so
printf 'function slurm_job_submit(j, p, u)\\n  return slurm.SUCCESS\\nend\\n' >/root/site.lua
mkdir -p /etc/slurm /etc/systemd/system
ln -s /etc/passwd /etc/slurm/jwt_hs256.key
snap before /etc/passwd /etc/shadow /etc/slurm
inst jwt --jwt --slurm-user root
rm /etc/slurm/jwt_hs256.key && ln -s /etc/passwd /etc/slurm/job_submit.lua
inst lua --job-submit-lua /root/site.lua
rm /etc/slurm/job_submit.lua && ln /etc/shadow /etc/slurm/job_submit.lua
inst luahard --job-submit-lua /root/site.lua
rm /etc/slurm/job_submit.lua && ln -s /etc/shadow /etc/systemd/system/slurmrestd.service
inst restd --full-init --restd
snap after /etc/passwd /etc/shadow
echo ==users==; getent passwd slurmrestd slurm || echo none
rm /etc/systemd/system/slurmrestd.service
inst ok --full-init --restd --job-submit-lua /root/site.lua
snap done /etc/slurm/job_submit.lua /etc/slurm/jwt_hs256.key /etc/systemd/system/slurmrestd.service`);
    assertRefused(out, 'jwt', '/etc/slurm/jwt_hs256.key', /symbolic link \(to \/etc\/passwd\)/);
    assertRefused(out, 'lua', '/etc/slurm/job_submit.lua', /symbolic link \(to \/etc\/passwd\)/);
    assertRefused(out, 'luahard', '/etc/slurm/job_submit.lua', /has 2 hard links/);
    assertRefused(out, 'restd', '/etc/systemd/system/slurmrestd.service', /symbolic link \(to \/etc\/shadow\)/);
    const keep = (s: string) =>
      s
        .split('\n')
        .filter((l) => l.startsWith('/etc/passwd') || l.startsWith('/etc/shadow'))
        .join('\n');
    assert.is(keep(out.get('after')!), keep(out.get('before')!));
    assert.is(out.get('users')!.trim(), 'none', 'no user created before the refusal');
    assert.is(out.get('ok.rc')?.trim(), '0', out.get('all'));
    assert.match(out.get('done')!, /^\/etc\/slurm\/job_submit\.lua regular file 644 0:0 /m);
    assert.match(out.get('done')!, /^\/etc\/slurm\/jwt_hs256\.key regular file 600 \d+:\d+ 32 /m);
    assert.match(out.get('done')!, /^\/etc\/systemd\/system\/slurmrestd\.service regular file 644 0:0 /m);
  },
);

withImage('a dangling cgroup.conf link is refused and its target is not created', () => {
  const out = inDebian(`
mkdir -p /etc/slurm && ln -s /root/somefile /etc/slurm/cgroup.conf
snap before /root/somefile /etc/slurm
inst dangling
snap after /root/somefile /etc/slurm`);
  assertRefused(out, 'dangling', '/etc/slurm/cgroup.conf', /symbolic link \(to \/root\/somefile\)/);
  assert.is(out.get('after'), out.get('before'));
  assert.match(out.get('after')!, /^\/root\/somefile absent$/m);
});

withImage('a symlinked config directory, --conf-dir /tmp and --conf-dir / are refused; /tmp keeps mode 1777', () => {
  const out = inDebian(`
mkdir -m 755 /srv/elsewhere && ln -s /srv/elsewhere /etc/slurm
snap before /srv/elsewhere /tmp /slurm.conf
inst linked --full-init
inst tmp --conf-dir /tmp
inst tmpsub --conf-dir /tmp/slurm
inst slash --conf-dir /
inst etc --conf-dir /etc/
snap after /srv/elsewhere /tmp /slurm.conf`);
  assertRefused(out, 'linked', '/etc/slurm', /symbolic link \(to \/srv\/elsewhere\)/);
  assertRefused(out, 'tmp', "--conf-dir '/tmp'", /system or shared directory/);
  assertRefused(out, 'tmpsub', "--conf-dir '/tmp/slurm'", /system or shared directory/);
  assertRefused(out, 'slash', "--conf-dir '/'", /system or shared directory/);
  assertRefused(out, 'etc', "--conf-dir '/etc'", /system or shared directory/);
  assert.is(out.get('after'), out.get('before'));
  assert.match(out.get('after')!, /^\/tmp directory 1777 0:0 /m);
  assert.match(out.get('after')!, /^\/slurm\.conf absent$/m);
});

withImage('a parent directory writable by others or owned by another user is refused; nothing is created in it', () => {
  const out = inDebian(`
mkdir -p -m 777 /srv/shared && mkdir -p -m 755 /srv/alice && chown nobody /srv/alice
snap before /srv/shared /srv/alice
inst shared --full-init --conf-dir /srv/shared/slurm
inst alice --conf-dir /srv/alice/slurm
inst lmod --conf-dir /etc/slurm-ok --lmod-dir /srv/shared/modules
snap after /srv/shared /srv/alice /etc/slurm-ok`);
  assertRefused(out, 'shared', '/srv/shared', /writable by (group or )?others \(mode 777\)/);
  assertRefused(out, 'alice', '/srv/alice', /owned by uid 65534, not root/);
  assertRefused(out, 'lmod', '/srv/shared', /writable by group or others/);
  assert.is(
    out.get('after'),
    `${out.get('before')}/etc/slurm-ok absent\n`,
    'no config directory made before the module path was refused',
  );
});

withImage(
  'a group-writable /var/log (Ubuntu: root:syslog 0775) takes /var/log/slurm; a group-writable parent of config files does not',
  () => {
    const out = inDebian(`
chgrp adm /var/log && chmod 775 /var/log
mkdir -m 775 /srv/grp
inst ubuntu --full-init
snap state /var/log /var/log/slurm
inst grp --conf-dir /srv/grp/slurm
snap grp /srv/grp`);
    assert.is(out.get('ubuntu.rc')?.trim(), '0', out.get('all'));
    assert.match(out.get('state')!, /^\/var\/log directory 775 0:4 /m);
    assert.match(out.get('state')!, /^\/var\/log\/slurm directory 755 (\d+):\1 /m);
    assertRefused(out, 'grp', '/srv/grp', /writable by group or others \(mode 775\)/);
    assert.match(out.get('grp')!, /^\/srv\/grp directory 775 0:0 \d+ \[\]$/m);
  },
);

withImage('a root-owned link on the way is followed (like /lib -> usr/lib); one owned by another user is not', () => {
  const out = inDebian(`
mkdir -p -m 755 /srv/mods && ln -s /srv/mods /opt/mods
inst ok --no-systemd --slurm-user root --lmod-dir /opt/mods
ls /srv/mods/slurm
ln -s /srv/mods /opt/alice-mods && chown -h nobody /opt/alice-mods
inst alice --no-systemd --slurm-user root --lmod-dir /opt/alice-mods/x`);
  assert.is(out.get('ok.rc')?.trim(), '0', out.get('all'));
  assert.match(out.get('ok.stdout')!, /create \/opt\/mods\/slurm\/24\.11-gcc12\.2\.0\.lua/);
  assert.match(out.get('ok.stdout')!, /\n24\.11-gcc12\.2\.0\.lua\n/);
  assertRefused(out, 'alice', '/opt/alice-mods', /symbolic link owned by uid 65534/);
});

withImage(
  '--root: an absolute link inside the root that leads out of it is refused; the host files are untouched',
  () => {
    const out = inDebian(`
mkdir -p /scratch/etc /scratch/opt && cp -a /opt/site-slurm /scratch/opt/site-slurm
printf 'root:x:0:0:root:/root:/bin/bash\\n' >/scratch/etc/group.tmp
printf 'root:x:0:\\n' >/scratch/etc/group
ln -s /etc/passwd /scratch/etc/passwd
I=/scratch/opt/site-slurm/data/slurm_assets/slurm_install.sh
snap before /etc/passwd /etc/group /etc/systemd/system
inst passwd --root /scratch --full-init
rm /scratch/etc/passwd && mv /scratch/etc/group.tmp /scratch/etc/passwd && ln -s /etc/systemd /scratch/etc/systemd
inst units --root /scratch
ln -s /etc /scratch/etc/slurm2
inst confdir --root /scratch --conf-dir /etc/slurm2/x --no-systemd --slurm-user root
snap after /etc/passwd /etc/group /etc/systemd/system`);
    assertRefused(out, 'passwd', '/scratch/etc/passwd', /symbolic link \(to \/etc\/passwd\)/);
    assertRefused(out, 'units', '/scratch/etc/systemd', /symbolic link \(to \/etc\/systemd\) inside --root \/scratch/);
    assertRefused(out, 'confdir', '/scratch/etc/slurm2', /inside --root/);
    assert.is(out.get('after'), out.get('before'));
  },
);

withImage(
  'build.env COMPILED_PLUGIN_DIR: /lib and system paths are refused, a foreign link is left alone, a real directory is kept',
  () => {
    const out = inDebian(`
ENV=/opt/site-slurm/data/slurm_assets/build.env
cp $ENV /tmp/build.env
snap before /lib /usr/lib/slurm /opt/other/lib/slurm
echo COMPILED_PLUGIN_DIR=/lib >>$ENV; inst lib --conf-server head1
cp /tmp/build.env $ENV; echo COMPILED_PLUGIN_DIR=/usr/lib/slurm >>$ENV; inst usr --conf-server head1
cp /tmp/build.env $ENV; echo COMPILED_PLUGIN_DIR=/opt/spack/../../lib/slurm >>$ENV; inst dotdot --conf-server head1
cp /tmp/build.env $ENV; echo COMPILED_PLUGIN_DIR=/opt/other/lib/slurm >>$ENV
mkdir -p /opt/other/lib && ln -s /etc /opt/other/lib/slurm
inst foreign --conf-server head1
snap after /lib /usr/lib/slurm /opt/other/lib/slurm
rm /opt/other/lib/slurm && mkdir /opt/other/lib/slurm && echo plugin >/opt/other/lib/slurm/auth_slurm.so
inst realdir --conf-server head1
snap realdir /opt/other/lib/slurm /opt/other/lib/slurm/auth_slurm.so
rm -r /opt/other/lib/slurm && ln -s /old/prefix/lib/slurm /opt/other/lib/slurm
inst repoint --conf-server head1
snap repointed /opt/other/lib/slurm`);
    assertRefused(out, 'lib', "COMPILED_PLUGIN_DIR '/lib'");
    assertRefused(out, 'usr', "COMPILED_PLUGIN_DIR '/usr/lib/slurm'", /system directory/);
    assertRefused(out, 'dotdot', "COMPILED_PLUGIN_DIR '/opt/spack/../../lib/slurm'");
    assertRefused(
      out,
      'foreign',
      '/opt/other/lib/slurm',
      /symbolic link to \/etc, not to another Slurm prefix's lib\/slurm/,
    );
    assert.is(
      out.get('after')!.replace('/opt/other/lib/slurm -> /etc 0:0\n', '/opt/other/lib/slurm absent\n'),
      out.get('before'),
    );
    assert.match(out.get('before')!, /^\/lib -> usr\/lib 0:0$/m);
    assert.is(out.get('realdir.rc')?.trim(), '0', out.get('all'));
    assert.match(out.get('realdir.stdout')!, /keep \/opt\/other\/lib\/slurm \(a real directory/);
    assert.match(out.get('realdir')!, /^\/opt\/other\/lib\/slurm directory 755 0:0 \d+ \[auth_slurm\.so \]$/m);
    assert.is(out.get('repoint.rc')?.trim(), '0', out.get('all'));
    assert.match(out.get('repointed')!, /^\/opt\/other\/lib\/slurm -> \/opt\/site-slurm\/view\/lib\/slurm 0:0$/m);
  },
);

withSystemdAnalyze(
  'a prefix and config directory with spaces and %: units pass systemd-analyze verify, slurm.conf says Key="a b", commands are shell-quoted',
  () => {
    withTempDir((tmp) => {
      const treePath = '/srv/site/slurm 24.11%x';
      const { root, prefix, installer } = scratchRoot(tmp, '24.11', treePath);
      writeFileSync(join(root, prefix, 'lib/libpmix.so.2'), '');
      const confDir = '/etc/slurm conf';
      const r = bash(installer, ['--root', root, '--full-init', '--conf-dir', confDir]);
      assert.is(r.status, 0, r.output);

      const unit = readFileSync(join(root, 'etc/systemd/system/slurmd.service'), 'utf8');
      const p = prefix.replace(/%/g, '%%');
      assert.ok(
        unit.split('\n').includes(`ExecStart="${p}/sbin/slurmd" --systemd -d "${p}/sbin/slurmstepd" $SLURMD_OPTIONS`),
        unit,
      );
      assert.ok(unit.split('\n').includes(`Environment="SLURM_CONF=${confDir}/slurm.conf"`), unit);
      assert.ok(unit.split('\n').includes(`Environment="PMIX_INSTALL_PREFIX=${p}"`), unit);
      const ctld = readFileSync(join(root, 'etc/systemd/system/slurmctld.service'), 'utf8');
      assert.ok(ctld.split('\n').includes(`ConditionPathExists=${confDir}/slurm.conf`), ctld);

      // systemd's own parser: it reads the units in the scratch root (with the distribution's units, for the
      // default dependencies) and checks that each ExecStart= names an executable file there.
      mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
      cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), {
        recursive: true,
        verbatimSymlinks: true,
      });
      mkdirSync(join(root, 'bin'), { recursive: true });
      copyFileSync('/bin/kill', join(root, 'bin/kill')); // ExecReload=/bin/kill -HUP $MAINPID
      chmodSync(join(root, 'bin/kill'), 0o755);
      for (const u of ['slurmd', 'slurmctld', 'slurmdbd']) {
        const v = spawnSync(
          'systemd-analyze',
          ['verify', '--man=no', `--root=${root}`, `/etc/systemd/system/${u}.service`],
          { encoding: 'utf8' },
        );
        assert.is(
          v.status,
          0,
          `${u}.service: ${v.stdout}${v.stderr}\n${readFileSync(join(root, `etc/systemd/system/${u}.service`), 'utf8')}`,
        );
      }
      // The check can fail: the same unit with the prefix left unquoted does not verify.
      writeFileSync(
        join(root, 'etc/systemd/system/bad.service'),
        unit.replace(/^ExecStart=.*$/m, `ExecStart=${p}/sbin/slurmd --systemd`),
      );
      const bad = spawnSync(
        'systemd-analyze',
        ['verify', '--man=no', `--root=${root}`, '/etc/systemd/system/bad.service'],
        { encoding: 'utf8' },
      );
      assert.is.not(bad.status, 0, 'an unquoted prefix with a space is an error for systemd');

      const conf = readFileSync(join(root, 'etc/slurm conf/slurm.conf'), 'utf8').split('\n');
      assert.ok(conf.includes(`PluginDir="${prefix}/lib/slurm"`), conf.join('\n'));
      assert.ok(conf.includes(`#AuthAltParameters="jwt_key=${confDir}/jwt_hs256.key"`), conf.join('\n'));
      assert.ok(
        readFileSync(join(root, 'etc/slurm conf/slurmdbd.conf'), 'utf8')
          .split('\n')
          .includes(`PluginDir="${prefix}/lib/slurm"`),
      );

      // Each printed command, read back by bash, gives the intended words.
      const cmds = bash(installer, ['--root', root, '--conf-dir', confDir, '--print-commands']);
      assert.is(cmds.status, 0, cmds.output);
      const words = cmds.stdout
        .trim()
        .split('\n')
        .map((line) => {
          const w = spawnSync('bash', ['-c', `eval "set -- $1"; printf '%s\\n' "$@"`, 'x', line], { encoding: 'utf8' });
          return w.stdout.trim().split('\n');
        });
      assert.equal(words[1], [`SLURM_CONF=${confDir}/slurm.conf`, `${prefix}/sbin/slurmctld`]);
      assert.equal(words[2], [
        `PMIX_INSTALL_PREFIX=${prefix}`,
        `SLURM_CONF=${confDir}/slurm.conf`,
        `${prefix}/sbin/slurmd`,
        '-d',
        `${prefix}/sbin/slurmstepd`,
      ]);
      // A second run changes nothing.
      const again = bash(installer, ['--root', root, '--full-init', '--conf-dir', confDir]);
      assert.match(again.stdout, /nothing to do: this node is set up/, again.output);
    });
  },
);

test('option errors name the value; empty and option-looking values are refused; paths that cannot be quoted are refused', () => {
  withTempDir((tmp) => {
    const { root, installer } = scratchRoot(tmp);
    const cases: [string[], string][] = [
      [['--prefix', 'relative/path'], "--prefix 'relative/path' does not exist"],
      [['--root', root, '--prefix', 'relative/path'], "--prefix 'relative/path' is relative"],
      [['--prefix', '--dry-run'], "--prefix '--dry-run' is not a directory: it looks like an option"],
      [['--prefix', ''], "--prefix '' is empty"],
      [['--prefix='], "--prefix '' is empty"],
      [['--root', ''], "--root '' is empty"],
      [['--conf-dir', 'etc/slurm'], "--conf-dir 'etc/slurm' is not an absolute path"],
      [['--conf-dir', '/etc/slurm/../x'], "--conf-dir '/etc/slurm/../x' contains a '..' component"],
      [['--conf-dir', '/etc/sl"urm'], `--conf-dir '/etc/sl"urm' contains one of`],
      [['--conf-dir', '/etc/slurm$HOME'], "--conf-dir '/etc/slurm$HOME' contains one of"],
      [['--prefix', '/opt/a\\b'], "--prefix '/opt/a\\b' contains one of"],
      [['--prefix', "/opt/it's"], `--prefix '/opt/it's' contains one of`],
      [['--prefix', '/opt/a\nb'], "--prefix '/opt/a?b' contains a control character"],
      [['--prefix', '/opt/a:b'], "--prefix '/opt/a:b' contains ':'"],
      [['--lmod-dir', 'mods'], "--lmod-dir 'mods' is not an absolute path"],
      [['--lmod-dir', '/usr/share'], "--lmod-dir '/usr/share' is a system or shared directory"],
      [['--cluster-name', 'a b'], "--cluster-name 'a b' is not usable"],
      [['--db-password-file'], 'option --db-password-file needs a file'],
    ];
    for (const [args, message] of cases) {
      // Every value is refused before anything is looked at: the one case without --root cannot touch this host.
      const r = bash(installer, [
        ...(args.includes('--root') || args[1] === 'relative/path' ? [] : ['--root', root]),
        '--dry-run',
        ...args,
      ]);
      assert.is(r.status, 2, `${JSON.stringify(args)}: ${r.output}`);
      assert.is(r.stderr.trim().split('\n').length, 1, `${JSON.stringify(args)}: one line: ${r.stderr}`);
      assert.ok(r.stderr.includes(message), `${JSON.stringify(args)}: expected "${message}" in: ${r.stderr}`);
      assert.not.match(r.stderr, /--conf_dir|--lmod_dir/);
    }
  });
});

asRoot(
  '--prefix given relative to the current directory is resolved; SLURM_INSTALL_PREFIX="" means the default',
  () => {
    withTempDir((tmp) => {
      const { root, installer } = scratchRoot(tmp);
      const rel = bash(installer, ['--prefix', 'site/slurm-24.11', '--print-commands'], { cwd: join(root, 'srv') });
      assert.is(rel.status, 0, rel.output);
      assert.match(
        rel.stdout,
        new RegExp(`^SLURM_CONF=/etc/slurm/slurm\\.conf ${root}/srv/site/slurm-24\\.11/view/sbin/slurmctld$`, 'm'),
      );
      const env = bash(installer, ['--root', root, '--print-commands'], { env: { SLURM_INSTALL_PREFIX: '' } });
      assert.is(env.status, 0, env.output);
      assert.match(
        env.stdout,
        /^SLURM_CONF=\/etc\/slurm\/slurm\.conf \/srv\/site\/slurm-24\.11\/view\/sbin\/slurmctld$/m,
      );
    });
  },
);

test.run();
