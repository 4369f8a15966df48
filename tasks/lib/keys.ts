/**
 * Reading the OpenPGP key files a user gives (`sign --key`, `build --sign-key`, `verify --key`,
 * `publish --public-key`) and the passphrase variable: one place, so every task names a bad key file the same
 * way (one line: the option, the path, what is wrong, how to get a good one). openpgp is imported on first use.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigurationError } from './errors.ts';

export type KeyKind = 'private' | 'public';

const ARMOR: Record<KeyKind, string> = {
  private: '-----BEGIN PGP PRIVATE KEY BLOCK-----',
  public: '-----BEGIN PGP PUBLIC KEY BLOCK-----',
};

const GET_ONE: Record<KeyKind, string> = {
  private: "give an ASCII-armored private key file (create one with 'npx zx Taskfile.ts keygen')",
  public: 'give the ASCII-armored public key file (keygen writes signing.public.asc)',
};

const EXPORT_ONE: Record<KeyKind, string> = {
  private: "export one with 'gpg --armor --export-secret-keys KEYID' or create one with 'npx zx Taskfile.ts keygen'",
  public: "export it with 'gpg --armor --export FPR' (never publish the private key)",
};

/**
 * The text of an ASCII-armored OpenPGP key file given with `flag`: it must exist, be a regular file, be
 * readable and hold the armor of a `kind` key. Every error names the option and the path.
 */
export function readKeyFile(path: string, flag: string, kind: KeyKind): string {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw new ConfigurationError(`${flag} '${path}' does not exist`, { remediation: GET_ONE[kind] });
  if (!st.isFile()) throw new ConfigurationError(`${flag} '${path}' is not a file`, { remediation: GET_ONE[kind] });
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigurationError(
      `${flag} '${path}' cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      {
        remediation: 'give a key file this user can read',
      },
    );
  }
  if (!text.includes(ARMOR[kind])) {
    throw new ConfigurationError(`${flag} '${path}' is not an ASCII-armored OpenPGP ${kind} key`, {
      remediation: EXPORT_ONE[kind],
    });
  }
  return text;
}

/** The fingerprint (upper-case hex) of an armored key read by readKeyFile; an unreadable key names `flag` and `path`. */
export async function keyFingerprint(armored: string, flag: string, path: string, kind: KeyKind): Promise<string> {
  const openpgp = await import('openpgp');
  try {
    const key =
      kind === 'private'
        ? await openpgp.readPrivateKey({ armoredKey: armored })
        : await openpgp.readKey({ armoredKey: armored });
    return key.getFingerprint().toUpperCase();
  } catch (e) {
    throw new ConfigurationError(
      `${flag} '${path}' cannot be read as an OpenPGP ${kind} key (${(e as Error).message})`,
      { remediation: EXPORT_ONE[kind] },
    );
  }
}

/** The project's public key in the home (keygen writes it), if there is one: what publish checks signatures with. */
export function homePublicKey(home: string): { path: string; text: string } | undefined {
  const path = join(home, 'keys', 'signing.public.asc');
  return statSync(path, { throwIfNoEntry: false })?.isFile() ? { path, text: readFileSync(path, 'utf8') } : undefined;
}

/** Reads the passphrase from the environment variable named by --passphrase-env (never from the command line). */
export function passphraseFromEnv(
  varName: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (varName === undefined) return undefined;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(varName)) {
    throw new ConfigurationError(`--passphrase-env '${varName}' is not an environment variable name`, {
      remediation: 'give the NAME of a variable that holds the passphrase (letters, digits, _), not the passphrase',
    });
  }
  const v = env[varName];
  if (v === undefined || v === '') {
    throw new ConfigurationError(`--passphrase-env ${varName}: the variable is not set`, {
      remediation: `export ${varName}=... with the key's passphrase, or drop --passphrase-env for a key without one`,
    });
  }
  return v;
}
