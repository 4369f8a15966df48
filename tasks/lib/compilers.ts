/**
 * Compiler buildcaches kept as build-compiler's tarball (compilers/<gcc>/gcc-<gcc>-compiler.tar.gz, a Spack
 * binary mirror packed in one file): unpacked into a scratch directory beside it when publish needs the
 * buildcache itself, checked against its .sha256 first, and removed again by the caller's cleanup.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { compilerArtifacts } from './artifacts.ts';
import { compilerBuildcacheDir, isBuildcache } from './publish.ts';

/** Where build-compiler --tarball writes the compiler buildcache of `gcc`. */
export function compilerTarball(home: string, gcc: string): string {
  const a = compilerArtifacts(gcc);
  return join(home, a.dir, a.tarball);
}

export interface UnpackedCompilers {
  /** GCC version -> unpacked buildcache directory. */
  dirs: Record<string, string>;
  /** Removes every scratch directory made (safe to call more than once). */
  cleanup(): void;
}

/**
 * For each GCC in `gccs` (not 'system', within `only` when that is not empty) that has no buildcache directory
 * but a compiler tarball, unpacks the tarball (after checking its .sha256 when there is one) into
 * compilers/<gcc>/.publish-<pid>/. On an error, what was unpacked is removed before it is thrown.
 */
export async function unpackCompilerTarballs(
  home: string,
  gccs: Iterable<string>,
  only: readonly string[] = [],
): Promise<UnpackedCompilers> {
  const made: string[] = [];
  const cleanup = () => {
    for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
  };
  const dirs: Record<string, string> = {};
  try {
    for (const g of new Set(gccs)) {
      if (g === 'system' || compilerBuildcacheDir(home, g)) continue;
      if (only.length > 0 && !only.includes(g)) continue;
      const tarball = compilerTarball(home, g);
      if (!existsSync(tarball)) continue;
      if (existsSync(join(home, compilerArtifacts(g).dir, compilerArtifacts(g).sha256))) {
        const { checkChecksum } = await import('./verify.ts');
        await checkChecksum(tarball, false);
      }
      const dir = join(home, compilerArtifacts(g).dir, `.publish-${process.pid}`);
      made.push(dir);
      mkdirSync(dir);
      const tar = await import('tar');
      await tar.x({ file: tarball, cwd: dir, strict: true });
      if (isBuildcache(dir)) dirs[g] = dir;
    }
  } catch (e) {
    cleanup();
    throw e;
  }
  return { dirs, cleanup };
}
