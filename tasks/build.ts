import type { Task } from './lib/task.ts';
import { parseArgs } from './lib/args.ts';
import { DEFAULT_SLURM } from './lib/catalog.ts';
import { cacheDir, hostBuildcacheDir, hostCacheContexts, logFile, resolveConfig } from './lib/config.ts';
import { ConfigurationError, BuildError } from './lib/errors.ts';
import { PLAN_ARGS, PLAN_ARGS_HELP, planOptions } from './lib/plan-options.ts';
import { planBuild, PIPELINE_STAGES, INPUT_STAGES } from './lib/plan.ts';
import { ensureBuildContext, repoRoot } from './lib/render.ts';
import { buildxArgs, parseContexts, progressMode, shellQuote, sourceDateEpoch, targetTag } from './lib/buildx.ts';
import { requireDocker } from './lib/docker.ts';
import { buildMirrorDir, moveArtifacts, runBuildx, withScratchDir } from './lib/build-run.ts';
import { isBuildcache } from './lib/publish.ts';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { buildkitProvenanceArgs, detectAttestationSupport, planParameters, writeProvenance } from './lib/provenance.ts';
import { dirname, join, resolve } from 'node:path';

export const BUILD_DETAILS = `${PLAN_ARGS_HELP}
  --target STAGE     stop at a stage (${[...PIPELINE_STAGES].join(', ')}); non-export stages are loaded as images
  --dockerfile PATH  build this (hand-edited) Dockerfile as it is; its directory is the build context
  --context N=SRC    replace an input stage (${[...INPUT_STAGES].join(', ')}) or any stage
                     with a directory, docker-image://IMAGE or target:NAME (repeatable)
  --sign-key FILE    ASCII-armored private key: sign the tarball and Spack binaries (a BuildKit secret),
                     and the provenance statement written on the host (.provenance.json.asc)
  --no-cache         ignore BuildKit's layer cache (cache mounts are kept)
  --shm-size SIZE    /dev/shm of build containers, e.g. 2g
  --progress MODE    auto, plain, tty or rawjson (default plain; the full log is always in logs/)
  --builder NAME     any buildx builder (remote BuildKit, kubernetes, ...)
  --cache-from SPEC  BuildKit layer cache to read, e.g. type=registry,ref=... or type=s3,... (repeatable)
  --cache-to SPEC    BuildKit layer cache to write (repeatable)
  --print            print the docker buildx command and build nothing`;

async function keyFingerprint(file: string): Promise<string> {
  const openpgp = await import('openpgp');
  try {
    const key = await openpgp.readPrivateKey({ armoredKey: readFileSync(file, 'utf8') });
    return key.getFingerprint().toUpperCase();
  } catch (e) {
    throw new ConfigurationError(`--sign-key '${file}' is not an ASCII-armored OpenPGP private key (${(e as Error).message})`, {
      remediation: "export one with 'gpg --armor --export-secret-keys KEYID' or create one with 'npx zx Taskfile.ts keygen'",
    });
  }
}

export const task: Task = {
  name: 'build',
  summary: 'Render and build one Slurm package with docker buildx; the tarball lands in ~/.slurm-factory/builds',
  usage: 'build <slurm> [--gcc X] [--gpu] [--os N | --base-image I] [--target STAGE] [--dockerfile PATH] [--print]',
  example: 'npx zx Taskfile.ts build 25.11 --gcc 10.5.0',
  details: BUILD_DETAILS,
  async run(argv) {
    const args = parseArgs('build', argv, {
      string: [...PLAN_ARGS.string, 'target', 'dockerfile', 'shm-size', 'progress', 'sign-key', 'builder'],
      list: [...PLAN_ARGS.list, 'context', 'cache-from', 'cache-to'],
      boolean: [...PLAN_ARGS.boolean, 'no-cache', 'print'],
      positionals: ['slurm?'],
    });
    const plan = planBuild(planOptions(args.positionals.slurm ?? DEFAULT_SLURM, args));
    const target = args.strings.target ?? 'export';
    if (!(PIPELINE_STAGES as readonly string[]).includes(target)) {
      throw new ConfigurationError(`--target '${target}' is not a stage`, { remediation: `use one of ${PIPELINE_STAGES.join(', ')}` });
    }
    const progress = progressMode(args.strings.progress);
    const shm = args.strings['shm-size'];
    if (shm !== undefined && !/^\d+[bkmg]?$/i.test(shm)) {
      throw new ConfigurationError(`--shm-size '${shm}' is not a size`, { remediation: 'write a number with an optional unit, e.g. 2g or 512m' });
    }
    const contexts = parseContexts(args.lists.context ?? []);
    const signKey = args.strings['sign-key'];
    if (signKey !== undefined && !existsSync(signKey)) {
      throw new ConfigurationError(`--sign-key '${signKey}' does not exist`, { remediation: 'give the path of an ASCII-armored private key' });
    }
    let dockerfile = args.strings.dockerfile;
    if (dockerfile !== undefined) {
      dockerfile = resolve(dockerfile);
      if (!existsSync(dockerfile) || !statSync(dockerfile).isFile()) {
        throw new ConfigurationError(`--dockerfile '${args.strings.dockerfile}' is not a file`, { remediation: 'give the path of a rendered (and maybe hand-edited) Dockerfile' });
      }
    }
    const fingerprint = signKey ? await keyFingerprint(signKey) : undefined;
    if (!args.flags.print) await requireDocker(args.strings.builder);

    const config = resolveConfig();
    const contextDir = dockerfile ? dirname(dockerfile) : join(repoRoot, plan.contextDir);
    if (!dockerfile) ensureBuildContext(contextDir, plan);
    dockerfile ??= join(contextDir, 'Dockerfile');

    const buildsDir = cacheDir(config, 'builds', !args.flags.print);
    const exportDir = target === 'export' ? join(buildsDir, `.tmp-${plan.id}-${process.pid}`) : undefined;
    const allContexts: Record<string, string> = {
      ...hostCacheContexts(config, plan.cacheKey, !args.flags.print),
      ...contexts,
    };
    const bx = buildxArgs({
      contextDir, dockerfile, target, exportDir, tag: target === 'export' ? undefined : targetTag(plan, target),
      contexts: allContexts, signKeyFile: signKey ? resolve(signKey) : undefined, signingFingerprint: fingerprint,
      noCache: args.flags['no-cache'], shmSize: shm, progress, builder: args.strings.builder,
      cacheFrom: args.lists['cache-from'], cacheTo: args.lists['cache-to'], sourceDateEpoch: sourceDateEpoch(repoRoot),
      platform: plan.arch.platform,
    });
    // BuildKit's own provenance only where the builder supports attestations (not the plain docker driver).
    if (exportDir) bx.splice(bx.length - 1, 0, ...buildkitProvenanceArgs(detectAttestationSupport(args.strings.builder)));
    if (args.flags.print) {
      console.log(`docker ${shellQuote(bx)}`);
      return 0;
    }

    console.error(`${plan.resolvedSlurmNote}; GCC ${plan.gcc.version} (${plan.gcc.source}); ${plan.baseImage}; target ${target}`);
    const logPath = logFile(config, plan.id);
    const startedOn = new Date();
    return withScratchDir(exportDir, async () => {
      await runBuildx(bx, logPath, { tty: progress === 'tty' });
      if (!exportDir) {
        console.log(`built stage '${target}' as image ${targetTag(plan, target)} (log: ${logPath})`);
        return 0;
      }
      const tarball = join(exportDir, plan.tarballName);
      for (const f of [tarball, `${tarball}.sha256`, `${tarball}.manifest.json`]) {
        if (!existsSync(f)) {
          throw new BuildError(`the export has no ${f.slice(exportDir.length + 1)}`, {
            remediation: `the package stage did not produce it; see ${logPath}`,
          });
        }
      }
      const dirs = { builds: buildsDir, buildcache: hostBuildcacheDir(config, plan.cacheKey), mirrors: cacheDir(config, 'mirrors') };
      const newBinaries = moveArtifacts(exportDir, dirs, plan.tarballName);
      await writeProvenance({
        tarball: join(buildsDir, plan.tarballName), contextDir, plan: planParameters(plan, target), startedOn, finishedOn: new Date(),
        sourceDateEpoch: sourceDateEpoch(repoRoot), command: `docker ${shellQuote(bx)}`, builder: args.strings.builder,
      }, signKey ? readFileSync(signKey, 'utf8') : undefined);
      console.log(`wrote ${join(buildsDir, plan.tarballName)} (+ .sha256, .manifest.json, .cdx.json, .provenance.json${existsSync(join(buildsDir, `${plan.tarballName}.asc`)) && signKey ? ', .asc' : ''})`);
      const mirror = buildMirrorDir(dirs.mirrors, plan.tarballName);
      if (isBuildcache(mirror)) console.log(`Spack mirror of this build: ${mirror} (publish uploads it)`);
      if (newBinaries > 0) console.log(`added ${newBinaries} files to ${dirs.buildcache}`);
      console.log(`log: ${logPath}`);
      return 0;
    });
  },
};
