/**
 * Supply-chain records beside a tarball:
 *   <tarball>.provenance.json      an in-toto v1 Statement with SLSA v1 provenance, written on the host after the
 *                                  tarball lands (its subject is the tarball's sha256), signed like the tarball
 *                                  (`.provenance.json.asc`) when a key is given;
 *   <tarball>.cdx.json             the CycloneDX SBOM the package stage wrote (scripts/package/sbom.py);
 * and their checks for `verify`: subject against the tarball, signature, SBOM coverage of every ELF file.
 *   <tarball>.buildkit-provenance.json  BuildKit's own SLSA provenance (`--provenance=mode=max`), requested only
 *                                  where the builder supports attestations (a non-docker driver, or the docker
 *                                  driver on the containerd image store: scripts/setup-attest-engine.sh);
 *                                  verify checks its subject against the tarball when it is there; with a
 *                                  key it is signed too (.buildkit-provenance.json.asc).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, join, relative } from 'node:path';
import { VerifyError } from './errors.ts';
import { SIDECAR_SUFFIXES, sidecarOf } from './artifacts.ts';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
export const BUILD_TYPE = 'https://github.com/slurm-factory/slurm-factory/buildtypes/buildx-package/v1';

export async function sha256Of(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

const sha256Text = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Every regular file under dir, relative with '/', sorted (the rendered build context: templates and scripts). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const rec = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) rec(p);
      else if (e.isFile()) out.push(relative(dir, p).split('\\').join('/'));
    }
  };
  if (existsSync(dir)) rec(dir);
  return out.sort();
}

interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest?: Record<string, string>;
  annotations?: Record<string, unknown>;
}

/** The base image's digest as the engine knows it: a registry digest when it has one, else its image id. */
export function baseImageDigest(image: string): ResourceDescriptor {
  const r = spawnSync('docker', ['image', 'inspect', '--format', '{{json .RepoDigests}} {{.Id}}', image], {
    encoding: 'utf8',
  });
  const d: ResourceDescriptor = { name: 'base-image', uri: `docker-image://${image}` };
  if (r.status !== 0)
    return { ...d, annotations: { note: 'not in the local engine when the provenance was written; digest unknown' } };
  const [repoDigests, id] = r.stdout.trim().split(' ');
  let digests: string[] = [];
  try {
    digests = JSON.parse(repoDigests ?? '[]') ?? [];
  } catch {
    /* none */
  }
  const repo = digests.map((x) => /@sha256:([0-9a-f]{64})$/.exec(x)?.[1]).find(Boolean);
  if (repo) return { ...d, digest: { sha256: repo }, annotations: { kind: 'registry manifest digest' } };
  const local = /^sha256:([0-9a-f]{64})$/.exec(id ?? '')?.[1];
  return local
    ? {
        ...d,
        digest: { sha256: local },
        annotations: { kind: 'local image id (config digest; the image has no registry digest)' },
      }
    : d;
}

/** Source archives with their checksums, from the SBOM's components (which carry what the specs gave). */
export function sourcesFromSbom(sbom: any): ResourceDescriptor[] {
  const out: ResourceDescriptor[] = [];
  for (const c of sbom?.components ?? []) {
    for (const ref of c.externalReferences ?? []) {
      if (ref.type !== 'source-distribution' || typeof ref.url !== 'string') continue;
      const sha = (ref.hashes ?? []).find((h: any) => h.alg === 'SHA-256')?.content;
      out.push({ name: `source:${c.name}@${c.version}`, uri: ref.url, ...(sha ? { digest: { sha256: sha } } : {}) });
    }
  }
  return out;
}

export interface ProvenanceInput {
  /** The tarball as it landed (builds/...). */
  tarball: string;
  /** The rendered build context (Dockerfile, spack/, package/ with build-info.json and scripts). */
  contextDir: string;
  /** What was asked for: the plan's id and options (externalParameters). */
  plan: Record<string, unknown>;
  /** The build-info the package stage used; defaults to <contextDir>/package/build-info.json. */
  buildInfo?: Record<string, any>;
  /** The base image descriptor (baseImageDigest()); looked up when omitted. */
  baseImage?: ResourceDescriptor;
  sourceDateEpoch?: number;
  startedOn?: Date;
  finishedOn?: Date;
  /** `docker buildx ...` as run. */
  command?: string;
  builder?: string;
}

/** The in-toto Statement for a tarball (pure apart from reading the files it digests). */
export async function provenanceStatement(i: ProvenanceInput): Promise<Record<string, unknown>> {
  const info = i.buildInfo ?? JSON.parse(readFileSync(join(i.contextDir, 'package', 'build-info.json'), 'utf8'));
  const name = basename(i.tarball);
  const sbomPath = sidecarOf(i.tarball, 'sbom');
  const sbom = existsSync(sbomPath) ? JSON.parse(readFileSync(sbomPath, 'utf8')) : null;
  const context = filesUnder(i.contextDir).map((rel) => ({
    name: `context:${rel}`,
    uri: `file:${rel}`,
    digest: { sha256: sha256Text(readFileSync(join(i.contextDir, rel))) },
  }));
  const spack = (commit: string, repo: string, what: string): ResourceDescriptor => ({
    name: what,
    uri: `git+https://github.com/spack/${repo}.git@${commit}`,
    digest: { gitCommit: commit },
  });
  const byproducts: ResourceDescriptor[] = [];
  for (const s of ['sha256', 'manifest', 'sbom'] as const) {
    const path = sidecarOf(i.tarball, s);
    if (existsSync(path)) byproducts.push({ name: basename(path), digest: { sha256: await sha256Of(path) } });
  }
  return {
    _type: STATEMENT_TYPE,
    subject: [{ name, digest: { sha256: await sha256Of(i.tarball) } }],
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters: { plan: i.plan },
        internalParameters: {
          ...(i.sourceDateEpoch !== undefined ? { sourceDateEpoch: i.sourceDateEpoch } : {}),
          ...(i.command ? { command: i.command } : {}),
        },
        resolvedDependencies: [
          ...context,
          spack(info.spackCommit, 'spack', `spack@${info.spackVersion}`),
          spack(info.builtinRepoCommit, 'spack-packages', 'spack-packages'),
          i.baseImage ?? baseImageDigest(info.baseImage),
          ...sourcesFromSbom(sbom),
        ],
      },
      runDetails: {
        builder: {
          id: `https://github.com/slurm-factory/slurm-factory/builder/buildx${i.builder ? `/${i.builder}` : ''}`,
        },
        metadata: {
          invocationId: `${name}@${(i.finishedOn ?? new Date()).toISOString()}`,
          ...(i.startedOn ? { startedOn: i.startedOn.toISOString() } : {}),
          finishedOn: (i.finishedOn ?? new Date()).toISOString(),
        },
        byproducts,
      },
    },
  };
}

/**
 * Writes <tarball>.provenance.json (temp name, then rename) and, with a key, its .asc via signing.ts; a stale
 * .asc from an earlier build is removed when no key is given. Returns the files written.
 */
export async function writeProvenance(
  i: ProvenanceInput,
  signKeyArmored?: string,
  passphrase?: string,
): Promise<string[]> {
  const statement = await provenanceStatement(i);
  const path = sidecarOf(i.tarball, 'provenance');
  const tmp = `${path}.tmp-${process.pid}`;
  // 'wx': a new file, never written through a link at that name.
  writeFileSync(tmp, JSON.stringify(statement, null, 2) + '\n', { mode: 0o644, flag: 'wx' });
  renameSync(tmp, path);
  // BuildKit's own statement (moved beside the tarball before this runs) is signed with the same key.
  const buildkit = sidecarOf(i.tarball, 'buildkitProvenance');
  if (!signKeyArmored) {
    rmSync(sidecarOf(i.tarball, 'provenanceSignature'), { force: true });
    rmSync(sidecarOf(i.tarball, 'buildkitProvenanceSignature'), { force: true });
    return [path];
  }
  const { signFile } = await import('./signing.ts');
  const written = [path, await signFile(path, signKeyArmored, passphrase)];
  if (existsSync(buildkit)) written.push(await signFile(buildkit, signKeyArmored, passphrase));
  else rmSync(sidecarOf(i.tarball, 'buildkitProvenanceSignature'), { force: true });
  return written;
}

/**
 * Whether the builder can attach attestations (BuildKit's --provenance): any non-`docker` driver can; the
 * `docker` driver only with the containerd image store (docker info's DriverStatus names the containerd
 * snapshotter). Returns the reason either way.
 */
export function attestationSupport(inspect: string, driverStatus: string): { supported: boolean; reason: string } {
  const driver = /^Driver:\s*(\S+)/m.exec(inspect)?.[1];
  if (!driver) return { supported: false, reason: 'docker buildx inspect names no driver' };
  if (driver !== 'docker') return { supported: true, reason: `buildx driver ${driver}` };
  if (/io\.containerd\.snapshotter/.test(driverStatus))
    return { supported: true, reason: 'docker driver with the containerd image store' };
  return {
    supported: false,
    reason:
      'the docker driver without the containerd image store refuses attestations ' +
      '(enable "containerd-snapshotter" in /etc/docker/daemon.json, or use a docker-container builder)',
  };
}

/**
 * attestationSupport() for the engine and builder in use. A `docker`-driver builder's endpoint is a docker
 * context (`default` honours DOCKER_HOST), so the image store is asked of that context's engine, not of
 * whatever engine the client would talk to by default.
 */
export function detectAttestationSupport(builder?: string): { supported: boolean; reason: string } {
  const inspect = spawnSync('docker', ['buildx', 'inspect', ...(builder ? [builder] : [])], { encoding: 'utf8' });
  if (inspect.status !== 0)
    return {
      supported: false,
      reason: `docker buildx inspect failed: ${(inspect.stderr || '').trim().split('\n').pop()}`,
    };
  return attestationSupportOf({ inspect: inspect.stdout, driverStatus: null });
}

/**
 * The same from what requireDocker/dockerStatus already asked (buildx inspect, and the default context's
 * DriverStatus): the engine is asked again only when the builder's endpoint is another docker context.
 */
export function attestationSupportOf(status: { inspect: string; driverStatus: string | null }): {
  supported: boolean;
  reason: string;
} {
  const endpoint = /^Endpoint:\s*(\S+)/m.exec(status.inspect)?.[1];
  const context = endpoint && !endpoint.includes('://') ? endpoint : undefined;
  let driverStatus = context === 'default' ? status.driverStatus : null;
  if (driverStatus === null) {
    const ask = (ctx: string[]) =>
      spawnSync('docker', [...ctx, 'info', '--format', '{{json .DriverStatus}}'], { encoding: 'utf8' });
    let info = context ? ask(['--context', context]) : ask([]);
    if (info.status !== 0) info = ask([]);
    driverStatus = info.status === 0 ? info.stdout : '';
  }
  return attestationSupport(status.inspect, driverStatus);
}

/** The buildx flag for BuildKit's own provenance, only where supported. */
export function buildkitProvenanceArgs(support: { supported: boolean }): string[] {
  return support.supported ? ['--provenance=mode=max'] : [];
}

/** The line build and bake print about BuildKit's provenance: that it is requested, or plainly why not. */
export function buildkitProvenanceNote(support: { supported: boolean; reason: string }): string {
  return support.supported
    ? `BuildKit provenance: requested (--provenance=mode=max; ${support.reason}); written as <tarball>.buildkit-provenance.json`
    : `BuildKit provenance: not written, the builder does not support attestations: ${support.reason}; ` +
        'the project statement (.provenance.json) is written all the same';
}

// ---------------------------------------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------------------------------------

/** Checks the statement beside a tarball: its type, and that its subject is the tarball's sha256. */
export async function checkProvenanceSubject(tarball: string): Promise<string> {
  const path = sidecarOf(tarball, 'provenance');
  let st: any;
  try {
    st = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new VerifyError(`${basename(path)} is missing or not JSON beside the tarball (${(e as Error).message})`, {
      remediation: 'download the .provenance.json that came with the tarball, or rebuild it',
    });
  }
  if (st?._type !== STATEMENT_TYPE || st?.predicateType !== SLSA_PROVENANCE_V1) {
    throw new VerifyError(`${basename(path)} is not an in-toto v1 statement with SLSA v1 provenance`, {
      remediation: 'use the .provenance.json slurm-factory wrote for this tarball',
    });
  }
  const actual = await sha256Of(tarball);
  const subject = (st.subject ?? []).find((s: any) => s?.name === basename(tarball));
  if (!subject || subject.digest?.sha256 !== actual) {
    throw new VerifyError(
      `${basename(path)} does not describe this tarball: its subject is ${subject ? `sha256 ${subject.digest?.sha256}` : 'another file'}, the tarball's sha256 is ${actual}`,
      {
        remediation: 'the tarball or its provenance was replaced: download both again from the same build',
      },
    );
  }
  return `subject sha256 ${actual.slice(0, 16)}... matches`;
}

/** The suffix of BuildKit's own provenance beside a tarball (its provenance.json, renamed by moveArtifacts). */
export const BUILDKIT_PROVENANCE = SIDECAR_SUFFIXES.buildkitProvenance;

/**
 * Checks BuildKit's own provenance beside a tarball: an in-toto statement with SLSA provenance (BuildKit 0.13
 * writes v0.2, newer ones can write v1), whose subjects include the tarball with its sha256. Returns the detail.
 */
export async function checkBuildkitProvenance(tarball: string): Promise<string> {
  const path = sidecarOf(tarball, 'buildkitProvenance');
  let st: any;
  try {
    st = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new VerifyError(`${basename(path)} is not JSON (${(e as Error).message})`, {
      remediation: 'download the .buildkit-provenance.json that came with the tarball again, or remove it',
    });
  }
  const type = String(st?._type ?? '');
  const predicateType = String(st?.predicateType ?? '');
  if (
    !type.startsWith('https://in-toto.io/Statement/') ||
    !/^https:\/\/slsa\.dev\/provenance\/v(0\.2|1)$/.test(predicateType)
  ) {
    throw new VerifyError(
      `${basename(path)} is not an in-toto statement with SLSA provenance (it says _type '${type}', predicateType '${predicateType}')`,
      {
        remediation: 'use the provenance.json BuildKit wrote for this build',
      },
    );
  }
  const actual = await sha256Of(tarball);
  const name = basename(tarball);
  const subject = (st.subject ?? []).find(
    (s: any) => typeof s?.name === 'string' && s.name.replace(/^\.?\//, '') === name,
  );
  if (!subject || subject.digest?.sha256 !== actual) {
    throw new VerifyError(
      `${basename(path)} does not describe this tarball: ${subject ? `its subject ${name} has sha256 ${subject.digest?.sha256}` : `no subject is named ${name}`}, the tarball's sha256 is ${actual}`,
      {
        remediation: "the tarball or BuildKit's provenance was replaced: download both again from the same build",
      },
    );
  }
  const materials = predicateType.endsWith('v0.2')
    ? (st.predicate?.materials ?? [])
    : (st.predicate?.buildDefinition?.resolvedDependencies ?? []);
  return `SLSA ${predicateType.replace(/^.*\//, '')} by BuildKit, subject sha256 ${actual.slice(0, 16)}... matches; ${materials.length} materials`;
}

/** Regular ELF files under view/ in a .tar.gz, and the SBOM inside it (read with node-tar, nothing extracted). */
export async function tarballElves(tarball: string): Promise<{ elves: string[]; sbom: string | null }> {
  const tar = await import('tar');
  const elves: string[] = [];
  let sbom = '';
  let hasSbom = false;
  await tar.t({
    file: tarball,
    onReadEntry: (entry) => {
      const p = entry.path.replace(/^\.\//, '');
      if (p === 'sbom.cdx.json') {
        hasSbom = true;
        entry.on('data', (d: Buffer) => {
          sbom += d.toString();
        });
        return;
      }
      if (entry.type !== 'File' || !p.startsWith('view/')) {
        entry.resume();
        return;
      }
      let head = Buffer.alloc(0);
      entry.on('data', (d: Buffer) => {
        if (head.length < 4) head = Buffer.concat([head, d]).subarray(0, 4);
      });
      entry.on('end', () => {
        if (head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) elves.push(p);
      });
    },
  });
  return { elves: elves.sort(), sbom: hasSbom ? sbom : null };
}

/**
 * Checks that the SBOM (inside the tarball, else beside it) lists every ELF file of view/ in exactly one
 * component. Returns null when there is no SBOM at all (a tarball from before SBOMs): verify reports a skip.
 */
export async function checkSbomCoverage(tarball: string): Promise<string | null> {
  const { elves, sbom: inside } = await tarballElves(tarball);
  const beside = sidecarOf(tarball, 'sbom');
  const text = inside ?? (existsSync(beside) ? readFileSync(beside, 'utf8') : null);
  if (text === null) return null;
  let bom: any;
  try {
    bom = JSON.parse(text);
  } catch (e) {
    throw new VerifyError(`the SBOM of ${basename(tarball)} is not JSON (${(e as Error).message})`, {
      remediation: 'rebuild the package',
    });
  }
  const owners = new Map<string, string[]>();
  for (const c of bom.components ?? []) {
    for (const o of c.evidence?.occurrences ?? [])
      owners.set(o.location, [...(owners.get(o.location) ?? []), `${c.name}@${c.version}`]);
  }
  const missing = elves.filter((e) => !owners.has(e));
  const multiple = elves.filter((e) => (owners.get(e)?.length ?? 0) > 1);
  if (missing.length > 0 || multiple.length > 0) {
    const parts = [];
    if (missing.length)
      parts.push(`not in any component: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ' ...' : ''}`);
    if (multiple.length)
      parts.push(
        `in several components: ${multiple
          .slice(0, 10)
          .map((e) => `${e} (${owners.get(e)!.join(', ')})`)
          .join(', ')}`,
      );
    throw new VerifyError(
      `the SBOM of ${basename(tarball)} does not cover every ELF file exactly once: ${parts.join('; ')}`,
      {
        remediation: 'the tarball or its SBOM was altered: download both again from the same build',
      },
    );
  }
  return `${elves.length} ELF files, each in one of ${(bom.components ?? []).length} components`;
}

/** The supply-chain steps of `verify`, as result lines: provenance subject, its signature (with a key), SBOM. */
export async function verifySupplyChain(
  tarball: string,
  publicKeyArmored?: string,
): Promise<{ step: string; ok: boolean | null; detail: string }[]> {
  const lines: { step: string; ok: boolean | null; detail: string }[] = [];
  const prov = sidecarOf(tarball, 'provenance');
  if (existsSync(prov)) {
    lines.push({ step: 'provenance', ok: true, detail: await checkProvenanceSubject(tarball) });
    if (publicKeyArmored !== undefined) {
      const { verifyFile } = await import('./signing.ts');
      const r = await verifyFile(prov, sidecarOf(tarball, 'provenanceSignature'), publicKeyArmored);
      lines.push({ step: 'provenance signature', ok: true, detail: `good signature by ${r.fingerprint}` });
    }
  } else {
    lines.push({ step: 'provenance', ok: null, detail: `no ${basename(prov)} beside the tarball` });
  }
  const buildkit = sidecarOf(tarball, 'buildkitProvenance');
  if (existsSync(buildkit)) {
    lines.push({ step: 'buildkit provenance', ok: true, detail: await checkBuildkitProvenance(tarball) });
    if (publicKeyArmored !== undefined) {
      const { verifyFile } = await import('./signing.ts');
      const r = await verifyFile(buildkit, sidecarOf(tarball, 'buildkitProvenanceSignature'), publicKeyArmored);
      lines.push({ step: 'buildkit provenance signature', ok: true, detail: `good signature by ${r.fingerprint}` });
    }
  }
  const sbom = await checkSbomCoverage(tarball);
  lines.push(
    sbom === null
      ? {
          step: 'sbom',
          ok: null,
          detail: 'no sbom.cdx.json in the tarball nor .cdx.json beside it (made before slurm-factory wrote SBOMs)',
        }
      : { step: 'sbom', ok: true, detail: sbom },
  );
  return lines;
}

/** True when path exists and is a regular file. */
export const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

/** What a build was asked for, for externalParameters: the plan's identity, and a digest of the whole plan. */
export function planParameters(
  plan: {
    id: string;
    requestedSlurm: string;
    slurm: { release: string };
    gcc: unknown;
    flavour: string;
    os: { name: string };
    baseImage: string;
    specs: unknown;
    mirrors: unknown;
  },
  target = 'export',
): Record<string, unknown> {
  return {
    id: plan.id,
    requestedSlurm: plan.requestedSlurm,
    slurmRelease: plan.slurm.release,
    gcc: plan.gcc,
    flavour: plan.flavour,
    os: plan.os.name,
    baseImage: plan.baseImage,
    specs: plan.specs,
    mirrors: plan.mirrors,
    target,
    planSha256: sha256Text(JSON.stringify(plan)),
  };
}
