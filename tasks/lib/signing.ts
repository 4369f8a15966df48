/**
 * OpenPGP signing with openpgp.js: ASCII-armored detached signatures (`<file>.asc`) that `gpg --verify` accepts,
 * their verification, and project signing keys. openpgp is imported on first use so task files that import this
 * module stay light.
 *
 * Files are streamed (tarballs can be large); a signature is written to a temporary name beside the file and
 * renamed into place, so a failed or interrupted run never leaves a half-written `.asc`.
 */
import { createReadStream, existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { ConfigurationError, VerifyError } from './errors.ts';

type OpenPGP = typeof import('openpgp');
let loaded: Promise<OpenPGP> | undefined;
function openpgp(): Promise<OpenPGP> {
  loaded ??= import('openpgp');
  return loaded;
}

/** A file as the web stream openpgp reads. */
function fileStream(path: string): ReadableStream<Uint8Array> {
  return Readable.toWeb(createReadStream(path)) as unknown as ReadableStream<Uint8Array>;
}

async function drain(stream: unknown): Promise<void> {
  if (stream && typeof (stream as ReadableStream).getReader === 'function') {
    const reader = (stream as ReadableStream).getReader();
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
    }
  }
}

async function readAll(stream: unknown): Promise<string> {
  if (typeof stream === 'string') return stream;
  const reader = (stream as ReadableStream<string>).getReader();
  let out = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    out += value;
  }
  return out;
}

function requireFile(path: string, what: string): void {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st)
    throw new ConfigurationError(`${what} '${path}' does not exist`, {
      remediation: 'give the path of an existing file',
    });
  if (!st.isFile())
    throw new ConfigurationError(`${what} '${path}' is not a regular file`, {
      remediation: 'give the path of a file, not a directory',
    });
}

/** Reads and unlocks an armored private key; errors say what is wrong with it without echoing key material. */
export async function loadPrivateKey(privateKeyArmored: string, passphrase?: string, label = 'the signing key') {
  const pgp = await openpgp();
  let key;
  try {
    key = await pgp.readPrivateKey({ armoredKey: privateKeyArmored });
  } catch {
    throw new ConfigurationError(`${label} is not an ASCII-armored OpenPGP private key`, {
      remediation:
        "export one with 'gpg --armor --export-secret-keys KEYID' or create one with 'npx zx Taskfile.ts keygen'",
    });
  }
  if (key.isDecrypted()) return key;
  if (passphrase === undefined) {
    throw new ConfigurationError(`${label} is protected by a passphrase and none was given`, {
      remediation: 'put the passphrase in an environment variable and pass --passphrase-env VAR',
    });
  }
  try {
    return await pgp.decryptKey({ privateKey: key, passphrase });
  } catch {
    throw new ConfigurationError(`the passphrase does not unlock ${label}`, {
      remediation: 'check the passphrase variable',
    });
  }
}

/**
 * Writes `<path>.asc`, an ASCII-armored detached signature of `path`, and returns its path.
 * `privateKey` may be armored text or a key already returned by `loadPrivateKey` (to sign many files).
 */
export async function signFile(
  path: string,
  privateKey: string | Awaited<ReturnType<typeof loadPrivateKey>>,
  passphrase?: string,
): Promise<string> {
  requireFile(path, 'file to sign');
  const pgp = await openpgp();
  const signingKey = typeof privateKey === 'string' ? await loadPrivateKey(privateKey, passphrase) : privateKey;
  const message = await pgp.createMessage({ binary: fileStream(path) });
  const signature = await pgp.sign({ message, signingKeys: signingKey, detached: true, format: 'armored' });
  const armored = await readAll(signature);
  const target = `${path}.asc`;
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    // 'wx': a new file, never written through a link at that name.
    writeFileSync(tmp, armored, { mode: 0o644, flag: 'wx' });
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return target;
}

/**
 * Verifies the detached signature `sigPath` over `path` with the key(s) in `publicKeyArmored` (armored public
 * or private keys; several may be concatenated). Returns the fingerprint of the primary key that made the
 * signature; throws VerifyError naming the file when the signature is bad, is by another key, or is unreadable.
 */
export async function verifyFile(
  path: string,
  sigPath: string,
  publicKeyArmored: string,
): Promise<{ ok: true; fingerprint: string }> {
  const pgp = await openpgp();
  if (!existsSync(path))
    throw new VerifyError(`${path} does not exist`, { remediation: 'give the path of the signed file' });
  if (!existsSync(sigPath)) {
    throw new VerifyError(`${basename(sigPath)} is missing beside ${path}`, {
      remediation: 'download the .asc signature that came with the file',
    });
  }
  let keys;
  try {
    keys = await pgp.readKeys({ armoredKeys: publicKeyArmored });
  } catch {
    throw new VerifyError('the verification key is not an ASCII-armored OpenPGP public key', {
      remediation: "export one with 'gpg --armor --export KEYID'",
    });
  }
  let signature;
  try {
    signature = await pgp.readSignature({ armoredSignature: readFileSync(sigPath, 'utf8') });
  } catch {
    throw new VerifyError(`${basename(sigPath)} is not an ASCII-armored OpenPGP signature`, {
      remediation: 'download the .asc again; it may be truncated',
    });
  }
  const message = await pgp.createMessage({ binary: fileStream(path) });
  const result = await pgp.verify({ message, signature, verificationKeys: keys, format: 'binary' });
  await drain(result.data);
  const first = result.signatures[0];
  if (!first)
    throw new VerifyError(`${basename(sigPath)} holds no signature`, { remediation: 'download the .asc again' });
  const signer = keys.find((k) => k.getKeyIDs().some((id) => id.equals(first.keyID)));
  if (!signer) {
    throw new VerifyError(
      `${basename(path)} was signed by key ${first.keyID.toHex().toUpperCase()}, which is not the given key`,
      {
        remediation: 'verify with the public key of whoever signed it (the project key), or re-sign the file',
        context: { given: keys.map((k) => k.getFingerprint().toUpperCase()) },
      },
    );
  }
  try {
    await first.verified;
  } catch (err) {
    throw new VerifyError(`bad signature on ${basename(path)} (${basename(sigPath)} does not match its contents)`, {
      remediation: 'the file or its signature was changed or truncated: download both again',
      context: { reason: (err as Error).message },
    });
  }
  return { ok: true, fingerprint: signer.getFingerprint().toUpperCase() };
}

export interface GeneratedKey {
  privateKey: string;
  publicKey: string;
  revocationCertificate: string;
  /** Primary key fingerprint, upper-case hex. */
  fingerprint: string;
}

/**
 * A signing key pair. Default: Ed25519 (v4 key, readable by GnuPG 2.2+ and Spack's gpg); `rsa` gives RSA-4096 for
 * older tools. `expiresInDays` 0 means no expiry.
 */
export async function generateKey(opts: {
  name: string;
  email?: string;
  passphrase?: string;
  type?: 'ed25519' | 'rsa';
  expiresInDays?: number;
}): Promise<GeneratedKey> {
  const pgp = await openpgp();
  const userID = opts.email ? { name: opts.name, email: opts.email } : { name: opts.name };
  const common = {
    userIDs: [userID],
    ...(opts.passphrase ? { passphrase: opts.passphrase } : {}),
    keyExpirationTime: Math.max(0, Math.round((opts.expiresInDays ?? 0) * 86400)),
    format: 'armored' as const,
  };
  const pair =
    opts.type === 'rsa'
      ? await pgp.generateKey({ ...common, type: 'rsa', rsaBits: 4096 })
      : await pgp.generateKey({ ...common, type: 'ecc', curve: 'curve25519Legacy' });
  const key = await pgp.readKey({ armoredKey: pair.publicKey });
  return {
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    revocationCertificate: pair.revocationCertificate,
    fingerprint: key.getFingerprint().toUpperCase(),
  };
}

/** The armored public key of an armored private key (for publishing beside signatures). */
export async function publicKeyOf(privateKeyArmored: string): Promise<{ publicKey: string; fingerprint: string }> {
  const pgp = await openpgp();
  const key = await pgp.readPrivateKey({ armoredKey: privateKeyArmored }).catch(() => {
    throw new ConfigurationError('the signing key is not an ASCII-armored OpenPGP private key', {
      remediation: "export one with 'gpg --armor --export-secret-keys KEYID'",
    });
  });
  return { publicKey: key.toPublic().armor(), fingerprint: key.getFingerprint().toUpperCase() };
}
