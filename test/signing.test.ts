/**
 * Signatures made with openpgp.js (tasks/lib/signing.ts, the `sign` and `keygen` tasks) checked by the real
 * GnuPG in a throwaway GNUPGHOME, and GnuPG's signatures checked by verifyFile.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needCommand, runCli, tempDir, withTempDir, testIf } from './helpers.ts';
import { generateKey, signFile, verifyFile } from '../tasks/lib/signing.ts';
import { VerifyError } from '../tasks/lib/errors.ts';
import { bytes } from './s3-fixtures.ts';

const withGpg = testIf(test, [needCommand('gpg', 'apt-get install gnupg')]);

/** gpg with its own home; returns status and the machine-readable status lines. */
function gpg(home: string, args: string[], input?: string) {
  const r = spawnSync('gpg', ['--batch', '--no-tty', '--status-fd', '1', ...args], {
    env: { ...process.env, GNUPGHOME: home },
    encoding: 'utf8',
    input,
    timeout: 60_000,
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

function gpgHome(root: string, name: string): string {
  const h = join(root, name);
  mkdirSync(h, { mode: 0o700 });
  return h;
}

function killAgent(home: string) {
  spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: home } });
}

const keyA = await generateKey({ name: 'slurm-factory test A', email: 'a@example.org' });
const keyB = await generateKey({ name: 'slurm-factory test B' });

withGpg(
  'gpg --verify accepts an openpgp.js signature and names our key; a flipped byte and another key fail',
  async () => {
    const t = tempDir();
    const home = gpgHome(t.path, 'g');
    const other = gpgHome(t.path, 'o');
    try {
      const file = join(t.path, 'slurm-25.11-gcc13.4.0-software.tar.gz');
      writeFileSync(file, bytes('tarball', 3 * 1024 * 1024 + 11)); // streamed in several chunks
      const asc = await signFile(file, keyA.privateKey);
      assert.is(asc, `${file}.asc`);
      assert.match(readFileSync(asc, 'utf8'), /^-----BEGIN PGP SIGNATURE-----/);
      assert.equal(
        readdirSync(t.path).filter((f) => f.includes('.tmp-')),
        [],
        'no temporary file left',
      );

      assert.is(gpg(home, ['--import'], keyA.publicKey).status, 0);
      const ok = gpg(home, ['--verify', asc, file]);
      assert.is(ok.status, 0, ok.err);
      assert.match(ok.out, new RegExp(`^\\[GNUPG:\\] VALIDSIG ${keyA.fingerprint} `, 'm'));
      assert.equal(await verifyFile(file, asc, keyA.publicKey), { ok: true, fingerprint: keyA.fingerprint });

      // Another key: gpg has no key for it; verifyFile names the file and the signer.
      assert.is(gpg(other, ['--import'], keyB.publicKey).status, 0);
      const wrongKey = gpg(other, ['--verify', asc, file]);
      assert.is.not(wrongKey.status, 0);
      assert.match(wrongKey.out, /NO_PUBKEY|ERRSIG/);
      try {
        await verifyFile(file, asc, keyB.publicKey);
        assert.unreachable('another key must not verify');
      } catch (e) {
        assert.instance(e, VerifyError);
        assert.match(
          (e as Error).message,
          /slurm-25\.11-gcc13\.4\.0-software\.tar\.gz was signed by key [0-9A-F]{16}, which is not the given key/,
        );
      }

      // One flipped bit in the middle of the file.
      const buf = readFileSync(file);
      buf[1_500_000] = buf[1_500_000]! ^ 0x01;
      writeFileSync(file, buf);
      const flipped = gpg(home, ['--verify', asc, file]);
      assert.is.not(flipped.status, 0);
      assert.match(flipped.out, /^\[GNUPG:\] BADSIG /m);
      try {
        await verifyFile(file, asc, keyA.publicKey);
        assert.unreachable('a changed file must not verify');
      } catch (e) {
        assert.instance(e, VerifyError);
        assert.match((e as Error).message, /^bad signature on slurm-25\.11-gcc13\.4\.0-software\.tar\.gz/);
      }
    } finally {
      killAgent(home);
      killAgent(other);
      t.cleanup();
    }
  },
);

withGpg('verifyFile accepts what gpg signs with a key made by keygen, and rejects a truncated signature', async () => {
  const t = tempDir();
  const home = gpgHome(t.path, 'g');
  try {
    const keys = join(t.path, 'keys');
    const r = runCli(['keygen', '--name', 'Interop Test', '--email', 'interop@example.org', '--out', keys]);
    assert.is(r.status, 0, r.stderr);
    const fpr = /^fingerprint ([0-9A-F]{40})$/m.exec(r.stdout)![1]!;
    assert.is(statSync(join(keys, 'signing.private.asc')).mode & 0o777, 0o600);
    assert.is(statSync(join(keys, 'signing.public.asc')).mode & 0o777, 0o644);
    assert.is(gpg(home, ['--import', join(keys, 'signing.private.asc')]).status, 0);
    const file = join(t.path, 'data.sha256');
    writeFileSync(file, 'abc  data\n');
    const s = gpg(home, [
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      '',
      '--armor',
      '--detach-sign',
      '--local-user',
      fpr,
      file,
    ]);
    assert.is(s.status, 0, s.err);
    const pub = readFileSync(join(keys, 'signing.public.asc'), 'utf8');
    assert.equal(await verifyFile(file, `${file}.asc`, pub), { ok: true, fingerprint: fpr });

    // The revocation certificate is one gpg applies (in a separate home holding only the public key).
    const rev = gpgHome(t.path, 'rev');
    try {
      assert.is(gpg(rev, ['--import', join(keys, 'signing.public.asc')]).status, 0);
      const before = gpg(rev, ['--with-colons', '--list-keys', fpr]).out;
      assert.not.match(before, /^pub:r:/m);
      assert.is(gpg(rev, ['--import', join(keys, 'signing.revocation.asc')]).status, 0);
      assert.match(
        gpg(rev, ['--with-colons', '--list-keys', fpr]).out,
        /^pub:r:/m,
        'revoked after importing the certificate',
      );
    } finally {
      killAgent(rev);
    }

    const text = readFileSync(`${file}.asc`, 'utf8');
    writeFileSync(`${file}.asc`, text.slice(0, text.length / 2));
    try {
      await verifyFile(file, `${file}.asc`, pub);
      assert.unreachable();
    } catch (e) {
      assert.instance(e, VerifyError);
      assert.match((e as Error).message, /data\.sha256\.asc is not an ASCII-armored OpenPGP signature/);
    }
    const again = runCli(['keygen', '--name', 'Interop Test', '--out', keys]);
    assert.is(again.status, 2);
    assert.match(
      again.stderr,
      /^error: .*signing\.private\.asc already exists; keep it, choose another --out, or pass --force/,
    );
    assert.is(readFileSync(join(keys, 'signing.public.asc'), 'utf8'), pub, 'existing key untouched');
  } finally {
    killAgent(home);
    t.cleanup();
  }
});

withGpg(
  'CLI sign writes a .asc for each file that gpg verifies; passphrase-protected keys via --passphrase-env',
  async () => {
    const t = tempDir();
    const home = gpgHome(t.path, 'g');
    try {
      const keys = join(t.path, 'keys');
      const k = runCli(['keygen', '--name', 'Protected', '--out', keys, '--passphrase-env', 'SF_TEST_PASS'], {
        env: { SF_TEST_PASS: 'correct horse' },
      });
      assert.is(k.status, 0, k.stderr);
      const priv = join(keys, 'signing.private.asc');
      assert.match(readFileSync(priv, 'utf8'), /BEGIN PGP PRIVATE KEY BLOCK/);
      const tarball = join(t.path, 'slurm-24.11-gcc12.5.0-software.tar.gz');
      writeFileSync(tarball, bytes('t2', 200_000));
      writeFileSync(`${tarball}.sha256`, 'x');
      const r = runCli(['sign', tarball, `${tarball}.sha256`, '--key', priv, '--passphrase-env', 'SF_TEST_PASS'], {
        env: { SF_TEST_PASS: 'correct horse' },
      });
      assert.is(r.status, 0, r.stderr);
      assert.is(r.stdout.trim().split('\n').length, 2);
      assert.is(gpg(home, ['--import', join(keys, 'signing.public.asc')]).status, 0);
      for (const f of [tarball, `${tarball}.sha256`]) {
        const v = gpg(home, ['--verify', `${f}.asc`, f]);
        assert.is(v.status, 0, `${f}: ${v.err}`);
        assert.match(v.out, /VALIDSIG/);
      }
      // The passphrase never shows up in output.
      assert.not.match(r.stdout + r.stderr, /correct horse/);

      const noPass = runCli(['sign', tarball, '--key', priv]);
      assert.is(noPass.status, 2);
      assert.match(
        noPass.stderr,
        /^error: --key '.*signing\.private\.asc' is protected by a passphrase and none was given; .*--passphrase-env VAR\n$/,
      );
      const wrong = runCli(['sign', tarball, '--key', priv, '--passphrase-env', 'SF_TEST_PASS'], {
        env: { SF_TEST_PASS: 'wrong' },
      });
      assert.is(wrong.status, 2);
      assert.match(wrong.stderr, /^error: the passphrase does not unlock --key/);
      assert.not.match(wrong.stderr, /wrong/);
    } finally {
      killAgent(home);
      t.cleanup();
    }
  },
);

// Bad input: exit 2, one line naming the value, and no .asc (or anything else) written.
test('sign: bad input is one line, exit 2, nothing written', () => {
  withTempDir((t) => {
    const priv = join(t, 'private.asc');
    const pub = join(t, 'public.asc');
    writeFileSync(priv, keyA.privateKey);
    writeFileSync(pub, keyA.publicKey);
    const good = join(t, 'good.tar.gz');
    writeFileSync(good, 'data');
    mkdirSync(join(t, 'adir'));
    const cases: [string[], RegExp, Record<string, string>?][] = [
      [['sign', good], /'sign' needs --key PRIVATE\.asc/],
      [['sign', good, '--key', join(t, 'nokey.asc')], /--key '.*nokey\.asc' does not exist/],
      [['sign', good, '--key', pub], /--key '.*public\.asc' is not an ASCII-armored OpenPGP private key/],
      [['sign', good, join(t, 'missing.tar.gz'), '--key', priv], /file to sign '.*missing\.tar\.gz' does not exist/],
      [['sign', good, join(t, 'adir'), '--key', priv], /'.*adir' is not a regular file/],
      [
        ['sign', good, '--key', priv, '--passphrase-env', 'SF_UNSET_VAR_X'],
        /--passphrase-env SF_UNSET_VAR_X: the variable is not set/,
      ],
      [
        ['sign', good, '--key', priv, '--passphrase-env', 'not a name'],
        /--passphrase-env 'not a name' is not an environment variable name/,
      ],
      [['sign', '--key', priv], /missing <files> for 'sign'/],
      [['keygen'], /'keygen' needs --name NAME/],
      [
        ['keygen', '--name', 'x', '--type', 'dsa', '--out', join(t, 'k')],
        /--type 'dsa' is not a key type; use one of ed25519, rsa/,
      ],
      [['keygen', '--name', 'x', '--email', 'nope', '--out', join(t, 'k')], /--email 'nope' is not an e-mail address/],
    ];
    const before = readdirSync(t).sort();
    for (const [args, msg, env] of cases) {
      const r = runCli(args, { env: { SLURM_FACTORY_HOME: join(t, 'home'), ...env } });
      assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.is(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /^error: /);
      assert.match(lines[0]!, msg);
      assert.is(r.stdout, '');
      assert.equal(readdirSync(t).sort(), before, `nothing written by ${args.join(' ')}`);
    }
    assert.not.ok(existsSync(`${good}.asc`));
  });
});

test.run();
