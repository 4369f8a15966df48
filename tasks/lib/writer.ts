/**
 * Writing what was rendered, and nothing else: the one atomic-replace helper (build contexts, the bake file,
 * the CI workflow, a build's Spack mirror all go through it), the render record a context keeps, and the
 * hand-edit check that reads it. render.ts stays pure (plan -> files); this module touches the disk.
 *
 * Hand edits are found one way: `.slurm-factory-render.json` in each context records the sha256 of every file
 * the render wrote, and a file that no longer matches (or is gone) was edited. That covers every file of the
 * context (Dockerfile, spack.yaml, scripts, package files), not only the Dockerfile, and keeps hashes out of the
 * rendered files themselves. The record also keeps the render-inputs hash (render.ts), which is not an edit
 * check: it lets build, bake and build-compiler skip a render whose inputs have not changed.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { ConfigurationError } from './errors.ts';
import { checkpoint } from './interrupt.ts';
import { renderBuildContext, renderInputsHash, type RenderedFile } from './render.ts';
import type { BuildPlan } from './plan.ts';
import { checkUserDir, ensureUserDir, userPathError, type UserPathSource } from './userdir.ts';

let siblings = 0;
/** A hidden path beside `target` for a temp copy (`kind` tmp) or the copy being replaced (`old`). */
export function siblingPath(target: string, kind: 'tmp' | 'old'): string {
  return join(dirname(target), `.${basename(target)}.${kind}-${process.pid}-${++siblings}`);
}

/**
 * Writes `content` to a new file at `path` (a temporary name): O_CREAT|O_EXCL ('wx'), so anything already there,
 * a link above all (dangling or not), makes it fail with EEXIST instead of being written through. As root this
 * is what keeps a link planted at a predictable temporary name from sending the content elsewhere.
 */
export function writeNewFile(path: string, content: string | Buffer, mode?: number): void {
  writeFileSync(path, content, { flag: 'wx', ...(mode !== undefined ? { mode } : {}) });
}

/**
 * Puts `from` (a complete file or directory) at `to`, replacing what was there: a reader sees the old copy or
 * the new one, never a mix. A file is renamed over the old one (atomic); a directory cannot be, so the old one
 * is renamed aside first, put back if the rename fails, and removed only once the new one is in place.
 * Both must be on one filesystem (siblingPath gives such a temp path).
 */
export function putInPlace(from: string, to: string): void {
  const dirOverDir = lstatSync(from).isDirectory() && lstatSync(to, { throwIfNoEntry: false })?.isDirectory();
  const old = dirOverDir ? siblingPath(to, 'old') : null;
  if (old) renameSync(to, old);
  try {
    renameSync(from, to);
  } catch (e) {
    if (old) renameSync(old, to);
    throw e;
  }
  if (old) rmSync(old, { recursive: true, force: true });
}

/**
 * Writes `content` to the user-named file `file` atomically: its directory made through ensureUserDir, a temp
 * file beside it put in place, so Ctrl-C (checked just before) or an error leaves the old file or none, never
 * half of one. Errors name the user's path, never the temp file.
 */
export async function replaceUserFile(file: string, content: string | Buffer, src: UserPathSource): Promise<void> {
  ensureUserDir(dirname(file), src);
  const tmp = siblingPath(file, 'tmp');
  try {
    writeNewFile(tmp, content);
    await checkpoint();
    putInPlace(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw userPathError(err, src, file);
  }
}

/** The record a render leaves in its context: sha256 of every file it wrote, and the render-inputs hash. */
export const RECORD = '.slurm-factory-render.json';
interface RenderRecord {
  inputs?: string;
  files: Record<string, string>;
}

const sha256 = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');

function renderRecord(dir: string): RenderRecord | null {
  const recordPath = join(dir, RECORD);
  return existsSync(recordPath) ? (JSON.parse(readFileSync(recordPath, 'utf8')) as RenderRecord) : null;
}

/** Files in an existing context that differ from what the last render wrote there (hand edits). */
export function editedFiles(dir: string): string[] {
  const record = renderRecord(dir);
  if (!record) {
    return existsSync(dir) && readdirSync(dir).length > 0 ? ['(directory not written by render)'] : [];
  }
  const edited: string[] = [];
  for (const [path, hash] of Object.entries(record.files)) {
    const p = join(dir, path);
    if (!existsSync(p) || sha256(readFileSync(p)) !== hash) edited.push(path);
  }
  return edited;
}

/**
 * Renders `plan` into `dir` unless the context there is already exactly what this render would write (its
 * record names the same inputs hash and no file was changed since): a no-op rebuild then skips Handlebars.
 * Returns whether it wrote.
 */
export function ensureBuildContext(dir: string, plan: BuildPlan, opts: { force?: boolean } = {}): boolean {
  const inputs = renderInputsHash(plan);
  if (!opts.force && renderRecord(dir)?.inputs === inputs && editedFiles(dir).length === 0) return false;
  writeBuildContext(dir, renderBuildContext(plan), { ...opts, inputsHash: inputs });
  return true;
}

/**
 * Writes a build context atomically: into a temp sibling directory, then put in place over `dir`.
 * Refuses to replace hand-edited files unless `force`. A filesystem problem (a file in the way, read-only,
 * /proc) is one ConfigurationError naming `dir` as the user gave it (`opts.source`), never the temp path.
 */
export function writeBuildContext(
  dir: string,
  files: RenderedFile[],
  opts: { force?: boolean; inputsHash?: string; source?: UserPathSource } = {},
): void {
  const src: UserPathSource = { what: 'the output directory', given: dir, ...opts.source };
  checkUserDir(dir, src);
  // The context is replaced as a whole (renamed into place): a directory that holds the working directory
  // would leave the user's shell in a deleted directory.
  const real = (p: string): string => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  const cwd = real(process.cwd());
  const target = real(dir);
  if (cwd === target || cwd.startsWith(`${target}${sep}`)) {
    throw new ConfigurationError(`${src.what} '${src.given}' is, or holds, the working directory`, {
      remediation: 'rendering replaces that directory as a whole; give a subdirectory, e.g. --out ./ctx',
    });
  }
  if (existsSync(dir) && !opts.force) {
    const edited = editedFiles(dir);
    if (edited.length > 0) {
      throw new ConfigurationError(`${dir} has hand-edited files (${edited.join(', ')})`, {
        remediation:
          'build them as they are with build --dockerfile, render elsewhere with --out, or pass --force to replace them',
      });
    }
  }
  ensureUserDir(dirname(dir), src);
  const tmp = siblingPath(dir, 'tmp');
  try {
    // Not recursive: a link (or anything) already at the temporary name fails here instead of being written into.
    mkdirSync(tmp);
    for (const f of files) {
      const p = join(tmp, f.path);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, f.content, { mode: f.mode });
    }
    const record: RenderRecord = {
      ...(opts.inputsHash ? { inputs: opts.inputsHash } : {}),
      files: Object.fromEntries(files.map((f) => [f.path, sha256(f.content)])),
    };
    writeFileSync(join(tmp, RECORD), JSON.stringify(record, null, 2) + '\n');
    putInPlace(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw userPathError(err, src, dir);
  }
}
