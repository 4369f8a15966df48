/**
 * Rendering: BuildPlan -> the files of a build context (Dockerfile, spack.yaml per Spack stage, site config,
 * helper scripts, package-stage files). Pure: the same plan gives the same bytes. The template engine and each
 * template's context are in templates.ts; writing, the render record and hand-edit detection in writer.ts.
 */
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SlurmFactoryError } from './errors.ts';
import { renderPackageFiles, walk } from './package-files.ts';
import { packageInputs, type BuildPlan } from './plan.ts';
import {
  TEMPLATE,
  dockerfileContext,
  registerExternalsContext,
  renderTemplate,
  renderTemplateTraced,
  reposYamlContext,
  repoRoot,
  spackYamlContext,
  type SpackEnvSpec,
} from './templates.ts';

export { repoRoot, type SpackEnvSpec };

// yaml loads on first use: `help` imports every task and should not pay for it.
const lazyRequire = createRequire(import.meta.url);
const YAML = { parse: (text: string): unknown => (lazyRequire('yaml') as typeof import('yaml')).parse(text) };

export interface RenderedFile {
  /** Path relative to the build context. */
  path: string;
  content: string | Buffer;
  mode: number;
}

/** The compiler stage symlinks the GCC it built here; the later stages register it as an external. */
export const TOOLCHAIN_PREFIX = '/opt/slurm-factory/toolchain';

export function spackEnvironments(plan: BuildPlan): SpackEnvSpec[] {
  const envs: SpackEnvSpec[] = [];
  if (plan.specs.compiler) {
    envs.push({
      stage: 'compiler',
      purpose: `GCC ${plan.gcc.version} built with the image's GCC ${plan.systemGcc}`,
      specs: [plan.specs.compiler],
      compiler: plan.systemGcc,
      view: false,
      modules: false,
      toolchainPrefix: null,
      installRoot: '/opt/spack-compiler',
      cacheSubdir: '/compiler',
    });
  }
  const toolchainPrefix = plan.gcc.source === 'spack' ? TOOLCHAIN_PREFIX : null;
  envs.push({
    stage: 'deps',
    purpose: "Slurm's runtime dependencies",
    specs: plan.specs.deps,
    compiler: plan.gcc.version,
    view: false,
    modules: false,
    toolchainPrefix,
    installRoot: '/opt/spack-root',
    cacheSubdir: '',
  });
  envs.push({
    stage: 'slurm',
    purpose: `Slurm ${plan.slurm.release}, its view and modules`,
    specs: [plan.specs.slurm],
    compiler: plan.gcc.version,
    view: true,
    modules: true,
    toolchainPrefix,
    installRoot: '/opt/spack-root',
    cacheSubdir: '',
  });
  return envs;
}

/** Sections every rendered environment must have, and their types, as Spack 1.0 reads them. */
const REQUIRED_SECTIONS: Record<string, 'array' | 'object' | 'object-or-false'> = {
  specs: 'array',
  concretizer: 'object',
  config: 'object',
  packages: 'object',
  repos: 'object',
  mirrors: 'object',
  view: 'object-or-false',
};

/** Parse a rendered spack.yaml and check its structure; returns the parsed document. */
/** Each spec is a string with its %compiler last (Spack 1.0 binds everything after `%gcc@X` to the compiler). */
function checkSpecStrings(specs: readonly unknown[], env: Pick<SpackEnvSpec, 'stage'>): void {
  for (const spec of specs) {
    const why =
      typeof spec !== 'string'
        ? `spec ${JSON.stringify(spec)} is not a string`
        : /%\S+(\s+\S+)+$/.test(spec)
          ? `spec '${spec}' has '${/%\S+((\s+\S+)+)$/.exec(spec)![1]!.trim()}' after its %compiler; put %gcc@X last`
          : '';
    if (why) {
      throw new SlurmFactoryError(`rendered spack.yaml of the ${env.stage} stage is invalid: ${why}`, {
        remediation: 'fix templates/spack/spack.yaml.hbs',
      });
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
  if (!doc || typeof doc !== 'object' || !doc.spack || typeof doc.spack !== 'object')
    fail('no top-level `spack:` mapping');
  const s = doc!.spack!;
  const sections: Record<string, 'array' | 'object' | 'object-or-false'> = {
    ...REQUIRED_SECTIONS,
    ...(env.modules ? { modules: 'object' as const } : {}),
  };
  for (const [key, kind] of Object.entries(sections)) {
    const v = s[key];
    const ok =
      kind === 'array'
        ? Array.isArray(v) && v.length > 0
        : kind === 'object'
          ? v !== null && typeof v === 'object' && !Array.isArray(v)
          : v === false || (v !== null && typeof v === 'object' && !Array.isArray(v));
    if (!ok)
      fail(
        `section '${key}' must be ${kind === 'array' ? 'a non-empty list' : kind === 'object' ? 'a mapping' : 'a mapping or false'}`,
      );
  }
  checkSpecStrings(s.specs as unknown[], env);
  const installTree = (s.config as Record<string, Record<string, unknown>>).install_tree;
  if (!installTree || typeof installTree.padded_length !== 'number')
    fail('config.install_tree.padded_length is missing');
  if (env.modules) {
    const lmod = ((s.modules as Record<string, Record<string, Record<string, unknown>>>).default ?? {}).lmod;
    if (!lmod || !Array.isArray(lmod.core_compilers) || lmod.core_compilers.length === 0) {
      fail('modules.default.lmod.core_compilers must be set explicitly');
    }
  }
  return s;
}

export const GENERATED_MARK = '# Generated by slurm-factory';

/** How the Dockerfile was made and what hand edits do (render's record, writer.ts, finds them). */
export function dockerfileHeader(plan: BuildPlan): string {
  return (
    [
      `${GENERATED_MARK} from templates/${TEMPLATE.dockerfile}: npx zx Taskfile.ts render ${renderArgs(plan).join(' ')}`,
      `# Hand edits are fine: 'build --dockerfile PATH' builds this file as it is, and 'render' refuses to overwrite`,
      `# an edited file unless given --force.`,
    ].join('\n') + '\n'
  );
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

export function renderDockerfile(plan: BuildPlan): string {
  const body = renderTemplate(TEMPLATE.dockerfile, dockerfileContext(plan))
    .replace(/\n{3,}/g, '\n\n')
    .replace(/\n*$/, '\n');
  return dockerfileHeader(plan) + body;
}

/**
 * Structures already checked. The structure of a rendered spack.yaml is set by the template branches the
 * render took (which `if` blocks, how many items of each list) and by the punctuation and indentation around
 * the values; the values themselves (versions, paths, names: runs of letters, digits and `_./+=@~^-`) cannot
 * change it. So the key is the branches plus the text with every such run replaced by `t`, whole-line
 * comments and spec lines dropped: the YAML parse runs once per template branch (a handful for a whole matrix)
 * instead of once per toolchain. A value with any other character (a space, `:`, `#`, a quote, a newline)
 * stays in the key as punctuation, so it gets its own parse. The spec strings are checked every time (cheap).
 */
const checkedSpackYaml = new Set<string>();
const SPEC_LINE = /^  - ("(?:[^"\\]|\\.)*")$/gm;
/** Whole-line comments: they name versions but give the YAML no structure. */
const COMMENT_LINE = /^ *#.*\n/gm;
/** A run that YAML reads as part of a plain scalar wherever it stands (it cannot start with an indicator). */
const VALUE_RUN = /[A-Za-z0-9_/][A-Za-z0-9_./+=@~^-]*/g;

export function renderSpackYaml(plan: BuildPlan, env: SpackEnvSpec): string {
  const { text, branches } = renderTemplateTraced(TEMPLATE.spackYaml, spackYamlContext(plan, env));
  const key = `${env.stage}:${env.modules}:${branches}:${text.replace(SPEC_LINE, '').replace(COMMENT_LINE, '').replace(VALUE_RUN, 't')}`;
  if (!checkedSpackYaml.has(key)) {
    checkSpackYaml(text, env);
    checkedSpackYaml.add(key);
  } else {
    checkSpecStrings(
      [...text.matchAll(SPEC_LINE)].map((m) => JSON.parse(m[1]!) as unknown),
      env,
    );
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
    { path: 'spack/site/repos.yaml', content: renderTemplate(TEMPLATE.reposYaml, reposYamlContext(plan)), mode: 0o644 },
    { path: 'spack/bin/push-buildcache', content: projectFile('scripts/spack/push-buildcache.sh'), mode: 0o755 },
    // `spack python` script of the slurm stage: specs.json with install prefixes, licenses and sources (for the SBOM).
    { path: 'spack/slurm/specs-json.py', content: projectFile('scripts/spack/specs-json.py'), mode: 0o644 },
    {
      path: 'spack/bin/register-externals',
      content: renderTemplate(TEMPLATE.registerExternals, registerExternalsContext(plan)),
      mode: 0o755,
    },
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

/** The modules of tasks/lib that `from` imports, transitively, with `from` itself: the code that renders. */
function importClosure(libDir: string, from: string): string[] {
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const text = readFileSync(join(libDir, name), 'utf8');
    // Static imports and re-exports of sibling modules (`from './x.ts'`), type-only ones included: a type
    // change can change what a context builder copies.
    for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'\.\/([\w.-]+\.ts)'/gm)) visit(m[1]!);
  };
  visit(from);
  return [...seen].sort();
}

const sourcesDigests = new Map<string, string>();
/**
 * A hash of everything a render reads besides the plan: the templates, the scripts and the project's Spack
 * repository copied into the context, the code that renders (render.ts and the tasks/lib modules it imports,
 * transitively: not the writer, not publish.ts or any other module) and the locked library versions. Read once
 * per process and root: a matrix hashes the same files for every plan.
 */
function renderSourcesDigest(root: string): string {
  let d = sourcesDigests.get(root);
  if (d) return d;
  const h = createHash('sha256');
  for (const top of ['templates', 'scripts', 'spack/repos']) {
    for (const rel of walk(join(root, top))) h.update(`\0${top}/${rel}\0`).update(readFileSync(join(root, top, rel)));
  }
  const libDir = join(root, 'tasks', 'lib');
  for (const rel of importClosure(libDir, 'render.ts'))
    h.update(`\0tasks/lib/${rel}\0`).update(readFileSync(join(libDir, rel)));
  const lock = join(root, 'package-lock.json');
  if (existsSync(lock)) h.update(readFileSync(lock));
  sourcesDigests.set(root, (d = h.digest('hex')));
  return d;
}

/**
 * A hash of everything a render of `plan` reads: the plan itself and renderSourcesDigest. Same hash, same
 * render. `root` is the checkout to read (tests hash a copy).
 */
export function renderInputsHash(plan: BuildPlan, root = repoRoot): string {
  return createHash('sha256').update(JSON.stringify(plan)).update(renderSourcesDigest(root)).digest('hex');
}
