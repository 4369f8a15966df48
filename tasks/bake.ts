import { defineTask } from './lib/task.ts';
import {
  BUILDKIT_PROVENANCE,
  buildkitProvenanceArgs,
  buildkitProvenanceNote,
  attestationSupportOf,
  detectAttestationSupport,
  planParameters,
  writeProvenance,
} from './lib/provenance.ts';
import { TARGET_OPTIONS } from './lib/plan-options.ts';
import {
  ensureCacheDir,
  ensureHostCaches,
  ensureHostBuildcacheDir,
  homeSource,
  logFilePath,
  resolveConfig,
  sourceDateEpoch,
} from './lib/config.ts';
import { keyFingerprint, readKeyFile } from './lib/keys.ts';
import { BuildError, ConfigurationError } from './lib/errors.ts';
import { spawnSync } from 'node:child_process';
import { planMatrix, renderBakeFile } from './lib/matrix.ts';
import { repoRoot } from './lib/render.ts';
import { ensureBuildContext, replaceUserFile } from './lib/writer.ts';
import { requireDocker } from './lib/docker.ts';
import { moveArtifacts, runBuildx, removeDir } from './lib/build-run.ts';
import { shellQuote } from './lib/buildx.ts';
import { checkpoint } from './lib/interrupt.ts';
import { checkUserDir } from './lib/userdir.ts';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export const task = defineTask({
  name: 'bake',
  summary: 'Build a matrix (Slurm x GCC x CPU/GPU) with docker buildx bake; shared stages are built once',
  usage:
    'bake [GROUP ...] [--slurm 24.11,25.11] [--gcc 10.5.0,13.4.0] [--gpu | --flavours cpu,gpu] [--arch x86_64,aarch64] [--print]',
  example: 'npx zx Taskfile.ts bake --slurm 24.11,25.11 --gcc 13.4.0 --print',
  positionals: [
    {
      name: 'groups',
      arg: 'GROUP ...',
      help: 'bake groups or targets to build (default: default = the whole matrix given)',
      optional: true,
      rest: true,
    },
  ],
  options: {
    slurm: { type: 'csv', help: 'Slurm versions (default: every version in the catalog)' },
    gcc: { type: 'csv', help: 'GCC toolchains (default: 13.4.0)' },
    gpu: { type: 'boolean', help: 'GPU flavour only; --flavours cpu,gpu for both (default cpu)' },
    flavours: { type: 'csv', help: 'cpu, gpu or both (default cpu)' },
    arch: {
      type: 'csv',
      help: 'CPU architectures, x86_64 and/or aarch64 (default x86_64); each target gets its platforms',
    },
    ...TARGET_OPTIONS,
    file: { type: 'string', arg: 'PATH', help: 'where to write the bake file (default dockerfiles/docker-bake.hcl)' },
    set: {
      type: 'list',
      arg: 'SPEC',
      help: "passed to buildx bake --set (repeatable), e.g. '*.args.BASE_IMAGE=registry.site/ubuntu:24.04'",
    },
    builder: {
      type: 'string',
      arg: 'NAME',
      help: 'any buildx builder (remote BuildKit, kubernetes driver, multi-node)',
    },
    'cache-from': { type: 'list', arg: 'SPEC', help: 'BuildKit layer cache to read for every target (repeatable)' },
    'cache-to': { type: 'list', arg: 'SPEC', help: 'BuildKit layer cache to write for every target (repeatable)' },
    'sign-key': {
      type: 'string',
      arg: 'FILE',
      help: [
        'ASCII-armored private key: every target signs its tarball and Spack binaries as build does',
        '(a BuildKit secret, never in the bake file); each .provenance.json gets its .asc',
      ],
    },
    'render-only': { type: 'boolean', help: 'write the bake file and build contexts, run nothing' },
    print: {
      type: 'boolean',
      help: "run 'docker buildx bake --print' (the resolved targets as JSON) and build nothing",
    },
  },
  async run({ opts, rest }) {
    if (opts.gpu && opts.flavours.length > 0) {
      throw new ConfigurationError('--gpu and --flavours were both given', {
        remediation: 'use --gpu for GPU only, or --flavours cpu,gpu',
      });
    }
    const signKey = opts['sign-key'];
    const signKeyText = signKey === undefined ? undefined : readKeyFile(signKey, '--sign-key', 'private');
    const fingerprint =
      signKeyText === undefined ? undefined : await keyFingerprint(signKeyText, '--sign-key', signKey!, 'private');
    const plans = planMatrix({
      slurm: opts.slurm,
      gcc: opts.gcc,
      flavours: opts.gpu ? ['gpu'] : opts.flavours,
      os: opts.os,
      baseImage: opts['base-image'],
      jobs: opts.jobs,
      mirrors: opts.mirror,
      arches: opts.arch,
    });
    const config = resolveConfig();
    const epoch = sourceDateEpoch(config, repoRoot);
    const bakeFile = opts.file ? resolve(opts.file) : join(repoRoot, 'dockerfiles', 'docker-bake.hcl');
    const fileSource = { what: opts.file ? '--file' : 'the bake file', given: opts.file ?? bakeFile };
    // The bake file's folder is checked before any work: a bad --file fails at once.
    checkUserDir(dirname(bakeFile), fileSource);
    if (statSync(bakeFile, { throwIfNoEntry: false })?.isDirectory()) {
      throw new ConfigurationError(`${fileSource.what} '${fileSource.given}' is a directory`, {
        remediation: 'give the path of the bake file, e.g. --file dockerfiles/docker-bake.hcl',
      });
    }
    const text = renderBakeFile(plans, {
      contextOf: (p) => p.contextDir,
      buildsDir: join(config.home, 'builds'),
      buildcacheDir: join(config.home, 'buildcache'),
      sourcecacheDir: join(config.home, 'sourcecache'),
      sourceDateEpoch: epoch,
    });
    // A group or target the bake file does not have is a typo: say so before anything is written or built.
    const names = [...text.matchAll(/^(?:group|target) "([^"]+)" \{$/gm)].map((m) => m[1]!);
    const unknownGroup = rest.find((g) => !names.includes(g));
    if (unknownGroup !== undefined) {
      const groups = [...text.matchAll(/^group "([^"]+)" \{$/gm)].map((m) => m[1]!);
      throw new ConfigurationError(`bake group or target '${unknownGroup}' is not in this matrix`, {
        remediation: `use a group (${groups.join(', ')}) or a target named in ${relative(process.cwd(), bakeFile) || bakeFile}`,
      });
    }
    // Building needs the engine: find out before writing anything (--print and --render-only do not build).
    let docker: Awaited<ReturnType<typeof requireDocker>> | undefined;
    if (!opts['render-only'] && !opts.print) {
      checkUserDir(config.home, homeSource(config));
      docker = await requireDocker(opts.builder);
    }
    for (const p of plans) {
      // Ctrl-C stops between two contexts; each context is written atomically.
      await checkpoint();
      ensureBuildContext(join(repoRoot, p.contextDir), p);
    }
    await replaceUserFile(bakeFile, text, fileSource);
    console.error(
      `wrote ${relative(process.cwd(), bakeFile)}: ${plans.length} targets (${plans.map((p) => p.id).join(', ')})`,
    );
    if (opts['render-only']) return 0;

    const bx = ['buildx', 'bake', '--file', bakeFile];
    if (opts.builder) bx.push('--builder', opts.builder);
    for (const s of opts.set) bx.push('--set', s);
    for (const c of opts['cache-from']) bx.push('--set', `*.cache-from=${c}`);
    for (const c of opts['cache-to']) bx.push('--set', `*.cache-to=${c}`);
    if (signKey) {
      // As build does: the key is a secret mount of every target, its public fingerprint an argument.
      bx.push(
        '--set',
        `*.secrets=id=gpg-key,src=${resolve(signKey)}`,
        '--set',
        `*.args.SIGNING_KEY_FINGERPRINT=${fingerprint}`,
      );
    }
    const attest = opts.print
      ? undefined
      : docker
        ? attestationSupportOf(docker)
        : detectAttestationSupport(opts.builder);
    if (!attest) bx.push('--print');
    else bx.push('--progress', 'plain', ...buildkitProvenanceArgs(attest));
    bx.push(...(rest.length > 0 ? rest : ['default']));

    if (opts.print) {
      console.error(`docker ${shellQuote(bx)}`);
      const r = spawnSync('docker', bx, { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
      if (r.status !== 0)
        throw new BuildError(`docker buildx bake --print exited ${r.status ?? r.signal}`, {
          remediation: 'read the message above; check the --set values',
        });
      return 0;
    }
    console.error(buildkitProvenanceNote(attest!));
    for (const p of plans) ensureHostCaches(config, p.cacheKey);
    const builds = ensureCacheDir(config, 'builds');
    ensureCacheDir(config, 'logs');
    await runBuildx(bx, logFilePath(config, 'bake'), { cwd: repoRoot, exportDir: builds });
    // Each target exported into builds/<id>/; move its artifacts next to single builds, sidecars first.
    for (const p of plans) {
      const dir = join(builds, p.id);
      if (!existsSync(join(dir, p.artifacts.tarball))) continue;
      moveArtifacts(
        dir,
        { builds, buildcache: ensureHostBuildcacheDir(config, p.cacheKey), mirrors: ensureCacheDir(config, 'mirrors') },
        p.artifacts,
      );
      await writeProvenance(
        {
          tarball: join(builds, p.artifacts.tarball),
          contextDir: join(repoRoot, p.contextDir),
          plan: planParameters(p),
          sourceDateEpoch: epoch,
          command: `docker ${shellQuote(bx)}`,
          builder: opts.builder,
        },
        signKeyText,
      );
      removeDir(dir);
      const landed = join(builds, p.artifacts.tarball);
      const extra = [
        existsSync(join(builds, p.artifacts.sidecars.signature)) ? ', .asc' : '',
        existsSync(join(builds, p.artifacts.sidecars.buildkitProvenance)) ? `, ${BUILDKIT_PROVENANCE}` : '',
      ].join('');
      console.log(
        `wrote ${landed} (+ .sha256, .manifest.json, .cdx.json, .provenance.json${signKey ? ', .provenance.json.asc' : ''}${extra})`,
      );
    }
    return 0;
  },
});
