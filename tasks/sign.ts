import { defineTask } from './lib/task.ts';
import { ConfigurationError } from './lib/errors.ts';
import { readFileSync, statSync } from 'node:fs';

/** Reads the passphrase from the environment variable named by --passphrase-env (never from the command line). */
export function passphraseFromEnv(varName: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
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

/** Reads a key file given with --key, naming it in every error. */
export function readKeyFile(path: string, flag = '--key'): string {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw new ConfigurationError(`${flag} '${path}' does not exist`, { remediation: "give an ASCII-armored private key file (create one with 'npx zx Taskfile.ts keygen')" });
  if (!st.isFile()) throw new ConfigurationError(`${flag} '${path}' is not a file`, { remediation: 'give an ASCII-armored private key file' });
  return readFileSync(path, 'utf8');
}

export const task = defineTask({
  name: 'sign',
  summary: 'Write an ASCII-armored detached OpenPGP signature <file>.asc for each file (gpg --verify checks it)',
  usage: 'sign <file ...> --key PRIVATE.asc [--passphrase-env VAR]',
  example: 'npx zx Taskfile.ts sign ~/.slurm-factory/builds/slurm-25.11-gcc13.4.0-software.tar.gz{,.sha256} --key signing.private.asc',
  positionals: [{ name: 'files', arg: '<file ...>', help: 'the files to sign', rest: true }],
  options: {
    key: { type: 'string', arg: 'FILE', help: 'ASCII-armored OpenPGP private key (from `keygen` or `gpg --armor --export-secret-keys`)' },
    'passphrase-env': { type: 'string', arg: 'VAR', help: 'name of the environment variable holding the key passphrase (never the passphrase itself)' },
  },
  notes: [
    '  Every input is checked before anything is written; each .asc is written to a temporary name and renamed,',
    '  then verified with the key. Files already ending in .asc are skipped. Check one with:',
    '    gpg --import signing.public.asc && gpg --verify FILE.asc FILE',
  ].join('\n'),
  async run({ opts, rest }) {
    const keyPath = opts.key;
    if (keyPath === undefined) {
      throw new ConfigurationError("'sign' needs --key PRIVATE.asc", { remediation: "give the private key file; create one with 'npx zx Taskfile.ts keygen'" });
    }
    // Everything is checked before anything is written.
    const passphrase = passphraseFromEnv(opts['passphrase-env']);
    const armored = readKeyFile(keyPath);
    const files: string[] = [];
    const skipped: string[] = [];
    for (const f of rest) {
      const st = statSync(f, { throwIfNoEntry: false });
      if (!st) throw new ConfigurationError(`file to sign '${f}' does not exist`, { remediation: 'give paths of existing files' });
      if (!st.isFile()) throw new ConfigurationError(`'${f}' is not a regular file`, { remediation: 'give files, not directories' });
      if (f.endsWith('.asc')) { skipped.push(f); continue; }
      files.push(f);
    }
    const { loadPrivateKey, signFile, verifyFile, publicKeyOf } = await import('./lib/signing.ts');
    const key = await loadPrivateKey(armored, passphrase, `--key '${keyPath}'`);
    const { publicKey, fingerprint } = await publicKeyOf(armored);
    for (const f of skipped) console.log(`skipping ${f} (already a signature)`);
    for (const f of files) {
      const asc = await signFile(f, key);
      await verifyFile(f, asc, publicKey);
      console.log(`signed ${f} -> ${asc} (key ${fingerprint})`);
    }
    return 0;
  },
});
