/**
 * verify's host-side checks, without Docker: the member list of a package tarball read with node-tar
 * (hostile tarballs made with real GNU tar are refused, a tarball made by pack-tarball.sh passes), and the
 * copy of a container's logs that keeps only regular files (a tar stream made by GNU tar, as docker cp writes).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needCommand, repoRoot, sh, withTempDir, testIf } from './helpers.ts';
import { HOSTILE, NAME, packageTree } from './hostile-tarballs.ts';
import { copyRegularFiles, inspectTarball } from '../tasks/lib/verify.ts';
import { VerifyError } from '../tasks/lib/errors.ts';

const withTar = testIf(test, [
  needCommand('tar', 'apt-get install tar'),
  needCommand('mkfifo', 'apt-get install coreutils'),
]);

/** Every path under dir with its type, without following links. */
function tree(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort().map((p) => {
    const st = lstatSync(join(dir, p));
    return `${p} ${st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other'}`;
  });
}

withTar(
  'a tarball made by pack-tarball.sh passes: in-tree symlinks and hardlinks, manifest read, nothing written',
  async () => {
    await withTempDir(async (t) => {
      const stage = packageTree(t);
      renameSync(join(stage, 'view'), join(t, 'view'));
      const out = join(t, 'out');
      mkdirSync(out);
      sh(
        `bash '${join(repoRoot, 'scripts/package/pack-tarball.sh')}' --view '${join(t, 'view')}' --stage '${stage}' --out '${join(out, NAME)}' --mtime 1700000000 2>/dev/null`,
      );
      const listing = sh(`tar -tvzf '${join(out, NAME)}'`);
      assert.match(
        listing,
        /^h.* view\/lib\/libslurm\.so\.42 link to view\/lib\/libslurm-hard\.so\.42$/m,
        'a hardlink is in it',
      );
      assert.match(listing, /^l.* view\/sbin\/lib -> \.\.\/lib$/m, 'a relative symlink is in it');
      const before = tree(t);
      const r = await inspectTarball(join(out, NAME));
      assert.is(r.manifest.glibc.floor, '2.17');
      assert.ok(r.members >= 10, `${r.members} members`);
      assert.equal(tree(t), before, 'nothing unpacked');
    });
  },
);

for (const h of HOSTILE) {
  withTar(`refused on the host: ${h.name}`, async () => {
    await withTempDir(async (t) => {
      const tarball = join(t, NAME);
      h.make(t, tarball);
      try {
        await inspectTarball(tarball);
        assert.unreachable('must be refused');
      } catch (e) {
        assert.instance(e, VerifyError);
        const err = e as VerifyError;
        assert.is(err.exitCode, 2);
        assert.ok(err.message.startsWith(`${NAME}: `), err.message);
        assert.match(err.message, h.says);
        assert.not.match(err.oneLine(), /\n/);
      }
    });
  });
}

withTar('copying logs out keeps only regular files and writes nothing outside the destination', async () => {
  await withTempDir(async (t) => {
    // What a hostile installer can leave in /var/log/slurm, archived by GNU tar as `docker cp CONTAINER:SRC -` does.
    const src = join(t, 'slurm');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'slurmctld.log'), 'controller log\n');
    writeFileSync(join(src, 'sub', 'nested.log'), 'nested\n');
    writeFileSync(join(t, 'outside.txt'), 'outside\n');
    sh(
      'ln -s /etc/shadow slurm/shadow && ln -s /etc slurm/etc-dir && ln -s ../outside.txt slurm/up && mkfifo slurm/fifo' +
        ' && mknod slurm/null c 1 3 && ln slurm/slurmctld.log slurm/zz-hard.log && echo escape > escape.log',
      { cwd: t },
    );
    // Then members no docker cp would write, but a stream from a container is not to be trusted.
    sh(
      "tar -cf stream.tar --sort=name slurm && tar -rf stream.tar --absolute-names --transform='s,^escape.log$,slurm/../escaped.log,' escape.log" +
        ` && tar -rf stream.tar --absolute-names '${join(t, 'outside.txt')}'`,
      { cwd: t },
    );
    const dest = join(t, 'logs', 'verify-x');
    mkdirSync(join(dest, 'slurm'), { recursive: true });
    const beforeParent = tree(t).filter((p) => !p.startsWith('logs'));
    const cat = spawn('cat', [join(t, 'stream.tar')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const r = await copyRegularFiles(cat.stdout, join(dest, 'slurm'));
    assert.equal(tree(dest), ['slurm dir', 'slurm/slurmctld.log file', 'slurm/sub dir', 'slurm/sub/nested.log file']);
    assert.is(readFileSync(join(dest, 'slurm', 'slurmctld.log'), 'utf8'), 'controller log\n');
    assert.is(r.files, 2);
    for (const s of [
      'shadow (SymbolicLink)',
      'etc-dir (SymbolicLink)',
      'up (SymbolicLink)',
      'fifo (FIFO)',
      'null (CharacterDevice)',
      'zz-hard.log (Link)',
    ]) {
      assert.ok(
        r.skipped.some((x) => x.endsWith(s)),
        `${s} left out: ${r.skipped.join(', ')}`,
      );
    }
    assert.ok(
      r.skipped.some((x) => /escaped\.log \(unsafe path\)/.test(x)),
      r.skipped.join(', '),
    );
    assert.ok(
      r.skipped.some((x) => /outside\.txt \(unsafe path\)/.test(x)),
      r.skipped.join(', '),
    );
    assert.equal(
      tree(t).filter((p) => !p.startsWith('logs')),
      beforeParent,
      'nothing written outside the destination',
    );
    assert.not.ok(existsSync(join(t, 'logs', 'escaped.log')));
  });
});

test.run();
