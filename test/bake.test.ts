import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { planMatrix, renderBakeFile, bakeName } from '../tasks/lib/matrix.ts';
import { hasCommand, repoRoot, runCli, withTempDir, testIf } from './helpers.ts';

const needBuildx = () =>
  hasCommand('docker') && spawnSync('docker', ['buildx', 'version']).status === 0
    ? null
    : 'docker buildx is not installed (scripts/setup-docker.sh)';
const withBuildx = testIf(test, [needBuildx]);

test('the matrix is Slurm x GCC x flavour, deduplicated, in a stable order', () => {
  const plans = planMatrix({
    slurm: ['24.11', '25.11', '25.11.6'],
    gcc: ['10.5.0', '13.4.0'],
    flavours: ['cpu', 'gpu'],
  });
  assert.is(plans.length, 8);
  assert.is(plans[0]!.id, 'slurm-24.11-gcc10.5.0');
  assert.is(planMatrix({}).length, 5, 'default: every Slurm version, default GCC, cpu');
  assert.throws(() => planMatrix({ flavours: ['tpu'] }), /flavour 'tpu' is not known/);
});

test('the bake file links each Slurm target to one shared deps target per toolchain', () => {
  const plans = planMatrix({ slurm: ['24.11', '25.11'], gcc: ['13.4.0'] });
  const hcl = renderBakeFile(plans, {
    contextOf: (p) => p.contextDir,
    buildsDir: '/b',
    buildcacheDir: '/bc',
    sourcecacheDir: '/sc',
  });
  const depsTargets = [...hcl.matchAll(/^target "(deps-[^"]+)"/gm)].map((m) => m[1]);
  assert.is(depsTargets.length, 1, 'one toolchain');
  assert.is(
    [...hcl.matchAll(new RegExp(`deps += "target:${depsTargets[0]}"`, 'g'))].length,
    2,
    'both Slurm targets use it',
  );
  assert.is(bakeName('slurm-25.11-gcc13.4.0'), 'slurm-25-11-gcc13-4-0');
});

withBuildx('real `docker buildx bake --print` accepts the generated file: targets, groups and --set', () => {
  withTempDir((t) => {
    const file = join(t, 'docker-bake.hcl');
    const r = runCli(
      [
        'bake',
        '--slurm',
        '24.11,25.11',
        '--gcc',
        '10.5.0,13.4.0',
        '--flavours',
        'cpu,gpu',
        '--file',
        file,
        '--set',
        '*.args.BASE_IMAGE=registry.site/base:1',
        '--print',
        'all',
      ],
      { env: { SLURM_FACTORY_HOME: join(t, 'home') } },
    );
    assert.is(r.status, 0, r.stderr);
    const printed = JSON.parse(r.stdout);
    const combos = Object.keys(printed.target).filter((n) => n.startsWith('slurm-'));
    assert.is(combos.length, 8, `targets: ${Object.keys(printed.target).join(', ')}`);
    for (const n of combos) {
      assert.is(printed.target[n].target, 'export');
      assert.is(printed.target[n].args.BASE_IMAGE, 'registry.site/base:1', '--set reached the target');
      assert.match(printed.target[n].contexts.deps, /^target:deps-/);
      // Each toolchain reads its own host buildcache, the one its builds write back to.
      const gcc = /gcc(\d+-\d+-\d+)/.exec(n)![1]!.replace(/-/g, '.');
      const hostCache: string = printed.target[n].contexts['host-buildcache'];
      assert.ok(
        hostCache.startsWith(`${join(t, 'home', 'buildcache')}/`) && hostCache.endsWith(`-gcc${gcc}`),
        hostCache,
      );
      assert.match(printed.target[n].output[0], new RegExp(`dest=${join(t, 'home', 'builds')}/slurm-`));
      // Inherited from its toolchain's base target and _common, merged with its own args and contexts.
      assert.is(printed.target[n].dockerfile, 'Dockerfile');
      assert.is(printed.target[n].contexts['host-sourcecache'], join(t, 'home', 'sourcecache'));
      assert.ok('SOURCE_DATE_EPOCH' in printed.target[n].args, 'its own args kept beside the inherited BASE_IMAGE');
    }
    for (const [n, target] of Object.entries(
      printed.target as Record<string, { target: string; tags?: string[]; args: Record<string, string> }>,
    )) {
      if (!n.startsWith('deps-')) continue;
      assert.is(target.target, 'deps');
      assert.equal(target.tags, [`slurm-factory:${n}`], 'the tag made by stage_tag()');
      assert.is(target.args.BASE_IMAGE, 'registry.site/base:1');
    }
    const hcl = readFileSync(file, 'utf8');
    const group = (g: string) => {
      const m = new RegExp(`group "${g}" \\{\\n  targets = \\[([^\\]]*)\\]`).exec(hcl);
      return m ? m[1]!.split(', ').map((x) => JSON.parse(x)) : [];
    };
    assert.is(group('default').length, 8);
    assert.equal(group('slurm-24-11').sort(), [
      'slurm-24-11-gcc10-5-0',
      'slurm-24-11-gcc10-5-0-gpu',
      'slurm-24-11-gcc13-4-0',
      'slurm-24-11-gcc13-4-0-gpu',
    ]);
    assert.equal(group('gcc-13-4-0').sort(), [
      'slurm-24-11-gcc13-4-0',
      'slurm-24-11-gcc13-4-0-gpu',
      'slurm-25-11-gcc13-4-0',
      'slurm-25-11-gcc13-4-0-gpu',
    ]);
    assert.is(group('gpu').length, 4);
    assert.ok(group('gpu').every((n: string) => n.endsWith('-gpu')));
    assert.is(group('cpu').length, 4);
    // The file runs by hand too: one group, printed by buildx itself.
    const byHand = spawnSync('docker', ['buildx', 'bake', '-f', file, '--print', 'gcc-10-5-0'], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    assert.is(byHand.status, 0, byHand.stderr);
    assert.equal(
      Object.keys(JSON.parse(byHand.stdout).target)
        .filter((n) => n.startsWith('slurm-'))
        .sort(),
      ['slurm-24-11-gcc10-5-0', 'slurm-24-11-gcc10-5-0-gpu', 'slurm-25-11-gcc10-5-0', 'slurm-25-11-gcc10-5-0-gpu'],
    );
  });
});

test('the bake file says a toolchain once: a base target per toolchain that its deps and Slurm targets inherit', () => {
  const plans = planMatrix({ slurm: ['24.11', '25.11', '26.05'], gcc: ['10.5.0', '13.4.0'] });
  const hcl = renderBakeFile(plans, {
    contextOf: (p) => p.contextDir,
    buildsDir: '/b',
    buildcacheDir: '/bc',
    sourcecacheDir: '/sc',
  });
  const bases = [...hcl.matchAll(/^target "(_toolchain-[^"]+)"/gm)].map((m) => m[1]);
  assert.equal(bases, ['_toolchain-rockylinux-8-gcc10-5-0-cpu', '_toolchain-ubuntu-24-04-gcc13-4-0-cpu']);
  // The base image is written once per toolchain, not once per target.
  assert.is([...hcl.matchAll(/BASE_IMAGE = /g)].length, 2);
  assert.is(
    [...hcl.matchAll(/inherits = \["_toolchain-ubuntu-24-04-gcc13-4-0-cpu"\]/g)].length,
    4,
    'its deps target and three Slurm targets',
  );
  assert.is([...hcl.matchAll(/^target "/gm)].length, 1 + 2 + 2 + 6, '_common, two bases, two deps, six builds');
});

withBuildx(
  'bake --sign-key: every target gets the key as a BuildKit secret and its fingerprint as an argument, never the key itself',
  async () => {
    await withTempDir(async (t) => {
      const { generateKey } = await import('../tasks/lib/signing.ts');
      const key = await generateKey({ name: 'bake print test' });
      const keyFile = join(t, 'sign.asc');
      writeFileSync(keyFile, key.privateKey);
      const file = join(t, 'docker-bake.hcl');
      const env = { SLURM_FACTORY_HOME: join(t, 'home') };
      const r = runCli(
        ['bake', '--slurm', '24.11,25.11', '--gcc', '13.4.0', '--file', file, '--sign-key', keyFile, '--print'],
        { env },
      );
      assert.is(r.status, 0, r.stderr);
      const printed = JSON.parse(r.stdout);
      assert.ok(Object.keys(printed.target).length >= 3, 'deps and both Slurm targets');
      for (const [name, target] of Object.entries(printed.target) as [string, any][]) {
        assert.equal(target.secret, [`id=gpg-key,src=${keyFile}`], name);
        assert.is(target.args.SIGNING_KEY_FINGERPRINT, key.fingerprint, name);
      }
      const body = key.privateKey.split('\n').find((l) => l.length > 60)!;
      assert.not.ok(
        readFileSync(file, 'utf8').includes(body) || r.stdout.includes(body) || r.stderr.includes(body),
        'the key never appears',
      );
      // A missing file or one that is no private key: one line, exit 2, no bake file written.
      writeFileSync(join(t, 'pub.asc'), key.publicKey);
      for (const [k, re] of [
        [join(t, 'nope.asc'), /^error: --sign-key '.*nope\.asc' does not exist; /],
        [join(t, 'pub.asc'), /^error: --sign-key '.*pub\.asc' is not an ASCII-armored OpenPGP private key/],
      ] as const) {
        const bad = runCli(['bake', '--slurm', '24.11', '--file', join(t, 'other.hcl'), '--sign-key', k], { env });
        assert.is(bad.status, 2, bad.stderr);
        assert.is(bad.stderr.trim().split('\n').length, 1, bad.stderr);
        assert.match(bad.stderr, re);
        assert.not.ok(existsSync(join(t, 'other.hcl')));
      }
    });
  },
);

test('ci-matrix writes a workflow with one job per matrix entry', () => {
  const r = runCli(['ci-matrix', '--slurm', '24.11,25.11', '--gcc', '10.5.0,13.4.0', '--flavours', 'cpu,gpu']);
  assert.is(r.status, 0, r.stderr);
  const wf = YAML.parse(r.stdout);
  const include = wf.jobs.build.strategy.matrix.include;
  assert.is(include.length, 8);
  assert.equal(include[0], {
    id: 'slurm-24.11-gcc10.5.0',
    slurm: '24.11',
    gcc: '10.5.0',
    flavour: 'cpu',
    os: 'rockylinux8',
    arch: 'x86_64',
    runner: 'ubuntu-24.04',
    cache_scope: 'rockylinux-8-gcc10-5-0-cpu',
  });
  assert.match(
    wf.jobs.build.steps.find((s: { name?: string }) => s.name === 'build').run,
    /npx zx Taskfile\.ts build \$\{\{ matrix\.slurm \}\} --gcc \$\{\{ matrix\.gcc \}\}/,
  );
});

/** GitHub's workflow schema (SchemaStore's, bundled in @action-validator/core): the errors of a workflow text. */
async function workflowErrors(text: string): Promise<unknown[]> {
  const { validateWorkflow } = (await import('@action-validator/core'))
    .default as typeof import('@action-validator/core');
  return validateWorkflow(text).errors;
}

test("ci-matrix workflows pass GitHub's workflow schema; a broken one does not", async () => {
  const plain = runCli(['ci-matrix', '--slurm', '25.11']);
  assert.equal(await workflowErrors(plain.stdout), []);
  assert.ok(
    (await workflowErrors(plain.stdout.replace('runs-on:', 'runs-onn:'))).length > 0,
    'the validator must see a typo',
  );
});

test('ci-matrix --schedule: a currency job runs outdated on the schedule; builds run on dispatch and tags', async () => {
  const r = runCli(['ci-matrix', '--slurm', '25.11', '--schedule', '17 5 * * 1']);
  assert.is(r.status, 0, r.stderr);
  assert.equal(await workflowErrors(r.stdout), []);
  const wf = YAML.parse(r.stdout);
  assert.equal(wf.on.schedule, [{ cron: '17 5 * * 1' }]);
  assert.is(wf.jobs.currency.if, "github.event_name == 'schedule'");
  assert.ok(wf.jobs.currency.steps.some((s: { run?: string }) => s.run === 'npx zx Taskfile.ts outdated'));
  assert.is(wf.jobs.build.if, "github.event_name != 'schedule'");
  assert.not.match(r.stdout, /&a\d|\*a\d/, 'no YAML anchors');
});

test('ci-matrix --publish-bucket/--aws-role: OIDC credentials (id-token: write), never stored keys; signing key as a secret', async () => {
  const r = runCli([
    'ci-matrix',
    '--slurm',
    '25.11',
    '--publish-bucket',
    'my-slurm',
    '--aws-role',
    'arn:aws:iam::123456789012:role/sf-publish',
    '--aws-region',
    'eu-west-1',
    '--sign-secret',
    'SLURM_FACTORY_SIGNING_KEY',
  ]);
  assert.is(r.status, 0, r.stderr);
  assert.equal(await workflowErrors(r.stdout), []);
  const wf = YAML.parse(r.stdout);
  assert.equal(wf.permissions, { contents: 'read' });
  assert.equal(wf.jobs.build.permissions, { contents: 'read', 'id-token': 'write' });
  const steps = wf.jobs.build.steps as {
    name?: string;
    uses?: string;
    run?: string;
    with?: Record<string, string>;
    env?: Record<string, string>;
    if?: string;
  }[];
  const aws = steps.find((s) => s.uses === 'aws-actions/configure-aws-credentials@v4')!;
  assert.equal(aws.with!['role-to-assume'], 'arn:aws:iam::123456789012:role/sf-publish');
  assert.not.match(r.stdout, /aws-access-key-id|AWS_ACCESS_KEY_ID|aws-secret-access-key|AWS_SECRET/i);
  const names = steps.map((s) => s.name ?? s.uses ?? s.run);
  assert.ok(names.indexOf('build') < names.indexOf('publish'), 'publish after build');
  assert.match(
    steps.find((s) => s.name === 'publish')!.run!,
    /^npx zx Taskfile\.ts publish --bucket my-slurm --region eu-west-1 --tarballs /,
  );
  const key = steps.find((s) => s.env?.SIGNING_KEY)!;
  assert.is(key.env!.SIGNING_KEY, '${{ secrets.SLURM_FACTORY_SIGNING_KEY }}');
  assert.match(key.run!, /^umask 077 && /);
  assert.match(
    steps.find((s) => s.name === 'build')!.run!,
    /--sign-key "\$\{\{ runner\.temp \}\}\/slurm-factory-signing\.asc"/,
  );
  assert.is(steps.find((s) => s.name === 'remove the signing key')!.if, 'always()');
});

test('ci-matrix: bad schedule, role, region, bucket, secret name or a partial publish set is one line, exit 2', () => {
  const bad: [string[], RegExp][] = [
    [['--schedule', 'every monday'], /--schedule 'every monday' is not a five-field cron line/],
    [['--schedule', '* * * *'], /not a five-field cron line/],
    [['--publish-bucket', 'my-slurm'], /--publish-bucket, --aws-role and --aws-region go together/],
    [
      ['--publish-bucket', 'my-slurm', '--aws-role', 'sf-publish', '--aws-region', 'eu-west-1'],
      /--aws-role 'sf-publish' is not an IAM role ARN/,
    ],
    [
      ['--publish-bucket', 'My_Bucket', '--aws-role', 'arn:aws:iam::123456789012:role/x', '--aws-region', 'eu-west-1'],
      /bucket 'My_Bucket' is not a valid S3 bucket name/,
    ],
    [
      ['--publish-bucket', 'my-slurm', '--aws-role', 'arn:aws:iam::123456789012:role/x', '--aws-region', 'Europe'],
      /--aws-region 'Europe' is not an AWS region name/,
    ],
    [['--sign-secret', 'GITHUB_TOKEN'], /--sign-secret 'GITHUB_TOKEN' is not a GitHub secret name/],
    [['--sign-secret', 'my-key'], /is not a GitHub secret name/],
  ];
  for (const [args, re] of bad) {
    const r = runCli(['ci-matrix', '--slurm', '25.11', ...args]);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
    assert.is(r.stdout, '');
  }
});

test('build-compiler: the exact buildx call, and clean errors for bad values', () => {
  withTempDir((t) => {
    const env = { SLURM_FACTORY_HOME: join(t, 'home') };
    const r = runCli(['build-compiler', '10.5.0', '--tarball', '--print'], { env });
    assert.is(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /^docker buildx build --file \S+\/dockerfiles\/slurm-25\.11-gcc10\.5\.0\/Dockerfile --target compiler-export .*--output type=local,dest=\S+\/compilers\/\.tmp-10\.5\.0-\d+ /,
    );
    const tag = runCli(['build-compiler', '13.4.0', '--print'], { env });
    assert.match(tag.stdout, /--target compiler .*--load --tag slurm-factory:compiler-13\.4\.0 /);
    const bad: [string[], RegExp][] = [
      [['build-compiler', '6.1.0'], /GCC '6\.1\.0' is not in the catalog/],
      [['build-compiler', '10.5.0', '--os', 'solaris'], /OS 'solaris' is not a known target/],
      [['build-compiler', '8.5.0'], /GCC 8\.5\.0 is the system compiler of rockylinux8: there is nothing to build/],
      [['build-compiler'], /missing <gcc> for 'build-compiler'/],
    ];
    for (const [args, re] of bad) {
      const b = runCli([...args, '--print'], { env });
      assert.is(b.status, 2, `${args.join(' ')}: ${b.stderr}`);
      assert.match(b.stderr, re);
    }
  });
});

test.run();
