import { defineTask } from './lib/task.ts';
import { ConfigurationError, VerifyError } from './lib/errors.ts';
import { sidecarOf } from './lib/artifacts.ts';
import { readKeyFile } from './lib/keys.ts';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

export const task = defineTask({
  name: 'verify',
  summary: 'Prove a tarball runs: checksum, signature, glibc floor, then a live one-node Slurm per image',
  usage:
    'verify <tarball> [--key PUBKEY.asc] [--image IMAGE ...] [--arch A] [--prefix DIR] [--full [--db-host HOST]] [--keep] [--no-checksum]',
  example:
    'npx zx Taskfile.ts verify ~/.slurm-factory/builds/slurm-25.11-gcc13.4.0-software.tar.gz --image rockylinux:9',
  positionals: [
    { name: 'tarball', help: 'a slurm-...-software.tar.gz with its .sha256 (and .asc, .provenance.json) beside it' },
  ],
  options: {
    key: {
      type: 'string',
      arg: 'FILE',
      help: [
        'ASCII-armored public key: the .asc beside the tarball (and .provenance.json.asc) must be',
        "valid signatures by it. The provenance's subject must be the tarball's sha256, and the",
        'SBOM must list every ELF file of view/ in exactly one component.',
      ],
    },
    image: {
      type: 'list',
      arg: 'IMAGE',
      help: [
        'run the cluster check in this image (repeatable; default: every catalog distro whose',
        "glibc is at least the package's floor)",
      ],
    },
    arch: {
      type: 'string',
      arg: 'A',
      help: [
        'x86_64 or aarch64 (arm64): run the images for this platform (default: the architecture',
        "in the package's manifest; a different one is refused). A foreign architecture runs under",
        'emulation (scripts/setup-arm64.sh registers qemu for arm64 on an x86_64 host)',
      ],
    },
    prefix: { type: 'string', arg: 'DIR', help: 'where to unpack inside each container (default /shared/apps/slurm)' },
    full: {
      type: 'boolean',
      help: [
        "also run every other daemon: slurmdbd on the distro's MariaDB (installed in the",
        'container; sacct shows the job) and slurmrestd with JWT (ping, diag, a job over REST,',
        'no token and a forged token refused); then a controller and two configless compute',
        'containers on a private network (srun -N2; a killed node comes back to IDLE)',
      ],
    },
    'db-host': {
      type: 'string',
      arg: 'HOST',
      help: [
        "with --full: use the accounting database at HOST (set up with the package's",
        'slurm_acct_db.sql) instead of installing MariaDB in the container',
      ],
    },
    keep: { type: 'boolean', help: 'keep the containers (and print how to enter them)' },
    'no-checksum': { type: 'boolean', help: 'continue when the .sha256 is missing (a mismatch still fails)' },
  },
  async run({ opts, pos }) {
    const { findArch, archNameList } = await import('./lib/catalog.ts');
    // A bad --arch is refused before any file is read (whether it matches the package is checked later).
    if (opts.arch !== undefined && !findArch(opts.arch)) {
      throw new ConfigurationError(`--arch '${opts.arch}' is not a known architecture`, {
        remediation: `use one of ${archNameList().join(', ')}`,
      });
    }
    const tarball = resolve(pos.tarball);
    if (!existsSync(tarball) || !statSync(tarball).isFile()) {
      throw new ConfigurationError(`tarball '${pos.tarball}' does not exist`, {
        remediation: 'give the path of a slurm-...-software.tar.gz',
      });
    }
    const key = opts.key;
    const keyText = key === undefined ? undefined : readKeyFile(key, '--key', 'public');
    const prefix = opts.prefix ?? '/shared/apps/slurm';
    if (!prefix.startsWith('/') || /\s/.test(prefix) || prefix === '/') {
      throw new ConfigurationError(`--prefix '${prefix}' is not an absolute directory without spaces`, {
        remediation: 'e.g. --prefix /shared/apps/slurm',
      });
    }
    const full = opts.full;
    const dbHost = opts['db-host'];
    if (dbHost !== undefined && (!full || !/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(dbHost))) {
      throw new ConfigurationError(`--db-host '${dbHost}' needs --full and a plain host name or address`, {
        remediation: 'e.g. --full --db-host db.example.org',
      });
    }
    const { checkChecksum, inspectTarball, resultTable, supportedTargets } = await import('./lib/verify.ts');
    const lines: { step: string; ok: boolean | null; detail: string }[] = [];

    // 1. checksum and signature: fail fast, naming the file.
    const sum = await checkChecksum(tarball, opts['no-checksum']);
    lines.push({ step: 'checksum', ok: sum.status === 'ok' ? true : null, detail: sum.detail });
    const sig = sidecarOf(tarball, 'signature');
    if (key !== undefined || existsSync(sig)) {
      if (!existsSync(sig)) {
        throw new VerifyError(`${basename(sig)} is missing beside the tarball, but --key was given`, {
          remediation: 'copy the .asc that came with the tarball next to it',
        });
      }
      if (key === undefined) {
        lines.push({
          step: 'signature',
          ok: null,
          detail: `${basename(sig)} present; pass --key PUBKEY.asc to check it`,
        });
      } else {
        const { verifyFile } = await import('./lib/signing.ts');
        const r = await verifyFile(tarball, sig, keyText!);
        lines.push({ step: 'signature', ok: true, detail: `good signature by ${r.fingerprint}` });
      }
    }

    // 2. its member list, on the host: anything that could unpack outside its prefix (or is no package) is
    // refused before a container starts; then what the package says about itself.
    const { manifest } = await inspectTarball(tarball);
    const floor: string = manifest?.glibc?.floor;
    const moduleName: string | undefined = manifest?.layout?.module?.replace(/^modules\//, '').replace(/\.lua$/, '');
    if (!floor || !moduleName) {
      throw new VerifyError(`${basename(tarball)} has no usable manifest.json (glibc floor, module)`, {
        remediation: 'verify a tarball made by slurm-factory',
      });
    }
    // Supply chain: provenance subject and signature, SBOM coverage of every ELF file (tasks/lib/provenance.ts).
    const { verifySupplyChain } = await import('./lib/provenance.ts');
    lines.push(...(await verifySupplyChain(tarball, keyText)));
    // The architecture the package is built for (manifests before the arch axis are x86_64): its images run
    // with that --platform, and each container must report it (uname -m), natively or under emulation.
    const builtFor = findArch(typeof manifest.arch === 'string' ? manifest.arch : 'x86_64');
    const arch = opts.arch !== undefined ? findArch(opts.arch) : builtFor;
    if (!arch || !builtFor) {
      throw new ConfigurationError(`--arch '${opts.arch ?? manifest.arch}' is not a known architecture`, {
        remediation: `use one of ${archNameList().join(', ')}`,
      });
    }
    if (arch.name !== builtFor.name) {
      throw new ConfigurationError(
        `--arch ${arch.name} does not match the package, which is built for ${builtFor.name}`,
        { remediation: `leave --arch out, or give --arch ${builtFor.name}` },
      );
    }
    const platform = arch.platform;
    console.log(
      `${basename(tarball)}: Slurm ${manifest.slurm?.release}, GCC ${manifest.gcc?.version}, ${arch.name} (${platform}), glibc floor ${floor}`,
    );
    for (const l of lines) console.log(`  ${l.ok === null ? 'skip' : 'ok  '}  ${l.step}: ${l.detail}`);

    const images = opts.image.length > 0 ? opts.image : supportedTargets(floor).map((o) => o.image);
    const { requireDocker } = await import('./lib/docker.ts');
    await requireDocker();
    const { resolveConfig, ensureCacheDir } = await import('./lib/config.ts');
    const logsRoot = ensureCacheDir(resolveConfig(), 'logs');
    const script = join(import.meta.dirname, '..', 'scripts', 'verify', 'node-check.sh');

    const rows: { image: string; steps: { step: string; ok: boolean | null; detail: string }[] }[] = [];
    const kept: string[] = [];
    // Container and network names carry a random part as well as the pid: a verify killed with its machine (a CI
    // run stopped mid-way) leaves its containers behind, and a later process may get the same pid.
    const run = `sf-verify-${process.pid}-${randomBytes(3).toString('hex')}`;
    for (const image of images) {
      const steps: { step: string; ok: boolean | null; detail: string }[] = [];
      rows.push({ image, steps });
      const name = `${run}-${rows.length}`;
      const { verifyImage } = await import('./lib/verify-image.ts');
      const r = await verifyImage({
        image,
        platform,
        arch: arch.name,
        floor,
        tarball,
        script,
        prefix,
        moduleName,
        dbHost,
        full,
        logsRoot,
        name,
        keep: opts.keep,
      });
      steps.push(...r.steps);
      if (r.container) kept.push(r.container);
      // --full: several nodes (tasks/lib/verify-cluster.ts), once the one-node check passed on this image.
      if (full && !steps.some((s) => s.ok === false)) {
        const { clusterCheck, clusterCleanup } = await import('./lib/verify-cluster.ts');
        const t0 = Date.now();
        const cluster = clusterCheck({
          image,
          tarball,
          prefix,
          script: join(import.meta.dirname, '..', 'scripts', 'verify', 'cluster-node.sh'),
          tag: `${name}-cluster`,
        });
        console.log(`  ${image}: several-node check ${Math.round((Date.now() - t0) / 1000)} s`);
        rows.push({ image: `${image} (controller + 2 configless compute containers)`, steps: cluster.steps });
        if (opts.keep) kept.push(...cluster.containers);
        else clusterCleanup(cluster);
      }
    }
    console.log(resultTable(rows));
    for (const k of kept)
      console.log(`kept container ${k}: docker exec -it ${k} bash   (remove with: docker rm -f ${k})`);
    const failed = rows.filter((r) => r.steps.some((s) => s.ok === false)).length;
    console.log(
      `${rows.length - failed} of ${rows.length} ${full ? 'checks (one-node per image, then three nodes)' : 'images'} passed`,
    );
    return failed > 0 ? 1 : 0;
  },
});
