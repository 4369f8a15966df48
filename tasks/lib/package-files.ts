/**
 * The files of the build context's `package/` directory: everything the package stage runs and ships.
 *
 *   scripts/...                          scripts/package/* copied verbatim (package-view.sh is the entry point)
 *   assets/modules/<moduleName>.lua      templates/module.lua.hbs rendered
 *   assets/data/slurm_assets/...         templates/slurm_assets/**: `*.hbs` rendered (suffix dropped), the rest
 *                                        copied; `@NAME@` placeholders are left for slurm_install.sh
 *   build-info.json                      the PackageInputs as sorted, stable JSON
 *
 * Pure and deterministic: the same inputs give the same bytes, in path order. Sources are read once per
 * process; the template engine is tasks/lib/templates.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SlurmFactoryError } from './errors.ts';
import type { PackageInputs } from './package-inputs.ts';
import { TEMPLATE, compileTemplate, repoRoot, templatesDir } from './templates.ts';

export interface PackageFile {
  /** Relative to the build context's `package/` directory. */
  path: string;
  content: string | Buffer;
  mode: number;
}

interface Source {
  rel: string;
  text: string;
}
interface Sources {
  scripts: Source[];
  module: (data: PackageInputs) => string;
  assets: { rel: string; render: ((data: PackageInputs) => string) | null; text: string }[];
}
let cached: Sources | null = null;

/** Files under `dir`, recursively, as paths relative to it in byte order (no locale). */
export function walk(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walk(dir, rel));
    else if (e.isFile()) out.push(rel);
  }
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function sources(): Sources {
  if (cached) return cached;
  const scriptsDir = join(repoRoot, 'scripts/package');
  const assetsDir = join(templatesDir, TEMPLATE.slurmAssets);
  cached = {
    scripts: walk(scriptsDir).map((rel) => ({ rel, text: readFileSync(join(scriptsDir, rel), 'utf8') })),
    // The module and the assets see PackageInputs (package-inputs.ts), each field documented there.
    module: compileTemplate<PackageInputs>(TEMPLATE.module),
    assets: walk(assetsDir).map((rel) => {
      const text = readFileSync(join(assetsDir, rel), 'utf8');
      return rel.endsWith('.hbs')
        ? {
            rel: rel.slice(0, -'.hbs'.length),
            render: compileTemplate<PackageInputs>(`${TEMPLATE.slurmAssets}/${rel}`, text),
            text,
          }
        : { rel, render: null, text };
    }),
  };
  return cached;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

function check(inputs: PackageInputs): void {
  const bad = (field: string, why: string) => {
    throw new SlurmFactoryError(
      `package inputs: ${field} ${JSON.stringify((inputs as unknown as Record<string, unknown>)[field])} ${why}`,
      {
        remediation: 'this is a bug in the build plan; report it with the command you ran',
      },
    );
  };
  const parts = inputs.moduleName.split('/');
  if (parts.length !== 2 || parts[0] !== 'slurm' || !SAFE_NAME.test(parts[1] ?? ''))
    bad('moduleName', 'must be slurm/<name>');
  if (!SAFE_NAME.test(inputs.tarballName) || !inputs.tarballName.endsWith('.tar.gz'))
    bad('tarballName', 'must be a plain *.tar.gz file name');
  if (!Object.values(inputs.sidecars).every((n) => SAFE_NAME.test(n))) bad('sidecars', 'must be plain file names');
  for (const f of ['slurmSeries', 'slurmRelease', 'slurmSpackVersion', 'gcc'] as const) {
    if (!SAFE_NAME.test(inputs[f])) bad(f, 'must be a plain version string');
  }
  if (inputs.flavour !== 'cpu' && inputs.flavour !== 'gpu') bad('flavour', "must be 'cpu' or 'gpu'");
}

/** JSON with object keys sorted at every level, two-space indented, newline-terminated. */
export function stableJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      return Object.fromEntries(
        Object.keys(o)
          .sort()
          .filter((k) => o[k] !== undefined)
          .map((k) => [k, sort(o[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sort(value), null, 2) + '\n';
}

const executable = (rel: string) => rel.endsWith('.sh') || rel.endsWith('.py');

export function renderPackageFiles(inputs: PackageInputs): PackageFile[] {
  check(inputs);
  const src = sources();
  const files: PackageFile[] = [];
  for (const s of src.scripts) {
    files.push({ path: `scripts/${s.rel}`, content: s.text, mode: executable(s.rel) ? 0o755 : 0o644 });
  }
  files.push({ path: `assets/modules/${inputs.moduleName}.lua`, content: src.module(inputs), mode: 0o644 });
  for (const a of src.assets) {
    files.push({
      path: `assets/data/slurm_assets/${a.rel}`,
      content: a.render ? a.render(inputs) : a.text,
      mode: executable(a.rel) ? 0o755 : 0o644,
    });
  }
  files.push({ path: 'build-info.json', content: stableJson(inputs), mode: 0o644 });
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
