/**
 * Every file and directory name a build leaves behind, spelled once: the tarball, its side files, the build's
 * own Spack mirror and the compiler tarball of `build-compiler --tarball`. The plan builds the record
 * (`plan.artifacts`); templates and the package stage's shell get the names passed in (template context,
 * build-info.json) instead of spelling them again; the parsers below are the inverse (name -> fields).
 *
 *   slurm-25.11-gcc13.4.0[-gpu]                            build id: the mirror's directory under mirrors/
 *   slurm-25.11-gcc13.4.0[-gpu]-software.tar.gz            the tarball, under builds/
 *   <tarball>.sha256 .manifest.json .cdx.json .asc ...     side files beside it (SIDECAR_SUFFIXES)
 *   compilers/13.4.0/gcc-13.4.0-compiler.tar.gz[.sha256]   GCC as a Spack binary mirror in one tarball
 */

/** What a build name encodes. `gcc` is a version or `system` (never written by a plan, but accepted when read). */
export interface BuildKey {
  /** Slurm series (`25.11`) or an exact release (`25.11.6`). */
  slurm: string;
  gcc: string;
  gpu: boolean;
  /** Set only for a non-default architecture (`aarch64`): names carry `-aarch64`; x86_64 names carry nothing. */
  arch?: string;
}

/** Each side file of a tarball, named by what it is; its file name is always `<tarball><suffix>`. */
export const SIDECAR_SUFFIXES = {
  /** sha256sum format, naming the tarball (pack-tarball.sh). */
  sha256: '.sha256',
  /** Copy of the manifest.json inside the tarball. */
  manifest: '.manifest.json',
  /** Copy of the CycloneDX SBOM inside the tarball (sbom.cdx.json). */
  sbom: '.cdx.json',
  /** Detached OpenPGP signatures (`<file>.asc`, gpg's convention), each over the file it extends. */
  signature: '.asc',
  sha256Signature: '.sha256.asc',
  /** Written only by `sign` by hand; the package stage does not sign the manifest. */
  manifestSignature: '.manifest.json.asc',
  /** SLSA v1 provenance statement written on the host after the tarball lands (provenance.ts), and its signature. */
  provenance: '.provenance.json',
  provenanceSignature: '.provenance.json.asc',
  /** BuildKit's own SLSA provenance, where the builder supports attestations, and its signature (--sign-key). */
  buildkitProvenance: '.buildkit-provenance.json',
  buildkitProvenanceSignature: '.buildkit-provenance.json.asc',
} as const;
export type Sidecar = keyof typeof SIDECAR_SUFFIXES;

/** Which file each signature signs. */
type Signature =
  'signature' | 'sha256Signature' | 'manifestSignature' | 'provenanceSignature' | 'buildkitProvenanceSignature';
export const SIGNED_BY: Readonly<Record<Signature, Sidecar | 'tarball'>> = {
  signature: 'tarball',
  sha256Signature: 'sha256',
  manifestSignature: 'manifest',
  provenanceSignature: 'provenance',
  buildkitProvenanceSignature: 'buildkitProvenance',
};

/** What the package stage writes beside the tarball (package-view.sh), in the order it lists them. */
export const PACKAGE_SIDECARS = [
  'sha256',
  'manifest',
  'sbom',
  'signature',
  'sha256Signature',
] as const satisfies readonly Sidecar[];

/**
 * What a new build replaces in builds/ (moveArtifacts): each is taken from the export or, when the export lacks
 * it, removed as stale, so no side file of an earlier build survives beside the new tarball. BuildKit's
 * provenance is handled apart (its export name is `provenance.json`).
 */
export const BUILD_SIDECARS = [
  'sha256',
  'manifest',
  'signature',
  'sha256Signature',
  'manifestSignature',
  'sbom',
  'provenance',
  'provenanceSignature',
  'buildkitProvenanceSignature',
] as const satisfies readonly Sidecar[];

/** What `publish --tarballs` uploads beside a tarball, when present. */
export const PUBLISHED_SIDECARS = [
  'sha256',
  'manifest',
  'signature',
  'sha256Signature',
  'manifestSignature',
  'sbom',
  'provenance',
  'provenanceSignature',
  'buildkitProvenance',
  'buildkitProvenanceSignature',
] as const satisfies readonly Sidecar[];

/** The names of one build's artifacts (file names, no directories). */
export interface BuildArtifacts {
  /** `slurm-25.11-gcc13.4.0[-gpu]`: the build id, also the name of its Spack mirror under mirrors/. */
  id: string;
  mirrorDir: string;
  /** `slurm-25.11-gcc13.4.0[-gpu]-software.tar.gz`, under builds/. */
  tarball: string;
  sidecars: Readonly<Record<Sidecar, string>>;
}

/** GCC of `build-compiler --tarball`: a Spack binary mirror in one tarball, with its checksum. */
export interface CompilerArtifacts {
  gcc: string;
  /** `compilers/13.4.0`, relative to SLURM_FACTORY_HOME: the tarball, or the unpacked buildcache. */
  dir: string;
  /** `gcc-13.4.0-compiler.tar.gz` */
  tarball: string;
  /** `gcc-13.4.0-compiler.tar.gz.sha256` */
  sha256: string;
}

const SERIES = String.raw`\d+\.\d+(?:\.\d+)?`;
const GCC = String.raw`\d+(?:\.\d+)*|system`;
const ARCH = 'aarch64';
const ID_RE = new RegExp(`^slurm-(${SERIES})-gcc(${GCC})(-gpu)?(?:-(${ARCH}))?$`);
const TARBALL_SUFFIX = '-software.tar.gz';
const COMPILER_RE = /^gcc-(\d+(?:\.\d+)*)(?:-(aarch64))?-compiler\.tar\.gz$/;

function checkKey(k: BuildKey): void {
  if (!new RegExp(`^(?:${SERIES})$`).test(k.slurm) || !new RegExp(`^(?:${GCC})$`).test(k.gcc)) {
    // A bug, not user input: the plan only passes catalog versions.
    throw new Error(`artifact names: slurm '${k.slurm}' / gcc '${k.gcc}' is not a version`);
  }
  if (k.arch !== undefined && k.arch !== ARCH)
    throw new Error(`artifact names: arch '${k.arch}' is not ${ARCH} (x86_64 has no suffix)`);
}

/** `-aarch64` for aarch64, '' for the default architecture. */
export function archSuffix(arch: string | undefined): string {
  return arch && arch !== 'x86_64' ? `-${arch}` : '';
}

/** The build id, `slurm-<slurm>-gcc<gcc>[-gpu]`. */
export function buildId(k: BuildKey): string {
  checkKey(k);
  return `slurm-${k.slurm}-gcc${k.gcc}${k.gpu ? '-gpu' : ''}${archSuffix(k.arch)}`;
}

/** `<tarball><suffix>` of one side file. Works on a path as well as a name. */
export function sidecarOf(tarball: string, s: Sidecar): string {
  return tarball + SIDECAR_SUFFIXES[s];
}

export function buildArtifacts(k: BuildKey): BuildArtifacts {
  const id = buildId(k);
  const tarball = `${id}${TARBALL_SUFFIX}`;
  const sidecars = Object.fromEntries(
    (Object.keys(SIDECAR_SUFFIXES) as Sidecar[]).map((s) => [s, sidecarOf(tarball, s)]),
  ) as Record<Sidecar, string>;
  return { id, mirrorDir: id, tarball, sidecars };
}

export function compilerArtifacts(gcc: string, arch?: string): CompilerArtifacts {
  if (!/^\d+(?:\.\d+)*$/.test(gcc)) throw new Error(`artifact names: gcc '${gcc}' is not a version`);
  const a = archSuffix(arch);
  const tarball = `gcc-${gcc}${a}-compiler.tar.gz`;
  return { gcc, dir: `compilers/${gcc}${a}`, tarball, sha256: `${tarball}.sha256` };
}

// ------------------------------------------------------------------------------------------ name -> fields

/** Fields of a build id (a mirror directory's name); null when it is not one. */
export function parseBuildId(id: string): BuildKey | null {
  const m = ID_RE.exec(id);
  return m ? { slurm: m[1]!, gcc: m[2]!, gpu: m[3] !== undefined, ...(m[4] ? { arch: m[4] } : {}) } : null;
}

/** Fields of a tarball name (no directory); null when it is not one of ours. */
export function parseTarballName(name: string): BuildKey | null {
  return name.endsWith(TARBALL_SUFFIX) ? parseBuildId(name.slice(0, -TARBALL_SUFFIX.length)) : null;
}

/** A side file's name -> its tarball's fields and which side file it is; null for anything else. */
export function parseSidecarName(name: string): (BuildKey & { tarball: string; sidecar: Sidecar }) | null {
  // Longest suffix first: `.sha256.asc` before `.asc`.
  const bySuffix = (Object.entries(SIDECAR_SUFFIXES) as [Sidecar, string][]).sort((a, b) => b[1].length - a[1].length);
  for (const [sidecar, suffix] of bySuffix) {
    if (!name.endsWith(suffix)) continue;
    const tarball = name.slice(0, -suffix.length);
    const k = parseTarballName(tarball);
    if (k) return { ...k, tarball, sidecar };
  }
  return null;
}

/** Fields of a compiler tarball name; null when it is not one. */
export function parseCompilerTarballName(name: string): { gcc: string; arch?: string } | null {
  const m = COMPILER_RE.exec(name);
  return m ? { gcc: m[1]!, ...(m[2] ? { arch: m[2] } : {}) } : null;
}
