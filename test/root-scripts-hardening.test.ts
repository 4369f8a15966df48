/**
 * The scripts CI runs as root on the host (make-base-image.sh's cache, lib/apt-trixie.sh, setup-docker.sh's
 * and setup-attest-engine.sh's daemon logs, lib/safe-write.sh under them) never follow a link they did not
 * make and never write through a directory another user could change. Each case plants the real thing (an
 * absolute link to a victim file or directory, a dangling link, a second hard link, a directory owned by
 * nobody or writable by everyone), runs the real script or its real function as root, and checks that it
 * refused with one line naming the path and exit 2, and that the victim and the planted entry are exactly as
 * they were (type, mode, owner, size, mtime, content). Nothing here needs Docker.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { repoRoot, testIf, withTempDir } from './helpers.ts';
import { snap } from './snap.ts';

const asRoot = testIf(test, [
  () => (process.getuid?.() === 0 ? null : 'these scripts run as root: run the tests as root'),
]);
const NOBODY = 65534;

function bash(script: string, args: string[] = [], env: Record<string, string> = {}) {
  const r = spawnSync('bash', ['-c', script, 'bash', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Exit 2 with exactly one line on stderr, which matches `line`. */
function refused(r: { status: number; stderr: string }, line: RegExp) {
  assert.is(r.status, 2, `exit ${r.status}: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.is(lines.length, 1, `more than one line:\n${r.stderr}`);
  assert.match(lines[0]!, line);
}

/** A victim file outside the target, with content and a mode of its own. */
function victim(path: string): string {
  writeFileSync(path, 'victim: must stay as it is\n', { mode: 0o600 });
  return path;
}

// ---------------------------------------------------------------------------------------------------------
// make-base-image.sh: the cache directory and the cached tarball (checked before anything else is done).
// ---------------------------------------------------------------------------------------------------------
const MAKE_BASE = join(repoRoot, 'scripts/make-base-image.sh');
const makeBase = (cache: string, extraEnv: Record<string, string> = {}) =>
  bash('exec bash "$@"', [MAKE_BASE, 'debian12'], { SLURM_FACTORY_CACHE: cache, ...extraEnv });

asRoot('make-base-image: a symlinked cache directory is refused; the directory it points to is not touched', () => {
  withTempDir((tmp) => {
    const target = join(tmp, 'elsewhere');
    mkdirSync(target, { mode: 0o755 });
    victim(join(target, 'rootfs-bookworm.tar'));
    symlinkSync(target, join(tmp, 'cache'));
    const before = snap(target, join(target, 'rootfs-bookworm.tar'), join(tmp, 'cache'));
    refused(
      makeBase(join(tmp, 'cache')),
      /^make-base-image: refusing: the cache SLURM_FACTORY_CACHE='.*\/cache' is a symbolic link \(to .*\/elsewhere\): it is not followed; give a real directory owned by root/,
    );
    assert.is(snap(target, join(target, 'rootfs-bookworm.tar'), join(tmp, 'cache')), before);
  });
});

asRoot('make-base-image: a cache that is a file, writable by others, or owned by another user is refused', () => {
  withTempDir((tmp) => {
    victim(join(tmp, 'file'));
    let before = snap(join(tmp, 'file'));
    refused(
      makeBase(join(tmp, 'file')),
      /^make-base-image: refusing: the cache SLURM_FACTORY_CACHE='.*\/file' exists and is not a directory/,
    );
    assert.is(snap(join(tmp, 'file')), before);

    mkdirSync(join(tmp, 'open'));
    chmodSync(join(tmp, 'open'), 0o777);
    before = snap(join(tmp, 'open'));
    refused(
      makeBase(join(tmp, 'open')),
      /directory .*\/open is writable by group or others \(mode 777\): another user could swap its entries; chmod go-w it/,
    );
    assert.is(snap(join(tmp, 'open')), before);

    mkdirSync(join(tmp, 'theirs'), { mode: 0o755 });
    chownSync(join(tmp, 'theirs'), NOBODY, NOBODY);
    before = snap(join(tmp, 'theirs'));
    refused(makeBase(join(tmp, 'theirs')), /directory .*\/theirs is owned by uid 65534, not root/);
    assert.is(snap(join(tmp, 'theirs')), before);

    // A cache not there yet under a directory another user owns: refused, nothing created.
    mkdirSync(join(tmp, 'nobodys'), { mode: 0o755 });
    chownSync(join(tmp, 'nobodys'), NOBODY, NOBODY);
    refused(makeBase(join(tmp, 'nobodys/cache')), /directory .*\/nobodys is owned by uid 65534, not root/);
    assert.equal(readdirSync(join(tmp, 'nobodys')), []);
  });
});

asRoot('make-base-image: a cached rootfs tarball that is a link or has a second hard link is refused', () => {
  withTempDir((tmp) => {
    const cache = join(tmp, 'cache');
    mkdirSync(cache, { mode: 0o755 });
    const v = victim(join(tmp, 'victim.tar'));
    symlinkSync(v, join(cache, 'rootfs-bookworm.tar'));
    const before = snap(v, join(cache, 'rootfs-bookworm.tar'));
    refused(
      makeBase(cache),
      /^make-base-image: refusing: the cached rootfs: .*\/rootfs-bookworm\.tar is a symbolic link \(to .*victim\.tar\): it is not followed; remove it/,
    );
    assert.is(snap(v, join(cache, 'rootfs-bookworm.tar')), before);

    const cache2 = join(tmp, 'cache2');
    mkdirSync(cache2, { mode: 0o755 });
    linkSync(v, join(cache2, 'rootfs-bookworm.tar'));
    refused(makeBase(cache2), /rootfs-bookworm\.tar has 2 hard links: writing it would change the other names too/);
  });
});

asRoot('make-base-image: bad names, architectures and mirrors are one line and exit 2', () => {
  refused(
    bash('exec bash "$@"', [MAKE_BASE, 'debian9']),
    /^make-base-image: unknown image name 'debian9': use debian11, debian12 or debian13/,
  );
  refused(
    bash('exec bash "$@"', [MAKE_BASE, 'debian12', '--arch', 'sparc']),
    /^make-base-image: unknown architecture 'sparc': use amd64 \(x86_64\) or arm64 \(aarch64\)$/,
  );
  refused(
    bash('exec bash "$@"', [MAKE_BASE, 'debian12'], { MIRROR: 'http://deb.debian.org/debian\nSuites: sid' }),
    /^make-base-image: MIRROR 'http:\/\/deb\.debian\.org\/debian\?Suites: sid' is not a plain http\(s\) URL/,
  );
});

asRoot('make-base-image: its cleanup leaves a directory with a filesystem still mounted below it', () => {
  withTempDir((tmp) => {
    const work = join(tmp, 'debootstrap-bookworm.XXXX');
    const mnt = join(work, 'rootfs', 'dev');
    mkdirSync(mnt, { recursive: true });
    const m = spawnSync('mount', ['-t', 'tmpfs', 'sf-test', mnt], { encoding: 'utf8' });
    assert.is(m.status, 0, `mount tmpfs: ${m.stderr}`);
    try {
      writeFileSync(join(mnt, 'node'), 'a host device, say\n');
      const r = bash(`source "${MAKE_BASE}"; CLEANUP=("$1"); cleanup`, [work]);
      assert.is(r.status, 0, r.stderr);
      assert.match(
        r.stderr,
        /^make-base-image: left .*debootstrap-bookworm\.XXXX: something is still mounted below it/,
      );
      assert.is(readFileSync(join(mnt, 'node'), 'utf8'), 'a host device, say\n');
    } finally {
      spawnSync('umount', [mnt]);
    }
    const r = bash(`source "${MAKE_BASE}"; CLEANUP=("$1"); cleanup`, [work]);
    assert.is(r.status, 0, r.stderr);
    assert.is(lstatSync(work, { throwIfNoEntry: false }), undefined, 'removed once nothing is mounted');
  });
});

// ---------------------------------------------------------------------------------------------------------
// lib/apt-trixie.sh: ensure_trixie_suite writes two files under /etc/apt (here: under a scratch tree).
// ---------------------------------------------------------------------------------------------------------
const TRIXIE = (dir: string) => String.raw`set -euo pipefail
source "${repoRoot}/scripts/lib/apt-trixie.sh"
TRIXIE_SOURCES=${dir}/sources.list.d/trixie.sources TRIXIE_PIN=${dir}/preferences.d/trixie-pin
if ensure_trixie_suite; then echo changed; else echo unchanged; fi`;

function aptTree(tmp: string): string {
  const dir = join(tmp, 'apt');
  mkdirSync(join(dir, 'sources.list.d'), { recursive: true, mode: 0o755 });
  mkdirSync(join(dir, 'preferences.d'), { mode: 0o755 });
  return dir;
}

asRoot('apt-trixie: a dangling link at the source is refused and its target is not created', () => {
  withTempDir((tmp) => {
    const dir = aptTree(tmp);
    const target = join(tmp, 'created-through-the-link');
    symlinkSync(target, join(dir, 'sources.list.d/trixie.sources'));
    refused(
      bash(TRIXIE(dir)),
      /refusing: the trixie apt source: .*\/trixie\.sources is a symbolic link \(to .*created-through-the-link\): it is not followed; remove it/,
    );
    assert.is(snap(target), `${target} absent`);
    assert.ok(lstatSync(join(dir, 'sources.list.d/trixie.sources')).isSymbolicLink());
    assert.equal(readdirSync(join(dir, 'preferences.d')), []);
  });
});

asRoot('apt-trixie: a link to an existing file at the pin is refused; the file is unchanged', () => {
  withTempDir((tmp) => {
    const dir = aptTree(tmp);
    const v = victim(join(tmp, 'victim'));
    symlinkSync(v, join(dir, 'preferences.d/trixie-pin'));
    const before = snap(v);
    refused(bash(TRIXIE(dir)), /refusing: the trixie apt pin: .*\/trixie-pin is a symbolic link/);
    assert.is(snap(v), before);
    // Both paths are checked before either is written: the missing source was not written either.
    assert.equal(readdirSync(join(dir, 'sources.list.d')), []);
  });
});

asRoot('apt-trixie: missing files are written (0644, regular), and a second run changes nothing', () => {
  withTempDir((tmp) => {
    const dir = aptTree(tmp);
    const r = bash(TRIXIE(dir));
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout, 'changed\n');
    const src = join(dir, 'sources.list.d/trixie.sources');
    const pin = join(dir, 'preferences.d/trixie-pin');
    for (const f of [src, pin]) {
      const st = lstatSync(f);
      assert.ok(st.isFile() && st.nlink === 1 && (st.mode & 0o777) === 0o644, f);
    }
    assert.match(readFileSync(src, 'utf8'), /^Suites: trixie$/m);
    assert.match(readFileSync(pin, 'utf8'), /^Pin-Priority: 100$/m);
    assert.equal(readdirSync(join(dir, 'sources.list.d')), ['trixie.sources'], 'no temporary file left');
    const before = snap(src, pin);
    const again = bash(TRIXIE(dir));
    assert.is(again.stdout, 'unchanged\n');
    assert.is(snap(src, pin), before);
  });
});

// ---------------------------------------------------------------------------------------------------------
// setup-docker.sh's dockerd log, setup-attest-engine.sh's log (their real functions, the script sourced).
// ---------------------------------------------------------------------------------------------------------
const dockerLog = (log: string) =>
  bash(`source "${repoRoot}/scripts/setup-docker.sh"; DOCKERD_LOG="$1"; new_log; echo made`, [log]);
const attestLog = (log: string) =>
  bash(`source "${repoRoot}/scripts/setup-attest-engine.sh"; LOGFILE="$1"; check_log; echo ok`, [log]);

asRoot(
  'setup-docker: a dockerd log that is a link or has a second hard link is refused; its target is unchanged',
  () => {
    withTempDir((tmp) => {
      mkdirSync(join(tmp, 'log'), { mode: 0o755 });
      const v = victim(join(tmp, 'victim'));
      const log = join(tmp, 'log/dockerd.log');
      symlinkSync(v, log);
      let before = snap(v, log);
      refused(
        dockerLog(log),
        /^setup-docker: refusing: the dockerd log: .*\/dockerd\.log is a symbolic link \(to .*victim\): it is not followed/,
      );
      assert.is(snap(v, log), before);

      const dangling = join(tmp, 'log/dangling.log');
      symlinkSync(join(tmp, 'would-be-created'), dangling);
      refused(dockerLog(dangling), /dangling\.log is a symbolic link/);
      assert.is(snap(join(tmp, 'would-be-created')), `${join(tmp, 'would-be-created')} absent`);

      const hard = join(tmp, 'log/hard.log');
      linkSync(v, hard);
      before = snap(v);
      refused(dockerLog(hard), /hard\.log has 2 hard links/);
      assert.is(snap(v).replace(/links=\d+/, ''), before.replace(/links=\d+/, ''));
    });
  },
);

asRoot('setup-docker: a log directory that is a link to elsewhere or writable by others is refused', () => {
  withTempDir((tmp) => {
    const elsewhere = join(tmp, 'elsewhere');
    mkdirSync(elsewhere, { mode: 0o755 });
    symlinkSync(elsewhere, join(tmp, 'log'));
    refused(
      dockerLog(join(tmp, 'log/dockerd.log')),
      /the dockerd log: .*\/log is a symbolic link \(to .*elsewhere\): it is not followed/,
    );
    assert.equal(readdirSync(elsewhere), []);

    mkdirSync(join(tmp, 'open'));
    chmodSync(join(tmp, 'open'), 0o1777);
    refused(
      dockerLog(join(tmp, 'open/dockerd.log')),
      /directory .*\/open is writable by group or others \(mode 1777\)/,
    );
    assert.equal(readdirSync(join(tmp, 'open')), []);
  });
});

asRoot('setup-docker: an old regular log is replaced by a new empty file (a new inode, not truncated in place)', () => {
  withTempDir((tmp) => {
    mkdirSync(join(tmp, 'log'), { mode: 0o755 });
    const log = join(tmp, 'log/dockerd.log');
    writeFileSync(log, 'old run\n');
    const ino = lstatSync(log).ino;
    const r = dockerLog(log);
    assert.is(r.status, 0, r.stderr);
    const st = lstatSync(log);
    assert.ok(st.isFile() && st.size === 0 && st.ino !== ino && (st.mode & 0o777) === 0o644);
    assert.equal(readdirSync(join(tmp, 'log')), ['dockerd.log']);
  });
});

asRoot('setup-attest-engine: a log that is a link is refused before the daemon would append to it', () => {
  withTempDir((tmp) => {
    mkdirSync(join(tmp, 'log'), { mode: 0o755 });
    const v = victim(join(tmp, 'victim'));
    symlinkSync(v, join(tmp, 'log/attest.log'));
    const before = snap(v);
    refused(
      attestLog(join(tmp, 'log/attest.log')),
      /^setup-attest-engine: refusing: the second dockerd's log: .*attest\.log is a symbolic link/,
    );
    assert.is(snap(v), before);
    const ok = attestLog(join(tmp, 'log/new.log'));
    assert.is(ok.status, 0, ok.stderr);
  });
});

// ---------------------------------------------------------------------------------------------------------
// lib/safe-write.sh itself: links on the way.
// ---------------------------------------------------------------------------------------------------------
const swWrite = (file: string) =>
  bash(
    `PROG=t; source "${repoRoot}/scripts/lib/safe-write.sh"; sw_write "$1" 0644 "the file" < <(printf new); echo rc=$?`,
    [file],
  );

asRoot(
  'safe-write: a link on the way owned by another user is refused; a root-owned one is followed and checked',
  () => {
    withTempDir((tmp) => {
      const real = join(tmp, 'real');
      mkdirSync(real, { mode: 0o755 });
      symlinkSync(real, join(tmp, 'theirs'));
      spawnSync('chown', ['-h', `${NOBODY}:${NOBODY}`, join(tmp, 'theirs')]);
      refused(
        swWrite(join(tmp, 'theirs/f')),
        /^t: refusing: the file: .*\/theirs is a symbolic link owned by uid 65534 \(to .*\/real\): only root's links are followed/,
      );
      assert.equal(readdirSync(real), []);

      symlinkSync(real, join(tmp, 'mine'));
      const ok = swWrite(join(tmp, 'mine/f'));
      assert.is(ok.status, 0, ok.stderr);
      assert.is(readFileSync(join(real, 'f'), 'utf8'), 'new');

      // Root's link to a directory that others may write: checked through the link, refused.
      const open = join(tmp, 'open');
      mkdirSync(open);
      chmodSync(open, 0o777);
      symlinkSync(open, join(tmp, 'to-open'));
      refused(swWrite(join(tmp, 'to-open/f')), /directory .*\/to-open is writable by group or others \(mode 777\)/);
      assert.equal(readdirSync(open), []);
    });
  },
);

test.run();
