/**
 * Slurm releases upstream vs what we build: SchedMD tags releases `slurm-<major>-<minor>-<patch>-<n>` (the
 * same names Spack's `slurm` recipe uses as versions). Pure: tags and build records in, a currency report out;
 * the `outdated` task does the I/O (git ls-remote, the builds directory).
 */
import { SLURM_RELEASES, type SlurmRelease } from './catalog.ts';

export interface UpstreamRelease {
  /** `25.11` */
  series: string;
  /** `25.11.6` */
  release: string;
  /** The tag's last field: SchedMD's re-tag counter (`-1`, rarely `-2`). */
  tagRevision: number;
  /** `slurm-25-11-6-1` */
  tag: string;
}

const TAG_RE = /^slurm-(\d+)-(\d+)-(\d+)-(\d+)$/;

/** A release tag, or null for anything else (pre-releases such as `slurm-25-11-0-0rc1`, branches, other tags). */
export function parseSlurmTag(tag: string): UpstreamRelease | null {
  const m = TAG_RE.exec(tag.replace(/^refs\/tags\//, '').replace(/\^\{\}$/, ''));
  if (!m) return null;
  const [, major, minor, patch, rev] = m;
  return {
    series: `${Number(major)}.${minor!.padStart(2, '0')}`,
    release: `${Number(major)}.${minor!.padStart(2, '0')}.${Number(patch)}`,
    tagRevision: Number(rev),
    tag: `slurm-${major}-${minor}-${patch}-${rev}`,
  };
}

/** Compares dotted versions numerically: -1, 0 or 1. */
export function compareVersions(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** The newest release tag of each series found in `tags` (git ls-remote's ref names or plain tag names). */
export function newestBySeries(tags: readonly string[]): Map<string, UpstreamRelease> {
  const out = new Map<string, UpstreamRelease>();
  for (const t of tags) {
    const r = parseSlurmTag(t);
    if (!r) continue;
    const have = out.get(r.series);
    const cmp = have ? compareVersions(r.release, have.release) : 1;
    if (cmp > 0 || (cmp === 0 && r.tagRevision > have!.tagRevision)) out.set(r.series, r);
  }
  return out;
}

/** A tarball found in the builds directory, with the exact release its manifest records. */
export interface BuiltTarball {
  file: string;
  series: string;
  release: string;
}

export interface SeriesCurrency {
  series: string;
  /** The release the catalog builds. */
  catalog: string;
  /** Where its recipe comes from (the pinned builtin repository or the project's own). */
  recipe: SlurmRelease['recipe'];
  /** The newest upstream release of the series, or null when upstream has no tag of it. */
  upstream: UpstreamRelease | null;
  /** The catalog is behind upstream in this series. */
  catalogBehind: boolean;
  /** Tarballs of this series whose release is older than the newest upstream (or catalog) release. */
  buildsBehind: BuiltTarball[];
}

export interface CurrencyReport {
  series: SeriesCurrency[];
  /** Upstream series newer than every series in the catalog (a new major release to add). */
  newerSeries: UpstreamRelease[];
  /** True when some series has a newer patch release than the catalog builds, or a build is behind. */
  behind: boolean;
}

export function currencyReport(
  tags: readonly string[],
  builds: readonly BuiltTarball[],
  catalog: readonly SlurmRelease[] = SLURM_RELEASES,
): CurrencyReport {
  const newest = newestBySeries(tags);
  const series = catalog.map((c): SeriesCurrency => {
    const upstream = newest.get(c.series) ?? null;
    const target = upstream && compareVersions(upstream.release, c.release) > 0 ? upstream.release : c.release;
    return {
      series: c.series,
      catalog: c.release,
      recipe: c.recipe,
      upstream,
      catalogBehind: target !== c.release,
      buildsBehind: builds.filter((b) => b.series === c.series && compareVersions(b.release, target) < 0),
    };
  });
  const newestCatalog =
    catalog
      .map((c) => c.series)
      .sort(compareVersions)
      .at(-1) ?? '0';
  const newerSeries = [...newest.values()]
    .filter((r) => compareVersions(r.series, newestCatalog) > 0)
    .sort((a, b) => compareVersions(a.series, b.series));
  return { series, newerSeries, behind: series.some((s) => s.catalogBehind || s.buildsBehind.length > 0) };
}
