import type { Task } from './lib/task.ts';
import { buildkitProvenanceArgs, detectAttestationSupport, planParameters, writeProvenance } from './lib/provenance.ts';
import { parseArgs } from './lib/args.ts';
import { cacheDir, homeSource, hostBuildcacheDir, logFile, resolveConfig } from './lib/config.ts';
import { BuildError, ConfigurationError } from './lib/errors.ts';
import { spawnSync } from 'node:child_process';
import { planMatrix, renderBakeFile } from './lib/matrix.ts';
import { ensureBuildContext, repoRoot } from './lib/render.ts';
import { requireDocker } from './lib/docker.ts';
import { moveArtifacts, runBuildx, removeDir } from './lib/build-run.ts';
import { shellQuote, sourceDateEpoch } from './lib/buildx.ts';
import { checkpoint } from './lib/interrupt.ts';
import { checkUserDir, replaceUserFile } from './lib/userdir.ts';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export const task: Task = {
  name: 'bake',
  summary: 'Build a matrix (Slurm x GCC x CPU/GPU) with docker buildx bake; shared stages are built once',
  usage: 'bake [GROUP ...] [--slurm 24.11,25.11] [--gcc 10.5.0,13.4.0] [--gpu | --flavours cpu,gpu] [--arch x86_64,aarch64] [--print]',
  example: 'npx zx Taskfile.ts bake --slurm 24.11,25.11 --gcc 13.4.0 --print',
  details: `  GROUP              bake groups or targets to build (default: default = the whole matrix given)
  --slurm LIST       Slurm versions (default: every version in the catalog)
  --gcc LIST         GCC toolchains (default: 13.4.0)
  --gpu              GPU flavour only; --flavours cpu,gpu for both (default cpu)
  --arch LIST        CPU architectures, x86_64 and/or aarch64 (default x86_64); each target gets its platforms
  --os NAME / --base-image IMG / --jobs N / --mirror URL   as for build
  --file PATH        where to write the bake file (default dockerfiles/docker-bake.hcl)
  --set SPEC         passed to buildx bake --set (repeatable), e.g. '*.args.BASE_IMAGE=registry.site/ubuntu:24.04'
  --builder NAME     any buildx builder (remote BuildKit, kubernetes driver, multi-node)
  --cache-from SPEC  BuildKit layer cache to read for every target (repeatable)
  --cache-to SPEC    BuildKit layer cache to write for every target (repeatable)
  --render-only      write the bake file and build contexts, run nothing
  --print            run 'docker buildx bake --print' (the resolved targets as JSON) and build nothing`,
  async run(argv) {
    const args = parseArgs('bake', argv, {
      string: ['os', 'base-image', 'jobs', 'file', 'builder'],
      csv: ['slurm', 'gcc', 'flavours', 'arch'],
      list: ['mirror', 'set', 'cache-from', 'cache-to'],
      boolean: ['gpu', 'print', 'render-only'],
      positionals: ['groups?...'],
    });
    if (args.flags.gpu && args.lists.flavours!.length > 0) {
      throw new ConfigurationError('--gpu and --flavours were both given', { remediation: 'use --gpu for GPU only, or --flavours cpu,gpu' });
    }
    const jobs = args.strings.jobs;
    if (jobs !== undefined && !/^\d+$/.test(jobs)) {
      throw new ConfigurationError(`--jobs '${jobs}' is not a whole number from 1 to 1024`, {
        remediation: 'give the number of parallel compile jobs, e.g. --jobs 8, or leave it out to use every CPU',
      });
    }
    const plans = planMatrix({
      slurm: args.lists.slurm, gcc: args.lists.gcc, flavours: args.flags.gpu ? ['gpu'] : args.lists.flavours,
      os: args.strings.os, baseImage: args.strings['base-image'], jobs: jobs === undefined ? undefined : Number(jobs),
      mirrors: args.lists.mirror, arches: args.lists.arch,
    });
    const config = resolveConfig();
    const bakeFile = args.strings.file ? resolve(args.strings.file) : join(repoRoot, 'dockerfiles', 'docker-bake.hcl');
    const fileSource = { what: args.strings.file ? '--file' : 'the bake file', given: args.strings.file ?? bakeFile };
    // The bake file's folder is checked before any work: a bad --file fails at once.
    checkUserDir(dirname(bakeFile), fileSource);
    if (statSync(bakeFile, { throwIfNoEntry: false })?.isDirectory()) {
      throw new ConfigurationError(`${fileSource.what} '${fileSource.given}' is a directory`, { remediation: 'give the path of the bake file, e.g. --file dockerfiles/docker-bake.hcl' });
    }
    const text = renderBakeFile(plans, {
      contextOf: (p) => p.contextDir,
      buildsDir: join(config.home, 'builds'),
      buildcacheDir: join(config.home, 'buildcache'),
      sourcecacheDir: join(config.home, 'sourcecache'),
      sourceDateEpoch: sourceDateEpoch(repoRoot),
    });
    // A group or target the bake file does not have is a typo: say so before anything is written or built.
    const names = [...text.matchAll(/^(?:group|target) "([^"]+)" \{$/gm)].map((m) => m[1]!);
    const unknownGroup = args.rest.find((g) => !names.includes(g));
    if (unknownGroup !== undefined) {
      const groups = [...text.matchAll(/^group "([^"]+)" \{$/gm)].map((m) => m[1]!);
      throw new ConfigurationError(`bake group or target '${unknownGroup}' is not in this matrix`, {
        remediation: `use a group (${groups.join(', ')}) or a target named in ${relative(process.cwd(), bakeFile) || bakeFile}`,
      });
    }
    // Building needs the engine: find out before writing anything (--print and --render-only do not build).
    if (!args.flags['render-only'] && !args.flags.print) {
      checkUserDir(config.home, homeSource(config));
      await requireDocker(args.strings.builder);
    }
    for (const p of plans) {
      // Ctrl-C stops between two contexts; each context is written atomically.
      await checkpoint();
      ensureBuildContext(join(repoRoot, p.contextDir), p);
    }
    await replaceUserFile(bakeFile, text, fileSource);
    console.error(`wrote ${relative(process.cwd(), bakeFile)}: ${plans.length} targets (${plans.map((p) => p.id).join(', ')})`);
    if (args.flags['render-only']) return 0;

    const bx = ['buildx', 'bake', '--file', bakeFile];
    if (args.strings.builder) bx.push('--builder', args.strings.builder);
    for (const s of args.lists.set ?? []) bx.push('--set', s);
    for (const c of args.lists['cache-from'] ?? []) bx.push('--set', `*.cache-from=${c}`);
    for (const c of args.lists['cache-to'] ?? []) bx.push('--set', `*.cache-to=${c}`);
    if (args.flags.print) bx.push('--print');
    else bx.push('--progress', 'plain', ...buildkitProvenanceArgs(detectAttestationSupport(args.strings.builder)));
    bx.push(...(args.rest.length > 0 ? args.rest : ['default']));

    if (args.flags.print) {
      console.error(`docker ${shellQuote(bx)}`);
      const r = spawnSync('docker', bx, { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
      if (r.status !== 0) throw new BuildError(`docker buildx bake --print exited ${r.status ?? r.signal}`, { remediation: 'read the message above; check the --set values' });
      return 0;
    }
    for (const p of plans) hostBuildcacheDir(config, p.cacheKey);
    cacheDir(config, 'sourcecache');
    const builds = cacheDir(config, 'builds');
    await runBuildx(bx, logFile(config, 'bake'), { cwd: repoRoot, exportDir: builds });
    // Each target exported into builds/<id>/; move its artifacts next to single builds, sidecars first.
    for (const p of plans) {
      const dir = join(builds, p.id);
      if (!existsSync(join(dir, p.tarballName))) continue;
      moveArtifacts(dir, { builds, buildcache: hostBuildcacheDir(config, p.cacheKey), mirrors: cacheDir(config, 'mirrors') }, p.tarballName);
      await writeProvenance({
        tarball: join(builds, p.tarballName), contextDir: join(repoRoot, p.contextDir), plan: planParameters(p),
        sourceDateEpoch: sourceDateEpoch(repoRoot), command: `docker ${shellQuote(bx)}`, builder: args.strings.builder,
      });
      removeDir(dir);
      console.log(`wrote ${join(builds, p.tarballName)}`);
    }
    return 0;
  },
};
