/**
 * Runs one buildx build: streams its progress, writes the full log to ~/.slurm-factory/logs/, turns a failure
 * into a BuildError naming the failed stage, and publishes the export atomically (a temp directory, then
 * renames), so builds/ only ever holds complete artifacts.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  constants,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  lstatSync,
  readlinkSync,
  statfsSync,
  copyFileSync,
} from 'node:fs';
import { join, dirname } from 'node:path';
import { BuildError } from './errors.ts';
import { failedStage, shellQuote } from './buildx.ts';
import { diagnose, type BuildFacts } from './diagnose.ts';
import { putInPlace } from './writer.ts';
import { BUILD_SIDECARS, type BuildArtifacts } from './artifacts.ts';

export interface BuildRunResult {
  log: string;
  logPath: string;
}

let active: ReturnType<typeof spawn> | null = null;
let cleanups: (() => void)[] = [];

/** Ctrl-C while a build runs: stop docker, undo the registered work (temp dirs). */
function onSigint(): void {
  active?.kill('SIGINT');
  for (const c of cleanups) {
    try {
      c();
    } catch {
      /* best effort */
    }
  }
  cleanups = [];
  disarm();
}

// The SIGINT listener is installed only while a build runs or work to undo is registered, never at import:
// importing this module changes nothing about the process.
function arm(): void {
  if (!process.listeners('SIGINT').includes(onSigint)) process.on('SIGINT', onSigint);
}
function disarm(): void {
  if (active === null && cleanups.length === 0) process.removeListener('SIGINT', onSigint);
}

/** Registers work to undo if the user presses Ctrl-C (temp dirs); returns a function that unregisters it. */
export function onInterrupt(fn: () => void): () => void {
  cleanups.push(fn);
  arm();
  return () => {
    cleanups = cleanups.filter((c) => c !== fn);
    disarm();
  };
}

/** The directory of `--output type=local,dest=DIR` in buildx arguments, if any. */
export function exportDest(args: string[]): string | undefined {
  const i = args.indexOf('--output');
  return i >= 0 ? /(?:^|,)dest=([^,]+)/.exec(args[i + 1] ?? '')?.[1] : undefined;
}

/** Bytes free to this process on the filesystem that holds `path` (or its nearest existing parent). */
export function freeBytes(path: string): number | undefined {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  try {
    const s = statfsSync(p);
    // root may write into the blocks reserved for it
    return (process.getuid?.() === 0 ? s.bfree : s.bavail) * s.bsize;
  } catch {
    return undefined;
  }
}

/**
 * The error for a failed build: one line naming the stage, the cause and its fix when diagnose() knows them,
 * and the log; otherwise the last lines of the log.
 */
export function buildFailure(
  log: string,
  code: number,
  logPath: string,
  command: string,
  facts: BuildFacts = {},
  logError?: Error,
): BuildError {
  const stage = failedStage(log);
  const logAt = `full log: ${logPath}${logError ? ` (incomplete: ${logError.message})` : ''}`;
  const where = `build failed${stage ? ` in stage '${stage}'` : ''} (docker exit ${code})`;
  // An interrupted build (Ctrl-C) needs no cause: BuildKit's cancellations would only mislead.
  const d = code === 130 ? null : diagnose(log, facts);
  const context = { stage, logPath, exitCode: code, command, ...(d ? { diagnosis: d.rule } : {}) };
  const exitCode = code === 130 ? 130 : 1;
  if (d) return new BuildError(`${where}: ${d.cause}`, { remediation: `${d.fix}; ${logAt}`, context, exitCode });
  // The error stays one line: BuildKit's last lines were streamed just above it (and are in the context).
  const lastLines = log.trimEnd().split('\n').slice(-15);
  return new BuildError(`${where}; ${logAt}`, {
    remediation: 'read the log (its last lines are above); rerun resumes from the cache',
    context: { ...context, lastLines },
    exitCode,
  });
}

export async function runBuildx(
  args: string[],
  logPath: string,
  opts: { echo?: boolean; tty?: boolean; cwd?: string; exportDir?: string } = {},
): Promise<BuildRunResult> {
  mkdirSync(dirname(logPath), { recursive: true });
  // 'wx': a new log, never written through a link at its (timestamped) name; failing to open it is a logError.
  const logFile = createWriteStream(logPath, { flags: 'wx' });
  // A log that cannot be written (its disk is full) must not stop the build or hide why it failed.
  let logError: Error | undefined;
  logFile.on('error', (e) => {
    logError ??= e;
  });
  // The command as it can be pasted into a shell to rerun the build by hand.
  const command = `docker ${shellQuote(args)}`;
  logFile.write(`$ ${command}\n`);
  let log = '';
  const child = spawn('docker', args, { cwd: opts.cwd, stdio: opts.tty ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
  active = child;
  arm();
  const take = (d: Buffer, to: NodeJS.WriteStream) => {
    const s = d.toString();
    log += s;
    logFile.write(s);
    if (opts.echo !== false) to.write(s);
  };
  child.stdout?.on('data', (d: Buffer) => take(d, process.stdout));
  child.stderr?.on('data', (d: Buffer) => take(d, process.stderr));
  const code: number = await new Promise((resolve) => {
    child.on('error', (e) => {
      log += `\n${e.message}\n`;
      resolve(127);
    });
    child.on('close', (c, signal) => resolve(c ?? (signal ? 130 : 1)));
  });
  active = null;
  disarm();
  logFile.write(`\nexit code ${code}\n`);
  await new Promise((r) => logFile.end(r));
  if (code !== 0) {
    // Measured now, before the caller removes the partial export and frees its space again.
    const exportDir = opts.exportDir ?? exportDest(args);
    const err = buildFailure(
      log,
      code,
      logPath,
      command,
      exportDir ? { exportDir, exportFreeBytes: freeBytes(exportDir) } : {},
      logError,
    );
    // Output that was not streamed: show the end of it before the one-line error.
    if (opts.echo === false && Array.isArray(err.context.lastLines))
      process.stderr.write(`${(err.context.lastLines as string[]).join('\n')}\n`);
    throw err;
  }
  if (logError) console.error(`warning: the log ${logPath} is incomplete: ${logError.message}`);
  return { log, logPath };
}

/**
 * Moves every regular file of `from` into `to` by rename (same filesystem); directories are merged, existing
 * files of the same size kept. Nothing follows a link: an export entry that is not a regular file or a
 * directory (a link the build left) is not moved, and a link in `to` where a directory is merged is not
 * entered (it would lead the files elsewhere); both are named on stderr. A link at a file's name is replaced.
 */
export function mergeInto(from: string, to: string): string[] {
  const moved: string[] = [];
  const at = lstatSync(to, { throwIfNoEntry: false });
  if (at && !at.isDirectory()) {
    console.error(`warning: ${to} is not a directory (${linkWords(to)}): nothing merged into it`);
    return moved;
  }
  if (!at) mkdirSync(to, { recursive: true });
  for (const e of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, e.name);
    const dst = join(to, e.name);
    if (e.isDirectory()) moved.push(...mergeInto(src, dst).map((p) => `${e.name}/${p}`));
    else if (!e.isFile()) console.error(`warning: ${src} is not a regular file (${linkWords(src)}): not merged`);
    else {
      const d = lstatSync(dst, { throwIfNoEntry: false });
      if (d?.isFile() && d.size === lstatSync(src).size) continue;
      try {
        renameSync(src, dst);
      } catch {
        // Another filesystem: a new file, never one written through a link at dst.
        rmSync(dst, { force: true });
        copyFileSync(src, dst, constants.COPYFILE_EXCL);
      }
      moved.push(e.name);
    }
  }
  return moved;
}

/** 'a symbolic link to X' or 'a fifo', ... for a message. */
function linkWords(path: string): string {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return `a symbolic link to ${readlinkSync(path)}`;
  if (st.isDirectory()) return 'a directory';
  return st.isFile() ? 'a file' : 'a special file';
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Runs `fn` with `dir` as a scratch directory (an export target): emptied first, and removed afterwards, on
 * error and on Ctrl-C too, so nothing half-written is left. With no dir, just runs `fn`.
 */
export async function withScratchDir<T>(dir: string | undefined, fn: () => Promise<T>): Promise<T> {
  if (!dir) return fn();
  removeDir(dir);
  const forget = onInterrupt(() => removeDir(dir));
  try {
    return await fn();
  } finally {
    forget();
    removeDir(dir);
  }
}

/** The host directory of one build's own Spack mirror: mirrors/<build id>. */
export function buildMirrorDir(mirrorsDir: string, a: Pick<BuildArtifacts, 'mirrorDir'>): string {
  return join(mirrorsDir, a.mirrorDir);
}

export interface ArtifactDirs {
  builds: string;
  /** The host buildcache every build reads (merged, for reuse). */
  buildcache: string;
  /** Where each build's own mirror is kept, for `publish`. */
  mirrors: string;
}

/** The export's `name` (in `dir`) must be a regular file (`file`) or a directory (`dir`); a link is neither. */
function requireKind(dir: string, name: string, want: 'file' | 'dir', required: boolean): void {
  const st = lstatSync(join(dir, name), { throwIfNoEntry: false });
  if (!st ? !required : want === 'file' ? st.isFile() : st.isDirectory()) return;
  throw new BuildError(
    `the export's ${name} is ${st ? linkWords(join(dir, name)) : 'missing'}, not a ${want === 'file' ? 'regular file' : 'directory'}: nothing was moved`,
    { remediation: 'the build stage that writes it is broken; fix it and build again' },
  );
}

/**
 * build-compiler --tarball: the compiler tarball and its .sha256 from the export into `outDir`, checksum first;
 * both must be regular files (a link would be read later, by publish, as if it were the tarball).
 */
export function moveCompilerExport(exportDir: string, outDir: string, c: { tarball: string; sha256: string }): void {
  requireKind(exportDir, c.sha256, 'file', true);
  requireKind(exportDir, c.tarball, 'file', true);
  mkdirSync(outDir, { recursive: true });
  renameSync(join(exportDir, c.sha256), join(outDir, c.sha256));
  renameSync(join(exportDir, c.tarball), join(outDir, c.tarball));
}

/**
 * Moves an export's artifacts into place: sidecars first and the tarball last, so a reader that sees the
 * tarball finds its checksum beside it; a sidecar this export lacks (an earlier build's signature) is removed
 * as stale. The build's own Spack mirror (mirror/) replaces the one an earlier build of the same name left in
 * mirrors/, before the tarball moves; the toolchain's binaries (buildcache/) are merged into the host
 * buildcache. Returns how many buildcache files were added.
 */
export function moveArtifacts(exportDir: string, dirs: ArtifactDirs, a: BuildArtifacts): number {
  // What the build exported is checked before anything moves: the tarball and sidecars regular files, the
  // mirror a directory. A link there would land in builds/ and be read (published, signed, chmod-ed) as if it
  // were the artifact, by a process that may be root.
  const kind = (name: string, want: 'file' | 'dir', required: boolean) => requireKind(exportDir, name, want, required);
  for (const s of BUILD_SIDECARS) kind(a.sidecars[s], 'file', false);
  kind('provenance.json', 'file', false);
  kind('mirror', 'dir', false);
  kind('buildcache', 'dir', false);
  kind(a.tarball, 'file', true);
  // Where the mirror goes: a link there is not replaced by a rename (ENOTDIR) after the sidecars had moved.
  const mirrorDest = buildMirrorDir(dirs.mirrors, a);
  const md = lstatSync(mirrorDest, { throwIfNoEntry: false });
  if (md && !md.isDirectory())
    throw new BuildError(`${mirrorDest} is ${linkWords(mirrorDest)}, not a directory: nothing was moved`, {
      remediation: `remove ${mirrorDest} (the build's own mirror goes there) and build again`,
    });
  for (const s of BUILD_SIDECARS) {
    const n = a.sidecars[s];
    if (existsSync(join(exportDir, n))) renameSync(join(exportDir, n), join(dirs.builds, n));
    else rmSync(join(dirs.builds, n), { force: true });
  }
  // BuildKit's own SLSA provenance (--provenance=mode=max, where the builder supports attestations).
  const bk = a.sidecars.buildkitProvenance;
  // BuildKit writes it 0600; it is published beside the tarball like every other sidecar.
  if (existsSync(join(exportDir, 'provenance.json'))) {
    chmodSync(join(exportDir, 'provenance.json'), 0o644);
    renameSync(join(exportDir, 'provenance.json'), join(dirs.builds, bk));
  } else rmSync(join(dirs.builds, bk), { force: true });
  if (existsSync(join(exportDir, 'mirror'))) {
    const mirror = buildMirrorDir(dirs.mirrors, a);
    mkdirSync(dirname(mirror), { recursive: true });
    putInPlace(join(exportDir, 'mirror'), mirror);
  }
  renameSync(join(exportDir, a.tarball), join(dirs.builds, a.tarball));
  return existsSync(join(exportDir, 'buildcache'))
    ? mergeInto(join(exportDir, 'buildcache'), dirs.buildcache).length
    : 0;
}
