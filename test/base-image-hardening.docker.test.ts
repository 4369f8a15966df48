/**
 * scripts/make-base-image.sh runs as root and writes into a freshly debootstrapped rootfs. Its post-debootstrap
 * step (the hidden `--finish-rootfs DIR NAME` entry point, documented in the script's header) is run here on a
 * real root filesystem: the existing base image, `docker export`ed into a temporary directory, with absolute
 * links planted where the step writes (etc/hostname, etc/resolv.conf, usr/sbin/policy-rc.d,
 * etc/apt/sources.list.d/debian.sources -> a host file; var/log -> a host directory holding a *.log) and a
 * link where the old script wrote its tarball (rootfs-<suite>.tar.partial -> a host file). Every victim must
 * be left exactly as it was (type, mode, owner, size, mtime, content) and the rootfs must get regular files.
 * The step runs apt-get update inside the rootfs, so it needs Debian's mirror.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needDocker, needImage, repoRoot, testIf, withTempDir } from './helpers.ts';
import { snap } from './snap.ts';

const BASE = 'slurm-factory-base:debian12';
const SCRIPT = join(repoRoot, 'scripts/make-base-image.sh');
const withRootfs = testIf(test, [
  () =>
    process.getuid?.() === 0 ? null : 'make-base-image.sh --finish-rootfs needs root (chroot): run the tests as root',
  needDocker,
  needImage(BASE, 'scripts/make-base-image.sh debian12'),
]);

/** The base image's root filesystem, unpacked into `dir` (as root: owners and modes kept). */
function exportImage(dir: string) {
  mkdirSync(dir);
  const r = spawnSync(
    'bash',
    [
      '-c',
      'cid=$(docker create "$1") && { docker export "$cid" | tar -xf - -C "$2"; rc=$?; docker rm "$cid" >/dev/null; exit $rc; }',
      'x',
      BASE,
      dir,
    ],
    { encoding: 'utf8' },
  );
  assert.is(r.status, 0, `docker export ${BASE}: ${r.stderr}`);
}

withRootfs(
  'finishing a rootfs whose written paths are absolute links to host files leaves every host file as it was',
  () => {
    withTempDir((tmp) => {
      const root = join(tmp, 'rootfs');
      exportImage(root);
      const victims = join(tmp, 'victims');
      mkdirSync(join(victims, 'logdir'), { recursive: true });
      const files = ['hostname', 'resolv', 'policy', 'sources', 'partial'].map((n) => join(victims, n)) as [
        string,
        string,
        string,
        string,
        string,
      ];
      files.forEach((f, i) => writeFileSync(f, `victim ${i}: must stay\n`, { mode: 0o600 }));
      writeFileSync(join(victims, 'logdir/keep.log'), 'a host log\n');
      const plant = (rel: string, target: string) => {
        rmSync(join(root, rel), { recursive: true, force: true });
        symlinkSync(target, join(root, rel));
      };
      plant('etc/hostname', files[0]);
      plant('etc/resolv.conf', files[1]);
      plant('usr/sbin/policy-rc.d', files[2]);
      plant('etc/apt/sources.list.d/debian.sources', files[3]);
      plant('var/log', join(victims, 'logdir'));
      const cache = join(tmp, 'cache');
      mkdirSync(cache, { mode: 0o755 });
      symlinkSync(files[4], join(cache, 'rootfs-bookworm.tar.partial'));
      const watched = [...files, join(victims, 'logdir'), join(victims, 'logdir/keep.log')];
      const before = snap(...watched);

      const r = spawnSync('bash', [SCRIPT, '--finish-rootfs', root, 'debian12'], {
        encoding: 'utf8',
        env: { ...process.env, SLURM_FACTORY_CACHE: cache },
        timeout: 300_000,
      });
      assert.is(r.status, 0, `make-base-image --finish-rootfs: ${r.stderr}`);
      assert.is(snap(...watched), before, 'a host file behind a link in the rootfs was changed');

      // The rootfs got regular files of its own in place of the links.
      const regular = (rel: string) => {
        const st = lstatSync(join(root, rel));
        assert.ok(st.isFile() && st.nlink === 1, `${rel} is not a regular file`);
        return readFileSync(join(root, rel), 'utf8');
      };
      assert.is(regular('etc/hostname'), 'localhost\n');
      assert.is(regular('etc/resolv.conf'), '');
      assert.is(regular('usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n');
      assert.is(lstatSync(join(root, 'usr/sbin/policy-rc.d')).mode & 0o777, 0o755);
      assert.match(regular('etc/apt/sources.list.d/debian.sources'), /^Suites: bookworm bookworm-updates$/m);
      // The tarball: a regular file in the cache, the old .partial link untouched, no temporary file left.
      const tarball = join(cache, 'rootfs-bookworm.tar');
      assert.ok(lstatSync(tarball).isFile());
      assert.equal(readdirSync(cache).sort(), ['rootfs-bookworm.tar', 'rootfs-bookworm.tar.partial']);
      const hostname = spawnSync('tar', ['-xOf', tarball, './etc/hostname'], { encoding: 'utf8' });
      assert.is(hostname.stdout, 'localhost\n');
    }, 'sf-baseimg-');
  },
);

withRootfs(
  'a directory on the way that is an absolute link resolves inside the rootfs: the host directory gets nothing',
  () => {
    withTempDir((tmp) => {
      const root = join(tmp, 'rootfs');
      exportImage(root);
      const hostDir = join(tmp, 'host-sources.list.d');
      mkdirSync(hostDir);
      rmSync(join(root, 'etc/apt/sources.list.d'), { recursive: true, force: true });
      symlinkSync(hostDir, join(root, 'etc/apt/sources.list.d'));
      const cache = join(tmp, 'cache');
      mkdirSync(cache, { mode: 0o755 });
      const before = snap(hostDir);
      const r = spawnSync('bash', [SCRIPT, '--finish-rootfs', root, 'debian12'], {
        encoding: 'utf8',
        env: { ...process.env, SLURM_FACTORY_CACHE: cache },
        timeout: 300_000,
      });
      // Inside the rootfs the link leads to a directory that does not exist there: the write fails, in the rootfs.
      assert.is.not(r.status, 0, r.stderr);
      assert.match(
        r.stderr,
        /mktemp: failed to create file via template .\/etc\/apt\/sources\.list\.d\/\.make-base-image\./,
      );
      assert.is(snap(hostDir), before, 'the host directory behind the link was written into');
      assert.equal(readdirSync(cache), [], 'nothing cached, no temporary file left');
    }, 'sf-baseimg-');
  },
);

withRootfs('--finish-rootfs refuses a link as the directory, with one line and exit 2', () => {
  withTempDir((tmp) => {
    mkdirSync(join(tmp, 'victim'));
    writeFileSync(join(tmp, 'victim/etc'), 'not a rootfs\n');
    symlinkSync(join(tmp, 'victim'), join(tmp, 'link'));
    mkdirSync(join(tmp, 'cache'), { mode: 0o755 });
    const before = snap(join(tmp, 'victim'), join(tmp, 'victim/etc'));
    const r = spawnSync('bash', [SCRIPT, '--finish-rootfs', join(tmp, 'link'), 'debian12'], {
      encoding: 'utf8',
      env: { ...process.env, SLURM_FACTORY_CACHE: join(tmp, 'cache') },
    });
    assert.is(r.status, 2, r.stderr);
    assert.is(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(
      r.stderr,
      /^make-base-image: --finish-rootfs '.*\/link' is not a directory \(a link is not followed\)/,
    );
    assert.is(snap(join(tmp, 'victim'), join(tmp, 'victim/etc')), before);
    assert.equal(readdirSync(join(tmp, 'cache')), []);
  });
});

test.run();
