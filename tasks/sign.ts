import { defineTask } from './lib/task.ts';
import { ConfigurationError } from './lib/errors.ts';
import { passphraseFromEnv, readKeyFile } from './lib/keys.ts';
import { statSync } from 'node:fs';

export const task = defineTask({
  name: 'sign',
  summary: 'Write an ASCII-armored detached OpenPGP signature <file>.asc for each file (gpg --verify checks it)',
  usage: 'sign <file ...> --key PRIVATE.asc [--passphrase-env VAR]',
  example:
    'npx zx Taskfile.ts sign ~/.slurm-factory/builds/slurm-25.11-gcc13.4.0-software.tar.gz{,.sha256} --key signing.private.asc',
  positionals: [{ name: 'files', arg: '<file ...>', help: 'the files to sign', rest: true }],
  options: {
    key: {
      type: 'string',
      arg: 'FILE',
      help: 'ASCII-armored OpenPGP private key (from `keygen` or `gpg --armor --export-secret-keys`)',
    },
    'passphrase-env': {
      type: 'string',
      arg: 'VAR',
      help: 'name of the environment variable holding the key passphrase (never the passphrase itself)',
    },
  },
  notes: [
    '  Every input is checked before anything is written; each .asc is written to a temporary name and renamed,',
    '  then verified with the key. Files already ending in .asc are skipped. Check one with:',
    '    gpg --import signing.public.asc && gpg --verify FILE.asc FILE',
  ].join('\n'),
  async run({ opts, rest }) {
    const keyPath = opts.key;
    if (keyPath === undefined) {
      throw new ConfigurationError("'sign' needs --key PRIVATE.asc", {
        remediation: "give the private key file; create one with 'npx zx Taskfile.ts keygen'",
      });
    }
    // Everything is checked before anything is written.
    const passphrase = passphraseFromEnv(opts['passphrase-env']);
    const armored = readKeyFile(keyPath, '--key', 'private');
    const files: string[] = [];
    const skipped: string[] = [];
    for (const f of rest) {
      const st = statSync(f, { throwIfNoEntry: false });
      if (!st)
        throw new ConfigurationError(`file to sign '${f}' does not exist`, {
          remediation: 'give paths of existing files',
        });
      if (!st.isFile())
        throw new ConfigurationError(`'${f}' is not a regular file`, { remediation: 'give files, not directories' });
      if (f.endsWith('.asc')) {
        skipped.push(f);
        continue;
      }
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
