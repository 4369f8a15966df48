#!/usr/bin/env node
// Runs Taskfile.ts from any directory: `node /path/to/slurm-factory/bin/slurm-factory.mjs TASK ...`.
// `npx zx Taskfile.ts` works only inside the checkout, where .npmrc loads tsx before Node reads the .ts file;
// elsewhere Node rejects Taskfile.ts before any project code runs. This plain-JS launcher registers the
// checkout's own tsx first, then imports the Taskfile, so the same tasks, errors and exit codes apply.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const api = join(root, 'node_modules', 'tsx', 'dist', 'esm', 'api', 'index.mjs');
if (!existsSync(api)) {
  console.error(`error: ${root} has no node_modules/tsx; run 'npm ci' in ${root} first`);
  process.exit(2);
}
const { register } = await import(pathToFileURL(api).href);
register();
await import(pathToFileURL(join(root, 'Taskfile.ts')).href);
