/**
 * Rendering: BuildPlan -> the files of a build context (Dockerfile, spack.yaml per Spack stage, site config,
 * helper scripts, package-stage files). Pure: the same plan gives the same bytes. Writing is separate
 * (writeBuildContext) and atomic: a temp directory renamed into place, so a failure leaves nothing half-written.
 */
import type HandlebarsNS from 'handlebars';
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE_PACKAGES } from './catalog.ts';
import { ConfigurationError, SlurmFactoryError } from './errors.ts';
import { checkUserDir, ensureUserDir, userPathError, type UserPathSource } from './userdir.ts';
import { renderPackageFiles, walk } from './package-files.ts';
import { packageInputs, type BuildPlan } from './plan.ts';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// Handlebars and yaml load on first use: `help` imports every task and should not pay for them.
const lazyRequire = createRequire(import.meta.url);
const YAML = { parse: (text: string): unknown => (lazyRequire('yaml') as typeof import('yaml')).parse(text) };
const templatesDir = join(repoRoot, 'templates');

export interface RenderedFile {
  /** Path relative to the build context. */
  path: string;
  content: string | Buffer;
  mode: number;
}

let engine: typeof HandlebarsNS | null = null;
const compiled = new Map<string, HandlebarsNS.TemplateDelegate>();

/** One Handlebars instance: strict (a missing variable is an error), no HTML escaping, stage partials registered. */
function handlebars(): typeof HandlebarsNS {
  if (engine) return engine;
  const hb = (lazyRequire('handlebars') as typeof HandlebarsNS).create();
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('json', (v: unknown) => JSON.stringify(v));
  const stagesDir = join(templatesDir, 'stages');
  for (const f of readdirSync(stagesDir).filter((x) => x.endsWith('.hbs'))) {
    // Without its final newline, a partial can be used inside a line (`RUN {{> spack-mounts}}`).
    hb.registerPartial(basename(f, '.hbs'), readFileSync(join(stagesDir, f), 'utf8').replace(/\n$/, ''));
  }
  engine = hb;
  return hb;
}

export function renderTemplate(relPath: string, data: object): string {
  let t = compiled.get(relPath);
  if (!t) {
    t = handlebars().compile(readFileSync(join(templatesDir, relPath), 'utf8'), { strict: true, noEscape: true });
    compiled.set(relPath, t);
  }
  try {
    return t(data);
  } catch (err) {
    throw new SlurmFactoryError(`template ${relPath} failed to render: ${(err as Error).message}`, {
      remediation: 'this is a bug in the template or plan; report it with the command you ran',
    });
  }
}

export interface SpackEnvSpec {
  stage: 'compiler' | 'deps' | 'slurm';
  purpose: string;
  specs: string[];
  /** GCC this environment compiles with. */
  compiler: string;
  view: boolean;
  modules: boolean;
  /**
   * Where the compiler stage links the GCC it built (deps and slurm stages of a Spack-built toolchain): those
   * environments see that GCC as an external, not as a reusable install, so nothing built by the image's GCC
   * for the compiler (zstd, gettext, ncurses, ...) can be reused into Slurm's closure. Null otherwise.
   */
  toolchainPrefix: string | null;
  /**
   * Install tree and binary-cache subdirectory of this environment. The compiler stage keeps its own
   * (/opt/spack-compiler, buildcache `compiler/`): what the image's GCC builds for GCC (zstd, zlib-ng, ...) is
   * then neither installed nor cached where the deps and slurm stages look, so none of it is reused into
   * Slurm's closure (Spack 1.0 reuses installed specs regardless of the compiler the environment requires).
   */
  installRoot: string;
  cacheSubdir: string;
}

/** The compiler stage symlinks the GCC it built here; the later stages register it as an external. */
export const TOOLCHAIN_PREFIX = '/opt/slurm-factory/toolchain';

export function spackEnvironments(plan: BuildPlan): SpackEnvSpec[] {
  const envs: SpackEnvSpec[] = [];
  if (plan.specs.compiler) {
    envs.push({ stage: 'compiler', purpose: `GCC ${plan.gcc.version} built with the image's GCC ${plan.systemGcc}`,
      specs: [plan.specs.compiler], compiler: plan.systemGcc, view: false, modules: false, toolchainPrefix: null,
      installRoot: '/opt/spack-compiler', cacheSubdir: '/compiler' });
  }
  const toolchainPrefix = plan.gcc.source === 'spack' ? TOOLCHAIN_PREFIX : null;
  envs.push({ stage: 'deps', purpose: "Slurm's runtime dependencies", specs: plan.specs.deps,
    compiler: plan.gcc.version, view: false, modules: false, toolchainPrefix, installRoot: '/opt/spack-root', cacheSubdir: '' });
  envs.push({ stage: 'slurm', purpose: `Slurm ${plan.slurm.release}, its view and modules`, specs: [plan.specs.slurm],
    compiler: plan.gcc.version, view: true, modules: true, toolchainPrefix, installRoot: '/opt/spack-root', cacheSubdir: '' });
  return envs;
}

/** Sections every rendered environment must have, and their types, as Spack 1.0 reads them. */
const REQUIRED_SECTIONS: Record<string, 'array' | 'object' | 'object-or-false'> = {
  specs: 'array', concretizer: 'object', config: 'object', packages: 'object', repos: 'object',
  mirrors: 'object', view: 'object-or-false',
};

/** Parse a rendered spack.yaml and check its structure; returns the parsed document. */
/** Each spec is a string with its %compiler last (Spack 1.0 binds everything after `%gcc@X` to the compiler). */
function checkSpecStrings(specs: readonly unknown[], env: Pick<SpackEnvSpec, 'stage'>): void {
  for (const spec of specs) {
    const why = typeof spec !== 'string' ? `spec ${JSON.stringify(spec)} is not a string`
      : /%\S+(\s+\S+)+$/.test(spec) ? `spec '${spec}' has '${/%\S+((\s+\S+)+)$/.exec(spec)![1]!.trim()}' after its %compiler; put %gcc@X last` : '';
    if (why) {
      throw new SlurmFactoryError(`rendered spack.yaml of the ${env.stage} stage is invalid: ${why}`, { remediation: 'fix templates/spack/spack.yaml.hbs' });
    }
  }
}

export function checkSpackYaml(text: string, env: Pick<SpackEnvSpec, 'stage' | 'modules'>): Record<string, unknown> {
  const fail = (why: string): never => {
    throw new SlurmFactoryError(`rendered spack.yaml of the ${env.stage} stage is invalid: ${why}`, {
      remediation: 'fix templates/spack/spack.yaml.hbs',
    });
  };
  let doc: { spack?: Record<string, unknown> } | null = null;
  try {
    doc = YAML.parse(text) as { spack?: Record<string, unknown> } | null;
  } catch (e) {
    fail(`not YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!doc || typeof doc !== 'object' || !doc.spack || typeof doc.spack !== 'object') fail('no top-level `spack:` mapping');
  const s = doc!.spack!;
  const sections: Record<string, 'array' | 'object' | 'object-or-false'> = { ...REQUIRED_SECTIONS, ...(env.modules ? { modules: 'object' as const } : {}) };
  for (const [key, kind] of Object.entries(sections)) {
    const v = s[key];
    const ok = kind === 'array' ? Array.isArray(v) && v.length > 0
      : kind === 'object' ? v !== null && typeof v === 'object' && !Array.isArray(v)
      : v === false || (v !== null && typeof v === 'object' && !Array.isArray(v));
    if (!ok) fail(`section '${key}' must be ${kind === 'array' ? 'a non-empty list' : kind === 'object' ? 'a mapping' : 'a mapping or false'}`);
  }
  checkSpecStrings(s.specs as unknown[], env);
  const installTree = (s.config as Record<string, Record<string, unknown>>).install_tree;
  if (!installTree || typeof installTree.padded_length !== 'number') fail('config.install_tree.padded_length is missing');
  if (env.modules) {
    const lmod = ((s.modules as Record<string, Record<string, Record<string, unknown>>>).default ?? {}).lmod;
    if (!lmod || !Array.isArray(lmod.core_compilers) || lmod.core_compilers.length === 0) {
      fail('modules.default.lmod.core_compilers must be set explicitly');
    }
  }
  return s;
}

export const GENERATED_MARK = '# Generated by slurm-factory';
/** Lines of the Dockerfile header; the content hash covers everything after them. */
const HEADER_LINES = 4;

/** `# content-sha256: <hex>` covers everything after the header, so hand edits can be detected. */
export function contentHash(body: string | Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

export function dockerfileHeader(plan: BuildPlan, body: string): string {
  return [
    `${GENERATED_MARK} from templates/Dockerfile.hbs: npx zx Taskfile.ts render ${renderArgs(plan).join(' ')}`,
    `# content-sha256: ${contentHash(body)}`,
    `# Hand edits are fine: 'build --dockerfile PATH' builds this file as it is, and 'render' refuses to overwrite`,
    `# an edited file unless given --force.`,
  ].join('\n') + '\n';
}

/** The render arguments that reproduce a plan (used in headers: no paths, no time, no host facts). */
export function renderArgs(plan: BuildPlan): string[] {
  const a = [plan.slurm.series, '--gcc', plan.gcc.requested === 'system' ? 'system' : plan.gcc.version];
  if (plan.flavour === 'gpu') a.push('--gpu');
  if (plan.arch.suffix) a.push('--arch', plan.arch.name);
  if (plan.baseImageOverridden) a.push('--base-image', plan.baseImage, '--os', plan.os.name);
  else a.push('--os', plan.os.name);
  if (plan.jobs !== null) a.push('--jobs', String(plan.jobs));
  for (const m of plan.mirrors) a.push('--mirror', m.url);
  return a;
}

/** Reads a Dockerfile and says whether its body still matches the hash in its header (false: edited by hand). */
export function dockerfileIsPristine(text: string): boolean | null {
  const lines = text.split('\n');
  if (!lines[0]?.startsWith(GENERATED_MARK)) return null;
  const m = /^# content-sha256: ([0-9a-f]{64})$/.exec(lines[1] ?? '');
  if (!m) return false;
  const body = lines.slice(HEADER_LINES).join('\n');
  return contentHash(body) === m[1];
}

export function renderDockerfile(plan: BuildPlan): string {
  const body = renderTemplate('Dockerfile.hbs', { plan, packages: BASE_PACKAGES[plan.os.packageManager] })
    .replace(/\n{3,}/g, '\n\n').replace(/\n*$/, '\n');
  return dockerfileHeader(plan, body) + body;
}

/**
 * Texts already checked, keyed by the text with its spec lines blanked and whole-line comments dropped:
 * environments that differ only there (the slurm stage of every Slurm version on one toolchain) have one
 * structure, parsed once. The spec
 * strings themselves are checked every time (cheap), so the YAML parse runs once per toolchain and flavour
 * instead of once per build of a matrix.
 */
const checkedSpackYaml = new Set<string>();
const SPEC_LINE = /^  - ("(?:[^"\\]|\\.)*")$/gm;
/** Whole-line comments: they name versions but give the YAML no structure. */
const COMMENT_LINE = /^ *#.*\n/gm;

export function renderSpackYaml(plan: BuildPlan, env: SpackEnvSpec): string {
  const text = renderTemplate('spack/spack.yaml.hbs', { plan, env });
  const key = `${env.stage}:${env.modules}:${text.replace(SPEC_LINE, '  - "<spec>"').replace(COMMENT_LINE, '')}`;
  if (!checkedSpackYaml.has(key)) {
    checkSpackYaml(text, env);
    checkedSpackYaml.add(key);
  } else {
    checkSpecStrings([...text.matchAll(SPEC_LINE)].map((m) => JSON.parse(m[1]!) as unknown), env);
  }
  return text;
}

// Files copied verbatim into every build context, read once per process (a matrix renders them 90 times).
const projectFiles = new Map<string, Buffer>();
function projectFile(rel: string): Buffer {
  let b = projectFiles.get(rel);
  if (!b) projectFiles.set(rel, (b = readFileSync(join(repoRoot, rel))));
  return b;
}
let overlayFiles: string[] | null = null;
/** The project's Spack repository (spack/repos), less Python caches. */
function overlayRepoFiles(): string[] {
  overlayFiles ??= walk(join(repoRoot, 'spack', 'repos')).filter((rel) => !rel.includes('__pycache__'));
  return overlayFiles;
}

/** Every file of the build context, sorted by path. */
export function renderBuildContext(plan: BuildPlan): RenderedFile[] {
  const files: RenderedFile[] = [
    { path: 'Dockerfile', content: renderDockerfile(plan), mode: 0o644 },
    { path: 'inputs/empty.txt', content: 'This input was not given; the stage is empty on purpose.\n', mode: 0o644 },
    { path: 'spack/site/repos.yaml', content: renderTemplate('spack/repos.yaml.hbs', { plan }), mode: 0o644 },
    { path: 'spack/bin/push-buildcache', content: projectFile('scripts/spack/push-buildcache.sh'), mode: 0o755 },
    // `spack python` script of the slurm stage: specs.json with install prefixes, licenses and sources (for the SBOM).
    { path: 'spack/slurm/specs-json.py', content: projectFile('scripts/spack/specs-json.py'), mode: 0o644 },
    { path: 'spack/bin/register-externals', content: renderTemplate('spack/register-externals.sh.hbs', { plan }), mode: 0o755 },
  ];
  if (plan.overlayRepo) {
    // The project's own Spack package repository (spack/repos), copied into the image by the spack stage.
    for (const rel of overlayRepoFiles()) {
      files.push({ path: `spack/repos/${rel}`, content: projectFile(`spack/repos/${rel}`), mode: 0o644 });
    }
  }
  for (const env of spackEnvironments(plan)) {
    files.push({ path: `spack/${env.stage}/spack.yaml`, content: renderSpackYaml(plan, env), mode: 0o644 });
  }
  for (const f of renderPackageFiles(packageInputs(plan))) {
    files.push({ path: `package/${f.path}`, content: f.content, mode: f.mode });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const RECORD = '.slurm-factory-render.json';


/** What the last render wrote into `dir` (file hashes, and the inputs hash when build wrote it), or null. */
function renderRecord(dir: string): { inputs?: string; files: Record<string, string> } | null {
  const recordPath = join(dir, RECORD);
  return existsSync(recordPath) ? JSON.parse(readFileSync(recordPath, 'utf8')) : null;
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
    if (!existsSync(p) || contentHash(readFileSync(p)) !== hash) edited.push(path);
  }
  return edited;
}

/**
 * A hash of everything a render of `plan` reads: the plan itself, the templates, the scripts copied into the
 * context, the code that renders (tasks/lib) and the locked library versions. Same hash, same render.
 */
export function renderInputsHash(plan: BuildPlan): string {
  const h = createHash('sha256').update(JSON.stringify(plan));
  for (const top of ['templates', 'scripts', 'tasks/lib', 'spack/repos']) {
    for (const rel of walk(join(repoRoot, top))) h.update(`\0${top}/${rel}\0`).update(readFileSync(join(repoRoot, top, rel)));
  }
  const lock = join(repoRoot, 'package-lock.json');
  if (existsSync(lock)) h.update(readFileSync(lock));
  return h.digest('hex');
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
 * Writes a build context atomically: into a temp sibling directory, then renamed over `dir`.
 * Refuses to replace hand-edited files unless `force`. A filesystem problem (a file in the way, read-only,
 * /proc) is one ConfigurationError naming `dir` as the user gave it (`opts.source`), never the temp path.
 */
export function writeBuildContext(dir: string, files: RenderedFile[], opts: { force?: boolean; inputsHash?: string; source?: UserPathSource } = {}): void {
  const src: UserPathSource = { what: 'the output directory', given: dir, ...opts.source };
  checkUserDir(dir, src);
  // The context is replaced as a whole (renamed into place): a directory that holds the working directory
  // would leave the user's shell in a deleted directory.
  const real = (p: string): string => { try { return realpathSync(p); } catch { return resolve(p); } };
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
        remediation: 'build them as they are with build --dockerfile, render elsewhere with --out, or pass --force to replace them',
      });
    }
  }
  const parent = ensureUserDir(dirname(dir), src);
  const tmp = join(parent, `.${basename(dir)}.tmp-${process.pid}-${Date.now()}`);
  const old = join(parent, `.${basename(dir)}.old-${process.pid}-${Date.now()}`);
  try {
    for (const f of files) {
      const p = join(tmp, f.path);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, f.content, { mode: f.mode });
    }
    const record = { ...(opts.inputsHash ? { inputs: opts.inputsHash } : {}), files: Object.fromEntries(files.map((f) => [f.path, contentHash(f.content)])) };
    writeFileSync(join(tmp, RECORD), JSON.stringify(record, null, 2) + '\n');
    if (existsSync(dir)) renameSync(dir, old);
    renameSync(tmp, dir);
    rmSync(old, { recursive: true, force: true });
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(dir) && existsSync(old)) renameSync(old, dir);
    throw userPathError(err, src, dir);
  }
}
