import { defineTask } from './lib/task.ts';
import {
  DEFAULT_GCC,
  DEFAULT_SLURM,
  GCC_TOOLCHAINS,
  OS_TARGETS,
  OVERLAY_REPO,
  SLURM_OVERLAY_VARIANTS,
  SLURM_RELEASES,
  SPACK,
  SYSTEM_GCC_DEFAULT_OS,
  findOs,
} from './lib/catalog.ts';

export function catalogJson() {
  return {
    slurm: SLURM_RELEASES.map((r) => ({ ...r, default: r.series === DEFAULT_SLURM })),
    gcc: GCC_TOOLCHAINS.map((g) => {
      const os = findOs(g.defaultOs)!;
      return {
        ...g,
        default: g.version === DEFAULT_GCC,
        baseImage: os.image,
        glibc: os.glibc,
        buildsCompiler: os.systemGcc !== g.version,
      };
    }),
    systemGcc: { defaultOs: SYSTEM_GCC_DEFAULT_OS },
    os: OS_TARGETS,
    spack: SPACK,
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export const task = defineTask({
  name: 'list',
  summary: 'Print the catalog: Slurm releases, GCC toolchains, target distros, Spack pins',
  usage: 'list [--json]',
  example: 'npx zx Taskfile.ts list',
  positionals: [],
  options: { json: { type: 'boolean', help: 'the same catalog as JSON' } },
  async run({ opts }) {
    const c = catalogJson();
    if (opts.json) {
      console.log(JSON.stringify(c, null, 2));
      return 0;
    }
    console.log(
      'Slurm releases\n' +
        table([
          ['series', 'release built', 'spack version', 'recipe', ''],
          ...c.slurm.map((r) => [
            r.series,
            r.release,
            `slurm@${r.spackVersion}`,
            r.recipe === 'overlay' ? `${OVERLAY_REPO.namespace} (overlay)` : 'builtin',
            r.default ? '(default)' : '',
          ]),
        ]) +
        `\nrecipe ${OVERLAY_REPO.namespace}: spack/repos, the builtin recipe plus ${SLURM_OVERLAY_VARIANTS.join(' ')}, ` +
        'accounting against mariadb-c-client, glib only for sview',
    );
    console.log(
      "\nGCC toolchains (the base image's glibc is the oldest glibc the package runs on)\n" +
        table([
          ['gcc', 'default os', 'base image', 'glibc floor', 'compiler', ''],
          ...c.gcc.map((g) => [
            g.version,
            g.defaultOs,
            g.baseImage,
            g.glibc,
            g.buildsCompiler ? 'built by Spack' : 'system',
            g.default ? '(default)' : '',
          ]),
          [
            'system',
            SYSTEM_GCC_DEFAULT_OS,
            findOs(SYSTEM_GCC_DEFAULT_OS)!.image,
            findOs(SYSTEM_GCC_DEFAULT_OS)!.glibc,
            'system',
            '',
          ],
        ]),
    );
    console.log(
      '\nTarget distros (--os)\n' +
        table([
          ['os', 'image', 'family', 'glibc', 'system gcc'],
          ...c.os.map((o) => [o.name, o.image, o.family, o.glibc, o.systemGcc]),
        ]),
    );
    console.log(
      `\nSpack ${SPACK.tag}${SPACK.commit ? ` (${SPACK.commit})` : ''}; builtin packages ${SPACK.packages.gitUrl} @ ${SPACK.packages.commit} (API ${SPACK.packages.apiVersion})`,
    );
    return 0;
  },
});
