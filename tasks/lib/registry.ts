/** Task discovery: every tasks/*.ts file exports `task`. */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Task } from './task.ts';

export const tasksDir = join(dirname(fileURLToPath(import.meta.url)), '..');

export function taskNames(): string[] {
  return readdirSync(tasksDir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

export async function loadTask(name: string): Promise<Task | undefined> {
  if (!/^[a-z][a-z0-9-]*$/.test(name) || !taskNames().includes(name)) return undefined;
  return ((await import(pathToFileURL(join(tasksDir, `${name}.ts`)).href)) as { task: Task }).task;
}

export async function loadTasks(): Promise<Task[]> {
  const tasks = await Promise.all(taskNames().map((n) => loadTask(n)));
  return tasks.filter((t): t is Task => Boolean(t));
}
