/**
 * Directories the user names (--out, SLURM_FACTORY_HOME, --file's folder): every one is created through
 * `ensureUserDir`, never by a bare recursive mkdirSync. Node 20's recursive mkdir spins forever on procfs, and
 * its errno messages (ENOTDIR, EEXIST, EPERM naming some internal path) tell the user nothing. So the nearest
 * existing ancestor is looked at first (lstat, walking up): it must be a writable directory on a real
 * filesystem, not /proc, /sys or /dev. Problems are one ConfigurationError naming the path the user gave.
 */
import { accessSync, constants, lstatSync, mkdirSync, realpathSync, statSync, statfsSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigurationError } from './errors.ts';

/** Where a path came from, for the message: what the user set ('--out', 'SLURM_FACTORY_HOME') and its value. */
export interface UserPathSource {
  what: string;
  /** The value the user gave (default: the directory itself). */
  given?: string;
  /** What to do instead (default: give `what` a writable directory on a real disk). */
  fix?: string;
}

const VIRTUAL_ROOTS = ['/proc', '/sys', '/dev'] as const;
/** statfs f_type of filesystems that hold no user files (procfs, sysfs, cgroup2, devpts), wherever mounted. */
const VIRTUAL_FS_TYPES = new Set([0x9fa0, 0x62656572, 0x63677270, 0x1cd1]);

function fail(src: UserPathSource, dir: string, problem: string): never {
  // 'is a file' reads on from the path; anything else names its own subject after a colon.
  throw new ConfigurationError(`${src.what} '${src.given ?? dir}'${problem.startsWith('is ') ? ' ' : ': '}${problem}`, {
    remediation: src.fix ?? `give ${src.what} a writable directory on a real disk`,
  });
}

const ERRNO_WORDS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only filesystem',
  ENOSPC: 'no space left on the disk',
  EDQUOT: 'disk quota exceeded',
  ENOTDIR: 'a part of the path is a file',
  EEXIST: 'something else is in the way',
  EISDIR: 'is a directory',
  ENOENT: 'a part of the path disappeared',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EINVAL: 'the name is not allowed here',
  EBUSY: 'in use (a mount point?)',
  EXDEV: 'on another filesystem',
};

/** An errno error (from writing under a user's directory) as a one-line ConfigurationError naming the user's path. */
export function userPathError(err: unknown, src: UserPathSource, dir: string): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof code !== 'string' || !/^E[A-Z]+$/.test(code)) return err;
  return new ConfigurationError(
    `cannot write ${src.what} '${src.given ?? dir}': ${ERRNO_WORDS[code] ?? code} (${code})`,
    {
      remediation: src.fix ?? `give ${src.what} a writable directory on a real disk`,
    },
  );
}

/** The nearest path at or above `abs` that exists (lstat), with its stat. */
function nearestExisting(abs: string, src: UserPathSource): { path: string; st: Stats } {
  let p = abs;
  for (;;) {
    let st: Stats | undefined;
    try {
      st = lstatSync(p, { throwIfNoEntry: false });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOTDIR: an ancestor is a file; keep walking up to find it.
      if (code !== 'ENOTDIR') fail(src, abs, `cannot look at ${p}: ${ERRNO_WORDS[code ?? ''] ?? code}`);
    }
    if (st) return { path: p, st };
    const up = dirname(p);
    if (up === p) fail(src, abs, 'no part of the path exists');
    p = up;
  }
}

function virtualRoot(real: string): string | null {
  for (const r of VIRTUAL_ROOTS) if (real === r || real.startsWith(`${r}/`)) return r;
  try {
    if (VIRTUAL_FS_TYPES.has(Number(statfsSync(real).type))) return real;
  } catch {
    /* statfs failing is not a verdict */
  }
  return null;
}

/**
 * Checks that `dir` exists as a writable directory or can be created: returns its absolute path and creates
 * nothing. Throws a ConfigurationError naming the user's path and the part in the way.
 */
export function checkUserDir(dir: string, src: UserPathSource): string {
  const abs = resolve(dir);
  const { path, st } = nearestExisting(abs, src);
  let real = path;
  let isDir = st.isDirectory();
  if (st.isSymbolicLink()) {
    // The user's own link (a home on a bigger disk) is fine; look at what it points to.
    const target = statSync(path, { throwIfNoEntry: false });
    if (!target) fail(src, abs, `${path} is a link to nothing`);
    isDir = target.isDirectory();
    real = realpathSync(path);
  } else {
    try {
      real = realpathSync(path);
    } catch {
      /* keep the path as given */
    }
  }
  const v = virtualRoot(real);
  if (v) fail(src, abs, `${v} is a virtual filesystem of the kernel and cannot hold files`);
  if (!isDir) fail(src, abs, path === abs ? 'is a file, not a directory' : `${path} is a file, not a directory`);
  try {
    accessSync(real, constants.W_OK | constants.X_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    fail(
      src,
      abs,
      `${path === abs ? '' : `${path} `}is not writable: ${ERRNO_WORDS[code] ?? code}${code ? ` (${code})` : ''}`,
    );
  }
  return abs;
}

/** checkUserDir, then creates what is missing (with `mode` for every new level). Returns the absolute path. */
export function ensureUserDir(dir: string, src: UserPathSource, opts: { mode?: number } = {}): string {
  const abs = checkUserDir(dir, src);
  if (statSync(abs, { throwIfNoEntry: false })?.isDirectory()) return abs;
  try {
    mkdirSync(abs, { recursive: true, ...(opts.mode !== undefined ? { mode: opts.mode } : {}) });
  } catch (e) {
    throw userPathError(e, src, abs);
  }
  return abs;
}
