import type { Task } from './lib/task.ts';
import { parseArgs } from './lib/args.ts';
import { ConfigurationError, VerifyError } from './lib/errors.ts';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

export const task: Task = {
  name: 'verify',
  summary: 'Prove a tarball runs: checksum, signature, glibc floor, then a live one-node Slurm per image',
  usage: 'verify <tarball> [--key PUBKEY.asc] [--image IMAGE ...] [--prefix DIR] [--full [--db-host HOST]] [--keep] [--no-checksum]',
  example: 'npx zx Taskfile.ts verify ~/.slurm-factory/builds/slurm-25.11-gcc13.4.0-software.tar.gz --image rockylinux:9',
  details: `  <tarball>          a slurm-...-software.tar.gz with its .sha256 (and .asc) beside it
  --key FILE         ASCII-armored public key: the .asc beside the tarball must be a valid signature by it
  --image IMAGE      run the cluster check in this image (repeatable; default: every catalog distro whose
                     glibc is at least the package's floor)
  --prefix DIR       where to unpack inside each container (default /shared/apps/slurm)
  --full             also run every other daemon: slurmdbd on the distro's MariaDB (installed in the
                     container; sacct shows the job) and slurmrestd with JWT (ping, diag, a job over REST,
                     no token and a forged token refused)
  --db-host HOST     with --full: use the accounting database at HOST (set up with the package's
                     slurm_acct_db.sql) instead of installing MariaDB in the container
  --keep             keep the containers (and print how to enter them)
  --no-checksum      continue when the .sha256 is missing (a mismatch still fails)`,
  async run(argv) {
    const args = parseArgs('verify', argv, {
      string: ['key', 'prefix', 'db-host'], list: ['image'], boolean: ['keep', 'no-checksum', 'full'], positionals: ['tarball'],
    });
    const tarball = resolve(args.positionals.tarball!);
    if (!existsSync(tarball) || !statSync(tarball).isFile()) {
      throw new ConfigurationError(`tarball '${args.positionals.tarball}' does not exist`, { remediation: 'give the path of a slurm-...-software.tar.gz' });
    }
    const key = args.strings.key;
    if (key !== undefined && !existsSync(key)) {
      throw new ConfigurationError(`--key '${key}' does not exist`, { remediation: 'give the ASCII-armored public key the tarball was signed with' });
    }
    const prefix = args.strings.prefix ?? '/shared/apps/slurm';
    if (!prefix.startsWith('/') || /\s/.test(prefix) || prefix === '/') {
      throw new ConfigurationError(`--prefix '${prefix}' is not an absolute directory without spaces`, { remediation: 'e.g. --prefix /shared/apps/slurm' });
    }
    const full = args.flags.full ?? false;
    const dbHost = args.strings['db-host'];
    if (dbHost !== undefined && (!full || !/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(dbHost))) {
      throw new ConfigurationError(`--db-host '${dbHost}' needs --full and a plain host name or address`, { remediation: 'e.g. --full --db-host db.example.org' });
    }
    const { checkChecksum, compareVersions, parseGlibcVersion, resultTable, supportedTargets } = await import('./lib/verify.ts');
    const lines: { step: string; ok: boolean | null; detail: string }[] = [];

    // 1. checksum and signature: fail fast, naming the file.
    const sum = await checkChecksum(tarball, args.flags['no-checksum'] ?? false);
    lines.push({ step: 'checksum', ok: sum.status === 'ok' ? true : null, detail: sum.detail });
    const sig = `${tarball}.asc`;
    if (key !== undefined || existsSync(sig)) {
      if (!existsSync(sig)) {
        throw new VerifyError(`${basename(sig)} is missing beside the tarball, but --key was given`, { remediation: 'copy the .asc that came with the tarball next to it' });
      }
      if (key === undefined) {
        lines.push({ step: 'signature', ok: null, detail: `${basename(sig)} present; pass --key PUBKEY.asc to check it` });
      } else {
        const { verifyFile } = await import('./lib/signing.ts');
        const r = await verifyFile(tarball, sig, readFileSync(key, 'utf8'));
        lines.push({ step: 'signature', ok: true, detail: `good signature by ${r.fingerprint}` });
      }
    }

    // 2. what the package says about itself
    const manifest = await readManifest(tarball);
    const floor: string = manifest?.glibc?.floor;
    const moduleName: string | undefined = manifest?.layout?.module?.replace(/^modules\//, '').replace(/\.lua$/, '');
    if (!floor || !moduleName) {
      throw new VerifyError(`${basename(tarball)} has no usable manifest.json (glibc floor, module)`, { remediation: 'verify a tarball made by slurm-factory' });
    }
    console.log(`${basename(tarball)}: Slurm ${manifest.slurm?.release}, GCC ${manifest.gcc?.version}, glibc floor ${floor}`);
    for (const l of lines) console.log(`  ${l.ok === null ? 'skip' : 'ok  '}  ${l.step}: ${l.detail}`);

    const images = args.lists.image!.length > 0 ? args.lists.image! : supportedTargets(floor).map((o) => o.image);
    const { requireDocker } = await import('./lib/docker.ts');
    await requireDocker();
    const { $ } = await import('zx');
    const q = $({ quiet: true, nothrow: true });
    const { resolveConfig, cacheDir } = await import('./lib/config.ts');
    const logsRoot = cacheDir(resolveConfig(), 'logs');
    const script = join(import.meta.dirname, '..', 'scripts', 'verify', 'node-check.sh');

    const rows: { image: string; steps: { step: string; ok: boolean | null; detail: string }[] }[] = [];
    const kept: string[] = [];
    for (const image of images) {
      const steps: { step: string; ok: boolean | null; detail: string }[] = [];
      rows.push({ image, steps });
      const g = await q`docker run --rm --entrypoint getconf ${image} GNU_LIBC_VERSION`;
      const glibc = g.exitCode === 0 ? parseGlibcVersion(g.stdout) : null;
      if (!glibc) {
        steps.push({ step: 'glibc', ok: false, detail: `cannot run ${image}: ${(g.stderr || g.stdout).trim().split('\n').pop()}` });
        continue;
      }
      if (compareVersions(glibc, floor) < 0) {
        steps.push({ step: 'glibc', ok: false, detail: `${image} has glibc ${glibc}, older than the package's floor ${floor}: build with an older base image (--os)` });
        continue;
      }
      steps.push({ step: 'glibc', ok: true, detail: `${image} has glibc ${glibc} >= floor ${floor}` });
      const name = `sf-verify-${process.pid}-${rows.length}`;
      const started = await q`docker run -d --name ${name} --hostname slurm-verify --entrypoint sleep -v ${tarball}:/tmp/package.tar.gz:ro -v ${script}:/usr/local/bin/node-check.sh:ro ${image} infinity`;
      if (started.exitCode !== 0) {
        steps.push({ step: 'container', ok: false, detail: started.stderr.trim().split('\n').pop() ?? '' });
        continue;
      }
      try {
        const envArgs = dbHost ? ['-e', `NODE_CHECK_DB_HOST=${dbHost}`] : [];
        const r = await q`docker exec ${envArgs} ${name} bash /usr/local/bin/node-check.sh /tmp/package.tar.gz ${prefix} ${moduleName} ${full ? 'full' : ''}`;
        for (const line of r.stdout.split('\n')) {
          const m = /^STEP (\S+) (ok|FAIL) ?(.*)$/.exec(line);
          if (m) steps.push({ step: m[1]!, ok: m[2] === 'ok', detail: m[3]! });
        }
        if (r.exitCode !== 0 && !steps.some((s) => s.ok === false)) {
          steps.push({ step: 'node-check', ok: false, detail: `exited ${r.exitCode}: ${(r.stderr || r.stdout).trim().split('\n').pop()}` });
        }
        if (steps.some((s) => s.ok === false)) {
          const dir = join(logsRoot, `verify-${basename(tarball, '.tar.gz')}-${image.replace(/[^A-Za-z0-9.]+/g, '-')}-${Date.now()}`);
          mkdirSync(dir, { recursive: true });
          await q`docker cp ${name}:/var/log/slurm ${join(dir, 'slurm')}`;
          // The configuration, but never its keys (slurm.key, jwt_hs256.key) or the accounting SQL.
          mkdirSync(join(dir, 'etc-slurm'));
          const confs = await q`docker exec ${name} bash -c ${'cd /etc/slurm && ls *.conf'}`;
          for (const c of confs.stdout.split('\n').filter((x) => /^[\w.-]+\.conf$/.test(x))) {
            await q`docker cp ${`${name}:/etc/slurm/${c}`} ${join(dir, 'etc-slurm', c)}`;
          }
          steps.push({ step: 'logs', ok: null, detail: `daemon logs and config kept in ${dir}` });
        }
      } finally {
        if (args.flags.keep) kept.push(name);
        else await q`docker rm -f ${name}`;
      }
    }
    console.log(resultTable(rows));
    for (const k of kept) console.log(`kept container ${k}: docker exec -it ${k} bash   (remove with: docker rm -f ${k})`);
    const failed = rows.filter((r) => r.steps.some((s) => s.ok === false)).length;
    console.log(`${rows.length - failed} of ${rows.length} images passed`);
    return failed > 0 ? 1 : 0;
  },
};

/** manifest.json from inside the tarball (read with node-tar, nothing extracted to disk). */
async function readManifest(tarball: string): Promise<any> {
  const tar = await import('tar');
  let text = '';
  await tar.t({
    file: tarball,
    filter: (p) => p.replace(/^\.\//, '') === 'manifest.json',
    onReadEntry: (entry) => { entry.on('data', (d: Buffer) => { text += d.toString(); }); },
  });
  try { return JSON.parse(text); } catch { return null; }
}
