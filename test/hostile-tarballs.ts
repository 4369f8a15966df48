/**
 * Small package tarballs made with real GNU tar, one well-formed and many hostile, for `verify`'s checks on the
 * host. Every one has what verify reads before it starts a container (a manifest.json with a glibc floor and a
 * module, view/sbin/slurmctld, data/slurm_assets/slurm_install.sh), so without the host checks verify would hand
 * each of them to Docker.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const NAME = 'slurm-24.11-gcc12.2.0-software.tar.gz';

const MANIFEST = JSON.stringify(
  {
    schema: 1,
    slurm: { series: '24.11', release: '24.11.5' },
    gcc: { version: '12.2.0' },
    glibc: { floor: '2.17' },
    layout: { module: 'modules/slurm/24.11-gcc12.2.0.lua' },
  },
  null,
  2,
);

const sh = (script: string, cwd: string) =>
  execFileSync('bash', ['-euo', 'pipefail', '-c', script], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });

/**
 * A package tree in `dir/tree`: manifest.json, view/ (bin, sbin/slurmctld, lib with a file, an in-tree symlink
 * and an in-tree hardlink, as pack-tarball.sh keeps them) and an installer script (default: exits 0).
 */
export function packageTree(dir: string, installer = '#!/bin/bash\nexit 0\n'): string {
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'view', 'sbin'), { recursive: true });
  mkdirSync(join(tree, 'view', 'lib'), { recursive: true });
  mkdirSync(join(tree, 'data', 'slurm_assets'), { recursive: true });
  mkdirSync(join(tree, 'modules', 'slurm'), { recursive: true });
  writeFileSync(join(tree, 'manifest.json'), MANIFEST);
  writeFileSync(join(tree, 'view', 'sbin', 'slurmctld'), '#!/bin/sh\necho slurmctld stub\n', { mode: 0o755 });
  writeFileSync(join(tree, 'view', 'lib', 'libslurm.so.42'), 'not really a library\n');
  writeFileSync(join(tree, 'modules', 'slurm', '24.11-gcc12.2.0.lua'), '-- module\n');
  const inst = join(tree, 'data', 'slurm_assets', 'slurm_install.sh');
  writeFileSync(inst, installer);
  chmodSync(inst, 0o755);
  sh(
    'ln -s libslurm.so.42 view/lib/libslurm.so && ln -s ../lib view/sbin/lib && ln view/lib/libslurm.so.42 view/lib/libslurm-hard.so.42',
    tree,
  );
  return tree;
}

/** gzip'ed GNU tar of `tree` (members ./manifest.json, ./view/..., like pack-tarball.sh writes), extra tar flags first. */
export function packTree(tree: string, out: string, extra: string[] = [], members = ['.']): string {
  execFileSync('tar', ['--create', '--gzip', '--file', out, '--format=gnu', ...extra, '-C', tree, ...members], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return out;
}

export interface Hostile {
  name: string;
  /** Makes the tarball at `out` (a work directory `dir` is free to use). */
  make: (dir: string, out: string) => void;
  /** What verify must say (after "error: <tarball name>: "). */
  says: RegExp;
}

/** Every way a tarball must be refused on the host, each made with real GNU tar. */
export const HOSTILE: Hostile[] = [
  {
    name: "a member with '..' (tar -P --transform)",
    make: (dir, out) => {
      const tree = packageTree(dir);
      writeFileSync(join(tree, 'evil'), 'written beside the prefix\n');
      packTree(tree, out, ['--absolute-names', '--transform=s,^\\./evil$,../evil,'], ['.']);
    },
    says: /member '\.\.\/evil' has a '\.\.' component/,
  },
  {
    name: 'an absolute member (tar --absolute-names)',
    make: (dir, out) => {
      const tree = packageTree(dir);
      const abs = join(dir, 'outside.txt');
      writeFileSync(abs, 'an absolute path\n');
      packTree(tree, out, ['--absolute-names'], ['.', abs]);
    },
    says: /member '\/.*\/outside\.txt' has an absolute path/,
  },
  {
    name: 'a symlink to an absolute path (ln -s /etc/shadow)',
    make: (dir, out) => {
      const tree = packageTree(dir);
      sh('ln -s /etc/shadow view/shadow', tree);
      packTree(tree, out);
    },
    says: /member '\.\/view\/shadow' is a symlink to the absolute path '\/etc\/shadow'/,
  },
  {
    name: 'a symlink that climbs out of the tree',
    make: (dir, out) => {
      const tree = packageTree(dir);
      sh('ln -s ../../../../etc view/sbin/etc', tree);
      packTree(tree, out);
    },
    says: /member '\.\/view\/sbin\/etc' is a symlink to '\.\.\/\.\.\/\.\.\/\.\.\/etc', which resolves outside the tarball's tree/,
  },
  {
    name: 'a symlink that climbs out only through another symlink',
    make: (dir, out) => {
      const tree = packageTree(dir);
      // Lexically view/r/b/../../.. is the tree's root; really view/r is view, so it is the root's parent.
      sh('mkdir view/b && ln -s . view/r && ln -s r/b/../../.. view/s', tree);
      packTree(tree, out);
    },
    says: /member '\.\/view\/s' is a symlink to 'r\/b\/\.\.\/\.\.\/\.\.', which resolves outside/,
  },
  {
    name: 'a hardlink to a file outside the tree (ln, target rewritten by --transform)',
    make: (dir, out) => {
      const tree = packageTree(dir);
      sh('echo x > view/one && ln view/one view/two', tree);
      packTree(tree, out, ['--absolute-names', '--transform=s,^\\./view/one$,etc/shadow,RS']);
    },
    says: /member '\.\/view\/two' is a hardlink to 'etc\/shadow', which is not an earlier regular file of the tarball/,
  },
  {
    name: 'a fifo (mkfifo)',
    make: (dir, out) => {
      const tree = packageTree(dir);
      sh('mkfifo view/fifo', tree);
      packTree(tree, out);
    },
    says: /member '\.\/view\/fifo' is a FIFO/,
  },
  {
    name: 'a device (mknod)',
    make: (dir, out) => {
      const tree = packageTree(dir);
      sh('mknod view/null c 1 3', tree);
      packTree(tree, out);
    },
    says: /member '\.\/view\/null' is a CharacterDevice/,
  },
  {
    name: 'no view/',
    make: (dir, out) => {
      const tree = packageTree(dir);
      packTree(tree, out, [], ['manifest.json', 'data', 'modules']);
    },
    says: /no view\/ directory: not a slurm-factory package/,
  },
  {
    name: 'no manifest.json',
    make: (dir, out) => {
      const tree = packageTree(dir);
      packTree(tree, out, [], ['view', 'data']);
    },
    says: /no manifest\.json at the top of the tarball/,
  },
  {
    name: 'an uncompressed tar',
    make: (dir, out) => {
      const tree = packageTree(dir);
      execFileSync('tar', ['-cf', out, '-C', tree, '.']);
    },
    says: /not a gzip file \(its first bytes are [0-9a-f]{4}; gzip starts with 1f8b\)/,
  },
  {
    name: 'a truncated gzip',
    make: (dir, out) => {
      packTree(packageTree(dir), join(dir, 'whole.tgz'));
      sh(`head -c 300 whole.tgz > '${out}'`, dir);
    },
    says: /not a readable gzip'ed tar \(.*unexpected end of file\)/,
  },
  {
    name: 'gzip of something that is not a tar',
    make: (dir, out) => {
      writeFileSync(join(dir, 'text'), 'just text\n'.repeat(100));
      sh(`gzip -c text > '${out}'`, dir);
    },
    says: /not a readable gzip'ed tar \(TAR_/,
  },
];
