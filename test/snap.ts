/**
 * What a hardening test compares before and after running something as root: a path's type, mode, owner,
 * size, mtime and content hash (a link: its target; a directory: its entries), read without following links.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';

export function snap(...paths: string[]): string {
  return paths
    .map((p) => {
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (!st) return `${p} absent`;
      const head = `${p} mode=${(st.mode & 0o7777).toString(8)} owner=${st.uid}:${st.gid} mtime=${st.mtimeMs}`;
      if (st.isSymbolicLink()) return `${head} -> ${readlinkSync(p)}`;
      if (st.isDirectory()) return `${head} dir [${readdirSync(p).sort().join(' ')}]`;
      if (st.isFile())
        return `${head} file size=${st.size} links=${st.nlink} sha256=${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
      return `${head} other`;
    })
    .join('\n');
}
