/**
 * An unpacked Slurm tarball for slurm_install.sh tests (fake Slurm binaries: the installer only checks they
 * exist) and a scratch root holding one. Shared by assets.test.ts and install-hardening.test.ts.
 */
import { chmodSync, cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sampleInputs, writePackageDir } from './spack-tree.ts';

/** An unpacked tarball at <dir>: view/ (bin, sbin, lib/slurm), modules/ and data/slurm_assets/. */
export function unpacked(dir: string, series: '23.11' | '24.11' = '24.11') {
  for (const d of ['view/bin', 'view/sbin', 'view/lib/slurm']) mkdirSync(join(dir, d), { recursive: true });
  for (const f of ['bin/scontrol', 'sbin/slurmd', 'sbin/slurmctld', 'sbin/slurmstepd', 'sbin/slurmdbd']) {
    writeFileSync(join(dir, 'view', f), '#!/bin/sh\n');
    chmodSync(join(dir, 'view', f), 0o755);
  }
  const pkg = join(dir, '.pkg');
  writePackageDir(pkg, sampleInputs({ series }));
  cpSync(join(pkg, 'assets/modules'), join(dir, 'modules'), { recursive: true });
  cpSync(join(pkg, 'assets/data'), join(dir, 'data'), { recursive: true });
  rmSync(pkg, { recursive: true });
}

/** A scratch root with an unpacked tarball at <tree> (default /srv/site/slurm-24.11, a non-default prefix). */
export function scratchRoot(base: string, series: '23.11' | '24.11' = '24.11', tree = '/srv/site/slurm-24.11') {
  const root = join(base, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(
    join(root, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
  );
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  writeFileSync(join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n');
  unpacked(join(root, tree), series);
  return { root, prefix: `${tree}/view`, installer: join(root, tree, 'data/slurm_assets/slurm_install.sh') };
}
