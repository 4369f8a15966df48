/**
 * Every `plan.*` / `env.*` path a template names must exist in the context object that template is given, for at
 * least one plan of the catalog matrix. Handlebars' strict mode catches a missing `{{plan.x}}`, but not the
 * argument of a block helper (`{{#if plan.x}}`, `{{#each plan.x}}`): such a template silently renders nothing,
 * which is how a merged template once lost its package requirements and ccache lines.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { planMatrix } from '../tasks/lib/matrix.ts';
import { spackEnvironments } from '../tasks/lib/render.ts';
import {
  TEMPLATE,
  dockerfileContext,
  registerExternalsContext,
  reposYamlContext,
  spackYamlContext,
  templatesDir,
} from '../tasks/lib/templates.ts';
import { slurmSeriesList } from '../tasks/lib/catalog.ts';

const plans = planMatrix({
  slurm: slurmSeriesList(),
  gcc: ['system', '7.5.0', '13.4.0'],
  flavours: ['cpu', 'gpu'],
}).concat(planMatrix({ slurm: ['25.11'], gcc: ['system'], os: 'rockylinux8' }));

function pathsIn(text: string): string[] {
  return [...new Set([...text.matchAll(/\b(?:plan|env)(?:\.[A-Za-z_]\w*)+/g)].map((m) => m[0]))];
}

function resolves(ctx: unknown, path: string): boolean {
  let cur: unknown = ctx;
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, k)) return false;
    cur = (cur as Record<string, unknown>)[k];
  }
  return true;
}

function check(label: string, text: string, contexts: unknown[]) {
  const missing = pathsIn(text).filter((p) => !contexts.some((c) => resolves(c, p)));
  assert.equal(
    missing,
    [],
    `${label} names fields its context never has: ${missing.join(', ')} (add them in tasks/lib/templates.ts)`,
  );
}

test('the Dockerfile and every stage partial read only fields of the Dockerfile context', () => {
  const contexts = plans.map(dockerfileContext);
  check(TEMPLATE.dockerfile, readFileSync(join(templatesDir, TEMPLATE.dockerfile), 'utf8'), contexts);
  const stages = join(templatesDir, TEMPLATE.stages);
  for (const f of readdirSync(stages).filter((n) => n.endsWith('.hbs')))
    check(`stages/${f}`, readFileSync(join(stages, f), 'utf8'), contexts);
});

test('spack.yaml, repos.yaml and register-externals read only fields of their contexts', () => {
  check(
    TEMPLATE.spackYaml,
    readFileSync(join(templatesDir, TEMPLATE.spackYaml), 'utf8'),
    plans.flatMap((p) => spackEnvironments(p).map((e) => spackYamlContext(p, e))),
  );
  check(TEMPLATE.reposYaml, readFileSync(join(templatesDir, TEMPLATE.reposYaml), 'utf8'), plans.map(reposYamlContext));
  check(
    TEMPLATE.registerExternals,
    readFileSync(join(templatesDir, TEMPLATE.registerExternals), 'utf8'),
    plans.map(registerExternalsContext),
  );
});

test('the check itself finds a field a context lacks', () => {
  const ctx = dockerfileContext(plans[0]!);
  assert.ok(resolves(ctx, 'plan.ccache'));
  assert.not.ok(resolves(ctx, 'plan.packageRequirements'), 'the Dockerfile context has no package requirements');
  // (uvu's assert.throws rethrows assertion errors, so catch by hand.)
  let message = '';
  try {
    check('probe', '{{#each plan.noSuchField}}x{{/each}}', [ctx]);
  } catch (e) {
    message = (e as Error).message;
  }
  assert.match(message, /plan\.noSuchField/);
});

test.run();
