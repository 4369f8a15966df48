import { defineTask } from './lib/task.ts';
import { homeSource, resolveConfig } from './lib/config.ts';
import { ConfigurationError } from './lib/errors.ts';
import { checkpoint, interruptible } from './lib/interrupt.ts';
import { checkUserDir, ensureUserDir, userPathError, type UserPathSource } from './lib/userdir.ts';
import { passphraseFromEnv } from './lib/keys.ts';
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const KEY_TYPES = ['ed25519', 'rsa'] as const;

export const task = defineTask({
  name: 'keygen',
  summary: 'Create the project signing key pair (OpenPGP) for `sign`, signed builds and the Spack buildcache',
  usage:
    'keygen --name NAME [--email ADDR] [--out DIR] [--type ed25519|rsa] [--expires DAYS] [--passphrase-env VAR] [--force]',
  example: 'npx zx Taskfile.ts keygen --name "Example HPC slurm-factory" --email hpc@example.org',
  positionals: [],
  options: {
    name: { type: 'string', arg: 'NAME', help: 'user ID name of the key' },
    email: { type: 'string', arg: 'ADDR', help: 'user ID e-mail' },
    out: { type: 'string', arg: 'DIR', help: 'where to write the key files (default ~/.slurm-factory/keys)' },
    type: {
      type: 'choice',
      arg: 'T',
      choices: KEY_TYPES,
      default: 'ed25519',
      noun: 'key type',
      help: 'ed25519 (default; GnuPG 2.2+) or rsa (RSA-4096, for older tools)',
    },
    expires: {
      type: 'integer',
      arg: 'DAYS',
      min: 0,
      max: 36500,
      default: 0,
      what: 'a whole number of days',
      hint: 'e.g. --expires 730, or 0 for no expiry',
      help: 'expiry in days (default 0: never)',
    },
    'passphrase-env': {
      type: 'string',
      arg: 'VAR',
      help: 'protect the private key with the passphrase in variable VAR',
    },
    force: { type: 'boolean', help: 'replace existing key files in DIR' },
  },
  notes: [
    'Writes signing.private.asc (mode 600), signing.public.asc and signing.revocation.asc. With gpg instead:',
    '  gpg --quick-gen-key "NAME <ADDR>" ed25519 sign never',
    '  gpg --armor --export-secret-keys FPR > signing.private.asc; gpg --armor --export FPR > signing.public.asc',
  ].join('\n'),
  async run({ opts }) {
    const name = opts.name;
    if (name === undefined || name.trim() === '') {
      throw new ConfigurationError("'keygen' needs --name NAME", {
        remediation: 'e.g. --name "Example HPC slurm-factory"',
      });
    }
    const email = opts.email;
    if (email !== undefined && !/^[^\s@<>]+@[^\s@<>]+$/.test(email)) {
      throw new ConfigurationError(`--email '${email}' is not an e-mail address`, {
        remediation: 'write it as user@host',
      });
    }
    const passphrase = passphraseFromEnv(opts['passphrase-env']);
    let outDir: string;
    let source: UserPathSource;
    if (opts.out !== undefined) {
      outDir = resolve(opts.out);
      source = {
        what: '--out',
        given: opts.out,
        fix: 'give --out a writable directory on a real disk for the key files',
      };
    } else {
      const config = resolveConfig();
      outDir = join(config.home, 'keys');
      source = homeSource(config);
    }
    // Checked before the key is made (nothing is created yet): a bad directory fails at once.
    checkUserDir(outDir, source);
    const files = {
      privateKey: join(outDir, 'signing.private.asc'),
      publicKey: join(outDir, 'signing.public.asc'),
      revocationCertificate: join(outDir, 'signing.revocation.asc'),
    };
    const existing = Object.values(files).filter((f) => existsSync(f));
    if (existing.length > 0 && !opts.force) {
      throw new ConfigurationError(`${existing[0]} already exists`, {
        remediation: 'keep it, choose another --out, or pass --force to replace the key pair',
      });
    }

    const { generateKey } = await import('./lib/signing.ts');
    // RSA-4096 takes seconds: Ctrl-C stops waiting at once.
    console.error(
      `generating ${opts.type === 'rsa' ? 'an RSA-4096' : 'an Ed25519'} key (Ctrl-C stops it, nothing is written)`,
    );
    const key = await interruptible(
      generateKey({
        name: name.trim(),
        ...(email ? { email } : {}),
        ...(passphrase ? { passphrase } : {}),
        type: opts.type,
        expiresInDays: opts.expires,
      }),
    );
    // Ctrl-C while the key was generated: stop before writing anything.
    await checkpoint();
    ensureUserDir(outDir, source, { mode: 0o700 });
    const tmps: string[] = [];
    try {
      for (const [field, path] of Object.entries(files) as [keyof typeof files, string][]) {
        const tmp = `${path}.tmp-${process.pid}`;
        // 'wx': a new file, never written through a link at that name; only what this run made is removed after.
        writeFileSync(tmp, key[field], { mode: field === 'publicKey' ? 0o644 : 0o600, flag: 'wx' });
        tmps.push(tmp);
      }
      for (const [, path] of Object.entries(files)) renameSync(`${path}.tmp-${process.pid}`, path);
    } catch (err) {
      // Named by the directory the user gave, never by the internal .tmp- file.
      throw userPathError(err, source, outDir);
    } finally {
      for (const t of tmps) rmSync(t, { force: true });
    }
    console.log(`fingerprint ${key.fingerprint}`);
    console.log(`private key ${files.privateKey} (keep secret; give it to 'sign --key' and 'build --sign-key')`);
    console.log(`public key  ${files.publicKey} (publish it; users run 'gpg --import' on it)`);
    console.log(`revocation  ${files.revocationCertificate} (store offline)`);
    return 0;
  },
});
