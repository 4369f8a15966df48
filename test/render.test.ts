import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DockerfileParser } from 'dockerfile-ast';
import { cpSync, existsSync, readFileSync, writeFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { BASE_PACKAGES, BUILD_TOOL_EXTERNALS, GCC_TOOLCHAINS, SLURM_RELEASES } from '../tasks/lib/catalog.ts';
import { planBuild } from '../tasks/lib/plan.ts';
import {
  TOOLCHAIN_PREFIX,
  checkSpackYaml,
  renderBuildContext,
  renderDockerfile,
  renderInputsHash,
  spackEnvironments,
  renderSpackYaml,
} from '../tasks/lib/render.ts';
import { ensureBuildContext, putInPlace, siblingPath } from '../tasks/lib/writer.ts';
import { compileTemplate, dockerfileContext, spackYamlContext } from '../tasks/lib/templates.ts';
import { repoRoot as repoRootDir, runCli, withTempDir } from './helpers.ts';

function stages(dockerfile: string) {
  const df = DockerfileParser.parse(dockerfile);
  return df.getFROMs().map((f) => ({ name: f.getBuildStage(), image: f.getImageName() }));
}

/** The instructions of each stage, from its FROM line to the next FROM (comments left out). */
function stageTexts(dockerfile: string): Record<string, string> {
  const df = DockerfileParser.parse(dockerfile);
  const froms = df.getFROMs();
  const lines = dockerfile.split('\n');
  const out: Record<string, string> = {};
  froms.forEach((f, i) => {
    const start = f.getRange().start.line;
    const end = i + 1 < froms.length ? froms[i + 1]!.getRange().start.line : lines.length;
    out[f.getBuildStage() ?? `#${i}`] = lines
      .slice(start, end)
      .filter((l) => !l.startsWith('#'))
      .join('\n');
  });
  return out;
}

test('the Dockerfile has the pipeline stages in order, parsed by a real Dockerfile parser', () => {
  const names = stages(renderDockerfile(planBuild({ slurm: '25.11' }))).map((s) => s.name);
  const pipeline = names.filter((n) =>
    ['base', 'spack', 'compiler', 'deps', 'slurm', 'package', 'export'].includes(n!),
  );
  assert.equal(pipeline, ['base', 'spack', 'compiler', 'deps', 'slurm', 'package', 'export']);
  for (const input of [
    'spack-src',
    'spack-packages-src',
    'spack-bootstrap-mirror',
    'source-mirror',
    'host-buildcache',
    'host-sourcecache',
  ]) {
    assert.ok(names.includes(input), `input stage ${input}`);
    assert.ok(names.indexOf(input) < names.indexOf('spack'), `${input} before spack`);
  }
  const df = DockerfileParser.parse(renderDockerfile(planBuild({ slurm: '25.11' })));
  const exportFrom = df.getFROMs().find((f) => f.getBuildStage() === 'export')!;
  assert.is(exportFrom.getImageName(), 'scratch');
});

test('the base stage uses the distro family package manager with cache mounts', () => {
  const apt = stageTexts(renderDockerfile(planBuild({ slurm: '25.11', gcc: '12.5.0' }))).base!;
  assert.match(apt, /apt-get install/);
  assert.match(apt, /--mount=type=cache,id=slurm-factory-apt-debian-12,target=\/var\/cache\/apt,sharing=locked/);
  const dnf = stageTexts(renderDockerfile(planBuild({ slurm: '25.11', gcc: '10.5.0' }))).base!;
  assert.match(dnf, /dnf install/);
  assert.match(dnf, /--mount=type=cache,id=slurm-factory-dnf-rockylinux-8,target=\/var\/cache\/dnf/);
});

test('the compiler stage builds GCC only when it is not the image compiler', () => {
  const built = stageTexts(renderDockerfile(planBuild({ slurm: '25.11', gcc: '10.5.0' }))).compiler!;
  assert.match(built, /envs\/compiler install/);
  const system = stageTexts(renderDockerfile(planBuild({ slurm: '25.11', gcc: '8.5.0' }))).compiler!;
  assert.not.match(system, /install/);
  assert.not.ok(
    renderBuildContext(planBuild({ slurm: '25.11', gcc: '8.5.0' })).some((f) => f.path === 'spack/compiler/spack.yaml'),
  );
});

test('the Slurm version enters only the slurm and package stages', () => {
  const a = stageTexts(renderDockerfile(planBuild({ slurm: '24.11', gcc: '10.5.0' })));
  const b = stageTexts(renderDockerfile(planBuild({ slurm: '25.11', gcc: '10.5.0' })));
  for (const name of Object.keys(a)) {
    if (name === 'slurm' || name === 'package' || name === 'export') continue;
    assert.is(a[name], b[name], `stage ${name} identical`);
  }
  // The files the earlier stages COPY are identical too; the version lives in the slurm stage's spack.yaml.
  const ca = new Map(
    renderBuildContext(planBuild({ slurm: '24.11', gcc: '10.5.0' })).map((f) => [f.path, String(f.content)]),
  );
  const cb = new Map(
    renderBuildContext(planBuild({ slurm: '25.11', gcc: '10.5.0' })).map((f) => [f.path, String(f.content)]),
  );
  for (const p of [
    'spack/deps/spack.yaml',
    'spack/compiler/spack.yaml',
    'spack/site/repos.yaml',
    'spack/bin/push-buildcache',
  ]) {
    assert.is(ca.get(p), cb.get(p), p);
  }
  assert.is.not(ca.get('spack/slurm/spack.yaml'), cb.get('spack/slurm/spack.yaml'));
  assert.is.not(ca.get('package/build-info.json'), cb.get('package/build-info.json'));
});

test('rendering is deterministic across the whole matrix', () => {
  for (const r of SLURM_RELEASES) {
    for (const g of [...GCC_TOOLCHAINS.map((x) => x.version), 'system']) {
      for (const gpu of [false, true]) {
        const plan = planBuild({ slurm: r.series, gcc: g, gpu });
        const one = renderBuildContext(plan);
        const two = renderBuildContext(planBuild({ slurm: r.series, gcc: g, gpu }));
        assert.equal(
          one.map((f) => f.path),
          two.map((f) => f.path),
        );
        one.forEach((f, i) =>
          assert.ok(Buffer.from(f.content).equals(Buffer.from(two[i]!.content)), `${plan.id} ${f.path}`),
        );
      }
    }
  }
});

test('every spack.yaml round-trips through yaml and has the structure Spack 1.0 expects', () => {
  const plan = planBuild({
    slurm: '25.11',
    gcc: '13.4.0',
    gpu: true,
    jobs: 8,
    mirrors: ['https://cache.example.org/buildcache'],
  });
  const envs = spackEnvironments(plan);
  assert.equal(
    envs.map((e) => e.stage),
    ['compiler', 'deps', 'slurm'],
  );
  for (const env of envs) {
    const text = renderSpackYaml(plan, env);
    const doc = YAML.parse(text);
    assert.equal(YAML.parse(YAML.stringify(doc)), doc);
    const s = doc.spack;
    for (const k of ['specs', 'concretizer', 'config', 'packages', 'repos', 'mirrors', 'view'])
      assert.ok(k in s, `${env.stage}: ${k}`);
    assert.is(s.config.install_tree.padded_length, 128);
    assert.is(s.config.build_jobs, 8);
    assert.is(s.config.shared_linking.type, 'rpath');
    assert.equal(s.packages.all.require, ['target=x86_64_v2']);
    assert.equal(s.packages.c.require, [`gcc@${env.compiler}`]);
    assert.is(s.mirrors.mirror1.url, 'https://cache.example.org/buildcache');
    assert.is(s.mirrors.mirror1.signed, true);
    for (const spec of s.specs) assert.not.match(spec, /%\S+\s+\S/, `compiler last in '${spec}'`);
  }
  const slurm = YAML.parse(renderSpackYaml(plan, envs[2]!)).spack;
  assert.is(slurm.view.default.link_type, 'hardlink');
  // Spack 1.0's `link: run` takes run-type dependencies only: the view would hold Slurm without its libraries.
  assert.is(slurm.view.default.link, 'all');
  assert.ok(slurm.view.default.exclude.includes('cuda'));
  assert.equal(slurm.modules.default.lmod.core_compilers, ['gcc@13.3.0']);
  assert.match(slurm.specs[0], /^slurm@25-11-6-1 .*\+nvml .*sysconfdir=\/etc\/slurm %gcc@13\.4\.0$/);
  const compiler = YAML.parse(renderSpackYaml(plan, envs[0]!)).spack;
  assert.is(compiler.view, false);
  assert.equal(compiler.packages.c.require, ['gcc@13.3.0']);
});

test('a Spack-built GCC is an external of the deps and slurm stages; its own build has its own store and cache', () => {
  const plan = planBuild({ slurm: '25.11', gcc: '13.4.0' });
  const [compiler, deps, slurm] = spackEnvironments(plan).map((e) => YAML.parse(renderSpackYaml(plan, e)).spack);
  assert.is(compiler.packages.gcc.buildable, undefined);
  for (const env of [deps, slurm]) {
    assert.is(env.packages.gcc.buildable, false);
    const toolchain = env.packages.gcc.externals.find((e: { spec: string }) => e.spec.startsWith('gcc@13.4.0 '));
    assert.is(toolchain?.prefix, TOOLCHAIN_PREFIX);
    assert.is(toolchain?.extra_attributes.compilers.c, `${TOOLCHAIN_PREFIX}/bin/gcc`);
    assert.is(env.config.install_tree.root, '/opt/spack-root');
    assert.is(env.mirrors['local-buildcache'].url, 'file:///var/cache/spack-buildcache');
  }
  // What the image's GCC builds for GCC stays in the compiler stage's own store and cache.
  assert.is(compiler.config.install_tree.root, '/opt/spack-compiler');
  assert.is(compiler.mirrors['local-buildcache'].url, 'file:///var/cache/spack-buildcache/compiler');
  assert.is(compiler.mirrors['host-buildcache'].url, 'file:///mnt/host-buildcache/compiler');
  const text = stageTexts(renderDockerfile(plan)).compiler!;
  assert.match(
    text,
    new RegExp(
      `ln -sfn "\\$\\(spack -e /opt/slurm-factory/envs/compiler location -i gcc@13\\.4\\.0\\)" ${TOOLCHAIN_PREFIX}`,
    ),
  );
  // The image's own GCC: one compiler, nothing to keep apart.
  const sys = planBuild({ slurm: '25.11', gcc: 'system' });
  for (const env of spackEnvironments(sys).map((e) => YAML.parse(renderSpackYaml(sys, e)).spack)) {
    assert.is(env.concretizer.reuse, true);
    assert.equal(
      env.packages.gcc.externals.map((e: { prefix: string }) => e.prefix),
      ['/usr'],
    );
  }
});

test('pushes leave build dependencies out, signed or not', () => {
  const script = readFileSync(join(repoRootDir, 'scripts/spack/push-buildcache.sh'), 'utf8');
  const pushes = script.split('\n').filter((l) => /buildcache push/.test(l) && !l.trim().startsWith('#'));
  assert.is(pushes.length, 2);
  for (const l of pushes) assert.match(l, /--without-build-dependencies/);
});

test('the local binary cache takes every node the moment it is installed; a signed push replaces those entries', () => {
  // autopush (Spack >= 0.22, post_install hook): a stage failing on its 40th node keeps the 39 before it.
  const plan = planBuild({ slurm: '25.11', gcc: '13.4.0', mirrors: ['https://cache.example.org/buildcache'] });
  for (const env of spackEnvironments(plan)) {
    const m = YAML.parse(renderSpackYaml(plan, env)).spack.mirrors;
    assert.is(m['local-buildcache'].autopush, true, env.stage);
    for (const other of ['host-buildcache', 'host-sourcecache', 'source-mirror', 'mirror1'])
      assert.is(m[other].autopush, undefined, `${env.stage}: ${other}`);
  }
  // autopush writes unsigned entries; without --force a signed push would skip them and leave the cache unsigned.
  const script = readFileSync(join(repoRootDir, 'scripts/spack/push-buildcache.sh'), 'utf8');
  const pushes = script.split('\n').filter((l) => /buildcache push/.test(l) && !l.trim().startsWith('#'));
  assert.match(pushes.find((l) => /--key/.test(l)) ?? '', /--force/);
});

test('ccache: apt builds compile through it on a cache mount keyed like the binary cache, never in the package', () => {
  for (const [os, gcc] of [
    ['debian13', 'system'],
    ['ubuntu24.04', '13.4.0'],
  ] as const) {
    const plan = planBuild({ slurm: '25.11', gcc, os });
    assert.ok(BASE_PACKAGES.apt.includes('ccache'));
    assert.is(plan.cacheIds.ccache, `slurm-factory-ccache-${plan.cacheKey}`);
    assert.is(plan.cacheIds.buildcache, `slurm-factory-buildcache-${plan.cacheKey}`);
    for (const env of spackEnvironments(plan))
      assert.is(YAML.parse(renderSpackYaml(plan, env)).spack.config.ccache, true, env.stage);
    const text = stageTexts(renderDockerfile(plan));
    assert.match(text.base!, /^\s+ccache \\$/m);
    assert.match(text.spack!, /CCACHE_DIR=\/var\/cache\/ccache/);
    const mount = `--mount=type=cache,id=${plan.cacheIds.ccache},target=/var/cache/ccache,sharing=locked`;
    for (const st of [...(plan.gcc.source === 'spack' ? ['compiler'] : []), 'deps', 'slurm'])
      assert.ok(text[st]!.includes(mount), `${os}: ${st} mounts the ccache`);
    // The package stage copies the view: nothing of ccache (cache or binary) goes near it.
    assert.not.match(text.package!, /ccache/);
  }
  // EL ships ccache only in EPEL: no ccache, no config, no mount.
  const el = planBuild({ slurm: '25.11', gcc: '13.4.0', os: 'rockylinux9' });
  assert.is(el.ccache, false);
  assert.not.ok(BASE_PACKAGES.dnf.includes('ccache'));
  for (const env of spackEnvironments(el))
    assert.is(YAML.parse(renderSpackYaml(el, env)).spack.config.ccache, undefined);
  assert.not.match(renderDockerfile(el), /ccache/);
});

test('the spack stage registers the build-only tools of the base image as non-buildable externals', () => {
  for (const gcc of ['12.5.0', '10.5.0']) {
    const plan = planBuild({ slurm: '25.11', gcc });
    const files = renderBuildContext(plan);
    const script = String(files.find((f) => f.path === 'spack/bin/register-externals')!.content);
    assert.match(script, /spack external find --scope site --not-buildable "\$\{tools\[@\]\}"/);
    assert.match(script, new RegExp(`tools=\\(${BUILD_TOOL_EXTERNALS.join(' ')}\\)`));
    assert.match(stageTexts(renderDockerfile(plan)).spack!, /&& register-externals/);
    const pkgs = BASE_PACKAGES[plan.os.packageManager];
    for (const p of [
      'cmake',
      'perl',
      'meson',
      'ninja-build',
      'autoconf',
      'automake',
      'libtool',
      'm4',
      'bison',
      'flex',
    ]) {
      assert.ok(pkgs.includes(p), `${plan.os.packageManager} base packages lack ${p}`);
    }
  }
});

test('the overlay recipe: its repository is in the context, copied by the spack stage, listed before builtin', () => {
  const plan = planBuild({ slurm: '25.11', gcc: '13.4.0' });
  assert.is(plan.slurm.recipe, 'overlay');
  const files = renderBuildContext(plan);
  const repoYaml = YAML.parse(
    String(files.find((f) => f.path === 'spack/repos/spack_repo/slurm_factory/repo.yaml')!.content),
  );
  assert.equal(repoYaml.repo, { namespace: 'slurm_factory', api: 'v2.2' });
  const recipe = String(
    files.find((f) => f.path === 'spack/repos/spack_repo/slurm_factory/packages/slurm/package.py')!.content,
  );
  assert.match(recipe, /class Slurm\(BuiltinSlurm\)/);
  assert.match(stageTexts(renderDockerfile(plan)).spack!, /COPY spack\/repos\/ \/opt\/slurm-factory\/spack-repos\//);
  for (const env of spackEnvironments(plan)) {
    const repos = YAML.parse(renderSpackYaml(plan, env)).spack.repos;
    assert.equal(Object.keys(repos), ['slurm_factory', 'builtin']);
    assert.is(repos.slurm_factory, '/opt/slurm-factory/spack-repos/spack_repo/slurm_factory');
  }
  assert.match(plan.specs.slurm, / \+lua /);
  assert.ok(plan.specs.deps.includes('mariadb-c-client') && !plan.specs.deps.includes('mariadb'));
  assert.not.ok(plan.specs.deps.includes('glib'));
});

test('--mirror: the spack stage trusts the mirror keys; without mirrors it trusts nothing', () => {
  const withMirror = stageTexts(
    renderDockerfile(planBuild({ slurm: '25.11', mirrors: ['https://cache.example.org/bc'] })),
  ).spack!;
  assert.match(
    withMirror,
    /spack mirror add --scope site --type binary --signed mirror1 "https:\/\/cache\.example\.org\/bc"/,
  );
  assert.match(withMirror, /spack buildcache keys --install --trust/);
  assert.not.match(stageTexts(renderDockerfile(planBuild({ slurm: '25.11' }))).spack!, /buildcache keys/);
});

test('the structure check rejects what Spack would not accept', () => {
  const env = { stage: 'slurm' as const, modules: true };
  assert.throws(() => checkSpackYaml('spack:\n  specs: []\n', env), /specs/);
  assert.throws(() => checkSpackYaml('nospack: 1\n', env), /no top-level/);
  assert.throws(() => checkSpackYaml('spack:\n  specs: [a\n   b: c', env), /not YAML/);
  const good = renderSpackYaml(planBuild({ slurm: '25.11' }), spackEnvironments(planBuild({ slurm: '25.11' }))[2]!);
  assert.throws(() => checkSpackYaml(good.replace(/ %gcc@13\.4\.0"/, ' %gcc@13.4.0 +pmix"'), env), /put %gcc@X last/);
  assert.throws(() => checkSpackYaml(good.replace(/\n +core_compilers:\n +- gcc@13\.3\.0/, ''), env), /core_compilers/);
});

test('the structure check runs once per template branch, yet a value that changes the structure is still caught', () => {
  const plan = planBuild({ slurm: '25.11' });
  const env = spackEnvironments(plan)[1]!;
  renderSpackYaml(plan, env);
  // Same branches, other values: the same structure (another toolchain of the matrix).
  assert.ok(
    renderSpackYaml(plan, { ...env, installRoot: '/opt/another-root', compiler: '14.2.0' }).includes(
      'root: /opt/another-root',
    ),
  );
  // A value with YAML punctuation is not masked by what was checked before it.
  assert.throws(
    () => renderSpackYaml(plan, { ...env, installRoot: '/opt/x\n  specs: oops' }),
    /spack\.yaml of the deps stage is invalid/,
  );
  assert.throws(() => renderSpackYaml(plan, { ...env, installRoot: '[/opt/x' }), /not YAML/);
});

test('a template sees only its context: a plan field the context does not list fails, naming the template', () => {
  const plan = planBuild({ slurm: '25.11' });
  // contextDir is a plan field no template reads, so no context carries it.
  assert.is(plan.contextDir.length > 0, true);
  const probe = compileTemplate<object>('probe-context-dir.hbs', '{{plan.contextDir}}');
  assert.throws(
    () => probe(dockerfileContext(plan)),
    /template templates\/probe-context-dir\.hbs failed to render: "contextDir" not defined/,
  );
  assert.throws(() => probe(spackYamlContext(plan, spackEnvironments(plan)[1]!)), /"contextDir" not defined/);
  // What a context lists renders.
  assert.is(compileTemplate<object>('probe-gcc.hbs', '{{plan.gcc.version}}')(dockerfileContext(plan)), '13.4.0');
});

test('the Dockerfile header tells how it was made and that render keeps hand edits', () => {
  const text = renderDockerfile(planBuild({ slurm: '25.11', gcc: '12.5.0' }));
  assert.match(
    text.split('\n')[0]!,
    /^# Generated by slurm-factory from templates\/Dockerfile\.hbs: npx zx Taskfile\.ts render 25\.11 --gcc 12\.5\.0 --os debian12$/,
  );
  assert.match(
    text,
    /^# Hand edits are fine: .*'render' refuses to overwrite\n# an edited file unless given --force\.$/m,
  );
  assert.match(text, /docker buildx build --target export --output type=local,dest=\.\/out \./);
});

test('the Dockerfile ends with exactly one newline', () => {
  for (const opts of [
    { slurm: '25.11', gcc: '12.5.0' },
    { slurm: '24.11', gcc: 'system', gpu: true },
  ]) {
    const text = renderDockerfile(planBuild(opts));
    assert.ok(text.endsWith('\n'), 'final newline');
    assert.not.ok(text.endsWith('\n\n'), 'only one');
  }
});

test('render writes the context, is byte-identical on rerun, and refuses to overwrite hand edits', () => {
  withTempDir((t) => {
    const out = join(t, 'ctx');
    const r1 = runCli(['render', '25.11', '--gcc', '12.5.0', '--out', out]);
    assert.is(r1.status, 0, r1.stderr);
    assert.match(r1.stdout, /Slurm 25\.11 -> 25\.11\.6 \(spack slurm@25-11-6-1\)/);
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)).map((x) => `${e.name}/${x}`) : [e.name]))
        .sort();
    const list = files(out);
    for (const f of [
      'Dockerfile',
      'spack/compiler/spack.yaml',
      'spack/deps/spack.yaml',
      'spack/slurm/spack.yaml',
      'package/build-info.json',
    ]) {
      assert.ok(list.includes(f), `${f} written`);
    }
    const before = new Map(list.map((f) => [f, readFileSync(join(out, f))]));
    const r2 = runCli(['render', '25.11', '--gcc', '12.5.0', '--out', out]);
    assert.is(r2.status, 0, r2.stderr);
    for (const f of files(out)) assert.ok(before.get(f)!.equals(readFileSync(join(out, f))), `${f} byte-identical`);

    writeFileSync(join(out, 'Dockerfile'), readFileSync(join(out, 'Dockerfile'), 'utf8') + '\n# my debugging edit\n');
    const r3 = runCli(['render', '25.11', '--gcc', '12.5.0', '--out', out]);
    assert.is(r3.status, 2);
    assert.match(r3.stderr, /has hand-edited files \(Dockerfile\); .*--force/);
    assert.match(readFileSync(join(out, 'Dockerfile'), 'utf8'), /# my debugging edit/);
    const r4 = runCli(['render', '25.11', '--gcc', '12.5.0', '--out', out, '--force']);
    assert.is(r4.status, 0, r4.stderr);
    assert.not.match(readFileSync(join(out, 'Dockerfile'), 'utf8'), /# my debugging edit/);
  });
});

test('build and bake render only when something a render reads changed; hand edits are still refused', () => {
  withTempDir((t) => {
    const dir = join(t, 'ctx');
    const plan = planBuild({ slurm: '24.11', gcc: '13.4.0' });
    assert.ok(ensureBuildContext(dir, plan), 'first: rendered');
    const record = JSON.parse(readFileSync(join(dir, '.slurm-factory-render.json'), 'utf8'));
    assert.is(record.inputs, renderInputsHash(plan));
    const before = statSync(join(dir, 'Dockerfile')).mtimeMs;
    assert.not.ok(ensureBuildContext(dir, plan), 'same inputs: nothing rendered');
    assert.is(statSync(join(dir, 'Dockerfile')).mtimeMs, before, 'not even rewritten');
    const other = planBuild({ slurm: '25.11', gcc: '13.4.0' });
    assert.is.not(renderInputsHash(other), renderInputsHash(plan));
    assert.ok(ensureBuildContext(dir, other), 'another plan: rendered again');
    assert.match(readFileSync(join(dir, 'Dockerfile'), 'utf8'), /slurm@25-11/);
    assert.ok(ensureBuildContext(dir, other, { force: true }), '--force renders whatever the record says');
    // A hand edit with unchanged inputs is neither skipped silently nor overwritten.
    writeFileSync(join(dir, 'Dockerfile'), readFileSync(join(dir, 'Dockerfile'), 'utf8') + '# edited\n');
    assert.throws(() => ensureBuildContext(dir, other), /has hand-edited files \(Dockerfile\)/);
  });
});

test('the render inputs hash follows the code that renders, not an unrelated tasks/lib module', () => {
  withTempDir((t) => {
    const plan = planBuild({ slurm: '25.11' });
    const hashIn = (root: string) => renderInputsHash(plan, root);
    // Copies of what a render reads, one per change, so the checkout's own files are never touched.
    const copy = (name: string) => {
      const d = join(t, name);
      for (const top of ['templates', 'scripts', 'spack/repos', 'tasks/lib'])
        cpSync(join(repoRootDir, top), join(d, top), { recursive: true });
      cpSync(join(repoRootDir, 'package-lock.json'), join(d, 'package-lock.json'));
      return d;
    };
    const base = hashIn(copy('base'));
    assert.is(base, renderInputsHash(plan), 'the copy hashes as the checkout');
    const publish = copy('publish');
    writeFileSync(
      join(publish, 'tasks/lib/publish.ts'),
      readFileSync(join(publish, 'tasks/lib/publish.ts'), 'utf8') + '\n// unrelated\n',
    );
    assert.is(hashIn(publish), base, 'publish.ts is not read by a render');
    const engine = copy('templates-ts');
    writeFileSync(
      join(engine, 'tasks/lib/templates.ts'),
      readFileSync(join(engine, 'tasks/lib/templates.ts'), 'utf8') + '\n// changed\n',
    );
    assert.is.not(hashIn(engine), base, 'the template engine is');
    const catalog = copy('catalog');
    writeFileSync(
      join(catalog, 'tasks/lib/catalog.ts'),
      readFileSync(join(catalog, 'tasks/lib/catalog.ts'), 'utf8') + '\n// changed\n',
    );
    assert.is.not(hashIn(catalog), base, 'and so is what it imports (render -> plan -> catalog)');
    const template = copy('template');
    writeFileSync(
      join(template, 'templates/stages/deps.hbs'),
      readFileSync(join(template, 'templates/stages/deps.hbs'), 'utf8') + '# x\n',
    );
    assert.is.not(hashIn(template), base, 'and every template');
  });
});

test('a hand-edited spack.yaml is refused as a Dockerfile is: the record covers every file', () => {
  withTempDir((t) => {
    const dir = join(t, 'ctx');
    const plan = planBuild({ slurm: '25.11' });
    assert.ok(ensureBuildContext(dir, plan));
    writeFileSync(
      join(dir, 'spack/deps/spack.yaml'),
      readFileSync(join(dir, 'spack/deps/spack.yaml'), 'utf8') + '# mine\n',
    );
    assert.throws(() => ensureBuildContext(dir, plan), /has hand-edited files \(spack\/deps\/spack\.yaml\)/);
    assert.match(readFileSync(join(dir, 'spack/deps/spack.yaml'), 'utf8'), /# mine\n$/);
    assert.ok(ensureBuildContext(dir, plan, { force: true }));
    assert.not.match(readFileSync(join(dir, 'spack/deps/spack.yaml'), 'utf8'), /# mine/);
  });
});

test('putInPlace: a directory replaces a directory whole, a file a file; a failed move puts the old copy back', () => {
  withTempDir((t) => {
    const to = join(t, 'mirror');
    mkdirSync(join(to, 'old-only'), { recursive: true });
    const from = siblingPath(to, 'tmp');
    mkdirSync(join(from, 'new-only'), { recursive: true });
    putInPlace(from, to);
    assert.equal(readdirSync(to), ['new-only'], 'the new directory, nothing of the old one');
    assert.equal(readdirSync(t), ['mirror'], 'no temp or old copy left beside it');
    // The move fails (its source is gone): the directory that was there is still there, whole.
    assert.throws(() => putInPlace(join(t, 'missing'), to), /ENOENT/);
    assert.equal(readdirSync(to), ['new-only']);
    assert.equal(readdirSync(t), ['mirror']);
    const file = join(t, 'docker-bake.hcl');
    writeFileSync(file, 'old\n');
    const tmp = siblingPath(file, 'tmp');
    writeFileSync(tmp, 'new\n');
    putInPlace(tmp, file);
    assert.is(readFileSync(file, 'utf8'), 'new\n');
    assert.equal(readdirSync(t).sort(), ['docker-bake.hcl', 'mirror']);
  });
});

test('a render that cannot finish leaves no partial output', () => {
  withTempDir((t) => {
    // A file where the output's parent directory should be: the write fails, nothing is left behind.
    writeFileSync(join(t, 'blocker'), 'x');
    const r = runCli(['render', '25.11', '--out', join(t, 'blocker', 'ctx')]);
    // A usage problem (exit 2), named by the path the user gave and the part in the way, in one line.
    assert.is(r.status, 2);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`^error: --out '${join(t, 'blocker', 'ctx')}': ${join(t, 'blocker')} is a file, not a directory; `),
    );
    assert.equal(readdirSync(t), ['blocker']);
    mkdirSync(join(t, 'ok'));
    assert.not.ok(existsSync(join(t, 'blocker', 'ctx')));
  });
});

test.run();
