import { defineTask } from './lib/task.ts';
import { DEFAULT_SLURM } from './lib/catalog.ts';
import {
  cachePath,
  ensureCacheDir,
  ensureHostBuildcacheDir,
  ensureHostCaches,
  hostCacheContexts,
  logFilePath,
  resolveConfig,
  sourceDateEpoch,
} from './lib/config.ts';
import { ConfigurationError, BuildError } from './lib/errors.ts';
import { PLAN_OPTIONS, planOptions } from './lib/plan-options.ts';
import { planBuild, PIPELINE_STAGES, INPUT_STAGES } from './lib/plan.ts';
import { repoRoot } from './lib/render.ts';
import { ensureBuildContext } from './lib/writer.ts';
import { buildxArgs, parseContexts, PROGRESS_MODES, shellQuote, targetTag } from './lib/buildx.ts';
import { requireDocker } from './lib/docker.ts';
import { buildMirrorDir, moveArtifacts, runBuildx, withScratchDir } from './lib/build-run.ts';
import { isBuildcache } from './lib/publish.ts';
import { keyFingerprint, readKeyFile } from './lib/keys.ts';
import { existsSync, statSync } from 'node:fs';
import {
  BUILDKIT_PROVENANCE,
  buildkitProvenanceArgs,
  buildkitProvenanceNote,
  attestationSupportOf,
  detectAttestationSupport,
  planParameters,
  writeProvenance,
} from './lib/provenance.ts';
import { dirname, join, resolve } from 'node:path';

export const task = defineTask({
  name: 'build',
  summary: 'Render and build one Slurm package with docker buildx; the tarball lands in ~/.slurm-factory/builds',
  usage: 'build <slurm> [--gcc X] [--gpu] [--os N | --base-image I] [--target STAGE] [--dockerfile PATH] [--print]',
  example: 'npx zx Taskfile.ts build 25.11 --gcc 10.5.0',
  positionals: [
    { name: 'slurm', help: `Slurm series or release from the catalog (default ${DEFAULT_SLURM})`, optional: true },
  ],
  options: {
    ...PLAN_OPTIONS,
    target: {
      type: 'choice',
      arg: 'STAGE',
      choices: PIPELINE_STAGES,
      default: 'export',
      noun: 'stage',
      help: `stop at a stage (${[...PIPELINE_STAGES].join(', ')}); non-export stages are loaded as images`,
    },
    dockerfile: {
      type: 'string',
      arg: 'PATH',
      help: 'build this (hand-edited) Dockerfile as it is; its directory is the build context',
    },
    context: {
      type: 'list',
      arg: 'N=SRC',
      help: [
        `replace an input stage (${[...INPUT_STAGES].join(', ')}) or any stage`,
        'with a directory, docker-image://IMAGE or target:NAME (repeatable)',
      ],
    },
    'sign-key': {
      type: 'string',
      arg: 'FILE',
      help: [
        'ASCII-armored private key: sign the tarball and Spack binaries (a BuildKit secret),',
        'and the provenance statement written on the host (.provenance.json.asc)',
      ],
    },
    'no-cache': { type: 'boolean', help: "ignore BuildKit's layer cache (cache mounts are kept)" },
    'shm-size': { type: 'string', arg: 'SIZE', help: '/dev/shm of build containers, e.g. 2g' },
    progress: {
      type: 'choice',
      choices: PROGRESS_MODES,
      default: 'plain',
      noun: 'progress mode',
      help: 'auto, plain, tty or rawjson (default plain; the full log is always in logs/)',
    },
    builder: { type: 'string', arg: 'NAME', help: 'any buildx builder (remote BuildKit, kubernetes, ...)' },
    'cache-from': {
      type: 'list',
      arg: 'SPEC',
      help: 'BuildKit layer cache to read, e.g. type=registry,ref=... or type=s3,... (repeatable)',
    },
    'cache-to': { type: 'list', arg: 'SPEC', help: 'BuildKit layer cache to write (repeatable)' },
    print: { type: 'boolean', help: 'print the docker buildx command and build nothing' },
  },
  async run({ opts, pos }) {
    const plan = planBuild(planOptions(pos.slurm ?? DEFAULT_SLURM, opts));
    const target = opts.target;
    const progress = opts.progress;
    const shm = opts['shm-size'];
    if (shm !== undefined && !/^\d+[bkmg]?$/i.test(shm)) {
      throw new ConfigurationError(`--shm-size '${shm}' is not a size`, {
        remediation: 'write a number with an optional unit, e.g. 2g or 512m',
      });
    }
    const contexts = parseContexts(opts.context);
    const signKey = opts['sign-key'];
    const signKeyText = signKey === undefined ? undefined : readKeyFile(signKey, '--sign-key', 'private');
    let dockerfile = opts.dockerfile;
    if (dockerfile !== undefined) {
      dockerfile = resolve(dockerfile);
      if (!existsSync(dockerfile) || !statSync(dockerfile).isFile()) {
        throw new ConfigurationError(`--dockerfile '${opts.dockerfile}' is not a file`, {
          remediation: 'give the path of a rendered (and maybe hand-edited) Dockerfile',
        });
      }
    }
    const fingerprint =
      signKeyText === undefined ? undefined : await keyFingerprint(signKeyText, '--sign-key', signKey!, 'private');
    const docker = opts.print ? undefined : await requireDocker(opts.builder);

    const config = resolveConfig();
    const epoch = sourceDateEpoch(config, repoRoot);
    const contextDir = dockerfile ? dirname(dockerfile) : join(repoRoot, plan.contextDir);
    if (!dockerfile) ensureBuildContext(contextDir, plan);
    dockerfile ??= join(contextDir, 'Dockerfile');

    const buildsDir = cachePath(config, 'builds');
    const exportDir = target === 'export' ? join(buildsDir, `.tmp-${plan.id}-${process.pid}`) : undefined;
    const allContexts: Record<string, string> = {
      ...hostCacheContexts(config, plan.cacheKey),
      ...contexts,
    };
    const bx = buildxArgs({
      contextDir,
      dockerfile,
      target,
      exportDir,
      tag: target === 'export' ? undefined : targetTag(plan, target),
      contexts: allContexts,
      signKeyFile: signKey ? resolve(signKey) : undefined,
      signingFingerprint: fingerprint,
      noCache: opts['no-cache'],
      shmSize: shm,
      progress,
      builder: opts.builder,
      cacheFrom: opts['cache-from'],
      cacheTo: opts['cache-to'],
      sourceDateEpoch: epoch,
      platform: plan.arch.platform,
    });
    // BuildKit's own provenance only where the builder supports attestations (not the plain docker driver).
    const attest = exportDir
      ? docker
        ? attestationSupportOf(docker)
        : detectAttestationSupport(opts.builder)
      : undefined;
    if (attest) bx.splice(bx.length - 1, 0, ...buildkitProvenanceArgs(attest));
    if (opts.print) {
      if (attest) console.error(buildkitProvenanceNote(attest));
      console.log(`docker ${shellQuote(bx)}`);
      return 0;
    }

    console.error(
      `${plan.resolvedSlurmNote}; GCC ${plan.gcc.version} (${plan.gcc.source}); ${plan.baseImage}; target ${target}`,
    );
    if (attest) console.error(buildkitProvenanceNote(attest));
    ensureCacheDir(config, 'builds');
    ensureHostCaches(config, plan.cacheKey);
    ensureCacheDir(config, 'logs');
    const logPath = logFilePath(config, plan.id);
    const startedOn = new Date();
    return withScratchDir(exportDir, async () => {
      await runBuildx(bx, logPath, { tty: progress === 'tty' });
      if (!exportDir) {
        console.log(`built stage '${target}' as image ${targetTag(plan, target)} (log: ${logPath})`);
        return 0;
      }
      const a = plan.artifacts;
      for (const n of [a.tarball, a.sidecars.sha256, a.sidecars.manifest]) {
        if (!existsSync(join(exportDir, n))) {
          throw new BuildError(`the export has no ${n}`, {
            remediation: `the package stage did not produce it; see ${logPath}`,
          });
        }
      }
      const dirs = {
        builds: buildsDir,
        buildcache: ensureHostBuildcacheDir(config, plan.cacheKey),
        mirrors: ensureCacheDir(config, 'mirrors'),
      };
      const newBinaries = moveArtifacts(exportDir, dirs, a);
      await writeProvenance(
        {
          tarball: join(buildsDir, a.tarball),
          contextDir,
          plan: planParameters(plan, target),
          startedOn,
          finishedOn: new Date(),
          sourceDateEpoch: epoch,
          command: `docker ${shellQuote(bx)}`,
          builder: opts.builder,
        },
        signKeyText,
      );
      const landed = join(buildsDir, a.tarball);
      const extra = [
        signKey && existsSync(join(buildsDir, a.sidecars.signature)) ? ', .asc' : '',
        existsSync(join(buildsDir, a.sidecars.buildkitProvenance)) ? `, ${BUILDKIT_PROVENANCE}` : '',
      ].join('');
      console.log(`wrote ${landed} (+ .sha256, .manifest.json, .cdx.json, .provenance.json${extra})`);
      const mirror = buildMirrorDir(dirs.mirrors, a);
      if (isBuildcache(mirror)) console.log(`Spack mirror of this build: ${mirror} (publish uploads it)`);
      if (newBinaries > 0) console.log(`added ${newBinaries} files to ${dirs.buildcache}`);
      console.log(`log: ${logPath}`);
      return 0;
    });
  },
});
