/**
 * BuildKit's own provenance (`--provenance=mode=max`), for real. The shared engine's overlay2 store refuses
 * attestations, so scripts/setup-attest-engine.sh starts a second dockerd with the containerd image store (its
 * own data root, exec root, socket, namespaces and bridge; the first engine is left alone) and copies the base
 * image and the Slurm fixture into it. Through that engine:
 *   - `bake --sign-key` signs the baked tarball and both provenances (gpg --verify), the key a BuildKit secret;
 *   - `build` writes BuildKit's SLSA provenance beside the tarball (subject = the tarball's sha256sum, the
 *     fixture and base image as materials, the build's LLB), and verify's check refuses a changed one;
 *   - on the default engine build says plainly that BuildKit's provenance is not written, and why.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stepsThatRan } from '../tasks/lib/buildx.ts';
import { BUILDKIT_PROVENANCE, checkBuildkitProvenance, verifySupplyChain } from '../tasks/lib/provenance.ts';
import { generateKey, type GeneratedKey } from '../tasks/lib/signing.ts';
import { gpgHome, needCommand, needDocker, repoRoot, runCli, tempDir, testIf, type Requirement } from './helpers.ts';

const ATTEST_HOST = 'unix:///run/slurm-factory-attest/docker.sock';
const needRoot: Requirement = () => (process.getuid?.() === 0 ? null : 'starting a second dockerd needs root');
const attestTest = testIf(test, [
  needDocker,
  needRoot,
  needCommand('dockerd', 'scripts/setup-docker.sh installs it'),
  needCommand('ip', 'apt-get install iproute2'),
  needCommand('gpg', 'apt-get install gnupg'),
]);

const home = tempDir('sf-attest-');
const env = { SLURM_FACTORY_HOME: join(home.path, 'home'), DOCKER_HOST: ATTEST_HOST };
const builds = join(env.SLURM_FACTORY_HOME, 'builds');
const TARBALL = 'slurm-24.11-gcc12.2.0-software.tar.gz';
let base = '';
let fixture = '';
let key: GeneratedKey;
let keyFile = '';
let gpg: ReturnType<typeof gpgHome>;

const common = () => ['--gcc', 'system', '--os', 'debian12', '--base-image', base];
const sha256sum = (f: string) => spawnSync('sha256sum', [f], { encoding: 'utf8' }).stdout.split(' ')[0]!;
/** The armored key's base64 body, one line of it: what must never show up in a log or a provenance. */
const keyBody = () => key.privateKey.split('\n').find((l) => l.length > 60)!;

test.before(async () => {
  if (needDocker() || needRoot()) return;
  const { ensureBaseImage, ensureSlurmFixture } = await import('./fixture.ts');
  base = await ensureBaseImage('debian12');
  fixture = await ensureSlurmFixture();
  const r = spawnSync('bash', [join(repoRoot, 'scripts/setup-attest-engine.sh'), '--load', base, fixture], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`setup-attest-engine.sh failed (${r.status}): ${r.stderr}`);
  if (r.stdout.trim() !== ATTEST_HOST)
    throw new Error(`setup-attest-engine.sh printed '${r.stdout.trim()}', not ${ATTEST_HOST}`);
  key = await generateKey({ name: 'attest test' });
  keyFile = join(home.path, 'sign.asc');
  writeFileSync(keyFile, key.privateKey, { mode: 0o600 });
  writeFileSync(join(home.path, 'pub.asc'), key.publicKey);
  gpg = gpgHome(join(home.path, 'gnupg'), join(home.path, 'pub.asc'));
});
test.after(() => home.cleanup());

attestTest('the second engine has the containerd image store, and the first engine still has its own', () => {
  const second = spawnSync('docker', ['-H', ATTEST_HOST, 'info', '--format', '{{json .DriverStatus}}'], {
    encoding: 'utf8',
  });
  assert.match(second.stdout, /io\.containerd\.snapshotter/);
  const first = spawnSync('docker', ['info', '--format', '{{.Driver}}'], {
    encoding: 'utf8',
    env: { ...process.env, DOCKER_HOST: '' },
  });
  assert.is(first.stdout.trim(), 'overlay2', 'the shared engine was not reconfigured');
});

attestTest('build --print says plainly which engine writes BuildKit provenance and which does not', () => {
  const here = runCli(['build', '24.11', ...common(), '--print'], {
    env: { SLURM_FACTORY_HOME: env.SLURM_FACTORY_HOME, DOCKER_HOST: '' },
  });
  assert.is(here.status, 0, here.stderr);
  assert.match(
    here.stderr,
    /BuildKit provenance: not written, the builder does not support attestations: the docker driver without the containerd image store/,
  );
  assert.not.match(here.stdout, /--provenance/);
  const attest = runCli(['build', '24.11', ...common(), '--print'], { env });
  assert.is(attest.status, 0, attest.stderr);
  assert.match(
    attest.stderr,
    /BuildKit provenance: requested \(--provenance=mode=max; docker driver with the containerd image store\)/,
  );
  assert.match(attest.stdout, / --provenance=mode=max /);
  // The same engine named as a builder (the docker context the setup script made) is detected as well.
  const byName = runCli(['build', '24.11', ...common(), '--print', '--builder', 'slurm-factory-attest'], {
    env: { SLURM_FACTORY_HOME: env.SLURM_FACTORY_HOME, DOCKER_HOST: '' },
  });
  assert.is(byName.status, 0, byName.stderr);
  assert.match(byName.stdout, / --provenance=mode=max /);
});

attestTest(
  'bake --sign-key: the baked tarball, its checksum and its provenance are signed (gpg --verify); the key is a secret only',
  () => {
    const hcl = join(home.path, 'docker-bake.hcl');
    // The slurm stage is the fixture, so the Slurm target needs no deps: its link to the deps-* target (which
    // would install the base stage's packages, and this engine has no network) is replaced by the base image.
    const r = runCli(
      [
        'bake',
        '--slurm',
        '24.11',
        ...common(),
        '--file',
        hcl,
        '--sign-key',
        keyFile,
        '--set',
        `slurm-*.contexts.slurm=docker-image://${fixture}`,
        '--set',
        `slurm-*.contexts.deps=docker-image://${base}`,
        'slurm-24-11-gcc12-2-0',
      ],
      { env },
    );
    assert.is(r.status, 0, r.stderr.slice(-3000));
    // The key is fresh, so its fingerprint is new to the cache: the package stage ran with this key mounted.
    assert.ok(
      stepsThatRan(r.stderr).some((s) => s.stage === 'package' && /package-view\.sh/.test(s.name)),
      'the package stage ran',
    );
    for (const [file, sig] of [
      [TARBALL, `${TARBALL}.asc`],
      [`${TARBALL}.sha256`, `${TARBALL}.sha256.asc`],
      [`${TARBALL}.provenance.json`, `${TARBALL}.provenance.json.asc`],
      [`${TARBALL}${BUILDKIT_PROVENANCE}`, `${TARBALL}${BUILDKIT_PROVENANCE}.asc`],
    ]) {
      const v = gpg('--verify', join(builds, sig!), join(builds, file!));
      assert.is(v.status, 0, `${sig}: ${v.stderr}`);
      assert.match(v.stdout, new RegExp(`VALIDSIG ${key.fingerprint}`), sig);
    }
    assert.ok(existsSync(join(builds, `${TARBALL}${BUILDKIT_PROVENANCE}`)), 'bake wrote BuildKit provenance too');
    const log = readdirSync(join(env.SLURM_FACTORY_HOME, 'logs'))
      .filter((f) => f.startsWith('bake'))
      .map((f) => readFileSync(join(env.SLURM_FACTORY_HOME, 'logs', f), 'utf8'))
      .join('');
    for (const [what, text] of [
      ['bake file', readFileSync(hcl, 'utf8')],
      ['log', log],
      ['BuildKit provenance', readFileSync(join(builds, `${TARBALL}${BUILDKIT_PROVENANCE}`), 'utf8')],
    ]) {
      assert.not.ok(text!.includes(keyBody()), `the private key is not in the ${what}`);
    }
  },
);

attestTest(
  "build writes BuildKit's SLSA provenance beside the tarball: subject = sha256sum, the inputs as materials; verify refuses a changed one",
  async () => {
    const r = runCli(
      ['build', '24.11', ...common(), '--context', `slurm=docker-image://${fixture}`, '--sign-key', keyFile],
      { env },
    );
    assert.is(r.status, 0, r.stderr.slice(-3000));
    assert.match(r.stderr, /BuildKit provenance: requested/);
    assert.match(r.stdout, /\.buildkit-provenance\.json\)/);
    const tarball = join(builds, TARBALL);
    const path = `${tarball}${BUILDKIT_PROVENANCE}`;
    const text = readFileSync(path, 'utf8');
    const st = JSON.parse(text);
    assert.match(st._type, /^https:\/\/in-toto\.io\/Statement\/v/);
    assert.match(st.predicateType, /^https:\/\/slsa\.dev\/provenance\/v(0\.2|1)$/);
    const subject = st.subject.find((s: any) => s.name === TARBALL);
    assert.ok(subject, `subjects: ${st.subject.map((s: any) => s.name).join(', ')}`);
    assert.is(subject.digest.sha256, sha256sum(tarball));
    assert.is(
      st.subject.find((s: any) => s.name === `${TARBALL}.sha256`)?.digest.sha256,
      sha256sum(`${tarball}.sha256`),
    );
    // SLSA v0.2 as BuildKit 0.13 writes it: materials, invocation parameters and (mode=max) the LLB.
    const p = st.predicate;
    const fixtureId = spawnSync('docker', ['-H', ATTEST_HOST, 'image', 'inspect', '--format', '{{.Id}}', fixture], {
      encoding: 'utf8',
    }).stdout.trim();
    assert.ok(
      p.materials.some(
        (m: any) => m.uri.includes('slurm-factory-fixture') && `sha256:${m.digest.sha256}` === fixtureId,
      ),
      `the fixture ${fixtureId} is a material: ${JSON.stringify(p.materials)}`,
    );
    assert.is(p.invocation.parameters.args['context:slurm'], `docker-image://${fixture}`);
    assert.is(p.invocation.parameters.args.target, 'export');
    assert.match(
      p.invocation.parameters.args['build-arg:SIGNING_KEY_FINGERPRINT'],
      new RegExp(`^${key.fingerprint}$`, 'i'),
    );
    assert.ok(
      p.invocation.parameters.secrets.some((s: any) => s.id === 'gpg-key'),
      'the secret is named',
    );
    assert.not.ok(text.includes(keyBody()), 'but its content is not there');
    assert.ok(p.buildConfig.llbDefinition.length > 0, 'mode=max records the build steps');
    assert.is(
      readFileSync(path).length > 0 && spawnSync('stat', ['-c', '%a', path], { encoding: 'utf8' }).stdout.trim(),
      '644',
    );

    const lines = await verifySupplyChain(tarball, key.publicKey);
    assert.equal(
      lines.map((l) => [l.step, l.ok]),
      [
        ['provenance', true],
        ['provenance signature', true],
        ['buildkit provenance', true],
        ['buildkit provenance signature', true],
        ['sbom', true],
      ],
    );
    assert.match(
      lines[2]!.detail,
      /^SLSA v0\.2 by BuildKit, subject sha256 [0-9a-f]{16}\.\.\. matches; [1-9]\d* materials$/,
    );
    // A statement whose subject is another digest is refused, naming both (before its signature is looked at).
    writeFileSync(path, text.replace(subject.digest.sha256, '0'.repeat(64)));
    try {
      await checkBuildkitProvenance(tarball);
      assert.unreachable('a changed subject must fail');
    } catch (e) {
      assert.match(
        (e as Error).message,
        new RegExp(
          `its subject ${TARBALL.replace(/\./g, '\\.')} has sha256 0{64}, the tarball's sha256 is ${subject.digest.sha256}`,
        ),
      );
    }
    const v = runCli(['verify', tarball, '--key', join(home.path, 'pub.asc')], { env });
    assert.is.not(v.status, 0, 'verify fails on it');
    assert.match(v.stderr + v.stdout, /buildkit-provenance\.json does not describe this tarball/);
  },
);

test.run();
