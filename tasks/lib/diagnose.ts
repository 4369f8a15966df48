/**
 * Reads the output of a failed `docker buildx build|bake` and names the likely cause and its fix, so a failed
 * build ends with one line a user can act on instead of only BuildKit's text. Pure: log text (plus what the
 * caller measured about the export's disk) in, a diagnosis or null out. The rules are tried in order and the
 * first that matches wins; each matches text that BuildKit, git, GCC or Spack really print (the fixtures in
 * test/fixtures/diagnose/ were captured from real builds, or, for Spack, follow Spack's own source).
 */
import { readPlainProgress } from './buildx.ts';
import { INPUT_STAGES } from './plan.ts';

export interface Diagnosis {
  /** Which rule matched: disk-full, out-of-memory, foreign-arch, base-image, git-input, missing-context, spack-bootstrap,
   *  spack-checksum or spack-fetch. */
  rule: string;
  /** What went wrong, in a few words, naming the value (image, stage, package, directory). */
  cause: string;
  /** What to do about it. */
  fix: string;
}

export interface BuildFacts {
  /** Where `--output type=local,dest=...` wrote. */
  exportDir?: string;
  /** Bytes still free on the filesystem of exportDir, measured right after the failure. */
  exportFreeBytes?: number;
}

/** Below this much free space, a failed export is taken to have filled its disk. */
export const FULL_DISK_BYTES = 64 * 2 ** 20;

const CLEAN_FIX =
  "free space: 'npx zx Taskfile.ts clean builds logs --dry-run' shows what the factory can remove, " +
  "'docker builder prune' drops BuildKit's cache, 'docker system df' shows Docker's use";

/**
 * What the build's processes printed, without BuildKit's echo of the commands: step headers (`#7 [deps 2/3] RUN
 * ...`), the recap headers (` > [deps 2/3] RUN ...:`), the quoted Dockerfile lines and the command inside
 * `process "..." did not complete`. A RUN whose text mentions, say, a checksum does not then read as one failing.
 */
export function processOutput(log: string): string {
  return log
    .split('\n')
    .filter((l) => !/^#\d+ \[[^\]]+\] /.test(l) && !/^\s*> \[[^\]]+\] /.test(l) && !/^\s*\d+ \| /.test(l))
    .map((l) => l.replace(/process "(?:[^"\\]|\\.)*" did not complete/g, 'process did not complete'))
    .join('\n');
}

/** The first line of `log` matching `re`, trimmed of BuildKit's `#N 1.234 ` prefix. */
function lineOf(log: string, re: RegExp): string | undefined {
  const m = log.split('\n').find((l) => re.test(l));
  return m?.replace(/^#\d+ (?:\d+\.\d+ )?/, '').trim();
}

/** `spack-stage-munge-0.5.15-<32 chars>` or a path inside it -> `munge@0.5.15`. */
function spackPackage(text: string): string | undefined {
  const m = /spack-stage-([a-z0-9][a-z0-9-]*?)-(\d[A-Za-z0-9._]*)-[a-z0-9]{32}\b/.exec(text);
  return m ? `${m[1]}@${m[2]}` : undefined;
}

function diskFull(out: string, log: string, facts: BuildFacts): Diagnosis | null {
  const line = lineOf(out, /no space left on device/i);
  if (line) return { rule: 'disk-full', cause: `a disk filled up (${line})`, fix: CLEAN_FIX };
  // An export onto a full disk: buildx's receiver dies with ENOSPC but reports only `EOF` or `context canceled`.
  const exportFailed =
    /^#\d+ (?:\[[^\]]+\] )?exporting to client directory$/m.test(log) &&
    /^(?:#\d+ (?:ERROR|CANCELED)\b|ERROR: failed to solve: (?:EOF|error from receiver))/m.test(log);
  if (exportFailed && facts.exportFreeBytes !== undefined && facts.exportFreeBytes < FULL_DISK_BYTES) {
    const where = facts.exportDir ? ` to ${facts.exportDir}` : '';
    return {
      rule: 'disk-full',
      cause: `the export${where} stopped with its disk full (${Math.floor(facts.exportFreeBytes / 1024)} KiB free)`,
      fix: `${CLEAN_FIX}; or point SLURM_FACTORY_HOME at a bigger disk`,
    };
  }
  return null;
}

function outOfMemory(out: string): Diagnosis | null {
  const gcc = /Killed signal terminated program (\S+)/.exec(out);
  const killed = gcc
    ? `the compiler's ${gcc[1]} was killed (SIGKILL)`
    : /exit code: 137\b/.test(out)
      ? 'a build step was killed by SIGKILL (exit code 137)'
      : /signal: killed\b/.test(out)
        ? 'a build step was killed by SIGKILL (signal: killed)'
        : null;
  if (!killed) return null;
  return {
    rule: 'out-of-memory',
    cause: `${killed}, as the kernel's out-of-memory killer does`,
    fix: 'run fewer compile jobs at once (--jobs 2, say) or give the builder more memory, then rerun: finished steps are cached',
  };
}

/** A RUN of another architecture (`--arch aarch64` on x86_64) where the kernel has no emulator registered. */
function foreignArch(out: string): Diagnosis | null {
  const line = lineOf(out, /exec format error/);
  if (!line) return null;
  return {
    rule: 'foreign-arch',
    cause: `the builder cannot run programs of the build's platform (${line})`,
    fix: 'register emulation on this builder (arm64 on x86_64: sudo scripts/setup-arm64.sh, which sets up binfmt_misc and qemu-user-static), or build on a builder of that architecture (--builder NAME)',
  };
}

function baseImage(out: string): Diagnosis | null {
  const m = /failed to resolve source metadata for (\S+): (.*)$/m.exec(out);
  if (!m) return null;
  // `failed to solve: nonexistent:latest: failed to resolve ...` names the image as the Dockerfile wrote it
  const image = /failed to solve: (\S+): failed to resolve source metadata/.exec(out)?.[1] ?? m[1]!;
  const why = m[2]!;
  const network = /(dial tcp .*|lookup .*|TLS handshake .*|x509: .*|net\/http: .*)$/.exec(why);
  const reason = /: not found$/.test(why)
    ? 'the registry has no such image'
    : /pull access denied|repository does not exist/.test(why)
      ? 'the registry denies it: no such repository, or it needs a login'
      : network
        ? `its registry is unreachable (${network[1]})`
        : why;
  return {
    rule: 'base-image',
    cause: `image '${image}' is not in the local image store and cannot be pulled: ${reason}`,
    fix:
      "build on a local image with --base-image IMAGE (one 'docker images' lists), make one without a registry with " +
      "'scripts/make-base-image.sh debian12' (or debian13), or 'docker login' / fix the name",
  };
}

function gitInput(out: string, log: string): Diagnosis | null {
  const fetch = /failed to fetch remote (\S+?):? git error/.exec(out) ?? /failed to fetch remote (\S+)/.exec(out);
  if (!fetch) return null;
  const failed = new Set(
    readPlainProgress(log)
      .filter((s) => s.error && / ADD /.test(s.name))
      .map((s) => s.stage),
  );
  const stages = INPUT_STAGES.filter((s) => failed.has(s));
  const url = fetch[1]!.replace(/:$/, '');
  const from = /^[a-z+]+:\/\/(?:[^@/]*@)?([^/:]+)/.exec(url)?.[1] ?? url;
  const why = lineOf(
    out,
    /fatal: unable to access|Could not resolve host|Failed to connect|Connection timed out|Connection refused/,
  )?.replace(/^.*?fatal: (?:unable to access '[^']*': )?/, '');
  const what =
    stages.length > 0
      ? `input stage${stages.length > 1 ? 's' : ''} ${stages.join(', ')} could not clone`
      : 'a git source could not be cloned';
  return {
    rule: 'git-input',
    cause: `${what} from ${stages.length > 1 ? from : url}${why ? ` (${why})` : ''}`,
    fix:
      stages.length > 0
        ? `give local checkouts at the pinned commits: ${stages.map((n) => `--context ${n}=DIR`).join(' ')}`
        : 'give a local checkout as a named context (--context STAGE=DIR)',
  };
}

function missingContext(out: string): Diagnosis | null {
  const named = /failed to get build context ([A-Za-z0-9_-]+): stat (.+?): no such file or directory/.exec(out);
  if (named) {
    return {
      rule: 'missing-context',
      cause: `named context '${named[1]}' is directory '${named[2]}', which does not exist`,
      fix: `give an existing directory (--context ${named[1]}=DIR), or leave --context ${named[1]} out to use the default source`,
    };
  }
  const main = /unable to prepare context: path "(.+?)" not found/.exec(out);
  if (!main) return null;
  return {
    rule: 'missing-context',
    cause: `the build context '${main[1]}' does not exist`,
    fix: "render it again ('npx zx Taskfile.ts render ...') or give an existing --dockerfile",
  };
}

function spackBootstrap(out: string): Diagnosis | null {
  // spack/bootstrap/core.py: `cannot bootstrap the "clingo" Python module ...`, `cannot bootstrap any of the
  // patchelf executables ...`
  const m = /cannot bootstrap (?:the "([^"]+)" Python module|any of the (.+?) executables)/.exec(out);
  if (!m) return null;
  return {
    rule: 'spack-bootstrap',
    cause: `Spack could not bootstrap ${m[1] ?? m[2]} (its bootstrap sources are online)`,
    fix: "give a bootstrap mirror: on a connected machine 'spack bootstrap mirror --binary-packages DIR', then --context spack-bootstrap-mirror=DIR",
  };
}

function spackChecksum(out: string): Diagnosis | null {
  const m = /\b(sha(?:1|224|256|384|512)|md5) checksum failed for (\S+)/.exec(out);
  if (!m) return null;
  const pkg = spackPackage(m[2]!);
  const got = /Expected (\S+) but got (\S+?)\.?(?:\s|$)/.exec(out);
  return {
    rule: 'spack-checksum',
    cause: `the source of ${pkg ?? m[2]} does not match its recipe's ${m[1]} checksum${got ? ` (expected ${got[1]!.slice(0, 12)}..., got ${got[2]!.slice(0, 12)}...)` : ''}: a proxy's error page, a truncated download or a changed upstream file`,
    fix: 'give the verified sources with --context source-mirror=DIR (a `spack mirror create` mirror), or check the copy in that mirror and the network path to the upstream URL',
  };
}

function spackFetch(out: string): Diagnosis | null {
  const m = /All fetchers failed for (\S+)/.exec(out) ?? /\b(?:FetchError|FailedDownloadError): (.*)$/m.exec(out);
  if (!m) return null;
  const pkg = spackPackage(m[1]!);
  return {
    rule: 'spack-fetch',
    cause: `Spack could not download the source of ${pkg ?? m[1]} (no mirror had it and its upstream URL failed)`,
    fix: 'give the sources with --context source-mirror=DIR (made with `spack mirror create` on a connected machine), or check the network, proxy and the mirror',
  };
}

/** The rules, in order: a full disk or a killed process explains the messages that follow from it. */
const RULES: ((out: string, log: string, facts: BuildFacts) => Diagnosis | null)[] = [
  diskFull,
  outOfMemory,
  foreignArch,
  baseImage,
  missingContext,
  gitInput,
  spackBootstrap,
  spackChecksum,
  spackFetch,
];

export function diagnose(log: string, facts: BuildFacts = {}): Diagnosis | null {
  const out = processOutput(log);
  for (const rule of RULES) {
    const d = rule(out, log, facts);
    if (d) return d;
  }
  return null;
}
