/**
 * Looks for a private OpenPGP key in a Docker image: its `docker history`, its image config, every blob of
 * `docker save` (layers, config, manifests) and every file inside each layer. What would betray the key: lines
 * of its armored body (an armored copy), the raw secret key material itself (a binary copy), and that material
 * in hex, as gpg-agent's private-keys-v1.d stores it (`(d #AD5A…#)`, long values folded over lines, so every
 * 16-digit window is searched, in both cases). The armor header 'BEGIN PGP PRIVATE KEY BLOCK' is not searched:
 * gpg's own binary contains that text.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface KeyScan {
  /** Where key material was found (empty when none). */
  found: string[];
  /** What was searched, so a test can tell a real scan from an empty one. */
  needles: number;
  secretNeedles: number;
  layers: number;
  history: string;
  config: string;
}

export async function scanImageForKey(image: string, privateKeyArmored: string, workDir: string): Promise<KeyScan> {
  const needles: (string | Buffer)[] = privateKeyArmored
    .split('\n')
    .filter((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l))
    .slice(0, 5);
  const openpgp = await import('openpgp');
  const key = await openpgp.readPrivateKey({ armoredKey: privateKeyArmored });
  const packets = [key.keyPacket, ...key.getSubkeys().map((s) => s.keyPacket)] as unknown as {
    privateParams?: Record<string, unknown>;
  }[];
  const secrets = packets
    .flatMap((p) => Object.values(p.privateParams ?? {}))
    .filter((v): v is Uint8Array => v instanceof Uint8Array && v.length >= 16)
    .map((v) => Buffer.from(v));
  needles.push(...secrets);
  const hexWindows = secrets.flatMap((b) => {
    const hex = b.toString('hex').toUpperCase();
    const windows: string[] = [];
    for (let i = 0; i + 16 <= hex.length; i += 16)
      windows.push(hex.slice(i, i + 16), hex.slice(i, i + 16).toLowerCase());
    return windows;
  });
  const describe = (n: string | Buffer) =>
    typeof n !== 'string'
      ? `${n.length} secret key bytes`
      : /^[0-9a-fA-F]{16}$/.test(n)
        ? `secret key material in hex (${n.slice(0, 6)}…)`
        : `armor line ${n.slice(0, 12)}…`;
  needles.push(...hexWindows);

  const found: string[] = [];
  const history = spawnSync('docker', ['history', '--no-trunc', image], { encoding: 'utf8' }).stdout;
  const config = spawnSync('docker', ['image', 'inspect', image], { encoding: 'utf8' }).stdout;
  for (const n of needles) {
    if (Buffer.from(history).includes(n)) found.push(`${describe(n)} in docker history`);
    if (Buffer.from(config).includes(n)) found.push(`${describe(n)} in the image config`);
  }
  const saved = join(workDir, 'image.tar');
  const layersDir = join(workDir, 'layers');
  mkdirSync(layersDir, { recursive: true });
  if (spawnSync('docker', ['save', '-o', saved, image]).status !== 0) throw new Error(`docker save ${image} failed`);
  if (spawnSync('tar', ['-xf', saved, '-C', layersDir]).status !== 0) throw new Error(`could not unpack ${saved}`);
  const blobs = spawnSync('find', [layersDir, '-type', 'f'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  let layers = 0;
  for (const blob of blobs) {
    const contents = [readFileSync(blob)];
    const inner = spawnSync('tar', ['-xOf', blob], { maxBuffer: 2 ** 31 });
    if (inner.status === 0) {
      layers++;
      contents.push(inner.stdout);
    }
    for (const c of contents) for (const n of needles) if (c.includes(n)) found.push(`${describe(n)} in ${blob}`);
  }
  return { found, needles: needles.length, secretNeedles: secrets.length, layers, history, config };
}
